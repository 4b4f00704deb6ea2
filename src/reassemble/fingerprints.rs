//! Fingerprints of recently placed intact packets, to tell a true duplicate (same range,
//! same CRC) from a conflict (the same or overlapping range with other bytes).
//!
//! An honest sender never sends two different payloads for one range, so a conflict means
//! two senders share a transfer id, or a forger: the first payload wins and the conflict is
//! counted, which makes the result "damaged" (exit 1) rather than silently merged.
//! Bounded: the oldest fingerprints (lowest offsets) are forgotten beyond [`KEPT`], so a
//! conflict with a packet long settled goes unnoticed (it is counted as a duplicate).

use std::collections::BTreeMap;

/// Fingerprints kept: about 32 MiB of transfer at 1 KiB payloads, 1.5 MiB of memory.
const KEPT: usize = 1 << 15;

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

#[derive(Default)]
pub struct Fingerprints {
    /// start -> (end, CRC) of intact packets; ranges are disjoint.
    by_start: BTreeMap<u64, (u64, u32)>,
}

impl Fingerprints {
    /// Classify an intact packet covering `start..end` with payload CRC `crc`, and
    /// remember it when new.
    pub fn check(&mut self, start: u64, end: u64, crc: u32) -> Seen {
        if let Some(&(e, c)) = self.by_start.get(&start) {
            return if e == end && c == crc {
                Seen::Again
            } else {
                Seen::Conflict
            };
        }
        let before = self.by_start.range(..start).next_back();
        if before.is_some_and(|(_, &(e, _))| e > start) {
            return Seen::Conflict;
        }
        // An empty payload overlaps nothing.
        if end > start && self.by_start.range(start..end).next().is_some() {
            return Seen::Conflict;
        }
        self.by_start.insert(start, (end, crc));
        if self.by_start.len() > KEPT {
            self.by_start.pop_first();
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
        assert_eq!(f.check(0, 10, 7), Seen::New);
        assert_eq!(f.check(0, 10, 7), Seen::Again);
    }

    #[test]
    fn other_bytes_or_an_overlap_conflict() {
        let mut f = Fingerprints::default();
        assert_eq!(f.check(10, 20, 7), Seen::New);
        assert_eq!(f.check(10, 20, 8), Seen::Conflict);
        assert_eq!(f.check(15, 25, 7), Seen::Conflict);
        assert_eq!(f.check(5, 11, 7), Seen::Conflict);
        assert_eq!(f.check(20, 30, 1), Seen::New);
        assert_eq!(f.check(0, 10, 1), Seen::New);
    }
}
