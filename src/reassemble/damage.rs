//! The damage map: which byte ranges of the output were lost (filled) or damaged (written
//! from a payload whose CRC failed), and the counts a report needs.
//!
//! Memory stays bounded on any stream: ranges are kept only while a late packet could still
//! change them (within the `horizon` behind the reassembly frontier, or, for an output
//! that takes writes anywhere, until the end), and never more than
//! [`super::Limits::kept_ranges`] (by default [`MAX_KEPT_RANGES`]) of them; older ones are final and go to the [`RangeSink`] (the JSON report) or are only
//! counted.
//!
//! An output that takes writes anywhere never makes a range final before the end, however
//! many there are (issue 35.3: a carousel's later pass must still repair every hole of an
//! earlier one). Past the cap the bookkeeping grows coarser instead: the ranges closest to
//! each other are merged, with the bytes between them, into [`RangeKind::Unknown`] ranges,
//! which may also hold intact bytes. An unknown range is never intact: only an intact
//! packet is written into it, and it is repaired like a lost one, so a later pass that
//! delivers every packet still ends whole; until then its bytes count as lost (an upper
//! bound), and the report says its ranges are coarse.
//!
//! The open ranges are a sorted map by start: recording, finding and repairing one costs
//! O(log n), so a carousel's later pass or a resume with many holes stays linear in the
//! packets (issue 35.10: a scan of every open range per repair was quadratic).

use std::collections::BTreeMap;
use std::io;

/// What happened to a byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeKind {
    /// Nothing arrived for it: filled with the fill pattern.
    Lost,
    /// Written from a payload that failed its CRC (or was cut short).
    Damaged,
    /// Past the cap of kept ranges: lost, damaged and intact bytes, not told apart any more
    /// (coarse bookkeeping). Never intact; an intact packet repairs it.
    Unknown,
}

impl RangeKind {
    pub fn name(self) -> &'static str {
        match self {
            RangeKind::Lost => "lost",
            RangeKind::Damaged => "damaged",
            RangeKind::Unknown => "unknown",
        }
    }
}

/// How a byte range that did not arrive intact was made right anyway: kept (when asked,
/// for the damage picture) apart from the damage ranges, which they never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// Rebuilt from parity.
    Rebuilt,
    /// Written from a descriptor's copy of the head.
    Restored,
}

/// Repairs kept for the picture at most: beyond, the rest show as intact.
pub const MAX_REPAIRS: usize = 1 << 18;

/// A range of output offsets, `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DamagedRange {
    pub kind: RangeKind,
    pub start: u64,
    pub end: u64,
}

/// Ranges kept open for repair at most: 64 Ki ranges, about 3 MiB. Beyond, the oldest are
/// made final, or, for an output that takes writes anywhere, the closest ones are merged
/// into [`RangeKind::Unknown`] ranges (down to half the cap), so that a later pass can
/// still repair them.
pub const MAX_KEPT_RANGES: usize = 1 << 16;

/// Why a [`RangeSink`] failed: which of the files that ride along with the output could
/// not be written. Typed, so that a full disk while drawing the map is not told as one
/// while writing the report, nor either as one while writing the output.
#[derive(Debug, thiserror::Error)]
pub enum RangeSinkError {
    /// The JSON report (see [`super::report::JsonReport`]).
    #[error("writing the report: {0}")]
    Report(io::Error),
    /// The damage picture (see [`super::map_sink::MapSink`]).
    #[error("writing the map: {0}")]
    Map(io::Error),
}

/// What a [`RangeSink`] method returns.
pub type SinkResult = Result<(), RangeSinkError>;

/// Ranges kept open while a fountain is followed ([`super::Limits::fountain_kept_ranges`]):
/// 4096, about 200 KiB, where 64 Ki ranges (3 MiB) would hold every hole of a 1 GiB
/// transfer at 20% loss until the repair packets fill them.
pub const FOUNTAIN_KEPT_RANGES: usize = 1 << 12;

