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
//! Speed ([`rows`]): rows are converted in blocks of 32 pixels. Each layout's loader
//! upsamples chroma and widens samples into three `i32` arrays; one kernel, free of
//! branches, turns a block into RGB, interleaved with SSSE3 byte shuffles. Both are plain
//! loops over fixed-size arrays that LLVM vectorises; the row functions are compiled twice,
//! for the SSE2 baseline and for AVX2, chosen at run time. Planar 8-bit rows of even
//! width (or 4:4:4) take an AVX2 path written with intrinsics, 16 pixels at a time: each
//! product there fits `vpmaddwd` (a sample less its centre times a 16-bit coefficient), a
//! chroma sample's products serve both its pixels, and the packs' saturation is the clip;
//! 2.4x fewer instructions than the vectorised loops (callgrind, 1080p 4:2:0), the same bits.
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

mod rows;

pub(super) use rows::{packed_row, planar_row, planar_row_10le, semi_planar_row};

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
