//! Raw video to PNM: frames of raw pixels from a file or a pipe, written as PPM (or PGM)
//! images, one per frame, or as live snapshots of a frame while it arrives.
//!
//! The input is a stream of frames of one [`Layout`], after an optional header to skip.
//! Three ways through it, all with bounded memory:
//!
//! - plain conversion of packed formats streams blocks of rows (PPM is top-down), so an
//!   image of any size needs about 2 MiB; rgb24 from a mapped file is written straight from
//!   the map, without a copy;
//! - planar formats (yuv420p, nv12, ...) need the chroma planes, which come after the whole
//!   luma plane, before the first row can be converted: one frame is buffered when the
//!   input is a stream (a mapped file is read in place);
//! - the live view (`every`) keeps one frame, pre-filled with the fill colour, reads what
//!   is available and writes a cumulative snapshot each time `every` more bytes have
//!   arrived, flushing it at once.
//!
//! A frame cut short by the end of the input is completed with the fill colour and reported
//! ([`Report::short`]), never dropped silently. Pages of a mapped input are released
//! behind the reader, so a long mapped file does not grow the resident set.
//!
//! This module does not parse arguments or print; the binary does.

use crate::cli::{self, Failure, Input};
use crate::pixel::{Converter, GeometryError, Layout, Output, PixelFormat, Rgb, YuvOptions};
use std::cell::Cell;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::Path;

/// The largest frame this module will hold in memory (planar from a stream, live view).
pub const MAX_BUFFERED_FRAME: usize = 1 << 30;

/// How far the reader of a mapped file runs ahead of the pages it releases.
const RELEASE_STEP: usize = 4 << 20;

/// The width of the image: given, or chosen from the length of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    Pixels(u64),
    /// A power of two near the square root of the pixel count, so arbitrary binary data
    /// shows as a roughly square image.
    Auto,
}

/// When the live view writes a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    /// Each time this many more bytes of the frame have arrived.
    Bytes(u64),
    /// Each time this many more rows have arrived (rows of the layout's bytes per row).
    Rows(u64),
}

/// What to convert and how.
#[derive(Debug, Clone)]
pub struct Request {
    pub format: PixelFormat,
    pub width: Width,
    /// `None`: follows from the length of the data, the last row padded.
    pub height: Option<u64>,
    /// Bytes from one row to the next (packed formats); `None`: no padding.
    pub stride: Option<u64>,
    /// Bytes to skip once at the start of the input (a file header).
    pub skip: u64,
    pub fill: Rgb,
    pub output: Output,
    pub yuv: YuvOptions,
    /// One image per frame until the input ends; otherwise the first frame only.
    pub frames: bool,
    pub every: Option<Every>,
    /// Without `frames`, look whether input follows the first frame, for the report.
    pub check_trailing: bool,
}

/// Parse `-s`: `WxH`, `W` (height from the data) or `auto`.
pub fn parse_size(text: &str) -> Result<(Width, Option<u64>), String> {
    let bad = || format!("expected a size such as 640x480, 640 or auto, found \"{text}\"");
    let number = |t: &str| t.trim().parse::<u64>().map_err(|_| bad());
    let t = text.trim();
    match t.split_once(['x', 'X']) {
        Some((w, h)) => Ok((parse_width(w).map_err(|_| bad())?, Some(number(h)?))),
        None => Ok((parse_width(t).map_err(|_| bad())?, None)),
    }
}

/// Parse `--width`: a number of pixels or `auto`.
pub fn parse_width(text: &str) -> Result<Width, String> {
    match text.trim() {
        "auto" => Ok(Width::Auto),
        t => t
            .parse::<u64>()
            .map(Width::Pixels)
            .map_err(|_| format!("expected a width in pixels or auto, found \"{text}\"")),
    }
}

/// A request that cannot be carried out, or an I/O failure.
#[derive(Debug, thiserror::Error)]
pub enum RawVideoError {
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    #[error("{0}")]
    Invalid(String),
    #[error("--skip {skip}: beyond the end of the input ({len} bytes)")]
    SkipBeyondData { skip: u64, len: u64 },
    #[error("cannot infer the height: no pixel data in the input")]
    NoData,
    #[error("a frame of {len} bytes is larger than the {MAX_BUFFERED_FRAME}-byte limit for a buffered frame")]
    FrameTooLarge { len: usize },
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: io::Error,
    },
}

