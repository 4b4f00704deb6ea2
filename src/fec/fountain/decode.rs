//! The receiver's half of the fountain code: every intact data packet and repair symbol of
//! a block that is not yet whole goes to the [`Store`] (a temporary file the driver gives),
//! and once a block holds as many distinct symbols as it has data packets it is decoded
//! and its missing data packets are handed back, as the parity decoder hands back its own.
//!
//! What it keeps in memory, whatever arrives: per block a count, the highest repair
//! symbol number held and a flag, one bit per data packet (which arrived intact), and
//! while decoding one block, a work space of at most [`DECODE_WORK_BYTES`] (a block whose
//! symbols lie far apart in the symbol space is decoded in stripes of its symbols' bytes,
//! which the code treats independently), the erasure locator (128 KiB, one 16-bit value
//! per field element) and two bytes per slot, one stripe of the rebuilt packets, and a
//! run of the store's bytes ([`READ_BYTES`]: the store is read in runs, not per symbol;
//! rebuilt packets are read back into the work space).
//! The crate's multiplication tables (8 MiB, once per process) come on top. Block `b` has
//! `K` slots in the store, each a 4-byte tag (member `j`, or `2^16 + r` for repair symbol
//! `r`) and the symbol, and after them one block's rebuilt packets, stripe by stripe: at
//! most `(B + 1) * K * (S + 4)` bytes, about the transfer's length.
//!
//! It does not place bytes, read packets or choose where the store lives.

use super::encode::{from_units, to_units};
use super::Geometry;
use crate::fec::Recovered;
use crate::wire::{Header, Kind};
use reed_solomon_simd::engine::{
    utils, DefaultEngine, Engine, GfElement, ShardsRefMut, GF_MODULUS, GF_ORDER,
};
use std::collections::VecDeque;
use std::io;
use std::ops::Range;

/// Most bytes of the decoder's work space: its symbols' whole index range, rounded
/// up to a power of two, times the stripe of bytes decoded at once.
pub const DECODE_WORK_BYTES: usize = 512 << 10;
/// Bytes of the store read at once: a run of a block's slots, or of its rebuilt members.
const READ_BYTES: usize = 64 << 10;
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
    /// The highest repair symbol number held, when `repair > 0`: the crate's decoder
    /// spans the symbol numbers up to it.
    max_repair: u16,
    /// Decoded, found whole, or given up: nothing more is taken.
    done: bool,
}

