//! unpktize: find packets in a (possibly damaged) byte stream and put every received byte
//! at its offset (see unpktize(1)).

use clap::{Parser, ValueEnum};
use pktools::cli::{self, Failure, Outcome, Progress};
use pktools::conceal::{self, Geometry};
use pktools::descriptor::{self, MediaType};
use pktools::io::{self as pio, Input};
use pktools::reassemble::damage::{DamageMap, RangeSink};
use pktools::reassemble::image_output::{
    ConcealingStream, HeldOutput, HoldLimit, ImageOutput, ImageSource,
};
use pktools::reassemble::map_sink::MapSink;
use pktools::reassemble::output::{FileOutput, LentInput, Output, StreamOutput};
use pktools::reassemble::report::{self, JsonReport};
use pktools::reassemble::resume::Resume;
use pktools::reassemble::{
    self, DamagedPolicy, ReassembleError, Reassembler, Settings, MAX_WINDOW_PACKETS,
};
use pktools::wire::auth::Key;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

/// The largest transfer written to standard output unless --max-size says otherwise: a
/// forged total must not make a receiver write fill without end.
const DEFAULT_STDOUT_MAX_SIZE: u64 = 16 << 30;

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

    /// Refuse a transfer that claims or reaches more than SIZE bytes (suffixes k, M, G,
    /// T; "none" for no limit). Default: 16G to standard output, none with -o.
    #[arg(long, value_name = "SIZE", value_parser = parse_max_size)]
    max_size: Option<MaxSize>,

    /// Take only packets authenticated with the secret in FILE (at least 16 bytes, as
    /// given to pktize --key); others are counted and never written.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,

    /// Hide lost pixels of an image (PNM or BMP, or raw pixels with --image): interpolate
    /// them from the nearest intact pixels. With --damaged fill, damaged pixels too.
    #[arg(long)]
    conceal: bool,

    /// The data is raw pixels of this size and pixel format (ffmpeg's pix_fmt names),
    /// for --conceal and --map: WIDTHxHEIGHT[:PIX_FMT], PIX_FMT default rgb24.
    #[arg(long, value_name = "WxH[:PIX_FMT]", value_parser = parse_image)]
    image: Option<ImageSpec>,

    /// Write the whole transfer to standard output each time BYTES more have arrived,
    /// and at the end: a stream of whole images, sharper as packets land. Holds the
    /// transfer in memory (see --max-hold).
    #[arg(long, value_name = "BYTES", value_parser = parse_every)]
    every: Option<u64>,

    /// Most memory for a transfer held whole (--every, or a carousel to standard output):
    /// suffixes k, M, G.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_hold)]
    max_hold: u64,

    /// Draw the damage as a PPM picture in FILE: one pixel per image pixel (or one cell
    /// per packet for other data), coloured by what became of it (see unpktize(1)).
    #[arg(long, value_name = "FILE")]
    map: Option<PathBuf>,

    /// Blend the received image under the map's colours, PERCENT of colour (with -o).
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    map_blend: Option<u8>,

    /// Read the input to its end even when a carousel's transfer is already whole
    /// (by default unpktize stops once it holds every byte).
    #[arg(long)]
    keep_reading: bool,

    /// Write the damage map and counts as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,

    /// Continue the incomplete reception into -o FILE that wrote the --report REPORT:
    /// write only what it lacks; refuse a transfer that is not the one FILE holds.
    #[arg(long, value_name = "REPORT")]
    resume: Option<PathBuf>,

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

/// A size limit, or none (a newtype: clap would take a bare `Option` as optional).
#[derive(Debug, Clone, Copy)]
struct MaxSize(Option<u64>);

fn parse_max_size(text: &str) -> Result<MaxSize, String> {
    if text == "none" {
        return Ok(MaxSize(None));
    }
    cli::parse_size(text)
        .map(|n| MaxSize(Some(n)))
        .map_err(|e| e.to_string())
}

/// A raw image's geometry (a newtype, parsed once).
#[derive(Debug, Clone)]
struct ImageSpec(Geometry);

fn parse_image(text: &str) -> Result<ImageSpec, String> {
    let (w, h, format) = conceal::parse_spec(text).map_err(|e| e.to_string())?;
    conceal::raw(format, w, h, 0)
        .map(ImageSpec)
        .map_err(|e| e.to_string())
}

