//! BMP: Windows bitmaps with a BITMAPINFOHEADER. [`header`] owns every little-endian
//! field, written and parsed in one place; [`writer`] turns PNM rows into BMP rows.
//!
//! Samples are scaled from maxval to 8 bits with netpbm's rounding,
//! `(v * 255 + maxval / 2) / maxval` (the `PPM_DEPTH` macro, what `pamdepth 255` does).
//! Putting whole images in the right row order is the PNM-to-BMP driver's job
//! ([`crate::convert`], the layer above: this module does not import it).

pub mod header;
pub mod writer;

pub use header::{
    BmpHeader, BmpHeaderError, Layout, FILE_HEADER_LEN, INFO_HEADER_LEN, PIXELS_PER_METRE,
};
pub use writer::{scale_to_8bit, RowEncoder};

use crate::pnm::Kind;

/// Bits per pixel of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Depth {
    /// 1 bit, two-entry palette (white, black): PBM's bits as they are.
    One,
    /// 8 bits, 256-entry grey palette.
    Eight,
    /// 24 bits, blue, green, red.
    TwentyFour,
}

impl Depth {
    /// The value of biBitCount.
    pub fn bits(self) -> u16 {
        match self {
            Depth::One => 1,
            Depth::Eight => 8,
            Depth::TwentyFour => 24,
        }
    }

    /// The depth for a bit count, if BMP has it and we write it.
    pub fn from_bits(bits: u16) -> Option<Depth> {
        match bits {
            1 => Some(Depth::One),
            8 => Some(Depth::Eight),
            24 => Some(Depth::TwentyFour),
            _ => None,
        }
    }

    /// The smallest depth that holds every image of this kind exactly.
    pub fn natural(kind: Kind) -> Depth {
        match kind.raw() {
            Kind::RawBitmap => Depth::One,
            Kind::RawGraymap => Depth::Eight,
            _ => Depth::TwentyFour,
        }
    }

    fn palette_entries(self) -> u32 {
        match self {
            Depth::One => 2,
            Depth::Eight => 256,
            Depth::TwentyFour => 0,
        }
    }
}

/// Why an image cannot be written as BMP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BmpError {
    #[error("a {width}x{height} BMP at {bits} bits per pixel is {size} bytes, more than the format's 32-bit size fields can hold")]
    TooLarge {
        width: u32,
        height: u32,
        bits: u16,
        size: u64,
    },
    #[error("{width}x{height} is beyond BMP's signed 32-bit dimensions")]
    TooWide { width: u32, height: u32 },
    #[error(
        "{bits} bits per pixel cannot hold a {what} image exactly; {needed} or more are needed"
    )]
    DepthTooSmall {
        bits: u16,
        what: &'static str,
        needed: u16,
    },
}

