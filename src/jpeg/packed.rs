//! The JPEG's headers packed for the wire (`pktize(5)`, JPEG transfers): the marker
//! segments from SOI to SOS as the file has them, except that a Huffman table segment of
//! T.81 Annex K tables and a quantisation table segment of libjpeg's scaled Annex K tables
//! are named in a few bytes instead of spelled out, and that large APPn and COM segments
//! (Exif, ICC profiles, comments) are deferred: their bodies travel after the scan, so
//! that the headers a receiver needs to decode any packet stay small (they ride in every
//! descriptor).
//!
//! The packed file is the packed headers, the file's bytes from the end of its SOS
//! segment on, then the deferred bodies in order. [`pack`] makes it; [`Layout::parse`]
//! reads where its parts lie and [`Layout::headers`] gives the original headers back,
//! byte for byte. A packed header that names more than [`MAX_CODED`] bytes of tables is
//! refused.

use super::header::Header;
use super::huffman;
use super::pixels::ZIGZAG;
use super::JpegError;
use std::ops::Range;

/// Entry: a DHT segment of Annex K tables.
pub const CODED_DHT: u8 = 0x02;
/// Entry: a DQT segment of scaled Annex K tables.
pub const CODED_DQT: u8 = 0x03;
/// Entry: a segment whose body follows the scan.
pub const DEFERRED: u8 = 0x04;
/// APPn and COM segments longer than this (their length field) are deferred.
pub const DEFER_OVER: usize = 16;
/// Most bytes the coded entries of one packed header expand to.
pub const MAX_CODED: usize = 1 << 16;
/// In a coded table byte: the chrominance table of Annex K, else the luminance one.
const CHROMA: u8 = 0x80;

/// T.81 K.1, the luminance quantisation table, in natural order (libjpeg's base table).
#[rustfmt::skip]
const K1: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
];

/// T.81 K.2, the chrominance quantisation table, in natural order.
#[rustfmt::skip]
const K2: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
];

/// The largest scale factor tried: libjpeg's for quality 1.
const MAX_SCALE: u16 = 5000;

/// The quantisation table libjpeg's `jpeg_add_quant_table` makes from Annex K's table
/// (`chroma`) scaled by `scale` percent, in zigzag order: each value
/// (base * scale + 50) / 100, at least 1, at most 255 at 8-bit precision (`pq` 0) and
/// 32767 at 16-bit.
fn scaled(chroma: bool, scale: u16, pq: u8) -> [u16; 64] {
    let base = if chroma { &K2 } else { &K1 };
    let max = if pq == 0 { 255 } else { 32767 };
    let mut t = [0u16; 64];
    for (k, q) in t.iter_mut().enumerate() {
        let v = (u32::from(base[ZIGZAG[k]]) * u32::from(scale) + 50) / 100;
        *q = v.clamp(1, max) as u16;
    }
    t
}

/// The file packed: headers, then the rest, then the deferred bodies.
pub fn pack(file: &[u8], header: &Header) -> Vec<u8> {
    let mut out = Vec::with_capacity(file.len());
    let mut deferred = Vec::new();
    let mut at = 0;
    for s in &header.segments {
        // Fill bytes before a marker, as they are.
        out.extend_from_slice(&file[at..s.start]);
        at = s.end;
        let segment = &file[s.start..s.end];
        if s.marker == 0xD8 {
            out.extend_from_slice(segment);
            continue;
        }
        let body = &segment[4..];
        let defer = (0xE0..=0xEF).contains(&s.marker) || s.marker == 0xFE;
        // Markers the packed form uses for itself are deferred whatever their length.
        if (defer && segment.len() - 2 > DEFER_OVER) || s.marker <= DEFERRED {
            out.extend_from_slice(&[0xFF, DEFERRED, s.marker]);
            out.extend_from_slice(&segment[2..4]);
            deferred.extend_from_slice(body);
            continue;
        }
        let coded = match s.marker {
            0xC4 => coded_dht(body),
            0xDB => coded_dqt(body),
            _ => None,
        };
        match coded {
            Some(entry) => out.extend_from_slice(&entry),
            None => out.extend_from_slice(segment),
        }
    }
    out.extend_from_slice(&file[at..]);
    out.extend_from_slice(&deferred);
    out
}

