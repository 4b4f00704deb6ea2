//! Integration tests for `corrupt`: the real binary, through real pipes and files.
//!
//! Rates are checked against the binomial distribution: with a fixed seed the observed count
//! must lie within 4 standard deviations of the mean (a false alarm once in ~16000 seeds,
//! and a fixed seed makes it deterministic).

use crate::common;

use common::{run as run_bin, sh};
use pktools::framing::{scan, Frame};
use pktools::wire::{Header, DEFAULT_PAYLOAD, HEADER_LEN};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Run corrupt with `input` on a pipe.
fn run(args: &[&str], input: &[u8]) -> Output {
    run_bin("corrupt", args, input)
}

/// Run corrupt successfully and return its output.
fn ok(args: &[&str], input: &[u8]) -> Vec<u8> {
    let out = run(args, input);
    assert!(
        out.status.success(),
        "corrupt {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A packet stream made by pktize: `count` packets of `payload_len` bytes of
/// pseudo-random data (so every payload differs), transfer id 1.
fn packets(count: u32, payload_len: usize) -> Vec<u8> {
    let data = common::bytes(count as usize * payload_len, u64::from(count));
    let size = payload_len.to_string();
    let out = common::run(
        "pktize",
        &["-s", &size, "--id", "1", "--describe-every", "0"],
        &data,
    );
    assert!(out.status.success(), "pktize: {}", common::stderr(&out));
    out.stdout
}

/// The packets found in a stream: (header, intact, bytes).
fn parse(stream: &[u8]) -> Vec<(Header, bool, &[u8])> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let frame = scan(&stream[at..], true);
        let len = frame.len();
        if let Frame::Packet { header, intact, .. } = frame {
            found.push((header, intact, &stream[at..at + len]));
        }
        at += len;
    }
    found
}

fn within_4_sd(observed: f64, trials: f64, p: f64) -> bool {
    let sd = (trials * p * (1.0 - p)).sqrt();
    (observed - trials * p).abs() <= 4.0 * sd
}

fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn all_rates_zero_is_identity() {
    let mut input = packets(2000, 300);
    input.splice(5000..5000, b"not a packet".iter().copied());
    assert_eq!(ok(&["--seed", "1"], &input), input);
    let raw: Vec<u8> = (0..300_000u32).map(|i| ((i * 13) >> 3) as u8).collect();
    assert_eq!(ok(&["--raw", "--seed", "1"], &raw), raw);
    assert_eq!(
        ok(&["--loss", "0", "--ber", "0%", "--dup", "0"], &input),
        input
    );
}

#[test]
fn loss_rate_is_binomial_and_matches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let n = 20_000;
    let out = ok(
        &[
            "--loss",
            "5%",
            "--seed",
            "11",
            "--log",
            log.to_str().unwrap(),
        ],
        &packets(n, 16),
    );
    let received = parse(&out);
    assert!(received.iter().all(|(_, intact, _)| *intact));
    let lost = n as usize - received.len();
    assert!(
        within_4_sd(lost as f64, n as f64, 0.05),
        "{lost} of {n} lost"
    );
    let log = std::fs::read_to_string(&log).unwrap();
    let dropped: Vec<u32> = log
        .lines()
        .filter(|l| l.contains("\tdrop\t"))
        .map(|l| l.split('\t').nth(1).unwrap().parse().unwrap())
        .collect();
    let seen: Vec<u32> = received.iter().map(|(h, _, _)| h.seq).collect();
    let missing: Vec<u32> = (0..n).filter(|s| !seen.contains(s)).collect();
    assert_eq!(dropped, missing);
}

#[test]
fn duplication_rate_is_binomial() {
    let n = 20_000;
    let out = ok(&["--dup", "3%", "--seed", "12"], &packets(n, 16));
    let received = parse(&out);
    let extra = received.len() - n as usize;
    assert!(
        within_4_sd(extra as f64, n as f64, 0.03),
        "{extra} duplicates"
    );
    // Each duplicate follows its original.
    for pair in received.windows(2) {
        assert!(pair[1].0.seq == pair[0].0.seq + 1 || pair[1].0.seq == pair[0].0.seq);
    }
}

