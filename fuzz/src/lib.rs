//! Fuzz harnesses for pktools: one function per fuzz target, shared by the cargo-fuzz
//! targets in `fuzz_targets/` and by the main crate's `tests/fuzz_corpus.rs`, which runs
//! every committed corpus file through the same function on stable Rust (`make test`).
//!
//! Each harness feeds arbitrary bytes to a parser or a whole pipeline stage and checks
//! more than "no panic": the same input must give the same result whether it is mapped or
//! read from a stream cut at arbitrary places (every module promises this), and outputs
//! must be well formed. The first bytes of the input choose the options, so the fuzzer
//! explores them too. Sizes are bounded so that a run never needs more than a few
//! megabytes; the resource-limit tests (`tests/it/limits.rs`) cover huge claims.

use pktools::channel::{self, Config, GilbertElliott, LossModel, Mode, Reorder};
use pktools::descriptor::Descriptor;
use pktools::image::DescribedImage;
use pktools::io::Input;
use pktools::pixel::{Layout, Matrix, Output as PixelOutput, PixelFormat, Range, Rgb, YuvOptions};
use pktools::reassemble::damage::DamageMap;
use pktools::reassemble::output::{Output, OutputResult};
use pktools::reassemble::{self, DamagedPolicy, ReassembleError, Reassembler, Report, Settings};
use pktools::wire::{Header, HEADER_LEN, SYNC};
use pktools::{bmp, convert, pnm, rawvideo};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::FromRawFd;

mod hostile;
mod images;
pub use hostile::{forged_stream, hostile};
pub use images::{pnm, rawvideo};

/// A reader that hands out `data` in pieces of varying size (1 byte to a few KiB), as a
/// pipe or a socket would, chosen by a small generator seeded from `seed`.
pub struct ChunkedReader<D> {
    data: D,
    pos: usize,
    state: u32,
}

impl<D: AsRef<[u8]>> ChunkedReader<D> {
    pub fn new(data: D, seed: u8) -> Self {
        ChunkedReader {
            data,
            pos: 0,
            state: u32::from(seed).wrapping_mul(0x9E37_79B9) | 1,
        }
    }
}

