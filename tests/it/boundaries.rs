//! Transfer boundaries and honest results: what starts and ends a transfer, and what a
//! hostile sender or a careless channel finds (issue 17). Every case is exact: the bytes
//! that come out are compared with the bytes that went in.

use crate::common;

use common::{bytes, data_packet, forged_packet, run, sh, stderr};
use pktools::wire::Kind;

use std::time::{Duration, Instant};

fn report_of(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn late_duplicate_is_not_a_new_transfer() {
    let out = sh("printf hello | pktize | corrupt --dup 100% --seed 1 | unpktize");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"hello");
}

#[test]
fn a_duplicating_reordering_channel_gives_the_input_back_for_every_seed() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s");
    std::fs::write(&s, bytes(3000, 5)).unwrap();
    for seed in 1..=30 {
        let out = sh(&format!(
            "pktize -s 1000 {} | corrupt --seed {seed} --dup 30% --reorder 30%,5 | unpktize",
            s.display()
        ));
        assert_eq!(out.status.code(), Some(0), "seed {seed}: {}", stderr(&out));
        assert_eq!(out.stdout, bytes(3000, 5), "seed {seed}");
    }
}

#[test]
fn a_repeated_transfer_is_one_transfer_and_a_different_one_with_the_same_id_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a, bytes(2500, 1)).unwrap();
    std::fs::write(&b, bytes(1800, 2)).unwrap();
    let (a, b) = (a.display(), b.display());
    let twice = sh(&format!(
        "(pktize --id 7 {a}; pktize --id 7 {a}) | unpktize"
    ));
    assert_eq!(twice.status.code(), Some(0), "{}", stderr(&twice));
    assert_eq!(twice.stdout, bytes(2500, 1));
    let two = sh(&format!(
        "(pktize --id 7 {a}; pktize --id 7 {b}) | unpktize"
    ));
    assert_eq!(two.status.code(), Some(0), "{}", stderr(&two));
    assert_eq!(two.stdout, [bytes(2500, 1), bytes(1800, 2)].concat());
}

#[test]
fn report_and_output_naming_the_same_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let stream = sh("printf hello | pktize").stdout;
    let path = f.to_str().unwrap();
    let out = run("unpktize", &["-o", path, "--report", path], &stream);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("same file"), "{}", stderr(&out));
    // Also when the file exists, through another spelling of its path.
    std::fs::write(&f, b"keep").unwrap();
    let other = format!("{}/./f", dir.path().display());
    let out = run("unpktize", &["-o", path, "--report", &other], &stream);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&f).unwrap(), b"keep");
}

#[test]
fn a_signal_stops_the_fill_of_a_forged_huge_total() {
    // One 42-byte packet claims a total of 2^48 - 1 bytes: the receiver would write fill
    // to its output for days. --max-size none lifts the default limit to show the signal.
    let packet = data_packet(3, 0, Some((1 << 48) - 1), b"0123456789");
    let mut child = common::spawn("unpktize", &["--max-size", "none", "--fill", "ff"]);
    use std::io::{Read, Write};
    child.stdin.take().unwrap().write_all(&packet).unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = vec![0; 1 << 20];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first[..10], b"0123456789");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    // The bound is in bytes, not seconds (a loaded machine drains slowly): after the
    // signal at most 256 MiB more fill, plus what the pipe and the output buffer held.
    let drain = std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if t0.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("unpktize did not stop within 120 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let after_signal = drain.join().unwrap().unwrap();
    assert!(
        after_signal <= (256 + 16) << 20,
        "{after_signal} bytes after the signal"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
}

#[test]
fn a_forged_huge_claim_is_refused_under_max_size() {
    let packet = data_packet(3, 0, Some(1 << 40), b"0123456789");
    let t0 = Instant::now();
    let out = run("unpktize", &["--max-size", "1M"], &packet);
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.len() <= 1 << 20);
    let err = stderr(&out);
    assert!(
        err.contains("1099511627776") && err.lines().count() == 1,
        "{err}"
    );
    // Standard output has a default limit: the same claim is refused without the option.
    let out = run("unpktize", &[], &packet);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn the_data_packets_own_total_wins_over_a_conflicting_descriptor() {
    let body = pktools::descriptor::Descriptor {
        media_type: pktools::descriptor::MediaType::Raw,
        payload_len: 20,
        fec: None,
        name: String::new(),
        head: Vec::new(),
        interleave_span: None,
        carousel: false,
        fountain: None,
    }
    .encode();
    let data = bytes(40, 9);
    let mut stream = forged_packet(Kind::Descriptor, 3, 0, 0, Some((1 << 48) - 1), &body);
    stream.extend(data_packet(3, 0, Some(40), &data[..20]));
    let mut last = data_packet(3, 20, Some(40), &data[20..]);
    last[3] |= pktools::wire::FLAG_LAST;
    // Recompute the header check over the changed flag byte.
    let mut h = pktools::wire::Header::parse(&data_packet(3, 20, Some(40), &data[20..])).unwrap();
    h.last = true;
    let mut header = [0; pktools::wire::HEADER_LEN];
    h.encode(&mut header);
    last[..pktools::wire::HEADER_LEN].copy_from_slice(&header);
    stream.extend(last);
    let dir = tempfile::tempdir().unwrap();
    let got = dir.path().join("got");
    let out = run("unpktize", &["-o", got.to_str().unwrap()], &stream);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read(&got).unwrap(), data);
    let out = run("unpktize", &["--max-size", "none"], &stream);
    assert_eq!(out.stdout, data);
}

