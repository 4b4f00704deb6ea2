//! The JPEG's marker segments, as far as a baseline decoder needs them: the frame (SOF0 or
//! SOF1, 8-bit), the Huffman tables (DHT), the restart interval (DRI) and the one scan
//! (SOS), with where each segment lies, so that a rebuilt file can copy them.
//!
//! It reads segments from SOI to the first SOS, ITU-T T.81 B.2: every segment but SOI is a
//! marker and a 16-bit length. It does not read the entropy-coded data (see
//! [`super::scan`]) and rejects what a baseline Huffman decoder cannot take, with the
//! remedy: progressive (SOF2), lossless, hierarchical and arithmetic-coded frames, 12-bit
//! samples, and a first scan that is not all the frame's components.

use super::huffman::Table;
use super::JpegError;

/// Most components a frame may have (T.81 allows 255; a baseline scan takes 4).
pub const MAX_COMPONENTS: usize = 4;

/// One colour component of the frame, with the tables its scan uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    pub id: u8,
    /// Horizontal and vertical sampling factors, 1 to 4.
    pub h: u8,
    pub v: u8,
    pub quant_table: u8,
    /// DC and AC Huffman table of the scan (0 to 3).
    pub dc_table: u8,
    pub ac_table: u8,
}

/// A marker segment's place in the file: `start` at its 0xFF, `end` after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub marker: u8,
    pub start: usize,
    pub end: usize,
}

/// What the headers say: enough to walk the scan MCU by MCU.
#[derive(Debug, Clone)]
pub struct Header {
    pub width: u16,
    pub height: u16,
    /// In scan order (the scan's order, which is what MCUs follow).
    pub components: Vec<Component>,
    /// DC tables 0-3, then AC tables 0-3.
    pub tables: [Option<Table>; 8],
    /// Quantisation tables 0-3 in zigzag order, as DQT gave them.
    pub quant: [Option<[u16; 64]>; 4],
    /// MCUs per restart interval, 0 without restart markers.
    pub restart_interval: u16,
    /// The segments from SOI up to the SOS, in file order (SOS included, last).
    pub segments: Vec<Segment>,
    /// Where the entropy-coded data begins: the byte after the SOS segment.
    pub scan_start: usize,
}

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const DHT: u8 = 0xC4;
const DRI: u8 = 0xDD;
const DAC: u8 = 0xCC;
const DQT: u8 = 0xDB;

impl Header {
    /// Parse the headers of `file` up to and including its first SOS.
    pub fn parse(file: &[u8]) -> Result<Header, JpegError> {
        if file.len() < 2 || file[0] != 0xFF || file[1] != SOI {
            return Err(JpegError::NotJpeg);
        }
        let mut at = 2;
        let mut segments = vec![Segment {
            marker: SOI,
            start: 0,
            end: 2,
        }];
        let mut tables: [Option<Table>; 8] = Default::default();
        let mut frame: Option<(u16, u16, Vec<Component>)> = None;
        let mut restart_interval = 0;
        let mut quant = [None; 4];
        loop {
            // Fill bytes (0xFF) may come before a marker (T.81 B.1.1.2).
            while file.get(at) == Some(&0xFF) && file.get(at + 1) == Some(&0xFF) {
                at += 1;
            }
            let (Some(&0xFF), Some(&marker)) = (file.get(at), file.get(at + 1)) else {
                return Err(JpegError::Truncated { at });
            };
            if marker == EOI || marker == SOI || (0xD0..=0xD7).contains(&marker) {
                return Err(JpegError::Marker { marker, at });
            }
            let Some(len) = file.get(at + 2..at + 4) else {
                return Err(JpegError::Truncated { at });
            };
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            if len < 2 || at + 2 + len > file.len() {
                return Err(JpegError::Truncated { at });
            }
            let body = &file[at + 4..at + 2 + len];
            let segment = Segment {
                marker,
                start: at,
                end: at + 2 + len,
            };
            segments.push(segment);
            match marker {
                0xC0 | 0xC1 => frame = Some(parse_frame(body, at)?),
                0xC2 | 0xC6 | 0xCA | 0xCE => return Err(JpegError::Progressive),
                0xC3 | 0xC5 | 0xC7 | 0xCB | 0xCD | 0xCF => {
                    return Err(JpegError::Unsupported {
                        what: "a lossless or hierarchical JPEG",
                    })
                }
                0xC9 | DAC => return Err(JpegError::Arithmetic),
                DHT => parse_dht(body, at, &mut tables)?,
                DQT => parse_dqt(body, at, &mut quant)?,
                DRI => {
                    if body.len() != 2 {
                        return Err(JpegError::Bad { at, what: "DRI" });
                    }
                    restart_interval = u16::from_be_bytes([body[0], body[1]]);
                }
                SOS => {
                    let (width, height, frame_components) = frame.ok_or(JpegError::Bad {
                        at,
                        what: "SOS before SOF",
                    })?;
                    let components = parse_scan(body, at, &frame_components, &tables)?;
                    return Ok(Header {
                        width,
                        height,
                        components,
                        tables,
                        quant,
                        restart_interval,
                        segments,
                        scan_start: segment.end,
                    });
                }
                _ => {}
            }
            at = segment.end;
        }
    }

