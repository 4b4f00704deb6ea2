//! The entropy-coded data of a baseline scan, walked MCU by MCU: where each MCU starts
//! (a bit position in the file) and the DC predictors there, and its coefficients.
//!
//! A walk can start at any MCU whose position and predictors are known (that is what a
//! packet's sub-header gives, [`super::packets`]), so a receiver decodes each run of
//! received packets on its own. Reading never goes past a marker or the end of the input:
//! there the bits read as zeros and [`Walker::overran`] says so. Invalid codes are an
//! error, never a panic; a walk does no allocation.

use super::header::{Header, MAX_COMPONENTS};
use super::huffman::Table;
use super::JpegError;

/// A bit's place in the file: the byte, and the bit in it from the most significant (0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub byte: usize,
    pub bit: u8,
}

/// The DC predictors, in scan component order.
pub type Predictors = [i16; MAX_COMPONENTS];

/// One 8x8 block's coefficients in zigzag order, the DC as its value, not a difference.
pub type Block = [i16; 64];

/// Reads the entropy-coded bits: skips the zero stuffed after each 0xFF, stops at markers.
#[derive(Debug, Clone)]
struct BitReader<'a> {
    data: &'a [u8],
    at: Position,
    overran: bool,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8], at: Position) -> Self {
        BitReader {
            data,
            at,
            overran: false,
        }
    }

    /// True at a marker (0xFF then not 0x00) or the end: no more bits.
    fn at_marker(&self) -> bool {
        let b = self.at.byte;
        match self.data.get(b) {
            None => true,
            Some(0xFF) => self.data.get(b + 1) != Some(&0),
            Some(_) => false,
        }
    }

    #[inline]
    fn bit(&mut self) -> u32 {
        if self.at_marker() {
            self.overran = true;
            return 0;
        }
        let byte = self.data[self.at.byte];
        let bit = u32::from(byte >> (7 - self.at.bit)) & 1;
        self.at.bit += 1;
        if self.at.bit == 8 {
            self.next_byte();
        }
        bit
    }

    fn next_byte(&mut self) {
        // A 0xFF data byte is followed by a stuffed zero (checked by at_marker).
        self.at.byte += if self.data[self.at.byte] == 0xFF {
            2
        } else {
            1
        };
        self.at.bit = 0;
    }

    fn bits(&mut self, n: u8) -> u32 {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit();
        }
        v
    }

    /// Skip to the byte boundary and over the restart marker there; false if none is.
    fn restart(&mut self) -> bool {
        if self.at.bit != 0 && !self.at_marker() {
            self.next_byte();
        }
        let d = self.data;
        let mut b = self.at.byte;
        while d.get(b) == Some(&0xFF) && d.get(b + 1) == Some(&0xFF) {
            b += 1;
        }
        if d.get(b) == Some(&0xFF) && d.get(b + 1).is_some_and(|m| (0xD0..=0xD7).contains(m)) {
            self.at = Position {
                byte: b + 2,
                bit: 0,
            };
            true
        } else {
            false
        }
    }
}

/// T.81 F.2.2.1 EXTEND: the `s`-bit value `v` as a signed coefficient.
#[inline]
fn extend(v: u32, s: u8) -> i32 {
    if s == 0 {
        0
    } else if v < 1 << (s - 1) {
        v as i32 - (1 << s) + 1
    } else {
        v as i32
    }
}

/// Walks the scan MCU by MCU from a known start.
#[derive(Debug, Clone)]
pub struct Walker<'a> {
    header: &'a Header,
    reader: BitReader<'a>,
    mcu: usize,
    total: usize,
    preds: [i32; MAX_COMPONENTS],
    started: bool,
}

impl<'a> Walker<'a> {
    /// A walk of `file` (the whole file, headers included) from its first MCU.
    pub fn new(file: &'a [u8], header: &'a Header) -> Self {
        let at = Position {
            byte: header.scan_start,
            bit: 0,
        };
        Walker::at(file, header, 0, at, [0; MAX_COMPONENTS])
    }

