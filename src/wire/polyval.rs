//! POLYVAL (RFC 8452) over a whole packet payload, for the tags of [`crate::wire::auth`].
//!
//! The `polyval` crate multiplies and reduces once per 16-byte block, in a call that is not
//! inlined: on a 1 KiB payload that was 40% of a keyed receiver's time. Here, on x86-64
//! with carry-less multiplication (checked at run time), eight blocks are multiplied by
//! `H^8 .. H` and summed before one reduction, which is the same polynomial
//! (`S' = (S + X1) H^8 + X2 H^7 + .. + X8 H`, every product with POLYVAL's `x^-128`),
//! so the result is POLYVAL's bit for bit; the tests check it against the crate, which is
//! also what other CPUs use.

use polyval::universal_hash::{KeyInit, UniversalHash};
use polyval::Polyval;

/// POLYVAL's key, its digest and its blocks: 16 bytes.
pub const BLOCK: usize = 16;

/// Blocks multiplied and summed before one reduction: eight keep the carry-less
/// multiplier busy while the previous group's reduction finishes (four left the loop
/// waiting on that chain).
const GROUP: usize = 8;

/// A POLYVAL key with what the fast path needs ready: `H .. H^GROUP`.
#[derive(Clone)]
pub struct PolyvalKey {
    h: [u8; BLOCK],
    /// `H^GROUP, .., H^2, H` in POLYVAL's multiplication, when the CPU can use them.
    powers: Option<[[u8; BLOCK]; GROUP]>,
}

/// POLYVAL's product of two field elements: `a * b * x^-128`.
fn dot(a: &[u8; BLOCK], b: &[u8; BLOCK]) -> [u8; BLOCK] {
    let mut p = Polyval::new(b.into());
    p.update(&[(*a).into()]);
    p.finalize().into()
}

impl PolyvalKey {
    pub fn new(h: [u8; BLOCK]) -> Self {
        let mut powers = [h; GROUP];
        for i in (0..GROUP - 1).rev() {
            powers[i] = dot(&powers[i + 1], &h);
        }
        PolyvalKey {
            h,
            powers: fast_available().then_some(powers),
        }
    }

    /// POLYVAL(H, `data` zero-padded to a multiple of 16 bytes).
    pub fn hash(&self, data: &[u8]) -> [u8; BLOCK] {
        #[cfg(target_arch = "x86_64")]
        if let Some(powers) = &self.powers {
            // SAFETY: `powers` is only set when the CPU has PCLMULQDQ (fast_available).
            return unsafe { clmul::hash(powers, data) };
        }
        self.hash_portable(data)
    }

    /// The `polyval` crate's answer: other CPUs, and the reference for the tests.
    fn hash_portable(&self, data: &[u8]) -> [u8; BLOCK] {
        let mut p = Polyval::new((&self.h).into());
        p.update_padded(data);
        p.finalize().into()
    }
}

