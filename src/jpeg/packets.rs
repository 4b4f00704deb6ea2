//! The indexed JPEG transfer (`pktize(5)`, JPEG transfers): each data packet's payload is
//! a sub-header, then the next bytes of the original file, unchanged.
//!
//! ```text
//! offset size field       meaning
//!  0     1   sub_len     S = 8 + 2*C, the sub-header's length (C: components in the scan)
//!  1     4   first_mcu   index of the first MCU that starts in this packet's bytes, or NONE
//!  5     3   start_bit   where it starts: bits from this packet's first file byte, MSB first
//!  8     2*C predictors  the DC predictors there (i16, scan component order)
//! ```
//!
//! Every packet carries D = P - S bytes of the packed file ([`super::packed`]: the file,
//! its headers packed), P the transfer's payload size, the last the rest, so the transfer
//! is the packed file with S bytes before each D-byte piece. A packet needs nothing but
//! the JPEG's headers to be decoded from `first_mcu` on.

use super::header::{Header, MAX_COMPONENTS};
use super::packed::{self, Layout};
use super::scan::{Block, Position, Predictors, Walker};
use super::JpegError;
use std::ops::Range;

/// `first_mcu` of a packet in which no MCU starts.
pub const NONE: u32 = u32::MAX;
/// Fixed part of the sub-header.
const FIXED_LEN: usize = 8;

/// The sub-header length for `components` scan components.
pub fn sub_len(components: usize) -> usize {
    FIXED_LEN + 2 * components
}

/// The smallest payload size an indexed JPEG is sent with: a sub-header and some bytes.
pub const MIN_PAYLOAD: usize = 64;

/// One packet's sub-header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubHeader {
    pub first_mcu: u32,
    pub start_bit: u32,
    pub components: usize,
    pub predictors: Predictors,
}

impl SubHeader {
    /// Its length in bytes, `sub_len`.
    pub fn byte_len(&self) -> usize {
        sub_len(self.components)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.byte_len() as u8);
        out.extend_from_slice(&self.first_mcu.to_be_bytes());
        out.extend_from_slice(&self.start_bit.to_be_bytes()[1..]);
        for p in &self.predictors[..self.components] {
            out.extend_from_slice(&p.to_be_bytes());
        }
    }

    /// True when `payload` may begin with a sub-header: its fields are in range. Arbitrary
    /// data passes about once in 100,000 packets of 1 KiB.
    pub fn plausible(payload: &[u8]) -> bool {
        SubHeader::parse(payload).is_some_and(|h| match h.first_mcu {
            NONE => h.start_bit == 0,
            _ => (h.start_bit / 8) as usize + h.byte_len() < payload.len(),
        })
    }

    /// Parse the sub-header at the start of `payload`; `None` when it is not one.
    pub fn parse(payload: &[u8]) -> Option<SubHeader> {
        let len = usize::from(*payload.first()?);
        if len < FIXED_LEN || (len - FIXED_LEN) % 2 != 0 || len > sub_len(MAX_COMPONENTS) {
            return None;
        }
        let p = payload.get(..len)?;
        let components = (len - FIXED_LEN) / 2;
        let mut predictors = [0; MAX_COMPONENTS];
        for (c, pred) in predictors.iter_mut().enumerate().take(components) {
            *pred = i16::from_be_bytes([p[8 + 2 * c], p[9 + 2 * c]]);
        }
        Some(SubHeader {
            first_mcu: u32::from_be_bytes([p[1], p[2], p[3], p[4]]),
            start_bit: u32::from_be_bytes([0, p[5], p[6], p[7]]),
            components,
            predictors,
        })
    }
}