#[test]
fn bit_error_rate_is_binomial() {
    let zeros = vec![0u8; 4 << 20];
    let out = ok(&["--raw", "--ber", "1e-4", "--seed", "13"], &zeros);
    assert_eq!(out.len(), zeros.len());
    let flipped: u64 = out.iter().map(|b| u64::from(b.count_ones())).sum();
    let bits = zeros.len() as f64 * 8.0;
    assert!(
        within_4_sd(flipped as f64, bits, 1e-4),
        "{flipped} of {bits}"
    );
}

#[test]
fn burst_losses_have_the_requested_mean_length() {
    let n = 100_000;
    let out = ok(
        &["--loss", "5%", "--burst", "4", "--seed", "14"],
        &packets(n, 1),
    );
    let mut seen = vec![false; n as usize];
    for (h, _, _) in parse(&out) {
        seen[h.seq as usize] = true;
    }
    let mut bursts = Vec::new();
    let mut run = 0;
    for &s in &seen {
        if !s {
            run += 1;
        } else if run > 0 {
            bursts.push(run as f64);
            run = 0;
        }
    }
    // Burst lengths are geometric with r = 1/4: variance (1 - r) / r^2.
    let (r, count) = (0.25, bursts.len() as f64);
    let mean = bursts.iter().sum::<f64>() / count;
    let sd_of_mean = ((1.0 - r) / (r * r) / count).sqrt();
    assert!((mean - 4.0).abs() <= 4.0 * sd_of_mean, "mean burst {mean}");
    let lost = seen.iter().filter(|s| !**s).count() as f64 / n as f64;
    assert!((lost - 0.05).abs() < 0.01, "loss rate {lost}");
}

#[test]
fn burst_without_loss_is_refused_by_name() {
    // Alone, and beside --gilbert (which has its own bursts and used to ignore --burst).
    for args in [
        &["--burst", "5"][..],
        &["--gilbert", "1%,50%", "--burst", "5"][..],
    ] {
        let out = run(args, &packets(3, 10));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        assert_eq!(
            common::stderr(&out).trim_end(),
            "corrupt: error: --burst shapes the losses of --loss; give --loss RATE with it",
            "{args:?}"
        );
    }
}

/// Arguments for every kind of damage at once, to add more to.
fn everything() -> Vec<&'static str> {
    "--loss 3% --dup 3% --reorder 3%,5 --truncate 2% --ber 1e-4"
        .split(' ')
        .collect()
}

#[test]
fn same_seed_same_bytes_from_pipe_file_and_redirect() {
    let dir = tempfile::tempdir().unwrap();
    let input = packets(5000, 500);
    let file = write_temp(dir.path(), "in", &input);
    let mut args = everything();
    args.extend(["--seed", "21"]);
    let piped = ok(&args, &input);
    assert_ne!(piped, input);
    let mut with_file = args.clone();
    with_file.push(file.to_str().unwrap());
    assert_eq!(ok(&with_file, &[]), piped, "mapped FILE");
    let script = format!("corrupt {} < {} | cat", args.join(" "), file.display());
    assert_eq!(sh(&script).stdout, piped, "stdin redirected from a file");
    let script = format!("cat {} | corrupt {} | cat", file.display(), args.join(" "));
    assert_eq!(sh(&script).stdout, piped, "through cat");
}

#[test]
fn different_seed_different_bytes() {
    let input = packets(2000, 100);
    let mut a = everything();
    a.extend(["--seed", "1"]);
    let mut b = everything();
    b.extend(["--seed", "2"]);
    assert_ne!(ok(&a, &input), ok(&b, &input));
}

#[test]
fn verbose_prints_a_seed_that_replays_the_run() {
    let input = packets(1000, 100);
    let out = run(&["-v", "--loss", "10%", "--ber", "1e-4"], &input);
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let seed = stderr
        .split_whitespace()
        .nth(2)
        .expect("corrupt: seed N ...");
    assert!(stderr.contains("packets in"), "{stderr}");
    assert_eq!(
        ok(&["--loss", "10%", "--ber", "1e-4", "--seed", seed], &input),
        out.stdout
    );
}

/// One parsed log line.
struct Event {
    index: usize,
    copy: usize,
    action: String,
    detail: String,
}

fn read_log(text: &str) -> Vec<Event> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 5, "five fields in {l:?}");
            Event {
                index: f[0].parse().unwrap(),
                copy: f[2].parse().unwrap(),
                action: f[3].to_string(),
                detail: f[4].to_string(),
            }
        })
        .collect()
}

