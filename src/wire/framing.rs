//! Finding packets in a byte stream that may be chunked, cut, damaged or mixed with garbage.
//!
//! [`scan`] looks at the front of a buffer and says what is there: a packet (intact,
//! damaged, or cut short by the start of the next one), bytes to skip, or that it needs more
//! input. It never allocates and never looks further than one packet ahead, so a reader needs
//! at most [`MAX_PACKET_LEN`] bytes of buffer to make progress.
//!
//! Resynchronisation rules, in order:
//! - a valid header whose payload matches its CRC is an intact packet;
//! - if the payload does not match, a valid header inside the claimed payload means the
//!   packet was cut short and another one starts there: the first is returned as truncated
//!   and scanning resumes at the second, so no intact packet after a cut is lost;
//! - otherwise the packet is returned as damaged, whole;
//! - bytes that do not start a valid header are skipped up to the next [`SYNC`] pattern.
//!
//! Work per input byte is bounded with a [`Scanner`]: checking a payload's CRC costs its
//! claimed length, and a forged header can claim 64 KiB and be followed, 32 bytes on, by
//! another (each a cut packet: 32 bytes consumed for 64 KiB checked). A `Scanner` keeps a
//! credit of CRC work, earned by the bytes consumed ([`CRC_CREDIT_PER_BYTE`] each); a
//! candidate whose check the credit cannot pay for is first searched for a header inside
//! its claimed payload, and one found there cuts it without the check. An honest stream,
//! damaged, cut or not, never runs short: every checked byte it consumes earns more than
//! it costs. The free [`scan`] checks every candidate (no budget).
//!
//! This module does not decide what to do with a damaged packet; see `reassemble`.

use crate::wire::{Header, HEADER_LEN, MAX_DATAGRAM, SYNC};
use memchr::memmem;
use std::io::{self, Read};
use std::rc::Rc;

/// The longest packet: a full header and the largest payload.
pub const MAX_PACKET_LEN: usize = MAX_DATAGRAM;

/// What lies at the front of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A packet with a valid header. `payload_len` bytes of payload follow the header in the
    /// buffer (fewer than the header states when `truncated`).
    Packet {
        header: Header,
        /// The payload matches the header's length and CRC.
        intact: bool,
        /// The packet ends before its stated length: the stream was cut.
        truncated: bool,
        /// Payload bytes present in the buffer after the header.
        payload_len: usize,
    },
    /// Bytes that belong to no packet; skip them.
    Garbage { len: usize },
    /// Not enough bytes to decide; read more (or call again with `at_end`).
    NeedMore,
}

impl Frame {
    /// How many bytes of the buffer this frame consumes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Packet { payload_len, .. } => HEADER_LEN + payload_len,
            Frame::Garbage { len } => *len,
            Frame::NeedMore => 0,
        }
    }

    /// True for `NeedMore`, which consumes nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Decide what lies at the front of `buf`. `at_end` says no more bytes will follow, so a
/// short buffer is final (a cut packet, or trailing garbage).
pub fn scan(buf: &[u8], at_end: bool) -> Frame {
    let mut unlimited = u64::MAX;
    scan_paid(buf, at_end, &mut unlimited)
}

/// Bytes of payload CRC a [`Scanner`] may check per byte it consumes.
pub const CRC_CREDIT_PER_BYTE: u64 = 4;
/// The credit a [`Scanner`] starts with and saves up to: a few of the longest packets, so a
/// cut or damaged packet is always checked on an honest stream.
const CRC_CREDIT_MAX: u64 = 4 * MAX_PACKET_LEN as u64;

/// [`scan`] with a bound on the work per input byte (see the module documentation): CRC
/// work at most [`CRC_CREDIT_PER_BYTE`] times the bytes consumed, plus a few packets.
#[derive(Debug, Clone)]
pub struct Scanner {
    credit: u64,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

impl Scanner {
    pub fn new() -> Self {
        Scanner {
            credit: CRC_CREDIT_MAX,
        }
    }

