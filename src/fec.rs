//! Forward error correction: Reed-Solomon parity over groups of data packets, so a receiver
//! rebuilds what the channel lost without a return channel.
//!
//! Groups are aligned on data sequence numbers: group `g` holds the data packets with `seq`
//! `g*K .. g*K + K'`, where `K' = K` except for a transfer's last group, which may be short.
//! After each group the sender emits `M` parity packets (layout in [`crate::wire`] and
//! `pktize(5)`). Any `K'` of a group's `K' + M` packets that arrive intact rebuild the rest.
//!
//! The code is the systematic Reed-Solomon code over GF(2^8) of `reed-solomon-erasure`
//! (Backblaze's and klauspost/reedsolomon's construction: a Vandermonde matrix made
//! systematic, field polynomial 0x11d), always with `K` data shards: the shards a short last
//! group lacks count as zeros, so the sender can encode one payload at a time and never holds
//! a group. Shards are the data payload size `P`; a shorter payload (a transfer's last) is
//! zero-padded. A group of one packet uses that packet's length as its shard length.
//! The field limits a group to `K + M <= 256` packets.
//!
//! [`Encoder`] is the sender's half: O(M) memory, payloads are read where they lie.
//! [`Decoder`] is the receiver's: it keeps copies of recent intact data payloads (a ring of
//! about [`RING_BYTES`]) and the parity of groups still in flight, and hands back the data
//! packets it rebuilds. It does not place bytes; `reassemble` does, and asks it for them.

use crate::wire::{Header, Kind, ParityInfo, HEADER_LEN};
use reed_solomon_erasure::galois_8::ReedSolomon;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::str::FromStr;

/// GF(2^8) has 256 elements: a group has at most this many packets, data and parity.
pub const MAX_GROUP_PACKETS: usize = 256;
/// Bytes of recent data payloads the receiver keeps for rebuilding, once it knows the
/// stream carries parity: several groups, plus room for reordering within them.
pub const RING_BYTES: usize = 1 << 20;
/// Before the first parity packet, the receiver cannot know whether the stream has any; it
/// keeps about this many bytes of the first payloads, then stops copying until parity shows.
const PROBE_BYTES: usize = 1 << 20;
/// Most data packets kept before the first parity: two of the largest groups.
const PROBE_PACKETS: usize = 2 * MAX_GROUP_PACKETS;

/// A coding scheme: `data` packets per group (K) protected by `parity` packets (M).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme {
    pub data: u8,
    pub parity: u8,
}

/// Why a scheme or a group cannot be coded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FecError {
    #[error("expected K+M such as 8+2, found \"{0}\"")]
    Syntax(String),
    #[error(
        "K and M must each be 1 to 255 with K+M at most {MAX_GROUP_PACKETS} \
         (the Reed-Solomon code is over GF(256)), found {0}+{1}"
    )]
    OutOfRange(usize, usize),
}

impl FromStr for Scheme {
    type Err = FecError;

    fn from_str(text: &str) -> Result<Scheme, FecError> {
        let syntax = || FecError::Syntax(text.to_string());
        let (k, m) = text.split_once('+').ok_or_else(syntax)?;
        let k: usize = k.trim().parse().map_err(|_| syntax())?;
        let m: usize = m.trim().parse().map_err(|_| syntax())?;
        Scheme::new(k, m)
    }
}

impl Scheme {
    pub fn new(data: usize, parity: usize) -> Result<Scheme, FecError> {
        if data == 0 || parity == 0 || data > 255 || parity > 255 || data + parity > 256 {
            return Err(FecError::OutOfRange(data, parity));
        }
        Ok(Scheme {
            data: data as u8,
            parity: parity as u8,
        })
    }

    fn k(self) -> usize {
        usize::from(self.data)
    }

    fn m(self) -> usize {
        usize::from(self.parity)
    }

    fn codec(self) -> ReedSolomon {
        ReedSolomon::new(self.k(), self.m())
            .expect("Scheme::new keeps 1 <= K, 1 <= M and K + M <= 256")
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{}", self.data, self.parity)
    }
}

/// The sender's half: sees every data payload in order, and after each group writes the
/// group's parity packets. Holds only the M parity shards being accumulated.
pub struct Encoder {
    scheme: Scheme,
    codec: ReedSolomon,
    transfer_id: u16,
    /// The data payload size P: the shard length of every group of two packets or more.
    shard_len: usize,
    parity: Vec<Vec<u8>>,
    /// A short payload zero-padded to the shard length.
    padded: Vec<u8>,
    /// Position of the next payload in its group.
    index: usize,
    group: u32,
    group_offset: u64,
    offset: u64,
    packets: u64,
}

