//! Forward error correction through real pipes: `pktize --fec K+M`, a channel simulated
//! here (so the truth is known), `unpktize`.
//!
//! The truth of a group: it is rebuilt when at most M of its K'+M packets were lost or
//! damaged; then every data byte is exact and its missing data packets count as
//! recovered. Otherwise its lost data packets are filled (and damaged ones kept), and
//! they count as lost, as without parity.

use crate::common;

use common::{bytes, header, run, run_measuring_rss, stderr};
use pktools::wire::{Kind, HEADER_LEN};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// What the channel does to one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Keep,
    Drop,
    /// A payload bit flipped: the header still says where it was.
    Damage,
}

/// Packets made by the real pktize with parity, from a file (`from_file`) or a pipe.
fn packetize_fec(data: &[u8], size: usize, fec: &str, from_file: bool) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input");
    std::fs::write(&path, data).unwrap();
    let size = size.to_string();
    let mut args = vec!["-s", &size, "--id", "77", "--fec", fec];
    let out = if from_file {
        args.push(path.to_str().unwrap());
        run("pktize", &args, b"")
    } else {
        run("pktize", &args, data)
    };
    assert!(out.status.success(), "pktize failed: {}", stderr(&out));
    common::split_packets(&out.stdout)
}

/// The stream after the channel.
fn apply(packets: &[Vec<u8>], fates: &[Fate]) -> Vec<u8> {
    let mut out = vec![];
    for (n, (p, fate)) in packets.iter().zip(fates).enumerate() {
        match fate {
            Fate::Keep => out.extend_from_slice(p),
            Fate::Drop => {}
            Fate::Damage => {
                let mut q = p.clone();
                if q.len() > HEADER_LEN {
                    let at = HEADER_LEN + n * 7 % (q.len() - HEADER_LEN);
                    q[at] ^= 0x20;
                    out.extend_from_slice(&q);
                } else {
                    out.extend_from_slice(p); // nothing to damage in an empty payload
                }
            }
        }
    }
    out
}

/// Per data packet: its offset, length, fate, and whether its group is rebuilt.
struct Truth {
    slots: Vec<(u64, usize, Fate, bool)>,
}

impl Truth {
    fn of(packets: &[Vec<u8>], fates: &[Fate], k: u32, m: usize) -> Truth {
        let mut bad: BTreeMap<u32, usize> = BTreeMap::new();
        for (p, fate) in packets.iter().zip(fates) {
            let h = header(p);
            let group = match h.kind {
                Kind::Data => h.seq / k,
                Kind::Parity => h.seq,
                // Descriptors (and repair packets, which this test does not send) belong to no group.
                Kind::Descriptor | Kind::Repair(_) => continue,
            };
            let hit = *fate == Fate::Drop || (*fate == Fate::Damage && h.payload_len > 0);
            *bad.entry(group).or_default() += usize::from(hit);
        }
        let slots = packets
            .iter()
            .zip(fates)
            .map(|(p, f)| (header(p), *f))
            .filter(|(h, _)| h.kind == Kind::Data)
            .map(|(h, f)| {
                let f = if h.payload_len == 0 && f == Fate::Damage {
                    Fate::Keep
                } else {
                    f
                };
                (h.offset, h.payload_len as usize, f, bad[&(h.seq / k)] <= m)
            })
            .collect();
        Truth { slots }
    }

    fn count(&self, f: impl Fn(Fate, bool) -> bool) -> u64 {
        self.slots.iter().filter(|s| f(s.2, s.3)).count() as u64
    }
}

