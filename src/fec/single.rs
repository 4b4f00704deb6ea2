//! A few lost data shards rebuilt by encoding instead of decoding.
//!
//! The coder's decoder evaluates an erasure locator over the whole field (2^16 symbols) for
//! every group, whatever the shard size: a millisecond per group, most of a receiver's time
//! at 1% loss. But the code is linear symbol by symbol: parity shard `i` is
//! `sum_j c_ij * d_j`. With the lost shards zeroed, encoding the group gives `r'_i`, and
//! `r_i + r'_i = sum_{j lost} c_ij * d_j`: with `e` losses, `e` such equations. Multiplying
//! by a constant is a linear map on the 16 bits of a symbol, so the system is a
//! `16e x 16e` matrix over GF(2): learnt once per pattern by encoding the 16 basis symbols
//! of each lost shard, inverted, and applied with 256-entry tables per byte. Encoding costs
//! as much as sending did.
//!
//! The same encoding checks the rebuilt shards against the parity it did not need, and
//! [`Reencoder::agrees`] checks a group rebuilt by the decoder (more than [`MAX_LOSSES`]
//! losses), so parity that is not the data's rebuilds nothing.

use reed_solomon_simd::ReedSolomonEncoder;
use std::collections::HashMap;

/// A linear map on symbols, as two tables over a symbol's low and high byte.
struct Map {
    lo: [u16; 256],
    hi: [u16; 256],
}

impl Map {
    /// The map that sends bit `b` to `images[b]`.
    fn of(images: [u16; 16]) -> Map {
        let mut lo = [0u16; 256];
        let mut hi = [0u16; 256];
        for v in 0..256 {
            for b in 0..8 {
                if v >> b & 1 == 1 {
                    lo[v] ^= images[b];
                    hi[v] ^= images[8 + b];
                }
            }
        }
        Map { lo, hi }
    }

    fn apply(&self, x: u16) -> u16 {
        self.lo[usize::from(x & 0xff)] ^ self.hi[usize::from(x >> 8)]
    }
}

/// Multiplication by the coefficient of one data shard in one parity shard: the images
/// of the 16 bits of a symbol, and as tables.
struct Coefficient {
    columns: [u16; 16],
    mul: Map,
}

/// Most losses in a group rebuilt by encoding: the system's 16 bits per loss must fit the
/// 64-bit rows of its GF(2) matrix. More go to the coder's decoder.
pub(super) const MAX_LOSSES: usize = 4;
/// Solved systems kept, by scheme, losses and parity used: a repeated pattern is solved
/// once.
const SYSTEMS_KEPT: usize = 4096;

/// K, M, the lost data shards, the parity shards used.
type SystemKey = (u8, u8, Vec<u8>, Vec<u8>);

/// Encodes whole groups for the decoder: single-loss rebuilds and checks.
#[derive(Default)]
pub(super) struct Reencoder {
    coder: Option<ReedSolomonEncoder>,
    coefficients: HashMap<(u8, u8, u8, u8), Box<Coefficient>>,
    /// Per (K, M, lost shards, parity shards used): the maps from each parity difference
    /// to each lost shard, `maps[j * e + i]`.
    systems: HashMap<SystemKey, Vec<Map>>,
}

/// Call `f` on each 16-bit symbol of a shard laid out as the coder lays it: in each
/// 64-byte block (or the shorter last one) the low bytes, then the high bytes.
fn map_symbols(shard: &mut [u8], mut f: impl FnMut(u16) -> u16) {
    for block in shard.chunks_mut(64) {
        let half = block.len() / 2;
        let (lo, hi) = block.split_at_mut(half);
        for (l, h) in lo.iter_mut().zip(hi.iter_mut()) {
            let y = f(u16::from(*l) | u16::from(*h) << 8);
            *l = y as u8;
            *h = (y >> 8) as u8;
        }
    }
}

impl Reencoder {
    /// Encode `group` (K shards of `len` bytes, back to back) and give `f` the parity.
    fn with_parity<R>(
        &mut self,
        (k, m): (usize, usize),
        len: usize,
        group: &[u8],
        f: impl FnOnce(&reed_solomon_simd::EncoderResult) -> R,
    ) -> R {
        let coder = match &mut self.coder {
            Some(c) => {
                c.reset(k, m, len)
                    .expect("the decoder's schemes are the coder's, shards even");
                c
            }
            None => self.coder.insert(
                ReedSolomonEncoder::new(k, m, len)
                    .expect("the decoder's schemes are the coder's, shards even"),
            ),
        };
        for shard in group.chunks(len) {
            coder
                .add_original_shard(shard)
                .expect("K shards of the configured length");
        }
        let result = coder.encode().expect("K shards were added");
        f(&result)
    }

