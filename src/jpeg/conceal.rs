//! Concealment of lost blocks from their received neighbours, in pixels: a lost block
//! becomes the vertical blend of the pixel row just above it (the bottom row of the
//! nearest received block above) and the row just below it (the top row of the nearest
//! received block below), each weighted by nearness; with no received block above or
//! below, the horizontal blend of the columns left and right. The blend is transformed
//! and quantised back with the component's own table, so received blocks stay exactly as
//! they were and a lost one costs only its own coefficients.
//!
//! The losses of a packet are a run of MCUs along a row, so the rows above and below
//! usually hold it in; measured on the astronaut at 10% loss this gains about 2 dB over
//! interpolating the DC coefficients alone. Without a quantisation table (a file without
//! DQT) a lost block takes the neighbours' DC only.

use super::header::Header;
use super::pixels::{basis, idct, ZIGZAG};
use super::scan::Block;

/// How far (in blocks) concealment looks for a received neighbour.
const REACH: usize = 64;

/// The quantised zigzag coefficients of `pixels`.
fn coefficients(pixels: &[[f64; 8]; 8], q: &[u16; 64], b: &[[f64; 8]; 8]) -> Block {
    let mut out = [0i16; 64];
    for k in 0..64 {
        let n = ZIGZAG[k];
        let (v, u) = (n / 8, n % 8);
        let mut s = 0.0;
        for (y, row) in pixels.iter().enumerate() {
            for (x, p) in row.iter().enumerate() {
                s += b[v][y] * b[u][x] * p;
            }
        }
        let step = f64::from(q[k].max(1));
        out[k] = (s / step).round().clamp(-2047.0, 2047.0) as i16;
    }
    out
}

/// Where block (gx, gy) of component `c` lies in `coefs` (MCU order), with its MCU.
pub fn block_index(h: &Header, c: usize, gx: usize, gy: usize) -> (usize, usize) {
    let (mx, _) = h.mcus();
    let per_mcu = h.blocks_in_mcu();
    let (across, down) = h.blocks_per_mcu(c);
    let offset: usize = (0..c)
        .map(|d| {
            let (a, b) = h.blocks_per_mcu(d);
            a * b
        })
        .sum();
    let mcu = (gy / down) * mx + gx / across;
    (
        mcu,
        mcu * per_mcu + offset + (gy % down) * across + gx % across,
    )
}

/// Conceal every block of an MCU not `known`, in place.
pub fn conceal(h: &Header, coefs: &mut [Block], known: &[bool]) {
    let (mx, my) = h.mcus();
    let b = basis();
    for c in 0..h.components.len() {
        let (across, down) = h.blocks_per_mcu(c);
        let (gw, gh) = (mx * across, my * down);
        let q = h.quant[usize::from(h.components[c].quant_table)];
        let at = |gx: usize, gy: usize| block_index(h, c, gx, gy);
        // The nearest received block from (gx, gy) in direction (dx, dy), and its distance.
        let nearest = |gx: usize, gy: usize, dx: isize, dy: isize| {
            (1..=REACH)
                .find_map(|d| {
                    let x = gx as isize + dx * d as isize;
                    let y = gy as isize + dy * d as isize;
                    if x < 0 || y < 0 || x >= gw as isize || y >= gh as isize {
                        return Some(None);
                    }
                    let (m, i) = at(x as usize, y as usize);
                    known[m].then_some(Some((i, d)))
                })
                .flatten()
        };
        for gy in 0..gh {
            for gx in 0..gw {
                let (m, i) = at(gx, gy);
                if known[m] {
                    continue;
                }
                let up = nearest(gx, gy, 0, -1);
                let down = nearest(gx, gy, 0, 1);
                let left = nearest(gx, gy, -1, 0);
                let right = nearest(gx, gy, 1, 0);
                coefs[i] = match q {
                    Some(q) => blend(coefs, &q, &b, [up, down], [left, right]),
                    None => dc_only(coefs, &[up, down, left, right]),
                };
            }
        }
    }
}

/// The blend of the rows above and below (or the columns left and right) in pixels.
fn blend(
    coefs: &[Block],
    q: &[u16; 64],
    b: &[[f64; 8]; 8],
    vertical: [Option<(usize, usize)>; 2],
    horizontal: [Option<(usize, usize)>; 2],
) -> Block {
    // Edge pixels of the neighbours: before (row 7 / column 7) and after (row 0 / column 0).
    let (pair, along_rows) = if vertical.iter().any(Option::is_some) {
        (vertical, true)
    } else if horizontal.iter().any(Option::is_some) {
        (horizontal, false)
    } else {
        return [0; 64];
    };
    let edge = |n: Option<(usize, usize)>, row: usize| {
        n.map(|(i, d)| {
            let p = idct(&coefs[i], q, b);
            let line: [f64; 8] =
                std::array::from_fn(|k| if along_rows { p[row][k] } else { p[k][row] });
            (line, d)
        })
    };
    let before = edge(pair[0], 7);
    let after = edge(pair[1], 0);
    let mut out = [[0.0; 8]; 8];
    #[allow(clippy::needless_range_loop)] // t is both a row (or column) and a distance
    for t in 0..8 {
        // Distances in pixels from the edge line before and after this row (column).
        let line: [f64; 8] = match (before, after) {
            (Some((a, da)), Some((z, dz))) => {
                let from_a = ((da - 1) * 8 + t + 1) as f64;
                let to_z = ((dz - 1) * 8 + 8 - t) as f64;
                let w = from_a / (from_a + to_z);
                std::array::from_fn(|k| a[k] * (1.0 - w) + z[k] * w)
            }
            (Some((a, _)), None) => a,
            (None, Some((z, _))) => z,
            (None, None) => unreachable!("one side is known"),
        };
        for k in 0..8 {
            if along_rows {
                out[t][k] = line[k];
            } else {
                out[k][t] = line[k];
            }
        }
    }
    coefficients(&out, q, b)
}

/// The nearness-weighted DC of the neighbours, no AC.
fn dc_only(coefs: &[Block], neighbours: &[Option<(usize, usize)>]) -> Block {
    let (mut sum, mut weight) = (0.0, 0.0);
    for (i, d) in neighbours.iter().flatten() {
        let w = 1.0 / *d as f64;
        sum += w * f64::from(coefs[*i][0]);
        weight += w;
    }
    let mut block = [0i16; 64];
    if weight > 0.0 {
        block[0] = (sum / weight).round() as i16;
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transforms_invert_each_other() {
        let b = basis();
        let q = [1u16; 64];
        let mut block = [0i16; 64];
        for (k, c) in block.iter_mut().enumerate() {
            *c = ((k * 37) % 41) as i16 - 20;
        }
        assert_eq!(coefficients(&idct(&block, &q, &b), &q, &b), block);
    }

    #[test]
    fn zigzag_is_a_permutation() {
        let mut seen = [false; 64];
        for &n in &ZIGZAG {
            seen[n] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
