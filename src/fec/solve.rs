//! Lost data shards rebuilt by solving the parity's equations, without the coder's decoder.
//!
//! The coder's decoder evaluates an erasure locator over the whole field (2^16 symbols) for
//! every group, whatever the shard size: a millisecond per group, most of a receiver's time
//! at 1% loss; and the coder, encoding or decoding, first fills 8 MiB of multiplication
//! tables. But the code is linear symbol by symbol: parity shard `i` is
//! `sum_j c_ij * d_j`. With `e` shards lost, `e` parity shards give `e` equations in them:
//! `p_i + sum_{j arrived} c_ij * d_j = sum_{j lost} c_ij * d_j`, an `e x e` system over the
//! field, inverted by Gauss-Jordan elimination with the field's log tables (once per
//! pattern of up to [`CACHED_LOSSES`] losses; larger ones are rare and solved each time).
//! Both sides are then multiply-adds of whole shards ([`Multiplier`]): `e (K - e)` for the
//! differences and `e^2` for the solution.
//!
//! The constants `c_ij` are learnt once per scheme from one encoding of basis symbols by the
//! coder's reference engine (which needs only its 384 KiB of log and skew tables), so the
//! parity is the coder's by construction; the tests check it against the coder.
//!
//! Every held parity shard beyond the `e` used must agree with the rebuilt group: parity
//! that is not the data's rebuilds nothing.

use super::gf::{Field, Multiplier, BLOCK};
use reed_solomon_simd::engine::Naive;
use reed_solomon_simd::rate::{DefaultRateEncoder, RateEncoder};
use std::borrow::Cow;
use std::collections::HashMap;

/// Most losses in a group whose solved system is kept for the next group with the same
/// pattern (`e^2` maps of 128 bytes: at most 2 KiB each).
const CACHED_LOSSES: usize = 4;
/// Solved systems kept, by scheme, losses and parity used.
const SYSTEMS_KEPT: usize = 1024;

/// K, M, the lost data shards and the parity shards used, each list padded with `u8::MAX`
/// (no index reaches it: K and M are at most 255).
type SystemKey = (u8, u8, [u8; CACHED_LOSSES], [u8; CACHED_LOSSES]);

/// The coefficients of one scheme: `c[i * K + j]` multiplies data shard `j` into parity
/// shard `i`.
pub(super) struct Coefficients {
    km: (usize, usize),
    c: Box<[Multiplier]>,
}

impl Coefficients {
    pub(super) fn get(&self, i: usize, j: usize) -> &Multiplier {
        &self.c[i * self.km.0 + j]
    }
}

/// Rebuilds and checks groups for the decoder.
#[derive(Default)]
pub(super) struct Solver {
    /// The last scheme's coefficients (`K * M` of 128 bytes: at most 2 MiB, for 128+128).
    coefficients: Option<Coefficients>,
    /// Per pattern: the maps from each parity difference to each lost shard,
    /// `maps[j * e + i]`.
    systems: HashMap<SystemKey, Box<[Multiplier]>>,
    /// Parity differences, then a parity shard re-derived for a check.
    scratch: Vec<u8>,
}

/// Set symbol `s` of `shard` (in the coder's layout, a whole number of blocks) to `x`.
fn set_symbol(shard: &mut [u8], s: usize, x: u16) {
    let at = s / 32 * BLOCK + s % 32;
    [shard[at], shard[at + 32]] = x.to_le_bytes();
}

/// Symbol `s` of `shard` (a whole number of blocks).
fn symbol(shard: &[u8], s: usize) -> u16 {
    let at = s / 32 * BLOCK + s % 32;
    u16::from_le_bytes([shard[at], shard[at + 32]])
}

/// Pad a list of indices with `u8::MAX`.
fn key_part(indices: &[usize]) -> [u8; CACHED_LOSSES] {
    let mut part = [u8::MAX; CACHED_LOSSES];
    for (p, &i) in part.iter_mut().zip(indices) {
        *p = i as u8;
    }
    part
}