/// Receives final ranges, in output order, then the report at the end.
pub trait RangeSink {
    fn range(&mut self, range: &DamagedRange) -> SinkResult;
    /// A range that was rebuilt or restored (only when the map records repairs), at the
    /// end, before `finish`.
    fn repair(&mut self, _how: Repair, _start: u64, _end: u64) -> SinkResult {
        Ok(())
    }
    /// The input ended: everything is final.
    fn finish(&mut self, _report: &super::Report) -> SinkResult {
        Ok(())
    }
}

/// Totals over final ranges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DamageTotals {
    pub lost_bytes: u64,
    pub lost_ranges: u64,
    pub damaged_bytes: u64,
    pub damaged_ranges: u64,
    /// Of the lost ranges, those of [`RangeKind::Unknown`]: coarse, they may also hold
    /// intact bytes (counted in `lost_bytes`, an upper bound then).
    pub unknown_ranges: u64,
}

/// An open range, keyed by its start in [`DamageMap`]'s map.
#[derive(Debug, Clone, Copy)]
struct Open {
    kind: RangeKind,
    end: u64,
}

/// Recent ranges (still changeable) and totals of final ones.
pub struct DamageMap {
    /// Sorted, disjoint: start -> kind and end.
    recent: BTreeMap<u64, Open>,
    totals: DamageTotals,
    sink: Option<Box<dyn RangeSink>>,
    /// Keep ranges until the end (within the cap), not only within the horizon.
    keep_all: bool,
    /// Repairs, when recorded (`record_repairs`), in the order they happened.
    repairs: Option<Vec<(Repair, u64, u64)>>,
    /// The end of the last final range: ranges are final in output order.
    final_end: u64,
    /// Open ranges kept at most ([`super::Limits::kept_ranges`]).
    max_kept: usize,
    /// Repairs kept at most ([`super::Limits::repairs`]).
    max_repairs: usize,
}

impl DamageMap {
    pub fn new(sink: Option<Box<dyn RangeSink>>) -> Self {
        DamageMap {
            recent: BTreeMap::new(),
            totals: DamageTotals::default(),
            sink,
            keep_all: false,
            repairs: None,
            final_end: 0,
            max_kept: MAX_KEPT_RANGES,
            max_repairs: MAX_REPAIRS,
        }
    }

    /// Keep at most [`super::Limits::kept_ranges`] open ranges and
    /// [`super::Limits::repairs`] repairs (the defaults without this).
    pub fn set_limits(&mut self, limits: &super::Limits) {
        self.max_kept = limits.kept_ranges.max(2);
        self.max_repairs = limits.repairs;
    }

    /// Keep at most `ranges` open ranges from now on (if fewer than the limit already).
    pub fn lower_kept(&mut self, ranges: usize) {
        self.max_kept = self.max_kept.min(ranges.max(2));
    }

    /// Something (a report, a picture) receives the ranges.
    pub fn has_sink(&self) -> bool {
        self.sink.is_some()
    }

    /// Also keep the ranges that were rebuilt or restored (for the damage picture); they
    /// reach the sink through [`RangeSink::repair`] at the end.
    pub fn record_repairs(&mut self) {
        self.repairs.get_or_insert_with(Vec::new);
    }

    /// A range was rebuilt or restored (kept only when asked, and within the cap).
    pub fn note_repair(&mut self, how: Repair, start: u64, end: u64) {
        if let Some(repairs) = &mut self.repairs {
            if start < end && repairs.len() < self.max_repairs {
                repairs.push((how, start, end));
            }
        }
    }

    /// Keep every range open for repair until the end (an output that takes writes
    /// anywhere: a later pass of a carousel can still repair it).
    pub fn keep_all(&mut self) {
        self.keep_all = true;
    }

    /// True when no open range ends after `offset`.
    pub fn clean_from(&self, offset: u64) -> bool {
        self.recent
            .last_key_value()
            .is_none_or(|(_, r)| r.end <= offset)
    }

