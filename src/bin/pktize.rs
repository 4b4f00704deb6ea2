//! pktize: cut a byte stream into self-describing packets (see pktize(1), pktize(5)).

use clap::Parser;
use pktools::cli::{self, Failure, Outcome};
use pktools::descriptor::{MediaType, NAME_MAX};
use pktools::fec::Scheme;
use pktools::io::{udp, Input, ReleaseBehind};
use pktools::packetize::jpeg::{self, Prepared};
use pktools::packetize::{self, Coding, Describe, Interleave, Passes, Settings, SettingsError};
use pktools::wire::auth::{self, Key, Signer};
use pktools::wire::DEFAULT_PAYLOAD;
use pktools::y4m::{ShortRowsWatch, Y4mError};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const PROGRAM: &str = "pktize";
/// The pace of `--udp` without `--rate`, bytes per second (800 Mbit/s): what a receiver on
/// the same host takes from a fountain with room to spare when the host is not loaded (at
/// 20% loss, 256 MiB: 4.4 s and 1.7x the file sent, against 2.4 s and 3.2x unpaced,
/// most of it dropped unread; the README's table).
const UDP_RATE: u64 = 100_000_000;

/// Segment a byte stream into packets with sequence number, offset, lengths and CRC32.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, max_term_width = 100)]
struct Args {
    /// Payload bytes per packet (suffixes k, M; 1 to 65475).
    #[arg(short = 's', long = "size", value_name = "SIZE", default_value_t = DEFAULT_PAYLOAD.to_string())]
    size: String,

    /// Transfer id, 0-65535 or 0xHHHH (default: random).
    #[arg(long, value_name = "ID", value_parser = cli::parse_transfer_id)]
    id: Option<u16>,

    /// Pace output to RATE bytes per second, packets included (suffixes k, M, G); 0: as fast
    /// as the output takes them (default: 0, with --udp 100M).
    #[arg(long, value_name = "RATE")]
    rate: Option<String>,

    /// Data packets between descriptor packets (0: send no descriptors).
    #[arg(long, value_name = "N", default_value_t = packetize::DEFAULT_DESCRIBE_EVERY)]
    describe_every: u32,

    /// A name for the transfer, carried in its descriptors (at most 255 bytes; default: the
    /// input file's base name).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// Media type carried in descriptors: raw, pnm, bmp, png, jpeg or y4m (default: sniffed).
    /// A baseline JPEG is sent indexed, each packet decodable alone (pktize(5)); use raw
    /// to send a JPEG's bytes as they are.
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_media_type)]
    media_type: Option<MediaType>,
    /// Forward error correction: after each group of K data packets send M parity packets;
    /// unpktize rebuilds any group that lost at most M of its K+M (e.g. 8+2, 32+4).
    #[arg(long, value_name = "K+M")]
    fec: Option<Scheme>,

    /// Authenticate every packet with the secret in FILE (at least 16 bytes, e.g.
    /// `head -c 32 /dev/urandom`); unpktize --key FILE takes only such packets.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,

    /// With --key, encipher every payload too (data, parity, descriptors: AES-256-GCM
    /// under a key of this transfer's own); unpktize --key FILE deciphers.
    #[arg(long)]
    encrypt: bool,

    /// Send the data packets of each span of SPAN packets interleaved (bit-reversed order;
    /// with --fec, group by group column-wise), so a burst of loss becomes scattered holes;
    /// without SPAN, the whole input up to 8 MiB of payload per span.
    #[arg(long, value_name = "SPAN", num_args = 0..=1, require_equals = true)]
    interleave: Option<Option<u32>>,

    /// Send the input N times as one transfer, a carousel (0: until killed); reading a
    /// pipe, it is held in memory, at most 64 MiB.
    #[arg(long, value_name = "N")]
    repeat: Option<u32>,

    /// Fountain code: after the data packets, repair packets that never repeat (with
    /// --repeat N, worth N-1 more passes; 0 or without --repeat: until killed), so a
    /// receiver completes once it holds as many packets as the data had, whatever it lost.
    #[arg(long)]
    fountain: bool,

    /// Send the packets as UDP datagrams to HOST:PORT ([IPV6]:PORT), one packet per datagram, instead of
    /// writing them to standard output (a multicast address is fine).
    #[arg(long, value_name = "HOST:PORT")]
    udp: Option<String>,

    /// With --udp: the datagrams' time to live (hops), unicast and multicast.
    #[arg(long, value_name = "N", requires = "udp")]
    ttl: Option<u32>,

    /// With --udp: the interface multicast datagrams leave from: its IPv4 address, or its
    /// name or number (IPv6).
    #[arg(long, value_name = "ADDR|NAME", requires = "udp")]
    multicast_if: Option<pktools::io::udp::Interface>,

    /// Print a summary on stderr.
    #[arg(short, long)]
    verbose: bool,

    /// Write binary output even to a terminal.
    #[arg(long)]
    force: bool,

    /// Input file (default: standard input).
    file: Option<PathBuf>,
}

