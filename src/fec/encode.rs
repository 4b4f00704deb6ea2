//! The sender's half of the code: sees every data payload in order and, after each group,
//! writes the group's parity packets.
//!
//! Up to two parity shards per group, each payload is multiplied into the group's M
//! parity shards as it passes (the code's coefficients, learnt once: see `solve`). With
//! more, the crate's FFT coder is faster: it computes a group's parity in one pass over
//! all of its shards, so the encoder copies each payload into the coder's work space as it
//! passes. Either way it holds one group, at most about (K + M) * S bytes plus the coder's
//! padding of M to a power of two, and nothing more, whatever the input's length.

use super::scheme::{shard_len, Scheme};
use super::solve::{learn, Coefficients};
use crate::wire::{Header, Kind, ParityInfo, HEADER_LEN};
use reed_solomon_simd::ReedSolomonEncoder;

/// The most parity shards per group for which [`Coder::Accumulate`] is the default: its
/// M multiply-adds per payload beat the FFT coder at 2 (`pktize --fec 8+2 < FILE | cat`,
/// 256 MiB: 1.11x `cat | cat` against 1.03x) and lose beyond (0.96x against 1.00x at
/// 32+4 in 41 rounds, 0.70x alone at 16+8, 0.45x at 64+16).
const ACCUMULATE_MAX_PARITY: usize = 2;

/// How the parity is computed; both give the same parity.
enum Coder {
    /// reed-solomon-simd's FFT encoder, with 8.5 MiB of tables: the fastest for many
    /// parity shards. `None` until the first group: a one-packet transfer codes a shorter
    /// shard.
    Simd(Option<ReedSolomonEncoder>),
    /// Each payload multiplied into the M parity shards as it passes, by the code's learnt
    /// coefficients (see `solve`): no copy of the group and no tables beyond K * M * 128
    /// bytes.
    Accumulate {
        coefficients: Box<Coefficients>,
        /// The group's M parity shards so far, back to back.
        parity: Vec<u8>,
    },
}

/// Builds the parity packets of one transfer.
pub struct Encoder {
    scheme: Scheme,
    coder: Coder,
    transfer_id: u16,
    /// The data payload size P.
    payload_len: usize,
    /// A short or odd payload zero-padded to the shard length.
    padded: Vec<u8>,
    /// Position of the next payload in its group.
    index: usize,
    group: u32,
    group_offset: u64,
    offset: u64,
    packets: u64,
}

impl Encoder {
    /// An encoder for one transfer whose data payloads are `payload_len` bytes (the last
    /// may be shorter).
    pub fn new(scheme: Scheme, transfer_id: u16, payload_len: usize) -> Self {
        let shard_len = shard_len(payload_len);
        let encoder = Encoder {
            scheme,
            coder: Coder::Simd(None),
            transfer_id,
            payload_len,
            padded: vec![0; shard_len],
            index: 0,
            group: 0,
            group_offset: 0,
            offset: 0,
            packets: 0,
        };
        if scheme.m() <= ACCUMULATE_MAX_PARITY {
            encoder.without_tables()
        } else {
            encoder
        }
    }

    /// The same encoder, computing the parity without the coder's 8.5 MiB of tables
    /// (slower beyond two parity shards, the same parity): for a sender that holds much
    /// else.
    pub fn without_tables(self) -> Self {
        if matches!(self.coder, Coder::Accumulate { .. }) {
            return self;
        }
        let km = (self.scheme.k(), self.scheme.m());
        Encoder {
            coder: Coder::Accumulate {
                coefficients: Box::new(learn(km)),
                parity: Vec::new(),
            },
            ..self
        }
    }