impl Encoder {
    /// An encoder for one transfer whose data payloads are `payload_len` bytes (the last
    /// may be shorter).
    pub fn new(scheme: Scheme, transfer_id: u16, payload_len: usize) -> Self {
        Encoder {
            scheme,
            codec: scheme.codec(),
            transfer_id,
            shard_len: payload_len,
            parity: vec![vec![0; payload_len]; scheme.m()],
            padded: vec![0; payload_len],
            index: 0,
            group: 0,
            group_offset: 0,
            offset: 0,
            packets: 0,
        }
    }

    /// Parity packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Code the next data payload (`last` when it ends the transfer). When it completes a
    /// group, append the group's M parity packets (header and payload each) to `out` and
    /// return how many were appended.
    pub fn add(&mut self, payload: &[u8], last: bool, out: &mut Vec<u8>) -> usize {
        debug_assert!(payload.len() <= self.shard_len);
        // A group of one packet is coded at that packet's length (an empty or tiny transfer
        // gets tiny parity); every other group at the full payload size.
        let single = self.index == 0 && last;
        let len = if single {
            payload.len()
        } else {
            self.shard_len
        };
        if len > 0 {
            let shard = if payload.len() == len {
                payload
            } else {
                self.padded[..payload.len()].copy_from_slice(payload);
                self.padded[payload.len()..].fill(0);
                &self.padded[..]
            };
            let coded = if len == self.shard_len {
                self.codec
                    .encode_single_sep(self.index, shard, &mut self.parity)
            } else {
                // Once per transfer at most: a group of one short packet.
                let mut parity: Vec<&mut [u8]> =
                    self.parity.iter_mut().map(|p| &mut p[..len]).collect();
                self.codec.encode_single_sep(self.index, shard, &mut parity)
            };
            coded.expect("shard index < K and every shard has the same length");
        }
        self.offset += payload.len() as u64;
        self.index += 1;
        if self.index < self.scheme.k() && !last {
            return 0;
        }
        let group_len = self.index;
        for (i, parity) in self.parity.iter().enumerate() {
            let shard = &parity[..len];
            let header = Header {
                kind: Kind::Parity,
                last,
                keyed: false,
                payload_len: payload_len_u16(len),
                transfer_id: self.transfer_id,
                seq: self.group,
                offset: self.group_offset,
                total_len: None,
                payload_crc: Header::crc_of(shard),
                parity: Some(ParityInfo {
                    group_len: group_len as u8,
                    parity_count: self.scheme.parity,
                    parity_index: i as u8,
                    group_size: self.scheme.data,
                    // This call's payload is the group's last.
                    last_len: payload_len_u16(payload.len()),
                }),
            };
            let mut bytes = [0; HEADER_LEN];
            header.encode(&mut bytes);
            out.extend_from_slice(&bytes);
            out.extend_from_slice(shard);
        }
        self.packets += self.scheme.m() as u64;
        self.index = 0;
        self.group = self.group.wrapping_add(1);
        self.group_offset = self.offset;
        self.scheme.m()
    }
}

fn payload_len_u16(len: usize) -> u16 {
    u16::try_from(len).expect("payloads are at most MAX_PAYLOAD bytes")
}

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

/// A copy of a received intact data payload.
#[derive(Default)]
struct Slot {
    seq: u32,
    valid: bool,
    data: Vec<u8>,
}

