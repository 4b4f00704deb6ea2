//! A hostile sender (no key; forged packets whose CRCs and header checks hold): issue 35's
//! and 29's reproductions of memory and work a forged packet could make the receiver spend,
//! each checked through a real pipe against its bound (peak RSS from `/usr/bin/time`, CPU
//! time against an honest stream of the same length, with generous factors: timings proper
//! belong in `make bench`), and a seeded generator of forged streams checked the same way.
//!
//! `PKTOOLS_LIMITS_UNPKTIZE=/path/to/old/unpktize` runs the same cases against another
//! build, to measure before and after.

use crate::common::{self, data_packet, forged_packet};
use crate::limits::{assert_rss_below, run_streaming, Measured};
use pktools::descriptor::{Descriptor, MediaType};
use pktools::wire::{Header, Kind, ParityInfo, HEADER_LEN, MAX_PAYLOAD};
use std::io::{self, Write};

const MIB: u64 = 1 << 20;

/// A feed: bytes written to the program's standard input from a thread.
type Feed = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static>;

fn descriptor(
    payload_len: u16,
    fec: Option<(u8, u8)>,
    span: Option<u32>,
    carousel: bool,
) -> Descriptor {
    Descriptor {
        media_type: MediaType::Raw,
        payload_len,
        fec,
        name: String::new(),
        head: Vec::new(),
        interleave_span: span,
        carousel,
        fountain: None,
    }
}

fn descriptor_packet(id: u16, total: Option<u64>, d: &Descriptor) -> Vec<u8> {
    forged_packet(Kind::Descriptor, id, 0, 0, total, &d.encode())
}

/// A parity packet of group `group` (K = `info.group_size`) over payloads of `p` bytes.
fn parity_packet(
    id: u16,
    group: u32,
    p: u64,
    info: ParityInfo,
    last: bool,
    payload: &[u8],
) -> Vec<u8> {
    let header = Header {
        kind: Kind::Parity,
        last,
        keyed: false,
        encrypted: false,
        payload_len: payload.len() as u16,
        transfer_id: id,
        seq: group,
        offset: u64::from(group) * u64::from(info.group_size) * p,
        total_len: None,
        payload_crc: Header::crc_of(payload),
        parity: Some(info),
    };
    header.with_payload(payload)
}

/// In-order data packets of the largest payload, about `len` bytes: the honest stream a
/// forged one is compared with.
fn honest(len: u64) -> Feed {
    honest_of(len, MAX_PAYLOAD)
}

/// In-order data packets of `payload_len` bytes, about `len` bytes in all, in blocks.
fn honest_of(len: u64, payload_len: usize) -> Feed {
    Box::new(move |out| {
        let payload = vec![0x3c; payload_len];
        let p = payload_len as u64;
        let packets = len / (p + HEADER_LEN as u64) + 1;
        let total = packets * p;
        let mut block = Vec::with_capacity(MIB as usize + 2 * MAX_PAYLOAD);
        let mut offset = 0;
        while offset < total {
            block.extend(data_packet(7, offset, Some(total), &payload));
            offset += p;
            if block.len() >= MIB as usize || offset >= total {
                out.write_all(&block)?;
                block.clear();
            }
        }
        Ok(())
    })
}

/// A feed of these bytes.
fn feed_all(stream: Vec<u8>) -> Feed {
    Box::new(move |out| out.write_all(&stream))
}

fn report(m: &Measured, what: &str) {
    eprintln!(
        "{what}: exit {:?}, peak RSS {} KiB, CPU {:.2} s, {} bytes out, {} bytes in",
        m.code(),
        m.peak_rss_kib,
        m.cpu_secs,
        m.stdout_len,
        m.stdin_len
    );
}

