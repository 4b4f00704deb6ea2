//! A baseline JPEG's coefficients to pixels, for `unpktize --conceal` on an indexed JPEG
//! (a picture the rest of the pipeline reads): dequantise, inverse DCT (separable, in
//! floating point), chroma upsampled by nearest neighbour, JFIF's YCbCr to RGB. One
//! component gives a PGM, three a PPM; four (CMYK) are not converted.
//!
//! It is no match for a tuned decoder in speed or in upsampling (libjpeg's is smoother),
//! and need not be: its pixels are the rebuilt JPEG's, blocks where they belong.

use super::header::Header;
use super::scan::Block;

/// The image as binary PNM (P5 or P6), or `None` for other than 1 or 3 components or a
/// missing quantisation table.
pub fn to_pnm(h: &Header, coefs: &[Block]) -> Option<Vec<u8>> {
    let n = h.components.len();
    if n != 1 && n != 3 {
        return None;
    }
    let (mx, my) = h.mcus();
    let (hmax, vmax) = h.max_sampling();
    let per_mcu = h.blocks_in_mcu();
    let basis = basis();
    // Each component's plane, in its own resolution.
    let mut planes = Vec::with_capacity(n);
    for c in 0..n {
        let q = h.quant[usize::from(h.components[c].quant_table)]?;
        let (across, down) = h.blocks_per_mcu(c);
        let (gw, gh) = (mx * across, my * down);
        let stride = gw * 8;
        let mut plane = vec![0u8; stride * gh * 8];
        let offset: usize = (0..c)
            .map(|d| {
                let (a, b) = h.blocks_per_mcu(d);
                a * b
            })
            .sum();
        for gy in 0..gh {
            for gx in 0..gw {
                let mcu = (gy / down) * mx + gx / across;
                let i = mcu * per_mcu + offset + (gy % down) * across + gx % across;
                let px = idct(&coefs[i], &q, &basis);
                for (y, row) in px.iter().enumerate() {
                    let at = (gy * 8 + y) * stride + gx * 8;
                    for (x, v) in row.iter().enumerate() {
                        plane[at + x] = (v + 128.0).round().clamp(0.0, 255.0) as u8;
                    }
                }
            }
        }
        planes.push((plane, stride));
    }
    let (w, ht) = (usize::from(h.width), usize::from(h.height));
    let mut out = format!("P{}\n{w} {ht}\n255\n", if n == 1 { 5 } else { 6 }).into_bytes();
    out.reserve(w * ht * n);
    let sample = |c: usize, x: usize, y: usize| {
        let comp = h.components[c];
        let (sx, sy) = if h.single() {
            (x, y)
        } else {
            (
                x * usize::from(comp.h) / usize::from(hmax),
                y * usize::from(comp.v) / usize::from(vmax),
            )
        };
        let (plane, stride) = &planes[c];
        f64::from(plane[sy * stride + sx])
    };
    for y in 0..ht {
        for x in 0..w {
            if n == 1 {
                out.push(sample(0, x, y) as u8);
                continue;
            }
            let (l, cb, cr) = (
                sample(0, x, y),
                sample(1, x, y) - 128.0,
                sample(2, x, y) - 128.0,
            );
            for v in [
                l + 1.402 * cr,
                l - 0.344136 * cb - 0.714136 * cr,
                l + 1.772 * cb,
            ] {
                out.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    Some(out)
}

/// Natural (row-major) index of each zigzag position (T.81 Figure A.6).
#[rustfmt::skip]
pub const ZIGZAG: [usize; 64] = [
     0,  1,  8, 16,  9,  2,  3, 10, 17, 24, 32, 25, 18, 11,  4,  5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13,  6,  7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// cos((2x+1)u pi/16) * C(u)/2, the basis of the 8-point DCT: `b[u][x]`.
pub(super) fn basis() -> [[f64; 8]; 8] {
    let mut b = [[0.0; 8]; 8];
    for (u, row) in b.iter_mut().enumerate() {
        let c = if u == 0 {
            std::f64::consts::FRAC_1_SQRT_2
        } else {
            1.0
        };
        for (x, v) in row.iter_mut().enumerate() {
            *v = c / 2.0 * ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos();
        }
    }
    b
}

/// The separable inverse DCT of a block's quantised zigzag coefficients: the pixels,
/// level-shifted (about 0), as `[y][x]`; columns, then rows.
pub(super) fn idct(block: &Block, q: &[u16; 64], b: &[[f64; 8]; 8]) -> [[f64; 8]; 8] {
    let mut f = [[0.0; 8]; 8];
    for k in 0..64 {
        let n = ZIGZAG[k];
        f[n / 8][n % 8] = f64::from(block[k]) * f64::from(q[k]);
    }
    // t[y][u] = sum over v of b[v][y] f[v][u]
    let mut t = [[0.0; 8]; 8];
    for (y, row) in t.iter_mut().enumerate() {
        for (u, cell) in row.iter_mut().enumerate() {
            *cell = (0..8).map(|v| b[v][y] * f[v][u]).sum();
        }
    }
    let mut out = [[0.0; 8]; 8];
    for (y, row) in out.iter_mut().enumerate() {
        for (x, cell) in row.iter_mut().enumerate() {
            *cell = (0..8).map(|u| b[u][x] * t[y][u]).sum();
        }
    }
    out
}

/// The picture of a whole baseline JPEG (the original, or a rebuilt one) as binary PNM;
/// `None` when it does not decode to its last MCU, is larger than
/// [`super::rebuild::MAX_BLOCKS`], or [`to_pnm`] cannot convert it.
pub fn picture(jpeg: &[u8]) -> Option<Vec<u8>> {
    let h = Header::parse(jpeg).ok()?;
    let (mx, my) = h.mcus();
    let per_mcu = h.blocks_in_mcu();
    if (mx * my).saturating_mul(per_mcu) > super::rebuild::MAX_BLOCKS {
        return None;
    }
    let mut coefs = Vec::with_capacity(mx * my * per_mcu);
    let mut blocks = [[0i16; 64]; 10];
    let mut walker = super::scan::Walker::new(jpeg, &h);
    while walker.next_mcu(&mut blocks).ok()?.is_some() {
        coefs.extend_from_slice(&blocks[..per_mcu]);
    }
    if walker.overran() {
        return None;
    }
    to_pnm(&h, &coefs)
}