/// Run unpktize with a report; check output and counts against the truth.
fn check(data: &[u8], packets: &[Vec<u8>], fates: &[Fate], k: u32, m: usize, to_file: bool) {
    let truth = Truth::of(packets, fates, k, m);
    let stream = apply(packets, fates);
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("r.json");
    let out_path = dir.path().join("out");
    let mut args = vec!["--report", report_path.to_str().unwrap(), "--fill", "ee"];
    if to_file {
        args.extend(["-o", out_path.to_str().unwrap()]);
    }
    let out = run("unpktize", &args, &stream);
    let got = if to_file {
        std::fs::read(&out_path).unwrap()
    } else {
        out.stdout.clone()
    };
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(got.len(), data.len(), "output length; {}", stderr(&out));
    for &(offset, len, fate, rebuilt) in &truth.slots {
        let (s, e) = (offset as usize, offset as usize + len);
        match (fate, rebuilt) {
            (Fate::Keep, _) | (_, true) => {
                assert!(
                    got[s..e] == data[s..e],
                    "packet at {s} ({fate:?}) not exact"
                )
            }
            (Fate::Drop, false) => {
                assert!(
                    got[s..e].iter().all(|&b| b == 0xee),
                    "packet at {s} not filled"
                )
            }
            (Fate::Damage, false) => assert!(got[s..e] != data[s..e]),
        }
    }
    let packets_report = &report["packets"];
    let recovered = truth.count(|f, rebuilt| f != Fate::Keep && rebuilt);
    let lost = truth.count(|f, rebuilt| f == Fate::Drop && !rebuilt);
    let damaged = truth.count(|f, _| f == Fate::Damage);
    assert_eq!(
        packets_report["recovered"].as_u64(),
        Some(recovered),
        "{report}"
    );
    assert_eq!(packets_report["lost"].as_u64(), Some(lost), "{report}");
    assert_eq!(
        packets_report["damaged"].as_u64(),
        Some(damaged),
        "{report}"
    );
    let whole = truth.slots.iter().all(|s| s.2 == Fate::Keep || s.3);
    assert_eq!(report["intact"], Value::Bool(whole), "{report}");
    assert_eq!(out.status.code(), Some(if whole { 0 } else { 1 }));
}

/// Deterministic per-packet fates: each packet dropped with `loss`, damaged with `damage`.
fn random_fates(n: usize, loss: f64, damage: f64, seed: u64) -> Vec<Fate> {
    bytes(n * 8, seed)
        .chunks(8)
        .map(|b| {
            let x = (u64::from_le_bytes(b.try_into().unwrap()) >> 11) as f64 / (1u64 << 53) as f64;
            if x < loss {
                Fate::Drop
            } else if x < loss + damage {
                Fate::Damage
            } else {
                Fate::Keep
            }
        })
        .collect()
}

#[test]
fn random_losses_at_several_rates_and_seeds_match_the_truth() {
    let data = bytes(300 * 1000 + 123, 5);
    for (fec, k, m) in [("8+2", 8, 2), ("32+4", 32, 4), ("5+3", 5, 3)] {
        let packets = packetize_fec(&data, 1000, fec, true);
        for (loss, seed) in [
            (0.001, 1),
            (0.01, 2),
            (0.02, 3),
            (0.05, 4),
            (0.1, 5),
            (0.2, 6),
        ] {
            let fates = random_fates(packets.len(), loss, 0.0, seed);
            check(&data, &packets, &fates, k, m, false);
        }
    }
}

#[test]
fn damaged_payloads_count_as_erasures() {
    let data = bytes(200 * 500 + 7, 6);
    let packets = packetize_fec(&data, 500, "8+2", true);
    for seed in 1..4 {
        let fates = random_fates(packets.len(), 0.03, 0.03, seed);
        check(&data, &packets, &fates, 8, 2, false);
        check(&data, &packets, &fates, 8, 2, true);
    }
}

#[test]
fn a_lost_last_packet_of_a_piped_input_is_rebuilt_with_its_length() {
    // From a pipe no header states the total length: only the rebuilt LAST packet can.
    for len in [1, 999, 1000, 1001, 8 * 1000, 8 * 1000 + 1, 20 * 1000 + 1] {
        let data = bytes(len, len as u64);
        let packets = packetize_fec(&data, 1000, "8+2", false);
        assert_eq!(header(&packets[0]).total_len, None);
        let last_data = packets
            .iter()
            .rposition(|p| header(p).kind == Kind::Data)
            .unwrap();
        let mut fates = vec![Fate::Keep; packets.len()];
        fates[last_data] = Fate::Drop;
        if last_data > 0 {
            fates[last_data - 1] = Fate::Drop;
        }
        check(&data, &packets, &fates, 8, 2, false);
    }
}

