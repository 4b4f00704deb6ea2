//! The lossy channel: what `corrupt` does to a stream on its way from `pktize` to
//! `unpktize`, as a bad network would.
//!
//! Two modes share one set of decisions:
//! - packet mode (`packet`) finds packets with [`crate::framing::scan`] and loses,
//!   duplicates, reorders, truncates and damages whole packets; bytes that are not packets
//!   pass untouched;
//! - raw mode (`raw`) treats any byte stream as fixed-size blocks that are lost or
//!   duplicated, and damages bits anywhere.
//!
//! Every decision is drawn from a seeded stream ([`rng`]) in the order of the units (packets,
//! blocks, bits) of the input, never of the reads that brought them, so a seed fixes the
//! output whether the input is mapped, piped, or trickles in a byte at a time. Memory is
//! constant: a read buffer, an output buffer, and at most [`MAX_DISPLACEMENT`] held packets.
//!
//! Every event can be written to a log, one line each (see [`EventLog`]), as the ground truth
//! that tests and users hold `unpktize` to.

pub mod loss;
mod packet;
mod raw;
pub mod rng;

use crate::io::{self as pio, Input, IO_BUFFER_LEN};
use crate::units;
use crate::wire::{Header, HEADER_LEN, MAX_DATAGRAM};
use std::fmt;
use std::io::{self, Write};

pub use loss::{parse_gilbert, GilbertElliott, LossModel};

/// The largest reorder displacement: bounds the held packets to 128 of at most 64 KiB
/// (8 MiB), inside the 16 MiB memory budget.
pub const MAX_DISPLACEMENT: u64 = 128;
/// Displacement when `--reorder` gives only a probability.
pub const DEFAULT_DISPLACEMENT: u64 = 10;
/// The largest raw block: a duplicated block is kept whole until it is sent again, and 8 MiB
/// still holds one 1080p rgb24 video frame.
pub const MAX_BLOCK_LEN: usize = 8 << 20;
/// Raw block length when `--block` is not given: the default packet payload.
pub const DEFAULT_BLOCK_LEN: usize = crate::wire::DEFAULT_PAYLOAD;

/// Which units the channel works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Packets if the input starts with a valid packet header, raw otherwise.
    #[default]
    Auto,
    /// Packets, whatever the input starts with.
    Packets,
    /// Fixed-size blocks of any bytes.
    Raw,
}

/// Reordering: a packet is held back with probability `prob`, for 1 to `max_displacement`
/// following packets (uniformly).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reorder {
    pub prob: f64,
    pub max_displacement: u64,
}

/// A channel option that does not parse or is out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Unit(#[from] units::UnitError),
    #[error("expected a maximum displacement from 1 to {MAX_DISPLACEMENT} packets, found \"{0}\"")]
    Displacement(String),
    #[error("block size must be from 1 byte to {max}, found \"{0}\"", max = units::human_bytes(MAX_BLOCK_LEN as u64))]
    BlockLen(String),
    #[error("expected p,r[,1-h[,1-k]] such as 1%,30%, found \"{0}\"")]
    Gilbert(String),
    #[error("mean burst length must be at least 1 packet, found {0}")]
    MeanBurst(f64),
    #[error(
        "a loss rate of {loss_prob} cannot come in bursts of mean length {mean_burst}: \
         the gaps between bursts would be shorter than one packet"
    )]
    BurstsTooDense { loss_prob: f64, mean_burst: f64 },
}

/// Parse `PROB[,MAX]`: `5%`, `0.05,20`.
pub fn parse_reorder(text: &str) -> Result<Reorder, ConfigError> {
    let (prob, max) = match text.split_once(',') {
        Some((p, m)) => (p, Some(m)),
        None => (text, None),
    };
    let prob = units::parse_rate(prob)?;
    let max_displacement = match max {
        None => DEFAULT_DISPLACEMENT,
        Some(m) => match m.trim().parse::<u64>() {
            Ok(n) if (1..=MAX_DISPLACEMENT).contains(&n) => n,
            _ => return Err(ConfigError::Displacement(m.to_string())),
        },
    };
    Ok(Reorder {
        prob,
        max_displacement,
    })
}

