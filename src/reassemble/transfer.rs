//! One transfer being reassembled: its frontier, window, extent and descriptor, and the
//! placement of each of its packets.
//!
//! The *frontier* is the transfer offset before which every byte is settled: written, or
//! filled as lost. A packet at the frontier is written at once (the fast path); a packet
//! ahead of it waits in the [`Window`] (a seekable output takes it at its offset at once
//! and the window keeps only its extent); when the window is full, or in live mode the
//! oldest gap waited too long, the gap is filled and the frontier moves on. A packet behind
//! the frontier is a duplicate, or a late arrival for a filled range, which a seekable
//! output still takes.

use super::damage::{DamageTotals, RangeKind, Repair};
use super::extent::{Extent, ExtentVerdict};
use super::fingerprints::{Fingerprints, Seen};
use super::output::{LentInput, Output};
use super::packet::{Integrity, Packet};
use super::sink::Sink;
use super::summary::{Counted, Placed};
use super::window::Window;
use super::{Counts, DamagedPolicy, ReassembleError, Settings};
use crate::descriptor::Descriptor;
use crate::image::DescribedImage;
use std::time::Duration;

mod head;
mod repair;

use head::Head;

/// How far behind the frontier a late packet is still recognised as late on a stream.
/// Only damage ranges are kept for this span, not data, so it can be generous.
pub(super) const LATE_HORIZON_BYTES: u64 = 4 << 20;

/// Per-packet context: the parts of the reassembler a placement touches.
pub struct Ctx<'c, O: Output> {
    pub sink: &'c mut Sink<O>,
    pub counts: &'c mut Counts,
    pub settings: &'c Settings,
    /// Parity may still rebuild a damaged payload: hold it rather than write it.
    pub hold_damaged: bool,
    /// Least window, in packets, that FEC needs to rebuild a group.
    pub min_window: usize,
    /// The time the driver gave with the packet or timeout being handled (see
    /// [`super::Reassembler::accept`]).
    pub now: Duration,
}

/// A transfer being reassembled.
pub struct Transfer {
    pub id: u16,
    /// Where it starts in the output.
    pub base: u64,
    pub frontier: u64,
    pub extent: Extent,
    /// Largest payload seen: the packet grid for counting lost packets.
    pub payload_len: u64,
    highest_end: u64,
    window: Window,
    /// When the frontier last moved (the driver's clock): live mode gives up on a gap
    /// that held up later packets for longer than the latency.
    advanced_at: Duration,
    pub descriptor: Option<Descriptor>,
    /// Length and CRC of the intact first data packet (offset 0): after the transfer is
    /// complete, a different one starts a new transfer with the same id.
    first_packet: Option<(u16, u32)>,
    fingerprints: Fingerprints,
    /// Damage totals when the transfer started, to tell whether it is whole.
    damage_at_start: DamageTotals,
    /// Data packets per interleaved span, as the descriptor announced (0: in order): the
    /// window holds a span.
    pub interleave_span: usize,
    /// Seeded from an earlier reception (see [`super::resume`]).
    pub resumed: bool,
    /// The descriptor's copy of the first bytes, and what was restored from it.
    head: Head,
}

/// How bytes restored from the head reach the output.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FromHead {
    /// Write them now, and count them restored (they settle at the frontier).
    Settle,
    /// They were written already (ahead of the frontier): count them restored now.
    Written,
    /// Write them over a damaged payload ahead of the frontier: counted when it settles.
    Ahead,
}

impl Transfer {
    pub fn new(id: u16, base: u64, damage_at_start: DamageTotals, now: Duration) -> Self {
        Transfer {
            id,
            base,
            frontier: 0,
            extent: Extent::default(),
            payload_len: 0,
            highest_end: 0,
            window: Window::new(),
            advanced_at: now,
            descriptor: None,
            first_packet: None,
            fingerprints: Fingerprints::default(),
            damage_at_start,
            interleave_span: 0,
            resumed: false,
            head: Head::default(),
        }
    }

    /// The input buffer that packets placed with their place in it lie in (see
    /// [`Window::lend`]).
    pub fn lend(&mut self, input: Option<LentInput>) {
        self.window.lend(input);
    }

    /// The earliest place in the lent input that the window refers to.
    pub fn oldest_lent(&self) -> Option<usize> {
        self.window.oldest_lent()
    }

