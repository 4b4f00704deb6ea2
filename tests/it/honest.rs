//! Which bytes and which transfers unpktize keeps, and what it claims about them, under
//! the combinations of issues 29 and 35: every case is an exact reproduction, and the
//! bytes that come out are compared with the bytes that went in.

use crate::common;

use common::{bytes, header, run, sh, split_packets, stderr};
use pktools::wire::Kind;
use std::path::Path;

fn pktize(args: &[&str], data: &[u8]) -> Vec<Vec<u8>> {
    let out = run("pktize", args, data);
    assert!(out.status.success(), "pktize: {}", stderr(&out));
    split_packets(&out.stdout)
}

/// The stream of `packets` without the last data packet (the one flagged LAST).
fn without_last_data(packets: &[Vec<u8>]) -> Vec<u8> {
    packets
        .iter()
        .filter(|p| !(header(p).kind == Kind::Data && header(p).last))
        .flatten()
        .copied()
        .collect()
}

fn report_of(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_short_transfer_after_one_missing_its_end_is_written() {
    // Issue 35.4: the second transfer has fewer packets than it takes to end the first.
    let (a, b) = (bytes(50_000, 41), bytes(20_000, 42));
    let first = without_last_data(&pktize(&["--id", "1"], &a));
    let second = pktize(&["--id", "2"], &b).concat();
    let stream = [first, second].concat();
    let dir = tempfile::tempdir().unwrap();
    let (file, report) = (dir.path().join("out"), dir.path().join("r.json"));
    for to_file in [false, true] {
        let out = if to_file {
            let args = ["-o", file.to_str().unwrap(), "--report"];
            run(
                "unpktize",
                &[&args[..], &[report.to_str().unwrap()]].concat(),
                &stream,
            )
        } else {
            run("unpktize", &["--report", report.to_str().unwrap()], &stream)
        };
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let got = if to_file {
            std::fs::read(&file).unwrap()
        } else {
            out.stdout
        };
        assert_eq!(got.len(), 70_000, "to a file: {to_file}");
        assert!(got[..49_152] == a[..49_152] && got[50_000..] == b[..]);
        let r = report_of(&report);
        assert_eq!(r["transfers"].as_array().unwrap().len(), 2);
        assert_eq!(r["packets"]["foreign"], 0);
    }
}

#[test]
fn reordering_across_two_transfers_keeps_both_for_every_seed() {
    // Issue 35.5: an early packet of b made it another sender's for the rest of the input.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a, bytes(50_000, 51)).unwrap();
    std::fs::write(&b, bytes(50_000, 52)).unwrap();
    let both = [bytes(50_000, 51), bytes(50_000, 52)].concat();
    for seed in 1..=8 {
        let out = sh(&format!(
            "(pktize {a}; pktize {b}) | corrupt --seed {seed} --reorder 0.3,20 | unpktize",
            a = a.display(),
            b = b.display()
        ));
        assert_eq!(out.status.code(), Some(0), "seed {seed}: {}", stderr(&out));
        assert!(
            out.stdout == both,
            "seed {seed}: {} bytes",
            out.stdout.len()
        );
    }
}

#[test]
fn a_short_transfer_between_two_is_the_next_one() {
    // The first misses its end, the second is short and whole, a third follows: the
    // second is not dropped for the third.
    let (a, b, c) = (bytes(20_000, 61), bytes(5_000, 62), bytes(40_000, 63));
    let stream = [
        without_last_data(&pktize(&["--id", "1"], &a)),
        pktize(&["--id", "2"], &b).concat(),
        pktize(&["--id", "3"], &c).concat(),
    ]
    .concat();
    let out = run("unpktize", &[], &stream);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(out.stdout.len(), 65_000);
    assert!(out.stdout[20_000..] == [b, c].concat()[..]);
}

#[test]
fn a_transfer_after_a_whole_carousel_is_received_from_a_file_and_reported_unread_from_a_pipe() {
    // Issue 29.7: the second transfer was dropped and the exit was 0, even reading a file.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (bytes(30_000, 71), bytes(20_000, 72));
    let stream = [
        pktize(&["--id", "3", "--repeat", "2"], &a).concat(),
        pktize(&["--id", "4"], &b).concat(),
    ]
    .concat();
    let capture = dir.path().join("capture.pk");
    std::fs::write(&capture, &stream).unwrap();
    let report = dir.path().join("r.json");
    let r = report.to_str().unwrap();
    let out = run("unpktize", &[capture.to_str().unwrap(), "--report", r], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout == [&a[..], &b[..]].concat());
    assert_eq!(report_of(&report)["read_to_end"], true);
    let out = run("unpktize", &["-v", "--report", r], &stream);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout == a);
    assert!(stderr(&out).contains("the rest of the input (any later transfer) was not read"));
    assert_eq!(report_of(&report)["read_to_end"], false);
    let out = run("unpktize", &["--id", "4"], &stream);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout == b);
}

