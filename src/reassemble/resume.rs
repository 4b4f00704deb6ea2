//! Resuming an earlier, incomplete reception into the file it left: what that reception's
//! JSON report (see [`super::report`]) says is still missing, and the checks that the file
//! and the transfer now arriving are the same one.
//!
//! The reassembler seeds the followed transfer from a [`Resume`]: its frontier at the
//! earlier length, the missing ranges open as lost, so a packet for one is written and the
//! range repaired, and a packet for a range already present is a duplicate and never
//! written. A transfer whose length or descriptor differs from the report's, or whose
//! intact packets disagree with the bytes already in the file, is refused
//! ([`super::ReassembleError::Mismatch`]) before anything more is written. Before any of
//! that, the report's seal (`seal`) must hold for the file: a file or report
//! changed since, or a report of several transfers (continuing the first would cut off
//! the rest), is refused with a [`ResumeError`] and nothing is touched.
//!
//! Memory stays bounded: the report is read as a stream of at most
//! [`super::Limits::report_bytes`] (by default [`MAX_REPORT_BYTES`]), and at most
//! [`super::Limits::kept_ranges`] missing ranges are kept: past that, the
//! closest are merged with the bytes between them (coarse, as the damage map does), and
//! the whole resume is coarse: the missing ranges are seeded as unknown, where only an
//! intact packet is written. Finding whether a packet touches a missing range is a binary
//! search (issue 35.10: a scan per packet made a resume with many holes quadratic).

use super::damage::RangeKind;
use super::output::Output;
use super::seal::{content_digest, Seal};
use super::{Packet, ReassembleError};
use crate::descriptor::Descriptor;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::io::Read;
use std::ops::Range;

/// The largest report read: a full damage map of [`super::damage::MAX_KEPT_RANGES`] ranges
/// is ~15 MB.
pub const MAX_REPORT_BYTES: u64 = 32 << 20;

/// How the transfer arriving differs from the one an earlier reception left in the file:
/// it is not the same transfer, and nothing more of it is taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// A length stated (or a last packet's end) other than the earlier, known, one.
    #[error("this transfer is {stated} bytes long, the earlier reception's {earlier}")]
    Length { stated: u64, earlier: u64 },
    /// A length stated shorter than what the earlier reception got.
    #[error(
        "this transfer is {stated} bytes long, shorter than the {earlier} the earlier reception got"
    )]
    Shorter { stated: u64, earlier: u64 },
    /// Data beyond the earlier, known, length.
    #[error("this transfer reaches byte {end}, beyond the earlier reception's {earlier}")]
    Beyond { end: u64, earlier: u64 },
    /// A descriptor names another file.
    #[error("this transfer is named {name:?}, the earlier one {earlier:?}")]
    Name { name: String, earlier: String },
    /// A descriptor names another media type.
    #[error("this transfer is of type {media_type}, the earlier one of {earlier}")]
    MediaType { media_type: String, earlier: String },
    /// An intact packet's bytes differ from those the file holds at its offset.
    #[error("its {len} bytes at offset {offset} differ from this transfer's")]
    Content { offset: u64, len: usize },
}

/// What an earlier reception left: the first transfer of its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    pub id: u16,
    /// Bytes of the transfer in the file.
    pub len: u64,
    /// The earlier reception knew the transfer's length: it is `len`. Otherwise the
    /// transfer is at least `len` long and everything after is missing too.
    pub end_known: bool,
    /// What the earlier descriptor said, if one arrived.
    pub name: Option<String>,
    pub media_type: Option<String>,
    /// Byte ranges (transfer offsets, sorted, disjoint, merged) lost or damaged.
    pub missing: Vec<Range<u64>>,
    /// Of those, the bytes the report listed as damaged (written from a packet that failed
    /// its CRC or was cut short): the resumed reception keeps that kind (see
    /// [`Resume::missing_kinds`]). Empty when coarse.
    pub damaged: Vec<Range<u64>>,
    /// The missing ranges may hold intact bytes too: the report listed unknown ranges, or
    /// more than were kept (see the module docs).
    pub coarse: bool,
    /// What the file's digest must make the report's seal (see [`super::seal`]): the seal
    /// over the report's ranges and transfers, the output length, the seal it states.
    seal: Option<SealCheck>,
}

