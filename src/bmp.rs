//! BMP writing: Windows bitmaps with a BITMAPINFOHEADER, from PNM images.
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
//! Every little-endian field is written here and nowhere else. Samples are scaled from
//! maxval to 8 bits with netpbm's rounding, `(v * 255 + maxval / 2) / maxval` (the
//! `PPM_DEPTH` macro, what `pamdepth 255` does).
//!
//! Rows are ordered by [`convert`]: bottom-up BMPs must start with the last PNM row, so a
//! mapped binary image is read backwards in place, a streamed one is buffered (one image at
//! most), and `top_down` streams row by row in constant memory.

use std::fmt;
use std::io::{self, Write};

use byteorder::{ByteOrder, LittleEndian};

use crate::io::{write_all_vectored, IOV_MAX};
use crate::pnm::{Header, Kind, PnmError, Reader};

/// BITMAPFILEHEADER length.
pub const FILE_HEADER_LEN: usize = 14;
/// BITMAPINFOHEADER length.
pub const INFO_HEADER_LEN: usize = 40;
/// Pixels per metre written in both resolution fields: 0, "unknown", as most peers write.
pub const PIXELS_PER_METRE: u32 = 0;
/// How much output is gathered before a write: large writes, few system calls.
const BATCH_LEN: usize = crate::io::IO_BUFFER_LEN;

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

/// Scale a sample from `0..=maxval` to `0..=255` as netpbm does, rounding half up.
#[inline]
pub fn scale_to_8bit(value: u16, maxval: u16) -> u8 {
    let maxval = u32::from(maxval);
    ((u32::from(value) * 255 + maxval / 2) / maxval) as u8
}

/// Turns binary PNM rows (the P4, P5 or P6 layout, samples already checked against maxval)
/// into BMP rows.
pub struct RowEncoder {
    kind: Kind,
    width: usize,
    depth: Depth,
    /// Two-byte samples (maxval > 255).
    wide: bool,
    /// maxval 255: samples are already 8-bit.
    identity: bool,
    /// sample -> 8-bit value, for every sample up to maxval.
    scale: Vec<u8>,
}

impl RowEncoder {
    /// An encoder for images with `header`, written at `depth` (at least its natural depth).
    pub fn new(header: &Header, depth: Depth) -> RowEncoder {
        let maxval = header.maxval;
        let identity = maxval == 255 || header.kind.is_bitmap();
        let scale = if identity {
            Vec::new()
        } else {
            (0..=maxval).map(|v| scale_to_8bit(v, maxval)).collect()
        };
        RowEncoder {
            kind: header.kind.raw(),
            width: header.width as usize,
            depth,
            wide: header.bytes_per_sample() == 2 && !header.kind.is_bitmap(),
            identity,
            scale,
        }
    }

    /// Encode one binary PNM row into `out`, a whole BMP row (stride bytes, padding set).
    pub fn encode(&self, row: &[u8], out: &mut [u8]) {
        let w = self.width;
        let used = match self.depth {
            Depth::One => w.div_ceil(8),
            Depth::Eight => w,
            Depth::TwentyFour => 3 * w,
        };
        let (pixels, padding) = out.split_at_mut(used);
        padding.fill(0);
        match (self.kind, self.depth) {
            (Kind::RawBitmap, Depth::One) => {
                pixels.copy_from_slice(&row[..used]);
                if w % 8 != 0 {
                    // PBM leaves the bits past the width undefined; BMP readers may not care,
                    // but the file should not depend on them.
                    pixels[used - 1] &= 0xFF << (8 - w % 8);
                }
            }
            (Kind::RawBitmap, depth) => {
                let n = if depth == Depth::Eight { 1 } else { 3 };
                for (x, px) in pixels.chunks_exact_mut(n).enumerate() {
                    let black = row[x / 8] & (0x80 >> (x % 8)) != 0;
                    px.fill(if black { 0 } else { 255 });
                }
            }
            (Kind::RawGraymap, Depth::Eight) => {
                if self.identity {
                    pixels.copy_from_slice(&row[..w]);
                } else {
                    self.scale_samples(row, pixels);
                }
            }
            (Kind::RawGraymap, _) => {
                for (x, px) in pixels.chunks_exact_mut(3).enumerate() {
                    px.fill(self.sample(row, x));
                }
            }
            (_, _) => {
                if self.identity {
                    rgb_to_bgr(&row[..3 * w], pixels);
                } else {
                    self.scale_samples(row, pixels);
                    for px in pixels.chunks_exact_mut(3) {
                        px.swap(0, 2);
                    }
                }
            }
        }
    }

