//! The receiver's half of the fountain code: every intact data packet and repair symbol of
//! a block that is not yet whole goes to the [`Store`] (a temporary file the driver gives),
//! and once a block holds as many distinct symbols as it has data packets it is decoded
//! and its missing data packets are handed back, as the parity decoder hands back its own.
//!
//! What it keeps in memory, whatever arrives: per block a count and a flag, one bit per
//! data packet (which arrived intact), and while decoding one block, the block's symbols
//! ([`super::BLOCK_BYTES`] and their tags), the rebuilt packets, and the crate's decoder at
//! most [`DECODE_WORK_BYTES`] (a block whose symbols lie far apart in the symbol space is
//! decoded in stripes of its symbols' bytes, which the code treats independently). Block
//! `b` has `K` slots in the store, each a 4-byte tag (member `j`, or `2^16 + r` for repair
//! symbol `r`) and the symbol, and after them one block's rebuilt packets: at most
//! `(B + 1) * K * (S + 4)` bytes, about the transfer's length.
//!
//! It does not place bytes, read packets or choose where the store lives.

use super::Geometry;
use crate::fec::Recovered;
use crate::wire::{Header, Kind};
use reed_solomon_simd::engine::DefaultEngine;
use reed_solomon_simd::rate::{LowRateDecoder, RateDecoder};
use std::collections::VecDeque;
use std::io;

/// Most bytes of the crate decoder's work space: its symbols' whole index range, rounded
/// up to a power of two, times the stripe of bytes decoded at once.
pub const DECODE_WORK_BYTES: usize = 512 << 10;
/// Most data packets of a transfer the decoder follows (16 GiB at 1 KiB payloads): one bit
/// of memory each, and a few bytes per block.
pub const MAX_PACKETS: u64 = 1 << 24;
/// Bytes of a slot's tag.
const TAG_LEN: usize = 4;
/// A repair symbol's tag: this plus its number (a data packet's is its place in the block).
const REPAIR_TAG: u32 = 1 << 16;

/// Where the symbols of incomplete blocks wait: random access bytes, a file in practice.
pub trait Store {
    fn write_at(&mut self, pos: u64, bytes: &[u8]) -> io::Result<()>;
    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> io::Result<()>;
}

impl Store for std::fs::File {
    fn write_at(&mut self, pos: u64, bytes: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(self, bytes, pos)
    }

    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, pos)
    }
}

/// The store a receiver uses: a new unlinked temporary file ([`crate::io::temp_file`]).
pub fn temp_store() -> io::Result<Box<dyn Store>> {
    Ok(Box::new(crate::io::temp_file()?))
}

