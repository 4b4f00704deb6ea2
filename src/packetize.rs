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
//! the [`crate::auth`] trailer (salt and tag), written from a small array beside its header,
//! so payloads are still sent from where they lie. Offsets and the FEC code count the data
//! alone.
//!
//! This module does not pace by itself beyond what [`Pacer`] is given, and knows nothing of
//! sockets.

use crate::auth::{Signer, MAX_KEYED_DATA};
use crate::descriptor::{Descriptor, MediaType, HEAD_MAX};
use crate::fec::{self, Scheme};
use crate::wire::{Header, Kind, HEADER_LEN, MAX_PAYLOAD, TRAILER_LEN};
use std::io::{self, IoSlice, Read, Write};
use std::time::{Duration, Instant};

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
    /// Follow every group of K data packets with M parity packets.
    pub fec: Option<Scheme>,
    /// Authenticate every packet with this key and transfer salt (payloads then carry at
    /// most [`MAX_KEYED_DATA`] bytes).
    pub sign: Option<Signer>,
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
        Packetizer {
            settings,
            total_len,
            seq: 0,
            offset: 0,
            descriptor_seq: 0,
            summary: Summary::default(),
        }
    }

    /// The header of the next packet, which carries `payload` (without a key).
    pub fn next_header(&mut self, payload: &[u8], last: bool) -> [u8; HEADER_LEN] {
        self.next_packet(payload, last).header
    }

    /// The header of the next packet, which carries `payload`, and its trailer when keyed.
    pub fn next_packet(&mut self, payload: &[u8], last: bool) -> Sealed {
        debug_assert!(payload.len() <= self.settings.payload_len);
        let header = Header {
            kind: Kind::Data,
            last,
            keyed: false,
            payload_len: payload.len() as u16,
            transfer_id: self.settings.transfer_id,
            seq: self.seq,
            offset: self.offset,
            total_len: self.total_len,
            payload_crc: 0,
            parity: None,
        };
        let sealed = seal(self.settings.sign.as_ref(), header, payload);
        self.seq = self.seq.wrapping_add(1);
        self.offset += payload.len() as u64;
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
/// calls; 1 MiB is the pipe size `cli::grow_pipe` asks for.
const WRITE_BATCH: usize = 1 << 20;
/// Packets per vectored write: two slices each, within Linux's IOV_MAX of 1024.
const PACKETS_PER_WRITE: usize = 512;

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
                    // A trailing descriptor, for receivers that lost the first ones.
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
        let written = write_all_vectored(self.out, &mut slices);
        self.parity.clear();
        self.parity_after.clear();
        written
    }
}

