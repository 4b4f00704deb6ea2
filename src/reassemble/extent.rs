//! What is known of a transfer's length, and which source wins: the data packets' own
//! LAST flag and total over a descriptor's claim.

use super::packet::Packet;

/// What is known of a transfer's length, and from where: the data packets' own LAST flag
/// and total win over a descriptor's claim, which is only a default until they speak.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extent {
    from_data: Option<u64>,
    from_descriptor: Option<u64>,
}

/// What a data packet's header says about the extent.
pub enum ExtentVerdict {
    Consistent,
    /// It ends beyond the length the data packets already stated: not trustworthy.
    Untrusted,
    /// It contradicts a descriptor's claim, which is dropped.
    OverridesDescriptor,
}

impl Extent {
    pub fn end(&self) -> Option<u64> {
        self.from_data.or(self.from_descriptor)
    }

    /// The data packets themselves stated the length (not only a descriptor).
    pub fn known_from_data(&self) -> bool {
        self.from_data.is_some()
    }

    /// The length is known as if the data packets had stated it (an earlier reception
    /// saw them).
    pub fn state_from_data(&mut self, len: u64) {
        self.from_data = Some(len);
    }

    pub fn learn_from_data(&mut self, p: &Packet) -> ExtentVerdict {
        let h = &p.header;
        if let Some(e) = self.from_data {
            return if h.end() > e || h.total_len.is_some_and(|t| t != e) {
                ExtentVerdict::Untrusted
            } else {
                ExtentVerdict::Consistent
            };
        }
        let stated = h.total_len.or(h.last.then(|| h.end()));
        if let Some(e) = stated {
            self.from_data = Some(e);
        }
        let claim = self.from_descriptor;
        let contradicts = claim.is_some_and(|c| stated.is_some_and(|s| s != c) || h.end() > c);
        if contradicts {
            self.from_descriptor = None;
            return ExtentVerdict::OverridesDescriptor;
        }
        ExtentVerdict::Consistent
    }

    /// A descriptor's total; returns false when it contradicts what is known.
    pub fn learn_from_descriptor(&mut self, total: Option<u64>, highest_end: u64) -> bool {
        let Some(t) = total else { return true };
        match self.end() {
            Some(e) => e == t,
            None if t < highest_end => false,
            None => {
                self.from_descriptor = Some(t);
                true
            }
        }
    }
}
