//! Fingerprints of recently placed intact packets, to tell a true duplicate (same range,
//! same CRC) from a conflict (the same or overlapping range with other bytes).
//!
//! An honest sender never sends two different payloads for one range, so a conflict means
//! two senders share a transfer id, or a forger: the first payload wins and the conflict is
//! counted, which makes the result "damaged" (exit 1) rather than silently merged.
//! Bounded: the oldest fingerprints (lowest offsets) are forgotten beyond `kept`
//! ([`super::Limits::fingerprints`], by default [`KEPT`]), so a
//! conflict with a packet long settled goes unnoticed (it is counted as a duplicate).
//!
//! Where they are kept: a sender cuts a transfer into payloads of one length `L`, each at
//! a multiple of `L` (the last one shorter). Those regular packets go into a direct-mapped
//! table of slots, slot `offset / L`, found without a search whatever order they come in
//! (an interleaved stream's bit-reversed order spent a fifth of a keyed receiver's
//! instructions in B-tree searches). Anything else (a length that does not fit, an offset
//! between slots, a packet below the table's reach) goes into two sorted sets. A packet is
//! checked against both; the two together answer as one sorted list would.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

/// Fingerprints kept: 8 MiB of transfer at 1 KiB payloads. In order, or interleaved, at
/// one payload length: a table of 16384 slots, 130 KiB; packets that do not fit it, 24
/// bytes each in order, about 40 reordered (a B-tree's entries and nodes).
pub(super) const KEPT: usize = 1 << 13;

/// The shortest payload length the table is made for: a transfer of tinier payloads
/// keeps its prints in the sorted sets (an irregular packet is checked against every
/// slot it spans, at most 64 KiB / 64 + 2 of them).
const MIN_SLOT_LEN: u64 = 64;
/// No table when more prints than this are to be kept (a table is twice as many slots).
const MAX_TABLE_KEPT: usize = 1 << 16;

/// What a new intact packet is, next to those already placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// No placed packet overlaps it.
    New,
    /// The same range with the same CRC was placed before.
    Again,
    /// It overlaps a placed packet with different bytes, or a different range.
    Conflict,
}

/// A placed packet: its range and payload CRC.
#[derive(Debug, Clone, Copy)]
struct Print {
    start: u64,
    end: u64,
    crc: u32,
}

/// The placed packets: regular ones in `table` (made at the first packet that gives the
/// payload length), the others in `other`; every print is in one of them.
#[derive(Default)]
pub struct Fingerprints {
    table: Option<Slots>,
    other: Sorted,
}

impl Fingerprints {
    /// Classify an intact packet covering `start..end` with payload CRC `crc`, and
    /// remember it when new, forgetting the oldest (lowest start) beyond `kept`.
    pub fn check(&mut self, start: u64, end: u64, crc: u32, kept: usize) -> Seen {
        if self.table.is_none() {
            self.table = Slots::for_first(start, end, kept);
        }
        // Against both (see `Seen`: a print with the same range and CRC overlaps nothing
        // else, so which one answers first does not matter).
        let slot = self.table.as_ref().and_then(|t| t.slot_of(start, end));
        let in_table = match (&self.table, slot) {
            (Some(t), Some(k)) => t.seen(k, end - start, crc),
            (Some(t), None) => t.overlaps(start, end).then_some(Seen::Conflict),
            (None, _) => None,
        };
        if let Some(seen) = in_table.or_else(|| self.other.seen(start, end, crc)) {
            return seen;
        }
        let taken = match (&mut self.table, slot) {
            (Some(t), Some(k)) => t.insert(k, end - start, crc, &mut self.other),
            _ => false,
        };
        if !taken {
            self.other.insert(Print { start, end, crc });
        }
        while self.len() > kept.max(1) {
            self.forget_oldest();
        }
        Seen::New
    }

    /// Prints kept.
    fn len(&self) -> usize {
        self.table.as_ref().map_or(0, |t| t.count) + self.other.len()
    }

    /// Forget the print with the lowest start, wherever it is.
    fn forget_oldest(&mut self) {
        let in_other = self.other.lowest();
        if let Some(t) = self.table.as_mut() {
            if let Some(k) = t.first_from(t.low) {
                if in_other.is_none_or(|o| o > t.start_of(k)) {
                    t.take(k);
                    t.low = k + 1;
                    return;
                }
            }
        }
        self.other.forget_lowest();
    }
}