    /// Sample `index` of the row, scaled to 8 bits.
    #[inline]
    fn sample(&self, row: &[u8], index: usize) -> u8 {
        if self.identity {
            row[index]
        } else if self.wide {
            self.scale[usize::from(u16::from_be_bytes([row[2 * index], row[2 * index + 1]]))]
        } else {
            self.scale[usize::from(row[index])]
        }
    }

    /// Every sample of the row, scaled, in order.
    fn scale_samples(&self, row: &[u8], out: &mut [u8]) {
        let scale = &self.scale[..];
        if self.wide {
            for (o, s) in out.iter_mut().zip(row.chunks_exact(2)) {
                *o = scale[usize::from(u16::from_be_bytes([s[0], s[1]]))];
            }
        } else {
            for (o, &s) in out.iter_mut().zip(row) {
                *o = scale[usize::from(s)];
            }
        }
    }
}

/// The hot path of P6 to 24-bit: red, green, blue to blue, green, red.
#[inline]
fn rgb_to_bgr(rgb: &[u8], bgr: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { rgb_to_bgr_avx2(rgb, bgr) };
    }
    swap_red_blue(rgb, bgr);
}

/// The same loop compiled for AVX2, where LLVM turns the 3-byte shuffle into vector byte
/// shuffles: about 4x faster than the SSE2 baseline on a 4096-pixel row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn rgb_to_bgr_avx2(rgb: &[u8], bgr: &mut [u8]) {
    swap_red_blue(rgb, bgr);
}

#[inline(always)]
fn swap_red_blue(rgb: &[u8], bgr: &mut [u8]) {
    for (d, s) in bgr.chunks_exact_mut(3).zip(rgb.chunks_exact(3)) {
        d[0] = s[2];
        d[1] = s[1];
        d[2] = s[0];
    }
}

/// How [`convert`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Bits per pixel for every image; `None` for each image's natural depth.
    pub depth: Option<Depth>,
    /// Store rows top-down (negative height): constant memory from any input.
    pub top_down: bool,
}

/// Why a conversion stopped.
#[derive(Debug)]
pub enum ConvertError {
    /// Image `image` (from 1) of the input is not valid PNM.
    Pnm { image: u64, error: PnmError },
    /// Image `image` cannot be written as BMP.
    Bmp { image: u64, error: BmpError },
    /// Writing the output failed.
    Write(io::Error),
    /// The input held no image at all.
    NoImage,
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = |f: &mut fmt::Formatter<'_>, image: u64| {
            if image > 1 {
                write!(f, "image {image}: ")
            } else {
                Ok(())
            }
        };
        match self {
            ConvertError::Pnm { image, error } => {
                prefix(f, *image)?;
                write!(f, "{error}")
            }
            ConvertError::Bmp { image, error } => {
                prefix(f, *image)?;
                write!(f, "{error}")
            }
            ConvertError::Write(error) => write!(f, "writing output: {error}"),
            ConvertError::NoImage => f.write_str("no PNM image in the input"),
        }
    }
}

impl std::error::Error for ConvertError {}

/// Output gathered into large writes. Every slot handed out is fully overwritten by its user.
struct Batch<'w> {
    out: &'w mut dyn Write,
    buf: Vec<u8>,
    len: usize,
}

