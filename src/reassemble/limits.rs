//! Every cap on what a reception holds, in one value: what a forged packet may ask of the
//! receiver is bounded by these, never by what the packet says.
//!
//! [`Limits`] carries every cap a reception may change: a field each, with what it bounds,
//! its default, what it costs and why it is that size. [`Limits::default`] is what
//! `unpktize` uses (it sets [`Limits::hold_bytes`] from `--max-hold`); the LIMITS section
//! of `unpktize(1)` lists the same, one line each. A library user that receives smaller
//! transfers, or on a smaller machine, lowers them; raising one raises the memory it
//! costs in proportion, and nothing else.
//!
//! Invariant: a cap reached never loses what arrived intact and never makes a damaged
//! result look intact. Past a cap the receiver settles sooner (a gap filled, a range made
//! final or coarse, a group not rebuilt, a repair not drawn) or refuses (a transfer too
//! long, a report too large), and says so in its counts or report.
//!
//! A few bounds are not fields, because they are rules or fixed buffers rather than
//! memory a reception chooses:
//!
//! | what | bound | where |
//! |---|---|---|
//! | a candidate next transfer's packets held | `tracker::HOLD_PACKETS` (64; part of the rule that tells a next transfer from another sender's, in unpktize(1)) | `tracker` |
//! | fill written after a stop was asked | 256 MiB (the driver's, not the reassembler's: it reads no stop flag) | [`super::StopOnRequest`] |
//! | framing work | [`crate::framing::CRC_CREDIT_PER_BYTE`] payload CRC bytes per input byte | [`crate::framing::Scanner`] |
//! | an indexed JPEG's blocks | [`crate::jpeg::rebuild::MAX_BLOCKS`] | `jpeg_output` |
//! | read buffers | [`crate::framing::READ_BUFFER_LEN`] (1 MiB) of a stream; 2 MiB of mapped pages behind the reader | `drive` |
//!
//! A descriptor's interleave span or FEC scheme raises the window and ring only within
//! these; past them, a gap is settled (filled) sooner, and a group whose payloads were not
//! kept is not rebuilt: what arrives is still written, never lost for memory's sake.

pub use super::window::MAX_WINDOW_PACKETS;