/// The transfer for `file` at payload size `payload_len`: each piece of the packed file
/// ([`super::packed`]) behind its sub-header. Walks the whole scan (every MCU decoded),
/// so a JPEG that does not decode is refused here, before anything is sent.
pub fn index(file: &[u8], payload_len: usize) -> Result<Vec<u8>, JpegError> {
    let header = Header::parse(file)?;
    let s = sub_len(header.components.len());
    if payload_len < MIN_PAYLOAD.max(s + 1) {
        return Err(JpegError::PayloadTooSmall {
            min: MIN_PAYLOAD.max(s + 1),
        });
    }
    let packed = packed::pack(file, &header);
    let layout = Layout::parse(&packed).ok();
    let Some(layout) = layout.filter(|l| l.unpack(&packed).as_deref() == Some(file)) else {
        return Err(JpegError::Unsupported {
            what: "a JPEG whose headers do not pack",
        });
    };
    // The scan's bytes lie `head_end` into the packed file instead of `scan_start`.
    let moved = |byte: usize| byte - header.scan_start + layout.head_end;
    let d = payload_len - s;
    let packets = packed.len().div_ceil(d).max(1);
    let mut firsts: Vec<Option<(u32, Position, Predictors)>> = vec![None; packets];
    let mut blocks = [[0i16; 64]; 10];
    let mut walker = Walker::new(file, &header);
    while let Some((mcu, at, preds)) = walker.next_mcu(&mut blocks)? {
        let at = Position {
            byte: moved(at.byte),
            bit: at.bit,
        };
        let k = at.byte / d;
        if let Some(slot @ None) = firsts.get_mut(k) {
            *slot = Some((mcu as u32, at, preds));
        }
    }
    if walker.overran() {
        return Err(JpegError::Entropy {
            at: walker.position().byte,
            what: "the scan ends before its last MCU",
        });
    }
    let mut out = Vec::with_capacity(packed.len() + packets * s);
    for (k, first) in firsts.iter().enumerate() {
        let sub = match first {
            Some((mcu, at, preds)) => SubHeader {
                first_mcu: *mcu,
                start_bit: ((at.byte - k * d) * 8 + usize::from(at.bit)) as u32,
                components: header.components.len(),
                predictors: *preds,
            },
            None => SubHeader {
                first_mcu: NONE,
                start_bit: 0,
                components: header.components.len(),
                predictors: [0; MAX_COMPONENTS],
            },
        };
        sub.encode(&mut out);
        out.extend_from_slice(&packed[(k * d).min(packed.len())..((k + 1) * d).min(packed.len())]);
    }
    Ok(out)
}

/// How much of `head`, the first bytes of an indexed transfer of payload size
/// `payload_len`, a descriptor needs to carry: up to the end of the packed headers (the
/// SOS segment), or all of it when they run past its end.
pub fn head_len(head: &[u8], payload_len: usize) -> usize {
    let Some(s) = SubHeader::parse(head).map(|h| h.byte_len()) else {
        return head.len();
    };
    let d = payload_len.saturating_sub(s).max(1);
    let file: Vec<u8> = head
        .chunks(payload_len.max(1))
        .flat_map(|c| c.get(s..).unwrap_or(&[]).iter().copied())
        .collect();
    match Layout::parse(&file) {
        Ok(l) => {
            let k = l.head_end / d;
            (k * payload_len + s + l.head_end - k * d).min(head.len())
        }
        Err(_) => head.len(),
    }
}

/// An indexed transfer as received: where each packet's piece of the file lies.
#[derive(Debug, Clone)]
pub struct Pieces {
    /// The packed file as far as it can be put together, lost pieces zero.
    pub file: Vec<u8>,
    /// Per packet: its sub-header, its piece of `file`, and whether it arrived whole.
    pub packets: Vec<(Option<SubHeader>, Range<usize>, bool)>,
    /// Per packet: the bytes of its piece known from its start (all of a whole packet's;
    /// a descriptor's head restores the start of a lost one).
    pub known_len: Vec<usize>,
}

