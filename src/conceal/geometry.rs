//! Where an image's pixels lie in the bytes of a transfer: one [`Grid`] per plane (raster
//! offset, row stride, width, rows and their order, the bytes and samples of a pixel).
//!
//! The geometry comes from the head of the data (what a descriptor carries, so it is known
//! even when the first packets were lost): a PNM P5/P6 header or a BMP header. For raw
//! pixels the user names it (`WxH[:PIX_FMT]`, pix_fmt names as in [`crate::pixel`]).
//!
//! Invariant: every grid has been checked against [`crate::pixel::MAX_DIMENSION`] and its
//! byte extent computed without overflow, so `offset + rows * stride` fits in `u64` and
//! one row fits in `usize`.

use crate::pixel::{GeometryError, Layout, PixelFormat, MAX_DIMENSION};
use crate::pnm::{self, Kind};
use std::ops::Range;

/// How one sample is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    U8,
    U16Be,
    U16Le,
}

impl Sample {
    /// Bytes of one sample.
    pub fn width(self) -> usize {
        match self {
            Sample::U8 => 1,
            Sample::U16Be | Sample::U16Le => 2,
        }
    }
}

/// The order of rows in the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOrder {
    /// The first stored row is the top of the picture (PNM, raw, top-down BMP).
    TopDown,
    /// The first stored row is the bottom of the picture (BMP with a positive height).
    BottomUp,
}

/// What the samples of a pixel mean, for drawing the image under a damage map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Colour {
    Gray,
    /// Red, green and blue at these sample indices within a pixel.
    Rgb {
        r: usize,
        g: usize,
        b: usize,
    },
    /// An index into this palette (RGB entries; indices past its end are shown grey).
    Indexed(Vec<[u8; 3]>),
    /// A luma plane (the first grid of a YUV format); other planes are not drawn.
    Luma,
    /// Colour differences or packed YUV: drawn as the first sample, grey.
    Other,
}

/// One plane of pixels: a rectangle of `width` x `rows` pixels of `pixel_bytes` bytes each,
/// rows `stride` bytes apart from `offset` on. Padding after `width * pixel_bytes` bytes of
/// a row is not part of any pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    /// Transfer offset of the first stored row.
    pub offset: u64,
    pub stride: usize,
    pub width: usize,
    pub rows: usize,
    pub order: RowOrder,
    pub pixel_bytes: usize,
    pub samples: usize,
    pub sample: Sample,
    /// Samples are palette indices: they are copied, never averaged.
    pub indexed: bool,
    pub colour: Colour,
}

impl Grid {
    /// Bytes of a row that belong to pixels (the stride less padding).
    pub fn row_len(&self) -> usize {
        self.width * self.pixel_bytes
    }

    /// Transfer offsets of stored row `row`'s pixels.
    pub fn row_bytes(&self, row: usize) -> Range<u64> {
        let start = self.offset + (row * self.stride) as u64;
        start..start + self.row_len() as u64
    }

    /// The transfer offsets the grid spans, padding included.
    pub fn extent(&self) -> Range<u64> {
        self.offset..self.offset + (self.rows * self.stride) as u64
    }

    /// The stored row that shows picture row `y` (counted from the top).
    pub fn stored_row(&self, y: usize) -> usize {
        match self.order {
            RowOrder::TopDown => y,
            RowOrder::BottomUp => self.rows - 1 - y,
        }
    }
}

/// An image's planes in stream order, and its picture size (that of the first plane).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    pub grids: Vec<Grid>,
    /// One line for people: "PPM 512x512 maxval 255", "BMP 101x7 24-bit bottom-up".
    pub description: String,
}

impl Geometry {
    /// Picture width and height in pixels.
    pub fn size(&self) -> (usize, usize) {
        (self.grids[0].width, self.grids[0].rows)
    }

    /// Where the image's bytes end (the end of the last plane).
    pub fn end(&self) -> u64 {
        self.grids.iter().map(|g| g.extent().end).max().unwrap_or(0)
    }
}

/// Why bytes do not give an image geometry this module can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("not a PNM or BMP image (the data starts with {0:02x?})")]
    NotAnImage(Vec<u8>),
    #[error(transparent)]
    Pnm(#[from] pnm::HeaderError),
    #[error("PNM {0}: only binary greymaps and pixmaps (P5, P6) are concealed")]
    PnmKind(String),
    #[error("BMP header: {0}")]
    Bmp(String),
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    #[error("image size \"{0}\": expected WIDTHxHEIGHT[:PIX_FMT], as 640x480:rgb24")]
    Spec(String),
}