/// Replay the log on the input, as the man page describes the channel: the output it
/// predicts, and how many bits of each output byte the log says were flipped.
fn replay(packets_in: &[&[u8]], events: &[Event]) -> (Vec<u8>, Vec<u32>) {
    let find = |index: usize, copy: usize, action: &str| {
        events
            .iter()
            .find(|e| e.index == index && e.copy == copy && e.action == action)
    };
    let mut out = Vec::new();
    let mut flips = Vec::new();
    let mut emit = |bytes: &[u8], offsets: &[usize], out: &mut Vec<u8>| {
        let start = out.len();
        out.extend_from_slice(bytes);
        flips.resize(out.len(), 0);
        for o in offsets {
            flips[start + o] += 1;
        }
    };
    let mut held: Vec<(usize, Vec<u8>, Vec<usize>)> = Vec::new();
    let mut slot = 0;
    for (index, packet) in packets_in.iter().enumerate() {
        if find(index, 0, "drop").is_some() {
            continue;
        }
        let kept = find(index, 0, "truncate").map_or(packet.len(), |e| e.detail.parse().unwrap());
        let copies = if find(index, 1, "dup").is_some() {
            2
        } else {
            1
        };
        for copy in 0..copies {
            let offsets: Vec<usize> = find(index, copy, "flip").map_or(Vec::new(), |e| {
                e.detail.split(',').map(|o| o.parse().unwrap()).collect()
            });
            match find(index, copy, "reorder") {
                Some(e) => {
                    let k: usize = e.detail.parse().unwrap();
                    held.push((slot + k, packet[..kept].to_vec(), offsets));
                }
                None => emit(&packet[..kept], &offsets, &mut out),
            }
            let mut i = 0;
            while i < held.len() {
                if held[i].0 <= slot {
                    let (_, bytes, offsets) = held.remove(i);
                    emit(&bytes, &offsets, &mut out);
                } else {
                    i += 1;
                }
            }
            slot += 1;
        }
    }
    held.sort_by_key(|h| h.0);
    for (_, bytes, offsets) in held {
        emit(&bytes, &offsets, &mut out);
    }
    (out, flips)
}

#[test]
fn log_agrees_with_the_difference_between_input_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let input = packets(3000, 200);
    for (seed, payload_only) in [("31", false), ("32", true)] {
        let mut args = everything();
        args.extend(["--seed", seed, "--log", log.to_str().unwrap()]);
        if payload_only {
            args.push("--payload-only");
        }
        let out = ok(&args, &input);
        let events = read_log(&std::fs::read_to_string(&log).unwrap());
        for action in ["drop", "dup", "reorder", "truncate", "flip"] {
            assert!(
                events.iter().any(|e| e.action == action),
                "seed {seed}: no {action} event to check"
            );
        }
        let packets_in: Vec<&[u8]> = parse(&input).into_iter().map(|p| p.2).collect();
        let (predicted, flips) = replay(&packets_in, &events);
        assert_eq!(predicted.len(), out.len(), "seed {seed}: output length");
        for (i, ((p, o), n)) in predicted.iter().zip(&out).zip(&flips).enumerate() {
            assert_eq!((p ^ o).count_ones(), *n, "seed {seed}: output byte {i}");
        }
        if payload_only {
            assert!(events
                .iter()
                .filter(|e| e.action == "flip")
                .flat_map(|e| e.detail.split(','))
                .all(|o| o.parse::<usize>().unwrap() >= HEADER_LEN));
        }
    }
}

#[test]
fn raw_mode_logs_block_drops_and_flips() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let input = vec![0u8; 100_000];
    let out = ok(
        &[
            "--raw",
            "--block",
            "1000",
            "--loss",
            "10%",
            "--ber",
            "1e-4",
            "--seed",
            "3",
            "--log",
            log.to_str().unwrap(),
        ],
        &input,
    );
    let events = read_log(&std::fs::read_to_string(&log).unwrap());
    let dropped = events.iter().filter(|e| e.action == "drop").count();
    assert!(dropped > 0);
    assert_eq!(out.len(), input.len() - 1000 * dropped);
    let logged: usize = events
        .iter()
        .filter(|e| e.action == "flip")
        .map(|e| e.detail.split(',').count())
        .sum();
    let flipped: u32 = out.iter().map(|b| b.count_ones()).sum();
    assert_eq!(logged, flipped as usize);
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    for line in [
        "--loss 1.5",
        "--loss -1",
        "--loss abc",
        "--ber 2",
        "--dup 101%",
        "--reorder 5%,0",
        "--reorder 5%,1000",
        "--burst 3",
        "--loss 1% --burst 0.5",
        "--loss 90% --burst 1",
        "--gilbert 1%",
        "--gilbert 1%,2% --loss 1%",
        "--block 0",
        "--raw --reorder 1%",
        "--seed -3",
        "--nonsense",
        "/nonexistent/file",
    ] {
        let args: Vec<&str> = line.split(' ').collect();
        common::error_line("corrupt", &run(&args, &packets(3, 10)), &line);
    }
}

