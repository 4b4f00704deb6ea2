//! Forward error correction: Reed-Solomon parity over groups of data packets, so a receiver
//! rebuilds what the channel lost without a return channel.
//!
//! Groups are aligned on data sequence numbers: group `g` holds the data packets with `seq`
//! `g*K .. g*K + K'`, where `K' = K` except for a transfer's last group, which may be short.
//! The sender emits a group's `M` parity packets after the group's data (layout in
//! [`crate::wire`] and `pktize(5)`). Any `K'` of a group's `K' + M` packets that arrive
//! intact rebuild the rest.
//!
//! The code is the Leopard-RS construction (Lin, Chung and Han's FFT over GF(2^16) in a
//! Cantor basis; Chris Taylor's Leopard-RS) as the crate `reed-solomon-simd` 3 implements
//! it: O(n log n) per group and SIMD-accelerated with run-time CPU detection, so coding
//! keeps up with a pipe. It replaced the GF(2^8) Vandermonde code of `reed-solomon-erasure`
//! (unmaintained, and several times slower at 32+4); its parity is different, so parity
//! packets got a new kind number (pktize(5)).
//!
//! Shards are always K per group: the shards a short last group lacks count as zeros.
//! A shard is a data payload zero-padded to the shard length `S`, the payload size `P`
//! rounded up to whole 16-bit symbols (`P` odd: `S = P + 1`, and the parity header's ODD
//! flag says so). A group of one packet uses that packet's length as `P`.
//!
//! [`Encoder`] is the sender's half (one group of copies); [`Decoder`] the receiver's, which
//! does not use the crate's decoder: it solves for the lost shards with the code's
//! coefficients, learnt from the crate (`solve`, `gf`), without its 8 MiB of tables.

mod decode;
mod encode;
pub mod fountain;
mod gf;
mod scheme;
mod solve;

pub use decode::{
    Budget, Decoder, ParityTaken, Recovered, RING_BYTES, RING_MAX_BYTES, RING_MAX_SLOTS,
};
pub use encode::Encoder;
pub use scheme::{shard_len, FecError, Scheme, MAX_GROUP_PACKETS};

/// The largest data payload that can be protected: its shard, a whole number of 16-bit
/// symbols, must fit one parity packet of at most [`crate::wire::MAX_PAYLOAD`] bytes.
pub const MAX_PAYLOAD: usize = crate::wire::MAX_PAYLOAD & !1;
