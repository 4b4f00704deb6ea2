//! The receiver's half of the code: keeps recent intact data payloads (a ring of about
//! [`RING_BYTES`]) and the parity of groups still in flight, and hands back the data
//! packets it rebuilds. It does not place bytes; `reassemble` does, and asks it for them.
//!
//! A payload that lies in the input buffer the driver lends ([`Decoder::lend`]) is kept as
//! its place there, not copied; when the buffer is about to change, the payloads that may
//! still be needed (those of groups that lack data packets and have not been dealt with)
//! are copied. From a mapped file, whose buffer is the whole input, nothing is copied.
//!
//! Whatever arrives, its memory is bounded: the ring (at most [`Budget::ring_slots`] slots and
//! [`Budget::ring_bytes`] of payload, however small the payloads a descriptor announces,
//! never a payload longer than the shard it would belong to), at most
//! [`Decoder::max_groups`] groups of parity and [`Budget::parity_bytes`] of their shards
//! (the oldest group is given up first), at most K' parity shards per group (no more can
//! help), none longer than the transfer's shard, and a small pool of buffers. The ring
//! grows, never shrinks, within a transfer, a power of two slots at a time: parity naming
//! another scheme again and again cannot make it rebuild its ring each time. A rebuilt packet is emitted only for a
//! slot of the group whose data packet did not arrive intact, and only when the parity's
//! geometry agrees with what the data packets said (payload size, offsets, lengths), so
//! parity that disagrees with the data it claims to cover rebuilds nothing.

use super::encode::payload_len_u16;
use super::scheme::{shard_len, Scheme, MAX_GROUP_PACKETS};
use super::solve::Solver;
use crate::io::LentInput;
use crate::wire::{Header, Kind, ParityInfo};
use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;

/// Bytes of recent data payloads the receiver keeps for rebuilding, once it knows the
/// stream carries parity: several groups, plus room for reordering within them (and
/// never less than two groups). Half a MiB keeps a rebuilding receiver far under 16 MiB.
pub const RING_BYTES: usize = 512 << 10;
/// Before the first parity packet, the receiver cannot know whether the stream has any; it
/// keeps about this many bytes of the first payloads, then stops copying until parity shows.
const PROBE_BYTES: usize = 1 << 20;
/// Most data packets kept before the first parity: two of the largest groups.
const PROBE_PACKETS: usize = 2 * MAX_GROUP_PACKETS;
/// The most payload bytes the ring grows to for an interleaving span
/// ([`Decoder::hold_span`]) by default: `pktize --interleave`'s default span.
pub const RING_MAX_BYTES: usize = 8 << 20;
/// The most slots the ring has, whatever the payload size: a slot costs about 64 bytes
/// even for a one-byte payload (issue 35.8: 64 MiB of one-byte slots was 1.8 GB).
pub const RING_MAX_SLOTS: usize = 1 << 16;
/// The most parity shard bytes held, by default, over all groups in flight.
pub const PARITY_MAX_BYTES: usize = 2 << 20;
/// The most groups whose parity is held at once, whatever the ring holds.
pub const MAX_GROUPS: usize = 8192;

/// What the decoder may hold, in bytes (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Payloads kept for rebuilding: the ring never has more slots than this many bytes
    /// of shards fill.
    pub ring_bytes: usize,
    /// Parity shards held, over all groups.
    pub parity_bytes: usize,
    /// Slots of the ring at most, whatever the payload size ([`RING_MAX_SLOTS`]).
    pub ring_slots: usize,
    /// Groups whose parity is held at once at most (8192 by default).
    pub groups: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            ring_bytes: RING_MAX_BYTES,
            parity_bytes: PARITY_MAX_BYTES,
            ring_slots: RING_MAX_SLOTS,
            groups: MAX_GROUPS,
        }
    }
}
/// Payload buffers kept for reuse.
const POOL_BUFFERS: usize = 64;

/// A data packet the decoder rebuilt: a header as the sender would have made it (without
/// the total length) and its payload.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub header: Header,
    pub payload: Vec<u8>,
}

