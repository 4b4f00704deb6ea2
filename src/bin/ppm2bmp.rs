//! ppm2bmp: convert PNM images (P1-P6) to Windows BMP files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use pktools::bmp::{self, Depth};
use pktools::cli::{self, Failure, Outcome};
use pktools::convert::{self, ConvertError, Options};
use pktools::io::Input;
use pktools::pnm::{Reader, Source};

const PROGRAM: &str = "ppm2bmp";

/// Convert PNM images (PBM, PGM, PPM; plain or raw) to Windows BMP files.
///
/// Reads one image, or several concatenated, and writes one BMP for each, one after another
/// on standard output (what `ffmpeg -f image2pipe -c:v bmp -i -` reads). PPM becomes 24-bit
/// BMP, PGM 8-bit with a grey palette, PBM 1-bit; samples are scaled from maxval to 8 bits
/// with netpbm's rounding.
#[derive(Parser)]
#[command(name = PROGRAM, version)]
struct Args {
    /// PNM input; standard input when absent or "-".
    file: Option<PathBuf>,

    /// Bits per pixel for every image: 1, 8 or 24. Default: 1 for PBM, 8 for PGM, 24 for
    /// PPM. A depth that cannot hold the image exactly (8 for PPM) is refused.
    #[arg(long, value_name = "BITS", value_parser = parse_bpp)]
    bpp: Option<Depth>,

    /// Store rows top-down (negative height) and stream them as they arrive, in constant
    /// memory. Without it, an image read from a pipe is held in memory until its last row.
    #[arg(long)]
    top_down: bool,

    /// Write to standard output even if it is a terminal.
    #[arg(long)]
    force: bool,
}

fn parse_bpp(text: &str) -> Result<Depth, String> {
    text.parse()
        .ok()
        .and_then(Depth::from_bits)
        .ok_or_else(|| format!("expected 1, 8 or 24, found \"{text}\""))
}

fn main() -> ExitCode {
    let args = match cli::parse_args::<Args>(PROGRAM) {
        Ok(args) => args,
        Err(code) => return code,
    };
    cli::finish(PROGRAM, run(&args))
}

fn run(args: &Args) -> Result<Outcome, Failure> {
    cli::refuse_same_files(args.file.as_deref(), &[], true)?;
    cli::refuse_terminal_stdout(args.force)?;
    let mut input = Input::open(args.file.as_deref())?;
    let source = match &mut input {
        Input::Mapped(map) => Source::file_map(map),
        Input::Stream(stream) => Source::stream(stream),
    };
    let options = Options {
        depth: args.bpp,
        top_down: args.top_down,
    };
    // Our own handle on stdout: plain writes and writev, none of the line buffering that
    // `Stdout` puts in front of every write; bounded messages on a datagram socket.
    let mut out = cli::stdout_stream()?;
    match convert::convert(&mut Reader::new(source), &mut out, &options) {
        Ok(_) => Ok(Outcome::Intact),
        Err(ConvertError::Write(e)) => Err(cli::io_context("writing output")(e)),
        Err(ConvertError::Bmp {
            image,
            error: bmp::BmpError::DepthTooSmall { bits, what, needed },
        }) => {
            let at = if image > 1 {
                format!("image {image}: ")
            } else {
                String::new()
            };
            Err(Failure::new(format!(
                "{at}--bpp {bits} cannot hold a {what} image exactly; use --bpp {needed} or more"
            )))
        }
        Err(e) => Err(Failure::new(e.to_string())),
    }
}