/// The caps a reception may change; see the module documentation. Each field says what it
/// bounds, its default and what it costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Payload bytes the reorder window holds ahead of the frontier (copied, or lent in
    /// the input), an interleaved sender's span or FEC's groups included. A window asked
    /// for in packets (`Settings::window_packets`) may hold that many of the largest
    /// payload when that is more. Default [`WINDOW_BYTES`], 8 MiB and one payload:
    /// `pktize --interleave`'s default span. Costs its value.
    pub window_bytes: u64,
    /// Packets the reorder window holds at most, whatever was asked or announced, so tiny
    /// payloads do not make a huge index. Default [`MAX_WINDOW_PACKETS`] (65536: the
    /// largest span pktize interleaves); about 100 bytes each (6 MiB).
    pub window_packets: usize,
    /// Payload bytes of the automatic window (no window asked for, no span announced):
    /// enough for the reordering of a busy link. Default
    /// [`super::AUTO_WINDOW_BYTES`] (1 MiB); costs its value.
    pub auto_window_bytes: usize,
    /// Packets of the automatic window at most (tiny payloads): default 4096.
    pub auto_window_packets: usize,
    /// To a stream (no writes at offsets), how far behind the frontier a late packet is
    /// still recognised and its range repaired: four windows, at least this. Default 4 MiB;
    /// costs only the ranges open there (below).
    pub late_horizon_bytes: u64,
    /// Intact packets whose range and CRC are remembered, to tell a duplicate from a
    /// conflict. Default 8192 (8 MiB of transfer at 1 KiB payloads), 24 bytes each in
    /// order, about 40 reordered (192 to 320 KiB); an older conflict counts as a duplicate.
    pub fingerprints: usize,
    /// What the FEC decoder may hold: its ring of recent payloads (bytes and slots) and
    /// the parity of groups in flight (bytes and groups). Defaults 8 MiB and 65536 slots
    /// (about 64 bytes a slot), 2 MiB and 8192 groups; see [`crate::fec::Budget`].
    pub fec: crate::fec::Budget,
    /// Damage ranges (lost, damaged, unknown) kept open for repair: to a stream those
    /// within the horizon, with `-o` every hole until the end. Past it the oldest are
    /// made final, or with `-o` the closest merge into coarse unknown ranges (issue 35.3).
    /// Also the most missing ranges a resumed report keeps. Default
    /// [`super::damage::MAX_KEPT_RANGES`] (65536), about 48 bytes each (3 MiB).
    pub kept_ranges: usize,
    /// Rebuilt and restored ranges kept for the damage picture (`--map` only); beyond,
    /// the rest show as intact. Default [`super::damage::MAX_REPAIRS`] (262144), 24 bytes
    /// each (6 MiB).
    pub repairs: usize,
    /// Final ranges the damage picture keeps (`--map` only); beyond, the map says so and
    /// draws what it kept. Default [`super::map_sink::MAX_MAP_RANGES`] (1 Mi), 24 bytes
    /// each (24 MiB).
    pub map_ranges: usize,
    /// Pixels of an image's damage picture when the transfer is shorter than the image
    /// claims (a forged head, issue 29.9); past it the packet grid is drawn. Default
    /// [`super::map_sink::MAX_IMAGE_MAP_PIXELS`] (64 Mi pixels), written as a stream,
    /// a 192 MiB file, not memory.
    pub map_pixels: u64,
    /// Bytes of a transfer held whole (snapshots with `--every`, a carousel to a
    /// stream): `--max-hold`. Default [`super::output::DEFAULT_HOLD_LIMIT`] (1 GiB) in
    /// all, of which at most [`Limits::spill_after_bytes`] in memory.
    pub hold_bytes: u64,
    /// Bytes of a held carousel kept in memory before the rest goes to an unnamed
    /// temporary file. Default `spill::SPILL_AFTER` (8 MiB); costs its value.
    pub spill_after_bytes: usize,
    /// The longest transfer written to a stream (standard output, a FIFO, a device) when
    /// no `--max-size` was given: a forged total must not make the receiver write fill
    /// without end. Default [`super::receive::DEFAULT_STDOUT_MAX_SIZE`] (16 GiB); costs
    /// no memory.
    pub stream_max_len: u64,
    /// Bytes of an earlier report read to resume from (read as a stream). Default
    /// [`super::resume::MAX_REPORT_BYTES`] (32 MiB: a full map of 65536 ranges is about
    /// 15 MB); costs the ranges kept, not the report.
    pub report_bytes: u64,
    /// Data packets of a fountain transfer the decoder follows: one bit of memory each.
    /// Default [`crate::fec::fountain::MAX_PACKETS`] (2^24, 16 GiB at 1 KiB payloads):
    /// 2 MiB. A larger geometry is not followed (its repair packets are ignored).
    pub fountain_packets: u64,
    /// Damage ranges kept open once a fountain is followed (at most `kept_ranges`): its
    /// decoder knows which packets arrived, so the map may merge its holes early into
    /// unknown ranges, which the decoder vouches for once every block is whole. Default
    /// [`super::damage::FOUNTAIN_KEPT_RANGES`] (4096), about 200 KiB; a fountain that
    /// does not complete is reported coarser.
    pub fountain_kept_ranges: usize,
    /// Bytes of a stream read ahead to tell an indexed JPEG (only while its data packets
    /// may be one's): [`super::jpeg_output::PEEK_MAX`] (1 MiB); costs its value.
    pub jpeg_peek_bytes: usize,
    /// How long a quiet stream is waited for while reading ahead:
    /// [`super::jpeg_output::PEEK_QUIET`] (200 ms).
    pub jpeg_peek_quiet: std::time::Duration,
    /// The longest indexed JPEG transfer rebuilt (read back into memory):
    /// [`super::jpeg_output::MAX_TRANSFER`] (128 MiB); a longer one is written as it
    /// came.
    pub jpeg_transfer_bytes: u64,
    /// Rows concealment holds back on the way to a stream, as bytes (at least two rows):
    /// a hole taller than that is extended from above for the rows that must go out.
    /// Default [`crate::conceal::WINDOW_BYTES`] (4 MiB); costs its value.
    pub conceal_window_bytes: usize,
    /// The longest frame kept as the previous frame for temporal concealment (`--conceal
    /// previous`, `motion`); longer frames are concealed in space. Default
    /// [`crate::conceal::PREV_FRAME_MAX`] (32 MiB: a 4K rgb24 frame); costs one frame.
    pub conceal_prev_frame_bytes: u64,
}