/// Parse a raw block length: a size (`1024`, `64k`, `6220800`) from 1 to [`MAX_BLOCK_LEN`].
pub fn parse_block_len(text: &str) -> Result<usize, ConfigError> {
    let n = units::parse_size(text)?;
    if n == 0 || n > MAX_BLOCK_LEN as u64 {
        return Err(ConfigError::BlockLen(text.to_string()));
    }
    Ok(n as usize)
}

/// Everything that defines a channel. With all rates 0 the channel is the identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub seed: u64,
    pub mode: Mode,
    pub loss: LossModel,
    pub dup_prob: f64,
    pub reorder: Option<Reorder>,
    pub truncate_prob: f64,
    /// Bit error rate: the probability that any one bit is flipped.
    pub ber: f64,
    /// Spare the packet headers from bit errors.
    pub payload_only: bool,
    /// Raw mode: the unit of loss and duplication.
    pub block_len: usize,
    /// Packet mode: write each copy of a packet (a truncated one too), and each run of
    /// bytes between packets, with a write of its own, for an output whose every write
    /// is one message (a datagram or sequenced-packet socket).
    pub datagrams: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 0,
            mode: Mode::Auto,
            loss: LossModel::None,
            dup_prob: 0.0,
            reorder: None,
            truncate_prob: 0.0,
            ber: 0.0,
            payload_only: false,
            block_len: DEFAULT_BLOCK_LEN,
            datagrams: false,
        }
    }
}

impl Config {
    /// The first setting given that only makes sense for packets, if any.
    fn packet_only_option(&self) -> Option<PacketOnly> {
        if self.reorder.is_some_and(|r| r.prob > 0.0) {
            Some(PacketOnly::Reorder)
        } else if self.truncate_prob > 0.0 {
            Some(PacketOnly::Truncate)
        } else if self.payload_only {
            Some(PacketOnly::PayloadOnly)
        } else {
            None
        }
    }
}

/// A setting of [`Config`] that only makes sense for packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketOnly {
    /// [`Config::reorder`]
    Reorder,
    /// [`Config::truncate_prob`]
    Truncate,
    /// [`Config::payload_only`]
    PayloadOnly,
}

impl fmt::Display for PacketOnly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PacketOnly::Reorder => "reordering",
            PacketOnly::Truncate => "truncation",
            PacketOnly::PayloadOnly => "sparing the headers from bit errors",
        })
    }
}

/// Why the channel stopped.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("reading input: {0}")]
    Read(io::Error),
    #[error("writing output: {0}")]
    Write(io::Error),
    #[error("writing the log: {0}")]
    Log(io::Error),
    #[error("{option} needs packets, but the input does not start with a packet header")]
    NotPackets { option: PacketOnly },
}

/// What the channel did, for `-v`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// True in packet mode, false in raw mode.
    pub packets: bool,
    /// Packets (or raw blocks) read.
    pub units_in: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub truncated: u64,
    pub bits_flipped: u64,
    /// Packet or block copies with at least one flipped bit.
    pub units_damaged: u64,
    /// Bytes between packets that were not packets (passed through untouched).
    pub garbage_bytes: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.packets { "packets" } else { "blocks" };
        write!(
            f,
            "{} {unit} in ({} bytes), {} out; {} dropped, {} duplicated, ",
            self.units_in, self.bytes_in, self.bytes_out, self.dropped, self.duplicated
        )?;
        if self.packets {
            write!(
                f,
                "{} reordered, {} truncated, ",
                self.reordered, self.truncated
            )?;
        }
        write!(
            f,
            "{} bits flipped in {} {unit}",
            self.bits_flipped, self.units_damaged
        )?;
        if self.packets {
            write!(f, "; {} bytes not in packets", self.garbage_bytes)?;
        }
        Ok(())
    }
}

