//! The BMP file header and BITMAPINFOHEADER: written for our own files ([`Layout`]) and
//! parsed from any head of bytes ([`BmpHeader`]), the one place that knows their offsets.
//!
//! ```text
//! offset size field             value
//! BITMAPFILEHEADER (14 bytes)
//!  0     2   bfType            "BM"
//!  2     4   bfSize            whole file, bytes
//!  6     4   bfReserved1/2     0
//! 10     4   bfOffBits         offset of the pixels: 54 + 4 x palette entries
//! BITMAPINFOHEADER (40 bytes)
//! 14     4   biSize            40
//! 18     4   biWidth           pixels
//! 22     4   biHeight          rows; negative when the rows are stored top-down
//! 26     2   biPlanes          1
//! 28     2   biBitCount        1 (PBM), 8 (PGM) or 24 (PPM, or any with --bpp 24)
//! 30     4   biCompression     0, BI_RGB
//! 34     4   biSizeImage       stride x rows
//! 38     4   biXPelsPerMeter   0 (unknown), as netpbm, ImageMagick and ffmpeg write
//! 42     4   biYPelsPerMeter   0
//! 46     4   biClrUsed         palette entries: 2, 256, or 0 for 24-bit
//! 50     4   biClrImportant    0
//! palette: blue, green, red, 0 per entry; 1-bit: 0 white, 1 black; 8-bit: grey ramp
//! pixels: rows of `stride` bytes, a multiple of 4, zero-padded; 24-bit pixels are B, G, R
//! ```
//!
//!
//! The parser takes what other writers produce too: any info header of at least 40 bytes
//! (V4 and V5 extend it), any bit count, stored bottom-up or top-down. The palette follows
//! the info header, however long that is; [`BmpHeader::palette`] reads it.

use byteorder::{ByteOrder, LittleEndian};

use super::{BmpError, Depth};

/// BITMAPFILEHEADER length.
pub const FILE_HEADER_LEN: usize = 14;
/// BITMAPINFOHEADER length.
pub const INFO_HEADER_LEN: usize = 40;
/// Pixels per metre written in both resolution fields: 0, "unknown", as most peers write.
pub const PIXELS_PER_METRE: u32 = 0;

/// The shape of one BMP file: everything its headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    pub depth: Depth,
    pub top_down: bool,
    stride: usize,
    pixel_offset: u32,
    image_size: u32,
    file_size: u32,
}

impl Layout {
    /// The layout of a `width` x `height` BMP, refused if any size field would overflow.
    pub fn new(width: u32, height: u32, depth: Depth, top_down: bool) -> Result<Layout, BmpError> {
        if width > i32::MAX as u32 || height > i32::MAX as u32 {
            return Err(BmpError::TooWide { width, height });
        }
        let bits = depth.bits();
        let stride = (u64::from(width) * u64::from(bits)).div_ceil(32) * 4;
        let pixel_offset =
            (FILE_HEADER_LEN + INFO_HEADER_LEN) as u64 + 4 * u64::from(depth.palette_entries());
        let image_size = stride * u64::from(height);
        let file_size = pixel_offset + image_size;
        let too_large = BmpError::TooLarge {
            width,
            height,
            bits,
            size: file_size,
        };
        Ok(Layout {
            width,
            height,
            depth,
            top_down,
            stride: usize::try_from(stride).map_err(|_| too_large.clone())?,
            pixel_offset: pixel_offset as u32,
            image_size: u32::try_from(image_size).map_err(|_| too_large.clone())?,
            file_size: u32::try_from(file_size).map_err(|_| too_large)?,
        })
    }

    /// Bytes per row, padding included: a multiple of 4.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Bytes in the whole file.
    pub fn file_size(&self) -> u32 {
        self.file_size
    }

    /// Offset of the first pixel row: header and palette length.
    pub fn pixel_offset(&self) -> u32 {
        self.pixel_offset
    }