/// A DHT body of Annex K tables only, named: FF 02 n, then per table its class and id,
/// [`CHROMA`] for the chrominance table.
fn coded_dht(mut body: &[u8]) -> Option<Vec<u8>> {
    let standard = huffman::standard();
    let mut names = Vec::new();
    while let Some(&class_id) = body.first() {
        let (class, id) = (class_id >> 4, class_id & 15);
        if class > 1 || id > 3 {
            return None;
        }
        let chroma = (0..2).find(|&c| {
            let t = &standard[usize::from(class) * 2 + c];
            body.get(1..17) == Some(&t.counts[..])
                && body.get(17..17 + t.symbols.len()) == Some(&t.symbols[..])
        })?;
        names.push(class_id | if chroma == 1 { CHROMA } else { 0 });
        body = &body[17 + standard[usize::from(class) * 2 + chroma].symbols.len()..];
    }
    let n = u8::try_from(names.len()).ok().filter(|&n| n > 0)?;
    let mut out = vec![0xFF, CODED_DHT, n];
    out.extend_from_slice(&names);
    Some(out)
}

/// A DQT body of scaled Annex K tables only, named: FF 03 n, then per table its
/// precision and id ([`CHROMA`] for the chrominance table) and the scale (16 bits).
fn coded_dqt(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut names = Vec::new();
    while let Some(&pq_tq) = body.first() {
        let (pq, size) = match pq_tq >> 4 {
            0 => (0, 1),
            1 => (1, 2),
            _ => return None,
        };
        let values = body.get(1..1 + 64 * size)?;
        let mut table = [0u16; 64];
        for (k, q) in table.iter_mut().enumerate() {
            *q = match size {
                1 => u16::from(values[k]),
                _ => u16::from_be_bytes([values[2 * k], values[2 * k + 1]]),
            };
        }
        let (chroma, scale) = [false, true]
            .into_iter()
            .flat_map(|c| (0..=MAX_SCALE).map(move |s| (c, s)))
            .find(|&(c, s)| scaled(c, s, pq) == table)?;
        names.push(pq_tq | if chroma { CHROMA } else { 0 });
        names.extend_from_slice(&scale.to_be_bytes());
        body = &body[1 + 64 * size..];
    }
    let n = u8::try_from(names.len() / 3).ok().filter(|&n| n > 0)?;
    let mut out = vec![0xFF, CODED_DQT, n];
    out.extend_from_slice(&names);
    Some(out)
}

/// One entry of a packed header.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// Bytes of the file as they are (SOI, fill bytes, a segment).
    Verbatim(Range<usize>),
    /// The expanded bytes of a coded segment.
    Coded(Vec<u8>),
    /// A segment's marker and length field; its body is `body` of the packed file.
    Deferred {
        marker: u8,
        len: [u8; 2],
        body: Range<usize>,
    },
}

/// Where the parts of a packed file lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    entries: Vec<Entry>,
    /// End of the packed headers (after the SOS segment): the scan starts here.
    pub head_end: usize,
    /// Where the deferred bodies begin (they run to the end of the packed file).
    pub deferred_start: usize,
}

