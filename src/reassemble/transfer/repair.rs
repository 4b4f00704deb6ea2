//! What arrives for a range already settled, or that improves one: a late packet for a
//! filled range, a packet rebuilt from parity, and a descriptor whose copy of the head
//! restores bytes that were lost or damaged.

use super::super::damage::{RangeKind, Repair};
use super::super::output::Output;
use super::super::packet::{Integrity, Packet};
use super::super::{DamagedPolicy, ReassembleError};
use super::{Counted, Ctx, Placed, Transfer};
use crate::descriptor::Descriptor;

impl Transfer {
    /// A packet for a range the frontier has passed (`reordered` when it was first taken
    /// as new, see [`Placed::Late`]).
    pub(super) fn behind<O: Output>(
        &mut self,
        p: &Packet,
        reordered: bool,
        cx: &mut Ctx<O>,
    ) -> Result<Placed, ReassembleError> {
        let (start, stated_end) = (p.start(), p.stated_end());
        let (abs_start, abs_end) = (self.base + start, self.base + stated_end);
        let writable = cx.sink.out.can_write_at(abs_start);
        let usable =
            p.is_intact() || (!p.is_truncated() && cx.settings.damaged == DamagedPolicy::Keep);
        let damage = &mut cx.sink.damage;
        // An intact copy repairs what it covers of a lost range it does not lie wholly
        // inside (the rest restored from the descriptor's head copy, or rebuilt) or of an
        // unknown one (coarse bookkeeping, issue 35.3: nothing else is written there, it
        // may hold intact bytes).
        if p.is_intact()
            && writable
            && damage.touches_lost(abs_start, abs_end)
            && !damage.is_lost(abs_start, abs_end)
        {
            cx.sink.out.write_at(abs_start, p.payload)?;
            let recovered = cx.sink.damage.repair(abs_start, abs_end);
            // Approximate: an unknown range may have held some of these bytes intact.
            let slots = recovered.div_ceil(self.payload_len.max(1));
            return Ok(Placed::Late {
                repaired: Some((p.integrity, slots)),
                reordered,
            });
        }
        if damage.is_lost(abs_start, abs_end) {
            let mut repaired = None;
            if writable && usable {
                cx.sink.out.write_at(abs_start, p.payload)?;
                let damage = &mut cx.sink.damage;
                damage.repair(abs_start, abs_end);
                let grid = self.payload_len.max(1);
                let slots = stated_end.div_ceil(grid) - start.div_ceil(grid);
                if !p.is_intact() {
                    damage.record_inside(RangeKind::Damaged, abs_start, abs_end);
                }
                repaired = Some((p.integrity, slots));
            }
            return Ok(Placed::Late {
                repaired,
                reordered,
            });
        }
        if writable && p.is_intact() && damage.is_damaged(abs_start, abs_end) {
            cx.sink.out.write_at(abs_start, p.payload)?;
            cx.sink.damage.repair(abs_start, abs_end);
        }
        Ok(Placed::Duplicate { reordered })
    }

