//! unpktize through real pipes, on clean and damaged channels.
//!
//! The damaged channel is simulated here, in the test, so the truth is known exactly: each
//! packet slot is planned to arrive intact (possibly moved or duplicated), be lost (dropped,
//! header hit, cut before its header ended) or arrive damaged (payload bit flipped, cut
//! inside its payload). The test then checks the output bytes and the JSON report against
//! that plan.

use crate::common;

use common::{bytes, header, packetize, run, run_measuring_rss, stderr};
use pktools::wire::{HEADER_LEN, SYNC};
use proptest::prelude::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    Intact,
    Lost,
    Damaged,
}

#[derive(Debug, Clone, Copy)]
enum Fate {
    Keep,
    Drop,
    Duplicate,
    FlipPayload(usize),
    FlipHeader(usize),
    /// Keep only this many bytes of the packet.
    Cut(usize),
}

impl Fate {
    fn truth(self) -> Truth {
        match self {
            Fate::Keep | Fate::Duplicate => Truth::Intact,
            Fate::Drop | Fate::FlipHeader(_) => Truth::Lost,
            // A header with no payload byte tells where the packet was, but nothing of it.
            Fate::Cut(n) if n <= HEADER_LEN => Truth::Lost,
            Fate::FlipPayload(_) | Fate::Cut(_) => Truth::Damaged,
        }
    }
}

/// A simulated channel: what happens to each packet, where it moves, what garbage is added.
struct Plan {
    fates: Vec<Fate>,
    /// (item index, displacement): moves an item later in the stream.
    moves: Vec<(usize, usize)>,
    /// (position among items, garbage bytes) inserted before that item.
    garbage: Vec<(usize, Vec<u8>)>,
}

impl Plan {
    fn clean(n: usize) -> Plan {
        Plan {
            fates: vec![Fate::Keep; n],
            moves: vec![],
            garbage: vec![],
        }
    }

    /// A clean plan but for every `step`-th slot from `first`: the n-th of those (from 0)
    /// meets `fate(n)`.
    fn every(first: usize, step: usize, fate: impl Fn(usize) -> Fate) -> Plan {
        let mut plan = Plan::clean(slots());
        for (n, i) in (first..slots()).step_by(step).enumerate() {
            plan.fates[i] = fate(n);
        }
        plan
    }

    /// The damaged stream.
    fn apply(&self, packets: &[Vec<u8>]) -> Vec<u8> {
        self.items(packets)
            .into_iter()
            .map(|i| i.bytes)
            .collect::<Vec<_>>()
            .concat()
    }

    /// The damaged stream as items: packets (whole or not) and garbage, in stream order.
    fn items(&self, packets: &[Vec<u8>]) -> Vec<Item> {
        let mut items: Vec<Item> = vec![];
        for (slot, (p, fate)) in packets.iter().zip(&self.fates).enumerate() {
            let item = |bytes: Vec<u8>, valid_header| Item {
                bytes,
                slot: Some(slot),
                valid_header,
            };
            match *fate {
                Fate::Keep => items.push(item(p.clone(), true)),
                Fate::Drop => {}
                Fate::Duplicate => {
                    items.push(item(p.clone(), true));
                    items.push(item(p.clone(), true));
                }
                Fate::FlipPayload(bit) => {
                    let mut q = p.clone();
                    let payload_bits = (q.len() - HEADER_LEN) * 8;
                    let b = HEADER_LEN * 8 + bit % payload_bits;
                    q[b / 8] ^= 1 << (b % 8);
                    items.push(item(q, true));
                }
                Fate::FlipHeader(bit) => {
                    let mut q = p.clone();
                    let b = bit % (HEADER_LEN * 8);
                    q[b / 8] ^= 1 << (b % 8);
                    items.push(item(q, false));
                }
                Fate::Cut(n) => {
                    let n = n.min(p.len() - 1);
                    items.push(item(p[..n].to_vec(), n >= HEADER_LEN));
                }
            }
        }
        for &(from, by) in &self.moves {
            if from < items.len() {
                let item = items.remove(from);
                items.insert((from + by).min(items.len()), item);
            }
        }
        let mut garbage = self.garbage.clone();
        garbage.sort_by_key(|g| std::cmp::Reverse(g.0));
        for (at, g) in garbage {
            let junk = Item {
                bytes: g,
                slot: None,
                valid_header: false,
            };
            items.insert(at.min(items.len()), junk);
        }
        items
    }