fn parse_every(text: &str) -> Result<u64, String> {
    match cli::parse_size(text) {
        Ok(0) => Err("must be at least 1 byte".to_string()),
        other => other.map_err(|e| e.to_string()),
    }
}

fn parse_hold(text: &str) -> Result<u64, String> {
    cli::parse_size(text).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    match cli::parse_args::<Args>(PROGRAM) {
        Ok(args) => cli::finish(PROGRAM, run(args)),
        Err(code) => code,
    }
}

fn run(args: Args) -> Result<Outcome, Failure> {
    let key = match &args.key {
        Some(path) => Some(Key::from_file(path).map_err(|e| Failure::new(e.to_string()))?),
        None => None,
    };
    if args.info {
        return info(&args, key.as_ref());
    }
    // `-o -` is standard output, as coreutils have it.
    let output = args.output.as_deref().filter(|p| *p != Path::new("-"));
    if let (Some(out), Some(report)) = (output, args.report.as_deref()) {
        if same_file(out, report) {
            return Err(Failure::new(format!(
                "--report and -o name the same file, {}: the report would overwrite the data",
                out.display()
            )));
        }
    }
    let resume = match (&args.resume, output) {
        (Some(_), None) => {
            return Err(Failure::new(
                "--resume continues into a file: give it with -o FILE",
            ))
        }
        (Some(path), Some(out)) => Some(load_resume(path, out, args.id)?),
        (None, _) => None,
    };
    let max_len = match args.max_size {
        Some(MaxSize(limit)) => limit,
        // A forged total must not make a pipe receiver write fill without end.
        None if output.is_none() => Some(DEFAULT_STDOUT_MAX_SIZE),
        None => None,
    };
    let settings = Settings {
        fill: args.fill.0.clone(),
        damaged: match args.damaged {
            Damaged::Keep => DamagedPolicy::Keep,
            Damaged::Fill => DamagedPolicy::Fill,
        },
        window_packets: args.window.map(|w| w as usize),
        transfer_id: args.id,
        live_latency: args.live.then(|| Duration::from_millis(args.max_delay)),
        max_len,
        stop: pio::stop_requested,
        stop_when_whole: !args.keep_reading,
        key,
        snapshot_every: args.every,
        resume: resume.clone(),
    };
    if args.every.is_some() && output.is_some() {
        return Err(Failure::new(
            "--every writes snapshots to standard output; -o FILE is itself the live picture",
        ));
    }
    let image = args.image.as_ref().map(|i| i.0.clone());
    let source = match &image {
        Some(g) => ImageSource::Given(g.clone()),
        None => ImageSource::Head,
    };
    if output.is_none() {
        cli::refuse_terminal_stdout(args.force)?;
    }
    let input = Input::open(args.file.as_deref())?;
    // Interrupted, still write what arrived and the report, then die of the signal.
    pio::stop_on_signals();
    // Resuming with the report in place: write the new one beside it, and put it in
    // place only at the end (a transfer that does not match leaves the old one).
    let report_path = match (&args.report, &args.resume) {
        (Some(r), Some(old)) if same_file(r, old) => {
            let mut name = r.file_name().unwrap_or_default().to_os_string();
            name.push(".new");
            Some(r.with_file_name(name))
        }
        (r, _) => r.clone(),
    };
    let sink = match &report_path {
        Some(path) => {
            let file = File::create(path)
                .map_err(cli::io_context(format_args!("--report {}", path.display())))?;
            let json = JsonReport::new(BufWriter::new(file))
                .map_err(cli::io_context("writing the report"))?;
            Some(Box::new(json) as Box<dyn RangeSink>)
        }
        None => None,
    };
    let sink = match &args.map {
        Some(path) => {
            let file = File::create(path)
                .map_err(cli::io_context(format_args!("--map {}", path.display())))?;
            let map = MapSink::new(
                BufWriter::new(file),
                sink,
                image.clone(),
                output.map(Path::to_path_buf),
                args.map_blend,
            );
            Some(Box::new(map) as Box<dyn RangeSink>)
        }
        None => sink,
    };
    let mut damage = DamageMap::new(sink);
    if args.map.is_some() {
        damage.record_repairs();
    }
    let received = match output {
        Some(path) if resume.is_some() => {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(cli::io_context(format_args!("{}", path.display())))?;
            let out = FileOutput::existing(file)
                .map_err(cli::io_context(format_args!("{}", path.display())))?;
            reassemble_into(out, settings, damage, input, &args)
        }
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .read(true)
                .write(true)
                .truncate(true)
                .open(path)
                .or_else(|_| {
                    // A device or FIFO may be writable only.
                    OpenOptions::new().write(true).truncate(true).open(path)
                })
                .map_err(cli::io_context(format_args!("{}", path.display())))?;
            if file.metadata().is_ok_and(|m| m.is_file()) {
                let mut out = FileOutput::new(file);
                if args.conceal {
                    out = out.concealing(source);
                }
                reassemble_into(out, settings, damage, input, &args)
            } else {
                // A device or a FIFO (/dev/null, /dev/stdout) takes no writes at offsets.
                reassemble_into(StreamOutput::new(file), settings, damage, input, &args)
            }
        }
        None if args.every.is_some() => {
            let conceal = args.conceal.then_some(source);
            let out = HeldOutput::new(
                cli::stdout_file()?,
                args.max_hold,
                args.fill.0.clone(),
                conceal,
                true,
            );
            reassemble_into(out, settings, damage, input, &args)
        }
        None if args.conceal => {
            let out = ConcealingStream::new(StreamOutput::new(cli::stdout_file()?), source);
            reassemble_into(out, settings, damage, input, &args)
        }
        None => {
            let out = StreamOutput::new(cli::stdout_file()?).with_hold_limit(args.max_hold);
            reassemble_into(out, settings, damage, input, &args)
        }
    };
    // Resuming, the new report replaces the old one only when the transfer matched.
    let matched = received
        .as_ref()
        .is_ok_and(|r| r.mismatch.is_none() && !r.transfers.is_empty());
    if let (Some(written), Some(asked)) = (&report_path, &args.report) {
        if args.resume.is_some() && !matched {
            let _ = std::fs::remove_file(written);
        } else if written != asked {
            std::fs::rename(written, asked).map_err(cli::io_context(format_args!(
                "--report {}",
                asked.display()
            )))?;
        }
    }
    let report = received?;
    if let Some(why) = &report.mismatch {
        let out = output.expect("only a resume into a file can mismatch");
        return Err(Failure::new(format!("{}: {why}", out.display())));
    }
    if args.verbose {
        let mut err = std::io::stderr().lock();
        for line in report::summary_lines(&report) {
            let _ = writeln!(err, "{PROGRAM}: {line}");
        }
    }
    if let Some(r) = resume.as_ref().filter(|_| report.transfers.is_empty()) {
        return Err(Failure::new(format!(
            "no packets of the resumed transfer {:#06x} in the input",
            r.id
        )));
    }
    if let Some(warning) = compressed_image_warning(&report) {
        eprintln!("{PROGRAM}: warning: {warning}");
    }
    if let Some(why) = &report.refused {
        return Err(Failure::new(format!("{why} (see --max-size)")));
    }
    let c = &report.counts;
    if args.key.is_some() && c.authentic == 0 && c.rejected > 0 {
        return Err(Failure::new("no packet passed authentication: wrong key?"));
    }
    if args.key.is_some() && c.authentic == 0 && c.unauthenticated > 0 {
        return Err(Failure::new(
            "no packet passed authentication: the packets carry no tag (sent without --key)",
        ));
    }
    if c.keyed > 0 && c.packets_found() == c.keyed {
        return Err(Failure::new("packets are authenticated: use --key"));
    }
    if report.counts.packets_found() == 0 && !pio::stop_requested() {
        // Resuming follows only the resumed transfer.
        let followed = args.id.or(resume.as_ref().map(|r| r.id));
        return Err(Failure::new(match followed {
            Some(id) => format!("no pktize packets of transfer {id:#06x} in the input"),
            None => "no pktize packets in the input".to_string(),
        }));
    }
    Ok(if report.intact() {
        Outcome::Intact
    } else {
        Outcome::Damaged
    })
}

