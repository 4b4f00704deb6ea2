//! The reassembly report: a human summary for `-v`, and the JSON damage map for `--report`.
//!
//! The JSON file is written as the stream goes: its `ranges` array grows as ranges become
//! final, and the totals are appended at the end, so memory stays bounded and a killed
//! receiver still leaves the ranges it had settled. Layout (all offsets in output bytes):
//!
//! ```text
//! { "ranges": [ {"kind": "lost"|"damaged", "offset": N, "length": N}, ... ],
//!   "transfers": [ {"id": N, "offset": N, "length": N, "end_known": bool}, ... ],
//!   "packets": { "intact": N, "damaged": N, "truncated": N, "lost": N, "recovered": N,
//!                "duplicate": N, "reordered": N, "late": N, "late_written": N,
//!                "foreign": N, "parity": N, "unused": N },
//!   "bytes": { "output": N, "lost": N, "damaged": N, "garbage": N },
//!   "complete": bool, "intact": bool }
//! ```

use super::damage::{DamagedRange, RangeSink};
use super::output::Output;
use super::{Reassembler, Report};
use crate::units::human_bytes;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

/// Streams the JSON report to a writer.
pub struct JsonReport<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> JsonReport<W> {
    /// Start the report (writes the opening of the `ranges` array).
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(b"{\n  \"ranges\": [")?;
        Ok(JsonReport { out, first: true })
    }

    /// Close the `ranges` array and write the totals.
    pub fn finish(&mut self, report: &Report) -> io::Result<()> {
        self.out.write_all(b"\n  ],\n")?;
        self.out.write_all(totals_json(report).as_bytes())?;
        self.out.write_all(b"}\n")?;
        self.out.flush()
    }
}

impl<W: Write> RangeSink for JsonReport<W> {
    fn range(&mut self, r: &DamagedRange) -> io::Result<()> {
        let sep = if self.first { "" } else { "," };
        self.first = false;
        write!(
            self.out,
            "{sep}\n    {{\"kind\": \"{}\", \"offset\": {}, \"length\": {}}}",
            r.kind.name(),
            r.start,
            r.end - r.start
        )
    }
}

/// A shared handle, so the reassembler can own the sink while the program finishes it.
impl<W: Write> RangeSink for std::rc::Rc<std::cell::RefCell<JsonReport<W>>> {
    fn range(&mut self, r: &DamagedRange) -> io::Result<()> {
        self.borrow_mut().range(r)
    }
}

fn totals_json(r: &Report) -> String {
    let c = &r.counts;
    let mut s = String::from("  \"transfers\": [");
    for (i, t) in r.transfers.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(
            s,
            "{sep}\n    {{\"id\": {}, \"offset\": {}, \"length\": {}, \"end_known\": {}",
            t.id, t.base, t.len, t.end_known
        );
        if let Some(d) = &t.descriptor {
            let _ = write!(
                s,
                ", \"name\": {}, \"media_type\": \"{}\", \"payload_len\": {}",
                json_string(&d.name),
                d.media_type.name(),
                d.payload_len
            );
            if let Some(g) = d.geometry() {
                let _ = write!(s, ", \"geometry\": {}", json_string(&g));
            }
        }
        s.push('}');
    }
    let _ = write!(
        s,
        "\n  ],\n  \"packets\": {{\"intact\": {}, \"damaged\": {}, \"truncated\": {}, \
         \"lost\": {}, \"recovered\": {}, \"duplicate\": {}, \"reordered\": {}, \
         \"late\": {}, \"late_written\": {}, \"foreign\": {}, \"parity\": {}, \
         \"unused\": {}, \"descriptors\": {}, \"bad_descriptors\": {}, \
         \"conflicting_descriptors\": {}}},\n",
        c.intact,
        c.damaged,
        c.truncated,
        c.lost,
        c.recovered,
        c.duplicate,
        c.reordered,
        c.late,
        c.late_written,
        c.foreign,
        c.parity,
        c.unused,
        c.descriptors,
        c.bad_descriptors,
        c.conflicting_descriptors
    );
    let _ = writeln!(
        s,
        "  \"bytes\": {{\"output\": {}, \"lost\": {}, \"damaged\": {}, \"restored\": {}, \
         \"garbage\": {}}},",
        r.output_len,
        r.damage.lost_bytes,
        r.damage.damaged_bytes,
        c.restored_bytes,
        c.garbage_bytes
    );
    let _ = writeln!(
        s,
        "  \"complete\": {}, \"intact\": {}",
        r.complete,
        r.intact()
    );
    s
}

/// A JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
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
    if c.descriptors + c.bad_descriptors + c.conflicting_descriptors > 0 {
        lines.push(format!(
            "descriptors: {} used, {} damaged or malformed, {} conflicting",
            c.descriptors, c.bad_descriptors, c.conflicting_descriptors
        ));
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
pub fn progress_line<O: Output>(r: &Reassembler<O>, elapsed: Duration) -> String {
    let c = r.counts();
    let secs = elapsed.as_secs_f64().max(1e-3);
    let packets = c.intact + c.damaged;
    let loss = if packets + c.lost > 0 {
        100.0 * c.lost as f64 / (packets + c.lost) as f64
    } else {
        0.0
    };
    let done = match r.current_len() {
        Some((at, total)) if total > 0 => {
            // The rate so far gives the time left (the transfer may have started before us).
            let bytes_per_sec = r.settled_bytes() as f64 / secs;
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
        human_bytes(r.settled_bytes()),
        packets as f64 / secs,
        loss,
        c.damaged
    )
}