    /// The largest sampling factors.
    pub fn max_sampling(&self) -> (u8, u8) {
        let h = self.components.iter().map(|c| c.h).max().unwrap_or(1);
        let v = self.components.iter().map(|c| c.v).max().unwrap_or(1);
        (h, v)
    }

    /// True when the scan has one component: then an MCU is one block.
    pub fn single(&self) -> bool {
        self.components.len() == 1
    }

    /// Blocks per MCU of component `c`, as (across, down).
    pub fn blocks_per_mcu(&self, c: usize) -> (usize, usize) {
        if self.single() {
            (1, 1)
        } else {
            (
                usize::from(self.components[c].h),
                usize::from(self.components[c].v),
            )
        }
    }

    /// MCUs across and down.
    pub fn mcus(&self) -> (usize, usize) {
        let (hmax, vmax) = self.max_sampling();
        let (w, h) = (usize::from(self.width), usize::from(self.height));
        if self.single() {
            let c = self.components[0];
            // The component's own size, T.81 A.1.1, in blocks.
            let cw = (w * usize::from(c.h)).div_ceil(usize::from(hmax));
            let ch = (h * usize::from(c.v)).div_ceil(usize::from(vmax));
            (cw.div_ceil(8), ch.div_ceil(8))
        } else {
            (
                w.div_ceil(8 * usize::from(hmax)),
                h.div_ceil(8 * usize::from(vmax)),
            )
        }
    }

    /// Blocks per MCU, all components.
    pub fn blocks_in_mcu(&self) -> usize {
        (0..self.components.len())
            .map(|c| {
                let (a, d) = self.blocks_per_mcu(c);
                a * d
            })
            .sum()
    }
}

fn parse_frame(body: &[u8], at: usize) -> Result<(u16, u16, Vec<Component>), JpegError> {
    let bad = JpegError::Bad { at, what: "SOF" };
    if body.len() < 6 {
        return Err(bad);
    }
    if body[0] != 8 {
        return Err(JpegError::Unsupported {
            what: "a JPEG of other than 8-bit samples",
        });
    }
    let height = u16::from_be_bytes([body[1], body[2]]);
    let width = u16::from_be_bytes([body[3], body[4]]);
    let n = usize::from(body[5]);
    if height == 0 {
        return Err(JpegError::Unsupported {
            what: "a JPEG whose height comes after the scan (DNL)",
        });
    }
    if width == 0 || n == 0 || n > MAX_COMPONENTS || body.len() != 6 + 3 * n {
        return Err(bad);
    }
    let mut components = Vec::with_capacity(n);
    for c in body[6..].chunks_exact(3) {
        let (h, v) = (c[1] >> 4, c[1] & 15);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) || c[2] > 3 {
            return Err(bad);
        }
        components.push(Component {
            id: c[0],
            h,
            v,
            quant_table: c[2],
            dc_table: 0,
            ac_table: 0,
        });
    }
    // T.81 B.2.3: at most 10 blocks in an interleaved MCU.
    let blocks: usize = components
        .iter()
        .map(|c| usize::from(c.h) * usize::from(c.v))
        .sum();
    if n > 1 && blocks > 10 {
        return Err(bad);
    }
    Ok((width, height, components))
}

