//! pktize through real pipes: packet layout, round trips with unpktize, CLI manners.

use crate::common;

use common::{bytes, data_packets, header, run, sh, split_packets, stderr};
use pktools::wire::{HEADER_LEN, MAX_PAYLOAD};
use std::io::Write;
use std::time::{Duration, Instant};

fn round_trip_via_pipe(data: &[u8], size: usize) -> Vec<u8> {
    let packets = run("pktize", &["-s", &size.to_string()], data);
    assert!(packets.status.success(), "{}", stderr(&packets));
    let out = run("unpktize", &[], &packets.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out.stdout
}

#[test]
fn round_trip_edge_sizes_through_pipes() {
    for len in [0, 1, 1023, 1024, 1025, 3 << 20] {
        let data = bytes(len, len as u64);
        assert!(round_trip_via_pipe(&data, 1024) == data, "length {len}");
    }
}

#[test]
fn round_trip_from_a_file_and_into_a_file() {
    let dir = tempfile::tempdir().unwrap();
    for len in [0usize, 1, 1023, 1024, 1025, 5 << 20] {
        let data = bytes(len, 99);
        let src = dir.path().join("in");
        std::fs::write(&src, &data).unwrap();
        let dst = dir.path().join("out");
        let script = format!(
            "pktize {} > {}/pk && unpktize -o {} < {}/pk",
            src.display(),
            dir.path().display(),
            dst.display(),
            dir.path().display()
        );
        let out = sh(&script);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(std::fs::read(&dst).unwrap() == data, "length {len}");
    }
}

#[test]
fn round_trip_payload_sizes_from_1_to_the_maximum() {
    let data = bytes(200_000, 5);
    for size in [1, 2, 7, 100, 1000, 4096, 65_000, MAX_PAYLOAD] {
        assert!(
            round_trip_via_pipe(&data, size) == data,
            "payload size {size}"
        );
    }
}

#[test]
fn packets_carry_consecutive_seq_offsets_and_one_last_flag() {
    let data = bytes(10_000, 1);
    let out = run("pktize", &["-s", "1000", "--id", "4660"], &data);
    let packets = data_packets(&out.stdout);
    assert_eq!(packets.len(), 10);
    for (i, p) in packets.iter().enumerate() {
        let h = header(p);
        assert_eq!(h.seq, i as u32);
        assert_eq!(h.offset, 1000 * i as u64);
        assert_eq!(h.payload_len, 1000);
        assert_eq!(h.transfer_id, 4660);
        assert_eq!(h.last, i == 9);
        // Stdin was a pipe here: the length was not known in advance.
        assert_eq!(h.total_len, None);
        assert_eq!(&p[HEADER_LEN..], &data[1000 * i..1000 * (i + 1)]);
    }
}

#[test]
fn a_regular_file_states_its_total_length() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    std::fs::write(&src, bytes(2500, 3)).unwrap();
    let out = sh(&format!("pktize -s 1000 < {}", src.display()));
    let packets = data_packets(&out.stdout);
    assert_eq!(packets.len(), 3);
    assert!(packets.iter().all(|p| header(p).total_len == Some(2500)));
    assert_eq!(header(&packets[2]).payload_len, 500);
}

#[test]
fn empty_input_is_one_empty_last_packet() {
    let out = run("pktize", &["--describe-every", "0"], b"");
    let packets = split_packets(&out.stdout);
    assert_eq!(packets.len(), 1);
    let h = header(&packets[0]);
    assert!(h.last);
    assert_eq!(h.payload_len, 0);
}

#[test]
fn consecutive_transfers_concatenate() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (bytes(5000, 1), bytes(3333, 2));
    std::fs::write(dir.path().join("a"), &a).unwrap();
    std::fs::write(dir.path().join("b"), &b).unwrap();
    let out = sh(&format!(
        "cd {} && (pktize a; pktize < b; pktize < /dev/null; cat b | pktize -s 7) | unpktize",
        dir.path().display()
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout == [a, b.clone(), b].concat());
}

#[test]
fn bad_payload_sizes_are_usage_errors() {
    for size in ["0", "65476", "1x", ""] {
        common::error_line("pktize", &run("pktize", &["-s", size], b"x"), &size);
    }
}

#[test]
fn unknown_option_is_a_one_line_usage_error() {
    common::error_line("pktize", &run("pktize", &["--bogus"], b""), &"--bogus");
}

#[test]
fn missing_file_is_an_error_with_its_name() {
    let out = run("pktize", &["/nonexistent/file"], b"");
    common::exits_saying(&out, 2, "/nonexistent/file");
}

