//! The damage map: which byte ranges of the output were lost (filled) or damaged (written
//! from a payload whose CRC failed), and the counts a report needs.
//!
//! Memory stays bounded on any stream: ranges are kept only while a late packet could still
//! change them (within the `horizon` behind the reassembly frontier, or, for an output
//! that takes writes anywhere, until the end), and never more than [`MAX_KEPT_RANGES`] of
//! them; older ones are final and go to the [`RangeSink`] (the JSON report) or are only
//! counted.
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
}

impl RangeKind {
    pub fn name(self) -> &'static str {
        match self {
            RangeKind::Lost => "lost",
            RangeKind::Damaged => "damaged",
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

/// Ranges kept open for repair at most: 256 Ki ranges, about 6 MiB. Beyond, the oldest are
/// made final (a later pass can no longer repair them).
pub const MAX_KEPT_RANGES: usize = 1 << 18;

/// Receives final ranges, in output order, then the report at the end.
pub trait RangeSink {
    fn range(&mut self, range: &DamagedRange) -> io::Result<()>;
    /// A range that was rebuilt or restored (only when the map records repairs), at the
    /// end, before `finish`.
    fn repair(&mut self, _how: Repair, _start: u64, _end: u64) -> io::Result<()> {
        Ok(())
    }
    /// The input ended: everything is final.
    fn finish(&mut self, _report: &super::Report) -> io::Result<()> {
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
        }
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
            if start < end && repairs.len() < MAX_REPAIRS {
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
            if r.kind == RangeKind::Lost || damaged_too {
                match out.last_mut() {
                    Some(last) if last.end == r.start => last.end = r.end,
                    _ => out.push(r.start..r.end),
                }
            }
        }
        out
    }

    /// Hand the repairs and the report to the sink: the end.
    pub fn finish(&mut self, report: &super::Report) -> io::Result<()> {
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

    /// Record a range among the recent ones, where no range covers it (after `repair`).
    pub fn record_inside(&mut self, kind: RangeKind, start: u64, end: u64) {
        if start < end {
            self.recent.insert(start, Open { kind, end });
        }
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
            self.recent.remove(&r.start);
            if r.kind == RangeKind::Lost {
                recovered += r.end.min(end) - r.start.max(start);
            }
            if r.start < start {
                self.recent.insert(
                    r.start,
                    Open {
                        kind: r.kind,
                        end: start,
                    },
                );
            }
            if r.end > end {
                self.recent.insert(
                    end,
                    Open {
                        kind: r.kind,
                        end: r.end,
                    },
                );
            }
        }
        recovered
    }

    /// True when `start..end` lies inside recent lost ranges (a late packet can fill it).
    pub fn is_lost(&self, start: u64, end: u64) -> bool {
        self.overlapping(start, end)
            .any(|r| r.kind == RangeKind::Lost && r.start <= start && end <= r.end)
    }

    /// True when part of `start..end` lies in a recent lost range (a rebuilt packet whose
    /// head a descriptor restored, say).
    pub fn touches_lost(&self, start: u64, end: u64) -> bool {
        self.overlapping(start, end)
            .any(|r| r.kind == RangeKind::Lost)
    }

    /// True when `start..end` overlaps a recent damaged range (an intact copy can repair it).
    pub fn is_damaged(&self, start: u64, end: u64) -> bool {
        self.overlapping(start, end)
            .any(|r| r.kind == RangeKind::Damaged)
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
    pub fn settle_before(&mut self, offset: u64) -> io::Result<()> {
        let offset = if self.keep_all { 0 } else { offset };
        self.settle(offset)
    }

    fn settle(&mut self, offset: u64) -> io::Result<()> {
        while let Some((_, front)) = self.recent.first_key_value() {
            if front.end > offset && self.recent.len() <= MAX_KEPT_RANGES {
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

    /// Make every range final.
    pub fn settle_all(&mut self) -> io::Result<()> {
        self.settle(u64::MAX)
    }

    fn finalize(&mut self, r: &DamagedRange) -> io::Result<()> {
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
    fn range(&mut self, r: &DamagedRange) -> io::Result<()> {
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
                damaged_ranges: 1
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