    /// Parity packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Code the next data payload (`last` when it ends the transfer). When it completes a
    /// group, append the group's M parity packets (header and payload each) to `out` and
    /// return how many were appended.
    pub fn add(&mut self, payload: &[u8], last: bool, out: &mut Vec<u8>) -> usize {
        debug_assert!(payload.len() <= self.payload_len);
        // A group of one packet is coded at that packet's length (an empty or tiny transfer
        // gets tiny parity); every other group at the full payload size.
        let single = self.index == 0 && last;
        let data_len = if single {
            payload.len()
        } else {
            self.payload_len
        };
        let len = shard_len(data_len);
        if self.index == 0 && len > 0 {
            self.start_group(len);
        }
        if len > 0 {
            let shard = if payload.len() == len {
                payload
            } else {
                self.padded[..payload.len()].copy_from_slice(payload);
                self.padded[payload.len()..len].fill(0);
                &self.padded[..len]
            };
            match &mut self.coder {
                Coder::Simd(coder) => coder
                    .as_mut()
                    .expect("start_group made the coder")
                    .add_original_shard(shard)
                    .expect("the coder was reset for K shards of this length"),
                Coder::Accumulate {
                    coefficients,
                    parity,
                    ..
                } => {
                    for (i, p) in parity.chunks_exact_mut(len).enumerate() {
                        coefficients.get(i, self.index).mul_add(p, shard);
                    }
                }
            }
        }
        self.offset += payload.len() as u64;
        self.index += 1;
        if self.index < self.scheme.k() && !last {
            return 0;
        }
        let group_len = self.index;
        let info = ParityInfo {
            group_len: group_len as u8,
            parity_count: self.scheme.parity,
            parity_index: 0,
            group_size: self.scheme.data,
            // This call's payload is the group's last.
            last_len: payload_len_u16(payload.len()),
            odd: len != data_len,
        };
        let mut header = Header {
            kind: Kind::Parity,
            last,
            keyed: false,
            encrypted: false,
            payload_len: payload_len_u16(len),
            transfer_id: self.transfer_id,
            seq: self.group,
            offset: self.group_offset,
            total_len: None,
            payload_crc: 0,
            parity: None,
        };
        let mut emit = |i: usize, shard: &[u8]| {
            header.payload_crc = Header::crc_of(shard);
            header.parity = Some(ParityInfo {
                parity_index: i as u8,
                ..info
            });
            let mut bytes = [0; HEADER_LEN];
            header.encode(&mut bytes);
            out.extend_from_slice(&bytes);
            out.extend_from_slice(shard);
        };
        if len == 0 {
            // An empty transfer: its one data packet is known from the parity header alone.
            for i in 0..self.scheme.m() {
                emit(i, &[]);
            }
        } else {
            match &mut self.coder {
                Coder::Simd(coder) => {
                    let coder = coder.as_mut().expect("started above");
                    // The shards a short last group lacks are zeros.
                    self.padded[..len].fill(0);
                    for _ in group_len..self.scheme.k() {
                        coder
                            .add_original_shard(&self.padded[..len])
                            .expect("fewer than K shards were added");
                    }
                    let result = coder.encode().expect("K shards were added");
                    for (i, shard) in result.recovery_iter().enumerate() {
                        emit(i, shard);
                    }
                }
                // Zero shards add nothing.
                Coder::Accumulate { parity, .. } => {
                    for (i, shard) in parity.chunks_exact(len).enumerate() {
                        emit(i, shard);
                    }
                }
            }
        }
        self.packets += self.scheme.m() as u64;
        self.index = 0;
        self.group = self.group.wrapping_add(1);
        self.group_offset = self.offset;
        self.scheme.m()
    }

    /// Make the coder ready for a group of shards of `len` bytes (even, non-zero).
    fn start_group(&mut self, len: usize) {
        let (k, m) = (self.scheme.k(), self.scheme.m());
        match &mut self.coder {
            Coder::Simd(coder) => match coder {
                Some(c) => c.reset(k, m, len),
                None => ReedSolomonEncoder::new(k, m, len).map(|c| {
                    *coder = Some(c);
                }),
            }
            .expect("Scheme::new admits only counts the coder supports, and len is even"),
            Coder::Accumulate { parity, .. } => {
                parity.clear();
                parity.resize(m * len, 0);
            }
        }
    }
}

pub(super) fn payload_len_u16(len: usize) -> u16 {
    u16::try_from(len).expect("payloads and shards are at most MAX_PAYLOAD + 1 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_tables_the_parity_is_the_same() {
        for (k, m, p, len) in [
            (8, 2, 1024, 20_000),
            (32, 4, 1000, 70_001),
            (3, 5, 7, 100),
            (5, 1, 64, 64),
            (8, 2, 1024, 0),
            (8, 2, 1024, 300),
            (128, 128, 66, 9000),
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 11 + i / 5) as u8).collect();
            let scheme = Scheme::new(k, m).unwrap();
            let mut simd = Encoder::new(scheme, 3, p);
            simd.coder = Coder::Simd(None);
            let mut compact = Encoder::new(scheme, 3, p).without_tables();
            let chunks: Vec<&[u8]> = if data.is_empty() {
                vec![&[]]
            } else {
                data.chunks(p).collect()
            };
            let (mut a, mut b) = (vec![], vec![]);
            for (i, chunk) in chunks.iter().enumerate() {
                let last = i + 1 == chunks.len();
                assert_eq!(
                    simd.add(chunk, last, &mut a),
                    compact.add(chunk, last, &mut b)
                );
            }
            assert!(
                !a.is_empty() && a == b,
                "{k}+{m}, {p}-byte payloads, {len} bytes"
            );
        }
    }
}