    fn ranges(&self) -> impl Iterator<Item = DamagedRange> + '_ {
        self.recent.iter().map(|(&start, r)| DamagedRange {
            kind: r.kind,
            start,
            end: r.end,
        })
    }

    /// The open lost ranges (and damaged ones with `damaged_too`), in order: what a
    /// concealment or a snapshot treats as unknown.
    pub fn open_lost(&self, damaged_too: bool) -> Vec<std::ops::Range<u64>> {
        let mut out: Vec<std::ops::Range<u64>> = Vec::new();
        for r in self.ranges() {
            if r.kind != RangeKind::Damaged || damaged_too {
                match out.last_mut() {
                    Some(last) if last.end == r.start => last.end = r.end,
                    _ => out.push(r.start..r.end),
                }
            }
        }
        out
    }

    /// Hand the repairs and the report to the sink: the end.
    pub fn finish(&mut self, report: &super::Report) -> SinkResult {
        let Some(sink) = &mut self.sink else {
            return Ok(());
        };
        for (how, start, end) in self.repairs.take().unwrap_or_default() {
            sink.repair(how, start, end)?;
        }
        sink.finish(report)
    }

    /// Record a range at or after every range recorded so far (ranges come in output order).
    pub fn record(&mut self, kind: RangeKind, start: u64, end: u64) {
        if start >= end {
            return;
        }
        if let Some(mut back) = self.recent.last_entry() {
            let open = back.get_mut();
            if open.kind == kind && open.end == start {
                open.end = end;
                return;
            }
        }
        self.recent.insert(start, Open { kind, end });
    }

    /// Record a range among the recent ones, where no range of the exact bookkeeping covers
    /// it (after `repair`). A coarse range it overlaps takes it in (the union, unknown).
    pub fn record_inside(&mut self, kind: RangeKind, start: u64, end: u64) {
        if start >= end {
            return;
        }
        if !self.is_unknown(start, end) {
            self.recent.insert(start, Open { kind, end });
            return;
        }
        let (mut lo, mut hi, mut kind) = (start, end, kind);
        loop {
            let Some(r) = self.overlapping(lo, hi).next() else {
                break;
            };
            self.recent.remove(&r.start);
            (lo, hi) = (lo.min(r.start), hi.max(r.end));
            if r.kind != kind {
                kind = RangeKind::Unknown;
            }
        }
        self.recent.insert(lo, Open { kind, end: hi });
    }

    /// Record `start..end`, which no range covers, as damaged, if it is still open (after
    /// every final range); false when it is not, and nothing was recorded.
    pub fn record_damaged_open(&mut self, start: u64, end: u64) -> bool {
        if start < self.final_end {
            return false;
        }
        self.record_inside(RangeKind::Damaged, start, end);
        true
    }

    /// A late packet arrived intact for `start..end`: remove that span from recent ranges.
    /// Returns how many lost bytes it recovered.
    pub fn repair(&mut self, start: u64, end: u64) -> u64 {
        let mut recovered = 0;
        loop {
            let Some(r) = self.overlapping(start, end).next() else {
                break;
            };
            if r.kind != RangeKind::Damaged {
                recovered += r.end.min(end) - r.start.max(start);
            }
            self.cut(&r, start, end);
        }
        recovered
    }

    /// Every byte of `start..end` is in the output as sent (a fountain decoder saw each of
    /// its packets arrive intact or rebuilt it, and each was written): the unknown ranges
    /// inside it, coarse bookkeeping that may have covered intact bytes, are cleared as
    /// repaired. Lost and damaged ranges stay (a packet that could not be written).
    /// Returns the bytes cleared.
    pub fn vouch(&mut self, start: u64, end: u64) -> u64 {
        let unknown: Vec<DamagedRange> = self
            .overlapping(start, end)
            .filter(|r| r.kind == RangeKind::Unknown)
            .collect();
        let mut cleared = 0;
        for r in unknown {
            cleared += r.end.min(end) - r.start.max(start);
            self.cut(&r, start, end);
        }
        cleared
    }

    /// Take `start..end` out of the recent range `r`, keeping what lies either side.
    fn cut(&mut self, r: &DamagedRange, start: u64, end: u64) {
        self.recent.remove(&r.start);
        let kind = r.kind;
        if r.start < start {
            self.recent.insert(r.start, Open { kind, end: start });
        }
        if r.end > end {
            self.recent.insert(end, Open { kind, end: r.end });
        }
    }

    /// True when `start..end` lies inside a recent lost range (a late packet can fill it).
    pub fn is_lost(&self, start: u64, end: u64) -> bool {
        self.overlapping(start, end)
            .any(|r| r.kind == RangeKind::Lost && r.start <= start && end <= r.end)
    }

    /// True when part of `start..end` lies in a recent lost or unknown range (a rebuilt
    /// packet whose head a descriptor restored, say).
    pub fn touches_lost(&self, start: u64, end: u64) -> bool {
        self.overlapping(start, end)
            .any(|r| r.kind != RangeKind::Damaged)
    }

    /// True when `start..end` overlaps a recent damaged range (an intact copy can repair it).
    pub fn is_damaged(&self, start: u64, end: u64) -> bool {
        self.overlapping(start, end)
            .any(|r| r.kind == RangeKind::Damaged)
    }

    /// True when `start..end` overlaps a recent unknown range (coarse bookkeeping: only an
    /// intact copy may be written there, and it repairs what it covers).
    pub fn is_unknown(&self, start: u64, end: u64) -> bool {
        self.overlapping(start, end)
            .any(|r| r.kind == RangeKind::Unknown)
    }

    /// Recent ranges that overlap `start..end`, last first (ranges are sorted and
    /// disjoint).
    fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = DamagedRange> + '_ {
        self.recent
            .range(..end)
            .rev()
            .take_while(move |(_, r)| r.end > start)
            .map(|(&start, r)| DamagedRange {
                kind: r.kind,
                start,
                end: r.end,
            })
    }

    /// Make every range that ends at or before `offset` final (with `keep_all`, only
    /// what exceeds the cap).
    pub fn settle_before(&mut self, offset: u64) -> SinkResult {
        let offset = if self.keep_all { 0 } else { offset };
        self.settle(offset)
    }

    fn settle(&mut self, offset: u64) -> SinkResult {
        if self.keep_all && offset < u64::MAX && self.recent.len() > self.max_kept {
            self.coarsen(self.max_kept / 2);
        }
        while let Some((_, front)) = self.recent.first_key_value() {
            if front.end > offset && self.recent.len() <= self.max_kept {
                break;
            }
            let (start, r) = self.recent.pop_first().expect("front exists");
            self.finalize(&DamagedRange {
                kind: r.kind,
                start,
                end: r.end,
            })?;
        }
        Ok(())
    }

    /// At most `n` open ranges from now on: the closest merge into unknown ones (a report
    /// that must fit in little room).
    pub fn coarsen_to(&mut self, n: usize) {
        if self.recent.len() > n {
            self.coarsen(n);
        }
    }

    /// Merge the ranges closest to each other (with the bytes between them) until at most
    /// `target` remain: O(n), once per `n / 2` ranges recorded past the cap.
    fn coarsen(&mut self, target: usize) {
        let n = self.recent.len();
        if n <= target.max(1) {
            return;
        }
        let merges = n - target.max(1);
        let mut gaps: Vec<u64> = Vec::with_capacity(n - 1);
        let mut prev_end = None;
        for (&start, r) in &self.recent {
            if let Some(e) = prev_end {
                gaps.push(start - e);
            }
            prev_end = Some(r.end);
        }
        // Every gap below the threshold closes, and gaps equal to it until enough have.
        let threshold = *gaps.select_nth_unstable(merges - 1).1;
        let mut at_threshold = merges - gaps.iter().filter(|&&g| g < threshold).count();
        drop(gaps);
        let old = std::mem::take(&mut self.recent);
        let mut cur: Option<(u64, Open)> = None;
        let mut merged = Vec::with_capacity(target + 1);
        for (start, r) in old {
            match &mut cur {
                Some((_, c)) => {
                    let gap = start - c.end;
                    let close = gap < threshold || (gap == threshold && at_threshold > 0);
                    if close {
                        if gap == threshold {
                            at_threshold -= 1;
                        }
                        if gap > 0 || c.kind != r.kind {
                            c.kind = RangeKind::Unknown;
                        }
                        c.end = r.end;
                    } else {
                        merged.push(cur.take().expect("matched"));
                        cur = Some((start, r));
                    }
                }
                None => cur = Some((start, r)),
            }
        }
        merged.extend(cur);
        self.recent = merged.into_iter().collect();
    }

    /// Make every range final.
    pub fn settle_all(&mut self) -> SinkResult {
        self.settle(u64::MAX)
    }

    fn finalize(&mut self, r: &DamagedRange) -> SinkResult {
        self.final_end = self.final_end.max(r.end);
        match r.kind {
            RangeKind::Lost => {
                self.totals.lost_bytes += r.end - r.start;
                self.totals.lost_ranges += 1;
            }
            RangeKind::Damaged => {
                self.totals.damaged_bytes += r.end - r.start;
                self.totals.damaged_ranges += 1;
            }
            RangeKind::Unknown => {
                self.totals.lost_bytes += r.end - r.start;
                self.totals.lost_ranges += 1;
                self.totals.unknown_ranges += 1;
            }
        }
        if let Some(sink) = &mut self.sink {
            sink.range(r)?;
        }
        Ok(())
    }

    /// Totals of final ranges (call `settle_all` first for the whole picture).
    pub fn totals(&self) -> DamageTotals {
        self.totals
    }
}

