//! The reassembly report: a human summary for `-v`, and the JSON damage map for `--report`.
//!
//! The JSON file is written as the stream goes: its `ranges` array grows as ranges become
//! final, and the totals are appended at the end, so memory stays bounded and a killed
//! receiver still leaves the ranges it had settled. Layout (all offsets in output bytes):
//!
//! ```text
//! { "ranges": [ {"kind": "lost"|"damaged"|"unknown", "offset": N, "length": N}, ... ],
//!   "transfers": [ {"id": N, "offset": N, "length": N, "end_known": bool}, ... ],
//!   "packets": { "intact": N, "damaged": N, "truncated": N, "lost": N, "recovered": N,
//!                "duplicate": N, "reordered": N, "late": N, "late_written": N,
//!                "foreign": N, "conflicting": N, "parity": N, "unused": N,
//!                "descriptors": N, "bad_descriptors": N, "conflicting_descriptors": N,
//!                "rejected": N, "unauthenticated": N, "keyed": N },
//!   "bytes": { "output": N, "lost": N, "damaged": N, "restored": N, "garbage": N },
//!   "complete": bool, "intact": bool, "read_to_end": bool, "digest": S,
//!   "output_error": S, "unknown_ranges": N }
//! ```
//!
//! `output_error` appears only when writing the output failed for another reason than
//! running out of room (EIO): what the file holds cannot be trusted, and there is no
//! `digest`, so no resume continues into it.
//!
//! `unknown_ranges` appears only when the damage map grew coarse (see `damage`): the
//! ranges are then not every range, and the unknown ones may hold intact bytes.
//!
//! `digest` (a file output only) seals the report to the file: see `seal`.

use super::damage::{DamagedRange, RangeSink, RangeSinkError, SinkResult};
use super::seal::Seal;
use super::{Counts, Report, Status};
use crate::image::DescribedImage;
use crate::units::human_bytes;
use serde::Serialize;
use std::io::{self, Write};
use std::time::Duration;

/// Streams the JSON report to a writer: the ranges as they become final, the totals at
/// the end. The reassembler owns it (as its damage map's sink) and finishes it.
pub struct JsonReport<W: Write> {
    out: W,
    first: bool,
    seal: Option<Seal>,
}

impl<W: Write> JsonReport<W> {
    /// Start the report (writes the opening of the `ranges` array).
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(b"{\n  \"ranges\": [")?;
        Ok(JsonReport {
            out,
            first: true,
            seal: Some(Seal::default()),
        })
    }
}

#[derive(Serialize)]
struct RangeJson {
    kind: &'static str,
    offset: u64,
    length: u64,
}

#[derive(Serialize)]
struct TransferJson<'a> {
    id: u16,
    offset: u64,
    length: u64,
    end_known: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_len: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    geometry: Option<String>,
}

#[derive(Serialize)]
struct BytesJson {
    output: u64,
    lost: u64,
    damaged: u64,
    restored: u64,
    garbage: u64,
}

/// Everything after the ranges.
#[derive(Serialize)]
struct TotalsJson<'a> {
    transfers: Vec<TransferJson<'a>>,
    packets: &'a Counts,
    bytes: BytesJson,
    complete: bool,
    intact: bool,
    /// False when reading stopped once a carousel was whole: what followed was not read.
    read_to_end: bool,
    /// The seal a resume checks (see `seal`), when the output is a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    /// Writing the output failed (not for lack of room): the file cannot be trusted.
    #[serde(skip_serializing_if = "Option::is_none")]
    output_error: Option<&'a str>,
    /// How many ranges are coarse (unknown): present only when some are.
    #[serde(skip_serializing_if = "is_zero")]
    unknown_ranges: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One object per line, spaced as people write JSON: `{"kind": "lost", "offset": 0}`, so a
/// range stays one greppable line.
struct OneLine;

impl serde_json::ser::Formatter for OneLine {
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

fn to_io(e: serde_json::Error) -> io::Error {
    io::Error::other(e)
}

fn marked(e: io::Error) -> RangeSinkError {
    RangeSinkError::Report(e)
}

impl<W: Write> RangeSink for JsonReport<W> {
    fn range(&mut self, r: &DamagedRange) -> SinkResult {
        let sep = if self.first { "" } else { "," };
        self.first = false;
        write!(self.out, "{sep}\n    ").map_err(marked)?;
        let json = RangeJson {
            kind: r.kind.name(),
            offset: r.start,
            length: r.end - r.start,
        };
        if let Some(seal) = &mut self.seal {
            seal.range(json.kind, json.offset, json.length);
        }
        let mut ser = serde_json::Serializer::with_formatter(&mut self.out, OneLine);
        json.serialize(&mut ser).map_err(to_io).map_err(marked)
    }

