//! Outputs that know the data may be an image: concealment on the way to a stream, a
//! transfer held in memory for whole-image snapshots (and for a carousel to a stream),
//! and the pass that renders unknown bytes as concealed pixels or fill.
//!
//! The geometry comes from the user (`--image` for raw pixels) or from the head of the
//! data itself: the first bytes written are the PNM or BMP header (restored from a
//! descriptor where the first packets were lost). Data that is not an image passes
//! through unchanged, with a note ([`ImageOutput::note`]).

pub use super::output::HoldLimit;
use super::output::{Output, OutputResult};
use crate::conceal::{Concealer, Mode};
use crate::image::{self, Geometry};
use std::io::{self, Write};
use std::ops::Range;

/// Bytes of the head looked at to recognise an image header.
const HEAD_BYTES: usize = 1024;
/// Block size of a rendering pass.
const BLOCK: usize = 1 << 20;

/// What an image-aware output found out, for `-v`.
pub trait ImageOutput {
    /// Why concealment did not apply, or what it did.
    fn note(&self) -> Option<String>;

    /// Why concealment stopped before the end (the stream is not laid out as its head
    /// says): for a warning whether or not `-v` was given.
    fn warning(&self) -> Option<String> {
        None
    }
}

/// Where the geometry comes from, and how concealment takes lost pixels.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// From the head of the data (PNM, BMP or Y4M header).
    Head(Concealment),
    /// Given: raw pixels.
    Given(Geometry, Concealment),
}

impl ImageSource {
    pub fn concealment(&self) -> Concealment {
        match self {
            ImageSource::Head(c) | ImageSource::Given(_, c) => *c,
        }
    }
}

/// How lost pixels are concealed: where from ([`Mode`]), and within what memory (the
/// caps [`super::Limits::conceal_window_bytes`] and
/// [`super::Limits::conceal_prev_frame_bytes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concealment {
    pub mode: Mode,
    /// Rows held back, as bytes (at least 2 rows).
    pub window_bytes: usize,
    /// The longest frame kept as the previous frame (temporal modes).
    pub prev_frame_bytes: u64,
}

impl Concealment {
    /// Concealment by `mode` within `limits`' caps.
    pub fn new(mode: Mode, limits: &super::Limits) -> Self {
        Concealment {
            mode,
            window_bytes: limits.conceal_window_bytes,
            prev_frame_bytes: limits.conceal_prev_frame_bytes,
        }
    }
}

impl Default for Concealment {
    /// Spatial concealment within the default caps.
    fn default() -> Self {
        Concealment::new(Mode::Spatial, &super::Limits::default())
    }
}

/// A concealer for `geometry`, knowing the transfer's length when it is known.
fn concealer(geometry: Geometry, how: Concealment, len: Option<u64>) -> Box<Concealer> {
    let mut c = Box::new(
        Concealer::with_window_bytes(geometry, how.window_bytes)
            .with_mode(how.mode)
            .with_prev_frame_max(how.prev_frame_bytes),
    );
    if let Some(len) = len {
        c.expect_len(len);
    }
    c
}

/// Pass `len` bytes read by `read` through concealment (with a geometry) or fill over the
/// `unknown` ranges, to `emit`, block by block (frame 0 named in messages as frame
/// `origin.0`, `origin.1` bytes on). Returns the pixels concealed, and why
/// concealment stopped early if it did ([`Concealer::misfit`]).
#[allow(clippy::too_many_arguments)]
pub fn render(
    len: u64,
    unknown: &[Range<u64>],
    geometry: Option<(&Geometry, Concealment)>,
    origin: (u64, u64),
    fill: &[u8],
    read: &mut dyn FnMut(u64, &mut [u8]) -> io::Result<()>,
    emit: &mut dyn FnMut(u64, &[u8]) -> io::Result<()>,
) -> io::Result<(u64, Option<String>)> {
    let mut concealer = geometry.map(|(g, how)| {
        let c = concealer(g.clone(), how, Some(len));
        Box::new((*c).numbered_from(origin.0, origin.1))
    });
    let geometry = geometry.map(|(g, _)| g);
    let mut buf = vec![0u8; BLOCK];
    let (mut at, mut out_at) = (0u64, 0u64);
    let origin = geometry
        .and_then(|g| g.grids.first())
        .map_or(0, |g| g.offset);
    while at < len {
        let n = ((len - at) as usize).min(BLOCK);
        let block = &mut buf[..n];
        read(at, block)?;
        match &mut concealer {
            Some(c) => {
                c.push(block, unknown);
                let ready = c.ready();
                emit(out_at, ready)?;
                out_at += ready.len() as u64;
            }
            None => {
                fill_unknown(block, at, unknown, fill, origin);
                emit(at, block)?;
            }
        }
        at += n as u64;
    }
    if let Some(c) = &mut concealer {
        c.finish();
        let ready = c.ready();
        emit(out_at, ready)?;
        return Ok((c.concealed_pixels(), c.misfit().map(str::to_string)));
    }
    Ok((0, None))
}