/// A group whose parity has started to arrive.
struct Group {
    info: ParityInfo,
    offset: u64,
    last: bool,
    shard_len: usize,
    parity: Vec<Option<Vec<u8>>>,
    /// The group's last parity packet arrived: in sending order, nothing more will.
    closed: bool,
    /// Rebuilt, or found whole: remembered so later parity is ignored.
    done: bool,
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
    codec: Option<ReedSolomon>,
    /// Data packets from this seq on are copied; earlier groups cannot be rebuilt.
    copy_from: u32,
    first_seq: Option<u32>,
    newest_seq: u32,
    newest_group: Option<u32>,
    ring: Vec<Slot>,
    groups: BTreeMap<u32, Group>,
    recovered: VecDeque<Recovered>,
    transfer_id: u16,
    pool: Vec<Vec<u8>>,
    scratch: Vec<u8>,
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
            codec: None,
            copy_from: 0,
            first_seq: None,
            newest_seq: 0,
            newest_group: None,
            ring: Vec::new(),
            groups: BTreeMap::new(),
            recovered: VecDeque::new(),
            transfer_id: 0,
            pool: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Forget everything: a new transfer starts.
    pub fn reset(&mut self, transfer_id: u16) {
        let pool = std::mem::take(&mut self.pool);
        *self = Decoder {
            transfer_id,
            pool,
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

    /// A data packet of the followed transfer arrived (`intact` when its payload matched).
    pub fn data(&mut self, header: &Header, payload: &[u8], intact: bool) {
        let seq = header.seq;
        let first = *self.first_seq.get_or_insert(seq);
        self.newest_seq = self.newest_seq.max(seq);
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
            let slot = &mut self.ring[seq as usize % n];
            slot.seq = seq;
            slot.valid = true;
            slot.data.clear();
            slot.data.extend_from_slice(payload);
        }
        if let Mode::Active(s) = self.mode {
            let group = seq / u32::from(s.data);
            if self.groups.contains_key(&group) {
                self.try_rebuild(group, false);
            }
            self.saw_group(group);
        }
    }

    /// A parity packet of the followed transfer arrived.
    pub fn parity(&mut self, header: &Header, payload: &[u8], intact: bool) {
        let Some(info) = header.parity else {
            return;
        };
        if !intact {
            return;
        }
        let scheme = match Scheme::new(info.group_size.into(), info.parity_count.into()) {
            Ok(s) => s,
            Err(_) => return, // a group this code cannot describe: nothing to rebuild
        };
        match self.mode {
            Mode::Active(s) if s == scheme => {}
            Mode::Active(_) | Mode::Off => {
                // Parity after a stretch without (or with another scheme): groups from the
                // next data packet on can be rebuilt.
                self.groups.clear();
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
        if !self.groups.contains_key(&group) && self.data_whole(first_seq, info.group_len) {
            // The usual case: nothing to rebuild, nothing to remember.
            self.saw_group(group);
            return;
        }
        let m = usize::from(info.parity_count);
        let entry = self.groups.entry(group).or_insert_with(|| Group {
            info,
            offset: header.offset,
            last: header.last,
            shard_len: payload.len(),
            parity: (0..m).map(|_| None).collect(),
            closed: false,
            done: false,
        });
        if entry.done || entry.shard_len != payload.len() || entry.info.group_len != info.group_len
        {
            return;
        }
        entry.closed |= info.parity_index + 1 == info.parity_count;
        let index = usize::from(info.parity_index);
        if entry.parity[index].is_none() {
            let mut copy = self.pool.pop().unwrap_or_default();
            copy.clear();
            copy.extend_from_slice(payload);
            let entry = self.groups.get_mut(&group).expect("inserted above");
            entry.parity[index] = Some(copy);
        }
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
        if self.pool.len() < 2 * MAX_GROUP_PACKETS {
            self.pool.push(buf);
        }
    }

    /// Parity showed: keep enough payloads of `shard_len` bytes for two groups and their
    /// parity at least, about [`RING_BYTES`] when that is more.
    fn activate(&mut self, scheme: Scheme, shard_len: usize) {
        self.mode = Mode::Active(scheme);
        self.codec = Some(scheme.codec());
        let least = 2 * scheme.k() + scheme.m();
        let slots = (RING_BYTES / shard_len.max(1)).clamp(least, least.max(4096));
        self.resize_ring(slots);
    }

    /// The oldest seq the ring can still hold.
    fn ring_start(&self) -> u32 {
        let span = (self.ring.len() as u32).saturating_sub(1);
        self.newest_seq.saturating_sub(span)
    }

    fn stop_probing(&mut self) {
        self.mode = Mode::Off;
        for slot in self.ring.drain(..) {
            if self.pool.len() < 2 * MAX_GROUP_PACKETS && slot.data.capacity() > 0 {
                self.pool.push(slot.data);
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
    }

    /// The intact copy of data packet `seq`, if kept.
    fn kept(&self, seq: u32) -> Option<&[u8]> {
        if self.ring.is_empty() || seq < self.copy_from {
            return None;
        }
        let slot = &self.ring[seq as usize % self.ring.len()];
        (slot.valid && slot.seq == seq).then_some(&slot.data[..])
    }

    /// Every data packet of the group starting at `first` arrived intact.
    fn data_whole(&self, first: u32, group_len: u8) -> bool {
        (0..u32::from(group_len)).all(|j| self.kept(first.wrapping_add(j)).is_some())
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
        while let Some(entry) = self.groups.first_entry() {
            let g = entry.get();
            let end = entry
                .key()
                .wrapping_mul(u32::from(g.info.group_size))
                .wrapping_add(u32::from(g.info.group_len));
            let gone = end <= ring_start;
            let over = g.done && *entry.key() < group;
            if !gone && !over {
                break;
            }
            let g = entry.remove();
            self.pool.extend(g.parity.into_iter().flatten());
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
        let is_missing = |j: &usize| self.kept(first.wrapping_add(*j as u32)).is_none();
        let missing = (0..k_prime).filter(is_missing).count();
        let parity_present = g.parity.iter().filter(|p| p.is_some()).count();
        if missing == 0 {
            self.finish_group(group);
            return;
        }
        if parity_present < missing || !(over || g.closed) {
            return;
        }
        let missing: Vec<usize> = (0..k_prime).filter(is_missing).collect();
        self.rebuild(group, &missing);
        self.finish_group(group);
    }

    fn finish_group(&mut self, group: u32) {
        if let Some(g) = self.groups.get_mut(&group) {
            g.done = true;
            let parity: Vec<Vec<u8>> = g.parity.iter_mut().filter_map(Option::take).collect();
            self.pool.extend(parity);
        }
    }

    /// Decode the group's missing data shards and queue them as packets.
    fn rebuild(&mut self, group: u32, missing: &[usize]) {
        let Mode::Active(scheme) = self.mode else {
            return;
        };
        let g = self.groups.get(&group).expect("caller found the group");
        let (k, m, len) = (scheme.k(), scheme.m(), g.shard_len);
        let (info, offset, last) = (g.info, g.offset, g.last);
        let first = group.wrapping_mul(u32::from(info.group_size));
        let k_prime = usize::from(info.group_len);
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.resize((k + m) * len, 0);
        let mut present = vec![true; k + m];
        if len > 0 {
            for (j, shard) in scratch.chunks_mut(len).enumerate() {
                if j < k_prime {
                    match self.kept(first.wrapping_add(j as u32)) {
                        Some(d) => shard[..d.len()].copy_from_slice(d),
                        None => present[j] = false,
                    }
                } else if j >= k {
                    match &g.parity[j - k] {
                        Some(p) => shard.copy_from_slice(p),
                        None => present[j] = false,
                    }
                }
                // k_prime..k: shards a short group lacks, zeros by definition.
            }
            let mut shards: Vec<(&mut [u8], bool)> = scratch
                .chunks_mut(len)
                .zip(&present)
                .map(|(s, &p)| (s, p))
                .collect();
            let codec = self.codec.as_ref().expect("an active decoder has a codec");
            if codec.reconstruct_data(&mut shards).is_err() {
                self.scratch = scratch;
                return; // fewer than K shards after all: leave the gaps to be filled
            }
        }
        for &j in missing {
            let payload_len = if j + 1 == k_prime {
                usize::from(info.last_len)
            } else {
                len
            };
            let mut payload = self.pool.pop().unwrap_or_default();
            payload.clear();
            payload.extend_from_slice(&scratch[j * len..j * len + payload_len]);
            let header = Header {
                kind: Kind::Data,
                last: last && j + 1 == k_prime,
                keyed: false,
                payload_len: payload_len_u16(payload_len),
                transfer_id: self.transfer_id,
                seq: first.wrapping_add(j as u32),
                offset: offset + (j * len) as u64,
                total_len: None,
                payload_crc: Header::crc_of(&payload),
                parity: None,
            };
            self.recovered.push_back(Recovered { header, payload });
        }
        self.scratch = scratch;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A packet as the tests see it: header and payload.
    type Packet = (Header, Vec<u8>);

    /// Data and parity packets of `data` in sending order, as pktize makes them.
    fn send(data: &[u8], payload_len: usize, scheme: Scheme) -> Vec<Packet> {
        let mut enc = Encoder::new(scheme, 9, payload_len);
        let mut out = vec![];
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(payload_len).collect()
        };
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            let header = Header {
                kind: Kind::Data,
                last,
                keyed: false,
                payload_len: chunk.len() as u16,
                transfer_id: 9,
                seq: i as u32,
                offset: (i * payload_len) as u64,
                total_len: None,
                payload_crc: Header::crc_of(chunk),
                parity: None,
            };
            out.push((header, chunk.to_vec()));
            let mut bytes = vec![];
            enc.add(chunk, last, &mut bytes);
            for p in bytes_to_packets(&bytes) {
                out.push(p);
            }
        }
        out
    }

    fn bytes_to_packets(mut bytes: &[u8]) -> Vec<Packet> {
        let mut out = vec![];
        while !bytes.is_empty() {
            let h = Header::parse(bytes).unwrap();
            let end = h.packet_len();
            assert!(h.payload_matches(&bytes[HEADER_LEN..end]));
            out.push((h, bytes[HEADER_LEN..end].to_vec()));
            bytes = &bytes[end..];
        }
        out
    }

    /// Feed the packets not in `lost` (and the `damaged` ones as damaged) to a decoder;
    /// return the data packets that arrived intact plus those rebuilt, by seq.
    fn receive(packets: &[Packet], lost: &[usize], damaged: &[usize]) -> BTreeMap<u32, Packet> {
        let mut dec = Decoder::new();
        dec.reset(9);
        let mut got = BTreeMap::new();
        for (i, (h, p)) in packets.iter().enumerate() {
            if lost.contains(&i) {
                continue;
            }
            let intact = !damaged.contains(&i);
            match h.kind {
                Kind::Data => {
                    dec.data(h, p, intact);
                    if intact {
                        got.insert(h.seq, (*h, p.clone()));
                    }
                }
                _ => dec.parity(h, p, intact),
            }
            while let Some(r) = dec.take_recovered() {
                assert!(got.insert(r.header.seq, (r.header, r.payload)).is_none());
            }
        }
        dec.flush();
        while let Some(r) = dec.take_recovered() {
            assert!(got.insert(r.header.seq, (r.header, r.payload)).is_none());
        }
        got
    }

    fn data_packets(packets: &[Packet]) -> Vec<Packet> {
        packets
            .iter()
            .filter(|(h, _)| h.kind == Kind::Data)
            .cloned()
            .collect()
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 131 + i / 7) as u8).collect()
    }

    fn scheme(k: usize, m: usize) -> Scheme {
        Scheme::new(k, m).unwrap()
    }

    #[test]
    fn schemes_parse_and_respect_the_field_size() {
        assert_eq!("8+2".parse(), Ok(scheme(8, 2)));
        assert_eq!("255+1".parse(), Ok(scheme(255, 1)));
        assert!("0+2".parse::<Scheme>().is_err());
        assert!("8+0".parse::<Scheme>().is_err());
        assert!("200+57".parse::<Scheme>().is_err());
        assert!("8".parse::<Scheme>().is_err());
        assert!("a+b".parse::<Scheme>().is_err());
    }

    #[test]
    fn parity_follows_each_group_and_the_short_last_one() {
        let packets = send(&pattern(10 * 100 + 33), 100, scheme(4, 2));
        let kinds: String = packets
            .iter()
            .map(|(h, _)| if h.kind == Kind::Data { 'd' } else { 'p' })
            .collect();
        assert_eq!(kinds, "ddddppddddppdddpp");
        let last_parity = packets.last().unwrap().0;
        let info = last_parity.parity.unwrap();
        assert_eq!((info.group_len, info.group_size, info.last_len), (3, 4, 33));
        assert_eq!((last_parity.seq, last_parity.offset), (2, 800));
        assert!(last_parity.last);
        assert!(!packets[4].0.last);
    }

    #[test]
    fn any_m_losses_in_a_group_are_rebuilt_exactly() {
        let data = pattern(8 * 64 * 3 + 17);
        let packets = send(&data, 64, scheme(8, 2));
        let want = data_packets(&packets);
        // Every pair of losses within the first group (data or parity).
        for a in 0..10 {
            for b in a + 1..10 {
                let got = receive(&packets, &[a, b], &[]);
                assert_eq!(got.len(), want.len(), "lost {a} and {b}");
                for (h, p) in &want {
                    assert_eq!(&got[&h.seq].1, p, "packet {} after losing {a},{b}", h.seq);
                    assert_eq!(got[&h.seq].0.offset, h.offset);
                    assert_eq!(got[&h.seq].0.last, h.last);
                }
            }
        }
    }

    #[test]
    fn the_short_last_group_is_rebuilt_with_its_true_length() {
        for len in [1, 63, 64, 65, 64 * 5 + 1, 64 * 8 + 7] {
            let data = pattern(len);
            let packets = send(&data, 64, scheme(8, 3));
            let want = data_packets(&packets);
            let n = packets.len();
            // Lose the last data packet and the two before it, where they exist.
            let lost: Vec<usize> = packets
                .iter()
                .enumerate()
                .filter(|(_, (h, _))| h.kind == Kind::Data)
                .map(|(i, _)| i)
                .rev()
                .take(3)
                .filter(|&i| i + 3 < n)
                .collect();
            let got = receive(&packets, &lost, &[]);
            let bytes: Vec<u8> = got.values().flat_map(|(_, p)| p.clone()).collect();
            assert_eq!(bytes, data, "length {len}, lost {lost:?}");
            assert_eq!(got.len(), want.len());
            assert!(got.values().last().unwrap().0.last);
        }
    }

    #[test]
    fn an_empty_transfer_gets_empty_parity_that_rebuilds_its_end() {
        let packets = send(&[], 1024, scheme(4, 2));
        assert_eq!(packets.len(), 3);
        assert!(packets.iter().all(|(h, p)| h.last && p.is_empty()));
        let got = receive(&packets, &[0], &[]);
        assert_eq!(got.len(), 1);
        assert!(got[&0].0.last && got[&0].1.is_empty());
    }

    #[test]
    fn damaged_payloads_are_erasures() {
        let data = pattern(6 * 50);
        let packets = send(&data, 50, scheme(6, 2));
        let got = receive(&packets, &[1], &[4]);
        let bytes: Vec<u8> = got.values().flat_map(|(_, p)| p.clone()).collect();
        assert_eq!(bytes, data);
        // Damaged parity is no help.
        let got = receive(&packets, &[1, 2], &[6]);
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn more_than_m_losses_rebuild_nothing_of_that_group() {
        let data = pattern(4 * 10 * 2);
        let packets = send(&data, 10, scheme(4, 2));
        let got = receive(&packets, &[0, 1, 2], &[]);
        assert!(!got.contains_key(&0) && !got.contains_key(&1) && !got.contains_key(&2));
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn odd_payload_sizes_and_large_groups() {
        for (p, k, m) in [
            (1, 1, 1),
            (7, 3, 5),
            (33, 32, 4),
            (3, 200, 56),
            (999, 255, 1),
        ] {
            let data = pattern(p * k * 2 + p / 2);
            let packets = send(&data, p, scheme(k, m));
            let lost: Vec<usize> = (0..m).map(|i| i * 2 % (k + m)).collect();
            let got = receive(&packets, &lost, &[]);
            let bytes: Vec<u8> = got.values().flat_map(|(_, q)| q.clone()).collect();
            assert_eq!(bytes, data, "{p} bytes, {k}+{m}");
        }
    }

    #[test]
    fn a_stream_without_parity_stops_being_copied() {
        let mut dec = Decoder::new();
        dec.reset(1);
        let payload = [5u8; 100];
        for seq in 0..2000u32 {
            let h = Header {
                kind: Kind::Data,
                last: false,
                keyed: false,
                payload_len: 100,
                transfer_id: 1,
                seq,
                offset: u64::from(seq) * 100,
                total_len: None,
                payload_crc: Header::crc_of(&payload),
                parity: None,
            };
            dec.data(&h, &payload, true);
        }
        assert!(!dec.may_rebuild());
        assert!(dec.ring.is_empty());
    }

    fn any_case() -> impl Strategy<Value = (usize, usize, usize, usize, u64)> {
        (
            1usize..20,
            1usize..6,
            1usize..80,
            0usize..3000,
            any::<u64>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn losses_within_m_per_group_are_always_rebuilt((k, m, p, len, seed) in any_case()) {
            let data = pattern(len);
            let packets = send(&data, p, scheme(k, m));
            // Lose up to M packets of each group, chosen by the seed.
            let mut lost = vec![];
            let mut state = seed | 1;
            let mut group_start = 0;
            for (i, (h, _)) in packets.iter().enumerate() {
                if h.kind == Kind::Parity && h.parity.unwrap().parity_index + 1 == m as u8 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let size = i + 1 - group_start;
                    for n in 0..(state % (m as u64 + 1)) as usize {
                        let at = group_start + (state as usize >> 8).wrapping_add(n * 7919) % size;
                        if !lost.contains(&at) {
                            lost.push(at);
                        }
                    }
                    group_start = i + 1;
                }
            }
            let got = receive(&packets, &lost, &[]);
            let bytes: Vec<u8> = got.values().flat_map(|(_, q)| q.clone()).collect();
            prop_assert_eq!(bytes, data);
        }
    }
}