#[test]
fn overlapping_forged_headers_cost_about_what_an_honest_stream_costs() {
    // Issue 35.12: back-to-back valid headers, each claiming 65475 bytes, each cut by the
    // next: every 32 bytes used to cost a 64 KiB CRC (75x an honest stream).
    let len = 32 * MIB;
    let forged: Feed = Box::new(move |out| {
        let mut block = Vec::with_capacity(MIB as usize);
        let mut seq = 0u32;
        for _ in 0..len / MIB {
            block.clear();
            while block.len() < MIB as usize {
                let h = Header {
                    kind: Kind::Data,
                    last: false,
                    keyed: false,
                    encrypted: false,
                    payload_len: MAX_PAYLOAD as u16,
                    transfer_id: 7,
                    seq,
                    offset: u64::from(seq) * MAX_PAYLOAD as u64,
                    total_len: None,
                    payload_crc: seq,
                    parity: None,
                };
                let mut bytes = [0; HEADER_LEN];
                h.encode(&mut bytes);
                block.extend_from_slice(&bytes);
                seq += 1;
            }
            out.write_all(&block)?;
        }
        Ok(())
    });
    let m = run_streaming("unpktize", &["--max-size", "none"], forged, Some(64 * MIB));
    report(&m, "forged overlapping headers");
    let h = run_streaming("unpktize", &[], honest(len), None);
    report(&h, "honest stream, largest payloads");
    assert_eq!(h.code(), Some(0), "{}", h.stderr);
    // As many packets as the forged stream has headers: the work per packet, not the
    // CRC of claims, is what the forged stream costs now.
    let t = run_streaming("unpktize", &[], honest_of(len, 1), None);
    report(&t, "honest stream, 1-byte payloads");
    assert_eq!(t.code(), Some(0), "{}", t.stderr);
    assert!(
        m.cpu_secs <= 3.0 * t.cpu_secs + 0.3,
        "forged: {:.2} s of CPU, honest with as many packets: {:.2} s",
        m.cpu_secs,
        t.cpu_secs
    );
    assert_rss_below(&m, 24, "forged overlapping headers");
}

#[test]
fn max_size_holds_for_a_later_descriptors_claim() {
    // Issue 35.1: the first descriptor states no total, a later one 10 GiB, no data
    // follows: the close filled 10 GiB with --max-size 1M.
    let d = descriptor(1024, None, None, false);
    let mut stream = descriptor_packet(7, None, &d);
    stream.extend(descriptor_packet(7, Some(10 << 30), &d));
    let m = run_streaming(
        "unpktize",
        &["--max-size", "1M"],
        feed_all(stream),
        Some(64 * MIB),
    );
    report(&m, "--max-size 1M, a later descriptor claims 10 GiB");
    assert_eq!(m.code(), Some(2), "{}", m.stderr);
    assert_eq!(m.stdout_len, 0, "nothing is written for the claim");
    assert!(m.stderr.starts_with("unpktize: error: "), "{}", m.stderr);
    assert!(m.stderr.contains("limit"), "{}", m.stderr);
}

#[test]
fn max_size_holds_for_parity_group_fields() {
    // Issue 35.1: a parity packet's group lies beyond the limit: refused before anything
    // is rebuilt or filled there.
    let info = ParityInfo {
        group_len: 1,
        parity_count: 1,
        parity_index: 0,
        group_size: 1,
        last_len: 100,
        odd: false,
    };
    let mut stream = data_packet(7, 0, None, &[1; 100]);
    stream.extend(parity_packet(7, 1 << 20, 100, info, true, &[2; 100]));
    let m = run_streaming(
        "unpktize",
        &["--max-size", "1M"],
        feed_all(stream),
        Some(64 * MIB),
    );
    report(&m, "--max-size 1M, parity of a group at 100 MiB");
    assert_eq!(m.code(), Some(2), "{}", m.stderr);
    assert!(m.stdout_len <= 100, "{} bytes out", m.stdout_len);
    assert!(m.stderr.contains("limit"), "{}", m.stderr);
}

#[test]
fn an_output_that_is_no_regular_file_gets_the_streams_size_limit() {
    // Issue 35.9: `-o /dev/stdout` (a pipe here) had no default limit: one forged packet
    // gave 9.4 GB in 5 s.
    let stream = data_packet(7, 0, Some(1 << 40), b"one packet");
    let m = run_streaming(
        "unpktize",
        &["-o", "/dev/stdout"],
        feed_all(stream),
        Some(64 * MIB),
    );
    report(&m, "-o /dev/stdout, a claim of 1 TiB");
    assert_eq!(m.code(), Some(2), "{}", m.stderr);
    assert_eq!(m.stdout_len, 0);
    assert!(m.stderr.contains("limit"), "{}", m.stderr);
}