/// The report's side of its seal, waiting for the file's content digest.
#[derive(Clone)]
struct SealCheck {
    seal: Seal,
    output_len: u64,
    stated: String,
}

impl fmt::Debug for SealCheck {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SealCheck({})", self.stated)
    }
}

impl PartialEq for SealCheck {
    fn eq(&self, other: &Self) -> bool {
        self.stated == other.stated && self.output_len == other.output_len
    }
}

impl Eq for SealCheck {}

/// Why a report cannot be resumed from.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("not a complete unpktize report (a reception killed before its end leaves none): {0}")]
    Parse(#[from] serde_json::Error),
    #[error("the report is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the report names no transfer")]
    NoTransfer,
    #[error("the report's ranges are not in order at offset {0}")]
    Unordered(u64),
    #[error("the file is {found} bytes, shorter than the {expected} the report says it holds")]
    Short { found: u64, expected: u64 },
    #[error("the report describes {0} transfers; a resume continues a file of one transfer alone")]
    SeveralTransfers(usize),
    #[error("the report carries no digest of its file (it was not written into a file)")]
    Unsealed,
    #[error("the file or the report changed since the reception (their digest differs)")]
    SealBroken,
    #[error("reading the file: {0}")]
    Read(std::io::Error),
}

/// The fields of a report that resuming reads; the others are skipped.
struct ReportJson {
    ranges: Ranges,
    transfers: Vec<TransferJson>,
    bytes: Option<BytesJson>,
    digest: Option<String>,
}

/// Reads a [`ReportJson`] keeping at most this many ranges (see [`Ranges`]).
struct ReportSeed(usize);

impl<'de> DeserializeSeed<'de> for ReportSeed {
    type Value = ReportJson;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ReportJson, D::Error> {
        struct V(usize);
        impl<'de> Visitor<'de> for V {
            type Value = ReportJson;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an unpktize report")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ReportJson, A::Error> {
                let (mut ranges, mut transfers, mut bytes, mut digest) = (None, None, None, None);
                fn once<T, E: de::Error>(
                    slot: &mut Option<T>,
                    v: T,
                    name: &'static str,
                ) -> Result<(), E> {
                    if slot.replace(v).is_some() {
                        return Err(E::duplicate_field(name));
                    }
                    Ok(())
                }
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "ranges" => once(
                            &mut ranges,
                            map.next_value_seed(Ranges::seed(self.0))?,
                            "ranges",
                        )?,
                        "transfers" => once(&mut transfers, map.next_value()?, "transfers")?,
                        "bytes" => {
                            once(&mut bytes, map.next_value::<Option<BytesJson>>()?, "bytes")?
                        }
                        "digest" => {
                            once(&mut digest, map.next_value::<Option<String>>()?, "digest")?
                        }
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(ReportJson {
                    ranges: ranges.ok_or_else(|| de::Error::missing_field("ranges"))?,
                    transfers: transfers.ok_or_else(|| de::Error::missing_field("transfers"))?,
                    bytes: bytes.flatten(),
                    digest: digest.flatten(),
                })
            }
        }
        d.deserialize_map(V(self.0))
    }
}

#[derive(Deserialize)]
struct BytesJson {
    output: u64,
}

#[derive(Deserialize)]
struct TransferJson {
    id: u16,
    offset: u64,
    length: u64,
    end_known: bool,
    name: Option<String>,
    media_type: Option<String>,
}

#[derive(Deserialize)]
struct RangeJson {
    kind: String,
    offset: u64,
    length: u64,
}

/// The ranges, merged as they are read (so adjacent lost and damaged ranges of a cut-short
/// packet become one missing range), at most [`super::Limits::kept_ranges`] (past that,
/// coarser); whether they are coarse; the seal over them as listed; and the damaged ones
/// among them (at most as many; past that, coarse).
struct Ranges(Vec<Range<u64>>, bool, Seal, Vec<Range<u64>>);

/// Reads [`Ranges`] keeping at most this many.
struct RangesSeed(usize);

impl Ranges {
    fn seed(kept: usize) -> RangesSeed {
        RangesSeed(kept.max(2))
    }
}

