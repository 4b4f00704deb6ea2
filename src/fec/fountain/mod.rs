//! The fountain code (`pktize --fountain`): repair symbols that never repeat, so a receiver
//! completes each source block from any K of its symbols, data or repair, whatever it
//! lost and however late it joined: at the information limit, 1/(1-p) of the transfer's
//! bytes at loss p, with no return channel.
//!
//! The transfer's `n` data packets (payload size `P`, the last shorter) form `B = ceil(n /
//! K)` source blocks, interleaved: block `b` holds the data packets with `seq ≡ b (mod
//! B)`, `K_b = ceil((n - b) / B) <= K` of them, member `j` being `seq = b + j * B`. So a
//! burst of consecutive data packets costs many blocks one packet each, and so does a
//! burst of repair packets, which go out round by round (symbol `r` of every block, then
//! `r + 1`). A symbol is `S = P` rounded up to even bytes (16-bit symbols, as in
//! [`super::shard_len`]).
//!
//! The code is Reed-Solomon over GF(2^16) in the low-rate form of Leopard-RS, as the crate
//! reed-solomon-simd 3 computes it (`rate::LowRateEncoder`): the `K_b` data shards of a
//! block, zero-padded to `k2`, the power of two at or above `K_b`, are transformed once
//! (IFFT), and repair symbols come in chunks of `k2`, chunk `c` the FFT of that transform
//! at skew `(c + 1) * k2`. Repair symbol `r` is therefore the same however many are asked
//! for, and a block has `65536 - k2` of them (31 further passes of the data at K = 2048);
//! after that a sender starts again at 0, as late as it can. Any `K_b` distinct symbols of
//! a block determine it. Chosen over RaptorQ by measurement (see the commit and the
//! README): the same code the project already links, decoded several times faster, and
//! exactly K symbols always suffice.
//!
//! [`BlockEncoder`] makes a block's repair symbols chunk by chunk; [`Decoder`] is the
//! receiver's half, which keeps what incomplete blocks hold in a [`Store`] (a temporary
//! file, given by the driver: a block waits for its repair symbols while every other block
//! does too, so what is held grows with the transfer and must not be memory).

mod decode;
mod encode;

pub use decode::{
    temp_store, DecodeError, Decoder, OpenStore, Store, DECODE_WORK_BYTES, MAX_PACKETS,
};
pub use encode::BlockEncoder;

use crate::wire::MAX_BLOCK_PACKETS;

/// The most bytes of data in one source block the sender makes: K = 2048 packets of 1 KiB.
/// Larger blocks need relatively fewer symbols beyond their own size for the unluckiest
/// of them (the one a receiver waits for); the sender holds one (its transform).
pub const BLOCK_BYTES: usize = 2 << 20;
/// Symbols per block's repair space start after its padded data: 65536 in all.
const FIELD_SIZE: usize = 1 << 16;

/// The block size a sender uses for symbols of `symbol_len` bytes: as many packets as fit
/// [`BLOCK_BYTES`], at most [`MAX_BLOCK_PACKETS`], at least one.
pub fn block_size_for(symbol_len: usize) -> u16 {
    (BLOCK_BYTES / symbol_len.max(1)).clamp(1, usize::from(MAX_BLOCK_PACKETS)) as u16
}

/// How a transfer's data packets make source blocks (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// The transfer's length N, at least 1.
    pub total_len: u64,
    /// The data payload size P of every data packet but the last.
    pub payload_len: usize,
    /// K, the most data packets per block.
    pub block_size: usize,
    /// n, the data packets.
    pub packets: u64,
    /// B, the blocks.
    pub blocks: u64,
}

/// Why a geometry cannot be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "fountain geometry out of range: {total_len} bytes in packets of {payload_len}, \
     blocks of {block_size}"
)]
pub struct GeometryError {
    pub total_len: u64,
    pub payload_len: usize,
    pub block_size: usize,
}

impl Geometry {
    /// The blocks of a transfer of `total_len` bytes (at least 1) in payloads of
    /// `payload_len` (1 to the largest payload) with blocks of at most `block_size`
    /// packets (1 to [`MAX_BLOCK_PACKETS`]), its packets numbered by 32-bit sequence
    /// numbers.
    pub fn new(
        total_len: u64,
        payload_len: usize,
        block_size: usize,
    ) -> Result<Geometry, GeometryError> {
        let err = GeometryError {
            total_len,
            payload_len,
            block_size,
        };
        if total_len == 0
            || payload_len == 0
            || payload_len > super::MAX_PAYLOAD
            || block_size == 0
            || block_size > usize::from(MAX_BLOCK_PACKETS)
        {
            return Err(err);
        }
        let packets = total_len.div_ceil(payload_len as u64);
        if packets > 1 << 32 {
            return Err(err);
        }
        Ok(Geometry {
            total_len,
            payload_len,
            block_size,
            packets,
            blocks: packets.div_ceil(block_size as u64),
        })
    }

    /// S, the bytes of every symbol.
    pub fn symbol_len(&self) -> usize {
        super::shard_len(self.payload_len)
    }

    /// K_b, the data packets of block `b`.
    pub fn block_len(&self, b: u64) -> usize {
        (self.packets - b).div_ceil(self.blocks) as usize
    }

    /// The sequence number of member `j` of block `b`.
    pub fn member_seq(&self, b: u64, j: usize) -> u64 {
        b + j as u64 * self.blocks
    }

    /// The block of data packet `seq`, and its place in it.
    pub fn block_of(&self, seq: u64) -> (u64, usize) {
        (seq % self.blocks, (seq / self.blocks) as usize)
    }

    /// The payload length of data packet `seq`.
    pub fn data_len(&self, seq: u64) -> usize {
        if seq + 1 == self.packets {
            (self.total_len - seq * self.payload_len as u64) as usize
        } else {
            self.payload_len
        }
    }

    /// The repair symbols block `b` has: they are numbered 0 to this, less one.
    pub fn symbol_space(&self, b: u64) -> usize {
        FIELD_SIZE - self.block_len(b).next_power_of_two()
    }

    /// The repair symbols every block has (the first block is the largest).
    pub fn common_space(&self) -> usize {
        self.symbol_space(0)
    }
}

#[cfg(test)]
mod tests;
