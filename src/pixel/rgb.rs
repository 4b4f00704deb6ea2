//! Rows of RGB and grey formats to PPM/PGM rows: byte shuffles, nothing more.
//!
//! Every conversion here picks bytes from a fixed-size input pixel into a fixed-size output
//! pixel (alpha dropped, grey repeated, 16-bit little-endian swapped to PNM's big-endian),
//! so one generic loop over `chunks_exact` does them all and the compiler unrolls it.

use super::{Output, PixelFormat};

/// Convert one row. `src` is the row without padding; `dst` the output row.
pub(super) fn row(format: PixelFormat, output: Output, src: &[u8], dst: &mut [u8]) {
    use PixelFormat::*;
    match (output, format) {
        (Output::Ppm, Rgb24 | Rgb48be) | (Output::Pgm, Gray | Gray16be) => dst.copy_from_slice(src),
        (Output::Ppm, Bgr24) => shuffle::<3, 3>(src, dst, [2, 1, 0]),
        (Output::Ppm, Rgba) => shuffle::<4, 3>(src, dst, [0, 1, 2]),
        (Output::Ppm, Bgra) => shuffle::<4, 3>(src, dst, [2, 1, 0]),
        (Output::Ppm, Argb) => shuffle::<4, 3>(src, dst, [1, 2, 3]),
        (Output::Ppm, Abgr) => shuffle::<4, 3>(src, dst, [3, 2, 1]),
        (Output::Ppm, Gray) => shuffle::<1, 3>(src, dst, [0, 0, 0]),
        (Output::Ppm, Gray16be) => shuffle::<2, 6>(src, dst, [0, 1, 0, 1, 0, 1]),
        (Output::Ppm, Gray16le) => shuffle::<2, 6>(src, dst, [1, 0, 1, 0, 1, 0]),
        (Output::Ppm, Rgb48le) => shuffle::<6, 6>(src, dst, [1, 0, 3, 2, 5, 4]),
        (Output::Pgm, Gray16le) => shuffle::<2, 2>(src, dst, [1, 0]),
        (output, format) => unreachable!("no {output:?} row for {format}: Converter::new checks"),
    }
}

/// `dst` pixel byte `k` is `src` pixel byte `pick[k]`, for every pixel of the row.
#[inline(always)]
fn shuffle<const IN: usize, const OUT: usize>(src: &[u8], dst: &mut [u8], pick: [usize; OUT]) {
    for (d, s) in dst.chunks_exact_mut(OUT).zip(src.chunks_exact(IN)) {
        for k in 0..OUT {
            d[k] = s[pick[k]];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(format: PixelFormat, output: Output, src: &[u8], out_len: usize) -> Vec<u8> {
        let mut dst = vec![0; out_len];
        row(format, output, src, &mut dst);
        dst
    }

    #[test]
    fn alpha_is_dropped_wherever_it_sits() {
        let px = [10, 20, 30, 40];
        assert_eq!(one(PixelFormat::Rgba, Output::Ppm, &px, 3), [10, 20, 30]);
        assert_eq!(one(PixelFormat::Bgra, Output::Ppm, &px, 3), [30, 20, 10]);
        assert_eq!(one(PixelFormat::Argb, Output::Ppm, &px, 3), [20, 30, 40]);
        assert_eq!(one(PixelFormat::Abgr, Output::Ppm, &px, 3), [40, 30, 20]);
    }

    #[test]
    fn sixteen_bit_little_endian_becomes_big_endian() {
        assert_eq!(
            one(PixelFormat::Gray16le, Output::Ppm, &[0x34, 0x12], 6),
            [0x12, 0x34, 0x12, 0x34, 0x12, 0x34]
        );
        assert_eq!(
            one(PixelFormat::Rgb48le, Output::Ppm, &[1, 2, 3, 4, 5, 6], 6),
            [2, 1, 4, 3, 6, 5]
        );
        assert_eq!(
            one(PixelFormat::Gray16le, Output::Pgm, &[0x34, 0x12], 2),
            [0x12, 0x34]
        );
    }
}
