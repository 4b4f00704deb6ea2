//! A model-based test of the reassembler (issue 28): packet sequences built from a few
//! real transfers, put through loss, duplication, reordering, truncation, bit errors,
//! forged conflicting copies and repeated passes, and checked against what must hold
//! whatever happened:
//! - "intact" only when the output is exactly the transfers sent, one after the other;
//! - into a seekable output, every data packet that arrived intact at least once is in
//!   the output at its place, and no range reported lost holds one (when every transfer
//!   that showed up is in the report);
//! - when every data packet arrived intact at least once and nothing was forged, the
//!   result is intact (nothing that arrived is lost, nothing is claimed wrongly);
//! - counts hold together: a truncated packet is counted damaged or header-only.
//!
//! A transfer of which nothing arrived is not expected (the receiver cannot know it); one
//! known only by an intact descriptor is (it is the next transfer, its bytes lost or
//! restored from the descriptor's head); one known only by parity is not checked. And
//! a forged copy of a first packet is not sent (after completion it is, by the rules, a
//! new run of the sender with the same id). The transfers may carry FEC (4+1), descriptors
//! (with their copy of the head), an interleaved order and a key (forged copies are then
//! rejected, damaged packets lost). Not yet covered: encryption, carousel descriptors.

use super::damage::{Collect, DamageMap, RangeKind};
use super::output::MemoryOutput;
use super::*;
use crate::fec::Scheme;
use crate::framing;
use crate::packetize::{packetize_slice, Settings as PacketSettings};
use crate::wire::{Header, HEADER_LEN, SALT_LEN, TRAILER_LEN};
use proptest::prelude::*;
use std::rc::Rc;

/// The key of keyed cases.
fn key() -> crate::wire::auth::Key {
    crate::wire::auth::Key::from_secret(b"the model test's key").expect("a key long enough")
}

/// What the channel does to one packet.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Keep,
    Drop,
    Duplicate,
    /// Cut the payload to this fraction (of 256).
    Truncate(u8),
    /// Flip a payload bit.
    Flip(u16),
    /// Keep it, and later send a forged copy with other bytes (valid CRC).
    Forge,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        10 => Just(Fate::Keep),
        2 => Just(Fate::Drop),
        1 => Just(Fate::Duplicate),
        1 => any::<u8>().prop_map(Fate::Truncate),
        1 => any::<u16>().prop_map(Fate::Flip),
        1 => Just(Fate::Forge),
    ]
}

/// The packets of `data` as transfer `id`, each its own vector.
fn send(data: &[u8], id: u16, case: &Case) -> Vec<Vec<u8>> {
    let settings = PacketSettings {
        payload_len: case.payload_len,
        transfer_id: id,
        bytes_per_sec: None,
        // A descriptor first, after every 3 data packets and after the last: its length
        // and its copy of the head (which restores the head's lost bytes).
        describe: case.describe.then(|| crate::packetize::Describe {
            every: 3,
            name: String::new(),
            media_type: None,
        }),
        fec: case
            .fec
            .then(|| Scheme::new(4, 1).expect("4+1 is a scheme")),
        // Every packet authenticated: the receiver has the key.
        sign: case
            .keyed
            .then(|| crate::wire::auth::Signer::new(key(), [7; SALT_LEN])),
        // Spans of 5 data packets sent out of order (the descriptor says so, and the
        // receiver's window holds a span).
        interleave: case
            .interleave
            .then_some(crate::packetize::Interleave::Packets(5)),
    };
    let mut stream = vec![];
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

#[derive(Debug, Clone)]
struct Case {
    sizes: Vec<usize>,
    payload_len: usize,
    fec: bool,
    describe: bool,
    interleave: bool,
    keyed: bool,
    passes: usize,
    fates: Vec<Fate>,
    /// Per packet: how far it is moved later (0: not).
    delays: Vec<u8>,
    seekable: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(0usize..400, 1..3),
        prop_oneof![Just(7usize), Just(10), Just(32)],
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        1usize..3,
        prop::collection::vec(fate(), 200),
        prop::collection::vec(prop_oneof![6 => Just(0u8), 1 => 1u8..6], 200),
        any::<bool>(),
    )
        .prop_map(
            |(
                sizes,
                payload_len,
                (fec, describe, interleave, keyed),
                passes,
                fates,
                delays,
                seekable,
            )| {
                Case {
                    sizes,
                    payload_len,
                    fec,
                    describe,
                    interleave,
                    keyed,
                    passes,
                    fates,
                    delays,
                    seekable,
                }
            },
        )
}

/// Test data without the byte `p` (0x70): a packet cut one byte short and followed by the
/// next header would otherwise, where its last byte is `p`, pass its CRC with the next
/// header's first byte, and that next packet be lost by a coincidence of the data.
fn source(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i * 31 + seed * 101 + i / 7) as u8)
        .map(|b| if b == b'p' { b'q' } else { b })
        .collect()
}