    /// True when every parity shard in `parity` (by index) is what `group` encodes to.
    pub(super) fn agrees(
        &mut self,
        km: (usize, usize),
        len: usize,
        group: &[u8],
        parity: &[Option<Vec<u8>>],
    ) -> bool {
        self.with_parity(km, len, group, |result| {
            parity
                .iter()
                .enumerate()
                .all(|(i, p)| p.as_deref().is_none_or(|p| result.recovery(i) == Some(p)))
        })
    }

    /// Rebuild the data shards `lost` of `group` (where they are zeros; at most
    /// [`MAX_LOSSES`]) from the parity held (by index), writing them into `group`; false,
    /// and `group` unchanged, when too little parity is held or the parity shards held do
    /// not agree. One encoding does it: with the lost shards zeroed, parity shard `i`
    /// differs from the one received by `sum_j c_ij * d_j`; `e` of those equations give
    /// the `e` lost shards, and every other held shard must then agree.
    pub(super) fn rebuild(
        &mut self,
        km: (usize, usize),
        len: usize,
        group: &mut [u8],
        lost: &[usize],
        parity: &[Option<Vec<u8>>],
    ) -> bool {
        let e = lost.len();
        if e == 0 || e > MAX_LOSSES {
            return false;
        }
        let mut diffs: Vec<(usize, Vec<u8>)> = Vec::new();
        self.with_parity(km, len, group, |result| {
            for (i, p) in parity.iter().enumerate() {
                if let (Some(p), Some(r)) = (p, result.recovery(i)) {
                    diffs.push((i, p.iter().zip(r).map(|(a, b)| a ^ b).collect()));
                }
            }
        });
        if diffs.len() < e {
            return false;
        }
        let used: Vec<usize> = diffs[..e].iter().map(|(i, _)| *i).collect();
        let Some(maps) = self.system(km, lost, &used) else {
            return false;
        };
        // d_j = sum_i maps[j][i](diff_i), symbol by symbol.
        let mut shards = vec![vec![0u8; len]; e];
        for (j, shard) in shards.iter_mut().enumerate() {
            for (i, (_, diff)) in diffs[..e].iter().enumerate() {
                let mut part = diff.clone();
                let map = &maps[j * e + i];
                map_symbols(&mut part, |x| map.apply(x));
                for (s, p) in shard.iter_mut().zip(&part) {
                    *s ^= p;
                }
            }
        }
        for (k, diff) in &diffs[e..] {
            let mut expected = vec![0u8; len];
            for (j, shard) in shards.iter().enumerate() {
                let c = self.coefficient(km, lost[j], *k);
                let mut part = shard.clone();
                map_symbols(&mut part, |x| c.mul.apply(x));
                for (s, p) in expected.iter_mut().zip(&part) {
                    *s ^= p;
                }
            }
            if expected != *diff {
                return false;
            }
        }
        for (j, shard) in lost.iter().zip(&shards) {
            group[j * len..(j + 1) * len].copy_from_slice(shard);
        }
        true
    }

    /// The maps that solve for the shards `lost` from the differences of parity `used`.
    fn system(&mut self, km: (usize, usize), lost: &[usize], used: &[usize]) -> Option<&[Map]> {
        let key = (
            km.0 as u8,
            km.1 as u8,
            lost.iter().map(|&j| j as u8).collect::<Vec<u8>>(),
            used.iter().map(|&i| i as u8).collect::<Vec<u8>>(),
        );
        if !self.systems.contains_key(&key) {
            let e = lost.len();
            // Row (i, r): bit r of diff_i; column (j, b): bit b of d_j.
            let mut rows = vec![0u64; 16 * e];
            for (ii, &i) in used.iter().enumerate() {
                for (jj, &j) in lost.iter().enumerate() {
                    let columns = self.coefficient(km, j, i).columns;
                    for (b, image) in columns.iter().enumerate() {
                        for r in 0..16 {
                            if image >> r & 1 == 1 {
                                rows[16 * ii + r] |= 1 << (16 * jj + b);
                            }
                        }
                    }
                }
            }
            let inverse = invert_bits(&rows)?;
            // inverse row (j, b): which bits (i, r) of the differences make bit b of d_j.
            let mut maps = Vec::with_capacity(e * e);
            for jj in 0..e {
                for ii in 0..e {
                    let mut images = [0u16; 16];
                    for (r, image) in images.iter_mut().enumerate() {
                        for b in 0..16 {
                            if inverse[16 * jj + b] >> (16 * ii + r) & 1 == 1 {
                                *image |= 1 << b;
                            }
                        }
                    }
                    maps.push(Map::of(images));
                }
            }
            if self.systems.len() >= SYSTEMS_KEPT {
                self.systems.clear();
            }
            self.systems.insert(key.clone(), maps);
        }
        self.systems.get(&key).map(Vec::as_slice)
    }

