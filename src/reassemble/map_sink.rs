//! The damage map as a picture (`unpktize --map`): a [`RangeSink`] that keeps the final
//! ranges (and passes them on to the JSON report) and, at the end, draws them with
//! [`crate::conceal::map`]: one pixel per image pixel when the data is an image (a map per
//! frame, a stream of PPMs, when it is a stream of frames), one cell per packet otherwise.
//!
//! Memory: the ranges, at most [`super::Limits::map_ranges`] (beyond, the map says so and draws what
//! it kept); the image under a blended map is read from the output file at the end, row
//! by row, frame after frame.
//!
//! Size: an image's map has one pixel per image pixel only while that is believable: at
//! most [`super::Limits::map_pixels`], or no more bytes of image than the transfer really has.
//! A head claiming a giant image (issue 29.9: 82 GB of map) gets the packet grid instead,
//! at most 8192 pixels a side. Writing stops when the program is asked to
//! ([`MapSink::with_stop`]).

use super::damage::{DamagedRange, RangeKind, RangeSink, RangeSinkError, Repair, SinkResult};
use super::Report;
use crate::conceal::map::{self, ByteState, MapOptions, StateRange};
use crate::image::{self, Geometry};
use std::io::{self, Write};
use std::path::PathBuf;

/// Ranges a map keeps: 1 Mi ranges, 24 MiB at most, only with `--map`.
pub const MAX_MAP_RANGES: usize = 1 << 20;
/// Cell side of a packet grid, in pixels.
const CELL_PX: u64 = 4;
/// The most pixels an image's map has when the transfer is shorter than the image: 64
/// Mi pixels, a 192 MiB map.
pub const MAX_IMAGE_MAP_PIXELS: u64 = 1 << 26;
/// Bytes of the output file read to recognise an image from its head.
const HEAD_BYTES: u64 = 1024;

/// A writer that fails once the program is asked to stop, so a long map ends early.
struct Stoppable<'w> {
    out: &'w mut dyn Write,
    stop: fn() -> bool,
}

impl Write for Stoppable<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if (self.stop)() {
            // Not `Interrupted`: `write_all` would retry it.
            return Err(io::Error::other("stopped by a signal"));
        }
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn never() -> bool {
    false
}

/// Draws the map at the end of the input.
pub struct MapSink<W: Write> {
    out: W,
    next: Option<Box<dyn RangeSink>>,
    states: Vec<StateRange>,
    image: Option<Geometry>,
    /// The output file, to recognise the image from its head and blend it under the map.
    output_file: Option<PathBuf>,
    blend_percent: Option<u8>,
    overflow: bool,
    stop: fn() -> bool,
    /// [`super::Limits::map_ranges`] and [`super::Limits::map_pixels`].
    max_ranges: usize,
    max_image_pixels: u64,
    /// The picture an indexed JPEG became, and its damage: drawn instead of the
    /// transfer's when set.
    picture: Option<super::jpeg_output::PictureDamage>,
}

impl<W: Write> MapSink<W> {
    /// A map written to `out`; ranges are passed on to `next` (the JSON report) too.
    /// `image`: the geometry when the user gave it (raw pixels); else it is read from a
    /// descriptor's head or the head of `output_file`.
    pub fn new(
        out: W,
        next: Option<Box<dyn RangeSink>>,
        image: Option<Geometry>,
        output_file: Option<PathBuf>,
        blend_percent: Option<u8>,
    ) -> Self {
        MapSink {
            out,
            next,
            states: Vec::new(),
            image,
            output_file,
            blend_percent,
            overflow: false,
            stop: never,
            max_ranges: MAX_MAP_RANGES,
            max_image_pixels: MAX_IMAGE_MAP_PIXELS,
            picture: None,
        }
    }

    /// Draw the damage of the picture an indexed JPEG was written as (`--conceal`), when
    /// `picture` is set by the end: its lost MCUs, pixel for pixel.
    pub fn with_picture(mut self, picture: super::jpeg_output::PictureDamage) -> Self {
        self.picture = Some(picture);
        self
    }

    /// Keep at most [`super::Limits::map_ranges`] ranges, and draw an image's pixels past
    /// the transfer's length only up to [`super::Limits::map_pixels`] (the defaults
    /// without this).
    pub fn with_limits(mut self, limits: &super::Limits) -> Self {
        self.max_ranges = limits.map_ranges;
        self.max_image_pixels = limits.map_pixels;
        self
    }

    /// Asked while the map is written: true once the program should stop.
    pub fn with_stop(mut self, stop: fn() -> bool) -> Self {
        self.stop = stop;
        self
    }

    fn geometry(&self, report: &Report) -> Option<Geometry> {
        if let Some(g) = &self.image {
            return Some(g.clone());
        }
        let head = report
            .transfers
            .first()
            .and_then(|t| t.descriptor.as_ref())
            .map(|d| d.head.clone())
            .or_else(|| {
                // Only the head: the file may be large.
                use std::io::Read;
                let path = self.output_file.as_ref()?;
                let mut head = Vec::new();
                let file = std::fs::File::open(path).ok()?;
                file.take(HEAD_BYTES).read_to_end(&mut head).ok()?;
                Some(head)
            })?;
        image::from_head(&head).ok()
    }
}

