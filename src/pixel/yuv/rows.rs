//! The row loops: each layout's loader, the block kernel and the RGB interleave (see the
//! parent module for the arithmetic and the siting).

use super::{ChromaColumns, PixelFormat, YuvToRgb};

/// Pixels converted at a time by [`YuvToRgb::kernel`]: a few vector registers' worth.
const BLOCK: usize = 32;

/// A block of pixels in swscale's 15-bit intermediate: luma and the chroma pair of each.
struct Block {
    y: [i32; BLOCK],
    u: [i32; BLOCK],
    v: [i32; BLOCK],
}

impl Block {
    fn new() -> Block {
        Block {
            y: [0; BLOCK],
            u: [0; BLOCK],
            v: [0; BLOCK],
        }
    }
}

/// An 8-bit sample in swscale's intermediate.
#[inline(always)]
fn from_8(s: u8) -> i32 {
    (s as i32) << 7
}

/// Sample `i` of a row of 16-bit little-endian words (10 significant bits) in swscale's
/// intermediate: out-of-range words saturate as swscale's do.
#[inline(always)]
fn from_10le(row: &[u8], i: usize) -> i32 {
    ((u16::from_le_bytes([row[2 * i], row[2 * i + 1]]) as i32) << 5).min(0x7fff)
}

/// One output sample from a 30-bit sum: swscale's `av_clip_uintp2(v, 30) >> 22`.
#[inline(always)]
fn out8(v: i32) -> u8 {
    (v.clamp(0, (1 << 30) - 1) >> 22) as u8
}

impl YuvToRgb {
    /// One pixel from its samples in the intermediate (the reference the kernel follows).
    #[cfg(test)]
    pub(super) fn pixel(&self, y: i32, u: i32, v: i32) -> [u8; 3] {
        let mut b = Block::new();
        (b.y[0], b.u[0], b.v[0]) = (y, u, v);
        let mut px = [0; 3];
        self.kernel(&b, 1, &mut px);
        px
    }

    /// RGB of the first `n` pixels of `block` into `dst` (`3 n` bytes). With `n` a
    /// constant [`BLOCK`] this is straight-line vector code.
    #[inline(always)]
    fn kernel(&self, block: &Block, n: usize, dst: &mut [u8]) {
        let (mut r, mut g, mut b) = ([0u8; BLOCK], [0u8; BLOCK], [0u8; BLOCK]);
        for i in 0..BLOCK {
            let y = (block.y[i] * 4 - self.y_offset) * self.y_mul + (1 << 21);
            let u = (block.u[i] - (128 << 7)) * 4;
            let v = (block.v[i] - (128 << 7)) * 4;
            r[i] = out8(y.wrapping_add(v * self.v2r));
            g[i] = out8(y.wrapping_add(v * self.v2g).wrapping_add(u * self.u2g));
            b[i] = out8(y.wrapping_add(u * self.u2b));
        }
        #[cfg(target_arch = "x86_64")]
        if n == BLOCK && std::arch::is_x86_feature_detected!("ssse3") {
            for half in 0..BLOCK / 16 {
                let at = 16 * half;
                let rgb = &mut dst[3 * at..3 * (at + 16)];
                // SAFETY: the CPU has SSSE3, checked just above.
                unsafe { interleave_ssse3(&r[at..at + 16], &g[at..at + 16], &b[at..at + 16], rgb) };
            }
            return;
        }
        for (i, d) in dst[..3 * n].chunks_exact_mut(3).enumerate() {
            d[0] = r[i];
            d[1] = g[i];
            d[2] = b[i];
        }
    }

    /// Convert a row of `dst.len() / 3` pixels, block by block, from what `source` loads.
    #[inline(always)]
    fn row(&self, dst: &mut [u8], source: &impl Load) {
        let width = dst.len() / 3;
        let mut block = Block::new();
        let mut x = 0;
        while x + BLOCK <= width {
            source.load(&mut block, x, BLOCK);
            self.kernel(&block, BLOCK, &mut dst[3 * x..3 * (x + BLOCK)]);
            x += BLOCK;
        }
        if x < width {
            let n = width - x;
            source.load(&mut block, x, n);
            self.kernel(&block, n, &mut dst[3 * x..]);
        }
    }
}

