//! The reassembler's side of forward error correction: parity packets go to the
//! [`crate::fec::Decoder`], and the data packets it rebuilds are placed as if they had
//! arrived intact, counted as `recovered` instead.
//!
//! A rebuilt packet usually lands ahead of the frontier or in the gap the frontier waits at.
//! It may also replace a damaged payload held in the window; or, when it comes after its
//! range was settled, repair the range in a seekable output (a stream cannot take it back:
//! it counts as late).

use super::output::Output;
use super::Reassembler;
use crate::wire::Header;
use std::io;

impl<O: Output> Reassembler<O> {
    /// Take a parity packet: it belongs to the followed transfer or is counted foreign.
    pub(super) fn accept_parity(
        &mut self,
        header: &Header,
        payload: &[u8],
        intact: bool,
    ) -> io::Result<()> {
        let wanted = self
            .settings
            .transfer_id
            .is_none_or(|id| id == header.transfer_id);
        match &self.current {
            Some(t) if t.id == header.transfer_id => {}
            // A transfer whose first data packets were all lost starts with its parity.
            None if wanted => self.start_transfer(header.transfer_id),
            _ => {
                self.counts.foreign += 1;
                return Ok(());
            }
        }
        self.counts.parity += 1;
        self.fec.parity(header, payload, intact);
        self.place_recovered()
    }

    /// Place every packet the decoder has rebuilt, then deliver what waited for them.
    pub(super) fn place_recovered(&mut self) -> io::Result<()> {
        while let Some(r) = self.fec.take_recovered() {
            self.place_rebuilt(&r.header, &r.payload)?;
            self.fec.recycle(r.payload);
        }
        self.release_waiting()
    }

    fn place_rebuilt(&mut self, header: &Header, payload: &[u8]) -> io::Result<()> {
        let Some(t) = self.current.as_mut() else {
            return Ok(());
        };
        if t.id != header.transfer_id {
            return Ok(());
        }
        let (start, end) = (header.offset, header.end());
        if let Some(pending) = t.window.get_mut(&start) {
            if !pending.intact {
                // A damaged payload held for this: replace it.
                pending.data.clear();
                pending.data.extend_from_slice(payload);
                pending.intact = true;
                pending.stated_end = end;
                self.counts.recovered += 1;
            }
            return Ok(());
        }
        let behind = end <= t.frontier && !(start == end && start == t.frontier);
        if behind {
            let (abs_start, abs_end) = (t.base + start, t.base + end);
            let lost = self.damage.is_lost(abs_start, abs_end);
            if !lost && !self.damage.is_damaged(abs_start, abs_end) {
                return Ok(()); // it arrived after all
            }
            if !self.out.seekable() {
                self.counts.late += 1;
                return Ok(());
            }
            let p = t.payload_len.max(1);
            self.out.write_at(abs_start, payload)?;
            self.damage.repair(abs_start, abs_end);
            if lost {
                let slots = end.div_ceil(p) - start.div_ceil(p);
                self.counts.lost = self.counts.lost.saturating_sub(slots);
            }
            self.counts.recovered += 1;
            return Ok(());
        }
        // Not received yet: place it like an intact arrival, but count it as recovered.
        let (intact, reordered) = (self.counts.intact, self.counts.reordered);
        self.place_packet(header, payload, true, false)?;
        self.counts.intact = intact;
        self.counts.reordered = reordered;
        self.counts.recovered += 1;
        Ok(())
    }

    /// Deliver a packet that waits at the frontier: one that filled the gap, or a damaged one
    /// that parity can no longer rebuild.
    fn release_waiting(&mut self) -> io::Result<()> {
        let hold_damaged = self.fec.may_rebuild();
        let Some(t) = &self.current else {
            return Ok(());
        };
        match t.window.first_key_value() {
            Some((&start, pending)) if start <= t.frontier && (pending.intact || !hold_damaged) => {
                self.after_advance()
            }
            _ => Ok(()),
        }
    }
}
