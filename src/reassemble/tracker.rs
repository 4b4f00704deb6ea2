//! Which transfer a packet belongs to: the one followed, the next one, or another
//! sender's.
//!
//! The rules (also in unpktize(1) and pktize(5)):
//! - The first transfer seen is followed (or the one asked for by id).
//! - A packet of the followed transfer's id belongs to it, also after it completed: a
//!   repetition of a finished transfer (a duplicating channel, a carousel pass) is a
//!   duplicate, not a new file. The same id starts a *new* transfer only when what arrives
//!   contradicts the finished one: an intact first data packet (offset 0) with another
//!   length or CRC, or another total; or a data packet that fits a descriptor that
//!   disagreed with the finished one's (that descriptor alone starts nothing: kept, it
//!   conflicts once the finished transfer's own packets follow it).
//! - Another id starts the next transfer (concatenated in the output) once the followed one
//!   is complete, or after [`SWITCH_AFTER`] of its packets in a row with none of the
//!   followed one (the followed one's end was lost), or when the input ends (a short next
//!   transfer after one whose end was lost); its packets are held meanwhile (at most
//!   [`HOLD_PACKETS`]) and then placed, so none is lost. A transfer known only by the
//!   descriptor kept for it, which came after the followed one's data (that did not
//!   advance since), is the next transfer when the input ends. A descriptor that agrees
//!   with an earlier finished transfer of its id, reordered after the next transfer, is
//!   that transfer's late packet: it starts nothing.
//! - Packets of the followed transfer that only fill in what it already reached (reordered
//!   across the boundary, repeated) do not make the next one another sender's; an id is
//!   another sender's once the followed transfer *advances* [`INTERLEAVED_AFTER`] times
//!   while its packets are held, or once more than [`HOLD_PACKETS`] of them are held. It is
//!   then another sender's for the rest of the input: never taken for the next transfer.
//!   All 65536 ids are remembered.

use super::packet::{Integrity, Packet};
use crate::descriptor::Descriptor;
use crate::wire::Header;

/// Packets of another transfer in a row, with none of the current one, after which the
/// current transfer is taken to have ended (its last packets lost).
pub const SWITCH_AFTER: usize = 32;

/// Packets of the followed transfer that reach beyond everything it had reached, arriving
/// while packets of another id are held, after which that id is another sender's: the two
/// run side by side. A reordering channel delays packets of the followed transfer past the
/// next one's first packets, but those fill in behind its end; they do not advance it.
pub const INTERLEAVED_AFTER: usize = 8;

/// The most packets of a candidate next transfer held (64 payloads: at most 4 MiB, 64 KiB
/// at the default payload size).
pub const HOLD_PACKETS: usize = 2 * SWITCH_AFTER;

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

/// Packets of a transfer that may be the next one, and the evidence against that.
struct Candidate {
    id: u16,
    held: Vec<Held>,
    /// Of its packets since the last one of the followed transfer.
    run: usize,
    /// Times the followed transfer advanced since the first was held.
    advances: usize,
}

/// The transfer-level state that outlives one transfer.
pub struct Tracker {
    /// Follow only this id.
    wanted: Option<u16>,
    other_senders: IdSet,
    /// Packets of another transfer that may be the next one.
    candidate: Option<Candidate>,
    /// A descriptor of a transfer not (yet) followed, for when it starts.
    pending_descriptor: Option<(u16, Descriptor, Option<u64>)>,
    /// Times the followed transfer advanced since that descriptor was kept.
    advances_since_descriptor: usize,
}

impl Tracker {
    pub fn new(wanted: Option<u16>) -> Self {
        Tracker {
            wanted,
            other_senders: IdSet::new(),
            candidate: None,
            pending_descriptor: None,
            advances_since_descriptor: 0,
        }
    }

    /// True for an id that is never followed: not the one asked for, or another sender's.
    pub fn ignores(&self, id: u16) -> bool {
        self.wanted.is_some_and(|w| w != id) || self.other_senders.contains(id)
    }

    /// A packet of the current transfer arrived (`advances`: it reaches beyond everything
    /// the transfer had reached). When that makes the held candidate another sender's
    /// (see [`INTERLEAVED_AFTER`]), returns its packets, to count and recycle.
    pub fn current_packet(&mut self, advances: bool) -> Option<Vec<Held>> {
        self.advances_since_descriptor += usize::from(advances);
        let c = self.candidate.as_mut()?;
        c.run = 0;
        c.advances += usize::from(advances);
        if c.advances < INTERLEAVED_AFTER {
            return None;
        }
        self.other_sender()
    }