    /// Close the `ranges` array and write the totals.
    fn finish(&mut self, report: &Report) -> SinkResult {
        let digest = match (self.seal.take(), &report.content_digest) {
            (Some(mut seal), Some(content)) => {
                for t in &report.transfers {
                    seal.transfer(t.id, t.base, t.len, t.end_known);
                }
                Some(seal.finish(content))
            }
            _ => None,
        };
        let totals = TotalsJson {
            transfers: report
                .transfers
                .iter()
                .map(|t| {
                    let d = t.descriptor.as_ref();
                    TransferJson {
                        id: t.id,
                        offset: t.base,
                        length: t.len,
                        end_known: t.end_known,
                        name: d.map(|d| d.name.as_str()),
                        media_type: d.map(|d| d.media_type.name()),
                        payload_len: d.map(|d| d.payload_len),
                        geometry: d.and_then(|d| d.geometry()),
                    }
                })
                .collect(),
            packets: &report.counts,
            bytes: BytesJson {
                output: report.output_len,
                lost: report.damage.lost_bytes,
                damaged: report.damage.damaged_bytes,
                restored: report.counts.restored_bytes,
                garbage: report.counts.garbage_bytes,
            },
            complete: report.complete,
            intact: report.intact(),
            read_to_end: !report.stopped_whole,
            digest,
            output_error: report.output_error.as_deref(),
            unknown_ranges: report.damage.unknown_ranges,
        };
        let body = serde_json::to_string_pretty(&totals)
            .map_err(to_io)
            .map_err(marked)?;
        self.write_totals(&body).map_err(marked)
    }
}

impl<W: Write> JsonReport<W> {
    fn write_totals(&mut self, body: &str) -> io::Result<()> {
        // Splice the totals' fields after the ranges array: `{ "ranges": [...], ...}`.
        let fields = body
            .strip_prefix('{')
            .and_then(|b| b.strip_suffix('}'))
            .expect("a struct serialises as an object");
        write!(self.out, "\n  ],{}}}\n", fields.trim_end())?;
        self.out.flush()
    }
}

/// The `-v` summary: a few lines, each to be prefixed with the program name.
pub fn summary_lines(r: &Report) -> Vec<String> {
    let c = &r.counts;
    let mut lines = Vec::new();
    if r.transfers.is_empty() {
        lines.push("no packets found".to_string());
    }
    for t in &r.transfers {
        lines.push(format!(
            "transfer {:#06x}: {} bytes at output offset {}{}",
            t.id,
            t.len,
            t.base,
            if t.end_known {
                ""
            } else {
                " (end not seen: the tail may be missing)"
            }
        ));
        if let Some(d) = &t.descriptor {
            lines.push(format!("  described as {}", d.summary(Some(t.len))));
        }
    }
    lines.push(format!(
        "packets: {} intact, {} damaged ({} truncated), {} lost, {} recovered from {} parity, \
         {} duplicate, {} reordered, {} late ({} written), {} of other transfers",
        c.intact,
        c.damaged,
        c.truncated,
        c.lost,
        c.recovered,
        c.parity,
        c.duplicate,
        c.reordered,
        c.late,
        c.late_written,
        c.foreign
    ));
    lines.push(format!(
        "bytes: {} written, {} filled in {} ranges, {} damaged in {} ranges, {} restored from \
         descriptors, {} of garbage skipped",
        r.output_len,
        r.damage.lost_bytes,
        r.damage.lost_ranges,
        r.damage.damaged_bytes,
        r.damage.damaged_ranges,
        c.restored_bytes,
        c.garbage_bytes
    ));
    if r.damage.unknown_ranges > 0 {
        lines.push(format!(
            "more holes than kept one by one: {} of the filled ranges are coarse (they may \
             hold intact bytes; an intact packet for them still repairs them)",
            r.damage.unknown_ranges
        ));
    }
    if c.authentic + c.rejected + c.unauthenticated + c.keyed > 0 {
        lines.push(format!(
            "authentication: {} authentic, {} rejected, {} without a tag ignored, {} keyed \
             ignored (no key)",
            c.authentic, c.rejected, c.unauthenticated, c.keyed
        ));
    }
    if c.descriptors + c.bad_descriptors + c.conflicting_descriptors > 0 {
        lines.push(format!(
            "descriptors: {} used, {} damaged or malformed, {} conflicting",
            c.descriptors, c.bad_descriptors, c.conflicting_descriptors
        ));
    }
    if r.stopped_whole {
        lines.push(
            "stopped reading once the carousel was whole: the rest of the input (any later \
             transfer) was not read"
                .to_string(),
        );
    }
    lines.push(if r.intact() {
        format!("complete and intact ({})", human_bytes(r.output_len))
    } else {
        "incomplete or damaged".to_string()
    });
    lines
}

/// The progress line for a terminal: bytes settled, percentage and time left when the
/// length is known, packets per second, loss and damage.
pub fn progress_line(r: &Status, elapsed: Duration) -> String {
    let c = &r.counts;
    let secs = elapsed.as_secs_f64().max(1e-3);
    let packets = c.intact + c.damaged;
    let loss = if packets + c.lost > 0 {
        100.0 * c.lost as f64 / (packets + c.lost) as f64
    } else {
        0.0
    };
    let done = match r.current {
        Some((at, total)) if total > 0 => {
            // The rate so far gives the time left (the transfer may have started before us).
            let bytes_per_sec = r.settled as f64 / secs;
            let eta = if bytes_per_sec > 0.0 && total > at {
                format!(", {:.0} s left", (total - at) as f64 / bytes_per_sec)
            } else {
                String::new()
            };
            format!(" ({:.1}%{eta})", 100.0 * at as f64 / total as f64)
        }
        _ => String::new(),
    };
    format!(
        "{}{done}, {:.0} packets/s, {:.2}% lost, {} damaged",
        human_bytes(r.settled),
        packets as f64 / secs,
        loss,
        c.damaged
    )
}
