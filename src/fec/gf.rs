//! Multiplying a shard by a constant of the coder's field, GF(2^16), and adding the product
//! to another shard: the one operation a rebuild of a few lost shards needs.
//!
//! A constant is known only as a linear map on a symbol's 16 bits (the images of the 16
//! bits, learnt from the coder), so no field tables are needed. Its product with a symbol
//! is the sum of the products with the symbol's four nibbles, so each constant gets four
//! 16-entry tables per output byte: 128 bytes, against the coder's 8 MiB of tables for all
//! 65536 constants. On x86-64 with AVX2 (checked at run time) the nibble lookups are byte
//! shuffles, 32 symbols at a time; elsewhere, and in a block's tail, they are table reads.
//!
//! Shards are in the coder's layout: in each 64-byte block (or the shorter last one) the
//! symbols' low bytes, then their high bytes.

use reed_solomon_simd::engine::{tables, GF_MODULUS};

/// Bytes of a whole block: 32 symbols.
pub(super) const BLOCK: usize = 64;

/// Multiplication by one constant, as nibble tables: `lo[n][x]` and `hi[n][x]` are the low
/// and high byte of the constant times nibble `x` in position `n` of a symbol.
#[derive(Clone)]
pub(super) struct Multiplier {
    lo: [[u8; 16]; 4],
    hi: [[u8; 16]; 4],
}

impl Multiplier {
    /// The linear map that sends bit `b` of a symbol to `images[b]`.
    pub(super) fn of(images: [u16; 16]) -> Multiplier {
        let mut lo = [[0u8; 16]; 4];
        let mut hi = [[0u8; 16]; 4];
        for n in 0..4 {
            for x in 0..16 {
                let y = (0..4)
                    .filter(|b| x >> b & 1 == 1)
                    .fold(0u16, |y, b| y ^ images[4 * n + b]);
                lo[n][x] = y as u8;
                hi[n][x] = (y >> 8) as u8;
            }
        }
        Multiplier { lo, hi }
    }

    /// The constant times one symbol.
    pub(super) fn apply(&self, x: u16) -> u16 {
        let [l, h] = x.to_le_bytes();
        let nibbles = [l & 15, l >> 4, h & 15, h >> 4].map(usize::from);
        let (mut lo, mut hi) = (0u8, 0u8);
        for (n, &x) in nibbles.iter().enumerate() {
            lo ^= self.lo[n][x];
            hi ^= self.hi[n][x];
        }
        u16::from_le_bytes([lo, hi])
    }

    /// `dst += c * src`, symbol by symbol (shards of one even length).
    pub(super) fn mul_add(&self, dst: &mut [u8], src: &[u8]) {
        assert_eq!(dst.len(), src.len(), "shards of one length");
        #[cfg(target_arch = "x86_64")]
        let done = if std::arch::is_x86_feature_detected!("avx2") {
            let whole = src.len() / BLOCK * BLOCK;
            // SAFETY: the CPU has AVX2, checked just above.
            unsafe { avx2::mul_add(self, &mut dst[..whole], &src[..whole]) };
            whole
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        self.mul_add_scalar(&mut dst[done..], &src[done..]);
    }

    /// [`Multiplier::mul_add`] by table reads, a symbol at a time.
    fn mul_add_scalar(&self, dst: &mut [u8], src: &[u8]) {
        for (d, s) in dst.chunks_mut(BLOCK).zip(src.chunks(BLOCK)) {
            let half = s.len() / 2;
            let (dl, dh) = d.split_at_mut(half);
            let (sl, sh) = s.split_at(half);
            for (((dl, dh), &sl), &sh) in dl.iter_mut().zip(dh).zip(sl).zip(sh) {
                let [l, h] = self.apply(u16::from_le_bytes([sl, sh])).to_le_bytes();
                *dl ^= l;
                *dh ^= h;
            }
        }
    }
}

/// Arithmetic in the coder's field, through its log and exp tables (256 KiB, the ones its
/// reference engine uses; the SIMD engines' 8 MiB tables are not needed).
pub(super) struct Field {
    exp: &'static tables::Exp,
    log: &'static tables::Log,
}

impl Field {
    pub(super) fn get() -> Field {
        let t = tables::get_exp_log();
        Field {
            exp: &t.exp,
            log: &t.log,
        }
    }

    /// The multiplicative identity (not the symbol 1: the field is in a Cantor basis).
    pub(super) fn one(&self) -> u16 {
        self.exp[0]
    }

    pub(super) fn mul(&self, a: u16, b: u16) -> u16 {
        if b == 0 {
            0
        } else {
            tables::mul(a, self.log[usize::from(b)], self.exp, self.log)
        }
    }

    /// The inverse of `a`, which is not zero.
    pub(super) fn inv(&self, a: u16) -> u16 {
        debug_assert!(a != 0);
        let log = self.log[usize::from(a)];
        self.exp[usize::from((GF_MODULUS - log) % GF_MODULUS)]
    }

