//! Which transfer a packet belongs to: the one followed, the next one (consecutive
//! transfers concatenate), or another sender's; starting and ending transfers.

use super::output::Output;
use super::SWITCH_AFTER;
use super::{Belongs, Held, Reassembler, Transfer, TransferSummary};
use crate::wire::Header;
use std::collections::BTreeMap;
use std::io;
use std::time::Instant;

impl<O: Output> Reassembler<O> {
    /// Which transfer a packet belongs to.
    pub(super) fn belongs(&self, header: &Header) -> Belongs {
        if self
            .settings
            .transfer_id
            .is_some_and(|id| id != header.transfer_id)
        {
            return Belongs::Other;
        }
        match &self.current {
            None => Belongs::NewTransfer,
            // The same id again from the start after the transfer ended: a new run of the
            // sender with the same --id.
            Some(t) if t.id == header.transfer_id => {
                if t.is_complete() && header.seq == 0 && header.offset == 0 {
                    Belongs::NewTransfer
                } else {
                    Belongs::Current
                }
            }
            Some(_) => Belongs::Other,
        }
    }

    pub(super) fn other_transfer(
        &mut self,
        header: &Header,
        payload: &[u8],
        intact: bool,
        truncated: bool,
    ) -> io::Result<()> {
        let complete = self.current.as_ref().is_some_and(Transfer::is_complete);
        if self.settings.transfer_id.is_some() || self.other_senders.contains(&header.transfer_id) {
            self.counts.foreign += 1;
            return Ok(());
        }
        if complete {
            self.end_transfer()?;
            self.start_transfer(header.transfer_id);
            return self.place(header, payload, intact, truncated);
        }
        let run = match &mut self.candidate {
            Some((id, held)) if *id == header.transfer_id => held,
            _ => {
                if let Some((_, held)) = self.candidate.take() {
                    self.counts.foreign += held.len() as u64;
                }
                &mut self.candidate.insert((header.transfer_id, Vec::new())).1
            }
        };
        let mut copy = self.pool.pop().unwrap_or_default();
        copy.clear();
        copy.extend_from_slice(payload);
        run.push(Held {
            header: *header,
            payload: copy,
            intact,
            truncated,
        });
        if run.len() >= SWITCH_AFTER {
            let (id, held) = self.candidate.take().expect("candidate was just extended");
            self.end_transfer()?;
            self.start_transfer(id);
            for h in held {
                self.place(&h.header, &h.payload, h.intact, h.truncated)?;
                self.pool.push(h.payload);
            }
        }
        Ok(())
    }

    pub(super) fn start_transfer(&mut self, id: u16) {
        self.counts.transfers += 1;
        self.fec.reset(id);
        self.current = Some(Transfer {
            id,
            base: self.next_base,
            frontier: 0,
            end: None,
            payload_len: 0,
            highest_end: 0,
            window: BTreeMap::new(),
            window_packets: 1,
            advanced_at: Instant::now(),
            descriptor: None,
        });
        if let Some((pending_id, d, total)) = self.pending_descriptor.take() {
            if pending_id == id {
                // Applying to a fresh transfer cannot fail to write anything.
                let _ = self.apply_descriptor(d, total);
            }
        }
    }

    /// Close the current transfer: deliver everything waiting, fill up to its known end.
    pub(super) fn end_transfer(&mut self) -> io::Result<()> {
        if self.current.is_some() {
            self.fec.flush();
            self.place_recovered()?;
        }
        while self.current.as_ref().is_some_and(|t| !t.window.is_empty()) {
            self.settle_first_gap()?;
        }
        let Some(t) = self.current.as_ref() else {
            return Ok(());
        };
        if let Some(end) = t.end {
            self.fill(end)?;
        }
        let t = self.current.take().expect("checked above");
        self.finished.push(TransferSummary {
            id: t.id,
            base: t.base,
            len: t.frontier,
            end_known: t.end.is_some(),
            descriptor: t.descriptor,
        });
        self.next_base = t.base + t.frontier;
        Ok(())
    }
}