impl From<RawVideoError> for Failure {
    fn from(err: RawVideoError) -> Failure {
        match err {
            RawVideoError::Io { source, .. } if cli::is_broken_pipe(&source) => Failure::BrokenPipe,
            other => Failure::new(other.to_string()),
        }
    }
}

fn reading(source: io::Error) -> RawVideoError {
    RawVideoError::Io {
        what: "reading input",
        source,
    }
}

fn writing(source: io::Error) -> RawVideoError {
    RawVideoError::Io {
        what: "writing output",
        source,
    }
}

/// A frame that the end of the input cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortFrame {
    /// 1 for the first frame.
    pub number: u64,
    pub got: usize,
    pub frame_len: usize,
}

/// Input left unread after the first frame (without `frames`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trailing {
    None,
    Bytes(u64),
    /// A stream that had more to give; how much was not read.
    More,
}

/// What was written, for the exit status and `-v`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub layout: Layout,
    /// Images written: frames and snapshots.
    pub images: u64,
    /// Frames whose every byte arrived.
    pub complete_frames: u64,
    /// The last frame, if the input ended inside it (not counting an inferred height).
    pub short: Option<ShortFrame>,
    /// Bytes of fill after the data when the height was inferred.
    pub padded_by_inference: usize,
    pub trailing: Trailing,
}

impl Report {
    /// True when an image was completed with fill: the data is incomplete.
    pub fn is_incomplete(&self) -> bool {
        self.short.is_some()
    }

    /// Lines for `-v`, without the program name.
    pub fn notes(&self) -> Vec<String> {
        let l = &self.layout;
        let mut notes = vec![format!(
            "{}x{} {}, {} bytes a frame: {} image(s) written, {} complete frame(s)",
            l.width, l.height, l.format, l.frame_len, self.images, self.complete_frames
        )];
        if let Some(s) = self.short {
            notes.push(format!(
                "input ended {} bytes into frame {} of {} bytes; the missing {} bytes are filled",
                s.got,
                s.number,
                s.frame_len,
                s.frame_len - s.got
            ));
        }
        if self.padded_by_inference > 0 {
            notes.push(format!(
                "height inferred from the data; the last {} bytes are filled",
                self.padded_by_inference
            ));
        }
        match self.trailing {
            Trailing::None => {}
            Trailing::Bytes(n) => notes.push(format!(
                "{n} bytes after the first frame ignored (use --frames for all frames)"
            )),
            Trailing::More => notes.push(
                "input continues after the first frame; not read (use --frames for all frames)"
                    .to_string(),
            ),
        }
        notes
    }
}

/// A regular input file and the output descriptor, between which the kernel can copy
/// frames that need no conversion (rgb24 to PPM) without them passing through our memory.
#[derive(Debug)]
pub struct KernelCopy {
    pub from: File,
    pub to: RawFd,
}

/// Open FILE (or stdin) as [`Input::open`] does, and also return the regular file behind a
/// mapped input, for [`KernelCopy`].
pub fn open_input(path: Option<&Path>) -> Result<(Input, Option<File>), Failure> {
    let input = Input::open(path)?;
    let file = match (&input, path) {
        (Input::Mapped(_), Some(p)) if p != Path::new("-") => File::open(p).ok(),
        (Input::Mapped(_), _) => io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map(File::from)
            .ok(),
        _ => None,
    };
    Ok((input, file))
}

/// Convert `input` as `request` says, writing PNM images to `out`. With `kernel`, frames
/// that need no conversion are copied by the kernel straight from the input file.
pub fn convert(
    input: Input,
    kernel: Option<KernelCopy>,
    request: &Request,
    out: &mut dyn Write,
) -> Result<Report, RawVideoError> {
    if request.width == Width::Auto && !request.format.is_packed() {
        return Err(RawVideoError::Invalid(format!(
            "--width auto needs a packed format, not {}",
            request.format
        )));
    }
    let mut source = Source::open(input, request)?;
    let layout = resolve_layout(request, &source)?;
    let converter = Converter::new(layout.clone(), request.output, request.yuv, request.fill)
        .map_err(RawVideoError::Invalid)?;
    let every = match request.every {
        None => None,
        Some(Every::Bytes(0)) | Some(Every::Rows(0)) => {
            return Err(RawVideoError::Invalid(
                "--every and --every-rows need a count above zero".to_string(),
            ))
        }
        Some(Every::Bytes(n)) => Some(n),
        Some(Every::Rows(n)) => Some(n.saturating_mul(layout.bytes_per_row() as u64)),
    };
    let mut job = Job {
        conv: converter,
        kernel,
        frames: request.frames,
        sink: Sink::new(out),
        report: Report {
            layout: layout.clone(),
            images: 0,
            complete_frames: 0,
            short: None,
            padded_by_inference: 0,
            trailing: Trailing::None,
        },
    };
    match every {
        Some(step) => job.live(&mut source, usize::try_from(step).unwrap_or(usize::MAX))?,
        None => job.plain(&mut source)?,
    }
    job.sink.flush().map_err(writing)?;
    let mut report = job.report;
    if request.height.is_none() {
        if let Some(short) = report.short.take() {
            // The data ended where the height said it would: the frame is complete.
            report.padded_by_inference = short.frame_len - short.got;
            report.complete_frames += 1;
        }
    }
    if !request.frames && request.check_trailing {
        report.trailing = source.trailing().map_err(reading)?;
    }
    Ok(report)
}