#[test]
fn verbose_prints_a_summary_on_stderr_only() {
    let out = run("pktize", &["-v", "-s", "100"], &bytes(1000, 1));
    common::says(&out, "1000 bytes in 10 packets");
    assert_eq!(data_packets(&out.stdout).len(), 10);
}

#[test]
fn rate_paces_the_output() {
    // 100 packets of 1000+32 bytes at 200 kB/s cannot take less than about half a second.
    let data = bytes(100_000, 8);
    let started = Instant::now();
    let out = run("pktize", &["-s", "1000", "--rate", "200000"], &data);
    assert!(out.status.success());
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(data_packets(&out.stdout).len(), 100);
    let bad = run("pktize", &["--rate", "fast"], b"");
    assert_eq!(bad.status.code(), Some(2));
    // 0: unpaced, the same packets.
    let unpaced = run("pktize", &["-s", "1000", "--id", "7", "--rate", "0"], &data);
    assert!(unpaced.status.success());
    assert_eq!(
        unpaced.stdout,
        run("pktize", &["-s", "1000", "--id", "7"], &data).stdout
    );
}

#[test]
fn sends_each_packet_as_soon_as_its_bytes_arrive() {
    // A slow producer: pktize must not wait for a full buffer before sending.
    let mut child = common::spawn("pktize", &["-s", "100", "--describe-every", "0"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes(250, 1)).unwrap();
    stdin.flush().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = vec![0u8; 2 * (HEADER_LEN + 100)];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    assert_eq!(split_packets(&first).len(), 2);
    drop(stdin);
    child.wait().unwrap();
}

#[test]
fn a_named_file_is_described_by_its_base_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("holiday photo.ppm");
    std::fs::write(&file, b"P6\n2 1\n255\n\x01\x02\x03\x04\x05\x06").unwrap();
    let path = file.to_str().unwrap();
    let named = sh(&format!("pktize '{path}' | unpktize --info"));
    assert!(named.status.success(), "{}", stderr(&named));
    let info = String::from_utf8_lossy(&named.stdout);
    assert!(info.contains("holiday photo.ppm"), "{info}");
    assert!(
        !info.contains(dir.path().to_str().unwrap()),
        "only the base name: {info}"
    );
    // --name still wins, and stdin has no name to give.
    let given = sh(&format!("pktize --name other '{path}' | unpktize --info"));
    assert!(String::from_utf8_lossy(&given.stdout).contains("other"));
    let piped = sh(&format!("pktize < '{path}' | unpktize --info"));
    assert!(!String::from_utf8_lossy(&piped.stdout).contains("holiday"));
}

#[test]
fn a_name_longer_than_a_descriptor_holds_is_refused_not_cut() {
    let longest = "n".repeat(255);
    let out = sh(&format!(
        "printf x | pktize --name {longest} | unpktize --info"
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&longest));
    let out = run("pktize", &["--name", &"n".repeat(256)], b"x");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no packet of a refused transfer");
    assert_eq!(
        stderr(&out).trim_end(),
        "pktize: error: --name: 256 bytes is longer than the 255 a descriptor can carry"
    );
}

#[test]
fn an_interleaved_stream_is_a_permutation_that_unpktize_writes_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    let dst = dir.path().join("out");
    for (len, opts) in [
        (300_000, "--interleave"),
        (300_000, "--interleave=64"),
        (300_001, "--interleave=100 --fec 8+2"),
        (1, "--interleave"),
        (0, "--interleave --fec 4+1"),
    ] {
        let data = bytes(len, 17);
        std::fs::write(&src, &data).unwrap();
        for from_pipe in [false, true] {
            let (s, d, o) = (src.display(), dir.path().display(), dst.display());
            let pktize = match from_pipe {
                true => format!("cat {s} | pktize -s 1000 {opts}"),
                false => format!("pktize -s 1000 {opts} {s}"),
            };
            let script = format!("{pktize} > {d}/pk && unpktize -o {o} < {d}/pk");
            let out = sh(&script);
            assert!(out.status.success(), "{opts}: {}", stderr(&out));
            assert!(
                std::fs::read(&dst).unwrap() == data,
                "{opts}, from a pipe {from_pipe}: length {len}"
            );
            let stream = std::fs::read(dir.path().join("pk")).unwrap();
            let mut seqs: Vec<u32> = data_packets(&stream)
                .iter()
                .map(|p| header(p).seq)
                .collect();
            let sent_in_order = seqs.windows(2).all(|w| w[0] < w[1]);
            assert_eq!(sent_in_order, len <= 1000, "{opts}");
            seqs.sort_unstable();
            let n = len.div_ceil(1000).max(1) as u32;
            assert_eq!(seqs, (0..n).collect::<Vec<u32>>(), "{opts}");
            let last = header(split_packets(&stream).last().unwrap());
            assert_eq!(
                last.total_len,
                Some(len as u64),
                "the final descriptor states the total"
            );
        }
    }
}

