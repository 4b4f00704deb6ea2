//! Bytes to packets: cut a byte stream into payloads of one size and give each a header.
//!
//! Every packet but the last carries exactly `payload_len` bytes, so a packet's offset is
//! `seq * payload_len`; the last carries the rest and the LAST flag. An empty input is still a
//! transfer: one empty LAST packet, so a receiver learns that it ended. Each packet is
//! written contiguously (header then payload) and never split across two writes, so a
//! datagram-preserving sender can send one packet per datagram.
//!
//! The packetizer holds back the last full payload of a stream until it knows whether more
//! follows, so it can mark the true last packet; that delays a live stream by one packet.
//!
//! With forward error correction (`Settings::fec`), each group of K data packets is followed
//! by its M parity packets, made by [`crate::fec::Encoder`] from the payloads as they pass.
//!
//! With a key (`Settings::sign`), every packet, parity and descriptors included, ends with
//! the [`crate::wire::auth`] trailer (salt and tag), written from a small array beside its header,
//! so payloads are still sent from where they lie. Offsets and the FEC code count the data
//! alone. Encrypting ([`Signer::encrypting`]), the packets cannot be sent from the input:
//! each is built whole in the packetizer's frame buffer (header, data copied and
//! enciphered there, trailer), a write's worth at a time, and parity is coded over the
//! ciphertexts ([`crate::wire::seal`]).
//!
//! This module does not pace by itself beyond what [`Pacer`] is given. Of sockets it knows
//! one thing: on a datagram or sequenced-packet socket every write is a message, so
//! [`writer_for`] sends each packet as one (`datagrams`).

use crate::descriptor::{Descriptor, MediaType, HEAD_MAX};
use crate::fec::{self, Scheme};
use crate::wire::auth::{Signer, MAX_KEYED_DATA, MAX_SEALED_DATA};
use crate::wire::{Header, Kind, HEADER_LEN, MAX_PAYLOAD, TRAILER_LEN};
use std::io::{self, Read, Write};

mod datagrams;
mod fountain;
pub mod interleave;
pub mod jpeg;
mod pacer;
mod sender;
mod span;

pub use fountain::{packetize_fountain, WINDOW_IN_MEMORY};
pub use pacer::Pacer;
use sender::{Sender, WRITE_BATCH};

/// How to packetize.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Payload bytes per packet, 1..=MAX_PAYLOAD.
    pub payload_len: usize,
    pub transfer_id: u16,
    /// Pace the output to this many bytes per second (packets included), if set.
    pub bytes_per_sec: Option<u64>,
    /// Send a descriptor first, after every this many data packets, and after the last;
    /// `None` sends none.
    pub describe: Option<Describe>,
    /// Follow every group of K data packets with M parity packets (then `payload_len` is
    /// at most [`fec::MAX_PAYLOAD`]).
    pub fec: Option<Scheme>,
    /// Send the data packets of each span in an interleaved order ([`interleave`]).
    pub interleave: Option<Interleave>,
    /// Authenticate every packet with this key and transfer salt (payloads then carry at
    /// most [`MAX_KEYED_DATA`] bytes), and encipher it when the signer encrypts (at most
    /// [`MAX_SEALED_DATA`] bytes).
    pub sign: Option<Signer>,
}

/// How long an interleaved span is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interleave {
    /// The whole input, up to [`DEFAULT_INTERLEAVE_BYTES`] of payload per span.
    Whole,
    /// Spans of this many data packets (at most [`MAX_INTERLEAVE_BYTES`] of payload).
    Packets(u32),
}

/// The longest span `Interleave::Whole` makes, in payload bytes: 8192 packets of 1 KiB.
pub const DEFAULT_INTERLEAVE_BYTES: usize = 8 << 20;
/// The longest span of all, in payload bytes: reading a pipe, the sender holds one span in
/// memory, and a receiver writing in order holds one too.
pub const MAX_INTERLEAVE_BYTES: usize = 64 << 20;
/// The longest span of all, in packets: what a receiver's reorder window holds
/// (`reassemble::window::MAX_WINDOW_PACKETS`), so it can put any span back in order.
pub const MAX_INTERLEAVE_PACKETS: usize = 1 << 16;

