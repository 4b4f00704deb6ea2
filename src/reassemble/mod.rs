//! Packets to bytes: put every received payload at its offset, in order, whatever the
//! channel did: reordering, duplication, loss, damage, garbage, interleaved transfers.
//!
//! The [`Reassembler`] keeps a *frontier*: every output byte before it is settled (written,
//! or filled because it was lost). A packet at the frontier is written at once (the fast
//! path: no copy beyond the output buffer). A packet ahead of the frontier waits in a bounded
//! *window*; when the window is full, or (live mode) the oldest gap has waited too long, the
//! gap is declared lost, filled with the fill pattern, and the frontier moves on. Memory is
//! bounded by the window, whatever the stream length or loss pattern.
//!
//! A packet behind the frontier is a duplicate, or a late arrival for a range that was
//! already filled; a seekable output (`-o FILE`) still takes late packets within the horizon
//! (one window behind the frontier) and the damage map is corrected.
//!
//! Transfers: the first transfer id seen is followed (or the one asked for); a new id
//! starts the next transfer, concatenated, once the current one has ended, or after a long
//! run of its packets with none of the current one (its end was lost).
//!
//! Forward error correction: parity packets go to a [`crate::fec::Decoder`], which also keeps
//! copies of recent data payloads; the data packets it rebuilds are placed like received
//! ones and counted as `recovered` (the glue is in `recover.rs`). While parity may still
//! rebuild it, a damaged payload waits in the window instead of being written at once.
//!
//! Reading bytes and finding packets is [`crate::framing`]'s job; this module only sees
//! packets. Submodules: `transfers` (which transfer a packet belongs to), `descriptors`
//! (descriptor packets), `recover` (parity), `drive` (feeding from a map or a stream),
//! [`output`] (where bytes go), [`damage`] (the damage map), [`report`].

pub mod damage;
mod descriptors;
mod drive;
pub mod output;
mod recover;
pub mod report;
mod transfers;

pub use drive::{run_slice, run_stream};

use crate::descriptor::Descriptor;

use crate::wire::{Header, Kind};
use damage::{DamageMap, DamageTotals, RangeKind};
use output::Output;
use std::collections::BTreeMap;
use std::io;
use std::time::{Duration, Instant};

/// What to do with a payload whose CRC failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamagedPolicy {
    /// Write the received bytes: in an image, damage shows as noise where it happened.
    Keep,
    /// Treat the packet as lost: its range is filled.
    Fill,
}

/// The payload bytes the automatic window holds: enough for the reordering of a busy link,
/// small enough for the memory budget.
pub const AUTO_WINDOW_BYTES: usize = 1 << 20;
/// Bounds on the window in packets, so tiny payloads do not make a huge index.
pub const MAX_WINDOW_PACKETS: usize = 1 << 16;
const AUTO_WINDOW_MAX_PACKETS: usize = 4096;
/// How far behind the frontier a late packet is still recognised as late (and written to a
/// file). Only damage ranges are kept for this span, not data, so it can be generous.
const LATE_HORIZON_BYTES: u64 = 4 << 20;
/// Transfers seen interleaved with the followed one are remembered (up to this many) as
/// other senders, never taken for the next transfer.
const MAX_OTHER_SENDERS: usize = 64;
/// Packets of another transfer in a row, with none of the current one, after which the
/// current transfer is taken to have ended (its last packets lost). They are kept and
/// replayed into the new transfer, so none of them is lost.
const SWITCH_AFTER: usize = 32;

/// How to reassemble.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Pattern for lost bytes; byte `o` of a transfer gets `fill[o % fill.len()]`.
    pub fill: Vec<u8>,
    pub damaged: DamagedPolicy,
    /// Reorder window in packets; `None` for about [`AUTO_WINDOW_BYTES`] of payload.
    pub window_packets: Option<usize>,
    /// Follow only this transfer.
    pub transfer_id: Option<u16>,
    /// Live mode: a gap that holds up later packets longer than this is filled.
    pub live_latency: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            fill: vec![0],
            damaged: DamagedPolicy::Keep,
            window_packets: None,
            transfer_id: None,
            live_latency: None,
        }
    }
}