#[test]
fn a_forged_interleave_span_does_not_make_the_window_hold_it() {
    // Issue 29.8: a descriptor announcing a span of 65536 packets of 64 KiB, then 12000
    // such packets after a missing first one: 774 MB held.
    let d = descriptor(MAX_PAYLOAD as u16, None, Some(65536), false);
    let feed: Feed = Box::new(move |out| {
        out.write_all(&descriptor_packet(7, None, &d))?;
        let payload = vec![0x77; MAX_PAYLOAD];
        for i in 1..12_000u64 {
            out.write_all(&data_packet(7, i * MAX_PAYLOAD as u64, None, &payload))?;
        }
        Ok(())
    });
    let m = run_streaming("unpktize", &[], feed, None);
    report(&m, "forged span 65536 x 64 KiB");
    assert_eq!(m.code(), Some(1), "{}", m.stderr);
    // Every packet that arrived is written: only the first payload is lost.
    assert_eq!(m.stdout_len, 12_000 * MAX_PAYLOAD as u64);
    assert_rss_below(&m, 24, "forged span 65536 x 64 KiB");
}

#[test]
fn a_forged_fec_descriptor_over_tiny_payloads_costs_little() {
    // Issue 35.8: one descriptor, FEC 1+1 over 1-byte payloads and a huge span, sized the
    // ring by 64 MiB of payload: 1.8 GB.
    let d = descriptor(1, Some((1, 1)), Some(u32::MAX), false);
    let mut stream = descriptor_packet(7, None, &d);
    for i in 0..10 {
        stream.extend(data_packet(7, i, None, &[i as u8]));
    }
    let m = run_streaming("unpktize", &[], feed_all(stream), None);
    report(
        &m,
        "forged FEC 1+1 descriptor, 1-byte payloads, span 2^32-1",
    );
    assert_eq!(m.stdout_len, 10);
    assert_rss_below(&m, 24, "forged FEC 1+1 descriptor");
}

#[test]
fn honest_interleaved_fec_over_one_byte_payloads_in_bounded_memory() {
    // Issue 35.8: `cat f | pktize --fec 2+2 -s 1 --interleave | unpktize` on 20 KB peaked
    // at 465 MB.
    let data = common::bytes(20_000, 35);
    let sent = common::run(
        "pktize",
        &["--fec", "2+2", "-s", "1", "--interleave"],
        &data,
    );
    assert!(sent.status.success(), "{}", common::stderr(&sent));
    let stream = sent.stdout;
    let m = run_streaming("unpktize", &[], feed_all(stream), None);
    report(&m, "pktize --fec 2+2 -s 1 --interleave, 20 KB");
    assert_eq!(m.code(), Some(0), "{}", m.stderr);
    assert_eq!(m.stdout_len, data.len() as u64);
    assert_rss_below(&m, 24, "honest --fec 2+2 -s 1 --interleave");
}

#[test]
fn forged_parity_naming_other_schemes_does_not_rebuild_the_ring_each_time() {
    // Issue 35.8: tiny parity packets, each naming another FEC scheme, made the decoder
    // resize its whole ring each time (quadratic).
    let d = descriptor(1, Some((1, 1)), Some(65536), false);
    let feed: Feed = Box::new(move |out| {
        out.write_all(&descriptor_packet(7, None, &d))?;
        for i in 0..10 {
            out.write_all(&data_packet(7, i, None, &[i as u8]))?;
        }
        for i in 0..200_000u32 {
            let k = 1 + (i % 16) as u8;
            let info = ParityInfo {
                group_len: 1,
                parity_count: 1 + (i % 3) as u8,
                parity_index: 0,
                group_size: k,
                last_len: 1,
                odd: true,
            };
            out.write_all(&parity_packet(7, i % 5, 1, info, false, &[0; 2]))?;
        }
        Ok(())
    });
    let m = run_streaming("unpktize", &[], feed, None);
    report(&m, "forged parity of changing schemes");
    let h = run_streaming("unpktize", &[], honest(16 * MIB), None);
    report(&h, "honest stream, 16 MiB");
    // 200,000 packets of 36 bytes are 7 MiB: within a generous factor of an honest 16 MiB.
    assert!(
        m.cpu_secs <= 10.0 * h.cpu_secs + 0.5,
        "forged: {:.2} s of CPU, honest: {:.2} s",
        m.cpu_secs,
        h.cpu_secs
    );
    assert_rss_below(&m, 24, "forged parity of changing schemes");
}

