//! YUV (Y'CbCr) to RGB in integer fixed point, and the row loops of each YUV layout.
//!
//! The arithmetic is ffmpeg's (swscale with `-sws_flags accurate_rnd+full_chroma_int`),
//! so that the output is the same to the last bit: samples are first taken to swscale's
//! 15-bit intermediate (`s << 7` for 8 bits, `min(s << 5, 32767)` for 10), then
//! `Y = (4 y15 - Yoff) Ky + 2^21`, `R = Y + Kvr V`, `G = Y + Kvg V + Kug U`, `B = Y + Kub U`
//! with `U`, `V` four times the intermediate minus its centre, added in wrapping 32-bit
//! arithmetic (swscale adds as `unsigned`), clipped to 30 bits as signed and shifted down
//! by 22. The coefficients are swscale's: its 16.16 table for the matrix
//! (`ff_yuv2rgb_coeffs`: Kr, Kb are implied, not recomputed), scaled by 255/219 or
//! 224/255 for the range, rounded to 13 fraction bits. The result agrees with an exact
//! real-valued computation within 1, except where swscale's own sum wraps (luma and
//! chroma both at their extremes, outside the legal range): there it is what ffmpeg writes.
//!
//! Speed: rows are converted in blocks of [`BLOCK`] pixels. Each layout's loader upsamples
//! chroma and widens samples into three `i32` arrays; one kernel, free of branches, turns
//! a block into RGB. Both are plain loops over fixed-size arrays that LLVM vectorises; the
//! row functions are compiled twice, for the SSE2 baseline and for AVX2, chosen at run time.
//!
//! Chroma is upsampled by nearest neighbour: every output pixel takes the chroma sample
//! whose area covers it (pixels 2i and 2i+1 take sample i horizontally; rows 2j and 2j+1
//! take chroma row j in 4:2:0), which keeps damage to a chroma byte confined to the 2x2 (or
//! 2x1) block that byte describes. This is what ffmpeg's swscale does with
//! `-sws_flags neighbor+full_chroma_int`. For odd sizes swscale stretches the ceil(W/2)
//! chroma samples over the W pixels instead ([`nearest_chroma`]), and so do we, so that
//! frames ffmpeg made look as ffmpeg shows them.

use super::{PixelFormat, Rgb};
use std::fmt;
use std::str::FromStr;

/// The colour matrix: which luma weights the YUV was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Matrix {
    /// ITU-R BT.601, standard-definition video; what ffmpeg assumes for unflagged raw video.
    #[default]
    Bt601,
    /// ITU-R BT.709, HD video.
    Bt709,
    /// ITU-R BT.2020 (non-constant luminance), UHD video.
    Bt2020,
}

impl Matrix {
    /// The names accepted on the command line.
    pub const NAMES: [&'static str; 3] = ["bt601", "bt709", "bt2020"];

    /// The luma weights (Kr, Kb) of the matrix.
    fn weights(self) -> (f64, f64) {
        match self {
            Matrix::Bt601 => (0.299, 0.114),
            Matrix::Bt709 => (0.2126, 0.0722),
            Matrix::Bt2020 => (0.2627, 0.0593),
        }
    }
}

impl FromStr for Matrix {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "bt601" | "smpte170m" | "bt470bg" => Ok(Matrix::Bt601),
            "bt709" => Ok(Matrix::Bt709),
            "bt2020" | "bt2020nc" => Ok(Matrix::Bt2020),
            _ => Err(format!(
                "unknown colour matrix \"{text}\" (expected bt601, bt709 or bt2020)"
            )),
        }
    }
}

impl fmt::Display for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Matrix::NAMES[*self as usize])
    }
}

/// The sample range: limited (16-235 luma, 16-240 chroma) or full (0-255).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Range {
    /// Limited range, as broadcast video and most cameras and codecs produce.
    #[default]
    Tv,
    /// Full range, as JPEG and some webcams produce.
    Pc,
}