/// The geometry of the image at the start of `head` (the first bytes of the transfer): a
/// PNM P5/P6 or a BMP (24 or 32-bit, or 8-bit with a palette).
pub fn from_head(head: &[u8]) -> Result<Geometry, ImageError> {
    match head {
        [b'P', ..] => from_pnm(head),
        [b'B', b'M', ..] => from_bmp(head),
        _ => Err(ImageError::NotAnImage(
            head.iter().take(4).copied().collect(),
        )),
    }
}

fn from_pnm(head: &[u8]) -> Result<Geometry, ImageError> {
    let (h, header_len) = pnm::Header::parse(head)?;
    let samples = match h.kind {
        Kind::RawGraymap => 1,
        Kind::RawPixmap => 3,
        other => {
            return Err(ImageError::PnmKind(
                String::from_utf8_lossy(&other.magic()).into(),
            ))
        }
    };
    let (width, height) = check_size(h.width as u64, h.height as u64)?;
    let sample = if h.maxval > 255 {
        Sample::U16Be
    } else {
        Sample::U8
    };
    let pixel_bytes = samples * sample.width();
    let colour = if samples == 1 {
        Colour::Gray
    } else {
        Colour::Rgb { r: 0, g: 1, b: 2 }
    };
    Ok(Geometry {
        grids: vec![Grid {
            offset: header_len as u64,
            stride: width * pixel_bytes,
            width,
            rows: height,
            order: RowOrder::TopDown,
            pixel_bytes,
            samples,
            sample,
            indexed: false,
            colour,
        }],
        description: format!(
            "{} {}x{} maxval {}",
            if samples == 1 { "PGM" } else { "PPM" },
            width,
            height,
            h.maxval
        ),
    })
}

/// The fields of a BMP header that place the pixels.
///
/// Kept in one function, read at the offsets of the BITMAPFILEHEADER and BITMAPINFOHEADER,
/// so it can give way to the `bmp` module's own header parser when that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BmpInfo {
    pixel_offset: u64,
    width: i32,
    height: i32,
    bits_per_pixel: u16,
    compression: u32,
    palette: Vec<[u8; 3]>,
}