/// Compile `$body` (a call of an `#[inline(always)]` row loop) for AVX2 as well as for the
/// baseline, and run the AVX2 copy where the CPU has it: wider vectors for the same code.
macro_rules! with_avx2 {
    ($name:ident, ($($arg:ident: $ty:ty),*), $body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn $name($($arg: $ty),*) {
            $body
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { $name($($arg),*) };
        }
        $body
    }};
}

/// The byte shuffles that put 16 samples of one channel (`channel`) where they go in 48
/// bytes of RGB: `[k][p]` is the sample for byte `16 k + p`, or 0x80 (a zero) where that
/// byte belongs to another channel.
#[cfg(target_arch = "x86_64")]
const fn interleave_masks(channel: usize) -> [[u8; 16]; 3] {
    let mut masks = [[0x80u8; 16]; 3];
    let mut q = 0;
    while q < 48 {
        if q % 3 == channel {
            masks[q / 16][q % 16] = (q / 3) as u8;
        }
        q += 1;
    }
    masks
}

/// Red, green and blue (16 samples each) into 48 bytes of RGB with nine byte shuffles:
/// LLVM's own interleave of three channels stores byte by byte.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "ssse3")]
#[inline]
fn interleave_ssse3(r: &[u8], g: &[u8], b: &[u8], rgb: &mut [u8]) {
    use std::arch::x86_64::*;
    const MASKS: [[[u8; 16]; 3]; 3] = [
        interleave_masks(0),
        interleave_masks(1),
        interleave_masks(2),
    ];
    assert!(r.len() == 16 && g.len() == 16 && b.len() == 16 && rgb.len() == 48);
    // SAFETY: every load and store is of 16 bytes within the slices, checked above.
    unsafe {
        let load = |s: &[u8]| _mm_loadu_si128(s.as_ptr().cast());
        let (r, g, b) = (load(r), load(g), load(b));
        for k in 0..3 {
            let mask = |c: usize| _mm_loadu_si128(MASKS[c][k].as_ptr().cast());
            let out = _mm_or_si128(
                _mm_or_si128(_mm_shuffle_epi8(r, mask(0)), _mm_shuffle_epi8(g, mask(1))),
                _mm_shuffle_epi8(b, mask(2)),
            );
            _mm_storeu_si128(rgb[16 * k..].as_mut_ptr().cast(), out);
        }
    }
}

/// A row's samples, loaded a block at a time: a trait rather than a closure so that the
/// loader is always inlined into the (AVX2) row loop, which then reads in vector registers
/// what the loader wrote in them.
trait Load {
    /// Pixels `x..x + n` into `block`.
    fn load(&self, block: &mut Block, x: usize, n: usize);
}

/// Chroma of pixels `x..x + n` into `block`, through `columns`; `sample(i)` reads
/// chroma sample `i` of a row as (u, v) in the intermediate.
#[inline(always)]
fn load_chroma(
    block: &mut Block,
    columns: &ChromaColumns,
    x: usize,
    n: usize,
    sample: impl Fn(usize) -> (i32, i32),
) {
    match columns {
        ChromaColumns::Full => {
            for i in 0..n {
                (block.u[i], block.v[i]) = sample(x + i);
            }
        }
        // A whole block starts at an even pixel: each sample twice, without division.
        ChromaColumns::Pairs if n == BLOCK => {
            for j in 0..BLOCK / 2 {
                let (u, v) = sample(x / 2 + j);
                (block.u[2 * j], block.u[2 * j + 1]) = (u, u);
                (block.v[2 * j], block.v[2 * j + 1]) = (v, v);
            }
        }
        ChromaColumns::Pairs => {
            for i in 0..n {
                (block.u[i], block.v[i]) = sample((x + i) / 2);
            }
        }
        ChromaColumns::Map(map) => {
            for (i, &c) in map[x..x + n].iter().enumerate() {
                (block.u[i], block.v[i]) = sample(c);
            }
        }
    }
}