impl<W: Write> RangeSink for MapSink<W> {
    fn range(&mut self, r: &DamagedRange) -> SinkResult {
        if self.states.len() < self.max_ranges {
            let state = match r.kind {
                RangeKind::Lost | RangeKind::Unknown => ByteState::Lost,
                RangeKind::Damaged => ByteState::Damaged,
            };
            self.states.push(StateRange {
                range: r.start..r.end,
                state,
            });
        } else {
            self.overflow = true;
        }
        match &mut self.next {
            Some(next) => next.range(r),
            None => Ok(()),
        }
    }

    /// Repairs colour the map only; the JSON report does not list them.
    fn repair(&mut self, how: Repair, start: u64, end: u64) -> SinkResult {
        if self.states.len() < self.max_ranges {
            let state = match how {
                Repair::Rebuilt => ByteState::Rebuilt,
                Repair::Restored => ByteState::Restored,
            };
            self.states.push(StateRange {
                range: start..end,
                state,
            });
        } else {
            self.overflow = true;
        }
        Ok(())
    }

    fn finish(&mut self, report: &Report) -> SinkResult {
        if let Some(next) = &mut self.next {
            next.finish(report)?;
        }
        self.draw(report).map_err(RangeSinkError::Map)
    }
}

/// The picture under a blended map: the output file, read in blocks, never whole.
fn blend_source(
    blend_percent: Option<u8>,
    output_file: Option<&std::path::Path>,
) -> io::Result<Option<std::fs::File>> {
    match (blend_percent, output_file) {
        (Some(_), Some(path)) => std::fs::File::open(path).map(Some),
        _ => Ok(None),
    }
}

impl<W: Write> MapSink<W> {
    /// Draw the map of what `report` describes (and of the output under it, blended).
    fn draw(&mut self, report: &Report) -> io::Result<()> {
        let picture = self.picture.as_ref().and_then(|p| p.borrow_mut().take());
        if let Some((geometry, states)) = picture {
            let image = blend_source(self.blend_percent, self.output_file.as_deref())?;
            let options = MapOptions {
                image: image.as_ref().map(|f| f as &dyn map::ImageBytes),
                blend_percent: self.blend_percent.unwrap_or(0),
            };
            let mut out = Stoppable {
                out: &mut self.out,
                stop: self.stop,
            };
            map::write_image_map(&mut out, &geometry, &states, &options)?;
            return out.flush();
        }
        let mut states = std::mem::take(&mut self.states);
        // Damage came in output order, repairs in the order they happened: sort, and where
        // a repaired range was later damaged again (or the reverse), keep the worst.
        states.sort_by_key(|s| (s.range.start, s.range.end));
        let states = disjoint(states);
        let len = report.output_len;
        let mut states = states;
        let max_pixels = self.max_image_pixels;
        let believable = |g: &Geometry| {
            let (w, h) = g.size();
            (w as u64).saturating_mul(h as u64) <= max_pixels || g.end() <= len
        };
        let geometry = self.geometry(report).filter(believable);
        let mut out = Stoppable {
            out: &mut self.out,
            stop: self.stop,
        };
        match geometry {
            Some(g) => {
                let end = match &g.frames {
                    // A stream: its last frame whole (the rest never arrived).
                    Some(_) => g.frame(g.frame_count(len) - 1).end(),
                    None => g.end(),
                };
                if end > len {
                    // The rest of the image never arrived.
                    states.push(StateRange {
                        range: len..end,
                        state: ByteState::Pending,
                    });
                }
                let image = blend_source(self.blend_percent, self.output_file.as_deref())?;
                let options = MapOptions {
                    image: image.as_ref().map(|f| f as &dyn map::ImageBytes),
                    blend_percent: self.blend_percent.unwrap_or(0),
                };
                // One map per frame, in order: a stream of PPMs, as a stream of images is.
                for k in 0..g.frame_count(len) {
                    map::write_image_map(&mut out, &g.frame(k), &states, &options)?;
                }
            }
            None => {
                let packet_len = report
                    .transfers
                    .first()
                    .and_then(|t| t.descriptor.as_ref())
                    .map_or(1024, |d| u64::from(d.payload_len));
                map::write_packet_map(&mut out, len, packet_len, &states, CELL_PX)?;
            }
        }
        out.flush()
    }
}

/// Sorted ranges made disjoint: where two overlap, the overlap takes the worse state.
fn disjoint(sorted: Vec<StateRange>) -> Vec<StateRange> {
    let mut out: Vec<StateRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if last.range.end > r.range.start => {
                // Overlap: split into before, overlap (worst), after.
                let last_end = last.range.end;
                let worst = last.state.worst(r.state);
                let (overlap_end, tail) = if r.range.end <= last_end {
                    (r.range.end, Some((r.range.end..last_end, last.state)))
                } else {
                    (last_end, Some((last_end..r.range.end, r.state)))
                };
                last.range.end = r.range.start;
                let keep_last = last.range.start < last.range.end;
                if !keep_last {
                    out.pop();
                }
                out.push(StateRange {
                    range: r.range.start..overlap_end,
                    state: worst,
                });
                if let Some((range, state)) = tail.filter(|(t, _)| t.start < t.end) {
                    out.push(StateRange { range, state });
                }
            }
            _ => out.push(r),
        }
    }
    out
}
