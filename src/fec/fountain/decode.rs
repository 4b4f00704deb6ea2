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
//! `b` has `K` slots in the store, each a 2-byte tag (member `j`, or `MAX_BLOCK_PACKETS +
//! r` for repair symbol `r`) and the symbol: at most `B * K * (S + 2)` bytes, about the
//! transfer's length.
//!
//! It does not place bytes, read packets or choose where the store lives.

use super::Geometry;
use crate::fec::Recovered;
use crate::wire::{Header, Kind, MAX_BLOCK_PACKETS};
use reed_solomon_simd::engine::DefaultEngine;
use reed_solomon_simd::rate::{LowRateDecoder, RateDecoder};
use std::collections::VecDeque;
use std::io;

/// Most bytes of the crate decoder's work space: its symbols' whole index range, rounded
/// up to a power of two, times the stripe of bytes decoded at once.
pub const DECODE_WORK_BYTES: usize = 2 << 20;
/// Most data packets of a transfer the decoder follows (16 GiB at 1 KiB payloads): one bit
/// of memory each, and a few bytes per block.
pub const MAX_PACKETS: u64 = 1 << 24;
/// Bytes of a slot's tag.
const TAG_LEN: usize = 2;

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
    open_store: Option<fn() -> io::Result<Box<dyn Store>>>,
    recovered: VecDeque<Recovered>,
    pool: Vec<Vec<u8>>,
    /// A block's slots as read back, and one symbol being written.
    slots: Vec<u8>,
    symbol: Vec<u8>,
    /// The rebuilt members of a block, back to back, and which they are.
    rebuilt: Vec<u8>,
    missing: Vec<usize>,
    coder: Option<LowRateDecoder<DefaultEngine>>,
    /// Repair symbols whose block could not take them (a geometry the decoder refused).
    pub ignored: u64,
}

impl Decoder {
    /// A decoder whose store `open_store` makes (a temporary file); `None` keeps it in
    /// memory.
    pub fn new(open_store: Option<fn() -> io::Result<Box<dyn Store>>>) -> Decoder {
        Decoder {
            transfer_id: 0,
            active: None,
            store: None,
            open_store,
            recovered: VecDeque::new(),
            pool: Vec::new(),
            slots: Vec::new(),
            symbol: Vec::new(),
            rebuilt: Vec::new(),
            missing: Vec::new(),
            coder: None,
            ignored: 0,
        }
    }

    /// Forget the transfer: a new one starts. The store is kept for reuse (its stale
    /// contents are never read: slots are read only below their block's count).
    pub fn reset(&mut self, transfer_id: u16) {
        self.transfer_id = transfer_id;
        self.active = None;
        self.recovered.clear();
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
        self.keep(b, j as u16, payload)
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
        self.keep(b, MAX_BLOCK_PACKETS + info.repair_index, payload)
    }