/// What a sender is asked to do to its packets beside cutting them, checked together with
/// the payload size by [`Settings::new`].
#[derive(Debug, Clone, Default)]
pub struct Coding {
    /// Parity packets after each group of data packets.
    pub fec: Option<Scheme>,
    /// Authenticate (and, when the signer encrypts, encipher) every packet.
    pub sign: Option<Signer>,
    /// Send the data packets interleaved.
    pub interleave: Option<Interleave>,
    /// The packets go to [`packetize_fountain`], which follows the data with repair packets
    /// of its own: it takes neither FEC nor interleaving.
    pub fountain: bool,
}

/// Why [`Settings::new`] refused what it was asked: the bound, and what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// The payload size is 0, or a packet would not fit one UDP datagram.
    #[error(
        "payload size must be 1 to {largest} bytes (one UDP datagram with the header{}), found {found}",
        match trailer_len { 0 => String::new(), n => format!(" and the {n}-byte trailer") }
    )]
    PayloadLen {
        found: u64,
        largest: usize,
        /// Bytes of the key's trailer, 0 without a key.
        trailer_len: usize,
    },
    /// With FEC, parity is whole 16-bit symbols and must fit one datagram.
    #[error("with FEC the payload size must be at most {largest} bytes (parity is whole 16-bit symbols and must fit one datagram), found {found}")]
    FecPayloadLen { found: u64, largest: usize },
    /// With FEC and a key, parity packets carry the trailer too.
    #[error("with FEC and a key the payload size must be at most {largest} bytes, found {found}")]
    KeyedFecPayloadLen { found: u64, largest: usize },
    /// The fountain code makes its own repair packets, in an order of its own.
    #[error(
        "the fountain code sends its own repair packets: it takes neither FEC nor interleaving"
    )]
    FountainCombined,
    /// An interleaved span longer than a sender or a receiver holds.
    #[error("the interleaved span must be 1 to {most} packets (at most {} MiB of payload and {} packets), found {found}", MAX_INTERLEAVE_BYTES >> 20, MAX_INTERLEAVE_PACKETS)]
    Span { found: u32, most: u64 },
}

impl Settings {
    /// Settings for payloads of `payload_len` bytes coded as `coding` says, once the
    /// bounds they must keep together are checked (in this order): a packet fits one
    /// datagram, with its trailer when keyed; FEC's payloads are at most
    /// [`fec::MAX_PAYLOAD`] (less the trailer when keyed); a fountain takes neither FEC nor
    /// interleaving; a span holds at most [`MAX_INTERLEAVE_BYTES`]
    /// of payload and [`MAX_INTERLEAVE_PACKETS`] packets. The other fields (transfer id 0,
    /// no pacing, no descriptors) are the caller's to set.
    pub fn new(payload_len: u64, coding: Coding) -> Result<Settings, SettingsError> {
        let Coding {
            fec,
            sign,
            interleave,
            fountain,
        } = coding;
        let trailer_len = sign.as_ref().map_or(0, Signer::trailer_len);
        let largest = MAX_PAYLOAD - trailer_len;
        if !(1..=largest as u64).contains(&payload_len) {
            return Err(SettingsError::PayloadLen {
                found: payload_len,
                largest,
                trailer_len,
            });
        }
        if fec.is_some() && payload_len > fec::MAX_PAYLOAD as u64 {
            return Err(SettingsError::FecPayloadLen {
                found: payload_len,
                largest: fec::MAX_PAYLOAD,
            });
        }
        if sign.is_some() && fec.is_some() && payload_len > (fec::MAX_PAYLOAD - trailer_len) as u64
        {
            return Err(SettingsError::KeyedFecPayloadLen {
                found: payload_len,
                largest: fec::MAX_PAYLOAD - trailer_len,
            });
        }
        if fountain && (fec.is_some() || interleave.is_some()) {
            return Err(SettingsError::FountainCombined);
        }
        if let Some(Interleave::Packets(span)) = interleave {
            let most =
                (MAX_INTERLEAVE_BYTES as u64 / payload_len).clamp(1, MAX_INTERLEAVE_PACKETS as u64);
            if span == 0 || u64::from(span) > most {
                return Err(SettingsError::Span { found: span, most });
            }
        }
        Ok(Settings {
            payload_len: payload_len as usize,
            transfer_id: 0,
            bytes_per_sec: None,
            describe: None,
            fec,
            interleave,
            sign,
        })
    }

