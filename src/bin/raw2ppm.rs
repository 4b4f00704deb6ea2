//! raw2ppm: raw pixel bytes (RGB, grey, YUV) to PPM images, frame streams and live views.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::Parser;
use pktools::cli::{self, Failure, Outcome};
use pktools::pixel::{Matrix, Output, PixelFormat, Range, Rgb, YuvOptions};
use pktools::rawvideo::{self, Every, KernelCopy, RawVideoError, Request, Width};
use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;

const PROGRAM: &str = "raw2ppm";

/// Convert raw pixels to PPM: one image, a stream of frames, or a live view of a transfer.
///
/// Reads FILE (or stdin) as frames of WxH pixels in the given format and writes binary PPM
/// (P6) to stdout, which ffplay, ffmpeg, ImageMagick and netpbm read. Missing bytes at the
/// end of the input are shown in the fill colour (exit status 1). Without -s or --width,
/// the input is a Y4M stream (ffmpeg -f yuv4mpegpipe), which says its own size and format.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version)]
struct Args {
    /// Input file; stdin when absent or "-".
    file: Option<PathBuf>,

    /// Image size WxH, or W alone (the height follows from the data length), or auto.
    #[arg(short, long, value_name = "WxH", conflicts_with_all = ["width", "height"])]
    size: Option<String>,

    /// Width in pixels, or auto (a power of two near the square root of the pixel count).
    #[arg(long, value_name = "W|auto")]
    width: Option<String>,

    /// Height in pixels (default: from the data length, the last row padded).
    #[arg(long, value_name = "H")]
    height: Option<u64>,

    /// Pixel format, named as ffmpeg's -pix_fmt.
    #[arg(short, long = "pix-fmt", alias = "pix_fmt", value_name = "FMT", default_value = "rgb24",
          value_parser = PixFmtParser)]
    pix_fmt: PixelFormat,

    /// Bytes from the start of one input row to the next (packed formats; default: no padding).
    #[arg(long, value_name = "BYTES", value_parser = cli::parse_size)]
    stride: Option<u64>,

    /// Skip this many bytes at the start of the input (a header), like rawtoppm -headerskip.
    #[arg(long, value_name = "BYTES", default_value = "0", value_parser = cli::parse_size)]
    skip: u64,

    /// Colour of pixels whose bytes never arrived, as RRGGBB hex (YUV: its Y, U, V).
    #[arg(long, value_name = "RRGGBB", default_value = "000000")]
    fill: Rgb,

    /// Write one image per frame until the input ends (default: the first frame only).
    #[arg(long)]
    frames: bool,

    /// Live view: write a snapshot each time this many more bytes of a frame have arrived.
    #[arg(long, value_name = "BYTES", value_parser = cli::parse_size, conflicts_with = "every_rows")]
    every: Option<u64>,

    /// Live view: write a snapshot each time this many more rows have arrived.
    #[arg(long, value_name = "N")]
    every_rows: Option<u64>,

    /// Write PGM (P5) instead of PPM for grey formats.
    #[arg(long)]
    pgm: bool,

    /// YUV colour matrix.
    #[arg(long, value_name = "MATRIX", default_value = "bt601",
          value_parser = PossibleValuesParser::new(Matrix::NAMES).try_map(|s| s.parse::<Matrix>()))]
    matrix: Matrix,

    /// YUV sample range: tv (limited, 16-235) or pc (full, 0-255).
    #[arg(long, value_name = "RANGE", default_value = "tv",
          value_parser = PossibleValuesParser::new(Range::NAMES).try_map(|s| s.parse::<Range>()))]
    range: Range,

    /// Say on stderr what was written, and what was filled or left unread.
    #[arg(short, long)]
    verbose: bool,

    /// Write binary output even to a terminal.
    #[arg(long)]
    force: bool,
}

/// `--pix-fmt`: ffmpeg's names, listed in `--help`; a name that is not one of them gets
/// the nearest as a hint (`yuv420`: did you mean yuv420p?).
#[derive(Clone)]
struct PixFmtParser;

impl TypedValueParser for PixFmtParser {
    type Value = PixelFormat;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<PixelFormat, clap::Error> {
        let text = value.to_string_lossy();
        text.parse().map_err(|_| {
            let hint = match PixelFormat::nearest(&text) {
                Some(near) => format!("did you mean {near}?"),
                None => format!("expected one of: {}", PixelFormat::NAMES.join(", ")),
            };
            clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("unknown pixel format '{text}' for '--pix-fmt': {hint}\n"),
            )
            .with_cmd(cmd)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(PixelFormat::NAMES.iter().map(PossibleValue::new)))
    }
}

