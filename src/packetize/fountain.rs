//! `pktize --fountain`: the data packets once, exactly as any transfer's (so a receiver
//! that keeps only them has what a plain transfer gives), then repair packets of the
//! fountain code ([`crate::fec::fountain`]) round by round: symbol `r` of every block, then
//! `r + 1`, never the same one twice until a block's symbol space is spent, then from 0
//! again, as late as possible. Descriptors say FOUNTAIN and the block size, and keep going
//! out between repair packets, so a receiver that joins late learns what it receives.
//!
//! Repair symbols are made a window of `k2` rounds at a time (one chunk of each block's
//! code: see [`crate::fec::fountain::BlockEncoder`]), and since a round needs a symbol of
//! every block, the window's symbols, about the input's size, wait in a temporary file
//! (in memory when they are at most [`WINDOW_IN_MEMORY`]). The sender's memory is one
//! block's coding and one batch of packets.

use super::sender::{Sender, WRITE_BATCH};
use super::{seal, Packetizer, Passes, Settings, Summary};
use crate::fec::fountain::{block_size_for, BlockEncoder, Geometry, Store};
use crate::wire::{Header, Kind, RepairInfo, HEADER_LEN};
use std::io::{self, Write};

/// A window of repair symbols at most this large is kept in memory, not in a file.
pub const WINDOW_IN_MEMORY: usize = 4 << 20;

/// Send `data` (a mapped file, or a pipe read whole) as a fountain: one pass of data
/// packets, then repair packets worth `passes - 1` more passes (as many packets as the
/// data had, each time), or endlessly. `temp_file` makes the file a window of repair
/// symbols waits in.
pub fn packetize_fountain(
    data: &[u8],
    out: &mut dyn Write,
    settings: &Settings,
    passes: Passes,
    temp_file: &mut dyn FnMut() -> io::Result<std::fs::File>,
) -> io::Result<Summary> {
    let mut packetizer = Packetizer::new(settings.clone(), Some(data.len() as u64));
    let symbol_len = crate::fec::shard_len(settings.payload_len);
    let block_size = block_size_for(symbol_len);
    let geometry = Geometry::new(data.len() as u64, settings.payload_len, block_size.into());
    packetizer.carousel = passes != Passes::Count(1);
    packetizer.fountain = geometry.is_ok().then_some(block_size);
    let mut sender = Sender::new(out, settings);
    sender.describe(&packetizer, settings, data);
    if let Some(d) = &mut sender.describer {
        d.ramp = true;
    }
    sender.send(&mut packetizer, data, true, &mut |_| {})?;
    sender.out.flush()?;
    let budget = match passes {
        Passes::Count(n) => u64::from(n.saturating_sub(1)) * packetizer.summary.packets,
        Passes::Endless => u64::MAX,
    };
    let mut repair = (0, 0);
    if let (Ok(g), true) = (geometry, budget > 0) {
        repair = send_repair(&mut sender, &mut packetizer, data, &g, budget, temp_file)?;
    }
    sender.out.flush()?;
    let mut summary = packetizer.summary().clone();
    summary.repair_packets = repair.0;
    summary.output_bytes += repair.1;
    Ok(summary)
}

