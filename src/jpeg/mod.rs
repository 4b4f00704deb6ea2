//! Baseline JPEGs sent so that every packet decodes on its own (`pktize(5)`, JPEG
//! transfers): the sender walks the scan MCU by MCU and puts before each packet's piece of
//! the file where its first MCU starts and the DC predictors there; a receiver with every
//! packet gets the file back byte for byte, and one with losses a baseline JPEG of what
//! arrived, the lost MCUs concealed.
//!
//! - [`header`]: the marker segments up to the scan (frame, Huffman tables, restart
//!   interval), refusing what a baseline Huffman decoder cannot read.
//! - [`huffman`]: the tables, and Annex K's for re-encoding.
//! - [`scan`]: the entropy-coded data MCU by MCU, from any MCU whose start is known.
//! - [`packed`]: the headers packed for the wire (standard tables named, large APPn/COM
//!   segments moved after the scan).
//! - [`packets`]: the sub-header and the indexed transfer.
//! - [`rebuild`](mod@rebuild): received packets back to a JPEG; [`conceal`]: its lost blocks;
//!   [`pixels`]: its picture as PNM.
//!
//! This module knows nothing of packet headers, files or pixels: it takes bytes and gives
//! bytes. Its parsers return typed errors on any input, never panic, and allocate only
//! what the file's size or [`rebuild::MAX_BLOCKS`] bounds.

pub mod conceal;
pub mod header;
pub mod huffman;
pub mod packed;
pub mod packets;
pub mod pixels;
pub mod rebuild;
pub mod scan;

pub use header::Header;
pub use packets::index;
pub use rebuild::{rebuild, Rebuilt};

/// Why a JPEG cannot be sent indexed or rebuilt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JpegError {
    #[error("not a JPEG (no SOI marker at byte 0)")]
    NotJpeg,
    #[error("JPEG header: truncated segment at byte {at}")]
    Truncated { at: usize },
    #[error("JPEG header: unexpected marker 0x{marker:02X} at byte {at}")]
    Marker { marker: u8, at: usize },
    #[error("JPEG header: malformed {what} segment at byte {at}")]
    Bad { at: usize, what: &'static str },
    #[error("a progressive JPEG: convert it to baseline first (jpegtran in.jpg > out.jpg)")]
    Progressive,
    #[error(
        "an arithmetic-coded JPEG: convert it to Huffman coding first (jpegtran in.jpg > out.jpg)"
    )]
    Arithmetic,
    #[error("{what} is not supported (only baseline 8-bit JPEGs of one scan are)")]
    Unsupported { what: &'static str },
    #[error("JPEG scan data at byte {at}: {what}")]
    Entropy { at: usize, what: &'static str },
    #[error("a JPEG is sent with payloads of at least {min} bytes")]
    PayloadTooSmall { min: usize },
    #[error("the JPEG's headers were lost")]
    HeadersLost,
    #[error("every byte arrived but they are not one indexed JPEG (several transfers one after another?)")]
    NotOneTransfer,
    #[error("the JPEG has more than {max} blocks to rebuild")]
    TooLarge { max: usize },
}

#[cfg(test)]
mod tests;