    /// Continue an earlier reception that settled `len` bytes (and knew that this is the
    /// whole length when `end_known`): the frontier moves there, so what arrives for the
    /// ranges the caller records as lost repairs them, and the rest are duplicates.
    pub fn resume_at(&mut self, len: u64, end_known: bool) {
        self.frontier = len;
        self.highest_end = len;
        if end_known {
            self.extent.state_from_data(len);
        }
        self.resumed = true;
    }

    /// The furthest any of its packets reached (transfer offset).
    pub fn highest_end(&self) -> u64 {
        self.highest_end
    }

    /// Every byte up to the known end is settled.
    pub fn is_complete(&self) -> bool {
        self.extent.end().is_some_and(|e| self.frontier >= e) && self.window.is_empty()
    }

    /// Complete, and no byte of it was lost or damaged (or every such byte was repaired).
    pub fn is_whole<O: Output>(&self, sink: &Sink<O>) -> bool {
        self.is_complete()
            && sink.damage.totals() == self.damage_at_start
            && sink.damage.clean_from(self.base)
    }

    /// The sender announced a carousel: it repeats the transfer until stopped.
    pub fn is_carousel(&self) -> bool {
        self.descriptor.as_ref().is_some_and(|d| d.carousel)
    }

    /// After completion: does this intact data packet contradict the transfer (so the same
    /// id starts a new one)?
    pub fn contradicted_by(&self, p: &Packet) -> bool {
        let h = &p.header;
        if !p.is_intact() || !self.is_complete() {
            return false;
        }
        if h.total_len.is_some_and(|t| Some(t) != self.extent.end()) {
            return true;
        }
        h.offset == 0
            && self
                .first_packet
                .is_some_and(|first| first != (h.payload_len, h.payload_crc))
    }

    /// Is this intact packet this transfer's own first packet again (a repetition: a
    /// carousel's next pass, a duplicating channel)?
    pub fn repeats_first(&self, p: &Packet) -> bool {
        let h = &p.header;
        p.is_intact() && h.offset == 0 && self.first_packet == Some((h.payload_len, h.payload_crc))
    }

    /// The bytes of this transfer not (yet) received, in output offsets: the ranges
    /// settled as lost, the gaps between the packets waiting ahead of the frontier, and
    /// what lies beyond them up to the known end.
    pub fn unknown_ranges<O: Output>(&self, sink: &Sink<O>) -> Vec<std::ops::Range<u64>> {
        let base = self.base;
        let mut out: Vec<std::ops::Range<u64>> = sink
            .damage
            .open_lost(false)
            .into_iter()
            .filter(|r| r.end > base)
            .collect();
        let mut push = |r: std::ops::Range<u64>| {
            if r.start < r.end {
                match out.last_mut() {
                    Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
                    _ => out.push(r),
                }
            }
        };
        let mut cursor = self.frontier;
        for (start, p) in self.window.iter() {
            push(base + cursor..base + start);
            let present_end = start + p.present as u64;
            push(base + present_end.max(cursor)..base + p.stated_end);
            cursor = cursor.max(p.stated_end);
        }
        if let Some(end) = self.extent.end() {
            push(base + cursor..base + end);
        }
        out
    }

    /// Since when (the driver's clock) the oldest gap has held up later packets, when
    /// there is one.
    pub fn waiting_since(&self) -> Option<Duration> {
        (!self.window.is_empty()).then_some(self.advanced_at)
    }