/// A compressed image that lost bytes mostly does not decode: say so, with the remedy.
fn compressed_image_warning(report: &reassemble::Report) -> Option<String> {
    if report.damage.lost_bytes + report.damage.damaged_bytes == 0 {
        return None;
    }
    let kind = report
        .transfers
        .iter()
        .filter_map(|t| t.descriptor.as_ref())
        .map(|d| d.media_type)
        .find(|m| matches!(m, MediaType::Jpeg | MediaType::Png))?;
    let restart_markers = report
        .transfers
        .iter()
        .filter_map(|t| t.descriptor.as_ref())
        .any(|d| d.head.windows(2).any(|w| w == [0xff, 0xdd]));
    if kind == MediaType::Jpeg && restart_markers {
        return Some(
            "a JPEG with restart markers lost data: decoders resynchronise, and the rows of \
             the lost packets show as grey bands"
                .to_string(),
        );
    }
    Some(format!(
        "a {} that lost data mostly does not decode; send PPM, BMP or raw pixels, \
         use --fec, or for JPEG add restart markers (jpegtran -restart 1)",
        kind.name().to_uppercase()
    ))
}

/// Read the report of the reception to continue into `out`, and check `out` against it.
fn load_resume(path: &Path, out: &Path, id: Option<u16>) -> Result<Resume, Failure> {
    if same_file(out, path) {
        return Err(Failure::new(format!(
            "--resume and -o name the same file, {}",
            out.display()
        )));
    }
    let context =
        |e: &dyn std::fmt::Display| Failure::new(format!("--resume {}: {e}", path.display()));
    let file = File::open(path).map_err(|e| context(&e))?;
    let resume = Resume::from_reader(file).map_err(|e| context(&e))?;
    if id.is_some_and(|id| id != resume.id) {
        return Err(Failure::new(format!(
            "--id differs from the transfer {:#06x} that --resume continues",
            resume.id
        )));
    }
    let len = std::fs::metadata(out)
        .map_err(cli::io_context(format_args!("{}", out.display())))?
        .len();
    resume
        .check_file_len(len)
        .map_err(|e| Failure::new(format!("{}: {e}", out.display())))?;
    Ok(resume)
}

