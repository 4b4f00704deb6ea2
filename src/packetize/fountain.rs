//! `pktize --fountain`: the data packets once, exactly as any transfer's (so a receiver
//! that keeps only them has what a plain transfer gives), then repair packets of the
//! fountain code ([`crate::fec::fountain`]) round by round: symbol `r` of every block, then
//! `r + 1`, never the same one twice until a block's symbol space is spent, then from 0
//! again, as late as possible. Descriptors say FOUNTAIN and the block size, and keep going
//! out between repair packets, so a receiver that joins late learns what it receives.
//!
//! Repair symbols are made a window of `k2` rounds at a time (one chunk of each block's
//! code: see [`crate::fec::fountain::BlockEncoder`]), and since a round needs a symbol of
//! every block, a window's symbols, about the input's size, wait in a temporary file (in
//! memory when they are at most [`WINDOW_IN_MEMORY`]). The windows are pipelined, so
//! repair follows the data without a pause: the first window is made block by block while
//! the data pass goes out (block `b` once `(b + 1) / B` of the data is sent), and each
//! next one while the one before is sent, into a second file; two windows in all, about
//! twice the input's size on disk. The sender's memory is one block's transform (made
//! into its chunk in place), a slab of the window being sent ([`SLAB_BYTES`]), a part of
//! a block's symbols on their way to the file, and one batch of packets.

use super::sender::{Sender, WRITE_BATCH};
use super::{seal, Packetizer, Passes, Settings, Summary};
use crate::fec::fountain::{block_size_for, BlockEncoder, Geometry, Store};
use crate::wire::{Header, Kind, RepairInfo, HEADER_LEN};
use std::io::{self, Write};

/// A window of repair symbols at most this large is kept in memory, not in a file (two
/// of them while one is sent and the next made).
pub const WINDOW_IN_MEMORY: usize = 1 << 20;
/// Bytes of repair symbols read back from the window at once.
const SLAB_BYTES: usize = 2 << 20;
/// Bytes of a block's repair symbols written to the window at once.
const WRITE_BYTES: usize = 256 << 10;

/// Makes a temporary file.
type TempFile<'t> = dyn FnMut() -> io::Result<std::fs::File> + 't;

/// Send `data` (a mapped file, or a pipe read whole) as a fountain: one pass of data
/// packets, then repair packets worth `passes - 1` more passes (as many packets as the
/// data had, each time), or endlessly. `temp_file` makes the files windows of repair
/// symbols wait in.
pub fn packetize_fountain(
    data: &[u8],
    out: &mut dyn Write,
    settings: &Settings,
    passes: Passes,
    temp_file: &mut TempFile,
) -> io::Result<Summary> {
    fountain_in_slabs(data, out, settings, passes, temp_file, SLAB_BYTES)
}