    /// The coefficient of data shard `j` in parity shard `i`.
    fn coefficient(&mut self, (k, m): (usize, usize), j: usize, i: usize) -> &Coefficient {
        let key = (k as u8, m as u8, j as u8, i as u8);
        if !self.coefficients.contains_key(&key) {
            // Shard j holds the basis symbols 1 << b; parity i then holds c_ij * (1 << b).
            let mut group = vec![0u8; k * 64];
            map_symbols(&mut group[j * 64..(j + 1) * 64], {
                let mut b = 0;
                move |_| {
                    b += 1;
                    if b <= 16 {
                        1 << (b - 1)
                    } else {
                        0
                    }
                }
            });
            let mut columns = [0u16; 16];
            self.with_parity((k, m), 64, &group, |result| {
                let mut r = result.recovery(i).expect("index < M").to_vec();
                let mut b = 0;
                map_symbols(&mut r, |x| {
                    if b < 16 {
                        columns[b] = x;
                    }
                    b += 1;
                    x
                });
            });
            let coefficient = Coefficient {
                columns,
                mul: Map::of(columns),
            };
            self.coefficients.insert(key, Box::new(coefficient));
        }
        &self.coefficients[&key]
    }
}

/// The inverse of a square GF(2) matrix of `rows.len()` (at most 64) rows, bit `c` of
/// row `r` being entry (r, c); `None` when it is singular (it never is for an MDS code's
/// parity coefficients, whatever the losses).
fn invert_bits(rows: &[u64]) -> Option<Vec<u64>> {
    let n = rows.len();
    let mut a = rows.to_vec();
    let mut inv: Vec<u64> = (0..n).map(|r| 1u64 << r).collect();
    for col in 0..n {
        let pivot = (col..n).find(|&r| a[r] >> col & 1 == 1)?;
        a.swap(col, pivot);
        inv.swap(col, pivot);
        for r in 0..n {
            if r != col && a[r] >> col & 1 == 1 {
                a[r] ^= a[col];
                inv[r] ^= inv[col];
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_shards_are_rebuilt_from_any_parity_and_checked_by_the_rest() {
        for (k, m, len) in [
            (8, 2, 64),
            (32, 4, 1024),
            (3, 5, 2),
            (5, 3, 130),
            (255, 1, 8),
        ] {
            let group: Vec<u8> = (0..k * len).map(|x| (x * 7 + x / 13) as u8).collect();
            let mut re = Reencoder::default();
            let parity: Vec<Vec<u8>> = re.with_parity((k, m), len, &group, |r| {
                r.recovery_iter().map(<[u8]>::to_vec).collect()
            });
            let all: Vec<Option<Vec<u8>>> = parity.iter().cloned().map(Some).collect();
            for lost in [0, k / 2, k - 1] {
                for index in 0..m {
                    // Parity `index` alone, then all of it (checked against each other).
                    let mut one = vec![None; m];
                    one[index] = Some(parity[index].clone());
                    for held in [&one, &all] {
                        let mut damaged = group.clone();
                        damaged[lost * len..(lost + 1) * len].fill(0);
                        assert!(re.rebuild((k, m), len, &mut damaged, &[lost], held));
                        assert!(
                            damaged == group,
                            "{k}+{m}, {len} bytes, lost {lost}, parity {index}"
                        );
                    }
                }
                if m > 1 {
                    let mut forged = all.clone();
                    forged[1].as_mut().unwrap()[0] ^= 1;
                    let mut damaged = group.clone();
                    damaged[lost * len..(lost + 1) * len].fill(0);
                    assert!(!re.rebuild((k, m), len, &mut damaged, &[lost], &forged));
                }
            }
            // Up to min(M, MAX_LOSSES) losses at once, from all the parity.
            for e in 2..=m.min(MAX_LOSSES).min(k) {
                let lost: Vec<usize> = (0..e).map(|x| (x * 5 + 1) % k).collect();
                let mut lost_sorted = lost.clone();
                lost_sorted.sort_unstable();
                lost_sorted.dedup();
                let mut damaged = group.clone();
                for &j in &lost_sorted {
                    damaged[j * len..(j + 1) * len].fill(0);
                }
                assert!(re.rebuild((k, m), len, &mut damaged, &lost_sorted, &all));
                assert!(damaged == group, "{k}+{m}, lost {lost_sorted:?}");
            }
            assert!(re.agrees((k, m), len, &group, &all));
            let mut other = group.clone();
            other[0] ^= 1;
            assert!(!re.agrees((k, m), len, &other, &all));
        }
    }
}
