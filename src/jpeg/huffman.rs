//! Huffman tables as DHT gives them (T.81 C and F.2.2.3): decoding by code length, and
//! the codes for encoding; and the tables of T.81 Annex K, which code every baseline
//! symbol and so can re-encode any coefficients a rebuilt image holds.

/// One Huffman table: the symbol counts per code length 1-16 and the symbols.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub counts: [u8; 16],
    pub symbols: Vec<u8>,
    /// Largest code of each length, or -1 for none (T.81 F.2.2.3's MAXCODE).
    maxcode: [i32; 17],
    mincode: [i32; 17],
    valptr: [usize; 17],
    /// Code and length of each symbol (length 0: not in the table).
    codes: [(u16, u8); 256],
}

impl Table {
    /// The table of `counts` and `symbols`, or `None` when the counts do not make a prefix
    /// code (more codes of a length than there is room for) or do not match the symbols.
    pub fn new(counts: [u8; 16], symbols: &[u8]) -> Option<Table> {
        let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if n != symbols.len() || n > 256 {
            return None;
        }
        let mut t = Table {
            counts,
            symbols: symbols.to_vec(),
            maxcode: [-1; 17],
            mincode: [0; 17],
            valptr: [0; 17],
            codes: [(0, 0); 256],
        };
        let mut code: u32 = 0;
        let mut k = 0;
        for len in 1..=16 {
            let count = usize::from(counts[len - 1]);
            t.valptr[len] = k;
            t.mincode[len] = code as i32;
            for _ in 0..count {
                // More codes of this length than it has room for (libjpeg's check, which
                // lets the all-ones code through as encoders in the wild write it).
                if code >= 1 << len {
                    return None;
                }
                let s = usize::from(symbols[k]);
                if t.codes[s].1 == 0 {
                    t.codes[s] = (code as u16, len as u8);
                }
                code += 1;
                k += 1;
            }
            if count > 0 {
                t.maxcode[len] = code as i32 - 1;
            }
            code <<= 1;
        }
        Some(t)
    }

    /// Decode one symbol, reading bits from `next_bit`; `None` for a code not in the table.
    #[inline]
    pub fn decode(&self, next_bit: &mut impl FnMut() -> u32) -> Option<u8> {
        let mut code: i32 = 0;
        for len in 1..=16 {
            code = (code << 1) | next_bit() as i32;
            if code <= self.maxcode[len] {
                let i = self.valptr[len] + (code - self.mincode[len]) as usize;
                return Some(self.symbols[i]);
            }
        }
        None
    }

    /// The code of `symbol` and its length, `None` when the table has no code for it.
    #[inline]
    pub fn code(&self, symbol: u8) -> Option<(u16, u8)> {
        let c = self.codes[usize::from(symbol)];
        (c.1 > 0).then_some(c)
    }

    /// The DHT body of this table as class (0 DC, 1 AC) and id.
    pub fn dht_body(&self, class: u8, id: u8, out: &mut Vec<u8>) {
        out.push(class << 4 | id);
        out.extend_from_slice(&self.counts);
        out.extend_from_slice(&self.symbols);
    }
}

/// T.81 K.3: luminance DC, chrominance DC, luminance AC, chrominance AC.
pub fn standard() -> [Table; 4] {
    let dc_symbols: Vec<u8> = (0..12).collect();
    [
        Table::new(
            [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
            &dc_symbols,
        ),
        Table::new(
            [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
            &dc_symbols,
        ),
        Table::new(
            [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
            &AC_LUMINANCE,
        ),
        Table::new(
            [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
            &AC_CHROMINANCE,
        ),
    ]
    .map(|t| t.expect("the tables of T.81 K.3 are prefix codes"))
}

#[rustfmt::skip]
const AC_LUMINANCE: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
    0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

#[rustfmt::skip]
const AC_CHROMINANCE: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
    0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_tables_code_every_baseline_symbol() {
        let [dc_l, dc_c, ac_l, ac_c] = standard();
        for t in [&dc_l, &dc_c] {
            assert!((0..12).all(|s| t.code(s).is_some()));
        }
        // AC: EOB, ZRL and every run 0-15 with every size 1-10.
        let ac: Vec<u8> = [0x00, 0xf0]
            .into_iter()
            .chain((0..16).flat_map(|r| (1..=10).map(move |s| r << 4 | s)))
            .collect();
        for t in [&ac_l, &ac_c] {
            assert!(ac.iter().all(|&s| t.code(s).is_some()));
            assert_eq!(t.symbols.len(), 162);
        }
    }

    #[test]
    fn decode_inverts_code() {
        for t in standard() {
            for &s in &t.symbols {
                let (code, len) = t.code(s).unwrap();
                let mut i = len;
                let mut bits = || {
                    i -= 1;
                    u32::from(code >> i) & 1
                };
                assert_eq!(t.decode(&mut bits), Some(s));
            }
        }
    }

    #[test]
    fn an_overfull_table_is_refused() {
        assert!(Table::new([3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &[1, 2, 3]).is_none());
        assert!(Table::new([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &[1, 2]).is_none());
    }
}