    /// The candidate is another sender's: forget it, remember its id.
    fn other_sender(&mut self) -> Option<Vec<Held>> {
        let c = self.candidate.take()?;
        self.other_senders.insert(c.id);
        Some(c.held)
    }

    /// The packets held for transfer `id`, which starts now (it is the next transfer);
    /// packets held for another id are returned in `dropped`.
    pub fn take_for(&mut self, id: u16, dropped: &mut Vec<Held>) -> Vec<Held> {
        match self.candidate.take() {
            Some(c) if c.id == id => c.held,
            Some(c) => {
                dropped.extend(c.held);
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// A packet of transfer `id`, neither the followed one nor the candidate, arrived. A
    /// candidate held while the followed transfer did not advance came after it, whole:
    /// it is returned, to start as the next transfer. One held while the followed transfer
    /// advanced ran beside it: it is another sender's, and its packets go to `dropped`.
    pub fn displaced_by(&mut self, id: u16, dropped: &mut Vec<Held>) -> Option<(u16, Vec<Held>)> {
        match &self.candidate {
            Some(c) if c.id != id && c.advances == 0 => {
                self.candidate.take().map(|c| (c.id, c.held))
            }
            Some(c) if c.id != id => {
                dropped.extend(self.other_sender().unwrap_or_default());
                None
            }
            _ => None,
        }
    }

    /// Hold a packet of a transfer that may be the next (call [`Tracker::displaced_by`]
    /// first). Returns its id and packets once the run is long enough to take that
    /// transfer as the next one; a candidate that grows past [`HOLD_PACKETS`] is another
    /// sender's, its packets returned in `dropped`.
    pub fn hold(
        &mut self,
        packet: &Packet,
        buf: Vec<u8>,
        dropped: &mut Vec<Held>,
    ) -> Option<(u16, Vec<Held>)> {
        let id = packet.header.transfer_id;
        let c = self.candidate.get_or_insert_with(|| Candidate {
            id,
            held: Vec::new(),
            run: 0,
            advances: 0,
        });
        debug_assert_eq!(c.id, id, "displaced_by went first");
        let mut payload = buf;
        payload.clear();
        payload.extend_from_slice(packet.payload);
        c.held.push(Held {
            header: packet.header,
            payload,
            integrity: packet.integrity,
        });
        c.run += 1;
        if c.run >= SWITCH_AFTER {
            return self.candidate.take().map(|c| (c.id, c.held));
        }
        if c.held.len() > HOLD_PACKETS {
            dropped.extend(self.other_sender().unwrap_or_default());
        }
        None
    }

    /// The input ends: the candidate held, if any, with its id.
    pub fn take_held(&mut self) -> Option<(u16, Vec<Held>)> {
        self.candidate.take().map(|c| (c.id, c.held))
    }

    pub fn keep_descriptor(&mut self, id: u16, d: Descriptor, total: Option<u64>) {
        if self
            .pending_descriptor
            .as_ref()
            .is_none_or(|(pid, ..)| *pid != id)
        {
            self.advances_since_descriptor = 0;
        }
        self.pending_descriptor = Some((id, d, total));
    }

    /// The input ends: the transfer a kept descriptor announced, if the followed transfer
    /// did not advance since it came (it came after that transfer's data: it is the next
    /// transfer, none of whose data packets arrived, not another sender's beside it).
    pub fn described_after(&self) -> Option<u16> {
        let (id, ..) = self.pending_descriptor.as_ref()?;
        (self.advances_since_descriptor == 0 && !self.ignores(*id)).then_some(*id)
    }

    /// Does a data packet of transfer `id` fit the descriptor kept for it (`None`: none is
    /// kept)? It does not when its payload is larger than the packets the descriptor
    /// announces, or when it ends elsewhere than the total it states.
    pub fn pending_admits(&self, id: u16, h: &Header) -> Option<bool> {
        let (pid, d, total) = self.pending_descriptor.as_ref()?;
        if *pid != id {
            return None;
        }
        let fits_total = total.is_none_or(|t| {
            h.end() <= t && h.total_len.is_none_or(|n| n == t) && (!h.last || h.end() == t)
        });
        Some(fits_total && h.payload_len <= d.payload_len)
    }

    /// The descriptor kept for transfer `id`, when it starts.
    pub fn take_descriptor(&mut self, id: u16) -> Option<(Descriptor, Option<u64>)> {
        match self.pending_descriptor.take() {
            Some((pid, d, total)) if pid == id => Some((d, total)),
            _ => None,
        }
    }
}