/// Merge the ranges closest to each other, with the bytes between them, until at most
/// `target` remain.
fn coarsen(ranges: &mut Vec<Range<u64>>, target: usize) {
    let target = target.max(1);
    if ranges.len() <= target {
        return;
    }
    let merges = ranges.len() - target;
    let mut gaps: Vec<u64> = ranges.windows(2).map(|w| w[1].start - w[0].end).collect();
    let threshold = *gaps.select_nth_unstable(merges - 1).1;
    let mut at_threshold = merges - gaps.iter().filter(|&&g| g < threshold).count();
    drop(gaps);
    let mut kept = 0;
    for i in 0..ranges.len() {
        let r = ranges[i].clone();
        if kept > 0 {
            let last = &mut ranges[kept - 1];
            let gap = r.start - last.end;
            if gap < threshold || (gap == threshold && at_threshold > 0) {
                if gap == threshold {
                    at_threshold -= 1;
                }
                last.end = r.end;
                continue;
            }
        }
        ranges[kept] = r;
        kept += 1;
    }
    ranges.truncate(kept);
}

impl<'de> DeserializeSeed<'de> for RangesSeed {
    type Value = Ranges;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Ranges, D::Error> {
        struct V(usize);
        impl<'de> Visitor<'de> for V {
            type Value = Ranges;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of ranges")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ranges, A::Error> {
                let mut out: Vec<Range<u64>> = Vec::new();
                let mut damaged: Vec<Range<u64>> = Vec::new();
                let mut seal = Seal::default();
                let mut coarse = false;
                while let Some(r) = seq.next_element::<RangeJson>()? {
                    seal.range(&r.kind, r.offset, r.length);
                    coarse |= r.kind == "unknown";
                    let end = r.offset.saturating_add(r.length);
                    if out.len() >= self.0 {
                        coarsen(&mut out, self.0 / 2);
                        coarse = true;
                    }
                    if r.kind == "damaged" && r.length > 0 && !coarse {
                        let full = damaged.len() >= self.0;
                        match damaged.last_mut() {
                            Some(last) if last.end == r.offset => last.end = end,
                            _ if full => coarse = true,
                            _ => damaged.push(r.offset..end),
                        }
                    }
                    match out.last_mut() {
                        Some(last) if r.offset < last.end => {
                            return Err(de::Error::custom(ResumeError::Unordered(r.offset)))
                        }
                        Some(last) if last.end == r.offset => last.end = end,
                        _ if r.length == 0 => {}
                        _ => out.push(r.offset..end),
                    }
                }
                if coarse {
                    damaged = Vec::new();
                }
                Ok(Ranges(out, coarse, seal, damaged))
            }
        }
        d.deserialize_seq(V(self.0))
    }
}

impl Resume {
    /// Read a report (at most [`MAX_REPORT_BYTES`]) and take its first transfer, within
    /// the default [`super::Limits`].
    pub fn from_reader<R: Read>(r: R) -> Result<Resume, ResumeError> {
        Resume::from_reader_within(r, &super::Limits::default())
    }

    /// Read a report (at most [`super::Limits::report_bytes`]) and take its first
    /// transfer, keeping at most [`super::Limits::kept_ranges`] missing ranges.
    pub fn from_reader_within<R: Read>(
        r: R,
        limits: &super::Limits,
    ) -> Result<Resume, ResumeError> {
        let mut limited = r.take(limits.report_bytes.saturating_add(1));
        let mut reader = std::io::BufReader::new(&mut limited);
        let mut json = serde_json::Deserializer::from_reader(&mut reader);
        let parsed = ReportSeed(limits.kept_ranges)
            .deserialize(&mut json)
            .and_then(|report| json.end().map(|()| report));
        drop(json);
        drop(reader);
        if limited.limit() == 0 {
            return Err(ResumeError::TooLarge(limits.report_bytes));
        }
        let report = parsed?;
        let t = report.transfers.first().ok_or(ResumeError::NoTransfer)?;
        if report.transfers.len() > 1 {
            // The file holds more after it: continuing the first alone would cut it off.
            return Err(ResumeError::SeveralTransfers(report.transfers.len()));
        }
        let Ranges(ranges, coarse, mut seal, damaged) = report.ranges;
        for t in &report.transfers {
            seal.transfer(t.id, t.offset, t.length, t.end_known);
        }
        let seal = match (report.digest, report.bytes) {
            (Some(stated), Some(bytes)) => Some(SealCheck {
                seal,
                output_len: bytes.output,
                stated,
            }),
            _ => None,
        };
        let end = t.offset.saturating_add(t.length);
        let within = |ranges: &[Range<u64>]| {
            ranges
                .iter()
                .filter(|r| r.end > t.offset && r.start < end)
                .map(|r| r.start.max(t.offset) - t.offset..r.end.min(end) - t.offset)
                .collect()
        };
        let (missing, damaged) = (within(&ranges), within(&damaged));
        Ok(Resume {
            id: t.id,
            len: t.length,
            end_known: t.end_known,
            name: t.name.clone(),
            media_type: t.media_type.clone(),
            missing,
            damaged,
            coarse,
            seal,
        })
    }

