//! YUV (Y'CbCr) to RGB in integer fixed point, and the row loops of each YUV layout.
//!
//! The arithmetic is the textbook one: with `Kr`, `Kb` from the matrix and `Kg = 1-Kr-Kb`,
//! `R = Y + 2(1-Kr) Cr`, `B = Y + 2(1-Kb) Cb`, `G = Y - 2Kb(1-Kb)/Kg Cb - 2Kr(1-Kr)/Kg Cr`,
//! where in limited ("tv") range `Y = (Y'-16)/219` and `C = (C'-128)/224`, and in full
//! ("pc") range `Y = Y'/255` and `C = (C'-128)/255` (scaled by 4 for 10-bit samples). The
//! coefficients are computed once in floating point and kept as 16.16 fixed point; each
//! pixel then costs a few integer multiplies and a rounding shift, and agrees with an
//! exact computation within 1.
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

/// Fraction bits of the fixed-point coefficients.
const SHIFT: u32 = 16;
const HALF: i32 = 1 << (SHIFT - 1);

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

/// Fixed-point coefficients for one matrix, range and sample depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct YuvToRgb {
    y_offset: i32,
    c_offset: i32,
    y_mul: i32,
    r_from_v: i32,
    g_from_u: i32,
    g_from_v: i32,
    b_from_u: i32,
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

impl YuvToRgb {
    pub(super) fn new(matrix: Matrix, range: Range, bits: u32) -> YuvToRgb {
        let (kr, kb) = matrix.weights();
        let kg = 1.0 - kr - kb;
        let (y_offset, y_span, c_offset, c_span) = range_scales(range, bits);
        let fixed = |v: f64| (v * (1 << SHIFT) as f64).round() as i32;
        let c = 255.0 / c_span;
        YuvToRgb {
            y_offset: y_offset as i32,
            c_offset: c_offset as i32,
            y_mul: fixed(255.0 / y_span),
            r_from_v: fixed(c * 2.0 * (1.0 - kr)),
            g_from_u: fixed(c * 2.0 * kb * (1.0 - kb) / kg),
            g_from_v: fixed(c * 2.0 * kr * (1.0 - kr) / kg),
            b_from_u: fixed(c * 2.0 * (1.0 - kb)),
        }
    }

    /// The red, green and blue terms of one chroma pair, shared by the pixels it covers.
    #[inline(always)]
    fn chroma(&self, u: i32, v: i32) -> [i32; 3] {
        let (u, v) = (u - self.c_offset, v - self.c_offset);
        [
            self.r_from_v * v,
            -(self.g_from_u * u + self.g_from_v * v),
            self.b_from_u * u,
        ]
    }

    /// One RGB pixel from a luma sample and the terms of its chroma pair.
    #[inline(always)]
    fn put(&self, y: i32, c: [i32; 3], dst: &mut [u8]) {
        let luma = (y - self.y_offset) * self.y_mul + HALF;
        dst[0] = clamp8((luma + c[0]) >> SHIFT);
        dst[1] = clamp8((luma + c[1]) >> SHIFT);
        dst[2] = clamp8((luma + c[2]) >> SHIFT);
    }
}