/// The layout of the request, with a width or height that follows from the data resolved.
fn resolve_layout(request: &Request, source: &Source) -> Result<Layout, RawVideoError> {
    let format = request.format;
    let data_len = source.mapped_len();
    let width = match request.width {
        Width::Pixels(w) => w,
        Width::Auto => {
            let len = data_len.ok_or(RawVideoError::NoData)?;
            auto_width(len as u64, format.bytes_per_pixel())
        }
    };
    let height = match request.height {
        Some(h) => h,
        None => {
            let len = data_len.unwrap_or(0);
            if len == 0 {
                return Err(RawVideoError::NoData);
            }
            infer_height(format, width, request.stride, len)?
        }
    };
    Ok(Layout::new(format, width, height, request.stride)?)
}

/// `--width auto`: the power of two nearest the square root of the pixel count.
fn auto_width(data_len: u64, bytes_per_pixel: u64) -> u64 {
    let pixels = data_len.div_ceil(bytes_per_pixel).max(1);
    let root = (pixels as f64).sqrt();
    let exponent = root.log2().round().clamp(0.0, 20.0);
    1u64 << (exponent as u32)
}

/// The smallest height whose frame holds `len` bytes.
fn infer_height(
    format: PixelFormat,
    width: u64,
    stride: Option<u64>,
    len: usize,
) -> Result<u64, RawVideoError> {
    // Frame length grows with the height: search for the first that holds the data.
    let fits = |h: u64| -> Result<bool, RawVideoError> {
        Ok(Layout::new(format, width, h, stride)?.frame_len >= len)
    };
    let (mut lo, mut hi) = (1, crate::pixel::MAX_DIMENSION);
    if !fits(hi)? {
        return Err(GeometryError::TooLarge {
            width,
            height: (len as u64).div_ceil(width),
        }
        .into());
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(mid)? {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

/// A memory map whose pages behind the reader are given back as it goes.
struct Mapped {
    map: memmap2::Mmap,
    released: Cell<usize>,
}

impl Mapped {
    fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Drop the pages before `end` from our resident set once enough have been read.
    fn release_before(&self, end: usize) {
        let from = self.released.get();
        if end >= from + RELEASE_STEP || (end == self.map.len() && end > from) {
            self.release(from, end);
            self.released.set(end);
        }
    }

    /// Drop the pages of `start..end` from our resident set (they stay in the page cache).
    fn release(&self, start: usize, end: usize) {
        if end > start {
            // SAFETY: the map is a read-only shared file mapping; MADV_DONTNEED only drops
            // our page-table entries, and the next access reads the same file pages
            // again, so no byte that a slice points to changes.
            let _ = unsafe {
                self.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    start,
                    end - start,
                )
            };
        }
    }
}

/// Where the frames come from.
enum Source {
    Mapped { mapped: Mapped, pos: usize },
    Stream(Box<dyn Read>),
}

impl Source {
    /// Open the input, skip the header, and make a stream seekable (by spooling it to an
    /// unlinked temporary file) when the geometry depends on the length of the data.
    fn open(input: Input, request: &Request) -> Result<Source, RawVideoError> {
        let needs_len = request.height.is_none() || request.width == Width::Auto;
        let mut source = match input {
            Input::Mapped(map) => Source::Mapped {
                mapped: Mapped {
                    map,
                    released: Cell::new(0),
                },
                pos: 0,
            },
            Input::Empty => Source::Stream(Box::new(io::empty())),
            Input::Stream(reader) => Source::Stream(reader),
        };
        source.skip(request.skip)?;
        if needs_len {
            if let Source::Stream(reader) = &mut source {
                source = match spool(reader.as_mut())? {
                    Some(map) => Source::Mapped {
                        mapped: Mapped {
                            map,
                            released: Cell::new(0),
                        },
                        pos: 0,
                    },
                    None => Source::Stream(Box::new(io::empty())),
                };
            }
        }
        Ok(source)
    }

    fn skip(&mut self, skip: u64) -> Result<(), RawVideoError> {
        match self {
            Source::Mapped { mapped, pos } => {
                let len = mapped.bytes().len() as u64;
                if skip > len {
                    return Err(RawVideoError::SkipBeyondData { skip, len });
                }
                *pos = skip as usize;
            }
            Source::Stream(reader) => {
                let copied =
                    io::copy(&mut reader.as_mut().take(skip), &mut io::sink()).map_err(reading)?;
                if copied < skip {
                    return Err(RawVideoError::SkipBeyondData { skip, len: copied });
                }
            }
        }
        Ok(())
    }

    /// Bytes of data after the skipped header, when known in advance.
    fn mapped_len(&self) -> Option<usize> {
        match self {
            Source::Mapped { mapped, pos } => Some(mapped.bytes().len() - pos),
            Source::Stream(_) => None,
        }
    }

    /// Read what is available now into `buf`, without waiting to fill it; 0 at the end.
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Mapped { mapped, pos } => {
                let data = &mapped.bytes()[*pos..];
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                *pos += n;
                mapped.release_before(*pos);
                Ok(n)
            }
            Source::Stream(reader) => cli::read_some(reader.as_mut(), buf),
        }
    }

    /// Whether input is left after what was read.
    fn trailing(&mut self) -> io::Result<Trailing> {
        match self {
            Source::Mapped { mapped, pos } => {
                let left = (mapped.bytes().len() - *pos) as u64;
                Ok(if left == 0 {
                    Trailing::None
                } else {
                    Trailing::Bytes(left)
                })
            }
            Source::Stream(reader) => {
                let mut probe = [0u8; 1];
                Ok(if cli::read_some(reader.as_mut(), &mut probe)? == 0 {
                    Trailing::None
                } else {
                    Trailing::More
                })
            }
        }
    }
}

