//! Streaming concealment: the transfer's bytes in order in, the same bytes out, concealed,
//! for output to a pipe.
//!
//! Bytes outside the image's pixels pass straight through. Rows of a grid are held back
//! while a hole in them has no known row below yet; when that row arrives the hole is
//! filled and the rows go out. Memory is bounded: at most `max_rows` rows are held (plus
//! the bytes of one `push`). A hole taller than that is filled by extension from above
//! for the rows that must go out, and interpolated below them as usual once the hole ends,
//! from the last row that went out.
//!
//! A frame stream ([`crate::image::Frames`]) is concealed frame after frame, each with the
//! first frame's geometry; a frame header whose bytes were lost is written back. For
//! temporal concealment ([`Mode`]) the concealer keeps one previous frame, `period` bytes
//! (from the first frame of a Y4M stream or of a transfer known to hold several frames,
//! else from the second frame, so a single image sent from a pipe costs nothing more),
//! updated in place as the current frame's rows become final (a row of the previous frame
//! is replaced only once no gap of the current frame can still look at it); frames longer
//! than [`PREV_FRAME_MAX`] (or the cap given) are concealed in space only. So memory is the window plus one
//! frame.

use super::engine::{Engine, RowStore};
use super::Mode;
use crate::image::{Geometry, Grid};
use std::ops::Range;

/// The longest frame kept as the previous frame for temporal concealment: a 4K rgb24
/// frame (24 MiB) fits; longer frames are concealed in space.
pub const PREV_FRAME_MAX: u64 = 32 << 20;

/// The default window: rows held back by [`Concealer::new`], as bytes (at least 2 rows).
/// 4 MiB keeps a streaming `unpktize` within its memory budget and holds a hole of 2700
/// rows of a 512-pixel RGB image (a burst of about 4000 packets of 1 KiB).
pub const WINDOW_BYTES: usize = 4 << 20;

/// Streaming concealment of one transfer. Feed it with [`push`](Concealer::push), take
/// what is final with [`ready`](Concealer::ready), and call
/// [`finish`](Concealer::finish) at the end of the data.
pub struct Concealer {
    geometry: Geometry,
    mode: Mode,
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
    /// The frame and the grid within it being concealed (`grid == grids.len()`: done
    /// with the frame; a single image is frame 0 only).
    frame: u64,
    grid: usize,
    current: Option<Grid>,
    engine: Option<Engine>,
    spans: Vec<Range<usize>>,
    concealed: u64,
    finished: bool,
    /// The previous frame, frame-relative (empty: no temporal concealment), and the
    /// transfer offset up to which the current frame has been copied into it.
    prev: Vec<u8>,
    prev_copied: u64,
    /// `prev` holds a whole frame before the current one.
    have_prev: bool,
    /// The transfer holds one frame only.
    single: bool,
    /// The transfer holds two frames or more.
    several: bool,
    /// Why frames are no longer concealed: an intact frame header out of place.
    misfit: Option<String>,
    /// Bytes of frame 1's header matched where a stream laid out short
    /// ([`crate::image::Frames::short`]) puts it; `None` once one did not.
    short_matched: Option<usize>,
    /// Frame number and transfer offset of the stream's frame 0, for messages (a
    /// snapshot conceals a stream cut out of a longer one).
    origin: (u64, u64),
    /// The longest frame kept as the previous frame ([`PREV_FRAME_MAX`] unless set).
    prev_frame_max: u64,
}

impl Concealer {
    /// A concealer holding at most [`WINDOW_BYTES`] of rows (and at least 2 rows).
    pub fn new(geometry: Geometry) -> Concealer {
        Concealer::with_window_bytes(geometry, WINDOW_BYTES)
    }

    /// A concealer holding at most `window_bytes` of rows (and at least 2 rows): a
    /// receiver's cap on concealment's window.
    pub fn with_window_bytes(geometry: Geometry, window_bytes: usize) -> Concealer {
        let stride = geometry.grids.iter().map(|g| g.stride).max().unwrap_or(1);
        let rows = (window_bytes / stride.max(1)).max(2);
        Concealer::with_max_rows(geometry, rows)
    }

    /// A concealer holding at most `max_rows` rows (at least 2) of any grid.
    pub fn with_max_rows(geometry: Geometry, max_rows: usize) -> Concealer {
        Concealer {
            geometry,
            mode: Mode::Spatial,
            max_rows: max_rows.max(2),
            buf: Vec::new(),
            buf_start: 0,
            pos: 0,
            released: 0,
            final_to: 0,
            unknown: Vec::new(),
            frame: 0,
            grid: 0,
            current: None,
            engine: None,
            spans: Vec::new(),
            concealed: 0,
            finished: false,
            prev: Vec::new(),
            prev_copied: 0,
            have_prev: false,
            single: false,
            several: false,
            misfit: None,
            short_matched: Some(0),
            origin: (0, 0),
            prev_frame_max: PREV_FRAME_MAX,
        }
    }

