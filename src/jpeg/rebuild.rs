//! A received indexed JPEG back to a JPEG: the original file when every packet arrived;
//! otherwise a new baseline file of the same headers whose MCUs are those the received
//! packets hold, decoded where they belong, and lost MCUs concealed from their
//! neighbours' coefficients.
//!
//! Lost blocks are concealed by [`super::conceal`]. The file is re-encoded
//! with the Huffman tables of T.81 Annex K, which code every value (the original's tables
//! may lack the codes concealment needs), and without restart markers. Coefficients are
//! held for the whole image: at most [`MAX_BLOCKS`].

use super::header::Header;
use super::huffman;
use super::packed::Layout;
use super::packets::{decode_run, Pieces};
use super::scan::{encode_block, BitWriter, Block};
use super::JpegError;
use std::ops::Range;

/// Most 8x8 blocks held for a rebuild: 64 MiB of coefficients (a 20-megapixel 4:2:0 photo).
pub const MAX_BLOCKS: usize = 1 << 19;

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
    /// MCUs across the image, and an MCU's size in pixels (across, down).
    pub mcus_across: usize,
    pub mcu_pixels: (usize, usize),
}

impl Rebuilt {
    pub fn lost_mcus(&self) -> usize {
        self.lost.iter().map(|r| r.len()).sum()
    }

    /// The pixels of the lost MCUs, one rectangle (x and y ranges, not clipped to the
    /// picture) per run of lost MCUs within an MCU row.
    pub fn lost_pixels(&self) -> Vec<(Range<usize>, Range<usize>)> {
        let (across, (w, h)) = (self.mcus_across.max(1), self.mcu_pixels);
        let mut out = Vec::new();
        for run in &self.lost {
            let mut m = run.start;
            while m < run.end {
                let (x, y) = (m % across, m / across);
                let end = run.end.min((y + 1) * across);
                out.push((x * w..(x + end - m) * w, y * h..(y + 1) * h));
                m = end;
            }
        }
        out
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
        // Not the packed file of a JPEG: not what a sender of indexed JPEGs sends.
        let file = Layout::parse(&pieces.file)
            .ok()
            .and_then(|l| l.unpack(&pieces.file))
            .ok_or(JpegError::NotOneTransfer)?;
        let header = Header::parse(&file).ok();
        let (across, down) = header.as_ref().map_or((0, 0), |h| h.mcus());
        return Ok(Rebuilt {
            jpeg: file,
            exact: true,
            mcus: across * down,
            lost: Vec::new(),
            mcus_across: across,
            mcu_pixels: header.as_ref().map_or((8, 8), mcu_pixels),
        });
    }
    if lost.is_empty() {
        // Nothing lost and yet not whole: these are not the packets of one indexed JPEG
        // (two transfers back to back, one after the other at the output).
        return Err(JpegError::NotOneTransfer);
    }
    let layout = Layout::parse(&pieces.file).map_err(|_| JpegError::HeadersLost)?;
    if !pieces.known(0..layout.head_end) {
        return Err(JpegError::HeadersLost);
    }
    // The headers as the file had them, deferred segments that did not all arrive left
    // out; the scan is read where it lies in the packed file.
    let headers = layout.headers(&pieces.file, &|r| pieces.known(r));
    let mut header = Header::parse(&headers).map_err(|_| JpegError::HeadersLost)?;
    if header.scan_start != headers.len() {
        return Err(JpegError::HeadersLost);
    }
    header.scan_start = layout.head_end;
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
    super::conceal::conceal(&header, &mut coefs, &known);
    let mut lost_runs: Vec<Range<usize>> = Vec::new();
    for (m, _) in known.iter().enumerate().filter(|(_, k)| !**k) {
        match lost_runs.last_mut() {
            Some(r) if r.end == m => r.end += 1,
            _ => lost_runs.push(m..m + 1),
        }
    }
    Ok(Rebuilt {
        jpeg: encode(&headers, &header, &coefs),
        exact: false,
        mcus: total,
        lost: lost_runs,
        mcus_across: mx,
        mcu_pixels: mcu_pixels(&header),
    })
}

/// An MCU's size in pixels: one block of the one component, else 8 times the largest
/// sampling factors.
fn mcu_pixels(h: &Header) -> (usize, usize) {
    let (hmax, vmax) = h.max_sampling();
    match h.single() {
        true => (8, 8),
        false => (8 * usize::from(hmax), 8 * usize::from(vmax)),
    }
}

/// The file: the original's segments (`original`: its headers) but its Huffman tables and
/// restart interval, the Annex K tables, a scan of the same components, the
/// coefficients, EOI.
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
        for (c, pred) in preds.iter_mut().enumerate().take(h.components.len()) {
            let (a, d) = h.blocks_per_mcu(c);
            let (dc, ac) = if c == 0 {
                (&tables[0], &tables[2])
            } else {
                (&tables[1], &tables[3])
            };
            for block in &mcu[n..n + a * d] {
                encode_block(&mut w, dc, ac, pred, block);
            }
            n += a * d;
        }
    }
    w.finish();
    let mut out = w.out;
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}