    /// What each slot should look like after the channel. A cut packet gets as payload what
    /// follows its header up to the next valid header or its stated length: possibly
    /// nothing (lost), possibly bytes of the junk that followed it (damaged).
    fn truths(&self, packets: &[Vec<u8>]) -> Vec<Truth> {
        let items = self.items(packets);
        let mut truths: Vec<Truth> = self.fates.iter().map(|f| f.truth()).collect();
        for (i, item) in items.iter().enumerate() {
            let (Some(slot), Fate::Cut(_)) = (item.slot, self.fates[item.slot.unwrap_or(0)]) else {
                continue;
            };
            if !item.valid_header {
                continue;
            }
            let stated = packets[slot].len() - HEADER_LEN;
            let mut received = item.bytes.len() - HEADER_LEN;
            for next in &items[i + 1..] {
                if next.valid_header || received >= stated {
                    break;
                }
                received += next.bytes.len();
            }
            truths[slot] = if received == 0 {
                Truth::Lost
            } else {
                Truth::Damaged
            };
        }
        truths
    }
}

/// One piece of the damaged stream.
struct Item {
    bytes: Vec<u8>,
    slot: Option<usize>,
    /// Starts with a header that parses.
    valid_header: bool,
}

impl Plan {}

/// Garbage that cannot contain the sync pattern, so its length is exactly what is skipped.
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut g = bytes(len, seed);
    for i in 0..g.len().saturating_sub(2) {
        if g[i..i + 3] == SYNC {
            g[i] = 0;
        }
    }
    g
}

fn fill_at(pattern: &[u8], offset: usize) -> u8 {
    pattern[offset % pattern.len()]
}

/// Run unpktize on `stream` with `args` plus a report; returns output, report, exit code.
fn unpktize(stream: &[u8], args: &[&str], to_file: bool) -> (Vec<u8>, Value, i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out_file = dir.path().join("out");
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.push("--report".into());
    all.push(report.to_str().unwrap().into());
    if to_file {
        all.push("-o".into());
        all.push(out_file.to_str().unwrap().into());
    }
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = run("unpktize", &refs, stream);
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let json: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("report is not JSON ({e}): {text}\n{}", stderr(&out)));
    let bytes = if to_file {
        std::fs::read(&out_file).unwrap()
    } else {
        out.stdout.clone()
    };
    (bytes, json, out.status.code().unwrap_or(-1), stderr(&out))
}

/// Classify each packet slot from the report's ranges.
fn slots_from_report(report: &Value, slots: usize, size: usize, total: usize) -> Vec<Truth> {
    let mut truth = vec![Truth::Intact; slots];
    for r in report["ranges"].as_array().unwrap() {
        let start = r["offset"].as_u64().unwrap() as usize;
        let end = start + r["length"].as_u64().unwrap() as usize;
        for (i, t) in truth.iter_mut().enumerate() {
            let (s, e) = (i * size, ((i + 1) * size).min(total));
            match r["kind"].as_str().unwrap() {
                "lost" if start <= s && e <= end => {
                    if *t == Truth::Intact {
                        *t = Truth::Lost
                    }
                }
                "damaged" if start < e && s < end => *t = Truth::Damaged,
                "lost" | "damaged" => {}
                other => panic!("unknown range kind {other}"),
            }
        }
    }
    truth
}