/// The window's default byte bound: `pktize --interleave`'s default span, 8 MiB, and one
/// payload more.
pub const WINDOW_BYTES: u64 = (8 << 20) + crate::wire::MAX_PAYLOAD as u64;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            window_bytes: WINDOW_BYTES,
            window_packets: MAX_WINDOW_PACKETS,
            auto_window_bytes: super::window::AUTO_WINDOW_BYTES,
            auto_window_packets: super::window::AUTO_WINDOW_MAX_PACKETS,
            late_horizon_bytes: super::transfer::LATE_HORIZON_BYTES,
            fingerprints: super::fingerprints::KEPT,
            fec: crate::fec::Budget::default(),
            kept_ranges: super::damage::MAX_KEPT_RANGES,
            repairs: super::damage::MAX_REPAIRS,
            map_ranges: super::map_sink::MAX_MAP_RANGES,
            map_pixels: super::map_sink::MAX_IMAGE_MAP_PIXELS,
            hold_bytes: super::output::DEFAULT_HOLD_LIMIT,
            spill_after_bytes: super::spill::SPILL_AFTER,
            stream_max_len: super::receive::DEFAULT_STDOUT_MAX_SIZE,
            report_bytes: super::resume::MAX_REPORT_BYTES,
            fountain_packets: crate::fec::fountain::MAX_PACKETS,
            fountain_kept_ranges: super::damage::FOUNTAIN_KEPT_RANGES,
            jpeg_peek_bytes: super::jpeg_output::PEEK_MAX,
            jpeg_peek_quiet: super::jpeg_output::PEEK_QUIET,
            jpeg_transfer_bytes: super::jpeg_output::MAX_TRANSFER,
            conceal_window_bytes: crate::conceal::WINDOW_BYTES,
            conceal_prev_frame_bytes: crate::conceal::PREV_FRAME_MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reassemble::resume::{Resume, ResumeError};

    /// A report of `n` lost ranges of 1 byte every 10 bytes, one transfer.
    fn report(n: u64) -> String {
        let ranges: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"kind":"lost","offset":{},"length":1}}"#, i * 10))
            .collect();
        format!(
            r#"{{"ranges":[{}],"transfers":[{{"id":7,"offset":0,"length":{},"end_known":true,"name":null,"media_type":null}}]}}"#,
            ranges.join(","),
            n * 10
        )
    }

    #[test]
    fn a_resumed_report_keeps_the_ranges_the_limits_allow() {
        let text = report(100);
        let all = Resume::from_reader(text.as_bytes()).unwrap();
        assert_eq!((all.missing.len(), all.coarse), (100, false));
        let few = Limits {
            kept_ranges: 8,
            ..Limits::default()
        };
        let coarse = Resume::from_reader_within(text.as_bytes(), &few).unwrap();
        assert!(coarse.missing.len() <= 8, "{} kept", coarse.missing.len());
        assert!(coarse.coarse);
        // Coarser, never less: every range listed is still missing.
        for i in 0..100 {
            let at = i * 10;
            assert!(
                coarse.missing.iter().any(|r| r.contains(&at)),
                "{at} dropped"
            );
        }
    }

    #[test]
    fn a_report_longer_than_the_limit_is_refused() {
        let text = report(100);
        let small = Limits {
            report_bytes: 100,
            ..Limits::default()
        };
        let e = Resume::from_reader_within(text.as_bytes(), &small).unwrap_err();
        assert!(matches!(e, ResumeError::TooLarge(100)), "{e}");
        assert_eq!(e.to_string(), "the report is larger than 100 bytes");
    }

    #[test]
    fn a_report_with_a_field_twice_or_one_missing_is_refused() {
        let twice = r#"{"ranges":[],"ranges":[],"transfers":[]}"#;
        let e = Resume::from_reader(twice.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("duplicate field `ranges`"), "{e}");
        let missing = r#"{"ranges":[]}"#;
        let e = Resume::from_reader(missing.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("missing field `transfers`"), "{e}");
        let trailing = format!("{} x", report(1));
        assert!(Resume::from_reader(trailing.as_bytes()).is_err());
    }
}