    /// Place one data packet of this transfer, and say what became of it (the caller
    /// counts that).
    pub fn place<O: Output>(
        &mut self,
        p: &Packet,
        cx: &mut Ctx<O>,
    ) -> Result<Placed, ReassembleError> {
        let h = &p.header;
        self.payload_len = self.payload_len.max(u64::from(h.payload_len));
        // Re-evaluated as larger payloads appear, so the window's bytes stay bounded.
        let at_least = cx.min_window.max(self.interleave_span);
        self.window.resize(
            cx.settings.window_packets,
            self.payload_len,
            at_least,
            &cx.settings.limits,
        );
        match self.extent.learn_from_data(p) {
            ExtentVerdict::Consistent => {}
            ExtentVerdict::Untrusted => return Ok(Placed::Foreign),
            ExtentVerdict::OverridesDescriptor => {
                cx.counts.count(Counted::ConflictingDescriptor);
                self.dispute_head(cx);
            }
        }
        self.check_size(p.stated_end(), cx)?;
        match (self.extent.end(), self.extent.known_from_data()) {
            (Some(e), true) => cx.sink.out.set_len(self.base + e)?,
            (Some(e), false) => cx.sink.out.set_len_hint(self.base + e)?,
            (None, _) => {}
        }
        if p.is_truncated() && p.payload.is_empty() {
            // Only the header arrived: it told us the length; the range stays lost. It is
            // a packet found all the same.
            return Ok(Placed::HeaderOnly);
        }
        let (start, stated_end) = (p.start(), p.stated_end());
        if p.is_intact() {
            if start == 0 && self.first_packet.is_none() {
                self.first_packet = Some((h.payload_len, h.payload_crc));
            }
            if self.fingerprints.check(
                start,
                stated_end,
                h.payload_crc,
                cx.settings.limits.fingerprints,
            ) == Seen::Conflict
            {
                return Ok(Placed::Conflict);
            }
        }
        let empty_at_frontier = start == stated_end && start == self.frontier;
        if stated_end <= self.frontier && !empty_at_frontier {
            return self.behind(p, false, cx);
        }
        if self.window.contains(start) {
            return self.duplicate_ahead(p, cx);
        }
        if !p.is_intact() && cx.settings.damaged == DamagedPolicy::Fill {
            return Ok(Placed::Dropped {
                integrity: p.integrity,
            });
        }
        let reordered = start < self.highest_end;
        let delivered = Placed::Delivered {
            integrity: p.integrity,
            reordered,
        };
        self.highest_end = self.highest_end.max(stated_end);
        let writable = p.is_intact() || !cx.hold_damaged;
        if start <= self.frontier && self.window.is_empty() && writable {
            // The fast path: in order.
            self.deliver(start, stated_end, p.payload, p.integrity, p.input_pos, cx)?;
            self.after_advance(cx)?;
            return Ok(delivered);
        }
        while self.window.is_full() {
            self.settle_first_gap(cx)?;
            if stated_end <= self.frontier && !empty_at_frontier {
                // Its range was just settled as lost: it repairs it, as a late packet.
                return self.behind(p, reordered, cx);
            }
            if start <= self.frontier {
                self.deliver(start, stated_end, p.payload, p.integrity, p.input_pos, cx)?;
                self.after_advance(cx)?;
                return Ok(delivered);
            }
        }
        // A seekable output takes the payload at its offset now; the window keeps its extent.
        let through = writable && cx.sink.out.can_write_at(self.base + start);
        if through {
            self.write_ahead(p, cx)?;
        }
        self.window.insert(
            start,
            stated_end,
            p.payload,
            p.integrity,
            through,
            p.input_pos,
        );
        Ok(delivered)
    }

    /// Refuse a transfer that claims or reaches more than the size limit: `reached` is an
    /// end offset a packet (data, parity, descriptor) states.
    pub fn check_size<O: Output>(&self, reached: u64, cx: &Ctx<O>) -> Result<(), ReassembleError> {
        let Some(limit) = cx.settings.max_len else {
            return Ok(());
        };
        let claimed = self.extent.end().unwrap_or(0).max(reached);
        if claimed > limit {
            return Err(ReassembleError::TooLarge(super::TooLarge {
                transfer_id: self.id,
                claimed,
                limit,
            }));
        }
        Ok(())
    }

    /// Write a payload ahead of the frontier at its offset (seekable output).
    fn write_ahead<O: Output>(
        &mut self,
        p: &Packet,
        cx: &mut Ctx<O>,
    ) -> Result<(), ReassembleError> {
        let (start, data) = (p.start(), p.payload);
        cx.sink.write(self.base + start, data, p.input_pos)?;
        if !p.is_intact() {
            // Damaged bytes where the descriptor holds the true head: show the head.
            let end = start + data.len() as u64;
            self.take_from_head(start, end, FromHead::Ahead, cx)?;
        }
        Ok(())
    }

    /// Take what the descriptor's head covers of `from..to` (transfer offsets) from the
    /// head, as `how` says; returns where that part ends (`from` when it covers nothing).
    /// The one place bytes are restored from the head.
    fn take_from_head<O: Output>(
        &mut self,
        from: u64,
        to: u64,
        how: FromHead,
        cx: &mut Ctx<O>,
    ) -> Result<u64, ReassembleError> {
        let Some(r) = self.head.covers(from, to) else {
            return Ok(from);
        };
        if how != FromHead::Written {
            cx.sink
                .out
                .write_at(self.base + r.start, self.head.slice(&r))?;
        }
        if how != FromHead::Ahead {
            self.note_restored(r.clone(), cx);
        }
        Ok(r.end)
    }

