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
//! | module | concern |
//! |---|---|
//! | [`wire`] | the wire format: the packet header (the table in `pktize(5)`), [`framing`] (finding packets in a damaged stream), the transfer [`descriptor`], [`wire::auth`] (`--key`: the tag that authenticates a packet, the salt that binds it to its transfer), [`wire::seal`] (`--encrypt`: AES-256-GCM under a per-transfer key, the packet's place as nonce) |
//! | [`packetize`] | bytes to packets: in order or interleaved, once or as a carousel |
//! | [`fec`] | forward error correction: parity packets, and rebuilding lost data from them; the fountain code (`fec::fountain`): repair packets that never repeat |
//! | [`channel`] | the lossy channel: loss, bursts, bit errors, dup, reorder; its PRNG |
//! | [`reassemble`] | packets to bytes: order, duplicates, fill, damage |
//! | [`pixel`] | raw pixel formats (rgb24, gray16le, yuv420p, nv12, ...): layouts, conversion |
//! | [`rawvideo`] | raw frames to PPM images: geometry, frame streams, live snapshots |
//! | [`pnm`] | PNM images (P1-P6): header, source (map or stream), reader |
//! | [`convert`] | PNM to BMP: images in the row order BMP needs |
//! | [`bmp`] | BMP: header (write and parse), row writer |
//! | [`conceal`] | image-aware receiving: concealment of lost pixels, the damage map picture |
//! | [`image`] | the one image geometry (planes, rows, pixel layout) from a PNM or BMP header or a raw `WxH:PIX_FMT`: what the descriptor, concealment, the damage map and the outputs use |
//! | [`jpeg`] | baseline JPEGs sent so that each packet decodes alone: the MCU parser, the per-packet sub-header, the rebuild of a JPEG from what arrived, concealment of lost blocks |
//! | [`io`] | moving bytes: mapped or streamed input, page release, vectored writes, pipes, signals |
//! | [`units`] | sizes, rates and hex patterns as people write them |
//! | `cli` | only for `src/bin` (feature `cli`): exit status, the one-line error, argument glue, progress |

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