#[test]
fn packet_options_on_plain_bytes_are_refused() {
    let out = run(
        &["--truncate", "1%"],
        b"plain text, not packets, and long enough to tell",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--packets"));
}

/// The packet numbers (offset / payload size) covered by the report's ranges of `kind`.
fn reported(report: &str, kind: &str) -> BTreeSet<u64> {
    let mut seqs = BTreeSet::new();
    let field = |line: &str, name: &str| -> u64 {
        let at = line.find(&format!("\"{name}\": ")).expect("field in range") + name.len() + 4;
        let digits: String = line[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap()
    };
    for line in report
        .lines()
        .filter(|l| l.contains(&format!("\"kind\": \"{kind}\"")))
    {
        let (offset, length) = (field(line, "offset"), field(line, "length"));
        seqs.extend(
            (offset..offset + length)
                .step_by(DEFAULT_PAYLOAD)
                .map(|o| o / DEFAULT_PAYLOAD as u64),
        );
    }
    seqs
}

/// Sequence numbers of the log lines with this action.
fn logged(log: &str, action: &str) -> BTreeSet<u64> {
    log.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f[3] == action)
        .map(|f| f[1].parse().unwrap())
        .collect()
}

/// `pktize < 3 MB | corrupt ARGS --log l | unpktize --report r.json`, which must exit 1
/// (damaged output); then the report's `kind` ranges must be exactly the packets the log
/// names for `action` (more than 100 of them), and it must have no `other` range.
fn unpktize_reports_what_corrupt_logged(
    corrupt_args: &str,
    seed: u64,
    (action, kind, other): (&str, &str, &str),
) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    write_temp(dir.path(), "f", &common::bytes(3_000_000, seed));
    let out = sh(&format!(
        "pktize --describe-every 0 < {d}/f | corrupt {corrupt_args} --log {d}/l \
         | unpktize --report {d}/r.json > {d}/g"
    ));
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let log = std::fs::read_to_string(dir.path().join("l")).unwrap();
    let report = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
    let done = logged(&log, action);
    assert!(done.len() > 100, "{} {action}", done.len());
    assert_eq!(reported(&report, kind), done);
    assert!(reported(&report, other).is_empty());
}

#[test]
fn unpktize_reports_exactly_the_packets_corrupt_dropped() {
    unpktize_reports_what_corrupt_logged("--loss 5% --seed 1", 7, ("drop", "lost", "damaged"));
}

#[test]
fn unpktize_reports_exactly_the_packets_whose_payload_corrupt_damaged() {
    let args = "--ber 1e-5 --payload-only --seed 2";
    unpktize_reports_what_corrupt_logged(args, 8, ("flip", "damaged", "lost"));
}

#[test]
fn clean_channel_round_trips_through_pktize_and_unpktize() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let data = common::bytes(1_000_000, 9);
    write_temp(dir.path(), "f", &data);
    let out = sh(&format!("pktize < {d}/f | corrupt --seed 5 | unpktize"));
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(out.stdout, data);
}

#[test]
fn a_plain_file_is_damaged_as_raw_bytes_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(dir.path(), "plain.bin", &common::bytes(10_000, 3));
    let path = file.to_str().unwrap();
    let out = run(&["--loss", "10%", "--seed", "1", path], b"");
    assert!(out.status.success(), "{}", common::stderr(&out));
    let err = common::stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("corrupt: note: the input does not start with a pktize packet header"),
        "{err}"
    );
    // Asked for, or a real packet stream: no note.
    let raw = run(&["--raw", "--loss", "10%", "--seed", "1", path], b"");
    assert_eq!(common::stderr(&raw), "");
    assert_eq!(raw.stdout, out.stdout, "the same raw mode either way");
    let stream = run(&["--loss", "10%", "--seed", "1"], &packets(50, 100));
    assert_eq!(common::stderr(&stream), "");
}