/// The event log: one line per event, tab-separated, after one `#` comment line that names
/// the seed and the mode:
///
/// ```text
/// # corrupt seed=7 mode=packets
/// INDEX  SEQ  COPY  ACTION  DETAIL
/// ```
///
/// INDEX counts packets (or raw blocks) from 0 in input order; SEQ is the packet's sequence
/// number (`-` in raw mode); COPY is 0 for the original and 1 for a duplicate. ACTION and
/// DETAIL: `drop -`, `dup -` (copy 1 follows copy 0), `truncate N` (N bytes kept),
/// `reorder K` (held back for K packets), `flip O,O,...` (byte offsets of the flipped bits
/// from the start of the packet or block, once per bit).
pub struct EventLog<'w> {
    out: Option<&'w mut dyn Write>,
}

impl<'w> EventLog<'w> {
    /// A log into `out`, or none.
    pub fn new(out: Option<&'w mut dyn Write>) -> Self {
        EventLog { out }
    }

    fn comment(&mut self, text: fmt::Arguments) -> Result<(), ChannelError> {
        if let Some(out) = self.out.as_mut() {
            writeln!(out, "# {text}").map_err(ChannelError::Log)?;
        }
        Ok(())
    }

    fn event(
        &mut self,
        index: u64,
        seq: Option<u32>,
        copy: u8,
        action: &str,
        detail: impl fmt::Display,
    ) -> Result<(), ChannelError> {
        if let Some(out) = self.out.as_mut() {
            let result = match seq {
                Some(seq) => writeln!(out, "{index}\t{seq}\t{copy}\t{action}\t{detail}"),
                None => writeln!(out, "{index}\t-\t{copy}\t{action}\t{detail}"),
            };
            result.map_err(ChannelError::Log)?;
        }
        Ok(())
    }

    fn flips(
        &mut self,
        index: u64,
        seq: Option<u32>,
        copy: u8,
        offsets: &[usize],
    ) -> Result<(), ChannelError> {
        if offsets.is_empty() {
            return Ok(());
        }
        self.event(index, seq, copy, "flip", Offsets(offsets))
    }

    fn flush(&mut self) -> Result<(), ChannelError> {
        if let Some(out) = self.out.as_mut() {
            out.flush().map_err(ChannelError::Log)?;
        }
        Ok(())
    }
}

struct Offsets<'a>(&'a [usize]);

impl fmt::Display for Offsets<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, o) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{o}")?;
        }
        Ok(())
    }
}

/// Where bytes go: the output, or a packet held back for reordering.
trait Sink {
    fn pass(&mut self, data: &[u8]) -> Result<(), ChannelError>;
}

impl Sink for Vec<u8> {
    fn pass(&mut self, data: &[u8]) -> Result<(), ChannelError> {
        self.extend_from_slice(data);
        Ok(())
    }
}

/// Slices at least this long are written straight from the input (the memory map or the
/// read buffer) instead of being copied into the output buffer: a run of clean packets costs
/// no copy at all.
const DIRECT_WRITE_LEN: usize = 64 << 10;

/// The output: small pieces gathered into one buffer, long runs written where they lie;
/// or, to a datagram socket, each unit (a packet's copy, the bytes between two packets)
/// gathered and written on its own ([`Output::end_unit`]).
struct Output<'w> {
    buf: Vec<u8>,
    writer: &'w mut dyn Write,
    written: u64,
    datagrams: bool,
}

impl<'w> Output<'w> {
    fn new(writer: &'w mut dyn Write) -> Self {
        Output {
            buf: Vec::with_capacity(IO_BUFFER_LEN),
            writer,
            written: 0,
            datagrams: false,
        }
    }

    /// To a datagram socket: write what was passed since the last unit ended as one
    /// message (bytes between packets longer than a datagram in several).
    fn end_unit(&mut self) -> Result<(), ChannelError> {
        if self.datagrams {
            for message in self.buf.chunks(MAX_DATAGRAM) {
                self.writer
                    .write_all(message)
                    .map_err(ChannelError::Write)?;
            }
            self.buf.clear();
        }
        Ok(())
    }

    /// Pass `data`, a unit of its own (bytes that pass unchanged: between packets, or
    /// clean packets when not writing datagrams).
    fn pass_unit(&mut self, data: &[u8]) -> Result<(), ChannelError> {
        self.pass(data)?;
        self.end_unit()
    }