/// `packet` (a parity packet) with its payload's first byte changed: a forgery with a
/// valid CRC and header check.
fn forged_parity(packet: &[u8]) -> Vec<u8> {
    let mut h = header(packet);
    let mut payload = packet[pktools::wire::HEADER_LEN..].to_vec();
    payload[0] ^= 0x5a;
    h.payload_crc = pktools::wire::Header::crc_of(&payload);
    h.with_payload(&payload)
}

#[test]
fn a_forged_parity_packet_before_the_real_one_is_a_conflict_never_intact() {
    // Issue 29.10: the forged parity rebuilt wrong bytes, the real one was dropped
    // silently, exit 0.
    let data = bytes(8192, 81);
    for scheme in ["4+1", "4+2"] {
        let packets = pktize(&["--fec", scheme, "--describe-every", "0"], &data);
        let mut stream = Vec::new();
        for p in &packets {
            let h = header(p);
            if h.kind == Kind::Data && h.seq == 1 {
                continue; // lost: parity must rebuild it
            }
            if h.kind == Kind::Parity && h.seq == 0 && h.parity.unwrap().parity_index == 0 {
                stream.extend(forged_parity(p));
            }
            stream.extend(p);
        }
        let dir = tempfile::tempdir().unwrap();
        let (file, report) = (dir.path().join("out"), dir.path().join("r.json"));
        for to_file in [false, true] {
            let mut args = vec!["--report", report.to_str().unwrap()];
            if to_file {
                args.extend(["-o", file.to_str().unwrap()]);
            }
            let out = run("unpktize", &args, &stream);
            let got = if to_file {
                std::fs::read(&file).unwrap()
            } else {
                out.stdout.clone()
            };
            let r = report_of(&report);
            assert_eq!(out.status.code(), Some(1), "{scheme}: {}", stderr(&out));
            assert_eq!(r["intact"], false, "{scheme}");
            assert_eq!(r["packets"]["conflicting"], 1, "{scheme}");
            assert_eq!(got.len(), data.len());
            // What did not depend on the conflicting parity is the sender's.
            assert!(got[..1024] == data[..1024] && got[2048..] == data[2048..]);
        }
    }
}