struct Active {
    geometry: Geometry,
    blocks: Vec<Block>,
    /// One bit per data packet: it arrived intact (and is held, or its block is done).
    arrived: Vec<u64>,
    blocks_left: u64,
    /// [`Decoder::newly_finished`] said so already.
    finish_told: bool,
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
    /// A run of a block's slots as read back, and one slot being written or moved.
    chunk: Vec<u8>,
    symbol: Vec<u8>,
    /// A block's tags while compacting it.
    order: Vec<(u32, usize)>,
    /// One stripe of the rebuilt members of a block, which members they are, and the
    /// stripe they were rebuilt in.
    rebuilt: Vec<u8>,
    missing: Vec<usize>,
    stripe: usize,
    /// Which rebuilt members are read back whole for [`Decoder::take_recovered`] (into
    /// the work space, unused between blocks).
    ready: Range<usize>,
    /// The code's arithmetic, made on the first block decoded (the crate's tables).
    engine: Option<DefaultEngine>,
    /// The block's work space, one stripe of every index of the code's transform; once
    /// the block is rebuilt, its members read back whole.
    work: Vec<[u8; 64]>,
    /// The erasure locator of the block being decoded, over the whole field.
    erasures: Vec<GfElement>,
    /// Where each of the block's slots goes in the work space (its index in the code).
    positions: Vec<u16>,
    /// Repair symbols whose block could not take them (a geometry the decoder refused).
    pub ignored: u64,
    /// Blocks whose symbols did not decode (inconsistent: a forged repair packet).
    pub undecodable: u64,
    /// Data packets of the largest geometry followed ([`MAX_PACKETS`] by default).
    max_packets: u64,
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
            chunk: Vec::new(),
            symbol: Vec::new(),
            order: Vec::new(),
            rebuilt: Vec::new(),
            missing: Vec::new(),
            stripe: 0,
            ready: 0..0,
            engine: None,
            work: Vec::new(),
            erasures: Vec::new(),
            positions: Vec::new(),
            ignored: 0,
            undecodable: 0,
            max_packets: MAX_PACKETS,
        }
    }

    /// Follow transfers of at most `packets` data packets (one bit of memory each);
    /// without this, [`MAX_PACKETS`].
    pub fn with_max_packets(mut self, packets: u64) -> Decoder {
        self.max_packets = packets;
        self
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
        if geometry.packets > self.max_packets {
            return false;
        }
        self.active = Some(Active {
            geometry,
            blocks: vec![Block::default(); geometry.blocks as usize],
            arrived: vec![0; geometry.packets.div_ceil(64) as usize],
            blocks_left: geometry.blocks,
            finish_told: false,
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

    /// The geometry, once, when every block has just been decoded or found whole: every
    /// data packet of it arrived intact or was rebuilt (and handed out).
    pub fn newly_finished(&mut self) -> Option<Geometry> {
        let a = self.active.as_mut()?;
        if a.blocks_left > 0 || a.finish_told || !self.pending.is_empty() {
            return None;
        }
        a.finish_told = true;
        Some(a.geometry)
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
        if let Some(r) = tag.checked_sub(REPAIR_TAG) {
            block.max_repair = if block.repair == 0 {
                r as u16
            } else {
                block.max_repair.max(r as u16)
            };
            block.repair += 1;
        }
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

    /// Block `b` holds `K_b` symbols: rebuild its missing data packets into the store's
    /// rebuilt area, for [`Decoder::take_recovered`]; if some symbols repeat, keep one of
    /// each and wait for more.
    fn decode(&mut self, b: u64) -> Result<(), DecodeError> {
        let a = self.active.as_ref().expect("decoding only while active");
        let g = a.geometry;
        let k = g.block_len(b);
        // The members that did not arrive: data packets are kept once each, so the other
        // slots hold repair symbols, as many as are missing unless some repeat.
        self.missing.clear();
        self.missing
            .extend((0..k).filter(|&j| !bit(&a.arrived, g.member_seq(b, j))));
        let recovery_count = usize::from(a.blocks[b as usize].max_repair) + 1;
        self.ready = 0..0;
        match self.rebuild(&g, b, k, recovery_count) {
            Ok(true) => {
                self.pending.extend(
                    self.missing
                        .iter()
                        .enumerate()
                        .map(|(m, &j)| (m, g.member_seq(b, j))),
                );
            }
            // A repeated symbol: fewer than K_b distinct ones.
            Ok(false) => return self.compact(b),
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

    /// Block `b`'s slots hold a symbol more than once (a duplicating channel, or a sender
    /// past its symbol space): keep the first of each, moved to the front in their order,
    /// and wait for more. Rare, so read slot by slot.
    fn compact(&mut self, b: u64) -> Result<(), DecodeError> {
        let a = self.active.as_ref().expect("compacting only while active");
        let g = a.geometry;
        let slot_len = TAG_LEN + g.symbol_len();
        let held = usize::from(a.blocks[b as usize].held);
        let store = open_store(&mut self.store, self.open_store)?;
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        for i in 0..held {
            let mut tag = [0; TAG_LEN];
            store.read_at(slot_pos(&g, b, i), &mut tag)?;
            order.push((u32::from_be_bytes(tag), i));
        }
        order.sort_unstable();
        order.dedup_by_key(|(t, _)| *t);
        order.sort_unstable_by_key(|&(_, i)| i);
        let mut slot = std::mem::take(&mut self.symbol);
        slot.resize(slot_len, 0);
        for (to, &(_, from)) in order.iter().enumerate() {
            if to != from {
                store.read_at(slot_pos(&g, b, from), &mut slot)?;
                store.write_at(slot_pos(&g, b, to), &slot)?;
            }
        }
        self.symbol = slot;
        let repair = order.iter().filter(|(t, _)| *t >= REPAIR_TAG).count();
        let max_repair = order
            .iter()
            .map(|(t, _)| t.saturating_sub(REPAIR_TAG))
            .max()
            .unwrap_or(0);
        let block = &mut self.active.as_mut().expect("still active").blocks[b as usize];
        block.held = order.len() as u16;
        block.repair = repair as u16;
        block.max_repair = max_repair as u16;
        self.order = order;
        Ok(())
    }

    /// Rebuild block `b`'s `missing` members into the rebuilt area from its `k` slots,
    /// stripe by stripe of their bytes, so the work space stays within
    /// [`DECODE_WORK_BYTES`]; each stripe reads the block's slots in runs of
    /// [`READ_BYTES`] and writes its rebuilt bytes at once. False when a symbol repeats.
    ///
    /// This is reed-solomon-simd's low-rate decoder (`rate::LowRateDecoder::decode`)
    /// spelled out over its engine, so that the erasure locator, a transform over every
    /// element of the field that depends only on which symbols arrived, is evaluated
    /// once per block rather than once per stripe (it was most of the decoding time).
    fn rebuild(
        &mut self,
        g: &Geometry,
        b: u64,
        k: usize,
        recovery_count: usize,
    ) -> Result<bool, RebuildError> {
        let s = g.symbol_len();
        let slot_len = TAG_LEN + s;
        let k2 = k.next_power_of_two();
        let recovery_end = k2 + recovery_count;
        if recovery_end > GF_ORDER {
            return Err(RebuildError::Code);
        }
        let work_count = recovery_end.next_power_of_two();
        let stripe = stripe_len(s, k, recovery_count);
        let run = (READ_BYTES / slot_len).max(1);
        self.chunk.resize(run.min(k) * slot_len, 0);
        let engine = self.engine.get_or_insert_with(DefaultEngine::new);
        let store = open_store(&mut self.store, self.open_store)?;
        let area = rebuilt_area(g);
        let missing = self.missing.len();
        // 1 where the code has no symbol: missing data, repair symbols not held, and the
        // indices past the last one held; the zero padding of the data is known.
        self.erasures.clear();
        self.erasures.resize(GF_ORDER, 1);
        self.erasures[k..k2].fill(0);
        self.positions.clear();
        let mut start = 0;
        while start < s {
            let len = stripe.min(s - start);
            let units = len.div_ceil(64);
            self.work.clear();
            self.work.resize(work_count * units, [0; 64]);
            let mut i = 0;
            while i < k {
                let n = run.min(k - i);
                let chunk = &mut self.chunk[..n * slot_len];
                store.read_at(slot_pos(g, b, i), chunk)?;
                for (at, slot) in chunk.chunks_exact(slot_len).enumerate() {
                    let p = if start == 0 {
                        let tag = u32::from_be_bytes(slot[..TAG_LEN].try_into().expect("a tag"));
                        let p = match tag.checked_sub(REPAIR_TAG) {
                            None => tag as usize,
                            Some(r) => k2 + r as usize,
                        };
                        if p >= recovery_end || (p >= k && p < k2) {
                            return Err(RebuildError::Code);
                        }
                        if self.erasures[p] == 0 {
                            return Ok(false);
                        }
                        self.erasures[p] = 0;
                        self.positions.push(p as u16);
                        p
                    } else {
                        usize::from(self.positions[i + at])
                    };
                    let bytes = &slot[TAG_LEN + start..TAG_LEN + start + len];
                    to_units(bytes, &mut self.work[p * units..(p + 1) * units]);
                }
                i += n;
            }
            if start == 0 {
                let erasures: &mut [GfElement; GF_ORDER] = (&mut self.erasures[..])
                    .try_into()
                    .expect("the field's size");
                DefaultEngine::eval_poly(erasures, GF_ORDER);
            }
            for &p in &self.positions {
                let p = usize::from(p);
                engine.mul(&mut self.work[p * units..(p + 1) * units], self.erasures[p]);
            }
            let mut work = ShardsRefMut::new(work_count, units, &mut self.work);
            engine.ifft(&mut work, 0, work_count, recovery_end, 0);
            formal_derivative(&mut work);
            // Only the data's indices are read back: the transform past them is skipped.
            engine.fft(&mut work, 0, work_count, k, 0);
            self.rebuilt.resize(missing * len, 0);
            for (m, &j) in self.missing.iter().enumerate() {
                let unit = &mut self.work[j * units..(j + 1) * units];
                engine.mul(unit, GF_MODULUS - self.erasures[j]);
                from_units(unit, &mut self.rebuilt[m * len..(m + 1) * len]);
            }
            // Stripe-major: this stripe of every rebuilt member, back to back.
            store.write_at(area + (start * missing) as u64, &self.rebuilt)?;
            start += len;
        }
        self.stripe = stripe;
        Ok(true)
    }

    /// The next rebuilt data packet, if any. Take them all before giving the decoder
    /// the next packet: the next block rebuilt reuses their place.
    pub fn take_recovered(&mut self) -> Result<Option<Recovered>, DecodeError> {
        let Some(&(m, seq)) = self.pending.front() else {
            return Ok(None);
        };
        let g = self
            .active
            .as_ref()
            .expect("rebuilt packets only while active")
            .geometry;
        let s = g.symbol_len();
        if !self.ready.contains(&m) {
            self.read_rebuilt(&g, m)?;
        }
        self.pending.pop_front();
        let len = g.data_len(seq);
        let mut payload = self.pool.pop().unwrap_or_default();
        payload.clear();
        let at = (m - self.ready.start) * s;
        payload.extend_from_slice(&self.work.as_flattened()[at..at + len]);
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

    /// Read rebuilt members `m..` (as many as [`READ_BYTES`] hold) back whole into
    /// the work space: one read per stripe.
    fn read_rebuilt(&mut self, g: &Geometry, m: usize) -> Result<(), DecodeError> {
        let s = g.symbol_len();
        let total = self.missing.len();
        let n = (READ_BYTES / s).clamp(1, total - m);
        let store = open_store(&mut self.store, self.open_store)?;
        let area = rebuilt_area(g);
        if self.work.len() * 64 < n * s {
            self.work.resize((n * s).div_ceil(64), [0; 64]);
        }
        let taken = &mut self.work.as_flattened_mut()[..n * s];
        let mut start = 0;
        while start < s {
            let len = self.stripe.min(s - start);
            self.chunk.resize(n * len, 0);
            store.read_at(
                area + (start * total + m * len) as u64,
                &mut self.chunk[..n * len],
            )?;
            for (i, part) in self.chunk[..n * len].chunks_exact(len).enumerate() {
                taken[i * s + start..i * s + start + len].copy_from_slice(part);
            }
            start += len;
        }
        self.ready = m..m + n;
        Ok(())
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
    /// Symbols the code cannot place (a repair number past the code's field).
    Code,
}

impl From<io::Error> for RebuildError {
    fn from(e: io::Error) -> Self {
        RebuildError::Io(e)
    }
}

/// The formal derivative of the transform in `data`, as the crate computes it (its own
/// function is not public).
fn formal_derivative(data: &mut ShardsRefMut) {
    for i in 1..data.len() {
        let width = 1 << i.trailing_zeros();
        utils::xor_within(data, i - width, i, width);
    }
}

/// The bytes of a symbol decoded at once for a block of `k` data packets whose repair
/// symbols are numbered below `recovery_count`: the crate's work space spans their whole
/// index range, so the wider that range, the narrower the stripe.
pub(super) fn stripe_len(symbol_len: usize, k: usize, recovery_count: usize) -> usize {
    let work_count = (k.next_power_of_two() + recovery_count).next_power_of_two();
    (DECODE_WORK_BYTES / work_count / 64 * 64).clamp(64, symbol_len.next_multiple_of(64))
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
