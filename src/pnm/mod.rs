//! PNM images (netpbm's PBM, PGM and PPM, P1 to P6): the header, and the samples after it.
//!
//! - [`header`]: [`Header::parse`] reads a header from a byte slice, whole file or stream
//!   prefix alike, with typed errors that carry byte offsets.
//! - [`source`]: a [`Source`] is a memory map (pages released behind the reader) or a pipe.
//! - [`reader`]: [`Reader`] walks a source's concatenated images and hands out rows in binary form (P4, P5 or P6 layout) whatever the input's form:
//!   plain (ASCII) rows are transcoded, binary rows are slices of the input.
//!
//! Every sample is checked against maxval. Nothing is allocated because a header says so:
//! buffers grow only as bytes arrive. This module does not scale samples or know any output
//! format.

pub mod header;
pub mod reader;
pub mod source;

use std::io;

pub use header::{Header, HeaderError, Kind, MAX_DIMENSION, MAX_MAXVAL};
pub use reader::{Raster, Reader, Rows};
pub use source::Source;

/// Longest header accepted (comments included, up to and including the delimiter before the
/// raster): far more than any real header, and a bound on what a stream of `#` lines can
/// make us buffer. The same limit holds for a mapped file.
pub const MAX_HEADER_LEN: usize = 1 << 20;

/// Why a PNM stream could not be read. Offsets count from the start of the input.
#[derive(Debug, thiserror::Error)]
pub enum PnmError {
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error("PNM header: longer than {MAX_HEADER_LEN} bytes at byte {offset}")]
    HeaderTooLong { offset: u64 },
    #[error("PNM raster: input ends at byte {offset}, in row {row} of {height}")]
    Truncated { offset: u64, row: u32, height: u32 },
    #[error("PNM raster: sample {value} exceeds maxval {maxval} at byte {offset}")]
    AboveMaxval {
        value: u32,
        maxval: u16,
        offset: u64,
    },
    #[error("PNM raster: expected {expected}, found \"{found}\" at byte {offset}")]
    BadSample {
        expected: &'static str,
        found: String,
        offset: u64,
    },
    #[error("reading input: {0}")]
    Io(#[from] io::Error),
}