/// Overwrite the unknown bytes of `block` (at transfer offset `at`) with the pattern.
fn fill_unknown(block: &mut [u8], at: u64, unknown: &[Range<u64>], fill: &[u8], origin: u64) {
    let end = at + block.len() as u64;
    let n = fill.len() as u64;
    let first = unknown.partition_point(|r| r.end <= at);
    for r in unknown[first..].iter().take_while(|r| r.start < end) {
        for o in r.start.max(at)..r.end.min(end) {
            block[(o - at) as usize] = fill[((o + n - origin % n) % n) as usize];
        }
    }
}

/// Conceals on the way to a stream: lost bytes (written as fill) are concealed once the
/// rows below them have come. Bounded: [`Concealer`]'s window.
pub struct ConcealingStream<O: Output> {
    inner: O,
    state: State,
    /// Bytes taken (the stream's end).
    taken: u64,
    /// Bytes handed to `inner`.
    given: u64,
    note: Option<String>,
    mode: Concealment,
    /// The transfer's length, once known.
    len: Option<u64>,
}

enum State {
    /// Waiting for enough of the head to recognise an image.
    Sniffing(Vec<u8>, Vec<Range<u64>>),
    Concealing(Box<Concealer>),
    PassThrough,
}

impl<O: Output> ConcealingStream<O> {
    pub fn new(inner: O, source: ImageSource) -> Self {
        let mode = source.concealment();
        let state = match source {
            ImageSource::Head(_) => State::Sniffing(Vec::new(), Vec::new()),
            ImageSource::Given(g, _) => State::Concealing(concealer(g, mode, None)),
        };
        ConcealingStream {
            inner,
            state,
            taken: 0,
            given: 0,
            note: None,
            mode,
            len: None,
        }
    }

    fn take(&mut self, data: &[u8], unknown: Option<Range<u64>>) -> OutputResult<()> {
        let at = self.taken;
        self.taken += data.len() as u64;
        match &mut self.state {
            State::Sniffing(head, holes) => {
                head.extend_from_slice(data);
                holes.extend(unknown);
                if head.len() >= HEAD_BYTES {
                    self.decide()?;
                }
                Ok(())
            }
            State::Concealing(c) => {
                let holes: &[Range<u64>] = match &unknown {
                    Some(r) => std::slice::from_ref(r),
                    None => &[],
                };
                c.push(data, holes);
                let ready = c.ready();
                self.inner.write_at(self.given, ready)?;
                self.given += ready.len() as u64;
                Ok(())
            }
            State::PassThrough => {
                self.inner.write_at(at, data)?;
                self.given = self.taken;
                Ok(())
            }
        }
    }

    /// Recognise the image from the head gathered so far, and go on accordingly.
    fn decide(&mut self) -> OutputResult<()> {
        if !matches!(self.state, State::Sniffing(..)) {
            return Ok(());
        }
        let State::Sniffing(head, holes) = std::mem::replace(&mut self.state, State::PassThrough)
        else {
            unreachable!("checked above");
        };
        match image::from_head(&head) {
            Ok(g) => {
                self.note = Some(format!("concealing {}", g.description));
                let mut c = concealer(g, self.mode, self.len);
                c.push(&head, &holes);
                let ready = c.ready();
                self.inner.write_at(0, ready)?;
                self.given = ready.len() as u64;
                self.state = State::Concealing(c);
            }
            Err(e) => {
                self.note = Some(format!("not concealed: {e}"));
                self.inner.write_at(0, &head)?;
                self.given = head.len() as u64;
            }
        }
        Ok(())
    }
}

impl<O: Output> ImageOutput for ConcealingStream<O> {
    fn warning(&self) -> Option<String> {
        match &self.state {
            State::Concealing(c) => c.misfit().map(str::to_string),
            _ => None,
        }
    }

    fn note(&self) -> Option<String> {
        let concealed = match &self.state {
            State::Concealing(c) => Some(c.concealed_pixels()),
            _ => None,
        };
        match (&self.note, concealed) {
            (Some(n), Some(px)) => Some(format!("{n}: {px} pixels concealed")),
            (n, _) => n.clone(),
        }
    }
}

