//! Raw video to PNM: frames of raw pixels from a file or a pipe, written as PPM (or PGM)
//! images, one per frame, or as live snapshots of a frame while it arrives.
//!
//! The input is a stream of frames of one [`Layout`], after an optional header to skip.
//! Three ways through it, all with bounded memory:
//!
//! - plain conversion of packed formats streams blocks of rows (PPM is top-down), so an
//!   image of any size needs about 2 MiB; rgb24 from a regular file is copied by the
//!   kernel (`copy_file_range`, `sendfile`) and never enters our memory;
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
//! A Y4M stream (`y4m`) says its own size and format: [`convert_y4m`].
//!
//! `source` owns the input side (maps, streams, spooling, the kernel copy); `frames` walks
//! the frames and writes the images. This module does not parse arguments or print; the
//! binary does.

mod fit;
mod frames;
mod source;
mod y4m;

pub use fit::sizes_that_fit;
pub use source::{open_input, KernelCopy};
pub use y4m::{convert_y4m, Y4mInputError};

use crate::io::Input;
use crate::pixel::{Converter, GeometryError, Layout, Output, PixelFormat, Rgb, YuvOptions};
use frames::{Job, Sink};
use source::Source;
use std::io::{self, Write};

/// The largest frame this module will hold in memory (planar from a stream, live view).
pub const MAX_BUFFERED_FRAME: usize = 1 << 30;

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

/// An image size or width that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("expected a size such as 640x480, 640 or auto, found \"{0}\"")]
    Size(String),
    #[error("expected a width in pixels or auto, found \"{0}\"")]
    Width(String),
}

/// Parse an image size: `WxH`, `W` (height from the data) or `auto`.
pub fn parse_size(text: &str) -> Result<(Width, Option<u64>), SizeError> {
    let bad = || SizeError::Size(text.to_string());
    let number = |t: &str| t.trim().parse::<u64>().map_err(|_| bad());
    let t = text.trim();
    match t.split_once(['x', 'X']) {
        Some((w, h)) => Ok((parse_width(w).map_err(|_| bad())?, Some(number(h)?))),
        None => Ok((parse_width(t).map_err(|_| bad())?, None)),
    }
}

/// Parse a width: a number of pixels or `auto`.
pub fn parse_width(text: &str) -> Result<Width, SizeError> {
    match text.trim() {
        "auto" => Ok(Width::Auto),
        t => t
            .parse::<u64>()
            .map(Width::Pixels)
            .map_err(|_| SizeError::Width(text.to_string())),
    }
}

/// A request that cannot be carried out, or an I/O failure.
#[derive(Debug, thiserror::Error)]
pub enum RawVideoError {
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    #[error("an automatic width needs a packed format, not {0}")]
    AutoWidthNeedsPacked(PixelFormat),
    #[error("a live view needs a step above zero")]
    ZeroStep,
    #[error("skipping {skip} bytes: beyond the end of the input ({len} bytes)")]
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

pub(crate) fn reading(source: io::Error) -> RawVideoError {
    RawVideoError::Io {
        what: "reading input",
        source,
    }
}

pub(crate) fn writing(source: io::Error) -> RawVideoError {
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
    /// The length of the pixel data (after the skipped header) when known in advance.
    pub data_len: Option<u64>,
    /// True when the height was given, not inferred from the data.
    pub height_given: bool,
}

impl Report {
    /// True when an image was completed with fill: the data is incomplete.
    pub fn is_incomplete(&self) -> bool {
        self.short.is_some()
    }

    /// One line when the input does not match the size: bytes left over after the first
    /// frame, or a frame cut short by the data (with a given height), and the sizes near
    /// the one asked for whose frames would divide the input. `None` when it matches.
    pub fn mismatch(&self) -> Option<String> {
        let l = &self.layout;
        let what = format!(
            "{}x{} {} frame ({} bytes)",
            l.width, l.height, l.format, l.frame_len
        );
        let problem = match (self.short, self.trailing) {
            (Some(s), _) if self.height_given => format!(
                "the input ended {} bytes short of a whole {what}; the missing bytes are filled",
                s.frame_len - s.got
            ),
            (_, Trailing::Bytes(n)) if n % l.frame_len as u64 != 0 => {
                format!("{n} bytes left over after the first {what}")
            }
            _ => return None,
        };
        let fits = match self.data_len {
            Some(len) => sizes_that_fit(l.format, len, l.width as u64, l.height as u64, 3),
            None => Vec::new(),
        };
        let hint = match (self.data_len, fits.is_empty()) {
            (Some(len), false) => {
                let sizes: Vec<String> = fits.iter().map(|(w, h)| format!("{w}x{h}")).collect();
                format!("; {len} bytes of {} fit {}", l.format, sizes.join(", "))
            }
            (Some(len), true) => format!("; no size near it fits {len} bytes of {}", l.format),
            (None, _) => String::new(),
        };
        Some(format!("{problem}{hint}"))
    }

    /// Lines for a verbose summary, without the program name; see also
    /// [`Report::trailing_note`].
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
        notes
    }

    /// What was left unread after the first frame, if anything: a line for a verbose
    /// summary, to which a program adds how to read it all.
    pub fn trailing_note(&self) -> Option<String> {
        match self.trailing {
            Trailing::None => None,
            Trailing::Bytes(n) => Some(format!("{n} bytes after the first frame ignored")),
            Trailing::More => Some("input continues after the first frame; not read".to_string()),
        }
    }
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
        return Err(RawVideoError::AutoWidthNeedsPacked(request.format));
    }
    let mut source = Source::open(input, request)?;
    let data_len = source.mapped_len().map(|n| n as u64);
    let layout = resolve_layout(request, &source)?;
    let converter = Converter::new(layout.clone(), request.output, request.yuv, request.fill)?;
    let every = match request.every {
        None => None,
        Some(Every::Bytes(0)) | Some(Every::Rows(0)) => return Err(RawVideoError::ZeroStep),
        Some(Every::Bytes(n)) => Some(n),
        Some(Every::Rows(n)) => Some(n.saturating_mul(layout.bytes_per_row() as u64)),
    };
    let report = Report {
        layout: layout.clone(),
        images: 0,
        complete_frames: 0,
        short: None,
        padded_by_inference: 0,
        trailing: Trailing::None,
        data_len,
        height_given: request.height.is_some(),
    };
    let mut job = Job::new(converter, kernel, request.frames, Sink::new(out), report);
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
    // Left-over bytes of a mapped input cost nothing to count; a stream is probed only on
    // request, since the probe waits for its writer.
    if !request.frames && (request.check_trailing || data_len.is_some()) {
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
