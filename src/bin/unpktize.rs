//! unpktize: find packets in a (possibly damaged) byte stream and put every received byte
//! at its offset (see unpktize(1)).

use clap::{Parser, ValueEnum};
use pktools::cli::{self, Failure, Outcome, Progress};
use pktools::descriptor;
use pktools::io::{self as pio, Input};
use pktools::reassemble::damage::{DamageMap, RangeSink};
use pktools::reassemble::output::{FileOutput, Output, StreamOutput};
use pktools::reassemble::report::{self, JsonReport};
use pktools::reassemble::{self, DamagedPolicy, Reassembler, Settings, MAX_WINDOW_PACKETS};
use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

const PROGRAM: &str = "unpktize";

/// Reassemble a packet stream: verify, reorder, place, fill what is lost.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, max_term_width = 100)]
struct Args {
    /// Write to FILE at each packet's offset as packets arrive (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Fill lost bytes with BYTE (0-255) or a repeating hex pattern such as ff00ff.
    #[arg(long, value_name = "PATTERN", default_value = "00", value_parser = parse_fill)]
    fill: FillPattern,

    /// What to do with a payload that fails its CRC: keep its bytes, or fill it as lost.
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = Damaged::Keep)]
    damaged: Damaged,

    /// Reorder window in packets (default: about 1 MiB of payload).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_WINDOW_PACKETS as i64))]
    window: Option<u32>,

    /// Follow only the transfer with this id (default: the first one seen).
    #[arg(long, value_name = "ID", value_parser = cli::parse_transfer_id)]
    id: Option<u16>,

    /// Live view: flush after every advance, and fill a gap that holds up later packets
    /// for longer than --max-delay.
    #[arg(long)]
    live: bool,

    /// In live mode, how long a gap may hold up later packets, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    max_delay: u64,

    /// Write the damage map and counts as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,

    /// Print what is being received (from the first descriptor: name, type, length, image
    /// geometry) on stdout, and exit.
    #[arg(long)]
    info: bool,

    /// Print a summary on stderr.
    #[arg(short, long)]
    verbose: bool,

    /// Write binary output even to a terminal.
    #[arg(long)]
    force: bool,

    /// Input file (default: standard input).
    file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Damaged {
    Keep,
    Fill,
}

/// Bytes of the fill pattern (a newtype: clap would take a bare `Vec` as a list of values).
#[derive(Debug, Clone)]
struct FillPattern(Vec<u8>);

fn parse_fill(text: &str) -> Result<FillPattern, String> {
    cli::parse_hex_pattern(text)
        .map(FillPattern)
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    match cli::parse_args::<Args>(PROGRAM) {
        Ok(args) => cli::finish(PROGRAM, run(args)),
        Err(code) => code,
    }
}

fn run(args: Args) -> Result<Outcome, Failure> {
    if args.info {
        return info(&args);
    }
    let settings = Settings {
        fill: args.fill.0.clone(),
        damaged: match args.damaged {
            Damaged::Keep => DamagedPolicy::Keep,
            Damaged::Fill => DamagedPolicy::Fill,
        },
        window_packets: args.window.map(|w| w as usize),
        transfer_id: args.id,
        live_latency: args.live.then(|| Duration::from_millis(args.max_delay)),
    };
    if args.output.is_none() {
        cli::refuse_terminal_stdout(args.force)?;
    }
    let input = Input::open(args.file.as_deref())?;
    // Interrupted, still write what arrived and the report, then die of the signal.
    pio::stop_on_signals();
    let report_file = match &args.report {
        Some(path) => {
            let file = File::create(path)
                .map_err(cli::io_context(format_args!("--report {}", path.display())))?;
            let json = JsonReport::new(BufWriter::new(file))
                .map_err(cli::io_context("writing the report"))?;
            Some(Rc::new(RefCell::new(json)))
        }
        None => None,
    };
    let sink = report_file
        .clone()
        .map(|r| Box::new(r) as Box<dyn RangeSink>);
    let damage = DamageMap::new(sink);
    let report = match &args.output {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(path)
                .map_err(cli::io_context(format_args!("{}", path.display())))?;
            if file.metadata().is_ok_and(|m| m.is_file()) {
                reassemble_into(FileOutput::new(file), settings, damage, input, &args)?
            } else {
                // A device or a FIFO (/dev/null, /dev/stdout) takes no writes at offsets.
                reassemble_into(StreamOutput::new(file), settings, damage, input, &args)?
            }
        }
        None => {
            let out = StreamOutput::new(cli::stdout_file()?);
            reassemble_into(out, settings, damage, input, &args)?
        }
    };
    if let Some(json) = report_file {
        json.borrow_mut()
            .finish(&report)
            .map_err(cli::io_context("writing the report"))?;
    }
    if args.verbose {
        let mut err = std::io::stderr().lock();
        for line in report::summary_lines(&report) {
            let _ = writeln!(err, "{PROGRAM}: {line}");
        }
    }
    Ok(if report.intact() {
        Outcome::Intact
    } else {
        Outcome::Damaged
    })
}

/// `--info`: describe the transfer from its first descriptor.
fn info(args: &Args) -> Result<Outcome, Failure> {
    let input = Input::open(args.file.as_deref())?;
    let found = match input {
        Input::Mapped(map) => descriptor::find_first(&mut &map[..], args.id),
        Input::Stream(mut reader) => descriptor::find_first(&mut reader, args.id),
    }
    .map_err(cli::io_context("reading input"))?;
    let Some((header, d)) = found else {
        return Err(Failure::new("no descriptor found in the input"));
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "transfer {:#06x}: {}",
        header.transfer_id,
        d.summary(header.total_len)
    )
    .map_err(cli::io_context("writing"))?;
    Ok(Outcome::Intact)
}

fn reassemble_into<O: Output>(
    out: O,
    settings: Settings,
    damage: DamageMap,
    input: Input,
    args: &Args,
) -> Result<reassemble::Report, Failure> {
    let mut r = Reassembler::new(settings, out, damage);
    let writing = cli::io_context("writing output");
    let fed = match input {
        Input::Mapped(map) => {
            reassemble::run_slice(&map, &mut r, &mut |n| pio::release(&map, 0..n))
        }
        Input::Stream(mut reader) => {
            let mut progress = Progress::new(true);
            let stdin_fd = std::io::stdin().as_raw_fd();
            // A named input cannot be polled from here: live mode then flushes per read only.
            let from_stdin = args.file.is_none();
            let wait = move |t: Duration| !from_stdin || pio::wait_readable(stdin_fd, t);
            let live: Option<&dyn Fn(Duration) -> bool> = args.live.then_some(&wait);
            reassemble::run_stream(&mut reader, &mut r, live, &mut |r| {
                if progress.due() {
                    progress.draw(&format!(
                        "{PROGRAM}: {}",
                        report::progress_line(r, progress.elapsed())
                    ));
                }
            })
            .inspect(|_| progress.clear())
        }
    };
    fed.map_err(writing)?;
    let (report, _out) = r.finish().map_err(cli::io_context("writing output"))?;
    Ok(report)
}