#[test]
fn a_forged_descriptor_head_that_genuine_descriptors_contradict_is_never_restored_as_intact() {
    // Issue 35.6: a forged descriptor came first; the first data packet was lost, so its
    // bytes were "restored" from the forged head, the result "complete and intact", and
    // with -o the genuine first packet arriving later was dropped as a duplicate.
    use pktools::descriptor::Descriptor;
    use pktools::wire::HEADER_LEN;
    let data = bytes(20_000, 91);
    let packets = pktize(&["--id", "77", "--name", "a"], &data);
    let genuine = Descriptor::parse(&packets[0][HEADER_LEN..]).unwrap();
    let mut forged = genuine.clone();
    forged.head.iter_mut().for_each(|b| *b = b'X');
    let forged = common::forged_packet(Kind::Descriptor, 77, 0, 0, Some(20_000), &forged.encode());
    let first_data = packets
        .iter()
        .position(|p| header(p).kind == Kind::Data)
        .unwrap();
    // forged descriptor, the rest without the first data packet, which comes last.
    let mut stream = forged.clone();
    for (i, p) in packets.iter().enumerate() {
        if i != first_data {
            stream.extend(p);
        }
    }
    let late = packets[first_data].clone();
    let dir = tempfile::tempdir().unwrap();
    let (file, report) = (dir.path().join("out"), dir.path().join("r.json"));
    let (f, r) = (file.to_str().unwrap(), report.to_str().unwrap());
    // Without the first packet: its bytes are not known, whichever head is the sender's.
    let out = run("unpktize", &["--window", "4", "--report", r], &stream);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout[1024..] == data[1024..]);
    assert!(
        !out.stdout[..1024].iter().all(|&b| b == b'X'),
        "the forged head was used"
    );
    assert_eq!(report_of(&report)["intact"], false);
    // The genuine packet arriving after the fill is written: the file is the sender's.
    let with_late = [stream.clone(), late].concat();
    let out = run(
        "unpktize",
        &["--window", "4", "-o", f, "--report", r],
        &with_late,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read(&file).unwrap() == data);
    // The forged head restored before a genuine descriptor came: damaged once disputed,
    // and still repaired by the genuine packet.
    let mut forged_late = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        match i {
            0 => forged_late.extend(&forged),
            _ if i == first_data => {}
            10 => forged_late.extend([&packets[0][..], p].concat()),
            _ => forged_late.extend(p),
        }
    }
    let out = run("unpktize", &["--window", "4", "--report", r], &forged_late);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rep = report_of(&report);
    assert_eq!(rep["intact"], false);
    assert_eq!(rep["transfers"].as_array().unwrap().len(), 1);
    assert_eq!(rep["bytes"]["damaged"], 1024);
    let with_late = [forged_late, packets[first_data].clone()].concat();
    let out = run(
        "unpktize",
        &["--window", "4", "-o", f, "--report", r],
        &with_late,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read(&file).unwrap() == data);
}

#[test]
fn messages_name_what_failed_and_exits_say_what_came() {
    // Issue 35.11, each case as reported.
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(20_000, 111);
    let stream = pktize(&["--id", "3"], &data).concat();
    let tmp = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    // A place that cannot be written (sysfs refuses new files): not "no such file".
    let out = run("unpktize", &["-o", "/sys/pktools-cannot-create"], &stream);
    let err = common::exits_saying(&out, 2, "/sys/pktools-cannot-create");
    assert!(!err.contains("No such file"), "{err}");
    // A full disk while drawing the map is told as such.
    let out = run(
        "unpktize",
        &["-o", &tmp("out"), "--map", "/dev/full"],
        &stream,
    );
    common::exits_saying(&out, 2, "writing the map");
    // A full disk on the output leaves no unfinished report, and an earlier one as it was.
    let report = dir.path().join("r.json");
    let out = run(
        "unpktize",
        &["-o", "/dev/full", "--report", &tmp("r.json")],
        &stream,
    );
    common::exits_saying(&out, 2, "writing output");
    assert!(!report.exists(), "no unfinished report");
    std::fs::write(&report, b"earlier").unwrap();
    let out = run(
        "unpktize",
        &["-o", "/dev/full", "--report", &tmp("r.json")],
        &stream,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&report).unwrap(), b"earlier");
    // Packets cut to their headers are packets: a damaged result (1), not "no packets" (2).
    let headers: Vec<u8> = split_packets(&stream)
        .iter()
        .flat_map(|p| p[..pktools::wire::HEADER_LEN].to_vec())
        .collect();
    let out = run("unpktize", &["--report", &tmp("h.json")], &headers);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(out.stdout.len(), data.len());
    // --id naming a transfer that is not in the input says so.
    let out = run("unpktize", &["--id", "4"], &stream);
    common::exits_saying(&out, 2, "no pktize packets of transfer 0x0004");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_second_transfer_whose_data_all_lost_is_incomplete_not_foreign() {
    // Issue 28 (found by the model test): the second transfer's descriptor and parity
    // arrived, its data did not; it must never end "intact", whichever of its packets
    // arrived, to standard output or to a file.
    let (a, b) = (bytes(30_000, 81), bytes(20_000, 82));
    let sent = pktize(&["--id", "2", "--fec", "4+2"], &b);
    let dir = tempfile::tempdir().unwrap();
    let (file, report) = (dir.path().join("out"), dir.path().join("r.json"));
    let r = report.to_str().unwrap();
    for keep in [[true, true], [false, true], [true, false]] {
        let second: Vec<u8> = sent
            .iter()
            .filter(|p| match header(p).kind {
                Kind::Descriptor => keep[0],
                Kind::Parity => keep[1],
                _ => false,
            })
            .flatten()
            .copied()
            .collect();
        let stream = [pktize(&["--id", "1"], &a).concat(), second].concat();
        for args in [
            vec!["--report", r],
            vec!["-o", file.to_str().unwrap(), "--report", r],
        ] {
            let out = run("unpktize", &args, &stream);
            let case = format!("{keep:?} {args:?}: {}", stderr(&out));
            assert_eq!(out.status.code(), Some(1), "{case}");
            let got = if args.len() > 2 {
                std::fs::read(&file).unwrap()
            } else {
                out.stdout
            };
            assert!(got[..30_000] == a[..], "{case}");
            assert_eq!(report_of(&report)["intact"], false, "{case}");
        }
    }
}

