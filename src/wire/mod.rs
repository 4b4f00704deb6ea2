//! The wire format, in one place: the packet [`header`] (one offset table for encode and
//! parse, the table in `pktize(5)`), [`framing`] (finding packets in an arbitrary, possibly
//! damaged, byte stream) and the transfer [`descriptor`] (what a late receiver needs to
//! know), [`auth`] (keyed packets: the tag, the salt, the verifier), [`seal`] (encrypted
//! packets: the per-transfer cipher and its nonces) and [`packet`] (a packet found in the
//! input, with its integrity). The header's items are re-exported here, so `wire::Header` is
//! the header; so are [`Packet`] and [`Integrity`].
//!
//! The bottom layer: nothing here imports another module of the crate (the layering test,
//! `tests/it/layering.rs`, checks it). Whatever a transfer's bytes mean (image heads, JPEG
//! scans) is for the layers above.

pub mod auth;
pub mod descriptor;
pub mod framing;
pub mod header;
pub mod packet;
mod polyval;
pub mod seal;

pub use header::*;
pub use packet::{Integrity, Packet};