/// The depth to write an image of `kind` at, given what was asked for.
pub fn choose_depth(kind: Kind, asked: Option<Depth>) -> Result<Depth, BmpError> {
    let natural = Depth::natural(kind);
    match asked {
        None => Ok(natural),
        Some(depth) if depth >= natural => Ok(depth),
        Some(depth) => Err(BmpError::DepthTooSmall {
            bits: depth.bits(),
            what: if natural == Depth::TwentyFour {
                "colour"
            } else {
                "greyscale"
            },
            needed: natural.bits(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::header::our_headers;
    use super::*;
    use crate::pnm::Header;
    use byteorder::{ByteOrder, LittleEndian};

    fn layout(width: u32, height: u32, depth: Depth) -> Layout {
        Layout::new(width, height, depth, false).unwrap()
    }

    #[test]
    fn rows_are_padded_to_four_bytes() {
        for (width, depth, stride) in [
            (1, Depth::TwentyFour, 4),
            (2, Depth::TwentyFour, 8),
            (3, Depth::TwentyFour, 12),
            (4, Depth::TwentyFour, 12),
            (5, Depth::TwentyFour, 16),
            (1, Depth::Eight, 4),
            (5, Depth::Eight, 8),
            (1, Depth::One, 4),
            (32, Depth::One, 4),
            (33, Depth::One, 8),
        ] {
            assert_eq!(
                layout(width, 1, depth).stride(),
                stride,
                "{width} {depth:?}"
            );
        }
    }

    #[test]
    fn sizes_count_headers_palette_and_rows() {
        let l = layout(3, 2, Depth::TwentyFour);
        assert_eq!((l.pixel_offset(), l.file_size()), (54, 54 + 24));
        let l = layout(3, 2, Depth::Eight);
        assert_eq!(
            (l.pixel_offset(), l.file_size()),
            (54 + 1024, 54 + 1024 + 8)
        );
        let l = layout(3, 2, Depth::One);
        assert_eq!((l.pixel_offset(), l.file_size()), (62, 62 + 8));
    }

    #[test]
    fn overflowing_sizes_are_refused() {
        // 196608-byte rows x 21846 rows = 2^32 + 131072 bytes: beyond bfSize.
        assert!(matches!(
            Layout::new(65536, 21846, Depth::TwentyFour, false),
            Err(BmpError::TooLarge { .. })
        ));
        assert!(Layout::new(21845, 65535, Depth::TwentyFour, false).is_ok());
        assert!(matches!(
            Layout::new(i32::MAX as u32 + 1, 1, Depth::One, false),
            Err(BmpError::TooWide { .. })
        ));
    }

    #[test]
    fn top_down_height_is_negative() {
        let out = our_headers(1, 5, Depth::TwentyFour, true);
        assert_eq!(LittleEndian::read_i32(&out[22..26]), -5);
    }

    #[test]
    fn scaling_rounds_half_up_like_netpbm() {
        assert_eq!(scale_to_8bit(1, 2), 128); // 127.5 rounds up
        assert_eq!(scale_to_8bit(1, 3), 85);
        assert_eq!(scale_to_8bit(3, 1000), 1); // 0.765; truncation would give 0
        assert_eq!(scale_to_8bit(1000, 1000), 255);
        assert_eq!(scale_to_8bit(128, 65535), 0); // 0.498
        assert_eq!(scale_to_8bit(129, 65535), 1); // 0.502
        for maxval in [1, 2, 15, 100, 255, 1000, 65535] {
            assert_eq!(scale_to_8bit(0, maxval), 0);
            assert_eq!(scale_to_8bit(maxval, maxval), 255);
        }
    }

    fn encoded(header: &Header, depth: Depth, row: &[u8]) -> Vec<u8> {
        let l = Layout::new(header.width, 1, depth, false).unwrap();
        let mut out = vec![0xAA; l.stride()];
        RowEncoder::new(header, depth).encode(row, &mut out);
        out
    }

    fn header(kind: Kind, width: u32, maxval: u16) -> Header {
        Header {
            kind,
            width,
            height: 1,
            maxval,
        }
    }

    #[test]
    fn encoders_fill_pixels_and_zero_padding() {
        let ppm = header(Kind::RawPixmap, 2, 255);
        assert_eq!(
            encoded(&ppm, Depth::TwentyFour, &[1, 2, 3, 4, 5, 6]),
            [3, 2, 1, 6, 5, 4, 0, 0]
        );
        let ppm16 = header(Kind::PlainPixmap, 1, 1000);
        assert_eq!(
            encoded(&ppm16, Depth::TwentyFour, &[0x03, 0xe8, 0, 3, 0, 2]),
            [1, 1, 255, 0]
        );
        let pgm = header(Kind::RawGraymap, 3, 15);
        assert_eq!(encoded(&pgm, Depth::Eight, &[0, 1, 15]), [0, 17, 255, 0]);
        assert_eq!(
            encoded(&pgm, Depth::TwentyFour, &[0, 1, 15]),
            [0, 0, 0, 17, 17, 17, 255, 255, 255, 0, 0, 0]
        );
        let pbm = header(Kind::RawBitmap, 3, 1);
        // Bits past the width are cleared.
        assert_eq!(
            encoded(&pbm, Depth::One, &[0b1011_1111]),
            [0b1010_0000, 0, 0, 0]
        );
        assert_eq!(encoded(&pbm, Depth::Eight, &[0b1010_0000]), [0, 255, 0, 0]);
        assert_eq!(
            encoded(&pbm, Depth::TwentyFour, &[0b0100_0000]),
            [255, 255, 255, 0, 0, 0, 255, 255, 255, 0, 0, 0]
        );
    }

    #[test]
    fn our_headers_parse_back() {
        for (width, height, depth, top_down) in [
            (3, 2, Depth::TwentyFour, false),
            (5, 7, Depth::Eight, true),
            (9, 1, Depth::One, false),
        ] {
            let l = Layout::new(width, height, depth, top_down).unwrap();
            let out = our_headers(width, height, depth, top_down);
            let h = BmpHeader::parse(&out).unwrap();
            assert_eq!((h.width, h.height, h.top_down), (width, height, top_down));
            assert_eq!(h.bits_per_pixel, depth.bits());
            assert_eq!(h.pixel_offset, l.pixel_offset());
            assert_eq!(h.row_stride(), l.stride() as u64);
            assert_eq!(h.compression, 0);
            let palette = h.palette(&out);
            assert_eq!(palette.len() as u32, depth.palette_entries());
            if depth == Depth::One {
                assert_eq!(palette, [[255; 3], [0; 3]]);
            }
        }
    }

    #[test]
    fn forged_headers_do_not_parse() {
        let out = our_headers(2, 2, Depth::TwentyFour, false);
        let forge = |at: usize, bytes: &[u8]| {
            let mut h = out.clone();
            h[at..at + bytes.len()].copy_from_slice(bytes);
            BmpHeader::parse(&h)
        };
        assert!(forge(18, &(-1i32).to_le_bytes()).is_err()); // negative width
        assert!(forge(22, &0i32.to_le_bytes()).is_err()); // no rows
        assert!(forge(28, &65535u16.to_le_bytes()).is_err()); // bit count
        assert!(forge(26, &0u16.to_le_bytes()).is_err()); // planes
        assert!(forge(14, &12u32.to_le_bytes()).is_err()); // a core header
        assert!(forge(10, &0u32.to_le_bytes()).is_err()); // pixels inside the headers
        assert!(forge(0, b"MB").is_err());
        assert!(BmpHeader::parse(&out[..53]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_without_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            let _ = BmpHeader::parse(&bytes);
        }
    }

    #[test]
    fn depth_below_natural_is_refused() {
        assert_eq!(choose_depth(Kind::RawPixmap, None), Ok(Depth::TwentyFour));
        assert_eq!(
            choose_depth(Kind::PlainBitmap, Some(Depth::Eight)),
            Ok(Depth::Eight)
        );
        assert!(choose_depth(Kind::RawPixmap, Some(Depth::Eight)).is_err());
        assert!(choose_depth(Kind::RawGraymap, Some(Depth::One)).is_err());
    }
}