/// The direct-mapped table: slot `k` (a multiple `k * len` of the payload length) holds the
/// print of the packet starting there, if one of at most `len` bytes was placed. It reaches
/// the slots `base..base + capacity`, at ring position `k % capacity`; a packet beyond moves
/// `base` up, and the prints below it go to the sorted sets (they are seldom still kept: the
/// capacity is twice `kept`).
struct Slots {
    len: u64,
    /// `len`'s base-2 logarithm, when it is a power of two (a shift, not a division).
    shift: Option<u32>,
    base: u64,
    /// Per ring position: the payload length and CRC (`occupied` says which hold one).
    slots: Box<[(u32, u32)]>,
    occupied: Box<[u64]>,
    count: usize,
    /// No slot below this one holds a print (at least `base`).
    low: u64,
}

impl Slots {
    /// The table for a transfer whose first print that can give the payload length is
    /// `start..end` (a non-empty one at a multiple of its length), or `None` (yet).
    fn for_first(start: u64, end: u64, kept: usize) -> Option<Slots> {
        let len = end.checked_sub(start)?;
        if len < MIN_SLOT_LEN
            || len > u64::from(u32::MAX)
            || start % len != 0
            || kept > MAX_TABLE_KEPT
        {
            return None;
        }
        let capacity = (2 * kept).next_power_of_two().max(64);
        let base = (start / len).saturating_sub(capacity as u64 / 2);
        Some(Slots {
            len,
            shift: len.is_power_of_two().then(|| len.trailing_zeros()),
            base,
            slots: vec![(0, 0); capacity].into_boxed_slice(),
            occupied: vec![0; capacity / 64].into_boxed_slice(),
            count: 0,
            low: base,
        })
    }

    fn capacity(&self) -> u64 {
        self.slots.len() as u64
    }

    /// The slot of a regular packet `start..end`: at a multiple of the length, not empty,
    /// not longer.
    fn slot_of(&self, start: u64, end: u64) -> Option<u64> {
        let len = end - start;
        let k = match self.shift {
            Some(shift) => start >> shift,
            None => start / self.len,
        };
        (self.start_of(k) == start && len > 0 && len <= self.len).then_some(k)
    }

    fn start_of(&self, k: u64) -> u64 {
        k * self.len
    }

    fn position(&self, k: u64) -> usize {
        (k & (self.capacity() - 1)) as usize
    }

    /// The print in slot `k`, when it is within reach and holds one.
    fn get(&self, k: u64) -> Option<(u32, u32)> {
        if k < self.base || k >= self.base + self.capacity() {
            return None;
        }
        let i = self.position(k);
        (self.occupied[i / 64] >> (i % 64) & 1 == 1).then(|| self.slots[i])
    }

    /// A regular packet of `len` bytes in slot `k`: only the print in that slot can overlap
    /// it (both lie within the slot).
    fn seen(&self, k: u64, len: u64, crc: u32) -> Option<Seen> {
        self.get(k)
            .map(|(l, c)| match u64::from(l) == len && c == crc {
                true => Seen::Again,
                false => Seen::Conflict,
            })
    }

    /// An irregular packet `start..end` starts where a print does, or overlaps one (it
    /// cannot be the same range as a print here).
    fn overlaps(&self, start: u64, end: u64) -> bool {
        let first = (start / self.len).max(self.base);
        let last = (end.max(start.saturating_add(1)) - 1) / self.len;
        let last = last.min(self.base + self.capacity() - 1);
        (first..=last).any(|k| {
            self.get(k).is_some_and(|(l, _)| {
                let (s, e) = (k * self.len, (k * self.len).saturating_add(u64::from(l)));
                s == start || (s < start && e > start) || (end > start && s > start && s < end)
            })
        })
    }

    /// Keep a new print in slot `k`; false when `k` is below the table's reach (it goes to
    /// `other`). A slot beyond moves the reach up, the prints left below it into `other`.
    fn insert(&mut self, k: u64, len: u64, crc: u32, other: &mut Sorted) -> bool {
        if k < self.base {
            return false;
        }
        if k >= self.base + self.capacity() {
            let base = k + 1 - self.capacity();
            while let Some(j) = self.first_from(self.low).filter(|&j| j < base) {
                let (l, c) = self.take(j);
                other.insert(Print {
                    start: j * self.len,
                    end: j * self.len + u64::from(l),
                    crc: c,
                });
            }
            self.base = base;
            self.low = self.low.max(base);
        }
        let i = self.position(k);
        self.slots[i] = (len as u32, crc);
        self.occupied[i / 64] |= 1 << (i % 64);
        self.count += 1;
        self.low = self.low.min(k);
        true
    }

    /// Empty slot `j` (which holds a print) and give its print.
    fn take(&mut self, j: u64) -> (u32, u32) {
        let i = self.position(j);
        self.occupied[i / 64] &= !(1 << (i % 64));
        self.count -= 1;
        self.slots[i]
    }