/// Check output and report against the plan. Returns the report for further checks.
fn check(data: &[u8], size: usize, plan: &Plan, args: &[&str], to_file: bool) -> Value {
    let packets = packetize(data, size);
    let stream = plan.apply(&packets);
    let (out, report, code, err) = unpktize(&stream, args, to_file);
    let truths = plan.truths(&packets);
    assert_eq!(out.len(), data.len(), "output length; stderr: {err}");
    let fill: Vec<u8> = args
        .iter()
        .position(|a| *a == "--fill")
        .map(|i| hex(args[i + 1]))
        .unwrap_or(vec![0]);
    let keep = !args.contains(&"fill");
    for (i, truth) in truths.iter().enumerate() {
        let (s, e) = (i * size, ((i + 1) * size).min(data.len()));
        match truth {
            Truth::Intact => assert!(out[s..e] == data[s..e], "intact packet {i} not exact"),
            Truth::Lost => assert!(
                (s..e).all(|o| out[o] == fill_at(&fill, o)),
                "lost packet {i} not filled"
            ),
            Truth::Damaged => {
                if let (Fate::FlipPayload(_), true) = (plan.fates[i], keep) {
                    let received = &plan.apply_one(&packets[i], plan.fates[i])[HEADER_LEN..];
                    assert!(
                        out[s..e] == *received,
                        "damaged packet {i} not kept as received"
                    );
                }
            }
        }
    }
    let want: Vec<Truth> = if keep {
        truths.clone()
    } else {
        truths
            .iter()
            .map(|t| {
                if *t == Truth::Damaged {
                    Truth::Lost
                } else {
                    *t
                }
            })
            .collect()
    };
    let got = slots_from_report(&report, packets.len(), size, data.len());
    assert_eq!(got, want, "report ranges disagree with the plan");
    let count = |t| truths.iter().filter(|x| **x == t).count() as u64;
    let packets_report = &report["packets"];
    assert_eq!(
        packets_report["damaged"].as_u64(),
        Some(count(Truth::Damaged))
    );
    let lost = if keep {
        count(Truth::Lost)
    } else {
        count(Truth::Lost) + count(Truth::Damaged)
    };
    assert_eq!(packets_report["lost"].as_u64(), Some(lost), "{report}");
    let dups = plan
        .fates
        .iter()
        .filter(|f| matches!(f, Fate::Duplicate))
        .count() as u64;
    assert_eq!(packets_report["duplicate"].as_u64(), Some(dups));
    let intact_everywhere = truths.iter().all(|t| *t == Truth::Intact);
    assert_eq!(
        code,
        if intact_everywhere { 0 } else { 1 },
        "exit status; {err}"
    );
    report
}

