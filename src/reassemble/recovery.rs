//! The reassembler's side of forward error correction: parity packets go to the
//! [`crate::fec::Decoder`], fountain repair packets to the [`crate::fec::fountain::Decoder`],
//! and the data packets they rebuild are placed as if they had arrived intact, counted as
//! `recovered` instead.
//!
//! A rebuilt packet usually lands ahead of the frontier or in the gap the frontier waits at.
//! It may also replace a damaged payload held in the window; or, when it comes after its
//! range was settled, repair the range in a seekable output (a stream cannot take it back:
//! it counts as late). Placing is [`super::transfer::Transfer::place_rebuilt`]'s job.

use super::output::Output;
use super::packet::Packet;
use super::{Counted, ReassembleError, Reassembler};
use crate::fec::{ParityTaken, Recovered};

impl<O: Output> Reassembler<O> {
    /// Take a parity packet: it belongs to the followed transfer or is counted foreign.
    pub(super) fn accept_parity(&mut self, p: &Packet) -> Result<(), ReassembleError> {
        let id = p.header.transfer_id;
        match &self.current {
            Some(t) if t.id == id => {}
            // A transfer whose first data packets were all lost starts with its parity,
            // also as the next one after a complete transfer (not after the one before:
            // that is a late leftover of it).
            None if !self.tracker.ignores(id) => self.start_transfer(id)?,
            Some(t)
                if t.is_complete()
                    && !self.tracker.ignores(id)
                    && self.finished.last().is_none_or(|f| f.id != id) =>
            {
                self.next_transfer(id)?
            }
            _ => {
                self.counts.count(Counted::Foreign { packets: 1 });
                return Ok(());
            }
        }
        self.counts.count(Counted::Parity);
        if let Some(info) = p.header.parity.filter(|_| p.is_intact()) {
            // What its group fields claim counts against the size limit, as a data
            // packet's offset does (issue 35.1).
            let p_len = u64::from(p.header.payload_len).saturating_sub(u64::from(info.odd));
            let group_end = p.header.offset
                + u64::from(info.group_len.saturating_sub(1)) * p_len
                + u64::from(info.last_len);
            let claimed = group_end.max(p.header.total_len.unwrap_or(0));
            let (t, cx) = self.ctx();
            t.expect("a transfer is current").check_size(claimed, &cx)?;
        }
        if self.fec.parity(&p.header, p.payload, p.is_intact()) == ParityTaken::Conflict {
            // Two parity packets for one slot: as for two data packets for one range, the
            // result is never "intact" (a rebuild may have used the wrong one).
            self.counts.count(Counted::ConflictingParity);
        }
        self.place_recovered()
    }

    /// Take a fountain repair packet: it belongs to the followed transfer (or starts it:
    /// a receiver that joined after the data) or is counted foreign.
    pub(super) fn accept_repair(&mut self, p: &Packet) -> Result<(), ReassembleError> {
        let id = p.header.transfer_id;
        match &self.current {
            Some(t) if t.id == id => {}
            None if !self.tracker.ignores(id) => self.start_transfer(id)?,
            _ => {
                self.counts.count(Counted::Foreign { packets: 1 });
                return Ok(());
            }
        }
        self.counts.count(Counted::Repair);
        self.fountain
            .repair(&p.header, p.payload, p.is_intact())
            .map_err(super::fountain_error)?;
        self.fountain_followed();
        self.place_recovered()
    }

    /// Place one packet a decoder (fountain or parity) rebuilt. Both decode from what was
    /// sent, so an encrypted transfer's rebuilt packet is ciphertext: deciphered here first.
    fn place_one_rebuilt(&mut self, r: &mut Recovered) -> Result<(), ReassembleError> {
        if let Some(v) = &mut self.verifier {
            v.decipher(&r.header, &mut r.payload);
        }
        let (t, mut cx) = self.ctx();
        if let Some(t) = t.filter(|t| t.id == r.header.transfer_id) {
            let placed =
                t.place_rebuilt(&Packet::new(r.header, &r.payload, true, false), &mut cx)?;
            self.counts.count(Counted::Placed(placed));
        }
        Ok(())
    }

    /// Place every packet the decoder has rebuilt, then deliver what waited for them.
    pub(super) fn place_recovered(&mut self) -> Result<(), ReassembleError> {
        while let Some(mut r) = self
            .fountain
            .take_recovered()
            .map_err(super::fountain_error)?
        {
            self.place_one_rebuilt(&mut r)?;
            self.fountain.recycle(r.payload);
        }
        while let Some(mut r) = self.fec.take_recovered() {
            self.place_one_rebuilt(&mut r)?;
            self.fec.recycle(r.payload);
        }
        let (t, mut cx) = self.ctx();
        if let Some(t) = t {
            t.release_waiting(&mut cx)?;
        }
        self.vouch_for_fountain();
        Ok(())
    }

    /// A fountain is followed: its decoder knows which packets are missing, so the damage
    /// map needs few open ranges ([`super::Limits::fountain_kept_ranges`]).
    pub(super) fn fountain_followed(&mut self) {
        if self.fountain.geometry().is_some() {
            let ranges = self.settings.limits.fountain_kept_ranges;
            self.sink.damage.lower_kept(ranges);
        }
    }

    /// Once the fountain decoder has every block of the transfer, every data packet of it
    /// arrived intact or was rebuilt, and was written: the unknown ranges (merged holes,
    /// which also cover intact bytes the map no longer tells apart) inside the transfer
    /// are in the output as sent. Only for the geometry of the transfer's own length.
    fn vouch_for_fountain(&mut self) {
        let Some(g) = self.fountain.newly_finished() else {
            return;
        };
        if let Some(t) = &self.current {
            if t.extent.end() == Some(g.total_len) {
                self.sink.damage.vouch(t.base, t.base + g.total_len);
            }
        }
    }
}