    /// Multiplication by `z` as a [`Multiplier`].
    pub(super) fn multiplier(&self, z: u16) -> Multiplier {
        Multiplier::of(std::array::from_fn(|b| self.mul(1 << b, z)))
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Multiplier, BLOCK};
    use std::arch::x86_64::*;

    /// [`Multiplier::mul_add`] on whole blocks: per block, the four nibbles of 32 symbols
    /// index the tables through eight byte shuffles.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn mul_add(c: &Multiplier, dst: &mut [u8], src: &[u8]) {
        debug_assert!(dst.len() == src.len() && src.len() % BLOCK == 0);
        // SAFETY: AVX2 is present (the caller's promise); every load and store is of 32
        // bytes inside a 64-byte chunk of `src` or `dst`.
        unsafe {
            let table =
                |t: &[u8; 16]| _mm256_broadcastsi128_si256(_mm_loadu_si128(t.as_ptr().cast()));
            let lo = [0, 1, 2, 3].map(|n| table(&c.lo[n]));
            let hi = [0, 1, 2, 3].map(|n| table(&c.hi[n]));
            let mask = _mm256_set1_epi8(0x0f);
            for (d, s) in dst.chunks_exact_mut(BLOCK).zip(src.chunks_exact(BLOCK)) {
                let s_lo = _mm256_loadu_si256(s.as_ptr().cast());
                let s_hi = _mm256_loadu_si256(s.as_ptr().add(32).cast());
                let n = [
                    _mm256_and_si256(s_lo, mask),
                    _mm256_and_si256(_mm256_srli_epi64::<4>(s_lo), mask),
                    _mm256_and_si256(s_hi, mask),
                    _mm256_and_si256(_mm256_srli_epi64::<4>(s_hi), mask),
                ];
                let product = |t: &[__m256i; 4]| {
                    _mm256_xor_si256(
                        _mm256_xor_si256(
                            _mm256_shuffle_epi8(t[0], n[0]),
                            _mm256_shuffle_epi8(t[1], n[1]),
                        ),
                        _mm256_xor_si256(
                            _mm256_shuffle_epi8(t[2], n[2]),
                            _mm256_shuffle_epi8(t[3], n[3]),
                        ),
                    )
                };
                let d_lo = d.as_mut_ptr().cast::<__m256i>();
                let d_hi = d.as_mut_ptr().add(32).cast::<__m256i>();
                _mm256_storeu_si256(
                    d_lo,
                    _mm256_xor_si256(_mm256_loadu_si256(d_lo), product(&lo)),
                );
                _mm256_storeu_si256(
                    d_hi,
                    _mm256_xor_si256(_mm256_loadu_si256(d_hi), product(&hi)),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Multiplication by x in GF(2)[x] mod x^16 + x^5 + x^3 + x^2 + 1: some linear map.
    fn some_map(seed: u16) -> [u16; 16] {
        let mut images = [0u16; 16];
        let mut v = seed | 1;
        for image in &mut images {
            *image = v;
            v = (v << 1) ^ if v & 0x8000 != 0 { 0x002d } else { 0 };
        }
        images
    }

    #[test]
    fn a_multiplier_sends_each_bit_to_its_image_and_is_linear() {
        let images = some_map(0x1234);
        let c = Multiplier::of(images);
        for (b, &image) in images.iter().enumerate() {
            assert_eq!(c.apply(1 << b), image);
        }
        for (x, y) in [(0x00ffu16, 0xff00u16), (0x1357, 0x2468), (0xffff, 0x0001)] {
            assert_eq!(c.apply(x ^ y), c.apply(x) ^ c.apply(y));
        }
    }

    #[test]
    fn the_field_has_an_identity_and_inverses_and_multipliers_multiply() {
        let f = Field::get();
        for a in [1u16, 2, 3, 0x1234, 0x8000, 0xffff] {
            assert_eq!(f.mul(a, f.one()), a);
            assert_eq!(f.mul(a, f.inv(a)), f.one());
            let c = f.multiplier(a);
            for x in [0u16, 1, 0x00ff, 0xabcd] {
                assert_eq!(c.apply(x), f.mul(x, a));
            }
        }
    }

    #[test]
    fn the_vector_path_agrees_with_symbol_by_symbol() {
        let c = Multiplier::of(some_map(0xbeef));
        for len in [0, 2, 62, 64, 66, 128, 1000, 1024, 1026] {
            let src: Vec<u8> = (0..len).map(|i| (i * 31 + i / 7) as u8).collect();
            let start: Vec<u8> = (0..len).map(|i| (i * 5) as u8).collect();
            let mut fast = start.clone();
            c.mul_add(&mut fast, &src);
            let mut slow = start.clone();
            c.mul_add_scalar(&mut slow, &src);
            assert_eq!(fast, slow, "{len} bytes");
            if len >= 2 {
                // Symbol 0 is bytes 0 and min(len, 64) / 2.
                let half = len.min(BLOCK) / 2;
                let x = u16::from_le_bytes([src[0], src[half]]);
                let y = c.apply(x) ^ u16::from_le_bytes([start[0], start[half]]);
                assert_eq!(u16::from_le_bytes([fast[0], fast[half]]), y);
            }
        }
    }
}