/// Whether the stream is known to carry parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No parity seen yet: keep the first payloads in case it comes.
    Probing,
    /// Parity seen: keep recent payloads and rebuild groups.
    Active(Scheme),
    /// No parity within the probe: copy nothing (until a parity packet shows up).
    Off,
}

/// A received intact data payload: where it lies in the lent input, or a copy.
#[derive(Default)]
struct Slot {
    seq: u32,
    valid: bool,
    /// The payload's place in the lent input; `None` when `data` holds a copy.
    lent: Option<Range<usize>>,
    /// Its bytes were dropped with a lent buffer, as no rebuild was expected to need them:
    /// the packet still counts as arrived.
    gone: bool,
    data: Vec<u8>,
}

/// A group whose parity has started to arrive.
struct Group {
    /// The group fields of its first parity packet (`parity_index` aside); later parity
    /// that says otherwise is ignored.
    info: ParityInfo,
    offset: u64,
    last: bool,
    shard_len: usize,
    parity: Vec<Option<Vec<u8>>>,
    /// Parity shards held: at most K', as no more can help.
    held: usize,
    /// The payload CRC of the parity packet taken for each index: a second, different
    /// packet for one index is a conflict.
    crcs: Vec<Option<u32>>,
    /// The group's last parity packet arrived: in sending order, nothing more will.
    closed: bool,
    /// Rebuilt, or found whole, or found inconsistent: remembered so later parity is
    /// ignored.
    done: bool,
}

impl Group {
    /// The same group as described by `info`, `offset`, `last` and a shard of `len`.
    fn agrees(&self, info: &ParityInfo, offset: u64, last: bool, len: usize) -> bool {
        let ours = ParityInfo {
            parity_index: info.parity_index,
            ..self.info
        };
        ours == *info && self.offset == offset && self.last == last && self.shard_len == len
    }
}

/// What a parity packet was to the decoder, for the reassembler's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParityTaken {
    /// Taken, or not needed (its group needs no rebuild, or is out of reach).
    Used,
    /// Another parity packet for the same slot (group and index) came first with other
    /// bytes or another geometry: one of the two is not the sender's. A group not yet
    /// rebuilt is then never rebuilt; one rebuilt already may hold wrong bytes.
    Conflict,
}

/// The receiver's half, for the transfer being followed. Feed it every data packet
/// ([`Decoder::data`]) and every parity packet ([`Decoder::parity`]) of that transfer; take
/// what it rebuilt with [`Decoder::take_recovered`].
///
/// A group is rebuilt once it has K' intact packets, some of its data is missing, and no
/// more of it is expected in sending order (its last parity packet, or a packet of a later
/// group, arrived; or [`Decoder::flush`]). Waiting that long means a packet that was only
/// reordered is not rebuilt for nothing.
pub struct Decoder {
    mode: Mode,
    solver: Solver,
    /// Data packets from this seq on are copied; earlier groups cannot be rebuilt.
    copy_from: u32,
    /// The sender's interleaving span, in data packets, when it announced one.
    span: usize,
    first_seq: Option<u32>,
    newest_seq: u32,
    newest_group: Option<u32>,
    /// The data payload size P, from an intact data packet without LAST.
    data_len: Option<u16>,
    ring: Vec<Slot>,
    /// The shard length the ring was sized for.
    ring_shard_len: usize,
    groups: BTreeMap<u32, Group>,
    recovered: VecDeque<Recovered>,
    transfer_id: u16,
    pool: Vec<Vec<u8>>,
    /// Kept payloads zero-padded to their shard length.
    scratch: Vec<u8>,
    /// The shards a rebuild produced, back to back.
    rebuilt: Vec<u8>,
    /// The input buffer that lent payloads lie in (see [`Decoder::lend`]).
    lent: Option<LentInput>,
    budget: Budget,
    /// Bytes of the parity shards held in `groups`.
    parity_held: usize,
    /// Bytes of the ring's copies (their buffers' capacity).
    ring_held: usize,
    /// The shard length the transfer's descriptor announced: parity shards are never
    /// longer.
    shard_cap: Option<usize>,
}

