//! The concealment of one grid, row by row in stored order: the part that the whole-image
//! pass and the streaming [`super::Concealer`] share.
//!
//! Rows are handed over in order with the spans of pixels in them that are unknown. A
//! column's run of unknown pixels (a *gap*) opens at the first unknown row, where the pixel
//! above (the *anchor*) is copied aside, and closes at the next known row (the pixel
//! below). Only then is the gap filled: linear interpolation between the anchor and the
//! pixel below, by distance. So the engine needs the rows from the earliest open gap on,
//! and nothing above them: the pixel above each open gap is in `anchor`.
//!
//! A gap with a known pixel on one side only is filled by extending that pixel (the first
//! rows of a grid from the row below, the last ones from the row above). A gap with none,
//! a column unknown from the top to the end, is filled along its row, by interpolation
//! between the nearest known (or already concealed) pixels left and right, or by
//! extending the one that exists; a row with neither keeps its bytes. Palette indices are
//! never averaged: an indexed pixel takes the nearer neighbour's index.
//!
//! Rows longer than [`ALONG_ROW_ABOVE`] bytes are concealed along the row only, each
//! hole as it arrives, so that the engine holds no row at all.
//!
//! Vertical and horizontal storage order are the same thing here: a bottom-up BMP is
//! concealed in its stored order, its rows' neighbours are the same.
//!
//! In a frame stream the store may also hold the previous frame's rows
//! ([`RowStore::prev_row`]). Then a gap is filled, block of [`CHUNK`] columns by block,
//! from the previous frame where [`Mode`] says so: always ([`Mode::Temporal`]), or
//! ([`Mode::Auto`]) where the scene there is still: the known pixels above and below the
//! gap match the previous frame's within [`STILL_MEAN`] per sample. A gap with no known
//! pixel above or below (a whole frame lost) takes the previous frame's pixels in both.

use super::Mode;
use crate::image::{Grid, Sample};
use std::ops::Range;

/// Rows of a grid, by stored row index; each at least `row_len` bytes.
pub(crate) trait RowStore {
    fn row(&mut self, y: usize) -> &mut [u8];
    /// Row `y` of the previous frame's grid, when there is one.
    fn prev_row(&self, _y: usize) -> Option<&[u8]> {
        None
    }
    /// Copy `bytes` of the previous frame's row `y` into row `y`.
    fn copy_prev(&mut self, _y: usize, _bytes: Range<usize>) {}
}

/// Rows of more bytes than this (a 349,525-pixel-wide RGB image) are concealed along the
/// row, from the known pixels left and right of each hole: holding the rows above and
/// below such a hole, and a column's state for each pixel, would pass the memory budget.
pub(crate) const ALONG_ROW_ABOVE: usize = 1 << 20;

/// Columns decided together, temporal or spatial: narrow enough to keep a small moving
/// object's neighbourhood apart from the still background beside it.
pub(crate) const CHUNK: usize = 16;
/// Mean absolute difference per 8-bit sample below which two rows count as still (a
/// 16-bit sample's difference is taken in units of 4, as 10-bit video in 16-bit words).
pub(crate) const STILL_MEAN: u64 = 2;

const NO_GAP: u32 = u32::MAX;

pub(crate) struct Engine {
    width: usize,
    pixel_bytes: usize,
    sample: Sample,
    indexed: bool,
    /// The first unknown row of each column's open gap, or `NO_GAP`.
    gap_start: Vec<u32>,
    /// The pixel above each open gap, when there is one.
    anchored: Vec<bool>,
    anchor: Vec<u8>,
    /// The unknown spans of the last row processed: exactly the columns with open gaps.
    prev: Vec<Range<usize>>,
    scratch: Vec<Range<usize>>,
    below: Vec<u8>,
    mode: Mode,
    /// Rows too wide to hold two of ([`ALONG_ROW_ABOVE`]): holes filled along the row.
    along_only: bool,
    first_needed: usize,
    /// Rows processed so far.
    pub next_row: usize,
    /// Pixels replaced so far.
    pub concealed: u64,
}