#[test]
fn an_empty_transfer_with_parity_survives_losing_its_only_data_packet() {
    let packets = packetize_fec(b"", 1000, "4+2", true);
    let kinds: Vec<Kind> = packets.iter().map(|p| header(p).kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == Kind::Data).count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == Kind::Parity).count(), 2);
    // Everything but the one data packet (descriptors included).
    let stream: Vec<u8> = packets
        .iter()
        .filter(|p| header(p).kind != Kind::Data)
        .flatten()
        .copied()
        .collect();
    let out = run("unpktize", &["-v"], &stream);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("1 recovered"), "{}", stderr(&out));
}

#[test]
fn reordered_packets_within_a_group_are_not_rebuilt_for_nothing() {
    let data = bytes(64 * 1000, 9);
    let packets = packetize_fec(&data, 1000, "8+2", true);
    // Swap each group's last data packet with its first parity packet.
    let mut moved = packets.clone();
    for g in 0..8 {
        moved.swap(g * 10 + 7, g * 10 + 8);
    }
    let out = run("unpktize", &["-v"], &moved.concat());
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout == data);
    assert!(stderr(&out).contains(" 0 recovered"), "{}", stderr(&out));
}

#[test]
fn consecutive_transfers_with_parity_concatenate() {
    let (a, b) = (bytes(20_000, 1), bytes(15_555, 2));
    let pa = packetize_fec(&a, 1000, "4+2", true);
    let pb = packetize_fec(&b, 1000, "4+2", false);
    let mut fates = random_fates(pa.len() + pb.len(), 0.0, 0.0, 1);
    fates[3] = Fate::Drop;
    fates[pa.len() + 1] = Fate::Drop;
    let all: Vec<Vec<u8>> = pa.iter().chain(&pb).cloned().collect();
    let out = run("unpktize", &["-v"], &apply(&all, &fates));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout == [a, b].concat());
    assert!(stderr(&out).contains("2 recovered"), "{}", stderr(&out));
}