    fn flush(&mut self) -> Result<(), ChannelError> {
        if self.datagrams {
            return self.end_unit();
        }
        if !self.buf.is_empty() {
            self.writer
                .write_all(&self.buf)
                .map_err(ChannelError::Write)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ChannelError> {
        self.flush()?;
        self.writer.flush().map_err(ChannelError::Write)
    }
}

impl Sink for Output<'_> {
    fn pass(&mut self, data: &[u8]) -> Result<(), ChannelError> {
        self.written += data.len() as u64;
        if self.datagrams {
            if self.buf.len() + data.len() > self.buf.capacity() {
                self.end_unit()?;
            }
            self.buf.extend_from_slice(data);
            return Ok(());
        }
        if data.len() >= DIRECT_WRITE_LEN {
            self.flush()?;
            return self.writer.write_all(data).map_err(ChannelError::Write);
        }
        if self.buf.len() + data.len() > self.buf.capacity() {
            self.flush()?;
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }
}

/// Send `data` into `sink` through the bit-error process: clean runs pass as they are, and
/// each hit byte is copied, flipped, and its offset (`base` + position) recorded in `flips`.
fn transmit(
    sink: &mut dyn Sink,
    data: &[u8],
    errors: Option<&mut rng::BitErrors>,
    base: usize,
    flips: &mut Vec<usize>,
) -> Result<(), ChannelError> {
    let Some(errors) = errors else {
        return sink.pass(data);
    };
    let mut at = 0;
    while at < data.len() {
        let bits = (data.len() - at) as u64 * 8;
        let Some(bit) = errors.next_hit(bits) else {
            errors.skip(bits);
            return sink.pass(&data[at..]);
        };
        let clean = (bit / 8) as usize;
        errors.skip(clean as u64 * 8);
        sink.pass(&data[at..at + clean])?;
        let mut byte = [data[at + clean]];
        errors.apply(&mut byte, |_| flips.push(base + at + clean));
        sink.pass(&byte)?;
        at += clean + 1;
    }
    Ok(())
}

/// One decision made from its own stream with a fixed probability (duplication, truncation).
#[derive(Debug, Clone)]
struct Chance {
    prob: f64,
    rng: rng::Rng,
}

impl Chance {
    /// `None` when the probability is 0, so that an option left off draws nothing.
    fn new(prob: f64, seed: u64, stream: rng::Stream) -> Option<Chance> {
        (prob > 0.0).then(|| Chance {
            prob,
            rng: rng::Rng::new(seed, stream),
        })
    }

    /// One draw: true with the probability.
    #[inline]
    fn happens(&mut self) -> bool {
        self.rng.chance(self.prob)
    }
}

/// The channel: its mode, and where it writes (the output and the event log).
struct Channel<'o, 'l> {
    mode: ModeChannel,
    out: Output<'o>,
    log: EventLog<'l>,
}

/// The channel's state in one of its two modes.
enum ModeChannel {
    Packets(packet::PacketChannel),
    Raw(raw::RawChannel),
}

impl<'o, 'l> Channel<'o, 'l> {
    /// Choose the mode for an input that starts with `head` (as many bytes as there are, up
    /// to a header's worth), and build the channel.
    fn open(
        config: &Config,
        head: &[u8],
        out: Output<'o>,
        mut log: EventLog<'l>,
    ) -> Result<Self, ChannelError> {
        let packets = match config.mode {
            Mode::Packets => true,
            Mode::Raw => false,
            Mode::Auto => Header::parse(head).is_ok(),
        };
        if !packets {
            if let Some(option) = config.packet_only_option() {
                return Err(ChannelError::NotPackets { option });
            }
        }
        let name = if packets { "packets" } else { "raw" };
        log.comment(format_args!("corrupt seed={} mode={name}", config.seed))?;
        let mut out = out;
        out.datagrams = packets && config.datagrams;
        let mode = if packets {
            ModeChannel::Packets(packet::PacketChannel::new(config))
        } else {
            ModeChannel::Raw(raw::RawChannel::new(config))
        };
        Ok(Channel { mode, out, log })
    }

    /// Process the front of `buf`; returns how many bytes were used (the rest is an
    /// unfinished packet, unless `at_end`).
    fn feed(&mut self, buf: &[u8], at_end: bool) -> Result<usize, ChannelError> {
        let (out, log) = (&mut self.out, &mut self.log);
        match &mut self.mode {
            ModeChannel::Packets(c) => c.feed(buf, at_end, out, log),
            ModeChannel::Raw(c) => c.feed(buf, out, log).map(|()| buf.len()),
        }
    }

    fn finish(mut self) -> Result<Stats, ChannelError> {
        let (out, log) = (&mut self.out, &mut self.log);
        let mut stats = match &mut self.mode {
            ModeChannel::Packets(c) => c.finish(out, log)?,
            ModeChannel::Raw(c) => c.finish(out, log)?,
        };
        out.finish()?;
        log.flush()?;
        stats.bytes_out = out.written;
        Ok(stats)
    }
}

/// How much of a mapped input is fed to the channel at a time; the pages before each window
/// are released. Far larger than a packet, so that windows cost nothing in speed.
const MAP_WINDOW_LEN: usize = 2 << 20;

/// Run the channel from `input` to `output`, logging events to `log`.
///
/// A mapped input is processed in windows of `MAP_WINDOW_LEN`; a stream is read in blocks
/// of up to [`IO_BUFFER_LEN`], and what was made of each read is written before the next
/// read, so a live stream is not held up (held-back packets excepted).
pub fn run(
    config: &Config,
    input: Input,
    output: &mut dyn Write,
    log: Option<&mut dyn Write>,
) -> Result<Stats, ChannelError> {
    let (out, log) = (Output::new(output), EventLog::new(log));
    match input {
        Input::Mapped(map) => {
            let head = &map[..map.len().min(HEADER_LEN)];
            let mut channel = Channel::open(config, head, out, log)?;
            // In windows, so that the pages already sent can be released: a mapped file
            // must not end up resident as a whole.
            let behind = pio::ReleaseBehind::default();
            let mut pos = 0;
            loop {
                let end = (pos + MAP_WINDOW_LEN).min(map.len());
                let at_end = end == map.len();
                pos += channel.feed(&map[pos..end], at_end)?;
                behind.advance(&map, pos);
                if at_end {
                    break;
                }
            }
            channel.finish()
        }
        Input::Stream(mut reader) => run_stream(config, &mut *reader, out, log),
    }
}

/// Run the channel over bytes from any reader (a pipe, a socket, a test's slow reader).
pub fn run_reader(
    config: &Config,
    reader: &mut dyn io::Read,
    output: &mut dyn Write,
    log: Option<&mut dyn Write>,
) -> Result<Stats, ChannelError> {
    run_stream(config, reader, Output::new(output), EventLog::new(log))
}

fn run_stream(
    config: &Config,
    reader: &mut dyn io::Read,
    out: Output,
    log: EventLog,
) -> Result<Stats, ChannelError> {
    // The buffer holds the unfinished packet carried over from the last read (at most one
    // maximal packet: the framing scanner never asks for more), then the next read.
    let mut buf = vec![0u8; IO_BUFFER_LEN];
    let mut filled = 0;
    let mut at_end = false;
    // Enough bytes to recognise a packet header, or all there are.
    while filled < HEADER_LEN && !at_end {
        let n = pio::read_some(reader, &mut buf[filled..]).map_err(ChannelError::Read)?;
        at_end = n == 0;
        filled += n;
    }
    let mut channel = Channel::open(config, &buf[..filled.min(HEADER_LEN)], out, log)?;
    loop {
        let used = channel.feed(&buf[..filled], at_end)?;
        buf.copy_within(used..filled, 0);
        filled -= used;
        channel.out.flush()?;
        if at_end {
            break;
        }
        assert!(
            filled < buf.len(),
            "the framing scanner consumes a full buffer: it never needs more than one packet"
        );
        let n = pio::read_some(reader, &mut buf[filled..]).map_err(ChannelError::Read)?;
        at_end = n == 0;
        filled += n;
    }
    channel.finish()
}

#[cfg(test)]
mod tests;