impl Engine {
    pub fn new(grid: &Grid) -> Engine {
        let along_only = grid.row_len() > ALONG_ROW_ABOVE;
        // Column state only where columns are interpolated.
        let columns = if along_only { 0 } else { grid.width };
        Engine {
            width: grid.width,
            pixel_bytes: grid.pixel_bytes,
            sample: grid.sample,
            indexed: grid.indexed,
            gap_start: vec![NO_GAP; columns],
            anchored: vec![false; columns],
            anchor: vec![0; columns * grid.pixel_bytes],
            prev: Vec::new(),
            scratch: Vec::new(),
            below: vec![0; columns * grid.pixel_bytes],
            mode: Mode::Spatial,
            along_only,
            first_needed: usize::MAX,
            next_row: 0,
            concealed: 0,
        }
    }

    /// Use the previous frame's rows (when the store has them) as `mode` says.
    pub fn with_mode(mut self, mode: Mode) -> Engine {
        self.mode = mode;
        self
    }

    /// True when columns `cols` of rows `above` (if any) and `below` (if any) of the
    /// current frame, whose bytes are given, match the previous frame's: the scene there
    /// is still, or the previous frame explains them better than they explain each other
    /// (the vertical interpolation's own evidence). False without a previous frame.
    fn still(
        &self,
        store: &dyn RowStore,
        cols: Range<usize>,
        above: Option<(usize, &[u8])>,
        below: Option<(usize, &[u8])>,
    ) -> bool {
        let pb = self.pixel_bytes;
        let bytes = cols.start * pb..cols.end * pb;
        let mut samples = 0u64;
        let mut sum = 0u64;
        for (y, cur) in above.into_iter().chain(below) {
            let Some(prev) = store.prev_row(y) else {
                return false;
            };
            let (s, n) = self.sad(&cur[bytes.clone()], &prev[bytes.clone()]);
            sum += s;
            samples += n;
        }
        if self.indexed {
            return sum == 0;
        }
        if sum <= STILL_MEAN * samples {
            return true;
        }
        match (above, below) {
            (Some((_, a)), Some((_, b))) => {
                let (across, _) = self.sad(&a[bytes.clone()], &b[bytes]);
                // Two rows compared in time against one pair compared across the hole.
                sum < across
            }
            _ => false,
        }
    }

    /// Sum of absolute differences of two runs of samples, and the samples counted (a
    /// 16-bit sample's difference in units of 4).
    fn sad(&self, a: &[u8], b: &[u8]) -> (u64, u64) {
        match self.sample {
            Sample::U8 => (
                a.iter().zip(b).map(|(&x, &y)| x.abs_diff(y) as u64).sum(),
                a.len() as u64,
            ),
            Sample::U16Be | Sample::U16Le => {
                let be = self.sample == Sample::U16Be;
                let get = |s: &[u8]| {
                    if be {
                        u16::from_be_bytes([s[0], s[1]])
                    } else {
                        u16::from_le_bytes([s[0], s[1]])
                    }
                };
                let sum: u64 = a
                    .chunks_exact(2)
                    .zip(b.chunks_exact(2))
                    .map(|(x, y)| get(x).abs_diff(get(y)) as u64)
                    .sum();
                (sum / 4, (a.len() / 2) as u64)
            }
        }
    }

    /// Whether to fill columns `cols` of a gap from the previous frame; `above`/`below`:
    /// the known rows around it, with their bytes.
    fn temporal(
        &self,
        store: &dyn RowStore,
        cols: Range<usize>,
        above: Option<(usize, &[u8])>,
        below: Option<(usize, &[u8])>,
    ) -> bool {
        match self.mode {
            Mode::Spatial => false,
            Mode::Temporal => store.prev_row(0).is_some(),
            Mode::Auto if above.is_none() && below.is_none() => store.prev_row(0).is_some(),
            Mode::Auto => self.still(store, cols, above, below),
        }
    }

    /// The earliest row still needed: the first row of the earliest open gap, or the last
    /// row processed (the anchor of gaps that open in the next row).
    pub fn first_needed_row(&self) -> usize {
        if self.along_only {
            return self.next_row;
        }
        self.first_needed.min(self.next_row.saturating_sub(1))
    }

    /// The first row of the earliest open gap: computed once a row, since a streaming
    /// caller asks after every push and a row may be a million pixels wide.
    fn update_first_needed(&mut self) {
        let mut first = usize::MAX;
        for span in &self.prev {
            for x in span.clone() {
                first = first.min(self.gap_start[x] as usize);
            }
        }
        self.first_needed = first;
    }