/// Packet and byte counts over the whole input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// New packets whose payload matched its CRC.
    pub intact: u64,
    /// New packets with a valid header and a damaged payload (truncated ones included).
    pub damaged: u64,
    /// Of the damaged, those cut short.
    pub truncated: u64,
    /// Packet slots never received intact or damaged: filled.
    pub lost: u64,
    pub duplicate: u64,
    /// New packets that arrived after a packet with a later offset.
    pub reordered: u64,
    /// Packets that came after their range was filled; written when the output is a file.
    pub late: u64,
    pub late_written: u64,
    /// Packets of transfers not followed.
    pub foreign: u64,
    /// Packets rebuilt from parity (lost or damaged on the way); not counted as lost.
    pub recovered: u64,
    /// Parity packets of the followed transfer.
    pub parity: u64,
    /// Packets of kinds this version does not use (none yet).
    pub unused: u64,
    /// Descriptor packets used (intact, of a followed transfer).
    pub descriptors: u64,
    /// Descriptor packets ignored: damaged, malformed, or contradicting an earlier one.
    pub bad_descriptors: u64,
    pub conflicting_descriptors: u64,
    /// Bytes of lost or damaged packets restored from a descriptor's copy of the head.
    pub restored_bytes: u64,
    pub garbage_bytes: u64,
    pub transfers: u64,
}

/// One transfer as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferSummary {
    pub id: u16,
    /// Where it starts in the output.
    pub base: u64,
    /// Bytes written for it, fill included.
    pub len: u64,
    /// Its length was known (total length or last packet received).
    pub end_known: bool,
    /// What its descriptors said, if any arrived.
    pub descriptor: Option<Descriptor>,
}

/// A payload that arrived ahead of the frontier.
struct Pending {
    data: Vec<u8>,
    /// End offset the header states (beyond `data` when truncated).
    stated_end: u64,
    intact: bool,
}

struct Transfer {
    id: u16,
    base: u64,
    frontier: u64,
    end: Option<u64>,
    /// Largest payload seen: the packet grid for counting lost packets.
    payload_len: u64,
    highest_end: u64,
    window: BTreeMap<u64, Pending>,
    window_packets: usize,
    advanced_at: Instant,
    descriptor: Option<Descriptor>,
}

enum Belongs {
    Current,
    NewTransfer,
    Other,
}

/// A packet of another transfer, kept in case that transfer turns out to be the next one.
struct Held {
    header: Header,
    payload: Vec<u8>,
    intact: bool,
    truncated: bool,
}

/// Packets in, bytes out. See the module documentation.
pub struct Reassembler<O: Output> {
    settings: Settings,
    out: O,
    current: Option<Transfer>,
    /// Where the next transfer starts in the output.
    next_base: u64,
    /// A run of packets of another transfer.
    candidate: Option<(u16, Vec<Held>)>,
    /// Transfers seen interleaved with the followed one: other senders, most recent last.
    other_senders: Vec<u16>,
    /// A descriptor of a transfer not (yet) followed, for when it starts.
    pending_descriptor: Option<(u16, Descriptor, Option<u64>)>,
    finished: Vec<TransferSummary>,
    counts: Counts,
    damage: DamageMap,
    pool: Vec<Vec<u8>>,
    fill_block: Vec<u8>,
    fec: crate::fec::Decoder,
    /// The input buffer lent by the driver (address and length): payloads inside it may be
    /// written without a copy, because the driver takes it back (flushing the output)
    /// before the buffer changes.
    lent: (usize, usize),
}

