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
//! alone.
//!
//! This module does not pace by itself beyond what [`Pacer`] is given, and knows nothing of
//! sockets.

use crate::descriptor::{Descriptor, MediaType, HEAD_MAX};
use crate::fec::{self, Scheme};
use crate::io::write_all_vectored;
use crate::wire::auth::{Signer, MAX_KEYED_DATA};
use crate::wire::{Header, Kind, HEADER_LEN, MAX_PAYLOAD, TRAILER_LEN};
use std::io::{self, IoSlice, Read, Write};
use std::time::{Duration, Instant};

pub mod interleave;
use interleave::Slot;

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
    /// most [`MAX_KEYED_DATA`] bytes).
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

impl Settings {
    /// The span, in data packets, for an input of `input_packets` data packets (`None`:
    /// unknown, a pipe), or `None` when the packets go in order. A span is never longer
    /// than the input, and with FEC it is a whole number of groups.
    pub fn interleave_span(&self, input_packets: Option<u64>) -> Option<usize> {
        let p = self.payload_len.max(1);
        let cap = (MAX_INTERLEAVE_BYTES / p).max(1);
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
        (span > 1).then_some(span)
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
/// While pacing, a descriptor goes out at least this often, so a receiver that joins late
/// learns what it receives within this time.
const DESCRIBE_INTERVAL: Duration = Duration::from_millis(200);

/// What was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub input_bytes: u64,
    /// Data packets.
    pub packets: u64,
    pub descriptors: u64,
    pub parity_packets: u64,
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
    seq: u32,
    offset: u64,
    descriptor_seq: u32,
    summary: Summary,
}

impl Packetizer {
    /// A packetizer for one transfer; `total_len` is the input length when known.
    pub fn new(settings: Settings, total_len: Option<u64>) -> Self {
        assert!(
            (1..=MAX_PAYLOAD).contains(&settings.payload_len),
            "payload size is validated by the caller to lie in 1..=MAX_PAYLOAD"
        );
        assert!(
            settings.sign.is_none() || settings.payload_len <= MAX_KEYED_DATA,
            "a keyed payload size is validated by the caller to leave room for the trailer"
        );
        assert!(
            settings.sign.is_none() || settings.interleave.is_none(),
            "the caller refuses a key with interleaving (not implemented yet)"
        );
        assert!(
            settings.fec.is_none() || settings.payload_len <= fec::MAX_PAYLOAD,
            "payload size with FEC is validated by the caller to be at most fec::MAX_PAYLOAD"
        );
        let packets = total_len.map(|t| t.div_ceil(settings.payload_len as u64));
        Packetizer {
            span: settings.interleave_span(packets),
            settings,
            total_len,
            seq: 0,
            offset: 0,
            descriptor_seq: 0,
            pass: 0,
            carousel: false,
            summary: Summary::default(),
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
        debug_assert!(payload.len() <= self.settings.payload_len);
        let header = Header {
            kind: Kind::Data,
            last,
            keyed: false,
            payload_len: payload.len() as u16,
            transfer_id: self.settings.transfer_id,
            seq,
            offset,
            total_len: self.total_len,
            payload_crc: 0,
            parity: None,
        };
        let sealed = seal(self.settings.sign.as_ref(), header, payload);
        self.summary.packets += 1;
        self.summary.input_bytes += payload.len() as u64;
        self.summary.output_bytes += sealed.wire_len(payload) as u64;
        sealed
    }

    /// The header of a descriptor packet carrying `body`, and its trailer when keyed.
    pub fn descriptor_header(&mut self, body: &[u8]) -> Sealed {
        let header = Header {
            kind: Kind::Descriptor,
            last: false,
            keyed: false,
            payload_len: body.len() as u16,
            transfer_id: self.settings.transfer_id,
            seq: self.descriptor_seq,
            offset: 0,
            total_len: self.total_len,
            payload_crc: 0,
            parity: None,
        };
        let sealed = seal(self.settings.sign.as_ref(), header, body);
        self.descriptor_seq = self.descriptor_seq.wrapping_add(1);
        self.summary.descriptors += 1;
        self.summary.output_bytes += sealed.wire_len(body) as u64;
        sealed
    }

    /// The descriptor body for this transfer, given the first bytes of its data.
    fn descriptor_body(&self, describe: &Describe, media_type: MediaType, head: &[u8]) -> Vec<u8> {
        let head = &head[..head.len().min(HEAD_MAX)];
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
        }
        .encode()
    }

