//! Walking the frames of the input and writing images: each frame once as it completes
//! (packed formats a block of rows at a time), or live snapshots while it arrives.

use super::source::{kernel_copy, KernelCopy, Mapped, Source};
use super::{reading, writing, RawVideoError, Report, ShortFrame, MAX_BUFFERED_FRAME};
use crate::io as pio;
use crate::pixel::{Converter, Layout, Output};
use std::io::{self, Read, Write};

/// The output: one large buffer that rows are converted into in place, then written.
pub(super) struct Sink<'a> {
    out: &'a mut dyn Write,
    buf: Vec<u8>,
    filled: usize,
}

impl<'a> Sink<'a> {
    pub(super) fn new(out: &'a mut dyn Write) -> Self {
        Sink {
            out,
            buf: vec![0; pio::IO_BUFFER_LEN],
            filled: 0,
        }
    }

    /// `len` bytes of the buffer to write an output row into.
    fn row(&mut self, len: usize) -> io::Result<&mut [u8]> {
        if self.filled + len > self.buf.len() {
            self.drain()?;
            if len > self.buf.len() {
                self.buf.resize(len, 0);
            }
        }
        let start = self.filled;
        self.filled += len;
        Ok(&mut self.buf[start..start + len])
    }

    /// Bytes that are already output: copied when small, written directly when large.
    fn bytes(&mut self, data: &[u8]) -> io::Result<()> {
        if self.filled + data.len() <= self.buf.len() {
            self.buf[self.filled..self.filled + data.len()].copy_from_slice(data);
            self.filled += data.len();
            return Ok(());
        }
        self.drain()?;
        if data.len() >= self.buf.len() / 2 {
            return self.out.write_all(data);
        }
        self.bytes(data)
    }

    fn drain(&mut self) -> io::Result<()> {
        if self.filled > 0 {
            self.out.write_all(&self.buf[..self.filled])?;
            self.filled = 0;
        }
        Ok(())
    }

    /// Write everything out now: a reader waiting for the image gets it.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.out.flush()
    }
}

/// One conversion in progress.
pub(super) struct Job<'a> {
    conv: Converter,
    kernel: Option<KernelCopy>,
    frames: bool,
    pub(super) sink: Sink<'a>,
    pub(super) report: Report,
}

impl<'a> Job<'a> {
    pub(super) fn new(
        conv: Converter,
        kernel: Option<KernelCopy>,
        frames: bool,
        sink: Sink<'a>,
        report: Report,
    ) -> Self {
        Job {
            conv,
            kernel,
            frames,
            sink,
            report,
        }
    }

    fn layout(&self) -> &Layout {
        self.conv.layout()
    }

    /// The PNM header of one image.
    fn header(&mut self) -> io::Result<()> {
        let l = self.conv.layout();
        let magic = match self.conv.output() {
            Output::Ppm => "P6",
            Output::Pgm => "P5",
        };
        let header = format!(
            "{magic}\n{} {}\n{}\n",
            l.width,
            l.height,
            self.conv.maxval()
        );
        self.sink.bytes(header.as_bytes())
    }

    /// Convert rows `rows` of a frame whose bytes from row `first_row` on are in `frame`.
    fn rows(
        &mut self,
        frame: &[u8],
        first_row: usize,
        rows: std::ops::Range<usize>,
    ) -> io::Result<()> {
        let layout = self.conv.layout();
        let stride = layout.planes[0].stride;
        if self.conv.is_identity() && stride == self.conv.out_row_len() {
            let start = (rows.start - first_row) * stride;
            let end = (rows.end - first_row) * stride;
            return self.sink.bytes(&frame[start..end]);
        }
        let out_len = self.conv.out_row_len();
        for y in rows {
            let dst = self.sink.row(out_len)?;
            self.conv.convert_row(frame, first_row, y, dst);
        }
        Ok(())
    }

