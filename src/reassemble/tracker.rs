//! Which transfer a packet belongs to: the one followed, the next one, or another
//! sender's.
//!
//! The rules (also in unpktize(1) and pktize(5)):
//! - The first transfer seen is followed (or the one asked for by id).
//! - A packet of the followed transfer's id belongs to it, also after it completed: a
//!   repetition of a finished transfer (a duplicating channel, a carousel pass) is a
//!   duplicate, not a new file. The same id starts a *new* transfer only when what arrives
//!   contradicts the finished one: a descriptor that disagrees with its descriptor, or an
//!   intact first data packet (offset 0) with another length or CRC, or another total.
//! - Another id starts the next transfer (concatenated in the output) once the followed one
//!   is complete, or after [`SWITCH_AFTER`] of its packets in a row with none of the
//!   followed one (the followed one's end was lost); those packets are held meanwhile and
//!   then placed, so none is lost.
//! - An id seen interleaved with the followed transfer is another sender's, for the rest
//!   of the input: it is never taken for the next transfer. All 65536 ids are remembered.

use super::packet::{Integrity, Packet};
use crate::descriptor::Descriptor;
use crate::wire::Header;

/// Packets of another transfer in a row, with none of the current one, after which the
/// current transfer is taken to have ended (its last packets lost).
pub const SWITCH_AFTER: usize = 32;

/// Where a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Belongs {
    Current,
    /// It starts the next transfer: end the current one first.
    NewTransfer,
    /// Another sender's, or not yet known to be the next transfer.
    Other,
}

/// A packet of another transfer, kept in case that transfer turns out to be the next one.
pub struct Held {
    pub header: Header,
    pub payload: Vec<u8>,
    pub integrity: Integrity,
}

impl Held {
    pub fn packet(&self) -> Packet<'_> {
        Packet {
            header: self.header,
            payload: &self.payload,
            integrity: self.integrity,
            input_pos: None,
        }
    }
}

/// One bit per transfer id.
struct IdSet(Box<[u64; 1024]>);

impl IdSet {
    fn new() -> Self {
        IdSet(Box::new([0; 1024]))
    }
    fn contains(&self, id: u16) -> bool {
        self.0[usize::from(id) / 64] & (1 << (id % 64)) != 0
    }
    fn insert(&mut self, id: u16) {
        self.0[usize::from(id) / 64] |= 1 << (id % 64);
    }
}

/// The transfer-level state that outlives one transfer.
pub struct Tracker {
    /// Follow only this id.
    wanted: Option<u16>,
    other_senders: IdSet,
    /// A run of packets of another transfer.
    candidate: Option<(u16, Vec<Held>)>,
    /// A descriptor of a transfer not (yet) followed, for when it starts.
    pending_descriptor: Option<(u16, Descriptor, Option<u64>)>,
}

impl Tracker {
    pub fn new(wanted: Option<u16>) -> Self {
        Tracker {
            wanted,
            other_senders: IdSet::new(),
            candidate: None,
            pending_descriptor: None,
        }
    }

    /// True for an id that is never followed: not the one asked for, or another sender's.
    pub fn ignores(&self, id: u16) -> bool {
        self.wanted.is_some_and(|w| w != id) || self.other_senders.contains(id)
    }

    /// A packet of the current transfer arrived: a run of another one held meanwhile is a
    /// sender running at the same time. Returns the packets dropped, to count and recycle.
    pub fn break_run(&mut self) -> Option<Vec<Held>> {
        let (id, held) = self.candidate.take()?;
        self.other_senders.insert(id);
        Some(held)
    }

    /// Hold a packet of a transfer that may be the next. Returns the run once it is long
    /// enough to take that transfer as the next one; a run of a different id is dropped
    /// (returned in `dropped`).
    pub fn hold(
        &mut self,
        packet: &Packet,
        buf: Vec<u8>,
        dropped: &mut Vec<Held>,
    ) -> Option<(u16, Vec<Held>)> {
        let id = packet.header.transfer_id;
        if self.candidate.as_ref().is_some_and(|(c, _)| *c != id) {
            if let Some((_, old)) = self.candidate.take() {
                dropped.extend(old);
            }
        }
        let (_, run) = self.candidate.get_or_insert_with(|| (id, Vec::new()));
        let mut payload = buf;
        payload.clear();
        payload.extend_from_slice(packet.payload);
        run.push(Held {
            header: packet.header,
            payload,
            integrity: packet.integrity,
        });
        if run.len() >= SWITCH_AFTER {
            return self.candidate.take();
        }
        None
    }

    /// Packets still held when the input ends.
    pub fn take_held(&mut self) -> Vec<Held> {
        self.candidate.take().map(|(_, h)| h).unwrap_or_default()
    }

    pub fn keep_descriptor(&mut self, id: u16, d: Descriptor, total: Option<u64>) {
        self.pending_descriptor = Some((id, d, total));
    }

    /// The descriptor kept for transfer `id`, when it starts.
    pub fn take_descriptor(&mut self, id: u16) -> Option<(Descriptor, Option<u64>)> {
        match self.pending_descriptor.take() {
            Some((pid, d, total)) if pid == id => Some((d, total)),
            _ => None,
        }
    }
}