impl Range {
    /// The names accepted on the command line.
    pub const NAMES: [&'static str; 2] = ["tv", "pc"];
}

impl FromStr for Range {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "tv" | "limited" | "mpeg" => Ok(Range::Tv),
            "pc" | "full" | "jpeg" => Ok(Range::Pc),
            _ => Err(format!("unknown range \"{text}\" (expected tv or pc)")),
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Range::NAMES[*self as usize])
    }
}

/// Pixels converted at a time by [`YuvToRgb::kernel`]: a few vector registers' worth.
const BLOCK: usize = 32;

/// swscale's coefficients for one matrix and range, for samples in its 15-bit intermediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct YuvToRgb {
    y_offset: i32,
    y_mul: i32,
    v2r: i32,
    v2g: i32,
    u2g: i32,
    u2b: i32,
    /// 10-bit samples (in 16-bit words), else 8-bit.
    ten_bit: bool,
}

/// swscale's `ff_yuv2rgb_coeffs` entry (crv, cbu, cgu, cgv in 16.16, for limited-range
/// chroma) of each matrix.
fn swscale_table(matrix: Matrix) -> [i64; 4] {
    match matrix {
        Matrix::Bt601 => [104597, 132201, 25675, 53279],
        Matrix::Bt709 => [117489, 138438, 13975, 34925],
        Matrix::Bt2020 => [110013, 140363, 12277, 42626],
    }
}

/// swscale's `roundToInt16`: 16.16 to the nearest integer, saturated to `i16`.
fn round_to_i16(f: i64) -> i32 {
    let r = (f + (1 << 15)) >> 16;
    if r < -0x7fff {
        -0x8000
    } else {
        r.min(0x7fff) as i32
    }
}

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
    pub(super) fn new(matrix: Matrix, range: Range, bits: u32) -> YuvToRgb {
        let [mut crv, mut cbu, cgu, cgv] = swscale_table(matrix);
        let (mut cgu, mut cgv) = (-cgu, -cgv);
        let (cy, oy): (i64, i64) = match range {
            Range::Tv => ((1 << 16) * 255 / 219, 16 << 16),
            Range::Pc => {
                for c in [&mut crv, &mut cbu, &mut cgu, &mut cgv] {
                    *c = *c * 224 / 255;
                }
                (1 << 16, 0)
            }
        };
        YuvToRgb {
            y_offset: round_to_i16(oy << 9),
            y_mul: round_to_i16(cy << 13),
            v2r: round_to_i16(crv << 13),
            v2g: round_to_i16(cgv << 13),
            u2g: round_to_i16(cgu << 13),
            u2b: round_to_i16(cbu << 13),
            ten_bit: bits == 10,
        }
    }

    /// One pixel from its samples in the intermediate (the reference the kernel follows).
    #[cfg(test)]
    fn pixel(&self, y: i32, u: i32, v: i32) -> [u8; 3] {
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

/// The real-valued scales of one range at `bits` per sample: luma offset, luma span,
/// chroma centre and chroma span.
fn range_scales(range: Range, bits: u32) -> (f64, f64, f64, f64) {
    let unit = (1u32 << (bits - 8)) as f64;
    let c_offset = 128.0 * unit;
    match range {
        Range::Tv => (16.0 * unit, 219.0 * unit, c_offset, 224.0 * unit),
        Range::Pc => {
            let max = ((1u32 << bits) - 1) as f64;
            (0.0, max, c_offset, max)
        }
    }
}

/// RGB to 8-bit (Y, U, V) in `matrix` and `range`: the fill of YUV frames. Not a hot path.
pub(super) fn rgb_to_yuv(rgb: Rgb, matrix: Matrix, range: Range) -> (u8, u8, u8) {
    let (kr, kb) = matrix.weights();
    let kg = 1.0 - kr - kb;
    let [r, g, b] = [rgb.r, rgb.g, rgb.b].map(|v| v as f64 / 255.0);
    let y = kr * r + kg * g + kb * b;
    let cb = (b - y) / (2.0 * (1.0 - kb));
    let cr = (r - y) / (2.0 * (1.0 - kr));
    let (y_offset, y_span, c_offset, c_span) = range_scales(range, 8);
    let byte = |v: f64| v.round().clamp(0.0, 255.0) as u8;
    (
        byte(y_offset + y_span * y),
        byte(c_offset + c_span * cb),
        byte(c_offset + c_span * cr),
    )
}

/// The chroma sample that nearest-neighbour upsampling gives pixel `x` of `len`, when the
/// chroma has `chroma_len` samples: swscale's point filter, in its own 16.16 fixed point,
/// so odd sizes agree with ffmpeg too. For even sizes this is `x / 2`.
pub(super) fn nearest_chroma(x: usize, len: usize, chroma_len: usize) -> usize {
    let step = (((chroma_len as u64) << 16) + (len as u64 >> 1)) / len as u64;
    let pos = ((step >> 1) + x as u64 * step) >> 16;
    (pos as usize).min(chroma_len - 1)
}

/// Where each pixel of a row finds its chroma.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ChromaColumns {
    /// One chroma sample per pixel (4:4:4).
    Full,
    /// An even width at 4:2:x: pixels 2i and 2i+1 take sample i (the fast path).
    Pairs,
    /// An odd width at 4:2:x: the sample of each pixel, from [`nearest_chroma`].
    Map(Vec<usize>),
}