#[test]
fn a_carousel_keeps_a_packet_lost_in_two_passes_that_arrived_in_another() {
    // Issue 29, item 3, exactly: `pktize --repeat 3` of 2,000,000 bytes; pass 1 loses
    // about 200 data packets scattered from seq 737 to 1945 (737, 751, 756, 762, 791, 968,
    // 969, ... 1945), pass 2 loses nothing, pass 3 loses seq 737. Packet 737 arrived in
    // pass 2: unpktize -o and unpktize to stdout both filled it and reported it lost.
    let data = bytes(2_000_000, 293);
    let packets = pktize(&["--id", "737", "--repeat", "3"], &data);
    let mut pass1: std::collections::BTreeSet<u32> =
        [737, 751, 756, 762, 791, 968, 969, 1945].into();
    let mut rng = common::xorshift(293);
    while pass1.len() < 200 {
        pass1.insert(792 + (rng.next().unwrap() % (1945 - 792)) as u32);
    }
    // The pass of a data packet: a new one begins each time seq 0 comes again.
    let (mut pass, mut dropped) = (0, [0usize; 3]);
    let mut channel = vec![];
    for p in &packets {
        let h = header(p);
        if h.kind == Kind::Data {
            if h.seq == 0 {
                pass += 1;
            }
            let lost = match pass {
                1 => pass1.contains(&h.seq),
                3 => h.seq == 737,
                _ => false,
            };
            if lost {
                dropped[pass - 1] += 1;
                continue;
            }
        }
        channel.extend_from_slice(p);
    }
    assert_eq!(pass, 3, "three passes");
    assert_eq!(dropped, [200, 0, 1], "the losses of the reproduction");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let to_file = run(
        "unpktize",
        &[
            "-o",
            out.to_str().unwrap(),
            "--report",
            dir.path().join("r.json").to_str().unwrap(),
        ],
        &channel,
    );
    assert_eq!(to_file.status.code(), Some(0), "-o: {}", stderr(&to_file));
    assert!(std::fs::read(&out).unwrap() == data, "-o: not the source");
    let report = report_of(&dir.path().join("r.json"));
    assert_eq!(report["packets"]["lost"], 0, "{report}");
    assert!(report["ranges"].as_array().unwrap().is_empty(), "{report}");
    let to_stdout = run("unpktize", &[], &channel);
    assert_eq!(
        to_stdout.status.code(),
        Some(0),
        "stdout: {}",
        stderr(&to_stdout)
    );
    assert!(to_stdout.stdout == data, "stdout: not the source");
    // The same capture read as a file (mapped), not a pipe.
    let capture = dir.path().join("capture.pk");
    std::fs::write(&capture, &channel).unwrap();
    let mapped = run("unpktize", &[capture.to_str().unwrap()], b"");
    assert_eq!(mapped.status.code(), Some(0), "mapped: {}", stderr(&mapped));
    assert!(mapped.stdout == data, "mapped: not the source");
}