    /// Process the next row (`self.next_row`), whose bytes are in `store`, with its
    /// `unknown` pixel spans (sorted, disjoint, within the width).
    pub fn push_row(&mut self, store: &mut dyn RowStore, unknown: &[Range<usize>]) {
        let y = self.next_row;
        if self.along_only {
            let row = store.row(y);
            for span in unknown {
                along_row(
                    self.sample,
                    self.indexed,
                    self.pixel_bytes,
                    self.width,
                    row,
                    span.clone(),
                );
                self.concealed += (span.end - span.start) as u64;
            }
            self.next_row = y + 1;
            return;
        }
        // Gaps that close here: unknown above, known in this row.
        let mut closing = std::mem::take(&mut self.scratch);
        difference(&self.prev, unknown, &mut closing);
        for span in &closing {
            self.close(store, span.clone(), y);
        }
        // Gaps that open here: the pixel above becomes their anchor.
        difference(unknown, &self.prev, &mut closing);
        for span in &closing {
            let pb = self.pixel_bytes;
            let bytes = span.start * pb..span.end * pb;
            if y > 0 {
                self.anchor[bytes.clone()].copy_from_slice(&store.row(y - 1)[bytes]);
            }
            for x in span.clone() {
                self.gap_start[x] = y as u32;
                self.anchored[x] = y > 0;
            }
        }
        self.scratch = closing;
        self.prev.clear();
        self.prev.extend_from_slice(unknown);
        self.next_row = y + 1;
        self.update_first_needed();
    }

    /// The end of the run of columns from `p` (before `end`) whose gaps opened in the same
    /// row, all anchored or none: a run is filled as one block of bytes.
    fn run_end(&self, p: usize, end: usize) -> usize {
        let (gs, anchored) = (self.gap_start[p], self.anchored[p]);
        let mut q = p + 1;
        while q < end && self.gap_start[q] == gs && self.anchored[q] == anchored {
            q += 1;
        }
        q
    }

    /// Fill the open gaps of columns `span`, which end at row `below_row` (known).
    fn close(&mut self, store: &mut dyn RowStore, span: Range<usize>, below_row: usize) {
        let pb = self.pixel_bytes;
        self.below[span.start * pb..span.end * pb]
            .copy_from_slice(&store.row(below_row)[span.start * pb..span.end * pb]);
        let mut p = span.start;
        while p < span.end {
            let q = self.run_end(p, span.end);
            let (gs, anchored) = (self.gap_start[p] as usize, self.anchored[p]);
            if self.mode != Mode::Spatial && store.prev_row(0).is_some() {
                self.close_chunks(store, p..q, gs, anchored, below_row);
                p = q;
                continue;
            }
            let bytes = p * pb..q * pb;
            let below = &self.below[bytes.clone()];
            // Distances counted from the anchor row, gs - 1.
            let d = below_row + 1 - gs;
            for r in gs..below_row {
                let dst = &mut store.row(r)[bytes.clone()];
                if anchored {
                    let k = r + 1 - gs;
                    blend(
                        self.sample,
                        self.indexed,
                        dst,
                        &self.anchor[bytes.clone()],
                        below,
                        k,
                        d,
                    );
                } else {
                    dst.copy_from_slice(below);
                }
            }
            for x in p..q {
                self.gap_start[x] = NO_GAP;
            }
            self.concealed += ((q - p) * (below_row - gs)) as u64;
            p = q;
        }
    }

    /// Fill the gap of columns `run` (rows `gs..below_row`, one anchor state) chunk by
    /// chunk, each from the previous frame or in space.
    fn close_chunks(
        &mut self,
        store: &mut dyn RowStore,
        run: Range<usize>,
        gs: usize,
        anchored: bool,
        below_row: usize,
    ) {
        let pb = self.pixel_bytes;
        let mut c = run.start;
        while c < run.end {
            let e = ((c / CHUNK + 1) * CHUNK).min(run.end);
            let bytes = c * pb..e * pb;
            let above = anchored.then(|| (gs - 1, &self.anchor[..]));
            let below = Some((below_row, &self.below[..]));
            if self.temporal(store, c..e, above, below) {
                for r in gs..below_row {
                    store.copy_prev(r, bytes.clone());
                }
            } else {
                let d = below_row + 1 - gs;
                for r in gs..below_row {
                    let dst = &mut store.row(r)[bytes.clone()];
                    if anchored {
                        blend(
                            self.sample,
                            self.indexed,
                            dst,
                            &self.anchor[bytes.clone()],
                            &self.below[bytes.clone()],
                            r + 1 - gs,
                            d,
                        );
                    } else {
                        dst.copy_from_slice(&self.below[bytes.clone()]);
                    }
                }
            }
            c = e;
        }
        for x in run.clone() {
            self.gap_start[x] = NO_GAP;
        }
        self.concealed += ((run.end - run.start) * (below_row - gs)) as u64;
    }

