//! Error concealment for images that lost bytes: every pixel that touches an unknown byte
//! (lost, or damaged when damage counts as loss) is replaced by interpolation from the
//! nearest intact pixels, as a video decoder hides a lost slice. Loss then looks like blur,
//! not like stripes of fill colour.
//!
//! - [`Geometry`] (from [`crate::image`], re-exported here with its constructors): where
//!   the pixels lie, one [`Grid`] per plane.
//! - [`conceal`] / [`conceal_block`]: in place, over the whole transfer or any block of
//!   whole rows, given the unknown byte ranges.
//! - [`Concealer`]: the same, streaming: bytes in, in transfer order, concealed bytes out,
//!   held back only while a hole has no known row below yet (bounded, see [`Concealer`]).
//! - [`map`]: the damage as a picture (`unpktize --map`).
//! - [`psnr`]: how close a result is to the original.
//!
//! The method, per plane, in stored row order: vertical linear interpolation in each column
//! between the nearest known pixel above and below a hole, weighted by distance. A hole
//! with a known pixel on one side only (the top or bottom rows of an image, or a hole taller
//! than the streaming window) is filled by *extension* of that pixel. A column without any
//! known pixel is interpolated along its rows from the nearest known pixels left and right.
//! Palette indices (8-bit BMP) take the nearer neighbour instead of an average.
//!
//! Invariants: a pixel none of whose bytes is unknown is never written (byte-exact); bytes
//! outside pixels (headers, row padding, data after the image) are never written; the work
//! is row-wise with buffers allocated once per grid, never per pixel.
//!
//! This module does not decide what is unknown (the reassembler does) and does no I/O.

mod engine;
pub mod map;
mod stream;

use crate::image::{Geometry, Grid};
pub use stream::{Concealer, PREV_FRAME_MAX, WINDOW_BYTES};

use engine::{Engine, RowStore};
use std::ops::Range;

/// Where concealment takes a lost pixel of a frame stream from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Per region: from the previous frame where the scene there is still (the known
    /// pixels around the hole match the previous frame's), else in space. A single image
    /// is concealed in space.
    #[default]
    Auto,
    /// Always in space (interpolation from the pixels around).
    Spatial,
    /// Always from the previous frame (in space in the first frame).
    Temporal,
}

impl Mode {
    /// The names on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Spatial => "spatial",
            Mode::Temporal => "temporal",
        }
    }
}

/// What a concealment pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Concealed {
    /// Pixels replaced (per plane: a yuv420p pixel may count in three planes).
    pub pixels: u64,
}

/// Conceal, in place, the unknown pixels of every grid of `geometry` that lies in `data`
/// (of every frame, in a frame stream, in space only; lost frame headers written back).
///
/// `data` holds the transfer's bytes from offset `data_offset` on (0: the whole
/// transfer); `unknown` lists the unknown byte ranges in transfer offsets, sorted and
/// disjoint (ranges outside `data` or outside the pixels are ignored). Rows that are not
/// wholly in `data` are not touched, so a transfer cut short is concealed up to its last
/// whole row, and the rows above the cut are extended down into the holes that reach it.
pub fn conceal(
    geometry: &Geometry,
    data: &mut [u8],
    data_offset: u64,
    unknown: &[Range<u64>],
) -> Concealed {
    let mut total = Concealed::default();
    let data_end = data_offset + data.len() as u64;
    let Some(frames) = &geometry.frames else {
        for grid in &geometry.grids {
            total.pixels += conceal_grid(grid, data, data_offset, unknown).pixels;
        }
        return total;
    };
    // A frame stream: each frame's lost header written back, its planes concealed in space.
    let mut k = frames.index(data_offset).unwrap_or(0);
    while frames.start(k) < data_end {
        let start = frames.start(k);
        for r in unknown {
            let h = start..start + frames.header.len() as u64;
            let (s, e) = (
                r.start.max(h.start).max(data_offset),
                r.end.min(h.end).min(data_end),
            );
            if s < e {
                data[(s - data_offset) as usize..(e - data_offset) as usize]
                    .copy_from_slice(&frames.header[(s - start) as usize..(e - start) as usize]);
            }
        }
        for i in 0..geometry.grids.len() {
            let grid = geometry.frame_grid(i, k);
            total.pixels += conceal_grid(&grid, data, data_offset, unknown).pixels;
        }
        k += 1;
    }
    total
}

