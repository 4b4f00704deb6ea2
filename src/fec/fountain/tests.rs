use super::*;
use crate::wire::{Header, Kind, RepairInfo};
use reed_solomon_simd::engine::DefaultEngine;
use reed_solomon_simd::rate::{LowRateEncoder, RateEncoder};

/// Deterministic bytes.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn repair_symbols_are_the_crates_low_rate_recovery_shards_for_any_count() {
    for (k, s) in [(1, 2), (3, 100), (5, 64), (16, 130), (100, 1024)] {
        let shards: Vec<Vec<u8>> = (0..k).map(|i| bytes(i as u64 + 7, s)).collect();
        let k2 = usize::next_power_of_two(k);
        let count = 3 * k2 + 1;
        let mut crate_encoder =
            LowRateEncoder::<DefaultEngine>::new(k, count, s, DefaultEngine::new(), None).unwrap();
        for shard in &shards {
            crate_encoder.add_original_shard(shard).unwrap();
        }
        let result = crate_encoder.encode().unwrap();
        let mut ours = BlockEncoder::new(s);
        ours.load(shards.iter().map(|v| v.as_slice()));
        let mut out = vec![0; s];
        // Out of order: chunks are recomputed as needed.
        for r in (0..count).rev().step_by(1) {
            ours.repair(r, &mut out);
            assert_eq!(out, result.recovery(r).unwrap(), "k {k} s {s} r {r}");
        }
    }
}

#[test]
fn a_chunk_made_in_place_is_the_crates_recovery_shards() {
    for (k, s) in [(1, 2), (3, 100), (16, 130), (100, 1024)] {
        let shards: Vec<Vec<u8>> = (0..k).map(|i| bytes(i as u64 + 3, s)).collect();
        let k2 = usize::next_power_of_two(k);
        let count = 3 * k2;
        let mut crate_encoder =
            LowRateEncoder::<DefaultEngine>::new(k, count, s, DefaultEngine::new(), None).unwrap();
        for shard in &shards {
            crate_encoder.add_original_shard(shard).unwrap();
        }
        let result = crate_encoder.encode().unwrap();
        let mut ours = BlockEncoder::new(s);
        let mut out = vec![0; s];
        // Chunk 2, then chunk 0: each after its own load.
        for c in [2, 0] {
            ours.load(shards.iter().map(|v| v.as_slice()));
            ours.chunk_in_place(c);
            for r in c * k2..(c + 1) * k2 {
                ours.repair(r, &mut out);
                assert_eq!(out, result.recovery(r).unwrap(), "k {k} s {s} r {r}");
            }
        }
    }
}

#[test]
fn a_short_payload_counts_as_zero_padded() {
    let full = [bytes(1, 10), bytes(2, 10)];
    let mut short = full.clone();
    short[1][6..].fill(0);
    let mut a = BlockEncoder::new(10);
    a.load([full[0].as_slice(), &short[1][..6]].into_iter());
    let mut b = BlockEncoder::new(10);
    b.load(short.iter().map(|v| v.as_slice()));
    let (mut x, mut y) = (vec![0; 10], vec![0; 10]);
    for r in 0..8 {
        a.repair(r, &mut x);
        b.repair(r, &mut y);
        assert_eq!(x, y);
    }
}

#[test]
fn geometry_interleaves_blocks_and_bounds_them() {
    let g = Geometry::new(10_000, 100, 16).unwrap();
    assert_eq!((g.packets, g.blocks), (100, 7));
    let sizes: Vec<usize> = (0..7).map(|b| g.block_len(b)).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 100);
    assert!(sizes.iter().all(|&k| k == 14 || k == 15));
    for seq in 0..100 {
        let (b, j) = g.block_of(seq);
        assert_eq!(g.member_seq(b, j), seq);
        assert!(j < g.block_len(b));
    }
    assert_eq!(g.data_len(99), 100);
    assert_eq!(Geometry::new(10_001, 100, 16).unwrap().data_len(100), 1);
    assert_eq!(g.symbol_space(0), 65536 - 16);
    assert!(Geometry::new(0, 100, 16).is_err());
    assert!(Geometry::new(100, 100, 0).is_err());
    assert!(Geometry::new(100, 100, 4097).is_err());
    assert_eq!(block_size_for(1024), 2048);
    assert_eq!(block_size_for(65476), 32);
}

/// The sender's packets for `data`: data packets, then `rounds` rounds of repair.
struct Sent {
    g: Geometry,
    data: Vec<u8>,
    repair: Vec<(u64, u16, Vec<u8>)>,
}

fn send(data: &[u8], payload_len: usize, block_size: usize, rounds: usize) -> Sent {
    let g = Geometry::new(data.len() as u64, payload_len, block_size).unwrap();
    let s = g.symbol_len();
    let mut enc = BlockEncoder::new(s);
    let mut per_block = Vec::new();
    for b in 0..g.blocks {
        let k = g.block_len(b);
        let payloads: Vec<&[u8]> = (0..k)
            .map(|j| {
                let seq = g.member_seq(b, j);
                let at = (seq * payload_len as u64) as usize;
                &data[at..at + g.data_len(seq)]
            })
            .collect();
        enc.load(payloads.into_iter());
        let symbols: Vec<Vec<u8>> = (0..rounds)
            .map(|r| {
                let mut out = vec![0; s];
                enc.repair(r % enc.symbol_space(), &mut out);
                out
            })
            .collect();
        per_block.push(symbols);
    }
    let mut repair = Vec::new();
    for r in 0..rounds {
        for (b, symbols) in per_block.iter().enumerate() {
            repair.push((b as u64, r as u16, symbols[r].clone()));
        }
    }
    Sent {
        g,
        data: data.to_vec(),
        repair,
    }
}

