//! A received indexed JPEG back to a JPEG: the original file when every packet arrived;
//! otherwise a new baseline file of the same headers whose MCUs are those the received
//! packets hold, decoded where they belong, and lost MCUs concealed from their
//! neighbours' coefficients.
//!
//! Concealment works on quantised coefficients, block by block in each component: a lost
//! block takes the DC and the lowest AC coefficients of the nearest received blocks above,
//! below, left and right, weighted by nearness (the losses of a packet are a run of MCUs
//! along a row, so the rows above and below usually hold it in). The file is re-encoded
//! with the Huffman tables of T.81 Annex K, which code every value (the original's tables
//! may lack the codes concealment needs), and without restart markers. Coefficients are
//! held for the whole image: at most [`MAX_BLOCKS`].

use super::header::Header;
use super::huffman;
use super::packets::{decode_run, Pieces};
use super::scan::{encode_block, BitWriter, Block};
use super::JpegError;
use std::ops::Range;

/// Most 8x8 blocks held for a rebuild: 64 MiB of coefficients (a 20-megapixel 4:2:0 photo).
pub const MAX_BLOCKS: usize = 1 << 19;

/// Zigzag indices concealed from neighbours beside the DC (1 and 2: the lowest horizontal
/// and vertical frequencies).
const CONCEALED_AC: usize = 2;

/// How far (in blocks) concealment looks for a received neighbour.
const REACH: usize = 64;

/// What a rebuild made.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    pub jpeg: Vec<u8>,
    /// The original file, byte for byte.
    pub exact: bool,
    /// MCUs in the image.
    pub mcus: usize,
    /// Runs of lost MCUs (concealed), by index.
    pub lost: Vec<Range<usize>>,
}

impl Rebuilt {
    pub fn lost_mcus(&self) -> usize {
        self.lost.iter().map(|r| r.len()).sum()
    }
}

/// Rebuild the JPEG from `transfer`, the indexed transfer as received (payload size
/// `payload_len`, `lost` the transfer's ranges not received, sorted).
pub fn rebuild(
    transfer: &[u8],
    payload_len: usize,
    lost: &[Range<u64>],
) -> Result<Rebuilt, JpegError> {
    let pieces = Pieces::split(transfer, payload_len, lost);
    if pieces.whole() {
        let header = Header::parse(&pieces.file).ok();
        let mcus = header.map_or(0, |h| {
            let (x, y) = h.mcus();
            x * y
        });
        return Ok(Rebuilt {
            jpeg: pieces.file,
            exact: true,
            mcus,
            lost: Vec::new(),
        });
    }
    let header = Header::parse(&pieces.file).map_err(|_| JpegError::HeadersLost)?;
    if !pieces.known(0..header.scan_start) {
        return Err(JpegError::HeadersLost);
    }
    let (mx, my) = header.mcus();
    let per_mcu = header.blocks_in_mcu();
    let total = mx * my;
    if total.saturating_mul(per_mcu) > MAX_BLOCKS {
        return Err(JpegError::TooLarge { max: MAX_BLOCKS });
    }
    let mut coefs: Vec<Block> = vec![[0; 64]; total * per_mcu];
    let mut known = vec![false; total];
    let mut blocks = [[0i16; 64]; 10];
    let mut k = 0;
    while k < pieces.packets.len() {
        if !pieces.packets[k].2 {
            k += 1;
            continue;
        }
        let start = k;
        while k < pieces.packets.len() && pieces.packets[k].2 {
            k += 1;
        }
        decode_run(&pieces, &header, start..k, &mut blocks, &mut |m, b| {
            if m < total {
                coefs[m * per_mcu..(m + 1) * per_mcu].copy_from_slice(&b[..per_mcu]);
                known[m] = true;
            }
        });
    }
    conceal(&header, &mut coefs, &known);
    let mut lost_runs: Vec<Range<usize>> = Vec::new();
    for (m, _) in known.iter().enumerate().filter(|(_, k)| !**k) {
        match lost_runs.last_mut() {
            Some(r) if r.end == m => r.end += 1,
            _ => lost_runs.push(m..m + 1),
        }
    }
    Ok(Rebuilt {
        jpeg: encode(&pieces.file, &header, &coefs),
        exact: false,
        mcus: total,
        lost: lost_runs,
    })
}