    /// Conceal a frame stream's frames from the previous frame as `mode` says (the
    /// default, [`Mode::Spatial`], never looks at it). Only for frame streams whose frames
    /// are at most [`PREV_FRAME_MAX`] bytes; for others this does nothing.
    pub fn with_mode(mut self, mode: Mode) -> Concealer {
        self.mode = mode;
        self
    }

    /// Name frames and offsets in messages as if frame 0 were frame `frame` of a longer
    /// stream, `shift` bytes further on.
    pub fn numbered_from(mut self, frame: u64, shift: u64) -> Concealer {
        self.origin = (frame, shift);
        if frame > 0 {
            self.short_matched = None;
        }
        self
    }

    /// Keep a previous frame for temporal concealment only for frames of at most
    /// `bytes` (default [`PREV_FRAME_MAX`]); longer frames are concealed in space.
    pub fn with_prev_frame_max(mut self, bytes: u64) -> Concealer {
        self.prev_frame_max = bytes;
        self
    }

    /// The rows it holds back at most.
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    /// The transfer is `len` bytes long, as far as is known: a frame stream of one frame
    /// (a single image) keeps no previous frame.
    pub fn expect_len(&mut self, len: u64) {
        if let Some(f) = &self.geometry.frames {
            self.single = len <= f.start(1);
            self.several = !self.single;
            if self.single {
                self.prev = Vec::new();
                self.have_prev = false;
            }
        }
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
        if self.misfit.is_some() {
            // Passing through: the stream is not laid out as its first frame says.
            self.compact();
            self.buf.extend_from_slice(bytes);
            self.pos = end;
            self.final_to = end;
            return;
        }
        // An intact frame header out of place ends concealment where that frame starts.
        let limit = self.check_headers(bytes, unknown);
        // Only ranges from the current row of a grid on matter: the header, padding between
        // planes and data after the image pass through as they are.
        let keep_from = match (&self.current, &self.engine) {
            (Some(grid), Some(engine)) => grid.row_bytes(engine.next_row).start,
            (Some(grid), None) => grid.offset,
            (None, _) if self.geometry.frames.is_some() => self.pos,
            (None, _) if self.grid < self.geometry.grids.len() => {
                self.geometry.grids[self.grid].offset
            }
            (None, _) => u64::MAX,
        };
        self.compact();
        let at = self.buf.len();
        self.buf.extend_from_slice(bytes);
        for r in unknown {
            let r = r.start.max(self.pos)..r.end.min(end).min(limit);
            if r.start >= r.end {
                continue;
            }
            self.restore_headers(r.clone(), at);
            let r = r.start.max(keep_from)..r.end;
            if r.start >= r.end {
                continue;
            }
            match self.unknown.last_mut() {
                Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
                _ => self.unknown.push(r),
            }
        }
        if limit < end {
            // Conceal the frames before the misfit one, then pass the rest through.
            self.pos = limit.max(self.pos);
            self.advance();
            self.finish();
            self.final_to = end;
        }
        self.pos = end;
        self.advance();
    }

    /// Why concealment stopped before the end: a frame header whose bytes arrived but are
    /// not where (or not what) the first frame's geometry says.
    pub fn misfit(&self) -> Option<&str> {
        self.misfit.as_deref()
    }