    /// The missing ranges as the earlier reception left them, in order: damaged where it
    /// wrote a damaged payload, lost elsewhere (unknown throughout when coarse).
    pub fn missing_kinds(&self) -> Vec<(RangeKind, Range<u64>)> {
        if self.coarse {
            let unknown = self.missing.iter().map(|r| (RangeKind::Unknown, r.clone()));
            return unknown.collect();
        }
        let mut out = Vec::new();
        let mut damaged = self.damaged.iter().peekable();
        for m in &self.missing {
            let mut at = m.start;
            while let Some(d) = damaged.next_if(|d| d.start < m.end) {
                let d = d.start.max(at)..d.end.min(m.end);
                if at < d.start {
                    out.push((RangeKind::Lost, at..d.start));
                }
                if d.start < d.end {
                    out.push((RangeKind::Damaged, d.clone()));
                    at = d.end;
                }
            }
            if at < m.end {
                out.push((RangeKind::Lost, at..m.end));
            }
        }
        out
    }

    /// The file resumed into must hold at least the bytes the report says it does, and
    /// those bytes must be the ones the report was sealed with (see `seal`).
    pub fn check_file(&self, file: &std::fs::File) -> Result<(), ResumeError> {
        use std::os::unix::fs::FileExt;
        let found = file.metadata().map_err(ResumeError::Read)?.len();
        if found < self.len {
            return Err(ResumeError::Short {
                found,
                expected: self.len,
            });
        }
        let check = self.seal.clone().ok_or(ResumeError::Unsealed)?;
        let content = content_digest(check.output_len, |at, buf| {
            file.read_exact_at(buf, at).map(|()| true)
        })
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => ResumeError::SealBroken,
            _ => ResumeError::Read(e),
        })?
        .expect("a file reads back");
        if check.seal.finish(&content) != check.stated {
            return Err(ResumeError::SealBroken);
        }
        Ok(())
    }

    /// Does a data packet's header contradict the earlier length? `end`: where its data
    /// ends; `total`: the total it states, if any; `last`: it is the last packet.
    pub fn length_mismatch(&self, end: u64, total: Option<u64>, last: bool) -> Option<Mismatch> {
        let stated = total.or(last.then_some(end));
        let earlier = self.len;
        match stated {
            Some(stated) if self.end_known && stated != earlier => {
                Some(Mismatch::Length { stated, earlier })
            }
            Some(stated) if stated < earlier => Some(Mismatch::Shorter { stated, earlier }),
            _ if self.end_known && end > earlier => Some(Mismatch::Beyond { end, earlier }),
            _ => None,
        }
    }

    /// Does a descriptor contradict the earlier one?
    pub fn descriptor_mismatch(&self, name: &str, media_type: &str) -> Option<Mismatch> {
        if let Some(old) = self.name.as_deref().filter(|old| *old != name) {
            return Some(Mismatch::Name {
                name: name.to_string(),
                earlier: old.to_string(),
            });
        }
        if let Some(old) = self.media_type.as_deref().filter(|old| *old != media_type) {
            return Some(Mismatch::MediaType {
                media_type: media_type.to_string(),
                earlier: old.to_string(),
            });
        }
        None
    }
}

/// A resumed transfer's state in the reassembler: started yet, and content checks left.
pub(super) struct Resuming {
    pub resume: Resume,
    /// The resumed transfer's first packet arrived.
    pub started: bool,
    /// The output reads back: every intact packet landing on present bytes is compared.
    checking: bool,
    buf: Vec<u8>,
}

impl Resuming {
    pub fn new(resume: Resume) -> Self {
        Resuming {
            resume,
            started: false,
            checking: true,
            buf: Vec::new(),
        }
    }