    /// Descriptors of this transfer disagreed: its head is not known.
    pub fn head_disputed(&self) -> bool {
        self.head.is_disputed()
    }

    /// Bytes `r` (transfer offsets) were written from the descriptor's head.
    pub(super) fn note_restored<O: Output>(&mut self, r: std::ops::Range<u64>, cx: &mut Ctx<O>) {
        cx.counts.count(Counted::Restored {
            bytes: r.end - r.start,
        });
        let base = self.base;
        cx.sink
            .damage
            .note_repair(Repair::Restored, base + r.start, base + r.end);
        self.head.restored(r);
    }

    /// Descriptors disagree: the head is not known. Use it no more, and make what was
    /// restored from it damaged (an intact packet for it still repairs it; until then the
    /// result is not intact on a descriptor's word).
    pub(super) fn dispute_head<O: Output>(&mut self, cx: &mut Ctx<O>) {
        let Some(restored) = self.head.dispute() else {
            return;
        };
        for r in restored {
            let (start, end) = (self.base + r.start, self.base + r.end);
            // Already final in the damage map (the transfer moved far on meanwhile): still
            // never intact.
            let final_already = !cx.sink.damage.record_damaged_open(start, end);
            cx.counts.count(Counted::Unrestored {
                bytes: r.end - r.start,
                final_already,
            });
        }
    }

    /// A packet whose offset already waits in the window.
    fn duplicate_ahead<O: Output>(
        &mut self,
        p: &Packet,
        cx: &mut Ctx<O>,
    ) -> Result<Placed, ReassembleError> {
        let duplicate = Placed::Duplicate { reordered: false };
        let base = self.base;
        let pending = self.window.get_mut(p.start()).expect("caller checked");
        let better = (p.is_intact() && !pending.is_intact())
            // A longer damaged copy beats a truncated one.
            || (p.integrity == Integrity::Damaged
                && !pending.is_intact()
                && pending.present < p.payload.len());
        if !better {
            return Ok(duplicate);
        }
        pending.replace(base + p.start(), p.payload, p.integrity, &mut cx.sink.out)?;
        Ok(duplicate)
    }

    /// Settle a payload at the frontier (it may start before it: only the new part counts).
    fn deliver<O: Output>(
        &mut self,
        start: u64,
        stated_end: u64,
        data: &[u8],
        integrity: Integrity,
        input_pos: Option<usize>,
        cx: &mut Ctx<O>,
    ) -> Result<(), ReassembleError> {
        let base = self.base;
        let mut from = self.frontier;
        let data_end = start + data.len() as u64;
        if integrity != Integrity::Intact {
            // Damaged bytes where the descriptor holds the true head: take the head.
            from = self.take_from_head(from, data_end, FromHead::Settle, cx)?;
        }
        let skip = (from.max(start) - start) as usize;
        if skip < data.len() {
            let pos = input_pos.map(|p| p + skip);
            cx.sink.write(base + from, &data[skip..], pos)?;
        }
        if integrity != Integrity::Intact && data_end > from {
            cx.sink
                .damage
                .record(RangeKind::Damaged, base + from, base + data_end);
        }
        self.frontier = data_end.max(from);
        if stated_end > self.frontier {
            // A truncated packet: the rest of its range never arrived.
            self.fill(stated_end, cx)?;
        }
        Ok(())
    }

    /// Fill from the frontier up to `to` (transfer offset) as lost.
    pub fn fill<O: Output>(&mut self, to: u64, cx: &mut Ctx<O>) -> Result<(), ReassembleError> {
        if to <= self.frontier {
            return Ok(());
        }
        // What the descriptor's copy of the head covers is restored, not lost.
        self.frontier = self.take_from_head(self.frontier, to, FromHead::Settle, cx)?;
        if self.frontier == to {
            return Ok(());
        }
        let (base, from, grid) = (self.base, self.frontier, self.payload_len.max(1));
        // The pattern starts where the pixels start (after an image header the descriptor
        // showed), so a pixel pattern fills whole pixels.
        let origin = self
            .descriptor
            .as_ref()
            .and_then(Descriptor::raster_offset)
            .unwrap_or(0);
        cx.sink.fill(base + from, base + to, base + origin)?;
        cx.counts.count(Counted::Lost {
            slots: to.div_ceil(grid) - from.div_ceil(grid),
        });
        cx.sink
            .damage
            .record(RangeKind::Lost, base + from, base + to);
        self.frontier = to;
        Ok(())
    }