impl<O: Output> Output for ConcealingStream<O> {
    fn write_at(&mut self, at: u64, data: &[u8]) -> OutputResult<()> {
        debug_assert_eq!(at, self.taken, "a stream is written in order");
        self.take(data, None)
    }

    fn write_fill(&mut self, at: u64, data: &[u8]) -> OutputResult<()> {
        self.take(data, Some(at..at + data.len() as u64))
    }

    fn can_write_at(&self, at: u64) -> bool {
        at == self.taken
    }

    fn set_len_hint(&mut self, len: u64) -> OutputResult<()> {
        self.len = Some(self.len.map_or(len, |l| l.max(len)));
        if let State::Concealing(c) = &mut self.state {
            c.expect_len(len);
        }
        self.inner.set_len_hint(len)
    }

    fn flush(&mut self) -> OutputResult<()> {
        self.inner.flush()
    }

    fn finish(&mut self, unknown: &[Range<u64>]) -> OutputResult<()> {
        self.decide()?;
        if let State::Concealing(c) = &mut self.state {
            c.finish();
            let ready = c.ready();
            self.inner.write_at(self.given, ready)?;
            self.given += ready.len() as u64;
        }
        self.inner.finish(unknown)
    }
}

/// The transfer held in memory, written out whole: at each snapshot and at the end. For
/// `--every` (a stream of whole images), for concealment to a stream of data that
/// arrives in any order (an interleaved sender), and for a carousel to a stream (later
/// passes fill in what earlier ones lost). Memory: the transfer's length, at most `cap`.
pub struct HeldOutput<W: Write> {
    inner: W,
    bytes: Vec<u8>,
    cap: u64,
    fill: Vec<u8>,
    /// Where the geometry comes from (`None`: not an image), and whether to conceal.
    source: Option<ImageSource>,
    conceal: bool,
    /// Write a snapshot at each `snapshot` call (else only at the end).
    snapshots: bool,
    note: Option<String>,
    warning: Option<String>,
    /// The end of the furthest bytes written: the frame being received ends there.
    furthest: u64,
    /// A frame stream's stream header (Y4M's) has been written.
    stream_header_written: bool,
    /// More than one transfer was received (told at the end, [`Output::transfers`]):
    /// the held bytes are not one stream of frames.
    several_transfers: bool,
}

impl<W: Write> HeldOutput<W> {
    pub fn new(
        inner: W,
        cap: u64,
        fill: Vec<u8>,
        source: Option<ImageSource>,
        conceal: bool,
        snapshots: bool,
    ) -> Self {
        HeldOutput {
            inner,
            bytes: Vec::new(),
            cap,
            fill,
            source,
            conceal,
            snapshots,
            note: None,
            warning: None,
            furthest: 0,
            stream_header_written: false,
            several_transfers: false,
        }
    }

    fn grow(&mut self, len: u64) -> OutputResult<()> {
        if len > self.cap {
            return Err(HoldLimit {
                needed: len,
                cap: self.cap,
            }
            .into());
        }
        if len > self.bytes.len() as u64 {
            self.bytes.resize(len as usize, 0);
        }
        Ok(())
    }

