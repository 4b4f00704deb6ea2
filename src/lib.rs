//! pktools: small Unix pipe filters that send a file in checksummed packets over a lossy
//! channel and show, on the receiving side, exactly what arrived.
//!
//! ```text
//!  bytes ──pktize──▶ packets ──corrupt──▶ damaged stream ──unpktize──▶ bytes (+ damage map)
//!  raw pixels ──raw2ppm──▶ PPM ──ppm2bmp──▶ BMP
//! ```
//!
//! Each arrow is one module; each program in `src/bin/` is a thin shell around it.
//!
//! | module | concern |
//! |---|---|
//! | [`wire`] | the packet header: constants, encode, parse (the table in `pktize(5)`) |
//! | [`framing`] | finding packets in an arbitrary, possibly damaged, byte stream |
//! | [`auth`] | `--key`: the tag that authenticates a packet, the salt that binds it to its transfer |
//! | [`packetize`] | bytes to packets |
//! | [`fec`] | forward error correction: parity packets, and rebuilding lost data from them |
//! | [`reassemble`] | packets to bytes: order, duplicates, fill, damage |
//! | [`descriptor`] | the transfer descriptor: what a late receiver needs to know |
//! | [`channel`] | the lossy channel: loss, bursts, bit errors, dup, reorder; its PRNG |
//! | [`pixel`] | raw pixel formats (rgb24, gray16le, yuv420p, nv12, ...): layouts, conversion |
//! | [`rawvideo`] | raw frames to PPM images: geometry, frame streams, live snapshots |
//! | [`pnm`] | PNM images (P1-P6): header parsing and rows, from a map or a stream |
//! | [`bmp`] | BMP writing: layout, headers, row encoding, row order |
//! | [`cli`] | the Unix manners every program shares |

pub mod auth;
pub mod bmp;
pub mod channel;
pub mod cli;
pub mod descriptor;
pub mod fec;
pub mod framing;
pub mod packetize;
pub mod pixel;
pub mod pnm;
pub mod rawvideo;
pub mod reassemble;
pub mod wire;