    /// Compare the known bytes of `bytes` (the next of the transfer) that lie where frame
    /// headers belong with the stream's frame header. Returns where the first frame whose
    /// header differs starts (`u64::MAX`: none), and says why in `misfit`.
    fn check_headers(&mut self, bytes: &[u8], unknown: &[Range<u64>]) -> u64 {
        let Some(f) = &self.geometry.frames else {
            return u64::MAX;
        };
        let (pos, end, hl) = (
            self.pos,
            self.pos + bytes.len() as u64,
            f.header.len() as u64,
        );
        if hl == 0 || end <= f.first {
            return u64::MAX;
        }
        let known = |o: u64| {
            let i = unknown.partition_point(|r| r.end <= o);
            unknown.get(i).is_none_or(|r| r.start > o)
        };
        // Where a stream laid out short puts frame 1's header.
        if let (Some(short), Some(n)) = (&f.short, self.short_matched) {
            let h = f.start(1).saturating_sub(short.by);
            let mut n = n;
            for o in (h + n as u64).max(pos)..(h + hl).min(end) {
                if known(o) && bytes[(o - pos) as usize] == f.header[(o - h) as usize] {
                    n += 1;
                } else {
                    self.short_matched = None;
                    break;
                }
            }
            if self.short_matched.is_some() {
                self.short_matched = Some(n);
            }
        }
        // Frame 0's header is the head the geometry was read from.
        let mut k = f.index(pos.max(f.first)).unwrap_or(0).max(1);
        loop {
            let h = f.start(k);
            if h >= end {
                return u64::MAX;
            }
            for o in h.max(pos)..(h + hl).min(end) {
                let b = bytes[(o - pos) as usize];
                if known(o) && b != f.header[(o - h) as usize] {
                    let shown =
                        &bytes[(h.max(pos) - pos) as usize..((h + hl).min(end) - pos) as usize];
                    self.misfit = Some(match (&f.short, self.short_matched) {
                        (Some(short), Some(n)) if k == 1 && n == f.header.len() => {
                            short.why.clone()
                        }
                        (short, _) => format!(
                            "frame {}: found {:?} at byte {} where its header {:?} belongs: the frames are not the {} bytes the first one says{}",
                            k + self.origin.0,
                            String::from_utf8_lossy(shown),
                            h + self.origin.1,
                            String::from_utf8_lossy(&f.header),
                            f.period,
                            short.as_ref().map_or(String::new(), |s| format!(" ({})", s.maybe)),
                        ),
                    });
                    return h;
                }
            }
            k += 1;
        }
    }

    /// Write back the frame headers that unknown range `r` (within the bytes just pushed,
    /// which start at `buf[at]`) covers.
    fn restore_headers(&mut self, r: Range<u64>, at: usize) {
        let Some(f) = &self.geometry.frames else {
            return;
        };
        if f.header.is_empty() {
            return;
        }
        let r = r.start.max(f.first)..r.end;
        let Some(mut k) = f.index(r.start).filter(|_| r.start < r.end) else {
            return;
        };
        // `buf[at]` holds transfer offset `self.pos` (not yet moved past these bytes).
        let base = self.pos;
        loop {
            let h = f.start(k);
            if h >= r.end {
                break;
            }
            let hs = h.max(r.start);
            let he = (h + f.header.len() as u64).min(r.end);
            if hs < he {
                let from = at + (hs - base) as usize;
                let src = &f.header[(hs - h) as usize..(he - h) as usize];
                self.buf[from..from + src.len()].copy_from_slice(src);
            }
            k += 1;
        }
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
        if let (Some(mut engine), Some(grid)) = (self.engine.take(), self.current.take()) {
            let mut store = self.rows(&grid);
            engine.finish(&mut store);
            self.concealed += engine.concealed;
        }
        self.grid = self.geometry.grids.len();
        self.finished = true;
        self.final_to = self.pos;
    }

