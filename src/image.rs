//! What a head of bytes says about an image: where its pixels start and how they are laid
//! out, from the formats' own header parsers ([`crate::pnm::header`], [`crate::bmp::header`]).
//!
//! A receiver that knows this can put a lost byte in its place in the picture (which pixel,
//! which channel), as `unpktize --info` and concealment need. Only layouts where each
//! sample is whole bytes are described: PNM P5/P6 at 8 or 16 bits, BMP at 8 or 24 bits
//! without compression. Anything else, or a head that does not parse, gives no geometry.

use crate::bmp::BmpHeader;
use crate::pnm::{Header as PnmHeader, Kind};

/// The container the geometry was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// Samples in R, G, B order (or grey), big-endian when 16-bit.
    Pnm,
    /// Samples in B, G, R order, or palette indices; rows padded to 4 bytes.
    Bmp,
}

/// Where the pixels of an image lie in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageGeometry {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    /// Samples per pixel: 1 (grey, or a BMP palette index) or 3 (colour).
    pub channels: u8,
    /// 1 or 2 (PNM with a maxval above 255).
    pub bytes_per_sample: u8,
    /// Byte offset of the first stored row.
    pub raster_offset: u64,
    /// Bytes from one stored row to the next (padding included).
    pub row_stride: u64,
    /// The first stored row is the top of the picture.
    pub top_down: bool,
}

impl ImageGeometry {
    /// The geometry of the PNM or BMP image that `head` begins, if it is one described here.
    pub fn from_head(head: &[u8]) -> Option<ImageGeometry> {
        if head.starts_with(b"BM") {
            return ImageGeometry::from_bmp(&BmpHeader::parse(head).ok()?);
        }
        let (header, header_len) = PnmHeader::parse(head).ok()?;
        ImageGeometry::from_pnm(&header, header_len)
    }

    /// A binary graymap or pixmap (P5, P6) whose header is `header_len` bytes long.
    pub fn from_pnm(header: &PnmHeader, header_len: usize) -> Option<ImageGeometry> {
        let channels = match header.kind {
            Kind::RawGraymap => 1,
            Kind::RawPixmap => 3,
            _ => return None,
        };
        let bytes_per_sample = if header.maxval > 255 { 2 } else { 1 };
        Some(ImageGeometry {
            format: ImageFormat::Pnm,
            width: header.width,
            height: header.height,
            channels,
            bytes_per_sample,
            raster_offset: header_len as u64,
            row_stride: u64::from(header.width) * u64::from(channels) * bytes_per_sample as u64,
            top_down: true,
        })
    }

    /// An uncompressed BMP of 8 (palette) or 24 bits per pixel.
    pub fn from_bmp(header: &BmpHeader) -> Option<ImageGeometry> {
        let channels = match (header.bits_per_pixel, header.compression) {
            (8, 0) => 1,
            (24, 0) => 3,
            _ => return None,
        };
        Some(ImageGeometry {
            format: ImageFormat::Bmp,
            width: header.width,
            height: header.height,
            channels,
            bytes_per_sample: 1,
            raster_offset: u64::from(header.pixel_offset),
            row_stride: header.row_stride(),
            top_down: header.top_down,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pnm_geometry_counts_the_header_and_sample_size() {
        let g = ImageGeometry::from_head(b"P6\n640 480\n65535\n").unwrap();
        assert_eq!((g.width, g.height, g.channels), (640, 480, 3));
        assert_eq!((g.bytes_per_sample, g.raster_offset), (2, 17));
        assert_eq!(g.row_stride, 640 * 6);
        let g = ImageGeometry::from_head(b"P5 3 2 255\n").unwrap();
        assert_eq!((g.channels, g.bytes_per_sample, g.row_stride), (1, 1, 3));
        assert_eq!(ImageGeometry::from_head(b"P4 8 1\n"), None);
    }

    #[test]
    fn bmp_geometry_comes_from_its_headers() {
        let layout = crate::bmp::Layout::new(3, 2, crate::bmp::Depth::TwentyFour, true).unwrap();
        let mut head = Vec::new();
        layout.write_headers(&mut head);
        let g = ImageGeometry::from_head(&head).unwrap();
        assert_eq!(g.format, ImageFormat::Bmp);
        assert_eq!((g.width, g.height, g.channels, g.top_down), (3, 2, 3, true));
        assert_eq!((g.raster_offset, g.row_stride), (54, 12));
    }

    #[test]
    fn forged_heads_give_no_geometry() {
        let mut head = vec![0u8; 54];
        head[..2].copy_from_slice(b"BM");
        head[18..22].copy_from_slice(&(-1i32).to_le_bytes());
        head[22..26].copy_from_slice(&1i32.to_le_bytes());
        head[28..30].copy_from_slice(&65535u16.to_le_bytes());
        assert_eq!(ImageGeometry::from_head(&head), None);
        assert_eq!(ImageGeometry::from_head(b"P6 0 0"), None);
    }
}
