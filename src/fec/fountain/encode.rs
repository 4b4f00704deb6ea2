//! A source block's repair symbols, chunk by chunk: the block's data is transformed once
//! (IFFT), and each chunk of `k2` repair symbols is one FFT of that transform at its skew,
//! so symbol `r` costs the same whatever symbols came before, and is the one
//! reed-solomon-simd's `LowRateEncoder` would give for any count above `r`.
//!
//! It holds two copies of one block (the transform and a chunk), at most 2 * k2 * S bytes:
//! 4 MiB at K = 2048 and S = 1 KiB, nothing per symbol; or one copy, when the chunk is
//! made in place ([`BlockEncoder::chunk_in_place`], the sender's way: it makes one chunk
//! of each block at a time).

use reed_solomon_simd::engine::{DefaultEngine, Engine, ShardsRefMut};

/// Makes the repair symbols of one block at a time.
pub struct BlockEncoder {
    engine: DefaultEngine,
    symbol_len: usize,
    /// 64-byte units per symbol.
    units: usize,
    /// The block's data packets, K_b, and the power of two at or above it.
    k: usize,
    k2: usize,
    /// The IFFT of the block's zero-padded data shards.
    transform: Vec<[u8; 64]>,
    /// The chunk of repair symbols last computed, and which chunk it is.
    chunk: Vec<[u8; 64]>,
    chunk_index: Option<usize>,
    /// The chunk was made in `transform` itself: the block must be loaded again for another.
    in_place: bool,
    /// A short payload zero-padded to the symbol length.
    padded: Vec<u8>,
}

impl BlockEncoder {
    /// An encoder for symbols of `symbol_len` bytes (even, at least 2).
    pub fn new(symbol_len: usize) -> BlockEncoder {
        assert!(
            symbol_len >= 2 && symbol_len % 2 == 0,
            "symbol lengths are whole 16-bit symbols, checked by the geometry"
        );
        BlockEncoder {
            engine: DefaultEngine::new(),
            symbol_len,
            units: symbol_len.div_ceil(64),
            k: 0,
            k2: 0,
            transform: Vec::new(),
            chunk: Vec::new(),
            chunk_index: None,
            in_place: false,
            padded: vec![0; symbol_len],
        }
    }

    /// Take a block's data payloads (member 0 first), each at most the symbol length;
    /// shorter ones count as zero-padded.
    pub fn load<'a>(&mut self, payloads: impl ExactSizeIterator<Item = &'a [u8]>) {
        self.k = payloads.len();
        assert!(self.k >= 1, "a block holds at least one data packet");
        self.k2 = self.k.next_power_of_two();
        let units = self.units;
        self.transform.clear();
        self.transform.resize(self.k2 * units, [0; 64]);
        for (i, payload) in payloads.enumerate() {
            let shard: &[u8] = if payload.len() == self.symbol_len {
                payload
            } else {
                self.padded.fill(0);
                self.padded[..payload.len()].copy_from_slice(payload);
                &self.padded
            };
            to_units(shard, &mut self.transform[i * units..(i + 1) * units]);
        }
        let mut shards = ShardsRefMut::new(self.k2, units, &mut self.transform);
        self.engine.ifft(&mut shards, 0, self.k2, self.k, 0);
        self.chunk_index = None;
        self.in_place = false;
    }

    /// Make chunk `c` of the loaded block's repair symbols (symbols `c * k2` to
    /// `(c + 1) * k2 - 1`, below [`BlockEncoder::symbol_space`]) over its transform, without
    /// a second copy of the block: [`BlockEncoder::repair`] then gives that chunk's symbols
    /// only, until the next [`BlockEncoder::load`].
    pub fn chunk_in_place(&mut self, c: usize) {
        assert!(
            !self.in_place && (c + 1) * self.k2 <= self.symbol_space(),
            "a loaded block's transform makes one chunk in place, within the space"
        );
        let mut shards = ShardsRefMut::new(self.k2, self.units, &mut self.transform);
        self.engine
            .fft(&mut shards, 0, self.k2, self.k2, (c + 1) * self.k2);
        self.chunk_index = Some(c);
        self.in_place = true;
    }

    /// How many repair symbols the loaded block has.
    pub fn symbol_space(&self) -> usize {
        super::FIELD_SIZE - self.k2
    }

    /// Write repair symbol `r` (below [`BlockEncoder::symbol_space`]) of the loaded block
    /// into `out`, the symbol length.
    pub fn repair(&mut self, r: usize, out: &mut [u8]) {
        assert!(
            r < self.symbol_space(),
            "repair symbols are below the space"
        );
        let c = r / self.k2;
        let i = r % self.k2;
        if self.in_place {
            assert!(
                self.chunk_index == Some(c),
                "a chunk made in place gives its own symbols only"
            );
            from_units(&self.transform[i * self.units..(i + 1) * self.units], out);
            return;
        }
        if self.chunk_index != Some(c) {
            self.chunk.clear();
            self.chunk.extend_from_slice(&self.transform);
            let mut shards = ShardsRefMut::new(self.k2, self.units, &mut self.chunk);
            self.engine
                .fft(&mut shards, 0, self.k2, self.k2, (c + 1) * self.k2);
            self.chunk_index = Some(c);
        }
        from_units(&self.chunk[i * self.units..(i + 1) * self.units], out);
    }
}

/// A symbol's bytes as the crate lays them in 64-byte units: whole units as they are; a
/// final unit of `t < 64` bytes with its `t/2` low bytes at 0 and `t/2` high bytes at 32.
pub(super) fn to_units(shard: &[u8], units: &mut [[u8; 64]]) {
    let whole = shard.len() / 64;
    let (body, tail) = shard.split_at(whole * 64);
    units[..whole].as_flattened_mut().copy_from_slice(body);
    if !tail.is_empty() {
        let (lo, hi) = tail.split_at(tail.len() / 2);
        let unit = &mut units[whole];
        unit.fill(0);
        unit[..lo.len()].copy_from_slice(lo);
        unit[32..32 + hi.len()].copy_from_slice(hi);
    }
}

/// The inverse of [`to_units`], into `out` (the symbol length).
pub(super) fn from_units(units: &[[u8; 64]], out: &mut [u8]) {
    let whole = out.len() / 64;
    let (body, tail) = out.split_at_mut(whole * 64);
    body.copy_from_slice(&units[..whole].as_flattened()[..whole * 64]);
    if !tail.is_empty() {
        let half = tail.len() / 2;
        let unit = &units[whole];
        tail[..half].copy_from_slice(&unit[..half]);
        tail[half..].copy_from_slice(&unit[32..32 + half]);
    }
}