/// An endless send (`--repeat 0`, or `--fountain` without `--repeat`) into a regular file
/// would only end when the disk is full: refuse it, before anything is written, unless
/// forced.
fn refuse_endless_into_file(args: &Args, stdout: &std::fs::File) -> Result<(), Failure> {
    let endless = args.repeat == Some(0) || (args.fountain && args.repeat.is_none());
    let is_file = stdout.metadata().is_ok_and(|m| m.file_type().is_file());
    if endless && is_file && !args.force {
        let what = match args.repeat {
            Some(0) => "--repeat 0",
            _ => "--fountain without --repeat",
        };
        return Err(Failure::new(format!(
            "{what} sends until killed, and standard output is a regular file it would fill: give --repeat N (or --force)"
        )));
    }
    Ok(())
}

fn parse_media_type(text: &str) -> Result<MediaType, String> {
    MediaType::from_name(text)
        .ok_or_else(|| format!("expected raw, pnm, bmp, png, jpeg or y4m, found \"{text}\""))
}

/// The base name of FILE (none for stdin), so that a receiver's `--info` names the file.
fn base_name(file: &Option<PathBuf>) -> Option<String> {
    let name = file.as_deref()?.file_name()?.to_string_lossy().into_owned();
    (name != "-").then_some(name)
}

/// What `Settings::new` refused, in the options' words.
fn refusal(e: SettingsError) -> Failure {
    Failure::new(match e {
        SettingsError::PayloadLen { .. } => format!("--size: {e}"),
        SettingsError::FecPayloadLen { found, largest } => format!(
            "--size: with --fec the payload size must be at most {largest} bytes (parity is whole 16-bit symbols and must fit one datagram), found {found}"
        ),
        SettingsError::KeyedFecPayloadLen { found, largest } => format!(
            "--size: with --fec and --key the payload size must be at most {largest} bytes, found {found}"
        ),
        SettingsError::FountainCombined => {
            "--fountain sends its own repair packets: it takes neither --fec nor --interleave"
                .into()
        }
        SettingsError::Span { found, most } => format!(
            "--interleave: the span must be 1 to {most} packets (at most {} MiB of payload and {} packets), found {found}",
            packetize::MAX_INTERLEAVE_BYTES >> 20,
            packetize::MAX_INTERLEAVE_PACKETS
        ),
    })
}

fn main() -> ExitCode {
    match cli::parse_args::<Args>(PROGRAM) {
        Ok(args) => cli::finish(PROGRAM, run(args)),
        Err(code) => code,
    }
}

