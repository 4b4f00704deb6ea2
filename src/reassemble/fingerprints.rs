//! Fingerprints of recently placed intact packets, to tell a true duplicate (same range,
//! same CRC) from a conflict (the same or overlapping range with other bytes).
//!
//! An honest sender never sends two different payloads for one range, so a conflict means
//! two senders share a transfer id, or a forger: the first payload wins and the conflict is
//! counted, which makes the result "damaged" (exit 1) rather than silently merged.
//! Bounded: the oldest fingerprints (lowest offsets) are forgotten beyond `kept`
//! ([`super::Limits::fingerprints`], by default [`KEPT`]), so a
//! conflict with a packet long settled goes unnoticed (it is counted as a duplicate).

use std::collections::VecDeque;

/// Fingerprints kept: 8 MiB of transfer at 1 KiB payloads, 192 KiB of memory.
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

/// Sorted by start, disjoint. Packets mostly arrive in order, so a new one usually goes
/// at the back in O(1); a reordered one is found by binary search.
#[derive(Default)]
pub struct Fingerprints {
    prints: VecDeque<Print>,
}

impl Fingerprints {
    /// Classify an intact packet covering `start..end` with payload CRC `crc`, and
    /// remember it when new, forgetting the oldest beyond `kept`.
    pub fn check(&mut self, start: u64, end: u64, crc: u32, kept: usize) -> Seen {
        let at = match self.prints.back() {
            Some(last) if last.start < start => {
                if last.end > start {
                    return Seen::Conflict;
                }
                self.prints.len()
            }
            None => 0,
            Some(_) => {
                let at = self.prints.partition_point(|p| p.start < start);
                if let Some(p) = self.prints.get(at).filter(|p| p.start == start) {
                    return if p.end == end && p.crc == crc {
                        Seen::Again
                    } else {
                        Seen::Conflict
                    };
                }
                let before = at.checked_sub(1).map(|i| self.prints[i]);
                if before.is_some_and(|b| b.end > start) {
                    return Seen::Conflict;
                }
                // An empty payload overlaps nothing.
                if end > start && self.prints.get(at).is_some_and(|next| next.start < end) {
                    return Seen::Conflict;
                }
                at
            }
        };
        self.prints.insert(at, Print { start, end, crc });
        if self.prints.len() > kept.max(1) {
            self.prints.pop_front();
        }
        Seen::New
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
}