    /// The first slot from `k` on (within reach) that holds a print, 64 slots a step.
    fn first_from(&self, mut k: u64) -> Option<u64> {
        let end = self.base + self.capacity();
        while k < end {
            let i = self.position(k);
            let word = self.occupied[i / 64] >> (i % 64);
            if word != 0 {
                return Some(k + u64::from(word.trailing_zeros())).filter(|&j| j < end);
            }
            k += 64 - (i % 64) as u64;
        }
        None
    }
}

/// Two sorted, disjoint sets whose union is the prints the table does not hold: `ahead`,
/// those that came beyond every one before them (in order), pushed at the back in O(1);
/// and `behind`, those that came before one already kept (reordered), in a B-tree. A
/// reordered packet was inserted into the middle of one sorted deque before, moving half of
/// 8192 entries each time: 70% of an interleaved keyed receiver's instructions. Every print
/// in `behind` starts before the back of `ahead` (it was inserted so, the back only grows,
/// and the lowest start overall is the one forgotten first), or `ahead` is empty.
#[derive(Default)]
struct Sorted {
    ahead: VecDeque<Print>,
    behind: BTreeMap<u64, (u64, u32)>,
}

impl Sorted {
    fn len(&self) -> usize {
        self.ahead.len() + self.behind.len()
    }

    /// A packet against the prints here: `None` when it is new to them.
    fn seen(&self, start: u64, end: u64, crc: u32) -> Option<Seen> {
        match self.ahead.back() {
            None if self.behind.is_empty() => None,
            Some(last) if last.start < start => (last.end > start).then_some(Seen::Conflict),
            _ => self.against_both(start, end, crc),
        }
    }

    fn insert(&mut self, p: Print) {
        let at_back = match self.ahead.back() {
            Some(last) => last.start < p.start,
            None => self.behind.is_empty(),
        };
        match at_back {
            true => self.ahead.push_back(p),
            false => {
                self.behind.insert(p.start, (p.end, p.crc));
            }
        }
    }

    /// A packet not beyond every placed one, against both sets: `None` when it is new.
    fn against_both(&self, start: u64, end: u64, crc: u32) -> Option<Seen> {
        let at = self.ahead.partition_point(|p| p.start < start);
        let same = |e: u64, c: u32| match e == end && c == crc {
            true => Seen::Again,
            false => Seen::Conflict,
        };
        if let Some(p) = self.ahead.get(at).filter(|p| p.start == start) {
            return Some(same(p.end, p.crc));
        }
        // One descent each for the print of `behind` starting at or before it and the one
        // after it (a B-tree search is most of the cost of an interleaved packet here).
        let at_or_before = self.behind.range(..=start).next_back();
        if let Some((_, &(e, c))) = at_or_before.filter(|(&s, _)| s == start) {
            return Some(same(e, c));
        }
        // The placed packet starting last before it, in either set, must end by its start.
        let before_ahead = at.checked_sub(1).map(|i| self.ahead[i].end);
        let before_behind = at_or_before.map(|(_, &(e, _))| e);
        if before_ahead.max(before_behind).is_some_and(|e| e > start) {
            return Some(Seen::Conflict);
        }
        // And the first one starting after it, in either set, must start at its end or
        // later. (An empty payload overlaps nothing.)
        let next_ahead = self.ahead.get(at).map(|p| p.start);
        let next_behind = self
            .behind
            .range((Bound::Excluded(start), Bound::Unbounded))
            .next()
            .map(|(&s, _)| s);
        let next = match (next_ahead, next_behind) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if end > start && next.is_some_and(|n| n < end) {
            return Some(Seen::Conflict);
        }
        None
    }