    /// Write the whole transfer as it stands, unknown bytes concealed or filled. In a
    /// snapshot (`tail_as_fill`), what has not arrived after the last byte received is
    /// shown as fill, not extended from above: an extension would change with every row
    /// that lands, and a snapshot must only get better.
    fn write_whole(&mut self, unknown: &[Range<u64>], tail_as_fill: bool) -> OutputResult<()> {
        let mode = self
            .source
            .as_ref()
            .map_or(Concealment::default(), |s| s.concealment());
        let geometry = match &self.source {
            Some(ImageSource::Given(g, _)) => Some(g.clone()),
            Some(ImageSource::Head(_)) => {
                let head = &self.bytes[..self.bytes.len().min(HEAD_BYTES)];
                match image::from_head(head) {
                    Ok(g) => Some(g),
                    Err(e) => {
                        if self.conceal {
                            self.note = Some(format!("not concealed: {e}"));
                        }
                        None
                    }
                }
            }
            None => None,
        };
        let mut geometry = geometry;
        if let Some(g) = geometry.as_mut() {
            if g.frames
                .as_ref()
                .is_some_and(|f| self.frames_end(f, unknown))
            {
                // Not a frame stream: an image and the next transfer after it (or other
                // data), written whole as any output is. Only the first image is one.
                g.frames = None;
            }
        }
        if let Some(g) = geometry.as_ref().filter(|g| g.frames.is_some()) {
            return self.write_frame(g, mode, unknown, tail_as_fill);
        }
        let geometry = geometry.filter(|_| self.conceal);
        let bytes = &self.bytes;
        let len = bytes.len() as u64;
        let tail = match unknown.last() {
            Some(r) if tail_as_fill && geometry.is_some() && r.end >= len => r.start.min(len),
            _ => len,
        };
        let inner = &mut self.inner;
        let (concealed, misfit) = render(
            tail,
            unknown,
            geometry.as_ref().map(|g| (g, mode)),
            (0, 0),
            &self.fill,
            &mut |at, block| {
                block.copy_from_slice(&bytes[at as usize..at as usize + block.len()]);
                Ok(())
            },
            &mut |_, data| inner.write_all(data),
        )?;
        if misfit.is_some() {
            self.warning = misfit;
        }
        // The tail not yet arrived, as fill.
        let origin = geometry
            .as_ref()
            .and_then(|g| g.grids.first())
            .map_or(0, |g| g.offset);
        let mut block = vec![0u8; BLOCK.min((len - tail) as usize)];
        let mut at = tail;
        while at < len {
            let n = ((len - at) as usize).min(block.len());
            let all = at..at + n as u64;
            fill_unknown(
                &mut block[..n],
                at,
                std::slice::from_ref(&all),
                &self.fill,
                origin,
            );
            inner.write_all(&block[..n])?;
            at += n as u64;
        }
        if let Some(g) = &geometry {
            self.note = Some(format!(
                "concealing {}: {concealed} pixels concealed",
                g.description
            ));
        }
        Ok(self.inner.flush()?)
    }
}

impl<W: Write> HeldOutput<W> {
    /// Does what follows the first frame show the data is not a stream of these frames:
    /// a later frame's header received intact (outside `unknown`) and different (the next
    /// transfer, concatenated after a single image)? Frames without a header (raw
    /// frames of a given geometry) always go on, and so does Y4M, a stream by its own
    /// header: a frame header out of place there is the concealer's to name (a misfit).
    /// More than one transfer held (known at the end) is never one stream of frames.
    fn frames_end(&self, f: &image::Frames, unknown: &[Range<u64>]) -> bool {
        let (len, hl) = (self.bytes.len() as u64, f.header.len() as u64);
        if self.several_transfers {
            return true;
        }
        if hl == 0 || f.video {
            return false;
        }
        let mut k = 1;
        while let Some(end) = f.start(k).checked_add(hl).filter(|&e| e <= len) {
            let start = f.start(k);
            let next = unknown.partition_point(|r| r.end <= start);
            let known = unknown.get(next).is_none_or(|r| end <= r.start);
            if known && self.bytes[start as usize..end as usize] != f.header[..] {
                return true;
            }
            k += 1;
        }
        false
    }

