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
//! | [`packetize`] | bytes to packets |
//! | [`reassemble`] | packets to bytes: order, duplicates, fill, damage |
//! | [`pixel`] | raw pixel formats (rgb24, gray16le, yuv420p, nv12, ...): layouts, conversion to PPM rows, fill |
//! | [`rawvideo`] | raw frames to PPM images: geometry from the data, frame streams, live snapshots |
//! | [`cli`] | the Unix manners every program shares |

pub mod cli;
pub mod framing;
pub mod pixel;
pub mod rawvideo;
pub mod wire;