    fn lowest(&self) -> Option<u64> {
        let behind_first = self.behind.first_key_value().map(|(&s, _)| s);
        let ahead_first = self.ahead.front().map(|p| p.start);
        match (ahead_first, behind_first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Forget the print with the lowest start, whichever set holds it.
    fn forget_lowest(&mut self) {
        let behind_first = self.behind.first_key_value().map(|(&s, _)| s);
        match (self.ahead.front(), behind_first) {
            (Some(a), Some(b)) if b < a.start => {
                self.behind.pop_first();
            }
            (Some(_), _) => {
                self.ahead.pop_front();
            }
            (None, _) => {
                self.behind.pop_first();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_packet_twice_is_seen_again() {
        let mut f = Fingerprints::default();
        assert_eq!(f.check(0, 10, 7, KEPT), Seen::New);
        assert_eq!(f.check(0, 10, 7, KEPT), Seen::Again);
    }

    #[test]
    fn other_bytes_or_an_overlap_conflict() {
        let mut f = Fingerprints::default();
        assert_eq!(f.check(10, 20, 7, KEPT), Seen::New);
        assert_eq!(f.check(10, 20, 8, KEPT), Seen::Conflict);
        assert_eq!(f.check(15, 25, 7, KEPT), Seen::Conflict);
        assert_eq!(f.check(5, 11, 7, KEPT), Seen::Conflict);
        assert_eq!(f.check(20, 30, 1, KEPT), Seen::New);
        assert_eq!(f.check(0, 10, 1, KEPT), Seen::New);
    }

    #[test]
    fn regular_packets_in_any_order_go_to_the_table() {
        let mut f = Fingerprints::default();
        // Interleaved 1 KiB payloads (bit-reversed within 1024), then the short last one.
        for i in 0..4096u64 {
            let k = (i & !1023) | ((i & 1023) as u16).reverse_bits() as u64 >> 6;
            assert_eq!(f.check(k * 1024, k * 1024 + 1024, 1, KEPT), Seen::New);
        }
        assert_eq!(f.check(4096 * 1024, 4096 * 1024 + 10, 1, KEPT), Seen::New);
        assert_eq!(f.table.as_ref().map(|t| t.count), Some(4097));
        assert_eq!(f.other.len(), 0);
        assert_eq!(f.check(5 * 1024, 6 * 1024, 1, KEPT), Seen::Again);
        assert_eq!(f.check(5 * 1024, 6 * 1024, 2, KEPT), Seen::Conflict);
        assert_eq!(f.check(5 * 1024 + 1, 6 * 1024, 1, KEPT), Seen::Conflict);
        assert_eq!(f.other.len(), 0);
    }

    /// The one sorted list the two sets stand for, checked by brute force: what
    /// [`Fingerprints::check`] must answer for every order of arrival.
    #[derive(Default)]
    struct Model(Vec<Print>);

    impl Model {
        fn check(&mut self, start: u64, end: u64, crc: u32, kept: usize) -> Seen {
            if let Some(p) = self.0.iter().find(|p| p.start == start) {
                return match p.end == end && p.crc == crc {
                    true => Seen::Again,
                    false => Seen::Conflict,
                };
            }
            let overlaps = |p: &&Print| {
                (p.start < start && p.end > start)
                    || (end > start && p.start > start && p.start < end)
            };
            if self.0.iter().any(|p| overlaps(&p)) {
                return Seen::Conflict;
            }
            self.0.push(Print { start, end, crc });
            self.0.sort_by_key(|p| p.start);
            while self.0.len() > kept.max(1) {
                self.0.remove(0);
            }
            Seen::New
        }
    }

    proptest::proptest! {
        #[test]
        fn the_two_sets_answer_as_one_sorted_list(
            arrivals in proptest::collection::vec((0u64..64, 0u64..3, 0u32..2), 1..200),
            kept in 1usize..20,
            in_order in proptest::bool::ANY,
        ) {
            let mut f = Fingerprints::default();
            let mut m = Model::default();
            // Mostly in order (the deque's case), or anywhere (interleaved).
            for (i, (at, len, crc)) in arrivals.into_iter().enumerate() {
                let start = match in_order {
                    true => (i as u64 * 2).saturating_sub(at % 8) ,
                    false => at * 2,
                };
                let end = start + len;
                proptest::prop_assert_eq!(f.check(start, end, crc, kept), m.check(start, end, crc, kept));
                proptest::prop_assert_eq!(f.len(), m.0.len());
            }
        }

        /// The same at lengths that make a table: regular payloads of one length at its
        /// multiples (in order, interleaved, or far apart, which moves the table's reach),
        /// mixed with shorter, longer, empty and misplaced ones.
        #[test]
        fn the_table_and_the_sets_answer_as_one_sorted_list(
            arrivals in proptest::collection::vec((0u64..400, 0usize..8, 0u32..2), 1..300),
            kept in 1usize..40,
            order in 0u8..3,
        ) {
            let mut f = Fingerprints::default();
            let mut m = Model::default();
            let lengths = [64, 64, 64, 40, 0, 100, 128, 32];
            for (i, (at, len, crc)) in arrivals.into_iter().enumerate() {
                let slot = match order {
                    0 => (i as u64).saturating_sub(at % 8),
                    1 => at % 64,
                    _ => at * 7,
                };
                // Mostly at a slot's start; now and then between slots.
                let start = slot * 64 + if at % 11 == 0 { 32 } else { 0 };
                let end = start + lengths[len];
                proptest::prop_assert_eq!(f.check(start, end, crc, kept), m.check(start, end, crc, kept));
                proptest::prop_assert_eq!(f.len(), m.0.len());
            }
        }
    }
}