    /// A packet of transfer `id` is the resumed transfer's: its id, and either it has not
    /// started or it is the current one (`current_resumed`).
    fn follows(&self, id: u16, current_resumed: bool) -> bool {
        id == self.resume.id && (!self.started || current_resumed)
    }

    /// Refuse an intact data packet of the resumed transfer that contradicts the earlier
    /// reception's length, or whose bytes differ from those `out` holds already at its
    /// offset (every such packet: one read back of its length each).
    pub fn check_data<O: Output>(
        &mut self,
        p: &Packet,
        current_resumed: bool,
        out: &mut O,
    ) -> Result<(), ReassembleError> {
        let h = &p.header;
        if !p.is_intact() || !self.follows(h.transfer_id, current_resumed) {
            return Ok(());
        }
        if let Some(why) = self.resume.length_mismatch(h.end(), h.total_len, h.last) {
            return Err(ReassembleError::Mismatch(why));
        }
        let (start, end) = (h.offset, h.offset + p.payload.len() as u64);
        // The resumed transfer starts the output (see Reassembler::start_transfer).
        let present = end <= self.resume.len && start < end;
        let missing = &self.resume.missing;
        let first_after = missing.partition_point(|r| r.end <= start);
        let missing = missing.get(first_after).is_some_and(|r| r.start < end);
        if !self.checking || !present || missing {
            return Ok(());
        }
        self.buf.resize(p.payload.len(), 0);
        if !out.read_at(start, &mut self.buf)? {
            self.checking = false;
            return Ok(());
        }
        if self.buf[..] != *p.payload {
            return Err(ReassembleError::Mismatch(Mismatch::Content {
                offset: start,
                len: p.payload.len(),
            }));
        }
        Ok(())
    }

    /// Refuse a descriptor of the resumed transfer that names another file, type or length.
    pub fn check_descriptor(
        &self,
        id: u16,
        d: &Descriptor,
        total: Option<u64>,
        current_resumed: bool,
    ) -> Result<(), ReassembleError> {
        if !self.follows(id, current_resumed) {
            return Ok(());
        }
        let r = &self.resume;
        let why = r
            .descriptor_mismatch(&d.name, d.media_type.name())
            .or_else(|| total.and_then(|t| r.length_mismatch(0, Some(t), false)));
        match why {
            Some(why) => Err(ReassembleError::Mismatch(why)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = r#"{
  "ranges": [
    {"kind": "lost", "offset": 100, "length": 50},
    {"kind": "damaged", "offset": 150, "length": 10},
    {"kind": "lost", "offset": 200, "length": 100}
  ],
  "transfers": [{"id": 7, "offset": 0, "length": 1000, "end_known": true, "name": "f",
                 "media_type": "data", "payload_len": 50}],
  "complete": true, "intact": false }"#;

    #[test]
    fn a_report_gives_its_first_transfer_and_merged_missing_ranges() {
        let r = Resume::from_reader(REPORT.as_bytes()).unwrap();
        assert_eq!((r.id, r.len, r.end_known), (7, 1000, true));
        assert_eq!(r.missing, vec![100..160, 200..300]);
        assert_eq!(r.damaged, vec![150..160]);
        assert_eq!(
            r.missing_kinds(),
            vec![
                (RangeKind::Lost, 100..150),
                (RangeKind::Damaged, 150..160),
                (RangeKind::Lost, 200..300)
            ]
        );
        assert_eq!(r.name.as_deref(), Some("f"));
    }

    #[test]
    fn a_cut_short_report_is_refused() {
        let cut = &REPORT[..REPORT.len() / 2];
        assert!(matches!(
            Resume::from_reader(cut.as_bytes()),
            Err(ResumeError::Parse(_))
        ));
    }

    #[test]
    fn another_length_is_a_mismatch_and_the_same_is_not() {
        let r = Resume::from_reader(REPORT.as_bytes()).unwrap();
        assert!(r.length_mismatch(50, Some(1000), false).is_none());
        assert!(r.length_mismatch(50, Some(999), false).is_some());
        assert!(r.length_mismatch(1050, None, false).is_some());
        let open = Resume {
            end_known: false,
            ..r
        };
        assert!(open.length_mismatch(1050, Some(2000), false).is_none());
        assert!(open.length_mismatch(50, Some(999), false).is_some());
    }
}