/// A sink that keeps every range it is given, shared with the test that reads them.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Collect(pub std::rc::Rc<std::cell::RefCell<Vec<DamagedRange>>>);

#[cfg(test)]
impl RangeSink for Collect {
    fn range(&mut self, r: &DamagedRange) -> SinkResult {
        self.0.borrow_mut().push(*r);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_ranges_of_one_kind_merge() {
        let c = Collect::default();
        let mut m = DamageMap::new(Some(Box::new(c.clone())));
        m.record(RangeKind::Lost, 0, 10);
        m.record(RangeKind::Lost, 10, 20);
        m.record(RangeKind::Damaged, 20, 30);
        m.record(RangeKind::Lost, 40, 50);
        m.settle_all().unwrap();
        let got = c.0.borrow().clone();
        assert_eq!(got.len(), 3);
        assert_eq!((got[0].start, got[0].end), (0, 20));
        assert_eq!(
            m.totals(),
            DamageTotals {
                lost_bytes: 30,
                lost_ranges: 2,
                damaged_bytes: 10,
                damaged_ranges: 1,
                unknown_ranges: 0,
            }
        );
    }

    #[test]
    fn repair_splits_a_lost_range() {
        let mut m = DamageMap::new(None);
        m.record(RangeKind::Lost, 0, 30);
        assert!(m.is_lost(10, 20));
        assert_eq!(m.repair(10, 20), 10);
        assert!(!m.is_lost(10, 20));
        assert!(m.is_lost(0, 10) && m.is_lost(20, 30));
        m.settle_all().unwrap();
        assert_eq!(m.totals().lost_bytes, 20);
        assert_eq!(m.totals().lost_ranges, 2);
    }

    #[test]
    fn settle_before_keeps_recent_ranges() {
        let mut m = DamageMap::new(None);
        m.record(RangeKind::Lost, 0, 10);
        m.record(RangeKind::Damaged, 20, 30);
        m.settle_before(25).unwrap();
        assert_eq!(m.totals().lost_bytes, 10);
        assert_eq!(m.totals().damaged_bytes, 0);
        assert!(m.is_damaged(22, 24));
    }
}