    /// The totals so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }
}

/// A packet's header as sent, and its trailer when it is keyed: the payload goes between.
#[derive(Debug, Clone, Copy)]
pub struct Sealed {
    pub header: [u8; HEADER_LEN],
    pub trailer: Option<[u8; TRAILER_LEN]>,
}

impl Sealed {
    /// The whole packet's length on the wire, around `payload`.
    pub fn wire_len(&self, payload: &[u8]) -> usize {
        HEADER_LEN + payload.len() + self.trailer.map_or(0, |t| t.len())
    }
}

/// Finish a header whose `payload_crc` is still to be computed: keyed with `signer`, or
/// plain.
fn seal(signer: Option<&Signer>, header: Header, payload: &[u8]) -> Sealed {
    match signer {
        Some(s) => {
            let (header, trailer) = s.seal(&header, payload);
            Sealed {
                header,
                trailer: Some(trailer),
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
            }
        }
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

/// Paces output to a byte rate: sleeps so that what was sent never runs ahead of
/// `bytes_per_sec` times the elapsed time, allowing a small burst.
pub struct Pacer {
    bytes_per_sec: u64,
    started: Instant,
    sent: u64,
}

impl Pacer {
    pub fn new(bytes_per_sec: u64) -> Self {
        Pacer {
            bytes_per_sec: bytes_per_sec.max(1),
            started: Instant::now(),
            sent: 0,
        }
    }

    /// Account for `bytes` about to be sent, sleeping first if they would be early.
    pub fn wait_for(&mut self, bytes: usize) {
        self.sent += bytes as u64;
        let due = Duration::from_secs_f64(self.sent as f64 / self.bytes_per_sec as f64);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }

    /// How many bytes to send between sleeps: about 5 ms worth, at least one packet.
    pub fn batch_len(&self, packet_len: usize) -> usize {
        ((self.bytes_per_sec / 200) as usize).max(packet_len)
    }
}

/// How much packet data to send per write when not pacing: large writes amortise system
/// calls; 1 MiB is the pipe size `io::grow_pipe` asks for.
const WRITE_BATCH: usize = 1 << 20;
/// Packets per vectored write: two slices each (header, payload), within IOV_MAX.
const PACKETS_PER_WRITE: usize = crate::io::IOV_MAX / 2;

/// Writes packets with vectored writes: headers from a small array, payloads straight from
/// the caller's bytes (a mapped file or the read buffer), so payloads are never copied in
/// user space. Each packet stays contiguous in the output stream.
struct Sender<'w> {
    out: &'w mut dyn Write,
    pacer: Option<Pacer>,
    batch: usize,
    headers: Vec<Sealed>,
    describer: Option<Describer>,
    /// FEC: the encoder, the parity packets of this batch (whole, contiguous), and after
    /// which packet of the batch each group's parity goes.
    fec: Option<fec::Encoder>,
    parity: Vec<u8>,
    parity_after: Vec<(usize, std::ops::Range<usize>)>,
    parity_bytes: u64,
    /// With a key: the signer, and the encoder's unkeyed parity packets before sealing.
    sign: Option<Signer>,
    unsealed: Vec<u8>,
}

/// When the next descriptor is due, and its body.
struct Describer {
    body: Vec<u8>,
    media_type: MediaType,
    every: u32,
    since: u32,
    sent_at: Option<Instant>,
    pacing: bool,
}

impl Describer {
    fn due(&self) -> bool {
        self.since >= self.every
            || (self.pacing
                && self
                    .sent_at
                    .is_some_and(|t| t.elapsed() >= DESCRIBE_INTERVAL))
    }

    fn sent(&mut self) {
        self.since = 0;
        self.sent_at = Some(Instant::now());
    }
}

impl<'w> Sender<'w> {
    fn new(out: &'w mut dyn Write, settings: &Settings) -> Self {
        let pacer = settings.bytes_per_sec.map(Pacer::new);
        let packet_len = HEADER_LEN + settings.payload_len;
        let batch = match &pacer {
            Some(p) => p.batch_len(packet_len),
            None => WRITE_BATCH.max(packet_len),
        };
        Sender {
            out,
            pacer,
            batch,
            headers: Vec::with_capacity(PACKETS_PER_WRITE),
            describer: None,
            fec: settings
                .fec
                .map(|s| fec::Encoder::new(s, settings.transfer_id, settings.payload_len)),
            parity: Vec::new(),
            parity_after: Vec::new(),
            parity_bytes: 0,
            sign: settings.sign.clone(),
            unsealed: Vec::new(),
        }
    }

    /// FEC: code a data payload just queued as the batch's `queued`-th packet; a completed
    /// group's parity is queued right after it.
    fn code(&mut self, payload: &[u8], last: bool, queued: usize) {
        let Some(encoder) = &mut self.fec else {
            return;
        };
        let before = self.parity.len();
        let added = match &self.sign {
            None => encoder.add(payload, last, &mut self.parity),
            Some(signer) => {
                // The code is over the data; each parity packet then gets its own trailer.
                self.unsealed.clear();
                let added = encoder.add(payload, last, &mut self.unsealed);
                let mut rest = &self.unsealed[..];
                while !rest.is_empty() {
                    let header = Header::parse(rest).expect("the encoder writes valid headers");
                    let (packet, after) = rest.split_at(header.packet_len());
                    let shard = &packet[HEADER_LEN..];
                    let (h, t) = signer.seal(&header, shard);
                    self.parity.extend_from_slice(&h);
                    self.parity.extend_from_slice(shard);
                    self.parity.extend_from_slice(&t);
                    rest = after;
                }
                added
            }
        };
        if added > 0 {
            self.parity_after.push((queued, before..self.parity.len()));
            self.parity_bytes += (self.parity.len() - before) as u64;
        }
    }

    /// Count the parity sent into a summary.
    fn add_parity_to(&self, summary: &mut Summary) {
        if let Some(encoder) = &self.fec {
            summary.parity_packets = encoder.packets();
            summary.output_bytes += self.parity_bytes;
        }
    }

    /// Send descriptors as `settings` asks, describing data that starts with `head`. The
    /// first goes out before the next data packet; a call with a longer head only updates
    /// what the next scheduled descriptor says.
    fn describe(&mut self, packetizer: &Packetizer, settings: &Settings, head: &[u8]) {
        let Some(d) = settings.describe.as_ref() else {
            return;
        };
        match &mut self.describer {
            // The type stays what the first head said, so descriptors never disagree.
            Some(describer) => {
                describer.body = packetizer.descriptor_body(d, describer.media_type, head)
            }
            None => {
                let media_type = d.media_type.unwrap_or_else(|| MediaType::sniff(head));
                self.describer = Some(Describer {
                    body: packetizer.descriptor_body(d, media_type, head),
                    media_type,
                    every: d.every.max(1),
                    since: d.every.max(1),
                    sent_at: None,
                    pacing: settings.bytes_per_sec.is_some(),
                })
            }
        }
    }

    /// Send `data` as packets of the packetizer's payload size. The last packet gets the
    /// LAST flag when `ends_transfer`; an empty `data` that ends the transfer is sent as one
    /// empty packet. `sent` is told how many bytes of `data` have gone out after each write.
    fn send(
        &mut self,
        packetizer: &mut Packetizer,
        data: &[u8],
        ends_transfer: bool,
        sent: &mut dyn FnMut(usize),
    ) -> io::Result<()> {
        let payload_len = packetizer.settings.payload_len;
        let mut describer = self.describer.take();
        // The body is borrowed by the slices being gathered while the schedule changes.
        let body = describer.as_mut().map(|d| std::mem::take(&mut d.body));
        // Three slices a packet with a trailer, two without.
        let most = match self.sign {
            Some(_) => PACKETS_PER_WRITE * 2 / 3,
            None => PACKETS_PER_WRITE,
        };
        let per_write = (self.batch / (HEADER_LEN + payload_len)).clamp(1, most);
        let count = data.len().div_ceil(payload_len);
        let mut payloads: Vec<&[u8]> = Vec::with_capacity(per_write + 2);
        let mut chunks = data.chunks(payload_len);
        // An empty transfer is one empty data packet.
        let empty: &[u8] = &[];
        let mut next = match chunks.next() {
            None if ends_transfer => Some(empty),
            first => first,
        };
        let mut i = 0;
        while let Some(payload) = next {
            if let (Some(d), Some(body)) = (describer.as_mut().filter(|d| d.due()), &body) {
                self.headers.push(packetizer.descriptor_header(body));
                payloads.push(body);
                d.sent();
            }
            let last = ends_transfer && i + 1 >= count;
            self.headers.push(packetizer.next_packet(payload, last));
            payloads.push(payload);
            self.code(payload, last, payloads.len());
            if let (Some(d), Some(body)) = (describer.as_mut(), &body) {
                d.since += 1;
                if last {
                    // A trailing descriptor, for receivers that lost the first ones; the
                    // total is known now, even from a pipe.
                    packetizer.total_len.get_or_insert(packetizer.offset);
                    self.headers.push(packetizer.descriptor_header(body));
                    payloads.push(body);
                    d.sent();
                }
            }
            next = chunks.next();
            if payloads.len() >= per_write || next.is_none() || self.parity.len() >= WRITE_BATCH {
                let headers = std::mem::take(&mut self.headers);
                self.write_packets(&headers, &payloads)?;
                self.headers = headers;
                self.headers.clear();
                payloads.clear();
                sent(((i + 1) * payload_len).min(data.len()));
            }
            i += 1;
        }
        if let (Some(d), Some(body)) = (describer.as_mut(), body) {
            d.body = body;
        }
        self.describer = describer;
        Ok(())
    }

    /// Send `data`, a whole number of spans (or the transfer's rest), span by span in the
    /// interleaved order of [`interleave::send_order`]. A span's parity is computed before
    /// it is sent (it is held until its columns come: M/K of the span). `sent` is told
    /// how many bytes of `data` have gone out after each span.
    fn send_interleaved(
        &mut self,
        packetizer: &mut Packetizer,
        data: &[u8],
        ends_transfer: bool,
        sent: &mut dyn FnMut(usize),
    ) -> io::Result<()> {
        let p = packetizer.settings.payload_len;
        let span = packetizer.span.expect("called only when interleaving");
        let span_bytes = span * p;
        let mut done = 0;
        loop {
            let block = &data[done..data.len().min(done + span_bytes)];
            let is_last = done + block.len() == data.len();
            if block.is_empty() && !(is_last && ends_transfer) {
                break;
            }
            self.send_span(packetizer, block, ends_transfer && is_last)?;
            done += block.len();
            sent(done);
            if is_last {
                break;
            }
        }
        Ok(())
    }

    /// Send one span of data packets (at most `span` of them) in interleaved order.
    fn send_span(
        &mut self,
        packetizer: &mut Packetizer,
        block: &[u8],
        ends_transfer: bool,
    ) -> io::Result<()> {
        let p = packetizer.settings.payload_len;
        let n = match block.len() {
            0 => usize::from(ends_transfer),
            len => len.div_ceil(p),
        };
        let payload = |i: usize| &block[(i * p).min(block.len())..((i + 1) * p).min(block.len())];
        // Parity of every group of the span, in seq order: groups start at the span's
        // start, as a span is a whole number of groups.
        let mut parity = Vec::new();
        let mut groups: Vec<(usize, usize)> = Vec::new();
        if let Some(encoder) = &mut self.fec {
            for i in 0..n {
                let before = parity.len();
                let count = encoder.add(payload(i), ends_transfer && i + 1 == n, &mut parity);
                if let Some(len) = (parity.len() - before).checked_div(count) {
                    groups.push((before, len));
                }
            }
            self.parity_bytes += parity.len() as u64;
        }
        let (stride, m) = match packetizer.settings.fec {
            Some(s) => (usize::from(s.data), usize::from(s.parity)),
            None => (1, 0),
        };
        let (base_seq, base_offset) = (packetizer.seq, packetizer.offset);
        let mut describer = self.describer.take();
        let body = describer.as_mut().map(|d| std::mem::take(&mut d.body));
        let per_write = (self.batch / (HEADER_LEN + p)).clamp(1, PACKETS_PER_WRITE);
        // A batch: headers, and per packet its header's index (or none: parity is whole).
        let mut headers: Vec<[u8; HEADER_LEN]> = Vec::with_capacity(per_write + 2);
        let mut pieces: Vec<(Option<usize>, &[u8])> = Vec::with_capacity(per_write + 2);
        let mut order = interleave::send_order_of_pass(n, stride, m, packetizer.pass).peekable();
        while let Some(slot) = order.next() {
            match slot {
                Slot::Data(i) => {
                    if let (Some(d), Some(body)) = (describer.as_mut().filter(|d| d.due()), &body) {
                        headers.push(packetizer.descriptor_header(body).header);
                        pieces.push((Some(headers.len() - 1), body));
                        d.sent();
                    }
                    let seq = base_seq.wrapping_add(i as u32);
                    let offset = base_offset + (i * p) as u64;
                    let last = ends_transfer && i + 1 == n;
                    headers.push(packetizer.header_at(seq, offset, payload(i), last).header);
                    pieces.push((Some(headers.len() - 1), payload(i)));
                    if let Some(d) = describer.as_mut() {
                        d.since += 1;
                    }
                }
                Slot::Parity { group, index } => {
                    if let Some(&(start, len)) = groups.get(group) {
                        pieces.push((
                            None,
                            &parity[start + index * len..start + (index + 1) * len],
                        ));
                    }
                }
            }
            let end = order.peek().is_none();
            if end && ends_transfer {
                if let (Some(d), Some(body)) = (describer.as_mut(), &body) {
                    // The trailing descriptor, after everything, with the total known.
                    packetizer
                        .total_len
                        .get_or_insert(base_offset + block.len() as u64);
                    headers.push(packetizer.descriptor_header(body).header);
                    pieces.push((Some(headers.len() - 1), body));
                    d.sent();
                }
            }
            if pieces.len() >= per_write || end {
                let mut slices: Vec<IoSlice> = Vec::with_capacity(2 * pieces.len());
                for (h, bytes) in &pieces {
                    if let Some(h) = h {
                        slices.push(IoSlice::new(&headers[*h]));
                    }
                    slices.push(IoSlice::new(bytes));
                }
                if let Some(pacer) = &mut self.pacer {
                    pacer.wait_for(slices.iter().map(|s| s.len()).sum());
                }
                write_all_vectored(self.out, &mut slices)?;
                headers.clear();
                pieces.clear();
            }
        }
        packetizer.seq = base_seq.wrapping_add(n as u32);
        packetizer.offset = base_offset + block.len() as u64;
        if let (Some(d), Some(body)) = (describer.as_mut(), body) {
            d.body = body;
        }
        self.describer = describer;
        Ok(())
    }

    fn write_packets(&mut self, headers: &[Sealed], payloads: &[&[u8]]) -> io::Result<()> {
        let mut slices: Vec<IoSlice> = Vec::with_capacity(3 * headers.len() + 1);
        let mut parity = self.parity_after.iter().peekable();
        for (n, (h, p)) in headers.iter().zip(payloads).enumerate() {
            slices.extend([IoSlice::new(&h.header), IoSlice::new(p)]);
            if let Some(t) = &h.trailer {
                slices.push(IoSlice::new(t));
            }
            if let Some((_, range)) = parity.next_if(|(after, _)| *after == n + 1) {
                slices.push(IoSlice::new(&self.parity[range.clone()]));
            }
        }
        if let Some(p) = &mut self.pacer {
            p.wait_for(slices.iter().map(|s| s.len()).sum());
        }
        let written = crate::io::write_all_vectored(self.out, &mut slices);
        self.parity.clear();
        self.parity_after.clear();
        written
    }
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
        sender.send_interleaved(&mut packetizer, data, true, sent)?;
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
            sender.send_interleaved(&mut packetizer, data, true, &mut |_| {})?;
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
    let mut buf = vec![0u8; capacity.max(HEAD_MAX)];
    // Descriptors carry the head of the data. The first one takes what the first read
    // gave, so a slow producer is not held up; later ones carry more, up to HEAD_MAX.
    let mut head = Vec::with_capacity(HEAD_MAX);
    let mut pending = 0;
    loop {
        let n = crate::io::read_some(input, &mut buf[pending..])?;
        let take = (HEAD_MAX - head.len()).min(n);
        if take > 0 || pending == 0 {
            head.extend_from_slice(&buf[pending..pending + take]);
            sender.describe(&packetizer, settings, &head);
        }
        pending += n;
        if n == 0 {
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
            // The whole span is read before anything is sent: the head is complete.
            sender.describe(packetizer, &settings, &buf[..filled.min(HEAD_MAX)]);
            described = true;
        }
        if eof {
            sender.send_interleaved(packetizer, &buf[..filled], true, &mut |_| {})?;
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