#[test]
fn conflicting_payloads_for_one_range_are_counted_and_not_intact() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let mut stream = data_packet(5, 0, Some(20), b"0123456789");
    stream.extend(data_packet(5, 0, Some(20), b"ABCDEFGHIJ"));
    stream.extend(data_packet(5, 5, Some(20), b"xxxxxxxxxx"));
    stream.extend(data_packet(5, 10, Some(20), b"abcdefghij"));
    let out = run("unpktize", &["--report", report.to_str().unwrap()], &stream);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(out.stdout, b"0123456789abcdefghij");
    let r = report_of(&report);
    assert_eq!(r["packets"]["conflicting"], 2);
    assert_eq!(r["intact"], false);
}

#[test]
fn input_without_packets_is_an_error() {
    for input in [&bytes(100_000, 3)[..], b""] {
        let out = run("unpktize", &[], input);
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            stderr(&out).trim(),
            "unpktize: error: no pktize packets in the input"
        );
    }
}

#[test]
fn a_packet_later_than_the_horizon_is_still_written_to_a_file() {
    // 6 MiB in 1 KiB packets; packet 3 arrives last, long after its range was filled.
    let data = bytes(6 << 20, 4);
    let mut packets = common::packetize(&data, 1024);
    let late = packets.remove(4);
    packets.push(late);
    let dir = tempfile::tempdir().unwrap();
    let (got, report) = (dir.path().join("got"), dir.path().join("r.json"));
    let out = run(
        "unpktize",
        &[
            "-o",
            got.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        &packets.concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read(&got).unwrap() == data);
    assert_eq!(report_of(&report)["packets"]["late_written"], 1);
}

#[test]
fn many_interleaved_senders_are_never_appended() {
    // The followed transfer interleaved with 100 other senders' packets: none of theirs
    // may be taken for a next transfer after the followed one ends.
    let data = bytes(300 * 100, 6);
    let mut stream = Vec::new();
    for (i, chunk) in data.chunks(100).enumerate() {
        let mut p = data_packet(1, i as u64 * 100, Some(data.len() as u64), chunk);
        if i + 1 == data.len() / 100 {
            let mut h = pktools::wire::Header::parse(&p).unwrap();
            h.last = true;
            let mut header = [0; pktools::wire::HEADER_LEN];
            h.encode(&mut header);
            p[..pktools::wire::HEADER_LEN].copy_from_slice(&header);
        }
        stream.extend(p);
        let other = 1000 + (i % 100) as u16;
        stream.extend(data_packet(
            other,
            (i / 100) as u64 * 10,
            None,
            b"intruder!!",
        ));
    }
    for i in 0..200u64 {
        stream.extend(data_packet(
            1000 + (i % 100) as u16,
            30 + i * 10,
            None,
            b"intruder!!",
        ));
    }
    let out = run("unpktize", &[], &stream);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout == data);
}

#[test]
fn a_piped_transfer_that_loses_its_last_data_packet_keeps_its_length_and_reports_the_loss() {
    let data = bytes(3000, 8);
    let stream = run("pktize", &["-s", "1000"], &data).stdout;
    let packets = common::split_packets(&stream);
    let last_data = packets
        .iter()
        .rposition(|p| common::header(p).kind == Kind::Data)
        .unwrap();
    let damaged = common::without(&packets, last_data);
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let out = run(
        "unpktize",
        &["--report", report.to_str().unwrap()],
        &damaged,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(out.stdout.len(), 3000);
    assert_eq!(&out.stdout[..2000], &data[..2000]);
    let r = report_of(&report);
    assert_eq!(r["ranges"][0]["kind"], "lost");
    assert_eq!(r["ranges"][0]["offset"], 2000);
    assert_eq!(r["ranges"][0]["length"], 1000);
}

#[test]
fn output_dash_is_standard_output_as_in_coreutils() {
    let dir = tempfile::tempdir().unwrap();
    let stream = sh("printf hello | pktize").stdout;
    let out = common::run_cmd(
        std::process::Command::new(common::bin("unpktize"))
            .args(["-o", "-"])
            .current_dir(dir.path()),
        &stream,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"hello");
    assert!(!dir.path().join("-").exists(), "no file named -");
}