/// Copy a stream into an unlinked temporary file and map it, so its length is known.
/// Memory stays bounded; the disk holds the data. `None` for an empty stream.
fn spool(reader: &mut dyn Read) -> Result<Option<memmap2::Mmap>, RawVideoError> {
    use std::os::unix::fs::OpenOptionsExt;
    let spool_err = |source| RawVideoError::Io {
        what: "spooling input to a temporary file",
        source,
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let path = std::env::temp_dir().join(format!("raw2ppm-{}-{nanos}", std::process::id()));
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(spool_err)?;
    let _ = fs::remove_file(&path);
    let mut buf = vec![0u8; cli::IO_BUFFER_LEN];
    let mut total = 0u64;
    loop {
        let n = cli::read_some(reader, &mut buf).map_err(reading)?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n]).map_err(spool_err)?;
        total += n as u64;
    }
    if total == 0 {
        return Ok(None);
    }
    // SAFETY: the file is ours alone (created new, already unlinked), so nobody can
    // truncate it under the map.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(spool_err)?;
    Ok(Some(map))
}

/// The output: one large buffer that rows are converted into in place, then written.
struct Sink<'a> {
    out: &'a mut dyn Write,
    buf: Vec<u8>,
    filled: usize,
}

impl<'a> Sink<'a> {
    fn new(out: &'a mut dyn Write) -> Self {
        Sink {
            out,
            buf: vec![0; cli::IO_BUFFER_LEN],
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
    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.out.flush()
    }
}

/// One conversion in progress.
struct Job<'a> {
    conv: Converter,
    kernel: Option<KernelCopy>,
    frames: bool,
    sink: Sink<'a>,
    report: Report,
}