fn parse_dht(mut body: &[u8], at: usize, tables: &mut [Option<Table>; 8]) -> Result<(), JpegError> {
    while !body.is_empty() {
        let class_id = body[0];
        let (class, id) = (class_id >> 4, class_id & 15);
        if class > 1 || id > 3 || body.len() < 17 {
            return Err(JpegError::Bad { at, what: "DHT" });
        }
        let mut counts = [0u8; 16];
        counts.copy_from_slice(&body[1..17]);
        let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let Some(symbols) = body.get(17..17 + n) else {
            return Err(JpegError::Bad { at, what: "DHT" });
        };
        let table = Table::new(counts, symbols).ok_or(JpegError::Bad { at, what: "DHT" })?;
        tables[usize::from(class) * 4 + usize::from(id)] = Some(table);
        body = &body[17 + n..];
    }
    Ok(())
}

fn parse_dqt(
    mut body: &[u8],
    at: usize,
    quant: &mut [Option<[u16; 64]>; 4],
) -> Result<(), JpegError> {
    let bad = JpegError::Bad { at, what: "DQT" };
    while let Some(&pq_tq) = body.first() {
        let (precision, id) = (pq_tq >> 4, usize::from(pq_tq & 15));
        let size = if precision == 0 { 1 } else { 2 };
        if precision > 1 || id > 3 || body.len() < 1 + 64 * size {
            return Err(bad);
        }
        let mut table = [0u16; 64];
        for (k, q) in table.iter_mut().enumerate() {
            *q = match size {
                1 => u16::from(body[1 + k]),
                _ => u16::from_be_bytes([body[1 + 2 * k], body[2 + 2 * k]]),
            };
        }
        quant[id] = Some(table);
        body = &body[1 + 64 * size..];
    }
    Ok(())
}

fn parse_scan(
    body: &[u8],
    at: usize,
    frame: &[Component],
    tables: &[Option<Table>; 8],
) -> Result<Vec<Component>, JpegError> {
    let bad = JpegError::Bad { at, what: "SOS" };
    let n = usize::from(*body.first().ok_or(bad.clone())?);
    if n == 0 || n > MAX_COMPONENTS || body.len() != 4 + 2 * n {
        return Err(bad);
    }
    if n != frame.len() {
        return Err(JpegError::Unsupported {
            what: "a JPEG in several scans (one component each)",
        });
    }
    let mut components = Vec::with_capacity(n);
    for s in body[1..1 + 2 * n].chunks_exact(2) {
        let mut c = *frame.iter().find(|c| c.id == s[0]).ok_or(JpegError::Bad {
            at,
            what: "SOS component",
        })?;
        if components.iter().any(|d: &Component| d.id == c.id) {
            return Err(bad);
        }
        (c.dc_table, c.ac_table) = (s[1] >> 4, s[1] & 15);
        if c.dc_table > 3
            || c.ac_table > 3
            || tables[usize::from(c.dc_table)].is_none()
            || tables[4 + usize::from(c.ac_table)].is_none()
        {
            return Err(JpegError::Bad {
                at,
                what: "SOS table (not defined before the scan)",
            });
        }
        components.push(c);
    }
    let tail = &body[1 + 2 * n..];
    // Baseline: spectral selection 0..63, no successive approximation.
    if tail != [0, 63, 0] {
        return Err(JpegError::Progressive);
    }
    Ok(components)
}