impl Batch<'_> {
    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf[..self.len])?;
        self.len = 0;
        Ok(())
    }

    /// Write `rows` as they lie, many to a system call (writev), after what is gathered:
    /// no copy for rows that are already in memory.
    fn write_rows<'r>(&mut self, rows: impl Iterator<Item = &'r [u8]>) -> io::Result<()> {
        self.flush()?;
        let mut slices: Vec<io::IoSlice<'r>> = Vec::with_capacity(IOV_MAX);
        let mut gathered = 0;
        for row in rows {
            slices.push(io::IoSlice::new(row));
            gathered += row.len();
            if slices.len() == IOV_MAX || gathered >= BATCH_LEN {
                write_all_vectored(self.out, &mut slices)?;
                slices.clear();
                gathered = 0;
            }
        }
        write_all_vectored(self.out, &mut slices)
    }

    /// The next `n` bytes of output, to be filled by the caller.
    #[inline]
    fn slot(&mut self, n: usize) -> io::Result<&mut [u8]> {
        if self.len + n > self.buf.len() {
            self.flush()?;
            if n > self.buf.len() {
                self.buf.resize(n, 0);
            }
        }
        let at = self.len;
        self.len += n;
        Ok(&mut self.buf[at..at + n])
    }
}

/// Convert every image of `reader` to a BMP on `out`; returns how many were written.
pub fn convert(
    reader: &mut Reader<'_>,
    out: &mut dyn Write,
    options: &Options,
) -> Result<u64, ConvertError> {
    let mut batch = Batch {
        out,
        buf: vec![0; BATCH_LEN],
        len: 0,
    };
    let mut image = 0;
    loop {
        let pnm = |error| ConvertError::Pnm {
            image: image + 1,
            error,
        };
        let Some(header) = reader.next_header().map_err(pnm)? else {
            break;
        };
        image += 1;
        let bmp = |error| ConvertError::Bmp { image, error };
        let pnm = |error| ConvertError::Pnm { image, error };
        let depth = choose_depth(header.kind, options.depth).map_err(bmp)?;
        let layout =
            Layout::new(header.width, header.height, depth, options.top_down).map_err(bmp)?;
        let encoder = RowEncoder::new(&header, depth);
        write_image(reader, &header, &layout, &encoder, &mut batch).map_err(|e| match e {
            Stop::Read(e) => pnm(e),
            Stop::Write(e) => ConvertError::Write(e),
        })?;
    }
    batch.flush().map_err(ConvertError::Write)?;
    if image == 0 {
        return Err(ConvertError::NoImage);
    }
    Ok(image)
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

enum Stop {
    Read(PnmError),
    Write(io::Error),
}

impl From<PnmError> for Stop {
    fn from(e: PnmError) -> Self {
        Stop::Read(e)
    }
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Write(e)
    }
}

/// The encoded rows of a streamed image, held until the last one arrives so that they can be
/// written bottom-up.
///
/// Memory comes in blocks of whole rows, about 8 MiB each, taken only as rows arrive (a
/// header's claim alone allocates at most one block, and its pages only when touched). The
/// blocks are anonymous maps asking for huge pages: a 48 MiB image then costs a few dozen
/// page faults instead of twelve thousand, and no copying as it grows.
struct HeldRows {
    stride: usize,
    rows_per_block: usize,
    blocks: Vec<memmap2::MmapMut>,
    /// Rows stored in the last block.
    filled: usize,
}

impl HeldRows {
    const BLOCK_LEN: usize = 8 << 20;

    fn new(stride: usize, height: u32) -> HeldRows {
        HeldRows::with_block_len(stride, height, Self::BLOCK_LEN)
    }

    fn with_block_len(stride: usize, height: u32, block_len: usize) -> HeldRows {
        let rows_per_block = (block_len / stride.max(1)).clamp(1, height.max(1) as usize);
        HeldRows {
            stride,
            rows_per_block,
            blocks: Vec::new(),
            filled: 0,
        }
    }