/// [`packetize_fountain`], reading the window back in slabs of `slab_bytes`.
fn fountain_in_slabs(
    data: &[u8],
    out: &mut dyn Write,
    settings: &Settings,
    passes: Passes,
    temp_file: &mut TempFile,
    slab_bytes: usize,
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
    // The first window of repair is made while the data goes out, a block at a time.
    let mut maker = match (geometry, passes) {
        (_, Passes::Count(1)) | (Err(_), _) => None,
        (Ok(g), _) => Some(WindowMaker::new(data, g, settings)),
    };
    let mut failed = None;
    sender.send(&mut packetizer, data, true, &mut |done| {
        if let (Some(m), None) = (maker.as_mut(), &failed) {
            let due = (done as u128 * u128::from(m.g.blocks)).div_ceil(data.len() as u128);
            failed = m.make_until(due as u64, temp_file).err();
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    sender.out.flush()?;
    let budget = match passes {
        Passes::Count(n) => u64::from(n.saturating_sub(1)) * packetizer.summary.packets,
        Passes::Endless => u64::MAX,
    };
    let mut repair = (0, 0);
    if let (Some(m), true) = (maker, budget > 0) {
        repair = send_repair(
            &mut sender,
            &mut packetizer,
            m,
            budget,
            temp_file,
            slab_bytes,
        )?;
    }
    sender.out.flush()?;
    let mut summary = packetizer.summary().clone();
    summary.repair_packets = repair.0;
    summary.output_bytes += repair.1;
    Ok(summary)
}

/// Makes windows of repair symbols, block by block, into one of two stores: the next
/// window while the one before is being sent.
struct WindowMaker<'a> {
    data: &'a [u8],
    g: Geometry,
    /// Rounds per window: the first (largest) block's padded size.
    window: usize,
    /// The symbols every block has (a multiple of the window).
    space: usize,
    encoder: BlockEncoder,
    /// A part of a block's symbols on its way to the store.
    symbols: Vec<u8>,
    /// Encrypting: the settings the data headers are made from, and a block's data
    /// enciphered again (repair is coded over what was sent), one block's data,
    /// [`crate::fec::fountain::BLOCK_BYTES`] at most.
    settings: Settings,
    enciphered: Vec<u8>,
    /// The window being made, its first round and how many of its blocks are made.
    making: Option<Box<dyn Store>>,
    first: usize,
    made: u64,
    /// The store of a window already sent, to make another in.
    spare: Option<Box<dyn Store>>,
}

impl<'a> WindowMaker<'a> {
    fn new(data: &'a [u8], g: Geometry, settings: &Settings) -> WindowMaker<'a> {
        let s = g.symbol_len();
        let window = g.block_len(0).next_power_of_two();
        WindowMaker {
            data,
            g,
            window,
            space: g.common_space(),
            encoder: BlockEncoder::new(s),
            symbols: vec![0; (WRITE_BYTES / s).clamp(1, window) * s],
            settings: settings.clone(),
            enciphered: Vec::new(),
            making: None,
            first: 0,
            made: 0,
            spare: None,
        }
    }

    /// Make the window's blocks up to `blocks` (at most all of them).
    fn make_until(&mut self, blocks: u64, temp_file: &mut TempFile) -> io::Result<()> {
        while self.made < blocks.min(self.g.blocks) {
            self.make_block(self.made, temp_file)?;
            self.made += 1;
        }
        Ok(())
    }

    /// Make block `b`'s symbols of the window: rounds `first..first + window`, at
    /// `b * window` symbols into the store (the window is block-major).
    fn make_block(&mut self, b: u64, temp_file: &mut TempFile) -> io::Result<()> {
        let (g, s, window) = (self.g, self.g.symbol_len(), self.window);
        let store = match self.making.take().or_else(|| self.spare.take()) {
            Some(store) => store,
            None if window * g.blocks as usize * s <= WINDOW_IN_MEMORY => Box::new(Vec::new()),
            None => Box::new(temp_file()?),
        };
        let store = self.making.insert(store);
        // A block smaller than the first may have half its padded size: two chunks of it
        // make the window, each from its own load.
        let k2 = g.block_len(b).next_power_of_two();
        let per_part = self.symbols.len() / s;
        for c in self.first / k2..(self.first + window) / k2 {
            load_block(
                &mut self.encoder,
                &mut self.enciphered,
                &self.settings,
                self.data,
                &g,
                b,
            );
            self.encoder.chunk_in_place(c);
            let chunk_at = c * k2 - self.first;
            for part in (0..k2).step_by(per_part) {
                let count = per_part.min(k2 - part);
                let bytes = &mut self.symbols[..count * s];
                for (i, out) in bytes.chunks_exact_mut(s).enumerate() {
                    self.encoder.repair(c * k2 + part + i, out);
                }
                let at = (b as usize * window + chunk_at + part) * s;
                store.write_at(at as u64, bytes)?;
            }
        }
        Ok(())
    }

    /// The window just made (every block) and its first round; the maker goes on to the
    /// next window.
    fn finish_window(&mut self, temp_file: &mut TempFile) -> io::Result<(Box<dyn Store>, usize)> {
        self.make_until(self.g.blocks, temp_file)?;
        let first = self.first;
        self.first = (self.first + self.window) % self.space;
        self.made = 0;
        let store = self.making.take().expect("a window has at least one block");
        Ok((store, first))
    }
}

/// Load block `b` of `data` into `encoder`: its data packets' payloads, or enciphered as
/// they were sent when `settings` encrypt.
fn load_block(
    encoder: &mut BlockEncoder,
    enciphered: &mut Vec<u8>,
    settings: &Settings,
    data: &[u8],
    g: &Geometry,
    b: u64,
) {
    let k = g.block_len(b);
    let member = |j| {
        let seq = g.member_seq(b, j);
        let at = (seq * g.payload_len as u64) as usize;
        (seq, at, &data[at..at + g.data_len(seq)])
    };
    match settings.sign.as_ref().filter(|s| s.encrypts()) {
        None => encoder.load((0..k).map(|j| member(j).2)),
        Some(signer) => {
            enciphered.clear();
            for j in 0..k {
                let (seq, at, plain) = member(j);
                let start = enciphered.len();
                enciphered.extend_from_slice(plain);
                let last = seq + 1 == g.packets;
                let total_len = Some(data.len() as u64);
                let h = super::data_header(
                    settings.transfer_id,
                    total_len,
                    seq as u32,
                    at as u64,
                    plain,
                    last,
                );
                signer.encipher_untagged(&h, &mut enciphered[start..]);
            }
            // Every member is a full payload but the transfer's last packet, which is the
            // last member of its block.
            encoder.load(enciphered.chunks(g.payload_len));
        }
    }
}

/// Send up to `budget` repair packets, window by window, making the next window as the
/// current one goes out; returns how many and their bytes.
fn send_repair(
    sender: &mut Sender,
    packetizer: &mut Packetizer,
    mut maker: WindowMaker,
    mut budget: u64,
    temp_file: &mut TempFile,
    slab_bytes: usize,
) -> io::Result<(u64, u64)> {
    let g = maker.g;
    let s = g.symbol_len();
    let window = maker.window;
    let blocks = g.blocks as usize;
    // The window is read back a slab at a time and sent from there: some rounds of every
    // block, one read per block (the window is block-major); or, when one round of every
    // block exceeds the slab, some blocks of one round, one read per symbol.
    let per_slab = (slab_bytes / s).max(1);
    let whole_rounds = per_slab >= blocks;
    let stride = if whole_rounds {
        (per_slab / blocks).min(window)
    } else {
        1
    };
    let mut slab = vec![
        0u8;
        if whole_rounds {
            stride * blocks
        } else {
            per_slab
        } * s
    ];
    let per_batch = (WRITE_BATCH / (HEADER_LEN + s)).clamp(1, super::sender::PACKETS_PER_WRITE / 3);
    let mut sealed = Vec::with_capacity(per_batch + 2);
    let (mut sent, mut bytes) = (0u64, 0u64);
    while budget > 0 {
        let (mut store, first) = maker.finish_window(temp_file)?;
        // Send the window round by round, a batch at a time, and make the next one (when
        // the budget goes beyond this one) in step: all of it by this one's end.
        let rounds = window as u64 * g.blocks;
        let to_send = rounds.min(budget);
        let next = budget > rounds;
        let mut n = 0u64;
        let (mut slab_end, mut i0, mut b0) = (0u64, 0usize, 0usize);
        while n < to_send {
            if n == slab_end {
                (i0, b0) = ((n / g.blocks) as usize, (n % g.blocks) as usize);
                if whole_rounds {
                    let r = stride.min(window - i0);
                    for (b, part) in slab.chunks_exact_mut(stride * s).enumerate() {
                        store.read_at(((b * window + i0) * s) as u64, &mut part[..r * s])?;
                    }
                    slab_end = n + (r * blocks) as u64;
                } else {
                    let m = per_slab.min(blocks - b0);
                    for (x, part) in slab.chunks_exact_mut(s).take(m).enumerate() {
                        store.read_at((((b0 + x) * window + i0) * s) as u64, part)?;
                    }
                    slab_end = n + m as u64;
                }
            }
            let count = (per_batch as u64).min(slab_end - n).min(to_send - n) as usize;
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
                let at = ((b as usize - b0) * stride + i as usize - i0) * s;
                let symbol = &slab[at..at + s];
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
            if next {
                let due = (u128::from(n) * blocks as u128).div_ceil(u128::from(to_send));
                maker.make_until(due as u64, temp_file)?;
            }
        }
        maker.spare = Some(store);
    }
    Ok((sent, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the bytes written through it.
    struct Counting(std::rc::Rc<std::cell::Cell<u64>>);

    impl Write for Counting {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.set(self.0.get() + buf.len() as u64);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_window_is_made_while_the_one_before_goes_out() {
        // 3 MiB in 1 KiB packets: two blocks of 1536, windows of 2048 rounds (4 MiB of
        // symbols, in files), so three passes of repair take three windows.
        let data: Vec<u8> = (0..3u32 << 20)
            .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
            .collect();
        let settings = Settings {
            payload_len: 1024,
            transfer_id: 9,
            bytes_per_sec: None,
            describe: None,
            fec: None,
            sign: None,
            interleave: None,
        };
        let written = std::rc::Rc::new(std::cell::Cell::new(0u64));
        // The bytes written when each window's file was opened.
        let mut opened = Vec::new();
        let summary = packetize_fountain(
            &data,
            &mut Counting(written.clone()),
            &settings,
            Passes::Count(4),
            &mut || {
                opened.push(written.get());
                crate::io::temp_file()
            },
        )
        .unwrap();
        let packet = (HEADER_LEN + 1024) as u64;
        let data_pass = 3072 * packet;
        assert_eq!(summary.repair_packets, 3 * 3072);
        // Two files in all, the second used again for the third window; the first opened
        // during the data pass (its first block once some data is out), the second
        // during the first window's sending.
        assert_eq!(opened.len(), 2, "{opened:?}");
        assert!(opened[0] > 0 && opened[0] < data_pass, "{opened:?}");
        assert!(
            opened[1] > data_pass && opened[1] < data_pass + 4096 * packet,
            "{opened:?}"
        );
    }

    #[test]
    fn the_stream_is_the_same_whatever_slab_the_window_is_read_in() {
        // 3000 packets of 50 bytes: two blocks of 1500, a window of 2048 rounds.
        let data: Vec<u8> = (0..150_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let settings = Settings {
            payload_len: 50,
            transfer_id: 7,
            bytes_per_sec: None,
            describe: None,
            fec: None,
            sign: None,
            interleave: None,
        };
        let stream = |slab_bytes: usize| {
            let mut out = Vec::new();
            fountain_in_slabs(
                &data,
                &mut out,
                &settings,
                Passes::Count(3),
                &mut crate::io::temp_file,
                slab_bytes,
            )
            .unwrap();
            out
        };
        let whole = stream(SLAB_BYTES);
        // Some rounds of every block at once; one symbol at a time (a round of every
        // block larger than the slab).
        assert!(whole == stream(50 * 2 * 3));
        assert!(whole == stream(50));
        assert!(whole.len() > 3 * data.len());
    }
}