    /// Deliver waiting packets now at the frontier, and settle old damage ranges.
    fn after_advance<O: Output>(&mut self, cx: &mut Ctx<O>) -> Result<(), ReassembleError> {
        while let Some((start, pending)) = self.window.first() {
            let held_for_parity = cx.hold_damaged && !pending.is_intact() && !pending.written;
            if start > self.frontier || held_for_parity {
                break;
            }
            let (start, pending) = self
                .window
                .pop_first()
                .expect("the window has a first entry");
            self.deliver_pending(start, pending, cx)?;
        }
        self.advanced_at = cx.now;
        let window_bytes = self.window.capacity() as u64 * self.payload_len.max(1);
        let horizon = (4 * window_bytes).max(cx.settings.limits.late_horizon_bytes);
        let settled = (self.base + self.frontier).saturating_sub(horizon);
        cx.sink.damage.settle_before(settled)?;
        Ok(())
    }

    fn deliver_pending<O: Output>(
        &mut self,
        start: u64,
        pending: super::window::Pending,
        cx: &mut Ctx<O>,
    ) -> Result<(), ReassembleError> {
        let lent = self.window.lent_input();
        let (data, input_pos): (&[u8], _) = match (pending.written, pending.lent, &lent) {
            // Written through: only its extent matters here.
            (true, _, _) => (&[], None),
            (false, Some(pos), Some(input)) => {
                (&(**input).as_ref()[pos..pos + pending.present], Some(pos))
            }
            (false, _, _) => (&pending.data, None),
        };
        let stated_end = pending.stated_end;
        if pending.written {
            self.deliver_written(
                start,
                pending.present as u64,
                stated_end,
                pending.integrity,
                cx,
            )?;
        } else {
            self.deliver(start, stated_end, data, pending.integrity, input_pos, cx)?;
        }
        self.window.recycle(pending.data);
        Ok(())
    }

    /// Settle a payload already written at its offset.
    fn deliver_written<O: Output>(
        &mut self,
        start: u64,
        present: u64,
        stated_end: u64,
        integrity: Integrity,
        cx: &mut Ctx<O>,
    ) -> Result<(), ReassembleError> {
        let data_end = start + present;
        let mut from = self.frontier.max(start);
        if integrity != Integrity::Intact {
            // The head was written over it already (write_ahead); count it restored.
            from = self.take_from_head(from, data_end, FromHead::Written, cx)?;
            if data_end > from {
                cx.sink
                    .damage
                    .record(RangeKind::Damaged, self.base + from, self.base + data_end);
            }
        }
        self.frontier = data_end.max(self.frontier);
        if stated_end > self.frontier {
            self.fill(stated_end, cx)?;
        }
        Ok(())
    }

    /// Give up waiting for the oldest gap: fill it and deliver what follows.
    pub fn settle_first_gap<O: Output>(&mut self, cx: &mut Ctx<O>) -> Result<(), ReassembleError> {
        let Some((next, _)) = self.window.first() else {
            return Ok(());
        };
        if next <= self.frontier {
            // A damaged packet held for parity that did not come in time: write it as is.
            let (start, pending) = self
                .window
                .pop_first()
                .expect("the window has a first entry");
            self.deliver_pending(start, pending, cx)?;
        } else {
            self.fill(next, cx)?;
        }
        self.after_advance(cx)
    }

    /// Deliver a packet that waits at the frontier: one that filled the gap, or a damaged
    /// one that parity can no longer rebuild.
    pub fn release_waiting<O: Output>(&mut self, cx: &mut Ctx<O>) -> Result<(), ReassembleError> {
        match self.window.first() {
            Some((start, pending))
                if start <= self.frontier
                    && (pending.is_intact() || pending.written || !cx.hold_damaged) =>
            {
                self.after_advance(cx)
            }
            _ => Ok(()),
        }
    }

    /// The transfer ends: settle everything waiting and fill up to its known end.
    pub fn close<O: Output>(&mut self, cx: &mut Ctx<O>) -> Result<(), ReassembleError> {
        while !self.window.is_empty() {
            self.settle_first_gap(cx)?;
        }
        if let Some(end) = self.extent.end() {
            self.check_size(end, cx)?;
            self.fill(end, cx)?;
        }
        Ok(())
    }
}