fn run(args: Args) -> Result<Outcome, Failure> {
    let payload_len =
        cli::parse_size(&args.size).map_err(|e| Failure::new(format!("--size: {e}")))?;
    if let Some(name) = args.name.as_ref().filter(|n| n.len() > NAME_MAX) {
        return Err(Failure::new(format!(
            "--name: {} bytes is longer than the {NAME_MAX} a descriptor can carry",
            name.len()
        )));
    }
    if args.encrypt && args.key.is_none() {
        return Err(Failure::new(
            "--encrypt needs --key FILE, the secret to encipher with",
        ));
    }
    let sign = match &args.key {
        Some(path) => {
            let key = Key::from_file(path).map_err(|e| Failure::new(e.to_string()))?;
            let random = |e: auth::KeyError| Failure::new(e.to_string());
            Some(match args.encrypt {
                true => Signer::encrypting(key, auth::random_long_salt().map_err(random)?),
                false => Signer::new(key, auth::random_salt().map_err(random)?),
            })
        }
        None => None,
    };
    let interleave = match args.interleave {
        None => None,
        Some(None) => Some(Interleave::Whole),
        Some(Some(span)) => Some(Interleave::Packets(span)),
    };
    let coding = Coding {
        fec: args.fec,
        sign,
        interleave,
        fountain: args.fountain,
    };
    let settings = Settings::new(payload_len, coding).map_err(refusal)?;
    let bytes_per_sec = match &args.rate {
        Some(r) => match cli::parse_size(r) {
            Err(_) => {
                return Err(Failure::new(format!(
                    "--rate: expected bytes per second such as 500k or 10M, or 0, found \"{r}\""
                )))
            }
            // As fast as the output takes them.
            Ok(0) => None,
            Ok(n) => Some(n),
        },
        // Datagrams sent faster than a receiver takes them are lost, and with no return
        // channel nothing slows the sender down: pace by default.
        None if args.udp.is_some() => Some(UDP_RATE),
        None => None,
    };
    let settings = Settings {
        transfer_id: args.id.unwrap_or_else(packetize::random_transfer_id),
        bytes_per_sec,
        describe: (args.describe_every > 0).then(|| Describe {
            every: args.describe_every,
            name: args
                .name
                .clone()
                .or_else(|| base_name(&args.file))
                .unwrap_or_default(),
            media_type: args.media_type,
        }),
        ..settings
    };
    cli::refuse_same_files(args.file.as_deref(), &[], args.udp.is_none())?;
    let mut out: Box<dyn Write> = match &args.udp {
        Some(to) => {
            let addr = udp::parse_addr(to).map_err(|e| Failure::new(format!("--udp: {e}")))?;
            Box::new(
                match udp::UdpSender::connect(addr, args.ttl, args.multicast_if) {
                    Ok(tx) if settings.bytes_per_sec.is_some() => tx.paced(),
                    Ok(tx) => tx,
                    Err(e) => return Err(Failure::new(format!("--udp {to}: {e}"))),
                },
            )
        }
        None => {
            cli::refuse_terminal_stdout(args.force)?;
            let stdout = cli::stdout_file()?;
            refuse_endless_into_file(&args, &stdout)?;
            packetize::writer_for(stdout, &settings).map_err(cli::io_context("stdout"))?
        }
    };
    let input = Input::open(args.file.as_deref())?;
    let mut settings = settings;
    let jpeg = jpeg::prepare(
        input,
        args.media_type,
        payload_len as usize,
        settings.describe.is_some(),
    )
    .map_err(|e| Failure::new(e.to_string()))?;
    if let Some(why) = &jpeg.warning {
        eprintln!("{PROGRAM}: warning: this JPEG is sent as plain bytes, a loss costs the rest of it: {why}");
    }
    if let Some(d) = settings.describe.as_mut() {
        d.media_type = jpeg.media_type;
    }
    let input = jpeg.prepared;
    // A Y4M stream laid out as ffmpeg 5.1 writes odd-width high-depth Y4M goes out as it
    // is, with a warning: receivers find its frames out of place and stop concealing.
    let y4m = matches!(args.media_type, None | Some(MediaType::Y4m));
    let input = match input {
        Prepared::AsIs(Input::Stream(reader)) if y4m => {
            Prepared::AsIs(Input::Stream(Box::new(WatchedY4m {
                inner: reader,
                watch: ShortRowsWatch::default(),
            })))
        }
        Prepared::AsIs(Input::Mapped(map)) if y4m => {
            warn_short_rows(&map);
            Prepared::AsIs(Input::Mapped(map))
        }
        Prepared::Held(data) if y4m => {
            warn_short_rows(&data);
            Prepared::Held(data)
        }
        other => other,
    };
    let passes = args.repeat.map(|n| match n {
        0 => Passes::Endless,
        n => Passes::Count(n),
    });
    let passes = match (args.fountain, passes) {
        (true, None) => Some(Passes::Endless),
        (_, p) => p,
    };
    let repeat = |data: &[u8], out: &mut dyn Write, p| match args.fountain {
        true => packetize::packetize_fountain(data, out, &settings, p, &mut pktools::io::temp_file),
        false => packetize::packetize_carousel(data, out, &settings, p),
    };
    let summary = match (input, passes) {
        (Prepared::Held(data), Some(p)) => repeat(&data, &mut out, p),
        (Prepared::Held(data), None) => packetize::packetize_slice(&data, &mut out, &settings, &mut |_| {}),
        (Prepared::AsIs(Input::Mapped(map)), Some(p)) => repeat(&map, &mut out, p),
        (Prepared::AsIs(Input::Stream(mut reader)), Some(p)) => {
            let max = packetize::CAROUSEL_PIPE_MAX;
            let data = packetize::read_bounded(&mut reader, max)
                .map_err(cli::io_context("reading the input"))?
                .ok_or_else(|| {
                    Failure::new(format!(
                        "--repeat or --fountain: the input from a pipe is longer than {} MiB, more than is held to repeat it; give it as a file",
                        max >> 20
                    ))
                })?;
            repeat(&data, &mut out, p)
        }
        (Prepared::AsIs(Input::Mapped(map)), None) => {
            let behind = ReleaseBehind::default();
            packetize::packetize_slice(&map, &mut out, &settings, &mut |n| behind.advance(&map, n))
        }
        (Prepared::AsIs(Input::Stream(mut reader)), None) => {
            packetize::packetize_stream(&mut reader, &mut out, &settings)
        }
    }
    .map_err(cli::io_context("writing packets"))?;
    if args.verbose {
        let parity = match settings.fec {
            Some(s) => format!(" and {} parity packets ({s})", summary.parity_packets),
            None if args.fountain => format!(" and {} repair packets", summary.repair_packets),
            None => String::new(),
        };
        let keyed = match &settings.sign {
            Some(s) if s.encrypts() => ", encrypted and authenticated",
            Some(_) => ", authenticated",
            None => "",
        };
        let _ = writeln!(
            std::io::stderr(),
            "{PROGRAM}: {} bytes in {} packets of up to {} bytes{parity} and {} descriptors{keyed}, transfer id {:#06x}, {} bytes written",
            summary.input_bytes, summary.packets, settings.payload_len, summary.descriptors, settings.transfer_id, summary.output_bytes
        );
    }
    Ok(Outcome::Intact)
}

/// The warning for a Y4M stream whose chroma rows are one byte short.
fn short_rows_warning(e: &Y4mError) {
    eprintln!("{PROGRAM}: warning: {e}; sent as it is, receivers cannot conceal it");
}

/// Warn when the whole input `data` is such a stream.
fn warn_short_rows(data: &[u8]) {
    let mut watch = ShortRowsWatch::default();
    if let Some(e) = watch.feed(data).or_else(|| watch.end()) {
        short_rows_warning(&e);
    }
}

/// A stream passed on as it is, watched for short chroma rows.
struct WatchedY4m {
    inner: Box<dyn Read>,
    watch: ShortRowsWatch,
}

impl Read for WatchedY4m {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let found = match n {
            0 => self.watch.end(),
            n => self.watch.feed(&buf[..n]),
        };
        if let Some(e) = found {
            short_rows_warning(&e);
        }
        Ok(n)
    }
}