impl Pieces {
    /// Split `transfer` (payload size `payload_len`) into packets; `lost` lists the ranges
    /// of the transfer not received (sorted), a packet touched by one is lost.
    pub fn split(transfer: &[u8], payload_len: usize, lost: &[Range<u64>]) -> Pieces {
        let p = payload_len.max(1);
        let mut li = 0;
        // Per packet: how many of its bytes, from its start, arrived.
        let arrived: Vec<usize> = (0..transfer.len().div_ceil(p).max(1))
            .map(|k| {
                let range = (k * p) as u64..((k + 1) * p).min(transfer.len()) as u64;
                while li < lost.len() && lost[li].end <= range.start {
                    li += 1;
                }
                lost[li..]
                    .iter()
                    .take_while(|l| l.start < range.end)
                    .find(|l| l.end > range.start)
                    .map_or(range.end - range.start, |l| {
                        l.start.max(range.start) - range.start
                    }) as usize
            })
            .collect();
        let whole: Vec<bool> = transfer
            .chunks(p)
            .zip(&arrived)
            .map(|(c, &a)| a == c.len())
            .chain(std::iter::repeat(true))
            .take(arrived.len())
            .collect();
        // The first packet that arrived tells the sub-header length, the same in all.
        let s = transfer
            .chunks(p)
            .zip(&whole)
            .find_map(|(chunk, &w)| w.then(|| SubHeader::parse(chunk)).flatten())
            .map_or(sub_len(3), |h| h.byte_len());
        let mut file = Vec::with_capacity(transfer.len());
        let mut packets = Vec::with_capacity(whole.len());
        let mut known_len = Vec::with_capacity(whole.len());
        for ((chunk, &w), &a) in transfer.chunks(p).zip(&whole).zip(&arrived) {
            let start = file.len();
            file.extend_from_slice(chunk.get(s..).unwrap_or(&[]));
            let sub = SubHeader::parse(chunk).filter(|h| w && h.byte_len() == s);
            packets.push((sub, start..file.len(), sub.is_some()));
            known_len.push(if sub.is_some() {
                file.len() - start
            } else {
                a.saturating_sub(s)
            });
        }
        Pieces {
            file,
            packets,
            known_len,
        }
    }

    /// True when every packet arrived.
    pub fn whole(&self) -> bool {
        self.packets.iter().all(|p| p.2)
    }

    /// True when the file's bytes in `range` all arrived.
    pub fn known(&self, range: Range<usize>) -> bool {
        self.packets
            .iter()
            .zip(&self.known_len)
            .filter(|((_, r, _), _)| r.start < range.end && r.end > range.start)
            .all(|((_, r, _), &k)| range.end.min(r.end) <= r.start + k)
    }
}

/// Decoded coefficients of one run of received packets: calls `mcu` with each MCU that
/// lies wholly in the packets `run` (indices into `pieces.packets`).
pub fn decode_run(
    pieces: &Pieces,
    header: &Header,
    run: Range<usize>,
    blocks: &mut [Block],
    mcu: &mut dyn FnMut(usize, &[Block]),
) {
    let end = pieces.packets[run.end - 1].1.end;
    let Some((k, sub)) = pieces.packets[run.clone()]
        .iter()
        .enumerate()
        .find_map(|(i, p)| p.0.filter(|s| s.first_mcu != NONE).map(|s| (i, s)))
    else {
        return;
    };
    let piece = &pieces.packets[run.start + k].1;
    let at = Position {
        byte: piece.start + (sub.start_bit / 8) as usize,
        bit: (sub.start_bit % 8) as u8,
    };
    if at.byte >= piece.end || sub.components != header.components.len() {
        return;
    }
    let mut walker = Walker::at(
        &pieces.file[..end],
        header,
        sub.first_mcu as usize,
        at,
        sub.predictors,
    );
    while let Ok(Some((index, _, _))) = walker.next_mcu(blocks) {
        if walker.overran() || walker.end_byte() > end {
            break;
        }
        mcu(index, blocks);
    }
}
