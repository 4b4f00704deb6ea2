//! Descriptor packets on the receiving side: which transfer a descriptor belongs to, what
//! its length and head give the transfer, and writing the head where the first packets
//! were lost. The descriptor body itself is [`crate::descriptor`]'s.

use super::output::Output;
use super::Reassembler;
use crate::descriptor::Descriptor;
use crate::wire::Header;
use std::io;

impl<O: Output> Reassembler<O> {
    /// A descriptor packet: use it for its transfer, keep it for later, or ignore it.
    pub(super) fn descriptor(
        &mut self,
        header: &Header,
        payload: &[u8],
        intact: bool,
    ) -> io::Result<()> {
        let parsed = if intact {
            Descriptor::parse(payload).ok()
        } else {
            None
        };
        let Some(d) = parsed else {
            self.counts.bad_descriptors += 1;
            return Ok(());
        };
        let id = header.transfer_id;
        if self.settings.transfer_id.is_some_and(|want| want != id)
            || self.other_senders.contains(&id)
        {
            self.counts.foreign += 1;
            return Ok(());
        }
        match &self.current {
            None => self.start_transfer(id),
            Some(t) if t.id == id && !t.is_complete() => {}
            // The trailing descriptor of a finished transfer.
            Some(t)
                if t.id == id && t.descriptor.as_ref().is_none_or(|old| old.agrees_with(&d)) => {}
            // After a finished transfer, a descriptor that says something else starts the
            // next one: a new run with the same id, or another sender's transfer.
            Some(t) if t.is_complete() => {
                self.end_transfer()?;
                self.start_transfer(id);
            }
            // Another transfer while this one runs: keep it for when (if) that one starts.
            Some(_) => {
                self.pending_descriptor = Some((id, d, header.total_len));
                return Ok(());
            }
        }
        self.apply_descriptor(d, header.total_len)
    }

    /// Use a descriptor of the current transfer: its length, and its copy of the head.
    pub(super) fn apply_descriptor(
        &mut self,
        d: Descriptor,
        total_len: Option<u64>,
    ) -> io::Result<()> {
        let t = self
            .current
            .as_mut()
            .expect("a descriptor is applied to the current transfer");
        let conflicts = t
            .descriptor
            .as_ref()
            .is_some_and(|old| !old.agrees_with(&d))
            || matches!((t.end, total_len), (Some(e), Some(n)) if e != n);
        if conflicts {
            self.counts.conflicting_descriptors += 1;
            return Ok(());
        }
        self.counts.descriptors += 1;
        if let Some(old) = &mut t.descriptor {
            // A sender reading a pipe sends a longer head once it has it.
            if d.head.len() > old.head.len() {
                old.head = d.head;
                return self.restore_head_late();
            }
            return Ok(());
        }
        if t.end.is_none() {
            t.end = total_len;
        }
        t.payload_len = t.payload_len.max(u64::from(d.payload_len));
        let (base, end) = (t.base, t.end);
        t.descriptor = Some(d);
        if let Some(e) = end {
            self.out.set_len_hint(base + e)?;
        }
        self.restore_head_late()
    }

    /// A file output may have had the head's range filled before the descriptor came:
    /// write the head over what is still recorded as lost there.
    pub(super) fn restore_head_late(&mut self) -> io::Result<()> {
        if !self.out.seekable() {
            return Ok(());
        }
        let t = self
            .current
            .as_ref()
            .expect("called with a current transfer");
        let Some(head) = t.descriptor.as_ref().map(|d| d.head.clone()) else {
            return Ok(());
        };
        let (base, frontier, p) = (t.base, t.frontier, t.payload_len.max(1));
        let end = (head.len() as u64).min(frontier);
        for offset in (0..end).step_by(p as usize) {
            let slot_end = (offset + p).min(end);
            if self.damage.is_lost(base + offset, base + slot_end) {
                self.out
                    .write_at(base + offset, &head[offset as usize..slot_end as usize])?;
                self.damage.repair(base + offset, base + slot_end);
                self.counts.restored_bytes += slot_end - offset;
                if slot_end - offset == p || slot_end == frontier {
                    self.counts.lost = self.counts.lost.saturating_sub(1);
                }
            }
        }
        Ok(())
    }
}