#[test]
fn pktize_rejects_schemes_the_code_cannot_make() {
    for bad in ["0+2", "8+0", "200+100", "8", "8-2", "x+y"] {
        let out = run("pktize", &["--fec", bad], b"data");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = stderr(&out);
        assert!(err.starts_with("pktize: error: "), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn memory_stays_bounded_on_a_long_stream_with_parity_and_losses() {
    // 128 MiB with 8+2 parity and 3% loss through a pipe: buffers that grew with the input
    // would show hundreds of MiB.
    let data = bytes(16 << 20, 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in");
    std::fs::write(&path, data.repeat(8)).unwrap();
    let out = run("pktize", &["--fec", "8+2", path.to_str().unwrap()], b"");
    let packets = common::split_packets(&out.stdout);
    drop(out);
    let fates = random_fates(packets.len(), 0.03, 0.0, 11);
    let stream = apply(&packets, &fates);
    drop(packets);
    let (out, rss_kib) = run_measuring_rss("unpktize", &["-v"], &stream);
    assert_eq!(out.stdout.len(), 128 << 20);
    assert!(stderr(&out).contains("recovered"), "{}", stderr(&out));
    // The streaming bound, plus the GF(2^16) coder's multiplication tables (8.5 MiB, made
    // once when the first group is rebuilt).
    assert!(rss_kib < (16 + 9) * 1024, "peak RSS {rss_kib} KiB");
    let (out, rss_kib) =
        run_measuring_rss("pktize", &["--fec", "32+4", path.to_str().unwrap()], b"");
    assert!(out.status.success());
    assert!(
        rss_kib < 16 * 1024 + 128 * 1024,
        "pktize maps its input; {rss_kib} KiB"
    );
}

fn within_m_per_group() -> impl Strategy<Value = (usize, usize, usize, usize, Vec<u64>)> {
    (
        1usize..12,
        1usize..4,
        1usize..300,
        0usize..20_000,
        prop::collection::vec(any::<u64>(), 64),
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    })]

    #[test]
    fn losses_within_m_per_group_give_exact_output((k, m, size, len, seeds) in within_m_per_group()) {
        let data = bytes(len, len as u64 + 1);
        let packets = packetize_fec(&data, size, &format!("{k}+{m}"), len % 2 == 0);
        // In each group (its data and parity packets) drop or damage up to M, at random.
        let mut fates = vec![Fate::Keep; packets.len()];
        let mut start = 0;
        let mut group = 0;
        for (i, p) in packets.iter().enumerate() {
            let h = header(p);
            let info = h.parity.filter(|_| h.kind == Kind::Parity);
            if info.is_some_and(|x| usize::from(x.parity_index) + 1 == m) {
                let seed = seeds[group % seeds.len()];
                let span = i + 1 - start;
                for n in 0..(seed % (m as u64 + 1)) {
                    let at = start + ((seed >> (8 + n)) as usize).wrapping_mul(2654435761) % span;
                    fates[at] = if (seed >> (40 + n)) & 1 == 0 { Fate::Drop } else { Fate::Damage };
                }
                start = i + 1;
                group += 1;
            }
        }
        let stream = apply(&packets, &fates);
        let out = run("unpktize", &[], &stream);
        prop_assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        prop_assert!(out.stdout == data);
    }
}

#[test]
fn live_mode_writes_a_rebuilt_packet_before_the_input_ends() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let data = bytes(100 * 40, 4);
    let packets = packetize_fec(&data, 100, "4+2", true);
    let mut child = Command::new(common::bin("unpktize"))
        .args(["--live", "--max-delay", "60000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Three groups (18 packets) with data packet 4 lost; the sender then pauses with the
    // pipe open, and the gap may wait a minute: only parity can fill it in time.
    for (i, p) in packets.iter().enumerate().take(18) {
        if i != 6 {
            stdin.write_all(p).unwrap();
        }
    }
    stdin.flush().unwrap();
    let mut got = vec![0u8; 12 * 100];
    child.stdout.take().unwrap().read_exact(&mut got).unwrap();
    assert!(got == data[..1200]);
    drop(stdin);
    child.wait().unwrap();
}

/// Send `packets` through the real corrupt with `args` (losses only) and its `--log`: the
/// fate of each packet as the log tells it, checked against corrupt's output.
fn corrupt_logged(packets: &[Vec<u8>], args: &[&str]) -> Vec<Fate> {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("log.tsv");
    let args = [args, &["--log", log_path.to_str().unwrap()]].concat();
    let out = run("corrupt", &args, &packets.concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let mut fates = vec![Fate::Keep; packets.len()];
    let log = std::fs::read_to_string(&log_path).unwrap();
    for line in log.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields[3], "drop", "only losses were asked for: {line}");
        fates[fields[0].parse::<usize>().unwrap()] = Fate::Drop;
    }
    assert!(
        out.stdout == apply(packets, &fates),
        "corrupt's output is what its log says"
    );
    fates
}

#[test]
fn corrupt_log_is_the_truth_for_what_is_rebuilt() {
    // The channel is the real corrupt; its --log says which packets it dropped, and that
    // (checked against its output) is the truth unpktize's rebuilding is held to.
    let data = bytes(400 * 1000 + 77, 6);
    for (fec, k, m) in [("8+2", 8, 2), ("32+4", 32, 4)] {
        let packets = packetize_fec(&data, 1000, fec, true);
        for (loss, seed) in [("1%", "1"), ("3%", "2"), ("8%", "3")] {
            let fates = corrupt_logged(&packets, &["--loss", loss, "--seed", seed]);
            assert!(fates.contains(&Fate::Drop));
            check(&data, &packets, &fates, k, m, false);
        }
    }
}

/// Packets made by the real pktize with parity and `--interleave=SPAN`, from a file.
fn packetize_interleaved(data: &[u8], size: usize, fec: &str, span: &str) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input");
    std::fs::write(&path, data).unwrap();
    let size = size.to_string();
    let interleave = format!("--interleave={span}");
    let args = ["-s", &size, "--id", "78", "--fec", fec, &interleave];
    let out = run(
        "pktize",
        &[&args[..], &[path.to_str().unwrap()]].concat(),
        b"",
    );
    assert!(out.status.success(), "pktize failed: {}", stderr(&out));
    common::split_packets(&out.stdout)
}

#[test]
fn with_interleaving_a_burst_of_the_depth_costs_each_group_one_packet() {
    // Spans of 256 packets in groups of 8: 32 rows, so any 31 consecutive packets sent
    // (a descriptor among them or not) hit 31 different groups.
    let data = bytes(1000 * 1000 + 333, 8);
    for (fec, k, m) in [("8+2", 8, 2), ("32+4", 32, 4)] {
        let packets = packetize_interleaved(&data, 1000, fec, "256");
        let depth = 256 / k as usize - 1;
        let mut fates = vec![Fate::Keep; packets.len()];
        for start in (5..packets.len() - depth).step_by(3 * 256) {
            fates[start..start + depth].fill(Fate::Drop);
        }
        let truth = Truth::of(&packets, &fates, k, m);
        assert!(
            truth.slots.iter().all(|s| s.3),
            "every group is hit at most once"
        );
        assert!(truth.count(|f, _| f == Fate::Drop) > 0);
        check(&data, &packets, &fates, k, m, true);
        // The same bursts in order cost whole groups.
        let plain = packetize_fec(&data, 1000, fec, true);
        let mut fates = vec![Fate::Keep; plain.len()];
        for start in (5..plain.len() - depth).step_by(3 * 256) {
            fates[start..start + depth].fill(Fate::Drop);
        }
        assert!(Truth::of(&plain, &fates, k, m).slots.iter().any(|s| !s.3));
    }
}

#[test]
fn corrupt_bursts_on_an_interleaved_stream_match_the_truth() {
    // The channel is corrupt with bursty loss; its log is the truth. Interleaved, far
    // fewer bytes are lost for good than in order.
    let data = bytes(2000 * 1000, 9);
    let mut lost_bytes = vec![];
    for interleaved in [false, true] {
        let packets = if interleaved {
            packetize_interleaved(&data, 1000, "8+2", "512")
        } else {
            packetize_fec(&data, 1000, "8+2", true)
        };
        let fates = corrupt_logged(&packets, &["--loss", "3%", "--burst", "8", "--seed", "4"]);
        check(&data, &packets, &fates, 8, 2, true);
        let truth = Truth::of(&packets, &fates, 8, 2);
        lost_bytes.push(
            truth
                .slots
                .iter()
                .filter(|s| s.2 == Fate::Drop && !s.3)
                .map(|s| s.1)
                .sum::<usize>(),
        );
    }
    assert!(
        lost_bytes[1] * 4 < lost_bytes[0],
        "bytes lost in order, interleaved: {lost_bytes:?}"
    );
}

#[test]
fn parity_bytes_are_the_test_vector_of_the_manual() {
    // pktize(5)'s example: a coder update that changed the parity would change the wire
    // format, and this would say so.
    let out = run(
        "pktize",
        &[
            "--id",
            "0x1234",
            "--describe-every",
            "0",
            "-s",
            "6",
            "--fec",
            "2+2",
        ],
        b"hello world!",
    );
    let want = "706b01310006 3a32 1234 00000000 0000000000000000 020200020006 0828e790 \
                404689 6c6022 \
                706b01310006 c1de 1234 00000000 0000000000000000 020201020006 942d868e \
                5f4c97 6c6b23";
    let want: Vec<u8> = want
        .split_whitespace()
        .collect::<String>()
        .as_bytes()
        .chunks(2)
        .map(|h| u8::from_str_radix(std::str::from_utf8(h).unwrap(), 16).unwrap())
        .collect();
    assert_eq!(&out.stdout[out.stdout.len() - 76..], &want[..]);
}
