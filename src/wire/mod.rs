//! The wire format, in one place: the packet [`header`] (one offset table for encode and
//! parse, the table in `pktize(5)`), [`framing`] (finding packets in an arbitrary, possibly
//! damaged, byte stream) and the transfer [`descriptor`] (what a late receiver needs to
//! know), [`auth`] (keyed packets: the tag, the salt, the verifier) and [`seal`] (encrypted
//! packets: the per-transfer cipher and its nonces). The header's
//! items are re-exported here, so `wire::Header` is the header.

pub mod auth;
pub mod descriptor;
pub mod framing;
pub mod header;
mod polyval;
pub mod seal;

pub use header::*;
