//! unpktize: find packets in a (possibly damaged) byte stream and put every received byte
//! at its offset (see unpktize(1)).

use clap::{Parser, ValueEnum};
use pktools::cli::{self, Failure, Outcome, Progress};
use pktools::conceal;
use pktools::descriptor;
use pktools::image::{self, DescribedImage, Geometry};
use pktools::io::{self as pio, Input};
use pktools::reassemble::receive::{Feed, Plan, Problem, ReceiveError, Reception, Role, SizeLimit};
use pktools::reassemble::report;
use pktools::reassemble::{DamagedPolicy, Limits, LossyCompressed, Settings, MAX_WINDOW_PACKETS};
use pktools::wire::auth::Key;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
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

    /// Refuse a transfer that claims or reaches more than SIZE bytes (suffixes k, M, G,
    /// T; "none" for no limit). Default: 16G to standard output, none with -o.
    #[arg(long, value_name = "SIZE", value_parser = parse_max_size)]
    max_size: Option<MaxSize>,

    /// Take only packets authenticated with the secret in FILE (at least 16 bytes, as
    /// given to pktize --key); others are counted and never written. Encrypted packets
    /// (pktize --encrypt) are deciphered with it.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,

    /// Hide lost pixels of an image or of every frame of a video (PNM, BMP, Y4M, or raw
    /// pixels with --image): interpolate them from the nearest intact pixels (spatial),
    /// or take them from the previous frame (temporal); auto, the default, picks per
    /// region: temporal where the scene is still. With --damaged fill, damaged pixels too.
    /// An indexed JPEG (always concealed) is then written as its picture, PPM or PGM.
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true,
          default_missing_value = "auto")]
    conceal: Option<ConcealMode>,

    /// The data is raw pixels of this size and pixel format (ffmpeg's pix_fmt names),
    /// one frame or a stream of frames, for --conceal and --map: WIDTHxHEIGHT[:PIX_FMT],
    /// PIX_FMT default rgb24.
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

    /// Receive UDP datagrams on [ADDRESS]:PORT ([IPV6]:PORT) instead of reading a file, one
    /// packet per datagram (a multicast ADDRESS is joined).
    #[arg(long, value_name = "[ADDR]:PORT", conflicts_with = "file")]
    udp: Option<String>,

    /// With --udp: the interface to join a multicast group on: its IPv4 address, or its
    /// name or number (IPv6).
    #[arg(long, value_name = "ADDR|NAME", requires = "udp")]
    multicast_if: Option<pktools::io::udp::Interface>,

    /// With --udp: end the reception after SECONDS without a datagram.
    #[arg(long, value_name = "SECONDS", requires = "udp")]
    idle: Option<f64>,

    /// Input file (default: standard input).
    file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ConcealMode {
    Auto,
    Spatial,
    Temporal,
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
    let (w, h, format) = image::parse_spec(text).map_err(|e| e.to_string())?;
    image::raw(format, w, h, 0)
        .map(|g| ImageSpec(g.into_frames(0, Vec::new())))
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
    let plan = Plan {
        settings: Settings {
            fill: args.fill.0.clone(),
            damaged: match args.damaged {
                Damaged::Keep => DamagedPolicy::Keep,
                Damaged::Fill => DamagedPolicy::Fill,
            },
            window_packets: args.window.map(|w| w as usize),
            transfer_id: args.id,
            live_latency: args.live.then(|| Duration::from_millis(args.max_delay)),
            max_len: None,
            stop_when_whole: !args.keep_reading,
            key,
            snapshot_every: args.every,
            resume: None,
            spill: Some(pktools::fec::fountain::temp_store),
            limits: Limits {
                hold_bytes: args.max_hold,
                ..Limits::default()
            },
        },
        size_limit: match args.max_size {
            Some(MaxSize(Some(n))) => SizeLimit::At(n),
            Some(MaxSize(None)) => SizeLimit::Unlimited,
            None => SizeLimit::Default,
        },
        output: args.output.clone(),
        conceal: args.conceal.is_some(),
        conceal_mode: match args.conceal {
            Some(ConcealMode::Spatial) => conceal::Mode::Spatial,
            Some(ConcealMode::Temporal) => conceal::Mode::Temporal,
            _ => conceal::Mode::Auto,
        },
        image: args.image.as_ref().map(|i| i.0.clone()),
        map: args.map.clone(),
        map_blend: args.map_blend,
        report: args.report.clone(),
        resume: args.resume.clone(),
        input: args.file.clone(),
    };
    let reception = Reception::new(plan).map_err(failure)?;
    if reception.to_stdout() {
        cli::refuse_terminal_stdout(args.force)?;
    }
    let udp = match &args.udp {
        Some(text) => {
            let at = pktools::io::udp::parse_addr(text)
                .map_err(|e| Failure::new(format!("--udp: {e}")))?;
            let idle = match args.idle {
                Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
                Some(s) => {
                    return Err(Failure::new(format!(
                        "--idle: expected a positive number of seconds, found {s}"
                    )))
                }
                None => None,
            };
            let rx = pktools::io::udp::UdpReceiver::bind(at, args.multicast_if, idle)
                .map_err(|e| Failure::new(format!("--udp {text}: {e}")))?;
            if args.verbose {
                // The port the system chose for port 0, so a script (or a test) can send
                // there without racing for a port that was free a moment ago.
                if let Ok(bound) = rx.local_addr() {
                    eprintln!("{PROGRAM}: listening on {bound}");
                }
            }
            Some(rx)
        }
        None => None,
    };
    // With --udp the input is not read: an empty one stands in.
    let input = match udp {
        Some(_) => Input::Stream(Box::new(std::io::empty())),
        None => Input::open(args.file.as_deref())?,
    };
    // Interrupted, still write what arrived and the report, then die of the signal.
    pio::stop_on_signals();
    let mut progress = Progress::new(true);
    let from_stdin = args.file.as_deref().is_none_or(|f| f == Path::new("-"));
    let feed = Feed {
        stop: pio::stop_requested,
        live_fd: from_stdin.then(|| std::io::stdin().as_raw_fd()),
        udp,
        on_progress: &mut |status| {
            if progress.due() {
                let line = report::progress_line(status, progress.elapsed());
                progress.draw(&format!("{PROGRAM}: {line}"));
            }
        },
    };
    let received = reception.run(input, feed);
    progress.clear();
    let received = received.map_err(failure)?;
    let problem = received.problem();
    if let Some(p @ Problem::Mismatch { .. }) = problem {
        return Err(Failure::new(p.to_string()));
    }
    if args.verbose {
        let mut err = std::io::stderr().lock();
        for line in report::summary_lines(&received.report) {
            let _ = writeln!(err, "{PROGRAM}: {line}");
        }
        if args.conceal.is_some() && !received.jpeg {
            if let Some(note) = &received.note {
                let _ = writeln!(err, "{PROGRAM}: {note}");
            }
        }
    }
    if let Some(w) = &received.warning {
        eprintln!("{PROGRAM}: warning: {w}; not concealed from there on");
    }
    if received.jpeg {
        // Which MCUs were lost (and concealed), or why the JPEG could not be rebuilt.
        if let Some(note) = &received.note {
            eprintln!("{PROGRAM}: {note}");
        }
    }
    if !matches!(problem, Some(Problem::ResumedTransferAbsent(_))) {
        if let Some(kind) = received.report.lossy_compressed_image() {
            eprintln!("{PROGRAM}: warning: {}", compressed_warning(kind));
        }
    }
    match problem {
        // An indexed JPEG with something to say was not given back as it was sent.
        None if received.report.intact() && !(received.jpeg && received.note.is_some()) => {
            Ok(Outcome::Intact)
        }
        None => Ok(Outcome::Damaged),
        Some(Problem::TooLarge(why)) => Err(Failure::new(format!("{why} (see --max-size)"))),
        Some(Problem::Untagged) => Err(Failure::new(
            "no packet passed authentication: the packets carry no tag (sent without --key)",
        )),
        Some(Problem::NeedsKey) => Err(Failure::new("packets are authenticated: use --key")),
        Some(Problem::NeedsKeyToDecrypt) => Err(Failure::new("packets are encrypted: use --key")),
        Some(p) => Err(Failure::new(p.to_string())),
    }
}