/// Conceal a block of whole rows of one grid, in place: `rows` holds stored rows
/// `first_row..` (`stride` bytes each, the last may lack its padding), and `unknown` the
/// unknown byte ranges of `rows`, in offsets from its start (sorted, disjoint).
///
/// The block is concealed on its own: a known row at its top and at its bottom serve as
/// the pixels above and below its holes; without them (a hole that reaches the block's
/// edge) the nearest known pixel is extended. So a caller that holds a hole's rows with
/// one known row above and one below gets the same result as the whole-image pass.
pub fn conceal_block(
    grid: &Grid,
    rows: &mut [u8],
    first_row: usize,
    unknown: &[Range<u64>],
) -> Concealed {
    let block = Grid {
        offset: 0,
        rows: grid.rows.saturating_sub(first_row),
        ..grid.clone()
    };
    conceal_grid(&block, rows, 0, unknown)
}

fn conceal_grid(
    grid: &Grid,
    data: &mut [u8],
    data_offset: u64,
    unknown: &[Range<u64>],
) -> Concealed {
    let data_end = data_offset + data.len() as u64;
    // The rows wholly inside `data`.
    let first = if grid.offset >= data_offset {
        0
    } else {
        ((data_offset - grid.offset) as usize).div_ceil(grid.stride)
    };
    let mut last = first;
    while last < grid.rows && grid.row_bytes(last).end <= data_end {
        last += 1;
    }
    if last == first {
        return Concealed::default();
    }
    let region = Grid {
        offset: grid.offset + (first * grid.stride) as u64,
        rows: last - first,
        ..grid.clone()
    };
    let mut store = SliceRows {
        data,
        base: (region.offset - data_offset) as usize,
        stride: grid.stride,
    };
    let mut engine = Engine::new(&region);
    let mut spans = Vec::new();
    let mut cursor = unknown.partition_point(|r| r.end <= region.offset);
    for y in 0..region.rows {
        row_unknown(&region, y, unknown, &mut cursor, &mut spans);
        engine.push_row(&mut store, &spans);
    }
    engine.finish(&mut store);
    Concealed {
        pixels: engine.concealed,
    }
}

struct SliceRows<'a> {
    data: &'a mut [u8],
    base: usize,
    stride: usize,
}

impl RowStore for SliceRows<'_> {
    fn row(&mut self, y: usize) -> &mut [u8] {
        let start = self.base + y * self.stride;
        let end = (start + self.stride).min(self.data.len());
        &mut self.data[start..end]
    }
}

/// The unknown pixel spans of stored row `row`, from sorted disjoint byte ranges, into
/// `out`. `cursor` indexes `unknown`; it only moves forward, so calls for rows in order
/// cost the ranges they meet.
pub(crate) fn row_unknown(
    grid: &Grid,
    row: usize,
    unknown: &[Range<u64>],
    cursor: &mut usize,
    out: &mut Vec<Range<usize>>,
) {
    out.clear();
    let bytes = grid.row_bytes(row);
    while *cursor < unknown.len() && unknown[*cursor].end <= bytes.start {
        *cursor += 1;
    }
    let pb = grid.pixel_bytes as u64;
    let mut i = *cursor;
    while i < unknown.len() && unknown[i].start < bytes.end {
        let s = unknown[i].start.max(bytes.start) - bytes.start;
        let e = unknown[i].end.min(bytes.end) - bytes.start;
        if e > s {
            let span = (s / pb) as usize..e.div_ceil(pb) as usize;
            match out.last_mut() {
                Some(last) if last.end >= span.start => last.end = last.end.max(span.end),
                _ => out.push(span),
            }
        }
        i += 1;
    }
}

/// Peak signal-to-noise ratio of 8-bit samples `test` against `reference`, in dB
/// (`f64::INFINITY` when they are equal). A measuring tool for tests and benchmarks.
///
/// # Panics
/// When the lengths differ: comparing images of different sizes is a caller's mistake.
pub fn psnr(reference: &[u8], test: &[u8]) -> f64 {
    assert_eq!(
        reference.len(),
        test.len(),
        "PSNR of samples of equal count"
    );
    let sum: u64 = reference
        .iter()
        .zip(test)
        .map(|(&a, &b)| {
            let d = a as i64 - b as i64;
            (d * d) as u64
        })
        .sum();
    if sum == 0 {
        return f64::INFINITY;
    }
    let mse = sum as f64 / reference.len() as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}

#[cfg(test)]
mod tests;