impl ChromaColumns {
    pub(super) fn new(width: usize, subsampled: bool) -> ChromaColumns {
        if !subsampled {
            ChromaColumns::Full
        } else if width % 2 == 0 {
            ChromaColumns::Pairs
        } else {
            let chroma_width = width.div_ceil(2);
            ChromaColumns::Map(
                (0..width)
                    .map(|x| nearest_chroma(x, width, chroma_width))
                    .collect(),
            )
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
pub(super) fn planar_row(
    luma: &[u8],
    u: &[u8],
    v: &[u8],
    columns: &ChromaColumns,
    dst: &mut [u8],
    k: &YuvToRgb,
) {
    with_avx2!(
        planar_row_avx2,
        (luma: &[u8], u: &[u8], v: &[u8], columns: &ChromaColumns, dst: &mut [u8], k: &YuvToRgb),
        planar_row_body(luma, u, v, columns, dst, k)
    )
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
pub(super) fn semi_planar_row(
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
pub(super) fn planar_row_10le(
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
pub(super) fn packed_row(
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact real-valued conversion, for comparison.
    fn reference(y: u8, u: u8, v: u8, matrix: Matrix, range: Range) -> [f64; 3] {
        let (kr, kb) = matrix.weights();
        let kg = 1.0 - kr - kb;
        let (yo, ys, co, cs) = range_scales(range, 8);
        let yy = (y as f64 - yo) / ys;
        let cb = (u as f64 - co) / cs;
        let cr = (v as f64 - co) / cs;
        let r = yy + 2.0 * (1.0 - kr) * cr;
        let b = yy + 2.0 * (1.0 - kb) * cb;
        let g = yy - 2.0 * kb * (1.0 - kb) / kg * cb - 2.0 * kr * (1.0 - kr) / kg * cr;
        [r, g, b].map(|c| (c * 255.0).clamp(0.0, 255.0))
    }

    #[test]
    fn swscale_arithmetic_agrees_with_real_arithmetic_within_one() {
        for matrix in [Matrix::Bt601, Matrix::Bt709, Matrix::Bt2020] {
            for range in [Range::Tv, Range::Pc] {
                let k = YuvToRgb::new(matrix, range, 8);
                // Legal samples: swscale's sum wraps only outside them (in tv range).
                let (luma, chroma) = match range {
                    Range::Tv => (16..=235, 16..=240),
                    Range::Pc => (0..=255, 0..=255),
                };
                for y in luma.step_by(3) {
                    for u in chroma.clone().step_by(5) {
                        for v in chroma.clone().step_by(7) {
                            let px = k.pixel(y << 7, u << 7, v << 7);
                            let want = reference(y as u8, u as u8, v as u8, matrix, range);
                            for c in 0..3 {
                                let diff = (px[c] as f64 - want[c]).abs();
                                assert!(
                                    diff < 1.0,
                                    "{matrix} {range} {y},{u},{v}: {px:?} vs {want:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn coefficients_are_swscales() {
        // swscale's yuv2rgb_*_coeff for BT.601 limited range, worked by hand from
        // ff_yuv2rgb_c_init_tables: Ky = round(65536 * 255 / 219 (truncated) / 8),
        // Kvr = round(104597 / 8) = 13075, ...; the ffmpeg comparison in tests/it/video.rs checks
        // the outputs themselves.
        let k = YuvToRgb::new(Matrix::Bt601, Range::Tv, 8);
        assert_eq!(
            (k.y_mul, k.v2r, k.v2g, k.u2g, k.u2b, k.y_offset),
            (9539, 13075, -6660, -3209, 16525, 8192)
        );
        let k = YuvToRgb::new(Matrix::Bt601, Range::Pc, 8);
        assert_eq!((k.y_mul, k.y_offset), (8192, 0));
    }

    #[test]
    fn the_wrap_at_the_extremes_is_swscales() {
        // Y=255, U=255 in limited range: the blue sum passes 2^31 and swscale's `unsigned`
        // addition wraps it to a negative number, clipped to 0.
        let k = YuvToRgb::new(Matrix::Bt601, Range::Tv, 8);
        assert_eq!(k.pixel(255 << 7, 255 << 7, 128 << 7)[2], 0);
    }

    #[test]
    fn nearest_chroma_pairs_pixels_for_even_sizes_and_stretches_odd_ones() {
        for x in 0..64 {
            assert_eq!(nearest_chroma(x, 64, 32), x / 2);
        }
        // 33 pixels over 17 samples, as swscale's point filter maps them.
        let odd: Vec<usize> = (0..33).map(|x| nearest_chroma(x, 33, 17)).collect();
        assert_eq!(&odd[..4], [0, 0, 1, 1]);
        assert_eq!(odd[17], 9);
        assert_eq!(odd[32], 16);
        assert_eq!(nearest_chroma(0, 1, 1), 0);
    }

    #[test]
    fn known_bt601_tv_colours() {
        let k = YuvToRgb::new(Matrix::Bt601, Range::Tv, 8);
        let rgb = |y: i32, u: i32, v: i32| k.pixel(y << 7, u << 7, v << 7);
        assert_eq!(rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(rgb(235, 128, 128), [255, 255, 255]);
        // Pure red in BT.601 limited range rounds to Y=81, U=90, V=240, which is exactly
        // R = 255 * ((81-16)/219 + 1.402 * 112/224) = 254.4, G = -0.5, B = -1.1.
        assert_eq!(rgb(81, 90, 240), [254, 0, 0]);
    }

    #[test]
    fn black_fill_is_neutral() {
        let black = Rgb::default();
        assert_eq!(rgb_to_yuv(black, Matrix::Bt709, Range::Tv), (16, 128, 128));
        assert_eq!(rgb_to_yuv(black, Matrix::Bt601, Range::Pc), (0, 128, 128));
        let white = Rgb {
            r: 255,
            g: 255,
            b: 255,
        };
        assert_eq!(rgb_to_yuv(white, Matrix::Bt601, Range::Tv), (235, 128, 128));
    }

    #[test]
    fn ten_bit_uses_the_same_scale() {
        let k = YuvToRgb::new(Matrix::Bt601, Range::Tv, 10);
        let rgb = |y: i32, u: i32, v: i32| k.pixel(y << 5, u << 5, v << 5);
        assert_eq!(rgb(940, 512, 512), [255, 255, 255]);
        assert_eq!(rgb(64, 512, 512), [0, 0, 0]);
    }
}