/// One transfer's part of the channel: its packets through the fates, reordered within it.
/// Returns the stream part and the (offset, payload) of every data packet arriving intact;
/// `noticed` is set when a data packet arrived that makes the transfer known to the
/// receiver (with a key, not a damaged one: nothing of it is taken); `hinted` when only
/// another packet of it did (a descriptor, parity), which makes the transfer known or not
/// depending on what else is under way; `announced` when a descriptor of it arrived
/// intact, which makes it known.
fn channel(
    packets: &[Vec<u8>],
    case: &Case,
    (noticed, hinted, announced): (&mut bool, &mut bool, &mut bool),
    counter: &mut usize,
    arrived: &mut Vec<(u64, Vec<u8>)>,
    forgeries: &mut Vec<Vec<u8>>,
) -> Vec<Vec<u8>> {
    let mut out: Vec<(usize, Vec<u8>)> = Vec::new();
    for p in packets {
        let i = *counter % case.fates.len();
        *counter += 1;
        let h = Header::parse(p).unwrap();
        let payload = &p[HEADER_LEN..];
        // What a keyed packet carries of the data: its payload without the trailer.
        let data_of = |payload: &[u8]| match case.keyed {
            true => payload[..payload.len() - TRAILER_LEN].to_vec(),
            false => payload.to_vec(),
        };
        let slot = out.len() + usize::from(case.delays[i]);
        let data = h.kind == crate::wire::Kind::Data;
        let mut notice = |damaged: bool| match data {
            true => *noticed |= !(damaged && case.keyed),
            false => *hinted = true,
        };
        match case.fates[i] {
            Fate::Drop => {}
            Fate::Keep | Fate::Forge | Fate::Duplicate => {
                notice(false);
                *announced |= h.kind == crate::wire::Kind::Descriptor;
                out.push((slot, p.clone()));
                if matches!(case.fates[i], Fate::Duplicate) {
                    out.push((slot + 1, p.clone()));
                }
                if data {
                    arrived.push((h.offset, data_of(payload)));
                }
                // (A forged first packet after the transfer completed is, by the rules, a
                // new run of the sender with the same id: not a conflict. Not forged.)
                let forgeable = data && !payload.is_empty() && h.offset > 0;
                if matches!(case.fates[i], Fate::Forge) && forgeable {
                    let mut other = payload.to_vec();
                    other[0] ^= 0xA5;
                    let fh = Header {
                        payload_crc: Header::crc_of(&other),
                        ..h
                    };
                    forgeries.push(fh.with_payload(&other));
                }
            }
            Fate::Truncate(f) => {
                let keep = payload.len() * usize::from(f) / 256;
                let mut cut = p[..HEADER_LEN + keep].to_vec();
                if keep == payload.len() {
                    cut.truncate(cut.len().saturating_sub(1).max(HEADER_LEN));
                }
                if cut.len() < p.len() {
                    notice(true);
                    out.push((slot, cut));
                } else if data {
                    // An empty payload cannot be cut: it arrives whole.
                    notice(false);
                    out.push((slot, p.clone()));
                    arrived.push((h.offset, data_of(payload)));
                }
            }
            Fate::Flip(bit) => {
                let mut bad = p.clone();
                if payload.is_empty() {
                    continue; // nothing to damage: lost instead
                }
                let at = HEADER_LEN + usize::from(bit) % (payload.len() * 8) / 8;
                bad[at] ^= 1 << (bit % 8);
                notice(true);
                out.push((slot, bad));
            }
        }
    }
    out.sort_by_key(|(slot, _)| *slot);
    out.into_iter().map(|(_, p)| p).collect()
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    let sources: Vec<Vec<u8>> = case
        .sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| source(n, i))
        .collect();
    let mut stream = Vec::new();
    let mut arrived: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut all_arrived = true;
    let mut forged = false;
    let mut uncertain = false;
    let mut counter = 0;
    let mut base = 0u64;
    let mut want: Vec<u8> = Vec::new();
    let mut seen = 0;
    for (i, data) in sources.iter().enumerate() {
        let packets = send(data, 100 + i as u16, case);
        let mut mine = Vec::new();
        let mut forgeries = Vec::new();
        let (mut noticed, mut hinted, mut announced) = (false, false, false);
        for _ in 0..case.passes {
            stream.extend(channel(
                &packets,
                case,
                (&mut noticed, &mut hinted, &mut announced),
                &mut counter,
                &mut mine,
                &mut forgeries,
            ));
        }
        // A transfer of which nothing arrived cannot be known to the receiver.
        // Known only by its descriptor or parity: the receiver may or may not take it up
        // (it does when no other transfer is under way); what the output holds is then
        // not checked against the model.
        // Known by an intact descriptor: it is a transfer of the output (its length known),
        // whatever else arrived of it.
        uncertain |= hinted && !noticed && !announced;
        if noticed || announced {
            want.extend_from_slice(data);
            seen += 1;
        } else {
            all_arrived = false;
        }
        // Forged copies come after the genuine ones: the first intact copy wins.
        forged |= !forgeries.is_empty();
        stream.extend(forgeries);
        let data_packets = packets
            .iter()
            .filter(|p| Header::parse(p).unwrap().kind == crate::wire::Kind::Data)
            .count();
        let mut offsets: Vec<u64> = mine.iter().map(|(o, _)| *o).collect();
        offsets.sort_unstable();
        offsets.dedup();
        all_arrived &= offsets.len() == data_packets;
        arrived.extend(mine.into_iter().map(|(o, p)| (base + o, p)));
        if noticed || announced {
            base += data.len() as u64;
        }
    }
    let ranges = Collect::default();
    let out = MemoryOutput {
        bytes: vec![],
        seekable: case.seekable,
    };
    let settings = Settings {
        key: case.keyed.then(key),
        ..Settings::default()
    };
    let mut r = Reassembler::new(
        settings,
        out,
        DamageMap::new(Some(Box::new(ranges.clone()))),
    );
    let flat: Vec<u8> = stream.concat();
    run_slice(Rc::new(flat), &mut r, &mut |_| {}).unwrap();
    let (report, out) = r.finish().unwrap();
    let got = out.bytes;
    let c = &report.counts;
    prop_assert!(c.truncated <= c.damaged + c.header_only);
    if uncertain {
        return Ok(());
    }
    if report.intact() {
        prop_assert!(got == want, "intact, yet the output differs");
    }
    if case.seekable && report.transfers.len() == seen {
        let lost: Vec<(u64, u64)> = ranges
            .0
            .borrow()
            .iter()
            .filter(|r| r.kind == RangeKind::Lost)
            .map(|r| (r.start, r.end))
            .collect();
        for (at, payload) in &arrived {
            let end = at + payload.len() as u64;
            prop_assert!(
                got.get(*at as usize..end as usize) == Some(&payload[..]),
                "an intact arrival at {} is not in the output",
                at
            );
            prop_assert!(
                !lost.iter().any(|&(s, e)| s < end && *at < e),
                "a range reported lost holds the intact arrival at {}",
                at
            );
        }
    }
    if case.seekable && all_arrived && !forged {
        prop_assert!(report.intact(), "everything arrived, not called intact");
        prop_assert!(got == want);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn the_reassembler_keeps_what_arrived_and_claims_only_what_is_true(case in case()) {
        check(&case)?;
    }
}