    /// One whole image from a complete frame in memory.
    fn image(&mut self, frame: &[u8]) -> io::Result<()> {
        self.header()?;
        let height = self.layout().height;
        self.rows(frame, 0, 0..height)?;
        self.sink.flush()?;
        self.report.images += 1;
        Ok(())
    }

    /// Count a frame that ended after `got` bytes: complete if every pixel arrived, even
    /// without the padding after the last row.
    fn frame_done(&mut self, got: usize) {
        let frame_len = self.layout().frame_len;
        if got >= self.layout().pixel_len() {
            self.report.complete_frames += 1;
        } else {
            self.report.short = Some(ShortFrame {
                number: self.report.complete_frames + 1,
                got,
                frame_len,
            });
        }
    }

    /// True when a frame that would start with no data at all should not be written: in
    /// `frames` mode (or after the first frame) an empty remainder is just the end.
    fn no_more_frames(&self, got: usize) -> bool {
        got == 0 && (self.frames || self.report.images > 0)
    }

    /// Without a live view: each frame written once, as soon as it is complete.
    pub(super) fn plain(&mut self, source: &mut Source) -> Result<(), RawVideoError> {
        let packed = self.layout().format.is_packed();
        let frame_len = self.layout().frame_len;
        // Reused across frames: a block of input rows, or a whole frame for planar input.
        let mut buffer = Vec::new();
        loop {
            let got = match source {
                Source::Mapped { mapped, pos } => {
                    let data = &mapped.bytes()[*pos..];
                    let frame = &data[..frame_len.min(data.len())];
                    if self.no_more_frames(frame.len()) {
                        break;
                    }
                    self.mapped_frame(mapped, *pos, frame, &mut buffer)?;
                    *pos += frame.len();
                    frame.len()
                }
                Source::Stream(reader) if packed => {
                    match self.streamed_rows(reader.as_mut(), &mut buffer)? {
                        Some(got) => got,
                        None => break,
                    }
                }
                Source::Stream(reader) => {
                    let frame = frame_buffer(&mut buffer, frame_len)?;
                    let got = pio::read_full(reader.as_mut(), frame).map_err(reading)?;
                    if self.no_more_frames(got) {
                        break;
                    }
                    self.conv.fill(got, &mut frame[got..]);
                    self.image(frame).map_err(writing)?;
                    got
                }
            };
            self.frame_done(got);
            if !self.frames || got < frame_len {
                break;
            }
        }
        Ok(())
    }

    /// One frame from a mapped input, complete or cut short (`frame` is shorter).
    fn mapped_frame(
        &mut self,
        mapped: &Mapped,
        frame_start: usize,
        frame: &[u8],
        buffer: &mut Vec<u8>,
    ) -> Result<(), RawVideoError> {
        let layout = self.layout().clone();
        self.header().map_err(writing)?;
        let mut copied = 0;
        let contiguous = layout.planes[0].stride == self.conv.out_row_len();
        let verbatim = frame.len() == layout.frame_len && self.conv.is_identity() && contiguous;
        if let Some(kernel) = self.kernel.as_ref().filter(|_| verbatim) {
            self.sink.flush().map_err(writing)?;
            if kernel.to_regular_file {
                // File to file: copy_file_range at the PPM header's unaligned offset copies
                // slower than one write from the map with its pages read in ahead.
                copied = self.write_populated(mapped, frame_start, frame)?;
            } else {
                copied = kernel_copy(kernel, frame_start, frame.len()).map_err(writing)?;
                if copied < frame.len() {
                    // The kernel cannot copy to this output: stop asking for every frame.
                    self.kernel = None;
                }
            }
        }
        if copied == frame.len() && copied > 0 {
            // All of it went through the kernel. (An empty frame still needs its fill.)
        } else if copied > 0 {
            self.sink.bytes(&frame[copied..]).map_err(writing)?;
        } else if !layout.format.is_packed() {
            // Planes read in place, top to bottom, each giving its pages back behind us. A
            // short frame too: only the rows it lacks are completed with fill, one at a
            // time, so a frame of any size needs no buffer.
            let short = frame.len() < layout.frame_len;
            let mut fill_rows = vec![Vec::new(); layout.planes.len()];
            let block = (pio::RELEASE_BLOCK / layout.bytes_per_row()).max(1);
            let mut y = 0;
            while y < layout.height {
                let end = (y + block).min(layout.height);
                if short {
                    self.short_planar_rows(frame, y..end, &mut fill_rows)
                        .map_err(writing)?;
                } else {
                    self.rows(frame, 0, y..end).map_err(writing)?;
                }
                for plane in &layout.planes {
                    let done_rows = end * plane.rows / layout.height;
                    let start = frame_start + plane.offset;
                    let done = y * plane.rows / layout.height;
                    mapped.release(
                        start + done * plane.stride,
                        start + done_rows * plane.stride,
                    );
                }
                y = end;
            }
        } else {
            // Whole rows straight from the map, in blocks, giving pages back behind us.
            let stride = layout.planes[0].stride;
            let whole_rows = frame.len() / stride;
            let block = (pio::RELEASE_BLOCK / stride).max(1);
            let mut y = 0;
            while y < whole_rows {
                let end = (y + block).min(whole_rows);
                self.rows(frame, 0, y..end).map_err(writing)?;
                mapped.release_before(frame_start + end * stride);
                y = end;
            }
            self.finish_short_rows(&frame[whole_rows * stride..], whole_rows, buffer)
                .map_err(writing)?;
        }
        mapped.release_before(frame_start + frame.len());
        self.sink.flush().map_err(writing)?;
        self.report.images += 1;
        Ok(())
    }