    /// The span, in data packets, for an input of `input_packets` data packets (`None`:
    /// unknown, a pipe), or `None` when the packets go in order. A span is never longer
    /// than the input (rounded up to whole groups), and with FEC it is a whole number of
    /// groups. A span of one row (one packet, or one group with FEC) would be sent in order
    /// anyway, so it is `None`: pktize(5) announces INTERLEAVED only for two rows or more.
    pub fn interleave_span(&self, input_packets: Option<u64>) -> Option<usize> {
        let p = self.payload_len.max(1);
        let cap = (MAX_INTERLEAVE_BYTES / p).clamp(1, MAX_INTERLEAVE_PACKETS);
        let want = match self.interleave? {
            Interleave::Whole => DEFAULT_INTERLEAVE_BYTES / p,
            Interleave::Packets(n) => n as usize,
        }
        .clamp(1, cap);
        let want = match input_packets {
            Some(n) => want.min(usize::try_from(n.max(1)).unwrap_or(usize::MAX)),
            None => want,
        };
        let k = self.fec.map_or(1, |s| usize::from(s.data));
        let span = want.div_ceil(k) * k;
        (span > k).then_some(span)
    }
}

/// What the descriptor packets say, and how often they go out.
#[derive(Debug, Clone)]
pub struct Describe {
    /// Data packets between descriptors (at least 1).
    pub every: u32,
    pub name: String,
    /// The media type; `None` sniffs it from the first bytes.
    pub media_type: Option<MediaType>,
}

/// Default spacing of descriptors: one 1.1 KB descriptor per 256 KiB of 1024-byte packets
/// costs 0.4% of the stream.
pub const DEFAULT_DESCRIBE_EVERY: u32 = 256;

/// What was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub input_bytes: u64,
    /// Data packets.
    pub packets: u64,
    pub descriptors: u64,
    pub parity_packets: u64,
    /// Fountain repair packets.
    pub repair_packets: u64,
    pub output_bytes: u64,
}

/// Turns payloads into packets with consecutive sequence numbers and offsets.
pub struct Packetizer {
    settings: Settings,
    total_len: Option<u64>,
    /// The interleaving span in data packets, when interleaving.
    span: Option<usize>,
    /// The carousel pass being sent (`packetize_carousel`), from 0.
    pass: u32,
    /// The input is sent more than once: the descriptors say so.
    carousel: bool,
    /// Fountain repair packets follow, over blocks of this many data packets.
    fountain: Option<u16>,
    seq: u32,
    offset: u64,
    /// Descriptors sent: the low 32 bits are a descriptor's seq (and, encrypting, the high
    /// ones its offset, so that its place, the nonce, never repeats).
    descriptors_sent: u64,
    summary: Summary,
    /// Encrypting: the packets built since the last write (see [`Sealed::framed`]).
    frame: Vec<u8>,
}

impl Packetizer {
    /// A packetizer for one transfer; `total_len` is the input length when known.
    pub fn new(settings: Settings, total_len: Option<u64>) -> Self {
        assert!(
            (1..=MAX_PAYLOAD).contains(&settings.payload_len),
            "payload size is validated by Settings::new to lie in 1..=MAX_PAYLOAD"
        );
        assert!(
            settings.sign.is_none() || settings.payload_len <= MAX_KEYED_DATA,
            "a keyed payload size is validated by Settings::new to leave room for the trailer"
        );
        assert!(
            settings.sign.as_ref().is_none_or(|s| !s.encrypts())
                || settings.payload_len <= MAX_SEALED_DATA,
            "an encrypted payload size is validated by Settings::new to leave room for the trailer"
        );
        assert!(
            settings.fec.is_none() || settings.payload_len <= fec::MAX_PAYLOAD,
            "payload size with FEC is validated by Settings::new to be at most fec::MAX_PAYLOAD"
        );
        let packets = total_len.map(|t| t.div_ceil(settings.payload_len as u64));
        Packetizer {
            span: settings.interleave_span(packets),
            settings,
            total_len,
            seq: 0,
            offset: 0,
            descriptors_sent: 0,
            pass: 0,
            carousel: false,
            fountain: None,
            summary: Summary::default(),
            frame: Vec::new(),
        }
    }