    /// A walk from MCU `mcu`, which starts at `at` with predictors `preds`.
    pub fn at(
        file: &'a [u8],
        header: &'a Header,
        mcu: usize,
        at: Position,
        preds: Predictors,
    ) -> Self {
        let (x, y) = header.mcus();
        Walker {
            header,
            reader: BitReader::new(file, at),
            mcu,
            total: x * y,
            preds: preds.map(i32::from),
            started: false,
        }
    }

    /// The next MCU's index, start and predictors, its blocks decoded into `blocks`
    /// (`Header::blocks_in_mcu` of them, component by component in raster order); `None`
    /// after the last.
    pub fn next_mcu(
        &mut self,
        blocks: &mut [Block],
    ) -> Result<Option<(usize, Position, Predictors)>, JpegError> {
        if self.mcu >= self.total {
            return Ok(None);
        }
        let ri = usize::from(self.header.restart_interval);
        if self.started && ri > 0 && self.mcu % ri == 0 {
            if !self.reader.restart() {
                return Err(JpegError::Entropy {
                    at: self.reader.at.byte,
                    what: "restart marker missing",
                });
            }
            self.preds = [0; MAX_COMPONENTS];
        }
        self.started = true;
        let start = self.reader.at;
        let preds = self.preds.map(|p| p as i16);
        let h = self.header;
        let mut n = 0;
        for (c, comp) in h.components.iter().enumerate() {
            let (across, down) = h.blocks_per_mcu(c);
            let dc = h.tables[usize::from(comp.dc_table)]
                .as_ref()
                .expect("the header checked the scan's tables exist");
            let ac = h.tables[4 + usize::from(comp.ac_table)]
                .as_ref()
                .expect("the header checked the scan's tables exist");
            for _ in 0..across * down {
                let block = blocks.get_mut(n).ok_or(JpegError::Entropy {
                    at: start.byte,
                    what: "MCU larger than the block buffer",
                })?;
                decode_block(&mut self.reader, dc, ac, &mut self.preds[c], block)?;
                n += 1;
            }
        }
        let index = self.mcu;
        self.mcu += 1;
        Ok(Some((index, start, preds)))
    }

    /// Where the next unread bit is.
    pub fn position(&self) -> Position {
        self.reader.at
    }

    /// The file byte after the last one read from.
    pub fn end_byte(&self) -> usize {
        self.reader.at.byte + usize::from(self.reader.at.bit > 0)
    }

    /// True once a read found a marker or the end of the input where bits were due.
    pub fn overran(&self) -> bool {
        self.reader.overran
    }
}

fn decode_block(
    r: &mut BitReader,
    dc: &Table,
    ac: &Table,
    pred: &mut i32,
    out: &mut Block,
) -> Result<(), JpegError> {
    let at = r.at.byte;
    let bad = |what| JpegError::Entropy { at, what };
    *out = [0; 64];
    let s = dc.decode(&mut || r.bit()).ok_or(bad("bad DC code"))?;
    if s > 11 {
        return Err(bad("DC difference of more than 11 bits"));
    }
    let v = r.bits(s);
    *pred += extend(v, s);
    out[0] = i16::try_from(*pred).map_err(|_| bad("DC out of range"))?;
    let mut k = 1;
    while k < 64 {
        let rs = ac.decode(&mut || r.bit()).ok_or(bad("bad AC code"))?;
        let (run, size) = (usize::from(rs >> 4), rs & 15);
        if size == 0 {
            if run == 15 {
                k += 16;
                continue;
            }
            break;
        }
        if size > 10 {
            return Err(bad("AC coefficient of more than 10 bits"));
        }
        k += run;
        if k > 63 {
            return Err(bad("AC run past the block's end"));
        }
        let v = r.bits(size);
        out[k] = extend(v, size) as i16;
        k += 1;
    }
    if k > 64 {
        return Err(bad("AC run past the block's end"));
    }
    Ok(())
}