    /// What lies at the front of `buf`, as [`scan`] says, but that a candidate the credit
    /// cannot pay for is cut at a header inside its claimed payload without its CRC.
    pub fn scan(&mut self, buf: &[u8], at_end: bool) -> Frame {
        let frame = scan_paid(buf, at_end, &mut self.credit);
        let earned = CRC_CREDIT_PER_BYTE * frame.len() as u64;
        self.credit = self.credit.saturating_add(earned).min(CRC_CREDIT_MAX);
        frame
    }
}

/// [`scan`], paying each payload CRC out of `credit`.
fn scan_paid(buf: &[u8], at_end: bool, credit: &mut u64) -> Frame {
    if buf.is_empty() {
        return Frame::NeedMore;
    }
    if buf.len() < HEADER_LEN {
        if !at_end {
            return Frame::NeedMore;
        }
        if buf.starts_with(&SYNC[..buf.len().min(SYNC.len())]) {
            // A header cut short at the very end: nothing to recover.
            return Frame::Garbage { len: buf.len() };
        }
    }
    let header = match Header::parse(buf) {
        Ok(h) => h,
        Err(_) => return skip_to_sync(buf, at_end),
    };
    let stated_end = header.packet_len();
    if buf.len() < stated_end {
        if !at_end {
            return Frame::NeedMore;
        }
        return match next_header(buf, HEADER_LEN, buf.len(), true) {
            NextHeader::At(cut) => truncated(header, cut),
            _ => truncated(header, buf.len()),
        };
    }
    let claimed = (stated_end - HEADER_LEN) as u64;
    if *credit < claimed {
        // Not paid for: a header inside the claimed payload cuts the candidate unchecked.
        // (Only a stream of forged, overlapping headers gets here.)
        match next_header(buf, HEADER_LEN, stated_end, at_end) {
            NextHeader::At(cut) => return truncated(header, cut),
            NextHeader::NeedMore => return Frame::NeedMore,
            NextHeader::None => {}
        }
    }
    *credit = credit.saturating_sub(claimed);
    if header.payload_matches(&buf[HEADER_LEN..stated_end]) {
        return Frame::Packet {
            header,
            intact: true,
            truncated: false,
            payload_len: header.payload_len as usize,
        };
    }
    match next_header(buf, HEADER_LEN, stated_end, at_end) {
        NextHeader::At(cut) => truncated(header, cut),
        NextHeader::NeedMore => Frame::NeedMore,
        NextHeader::None => Frame::Packet {
            header,
            intact: false,
            truncated: false,
            payload_len: header.payload_len as usize,
        },
    }
}

fn truncated(header: Header, end: usize) -> Frame {
    Frame::Packet {
        header,
        intact: false,
        truncated: true,
        payload_len: end - HEADER_LEN,
    }
}

/// Skip bytes up to the next place where a header could start.
fn skip_to_sync(buf: &[u8], at_end: bool) -> Frame {
    match memmem::find(&buf[1..], &SYNC) {
        Some(p) => Frame::Garbage { len: p + 1 },
        None if at_end => Frame::Garbage { len: buf.len() },
        // Keep a possible partial sync pattern at the end for the next read.
        None => {
            let keep = partial_sync_suffix(buf);
            if buf.len() - keep == 0 {
                Frame::NeedMore
            } else {
                Frame::Garbage {
                    len: buf.len() - keep,
                }
            }
        }
    }
}

/// Length of the longest suffix of `buf` that is a proper prefix of `SYNC`.
fn partial_sync_suffix(buf: &[u8]) -> usize {
    (1..SYNC.len())
        .rev()
        .find(|&n| buf.len() >= n && buf[buf.len() - n..] == SYNC[..n])
        .unwrap_or(0)
}

/// Where the next valid header inside a packet's claimed span starts.
enum NextHeader {
    At(usize),
    /// A sync pattern whose header is not all in the buffer yet.
    NeedMore,
    None,
}

/// The first position in `from..to` where a valid header starts. A header may start just
/// before `to` and end beyond it.
fn next_header(buf: &[u8], from: usize, to: usize, at_end: bool) -> NextHeader {
    let limit = (to + SYNC.len() - 1).min(buf.len());
    let mut at = from;
    while at < to {
        let Some(found) = memmem::find(&buf[at..limit], &SYNC) else {
            break;
        };
        let p = at + found;
        if p + HEADER_LEN > buf.len() && !at_end {
            return NextHeader::NeedMore;
        }
        if Header::parse(&buf[p..]).is_ok() {
            return NextHeader::At(p);
        }
        at = p + 1;
    }
    if limit < to + SYNC.len() - 1 && !at_end {
        // The span's last bytes could begin a sync pattern that continues past the buffer.
        let tail = partial_sync_suffix(&buf[..limit]);
        if tail > 0 && limit - tail < to {
            return NextHeader::NeedMore;
        }
    }
    NextHeader::None
}

/// Size of a [`FrameReader`]'s buffer: a pipe's worth (pipes are sized to 1 MiB, as
/// `io::IO_BUFFER_LEN` says, and `io` checks the two agree), and always room for the
/// longest packet. Twice that was no faster and cost 1 MiB of RSS.
pub const READ_BUFFER_LEN: usize = 1 << 20;

/// Reads a stream in large blocks and hands out the frames in it, one at a time.
///
/// Interrupted reads are retried. Ending at a stop signal is the reader's business: the
/// streams of `io::Input` end there by themselves (an interrupted read after a stop signal
/// reads as the end of the input), so this type knows nothing of signals.
///
/// The buffer is shared ([`FrameReader::buffer`]) so a consumer may keep referring to the
/// frames in it until the next [`FrameReader::read_more`]; it must let go of it by then
/// (otherwise the buffer is copied, which is correct but slow).
pub struct FrameReader<'r> {
    input: &'r mut dyn Read,
    scanner: Scanner,
    buf: Rc<Vec<u8>>,
    start: usize,
    end: usize,
    at_end: bool,
}