    /// The header of the next packet, which carries `payload` (without a key).
    pub fn next_header(&mut self, payload: &[u8], last: bool) -> [u8; HEADER_LEN] {
        self.next_packet(payload, last).header
    }

    /// The header of the next packet, which carries `payload`, and its trailer when keyed.
    pub fn next_packet(&mut self, payload: &[u8], last: bool) -> Sealed {
        let sealed = self.header_at(self.seq, self.offset, payload, last);
        self.seq = self.seq.wrapping_add(1);
        self.offset += payload.len() as u64;
        sealed
    }

    /// The header of data packet `seq` at `offset`, which carries `payload`, sent out of
    /// order; the caller moves the next seq and offset on past the span.
    fn header_at(&mut self, seq: u32, offset: u64, payload: &[u8], last: bool) -> Sealed {
        let header = self.data_header(seq, offset, payload, last);
        let sealed = seal(
            self.settings.sign.as_ref(),
            header,
            payload,
            &mut self.frame,
        );
        self.summary.packets += 1;
        self.summary.input_bytes += payload.len() as u64;
        self.summary.output_bytes += sealed.wire_len(payload) as u64;
        sealed
    }

    /// The header of data packet `seq` at `offset` before sealing: no CRC, no key.
    fn data_header(&self, seq: u32, offset: u64, payload: &[u8], last: bool) -> Header {
        debug_assert!(payload.len() <= self.settings.payload_len);
        data_header(
            self.settings.transfer_id,
            self.total_len,
            seq,
            offset,
            payload,
            last,
        )
    }

    /// The header of a descriptor packet carrying `body`, and its trailer when keyed.
    pub fn descriptor_header(&mut self, body: &[u8]) -> Sealed {
        let header = Header {
            kind: Kind::Descriptor,
            last: false,
            keyed: false,
            encrypted: false,
            payload_len: body.len() as u16,
            transfer_id: self.settings.transfer_id,
            seq: self.descriptors_sent as u32,
            offset: match &self.settings.sign {
                Some(s) if s.encrypts() => self.descriptors_sent >> 32,
                _ => 0,
            },
            total_len: self.total_len,
            payload_crc: 0,
            parity: None,
        };
        let sealed = seal(self.settings.sign.as_ref(), header, body, &mut self.frame);
        self.descriptors_sent += 1;
        self.summary.descriptors += 1;
        self.summary.output_bytes += sealed.wire_len(body) as u64;
        sealed
    }

    /// The descriptor body for this transfer, given the first bytes of its data.
    fn descriptor_body(&self, describe: &Describe, media_type: MediaType, head: &[u8]) -> Vec<u8> {
        let mut head = &head[..head.len().min(HEAD_MAX)];
        if media_type == MediaType::JpegIndexed {
            // The JPEG's headers (tables, frame, scan) are what a receiver needs; the
            // scan's bytes after them would only make each descriptor longer.
            head = &head[..crate::jpeg::packets::head_len(head, self.settings.payload_len)];
        }
        Descriptor {
            media_type,
            payload_len: self.settings.payload_len as u16,
            fec: self.settings.fec.map(|s| (s.data, s.parity)),
            name: describe.name.clone(),
            head: head.to_vec(),
            interleave_span: self
                .span
                .map(|s| u32::try_from(s).expect("spans are at most MAX_INTERLEAVE_BYTES")),
            carousel: self.carousel,
            fountain: self.fountain,
        }
        .encode()
    }

    /// The totals so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }
}

/// A packet's header as sent, and its trailer when it is keyed: the payload goes between;
/// or, encrypted, where the whole packet lies in the packetizer's frame buffer.
#[derive(Debug, Clone, Copy)]
pub struct Sealed {
    pub header: [u8; HEADER_LEN],
    pub trailer: Option<[u8; TRAILER_LEN]>,
    /// Encrypted: the whole packet is `frame[start..end]` (header and trailer included),
    /// and the payload is not sent from where it lies.
    pub framed: Option<(usize, usize)>,
}