    /// Fill the open gaps through row `through` (processed already) without a pixel below:
    /// by extension of the anchor, or along the row where a gap has none. Gaps stay open
    /// from the next row, anchored at row `through`. Called at the end of the grid, and
    /// when a streaming window is full.
    pub fn extend_open(&mut self, store: &mut dyn RowStore, through: usize) {
        let pb = self.pixel_bytes;
        let open = std::mem::take(&mut self.prev);
        // Unanchored runs (first row, columns), filled along rows after the others.
        let mut loose: Vec<(usize, Range<usize>)> = Vec::new();
        for span in &open {
            let mut p = span.start;
            while p < span.end {
                let q = self.run_end(p, span.end);
                let (gs, anchored) = (self.gap_start[p] as usize, self.anchored[p]);
                if gs <= through {
                    let temporal = self.mode != Mode::Spatial && store.prev_row(0).is_some();
                    if temporal {
                        // Chunk by chunk: from the previous frame, or by extension.
                        let mut c = p;
                        while c < q {
                            let e = ((c / CHUNK + 1) * CHUNK).min(q);
                            let bytes = c * pb..e * pb;
                            let above = anchored.then(|| (gs - 1, &self.anchor[..]));
                            if self.temporal(store, c..e, above, None) {
                                for r in gs..=through {
                                    store.copy_prev(r, bytes.clone());
                                }
                            } else if anchored {
                                for r in gs..=through {
                                    store.row(r)[bytes.clone()]
                                        .copy_from_slice(&self.anchor[bytes.clone()]);
                                }
                            } else {
                                loose.push((gs, c..e));
                            }
                            c = e;
                        }
                    } else if anchored {
                        let bytes = p * pb..q * pb;
                        for r in gs..=through {
                            store.row(r)[bytes.clone()]
                                .copy_from_slice(&self.anchor[bytes.clone()]);
                        }
                    } else {
                        loose.push((gs, p..q));
                    }
                    self.concealed += ((q - p) * (through + 1 - gs)) as u64;
                }
                p = q;
            }
        }
        if let Some(first) = loose.iter().map(|(gs, _)| *gs).min() {
            let mut row_spans: Vec<Range<usize>> = Vec::new();
            for r in first..=through {
                row_spans.clear();
                for (gs, run) in &loose {
                    if *gs > r {
                        continue;
                    }
                    match row_spans.last_mut() {
                        Some(last) if last.end == run.start => last.end = run.end,
                        _ => row_spans.push(run.clone()),
                    }
                }
                let row = store.row(r);
                for span in &row_spans {
                    along_row(self.sample, self.indexed, pb, self.width, row, span.clone());
                }
            }
        }
        // Reopen each gap below `through`, anchored at it; unless the whole row is unknown
        // and had no anchor, so that it kept its bytes.
        let nothing_known = open.len() == 1
            && open[0] == (0..self.width)
            && !self.anchored[..self.width].iter().any(|&a| a);
        let row = store.row(through);
        for span in &open {
            for x in span.clone() {
                // Gaps that opened below `through` keep their own anchor.
                if self.gap_start[x] as usize <= through {
                    self.gap_start[x] = (through + 1) as u32;
                    self.anchored[x] = !nothing_known;
                    let bytes = x * pb..(x + 1) * pb;
                    self.anchor[bytes.clone()].copy_from_slice(&row[bytes]);
                }
            }
        }
        self.prev = open;
        self.update_first_needed();
    }

    /// End of the grid: fill every open gap, from above or along its row.
    pub fn finish(&mut self, store: &mut dyn RowStore) {
        if self.next_row > 0 {
            self.extend_open(store, self.next_row - 1);
        }
        self.prev.clear();
    }
}

