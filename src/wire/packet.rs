//! A packet as found in the input: the header the framing scanner trusted, the payload
//! bytes that arrived, and whether those bytes can be trusted. What the receiving stages
//! (the verifier in [`super::auth`], the reassembler) take.
//!
//! The header is always trustworthy (its check covers every field, the payload CRC
//! included); the payload may not be. Carrying the three together is what lets every stage
//! below decide by one `match` instead of a pair of booleans.

use crate::wire::Header;

/// How much of a payload can be believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// Length and CRC match the header.
    Intact,
    /// Every byte arrived, but the CRC fails: some bits are wrong, nobody knows which.
    Damaged,
    /// The stream was cut inside the payload: only a prefix arrived (and it is damaged
    /// too, as far as anyone can tell).
    Truncated,
}

/// One packet found in the input.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    pub header: Header,
    /// The payload bytes present: the whole payload, or a prefix when truncated.
    pub payload: &'a [u8],
    pub integrity: Integrity,
    /// Where `payload` starts in the input buffer a driver lent its output (the
    /// reassembler's zero-copy path), so an in-order payload is written from there instead
    /// of being copied; `None` for payloads held elsewhere.
    pub input_pos: Option<usize>,
}

impl<'a> Packet<'a> {
    /// A packet as framing found it: `intact` when length and CRC match, `truncated` when
    /// the payload was cut short.
    pub fn new(header: Header, payload: &'a [u8], intact: bool, truncated: bool) -> Self {
        let integrity = match (intact, truncated) {
            (true, _) => Integrity::Intact,
            (false, false) => Integrity::Damaged,
            (false, true) => Integrity::Truncated,
        };
        Packet {
            header,
            payload,
            integrity,
            input_pos: None,
        }
    }

    /// The same packet, known to lie at `pos` in the lent input buffer.
    pub fn in_input(self, pos: usize) -> Self {
        Packet {
            input_pos: Some(pos),
            ..self
        }
    }

    pub fn is_intact(&self) -> bool {
        self.integrity == Integrity::Intact
    }

    pub fn is_truncated(&self) -> bool {
        self.integrity == Integrity::Truncated
    }

    /// First transfer offset the packet covers.
    pub fn start(&self) -> u64 {
        self.header.offset
    }

    /// End offset the header states (beyond the bytes present when truncated).
    pub fn stated_end(&self) -> u64 {
        self.header.end()
    }
}