/// True when two paths name one file: the same inode if both exist, else the same path.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        (Err(_), Err(_)) => absolute(a) == absolute(b),
        _ => false,
    }
}

/// A path made absolute through its (existing) directory, for comparing new files' names.
fn absolute(p: &Path) -> Option<PathBuf> {
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.canonicalize().ok()?,
        _ => std::env::current_dir().ok()?,
    };
    Some(dir.join(p.file_name()?))
}

/// `--info`: describe the transfer from its first descriptor.
fn info(args: &Args, key: Option<&Key>) -> Result<Outcome, Failure> {
    let input = Input::open(args.file.as_deref())?;
    let found = match input {
        Input::Mapped(map) => descriptor::find_first(&mut &map[..], args.id, key),
        Input::Stream(mut reader) => descriptor::find_first(&mut reader, args.id, key),
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

fn reassemble_into<O: Output + ImageOutput>(
    out: O,
    settings: Settings,
    damage: DamageMap,
    input: Input,
    args: &Args,
) -> Result<reassemble::Report, Failure> {
    let mut r = Reassembler::new(settings, out, damage);
    let fed = match input {
        Input::Mapped(map) => {
            let map = Rc::new(map);
            let lent: LentInput = map.clone();
            reassemble::run_slice(lent, &mut r, &mut |n| pio::release(&map, 0..n))
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
    match fed {
        // Asked to stop while writing fill: keep what was settled, write the report.
        Ok(()) | Err(ReassembleError::Stopped) => {}
        Err(ReassembleError::Io(e)) => return Err(cli::io_context("writing output")(e)),
        Err(e @ (ReassembleError::TooLarge { .. } | ReassembleError::Mismatch(_))) => {
            return Err(Failure::new(e.to_string()))
        }
    }
    let (report, out) = r.finish().map_err(|e| match report::report_error(&e) {
        Some(inner) => Failure::new(format!("writing the report: {inner}")),
        None => match e.get_ref().and_then(|i| i.downcast_ref::<HoldLimit>()) {
            Some(limit) => Failure::new(format!("{limit} (see --max-hold)")),
            None => cli::io_context("writing output")(e),
        },
    })?;
    if args.verbose && args.conceal {
        if let Some(note) = out.note() {
            eprintln!("{PROGRAM}: {note}");
        }
    }
    Ok(report)
}