impl<O: Output> Reassembler<O> {
    pub fn new(settings: Settings, out: O, damage: DamageMap) -> Self {
        assert!(
            !settings.fill.is_empty(),
            "the fill pattern has at least one byte"
        );
        let fill_block = settings
            .fill
            .iter()
            .copied()
            .cycle()
            .take((64 << 10) + settings.fill.len())
            .collect();
        Reassembler {
            settings,
            out,
            current: None,
            next_base: 0,
            candidate: None,
            other_senders: Vec::new(),
            pending_descriptor: None,
            finished: Vec::new(),
            counts: Counts::default(),
            damage,
            pool: Vec::new(),
            fill_block,
            fec: crate::fec::Decoder::new(),
            lent: (0, 0),
        }
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub fn output(&mut self) -> &mut O {
        &mut self.out
    }

    /// Output bytes settled so far (written or filled, in order).
    pub fn settled_bytes(&self) -> u64 {
        match &self.current {
            Some(t) => t.base + t.frontier,
            None => self.next_base,
        }
    }

    /// The current transfer's known length, for progress display.
    pub fn current_len(&self) -> Option<(u64, u64)> {
        self.current
            .as_ref()
            .and_then(|t| t.end.map(|e| (t.frontier, e)))
    }

    /// The driver's input buffer: payloads in it may be written without a copy until
    /// [`Reassembler::take_back_input`].
    fn lend_input(&mut self, buffer: &[u8]) {
        self.lent = (buffer.as_ptr() as usize, buffer.len());
    }

    /// The input buffer is about to change or go away: write out what points into it.
    fn take_back_input(&mut self) -> io::Result<()> {
        self.lent = (0, 0);
        self.out.flush()
    }

    /// Write payload bytes, borrowing them when they lie in the lent input buffer.
    fn write_payload(&mut self, at: u64, data: &[u8]) -> io::Result<()> {
        let (start, len) = self.lent;
        let addr = data.as_ptr() as usize;
        if addr >= start && addr + data.len() <= start + len {
            // SAFETY: `data` lies in the lent buffer, which the driver does not change or
            // drop before `take_back_input` flushes the output.
            unsafe { self.out.write_at_borrowed(at, data) }
        } else {
            self.out.write_at(at, data)
        }
    }

    /// Count bytes that were not packets.
    pub fn garbage(&mut self, len: usize) {
        self.counts.garbage_bytes += len as u64;
    }

    /// Take one packet found by the framing scanner. `payload` holds the bytes present
    /// (fewer than stated when `truncated`).
    pub fn accept(
        &mut self,
        header: &Header,
        payload: &[u8],
        intact: bool,
        truncated: bool,
    ) -> io::Result<()> {
        match header.kind {
            Kind::Data => {}
            Kind::Descriptor => return self.descriptor(header, payload, intact),
            Kind::Parity => return self.accept_parity(header, payload, intact),
        }
        match self.belongs(header) {
            Belongs::Current => {}
            Belongs::NewTransfer => {
                self.end_transfer()?;
                self.start_transfer(header.transfer_id);
            }
            Belongs::Other => return self.other_transfer(header, payload, intact, truncated),
        }
        // A packet of the current transfer breaks a run of another one: that one is a
        // sender running at the same time, not the next transfer.
        if let Some((id, held)) = self.candidate.take() {
            self.counts.foreign += held.len() as u64;
            self.pool.extend(held.into_iter().map(|h| h.payload));
            self.other_senders.retain(|&o| o != id);
            if self.other_senders.len() == MAX_OTHER_SENDERS {
                self.other_senders.remove(0);
            }
            self.other_senders.push(id);
        }
        self.place(header, payload, intact, truncated)
    }

    /// The current transfer, while a packet of it is being placed.
    fn transfer(&mut self) -> &mut Transfer {
        self.current
            .as_mut()
            .expect("placing and settling happen only while a transfer is current")
    }

    /// Place a packet of the current transfer, and what parity rebuilt thanks to it.
    fn place(
        &mut self,
        header: &Header,
        payload: &[u8],
        intact: bool,
        truncated: bool,
    ) -> io::Result<()> {
        self.fec.data(header, payload, intact);
        self.place_packet(header, payload, intact, truncated)?;
        self.place_recovered()
    }

    /// Place one packet of the current transfer.
    fn place_packet(
        &mut self,
        header: &Header,
        payload: &[u8],
        intact: bool,
        truncated: bool,
    ) -> io::Result<()> {
        let window_setting = self.settings.window_packets;
        // Parity can rebuild a group only while its gaps are open: room for two groups.
        let fec_window = self.fec.min_window();
        let hold_damaged = self.fec.may_rebuild();
        let t = self
            .current
            .as_mut()
            .expect("placing happens only while a transfer is current");
        t.payload_len = t.payload_len.max(u64::from(header.payload_len));
        // Re-evaluated as larger payloads appear, so the window's bytes stay bounded.
        t.window_packets = match window_setting {
            Some(n) => n.clamp(1, MAX_WINDOW_PACKETS),
            None => (AUTO_WINDOW_BYTES / t.payload_len.max(1) as usize)
                .clamp(1, AUTO_WINDOW_MAX_PACKETS),
        }
        .max(fec_window);
        if header.last && t.end.is_none() {
            t.end = Some(header.end());
        }
        if let Some(total) = header.total_len {
            if t.end.is_none() {
                t.end = Some(total);
            }
        }
        let (start, stated_end) = (header.offset, header.end());
        let (end, frontier, base) = (t.end, t.frontier, t.base);
        if let Some(e) = end {
            self.out.set_len_hint(base + e)?;
        }
        if end.is_some_and(|e| stated_end > e) {
            // Contradicts the length this transfer already stated: not trustworthy.
            self.counts.foreign += 1;
            return Ok(());
        }
        if truncated && payload.is_empty() {
            // Only the header arrived: it told us the length; the range stays lost.
            self.counts.truncated += 1;
            return Ok(());
        }
        if stated_end <= frontier && !(start == stated_end && start == frontier) {
            return self.behind(start, stated_end, payload, intact, truncated);
        }
        let t = self.transfer();
        if t.window.contains_key(&start) {
            return self.duplicate_ahead(start, payload, intact, truncated);
        }
        if intact {
            self.counts.intact += 1;
        } else {
            self.counts.damaged += 1;
            self.counts.truncated += u64::from(truncated);
            if self.settings.damaged == DamagedPolicy::Fill {
                return Ok(());
            }
        }
        let t = self
            .current
            .as_mut()
            .expect("placing happens only while a transfer is current");
        self.counts.reordered += u64::from(start < t.highest_end);
        t.highest_end = t.highest_end.max(stated_end);
        if start <= t.frontier && t.window.is_empty() && (intact || !hold_damaged) {
            // The fast path: in order.
            self.deliver(start, stated_end, payload, intact)?;
            return self.after_advance();
        }
        loop {
            let t = self.transfer();
            if t.window.len() < t.window_packets {
                break;
            }
            self.settle_first_gap()?;
            if start <= self.transfer().frontier {
                self.deliver(start, stated_end, payload, intact)?;
                return self.after_advance();
            }
        }
        let mut data = self.pool.pop().unwrap_or_default();
        data.clear();
        data.extend_from_slice(payload);
        let t = self.transfer();
        t.window.insert(
            start,
            Pending {
                data,
                stated_end,
                intact,
            },
        );
        Ok(())
    }

    /// A packet whose offset already waits in the window.
    fn duplicate_ahead(
        &mut self,
        start: u64,
        payload: &[u8],
        intact: bool,
        truncated: bool,
    ) -> io::Result<()> {
        self.counts.duplicate += 1;
        let t = self.transfer();
        let pending = t.window.get_mut(&start).expect("caller checked");
        if intact && !pending.intact {
            pending.data.clear();
            pending.data.extend_from_slice(payload);
            pending.intact = true;
        } else if !intact && !truncated && !pending.intact && pending.data.len() < payload.len() {
            // A longer damaged copy beats a truncated one.
            pending.data.clear();
            pending.data.extend_from_slice(payload);
        }
        Ok(())
    }

    /// A packet for a range the frontier has passed.
    fn behind(
        &mut self,
        start: u64,
        stated_end: u64,
        payload: &[u8],
        intact: bool,
        truncated: bool,
    ) -> io::Result<()> {
        let t = self.current.as_ref().expect("a transfer is being placed");
        let (abs_start, abs_end) = (t.base + start, t.base + stated_end);
        let seekable = self.out.seekable();
        let usable = intact || (!truncated && self.settings.damaged == DamagedPolicy::Keep);
        if self.damage.is_lost(abs_start, abs_end) {
            self.counts.late += 1;
            if seekable && usable {
                self.out.write_at(abs_start, payload)?;
                self.damage.repair(abs_start, abs_end);
                let p = t.payload_len.max(1);
                let slots = stated_end.div_ceil(p) - start.div_ceil(p);
                self.counts.lost = self.counts.lost.saturating_sub(slots);
                if intact {
                    self.counts.intact += 1;
                } else {
                    self.counts.damaged += 1;
                    self.damage
                        .record_inside(RangeKind::Damaged, abs_start, abs_end);
                }
                self.counts.late_written += 1;
            }
            return Ok(());
        }
        self.counts.duplicate += 1;
        if seekable && intact && self.damage.is_damaged(abs_start, abs_end) {
            self.out.write_at(abs_start, payload)?;
            self.damage.repair(abs_start, abs_end);
        }
        Ok(())
    }

    /// Write a payload at the frontier (it may start before it: only the new part counts).
    fn deliver(
        &mut self,
        start: u64,
        stated_end: u64,
        data: &[u8],
        intact: bool,
    ) -> io::Result<()> {
        let t = self
            .current
            .as_mut()
            .expect("delivery happens only while a transfer is current");
        let skip = (t.frontier - start.min(t.frontier)) as usize;
        let (base, mut from) = (t.base, t.frontier);
        let head = t.descriptor.as_ref().map_or(&[][..], |d| &d.head[..]);
        if !intact && (from as usize) < head.len() {
            // Damaged bytes where the descriptor holds the true head: take the head.
            let upto = head.len().min((start + data.len() as u64) as usize);
            if upto > from as usize {
                self.out.write_at(base + from, &head[from as usize..upto])?;
                self.counts.restored_bytes += upto as u64 - from;
                from = upto as u64;
                t.frontier = from;
            }
        }
        let skip = skip.max((from - start.min(from)) as usize);
        if skip < data.len() {
            self.write_payload(base + from, &data[skip..])?;
        }
        let data_end = start + data.len() as u64;
        let written_end = data_end.max(from);
        if !intact && data_end > from {
            self.damage
                .record(RangeKind::Damaged, base + from, base + data_end);
        }
        let t = self.transfer();
        t.frontier = written_end;
        if stated_end > written_end {
            // A truncated packet: the rest of its range never arrived.
            self.fill(stated_end)?;
        }
        Ok(())
    }

    /// Fill from the frontier up to `to` (transfer offset) as lost.
    fn fill(&mut self, to: u64) -> io::Result<()> {
        let t = self
            .current
            .as_mut()
            .expect("filling happens only while a transfer is current");
        if to <= t.frontier {
            return Ok(());
        }
        // What the descriptor's copy of the head covers is restored, not lost.
        let head = t.descriptor.as_ref().map_or(&[][..], |d| &d.head[..]);
        if (t.frontier as usize) < head.len() {
            let (from, upto) = (t.frontier as usize, head.len().min(to as usize));
            self.out.write_at(t.base + from as u64, &head[from..upto])?;
            self.counts.restored_bytes += (upto - from) as u64;
            t.frontier = upto as u64;
            if upto as u64 == to {
                return Ok(());
            }
        }
        let (base, from, p) = (t.base, t.frontier, t.payload_len.max(1));
        self.counts.lost += to.div_ceil(p) - from.div_ceil(p);
        self.damage.record(RangeKind::Lost, base + from, base + to);
        if self.settings.fill.iter().all(|&b| b == 0) && self.out.holes_read_as_zeros() {
            // A fresh file reads zeros where nothing was written: leave a hole, so a huge
            // claimed length costs no disk and no time.
            self.out.set_len_hint(base + to)?;
            self.transfer().frontier = to;
            return Ok(());
        }
        let n = self.settings.fill.len() as u64;
        // The pattern starts where the pixels start (after an image header the descriptor
        // showed), so a pixel pattern fills whole pixels.
        let origin = self
            .current
            .as_ref()
            .and_then(|t| t.descriptor.as_ref())
            .and_then(Descriptor::raster_offset)
            .unwrap_or(0);
        let mut at = from;
        while at < to {
            let phase = ((at + n - origin % n) % n) as usize;
            let len = ((to - at) as usize).min(self.fill_block.len() - phase);
            let len = len.min(64 << 10);
            self.out
                .write_at(base + at, &self.fill_block[phase..phase + len])?;
            at += len as u64;
        }
        let t = self.transfer();
        t.frontier = to;
        Ok(())
    }

    /// Deliver waiting packets now at the frontier, and settle old damage ranges.
    fn after_advance(&mut self) -> io::Result<()> {
        let hold_damaged = self.fec.may_rebuild();
        loop {
            let t = self.transfer();
            let Some(entry) = t.window.first_entry() else {
                break;
            };
            if *entry.key() > t.frontier || (hold_damaged && !entry.get().intact) {
                break;
            }
            let (start, pending) = entry.remove_entry();
            self.deliver(start, pending.stated_end, &pending.data, pending.intact)?;
            self.pool.push(pending.data);
        }
        let t = self.transfer();
        t.advanced_at = Instant::now();
        let window_bytes = t.window_packets as u64 * t.payload_len.max(1);
        let horizon = (4 * window_bytes).max(LATE_HORIZON_BYTES);
        let settled = (t.base + t.frontier).saturating_sub(horizon);
        self.damage.settle_before(settled)
    }

    /// Give up waiting for the oldest gap: fill it and deliver what follows.
    fn settle_first_gap(&mut self) -> io::Result<()> {
        let t = self.transfer();
        let Some((&next, _)) = t.window.first_key_value() else {
            return Ok(());
        };
        if next <= t.frontier {
            // A damaged packet held for parity that did not come in time: write it as is.
            let (start, pending) = t.window.pop_first().expect("the window has a first entry");
            self.deliver(start, pending.stated_end, &pending.data, pending.intact)?;
            self.pool.push(pending.data);
        } else {
            self.fill(next)?;
        }
        self.after_advance()
    }

    /// Live mode: fill a gap that has held up later packets for too long.
    pub fn tick(&mut self) -> io::Result<()> {
        let Some(latency) = self.settings.live_latency else {
            return Ok(());
        };
        let due = |t: &Transfer| !t.window.is_empty() && t.advanced_at.elapsed() >= latency;
        if self.current.as_ref().is_some_and(due) {
            // Before giving up on a gap, rebuild what parity already can.
            self.fec.flush();
            self.place_recovered()?;
        }
        while let Some(t) = &self.current {
            if !due(t) {
                break;
            }
            self.settle_first_gap()?;
        }
        Ok(())
    }

    /// How long until `tick` may have work, for a reader waiting on input.
    pub fn next_tick_in(&self) -> Option<Duration> {
        let latency = self.settings.live_latency?;
        let t = self.current.as_ref()?;
        if t.window.is_empty() {
            return None;
        }
        Some(latency.saturating_sub(t.advanced_at.elapsed()))
    }

    /// The input ended: settle everything and return the report.
    pub fn finish(mut self) -> io::Result<(Report, O)> {
        if let Some((_, held)) = self.candidate.take() {
            self.counts.foreign += held.len() as u64;
        }
        self.end_transfer()?;
        self.damage.settle_all()?;
        self.out.flush()?;
        let totals = self.damage.totals();
        let complete = !self.finished.is_empty() && self.finished.iter().all(|t| t.end_known);
        Ok((
            Report {
                counts: self.counts,
                damage: totals,
                transfers: self.finished,
                output_len: self.next_base,
                complete,
            },
            self.out,
        ))
    }
}

impl Transfer {
    fn is_complete(&self) -> bool {
        self.end.is_some_and(|e| self.frontier >= e) && self.window.is_empty()
    }
}

/// What happened, for `-v`, `--report` and the exit status.
pub struct Report {
    pub counts: Counts,
    pub damage: DamageTotals,
    pub transfers: Vec<TransferSummary>,
    pub output_len: u64,
    /// Every transfer's end was known (so no tail can be missing).
    pub complete: bool,
}

impl Report {
    /// Complete and without damage or loss.
    pub fn intact(&self) -> bool {
        self.complete && self.damage.lost_bytes == 0 && self.damage.damaged_bytes == 0
    }
}

#[cfg(test)]
mod tests;