    /// Rows `rows` of a planar frame that the input cut short (`frame` is shorter than the
    /// layout's frame): each plane row read in place where it is whole, else completed with
    /// fill in `fill_rows` (one row per plane).
    fn short_planar_rows(
        &mut self,
        frame: &[u8],
        rows: std::ops::Range<usize>,
        fill_rows: &mut [Vec<u8>],
    ) -> io::Result<()> {
        let conv = &self.conv;
        let planes = &conv.layout().planes;
        let out_len = conv.out_row_len();
        let start =
            |p: usize, y: usize| planes[p].offset + conv.source_row(p, y) * planes[p].stride;
        for y in rows {
            for (p, plane) in planes.iter().enumerate() {
                let at = start(p, y);
                if at + plane.stride > frame.len() {
                    let present = frame.len().saturating_sub(at);
                    let row = &mut fill_rows[p];
                    row.resize(plane.stride, 0);
                    row[..present].copy_from_slice(&frame[at.min(frame.len())..]);
                    conv.fill(at + present, &mut row[present..]);
                }
            }
            let mut src: [&[u8]; 3] = [&[]; 3];
            for (p, plane) in planes.iter().enumerate() {
                let at = start(p, y);
                src[p] = if at + plane.stride <= frame.len() {
                    &frame[at..at + plane.stride]
                } else {
                    &fill_rows[p]
                };
            }
            let dst = self.sink.row(out_len)?;
            conv.convert_planar_row(&src[..planes.len()], dst);
        }
        Ok(())
    }

    /// Write a frame verbatim from the map in blocks, each block's pages read in by one
    /// call before the write and given back after it. Returns the bytes written.
    fn write_populated(
        &mut self,
        mapped: &Mapped,
        frame_start: usize,
        frame: &[u8],
    ) -> Result<usize, RawVideoError> {
        let mut at = 0;
        while at < frame.len() {
            let end = (at + pio::RELEASE_BLOCK).min(frame.len());
            mapped.populate(frame_start + at, frame_start + end);
            self.sink.bytes(&frame[at..end]).map_err(writing)?;
            self.sink.flush().map_err(writing)?;
            mapped.release_before(frame_start + end);
            at = end;
        }
        Ok(frame.len())
    }