fn fast_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod clmul {
    use super::{BLOCK, GROUP};
    use std::arch::x86_64::*;

    /// POLYVAL with the powers `[H^GROUP, .., H^2, H]`.
    #[target_feature(enable = "pclmulqdq,sse2")]
    pub unsafe fn hash(powers: &[[u8; BLOCK]; GROUP], data: &[u8]) -> [u8; BLOCK] {
        let load = |b: &[u8]| -> __m128i {
            debug_assert_eq!(b.len(), BLOCK);
            // SAFETY: 16 readable bytes; an unaligned load.
            unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
        };
        let hp = powers.map(|p| load(&p));
        let h = hp[GROUP - 1];
        let mut y = _mm_setzero_si128();
        let mut groups = data.chunks_exact(GROUP * BLOCK);
        for group in &mut groups {
            let (mut lo, mut mid, mut hi) = product(_mm_xor_si128(y, load(&group[..BLOCK])), hp[0]);
            for (i, h) in hp.iter().enumerate().skip(1) {
                let (l, m, u) = product(load(&group[i * BLOCK..(i + 1) * BLOCK]), *h);
                lo = _mm_xor_si128(lo, l);
                mid = _mm_xor_si128(mid, m);
                hi = _mm_xor_si128(hi, u);
            }
            y = reduce(lo, mid, hi);
        }
        let rest = groups.remainder();
        let mut blocks = rest.chunks_exact(BLOCK);
        for b in &mut blocks {
            let (l, m, u) = product(_mm_xor_si128(y, load(b)), h);
            y = reduce(l, m, u);
        }
        let tail = blocks.remainder();
        if !tail.is_empty() {
            let mut last = [0; BLOCK];
            last[..tail.len()].copy_from_slice(tail);
            let (l, m, u) = product(_mm_xor_si128(y, load(&last)), h);
            y = reduce(l, m, u);
        }
        let mut out = [0; BLOCK];
        // SAFETY: 16 writable bytes; an unaligned store.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), y) };
        out
    }

    /// The 256-bit carry-less product of `x` and `h`: low, middle (both cross terms) and
    /// high 128-bit parts.
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2")]
    fn product(x: __m128i, h: __m128i) -> (__m128i, __m128i, __m128i) {
        let lo = _mm_clmulepi64_si128(x, h, 0x00);
        let hi = _mm_clmulepi64_si128(x, h, 0x11);
        let mid = _mm_xor_si128(
            _mm_clmulepi64_si128(x, h, 0x01),
            _mm_clmulepi64_si128(x, h, 0x10),
        );
        (lo, mid, hi)
    }

    /// Reduce a 256-bit product to POLYVAL's `x * h * x^-128` (the `polyval` crate's
    /// reduction, the same steps).
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2")]
    fn reduce(t0: __m128i, t2: __m128i, t1: __m128i) -> __m128i {
        let v0 = t0;
        let v1 = _mm_xor_si128(_mm_shuffle_epi32(t0, 0x0E), t2);
        let v2 = _mm_xor_si128(t1, _mm_shuffle_epi32(t2, 0x0E));
        let v3 = _mm_shuffle_epi32(t1, 0x0E);
        let v2 = xor5(
            v2,
            v0,
            _mm_srli_epi64(v0, 1),
            _mm_srli_epi64(v0, 2),
            _mm_srli_epi64(v0, 7),
        );
        let v1 = xor4(
            v1,
            _mm_slli_epi64(v0, 63),
            _mm_slli_epi64(v0, 62),
            _mm_slli_epi64(v0, 57),
        );
        let v3 = xor5(
            v3,
            v1,
            _mm_srli_epi64(v1, 1),
            _mm_srli_epi64(v1, 2),
            _mm_srli_epi64(v1, 7),
        );
        let v2 = xor4(
            v2,
            _mm_slli_epi64(v1, 63),
            _mm_slli_epi64(v1, 62),
            _mm_slli_epi64(v1, 57),
        );
        _mm_unpacklo_epi64(v2, v3)
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn xor4(a: __m128i, b: __m128i, c: __m128i, d: __m128i) -> __m128i {
        _mm_xor_si128(_mm_xor_si128(a, b), _mm_xor_si128(c, d))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn xor5(a: __m128i, b: __m128i, c: __m128i, d: __m128i, e: __m128i) -> __m128i {
        _mm_xor_si128(a, xor4(b, c, d, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_is_polyval_for_every_length() {
        // Lengths around every block and eight-block boundary, and a maximal payload.
        let data: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for h_seed in [1u8, 0x5a, 0xff] {
            let key = PolyvalKey::new(std::array::from_fn(|i| h_seed.wrapping_mul(i as u8 + 3)));
            for len in (0..200).chain([1023, 1024, 1025, 8192, 65475]) {
                assert_eq!(
                    key.hash(&data[..len]),
                    key.hash_portable(&data[..len]),
                    "length {len}"
                );
            }
        }
    }

    #[test]
    fn rfc_8452_polyval_example() {
        // RFC 8452, appendix A: POLYVAL(H, X_1, X_2).
        let h = hex("25629347589242761d31f826ba4b757b");
        let x = [
            hex("4f4f95668c83dfb6401762bb2d01a262"),
            hex("d1a24ddd2721d006bbe45f20d3c9f362"),
        ]
        .concat();
        assert_eq!(
            PolyvalKey::new(h).hash(&x),
            hex("f7a3b47b846119fae5b7866cf5e5b77e")
        );
    }

    fn hex(s: &str) -> [u8; BLOCK] {
        std::array::from_fn(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
    }
}