#[test]
fn a_stray_descriptor_between_two_passes_of_a_carousel_starts_no_second_copy() {
    // Found by the combination test (seeds 689, 892, 978): a descriptor of the carousel's
    // id that disagrees with it (forged, or another file's under the same id), between
    // two passes, started a new transfer that the next pass then filled: the file twice,
    // exit 0 "intact". A new run of an id starts with data packets that fit its descriptor;
    // the carousel's next pass does not, so that descriptor only conflicts.
    let data = bytes(100, 91);
    let sent = pktize(&["-s", "100", "--id", "5", "--repeat", "2"], &data);
    let stray = pktize(&["--id", "5"], &bytes(877, 92))
        .into_iter()
        .find(|p| header(p).kind == Kind::Descriptor)
        .expect("pktize sends a descriptor");
    let second_pass = sent
        .iter()
        .rposition(|p| header(p).kind == Kind::Data)
        .expect("a data packet");
    let mut stream = sent.clone();
    stream.insert(second_pass, stray.clone());
    // Read from a file, read to its end (from a pipe a whole carousel stops the reading).
    let dir = tempfile::tempdir().unwrap();
    let (capture, file) = (dir.path().join("capture.pk"), dir.path().join("out"));
    std::fs::write(&capture, stream.concat()).unwrap();
    let input = capture.to_str().unwrap();
    for args in [
        vec!["-v", input],
        vec!["-v", input, "-o", file.to_str().unwrap()],
    ] {
        let out = run("unpktize", &args, b"");
        let case = format!("{args:?}: {}", stderr(&out));
        assert_eq!(out.status.code(), Some(0), "{case}");
        let got = if args.len() == 2 {
            out.stdout
        } else {
            std::fs::read(&file).unwrap()
        };
        assert!(got == data, "{case}");
    }
    // The same descriptor after the last pass, with nothing after it, still tells of a
    // transfer that may have been sent: never "intact" without it, nor restored from it.
    let mut stream = sent;
    stream.push(stray);
    std::fs::write(&capture, stream.concat()).unwrap();
    let out = run("unpktize", &[input], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout[..100] == data[..]);
}

#[test]
fn a_finished_transfers_trailing_descriptor_after_the_next_transfer_is_a_late_packet() {
    // Found by the combination test (seed 778): transfer 779's trailing descriptor,
    // reordered after the whole of transfer 780, started a third transfer restored whole
    // from the descriptor's copy of the head: the file twice, exit 0 "intact". It agrees
    // with the finished transfer of its id: that transfer's late packet, starting nothing.
    let (first, second) = (bytes(589, 93), bytes(3000, 94));
    let b = pktize(&["--id", "780"], &second);
    let dir = tempfile::tempdir().unwrap();
    let (capture, file, report) = (
        dir.path().join("capture.pk"),
        dir.path().join("out"),
        dir.path().join("report.json"),
    );
    let input = capture.to_str().unwrap();
    for (args, first_descriptor) in [
        (vec!["-s", "512", "--id", "779"], false),
        (vec!["-s", "512", "--id", "779"], true),
        (vec!["-s", "512", "--id", "779", "--repeat", "2"], true),
    ] {
        let mut a = pktize(&args, &first);
        let trailing = a
            .iter()
            .rposition(|p| header(p).kind == Kind::Descriptor)
            .expect("pktize sends descriptors");
        let late = a.remove(trailing);
        if !first_descriptor {
            // Seed 778's first descriptor was truncated: the finished transfer has none.
            a.remove(0);
        }
        let stream = [a.concat(), b.concat(), late].concat();
        std::fs::write(&capture, stream).unwrap();
        for to_file in [false, true] {
            let mut argv = vec![input, "--report", report.to_str().unwrap()];
            if to_file {
                argv.extend(["-o", file.to_str().unwrap()]);
            }
            let out = run("unpktize", &argv, b"");
            let case = format!("{args:?} {argv:?}: {}", stderr(&out));
            assert_eq!(out.status.code(), Some(0), "{case}");
            let got = match to_file {
                true => std::fs::read(&file).unwrap(),
                false => out.stdout,
            };
            assert!(got == [&first[..], &second[..]].concat(), "{case}");
            let r = report_of(&report);
            assert_eq!(r["transfers"].as_array().map(Vec::len), Some(2), "{case}");
        }
    }
    // A descriptor of that id that disagrees (another file's) still tells of a next
    // transfer that may have been sent: never "intact" without it.
    let a = pktize(&["-s", "512", "--id", "779"], &first);
    let other = pktize(&["-s", "512", "--id", "779"], &bytes(589, 95))
        .into_iter()
        .find(|p| header(p).kind == Kind::Descriptor)
        .expect("pktize sends a descriptor");
    std::fs::write(&capture, [a.concat(), b.concat(), other].concat()).unwrap();
    let out = run("unpktize", &[input], b"");
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_resume_keeps_the_bytes_a_cut_short_packet_left_damaged_not_lost() {
    // Found by the combination test (seeds 941, 768): a first reception kept the 173 bytes
    // a cut-short packet brought (damaged) and the rest of its slot lost; a resume in
    // which that packet did not come again reported all 1024 bytes lost, the right ones
    // among them. The report keeps each kind.
    let data = bytes(20 * 1024 + 300, 96);
    let sent = pktize(&["-s", "1024", "--id", "9"], &data);
    let cut = sent
        .iter()
        .position(|p| header(p).kind == Kind::Data && header(p).offset == 5120)
        .expect("a packet at 5120");
    let truncated = &sent[cut][..pktools::wire::HEADER_LEN + 173];
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (out, first, second, third) = (path("out"), path("1.json"), path("2.json"), path("3.json"));
    let first_run = [sent[..cut].concat(), truncated.to_vec()].concat();
    let r = run("unpktize", &["-o", &out, "--report", &first], &first_run);
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    let ranges = |report: &str| -> Vec<(String, u64, u64)> {
        report_of(Path::new(report))["ranges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let field = |f: &str| r[f].as_u64().unwrap();
                (
                    r["kind"].as_str().unwrap().to_string(),
                    field("offset"),
                    field("length"),
                )
            })
            .collect()
    };
    let damaged = ("damaged".to_string(), 5120, 173);
    let lost_rest = ("lost".to_string(), 5293, 851);
    assert_eq!(ranges(&first)[..2], [damaged.clone(), lost_rest.clone()]);
    // The resume: every packet but that one.
    let without: Vec<u8> = [sent[..cut].concat(), sent[cut + 1..].concat()].concat();
    let r = run(
        "unpktize",
        &["-o", &out, "--report", &second, "--resume", &first],
        &without,
    );
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    assert_eq!(ranges(&second), [damaged, lost_rest]);
    let got = std::fs::read(&out).unwrap();
    assert!(got[..5293] == data[..5293] && got[6144..] == data[6144..]);
    // And the packet intact in a second resume: whole.
    let r = run(
        "unpktize",
        &["-o", &out, "--report", &third, "--resume", &second],
        &sent.concat(),
    );
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    assert!(std::fs::read(&out).unwrap() == data);
}