/// Where block (gx, gy) of component `c` lies in `coefs` (MCU order).
fn block_index(h: &Header, c: usize, gx: usize, gy: usize) -> (usize, usize) {
    let (mx, _) = h.mcus();
    let (across, down) = h.blocks_per_mcu(c);
    let offset: usize = (0..c)
        .map(|d| {
            let (a, b) = h.blocks_per_mcu(d);
            a * b
        })
        .sum();
    let mcu = (gy / down) * mx + gx / across;
    (mcu, offset + (gy % down) * across + gx % across)
}

fn conceal(h: &Header, coefs: &mut [Block], known: &[bool]) {
    let (mx, my) = h.mcus();
    let per_mcu = h.blocks_in_mcu();
    for c in 0..h.components.len() {
        let (across, down) = h.blocks_per_mcu(c);
        let (gw, gh) = (mx * across, my * down);
        let at = |gx: usize, gy: usize| {
            let (m, n) = block_index(h, c, gx, gy);
            (m, m * per_mcu + n)
        };
        for gy in 0..gh {
            for gx in 0..gw {
                let (m, i) = at(gx, gy);
                if known[m] {
                    continue;
                }
                let mut sum = [0f64; CONCEALED_AC + 1];
                let mut weight = 0.0;
                let directions: [(isize, isize); 4] = [(0, -1), (0, 1), (-1, 0), (1, 0)];
                for (dx, dy) in directions {
                    for d in 1..=REACH {
                        let (x, y) = (gx as isize + dx * d as isize, gy as isize + dy * d as isize);
                        if x < 0 || y < 0 || x >= gw as isize || y >= gh as isize {
                            break;
                        }
                        let (m2, j) = at(x as usize, y as usize);
                        if known[m2] {
                            let w = 1.0 / d as f64;
                            for (s, v) in sum.iter_mut().zip(&coefs[j][..=CONCEALED_AC]) {
                                *s += w * f64::from(*v);
                            }
                            weight += w;
                            break;
                        }
                    }
                }
                let mut block = [0i16; 64];
                if weight > 0.0 {
                    for (b, s) in block.iter_mut().zip(sum) {
                        *b = (s / weight).round() as i16;
                    }
                }
                coefs[i] = block;
            }
        }
    }
}

/// The file: the original's segments but its Huffman tables and restart interval, the
/// Annex K tables, a scan of the same components, the coefficients, EOI.
fn encode(original: &[u8], h: &Header, coefs: &[Block]) -> Vec<u8> {
    let mut out = Vec::with_capacity(original.len() + 1024);
    for s in &h.segments {
        if !matches!(s.marker, 0xC4 | 0xDD | 0xDA) {
            out.extend_from_slice(&original[s.start..s.end]);
        }
    }
    let tables = huffman::standard();
    let mut dht = Vec::new();
    for (class, id, t) in [
        (0, 0, &tables[0]),
        (0, 1, &tables[1]),
        (1, 0, &tables[2]),
        (1, 1, &tables[3]),
    ] {
        t.dht_body(class, id, &mut dht);
    }
    out.extend_from_slice(&[0xFF, 0xC4]);
    out.extend_from_slice(&((dht.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&dht);
    let n = h.components.len();
    out.extend_from_slice(&[0xFF, 0xDA]);
    out.extend_from_slice(&((6 + 2 * n) as u16).to_be_bytes());
    out.push(n as u8);
    for (c, comp) in h.components.iter().enumerate() {
        let t = u8::from(c > 0);
        out.extend_from_slice(&[comp.id, t << 4 | t]);
    }
    out.extend_from_slice(&[0, 63, 0]);
    let mut w = BitWriter::new(out);
    let per_mcu = h.blocks_in_mcu();
    let mut preds = [0i32; 4];
    for mcu in coefs.chunks_exact(per_mcu) {
        let mut n = 0;
        for c in 0..h.components.len() {
            let (a, d) = h.blocks_per_mcu(c);
            let (dc, ac) = if c == 0 {
                (&tables[0], &tables[2])
            } else {
                (&tables[1], &tables[3])
            };
            for block in &mcu[n..n + a * d] {
                encode_block(&mut w, dc, ac, &mut preds[c], block);
            }
            n += a * d;
        }
    }
    w.finish();
    let mut out = w.out;
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}