/// Writes entropy-coded bits, stuffing a zero after each 0xFF (T.81 F.1.2.3).
#[derive(Debug, Default)]
pub struct BitWriter {
    pub out: Vec<u8>,
    acc: u32,
    n: u8,
}

impl BitWriter {
    /// A writer that appends to `out`.
    pub fn new(out: Vec<u8>) -> Self {
        BitWriter { out, acc: 0, n: 0 }
    }

    #[inline]
    pub fn put(&mut self, value: u32, bits: u8) {
        for i in (0..bits).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                let b = self.acc as u8;
                self.out.push(b);
                if b == 0xFF {
                    self.out.push(0);
                }
                self.acc = 0;
                self.n = 0;
            }
        }
    }

    /// Pad the last byte with ones.
    pub fn finish(&mut self) {
        if self.n > 0 {
            let pad = 8 - self.n;
            self.put((1 << pad) - 1, pad);
        }
    }
}

/// Code one block (zigzag order, DC as a value) against predictor `pred`.
/// Values beyond what 8-bit baseline samples give (a damaged stream decodes to anything)
/// are clamped: the DC to 11 bits, so that a difference fits its 11-bit category, each AC
/// to 10 bits.
pub fn encode_block(w: &mut BitWriter, dc: &Table, ac: &Table, pred: &mut i32, block: &Block) {
    let value = i32::from(block[0]).clamp(-1023, 1023);
    let diff = value - *pred;
    *pred = value;
    let (bits, size) = magnitude(diff);
    let (code, len) = dc
        .code(size)
        .expect("the Annex K DC table codes sizes 0 to 11");
    w.put(u32::from(code), len);
    w.put(bits, size);
    let mut run = 0;
    for &c in &block[1..] {
        if c == 0 {
            run += 1;
            continue;
        }
        while run >= 16 {
            let (code, len) = ac.code(0xF0).expect("the Annex K AC table codes ZRL");
            w.put(u32::from(code), len);
            run -= 16;
        }
        let (bits, size) = magnitude(i32::from(c).clamp(-1023, 1023));
        let (code, len) = ac
            .code((run << 4) | size)
            .expect("the Annex K AC table codes every run and size 1 to 10");
        w.put(u32::from(code), len);
        w.put(bits, size);
        run = 0;
    }
    if run > 0 {
        let (code, len) = ac.code(0).expect("the Annex K AC table codes EOB");
        w.put(u32::from(code), len);
    }
}

/// The size category of `v` and its bits (T.81 F.1.2.1), sizes clamped to 11 bits.
fn magnitude(v: i32) -> (u32, u8) {
    let v = v.clamp(-2047, 2047);
    let size = (32 - v.unsigned_abs().leading_zeros()) as u8;
    let bits = if v < 0 { v - 1 } else { v } as u32 & ((1u32 << size) - 1);
    (bits, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magnitude_and_extend_agree() {
        for v in -2047..=2047 {
            let (bits, size) = magnitude(v);
            assert_eq!(extend(bits, size), v, "{v}");
        }
    }

    #[test]
    fn the_reader_skips_stuffing_and_stops_at_markers() {
        let data = [0xFF, 0x00, 0x80, 0xFF, 0xD9];
        let mut r = BitReader::new(&data, Position::default());
        assert_eq!(r.bits(8), 0xFF);
        assert_eq!(r.at, Position { byte: 2, bit: 0 });
        assert_eq!(r.bits(8), 0x80);
        assert!(!r.overran);
        assert_eq!(r.bits(4), 0);
        assert!(r.overran);
        assert_eq!(r.at.byte, 3);
    }

    #[test]
    fn the_writer_stuffs_and_pads() {
        let mut w = BitWriter::default();
        w.put(0xFF, 8);
        w.put(0, 1);
        w.finish();
        assert_eq!(w.out, [0xFF, 0x00, 0x7F]);
    }
}
