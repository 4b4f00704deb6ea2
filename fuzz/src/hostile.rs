//! A hostile sender: the input is a program of forged packets (descriptors with any span,
//! FEC scheme, payload size and total; runs of data and parity packets with any geometry;
//! back-to-back headers that claim the largest payload; garbage), every CRC and header
//! check valid. The reassembler must take the stream within a memory cap and a CPU budget
//! per input byte: [`hostile`] checks the time, the fuzz target's counting allocator the
//! memory, and `tests/it/hostile.rs` runs the real `unpktize` on generated programs under
//! `/usr/bin/time`.

use pktools::descriptor::{Descriptor, MediaType};
use pktools::reassemble::damage::DamageMap;
use pktools::reassemble::output::{Output, OutputResult};
use pktools::reassemble::{self, ReassembleError, Reassembler, Settings};
use pktools::wire::{Header, Kind, ParityInfo, HEADER_LEN, MAX_PAYLOAD};
use std::time::{Duration, Instant};

/// The most bytes a program expands to.
pub const MAX_STREAM: usize = 8 << 20;
/// Bytes of program per operation.
const OP_LEN: usize = 8;

/// The stream a program of forged packets stands for (see the module documentation): each
/// 8 bytes are one operation.
pub fn forged_stream(program: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for op in program.chunks_exact(OP_LEN) {
        if out.len() >= MAX_STREAM {
            break;
        }
        let b = |i: usize| op[i];
        let u16_at = |i: usize| u16::from_be_bytes([op[i], op[i + 1]]);
        let id = if b(7) & 0x80 == 0 {
            7
        } else {
            u16::from(b(7) & 3)
        };
        match b(0) % 6 {
            0 => {
                let fec = (b(3) % 17 != 0).then(|| (b(3) % 17, 1 + b(4) % 4));
                let d = Descriptor {
                    media_type: if b(6) & 2 == 0 {
                        MediaType::Raw
                    } else {
                        MediaType::Pnm
                    },
                    payload_len: u16_at(1).clamp(1, MAX_PAYLOAD as u16),
                    fec,
                    name: String::new(),
                    head: if b(6) & 2 == 0 {
                        Vec::new()
                    } else {
                        b"P6\n65535 65535\n255\n".to_vec()
                    },
                    interleave_span: (b(5) & 0x40 != 0).then(|| 1u32 << (b(5) % 32)),
                    carousel: b(6) & 1 != 0,
                    fountain: None,
                };
                let total = match b(7) % 4 {
                    0 => None,
                    1 => Some(u64::from(u16_at(1)) * 64),
                    _ => Some(1u64 << (b(5) % 48)),
                };
                packet(
                    &mut out,
                    Kind::Descriptor,
                    id,
                    0,
                    0,
                    total,
                    None,
                    false,
                    &d.encode(),
                );
            }
            1 => {
                let n = 1 + usize::from(b(1) % 64);
                let len = usize::from(u16_at(2)).clamp(1, MAX_PAYLOAD);
                let step = 1 + u64::from(b(6) % 3);
                let first = u64::from(u16_at(4) % 4096);
                let payload = vec![b(6); len];
                for i in 0..n as u64 {
                    let seq = (first + i * step) as u32;
                    let offset = u64::from(seq) * len as u64;
                    let total = (b(7) & 1 != 0).then_some(1 << 40);
                    packet(
                        &mut out,
                        Kind::Data,
                        id,
                        seq,
                        offset,
                        total,
                        None,
                        false,
                        &payload,
                    );
                }
            }
            2 => {
                let n = 1 + usize::from(b(1) % 64);
                let len = usize::from(u16_at(4)).clamp(1, MAX_PAYLOAD);
                let group_size = 1 + b(2) % 16;
                let parity_count = 1 + b(3) % 4;
                let payload = vec![b(6); len];
                for i in 0..n as u32 {
                    let info = ParityInfo {
                        group_len: 1 + b(2) % group_size,
                        parity_count,
                        parity_index: (i as u8) % parity_count,
                        group_size,
                        last_len: (len - (b(6) & 1) as usize) as u16,
                        odd: b(6) & 1 != 0,
                    };
                    let group = u32::from(u16_at(6)).wrapping_sub(i / u32::from(parity_count));
                    let offset = u64::from(group) * u64::from(group_size) * len as u64;
                    packet(
                        &mut out,
                        Kind::Parity,
                        id,
                        group,
                        offset,
                        None,
                        Some(info),
                        b(1) & 1 != 0,
                        &payload,
                    );
                }
            }
            3 => {
                // Back-to-back headers, each claiming the largest payload.
                for i in 0..u32::from(b(1)) * 32 {
                    let h = header(
                        Kind::Data,
                        id,
                        i,
                        u64::from(i) * MAX_PAYLOAD as u64,
                        None,
                        None,
                        false,
                        MAX_PAYLOAD as u16,
                        i,
                    );
                    let mut bytes = [0; HEADER_LEN];
                    h.encode(&mut bytes);
                    out.extend_from_slice(&bytes);
                }
            }
            4 => out.extend(std::iter::repeat_n(b(2), usize::from(b(1)) * 64)),
            _ => {
                // A packet far ahead, claiming a huge transfer.
                let offset = u64::from(u16_at(1)) << (b(3) % 32);
                packet(
                    &mut out,
                    Kind::Data,
                    id,
                    0,
                    offset,
                    Some(offset + 1),
                    None,
                    true,
                    &[b(4)],
                );
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn header(
    kind: Kind,
    id: u16,
    seq: u32,
    offset: u64,
    total_len: Option<u64>,
    parity: Option<ParityInfo>,
    last: bool,
    payload_len: u16,
    payload_crc: u32,
) -> Header {
    Header {
        kind,
        last,
        keyed: false,
        encrypted: false,
        payload_len,
        transfer_id: id,
        seq,
        offset,
        total_len,
        payload_crc,
        parity,
    }
}

#[allow(clippy::too_many_arguments)]
fn packet(
    out: &mut Vec<u8>,
    kind: Kind,
    id: u16,
    seq: u32,
    offset: u64,
    total: Option<u64>,
    parity: Option<ParityInfo>,
    last: bool,
    payload: &[u8],
) {
    let crc = Header::crc_of(payload);
    let h = header(
        kind,
        id,
        seq,
        offset,
        total,
        parity,
        last,
        payload.len() as u16,
        crc,
    );
    out.extend(h.with_payload(payload));
}

/// A stream output that keeps nothing: it checks the order and counts.
struct Discard {
    written: u64,
}

impl Output for Discard {
    fn write_at(&mut self, at: u64, data: &[u8]) -> OutputResult<()> {
        assert_eq!(at, self.written, "a stream output is written in order");
        self.written += data.len() as u64;
        Ok(())
    }

    fn can_write_at(&self, at: u64) -> bool {
        at == self.written
    }

    fn flush(&mut self) -> OutputResult<()> {
        Ok(())
    }
}

/// The most output a run may be owed: fill costs time, not memory, so it is bounded.
const MAX_LEN: u64 = 64 << 20;

/// The work a run may take: a fixed part and a part per input byte, generous (fuzzing
/// builds are slow); a quadratic case or an amplification far exceeds it.
pub fn budget(stream_len: usize) -> Duration {
    Duration::from_millis(500) + Duration::from_nanos(2_000) * stream_len as u32
}

/// Run the reassembler over the forged stream a program stands for, as a stream to
/// standard output; it must finish within [`budget`].
pub fn hostile(program: &[u8]) {
    let stream = forged_stream(program);
    let settings = Settings {
        max_len: Some(MAX_LEN),
        ..Settings::default()
    };
    let started = Instant::now();
    let mut r = Reassembler::new(settings, Discard { written: 0 }, DamageMap::new(None));
    let mut reader = super::ChunkedReader::new(&stream[..], program.first().copied().unwrap_or(0));
    match reassemble::run_stream(&mut reader, &mut r, None, &mut |_| {}) {
        Ok(()) | Err(ReassembleError::Stopped | ReassembleError::TooLarge { .. }) => {}
        Err(e) => panic!("{e}"),
    }
    let (report, out) = r.finish().expect("a discarding output does not fail");
    assert_eq!(
        out.written, report.output_len,
        "stream length and report differ"
    );
    let took = started.elapsed();
    assert!(
        took <= budget(stream.len()),
        "{} bytes took {took:?}, more than {:?}",
        stream.len(),
        budget(stream.len())
    );
}