impl<'r> FrameReader<'r> {
    pub fn new(input: &'r mut dyn Read) -> Self {
        FrameReader {
            input,
            scanner: Scanner::new(),
            buf: Rc::new(vec![0; READ_BUFFER_LEN]),
            start: 0,
            end: 0,
            at_end: false,
        }
    }

    /// The next frame already in the buffer, with where it starts in
    /// [`FrameReader::buffer`]; `None` when more input is needed (call
    /// [`FrameReader::read_more`]) or everything has been handed out.
    pub fn next_buffered(&mut self) -> Option<(Frame, usize)> {
        let frame = self
            .scanner
            .scan(&self.buf[self.start..self.end], self.at_end);
        if frame.is_empty() {
            return None;
        }
        let at = self.start;
        self.start += frame.len();
        Some((frame, at))
    }

    /// The whole buffer; every frame handed out lies in it. It changes only in
    /// [`FrameReader::read_more`].
    pub fn buffer(&self) -> Rc<Vec<u8>> {
        Rc::clone(&self.buf)
    }

    /// Read more input (blocking). Returns false once the input has ended.
    pub fn read_more(&mut self) -> io::Result<bool> {
        if self.at_end {
            return Ok(false);
        }
        let buf = Rc::make_mut(&mut self.buf);
        if buf.len() - self.end < MAX_PACKET_LEN {
            buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = loop {
            match self.input.read(&mut buf[self.end..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                read => break read?,
            }
        };
        self.end += n;
        self.at_end = n == 0;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u32, payload: &[u8]) -> Vec<u8> {
        Header::test_data(seq, u64::from(seq) * 100, payload).with_payload(payload)
    }

    fn seq_of(frame: &Frame) -> u32 {
        match frame {
            Frame::Packet { header, .. } => header.seq,
            other => panic!("expected a packet, got {other:?}"),
        }
    }

    #[test]
    fn intact_packet_is_found_whole() {
        let p = packet(3, b"payload");
        let f = scan(&p, false);
        assert_eq!(seq_of(&f), 3);
        assert_eq!(f.len(), p.len());
        assert!(matches!(f, Frame::Packet { intact: true, .. }));
    }

    #[test]
    fn partial_packet_needs_more_unless_at_end() {
        let p = packet(0, &[7; 100]);
        assert_eq!(scan(&p[..10], false), Frame::NeedMore);
        assert_eq!(scan(&p[..50], false), Frame::NeedMore);
        match scan(&p[..50], true) {
            Frame::Packet {
                truncated: true,
                intact: false,
                payload_len: 18,
                ..
            } => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_skipped_up_to_the_next_sync() {
        let mut s = b"some garbage bytes here".to_vec();
        let g = s.len();
        s.extend(packet(1, b"abc"));
        assert_eq!(scan(&s, false), Frame::Garbage { len: g });
        assert_eq!(seq_of(&scan(&s[g..], false)), 1);
    }

    #[test]
    fn a_partial_sync_at_the_end_of_garbage_is_kept() {
        let s = b"a garbage line longer than a header, ending in pk";
        let n = s.len();
        assert_eq!(scan(s, false), Frame::Garbage { len: n - 2 });
        assert_eq!(scan(s, true), Frame::Garbage { len: n });
    }

    #[test]
    fn damaged_payload_is_reported_whole() {
        let mut p = packet(2, &[1; 64]);
        p[HEADER_LEN + 5] ^= 0x40;
        match scan(&p, false) {
            Frame::Packet {
                intact: false,
                truncated: false,
                payload_len: 64,
                ..
            } => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_cut_packet_does_not_swallow_the_next_one() {
        let first = packet(0, &[9; 100]);
        let second = packet(1, &[8; 100]);
        let mut s = first[..60].to_vec();
        s.extend(&second);
        let f = scan(&s, false);
        assert!(matches!(
            f,
            Frame::Packet {
                truncated: true,
                payload_len: 28,
                ..
            }
        ));
        let rest = &s[f.len()..];
        assert_eq!(seq_of(&scan(rest, false)), 1);
        assert!(matches!(
            scan(rest, false),
            Frame::Packet { intact: true, .. }
        ));
    }

    #[test]
    fn a_packet_short_by_one_byte_gives_way_to_the_next() {
        let first = packet(0, &[9; 100]);
        let second = packet(1, &[8; 100]);
        let mut s = first[..first.len() - 1].to_vec();
        s.extend(&second);
        // Only part of the next header is in the buffer yet: wait for it.
        assert_eq!(scan(&s[..first.len() + 5], false), Frame::NeedMore);
        let f = scan(&s, false);
        assert!(matches!(
            f,
            Frame::Packet {
                truncated: true,
                payload_len: 99,
                ..
            }
        ));
        assert_eq!(seq_of(&scan(&s[f.len()..], false)), 1);
    }

    #[test]
    fn a_header_with_a_flipped_bit_is_garbage() {
        let mut s = packet(0, &[5; 40]);
        s[12] ^= 1;
        s.extend(packet(1, &[6; 40]));
        let f = scan(&s, false);
        assert!(matches!(f, Frame::Garbage { .. }));
        assert_eq!(f.len(), 72);
    }

    /// Back-to-back valid headers, each claiming the largest payload: every one is cut by
    /// the next, 32 bytes on.
    fn forged_headers(n: u32) -> Vec<u8> {
        let mut s = Vec::new();
        for seq in 0..n {
            let mut h = Header::test_data(seq, 0, &[]);
            h.payload_len = crate::wire::MAX_PAYLOAD as u16;
            let mut bytes = [0; HEADER_LEN];
            h.encode(&mut bytes);
            s.extend_from_slice(&bytes);
        }
        s
    }

    #[test]
    fn a_scanner_cuts_overlapping_forged_headers_as_scan_does() {
        let s = forged_headers(8192);
        let (mut at, mut scanner) = (0, Scanner::new());
        let (mut cut, mut least_credit) = (0, u64::MAX);
        while at < s.len() {
            let f = scanner.scan(&s[at..], true);
            let g = scan(&s[at..], true);
            assert_eq!(f, g, "at {at}");
            cut += u32::from(matches!(
                f,
                Frame::Packet {
                    truncated: true,
                    ..
                }
            ));
            at += f.len();
            least_credit = least_credit.min(scanner.credit);
        }
        assert_eq!(cut, 8192);
        // The credit ran out: the later ones were cut unchecked.
        assert!(least_credit < MAX_PACKET_LEN as u64);
    }

    #[test]
    fn a_scanner_keeps_an_honest_packet_that_carries_headers_intact() {
        // pktize's own output sent through pktize: headers inside intact payloads, after
        // a run of damaged and cut packets.
        let inner = forged_headers(100);
        let mut s = Vec::new();
        for seq in 0..50 {
            let mut p = packet(seq, &[3; 5000]);
            if seq % 2 == 0 {
                p[HEADER_LEN + 7] ^= 1;
            } else {
                p.truncate(HEADER_LEN + 100);
            }
            s.extend(p);
        }
        s.extend(packet(50, &inner));
        let (mut at, mut scanner) = (0, Scanner::new());
        let mut last = None;
        while at < s.len() {
            let f = scanner.scan(&s[at..], true);
            at += f.len();
            last = Some(f);
        }
        match last {
            Some(Frame::Packet {
                header,
                intact: true,
                ..
            }) => assert_eq!(header.seq, 50),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_buffer_needs_more() {
        assert_eq!(scan(&[], false), Frame::NeedMore);
        assert_eq!(scan(&[], true), Frame::NeedMore);
    }
}