/// One row of planar 8-bit YUV.
pub(in crate::pixel) fn planar_row(
    luma: &[u8],
    u: &[u8],
    v: &[u8],
    columns: &ChromaColumns,
    dst: &mut [u8],
    k: &YuvToRgb,
) {
    #[cfg(target_arch = "x86_64")]
    if !matches!(columns, ChromaColumns::Map(_)) && std::arch::is_x86_feature_detected!("avx2") {
        let pairs = matches!(columns, ChromaColumns::Pairs);
        // SAFETY: the CPU has AVX2, checked just above.
        let done = unsafe { planar_row_16_avx2(luma, u, v, pairs, dst, k) };
        if done < dst.len() / 3 {
            let c = if pairs { done / 2 } else { done };
            let (luma, u, v) = (&luma[done..], &u[c..], &v[c..]);
            planar_row_body(luma, u, v, columns, &mut dst[3 * done..], k);
        }
        return;
    }
    with_avx2!(
        planar_row_avx2,
        (luma: &[u8], u: &[u8], v: &[u8], columns: &ChromaColumns, dst: &mut [u8], k: &YuvToRgb),
        planar_row_body(luma, u, v, columns, dst, k)
    )
}

/// The pixels of a row of planar 8-bit YUV (chroma in pairs of pixels, or one sample a
/// pixel) that whole groups of 16 cover, into `dst`: how many. The same arithmetic as
/// [`YuvToRgb::kernel`], in fewer instructions: every product there is a 16-bit sample
/// (less its centre) times a 16-bit coefficient, shifted left by 9 (the `<< 7` into the
/// intermediate and the `* 4`), so `vpmaddwd` forms U Kug + V Kvg at once, a chroma
/// sample's products are formed once for its two pixels, and the luma offset is one
/// constant; all of it wraps modulo 2^32 as the reference's sums do.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn planar_row_16_avx2(
    luma: &[u8],
    u: &[u8],
    v: &[u8],
    pairs: bool,
    dst: &mut [u8],
    k: &YuvToRgb,
) -> usize {
    use std::arch::x86_64::*;
    let width = (dst.len() / 3).min(luma.len());
    let chroma = |n: usize| if pairs { n / 2 } else { n };
    // Whole groups whose chroma samples are all there.
    let groups = (width / 16).min(u.len().min(v.len()) / chroma(16));
    let pair = |lo: i32, hi: i32| (lo as u16 as u32 | ((hi as u16 as u32) << 16)) as i32;
    // SAFETY: every load reads within `luma`, `u` and `v` (16 luma bytes and 8 or 16
    // chroma bytes of a group, counted above) and every store writes 48 bytes within
    // `dst`; the intrinsics need AVX2, which this function is compiled for.
    unsafe {
        let y_mul = _mm256_set1_epi32(k.y_mul);
        let y_add = _mm256_set1_epi32((1i32 << 21).wrapping_sub(k.y_offset.wrapping_mul(k.y_mul)));
        let k_r = _mm256_set1_epi32(pair(0, k.v2r));
        let k_g = _mm256_set1_epi32(pair(k.u2g, k.v2g));
        let k_b = _mm256_set1_epi32(pair(k.u2b, 0));
        let centre = _mm256_set1_epi16(128);
        let (first, second) = (
            _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3),
            _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7),
        );
        // (U - 128, V - 128) of 8 chroma samples as 16-bit pairs, from 8 bytes each.
        let pairs_of = |at: usize| {
            let u8s = _mm_loadl_epi64(u.as_ptr().add(at).cast());
            let v8s = _mm_loadl_epi64(v.as_ptr().add(at).cast());
            _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(u8s, v8s)), centre)
        };
        // The 8 products of one channel, shifted into place.
        let product = |uv: __m256i, kc: __m256i| _mm256_slli_epi32(_mm256_madd_epi16(uv, kc), 9);
        // 8 samples of a channel, shifted down by 22: the clip to 30 bits is the packs'
        // saturation in `narrow` (a negative sum stays negative, one of 2^30 or more
        // becomes 256 to 511).
        let out = |sum: __m256i| _mm256_srai_epi32(sum, 22);
        // 16 samples (two groups of 8 `i32`) to 16 bytes in order, saturated to 0..=255.
        let narrow = |lo: __m256i, hi: __m256i| {
            let w = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0b11_01_10_00);
            _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1))
        };
        let mut rgb = [[0u8; 16]; 3];
        for group in 0..groups {
            let x = 16 * group;
            let ys = _mm_loadu_si128(luma.as_ptr().add(x).cast());
            let luma_of = |bytes: __m128i| {
                let y = _mm256_mullo_epi32(_mm256_cvtepu8_epi32(bytes), y_mul);
                _mm256_add_epi32(_mm256_slli_epi32(y, 9), y_add)
            };
            let y = [luma_of(ys), luma_of(_mm_srli_si128(ys, 8))];
            // The chroma products of pixels x..x+8 and x+8..x+16.
            let (c0, c1) = if pairs {
                let uv = pairs_of(x / 2);
                (uv, uv)
            } else {
                (pairs_of(x), pairs_of(x + 8))
            };
            for (channel, kc) in [k_r, k_g, k_b].into_iter().enumerate() {
                let (lo, hi) = if pairs {
                    let p = product(c0, kc);
                    (
                        _mm256_permutevar8x32_epi32(p, first),
                        _mm256_permutevar8x32_epi32(p, second),
                    )
                } else {
                    (product(c0, kc), product(c1, kc))
                };
                let lo = out(_mm256_add_epi32(y[0], lo));
                let hi = out(_mm256_add_epi32(y[1], hi));
                _mm_storeu_si128(rgb[channel].as_mut_ptr().cast(), narrow(lo, hi));
            }
            interleave_ssse3(&rgb[0], &rgb[1], &rgb[2], &mut dst[3 * x..3 * x + 48]);
        }
    }
    16 * groups
}

