//! corrupt: a seeded, reproducible lossy channel for packet streams and raw bytes.

use clap::Parser;
use pktools::channel::{
    self, ChannelError, Config, GilbertElliott, LossModel, Mode, PacketOnly, Reorder,
};
use pktools::cli::{self, Failure, Outcome};
use pktools::io::Input;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;

/// Damage a pktize packet stream (or, with --raw, any bytes) as a bad network would: loss,
/// bursts, duplication, reordering, truncation and bit errors, reproducibly from a seed.
#[derive(Parser)]
#[command(name = "corrupt", version)]
struct Args {
    /// Input file (default: standard input).
    file: Option<PathBuf>,
    /// Lose each packet (raw: block) with this probability: 0.01, 1%, 1e-3.
    #[arg(long, value_name = "RATE", value_parser = rate)]
    loss: Option<f64>,
    /// With --loss: lose in bursts of this mean length, in packets (simple Gilbert model).
    #[arg(long, value_name = "MEAN", value_parser = mean_burst)]
    burst: Option<f64>,
    /// Gilbert-Elliott loss, as netem's gemodel: P good-to-bad, R bad-to-good, 1-H loss in
    /// the bad state (default 100%), 1-K loss in the good state (default 0).
    #[arg(long, value_name = "P,R[,1-H[,1-K]]", conflicts_with = "loss",
          value_parser = channel::parse_gilbert)]
    gilbert: Option<GilbertElliott>,
    /// Send each packet (raw: block) twice with this probability.
    #[arg(long, value_name = "RATE", value_parser = rate, default_value = "0")]
    dup: f64,
    /// Hold a packet back with probability PROB, for 1 to MAX (default 10, at most 128)
    /// following packets.
    #[arg(long, value_name = "PROB[,MAX]", value_parser = channel::parse_reorder)]
    reorder: Option<Reorder>,
    /// Cut a packet short, at a random length, with this probability.
    #[arg(long, value_name = "RATE", value_parser = rate, default_value = "0")]
    truncate: f64,
    /// Flip each bit with this probability (bit error rate).
    #[arg(long, value_name = "RATE", value_parser = rate, default_value = "0")]
    ber: f64,
    /// Spare the packet headers from bit errors.
    #[arg(long)]
    payload_only: bool,
    /// Raw mode: treat the input as plain bytes in blocks of --block bytes.
    #[arg(long, conflicts_with_all = ["packets", "reorder", "truncate", "payload_only"])]
    raw: bool,
    /// Packet mode even if the input does not start with a packet header.
    #[arg(long)]
    packets: bool,
    /// Raw mode: the unit of loss and duplication (1024, 64k, 6220800; at most 8M).
    #[arg(long, value_name = "SIZE", value_parser = channel::parse_block_len,
          default_value = "1024")]
    block: usize,
    /// Seed of the random decisions; the same seed gives the same output (default: random,
    /// printed with -v).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Write one line per event (drop, dup, truncate, reorder, flip) to FILE.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Print the seed and a summary on standard error.
    #[arg(short, long)]
    verbose: bool,
    /// Write binary data even to a terminal.
    #[arg(long)]
    force: bool,
}

fn rate(text: &str) -> Result<f64, String> {
    cli::parse_rate(text).map_err(|e| e.to_string())
}

fn mean_burst(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(m) if m >= 1.0 && m.is_finite() => Ok(m),
        _ => Err(format!(
            "expected a mean burst length of at least 1 packet, found \"{text}\""
        )),
    }
}

fn run(args: Args) -> Result<Outcome, Failure> {
    let log: Vec<_> = args.log.iter().map(|p| ("--log", p.as_path())).collect();
    cli::refuse_same_files(args.file.as_deref(), &log, true)?;
    cli::refuse_terminal_stdout(args.force)?;
    if args.burst.is_some() && args.loss.is_none() {
        // Checked here, not with clap's `requires`: its message lists nothing, and it let
        // --gilbert stand in for --loss, ignoring --burst.
        return Err(Failure::new(
            "--burst shapes the losses of --loss; give --loss RATE with it",
        ));
    }
    let loss = match (args.gilbert, args.loss, args.burst) {
        (Some(ge), _, _) => LossModel::GilbertElliott(ge),
        (None, Some(rate), Some(mean)) => LossModel::GilbertElliott(
            GilbertElliott::from_mean_burst(rate, mean).map_err(|e| Failure::new(e.to_string()))?,
        ),
        (None, Some(rate), None) if rate > 0.0 => LossModel::Random(rate),
        _ => LossModel::None,
    };
    let mut config = Config {
        seed: args.seed.unwrap_or_else(channel::rng::fresh_seed),
        mode: match (args.raw, args.packets) {
            (true, _) => Mode::Raw,
            (_, true) => Mode::Packets,
            _ => Mode::Auto,
        },
        loss,
        dup_prob: args.dup,
        reorder: args.reorder,
        truncate_prob: args.truncate,
        ber: args.ber,
        payload_only: args.payload_only,
        block_len: args.block,
        datagrams: false,
    };
    if args.verbose {
        eprintln!("corrupt: seed {} (replay with --seed {0})", config.seed);
    }
    let mut log = match &args.log {
        Some(path) => Some(BufWriter::new(
            File::create(path).map_err(cli::io_context(format_args!("{}", path.display())))?,
        )),
        None => None,
    };
    let input = Input::open(args.file.as_deref())?;
    let mut out = cli::stdout_file()?;
    // A datagram socket keeps what the channel made of each packet one message.
    config.datagrams = pktools::io::is_packet_socket(out.as_fd());
    let stats = match channel::run(
        &config,
        input,
        &mut out,
        log.as_mut().map(|l| l as &mut dyn Write),
    ) {
        Ok(stats) => stats,
        Err(ChannelError::NotPackets { option }) => {
            let flag = match option {
                PacketOnly::Reorder => "--reorder",
                PacketOnly::Truncate => "--truncate",
                PacketOnly::PayloadOnly => "--payload-only",
            };
            return Err(Failure::new(format!(
                "{flag} needs packets, but the input does not start with a packet header \
                 (use --packets if the stream starts with garbage)"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if !stats.packets && !args.raw && stats.bytes_in > 0 {
        eprintln!(
            "corrupt: note: the input does not start with a pktize packet header, so it was damaged as raw bytes in blocks of {} (--raw for this without the note, --packets for packet mode)",
            args.block
        );
    }
    if args.verbose {
        eprintln!("corrupt: {stats}");
    }
    Ok(Outcome::Intact)
}

fn main() -> ExitCode {
    match cli::parse_args::<Args>("corrupt") {
        Ok(args) => cli::finish("corrupt", run(args)),
        Err(code) => code,
    }
}