fn parse_bmp_header(head: &[u8]) -> Result<BmpInfo, ImageError> {
    let bad = |m: &str| ImageError::Bmp(m.to_string());
    let u16_at = |at: usize| {
        head.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        head.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let short = || bad(&format!("ends at byte {} inside the header", head.len()));
    if head.get(..2) != Some(b"BM") {
        return Err(bad("expected \"BM\" at byte 0"));
    }
    let pixel_offset = u32_at(10).ok_or_else(short)? as u64;
    let info_len = u32_at(14).ok_or_else(short)?;
    if info_len < 40 {
        return Err(bad(&format!(
            "info header of {info_len} bytes at byte 14 (expected at least 40: \
             BITMAPINFOHEADER or later)"
        )));
    }
    if pixel_offset < 14 + info_len as u64 {
        return Err(bad(&format!(
            "pixel data offset {pixel_offset} at byte 10 lies inside the headers (which end \
             at byte {})",
            14 + info_len as u64
        )));
    }
    let width = u32_at(18).ok_or_else(short)? as i32;
    let height = u32_at(22).ok_or_else(short)? as i32;
    let bits_per_pixel = u16_at(28).ok_or_else(short)?;
    let compression = u32_at(30).ok_or_else(short)?;
    let colours_used = u32_at(46).ok_or_else(short)?;
    let mut palette = Vec::new();
    if bits_per_pixel <= 8 {
        let count = if colours_used == 0 || colours_used > 256 {
            1usize << bits_per_pixel
        } else {
            colours_used as usize
        };
        // What the head holds of the palette (it may end before the palette does).
        let start = 14 + info_len as usize;
        for i in 0..count {
            match head.get(start + 4 * i..start + 4 * i + 3) {
                Some(&[b, g, r]) => palette.push([r, g, b]),
                _ => break,
            }
        }
    }
    Ok(BmpInfo {
        pixel_offset,
        width,
        height,
        bits_per_pixel,
        compression,
        palette,
    })
}

fn from_bmp(head: &[u8]) -> Result<Geometry, ImageError> {
    let info = parse_bmp_header(head)?;
    const BI_RGB: u32 = 0;
    const BI_BITFIELDS: u32 = 3;
    let (pixel_bytes, colour, indexed) = match (info.bits_per_pixel, info.compression) {
        (24, BI_RGB) => (3, Colour::Rgb { r: 2, g: 1, b: 0 }, false),
        (32, BI_RGB | BI_BITFIELDS) => (4, Colour::Rgb { r: 2, g: 1, b: 0 }, false),
        (8, BI_RGB) => (1, Colour::Indexed(info.palette.clone()), true),
        (bits, compression) => {
            return Err(ImageError::Bmp(format!(
                "{bits} bits per pixel with compression {compression}: only uncompressed \
                 24, 32 and 8-bit images are concealed"
            )))
        }
    };
    if info.width <= 0 || info.height == 0 || info.height == i32::MIN {
        return Err(ImageError::Bmp(format!(
            "size {}x{} at byte 18",
            info.width, info.height
        )));
    }
    let (width, height) = check_size(info.width as u64, info.height.unsigned_abs() as u64)?;
    // Rows are padded to a multiple of 4 bytes.
    let stride = (width * pixel_bytes).div_ceil(4) * 4;
    let order = if info.height < 0 {
        RowOrder::TopDown
    } else {
        RowOrder::BottomUp
    };
    Ok(Geometry {
        grids: vec![Grid {
            offset: info.pixel_offset,
            stride,
            width,
            rows: height,
            order,
            pixel_bytes,
            samples: pixel_bytes,
            sample: Sample::U8,
            indexed,
            colour,
        }],
        description: format!(
            "BMP {}x{} {}-bit {}",
            width,
            height,
            info.bits_per_pixel,
            if order == RowOrder::TopDown {
                "top-down"
            } else {
                "bottom-up"
            }
        ),
    })
}

fn check_size(width: u64, height: u64) -> Result<(usize, usize), ImageError> {
    if width == 0 || height == 0 {
        return Err(GeometryError::Zero { width, height }.into());
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(GeometryError::TooLarge { width, height }.into());
    }
    Ok((width as usize, height as usize))
}

/// Parse a user's `WIDTHxHEIGHT[:PIX_FMT]` (pix_fmt default `rgb24`).
pub fn parse_spec(text: &str) -> Result<(u64, u64, PixelFormat), ImageError> {
    let bad = || ImageError::Spec(text.to_string());
    let (size, format) = match text.split_once(':') {
        Some((size, f)) => (size, f.parse::<PixelFormat>()?),
        None => (text, PixelFormat::Rgb24),
    };
    let (w, h) = size.split_once(['x', 'X']).ok_or_else(bad)?;
    let w = w.trim().parse::<u64>().map_err(|_| bad())?;
    let h = h.trim().parse::<u64>().map_err(|_| bad())?;
    Ok((w, h, format))
}

/// The geometry of raw pixels of `format` at `width` x `height`, starting at `offset`.
///
/// Each plane of a planar format is its own grid (yuv420p: Y, U, V), concealed on its own.
/// Packed 4:2:2 (yuyv422, uyvy422) is a grid of two-pixel groups of four samples.
pub fn raw(
    format: PixelFormat,
    width: u64,
    height: u64,
    offset: u64,
) -> Result<Geometry, ImageError> {
    use PixelFormat::*;
    let layout = Layout::new(format, width, height, None)?;
    let (w, h) = (layout.width, layout.height);
    let cw = w.div_ceil(2);
    let grid = |index: usize, width: usize, samples: usize, sample: Sample, colour: Colour| {
        let plane = layout.planes[index];
        Grid {
            offset: offset + plane.offset as u64,
            stride: plane.stride,
            width,
            rows: plane.rows,
            order: RowOrder::TopDown,
            pixel_bytes: samples * sample.width(),
            samples,
            sample,
            indexed: false,
            colour,
        }
    };
    let rgb = |r, g, b| Colour::Rgb { r, g, b };
    let grids = match format {
        Rgb24 => vec![grid(0, w, 3, Sample::U8, rgb(0, 1, 2))],
        Bgr24 => vec![grid(0, w, 3, Sample::U8, rgb(2, 1, 0))],
        Rgba => vec![grid(0, w, 4, Sample::U8, rgb(0, 1, 2))],
        Bgra => vec![grid(0, w, 4, Sample::U8, rgb(2, 1, 0))],
        Argb => vec![grid(0, w, 4, Sample::U8, rgb(1, 2, 3))],
        Abgr => vec![grid(0, w, 4, Sample::U8, rgb(3, 2, 1))],
        Gray => vec![grid(0, w, 1, Sample::U8, Colour::Gray)],
        Gray16be => vec![grid(0, w, 1, Sample::U16Be, Colour::Gray)],
        Gray16le => vec![grid(0, w, 1, Sample::U16Le, Colour::Gray)],
        Rgb48be => vec![grid(0, w, 3, Sample::U16Be, rgb(0, 1, 2))],
        Rgb48le => vec![grid(0, w, 3, Sample::U16Le, rgb(0, 1, 2))],
        Yuyv422 | Uyvy422 => vec![grid(0, cw, 4, Sample::U8, Colour::Other)],
        Yuv420p | Yuv422p => vec![
            grid(0, w, 1, Sample::U8, Colour::Luma),
            grid(1, cw, 1, Sample::U8, Colour::Other),
            grid(2, cw, 1, Sample::U8, Colour::Other),
        ],
        Yuv444p => vec![
            grid(0, w, 1, Sample::U8, Colour::Luma),
            grid(1, w, 1, Sample::U8, Colour::Other),
            grid(2, w, 1, Sample::U8, Colour::Other),
        ],
        Yuv420p10le => vec![
            grid(0, w, 1, Sample::U16Le, Colour::Luma),
            grid(1, cw, 1, Sample::U16Le, Colour::Other),
            grid(2, cw, 1, Sample::U16Le, Colour::Other),
        ],
        Nv12 | Nv21 => vec![
            grid(0, w, 1, Sample::U8, Colour::Luma),
            grid(1, cw, 2, Sample::U8, Colour::Other),
        ],
    };
    let _ = h;
    Ok(Geometry {
        grids,
        description: format!("raw {format} {w}x{h}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bmp_head(width: i32, height: i32, bits: u16) -> Vec<u8> {
        let mut h = vec![0u8; 54];
        h[..2].copy_from_slice(b"BM");
        h[10..14].copy_from_slice(&54u32.to_le_bytes());
        h[14..18].copy_from_slice(&40u32.to_le_bytes());
        h[18..22].copy_from_slice(&width.to_le_bytes());
        h[22..26].copy_from_slice(&height.to_le_bytes());
        h[26..28].copy_from_slice(&1u16.to_le_bytes());
        h[28..30].copy_from_slice(&bits.to_le_bytes());
        h
    }

    #[test]
    fn pnm_sixteen_bit_has_two_byte_samples() {
        let g = from_head(b"P6\n3 2\n65535\n").unwrap();
        let grid = &g.grids[0];
        assert_eq!((grid.offset, grid.stride, grid.pixel_bytes), (13, 18, 6));
        assert_eq!(grid.sample, Sample::U16Be);
        let g = from_head(b"P5 7 5 255 ").unwrap();
        assert_eq!((g.grids[0].offset, g.grids[0].stride), (11, 7));
    }

    #[test]
    fn bmp_rows_are_padded_and_ordered_by_the_sign_of_height() {
        let g = from_head(&bmp_head(101, 7, 24)).unwrap();
        let grid = &g.grids[0];
        assert_eq!((grid.stride, grid.row_len(), grid.rows), (304, 303, 7));
        assert_eq!(grid.order, RowOrder::BottomUp);
        assert_eq!(grid.stored_row(0), 6);
        let g = from_head(&bmp_head(101, -7, 8)).unwrap();
        assert_eq!(
            (g.grids[0].stride, g.grids[0].order),
            (104, RowOrder::TopDown)
        );
        assert!(g.grids[0].indexed);
        assert!(from_head(&bmp_head(4, 4, 4)).is_err());
        assert!(from_head(&bmp_head(0, 4, 24)).is_err());
        assert!(from_head(&bmp_head(4, i32::MIN, 24)).is_err());
    }

    #[test]
    fn raw_planar_formats_have_a_grid_per_plane() {
        let (w, h, f) = parse_spec("5x3:yuv420p").unwrap();
        let g = raw(f, w, h, 0).unwrap();
        let planes: Vec<_> = g
            .grids
            .iter()
            .map(|p| (p.offset, p.width, p.rows))
            .collect();
        assert_eq!(planes, [(0, 5, 3), (15, 3, 2), (21, 3, 2)]);
        assert_eq!(g.end(), 27);
        assert_eq!(parse_spec("4x4").unwrap().2, PixelFormat::Rgb24);
        assert!(parse_spec("4by4").is_err());
        assert!(parse_spec("4x4:rgb").is_err());
    }

    #[test]
    fn arbitrary_heads_are_errors_not_panics() {
        for len in 0..60 {
            for seed in 0..50u32 {
                let mut head: Vec<u8> = (0..len)
                    .map(|i| ((i as u32).wrapping_mul(2654435761) ^ seed.wrapping_mul(40503)) as u8)
                    .collect();
                if seed % 2 == 0 && len >= 2 {
                    head[..2].copy_from_slice(b"BM");
                }
                let _ = from_head(&head);
            }
        }
    }
}