    /// Keep symbol `tag` of block `b` in its next slot; decode the block once it has
    /// enough.
    fn keep(&mut self, b: u64, tag: u16, payload: &[u8]) -> Result<(), DecodeError> {
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
        block.repair += u16::from(tag >= MAX_BLOCK_PACKETS);
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

    fn store(&mut self) -> io::Result<&mut dyn Store> {
        open_store(&mut self.store, self.open_store)
    }

    /// Block `b` holds `K_b` symbols: read them back; if some repeat, keep one of each and
    /// wait for more; else rebuild its missing data packets.
    fn decode(&mut self, b: u64) -> Result<(), DecodeError> {
        let a = self.active.as_ref().expect("decoding only while active");
        let g = a.geometry;
        let k = g.block_len(b);
        let s = g.symbol_len();
        let slot_len = TAG_LEN + s;
        let held = usize::from(a.blocks[b as usize].held);
        let mut slots = std::mem::take(&mut self.slots);
        slots.resize(held * slot_len, 0);
        let read = self.store()?.read_at(slot_pos(&g, b, 0), &mut slots);
        if let Err(e) = read {
            self.slots = slots;
            return Err(e.into());
        }
        let tag = |i: usize| u16::from_be_bytes([slots[i * slot_len], slots[i * slot_len + 1]]);
        // Distinct symbols, first of each: a duplicating channel, or a sender past its
        // symbol space, may repeat one.
        let mut order: Vec<(u16, usize)> = (0..held).map(|i| (tag(i), i)).collect();
        order.sort_unstable();
        order.dedup_by_key(|(t, _)| *t);
        if order.len() < k {
            // Compact the distinct ones to the front and wait for more.
            let mut kept = Vec::with_capacity(order.len() * slot_len);
            order.sort_unstable_by_key(|&(_, i)| i);
            for &(_, i) in &order {
                kept.extend_from_slice(&slots[i * slot_len..(i + 1) * slot_len]);
            }
            self.store()?.write_at(slot_pos(&g, b, 0), &kept)?;
            let a = self.active.as_mut().expect("still active");
            let repair = order
                .iter()
                .filter(|(t, _)| *t >= MAX_BLOCK_PACKETS)
                .count();
            a.blocks[b as usize].held = order.len() as u16;
            a.blocks[b as usize].repair = repair as u16;
            self.slots = slots;
            return Ok(());
        }
        let repair = order
            .iter()
            .filter(|(t, _)| *t >= MAX_BLOCK_PACKETS)
            .count();
        if repair > 0 {
            self.missing.clear();
            let mut present = order.iter().map(|(t, _)| usize::from(*t)).peekable();
            for j in 0..k {
                if present.next_if_eq(&j).is_none() {
                    self.missing.push(j);
                }
            }
            let max_r = order
                .last()
                .map_or(0, |(t, _)| usize::from(*t - MAX_BLOCK_PACKETS));
            let rebuilt = self.rebuild(&g, k, max_r + 1, &slots, &order);
            if rebuilt.is_ok() {
                self.emit(&g, b);
            }
        }
        self.slots = slots;
        let a = self.active.as_mut().expect("still active");
        a.blocks[b as usize].done = true;
        a.blocks_left -= 1;
        Ok(())
    }

    /// Rebuild the block's `missing` members into `rebuilt` from the `k` distinct symbols
    /// `order` names in `slots`, stripe by stripe so the work space stays within
    /// [`DECODE_WORK_BYTES`].
    fn rebuild(
        &mut self,
        g: &Geometry,
        k: usize,
        recovery_count: usize,
        slots: &[u8],
        order: &[(u16, usize)],
    ) -> Result<(), reed_solomon_simd::Error> {
        let s = g.symbol_len();
        let slot_len = TAG_LEN + s;
        let work_count = (k.next_power_of_two() + recovery_count).next_power_of_two();
        let stripe = (DECODE_WORK_BYTES / work_count / 64 * 64).clamp(64, s.next_multiple_of(64));
        self.rebuilt.clear();
        self.rebuilt.resize(self.missing.len() * s, 0);
        let mut start = 0;
        while start < s {
            let len = stripe.min(s - start);
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
            for &(t, i) in order {
                let bytes = &slots[i * slot_len + TAG_LEN + start..][..len];
                if t < MAX_BLOCK_PACKETS {
                    coder.add_original_shard(usize::from(t), bytes)?;
                } else {
                    coder.add_recovery_shard(usize::from(t - MAX_BLOCK_PACKETS), bytes)?;
                }
            }
            let result = coder.decode()?;
            for (m, &j) in self.missing.iter().enumerate() {
                let restored = result
                    .restored_original(j)
                    .expect("the decoder restores every missing original");
                self.rebuilt[m * s + start..][..len].copy_from_slice(restored);
            }
            start += len;
        }
        Ok(())
    }

    /// Queue the rebuilt members of block `b` as data packets.
    fn emit(&mut self, g: &Geometry, b: u64) {
        let s = g.symbol_len();
        for (m, &j) in self.missing.iter().enumerate() {
            let seq = g.member_seq(b, j);
            let len = g.data_len(seq);
            let mut payload = self.pool.pop().unwrap_or_default();
            payload.clear();
            payload.extend_from_slice(&self.rebuilt[m * s..m * s + len]);
            let header = Header {
                kind: Kind::Data,
                last: seq + 1 == g.packets,
                keyed: false,
                payload_len: len as u16,
                transfer_id: self.transfer_id,
                seq: seq as u32,
                offset: seq * g.payload_len as u64,
                total_len: Some(g.total_len),
                payload_crc: Header::crc_of(&payload),
                parity: None,
            };
            self.recovered.push_back(Recovered { header, payload });
        }
    }

    /// The next rebuilt data packet, if any.
    pub fn take_recovered(&mut self) -> Option<Recovered> {
        self.recovered.pop_front()
    }

    /// Give back a rebuilt packet's buffer.
    pub fn recycle(&mut self, payload: Vec<u8>) {
        if self.pool.len() < 64 {
            self.pool.push(payload);
        }
    }
}

/// The store, made on first use.
fn open_store(
    store: &mut Option<Box<dyn Store>>,
    open: Option<fn() -> io::Result<Box<dyn Store>>>,
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
