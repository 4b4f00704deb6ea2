//! Unit tests of the reassembler: the window, fills, duplicates, transfers, chunked reads.

use super::damage::{Collect, DamageMap, DamagedRange, RangeKind};
use super::output::MemoryOutput;
use super::*;
use crate::framing;
use crate::io::ChunkedReader;
use crate::packetize::{packetize_slice, Settings as PacketSettings};
use crate::wire::HEADER_LEN;
use proptest::prelude::*;
use std::rc::Rc;

const P: usize = 10;

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

/// The packet settings of a plain transfer (no pace, descriptors, FEC, key or interleave).
fn plain(payload_len: usize, transfer_id: u16) -> PacketSettings {
    PacketSettings {
        payload_len,
        transfer_id,
        bytes_per_sec: None,
        describe: None,
        fec: None,
        sign: None,
        interleave: None,
    }
}

/// The packets of one transfer, each as its own byte vector.
fn packets(data: &[u8], id: u16) -> Vec<Vec<u8>> {
    let mut stream = vec![];
    let settings = plain(P, id);
    packetize_slice(data, &mut stream, &settings, &mut |_| {}).unwrap();
    let mut out = vec![];
    let mut at = 0;
    while at < stream.len() {
        let f = framing::scan(&stream[at..], true);
        out.push(stream[at..at + f.len()].to_vec());
        at += f.len();
    }
    out
}

fn reassemble_with(
    stream: &[u8],
    settings: Settings,
    seekable: bool,
) -> (Vec<u8>, Report, Vec<DamagedRange>) {
    let ranges = Collect::default();
    let out = MemoryOutput {
        bytes: vec![],
        seekable,
    };
    let mut r = Reassembler::new(
        settings,
        out,
        DamageMap::new(Some(Box::new(ranges.clone()))),
    );
    run_slice(Rc::new(stream.to_vec()), &mut r, &mut |_| {}).unwrap();
    let (report, out) = r.finish().unwrap();
    let got = ranges.0.borrow().clone();
    (out.bytes, report, got)
}

fn reassemble(stream: &[u8]) -> (Vec<u8>, Report, Vec<DamagedRange>) {
    reassemble_with(stream, Settings::default(), false)
}

/// Reassemble `stream` with the defaults, check that it gives back exactly `want` and is
/// called intact, and return the report.
fn exact_and_intact(stream: &[u8], want: &[u8]) -> Report {
    let (out, report, _) = reassemble(stream);
    assert_eq!(out, want);
    assert!(report.intact());
    report
}

/// A damaged range, for comparing with what the sink got.
fn range(kind: RangeKind, start: u64, end: u64) -> DamagedRange {
    DamagedRange { kind, start, end }
}

/// The packets of `p` in `order` (repeats allowed), as one stream.
fn in_order(p: &[Vec<u8>], order: &[usize]) -> Vec<u8> {
    order.iter().flat_map(|&i| p[i].iter().copied()).collect()
}