    fn rows<'a>(&'a mut self, grid: &Grid) -> BufRows<'a> {
        let temporal = self.have_prev && self.mode != Mode::Spatial;
        let base_rel = self
            .geometry
            .frames
            .as_ref()
            .map_or(0, |f| grid.offset - f.start(self.frame));
        BufRows {
            buf: &mut self.buf,
            base: grid.offset as i64 - self.buf_start as i64,
            stride: grid.stride,
            prev: if temporal { Some(&self.prev[..]) } else { None },
            prev_base: base_rel as usize,
        }
    }

    /// Drop bytes already handed out (and copied into the previous frame), when that frees
    /// enough to be worth the move.
    fn compact(&mut self) {
        let keep = if self.prev.is_empty() {
            self.released
        } else {
            self.released.min(self.prev_copied)
        };
        let done = (keep.max(self.buf_start) - self.buf_start) as usize;
        if done > 0 && (done >= self.buf.len() / 2 || done >= 1 << 20) {
            self.buf.drain(..done);
            self.buf_start += done as u64;
        }
    }

    /// Copy the current frame's bytes up to `to` (no further than they came) into the
    /// previous frame's buffer.
    fn copy_to_prev(&mut self, to: u64) {
        let Some(f) = &self.geometry.frames else {
            return;
        };
        if self.prev.is_empty() {
            return;
        }
        let start = f.start(self.frame);
        let to = to.min(self.pos).min(start + f.period);
        let from = self.prev_copied.max(start).max(self.buf_start);
        if from < to {
            let src = &self.buf[(from - self.buf_start) as usize..(to - self.buf_start) as usize];
            let dst = (from - start) as usize;
            self.prev[dst..dst + src.len()].copy_from_slice(src);
            self.prev_copied = to;
        }
    }

    /// Start keeping the previous frame, if temporal concealment may use it: from the
    /// first frame on when the stream is known to be video, else from the second, so that
    /// a single image costs no frame more.
    fn keep_prev(&mut self) {
        let Some(f) = &self.geometry.frames else {
            return;
        };
        if !self.prev.is_empty() || self.single || self.mode == Mode::Spatial {
            return;
        }
        let eager = f.video || self.several;
        if f.period <= self.prev_frame_max && self.pos > f.first && (eager || self.frame >= 1) {
            self.prev = vec![0; f.period as usize];
            self.prev_copied = f.start(self.frame);
        }
    }

    fn advance(&mut self) {
        if self.finished {
            self.final_to = self.pos;
            return;
        }
        self.keep_prev();
        loop {
            if self.grid >= self.geometry.grids.len() {
                // The frame is done: on to the next, or pass the rest through.
                let Some(f) = self.geometry.frames.clone() else {
                    self.final_to = self.pos;
                    return;
                };
                let next = f.start(self.frame + 1);
                self.copy_to_prev(next);
                if self.pos < next.min(self.geometry.frame_grid(0, self.frame + 1).offset) {
                    // Hold nothing: the header and what lies between pass through.
                    self.final_to = self.pos;
                    return;
                }
                self.have_prev = !self.prev.is_empty() && self.prev_copied >= next;
                self.frame += 1;
                self.grid = 0;
                self.keep_prev();
            }
            let grid = match &self.current {
                Some(g) => g.clone(),
                None => {
                    let g = self.geometry.frame_grid(self.grid, self.frame);
                    self.current = Some(g.clone());
                    g
                }
            };
            let mode = self.mode;
            let mut engine = match self.engine.take() {
                Some(e) => e,
                None => Engine::new(&grid).with_mode(mode),
            };
            while engine.next_row < grid.rows && grid.row_bytes(engine.next_row).end <= self.pos {
                let mut cursor = 0;
                super::row_unknown(
                    &grid,
                    engine.next_row,
                    &self.unknown,
                    &mut cursor,
                    &mut self.spans,
                );
                let spans = std::mem::take(&mut self.spans);
                let mut store = self.rows(&grid);
                engine.push_row(&mut store, &spans);
                self.spans = spans;
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
                    let through = engine.next_row - 1 - self.max_rows;
                    let mut store = self.rows(&grid);
                    engine.extend_open(&mut store, through);
                    needed = engine.first_needed_row();
                }
                let held_from = if engine.next_row == 0 {
                    grid.offset
                } else {
                    grid.offset + (needed * grid.stride) as u64
                };
                self.final_to = self.final_to.max(held_from.min(self.pos));
                // Rows above the one before the first needed are never looked at again.
                let safe = grid.offset + (needed.saturating_sub(1) * grid.stride) as u64;
                self.copy_to_prev(safe.min(held_from));
                self.engine = Some(engine);
                return;
            }
            {
                let mut store = self.rows(&grid);
                engine.finish(&mut store);
            }
            self.concealed += engine.concealed;
            self.current = None;
            self.grid += 1;
            let upto = match self.grid < self.geometry.grids.len() {
                true => self.geometry.frame_grid(self.grid, self.frame).offset,
                false => grid.extent().end,
            };
            self.copy_to_prev(upto);
        }
    }
}

struct BufRows<'a> {
    buf: &'a mut Vec<u8>,
    /// Index in `buf` of the grid's row 0 (negative when it has been handed out).
    base: i64,
    stride: usize,
    /// The previous frame (frame-relative), and where the grid's row 0 lies in it.
    prev: Option<&'a [u8]>,
    prev_base: usize,
}

impl RowStore for BufRows<'_> {
    fn row(&mut self, y: usize) -> &mut [u8] {
        let start = (self.base + (y * self.stride) as i64) as usize;
        let end = (start + self.stride).min(self.buf.len());
        &mut self.buf[start..end]
    }

    fn prev_row(&self, y: usize) -> Option<&[u8]> {
        let prev = self.prev?;
        let start = self.prev_base + y * self.stride;
        Some(&prev[start.min(prev.len())..(start + self.stride).min(prev.len())])
    }

    fn copy_prev(&mut self, y: usize, bytes: Range<usize>) {
        if let Some(prev) = self.prev {
            let p = self.prev_base + y * self.stride;
            let start = (self.base + (y * self.stride) as i64) as usize;
            self.buf[start + bytes.start..start + bytes.end]
                .copy_from_slice(&prev[p + bytes.start..p + bytes.end]);
        }
    }
}