impl Job<'_> {
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

    /// Count a frame that ended after `got` bytes.
    fn frame_done(&mut self, got: usize) {
        let frame_len = self.layout().frame_len;
        if got == frame_len {
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
    fn plain(&mut self, source: &mut Source) -> Result<(), RawVideoError> {
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
                    let got = cli::read_full(reader.as_mut(), frame).map_err(reading)?;
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
        if frame.len() < layout.frame_len && !layout.format.is_packed() {
            // A short planar frame: complete it with fill in a buffer.
            let buf = frame_buffer(buffer, layout.frame_len)?;
            buf[..frame.len()].copy_from_slice(frame);
            self.conv.fill(frame.len(), &mut buf[frame.len()..]);
            self.image(buf).map_err(writing)?;
            mapped.release_before(frame_start + frame.len());
            return Ok(());
        }
        self.header().map_err(writing)?;
        let mut copied = 0;
        if let Some(kernel) = &self.kernel {
            let contiguous = layout.planes[0].stride == self.conv.out_row_len();
            if frame.len() == layout.frame_len && self.conv.is_identity() && contiguous {
                self.sink.flush().map_err(writing)?;
                copied = kernel_copy(kernel, frame_start, frame.len()).map_err(writing)?;
            }
        }
        if copied == frame.len() {
            // All of it went through the kernel.
        } else if copied > 0 {
            self.sink.bytes(&frame[copied..]).map_err(writing)?;
        } else if !layout.format.is_packed() {
            // Planes read in place, top to bottom, each giving its pages back behind us.
            let block = (RELEASE_STEP / layout.bytes_per_row()).max(1);
            let mut y = 0;
            while y < layout.height {
                let end = (y + block).min(layout.height);
                self.rows(frame, 0, y..end).map_err(writing)?;
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
            let block = (RELEASE_STEP / stride).max(1);
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
        let rows_per_block = (cli::IO_BUFFER_LEN / stride).max(1);
        buffer.resize(rows_per_block * stride, 0);
        let mut got = 0;
        let mut y = 0;
        while y < layout.height {
            let want = (rows_per_block.min(layout.height - y)) * stride;
            let n = cli::read_full(reader, &mut buffer[..want]).map_err(reading)?;
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
    fn live(&mut self, source: &mut Source, step: usize) -> Result<(), RawVideoError> {
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

/// Copy `len` bytes of the input file from `offset` to the output inside the kernel:
/// `copy_file_range` (file to file), else `sendfile` (file to anything). Returns how many
/// bytes were copied; fewer than `len` when the kernel cannot, and the caller writes the
/// rest itself.
fn kernel_copy(kernel: &KernelCopy, offset: usize, len: usize) -> io::Result<usize> {
    let from = kernel.from.as_raw_fd();
    let mut off = offset as libc::off_t;
    let mut left = len;
    let mut file_to_file = true;
    while left > 0 {
        // SAFETY: both calls take valid descriptors (ours, or -1 which fails cleanly), a
        // pointer to our offset, and a count; they touch no memory of ours otherwise.
        let n = unsafe {
            if file_to_file {
                libc::copy_file_range(from, &mut off, kernel.to, std::ptr::null_mut(), left, 0)
            } else {
                libc::sendfile(kernel.to, from, &mut off, left)
            }
        };
        if n > 0 {
            left -= n as usize;
            continue;
        }
        if n == 0 {
            break; // the file ended early (truncated under us): write from the map
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => {}
            // Not file to file (a pipe, a terminal, O_APPEND): try sendfile.
            Some(libc::EXDEV | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::EBADF)
                if file_to_file =>
            {
                file_to_file = false
            }
            Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::EBADF) => break,
            _ => return Err(err),
        }
    }
    Ok(len - left)
}

/// `buffer` sized to one frame, after checking the frame against the memory limit.
fn frame_buffer(buffer: &mut Vec<u8>, frame_len: usize) -> Result<&mut [u8], RawVideoError> {
    if frame_len > MAX_BUFFERED_FRAME {
        return Err(RawVideoError::FrameTooLarge { len: frame_len });
    }
    buffer.resize(frame_len, 0);
    Ok(&mut buffer[..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixel::YuvOptions;

    fn request(format: PixelFormat, w: u64, h: Option<u64>) -> Request {
        Request {
            format,
            width: Width::Pixels(w),
            height: h,
            stride: None,
            skip: 0,
            fill: Rgb { r: 9, g: 8, b: 7 },
            output: Output::Ppm,
            yuv: YuvOptions::default(),
            frames: false,
            every: None,
            check_trailing: true,
        }
    }

    fn run(req: &Request, data: &[u8]) -> (Vec<u8>, Report) {
        let input = Input::Stream(Box::new(io::Cursor::new(data.to_vec())));
        let mut out = Vec::new();
        let report = convert(input, None, req, &mut out).unwrap();
        (out, report)
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(
            parse_size("640x480").unwrap(),
            (Width::Pixels(640), Some(480))
        );
        assert_eq!(parse_size("64").unwrap(), (Width::Pixels(64), None));
        assert_eq!(parse_size("auto").unwrap(), (Width::Auto, None));
        assert!(parse_size("640x").is_err());
        assert!(parse_size("x480").is_err());
        assert!(parse_size("-1x2").is_err());
    }

    #[test]
    fn short_stream_is_filled_and_reported() {
        let req = request(PixelFormat::Rgb24, 2, Some(2));
        let (out, report) = run(&req, &[1, 2, 3, 4]);
        let mut want = b"P6\n2 2\n255\n".to_vec();
        want.extend([1, 2, 3, 4, 8, 7, 9, 8, 7, 9, 8, 7]);
        assert_eq!(out, want);
        assert_eq!(
            report.short,
            Some(ShortFrame {
                number: 1,
                got: 4,
                frame_len: 12
            })
        );
    }

    #[test]
    fn live_snapshots_fall_at_exact_byte_counts() {
        let mut req = request(PixelFormat::Gray, 2, Some(2));
        req.every = Some(Every::Bytes(3));
        let (out, report) = run(&req, &[10, 20, 30, 40]);
        let header = b"P6\n2 2\n255\n";
        let grey = 8; // BT.601 luma of (9, 8, 7), rounded
        let mut want = header.to_vec();
        want.extend([10, 10, 10, 20, 20, 20, 30, 30, 30, grey, grey, grey]);
        want.extend(header);
        want.extend([10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40]);
        assert_eq!(out, want);
        assert_eq!(report.images, 2);
        assert_eq!(report.complete_frames, 1);
    }

    #[test]
    fn height_follows_from_the_data() {
        let req = request(PixelFormat::Gray, 3, None);
        let (out, report) = run(&req, &[1, 2, 3, 4]);
        assert!(out.starts_with(b"P6\n3 2\n255\n"));
        assert_eq!(report.padded_by_inference, 2);
        assert!(!report.is_incomplete());
    }

    #[test]
    fn skip_beyond_the_data_is_an_error() {
        let mut req = request(PixelFormat::Gray, 1, Some(1));
        req.skip = 5;
        let input = Input::Stream(Box::new(io::Cursor::new(vec![0; 4])));
        let err = convert(input, None, &req, &mut Vec::new()).unwrap_err();
        assert!(matches!(
            err,
            RawVideoError::SkipBeyondData { skip: 5, len: 4 }
        ));
    }

    fn mapped(data: &[u8]) -> Input {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(data).unwrap();
        if data.is_empty() {
            return Input::Empty;
        }
        // SAFETY: the temporary file is ours alone and is not changed while mapped.
        Input::Mapped(unsafe { memmap2::Mmap::map(&file) }.unwrap())
    }

    proptest::proptest! {
        /// Any geometry, format, length and mode: no panic, whole images only, and a mapped
        /// file gives the same bytes as a stream.
        #[test]
        fn any_input_gives_whole_images_alike_from_map_and_stream(
            fi in 0..PixelFormat::ALL.len(),
            w in 1u64..12, h in 1u64..12,
            len in 0usize..1200,
            frames: bool,
            every in proptest::option::of(1u64..300),
            seed: u8,
        ) {
            let mut req = request(PixelFormat::ALL[fi], w, Some(h));
            req.frames = frames;
            req.every = every.map(Every::Bytes);
            let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed)).collect();
            let (streamed, report) = run(&req, &data);
            let mut from_map = Vec::new();
            convert(mapped(&data), None, &req, &mut from_map).unwrap();
            proptest::prop_assert_eq!(&streamed, &from_map);
            let layout = &report.layout;
            let conv = Converter::new(layout.clone(), Output::Ppm, req.yuv, req.fill).unwrap();
            let header = format!("P6\n{} {}\n{}\n", w, h, conv.maxval()).len();
            let image = header + conv.out_row_len() * layout.height;
            proptest::prop_assert_eq!(streamed.len() as u64, report.images * image as u64);
            let whole = (len / layout.frame_len) as u64;
            let expect_complete = if frames { whole } else { whole.min(1) };
            proptest::prop_assert_eq!(report.complete_frames, expect_complete);
        }
    }

    #[test]
    fn auto_width_is_a_power_of_two_near_the_square_root() {
        assert_eq!(auto_width(3 * 1000 * 1000, 3), 1024);
        assert_eq!(auto_width(1, 3), 1);
        assert_eq!(auto_width(u64::MAX, 1), 1 << 20);
    }
}