/// A hand-made case: `fates` for the first packets, the rest kept, none delayed.
fn hand_case(
    sizes: &[usize],
    payload_len: usize,
    fec: bool,
    passes: usize,
    fates: &[Fate],
) -> Case {
    let mut all = vec![Fate::Keep; 200];
    all[..fates.len()].copy_from_slice(fates);
    Case {
        sizes: sizes.to_vec(),
        payload_len,
        fec,
        describe: false,
        interleave: false,
        keyed: false,
        passes,
        fates: all,
        delays: vec![0; 200],
        seekable: true,
    }
}

#[test]
fn an_empty_transfer_after_one_rebuilt_from_parity_keeps_its_place() {
    // Found by the model (issue 28): two transfers of 33 and 0 bytes, payload 32, FEC,
    // the first two packets dropped, into a seekable output.
    // It does not fail any more, with or without descriptors, interleave, a key, a second
    // pass (20,000 sampled cases of it neither).
    let mut failed = vec![];
    for bits in 0..16u32 {
        let passes = 1 + (bits & 1) as usize;
        let mut case = hand_case(&[33, 0], 32, true, passes, &[Fate::Drop, Fate::Drop]);
        case.describe = bits & 2 != 0;
        case.interleave = bits & 4 != 0;
        case.keyed = bits & 8 != 0;
        if let Err(e) = check(&case) {
            failed.push(format!("{case:?}: {e}"));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn a_second_transfer_known_by_its_descriptor_alone_is_a_transfer() {
    // Found by the model (issue 28): the second transfer's only data packet lost, its
    // authentic descriptor (and parity) arrived while the first still waited.
    let mut case = hand_case(&[33, 5], 10, true, 1, &[]);
    case.describe = true;
    case.keyed = true;
    case.seekable = false;
    case.fates[2] = Fate::Drop;
    case.fates[6] = Fate::Truncate(0);
    case.fates[9] = Fate::Truncate(0);
    check(&case).unwrap();
}
