//! PNM to BMP: every image of a PNM stream written as a BMP, in the row order BMP needs.
//!
//! Bottom-up BMPs must start with the last PNM row, so a mapped binary image is read
//! backwards in place, a streamed one is buffered (one image at most), and `top_down`
//! streams row by row in constant memory. The formats themselves are [`crate::pnm`]'s and
//! [`crate::bmp`]'s; this module only drives them.

use std::fmt;
use std::io::{self, Write};

use crate::bmp::{choose_depth, BmpError, Depth, Layout, RowEncoder};
use crate::io::{write_all_vectored, IOV_MAX};
use crate::pnm::{Header, PnmError, Reader};

/// How much output is gathered before a write: large writes, few system calls.
const BATCH_LEN: usize = crate::io::IO_BUFFER_LEN;

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
    /// Where the last whole image ends in `buf`: what must still reach the output if the
    /// next image turns out to be bad (0 when every whole image has been written).
    whole: usize,
}

impl Batch<'_> {
    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf[..self.len])?;
        self.len = 0;
        self.whole = 0;
        Ok(())
    }

    /// Mark everything gathered so far as belonging to whole images.
    fn image_done(&mut self) {
        self.whole = self.len;
    }

    /// After an error: write the whole images still gathered, and drop the rest (the start
    /// of the image that failed).
    fn flush_whole_images(&mut self) -> io::Result<()> {
        let whole = std::mem::take(&mut self.whole);
        self.len = 0;
        self.out.write_all(&self.buf[..whole])
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
        whole: 0,
    };
    match convert_all(reader, &mut batch, options) {
        Ok(image) => Ok(image),
        Err(error) => {
            // The images before the bad one are good: they are written before the error is
            // reported. If that write fails too, the first error is the one to report.
            if !matches!(error, ConvertError::Write(_)) {
                let _ = batch.flush_whole_images();
            }
            Err(error)
        }
    }
}

fn convert_all(
    reader: &mut Reader<'_>,
    batch: &mut Batch<'_>,
    options: &Options,
) -> Result<u64, ConvertError> {
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
        write_image(reader, &header, &layout, &encoder, batch).map_err(|e| match e {
            Stop::Read(e) => pnm(e),
            Stop::Write(e) => ConvertError::Write(e),
        })?;
        batch.image_done();
    }
    batch.flush().map_err(ConvertError::Write)?;
    if image == 0 {
        return Err(ConvertError::NoImage);
    }
    Ok(image)
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
}