/// What to tell of a compressed image that lost data, with the remedy.
fn compressed_warning(kind: LossyCompressed) -> &'static str {
    match kind {
        LossyCompressed::JpegWithRestartMarkers => {
            "a JPEG sent as plain bytes, with restart markers, lost data: decoders \
             resynchronise at the next marker; a baseline copy (jpegtran in.jpg > out.jpg) \
             would go indexed, every packet decodable alone"
        }
        LossyCompressed::Jpeg => {
            "a JPEG sent as plain bytes (not baseline) that lost data mostly does not decode; \
             make a baseline copy (jpegtran in.jpg > out.jpg), which pktize sends so that \
             every packet decodes alone, or use --fec"
        }
        LossyCompressed::Png => {
            "a PNG that lost data mostly does not decode; send PPM, BMP or raw pixels, or \
             use --fec"
        }
    }
}

/// The one-line message for a reception that could not start or go on, naming the option
/// it is about.
fn failure(e: ReceiveError) -> Failure {
    match e {
        ReceiveError::SameFile {
            first,
            second,
            path,
        } => {
            let why = match first {
                Role::Input => "writing it would destroy the input",
                Role::Resume => "writing it would destroy the report to resume",
                _ => "the two outputs would overwrite each other",
            };
            let path = path
                .map(|p| format!(", {}", p.display()))
                .unwrap_or_default();
            Failure::new(format!(
                "{} and {} name the same file{path}: {why}",
                role_name(first),
                role_name(second)
            ))
        }
        ReceiveError::ResumeWithoutFile => {
            Failure::new("--resume continues into a file: give it with -o FILE")
        }
        ReceiveError::ResumeReport(path, e) => {
            Failure::new(format!("--resume {}: {e}", path.display()))
        }
        ReceiveError::ResumeFile(path, e) => Failure::new(format!("{}: {e}", path.display())),
        ReceiveError::ResumeIdDiffers(id) => Failure::new(format!(
            "--id differs from the transfer {id:#06x} that --resume continues"
        )),
        ReceiveError::SnapshotsToFile => Failure::new(
            "--every writes snapshots to standard output; -o FILE is itself the live picture",
        ),
        ReceiveError::File { role, path, source } => {
            let what = match role {
                Role::Output | Role::Input | Role::Stdout => "",
                Role::Report => "--report ",
                Role::Map => "--map ",
                Role::Resume => "--resume ",
            };
            match role {
                Role::Resume => Failure::new(format!("{what}{}: {source}", path.display())),
                _ => cli::io_context(format_args!("{what}{}", path.display()))(source),
            }
        }
        ReceiveError::Stdout(e) if e.kind() == std::io::ErrorKind::NotConnected => {
            Failure::new(e.to_string())
        }
        ReceiveError::Stdout(e) => cli::io_context("stdout")(e),
        ReceiveError::Refused(e) => Failure::new(e.to_string()),
        ReceiveError::Write(e) | ReceiveError::OutOfRoom(e, _) => {
            cli::io_context("writing output")(e)
        }
        ReceiveError::Untrusted(e, _) => Failure::new(format!(
            "writing output: {e} (what the file holds cannot be trusted: receive it again)"
        )),
        ReceiveError::Read(e) | ReceiveError::InputFailed(e, _) => {
            cli::io_context("reading input")(e)
        }
        ReceiveError::WriteReport(e) => Failure::new(format!("writing the report: {e}")),
        ReceiveError::WriteMap(e) => Failure::new(format!("writing the map: {e}")),
        ReceiveError::HoldLimit(limit) => Failure::new(format!("{limit} (see --max-hold)")),
    }
}

/// How the messages name each of the reception's files.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::Output => "-o",
        Role::Report => "--report",
        Role::Map => "--map",
        Role::Resume => "--resume",
        Role::Input => "the input",
        Role::Stdout => "standard output",
    }
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