#[test]
fn every_snapshot_of_an_image_followed_by_another_transfer_holds_both() {
    // Found by the combination test (seeds 348, 378, 1038, 1709, 1958): a PNM image and
    // the next transfer after it were taken for a stream of frames; the snapshots showed
    // a "second frame" of the other transfer's bytes and fill, and the last one lacked the
    // image: bytes that arrived intact missing from the result. A later frame's header
    // received intact and different ends the stream: the output is written whole.
    let mut image = b"P6 16 8 255\n".to_vec();
    image.extend(bytes(16 * 8 * 3, 97));
    let other = bytes(3000, 98);
    let stream = [
        pktize(&["--id", "1", "-s", "100"], &image).concat(),
        pktize(&["--id", "2"], &other).concat(),
    ]
    .concat();
    let out = run("unpktize", &["--every", "1000"], &stream);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.ends_with(&[&image[..], &other[..]].concat()));
}

#[test]
fn the_last_snapshot_of_a_y4m_stream_followed_by_another_transfer_holds_both() {
    // As above for Y4M, a stream by its own header (so a later frame header out of place
    // does not end it): the next transfer's bytes were missing from every snapshot, the
    // last included, with exit 0. More than one transfer held is not one stream of frames.
    let mut y4m = b"YUV4MPEG2 W4 H2 F10:1 C420jpeg\n".to_vec();
    for k in 0..3 {
        y4m.extend(b"FRAME\n");
        y4m.extend(bytes(4 * 2 + 2 * 2, 99 + k));
    }
    let other = bytes(3000, 98);
    let stream = [
        pktize(&["--id", "1", "-s", "16"], &y4m).concat(),
        pktize(&["--id", "2"], &other).concat(),
    ]
    .concat();
    let out = run("unpktize", &["--every", "1000"], &stream);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.ends_with(&[&y4m[..], &other[..]].concat()));
}