    /// Room for the next row.
    fn next_slot(&mut self) -> io::Result<&mut [u8]> {
        if self.blocks.is_empty() || self.filled == self.rows_per_block {
            let block = memmap2::MmapOptions::new()
                .len(self.rows_per_block * self.stride)
                .map_anon()?;
            // Only a hint: without it (or without huge pages) all still works.
            let _ = block.advise(memmap2::Advice::HugePage);
            self.blocks.push(block);
            self.filled = 0;
        }
        let at = self.filled * self.stride;
        self.filled += 1;
        let block = self.blocks.last_mut().expect("a block was pushed above");
        Ok(&mut block[at..at + self.stride])
    }

    /// The rows, last first.
    fn rows_bottom_up(&self) -> impl Iterator<Item = &[u8]> {
        let last = self.blocks.len().saturating_sub(1);
        self.blocks
            .iter()
            .enumerate()
            .rev()
            .flat_map(move |(i, block)| {
                let rows = if i == last {
                    self.filled
                } else {
                    self.rows_per_block
                };
                block[..rows * self.stride].chunks_exact(self.stride).rev()
            })
    }
}

/// Write one image: headers, then rows in the order the layout asks for.
fn write_image(
    reader: &mut Reader<'_>,
    header: &Header,
    layout: &Layout,
    encoder: &RowEncoder,
    batch: &mut Batch<'_>,
) -> Result<(), Stop> {
    let stride = layout.stride();
    let mut headers = Vec::with_capacity(layout.pixel_offset() as usize);
    layout.write_headers(&mut headers);

    if layout.top_down {
        batch.slot(headers.len())?.copy_from_slice(&headers);
        let mut rows = reader.rows(header)?;
        while let Some(row) = rows.next_row()? {
            encoder.encode(row, batch.slot(stride)?);
        }
        return Ok(());
    }

    // Bottom-up from a map: read the rows backwards where they lie. The raster is checked
    // for length before anything is written.
    if let Some(raster) = reader.raster(header)? {
        batch.slot(headers.len())?.copy_from_slice(&headers);
        // A megabyte or so of rows at a time: their pages are mapped in one call before, and
        // handed back after, so resident memory stays small and page faults few.
        let block = (BATCH_LEN / raster.row_len().max(1)).max(1) as u32;
        let mut end = header.height;
        while end > 0 {
            let start = end.saturating_sub(block);
            raster.prepare(start..end);
            for y in (start..end).rev() {
                encoder.encode(raster.row(y)?, batch.slot(stride)?);
            }
            raster.release(start..end);
            end = start;
        }
        return Ok(());
    }

    // Bottom-up from a stream: hold the encoded image, taking memory only as rows arrive.
    let mut held = HeldRows::new(stride, header.height);
    let mut rows = reader.rows(header)?;
    while let Some(row) = rows.next_row()? {
        encoder.encode(row, held.next_slot()?);
    }
    batch.slot(headers.len())?.copy_from_slice(&headers);
    batch.write_rows(held.rows_bottom_up())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut out = Vec::new();
        Layout::new(1, 5, Depth::TwentyFour, true)
            .unwrap()
            .write_headers(&mut out);
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
    fn held_rows_come_back_last_first_across_blocks() {
        // Two rows per block, five rows: three blocks, the last one half full.
        let mut held = HeldRows::with_block_len(4, 5, 8);
        for y in 0..5u8 {
            held.next_slot().unwrap().fill(y);
        }
        assert_eq!(held.blocks.len(), 3);
        let order: Vec<u8> = held.rows_bottom_up().map(|row| row[0]).collect();
        assert_eq!(order, [4, 3, 2, 1, 0]);
        assert!(held.rows_bottom_up().all(|row| row.len() == 4));
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