#[test]
fn a_fountain_whose_holes_merged_into_unknown_ranges_ends_intact() {
    // 20,000 packets of 10 bytes (10 blocks), an eighth of them lost on the data pass at
    // random: 2,500 holes, more than the 64 ranges the limits keep, so they merge into
    // unknown ranges that also cover intact packets between them. The repair packets
    // rebuild every block, so the whole file is in the output, and it is called intact.
    let want = data(200_000);
    let settings = plain(P, 3);
    let mut stream = vec![];
    crate::packetize::packetize_fountain(
        &want,
        &mut stream,
        &settings,
        crate::packetize::Passes::Count(3),
        &mut crate::io::temp_file,
    )
    .unwrap();
    let mut lossy = vec![];
    let (mut at, mut data_seen) = (0, 0);
    while at < stream.len() {
        let f = framing::scan(&stream[at..], true);
        let p = &stream[at..at + f.len()];
        let h = crate::wire::Header::parse(p).unwrap();
        let is_data = h.kind == crate::wire::Kind::Data;
        let lost = (data_seen as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 61 == 0;
        if !is_data || !lost {
            lossy.extend_from_slice(p);
        }
        data_seen += usize::from(is_data);
        at += f.len();
    }
    for kept_ranges in [64, super::damage::MAX_KEPT_RANGES] {
        // A small window, so the holes settle as lost ranges during the data pass.
        let settings = Settings {
            window_packets: Some(16),
            limits: Limits {
                kept_ranges,
                ..Limits::default()
            },
            ..Settings::default()
        };
        let (out, report, _) = reassemble_with(&lossy, settings, true);
        assert!(out == want, "kept {kept_ranges}");
        assert!(report.counts.recovered >= 2000, "kept {kept_ranges}");
        assert_eq!(report.damage.unknown_ranges, 0, "kept {kept_ranges}");
        assert!(report.intact(), "kept {kept_ranges}: {:?}", report.damage);
    }
}

#[test]
fn in_order_packets_come_out_unchanged() {
    let d = data(95);
    let (out, report, ranges) = reassemble(&packets(&d, 1).concat());
    assert_eq!(out, d);
    assert!(report.intact());
    assert_eq!(report.counts.intact, 10);
    assert!(ranges.is_empty());
}

#[test]
fn reordered_packets_are_put_in_order() {
    let d = data(100);
    let mut p = packets(&d, 1);
    p.swap(2, 5);
    p.swap(0, 9);
    let report = exact_and_intact(&p.concat(), &d);
    assert!(report.counts.reordered >= 2);
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let d = data(50);
    let p = packets(&d, 1);
    let stream = in_order(&p, &[0, 1, 1, 2, 0, 3, 4, 4]);
    let report = exact_and_intact(&stream, &d);
    assert_eq!(report.counts.duplicate, 3);
}

#[test]
fn a_lost_packet_is_filled_in_place() {
    let d = data(100);
    let mut p = packets(&d, 1);
    p.remove(4);
    let settings = Settings {
        fill: vec![0xAA, 0xBB],
        ..Settings::default()
    };
    let (out, report, ranges) = reassemble_with(&p.concat(), settings, false);
    let mut want = d.clone();
    for (i, b) in want[40..50].iter_mut().enumerate() {
        *b = if (40 + i) % 2 == 0 { 0xAA } else { 0xBB };
    }
    assert_eq!(out, want);
    assert_eq!(report.counts.lost, 1);
    assert_eq!(ranges, [range(RangeKind::Lost, 40, 50)]);
    assert!(!report.intact());
}

#[test]
fn a_lost_last_packet_is_filled_when_the_total_is_known() {
    let d = data(95);
    let mut p = packets(&d, 1);
    p.pop();
    let (out, report, _) = reassemble(&p.concat());
    assert_eq!(out.len(), 95);
    assert_eq!(&out[..90], &d[..90]);
    assert_eq!(&out[90..], &[0; 5]);
    assert_eq!(report.counts.lost, 1);
}

#[test]
fn a_full_window_gives_up_on_the_oldest_gap() {
    let d = data(200);
    let mut p = packets(&d, 1);
    let late = p.remove(1);
    p.push(late); // arrives after 18 later packets: beyond a 4-packet window
    let settings = Settings {
        window_packets: Some(4),
        ..Settings::default()
    };
    let (out, report, ranges) = reassemble_with(&p.concat(), settings.clone(), false);
    assert_eq!(&out[10..20], &[0; 10]);
    assert_eq!(report.counts.late, 1);
    assert_eq!(report.counts.lost, 1);
    assert_eq!(ranges.len(), 1);
    // A file takes the late packet after all, and the damage map forgets the loss.
    let (out, report, ranges) = reassemble_with(&p.concat(), settings, true);
    assert_eq!(out, d);
    assert_eq!(report.counts.late_written, 1);
    assert_eq!(report.counts.lost, 0);
    assert!(ranges.is_empty());
    assert!(report.intact());
}

#[test]
fn damaged_payloads_are_kept_or_filled() {
    let d = data(50);
    let mut p = packets(&d, 1);
    p[2][HEADER_LEN + 3] ^= 0xFF;
    let (out, report, ranges) = reassemble(&p.concat());
    let mut want = d.clone();
    want[23] ^= 0xFF;
    assert_eq!(out, want);
    assert_eq!(report.counts.damaged, 1);
    assert_eq!(ranges, [range(RangeKind::Damaged, 20, 30)]);
    let settings = Settings {
        damaged: DamagedPolicy::Fill,
        ..Settings::default()
    };
    let (out, _, ranges) = reassemble_with(&p.concat(), settings, false);
    assert_eq!(&out[20..30], &[0; 10]);
    assert_eq!(ranges, [range(RangeKind::Lost, 20, 30)]);
}

#[test]
fn an_intact_duplicate_replaces_a_damaged_copy_in_the_window() {
    let d = data(50);
    let p = packets(&d, 1);
    let mut bad = p[2].clone();
    bad[HEADER_LEN] ^= 1;
    let stream = [
        p[0].clone(),
        bad,
        p[3].clone(),
        p[2].clone(),
        p[1].clone(),
        p[4].clone(),
    ]
    .concat();
    exact_and_intact(&stream, &d);
}

#[test]
fn consecutive_transfers_concatenate() {
    let (a, b) = (data(35), data(12));
    let stream = [
        packets(&a, 1).concat(),
        packets(&b, 2).concat(),
        packets(&a, 1).concat(),
    ]
    .concat();
    let report = exact_and_intact(&stream, &[a.clone(), b, a].concat());
    assert_eq!(report.transfers.len(), 3);
}

#[test]
fn interleaved_transfers_follow_the_first_or_the_chosen_one() {
    let (a, b) = (data(100), vec![9u8; 100]);
    let (pa, pb) = (packets(&a, 1), packets(&b, 2));
    let mixed: Vec<u8> = pa
        .iter()
        .zip(&pb)
        .flat_map(|(x, y)| [x.clone(), y.clone()])
        .flatten()
        .collect();
    let (out, report, _) = reassemble(&mixed);
    assert_eq!(out, a);
    assert_eq!(report.counts.foreign, 10);
    let settings = Settings {
        transfer_id: Some(2),
        ..Settings::default()
    };
    let (out, _, _) = reassemble_with(&mixed, settings, false);
    assert_eq!(out, b);
}

#[test]
fn a_transfer_whose_end_was_lost_gives_way_to_the_next() {
    let a = data(60);
    let b: Vec<u8> = (0..500).map(|i| (i % 251) as u8).collect();
    let mut pa = packets(&a, 1);
    pa.pop();
    let stream = [pa.concat(), packets(&b, 2).concat()].concat();
    let (out, report, _) = reassemble(&stream);
    assert_eq!(out.len(), 60 + 500);
    assert_eq!(
        &out[60..],
        &b[..],
        "no packet of the second transfer is lost"
    );
    assert_eq!(report.counts.lost, 1);
    assert_eq!(report.transfers.len(), 2);
}

#[test]
fn garbage_between_packets_is_skipped() {
    let d = data(40);
    let p = packets(&d, 1);
    let stream = [
        b"junk".to_vec(),
        p[0].clone(),
        b"pk\x01more junk".to_vec(),
        p[1].clone(),
        p[2].clone(),
        vec![0; 100],
        p[3].clone(),
    ]
    .concat();
    let report = exact_and_intact(&stream, &d);
    assert_eq!(report.counts.garbage_bytes, 4 + 12 + 100);
}

#[test]
fn live_mode_fills_a_stale_gap_without_waiting_for_the_window() {
    let d = data(100);
    let p = packets(&d, 1);
    let settings = Settings {
        live_latency: Some(Duration::from_millis(20)),
        ..Settings::default()
    };
    let out = MemoryOutput::default();
    let mut r = Reassembler::new(settings, out, DamageMap::new(None));
    run_slice(
        Rc::new([p[0].clone(), p[2].clone(), p[3].clone()].concat()),
        &mut r,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(r.settled_bytes(), 10);
    // The packets arrived at time zero (a slice arrives at once): the gap is due at 20 ms
    // of the simulated clock, not before.
    assert_eq!(r.poll_timeout(), Some(Duration::from_millis(20)));
    r.handle_timeout(Duration::from_millis(19)).unwrap();
    assert_eq!(r.settled_bytes(), 10, "not yet due");
    r.handle_timeout(Duration::from_millis(20)).unwrap();
    assert_eq!(r.settled_bytes(), 40, "the gap at 10..20 was given up");
    assert_eq!(r.poll_timeout(), None, "nothing waits");
}

#[test]
fn a_mapped_input_is_released_behind_the_reader_once_and_in_order() {
    let d: Vec<u8> = (0..6_000_000)
        .map(|i: usize| (i * 13 + i / 1000) as u8)
        .collect();
    let settings = PacketSettings {
        fec: Some(crate::fec::Scheme::new(8, 2).unwrap()),
        ..plain(1000, 3)
    };
    let mut stream = vec![];
    packetize_slice(&d, &mut stream, &settings, &mut |_| {}).unwrap();
    let mut released: Vec<std::ops::Range<usize>> = vec![];
    let mut r = Reassembler::new(
        Settings::default(),
        MemoryOutput::default(),
        DamageMap::new(None),
    );
    run_slice(Rc::new(stream.clone()), &mut r, &mut |range| {
        released.push(range)
    })
    .unwrap();
    let (report, out) = r.finish().unwrap();
    assert!(report.intact() && out.bytes == d);
    assert!(
        released.windows(2).all(|w| w[0].end == w[1].start),
        "{released:?}"
    );
    assert!(released
        .iter()
        .all(|r| r.start < r.end && r.end % 4096 == 0));
    let end = released.last().map_or(0, |r| r.end);
    assert!(released[0].start == 0 && end > stream.len() / 2 && end <= stream.len());
}

proptest! {
    #[test]
    fn any_chunking_and_payload_size_round_trips(
        len in 0usize..5000,
        payload_len in 1usize..700,
        sizes in prop::collection::vec(1usize..3000, 1..8),
        seed in any::<u8>(),
    ) {
        let d: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        let settings = plain(payload_len, 7);
        let mut stream = vec![];
        packetize_slice(&d, &mut stream, &settings, &mut |_| {}).unwrap();
        let mut r = Reassembler::new(Settings::default(), MemoryOutput::default(), DamageMap::new(None));
        let mut reader = ChunkedReader { data: &stream, sizes, next: 0 };
        run_stream(&mut reader, &mut r, None, &mut |_| {}).unwrap();
        let (report, out) = r.finish().unwrap();
        prop_assert_eq!(out.bytes, d);
        prop_assert!(report.intact());
    }

    /// Payloads held as places in a stream reader's buffer (FEC ring, reorder window) are
    /// copied out when the buffer changes: any chunking of a lossy, reordered stream with
    /// parity gives what the mapped whole gives, and the data exactly where parity can.
    #[test]
    fn held_payloads_survive_buffer_changes(
        len in 1usize..6000,
        payload_len in 1usize..300,
        sizes in prop::collection::vec(1usize..2000, 1..8),
        seed in any::<u64>(),
        spread in any::<bool>(),
    ) {
        let d: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed as u8)).collect();
        let settings = PacketSettings {
            fec: Some(crate::fec::Scheme::new(3, 2).unwrap()),
            interleave: spread.then_some(crate::packetize::Interleave::Packets(12)),
            ..plain(payload_len, 7)
        };
        let mut stream = vec![];
        packetize_slice(&d, &mut stream, &settings, &mut |_| {}).unwrap();
        let mut packets = vec![];
        let mut at = 0;
        while at < stream.len() {
            let f = framing::scan(&stream[at..], true);
            packets.push(stream[at..at + f.len()].to_vec());
            at += f.len();
        }
        // Drop about one packet in nine, swap about one neighbour pair in seven.
        let hash = |i: usize| (i as u64 ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
        for i in 0..packets.len().saturating_sub(1) {
            if hash(i) % 7 == 0 {
                packets.swap(i, i + 1);
            }
        }
        let kept: Vec<u8> = packets
            .iter()
            .enumerate()
            .filter(|&(i, _)| hash(i + 1000) % 9 != 0)
            .flat_map(|(_, p)| p.iter().copied())
            .collect();
        let (whole, whole_report, _) = reassemble(&kept);
        let mut r = Reassembler::new(Settings::default(), MemoryOutput::default(), DamageMap::new(None));
        let mut reader = ChunkedReader { data: &kept, sizes, next: 0 };
        run_stream(&mut reader, &mut r, None, &mut |_| {}).unwrap();
        let (report, out) = r.finish().unwrap();
        prop_assert_eq!(&out.bytes, &whole);
        prop_assert_eq!(report.counts, whole_report.counts);
        if report.intact() {
            prop_assert_eq!(out.bytes, d);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4000)) {
        let (_out, _report, _) = reassemble(&bytes);
    }
}

#[test]
fn a_write_error_not_for_room_ends_with_a_report_that_says_the_file_is_untrusted() {
    // Issue 35: an error writing -o that was not a full disk (EIO) ended the reception
    // without a report. Here the file's descriptor is made read-only halfway (a real
    // write error, EBADF): the reception stops, and its report says what was not
    // written is lost, that the file cannot be trusted, and is not sealed for a resume.
    use super::output::FileOutput;
    use super::report::JsonReport;
    use std::io::{Read, Seek};
    use std::os::fd::AsRawFd;
    let data = data(3 << 20);
    let settings = plain(1024, 35);
    let mut stream = vec![];
    packetize_slice(&data, &mut stream, &settings, &mut |_| {}).unwrap();
    let half = stream.len() / 2 / (1024 + HEADER_LEN) * (1024 + HEADER_LEN);
    let file = tempfile::NamedTempFile::new().unwrap();
    let out = FileOutput::new(file.reopen().unwrap());
    let mut json = tempfile::tempfile().unwrap();
    let sink = JsonReport::new(json.try_clone().unwrap()).unwrap();
    let mut r = Reassembler::new(
        Settings::default(),
        out,
        DamageMap::new(Some(Box::new(sink))),
    );
    let fd = r.output().file_fd().as_raw_fd();
    run_slice(Rc::new(stream[..half].to_vec()), &mut r, &mut |_| {}).unwrap();
    assert!(
        r.output().write_failed().is_none(),
        "the first half is written"
    );
    let read_only = std::fs::File::open(file.path()).unwrap();
    // SAFETY: `fd` stays open (the output owns it); it now names the read-only file.
    assert!(unsafe { libc::dup2(read_only.as_raw_fd(), fd) } == fd);
    run_slice(Rc::new(stream[half..].to_vec()), &mut r, &mut |_| {}).unwrap();
    assert!(r.done(), "a failed output stops the reception");
    let (report, _) = r.finish().expect("finished with its report");
    let error = report
        .output_error
        .clone()
        .expect("the report names the error");
    assert!(error.contains("os error 9"), "{error}");
    assert!(!report.intact() && report.content_digest.is_none());
    let lost = report.damage.lost_bytes;
    let written = (half / (1024 + HEADER_LEN) * 1024) as u64;
    assert!(
        lost >= data.len() as u64 - written && lost < data.len() as u64,
        "what was not written is lost: {lost}"
    );
    let mut text = String::new();
    json.rewind().unwrap();
    json.read_to_string(&mut text).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).expect("a whole report");
    assert_eq!(json["output_error"].as_str(), Some(error.as_str()));
    assert!(
        json["digest"].is_null() && json["intact"] == false,
        "{json}"
    );
    let on_disk = std::fs::read(file.path()).unwrap();
    assert!(on_disk[..written as usize] == data[..written as usize]);
}
