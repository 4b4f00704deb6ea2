//! Fingerprints of recently placed intact packets, to tell a true duplicate (same range,
//! same CRC) from a conflict (the same or overlapping range with other bytes).
//!
//! An honest sender never sends two different payloads for one range, so a conflict means
//! two senders share a transfer id, or a forger: the first payload wins and the conflict is
//! counted, which makes the result "damaged" (exit 1) rather than silently merged.
//! Bounded: the oldest fingerprints (lowest offsets) are forgotten beyond `kept`
//! ([`super::Limits::fingerprints`], by default [`KEPT`]), so a
//! conflict with a packet long settled goes unnoticed (it is counted as a duplicate).

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

/// Fingerprints kept: 8 MiB of transfer at 1 KiB payloads, 192 KiB of memory in order
/// (24 bytes a print), about 320 KiB reordered (a B-tree's entries and nodes).
pub(super) const KEPT: usize = 1 << 13;

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

/// Two sorted, disjoint sets whose union is the placed packets: `ahead`, those that came
/// beyond every one before them (in order), pushed at the back in O(1); and `behind`,
/// those that came before one already placed (reordered, or interleaved: most packets of
/// an interleaved stream), in a B-tree. A reordered packet was inserted into the middle of
/// one sorted deque before, moving half of 8192 entries each time: 70% of an interleaved
/// keyed receiver's instructions. Every print in `behind` starts before the back of
/// `ahead` (it was inserted so, the back only grows, and the lowest start overall is the
/// one forgotten first).
#[derive(Default)]
pub struct Fingerprints {
    ahead: VecDeque<Print>,
    behind: BTreeMap<u64, (u64, u32)>,
}

impl Fingerprints {
    /// Classify an intact packet covering `start..end` with payload CRC `crc`, and
    /// remember it when new, forgetting the oldest (lowest start) beyond `kept`.
    pub fn check(&mut self, start: u64, end: u64, crc: u32, kept: usize) -> Seen {
        match self.ahead.back() {
            Some(last) if last.start < start => {
                if last.end > start {
                    return Seen::Conflict;
                }
                self.ahead.push_back(Print { start, end, crc });
            }
            _ => {
                if let Some(seen) = self.against_both(start, end, crc) {
                    return seen;
                }
                match self.ahead.is_empty() && self.behind.is_empty() {
                    true => self.ahead.push_back(Print { start, end, crc }),
                    false => {
                        self.behind.insert(start, (end, crc));
                    }
                }
            }
        }
        while self.ahead.len() + self.behind.len() > kept.max(1) {
            self.forget_oldest();
        }
        Seen::New
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

    /// Forget the print with the lowest start, whichever set holds it.
    fn forget_oldest(&mut self) {
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
                proptest::prop_assert_eq!(f.ahead.len() + f.behind.len(), m.0.len());
            }
        }
    }
}
