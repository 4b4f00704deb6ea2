//! Streaming concealment: the transfer's bytes in order in, the same bytes out, concealed,
//! for output to a pipe.
//!
//! Bytes outside the image's pixels pass straight through. Rows of a grid are held back
//! while a hole in them has no known row below yet; when that row arrives the hole is
//! filled and the rows go out. Memory is bounded: at most `max_rows` rows are held (plus
//! the bytes of one `push`). A hole taller than that is filled by extension from above
//! for the rows that must go out, and interpolated below them as usual once the hole ends,
//! from the last row that went out.

use super::engine::{Engine, RowStore};
use crate::image::Geometry;
use std::ops::Range;

/// The default window: rows held back by [`Concealer::new`], as bytes (at least 2 rows).
/// 4 MiB keeps a streaming `unpktize` within its memory budget and holds a hole of 2700
/// rows of a 512-pixel RGB image (a burst of about 4000 packets of 1 KiB).
pub const WINDOW_BYTES: usize = 4 << 20;

/// Streaming concealment of one transfer. Feed it with [`push`](Concealer::push), take
/// what is final with [`ready`](Concealer::ready), and call
/// [`finish`](Concealer::finish) at the end of the data.
pub struct Concealer {
    geometry: Geometry,
    max_rows: usize,
    /// Bytes from transfer offset `buf_start` to `pos`.
    buf: Vec<u8>,
    buf_start: u64,
    pos: u64,
    /// Bytes before this offset have been handed out by `ready`.
    released: u64,
    /// Bytes before this offset are final.
    final_to: u64,
    /// Unknown ranges not yet behind the current row.
    unknown: Vec<Range<u64>>,
    grid: usize,
    engine: Option<Engine>,
    spans: Vec<Range<usize>>,
    concealed: u64,
    finished: bool,
}

impl Concealer {
    /// A concealer holding at most [`WINDOW_BYTES`] of rows (and at least 2 rows).
    pub fn new(geometry: Geometry) -> Concealer {
        let stride = geometry.grids.iter().map(|g| g.stride).max().unwrap_or(1);
        let rows = (WINDOW_BYTES / stride.max(1)).max(2);
        Concealer::with_max_rows(geometry, rows)
    }

    /// A concealer holding at most `max_rows` rows (at least 2) of any grid.
    pub fn with_max_rows(geometry: Geometry, max_rows: usize) -> Concealer {
        Concealer {
            geometry,
            max_rows: max_rows.max(2),
            buf: Vec::new(),
            buf_start: 0,
            pos: 0,
            released: 0,
            final_to: 0,
            unknown: Vec::new(),
            grid: 0,
            engine: None,
            spans: Vec::new(),
            concealed: 0,
            finished: false,
        }
    }

    /// The rows it holds back at most.
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    /// Pixels concealed so far.
    pub fn concealed_pixels(&self) -> u64 {
        self.concealed + self.engine.as_ref().map_or(0, |e| e.concealed)
    }

    /// The next `bytes` of the transfer (from offset 0 on, in order), and which of them
    /// are unknown: `unknown` in transfer offsets, sorted and disjoint; parts outside
    /// these bytes are ignored, so the caller may pass the ranges that overlap them or its
    /// whole list. Take the bytes that became final with [`ready`](Concealer::ready)
    /// after each push: what is not taken stays in memory.
    pub fn push(&mut self, bytes: &[u8], unknown: &[Range<u64>]) {
        let end = self.pos + bytes.len() as u64;
        // Only ranges from the current row of a grid on matter: the header, padding between
        // planes and data after the image pass through as they are.
        let keep_from = match (self.geometry.grids.get(self.grid), &self.engine) {
            (Some(grid), Some(engine)) => grid.row_bytes(engine.next_row).start,
            (Some(grid), None) => grid.offset,
            (None, _) => u64::MAX,
        };
        for r in unknown {
            let r = r.start.max(self.pos).max(keep_from)..r.end.min(end);
            if r.start >= r.end {
                continue;
            }
            match self.unknown.last_mut() {
                Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
                _ => self.unknown.push(r),
            }
        }
        self.compact();
        self.buf.extend_from_slice(bytes);
        self.pos = end;
        self.advance();
    }

    /// The bytes that became final since the last call, in order: write them out.
    pub fn ready(&mut self) -> &[u8] {
        let from = (self.released - self.buf_start) as usize;
        let to = (self.final_to - self.buf_start) as usize;
        self.released = self.final_to;
        &self.buf[from..to]
    }

    /// The end of the data: conceal what is held (holes at the bottom by extension from
    /// above) and make everything final. A grid's last row cut short is left as it came.
    pub fn finish(&mut self) {
        if let Some(mut engine) = self.engine.take() {
            let grid = &self.geometry.grids[self.grid];
            let mut store = BufRows {
                buf: &mut self.buf,
                base: grid.offset as i64 - self.buf_start as i64,
                stride: grid.stride,
            };
            engine.finish(&mut store);
            self.concealed += engine.concealed;
        }
        self.grid = self.geometry.grids.len();
        self.finished = true;
        self.final_to = self.pos;
    }

    /// Drop bytes already handed out, when that frees enough to be worth the move.
    fn compact(&mut self) {
        let done = (self.released - self.buf_start) as usize;
        if done > 0 && (done >= self.buf.len() / 2 || done >= 1 << 20) {
            self.buf.drain(..done);
            self.buf_start = self.released;
        }
    }

    fn advance(&mut self) {
        if self.finished {
            self.final_to = self.pos;
            return;
        }
        while let Some(grid) = self.geometry.grids.get(self.grid) {
            let engine = self.engine.get_or_insert_with(|| Engine::new(grid));
            let mut store = BufRows {
                buf: &mut self.buf,
                base: grid.offset as i64 - self.buf_start as i64,
                stride: grid.stride,
            };
            while engine.next_row < grid.rows && grid.row_bytes(engine.next_row).end <= self.pos {
                let mut cursor = 0;
                super::row_unknown(
                    grid,
                    engine.next_row,
                    &self.unknown,
                    &mut cursor,
                    &mut self.spans,
                );
                engine.push_row(&mut store, &self.spans);
                // Ranges wholly before the next row are no longer needed.
                let next = grid.offset + (engine.next_row * grid.stride) as u64;
                let behind = self.unknown.partition_point(|r| r.end <= next);
                self.unknown.drain(..behind);
            }
            if engine.next_row < grid.rows {
                // Hold the rows from the first one still needed; force out what exceeds the
                // window.
                let mut needed = engine.first_needed_row();
                if engine.next_row > 0 && engine.next_row - needed > self.max_rows {
                    engine.extend_open(&mut store, engine.next_row - 1 - self.max_rows);
                    needed = engine.first_needed_row();
                }
                let held_from = if engine.next_row == 0 {
                    grid.offset
                } else {
                    grid.offset + (needed * grid.stride) as u64
                };
                self.final_to = self.final_to.max(held_from.min(self.pos));
                return;
            }
            engine.finish(&mut store);
            self.concealed += engine.concealed;
            self.engine = None;
            self.grid += 1;
        }
        self.final_to = self.pos;
    }
}

struct BufRows<'a> {
    buf: &'a mut Vec<u8>,
    /// Index in `buf` of the grid's row 0 (negative when it has been handed out).
    base: i64,
    stride: usize,
}

impl RowStore for BufRows<'_> {
    fn row(&mut self, y: usize) -> &mut [u8] {
        let start = (self.base + (y * self.stride) as i64) as usize;
        let end = (start + self.stride).min(self.buf.len());
        &mut self.buf[start..end]
    }
}