    /// Of a frame stream, write the frame being received (the one the furthest bytes
    /// written lie in; at the end, the last frame), whole: the stream header before the
    /// first one written (Y4M's), so the snapshots make a stream of frames a player
    /// reads. Concealed with the frame before it, as a stream of these two frames.
    fn write_frame(
        &mut self,
        g: &Geometry,
        mode: Concealment,
        unknown: &[Range<u64>],
        tail_as_fill: bool,
    ) -> OutputResult<()> {
        let Some(f) = g.frames.clone() else {
            return Ok(());
        };
        let len = self.bytes.len() as u64;
        let last = g.frame_count(len) - 1;
        let k = match tail_as_fill {
            true => f
                .index(self.furthest.saturating_sub(1))
                .unwrap_or(0)
                .min(last),
            false => last,
        };
        // Frames j..=k, after the stream header, make a stream of their own (same
        // geometry): virtual offset x is transfer offset x + shift past the header.
        let conceal = self.conceal;
        let j = match conceal && mode.mode != Mode::Spatial {
            true => k.saturating_sub(1),
            false => k,
        };
        let shift = j * f.period;
        let vlen = f.start(k - j + 1);
        // What arrived after the last byte received is fill in a snapshot.
        let tail = match unknown.last() {
            Some(r) if tail_as_fill && r.end >= len => r.start.min(len),
            _ => len,
        };
        let vtail = if tail <= f.first {
            tail
        } else {
            (tail - shift).clamp(f.first, vlen)
        };
        let mut holes = Vec::new();
        for r in unknown {
            for (from, to) in [(0, f.first), (f.start(j), f.start(k + 1))] {
                let (s, e) = (r.start.max(from), r.end.min(to));
                if s < e {
                    let v = if from == 0 {
                        s..e
                    } else {
                        s - shift..e - shift
                    };
                    holes.push(v);
                }
            }
        }
        // Past the data's end (a frame cut short): unknown.
        let data_end = if len <= f.first {
            len
        } else {
            len - shift.min(len - f.first)
        };
        if data_end < vlen {
            holes.push(data_end..vlen);
        }
        holes.sort_by_key(|r| r.start);
        let wanted = [
            0..if self.stream_header_written {
                0
            } else {
                f.first
            },
            f.start(k - j)..vlen,
        ];
        let bytes = &self.bytes;
        let inner = &mut self.inner;
        let mut emit = |at: u64, data: &[u8]| -> io::Result<()> {
            for w in &wanted {
                let (s, e) = (w.start.max(at), w.end.min(at + data.len() as u64));
                if s < e {
                    inner.write_all(&data[(s - at) as usize..(e - at) as usize])?;
                }
            }
            Ok(())
        };
        let (concealed, misfit) = render(
            vtail,
            &holes,
            conceal.then_some((g, mode)),
            (j, shift),
            &self.fill,
            &mut |at, block| {
                // The stream header as it is, the frames `shift` bytes on; zeros past
                // the data.
                block.fill(0);
                let end = at + block.len() as u64;
                for (from, to, by) in [(0, f.first, 0), (f.first, end, shift)] {
                    let (s, e) = (at.max(from), end.min(to));
                    let (rs, re) = ((s + by).min(len), (e + by).min(len));
                    if rs < re {
                        let o = (s - at) as usize;
                        block[o..o + (re - rs) as usize]
                            .copy_from_slice(&bytes[rs as usize..re as usize]);
                    }
                }
                Ok(())
            },
            &mut |at, data| emit(at, data),
        )?;
        if misfit.is_some() {
            self.warning = misfit;
        }
        // The tail not yet arrived, as fill.
        let origin = g.grids.first().map_or(0, |g| g.offset);
        let mut block = vec![0u8; BLOCK.min((vlen - vtail) as usize)];
        let mut at = vtail;
        while at < vlen {
            let n = ((vlen - at) as usize).min(block.len());
            let all = at..at + n as u64;
            fill_unknown(
                &mut block[..n],
                at,
                std::slice::from_ref(&all),
                &self.fill,
                origin,
            );
            emit(at, &block[..n])?;
            at += n as u64;
        }
        self.stream_header_written = true;
        if conceal {
            self.note = Some(format!(
                "concealing {}: {concealed} pixels concealed",
                g.description
            ));
        }
        Ok(self.inner.flush()?)
    }
}

impl<W: Write> ImageOutput for HeldOutput<W> {
    fn note(&self) -> Option<String> {
        self.note.clone()
    }

    fn warning(&self) -> Option<String> {
        self.warning.clone()
    }
}

impl<W: Write> Output for HeldOutput<W> {
    fn transfers(&mut self, spans: &[Range<u64>]) {
        self.several_transfers = spans.len() > 1;
    }
    fn write_at(&mut self, at: u64, data: &[u8]) -> OutputResult<()> {
        self.grow(at + data.len() as u64)?;
        self.bytes[at as usize..at as usize + data.len()].copy_from_slice(data);
        if !data.is_empty() {
            self.furthest = self.furthest.max(at + data.len() as u64);
        }
        Ok(())
    }

    fn seekable(&self) -> bool {
        true
    }

    fn flush(&mut self) -> OutputResult<()> {
        Ok(())
    }

    fn set_len_hint(&mut self, len: u64) -> OutputResult<()> {
        self.grow(len)
    }

    fn set_len(&mut self, len: u64) -> OutputResult<()> {
        self.grow(len)?;
        self.bytes.truncate(len as usize);
        Ok(())
    }

    fn holes_read_as_zeros(&self) -> bool {
        // Fresh memory is zeros; a snapshot renders unknown bytes itself.
        true
    }

    fn snapshot(&mut self, unknown: &[Range<u64>]) -> OutputResult<()> {
        if self.snapshots {
            self.write_whole(unknown, true)?;
        }
        Ok(())
    }

    fn finish(&mut self, unknown: &[Range<u64>]) -> OutputResult<()> {
        self.write_whole(unknown, false)
    }
}