impl Sealed {
    /// The whole packet's length on the wire, around `payload`.
    pub fn wire_len(&self, payload: &[u8]) -> usize {
        match self.framed {
            Some((start, end)) => end - start,
            None => HEADER_LEN + payload.len() + self.trailer.map_or(0, |t| t.len()),
        }
    }

    /// The packet's bytes on the wire that are not the lent payload: the header, the
    /// trailer, or (encrypted) the whole packet from `frame`.
    fn pieces<'a>(&'a self, payload: &'a [u8], frame: &'a [u8]) -> [&'a [u8]; 3] {
        match self.framed {
            Some((start, end)) => [&frame[start..end], &[], &[]],
            None => [
                &self.header,
                payload,
                self.trailer.as_ref().map_or(&[][..], |t| &t[..]),
            ],
        }
    }

    /// Encrypted: the ciphertext the packet carries, what parity is coded over.
    fn ciphertext<'a>(&self, frame: &'a [u8], trailer_len: usize) -> Option<&'a [u8]> {
        self.framed
            .map(|(start, end)| &frame[start + HEADER_LEN..end - trailer_len])
    }
}

/// Finish a header whose `payload_crc` is still to be computed: keyed with `signer`, or
/// plain; an encrypting signer builds the packet whole at the end of `frame`.
fn seal(signer: Option<&Signer>, header: Header, payload: &[u8], frame: &mut Vec<u8>) -> Sealed {
    match signer {
        Some(s) if s.encrypts() => {
            let start = frame.len();
            s.seal_into(&header, payload, frame);
            let mut bytes = [0; HEADER_LEN];
            bytes.copy_from_slice(&frame[start..start + HEADER_LEN]);
            Sealed {
                header: bytes,
                trailer: None,
                framed: Some((start, frame.len())),
            }
        }
        Some(s) => {
            let (header, trailer) = s.seal(&header, payload);
            Sealed {
                header,
                trailer: Some(trailer),
                framed: None,
            }
        }
        None => {
            let mut bytes = [0; HEADER_LEN];
            Header {
                payload_crc: Header::crc_of(payload),
                ..header
            }
            .encode(&mut bytes);
            Sealed {
                header: bytes,
                trailer: None,
                framed: None,
            }
        }
    }
}

/// The header of data packet `seq` of transfer `transfer_id` (before sealing), as
/// [`Packetizer`] makes it; the fountain's encoder makes it again to encipher a block.
fn data_header(
    transfer_id: u16,
    total_len: Option<u64>,
    seq: u32,
    offset: u64,
    payload: &[u8],
    last: bool,
) -> Header {
    Header {
        kind: Kind::Data,
        last,
        keyed: false,
        encrypted: false,
        payload_len: payload.len() as u16,
        transfer_id,
        seq,
        offset,
        total_len,
        payload_crc: 0,
        parity: None,
    }
}

/// A transfer id that differs between runs: two senders to one receiver are told apart.
/// Not cryptographic; std's randomly keyed hasher mixed with the time and process id.
pub fn random_transfer_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish() as u16
}

/// The writes [`writer_for`] makes: two buffers of this size (one being written, one
/// filled). Half the pipe `io::grow_pipe` asks for: 512 KiB ran 1.06x as fast as 1 MiB.
const BACKGROUND_WRITE: usize = 512 << 10;

/// Where packets for `out` are best written: to a datagram or sequenced-packet socket one
/// packet per message, paced or not (`datagrams`); a paced transfer straight to `out`,
/// so each batch leaves when the pacer says; any other through a
/// [`crate::io::BackgroundWriter`], so the checksums and parity of the next batch are
/// computed while this one is written.
pub fn writer_for(out: std::fs::File, settings: &Settings) -> io::Result<Box<dyn Write>> {
    use std::os::fd::AsFd;
    if crate::io::is_packet_socket(out.as_fd()) {
        let out = crate::io::PacketWriter::new(out);
        return Ok(Box::new(datagrams::Datagrams::new(out)));
    }
    Ok(match settings.bytes_per_sec {
        Some(_) => Box::new(out),
        None => Box::new(crate::io::BackgroundWriter::new(out, BACKGROUND_WRITE)?),
    })
}