#[test]
fn forged_parity_longer_than_the_transfers_payloads_is_not_held() {
    // Issue 35.2: FEC 1+2 over 1-byte payloads, span 65536, ten data packets, then forged
    // 65000-byte parity in descending group order: every one was held.
    let d = descriptor(1, Some((1, 2)), Some(65536), false);
    let len = 96 * MIB;
    let feed: Feed = Box::new(move |out| {
        out.write_all(&descriptor_packet(7, None, &d))?;
        for i in 0..10 {
            out.write_all(&data_packet(7, i, None, &[i as u8]))?;
        }
        let shard = vec![0xee; 65_000];
        let mut sent = 0u64;
        let mut group = 65_000u32;
        while sent < len {
            // Only the first of each group's two: the group waits for the second.
            for index in 0..1 {
                let info = ParityInfo {
                    group_len: 1,
                    parity_count: 2,
                    parity_index: index,
                    group_size: 1,
                    last_len: 65_000,
                    odd: false,
                };
                let p = parity_packet(7, group, 1, info, true, &shard);
                out.write_all(&p)?;
                sent += p.len() as u64;
            }
            group -= 1;
        }
        Ok(())
    });
    let m = run_streaming("unpktize", &["--max-size", "none"], feed, None);
    report(&m, "forged 65000-byte parity over 1-byte payloads");
    assert_rss_below(&m, 24, "forged 65000-byte parity");
}

#[test]
fn a_second_pass_repairs_many_holes_in_linear_time() {
    // Issue 35.10: every repair scanned all open ranges, so a carousel's second pass over
    // a first one that lost every other packet was quadratic in the holes.
    // The first pass loses every other packet of the first 3/4 (its tail is whole, clear
    // of the reorder window when the second pass starts).
    let data = common::bytes(4 << 20, 3510);
    let packets = common::packetize(&data, 64);
    let mut one_pass = Vec::new();
    let mut two_passes = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        one_pass.extend_from_slice(p);
        if i % 2 == 0 || i >= packets.len() * 3 / 4 {
            two_passes.extend_from_slice(p);
        }
    }
    two_passes.extend_from_slice(&one_pass);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out_arg = out.to_str().unwrap();
    let m = run_streaming("unpktize", &["-o", out_arg], feed_all(two_passes), None);
    report(&m, "two passes, 24576 holes repaired");
    assert_eq!(m.code(), Some(0), "{}", m.stderr);
    assert!(
        std::fs::read(&out).unwrap() == data,
        "the holes were all repaired"
    );
    let once = run_streaming("unpktize", &["-o", out_arg], feed_all(one_pass), None);
    report(&once, "one pass, nothing lost");
    assert_eq!(once.code(), Some(0), "{}", once.stderr);
    // The second pass is 2/3 of the input: about 1.5x the work of one pass.
    assert!(
        m.cpu_secs <= 3.0 * once.cpu_secs + 0.3,
        "two passes: {:.2} s of CPU, one pass: {:.2} s",
        m.cpu_secs,
        once.cpu_secs
    );
}