/// Send up to `budget` repair packets, window by window; returns how many and their bytes.
fn send_repair(
    sender: &mut Sender,
    packetizer: &mut Packetizer,
    data: &[u8],
    g: &Geometry,
    mut budget: u64,
    temp_file: &mut dyn FnMut() -> io::Result<std::fs::File>,
) -> io::Result<(u64, u64)> {
    let s = g.symbol_len();
    let window = g.block_len(0).next_power_of_two();
    let space = g.common_space();
    let blocks = g.blocks as usize;
    let mut store: Box<dyn Store> = if window * blocks * s <= WINDOW_IN_MEMORY {
        Box::new(Vec::new())
    } else {
        Box::new(temp_file()?)
    };
    let mut encoder = BlockEncoder::new(s);
    let mut symbols = vec![0u8; window * s];
    // Encrypting: a block's data packets enciphered again (repair is coded over what was
    // sent); one block's data, [`crate::fec::fountain::BLOCK_BYTES`] at most.
    let signer = packetizer.settings.sign.clone().filter(|s| s.encrypts());
    let mut enciphered = Vec::new();
    // One batch of repair packets: their symbols back to back, and their headers.
    let per_batch = (WRITE_BATCH / (HEADER_LEN + s)).clamp(1, super::sender::PACKETS_PER_WRITE / 3);
    let mut batch = vec![0u8; per_batch * s];
    let mut sealed = Vec::with_capacity(per_batch + 2);
    let (mut sent, mut bytes) = (0u64, 0u64);
    let mut first = 0;
    while budget > 0 {
        // Make the window's symbols: rounds first..first + window of every block.
        for b in 0..g.blocks {
            let k = g.block_len(b);
            let member = |j| {
                let seq = g.member_seq(b, j);
                let at = (seq * g.payload_len as u64) as usize;
                (seq, at, &data[at..at + g.data_len(seq)])
            };
            match &signer {
                None => encoder.load((0..k).map(|j| member(j).2)),
                Some(signer) => {
                    enciphered.clear();
                    for j in 0..k {
                        let (seq, at, plain) = member(j);
                        let start = enciphered.len();
                        enciphered.extend_from_slice(plain);
                        let last = seq + 1 == g.packets;
                        let h = packetizer.data_header(seq as u32, at as u64, plain, last);
                        signer.encipher_untagged(&h, &mut enciphered[start..]);
                    }
                    // Every member is a full payload but the transfer's last packet, which
                    // is the last member of its block.
                    encoder.load(enciphered.chunks(g.payload_len));
                }
            }
            for (i, out) in symbols.chunks_exact_mut(s).enumerate() {
                encoder.repair(first + i, out);
            }
            store.write_at(b * (window * s) as u64, &symbols)?;
        }
        // Send them round by round, a batch at a time.
        let rounds = window as u64 * g.blocks;
        let mut n = 0u64;
        while n < rounds && budget > 0 {
            let count = (per_batch as u64).min(rounds - n).min(budget) as usize;
            for c in 0..count {
                let (i, b) = ((n + c as u64) / g.blocks, (n + c as u64) % g.blocks);
                let at = (b as usize * window + i as usize) * s;
                store.read_at(at as u64, &mut batch[c * s..(c + 1) * s])?;
            }
            sealed.clear();
            // Encrypting, a batch's packets, descriptors and repair, are built whole there.
            packetizer.frame.clear();
            let mut payloads: Vec<&[u8]> = Vec::with_capacity(count + 2);
            let mut describer = sender.describer.take();
            // The body is borrowed by the slices being gathered while the schedule changes.
            let body = describer.as_mut().map(|d| std::mem::take(&mut d.body));
            for c in 0..count {
                let (i, b) = ((n + c as u64) / g.blocks, (n + c as u64) % g.blocks);
                if let (Some(d), Some(body)) = (describer.as_mut().filter(|d| d.due()), &body) {
                    sealed.push(packetizer.descriptor_header(body));
                    payloads.push(body);
                    d.sent();
                }
                let symbol = &batch[c * s..(c + 1) * s];
                let header = Header {
                    kind: Kind::Repair(RepairInfo {
                        repair_index: (first + i as usize) as u16,
                        block_size: g.block_size as u16,
                        odd: g.payload_len % 2 == 1,
                    }),
                    last: false,
                    keyed: false,
                    encrypted: false,
                    payload_len: s as u16,
                    transfer_id: packetizer.settings.transfer_id,
                    seq: b as u32,
                    offset: g.total_len,
                    total_len: None,
                    payload_crc: 0,
                    parity: None,
                };
                let packet = seal(
                    packetizer.settings.sign.as_ref(),
                    header,
                    symbol,
                    &mut packetizer.frame,
                );
                bytes += packet.wire_len(symbol) as u64;
                sealed.push(packet);
                payloads.push(symbol);
                if let Some(d) = describer.as_mut() {
                    d.since += 1;
                }
            }
            let headers = std::mem::take(&mut sealed);
            sender.write_packets(&headers, &payloads, &packetizer.frame)?;
            drop(payloads);
            sealed = headers;
            if let (Some(d), Some(body)) = (describer.as_mut(), body) {
                d.body = body;
            }
            sender.describer = describer;
            sent += count as u64;
            budget -= count as u64;
            n += count as u64;
        }
        first = (first + window) % space;
    }
    Ok((sent, bytes))
}