impl<D: AsRef<[u8]>> Read for ChunkedReader<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        let want = match self.state % 4 {
            0 => 1,
            1 => (self.state >> 8) as usize % 64 + 1,
            2 => (self.state >> 8) as usize % 4096 + 1,
            _ => usize::MAX,
        };
        let data = self.data.as_ref();
        let n = want.min(buf.len()).min(data.len() - self.pos);
        buf[..n].copy_from_slice(&data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// `data` as the programs see a regular file: an [`Input::Mapped`] of a memfd (a real file
/// mapping, so releasing its pages behind the reader is safe), empty or not.
pub fn mapped_input(data: &[u8]) -> Input {
    // SAFETY: memfd_create takes a NUL-terminated name and flags; it returns a new
    // descriptor that we own, or -1.
    let fd = unsafe { libc::memfd_create(c"fuzz-input".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: {}", io::Error::last_os_error());
    // SAFETY: `fd` was just created and nothing else owns it.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(data).expect("writing to a memfd");
    // SAFETY: the memfd is ours alone and is not truncated while mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.expect("mapping a memfd");
    Input::Mapped(map)
}

/// Small numbers read from the front of the input, then the rest.
struct Controls<'a> {
    bytes: &'a [u8],
}

impl<'a> Controls<'a> {
    fn split(data: &'a [u8], n: usize) -> Option<(Controls<'a>, &'a [u8])> {
        (data.len() >= n).then(|| {
            let (c, rest) = data.split_at(n);
            (Controls { bytes: c }, rest)
        })
    }

    fn u8(&mut self) -> u8 {
        let (first, rest) = self.bytes.split_first().expect("enough control bytes");
        self.bytes = rest;
        *first
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// A probability: 0 half of the time, so that most options are off.
    fn rate(&mut self) -> f64 {
        let b = self.u8();
        if b < 128 {
            0.0
        } else {
            f64::from(b - 128) / 127.0
        }
    }
}

// ---------------------------------------------------------------------------------------
// Packet stream: framing and reassembly.

/// Output of the reassembler, in memory up to a bound: a write beyond it fails like a full
/// disk, so a header that claims a huge offset costs an error, not gigabytes of fill.
struct BoundedOutput {
    bytes: Vec<u8>,
    seekable: bool,
    written: u64,
}

const OUTPUT_LIMIT: u64 = 4 << 20;

impl Output for BoundedOutput {
    fn write_at(&mut self, at: u64, data: &[u8]) -> OutputResult<()> {
        if !self.seekable {
            assert_eq!(at, self.written, "a stream output is written in order");
        }
        let end = at + data.len() as u64;
        if end > OUTPUT_LIMIT {
            return Err(io::Error::other("fuzz output limit (a full disk)").into());
        }
        let (at, end) = (at as usize, end as usize);
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.bytes[at..end].copy_from_slice(data);
        self.written = self.written.max(end as u64);
        Ok(())
    }

    fn can_write_at(&self, at: u64) -> bool {
        self.seekable || at == self.written
    }

    fn seekable(&self) -> bool {
        self.seekable
    }

    fn flush(&mut self) -> OutputResult<()> {
        Ok(())
    }
}

/// Make every `pk\x01` in `data` start a header that parses (and, if asked, whose payload
/// CRC matches), so that the fuzzer explores the reassembler rather than CRC-32.
fn fix_checksums(data: &mut [u8], payload_crc: bool) {
    let mut at = 0;
    while let Some(found) = memchr_sync(&data[at..]) {
        let p = at + found;
        if p + HEADER_LEN > data.len() {
            break;
        }
        let payload_len = usize::from(u16::from_be_bytes([data[p + 4], data[p + 5]]));
        let payload = p + HEADER_LEN..p + HEADER_LEN + payload_len;
        if payload_crc && payload.end <= data.len() {
            let crc = Header::crc_of(&data[payload]);
            data[p + 28..p + 32].copy_from_slice(&crc.to_be_bytes());
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&data[p..p + 6]);
        hasher.update(&data[p + 8..p + HEADER_LEN]);
        let check = hasher.finalize() as u16;
        data[p + 6..p + 8].copy_from_slice(&check.to_be_bytes());
        at = p + 1;
    }
}

fn memchr_sync(data: &[u8]) -> Option<usize> {
    data.windows(SYNC.len()).position(|w| w == SYNC)
}

fn reassemble_with(
    settings: &Settings,
    seekable: bool,
    feed: impl FnOnce(&mut Reassembler<BoundedOutput>) -> Result<(), ReassembleError>,
) -> io::Result<(Report, BoundedOutput)> {
    let out = BoundedOutput {
        bytes: Vec::new(),
        seekable,
        written: 0,
    };
    let mut r = Reassembler::new(settings.clone(), out, DamageMap::new(None));
    match feed(&mut r) {
        Ok(()) | Err(ReassembleError::Stopped) => {}
        Err(e) => return Err(io::Error::other(e)),
    }
    r.finish().map_err(io::Error::other)
}

type Reassembled = io::Result<(Report, BoundedOutput)>;

/// The same input through the reassembler twice: as a mapped file (`run_slice`) and as a
/// stream cut at arbitrary places (`run_stream`); both must agree.
fn slice_and_stream(
    settings: &Settings,
    seekable: bool,
    stream: &[u8],
    chunk_seed: u8,
) -> (Reassembled, Reassembled) {
    let whole = reassemble_with(settings, seekable, |r| {
        reassemble::run_slice(std::rc::Rc::new(stream.to_vec()), r, &mut |_| {})
    });
    let pieces = reassemble_with(settings, seekable, |r| {
        let mut reader = ChunkedReader::new(stream, chunk_seed);
        reassemble::run_stream(&mut reader, r, None, &mut |_| {})
    });
    (whole, pieces)
}

/// Packets to bytes: arbitrary bytes through the framing scanner and the reassembler, once
/// as a mapped file (`run_slice`) and once as a stream cut at arbitrary places
/// (`FrameReader`, `run_stream`). Both must give the same bytes and the same report.
pub fn packet_stream(data: &[u8]) {
    let Some((mut c, stream)) = Controls::split(data, 6) else {
        return;
    };
    let window = c.u8();
    let policy = c.u8();
    let id = c.u16();
    let flags = c.u8();
    let chunk_seed = c.u8();
    let fill_len = usize::from(policy >> 1 & 3) + 1;
    let settings = Settings {
        fill: (0..fill_len as u8)
            .map(|i| policy.wrapping_add(i))
            .collect(),
        damaged: if policy & 1 == 0 {
            DamagedPolicy::Keep
        } else {
            DamagedPolicy::Fill
        },
        window_packets: (window & 0x80 == 0).then_some(usize::from(window % 9)),
        transfer_id: (flags & 1 == 1).then_some(id),
        live_latency: None,
        // The output is bounded anyway; a limit exercises the refusal path.
        max_len: (flags & 16 != 0).then_some(OUTPUT_LIMIT / 2),
        ..Settings::default()
    };
    let seekable = flags & 2 != 0;
    let mut stream = stream.to_vec();
    if flags & 4 != 0 {
        fix_checksums(&mut stream, flags & 8 != 0);
    }

    let (whole, pieces) = slice_and_stream(&settings, seekable, &stream, chunk_seed);
    match (whole, pieces) {
        (Ok((a, out_a)), Ok((b, out_b))) => {
            assert_eq!(a.counts, b.counts, "counts differ between slice and stream");
            assert_eq!(
                a.damage, b.damage,
                "damage differs between slice and stream"
            );
            assert_eq!(a.transfers, b.transfers);
            assert_eq!(a.output_len, b.output_len);
            assert_eq!(a.complete, b.complete);
            assert!(
                out_a.bytes == out_b.bytes,
                "bytes differ between slice and stream"
            );
            if !seekable {
                assert_eq!(
                    out_a.written, a.output_len,
                    "stream length and report differ"
                );
            }
            let d = a.damage;
            assert!(
                d.lost_bytes + d.damaged_bytes <= a.output_len.max(out_a.written),
                "more damage than output: {d:?}, {} bytes",
                a.output_len
            );
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "slice and stream disagree: {:?} / {:?}",
            a.err().map(|e| e.to_string()),
            b.err().map(|e| e.to_string())
        ),
    }

    // The descriptor finder reads the same stream.
    let first =
        pktools::descriptor::find_first(&mut ChunkedReader::new(&stream, chunk_seed), None, None)
            .expect("reading memory");
    if let Some((header, d)) = first {
        let _ = d.summary(header.total_len);
    }
}

// ---------------------------------------------------------------------------------------
// Keyed packets: the verifier between framing and the reassembler.

/// The key the keyed harness seals with.
fn fuzz_key(byte: u8) -> pktools::wire::auth::Key {
    pktools::wire::auth::Key::from_secret(&[byte; 32]).expect("32 bytes are a key")
}

/// Make every keyed header in `data` (KEYED flag, a payload that fits) authentic under
/// `key`, with the salt its trailer already holds, so the fuzzer reaches what lies past
/// the tag check (splices of two salts, forged fields around authentic packets). An
/// encrypted packet is sealed again, its ciphertext taken as the plaintext to encipher.
fn fix_tags(data: &mut [u8], key: &pktools::wire::auth::Key) {
    use pktools::wire::auth::Signer;
    use pktools::wire::{SALT_LEN, SEALED_SALT_LEN, SEALED_TRAILER_LEN, TRAILER_LEN};
    fix_checksums(data, false);
    let mut at = 0;
    while let Some(found) = memchr_sync(&data[at..]) {
        let p = at + found;
        at = p + 1;
        let Ok(h) = Header::parse(&data[p..]) else {
            continue;
        };
        let end = p + h.packet_len();
        if !h.keyed || end > data.len() {
            continue;
        }
        if h.encrypted {
            let trailer_at = end - SEALED_TRAILER_LEN;
            let mut salt = [0; SEALED_SALT_LEN];
            salt.copy_from_slice(&data[trailer_at..trailer_at + SEALED_SALT_LEN]);
            let mut packet = Vec::with_capacity(end - p);
            Signer::encrypting(key.clone(), salt).seal_into(
                &h,
                &data[p + HEADER_LEN..trailer_at],
                &mut packet,
            );
            data[p..end].copy_from_slice(&packet);
            continue;
        }
        let trailer_at = end - TRAILER_LEN;
        let mut salt = [0; SALT_LEN];
        salt.copy_from_slice(&data[trailer_at..trailer_at + SALT_LEN]);
        let (header, trailer) =
            Signer::new(key.clone(), salt).seal(&h, &data[p + HEADER_LEN..trailer_at]);
        data[p..p + HEADER_LEN].copy_from_slice(&header);
        data[trailer_at..end].copy_from_slice(&trailer);
    }
}

/// Keyed packet streams: arbitrary bytes whose keyed packets are sealed with one key, then
/// through the verifier alone and through the reassembler with that key (mapped and
/// chunked must agree) and with another (nothing may be written).
pub fn keyed_stream(data: &[u8]) {
    use pktools::framing::{scan, Frame};
    use pktools::reassemble::Packet;
    use pktools::wire::auth::{Verdict, Verifier};
    let Some((mut c, stream)) = Controls::split(data, 3) else {
        return;
    };
    let flags = c.u8();
    let chunk_seed = c.u8();
    let window = c.u8();
    let key = fuzz_key(1);
    let mut stream = stream.to_vec();
    if flags & 1 != 0 {
        fix_tags(&mut stream, &key);
    }

    // The verifier alone: what it passes is a consistent unkeyed packet.
    let mut verifier = Verifier::new(key.clone());
    let mut at = 0;
    let mut authentic = 0u64;
    while at < stream.len() {
        let frame = scan(&stream[at..], true);
        if let Frame::Packet {
            header,
            intact,
            truncated,
            payload_len,
        } = frame
        {
            let payload = &stream[at + HEADER_LEN..at + HEADER_LEN + payload_len];
            let p = Packet::new(header, payload, intact, truncated);
            let verdict = verifier.check(&p);
            if let Verdict::Opened(s) = verdict {
                // An encrypted packet: the stripped packet is the ciphertext where it lies,
                // the plaintext as long, and deciphering the ciphertext by its place alone
                // (a rebuilt packet's way) gives the same plaintext.
                authentic += 1;
                assert!(header.keyed && header.encrypted && intact);
                assert!(!s.header.keyed && s.header.encrypted);
                assert!(
                    s.header.payload_matches(s.payload),
                    "stripped CRC or length"
                );
                assert_eq!(s.header.end(), header.end(), "stripping moved the packet");
                assert_eq!(
                    s.payload.len() + pktools::wire::SEALED_TRAILER_LEN,
                    payload.len()
                );
                let plain = verifier.plain().to_vec();
                assert_eq!(plain.len(), s.payload.len());
                let mut deciphered = s.payload.to_vec();
                assert!(verifier.decipher(&s.header, &mut deciphered));
                assert!(deciphered == plain, "counter mode and AEAD disagree");
            }
            if let Verdict::Authentic(s) = verdict {
                authentic += 1;
                assert!(
                    header.keyed && intact,
                    "an unkeyed or damaged packet passed"
                );
                assert!(!s.header.keyed);
                assert!(
                    s.header.payload_matches(s.payload),
                    "stripped CRC or length"
                );
                assert_eq!(s.header.end(), header.end(), "stripping moved the packet");
                assert_eq!(s.payload.len() + pktools::wire::TRAILER_LEN, payload.len());
            }
        }
        if frame.is_empty() {
            break;
        }
        at += frame.len();
    }

    let settings = Settings {
        window_packets: (window & 0x80 == 0).then_some(usize::from(window % 9)),
        key: Some(key),
        ..Settings::default()
    };
    let seekable = flags & 2 != 0;
    let (whole, pieces) = slice_and_stream(&settings, seekable, &stream, chunk_seed);
    match (whole, pieces) {
        (Ok((a, out_a)), Ok((b, out_b))) => {
            assert_eq!(a.counts, b.counts, "counts differ between slice and stream");
            assert!(
                out_a.bytes == out_b.bytes,
                "bytes differ between slice and stream"
            );
            assert_eq!(
                a.counts.authentic, authentic,
                "reassembler and verifier disagree"
            );
            assert_eq!(a.counts.keyed, 0);
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "slice and stream disagree: {:?} / {:?}",
            a.err().map(|e| e.to_string()),
            b.err().map(|e| e.to_string())
        ),
    }

    // Another key: no packet passes, not a byte is written.
    let other = Settings {
        key: Some(fuzz_key(2)),
        ..settings
    };
    if let Ok((r, out)) = reassemble_with(&other, seekable, |r| {
        reassemble::run_slice(std::rc::Rc::new(stream.clone()), r, &mut |_| {})
    }) {
        assert_eq!(r.counts.authentic, 0, "a packet passed under the wrong key");
        assert_eq!(out.written, 0, "bytes written under the wrong key");
    }
}

// ---------------------------------------------------------------------------------------
// Descriptor bodies and packet headers.

/// Descriptor bodies: parse; what parses re-encodes to a body that parses the same. The
/// same bytes as a packet header: what parses encodes back to the same header.
pub fn descriptor(data: &[u8]) {
    if let Ok(d) = Descriptor::parse(data) {
        let again = Descriptor::parse(&d.encode()).expect("an encoded descriptor parses");
        assert_eq!(again, d, "descriptor changed in an encode/parse round trip");
        assert!(d.agrees_with(&again));
        let _ = d.summary(None);
        let _ = d.summary(Some(u64::MAX));
        let _ = d.geometry();
    }
    if let Ok(h) = Header::parse(data) {
        let mut bytes = [0; HEADER_LEN];
        h.encode(&mut bytes);
        assert_eq!(Header::parse(&bytes), Ok(h), "header round trip");
        let _ = h.end();
    }
}

// ---------------------------------------------------------------------------------------
// corrupt: the channel.

/// The channel with options chosen by the input, over a map and over a stream cut at
/// arbitrary places: the seed alone decides, so output, log and statistics must be equal.
/// With every rate zero the channel is the identity.
pub fn channel(data: &[u8]) {
    let Some((mut c, stream)) = Controls::split(data, 13) else {
        return;
    };
    let seed = u64::from(c.u8());
    let mode = match c.u8() % 3 {
        0 => Mode::Auto,
        1 => Mode::Packets,
        _ => Mode::Raw,
    };
    let loss_kind = c.u8();
    let loss_rate = c.rate();
    let loss = match loss_kind % 3 {
        0 => LossModel::None,
        1 => LossModel::Random(loss_rate),
        _ => GilbertElliott::from_mean_burst(loss_rate.min(0.9), 1.0 + f64::from(loss_kind) / 16.0)
            .map(LossModel::GilbertElliott)
            .unwrap_or(LossModel::None),
    };
    let dup_prob = c.rate();
    let reorder_prob = c.rate();
    let reorder_max = u64::from(c.u8() % 128) + 1;
    let truncate_prob = c.rate();
    let ber = c.rate() / 64.0;
    let flags = c.u8();
    let block_len = usize::from(c.u16() % 4096) + 1;
    let chunk_seed = c.u8();
    let config = Config {
        seed,
        mode,
        loss,
        dup_prob,
        reorder: (reorder_prob > 0.0).then_some(Reorder {
            prob: reorder_prob,
            max_displacement: reorder_max,
        }),
        truncate_prob,
        ber,
        payload_only: flags & 1 != 0,
        block_len,
        datagrams: false,
    };

    let mut out_a = Vec::new();
    let mut log_a = Vec::new();
    let a = channel::run(&config, mapped_input(stream), &mut out_a, Some(&mut log_a));
    let mut out_b = Vec::new();
    let mut log_b = Vec::new();
    let mut reader = ChunkedReader::new(stream, chunk_seed);
    let b = channel::run_reader(&config, &mut reader, &mut out_b, Some(&mut log_b));
    match (a, b) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "statistics differ between map and stream");
            assert!(out_a == out_b, "output differs between map and stream");
            assert!(log_a == log_b, "log differs between map and stream");
            assert_eq!(a.bytes_out, out_a.len() as u64);
            assert_eq!(a.bytes_in, stream.len() as u64);
            let identity = matches!(config.loss, LossModel::None)
                && dup_prob == 0.0
                && config.reorder.is_none()
                && truncate_prob == 0.0
                && ber == 0.0;
            if identity {
                assert!(
                    out_a == stream,
                    "a channel without damage changed the stream"
                );
            }
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!("map and stream disagree: {a:?} / {b:?}"),
    }
}

/// JPEGs through the indexing and the rebuild (`pktools::jpeg`): byte 0 picks the payload
/// size (64 to 319), byte 1 the packet lost, the rest is the file. Checks beyond "no panic":
/// an indexed file comes back byte for byte without loss, and what a rebuild with a lost
/// packet writes parses and decodes to its last MCU with the library's own walker.
pub fn jpeg(data: &[u8]) {
    use pktools::jpeg::{self, scan::Walker};
    let [size, lost, file @ ..] = data else {
        return;
    };
    let payload_len = 64 + usize::from(*size);
    let _ = jpeg::Header::parse(file);
    // The packed headers of a transfer (pktize(5)): any bytes, any deferred part lost.
    if let Ok(layout) = jpeg::packed::Layout::parse(file) {
        let _ = layout.headers(file, &|r| r.start % 3 != 0);
        let _ = layout.unpack(file);
    }
    let Ok(indexed) = jpeg::index(file, payload_len) else {
        return;
    };
    let whole = jpeg::rebuild(&indexed, payload_len, &[]).expect("a whole transfer rebuilds");
    assert!(whole.exact && whole.jpeg == file, "not the original bytes");
    let k = (usize::from(*lost) % indexed.len().div_ceil(payload_len)) as u64;
    let gone =
        std::slice::from_ref(&(k * payload_len as u64..(k + 1) * payload_len as u64)).to_vec();
    if let Ok(r) = jpeg::rebuild(&indexed, payload_len, &gone) {
        let header = jpeg::Header::parse(&r.jpeg).expect("a rebuilt JPEG parses");
        let mut w = Walker::new(&r.jpeg, &header);
        let mut blocks = [[0i16; 64]; 10];
        let mut n = 0;
        while w
            .next_mcu(&mut blocks)
            .expect("a rebuilt JPEG decodes")
            .is_some()
        {
            n += 1;
        }
        assert_eq!(n, r.mcus);
        assert!(!w.overran());
    }
}