#[inline(always)]
fn planar_row_body(
    luma: &[u8],
    u: &[u8],
    v: &[u8],
    columns: &ChromaColumns,
    dst: &mut [u8],
    k: &YuvToRgb,
) {
    let luma = &luma[..dst.len() / 3];
    struct Source<'a> {
        luma: &'a [u8],
        u: &'a [u8],
        v: &'a [u8],
        columns: &'a ChromaColumns,
    }
    impl Load for Source<'_> {
        #[inline(always)]
        fn load(&self, block: &mut Block, x: usize, n: usize) {
            let Source {
                luma,
                u,
                v,
                columns,
            } = *self;
            for (o, &s) in block.y[..n].iter_mut().zip(&luma[x..x + n]) {
                *o = from_8(s);
            }
            load_chroma(block, columns, x, n, |c| (from_8(u[c]), from_8(v[c])));
        }
    }
    k.row(
        dst,
        &Source {
            luma,
            u,
            v,
            columns,
        },
    )
}

/// One row of NV12 (`swap` false: U then V) or NV21 (`swap`: V then U).
pub(in crate::pixel) fn semi_planar_row(
    luma: &[u8],
    uv: &[u8],
    swap: bool,
    columns: &ChromaColumns,
    dst: &mut [u8],
    k: &YuvToRgb,
) {
    with_avx2!(
        semi_planar_row_avx2,
        (luma: &[u8], uv: &[u8], swap: bool, columns: &ChromaColumns, dst: &mut [u8], k: &YuvToRgb),
        semi_planar_row_body(luma, uv, swap, columns, dst, k)
    )
}

#[inline(always)]
fn semi_planar_row_body(
    luma: &[u8],
    uv: &[u8],
    swap: bool,
    columns: &ChromaColumns,
    dst: &mut [u8],
    k: &YuvToRgb,
) {
    let luma = &luma[..dst.len() / 3];
    let (iu, iv) = if swap { (1, 0) } else { (0, 1) };
    struct Source<'a> {
        luma: &'a [u8],
        uv: &'a [u8],
        iu: usize,
        iv: usize,
        columns: &'a ChromaColumns,
    }
    impl Load for Source<'_> {
        #[inline(always)]
        fn load(&self, block: &mut Block, x: usize, n: usize) {
            let Source {
                luma,
                uv,
                iu,
                iv,
                columns,
            } = *self;
            for (o, &s) in block.y[..n].iter_mut().zip(&luma[x..x + n]) {
                *o = from_8(s);
            }
            load_chroma(block, columns, x, n, |c| {
                (from_8(uv[2 * c + iu]), from_8(uv[2 * c + iv]))
            });
        }
    }
    k.row(
        dst,
        &Source {
            luma,
            uv,
            iu,
            iv,
            columns,
        },
    )
}