    /// A packet rebuilt from parity: place it as an intact arrival counted as `recovered`,
    /// replace a damaged copy waiting for it, or repair a settled range.
    pub fn place_rebuilt<O: Output>(
        &mut self,
        p: &Packet,
        cx: &mut Ctx<O>,
    ) -> Result<Placed, ReassembleError> {
        let (start, end) = (p.start(), p.stated_end());
        self.check_size(end, cx)?;
        let base = self.base;

        if let Some(pending) = self.window.get_mut(start) {
            if pending.is_intact() {
                return Ok(Placed::Unneeded { late: false });
            }
            let out = &mut cx.sink.out;
            pending.replace(base + start, p.payload, Integrity::Intact, out)?;
            pending.stated_end = end;
            cx.sink
                .damage
                .note_repair(Repair::Rebuilt, base + start, base + end);
            return Ok(Placed::Rebuilt { repaired_slots: 0 });
        }
        let behind = end <= self.frontier && !(start == end && start == self.frontier);
        if behind {
            let (abs_start, abs_end) = (base + start, base + end);
            // Part of it may have been restored from a descriptor's head: it repairs the rest.
            let lost = cx.sink.damage.touches_lost(abs_start, abs_end);
            if !lost && !cx.sink.damage.is_damaged(abs_start, abs_end) {
                return Ok(Placed::Unneeded { late: false }); // it arrived after all
            }
            if !cx.sink.out.can_write_at(abs_start) {
                return Ok(Placed::Unneeded { late: true });
            }
            cx.sink.out.write_at(abs_start, p.payload)?;
            cx.sink.damage.repair(abs_start, abs_end);
            let grid = self.payload_len.max(1);
            let repaired_slots = if lost {
                end.div_ceil(grid) - start.div_ceil(grid)
            } else {
                0
            };
            cx.sink
                .damage
                .note_repair(Repair::Rebuilt, abs_start, abs_end);
            return Ok(Placed::Rebuilt { repaired_slots });
        }
        // Not received yet: place it like an intact arrival, but count it as recovered.
        // Placing may have settled its range as lost first, and repaired it as late.
        let rebuilt = match self.place(p, cx)? {
            Placed::Delivered {
                integrity: Integrity::Intact,
                ..
            } => Placed::Rebuilt { repaired_slots: 0 },
            Placed::Late {
                repaired: Some((Integrity::Intact, slots)),
                ..
            } => Placed::Rebuilt {
                repaired_slots: slots,
            },
            Placed::Late { .. } => Placed::Unneeded { late: false },
            Placed::Duplicate { .. } => Placed::Duplicate { reordered: false },
            other => return Ok(other),
        };
        if matches!(rebuilt, Placed::Rebuilt { .. }) {
            cx.sink
                .damage
                .note_repair(Repair::Rebuilt, base + start, base + end);
        }
        Ok(rebuilt)
    }

    /// Use a descriptor of this transfer: its length, and its copy of the head. A
    /// descriptor that contradicts what is known is counted and ignored.
    pub fn apply_descriptor<O: Output>(
        &mut self,
        d: Descriptor,
        total_len: Option<u64>,
        cx: &mut Ctx<O>,
    ) -> Result<(), ReassembleError> {
        let disagrees = self
            .descriptor
            .as_ref()
            .is_some_and(|old| !old.agrees_with(&d));
        if disagrees
            || !self
                .extent
                .learn_from_descriptor(total_len, self.highest_end)
        {
            cx.counts.count(Counted::ConflictingDescriptor);
            self.dispute_head(cx);
            return Ok(());
        }
        cx.counts.count(Counted::Descriptor);
        // Every claim is checked, a later descriptor's included (issue 35.1).
        if let Some(e) = self.extent.end() {
            self.check_size(e, cx)?;
        }
        if let Some(old) = &mut self.descriptor {
            // A sender reading a pipe sends a longer head once it has it.
            if d.head.len() > old.head.len() {
                self.head.learn(&d.head);
                old.head = d.head;
                return self.restore_head_late(cx);
            }
            return Ok(());
        }
        self.payload_len = self.payload_len.max(u64::from(d.payload_len));
        self.head.learn(&d.head);
        self.descriptor = Some(d);
        if let Some(e) = self.extent.end() {
            self.check_size(e, cx)?;
            cx.sink.out.set_len_hint(self.base + e)?;
        }
        self.restore_head_late(cx)
    }

    /// A seekable output may have had the head's range filled before the descriptor came:
    /// write the head over what is still recorded as lost there.
    fn restore_head_late<O: Output>(&mut self, cx: &mut Ctx<O>) -> Result<(), ReassembleError> {
        let (base, grid) = (self.base, self.payload_len.max(1));
        let end = (self.head.bytes().len() as u64).min(self.frontier);
        for offset in (0..end).step_by(grid as usize) {
            let slot_end = (offset + grid).min(end);
            let (abs, abs_end) = (base + offset, base + slot_end);
            if cx.sink.damage.is_lost(abs, abs_end) && cx.sink.out.can_write_at(abs) {
                let r = offset..slot_end;
                cx.sink.out.write_at(abs, self.head.slice(&r))?;
                cx.sink.damage.repair(abs, abs_end);
                self.note_restored(r, cx);
                if slot_end - offset == grid || slot_end == self.frontier {
                    cx.counts.count(Counted::Repaired { slots: 1 });
                }
            }
        }
        Ok(())
    }
}