#[test]
fn a_forged_giant_geometry_gets_a_map_the_size_of_the_transfer() {
    // Issue 29.9: a head claiming a 65535 x 65535 image made --map write 12 GiB of map for
    // a transfer of a few packets.
    let mut d = descriptor(1024, None, None, false);
    d.media_type = MediaType::Pnm;
    d.head = b"P6\n65535 65535\n255\n".to_vec();
    let mut stream = descriptor_packet(7, None, &d);
    let mut first = d.head.clone();
    first.resize(1024, 0x40);
    stream.extend(data_packet(7, 0, None, &first));
    for i in 2..10u64 {
        stream.extend(data_packet(7, i * 1024, None, &[0x41; 1024]));
    }
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("map.ppm");
    let m = run_streaming(
        "unpktize",
        &["--map", map.to_str().unwrap()],
        feed_all(stream),
        None,
    );
    report(&m, "--map, a head claiming 65535x65535");
    assert_eq!(m.code(), Some(1), "{}", m.stderr);
    let map_len = std::fs::metadata(&map).unwrap().len();
    assert!(map_len < MIB, "a map of {map_len} bytes for 10 packets");
    assert!(std::fs::read(&map).unwrap().starts_with(b"P6\n"));
    assert_rss_below(&m, 24, "--map, a head claiming 65535x65535");
}

#[test]
fn seeded_forged_streams_stay_within_memory_and_work() {
    // The fuzz target's programs (`fuzz/src/hostile.rs`), generated from seeds, through
    // the real unpktize: stdout (read to 64 MiB, then the reader leaves), -o, and --map.
    use crate::fuzz_corpus::harness::forged_stream;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let map = dir.path().join("map.ppm");
    for (seed, words) in common::xorshift(0x35_29).step_by(7).take(12).enumerate() {
        // Mostly claims within the limit (no total, no far packet), so the reception goes
        // on and the window, ring and ranges are exercised; every fourth program as drawn.
        let program: Vec<u8> = common::xorshift(words)
            .take(64)
            .flat_map(|w| {
                let mut op = w.to_le_bytes();
                if seed % 4 != 3 {
                    op[7] &= 0x7c;
                    if op[0] % 6 == 5 {
                        op[0] = 1;
                    }
                }
                op
            })
            .collect();
        let stream = forged_stream(&program);
        let len = stream.len();
        let args: Vec<&str> = match seed % 3 {
            0 => vec![],
            1 => vec!["-o", out.to_str().unwrap()],
            _ => vec!["--map", map.to_str().unwrap()],
        };
        let m = run_streaming("unpktize", &args, feed_all(stream), Some(64 * MIB));
        report(&m, &format!("seed {seed}, {len} bytes, {args:?}"));
        assert!(matches!(m.code(), Some(0..=2)), "seed {seed}: {}", m.stderr);
        assert!(!m.stderr.contains("panicked"), "seed {seed}: {}", m.stderr);
        assert!(
            m.cpu_secs <= 1.0 + len as f64 * 200e-9,
            "seed {seed}: {:.2} s of CPU for {len} bytes",
            m.cpu_secs
        );
        assert_rss_below(&m, 32, &format!("seed {seed}"));
    }
}

#[test]
fn a_forged_carousel_to_stdout_is_held_in_a_temporary_file_not_in_memory() {
    // Issue 29.8: a descriptor announcing a carousel makes standard output hold the
    // transfer until the end; forged with a 200 MB total, it was held in memory.
    let total = 200_000_000u64;
    let d = descriptor(1000, None, None, true);
    let mut stream = descriptor_packet(7, Some(total), &d);
    stream.extend(data_packet(7, 0, Some(total), &[0x11; 1000]));
    stream.extend(data_packet(7, total - 1000, Some(total), &[0x22; 1000]));
    let m = run_streaming("unpktize", &[], feed_all(stream), None);
    report(&m, "forged carousel of 200 MB to stdout");
    assert_eq!(m.code(), Some(1), "{}", m.stderr);
    assert_eq!(
        m.stdout_len, total,
        "the whole transfer, held, then written"
    );
    assert_rss_below(&m, 24, "forged carousel of 200 MB to stdout");
}