/// In memory: for tests, and library users that hold small transfers.
impl Store for Vec<u8> {
    fn write_at(&mut self, pos: u64, bytes: &[u8]) -> io::Result<()> {
        let end = pos as usize + bytes.len();
        if self.len() < end {
            self.resize(end, 0);
        }
        self[pos as usize..end].copy_from_slice(bytes);
        Ok(())
    }

    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> io::Result<()> {
        let src = self
            .get(pos as usize..pos as usize + buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// Makes a [`Store`] when a transfer first needs one (e.g. [`temp_store`]).
pub type OpenStore = fn() -> io::Result<Box<dyn Store>>;

/// Why a symbol could not be kept or a block not decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("fountain store: {0}")]
    Io(#[from] io::Error),
}

#[derive(Debug, Clone, Copy, Default)]
struct Block {
    /// Slots of the store in use, from 0.
    held: u16,
    /// Of them, repair symbols (data packets never repeat: each is kept once).
    repair: u16,
    /// Decoded, found whole, or given up: nothing more is taken.
    done: bool,
}

struct Active {
    geometry: Geometry,
    blocks: Vec<Block>,
    /// One bit per data packet: it arrived intact (and is held, or its block is done).
    arrived: Vec<u64>,
    blocks_left: u64,
}

/// The fountain decoder for the followed transfer. Give it every data packet
/// ([`Decoder::data`]) and every repair packet ([`Decoder::repair`]) once it is
/// [`Decoder::activate`]d; take what it rebuilt with [`Decoder::take_recovered`].
pub struct Decoder {
    transfer_id: u16,
    active: Option<Active>,
    store: Option<Box<dyn Store>>,
    /// Makes the store when a transfer first needs one.
    open_store: Option<OpenStore>,
    /// Rebuilt packets not yet taken: their place in the rebuilt area, and their seq.
    pending: VecDeque<(usize, u64)>,
    pool: Vec<Vec<u8>>,
    /// One stripe of a block's symbols as read back, and one slot being written or moved.
    slots: Vec<u8>,
    symbol: Vec<u8>,
    /// One stripe of the rebuilt members of a block, and which members they are.
    rebuilt: Vec<u8>,
    missing: Vec<usize>,
    coder: Option<LowRateDecoder<DefaultEngine>>,
    /// Repair symbols whose block could not take them (a geometry the decoder refused).
    pub ignored: u64,
    /// Blocks whose symbols did not decode (inconsistent: a forged repair packet).
    pub undecodable: u64,
}

impl Decoder {
    /// A decoder whose store `open_store` makes (a temporary file); `None` keeps it in
    /// memory.
    pub fn new(open_store: Option<OpenStore>) -> Decoder {
        Decoder {
            transfer_id: 0,
            active: None,
            store: None,
            open_store,
            pending: VecDeque::new(),
            pool: Vec::new(),
            slots: Vec::new(),
            symbol: Vec::new(),
            rebuilt: Vec::new(),
            missing: Vec::new(),
            coder: None,
            ignored: 0,
            undecodable: 0,
        }
    }

    /// Forget the transfer: a new one starts. The store is kept for reuse (its stale
    /// contents are never read: slots are read only below their block's count).
    pub fn reset(&mut self, transfer_id: u16) {
        self.transfer_id = transfer_id;
        self.active = None;
        self.pending.clear();
    }

    /// The transfer is a fountain of this geometry (its descriptor or a repair packet
    /// says): from now on, keep its symbols. A geometry that differs from the one active
    /// is ignored (false), as is one too large to follow.
    pub fn activate(&mut self, geometry: Geometry) -> bool {
        if let Some(a) = &self.active {
            return a.geometry == geometry;
        }
        if geometry.packets > MAX_PACKETS {
            return false;
        }
        self.active = Some(Active {
            geometry,
            blocks: vec![Block::default(); geometry.blocks as usize],
            arrived: vec![0; geometry.packets.div_ceil(64) as usize],
            blocks_left: geometry.blocks,
        });
        true
    }

    /// The active geometry, if any.
    pub fn geometry(&self) -> Option<Geometry> {
        self.active.as_ref().map(|a| a.geometry)
    }

    /// True once every block was decoded or found whole.
    pub fn all_done(&self) -> bool {
        self.active.as_ref().is_some_and(|a| a.blocks_left == 0)
    }

    /// A data packet of the followed transfer; only intact ones count.
    pub fn data(
        &mut self,
        header: &Header,
        payload: &[u8],
        intact: bool,
    ) -> Result<(), DecodeError> {
        let Some(a) = &self.active else {
            return Ok(());
        };
        let g = a.geometry;
        let seq = u64::from(header.seq);
        let fits = seq < g.packets
            && header.offset == seq * g.payload_len as u64
            && payload.len() == g.data_len(seq);
        if !intact || !fits || bit(&a.arrived, seq) {
            return Ok(());
        }
        let (b, j) = g.block_of(seq);
        set_bit(&mut self.active.as_mut().expect("checked").arrived, seq);
        self.keep(b, j as u32, payload)
    }

    /// A repair packet of the followed transfer (its payload the symbol, a key's trailer
    /// stripped). One whose geometry is not the active one's is ignored.
    pub fn repair(
        &mut self,
        header: &Header,
        payload: &[u8],
        intact: bool,
    ) -> Result<(), DecodeError> {
        let Kind::Repair(info) = header.kind else {
            return Ok(());
        };
        if !intact {
            return Ok(());
        }
        let payload_len = payload.len() - usize::from(info.odd);
        let geometry = Geometry::new(header.offset, payload_len, usize::from(info.block_size));
        let Some(geometry) = geometry.ok().filter(|g| self.activate(*g)) else {
            self.ignored += 1;
            return Ok(());
        };
        let b = u64::from(header.seq);
        let r = usize::from(info.repair_index);
        if b >= geometry.blocks || r >= geometry.symbol_space(b) {
            self.ignored += 1;
            return Ok(());
        }
        self.keep(b, REPAIR_TAG + u32::from(info.repair_index), payload)
    }

    /// Keep symbol `tag` of block `b` in its next slot; decode the block once it has
    /// enough.
    fn keep(&mut self, b: u64, tag: u32, payload: &[u8]) -> Result<(), DecodeError> {
        let a = self.active.as_mut().expect("keeping only while active");
        let g = a.geometry;
        let block = a.blocks[b as usize];
        if block.done {
            return Ok(());
        }
        let s = g.symbol_len();
        self.symbol.clear();
        self.symbol.extend_from_slice(&tag.to_be_bytes());
        self.symbol.extend_from_slice(payload);
        self.symbol.resize(TAG_LEN + s, 0);
        let pos = slot_pos(&g, b, usize::from(block.held));
        open_store(&mut self.store, self.open_store)?.write_at(pos, &self.symbol)?;
        let a = self.active.as_mut().expect("still active");
        let block = &mut a.blocks[b as usize];
        block.held += 1;
        block.repair += u16::from(tag >= REPAIR_TAG);
        if usize::from(block.held) >= g.block_len(b) {
            if block.repair == 0 {
                // Every data packet arrived: nothing to rebuild, nothing to read back.
                block.done = true;
                a.blocks_left -= 1;
            } else {
                self.decode(b)?;
            }
        }
        Ok(())
    }

    /// Block `b` holds `K_b` symbols: read their tags back; if some repeat, keep one of
    /// each and wait for more; else rebuild its missing data packets into the store's
    /// rebuilt area, for [`Decoder::take_recovered`].
    fn decode(&mut self, b: u64) -> Result<(), DecodeError> {
        let a = self.active.as_ref().expect("decoding only while active");
        let g = a.geometry;
        let k = g.block_len(b);
        let slot_len = (TAG_LEN + g.symbol_len()) as u64;
        let held = usize::from(a.blocks[b as usize].held);
        let store = open_store(&mut self.store, self.open_store)?;
        let mut order: Vec<(u32, usize)> = Vec::with_capacity(held);
        for i in 0..held {
            let mut tag = [0; TAG_LEN];
            store.read_at(slot_pos(&g, b, i), &mut tag)?;
            order.push((u32::from_be_bytes(tag), i));
        }
        // Distinct symbols, first of each: a duplicating channel, or a sender past its
        // symbol space, may repeat one.
        order.sort_unstable();
        order.dedup_by_key(|(t, _)| *t);
        if order.len() < k {
            // Move the distinct ones to the front, in their order, and wait for more.
            order.sort_unstable_by_key(|&(_, i)| i);
            let mut slot = std::mem::take(&mut self.symbol);
            slot.resize(slot_len as usize, 0);
            for (to, &(_, from)) in order.iter().enumerate() {
                if to != from {
                    store.read_at(slot_pos(&g, b, from), &mut slot)?;
                    store.write_at(slot_pos(&g, b, to), &slot)?;
                }
            }
            self.symbol = slot;
            let repair = order.iter().filter(|(t, _)| *t >= REPAIR_TAG).count();
            let block = &mut self.active.as_mut().expect("still active").blocks[b as usize];
            block.held = order.len() as u16;
            block.repair = repair as u16;
            return Ok(());
        }
        self.missing.clear();
        let mut present = order.iter().map(|(t, _)| *t as usize).peekable();
        for j in 0..k {
            if present.next_if_eq(&j).is_none() {
                self.missing.push(j);
            }
        }
        let max_r = order
            .last()
            .map_or(0, |(t, _)| t.saturating_sub(REPAIR_TAG) as usize);
        match self.rebuild(&g, b, k, max_r + 1, &order) {
            Ok(()) => {
                self.pending.extend(
                    self.missing
                        .iter()
                        .enumerate()
                        .map(|(m, &j)| (m, g.member_seq(b, j))),
                );
            }
            // Symbols the code cannot combine (a forged or inconsistent repair packet
            // that passed its CRC): the block's missing packets stay lost.
            Err(RebuildError::Code) => self.undecodable += 1,
            Err(RebuildError::Io(e)) => return Err(e.into()),
        }
        let a = self.active.as_mut().expect("still active");
        a.blocks[b as usize].done = true;
        a.blocks_left -= 1;
        Ok(())
    }

    /// Rebuild block `b`'s `missing` members into the rebuilt area from the `k` distinct
    /// symbols `order` names, stripe by stripe of their bytes, so the crate's work space
    /// stays within [`DECODE_WORK_BYTES`] and the symbols read at once within a stripe
    /// each.
    fn rebuild(
        &mut self,
        g: &Geometry,
        b: u64,
        k: usize,
        recovery_count: usize,
        order: &[(u32, usize)],
    ) -> Result<(), RebuildError> {
        let s = g.symbol_len();
        let work_count = (k.next_power_of_two() + recovery_count).next_power_of_two();
        let stripe = (DECODE_WORK_BYTES / work_count / 64 * 64).clamp(64, s.next_multiple_of(64));
        let store = open_store(&mut self.store, self.open_store)?;
        let area = rebuilt_area(g);
        let mut start = 0;
        while start < s {
            let len = stripe.min(s - start);
            self.slots.resize(order.len() * len, 0);
            for (n, &(_, i)) in order.iter().enumerate() {
                let at = slot_pos(g, b, i) + (TAG_LEN + start) as u64;
                store.read_at(at, &mut self.slots[n * len..(n + 1) * len])?;
            }
            let coder = match &mut self.coder {
                Some(c) => {
                    c.reset(k, recovery_count, len)?;
                    c
                }
                None => self.coder.insert(LowRateDecoder::new(
                    k,
                    recovery_count,
                    len,
                    DefaultEngine::new(),
                    None,
                )?),
            };
            for (n, &(t, _)) in order.iter().enumerate() {
                let bytes = &self.slots[n * len..(n + 1) * len];
                if t < REPAIR_TAG {
                    coder.add_original_shard(t as usize, bytes)?;
                } else {
                    coder.add_recovery_shard((t - REPAIR_TAG) as usize, bytes)?;
                }
            }
            let result = coder.decode()?;
            self.rebuilt.resize(self.missing.len() * len, 0);
            for (m, &j) in self.missing.iter().enumerate() {
                let restored = result
                    .restored_original(j)
                    .expect("the decoder restores every missing original");
                self.rebuilt[m * len..(m + 1) * len].copy_from_slice(restored);
            }
            drop(result);
            for m in 0..self.missing.len() {
                let at = area + (m * s + start) as u64;
                store.write_at(at, &self.rebuilt[m * len..(m + 1) * len])?;
            }
            start += len;
        }
        Ok(())
    }

    /// The next rebuilt data packet, if any. Take them all before giving the decoder
    /// the next packet: the next block rebuilt reuses their place.
    pub fn take_recovered(&mut self) -> Result<Option<Recovered>, DecodeError> {
        let Some((m, seq)) = self.pending.pop_front() else {
            return Ok(None);
        };
        let g = self
            .active
            .as_ref()
            .expect("rebuilt packets only while active")
            .geometry;
        let len = g.data_len(seq);
        let mut payload = self.pool.pop().unwrap_or_default();
        payload.resize(len, 0);
        let at = rebuilt_area(&g) + (m * g.symbol_len()) as u64;
        open_store(&mut self.store, self.open_store)?.read_at(at, &mut payload)?;
        let header = Header {
            kind: Kind::Data,
            last: seq + 1 == g.packets,
            keyed: false,
            encrypted: false,
            payload_len: len as u16,
            transfer_id: self.transfer_id,
            seq: seq as u32,
            offset: seq * g.payload_len as u64,
            total_len: Some(g.total_len),
            payload_crc: Header::crc_of(&payload),
            parity: None,
        };
        Ok(Some(Recovered { header, payload }))
    }

    /// Give back a rebuilt packet's buffer.
    pub fn recycle(&mut self, payload: Vec<u8>) {
        if self.pool.len() < 4 {
            self.pool.push(payload);
        }
    }
}

/// Why a block was not rebuilt.
enum RebuildError {
    Io(io::Error),
    /// The crate refused the symbols (reported by value, not kept).
    Code,
}

impl From<io::Error> for RebuildError {
    fn from(e: io::Error) -> Self {
        RebuildError::Io(e)
    }
}

impl From<reed_solomon_simd::Error> for RebuildError {
    fn from(_: reed_solomon_simd::Error) -> Self {
        RebuildError::Code
    }
}

/// Where the rebuilt members of the block last decoded lie in the store: after every
/// block's slots, `K * S` bytes.
fn rebuilt_area(g: &Geometry) -> u64 {
    slot_pos(g, g.blocks, 0)
}

/// The store, made on first use.
fn open_store(
    store: &mut Option<Box<dyn Store>>,
    open: Option<OpenStore>,
) -> io::Result<&mut dyn Store> {
    if store.is_none() {
        *store = Some(match open {
            Some(open) => open()?,
            None => Box::new(Vec::new()),
        });
    }
    Ok(store.as_deref_mut().expect("just made"))
}

/// Where slot `i` of block `b` lies in the store.
fn slot_pos(g: &Geometry, b: u64, i: usize) -> u64 {
    (b * g.block_size as u64 + i as u64) * (TAG_LEN + g.symbol_len()) as u64
}

fn bit(bits: &[u64], i: u64) -> bool {
    bits[(i / 64) as usize] >> (i % 64) & 1 != 0
}

fn set_bit(bits: &mut [u64], i: u64) {
    bits[(i / 64) as usize] |= 1 << (i % 64);
}