/// `a \ b` for sorted disjoint span lists, into `out`.
fn difference(a: &[Range<usize>], b: &[Range<usize>], out: &mut Vec<Range<usize>>) {
    out.clear();
    let mut j = 0;
    for span in a {
        let mut start = span.start;
        while j < b.len() && b[j].end <= start {
            j += 1;
        }
        let mut k = j;
        while start < span.end {
            match b.get(k) {
                Some(cut) if cut.start < span.end => {
                    if cut.start > start {
                        out.push(start..cut.start);
                    }
                    start = start.max(cut.end);
                    if cut.end <= span.end {
                        k += 1;
                    } else {
                        break;
                    }
                }
                _ => {
                    out.push(start..span.end);
                    break;
                }
            }
        }
    }
}

/// `dst = a + (b - a) * k / d` sample by sample (for indices: the nearer of the two).
fn blend(sample: Sample, indexed: bool, dst: &mut [u8], a: &[u8], b: &[u8], k: usize, d: usize) {
    if indexed {
        dst.copy_from_slice(if 2 * k <= d { a } else { b });
        return;
    }
    // 16-bit fixed point weight of b.
    let w = ((k as u64) << 16) / d as u64;
    match sample {
        Sample::U8 => {
            let (w, v) = (w as u32, 65536 - w as u32);
            for ((o, &x), &y) in dst.iter_mut().zip(a).zip(b) {
                *o = ((x as u32 * v + y as u32 * w + 32768) >> 16) as u8;
            }
        }
        Sample::U16Be | Sample::U16Le => {
            let v = 65536 - w;
            let be = sample == Sample::U16Be;
            for ((o, x), y) in dst
                .chunks_exact_mut(2)
                .zip(a.chunks_exact(2))
                .zip(b.chunks_exact(2))
            {
                let get = |s: &[u8]| {
                    if be {
                        u16::from_be_bytes([s[0], s[1]])
                    } else {
                        u16::from_le_bytes([s[0], s[1]])
                    }
                };
                let m = ((get(x) as u64 * v + get(y) as u64 * w + 32768) >> 16) as u16;
                o.copy_from_slice(&if be { m.to_be_bytes() } else { m.to_le_bytes() });
            }
        }
    }
}

/// Fill pixels `span` of `row` from its neighbours left and right in the row.
fn along_row(
    sample: Sample,
    indexed: bool,
    pb: usize,
    width: usize,
    row: &mut [u8],
    span: Range<usize>,
) {
    let left = span.start.checked_sub(1);
    let right = (span.end < width).then_some(span.end);
    let pixel = |row: &[u8], x: usize| row[x * pb..(x + 1) * pb].to_vec();
    match (left, right) {
        (None, None) => {}
        (Some(l), None) => {
            let v = pixel(row, l);
            for x in span {
                row[x * pb..(x + 1) * pb].copy_from_slice(&v);
            }
        }
        (None, Some(r)) => {
            let v = pixel(row, r);
            for x in span {
                row[x * pb..(x + 1) * pb].copy_from_slice(&v);
            }
        }
        (Some(l), Some(r)) => {
            let (a, b) = (pixel(row, l), pixel(row, r));
            for x in span {
                blend(
                    sample,
                    indexed,
                    &mut row[x * pb..(x + 1) * pb],
                    &a,
                    &b,
                    x - l,
                    r - l,
                );
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // lists of one span are meant
mod tests {
    use super::*;

    #[test]
    fn difference_of_span_lists() {
        let mut out = Vec::new();
        difference(&[0..10, 20..30], &[2..4, 8..22, 25..26], &mut out);
        assert_eq!(out, [0..2, 4..8, 22..25, 26..30]);
        difference(&[0..10], &[], &mut out);
        assert_eq!(out, [0..10]);
        difference(&[3..5], &[0..10], &mut out);
        assert!(out.is_empty());
        difference(&[0..5, 6..9], &[4..7], &mut out);
        assert_eq!(out, [0..4, 7..9]);
    }

    #[test]
    fn blend_rounds_to_nearest() {
        let mut dst = [0u8; 2];
        blend(Sample::U8, false, &mut dst, &[0, 10], &[255, 20], 1, 2);
        assert_eq!(dst, [128, 15]);
        let mut dst = [0u8; 2];
        blend(Sample::U16Le, false, &mut dst, &[0, 0], &[0xff, 0xff], 1, 4);
        assert_eq!(u16::from_le_bytes(dst), 16384);
    }
}
