//! The descriptor's copy of a transfer's first bytes (at most 1024), and the one owner of
//! what was restored from it.
//!
//! Where a packet of the head's range was lost or damaged, the receiver writes the head's
//! bytes instead and counts them *restored*. Until descriptors disagree: then which head is
//! the sender's is not known, none is used from then on, and what was restored is handed
//! back to be made damaged again ([`Head::dispute`]). This type keeps the bytes, the
//! dispute and the restored ranges together, so no caller restores from a disputed head
//! or forgets a range it restored. It does no I/O: the transfer writes what it says.

use std::ops::Range;

/// See the module documentation. Offsets are transfer offsets.
#[derive(Debug, Default)]
pub struct Head {
    bytes: Vec<u8>,
    disputed: bool,
    /// Ranges restored from the head, in order and merged: within `bytes`.
    restored: Vec<Range<u64>>,
}

impl Head {
    /// A descriptor's head: the first, or a longer one than known (a sender reading a
    /// pipe sends a longer head once it has it). True when it was taken.
    pub fn learn(&mut self, head: &[u8]) -> bool {
        if head.len() <= self.bytes.len() && !self.bytes.is_empty() {
            return false;
        }
        self.bytes.clear();
        self.bytes.extend_from_slice(head);
        true
    }

    /// The bytes that may be restored: none while descriptors disagree.
    pub fn bytes(&self) -> &[u8] {
        if self.disputed {
            &[]
        } else {
            &self.bytes
        }
    }

    /// The part of `from..to` the head covers, from `from` on, when there is one.
    pub fn covers(&self, from: u64, to: u64) -> Option<Range<u64>> {
        let upto = (self.bytes().len() as u64).min(to);
        (upto > from).then_some(from..upto)
    }

    /// The head's bytes over `r` (a range [`Head::covers`] gave).
    pub fn slice(&self, r: &Range<u64>) -> &[u8] {
        &self.bytes()[r.start as usize..r.end as usize]
    }

    /// `r` was written from the head.
    pub fn restored(&mut self, r: Range<u64>) {
        match self.restored.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ => self.restored.push(r),
        }
    }

    pub fn is_disputed(&self) -> bool {
        self.disputed
    }

    /// Descriptors disagree: use the head no more. Returns what was restored from it (to
    /// be made damaged again), or `None` when it was disputed already.
    pub fn dispute(&mut self) -> Option<Vec<Range<u64>>> {
        if self.disputed {
            return None;
        }
        self.disputed = true;
        Some(std::mem::take(&mut self.restored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disputed_head_restores_nothing_and_gives_back_what_it_restored() {
        let mut h = Head::default();
        assert!(h.learn(b"abcdef"));
        assert!(!h.learn(b"abc"), "a shorter head is not taken");
        assert_eq!(h.covers(2, 10), Some(2..6));
        assert_eq!(h.slice(&(2..6)), b"cdef");
        assert_eq!(h.covers(6, 10), None);
        h.restored(0..2);
        h.restored(2..4);
        assert_eq!(h.dispute(), Some(vec![0..4]));
        assert_eq!(h.dispute(), None, "once");
        assert_eq!(h.covers(0, 10), None);
        assert!(h.bytes().is_empty());
    }
}