/// A carousel of two passes of `data` in packets of `size` bytes (the real pktize
/// `--repeat 2`, transfer id 35), whose first pass lost every other data packet.
fn carousel_losing_every_other_packet_of_pass_one(data: &[u8], size: usize) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input");
    std::fs::write(&path, data).unwrap();
    let args = ["-s", &size.to_string(), "--id", "35", "--repeat", "2"];
    let out = common::run(
        "pktize",
        &[&args[..], &[path.to_str().unwrap()]].concat(),
        b"",
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let per_pass = data.len().div_ceil(size);
    let mut stream = Vec::new();
    let mut data_seen = 0;
    for p in common::split_packets(&out.stdout) {
        if common::header(&p).kind == Kind::Data {
            data_seen += 1;
            if data_seen <= per_pass && data_seen % 2 == 0 {
                continue;
            }
        }
        stream.extend_from_slice(&p);
    }
    stream
}

#[test]
fn a_carousel_with_more_holes_than_ranges_kept_still_ends_whole() {
    // Issue 35.3: past the ranges kept (64 Ki), the oldest holes were made final, and the
    // second pass could not repair them. 80,000 one-byte holes, then a whole pass.
    let data = common::bytes(160_000, 353);
    let stream = carousel_losing_every_other_packet_of_pass_one(&data, 1);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out_arg = out.to_str().unwrap();
    let m = run_streaming("unpktize", &["-o", out_arg], feed_all(stream.clone()), None);
    report(&m, "carousel of 80,000 holes into -o");
    assert_eq!(m.code(), Some(0), "{}", m.stderr);
    assert!(std::fs::read(&out).unwrap() == data, "every hole repaired");
    assert_rss_below(&m, 16, "carousel of 80,000 holes into -o");
    let piped = common::run("unpktize", &[], &stream);
    assert_eq!(piped.status.code(), Some(0), "{}", common::stderr(&piped));
    assert!(
        piped.stdout == data,
        "every hole repaired on standard output"
    );
}

#[test]
fn a_report_past_the_ranges_kept_says_so_and_resumes() {
    // Issue 35.3: the first pass alone leaves more holes than are kept one by one; the
    // report says its ranges are coarse, and a resume from it with a whole pass ends whole
    // (issue 35.10: in linear time: each packet's check against the missing ranges is a
    // binary search, not a scan).
    let data = common::bytes(160_000, 3531);
    let stream = carousel_losing_every_other_packet_of_pass_one(&data, 1);
    let packets = common::split_packets(&stream);
    // The second pass starts at the second data packet of offset 0.
    let first_pass_end = packets
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            let h = common::header(p);
            h.kind == Kind::Data && h.offset == 0
        })
        .nth(1)
        .unwrap()
        .0;
    let whole_pass: Vec<u8> = packets[first_pass_end..].concat();
    let first_pass: Vec<u8> = packets[..first_pass_end].concat();
    let dir = tempfile::tempdir().unwrap();
    let (out, rep) = (dir.path().join("out"), dir.path().join("r.json"));
    let (out_arg, rep_arg) = (out.to_str().unwrap(), rep.to_str().unwrap());
    let m = run_streaming(
        "unpktize",
        &["-o", out_arg, "--report", rep_arg],
        feed_all(first_pass),
        None,
    );
    report(&m, "first pass of 80,000 holes");
    assert_eq!(m.code(), Some(1), "{}", m.stderr);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    let unknown = json["unknown_ranges"].as_u64().unwrap_or(0);
    assert!(unknown > 0, "the report says its ranges are coarse");
    let listed = json["ranges"].as_array().unwrap();
    assert!(listed.len() <= 1 << 16, "{} ranges listed", listed.len());
    assert!(listed.iter().any(|r| r["kind"] == "unknown"));
    assert_eq!(json["intact"], false);
    let r = run_streaming(
        "unpktize",
        &["-o", out_arg, "--resume", rep_arg, "--report", rep_arg],
        feed_all(whole_pass),
        None,
    );
    report(&r, "resumed with a whole pass");
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert!(std::fs::read(&out).unwrap() == data, "resumed whole");
    assert_rss_below(&r, 16, "resume from a coarse report");
    assert!(
        r.cpu_secs <= 3.0 * m.cpu_secs + 0.3,
        "resume: {:.2} s of CPU, first pass: {:.2} s",
        r.cpu_secs,
        m.cpu_secs
    );
}
