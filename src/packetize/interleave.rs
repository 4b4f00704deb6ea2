//! Interleaved sending: the order in which a span of data packets (and their parity) goes
//! out, so that neighbours are far apart in time.
//!
//! A span of `n` data packets is laid out as a grid of rows of `stride` packets (packet
//! `p` is row `p / stride`, column `p % stride`) and sent column by column; within every
//! column the rows go in bit-reversed order (row `r` of `D` is sent at the position whose
//! bits, reversed over `ceil(log2 D)` bits, give `r`; positions that give `r >= D` are
//! skipped). With FEC the stride is K, so a row is a group, and the group's M parity
//! packets form M more columns after the data's: a burst of up to `D` consecutive packets
//! (`D - 1` when the last row is short) then costs every group at most one packet. Without FEC the stride is 1: the whole span
//! in bit-reversed order, so the packets received first are spread over the span, coarse
//! to fine, like an interlaced PNG.

/// One packet of a span, in sending order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// The data packet at this index in the span.
    Data(usize),
    /// Parity packet `index` of the span's group `group` (groups count from the span's
    /// first packet, which starts a group).
    Parity { group: usize, index: usize },
}

/// The sending order of a span of `n` data packets laid in rows of `stride` packets, with
/// `parity` parity packets per row (0 without FEC). Every data index `0..n` and every
/// parity packet of the `ceil(n / stride)` rows appears exactly once.
pub fn send_order(n: usize, stride: usize, parity: usize) -> impl Iterator<Item = Slot> {
    send_order_of_pass(n, stride, parity, 0)
}

/// The sending order in pass `pass` of a carousel (`pktize --repeat`): the order of pass
/// 0 with the data columns rotated by `pass` and the rows by `pass` times about 0.618 of
/// the rows (bit-reversed order, then rotated), so a loss that recurs with the period of
/// a pass hits other packets in every pass. Parity columns still come after the data.
pub fn send_order_of_pass(
    n: usize,
    stride: usize,
    parity: usize,
    pass: u32,
) -> impl Iterator<Item = Slot> {
    let stride = stride.max(1);
    let rows = n.div_ceil(stride);
    let bits = rows.next_power_of_two().trailing_zeros();
    let row_order = (0..rows.next_power_of_two())
        .map(move |i| match bits {
            0 => 0,
            b => i.reverse_bits() >> (usize::BITS - b),
        })
        .filter(move |&r| r < rows);
    let mut row_order: Vec<usize> = row_order.collect();
    if rows > 0 {
        // 40503 / 65536 is about the golden ratio's fractional part.
        let turn = (u64::from(pass).wrapping_mul(40503 * rows as u64) >> 16) as usize % rows;
        row_order.rotate_left(turn);
    }
    let pass = pass as usize;
    (0..stride + parity).flat_map(move |column| {
        let column = match column < stride {
            true => (column + pass) % stride,
            false => column,
        };
        let row_order = row_order.clone();
        row_order.into_iter().filter_map(move |row| {
            if column < stride {
                let index = row * stride + column;
                (index < n).then_some(Slot::Data(index))
            } else {
                Some(Slot::Parity {
                    group: row,
                    index: column - stride,
                })
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_order_is_a_permutation() {
        for n in [0, 1, 2, 7, 8, 9, 100, 1000] {
            for (stride, parity) in [(1, 0), (4, 0), (8, 2), (32, 4), (3, 1)] {
                let order: Vec<Slot> = send_order(n, stride, parity).collect();
                let set: HashSet<Slot> = order.iter().copied().collect();
                assert_eq!(set.len(), order.len());
                let rows = n.div_ceil(stride);
                assert_eq!(order.len(), n + rows * parity, "{n} {stride} {parity}");
                assert!((0..n).all(|i| set.contains(&Slot::Data(i))));
            }
        }
    }

    #[test]
    fn every_pass_is_another_permutation_that_keeps_the_burst_guarantee() {
        let first: Vec<Slot> = send_order(100, 8, 2).collect();
        for pass in 1..5 {
            let order: Vec<Slot> = send_order_of_pass(100, 8, 2, pass).collect();
            assert_ne!(order, first);
            let set: HashSet<Slot> = order.iter().copied().collect();
            assert_eq!(set, first.iter().copied().collect::<HashSet<Slot>>());
            let group = |s: &Slot| match s {
                Slot::Data(i) => i / 8,
                Slot::Parity { group, .. } => *group,
            };
            for burst in order.windows(12) {
                let groups: HashSet<usize> = burst.iter().map(group).collect();
                assert_eq!(groups.len(), burst.len(), "pass {pass}");
            }
        }
    }

    #[test]
    fn without_fec_the_first_packets_spread_over_the_span() {
        let order: Vec<Slot> = send_order(8, 1, 0).collect();
        let data: Vec<usize> = order
            .iter()
            .map(|s| match s {
                Slot::Data(i) => *i,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(data, [0, 4, 2, 6, 1, 5, 3, 7]);
    }

    #[test]
    fn a_burst_of_the_depth_costs_each_group_at_most_one_packet() {
        for (n, k, m) in [(64, 8, 2), (1000, 32, 4), (100, 8, 2), (37, 4, 1)] {
            let order: Vec<Slot> = send_order(n, k, m).collect();
            // A short last row leaves the columns past its end one row shorter.
            let depth = n / k;
            let group = |s: &Slot| match s {
                Slot::Data(i) => i / k,
                Slot::Parity { group, .. } => *group,
            };
            for burst in order.windows(depth) {
                let groups: HashSet<usize> = burst.iter().map(group).collect();
                assert_eq!(groups.len(), burst.len(), "{n} {k}+{m}");
            }
        }
    }
}