/// Learn every `c_ij` of scheme K+M in one encoding: symbols `16j .. 16j + 15` of shard `j`
/// hold the 16 basis symbols `1 << b` and every other shard zeros there, so those symbols
/// of parity shard `i` are the images of the bits under `c_ij`.
pub(super) fn learn((k, m): (usize, usize)) -> Coefficients {
    let len = (16 * k).div_ceil(32) * BLOCK;
    let mut coder = DefaultRateEncoder::new(k, m, len, Naive::new(), None)
        .expect("the decoder's schemes are the coder's, shards a whole number of blocks");
    let mut shard = vec![0u8; len];
    for j in 0..k {
        shard.fill(0);
        for b in 0..16 {
            set_symbol(&mut shard, 16 * j + b, 1 << b);
        }
        coder
            .add_original_shard(&shard)
            .expect("K shards of the configured length");
    }
    let result = coder.encode().expect("K shards were added");
    let mut c = Vec::with_capacity(k * m);
    for i in 0..m {
        let parity = result.recovery(i).expect("index < M");
        for j in 0..k {
            c.push(Multiplier::of(std::array::from_fn(|b| {
                symbol(parity, 16 * j + b)
            })));
        }
    }
    Coefficients {
        km: (k, m),
        c: c.into_boxed_slice(),
    }
}

impl Solver {
    /// The coefficients of scheme `km`, learnt on first use.
    fn coefficients(&mut self, km: (usize, usize)) -> &Coefficients {
        if self.coefficients.as_ref().is_none_or(|c| c.km != km) {
            self.coefficients = Some(learn(km));
        }
        self.coefficients.as_ref().expect("learnt above")
    }

    /// Rebuild the data shards `lost` of a group from the parity held (by index) into
    /// `out`, back to back in the order of `lost`. `data` holds the group's shards of `len`
    /// bytes where they arrived (anything at the lost ones); shards past its end are zeros
    /// (those a short last group lacks). False when too little parity is held or the
    /// parity held does not agree.
    pub(super) fn rebuild(
        &mut self,
        km: (usize, usize),
        len: usize,
        data: &[&[u8]],
        lost: &[usize],
        parity: &[Option<Vec<u8>>],
        out: &mut Vec<u8>,
    ) -> bool {
        let e = lost.len();
        let mut held = parity
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i, p.as_deref()?)));
        let used: Vec<(usize, &[u8])> = held.by_ref().take(e).collect();
        if e == 0 || used.len() < e {
            return false;
        }
        let mut diffs = std::mem::take(&mut self.scratch);
        diffs.clear();
        diffs.resize(e * len, 0);
        // diff_i = p_i + sum_{j arrived} c_ij * d_j = sum_{j lost} c_ij * d_j.
        let c = self.coefficients(km);
        for (diff, &(i, p)) in diffs.chunks_exact_mut(len).zip(&used) {
            diff.copy_from_slice(p);
            for (j, &shard) in data.iter().enumerate() {
                if !lost.contains(&j) {
                    c.get(i, j).mul_add(diff, shard);
                }
            }
        }
        out.clear();
        out.resize(e * len, 0);
        let used_index: Vec<usize> = used.iter().map(|u| u.0).collect();
        let solved = match self.system(km, lost, &used_index) {
            Some(maps) => {
                // d_j = sum_i maps[j][i](diff_i).
                for (jj, shard) in out.chunks_exact_mut(len).enumerate() {
                    for (ii, diff) in diffs.chunks_exact(len).enumerate() {
                        maps[jj * e + ii].mul_add(shard, diff);
                    }
                }
                true
            }
            None => false,
        };
        let c = self.coefficients.as_ref().expect("learnt above");
        let shard = |j: usize| match lost.iter().position(|&l| l == j) {
            Some(jj) => &out[jj * len..(jj + 1) * len],
            None => data[j],
        };
        let agreed =
            solved && held.all(|(i, p)| encodes_to(c, i, data.len(), shard, &mut diffs, p));
        self.scratch = diffs;
        agreed
    }

    /// The maps that solve for the shards `lost` from the differences of parity `used`,
    /// `maps[j * e + i]`: kept for up to [`CACHED_LOSSES`] losses.
    fn system(
        &mut self,
        km: (usize, usize),
        lost: &[usize],
        used: &[usize],
    ) -> Option<Cow<'_, [Multiplier]>> {
        if lost.len() > CACHED_LOSSES {
            return solve(self.coefficients(km), lost, used).map(Cow::Owned);
        }
        let key = (km.0 as u8, km.1 as u8, key_part(lost), key_part(used));
        if !self.systems.contains_key(&key) {
            let maps = solve(self.coefficients(km), lost, used)?;
            if self.systems.len() >= SYSTEMS_KEPT {
                self.systems.clear();
            }
            self.systems.insert(key, maps.into_boxed_slice());
        }
        self.systems.get(&key).map(|maps| Cow::Borrowed(&maps[..]))
    }
}