impl Plan {
    fn apply_one(&self, packet: &[u8], fate: Fate) -> Vec<u8> {
        let single = Plan {
            fates: vec![fate],
            moves: vec![],
            garbage: vec![],
        };
        single.apply(&[packet.to_vec()])
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const SIZE: usize = 100;

fn data() -> Vec<u8> {
    bytes(SIZE * 200 + 37, 11)
}

fn slots() -> usize {
    data().len().div_ceil(SIZE)
}

#[test]
fn clean_channel_is_exact_and_exits_0() {
    let report = check(&data(), SIZE, &Plan::clean(slots()), &[], false);
    assert_eq!(report["intact"], Value::Bool(true));
    assert_eq!(report["complete"], Value::Bool(true));
}

#[test]
fn drop_every_kth_packet() {
    for k in [2, 3, 7] {
        let plan = Plan::every(0, k, |_| Fate::Drop);
        check(&data(), SIZE, &plan, &["--fill", "ff00ff"], false);
        check(&data(), SIZE, &plan, &[], true);
    }
}

#[test]
fn the_first_and_last_packets_lost() {
    let mut plan = Plan::clean(slots());
    plan.fates[0] = Fate::Drop;
    *plan.fates.last_mut().unwrap() = Fate::Drop;
    check(&data(), SIZE, &plan, &[], false);
}

#[test]
fn swapped_neighbours_and_far_moves_within_the_window() {
    let mut plan = Plan::clean(slots());
    plan.moves = (0..slots() - 1).step_by(5).map(|i| (i, 1)).collect();
    plan.moves.push((3, 150));
    let report = check(&data(), SIZE, &plan, &[], false);
    assert!(report["packets"]["reordered"].as_u64().unwrap() >= 40);
}

#[test]
fn moves_beyond_the_window_are_late() {
    let mut plan = Plan::clean(slots());
    plan.moves = vec![(10, 50)];
    let packets = packetize(&data(), SIZE);
    let stream = plan.apply(&packets);
    // On a stream, the late packet's range was already filled.
    let (out, report, code, _) = unpktize(&stream, &["--window", "8"], false);
    assert_eq!(code, 1);
    assert_eq!(report["packets"]["late"].as_u64(), Some(1));
    assert!(out[1000..1100].iter().all(|&b| b == 0));
    // A file still takes it: exact output.
    let (out, report, code, _) = unpktize(&stream, &["--window", "8"], true);
    assert_eq!(code, 0, "{report}");
    assert!(out == data());
    assert_eq!(report["packets"]["late_written"].as_u64(), Some(1));
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let mut plan = Plan::every(1, 4, |_| Fate::Duplicate);
    plan.moves = vec![(20, 30), (40, 3)];
    check(&data(), SIZE, &plan, &[], false);
}

#[test]
fn payload_bit_flips_are_damaged_kept_or_filled() {
    let plan = Plan::every(0, 9, |n| Fate::FlipPayload(n * 131));
    check(&data(), SIZE, &plan, &[], false);
    check(
        &data(),
        SIZE,
        &plan,
        &["--damaged", "fill", "--fill", "7f"],
        false,
    );
    check(&data(), SIZE, &plan, &[], true);
}

#[test]
fn header_bit_flips_lose_the_packet_but_not_its_neighbours() {
    let plan = Plan::every(0, 6, |n| Fate::FlipHeader(n * 37));
    check(&data(), SIZE, &plan, &[], false);
}

#[test]
fn garbage_before_between_and_after_packets_is_skipped() {
    let mut plan = Plan::clean(slots());
    plan.garbage = vec![
        (0, garbage(500, 1)),
        (5, garbage(1, 2)),
        (6, garbage(31, 3)),
        (50, garbage(5000, 4)),
        (10_000, garbage(77, 5)),
    ];
    let report = check(&data(), SIZE, &plan, &[], false);
    assert_eq!(
        report["bytes"]["garbage"].as_u64(),
        Some(500 + 1 + 31 + 5000 + 77)
    );
}

#[test]
fn cut_packets_never_swallow_the_next_one() {
    let cuts = [1, 10, 31, 32, 33, 60, 131];
    let plan = Plan::every(2, 11, |n| Fate::Cut(cuts[n % cuts.len()]));
    check(&data(), SIZE, &plan, &[], false);
    check(&data(), SIZE, &plan, &[], true);
}

#[test]
fn a_stream_cut_short_keeps_its_length_and_says_so() {
    let packets = packetize(&data(), SIZE);
    let stream = packets.concat();
    let cut = &stream[..stream.len() / 2 + 17];
    let (out, report, code, _) = unpktize(cut, &[], false);
    assert_eq!(code, 1);
    assert_eq!(
        out.len(),
        data().len(),
        "the total length is known from any header"
    );
    let whole = (stream.len() / 2 + 17) / (SIZE + HEADER_LEN);
    assert!(out[..whole * SIZE] == data()[..whole * SIZE]);
    assert_eq!(report["packets"]["truncated"].as_u64(), Some(1));
}

#[test]
fn the_fill_pattern_keeps_its_phase_by_offset() {
    let mut plan = Plan::clean(slots());
    plan.fates[3] = Fate::Drop;
    plan.fates[4] = Fate::Drop;
    check(&data(), SIZE, &plan, &["--fill", "ff00ff"], false);
    check(&data(), SIZE, &plan, &["--fill", "0102030405"], true);
}

#[test]
fn interleaved_transfers_follow_the_first_or_the_chosen_one() {
    let (a, b) = (bytes(5000, 1), bytes(5000, 2));
    let pa = packetize(&a, 100);
    let out = run(
        "pktize",
        &["-s", "100", "--id", "7", "--describe-every", "0"],
        &b,
    );
    let pb = common::split_packets(&out.stdout);
    let mixed = common::interleave(&pa, &pb);
    let (got, report, code, _) = unpktize(&mixed, &[], false);
    assert!(got == a);
    assert_eq!(code, 0);
    assert_eq!(report["packets"]["foreign"].as_u64(), Some(pb.len() as u64));
    let (got, _, code, _) = unpktize(&mixed, &["--id", "7"], false);
    assert!(got == b);
    assert_eq!(code, 0);
}

fn any_fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        6 => Just(Fate::Keep),
        1 => Just(Fate::Drop),
        1 => Just(Fate::Duplicate),
        1 => any::<usize>().prop_map(Fate::FlipPayload),
        1 => any::<usize>().prop_map(Fate::FlipHeader),
        1 => (1usize..HEADER_LEN + SIZE).prop_map(Fate::Cut),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_mutation_plans(
        fates in prop::collection::vec(any_fate(), 201),
        moves in prop::collection::vec((0usize..250, 1usize..60), 0..20),
        junk in prop::collection::vec((0usize..260, 1usize..300, any::<u64>()), 0..6),
        to_file in any::<bool>(),
    ) {
        let plan = Plan {
            fates,
            moves,
            garbage: junk.into_iter().map(|(at, len, seed)| (at, garbage(len, seed))).collect(),
        };
        check(&data(), SIZE, &plan, &[], to_file);
    }
}

#[test]
fn memory_stays_bounded_on_a_long_lossy_stream() {
    // 256 MiB of payload, 1% lost, 1% moved ahead: buffers that grew with the input would
    // show hundreds of MiB here.
    let chunk = bytes(64 << 20, 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in");
    let mut f = std::fs::File::create(&path).unwrap();
    for _ in 0..4 {
        f.write_all(&chunk).unwrap();
    }
    drop(f);
    let out = run(
        "pktize",
        &["--describe-every", "0", path.to_str().unwrap()],
        b"",
    );
    let mut packets = common::split_packets(&out.stdout);
    let mut stream = Vec::with_capacity(out.stdout.len());
    let mut dropped = 0;
    for i in 0..packets.len() {
        if i % 100 == 7 {
            dropped += 1;
            continue;
        }
        if i % 100 == 50 && i + 20 < packets.len() {
            packets.swap(i, i + 20);
        }
        stream.extend_from_slice(&packets[i]);
    }
    drop(packets);
    let (out, rss_kib) = run_measuring_rss("unpktize", &["-v"], &stream);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout.len(), 256 << 20);
    common::says(&out, &format!("{dropped} lost"));
    assert!(rss_kib < 16 * 1024, "peak RSS {rss_kib} KiB");
}

#[test]
fn live_mode_shows_data_past_a_loss_before_the_input_ends() {
    let packets = packetize(&bytes(100 * 50, 1), 100);
    let mut child = common::spawn("unpktize", &["--live", "--max-delay", "50"]);
    let mut stdin = child.stdin.take().unwrap();
    // Packets 0..20 with packet 5 lost; the sender then pauses with the pipe open.
    for (i, p) in packets.iter().enumerate().take(20) {
        if i != 5 {
            stdin.write_all(p).unwrap();
        }
    }
    stdin.flush().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut got = vec![0u8; 20 * 100];
    let started = Instant::now();
    stdout.read_exact(&mut got[..19 * 100]).unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        got[500..600].iter().all(|&b| b == 0),
        "the lost packet is filled"
    );
    assert_eq!(&got[600..1900], &bytes(100 * 50, 1)[600..1900]);
    drop(stdin);
    child.wait().unwrap();
}

