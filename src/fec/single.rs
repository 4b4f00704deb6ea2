//! One lost data shard rebuilt by encoding instead of decoding.
//!
//! The coder's decoder evaluates an erasure locator over the whole field (2^16 symbols) for
//! every group, whatever the shard size: a millisecond per group, most of a receiver's time
//! at 1% loss. But the code is linear symbol by symbol: parity shard `i` is
//! `sum_j c_ij * d_j`. With one data shard `j` lost, encoding the group with that shard
//! zeroed gives `r'_i`, and `d_j = (r_i + r'_i) / c_ij`. Dividing by the constant `c_ij`
//! is a linear map on the 16 bits of a symbol; it is learnt once per (K, M, j, i) by
//! encoding the 16 basis symbols, inverted over GF(2), and applied with two 256-entry
//! tables. Encoding costs as much as sending did.
//!
//! The same encoding checks the rebuilt shard against the parity it did not need (each must
//! differ by `c_ij * d_j` too), and [`Reencoder::agrees`] checks a group rebuilt by the
//! decoder, so parity that is not the data's rebuilds nothing.

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

/// Multiplication by the coefficient of one data shard in one parity shard, and division.
struct Coefficient {
    mul: Map,
    div: Map,
}

/// Encodes whole groups for the decoder: single-loss rebuilds and checks.
#[derive(Default)]
pub(super) struct Reencoder {
    coder: Option<ReedSolomonEncoder>,
    coefficients: HashMap<(u8, u8, u8, u8), Box<Coefficient>>,
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

    /// Rebuild data shard `lost` of `group` (where it is zeros) from the parity held
    /// (by index), writing it into `group`; false, and `group` unchanged, when the parity
    /// shards held do not agree on it. One encoding does both: with the lost shard zeroed,
    /// every parity shard `i` differs from the one received by `c_ij * d_j`.
    pub(super) fn rebuild_one(
        &mut self,
        km: (usize, usize),
        len: usize,
        group: &mut [u8],
        lost: usize,
        parity: &[Option<Vec<u8>>],
    ) -> bool {
        let mut diffs: Vec<(usize, Vec<u8>)> = Vec::new();
        self.with_parity(km, len, group, |result| {
            for (i, p) in parity.iter().enumerate() {
                if let (Some(p), Some(r)) = (p, result.recovery(i)) {
                    diffs.push((i, p.iter().zip(r).map(|(a, b)| a ^ b).collect()));
                }
            }
        });
        let Some((first, diff)) = diffs.first() else {
            return false;
        };
        let mut shard = diff.clone();
        let c = self.coefficient(km, lost, *first);
        map_symbols(&mut shard, |x| c.div.apply(x));
        for (i, diff) in &diffs[1..] {
            let c = self.coefficient(km, lost, *i);
            let mut expected = shard.clone();
            map_symbols(&mut expected, |x| c.mul.apply(x));
            if expected != *diff {
                return false;
            }
        }
        group[lost * len..(lost + 1) * len].copy_from_slice(&shard);
        true
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
                mul: Map::of(columns),
                div: Map::of(invert(columns)),
            };
            self.coefficients.insert(key, Box::new(coefficient));
        }
        &self.coefficients[&key]
    }
}

/// The inverse of the GF(2)-linear map that sends bit `b` to `columns[b]`, as the images
/// of the 16 bits. The map is multiplication by a non-zero field element (an MDS code has
/// no zero coefficient), so it is invertible.
fn invert(columns: [u16; 16]) -> [u16; 16] {
    // Pairs (image, preimage): eliminate until each image is a single bit.
    let mut pairs: Vec<(u16, u16)> = (0..16).map(|b| (columns[b], 1u16 << b)).collect();
    for bit in 0..16 {
        let Some(pivot) = (bit..16).find(|&r| pairs[r].0 >> bit & 1 == 1) else {
            continue;
        };
        pairs.swap(bit, pivot);
        let (v, u) = pairs[bit];
        for (r, pair) in pairs.iter_mut().enumerate() {
            if r != bit && pair.0 >> bit & 1 == 1 {
                pair.0 ^= v;
                pair.1 ^= u;
            }
        }
    }
    let mut inverse = [0u16; 16];
    for (bit, &(_, u)) in pairs.iter().enumerate() {
        inverse[bit] = u;
    }
    inverse
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lost_shard_is_rebuilt_from_any_parity_shard_and_checked_by_the_others() {
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
                        assert!(re.rebuild_one((k, m), len, &mut damaged, lost, held));
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
                    assert!(!re.rebuild_one((k, m), len, &mut damaged, lost, &forged));
                }
            }
            assert!(re.agrees((k, m), len, &group, &all));
            let mut other = group.clone();
            other[0] ^= 1;
            assert!(!re.agrees((k, m), len, &other, &all));
        }
    }
}