/// One row of planar YUV with 10-bit little-endian samples in 16-bit words.
pub(in crate::pixel) fn planar_row_10le(
    luma: &[u8],
    u: &[u8],
    v: &[u8],
    columns: &ChromaColumns,
    dst: &mut [u8],
    k: &YuvToRgb,
) {
    debug_assert!(k.ten_bit);
    with_avx2!(
        planar_row_10le_avx2,
        (luma: &[u8], u: &[u8], v: &[u8], columns: &ChromaColumns, dst: &mut [u8], k: &YuvToRgb),
        planar_row_10le_body(luma, u, v, columns, dst, k)
    )
}

#[inline(always)]
fn planar_row_10le_body(
    luma: &[u8],
    u: &[u8],
    v: &[u8],
    columns: &ChromaColumns,
    dst: &mut [u8],
    k: &YuvToRgb,
) {
    let luma = &luma[..2 * (dst.len() / 3)];
    struct Source<'a> {
        luma: &'a [u8],
        u: &'a [u8],
        v: &'a [u8],
        columns: &'a ChromaColumns,
    }
    impl Load for Source<'_> {
        #[inline(always)]
        fn load(&self, block: &mut Block, x: usize, n: usize) {
            let Source {
                luma,
                u,
                v,
                columns,
            } = *self;
            for (i, o) in block.y[..n].iter_mut().enumerate() {
                *o = from_10le(luma, x + i);
            }
            load_chroma(block, columns, x, n, |c| (from_10le(u, c), from_10le(v, c)));
        }
    }
    k.row(
        dst,
        &Source {
            luma,
            u,
            v,
            columns,
        },
    )
}

/// One row of packed 4:2:2: YUYV (`yuyv422`) or UYVY (`uyvy422`), four bytes per two pixels.
pub(in crate::pixel) fn packed_row(
    format: PixelFormat,
    src: &[u8],
    columns: &ChromaColumns,
    dst: &mut [u8],
    k: &YuvToRgb,
) {
    // Byte positions of Y0 (Y1 is two further), U and V within a group of four.
    let [y0, u, v] = match format {
        PixelFormat::Yuyv422 => [0, 1, 3],
        PixelFormat::Uyvy422 => [1, 0, 2],
        _ => unreachable!("packed_row is for yuyv422 and uyvy422"),
    };
    with_avx2!(
        packed_row_avx2,
        (src: &[u8], y0: usize, u: usize, v: usize, columns: &ChromaColumns, dst: &mut [u8], k: &YuvToRgb),
        packed_row_body(src, y0, u, v, columns, dst, k)
    )
}

#[inline(always)]
fn packed_row_body(
    src: &[u8],
    y0: usize,
    u: usize,
    v: usize,
    columns: &ChromaColumns,
    dst: &mut [u8],
    k: &YuvToRgb,
) {
    struct Source<'a> {
        src: &'a [u8],
        y0: usize,
        u: usize,
        v: usize,
        columns: &'a ChromaColumns,
    }
    impl Load for Source<'_> {
        #[inline(always)]
        fn load(&self, block: &mut Block, x: usize, n: usize) {
            let Source {
                src,
                y0,
                u,
                v,
                columns,
            } = *self;
            for (i, o) in block.y[..n].iter_mut().enumerate() {
                *o = from_8(src[2 * (x + i) + y0]);
            }
            load_chroma(block, columns, x, n, |c| {
                (from_8(src[4 * c + u]), from_8(src[4 * c + v]))
            });
        }
    }
    k.row(
        dst,
        &Source {
            src,
            y0,
            u,
            v,
            columns,
        },
    )
}