fn main() -> ExitCode {
    match cli::parse_args::<Args>(PROGRAM) {
        Ok(args) => cli::finish(PROGRAM, run(&args)),
        Err(code) => code,
    }
}

/// No size given: the input must be Y4M, whose header gives it.
fn y4m(args: &Args) -> Result<Outcome, Failure> {
    use std::io::BufRead;
    cli::refuse_terminal_stdout(args.force)?;
    let (input, _) = rawvideo::open_input(args.file.as_deref())?;
    let mut reader: Box<dyn std::io::BufRead> = match input {
        pktools::io::Input::Mapped(map) => Box::new(std::io::Cursor::new(map)),
        pktools::io::Input::Stream(r) => Box::new(std::io::BufReader::new(r)),
    };
    let head = reader
        .fill_buf()
        .map_err(cli::io_context("reading input"))?;
    if !head.starts_with(pktools::y4m::MAGIC) {
        return Err(Failure::new(
            "no image size: give -s WxH or --width (or a Y4M stream, which says its own)",
        ));
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 20, cli::stdout_stream()?);
    let output = if args.pgm { Output::Pgm } else { Output::Ppm };
    let yuv = YuvOptions {
        matrix: args.matrix,
        range: args.range,
    };
    let report = rawvideo::convert_y4m(&mut reader, output, yuv, args.fill, args.frames, &mut out)
        .map_err(|e| match e {
            rawvideo::Y4mInputError::Convert(e) => Failure::from(e),
            e => Failure::new(e.to_string()),
        })?;
    if args.verbose {
        for note in report.notes() {
            eprintln!("{PROGRAM}: {note}");
        }
    }
    Ok(if report.is_incomplete() {
        Outcome::Damaged
    } else {
        Outcome::Intact
    })
}

fn run(args: &Args) -> Result<Outcome, Failure> {
    let (width, height) = match (&args.size, &args.width) {
        (Some(size), _) => rawvideo::parse_size(size).map_err(|e| Failure::new(e.to_string()))?,
        (None, Some(w)) => (
            rawvideo::parse_width(w).map_err(|e| Failure::new(e.to_string()))?,
            args.height,
        ),
        (None, None) => return y4m(args),
    };
    if width == Width::Auto && height.is_some() {
        return Err(Failure::new(
            "--width auto cannot be combined with a height",
        ));
    }
    let request = Request {
        format: args.pix_fmt,
        width,
        height,
        stride: args.stride,
        skip: args.skip,
        fill: args.fill,
        output: if args.pgm { Output::Pgm } else { Output::Ppm },
        yuv: YuvOptions {
            matrix: args.matrix,
            range: args.range,
        },
        frames: args.frames,
        every: args
            .every
            .map(Every::Bytes)
            .or(args.every_rows.map(Every::Rows)),
    };
    cli::refuse_same_files(args.file.as_deref(), &[], true)?;
    cli::refuse_terminal_stdout(args.force)?;
    let (input, input_file) = rawvideo::open_input(args.file.as_deref())?;
    let mut out = cli::stdout_stream()?;
    let to_regular_file = out.file().metadata().is_ok_and(|m| m.is_file());
    // A kernel copy (splice, sendfile) does not bound the messages of a datagram socket.
    let kernel = match input_file {
        Some(from) if !out.is_messages() => Some(KernelCopy {
            from,
            to: out
                .as_fd()
                .try_clone_to_owned()
                .map_err(cli::io_context("stdout"))?,
            to_regular_file,
        }),
        _ => None,
    };
    let report = match rawvideo::convert(input, kernel, &request, &mut out) {
        Ok(report) => report,
        Err(RawVideoError::AutoWidthNeedsPacked(format)) => {
            return Err(Failure::new(format!(
                "--width auto needs a packed format, not {format}"
            )))
        }
        Err(RawVideoError::ZeroStep) => {
            return Err(Failure::new(
                "--every and --every-rows need a count above zero",
            ))
        }
        Err(RawVideoError::SkipBeyondData { skip, len }) => {
            return Err(Failure::new(format!(
                "--skip {skip}: beyond the end of the input ({len} bytes)"
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let mut err = std::io::stderr();
    if args.verbose {
        for note in report.notes() {
            let _ = writeln!(err, "{PROGRAM}: {note}");
        }
        if let Some(note) = report.trailing_note() {
            let _ = writeln!(err, "{PROGRAM}: {note} (use --frames for all frames)");
        }
    }
    if let Some(warning) = report.mismatch() {
        let _ = writeln!(err, "{PROGRAM}: warning: {warning}");
    }
    Ok(if report.is_incomplete() {
        Outcome::Damaged
    } else {
        Outcome::Intact
    })
}