/// Packetize a whole input held in memory (a mapped file). `sent` is told, after each
/// write, how many input bytes have been sent, so the caller can release them.
pub fn packetize_slice(
    data: &[u8],
    out: &mut dyn Write,
    settings: &Settings,
    sent: &mut dyn FnMut(usize),
) -> io::Result<Summary> {
    let mut packetizer = Packetizer::new(settings.clone(), Some(data.len() as u64));
    let mut sender = Sender::new(out, settings);
    sender.describe(&packetizer, settings, data);
    if packetizer.span.is_some() {
        sender.send_interleaved(&mut packetizer, data, sent)?;
    } else {
        sender.send(&mut packetizer, data, true, sent)?;
    }
    sender.out.flush()?;
    let mut summary = packetizer.summary().clone();
    sender.add_parity_to(&mut summary);
    Ok(summary)
}

/// How many times a carousel sends its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passes {
    Count(u32),
    /// Until the output fails (its reader went away) or the process is killed.
    Endless,
}

/// Most bytes of a pipe held to send it more than once; a longer input must be a file.
pub const CAROUSEL_PIPE_MAX: usize = 64 << 20;

/// Send `data` (a mapped file, or a pipe read whole) `passes` times as the same transfer:
/// the same id, seq numbers and offsets, with descriptors in every pass and, when
/// interleaving, another order in every pass ([`interleave::send_order_of_pass`]).
pub fn packetize_carousel(
    data: &[u8],
    out: &mut dyn Write,
    settings: &Settings,
    passes: Passes,
) -> io::Result<Summary> {
    let mut packetizer = Packetizer::new(settings.clone(), Some(data.len() as u64));
    packetizer.carousel = passes != Passes::Count(1);
    let mut summary = Summary::default();
    let mut pass = 0u32;
    while passes == Passes::Endless || Passes::Count(pass) != passes {
        let mut sender = Sender::new(out, settings);
        packetizer.seq = 0;
        packetizer.offset = 0;
        packetizer.pass = pass;
        sender.describe(&packetizer, settings, data);
        if packetizer.span.is_some() {
            sender.send_interleaved(&mut packetizer, data, &mut |_| {})?;
        } else {
            sender.send(&mut packetizer, data, true, &mut |_| {})?;
        }
        sender.out.flush()?;
        let mut parity = Summary::default();
        sender.add_parity_to(&mut parity);
        summary.parity_packets += parity.parity_packets;
        summary.output_bytes += parity.output_bytes;
        pass = pass.wrapping_add(1);
    }
    let sent = packetizer.summary();
    summary.input_bytes = data.len() as u64;
    summary.packets = sent.packets;
    summary.descriptors = sent.descriptors;
    summary.output_bytes += sent.output_bytes;
    Ok(summary)
}

/// Read all of `input` if it holds at most `max` bytes; `None` if it holds more.
pub fn read_bounded(input: &mut dyn Read, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    input.take(max as u64 + 1).read_to_end(&mut data)?;
    Ok((data.len() <= max).then_some(data))
}