fn data_header(g: &Geometry, seq: u64, payload: &[u8]) -> Header {
    Header {
        kind: Kind::Data,
        last: seq + 1 == g.packets,
        keyed: false,
        encrypted: false,
        payload_len: payload.len() as u16,
        transfer_id: 1,
        seq: seq as u32,
        offset: seq * g.payload_len as u64,
        total_len: Some(g.total_len),
        payload_crc: Header::crc_of(payload),
        parity: None,
    }
}

fn repair_header(g: &Geometry, b: u64, r: u16, payload: &[u8]) -> Header {
    Header {
        kind: Kind::Repair(RepairInfo {
            repair_index: r,
            block_size: g.block_size as u16,
            odd: g.payload_len % 2 == 1,
        }),
        last: false,
        keyed: false,
        encrypted: false,
        payload_len: payload.len() as u16,
        transfer_id: 1,
        seq: b as u32,
        offset: g.total_len,
        total_len: None,
        payload_crc: Header::crc_of(payload),
        parity: None,
    }
}

/// Feed `sent` through a decoder, losing what `lose(i)` says of packet `i` (data first,
/// then repair); returns the rebuilt bytes over what arrived and the repair packets taken
/// until every block was done.
fn receive(sent: &Sent, lose: impl Fn(usize) -> bool) -> (Vec<u8>, Option<usize>) {
    let g = sent.g;
    let mut out = vec![0u8; sent.data.len()];
    let mut have = vec![false; g.packets as usize];
    let mut dec = Decoder::new(None);
    dec.reset(1);
    assert!(dec.activate(g));
    let collect = |dec: &mut Decoder, out: &mut Vec<u8>, have: &mut Vec<bool>| {
        while let Some(r) = dec.take_recovered().unwrap() {
            let at = r.header.offset as usize;
            assert!(
                !have[r.header.seq as usize],
                "rebuilt a packet that arrived"
            );
            assert!(r.header.payload_matches(&r.payload));
            out[at..at + r.payload.len()].copy_from_slice(&r.payload);
            have[r.header.seq as usize] = true;
            dec.recycle(r.payload);
        }
    };
    let mut i = 0;
    for seq in 0..g.packets {
        let at = (seq * g.payload_len as u64) as usize;
        let payload = &sent.data[at..at + g.data_len(seq)];
        if !lose(i) {
            out[at..at + payload.len()].copy_from_slice(payload);
            have[seq as usize] = true;
            dec.data(&data_header(&g, seq, payload), payload, true)
                .unwrap();
        }
        i += 1;
    }
    collect(&mut dec, &mut out, &mut have);
    let mut used = None;
    for (n, (b, r, sym)) in sent.repair.iter().enumerate() {
        if dec.all_done() {
            used = Some(n);
            break;
        }
        if !lose(i) {
            dec.repair(&repair_header(&g, *b, *r, sym), sym, true)
                .unwrap();
            collect(&mut dec, &mut out, &mut have);
        }
        i += 1;
    }
    if dec.all_done() && used.is_none() {
        used = Some(sent.repair.len());
    }
    (out, used)
}

#[test]
fn any_k_symbols_rebuild_every_block() {
    // Odd payloads, a short last packet, blocks of unequal size.
    let data = bytes(3, 37 * 101 + 17);
    let sent = send(&data, 37, 16, 40);
    let lost = |i: usize| i % 7 == 3 || (200..230).contains(&i);
    let (out, used) = receive(&sent, lost);
    assert!(used.is_some(), "not every block was rebuilt");
    assert_eq!(out, data);
}

#[test]
fn a_receiver_that_lost_every_data_packet_needs_exactly_k_repair_symbols_a_block() {
    let data = bytes(4, 1024 * 64);
    let sent = send(&data, 1024, 16, 20);
    let packets = sent.g.packets as usize;
    let (out, used) = receive(&sent, |i| i < packets);
    assert_eq!(out, data);
    // 4 blocks of 16: 16 rounds of 4 symbols.
    assert_eq!(used, Some(16 * 4));
}

#[test]
fn repeated_repair_symbols_count_once() {
    let data = bytes(5, 200 * 8);
    let mut sent = send(&data, 200, 8, 12);
    // Every repair symbol twice in a row: a duplicating channel.
    sent.repair = sent
        .repair
        .iter()
        .flat_map(|p| [p.clone(), p.clone()])
        .collect();
    let (out, used) = receive(&sent, |i| i < 8);
    assert_eq!(out, data);
    assert_eq!(used, Some(16 - 1));
}

#[test]
fn a_repair_packet_of_another_geometry_is_ignored() {
    let data = bytes(6, 100 * 4);
    let sent = send(&data, 100, 4, 4);
    let mut dec = Decoder::new(None);
    dec.reset(1);
    assert!(dec.activate(sent.g));
    let (b, r, sym) = &sent.repair[0];
    let mut other = repair_header(&sent.g, *b, *r, sym);
    other.offset += 1;
    dec.repair(&other, sym, true).unwrap();
    assert_eq!(dec.ignored, 1);
}

#[test]
fn a_late_joiner_decodes_in_stripes_and_takes_rebuilt_packets_in_runs() {
    // Repair numbers in the thousands span a wide index range, so a block of 1 KiB
    // symbols decodes in several stripes; 256 rebuilt members a block are more than one
    // run of the store.
    let data = bytes(7, 1024 * 512);
    let sent = send(&data, 1024, 256, 2200);
    let joined = sent.g.packets as usize + 2 * 1900;
    let (out, used) = receive(&sent, |i| i < joined);
    assert_eq!(out, data);
    assert_eq!(used, Some(1900 * 2 + 256 * 2));
    assert!(super::decode::stripe_len(1024, 256, 2156) < 1024);
}