impl Layout {
    /// Read the packed headers at the start of `packed` (the whole packed file, or its
    /// start when `deferred_start` does not matter: then it is only as right as `packed`
    /// is long).
    pub fn parse(packed: &[u8]) -> Result<Layout, JpegError> {
        if packed.get(..2) != Some(&[0xFF, 0xD8]) {
            return Err(JpegError::NotJpeg);
        }
        let mut entries = vec![Entry::Verbatim(0..2)];
        let mut at = 2;
        let mut coded = 0;
        let mut deferred = 0usize;
        let truncated = |at| JpegError::Truncated { at };
        loop {
            let (Some(&0xFF), Some(&marker)) = (packed.get(at), packed.get(at + 1)) else {
                return Err(truncated(at));
            };
            match marker {
                0xFF => {
                    entries.push(Entry::Verbatim(at..at + 1));
                    at += 1;
                }
                CODED_DHT | CODED_DQT => {
                    let n = usize::from(*packed.get(at + 2).ok_or(truncated(at))?);
                    let size = if marker == CODED_DHT { 1 } else { 3 };
                    let names = packed.get(at + 3..at + 3 + n * size).ok_or(truncated(at))?;
                    let bad = JpegError::Bad {
                        at,
                        what: "packed table",
                    };
                    let expanded = match marker {
                        CODED_DHT => expand_dht(names),
                        _ => expand_dqt(names),
                    }
                    .filter(|_| n > 0)
                    .ok_or(bad.clone())?;
                    coded += expanded.len();
                    if coded > MAX_CODED {
                        return Err(bad);
                    }
                    entries.push(Entry::Coded(expanded));
                    at += 3 + n * size;
                }
                DEFERRED => {
                    let e = packed.get(at + 2..at + 5).ok_or(truncated(at))?;
                    let len = usize::from(u16::from_be_bytes([e[1], e[2]]));
                    if len < 2 {
                        return Err(JpegError::Bad {
                            at,
                            what: "deferred segment",
                        });
                    }
                    entries.push(Entry::Deferred {
                        marker: e[0],
                        len: [e[1], e[2]],
                        body: deferred..deferred + len - 2,
                    });
                    deferred += len - 2;
                    at += 5;
                }
                0x00 | 0x01 | 0xD0..=0xD9 => return Err(JpegError::Marker { marker, at }),
                _ => {
                    let l = packed.get(at + 2..at + 4).ok_or(truncated(at))?;
                    let len = usize::from(u16::from_be_bytes([l[0], l[1]]));
                    if len < 2 || at + 2 + len > packed.len() {
                        return Err(truncated(at));
                    }
                    entries.push(Entry::Verbatim(at..at + 2 + len));
                    at += 2 + len;
                    if marker == 0xDA {
                        break;
                    }
                }
            }
        }
        let head_end = at;
        let deferred_start = packed.len().saturating_sub(deferred).max(head_end);
        for e in &mut entries {
            if let Entry::Deferred { body, .. } = e {
                *body = deferred_start + body.start..deferred_start + body.end;
            }
        }
        Ok(Layout {
            entries,
            head_end,
            deferred_start,
        })
    }

    /// The original headers (SOI to SOS) from `packed`: a deferred segment whose body
    /// `keep` refuses (it was lost) is left out.
    pub fn headers(&self, packed: &[u8], keep: &dyn Fn(Range<usize>) -> bool) -> Vec<u8> {
        let mut out = Vec::new();
        for e in &self.entries {
            match e {
                Entry::Verbatim(r) => out.extend_from_slice(&packed[r.clone()]),
                Entry::Coded(bytes) => out.extend_from_slice(bytes),
                Entry::Deferred { marker, len, body } => {
                    if let Some(b) = packed.get(body.clone()).filter(|_| keep(body.clone())) {
                        out.extend_from_slice(&[0xFF, *marker, len[0], len[1]]);
                        out.extend_from_slice(b);
                    }
                }
            }
        }
        out
    }

    /// The original file from the whole packed file; `None` when the deferred bodies do
    /// not fit after the headers.
    pub fn unpack(&self, packed: &[u8]) -> Option<Vec<u8>> {
        let deferred: usize = self
            .entries
            .iter()
            .map(|e| match e {
                Entry::Deferred { body, .. } => body.len(),
                _ => 0,
            })
            .sum();
        if self.head_end + deferred > packed.len() {
            return None;
        }
        let mut file = self.headers(packed, &|_| true);
        file.extend_from_slice(&packed[self.head_end..self.deferred_start]);
        Some(file)
    }
}

fn expand_dht(names: &[u8]) -> Option<Vec<u8>> {
    let standard = huffman::standard();
    let mut body = Vec::new();
    for &name in names {
        let class = (name >> 4) & 7;
        let chroma = usize::from(name & CHROMA != 0);
        if class > 1 || name & 0x0C != 0 {
            return None;
        }
        standard[usize::from(class) * 2 + chroma].dht_body(class, name & 3, &mut body);
    }
    Some(segment(0xC4, &body))
}

fn expand_dqt(names: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    for name in names.chunks_exact(3) {
        let pq = (name[0] >> 4) & 7;
        if pq > 1 || name[0] & 0x0C != 0 {
            return None;
        }
        let table = scaled(
            name[0] & CHROMA != 0,
            u16::from_be_bytes([name[1], name[2]]),
            pq,
        );
        body.push(name[0] & 0x7F);
        for q in table {
            match pq {
                0 => body.push(q as u8),
                _ => body.extend_from_slice(&q.to_be_bytes()),
            }
        }
    }
    Some(segment(0xDB, &body))
}

fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, marker];
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(body);
    out
}