    /// Append the file header, info header and palette to `out`.
    pub fn write_headers(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + self.pixel_offset as usize, 0);
        let h = &mut out[start..];
        h[0..2].copy_from_slice(b"BM");
        LittleEndian::write_u32(&mut h[2..6], self.file_size);
        LittleEndian::write_u32(&mut h[6..10], 0);
        LittleEndian::write_u32(&mut h[10..14], self.pixel_offset);
        LittleEndian::write_u32(&mut h[14..18], INFO_HEADER_LEN as u32);
        // Both fit i32: checked by `new`.
        LittleEndian::write_i32(&mut h[18..22], self.width as i32);
        let height = self.height as i32;
        LittleEndian::write_i32(&mut h[22..26], if self.top_down { -height } else { height });
        LittleEndian::write_u16(&mut h[26..28], 1);
        LittleEndian::write_u16(&mut h[28..30], self.depth.bits());
        LittleEndian::write_u32(&mut h[30..34], 0);
        LittleEndian::write_u32(&mut h[34..38], self.image_size);
        LittleEndian::write_u32(&mut h[38..42], PIXELS_PER_METRE);
        LittleEndian::write_u32(&mut h[42..46], PIXELS_PER_METRE);
        LittleEndian::write_u32(&mut h[46..50], self.depth.palette_entries());
        LittleEndian::write_u32(&mut h[50..54], 0);
        let palette = &mut h[54..];
        match self.depth {
            Depth::One => palette.copy_from_slice(&[255, 255, 255, 0, 0, 0, 0, 0]),
            Depth::Eight => {
                for (grey, entry) in palette.chunks_exact_mut(4).enumerate() {
                    entry.copy_from_slice(&[grey as u8, grey as u8, grey as u8, 0]);
                }
            }
            Depth::TwentyFour => {}
        }
    }
}

/// What a BMP's file header and info header say about where its pixels are and how they
/// are laid out. Parsed from any head of bytes that holds both headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BmpHeader {
    pub width: u32,
    pub height: u32,
    pub bits_per_pixel: u16,
    /// Rows stored top first (a negative height on the wire).
    pub top_down: bool,
    /// `biCompression`: 0 is BI_RGB, plain rows.
    pub compression: u32,
    /// `bfOffBits`: where the pixels start.
    pub pixel_offset: u32,
    /// `biSize`: the info header's length; the palette follows it.
    pub info_len: u32,
    /// `biClrUsed`: palette entries, 0 for as many as the bit count can index.
    pub colours_used: u32,
}

/// Why bytes are not the headers of a BMP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BmpHeaderError {
    #[error("BMP header: {found} bytes, fewer than the {need} of the file and info headers")]
    Truncated { found: usize, need: usize },
    #[error("BMP header: expected \"BM\", found {found:02x?}")]
    Magic { found: [u8; 2] },
    #[error("BMP header: an info header of {found} bytes, expected at least {INFO_HEADER_LEN}")]
    InfoHeaderSize { found: u32 },
    #[error(
        "BMP header: expected a width above 0 and a height other than 0, found {width}x{height}"
    )]
    Dimensions { width: i32, height: i32 },
    #[error("BMP header: expected 1 plane, found {found}")]
    Planes { found: u16 },
    #[error("BMP header: expected 1, 4, 8, 16, 24 or 32 bits per pixel, found {found}")]
    BitCount { found: u16 },
    #[error("BMP header: pixel data at byte {found}, inside the {min} bytes of headers")]
    PixelOffset { found: u32, min: u64 },
}

/// The fields as they are on the wire, before validation.
struct RawBmpHeader {
    magic: [u8; 2],
    pixel_offset: u32,
    info_len: u32,
    width: i32,
    height: i32,
    planes: u16,
    bits_per_pixel: u16,
    compression: u32,
    colours_used: u32,
}

/// One combinator per field, in file order (see the table at the top of this module).
fn raw_header(input: &[u8]) -> nom::IResult<&[u8], RawBmpHeader> {
    use nom::bytes::complete::take;
    use nom::number::complete::{le_i32, le_u16, le_u32};
    let (input, magic) = take(2usize)(input)?;
    let (input, _file_size) = le_u32(input)?;
    let (input, _reserved) = le_u32(input)?;
    let (input, pixel_offset) = le_u32(input)?;
    let (input, info_len) = le_u32(input)?;
    let (input, width) = le_i32(input)?;
    let (input, height) = le_i32(input)?;
    let (input, planes) = le_u16(input)?;
    let (input, bits_per_pixel) = le_u16(input)?;
    let (input, compression) = le_u32(input)?;
    let (input, _image_size) = le_u32(input)?;
    let (input, _x_pixels_per_metre) = le_u32(input)?;
    let (input, _y_pixels_per_metre) = le_u32(input)?;
    let (input, colours_used) = le_u32(input)?;
    let (input, _colours_important) = le_u32(input)?;
    Ok((
        input,
        RawBmpHeader {
            magic: [magic[0], magic[1]],
            pixel_offset,
            info_len,
            width,
            height,
            planes,
            bits_per_pixel,
            compression,
            colours_used,
        },
    ))
}