#[test]
fn output_file_has_its_full_length_from_the_first_packet() {
    let packets = packetize(&bytes(100_000, 1), 1000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    let mut child = common::spawn("unpktize", &["-o", path.to_str().unwrap()]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&packets[0]).unwrap();
    stdin.flush().unwrap();
    let started = Instant::now();
    while std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) != 100_000 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "file never sized"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    for p in &packets[1..] {
        stdin.write_all(p).unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert!(std::fs::read(&path).unwrap() == bytes(100_000, 1));
}

#[test]
fn nothing_but_garbage_is_an_error() {
    let out = run("unpktize", &["-v"], &garbage(10_000, 1));
    common::exits_saying(&out, 2, "no packets found");
    assert!(out.stdout.is_empty());
}

#[test]
fn usage_and_io_errors_exit_2_with_one_line() {
    for args in [
        vec!["--fill", "xyz"],
        vec!["--damaged", "maybe"],
        vec!["--window", "0"],
        vec!["--id", "70000"],
        vec!["-o", "/nonexistent/dir/out"],
        vec!["--report", "/nonexistent/dir/r.json"],
    ] {
        common::error_line("unpktize", &run("unpktize", &args, b""), &args);
    }
}

#[test]
fn header_fields_survive_in_the_report() {
    let packets = packetize(&bytes(3000, 1), 1000);
    assert_eq!(header(&packets[0]).total_len, Some(3000));
    let (_, report, _, _) = unpktize(&packets.concat(), &[], false);
    assert_eq!(report["transfers"][0]["id"].as_u64(), Some(4660));
    assert_eq!(report["transfers"][0]["length"].as_u64(), Some(3000));
}

#[test]
fn a_huge_claimed_length_leaves_a_hole_in_a_file_not_a_terabyte_of_writes() {
    // One packet that says the transfer is 1 TiB long: the file gets that length, but the
    // lost range is a hole (zero fill is not written), so this ends at once.
    let packet = common::data_packet(9, 0, Some(1 << 40), b"hello");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    let out = run("unpktize", &["-o", path.to_str().unwrap()], &packet);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), 1 << 40);
    use std::os::unix::fs::MetadataExt;
    assert!(
        meta.blocks() * 512 < 1 << 20,
        "{} bytes on disk",
        meta.blocks() * 512
    );
    let mut head = [0u8; 8];
    std::io::Read::read_exact(&mut std::fs::File::open(&path).unwrap(), &mut head).unwrap();
    assert_eq!(&head, b"hello\0\0\0");
}