/// Packetize a stream of unknown length, sending packets as soon as their bytes arrive.
pub fn packetize_stream(
    input: &mut dyn Read,
    out: &mut dyn Write,
    settings: &Settings,
) -> io::Result<Summary> {
    let payload_len = settings.payload_len;
    let mut packetizer = Packetizer::new(settings.clone(), None);
    let mut sender = Sender::new(out, settings);
    if let Some(span) = packetizer.span {
        return stream_interleaved(input, &mut sender, &mut packetizer, span);
    }
    // Room for many payloads per read; `pending` bytes at the front are not yet sent.
    let capacity = (WRITE_BATCH / payload_len).max(2) * payload_len;
    let mut buf = vec![0u8; capacity.max(2 * HEAD_MAX)];
    // Descriptors carry the head of the data (pktize(5)). From a pipe the first one holds
    // exactly the first min(HEAD_MAX, payload_len) bytes (all of a shorter input): the
    // first data packet waits for a byte past its payload anyway, so a slow producer is
    // held up no longer than it would be without descriptors. Later ones hold more of the
    // same bytes as more has been read, up to HEAD_MAX: at the default payload (HEAD_MAX
    // bytes) every descriptor holds the head a file gives.
    let first_head = HEAD_MAX.min(payload_len);
    let mut head = Vec::with_capacity(HEAD_MAX);
    let mut pending = 0;
    let mut eof = false;
    while pending <= first_head && !eof {
        let n = crate::io::read_some(input, &mut buf[pending..])?;
        eof = n == 0;
        pending += n;
    }
    head.extend_from_slice(&buf[..pending.min(first_head)]);
    sender.describe(&packetizer, settings, &head);
    // Where buf[0] lies in the data, to grow the head from what was read.
    let mut buf_at = 0;
    loop {
        let known = buf_at + pending;
        if head.len() < HEAD_MAX && known > head.len() {
            let end = known.min(HEAD_MAX);
            head.extend_from_slice(&buf[head.len() - buf_at..end - buf_at]);
            sender.describe(&packetizer, settings, &head);
        }
        if eof {
            break;
        }
        // Send every full payload but keep at least one byte back: the last packet must
        // carry the LAST flag, and only the end of input tells which one that is.
        let sendable = if pending > payload_len {
            (pending - 1) / payload_len * payload_len
        } else {
            0
        };
        sender.send(&mut packetizer, &buf[..sendable], false, &mut |_| {})?;
        sender.out.flush()?;
        buf.copy_within(sendable..pending, 0);
        pending -= sendable;
        buf_at += sendable;
        let n = crate::io::read_some(input, &mut buf[pending..])?;
        eof = n == 0;
        pending += n;
    }
    sender.send(&mut packetizer, &buf[..pending], true, &mut |_| {})?;
    sender.out.flush()?;
    let mut summary = packetizer.summary().clone();
    sender.add_parity_to(&mut summary);
    Ok(summary)
}

/// [`packetize_stream`] with interleaving: hold a span of input (at most
/// [`MAX_INTERLEAVE_BYTES`]) and one byte more, to know whether the span ends the transfer,
/// then send it in interleaved order.
fn stream_interleaved(
    input: &mut dyn Read,
    sender: &mut Sender,
    packetizer: &mut Packetizer,
    span: usize,
) -> io::Result<Summary> {
    let settings = packetizer.settings.clone();
    let span_bytes = span * settings.payload_len;
    let mut buf: Vec<u8> = Vec::new();
    let mut filled = 0;
    let mut described = false;
    loop {
        let mut eof = false;
        while filled <= span_bytes {
            if buf.len() == filled {
                buf.resize((filled + WRITE_BATCH).min(span_bytes + 1), 0);
            }
            let n = crate::io::read_some(input, &mut buf[filled..])?;
            if n == 0 {
                eof = true;
                break;
            }
            filled += n;
        }
        if !described {
            if eof {
                // The whole input is in hand: its span is capped at its length, as from a
                // file, so the descriptors announce the same span either way.
                let packets = (filled as u64).div_ceil(settings.payload_len as u64);
                packetizer.span = settings.interleave_span(Some(packets));
            }
            // The whole span is read before anything is sent: the head is complete.
            sender.describe(packetizer, &settings, &buf[..filled.min(HEAD_MAX)]);
            described = true;
            if packetizer.span.is_none() {
                // One row: in order, as from a file.
                sender.send(packetizer, &buf[..filled], true, &mut |_| {})?;
                break;
            }
        }
        if eof {
            sender.send_interleaved(packetizer, &buf[..filled], &mut |_| {})?;
            break;
        }
        sender.send_span(packetizer, &buf[..span_bytes], false)?;
        sender.out.flush()?;
        buf.copy_within(span_bytes..filled, 0);
        filled -= span_bytes;
    }
    sender.out.flush()?;
    let mut summary = packetizer.summary().clone();
    sender.add_parity_to(&mut summary);
    Ok(summary)
}

#[cfg(test)]
mod tests;