impl BmpHeader {
    /// Parse the file header and info header at the start of `head` (the pixels are not
    /// looked at, and need not be there).
    pub fn parse(head: &[u8]) -> Result<BmpHeader, BmpHeaderError> {
        let need = FILE_HEADER_LEN + INFO_HEADER_LEN;
        if head.len() < need {
            return Err(BmpHeaderError::Truncated {
                found: head.len(),
                need,
            });
        }
        let (_, raw) = raw_header(head).map_err(|_| BmpHeaderError::Truncated {
            found: head.len(),
            need,
        })?;
        if &raw.magic != b"BM" {
            return Err(BmpHeaderError::Magic { found: raw.magic });
        }
        if raw.info_len < INFO_HEADER_LEN as u32 {
            return Err(BmpHeaderError::InfoHeaderSize {
                found: raw.info_len,
            });
        }
        if raw.width <= 0 || raw.height == 0 {
            return Err(BmpHeaderError::Dimensions {
                width: raw.width,
                height: raw.height,
            });
        }
        if raw.planes != 1 {
            return Err(BmpHeaderError::Planes { found: raw.planes });
        }
        if ![1, 4, 8, 16, 24, 32].contains(&raw.bits_per_pixel) {
            return Err(BmpHeaderError::BitCount {
                found: raw.bits_per_pixel,
            });
        }
        let min = FILE_HEADER_LEN as u64 + u64::from(raw.info_len);
        if u64::from(raw.pixel_offset) < min {
            return Err(BmpHeaderError::PixelOffset {
                found: raw.pixel_offset,
                min,
            });
        }
        Ok(BmpHeader {
            width: raw.width.unsigned_abs(),
            height: raw.height.unsigned_abs(),
            bits_per_pixel: raw.bits_per_pixel,
            top_down: raw.height < 0,
            compression: raw.compression,
            pixel_offset: raw.pixel_offset,
            info_len: raw.info_len,
            colours_used: raw.colours_used,
        })
    }

    /// Palette entries the header announces: `biClrUsed`, or when that is 0 (or more than
    /// the bit count can index) all `2^bits`; none above 8 bits per pixel.
    pub fn palette_len(&self) -> usize {
        if self.bits_per_pixel > 8 {
            return 0;
        }
        let all = 1usize << self.bits_per_pixel;
        match self.colours_used as usize {
            0 => all,
            n if n > all => all,
            n => n,
        }
    }

    /// The palette as red, green, blue, from the `head` this header was parsed from: as
    /// many entries as [`palette_len`](BmpHeader::palette_len), or fewer when the head
    /// ends before the palette does.
    pub fn palette(&self, head: &[u8]) -> Vec<[u8; 3]> {
        let start = FILE_HEADER_LEN + self.info_len as usize;
        let entries = head.get(start..).unwrap_or_default();
        // An entry is blue, green, red and a reserved byte, which need not be in the head.
        entries
            .chunks(4)
            .take_while(|e| e.len() >= 3)
            .take(self.palette_len())
            .map(|e| [e[2], e[1], e[0]])
            .collect()
    }

    /// Bytes from one stored row to the next: the pixels' bits rounded up to 4 bytes.
    pub fn row_stride(&self) -> u64 {
        (u64::from(self.width) * u64::from(self.bits_per_pixel)).div_ceil(32) * 4
    }
}

/// The headers (and palette) that [`Layout`] writes for a BMP, for tests.
#[cfg(test)]
pub(crate) fn our_headers(width: u32, height: u32, depth: Depth, top_down: bool) -> Vec<u8> {
    let mut out = Vec::new();
    Layout::new(width, height, depth, top_down)
        .expect("a test's layout fits BMP's size fields")
        .write_headers(&mut out);
    out
}

/// The file and info headers of a `width` x `height` BMP (a negative height: top-down) at
/// `bits` per pixel, uncompressed, pixels right after the 54 bytes: what another writer
/// may send, for tests of readers, including sizes [`Layout`] refuses to write.
#[cfg(test)]
pub(crate) fn test_headers(width: i32, height: i32, bits: u16) -> Vec<u8> {
    let mut h = vec![0u8; FILE_HEADER_LEN + INFO_HEADER_LEN];
    h[0..2].copy_from_slice(b"BM");
    LittleEndian::write_u32(&mut h[10..14], (FILE_HEADER_LEN + INFO_HEADER_LEN) as u32);
    LittleEndian::write_u32(&mut h[14..18], INFO_HEADER_LEN as u32);
    LittleEndian::write_i32(&mut h[18..22], width);
    LittleEndian::write_i32(&mut h[22..26], height);
    LittleEndian::write_u16(&mut h[26..28], 1);
    LittleEndian::write_u16(&mut h[28..30], bits);
    h
}