/// Invert the `e x e` matrix `A[i][j] = c_{used_i, lost_j}` over the field: the maps
/// `maps[j * e + i]` that make lost shard `j` from the differences of parity `i`. `None`
/// when it is singular (it never is for an MDS code, whatever the losses).
fn solve(c: &Coefficients, lost: &[usize], used: &[usize]) -> Option<Vec<Multiplier>> {
    let f = Field::get();
    let e = lost.len();
    let one = f.one();
    // [A | I], row-reduced to [I | A^-1].
    let mut a: Vec<Vec<u16>> = used
        .iter()
        .enumerate()
        .map(|(ii, &i)| {
            let mut row: Vec<u16> = lost.iter().map(|&j| c.get(i, j).apply(one)).collect();
            row.extend((0..e).map(|k| if k == ii { one } else { 0 }));
            row
        })
        .collect();
    for col in 0..e {
        let pivot = (col..e).find(|&r| a[r][col] != 0)?;
        a.swap(col, pivot);
        let scale = f.inv(a[col][col]);
        for x in &mut a[col] {
            *x = f.mul(*x, scale);
        }
        let pivot_row = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            let factor = row[col];
            if r != col && factor != 0 {
                for (x, &p) in row.iter_mut().zip(&pivot_row) {
                    *x ^= f.mul(p, factor);
                }
            }
        }
    }
    Some(
        (0..e)
            .flat_map(|jj| (0..e).map(move |ii| (jj, ii)))
            .map(|(jj, ii)| f.multiplier(a[jj][e + ii]))
            .collect(),
    )
}

/// True when parity shard `i` of a group is `p`: `shard(j)` is data shard `j` for `j < n`,
/// and the rest are zeros (`scratch` is work space).
fn encodes_to<'a>(
    c: &Coefficients,
    i: usize,
    n: usize,
    shard: impl Fn(usize) -> &'a [u8],
    scratch: &mut Vec<u8>,
    p: &[u8],
) -> bool {
    scratch.clear();
    scratch.resize(p.len(), 0);
    for j in 0..n {
        c.get(i, j).mul_add(scratch, shard(j));
    }
    scratch[..] == *p
}

#[cfg(test)]
mod tests {
    use super::*;
    use reed_solomon_simd::ReedSolomonEncoder;

    /// The coder's parity of `group` (K shards of `len` bytes).
    fn coder_parity((k, m): (usize, usize), len: usize, group: &[u8]) -> Vec<Vec<u8>> {
        let mut coder = ReedSolomonEncoder::new(k, m, len).unwrap();
        for shard in group.chunks(len) {
            coder.add_original_shard(shard).unwrap();
        }
        let result = coder.encode().unwrap();
        result.recovery_iter().map(<[u8]>::to_vec).collect()
    }

    /// Rebuild `lost` of `group` (K shards of `len` bytes) with `solver` from `held`;
    /// the group with the rebuilt shards in place, or `None`.
    fn rebuild(
        solver: &mut Solver,
        (k, m): (usize, usize),
        len: usize,
        group: &[u8],
        lost: &[usize],
        held: &[Option<Vec<u8>>],
    ) -> Option<Vec<u8>> {
        let garbage = vec![0xa5; len];
        let data: Vec<&[u8]> = (0..k)
            .map(|j| {
                if lost.contains(&j) {
                    &garbage[..]
                } else {
                    &group[j * len..(j + 1) * len]
                }
            })
            .collect();
        let mut out = vec![];
        if !solver.rebuild((k, m), len, &data, lost, held, &mut out) {
            return None;
        }
        let mut whole = group.to_vec();
        for (shard, &j) in out.chunks_exact(len).zip(lost) {
            whole[j * len..(j + 1) * len].copy_from_slice(shard);
        }
        Some(whole)
    }