/// Copy `payload` into `buf` if the ring's copies stay within `budget` bytes, keeping
/// `held` (the copies' capacity) up to date; false when it would not fit (`buf` is then
/// emptied and its capacity kept only if that fits too).
fn copy_within(buf: &mut Vec<u8>, payload: &[u8], held: &mut usize, budget: usize) -> bool {
    buf.clear();
    let others = *held - buf.capacity();
    if others + payload.len().max(buf.capacity()) > budget {
        if others + buf.capacity() > budget {
            *buf = Vec::new();
        }
        *held = others + buf.capacity();
        return false;
    }
    buf.extend_from_slice(payload);
    *held = others + buf.capacity();
    true
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Decoder {
            mode: Mode::Probing,
            solver: Solver::default(),
            copy_from: 0,
            span: 0,
            first_seq: None,
            newest_seq: 0,
            newest_group: None,
            data_len: None,
            ring: Vec::new(),
            ring_shard_len: 0,
            groups: BTreeMap::new(),
            recovered: VecDeque::new(),
            transfer_id: 0,
            pool: Vec::new(),
            scratch: Vec::new(),
            rebuilt: Vec::new(),
            lent: None,
            budget: Budget::default(),
            parity_held: 0,
            ring_held: 0,
            shard_cap: None,
        }
    }

    /// Hold at most this much (see [`Budget`]); kept across [`Decoder::reset`].
    pub fn set_budget(&mut self, budget: Budget) {
        self.budget = budget;
    }

    /// Forget everything: a new transfer starts.
    pub fn reset(&mut self, transfer_id: u16) {
        let pool = std::mem::take(&mut self.pool);
        let solver = std::mem::take(&mut self.solver);
        let lent = self.lent.take();
        let budget = self.budget;
        *self = Decoder {
            transfer_id,
            pool,
            solver,
            lent,
            budget,
            ..Decoder::new()
        };
    }

    /// True while a damaged data payload may still be rebuilt, so it is worth holding back.
    pub fn may_rebuild(&self) -> bool {
        self.mode != Mode::Off
    }

    /// The reorder window, in packets, that lets a group be rebuilt before the reassembler
    /// gives up on its gaps: two groups and their parity.
    pub fn min_window(&self) -> usize {
        match self.mode {
            Mode::Active(s) => 2 * s.k() + s.m(),
            _ => 0,
        }
    }

    /// The sender interleaves spans of `packets` data packets (its descriptor says so):
    /// keep enough payloads to rebuild groups whose packets arrive that far apart, up to
    /// [`RING_MAX_BYTES`]. Call it before the transfer's packets, or whenever it is learnt.
    pub fn hold_span(&mut self, packets: usize) {
        self.span = packets;
        if let Mode::Active(s) = self.mode {
            let shard_len = self.ring_shard_len;
            self.activate(s, shard_len);
        }
    }

    /// The transfer's descriptor says it carries parity of `scheme` over data payloads of
    /// `payload_len` bytes: keep payloads from now on as if parity had been seen, so groups
    /// whose parity comes long after their data (an interleaved sender) can be rebuilt.
    pub fn expect(&mut self, scheme: Scheme, payload_len: usize) {
        self.shard_cap = Some(super::scheme::shard_len(payload_len));
        match self.mode {
            Mode::Active(s) if s == scheme => {}
            Mode::Probing => self.activate(scheme, super::scheme::shard_len(payload_len)),
            Mode::Active(_) | Mode::Off => {
                self.drop_groups(..);
                self.copy_from = self.newest_seq.wrapping_add(1);
                self.activate(scheme, super::scheme::shard_len(payload_len));
            }
        }
    }

    /// The most groups whose parity is held at once: those whose data the ring can hold,
    /// and two more, at most [`Budget::groups`] (8192). When another arrives, the oldest is rebuilt if it can
    /// be, else given up.
    pub fn max_groups(&self) -> usize {
        match self.mode {
            Mode::Active(s) => (self.ring.len().div_ceil(s.k()) + 2).min(self.budget.groups.max(1)),
            _ => 0,
        }
    }

    /// The input buffer that payloads given with their place (`input_pos`) lie in, until
    /// the next call; `None` takes it back. Kept payloads that may still be needed are
    /// copied out of the buffer being given up.
    pub fn lend(&mut self, input: Option<LentInput>) {
        if let Some(old) = self.lent.take() {
            let buf: &[u8] = (*old).as_ref();
            let mut ring = std::mem::take(&mut self.ring);
            for slot in ring.iter_mut().filter(|s| s.lent.is_some()) {
                let range = slot.lent.take().expect("filtered");
                let budget = self.budget.ring_bytes;
                slot.gone = !(slot.valid
                    && self.may_need(slot.seq)
                    && copy_within(&mut slot.data, &buf[range], &mut self.ring_held, budget));
            }
            self.ring = ring;
        }
        self.lent = input;
    }

    /// The earliest place in the lent input that a kept payload refers to: the input before
    /// it may be released.
    pub fn oldest_lent(&self) -> Option<usize> {
        self.ring
            .iter()
            .filter(|s| s.valid)
            .filter_map(|s| s.lent.as_ref().map(|r| r.start))
            .min()
    }

    /// Whether the kept payload `seq` may still serve a rebuild: its group lacks some of
    /// its K data packets (a whole group needs no rebuild, whatever its parity does) and
    /// has not been dealt with. A short last group counts as lacking: kept.
    fn may_need(&self, seq: u32) -> bool {
        let Mode::Active(s) = self.mode else {
            return self.mode == Mode::Probing;
        };
        let group = seq / u32::from(s.data);
        !self.groups.get(&group).is_some_and(|g| g.done)
            && !self.data_whole(group * u32::from(s.data), s.data)
    }

    /// A data packet of the followed transfer arrived (`intact` when its payload matched),
    /// lying at `input_pos` in the lent input when it is known to.
    pub fn data(
        &mut self,
        header: &Header,
        payload: &[u8],
        intact: bool,
        input_pos: Option<usize>,
    ) {
        let seq = header.seq;
        let first = *self.first_seq.get_or_insert(seq);
        self.newest_seq = self.newest_seq.max(seq);
        if intact && !header.last && self.data_len.is_none() {
            self.data_len = Some(header.payload_len);
        }
        match self.mode {
            Mode::Off => return,
            Mode::Probing => {
                if self.ring.is_empty() {
                    let slots = (PROBE_BYTES / payload.len().max(1)).clamp(8, PROBE_PACKETS);
                    self.resize_ring(slots);
                }
                if seq.saturating_sub(first) as usize >= self.ring.len() {
                    self.stop_probing();
                    return;
                }
            }
            Mode::Active(_) => {}
        }
        if intact && seq >= self.copy_from {
            let n = self.ring.len();
            let budget = self.budget.ring_bytes;
            let slot = &mut self.ring[seq as usize % n];
            slot.seq = seq;
            slot.valid = true;
            slot.gone = false;
            slot.lent = crate::io::lent_place(self.lent.as_ref(), input_pos, payload)
                .map(|pos| pos..pos + payload.len());
            if slot.lent.is_none() {
                slot.gone = !copy_within(&mut slot.data, payload, &mut self.ring_held, budget);
            }
        }
        if let Mode::Active(s) = self.mode {
            let group = seq / u32::from(s.data);
            if self.groups.contains_key(&group) {
                self.try_rebuild(group, false);
            }
            self.saw_group(group);
        }
    }

    /// A parity packet of the followed transfer arrived. A conflict with a parity packet
    /// taken before for its slot is said (see [`ParityTaken`]): never silently dropped.
    pub fn parity(&mut self, header: &Header, payload: &[u8], intact: bool) -> ParityTaken {
        let Some(info) = header.parity else {
            return ParityTaken::Used;
        };
        if !intact || header.kind != Kind::Parity {
            return ParityTaken::Used;
        }
        if let Some(g) = self.groups.get(&header.seq) {
            let other_geometry = !g.agrees(&info, header.offset, header.last, payload.len());
            let other_bytes = g
                .crcs
                .get(usize::from(info.parity_index))
                .copied()
                .flatten()
                .is_some_and(|crc| crc != header.payload_crc);
            if other_geometry || other_bytes {
                // Which of the two is the sender's cannot be told: rebuild nothing more
                // from this group.
                self.finish_group(header.seq);
                return ParityTaken::Conflict;
            }
        }
        self.take_parity(header, info, payload);
        ParityTaken::Used
    }

    fn take_parity(&mut self, header: &Header, info: ParityInfo, payload: &[u8]) {
        let scheme = match Scheme::new(info.group_size.into(), info.parity_count.into()) {
            Ok(s) => s,
            Err(_) => return, // a group this code cannot describe: nothing to rebuild
        };
        match self.mode {
            Mode::Active(s) if s == scheme => {}
            Mode::Active(_) | Mode::Off => {
                // Parity after a stretch without (or with another scheme): groups from the
                // next data packet on can be rebuilt.
                self.drop_groups(..);
                self.copy_from = self.newest_seq.wrapping_add(1);
                self.activate(scheme, payload.len());
            }
            Mode::Probing => self.activate(scheme, payload.len()),
        }
        let group = header.seq;
        let k = u32::from(info.group_size);
        let Some(first_seq) = group.checked_mul(k) else {
            return;
        };
        if first_seq < self.copy_from || first_seq < self.ring_start() {
            return; // its data is not (or no longer) kept
        }
        if first_seq.saturating_sub(self.newest_seq) > self.ring.len() as u32 {
            // Further ahead of the newest data than the ring reaches: not this stream's.
            // (A group just after the newest data is usual: one whose data were all lost,
            // a one-packet last group or K <= M, is rebuilt from its parity alone.)
            return;
        }
        let cap = self
            .shard_cap
            .or(self.data_len.map(|p| shard_len(usize::from(p))));
        if !self.geometry_holds(header, first_seq) || cap.is_some_and(|c| payload.len() > c) {
            // A shard longer than the transfer's (issue 35.2: forged 65000-byte parity
            // over 1-byte payloads) is no parity of it.
            return;
        }
        if !self.groups.contains_key(&group) && self.data_whole(first_seq, info.group_len) {
            // The usual case: nothing to rebuild, nothing to remember.
            self.saw_group(group);
            return;
        }
        if !self.groups.contains_key(&group) {
            self.make_room(group);
            let m = usize::from(info.parity_count);
            self.groups.insert(
                group,
                Group {
                    info: ParityInfo {
                        parity_index: 0,
                        ..info
                    },
                    offset: header.offset,
                    last: header.last,
                    shard_len: payload.len(),
                    parity: (0..m).map(|_| None).collect(),
                    held: 0,
                    crcs: vec![None; m],
                    closed: false,
                    done: false,
                },
            );
        }
        let entry = self.groups.get(&group).expect("present or inserted above");
        if entry.done || !entry.agrees(&info, header.offset, header.last, payload.len()) {
            return;
        }
        let index = usize::from(info.parity_index);
        let wanted = entry.parity[index].is_none() && entry.held < usize::from(info.group_len);
        if wanted && !self.room_for_parity(group, payload.len()) {
            return;
        }
        if wanted {
            self.parity_held += payload.len();
            let mut copy = self.pool.pop().unwrap_or_default();
            copy.clear();
            copy.extend_from_slice(payload);
            let entry = self.groups.get_mut(&group).expect("present above");
            entry.parity[index] = Some(copy);
            entry.held += 1;
        }
        let entry = self.groups.get_mut(&group).expect("present above");
        entry.crcs[index].get_or_insert(header.payload_crc);
        let entry = self.groups.get_mut(&group).expect("present above");
        entry.closed |= info.parity_index + 1 == info.parity_count;
        self.try_rebuild(group, false);
        // Parity of group g follows all of g's data: earlier groups are over.
        self.saw_group(group);
    }

    /// The input ended, or the transfer did, or a live gap waited long enough: rebuild every
    /// group that can be, without waiting for more of it.
    pub fn flush(&mut self) {
        let groups: Vec<u32> = self.groups.keys().copied().collect();
        for g in groups {
            self.try_rebuild(g, true);
        }
    }

    /// Packets rebuilt since the last call, in group order. Give the payloads back with
    /// [`Decoder::recycle`].
    pub fn take_recovered(&mut self) -> Option<Recovered> {
        self.recovered.pop_front()
    }

    /// Return a payload buffer for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < POOL_BUFFERS {
            self.pool.push(buf);
        }
    }

    /// Parity showed: keep enough payloads of `shard_len` bytes for two groups and their
    /// parity at least, about [`RING_BYTES`] when that is more, a span's worth for an
    /// interleaved sender within the budget. The ring only grows (to a power of two), so
    /// that a change of scheme does not rebuild it each time.
    fn activate(&mut self, scheme: Scheme, shard_len: usize) {
        self.mode = Mode::Active(scheme);
        self.ring_shard_len = shard_len;
        let least = 2 * scheme.k() + scheme.m();
        let slots = (RING_BYTES / shard_len.max(1)).clamp(least, least.max(4096));
        let most = (self.budget.ring_bytes / shard_len.max(1))
            .clamp(least, self.budget.ring_slots.max(least));
        let slots = slots.max((self.span + least).min(most));
        if slots > self.ring.len() {
            self.resize_ring(slots.next_power_of_two().min(most.max(least)).max(slots));
        }
    }

    /// Whether a parity shard of `len` bytes for `group` may be held: the oldest other
    /// groups are given up (rebuilt first if they can be) until it fits the budget.
    fn room_for_parity(&mut self, group: u32, len: usize) -> bool {
        while self.parity_held + len > self.budget.parity_bytes {
            let Some((&oldest, _)) = self.groups.iter().find(|(&g, _)| g != group) else {
                return false;
            };
            self.try_rebuild(oldest, true);
            self.drop_groups(oldest..=oldest);
        }
        true
    }

    /// The parity header agrees with the format's geometry and with the data packets seen:
    /// the group starts at `first_seq * P`, P is the transfer's payload size, and a group
    /// that does not end the transfer ends with a whole payload.
    fn geometry_holds(&self, header: &Header, first_seq: u32) -> bool {
        let Some(info) = header.parity else {
            return false;
        };
        if info.group_len == 1 {
            // A one-packet group is coded at its packet's own length: a transfer's last
            // group, or every group of K = 1.
            let p = info.last_len;
            return usize::from(header.payload_len) == shard_len(usize::from(p))
                && (header.payload_len > 0 || (header.last && first_seq == 0))
                && (header.last
                    || (self.data_len.is_none_or(|known| known == p)
                        && u64::from(first_seq) * u64::from(p) == header.offset));
        }
        let p = info.data_len(header.payload_len);
        p > 0
            && self.data_len.is_none_or(|known| known == p)
            && u64::from(first_seq) * u64::from(p) == header.offset
            && (header.last || info.last_len == p)
    }

    /// Before a new group is held: if `max_groups` are, give up the oldest (rebuilding it
    /// first if it can be).
    fn make_room(&mut self, group: u32) {
        while self.groups.len() >= self.max_groups() {
            let Some((&oldest, _)) = self.groups.first_key_value() else {
                return;
            };
            if oldest > group {
                // The new group is older than all held: hold it anyway, drop the newest.
                let newest = *self.groups.last_key_value().expect("not empty").0;
                self.drop_groups(newest..=newest);
                continue;
            }
            self.try_rebuild(oldest, true);
            self.drop_groups(oldest..=oldest);
        }
    }

    /// Forget the groups in `range`, keeping their buffers.
    fn drop_groups(&mut self, range: impl std::ops::RangeBounds<u32>) {
        let keys: Vec<u32> = self.groups.range(range).map(|(&g, _)| g).collect();
        for g in keys {
            if let Some(group) = self.groups.remove(&g) {
                for buf in group.parity.into_iter().flatten() {
                    self.parity_held -= buf.len();
                    self.recycle(buf);
                }
            }
        }
    }

    /// The oldest seq the ring can still hold.
    fn ring_start(&self) -> u32 {
        let slots = (self.ring.len() as u32).saturating_sub(1);
        self.newest_seq.saturating_sub(slots)
    }

    fn stop_probing(&mut self) {
        self.mode = Mode::Off;
        self.ring_held = 0;
        for slot in std::mem::take(&mut self.ring) {
            if slot.data.capacity() > 0 {
                self.recycle(slot.data);
            }
        }
        self.pool.truncate(16);
    }

    /// Change the ring's size, keeping the copies it can still index.
    fn resize_ring(&mut self, slots: usize) {
        let old = std::mem::take(&mut self.ring);
        self.ring = (0..slots).map(|_| Slot::default()).collect();
        for slot in old.into_iter().filter(|s| s.valid) {
            let at = slot.seq as usize % slots;
            if !self.ring[at].valid || self.ring[at].seq < slot.seq {
                self.ring[at] = slot;
            }
        }
        self.ring_held = self.ring.iter().map(|s| s.data.capacity()).sum();
    }

    /// The intact copy of data packet `seq`, if kept.
    fn kept(&self, seq: u32) -> Option<&[u8]> {
        let slot = self.slot(seq)?;
        if slot.gone {
            return None;
        }
        match &slot.lent {
            Some(range) => Some(&(**self.lent.as_ref()?).as_ref()[range.clone()]),
            None => Some(&slot.data[..]),
        }
    }

    /// The slot of data packet `seq`, if it arrived intact and is remembered.
    fn slot(&self, seq: u32) -> Option<&Slot> {
        if self.ring.is_empty() || seq < self.copy_from {
            return None;
        }
        let slot = &self.ring[seq as usize % self.ring.len()];
        (slot.valid && slot.seq == seq).then_some(slot)
    }

    /// Data packet `seq` arrived intact (its bytes may be gone since, see [`Slot::gone`]).
    fn arrived(&self, seq: u32) -> bool {
        self.slot(seq).is_some()
    }

    /// Every data packet of the group starting at `first` arrived intact.
    fn data_whole(&self, first: u32, group_len: u8) -> bool {
        (0..u32::from(group_len)).all(|j| self.arrived(first.wrapping_add(j)))
    }

    /// A packet of group `group` arrived: earlier groups are over in sending order. Groups
    /// whose data has left the ring are dropped.
    fn saw_group(&mut self, group: u32) {
        if self.newest_group.is_some_and(|n| n >= group) {
            return;
        }
        self.newest_group = Some(group);
        let earlier: Vec<u32> = self.groups.range(..group).map(|(&g, _)| g).collect();
        for g in earlier {
            self.try_rebuild(g, true);
        }
        let ring_start = self.ring_start();
        let mut over = vec![];
        for (&key, g) in &self.groups {
            let end = key
                .wrapping_mul(u32::from(g.info.group_size))
                .wrapping_add(u32::from(g.info.group_len));
            let gone = end <= ring_start;
            if gone || (g.done && key < group) {
                over.push(key);
            } else {
                break;
            }
        }
        for key in over {
            self.drop_groups(key..=key);
        }
    }

    /// Rebuild `group` if it can be and should be now (`over`: no more of it is expected).
    fn try_rebuild(&mut self, group: u32, over: bool) {
        let Some(g) = self.groups.get(&group) else {
            return;
        };
        if g.done {
            return;
        }
        let first = group.wrapping_mul(u32::from(g.info.group_size));
        let k_prime = usize::from(g.info.group_len);
        let missing: Vec<usize> = (0..k_prime)
            .filter(|&j| !self.arrived(first.wrapping_add(j as u32)))
            .collect();
        if missing.is_empty() {
            self.finish_group(group);
            return;
        }
        if g.held < missing.len() || !(over || g.closed) {
            return;
        }
        self.rebuild(group, &missing);
        self.finish_group(group);
    }

    fn finish_group(&mut self, group: u32) {
        let mut freed = vec![];
        if let Some(g) = self.groups.get_mut(&group) {
            g.done = true;
            g.held = 0;
            freed.extend(g.parity.iter_mut().filter_map(Option::take));
        }
        for buf in freed {
            self.parity_held -= buf.len();
            self.recycle(buf);
        }
    }

    /// Decode the group's missing data shards and queue them as packets, if the data kept
    /// agrees with the group's geometry.
    fn rebuild(&mut self, group: u32, missing: &[usize]) {
        let Mode::Active(scheme) = self.mode else {
            return;
        };
        let g = self.groups.get(&group).expect("caller found the group");
        let (k, m, len) = (scheme.k(), scheme.m(), g.shard_len);
        let (info, offset, last) = (g.info, g.offset, g.last);
        let first = group.wrapping_mul(u32::from(info.group_size));
        let k_prime = usize::from(info.group_len);
        let p = usize::from(info.data_len(payload_len_u16(len)));
        let length_of = |j: usize| {
            if j + 1 == k_prime {
                usize::from(info.last_len)
            } else {
                p
            }
        };
        // A group given up as finished when its bytes were dropped rebuilds nothing.
        if (0..k_prime).any(|j| {
            let seq = first.wrapping_add(j as u32);
            self.arrived(seq) && self.kept(seq).is_none()
        }) {
            return;
        }
        // Data that arrived must have the lengths the parity implies, or the parity is not
        // this data's.
        let lengths_agree = (0..k_prime).all(|j| {
            self.kept(first.wrapping_add(j as u32))
                .is_none_or(|d| d.len() == length_of(j))
        });
        if !lengths_agree {
            return;
        }
        let mut payloads: Vec<(usize, Vec<u8>)> = Vec::with_capacity(missing.len());
        if len == 0 {
            // An empty transfer's one packet: nothing to decode.
            payloads.push((0, self.pool.pop().unwrap_or_default()));
            payloads[0].1.clear();
        } else {
            let mut solver = std::mem::take(&mut self.solver);
            let mut scratch = std::mem::take(&mut self.scratch);
            let mut rebuilt = std::mem::take(&mut self.rebuilt);
            let g = self.groups.get(&group).expect("caller found the group");
            // Rebuilt by solving the parity's equations (see `solve`) from the kept
            // payloads where they lie, and checked against the spare parity. Only a
            // payload shorter than its shard (odd P, a short last packet) is copied,
            // zero-padded, to `scratch`.
            scratch.clear();
            for j in 0..k_prime {
                if let Some(d) = self.kept(first.wrapping_add(j as u32)) {
                    if d.len() != len {
                        scratch.extend_from_slice(d);
                        scratch.resize(scratch.len() + len - d.len(), 0);
                    }
                }
            }
            let mut shards: [&[u8]; MAX_GROUP_PACKETS] = [&[]; MAX_GROUP_PACKETS];
            let mut padded = scratch.chunks_exact(len);
            for (j, shard) in shards.iter_mut().enumerate().take(k_prime) {
                if let Some(d) = self.kept(first.wrapping_add(j as u32)) {
                    *shard = if d.len() == len {
                        d
                    } else {
                        padded.next().expect("copied above")
                    };
                }
            }
            let verified = solver.rebuild(
                (k, m),
                len,
                &shards[..k_prime],
                missing,
                &g.parity,
                &mut rebuilt,
            );
            if verified {
                for (shard, &j) in rebuilt.chunks_exact(len).zip(missing) {
                    let mut payload = self.pool.pop().unwrap_or_default();
                    payload.clear();
                    payload.extend_from_slice(&shard[..length_of(j)]);
                    payloads.push((j, payload));
                }
            }
            self.solver = solver;
            self.scratch = scratch;
            self.rebuilt = rebuilt;
        }
        for (j, payload) in payloads {
            let header = Header {
                kind: Kind::Data,
                last: last && j + 1 == k_prime,
                keyed: false,
                encrypted: false,
                payload_len: payload_len_u16(payload.len()),
                transfer_id: self.transfer_id,
                seq: first.wrapping_add(j as u32),
                offset: offset + (j * p) as u64,
                total_len: None,
                payload_crc: Header::crc_of(&payload),
                parity: None,
            };
            self.recovered.push_back(Recovered { header, payload });
        }
    }
}

#[cfg(test)]
mod tests;