#[test]
fn interleave_spans_beyond_the_memory_bound_are_refused() {
    let out = run("pktize", &["--interleave=0"], b"x");
    assert_eq!(out.status.code(), Some(2));
    let out = run("pktize", &["-s", "65000", "--interleave=2000"], b"x");
    common::exits_saying(&out, 2, "--interleave");
    let out = run("pktize", &["-s", "65475", "--fec", "8+2"], b"x");
    common::exits_saying(&out, 2, "65474");
}

#[test]
fn a_piped_transfer_ends_with_a_descriptor_that_states_its_total() {
    // Issue 17 item 2, the sender's half: a receiver that loses the last data packet
    // still learns the length from the final descriptor.
    let data = bytes(3000, 2);
    let out = run("pktize", &["-s", "1000"], &data);
    let packets = split_packets(&out.stdout);
    let last_data = packets.iter().rposition(|p| header(p).last).unwrap();
    assert_eq!(
        header(&packets[last_data]).total_len,
        None,
        "a pipe's length is unknown"
    );
    let last = header(packets.last().unwrap());
    assert_eq!(last.kind, pktools::wire::Kind::Descriptor);
    assert_eq!(last.total_len, Some(3000));
}

#[test]
fn repeat_sends_the_same_transfer_in_another_order_each_pass() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    let data = bytes(100_000, 21);
    std::fs::write(&src, &data).unwrap();
    let args = [
        "-s",
        "1000",
        "--fec",
        "8+2",
        "--interleave",
        "--repeat",
        "3",
    ];
    let out = run(
        "pktize",
        &[&args[..], &[src.to_str().unwrap()]].concat(),
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let packets = split_packets(&out.stdout);
    let ids: std::collections::HashSet<u16> =
        packets.iter().map(|p| header(p).transfer_id).collect();
    assert_eq!(ids.len(), 1, "one transfer");
    let orders: Vec<Vec<u32>> = data_packets(&out.stdout)
        .chunks(100)
        .map(|pass| pass.iter().map(|p| header(p).seq).collect())
        .collect();
    assert_eq!(orders.len(), 3);
    for order in &orders {
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<u32>>());
    }
    assert!(orders[0] != orders[1] && orders[1] != orders[2]);
    let descriptors = packets
        .iter()
        .filter(|p| header(p).kind == pktools::wire::Kind::Descriptor)
        .count();
    assert!(descriptors >= 6, "descriptors in every pass: {descriptors}");
}

#[test]
fn repeat_forever_ends_quietly_when_the_reader_goes_away() {
    let out = sh("printf hello | pktize --repeat 0 | head -c 100000 | wc -c");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "100000");
}

#[test]
fn repeat_refuses_a_pipe_longer_than_it_holds() {
    let out = sh("head -c 70000000 /dev/zero | pktize --repeat 2 > /dev/null");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--repeat") && err.contains("file"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn an_endless_send_into_a_regular_file_is_refused_unless_forced() {
    // It would end only when the disk is full; a pipe (the usual case) still works.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::write(&input, bytes(5_000, 7)).unwrap();
    let (i, o) = (input.display(), dir.path().join("out.pk"));
    let o = o.display();
    for opts in ["--repeat 0", "--fountain", "--fountain --repeat 0"] {
        let out = sh(&format!("pktize {opts} {i} > {o}"));
        assert_eq!(out.status.code(), Some(2), "{opts}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("pktize: error: --"), "{opts}");
        assert!(stderr(&out).contains("regular file"), "{opts}");
        assert_eq!(
            std::fs::metadata(dir.path().join("out.pk")).unwrap().len(),
            0
        );
        let out = sh(&format!("pktize {opts} {i} | head -c 100000 | wc -c"));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "100000",
            "{opts}"
        );
    }
    for opts in ["--repeat 2", "--fountain --repeat 2"] {
        let out = sh(&format!("pktize {opts} {i} > {o}"));
        assert_eq!(out.status.code(), Some(0), "{opts}: {}", stderr(&out));
    }
    let out = sh(&format!(
        "ulimit -f 200; pktize --force --fountain {i} > {o}; echo $?"
    ));
    assert_ne!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    assert!(std::fs::metadata(dir.path().join("out.pk")).unwrap().len() > 50_000);
}