/// `write_all` for several slices (std's is unstable): retries short and interrupted writes.
pub fn write_all_vectored(out: &mut dyn Write, mut slices: &mut [IoSlice]) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match out.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
    sender.send(&mut packetizer, data, true, sent)?;
    sender.out.flush()?;
    let mut summary = packetizer.summary().clone();
    sender.add_parity_to(&mut summary);
    Ok(summary)
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
    // Room for many payloads per read; `pending` bytes at the front are not yet sent.
    let capacity = (WRITE_BATCH / payload_len).max(2) * payload_len;
    let mut buf = vec![0u8; capacity.max(HEAD_MAX)];
    // Descriptors carry the head of the data. The first one takes what the first read
    // gave, so a slow producer is not held up; later ones carry more, up to HEAD_MAX.
    let mut head = Vec::with_capacity(HEAD_MAX);
    let mut pending = 0;
    loop {
        let n = crate::cli::read_some(input, &mut buf[pending..])?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{scan, Frame};

    fn settings(payload_len: usize) -> Settings {
        Settings {
            payload_len,
            transfer_id: 42,
            bytes_per_sec: None,
            describe: None,
            fec: None,
            sign: None,
        }
    }

    /// Headers of every packet in a stream, checking that each is intact.
    fn headers(stream: &[u8]) -> Vec<Header> {
        let mut at = 0;
        let mut out = vec![];
        while at < stream.len() {
            match scan(&stream[at..], true) {
                Frame::Packet {
                    header,
                    intact: true,
                    payload_len,
                    ..
                } => {
                    out.push(header);
                    at += HEADER_LEN + payload_len;
                }
                other => panic!("unexpected {other:?} at {at}"),
            }
        }
        out
    }

    #[test]
    fn empty_input_is_one_empty_last_packet() {
        let mut out = vec![];
        packetize_slice(&[], &mut out, &settings(4), &mut |_| {}).unwrap();
        let h = headers(&out);
        assert_eq!(h.len(), 1);
        assert!(h[0].last);
        assert_eq!(h[0].payload_len, 0);
        assert_eq!(h[0].total_len, Some(0));
    }

    #[test]
    fn slices_and_streams_give_the_same_offsets_and_flags() {
        let data: Vec<u8> = (0..=255).cycle().take(1000).collect();
        for len in [0, 1, 9, 10, 11, 1000] {
            let mut a = vec![];
            packetize_slice(&data[..len], &mut a, &settings(10), &mut |_| {}).unwrap();
            let mut b = vec![];
            packetize_stream(&mut &data[..len], &mut b, &settings(10)).unwrap();
            let (ha, hb) = (headers(&a), headers(&b));
            assert_eq!(ha.len(), len.div_ceil(10).max(1));
            assert_eq!(ha.len(), hb.len());
            for (i, (x, y)) in ha.iter().zip(&hb).enumerate() {
                assert_eq!(x.offset, 10 * i as u64);
                assert_eq!(x.seq, i as u32);
                assert_eq!((x.offset, x.seq, x.last), (y.offset, y.seq, y.last));
                assert_eq!(x.last, i + 1 == ha.len());
                assert_eq!(x.total_len, Some(len as u64));
                assert_eq!(y.total_len, None);
            }
        }
    }

    /// A reader that gives one byte per read.
    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            match buf.first_mut() {
                Some(b) => *b = first,
                None => return Ok(0),
            }
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn parity_follows_each_group_from_slices_and_streams_alike() {
        let data: Vec<u8> = (0..=255).cycle().take(1000).collect();
        let fec = Some(Scheme::new(3, 2).unwrap());
        for len in [0, 1, 29, 30, 31, 95, 1000] {
            let settings = Settings {
                fec,
                ..settings(10)
            };
            let mut a = vec![];
            let summary = packetize_slice(&data[..len], &mut a, &settings, &mut |_| {}).unwrap();
            // A stream read one byte at a time still gives every group its parity in place.
            let mut b = vec![];
            packetize_stream(&mut OneByte(&data[..len]), &mut b, &settings).unwrap();
            let (ha, hb) = (headers(&a), headers(&b));
            assert_eq!(ha.len(), hb.len());
            let groups = len.div_ceil(10).max(1).div_ceil(3);
            assert_eq!(summary.parity_packets, 2 * groups as u64);
            assert_eq!(summary.output_bytes, a.len() as u64);
            let kinds: String = ha
                .iter()
                .map(|h| if h.kind == Kind::Data { 'd' } else { 'p' })
                .collect();
            let want: String = (0..len.div_ceil(10).max(1))
                .collect::<Vec<_>>()
                .chunks(3)
                .map(|g| "d".repeat(g.len()) + "pp")
                .collect();
            assert_eq!(kinds, want, "length {len}");
            for (x, y) in ha.iter().zip(&hb) {
                assert_eq!(
                    (x.kind, x.seq, x.offset, x.parity, x.payload_crc),
                    (y.kind, y.seq, y.offset, y.parity, y.payload_crc)
                );
            }
        }
    }

    #[test]
    fn pacer_holds_the_rate() {
        let mut p = Pacer::new(1_000_000);
        let t = Instant::now();
        for _ in 0..10 {
            p.wait_for(5_000);
        }
        assert!(t.elapsed() >= Duration::from_millis(45));
    }
}
