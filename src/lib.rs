//! pktools: small Unix pipe filters that send a file in checksummed packets over a lossy
//! channel and show, on the receiving side, exactly what arrived.
//!
//! ```text
//!  bytes ──pktize──▶ packets ──corrupt──▶ damaged stream ──unpktize──▶ bytes (+ damage map)
//!  raw pixels ──raw2ppm──▶ PPM ──ppm2bmp──▶ BMP
//! ```
//!
//! Each arrow is one module; each program in `src/bin/` is a thin shell around it. The
//! library does not use `cli`: its stages return typed errors, and only the programs turn
//! them into a message and an exit status. `cli` and clap come with the feature `cli`, on
//! by default and required by the programs; `--no-default-features` builds the library
//! alone.
//!
//! The modules are layers, listed here from the bottom up: each imports only the ones
//! above it in this table, never one below, and no two import each other
//! (`tests/it/layering.rs` checks it on the source).
//!
//! | layer | concern |
//! |---|---|
//! | [`wire`] | the wire format: the packet header (the table in `pktize(5)`), [`framing`] (finding packets in a damaged stream), the transfer [`descriptor`], a [`wire::packet::Packet`] with its integrity, [`wire::auth`] (`--key`) and [`wire::seal`] (`--encrypt`); imports nothing of ours |
//! | [`units`] | sizes, rates and hex patterns as people write them |
//! | [`io`] | moving bytes: mapped or streamed input, page release, vectored writes, pipes, UDP, signals, temporary files |
//! | [`fec`] | the erasure codes over packets: parity ([`fec::Decoder`] rebuilds lost data) and the fountain (`fec::fountain`: repair packets that never repeat) |
//! | [`pixel`] | raw pixel formats (rgb24, gray16le, yuv420p, nv12, ...): layouts, conversion rows |
//! | [`pnm`] | PNM images (P1-P6): header, source (map or stream), reader |
//! | [`bmp`] | BMP: header (write and parse), row writer |
//! | [`y4m`] | YUV4MPEG2 streams: header and frames |
//! | [`jpeg`] | baseline JPEGs sent so that each packet decodes alone: the MCU parser, the sub-header, the rebuild from what arrived, concealment of lost blocks |
//! | [`image`] | the one image geometry (planes, rows, pixel layout) from a PNM, BMP or Y4M header, a descriptor's head or a raw `WxH:PIX_FMT` |
//! | [`conceal`] | hiding lost pixels (in space, from the previous frame), and the damage map picture |
//! | [`convert`] | PNM to BMP (`ppm2bmp`'s engine): rows in the order BMP needs |
//! | [`rawvideo`] | raw frames to PPM (`raw2ppm`'s engine): geometry, frame streams, live snapshots |
//! | [`packetize`] | bytes to packets (`pktize`'s engine): in order or interleaved, once or as a carousel, with parity or a fountain, keyed or sealed |
//! | [`channel`] | the lossy channel (`corrupt`'s engine): loss, bursts, bit errors, duplication, reordering; its PRNG |
//! | [`reassemble`] | packets to bytes (`unpktize`'s engine): the [`reassemble::Reassembler`] (time given, no clock, signal or input read; it writes on the output it is given), its drivers, the outputs, damage map, report, resume and every cap ([`reassemble::Limits`]) |
//! | `cli` | only for `src/bin` (feature `cli`): exit status, the one-line error, argument glue, progress |
//!
//! A new transport plugs in at two places and changes no engine. Receiving, it is a new
//! driver in `reassemble`'s `drive` beside [`reassemble::run_slice`],
//! [`reassemble::run_stream`] and [`reassemble::run_datagrams`]: it finds packets in what
//! arrives (with [`framing`], or one per datagram), lends the buffer they lie in, and gives
//! each to [`reassemble::Reassembler::accept`] with the time since the reception began
//! (and [`reassemble::Reassembler::handle_timeout`] when its clock says); the socket itself
//! belongs in [`io`], as [`io::udp`] does. Sending, it is a `Write` in [`io`] that takes
//! whole packets back to back (as [`io::udp::UdpSender`]), chosen by
//! [`packetize::writer_for`].

pub mod bmp;
pub mod channel;
#[cfg(feature = "cli")]
pub mod cli;
pub mod conceal;
pub mod convert;
pub mod fec;
pub mod image;
pub mod io;
pub mod jpeg;
pub mod packetize;
pub mod pixel;
pub mod pnm;
pub mod rawvideo;
pub mod reassemble;
pub mod units;
pub mod wire;
pub mod y4m;

// The wire format's parts keep their short paths: `pktools::framing`, `pktools::descriptor`.
pub use wire::{descriptor, framing};