    #[test]
    fn the_learnt_coefficients_give_the_coders_parity() {
        for (k, m, len) in [
            (8, 2, 1024),
            (32, 4, 1000),
            (3, 5, 2),
            (5, 3, 130),
            (1, 1, 66),
            (255, 1, 64),
            (128, 128, 64),
            (17, 9, 190),
        ] {
            let group: Vec<u8> = (0..k * len).map(|x| (x * 7 + x / 13) as u8).collect();
            let expected = coder_parity((k, m), len, &group);
            let c = learn((k, m));
            let mut scratch = vec![];
            let shard = |j: usize| &group[j * len..(j + 1) * len];
            for (i, p) in expected.iter().enumerate() {
                assert!(
                    encodes_to(&c, i, k, shard, &mut scratch, p),
                    "{k}+{m}, {len} bytes, parity {i}"
                );
            }
        }
    }

    #[test]
    fn lost_shards_are_rebuilt_from_any_parity_and_checked_by_the_rest() {
        for (k, m, len) in [
            (8, 2, 64),
            (32, 4, 1024),
            (3, 5, 2),
            (5, 3, 130),
            (255, 1, 8),
            (20, 12, 64),
            (100, 100, 66),
        ] {
            let group: Vec<u8> = (0..k * len).map(|x| (x * 7 + x / 13) as u8).collect();
            let mut solver = Solver::default();
            let parity = coder_parity((k, m), len, &group);
            let all: Vec<Option<Vec<u8>>> = parity.iter().cloned().map(Some).collect();
            for lost in [0, k / 2, k - 1] {
                for index in 0..m {
                    // Parity `index` alone, then all of it (checked against each other).
                    let mut one = vec![None; m];
                    one[index] = Some(parity[index].clone());
                    for held in [&one, &all] {
                        let rebuilt = rebuild(&mut solver, (k, m), len, &group, &[lost], held);
                        assert!(
                            rebuilt.as_ref() == Some(&group),
                            "{k}+{m}, {len} bytes, lost {lost}, parity {index}"
                        );
                    }
                }
                if m > 1 {
                    let mut forged = all.clone();
                    forged[1].as_mut().unwrap()[0] ^= 1;
                    assert!(rebuild(&mut solver, (k, m), len, &group, &[lost], &forged).is_none());
                }
            }
            // Up to M losses at once, from all the parity (cached systems and not).
            for e in 2..=m.min(k) {
                let mut lost: Vec<usize> = (0..e).map(|x| (x * 5 + 1) % k).collect();
                lost.sort_unstable();
                lost.dedup();
                let rebuilt = rebuild(&mut solver, (k, m), len, &group, &lost, &all);
                assert!(rebuilt.as_ref() == Some(&group), "{k}+{m}, lost {lost:?}");
                if lost.len() < m {
                    let mut forged = all.clone();
                    forged[m - 1].as_mut().unwrap()[len - 1] ^= 0x80;
                    assert!(rebuild(&mut solver, (k, m), len, &group, &lost, &forged).is_none());
                }
            }
        }
    }

    #[test]
    fn a_short_group_is_solved_with_zeros_for_the_shards_it_lacks() {
        let (k, m, len) = (8, 3, 64);
        let mut group: Vec<u8> = (0..k * len).map(|x| (x * 3 + 1) as u8).collect();
        group[5 * len..].fill(0);
        let parity: Vec<Option<Vec<u8>>> = coder_parity((k, m), len, &group)
            .into_iter()
            .map(Some)
            .collect();
        let data: Vec<&[u8]> = (0..5).map(|j| &group[j * len..(j + 1) * len]).collect();
        let mut out = vec![];
        assert!(Solver::default().rebuild((k, m), len, &data, &[1, 4], &parity, &mut out));
        assert!(out[..len] == group[len..2 * len] && out[len..] == group[4 * len..5 * len]);
    }

    #[test]
    fn too_little_parity_rebuilds_nothing() {
        let (k, m, len) = (4, 2, 64);
        let group: Vec<u8> = (0..k * len).map(|x| x as u8).collect();
        let parity = coder_parity((k, m), len, &group);
        let one = vec![Some(parity[0].clone()), None];
        assert!(rebuild(&mut Solver::default(), (k, m), len, &group, &[0, 1], &one).is_none());
    }
}