#[inline(always)]
fn clamp8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
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

    #[inline(always)]
    fn of(&self, x: usize) -> usize {
        match self {
            ChromaColumns::Full => x,
            ChromaColumns::Pairs => x / 2,
            ChromaColumns::Map(map) => map[x],
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
    let width = dst.len() / 3;
    let luma = &luma[..width];
    match columns {
        ChromaColumns::Full => {
            for (((d, &y), &u), &v) in dst.chunks_exact_mut(3).zip(luma).zip(u).zip(v) {
                k.put(y as i32, k.chroma(u as i32, v as i32), d);
            }
        }
        ChromaColumns::Pairs => {
            let pairs = width / 2;
            for (((d, y), &u), &v) in dst
                .chunks_exact_mut(6)
                .zip(luma.chunks_exact(2))
                .zip(&u[..pairs])
                .zip(&v[..pairs])
            {
                let c = k.chroma(u as i32, v as i32);
                k.put(y[0] as i32, c, &mut d[..3]);
                k.put(y[1] as i32, c, &mut d[3..]);
            }
        }
        ChromaColumns::Map(map) => {
            for ((d, &y), &cx) in dst.chunks_exact_mut(3).zip(luma).zip(map) {
                k.put(y as i32, k.chroma(u[cx] as i32, v[cx] as i32), d);
            }
        }
    }
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
    let width = dst.len() / 3;
    let luma = &luma[..width];
    let (iu, iv) = if swap { (1, 0) } else { (0, 1) };
    if *columns == ChromaColumns::Pairs {
        for ((d, y), c) in dst
            .chunks_exact_mut(6)
            .zip(luma.chunks_exact(2))
            .zip(uv.chunks_exact(2))
        {
            let c = k.chroma(c[iu] as i32, c[iv] as i32);
            k.put(y[0] as i32, c, &mut d[..3]);
            k.put(y[1] as i32, c, &mut d[3..]);
        }
        return;
    }
    for (x, (d, &y)) in dst.chunks_exact_mut(3).zip(luma).enumerate() {
        let pair = &uv[2 * columns.of(x)..];
        k.put(y as i32, k.chroma(pair[iu] as i32, pair[iv] as i32), d);
    }
}

/// One row of 4:2:0 planar YUV with 10-bit little-endian samples in 16-bit words.
pub(super) fn planar_row_10le(
    luma: &[u8],
    u: &[u8],
    v: &[u8],
    columns: &ChromaColumns,
    dst: &mut [u8],
    k: &YuvToRgb,
) {
    let sample = |s: &[u8], i: usize| (u16::from_le_bytes([s[2 * i], s[2 * i + 1]]) & 0x3ff) as i32;
    for (x, d) in dst.chunks_exact_mut(3).enumerate() {
        let cx = columns.of(x);
        k.put(sample(luma, x), k.chroma(sample(u, cx), sample(v, cx)), d);
    }
}

/// One row of packed 4:2:2: YUYV (`yuyv422`) or UYVY (`uyvy422`), four bytes per two pixels.
pub(super) fn packed_row(
    format: PixelFormat,
    src: &[u8],
    columns: &ChromaColumns,
    dst: &mut [u8],
    k: &YuvToRgb,
) {
    // Byte positions of Y0, U, Y1, V within a group of four.
    let [y0, u, y1, v] = match format {
        PixelFormat::Yuyv422 => [0, 1, 2, 3],
        PixelFormat::Uyvy422 => [1, 0, 3, 2],
        _ => unreachable!("packed_row is for yuyv422 and uyvy422"),
    };
    if *columns == ChromaColumns::Pairs {
        for (d, s) in dst.chunks_exact_mut(6).zip(src.chunks_exact(4)) {
            let c = k.chroma(s[u] as i32, s[v] as i32);
            k.put(s[y0] as i32, c, &mut d[..3]);
            k.put(s[y1] as i32, c, &mut d[3..]);
        }
        return;
    }
    for (x, d) in dst.chunks_exact_mut(3).enumerate() {
        let luma = src[4 * (x / 2) + if x % 2 == 0 { y0 } else { y1 }];
        let group = &src[4 * columns.of(x)..];
        k.put(luma as i32, k.chroma(group[u] as i32, group[v] as i32), d);
    }
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
    fn fixed_point_agrees_with_real_arithmetic() {
        for matrix in [Matrix::Bt601, Matrix::Bt709, Matrix::Bt2020] {
            for range in [Range::Tv, Range::Pc] {
                let k = YuvToRgb::new(matrix, range, 8);
                for y in (0..=255).step_by(3) {
                    for u in (0..=255).step_by(5) {
                        for v in (0..=255).step_by(7) {
                            let mut px = [0; 3];
                            k.put(y, k.chroma(u, v), &mut px);
                            let want = reference(y as u8, u as u8, v as u8, matrix, range);
                            for c in 0..3 {
                                // Rounding to the nearest integer, up to the error of three
                                // 16.16 coefficients times a sample (3 * 255 / 2^17).
                                let diff = (px[c] as f64 - want[c]).abs();
                                assert!(
                                    diff <= 0.5 + 0.006,
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
        let rgb = |y, u, v| {
            let mut px = [0; 3];
            k.put(y, k.chroma(u, v), &mut px);
            px
        };
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
        let mut px = [0; 3];
        k.put(940, k.chroma(512, 512), &mut px);
        assert_eq!(px, [255, 255, 255]);
        k.put(64, k.chroma(512, 512), &mut px);
        assert_eq!(px, [0, 0, 0]);
    }
}