    /// After `row` whole rows of a packed frame: the `partial` bytes of the next row, if
    /// any, completed with fill, then fill rows to the bottom of the image.
    fn finish_short_rows(
        &mut self,
        partial: &[u8],
        row: usize,
        buffer: &mut Vec<u8>,
    ) -> io::Result<()> {
        let layout = self.layout().clone();
        let stride = layout.planes[0].stride;
        if row >= layout.height {
            return Ok(());
        }
        buffer.resize(stride, 0);
        buffer[..partial.len()].copy_from_slice(partial);
        self.conv.fill(
            row * stride + partial.len(),
            &mut buffer[partial.len()..stride],
        );
        self.rows(buffer, row, row..row + 1)?;
        if row + 1 < layout.height {
            // The pattern restarts with each row, so one filled row serves them all.
            self.conv.fill(0, &mut buffer[..stride]);
            let out_len = self.conv.out_row_len();
            let mut fill_row = vec![0; out_len];
            self.conv.convert_row(buffer, 0, 0, &mut fill_row);
            for _ in row + 1..layout.height {
                self.sink.bytes(&fill_row)?;
            }
        }
        Ok(())
    }

    /// One frame of a packed format from a stream, in blocks of rows; returns the bytes of
    /// the frame that arrived, or `None` when no frame began.
    fn streamed_rows(
        &mut self,
        reader: &mut dyn Read,
        buffer: &mut Vec<u8>,
    ) -> Result<Option<usize>, RawVideoError> {
        let layout = self.layout().clone();
        let stride = layout.planes[0].stride;
        let rows_per_block = (pio::IO_BUFFER_LEN / stride).max(1);
        buffer.resize(rows_per_block * stride, 0);
        let mut got = 0;
        let mut y = 0;
        while y < layout.height {
            let want = (rows_per_block.min(layout.height - y)) * stride;
            let n = pio::read_full(reader, &mut buffer[..want]).map_err(reading)?;
            if y == 0 {
                if self.no_more_frames(n) {
                    return Ok(None);
                }
                self.header().map_err(writing)?;
            }
            got += n;
            let whole = n / stride;
            self.rows(&buffer[..whole * stride], y, y..y + whole)
                .map_err(writing)?;
            y += whole;
            if n < want {
                let partial = buffer[whole * stride..n].to_vec();
                self.finish_short_rows(&partial, y, buffer)
                    .map_err(writing)?;
                break;
            }
        }
        self.sink.flush().map_err(writing)?;
        self.report.images += 1;
        Ok(Some(got))
    }

    /// The live view: cumulative snapshots each `step` bytes of a frame, and at its end.
    pub(super) fn live(&mut self, source: &mut Source, step: usize) -> Result<(), RawVideoError> {
        let frame_len = self.layout().frame_len;
        let mut buffer = Vec::new();
        frame_buffer(&mut buffer, frame_len)?;
        loop {
            self.conv.fill(0, &mut buffer);
            let mut got = 0;
            let mut shown = 0;
            let mut next = step.min(frame_len);
            while got < frame_len {
                // Read at most up to the next snapshot point, so snapshots fall at exact
                // byte counts however the input is chunked.
                let n = source.read_some(&mut buffer[got..next]).map_err(reading)?;
                if n == 0 {
                    break;
                }
                got += n;
                if got == next {
                    self.image(&buffer).map_err(writing)?;
                    shown = got;
                    next = next.saturating_add(step).min(frame_len);
                }
            }
            if self.no_more_frames(got) {
                break;
            }
            if got != shown || self.report.images == 0 {
                self.image(&buffer).map_err(writing)?;
            }
            self.frame_done(got);
            if !self.frames || got < frame_len {
                break;
            }
        }
        Ok(())
    }
}

/// `buffer` sized to one frame, after checking the frame against the memory limit.
fn frame_buffer(buffer: &mut Vec<u8>, frame_len: usize) -> Result<&mut [u8], RawVideoError> {
    if frame_len > MAX_BUFFERED_FRAME {
        return Err(RawVideoError::FrameTooLarge { len: frame_len });
    }
    buffer.resize(frame_len, 0);
    Ok(&mut buffer[..])
}
