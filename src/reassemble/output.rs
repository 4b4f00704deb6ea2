//! Where reassembled bytes go: a stream that only grows at its end (a pipe), or a file that
//! takes writes at any offset, so late packets still land and a viewer can watch it fill.
//!
//! Both gather small writes into one large buffer; the file gathers only contiguous runs and
//! writes each with `pwrite`, so the usual in-order case costs one system call per megabyte.

use super::image_output::{render, ImageOutput, ImageSource};
use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::ops::Range;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;

pub use crate::io::LentInput;

/// Why an output could not take what it was given: its file or stream failed, or holding
/// the transfer would pass the memory cap. Typed, so the caller tells the two apart
/// without looking inside an [`io::Error`].
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    HoldLimit(#[from] HoldLimit),
    /// The driver was asked to stop while fill was being written, and the fill it still
    /// owes is written (see [`super::StopOnRequest`]).
    #[error("stopped")]
    Stopped,
}

/// A held transfer would exceed the memory cap ([`super::Limits::hold_bytes`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("holding the transfer in memory needs {needed} bytes, more than the limit of {cap}")]
pub struct HoldLimit {
    pub needed: u64,
    pub cap: u64,
}

/// What an [`Output`] method returns.
pub type OutputResult<T> = Result<T, OutputError>;

/// A destination for reassembled bytes, addressed by absolute output offset.
///
/// A method added here is forwarded by [`super::StopOnRequest`] too: it wraps every
/// output a reception writes to.
pub trait Output {
    /// Write `data` at output offset `at`. A sequential output only accepts `at` equal to
    /// the number of bytes written so far.
    fn write_at(&mut self, at: u64, data: &[u8]) -> OutputResult<()>;
    /// Like `write_at`, for `data` that lies at `pos` in the input last given to
    /// [`Output::lend`]: the output may keep the position instead of copying the bytes.
    fn write_lent(&mut self, at: u64, data: &[u8], _pos: usize) -> OutputResult<()> {
        self.write_at(at, data)
    }
    /// Write fill over bytes that were lost: the same as `write_at`, but an output that
    /// treats unknown bytes specially (concealment) learns which they are.
    fn write_fill(&mut self, at: u64, data: &[u8]) -> OutputResult<()> {
        self.write_at(at, data)
    }
    /// The input ended and held these transfers, one after another (output ranges,
    /// sorted): called just before [`Output::finish`]. An output that rebuilds each
    /// transfer on its own (an indexed JPEG) learns where they lie.
    fn transfers(&mut self, _spans: &[Range<u64>]) {}
    /// The input ended: `unknown` lists the byte ranges still lost (sorted, disjoint).
    /// Write out everything (an output that conceals or holds does its work here).
    fn finish(&mut self, _unknown: &[Range<u64>]) -> OutputResult<()> {
        self.flush()
    }
    /// A whole-transfer snapshot is due: `unknown` lists the bytes not (yet) received
    /// intact. Only an output that holds the transfer can write one.
    fn snapshot(&mut self, _unknown: &[Range<u64>]) -> OutputResult<()> {
        Ok(())
    }
    /// From now on keep what is written in memory instead of streaming it, so that later
    /// writes may go back (a carousel's later passes fill in what earlier ones lost); it
    /// is written out at `finish`. Returns false when the output cannot (or need not).
    fn hold(&mut self) -> bool {
        false
    }
    /// The input buffer that payloads handed to `write_lent` lie in, until the next
    /// `lend`; `None` takes it back (after a flush).
    fn lend(&mut self, _input: Option<LentInput>) {}
    /// The earliest place in the lent input that what is gathered for writing refers to.
    fn oldest_lent(&self) -> Option<usize> {
        None
    }
    /// True when a write at `at` is possible now: anywhere in a seekable output (a file),
    /// only at the end of a stream.
    fn can_write_at(&self, _at: u64) -> bool {
        self.seekable()
    }
    /// True when writes may go back to any offset, so a range settled as lost stays
    /// repairable until the end (a file; not a stream).
    fn seekable(&self) -> bool {
        false
    }
    /// Write out everything gathered (and drop references to the lent input).
    fn flush(&mut self) -> OutputResult<()>;
    /// The whole output is at least `len` bytes long, as far as is known now (lets a file
    /// be sized at once, so a viewer sees its final size); streams ignore it.
    fn set_len_hint(&mut self, _len: u64) -> OutputResult<()> {
        Ok(())
    }
    /// The whole output is `len` bytes long: grow to it, or shrink when a length claimed
    /// earlier (by a descriptor) was wrong. Streams ignore it.
    fn set_len(&mut self, len: u64) -> OutputResult<()> {
        self.set_len_hint(len)
    }
    /// True when bytes never written read as zeros once the output is long enough (a file
    /// created empty), so zero fill need not be written.
    fn holes_read_as_zeros(&self) -> bool {
        false
    }
    /// Read back `buf.len()` bytes at `at` (what an earlier reception left, when resuming).
    /// Returns false when the output cannot be read.
    fn read_at(&mut self, _at: u64, _buf: &mut [u8]) -> OutputResult<bool> {
        Ok(false)
    }
    /// A write to the output failed: the first such error. From then on nothing is
    /// written; each write is only remembered as unwritten (see
    /// [`Output::take_unwritten`]), so the reception can end with a report that says those
    /// bytes were lost. Out of room ([`Output::out_of_room`]) what was written before
    /// stands and the reception can be resumed once there is room; after any other error
    /// (EIO) what the file holds cannot be trusted.
    fn write_failed(&self) -> Option<&io::Error> {
        None
    }
    /// The output ran out of room (a full disk, a quota, a file size limit): the first
    /// write error, when it is one of these (see [`Output::write_failed`]).
    fn out_of_room(&self) -> Option<&io::Error> {
        self.write_failed().filter(|e| is_out_of_room(e))
    }
    /// The output ranges that were to be written after the output ran out of room, sorted
    /// and disjoint (possibly coarser than what was written: never finer).
    fn take_unwritten(&mut self) -> Vec<Range<u64>> {
        Vec::new()
    }
}

/// How much to gather before writing.
const GATHER_LEN: usize = 1 << 20;
/// Pieces per vectored write: Linux's IOV_MAX.
const MAX_PIECES: usize = crate::io::IOV_MAX;

/// A gathered piece of a stream's output: a range of the lent input, or of `copied`.
#[derive(Clone)]
enum Piece {
    Lent(Range<usize>),
    Copied(Range<usize>),
}

/// An output that only grows at its end: stdout, a pipe.
///
/// Payloads delivered in order straight from the lent input are not copied: the output
/// keeps their ranges and writes them with one `writev` per megabyte. Payloads from
/// elsewhere (the reorder window, fill) are copied into `copied`.
pub struct StreamOutput<W: Write> {
    inner: W,
    lent: Option<LentInput>,
    pieces: Vec<Piece>,
    pending: usize,
    copied: Vec<u8>,
    written: u64,
    /// After [`Output::hold`]: the bytes from `written` on, kept until `finish` (in
    /// memory up to `spill_after`, beyond in a temporary file).
    held: Option<super::spill::Spill>,
    hold_limit: u64,
    spill_after: usize,
    /// The descriptor `inner` writes to, when the kernel may copy a spilled hold to it.
    kernel: Option<OwnedFd>,
}

/// The default limit of a held stream: 1 GiB.
pub const DEFAULT_HOLD_LIMIT: u64 = 1 << 30;

impl<W: Write> StreamOutput<W> {
    pub fn new(inner: W) -> Self {
        StreamOutput {
            inner,
            lent: None,
            pieces: Vec::with_capacity(MAX_PIECES),
            pending: 0,
            copied: Vec::with_capacity(GATHER_LEN),
            written: 0,
            held: None,
            hold_limit: DEFAULT_HOLD_LIMIT,
            spill_after: super::spill::SPILL_AFTER,
            kernel: None,
        }
    }

    /// A held transfer that spilled to a temporary file is copied at the end inside the
    /// kernel to `fd` (a duplicate of the descriptor `inner` writes to, so its position
    /// is shared), not read back through memory. Not for a descriptor whose writes are
    /// messages (a packet socket: the kernel's copy does not bound them).
    pub fn with_kernel_copy(self, fd: Option<OwnedFd>) -> Self {
        StreamOutput { kernel: fd, ..self }
    }

    /// Hold at most `limit` bytes when asked to hold (see [`Output::hold`]).
    pub fn with_hold_limit(self, limit: u64) -> Self {
        StreamOutput {
            hold_limit: limit,
            ..self
        }
    }

    /// Hold at most [`super::Limits::hold_bytes`] when asked to hold, of which
    /// [`super::Limits::spill_after_bytes`] in memory.
    pub fn with_limits(self, limits: &super::Limits) -> Self {
        StreamOutput {
            hold_limit: limits.hold_bytes,
            spill_after: limits.spill_after_bytes,
            ..self
        }
    }

    /// Make the held part at least `len` bytes of output long.
    fn grow_held(&mut self, len: u64) -> OutputResult<()> {
        let (start, limit) = (self.written, self.hold_limit);
        let Some(held) = &mut self.held else {
            return Ok(());
        };
        let needed = len.saturating_sub(start);
        if needed > limit {
            return Err(HoldLimit { needed, cap: limit }.into());
        }
        if needed > held.len() {
            held.set_len(needed)?;
        }
        Ok(())
    }

    fn write_held(&mut self, at: u64, data: &[u8]) -> OutputResult<()> {
        self.grow_held(at + data.len() as u64)?;
        let from = at - self.written;
        let held = self.held.as_mut().expect("called only while holding");
        Ok(held.write_at(from, data)?)
    }

    fn add_piece(&mut self, piece: Piece, len: usize) -> OutputResult<()> {
        self.pieces.push(piece);
        self.pending += len;
        if self.pieces.len() >= MAX_PIECES || self.pending >= GATHER_LEN {
            self.write_pieces()?;
        }
        Ok(())
    }

    fn write_pieces(&mut self) -> OutputResult<()> {
        let lent: &[u8] = self.lent.as_deref().map_or(&[], |l| (*l).as_ref());
        let mut slices: Vec<IoSlice> = self
            .pieces
            .iter()
            .map(|p| match p {
                Piece::Lent(r) => IoSlice::new(&lent[r.clone()]),
                Piece::Copied(r) => IoSlice::new(&self.copied[r.clone()]),
            })
            .collect();
        crate::io::write_all_vectored(&mut self.inner, &mut slices)?;
        self.pieces.clear();
        self.copied.clear();
        self.pending = 0;
        Ok(())
    }
}

impl<W: Write> Output for StreamOutput<W> {
    fn write_at(&mut self, at: u64, data: &[u8]) -> OutputResult<()> {
        if self.held.is_some() {
            return self.write_held(at, data);
        }
        debug_assert_eq!(at, self.written, "a stream is written in order");
        self.written += data.len() as u64;
        if self.copied.len() + data.len() > self.copied.capacity() {
            self.write_pieces()?;
            if data.len() > self.copied.capacity() {
                return Ok(self.inner.write_all(data)?);
            }
        }
        let start = self.copied.len();
        self.copied.extend_from_slice(data);
        self.add_piece(Piece::Copied(start..start + data.len()), data.len())
    }

    fn write_lent(&mut self, at: u64, data: &[u8], pos: usize) -> OutputResult<()> {
        if self.held.is_some() {
            return self.write_held(at, data);
        }
        let range = pos..pos + data.len();
        // Where the caller says it lies: same length, same place (its bytes are checked in
        // debug builds; comparing them always would read every payload twice).
        let lent_len = self.lent.as_deref().map(|l| (*l).as_ref().len());
        if lent_len.is_none_or(|len| range.end > len) {
            return self.write_at(at, data);
        }
        debug_assert!(
            self.lent
                .as_deref()
                .is_some_and(|l| (*l).as_ref().get(range.clone()) == Some(data)),
            "a lent payload lies where its caller says"
        );
        debug_assert_eq!(at, self.written, "a stream is written in order");
        self.written += data.len() as u64;
        self.add_piece(Piece::Lent(range), data.len())
    }

    fn lend(&mut self, input: Option<LentInput>) {
        // The driver flushes before the input changes; pieces still here are left by a
        // flush that failed (the output is broken), and cannot be written anyway.
        if self.pieces.iter().any(|p| matches!(p, Piece::Lent(_))) {
            self.pieces.clear();
            self.copied.clear();
            self.pending = 0;
        }
        self.lent = input;
    }

    fn oldest_lent(&self) -> Option<usize> {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Lent(r) => Some(r.start),
                Piece::Copied(_) => None,
            })
            .min()
    }

    fn can_write_at(&self, at: u64) -> bool {
        match self.held {
            Some(_) => at >= self.written,
            None => at == self.written,
        }
    }

    fn seekable(&self) -> bool {
        self.held.is_some()
    }

    fn holes_read_as_zeros(&self) -> bool {
        self.held.is_some()
    }

    fn set_len_hint(&mut self, len: u64) -> OutputResult<()> {
        self.grow_held(len)
    }

    fn set_len(&mut self, len: u64) -> OutputResult<()> {
        self.grow_held(len)?;
        let start = self.written;
        if let Some(held) = &mut self.held {
            held.set_len(len.saturating_sub(start).min(held.len()))?;
        }
        Ok(())
    }

    fn hold(&mut self) -> bool {
        if self.held.is_none() {
            if self.write_pieces().is_err() {
                return false;
            }
            self.held = Some(super::spill::Spill::new(self.spill_after));
        }
        true
    }

    fn flush(&mut self) -> OutputResult<()> {
        if !self.pieces.is_empty() {
            self.write_pieces()?;
        }
        Ok(self.inner.flush()?)
    }

    fn finish(&mut self, _unknown: &[Range<u64>]) -> OutputResult<()> {
        self.flush()?;
        if let Some(mut held) = self.held.take() {
            held.write_to(&mut self.inner, self.kernel.as_ref().map(|fd| fd.as_fd()))?;
            self.written += held.len();
        }
        Ok(self.inner.flush()?)
    }
}

/// A regular file written at any offset.
pub struct FileOutput {
    file: File,
    /// Bytes gathered for one contiguous write starting at `buf_at`.
    buf: Vec<u8>,
    buf_at: u64,
    len: u64,
    /// Conceal lost pixels in a pass over the file at the end (the file must be open for
    /// reading too).
    conceal: Option<ImageSource>,
    note: Option<String>,
    warning: Option<String>,
    /// Created (or truncated) empty: bytes never written read as zeros.
    fresh: bool,
    /// The first write error (see [`Output::write_failed`]).
    failed: Option<io::Error>,
    /// What was not written since, unsorted (see [`Unwritten`]).
    unwritten: Unwritten,
}

/// True for the errors that say there is no room for more bytes: a full file system
/// (ENOSPC), a quota (EDQUOT), a file size limit (EFBIG). Freeing room lets a resume go on.
pub(super) fn is_out_of_room(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG)
    )
}

/// Output ranges left unwritten, bounded: past [`Unwritten::MAX`] ranges they merge into
/// the span that covers them all (coarser, never finer: a byte written counted unwritten
/// is only fetched again by a resume).
#[derive(Default)]
struct Unwritten(Vec<Range<u64>>);

impl Unwritten {
    const MAX: usize = 4096;

    fn add(&mut self, r: Range<u64>) {
        if r.is_empty() {
            return;
        }
        match self.0.last_mut() {
            Some(last) if last.start <= r.end && r.start <= last.end => {
                *last = last.start.min(r.start)..last.end.max(r.end);
            }
            _ => self.0.push(r),
        }
        if self.0.len() > Self::MAX {
            self.merge();
            if self.0.len() > Self::MAX / 2 {
                let span = self.0[0].start..self.0[self.0.len() - 1].end;
                self.0 = vec![span];
            }
        }
    }

    /// Sorted, overlapping and adjacent ranges joined.
    fn merge(&mut self) {
        self.0.sort_by_key(|r| r.start);
        let mut out: Vec<Range<u64>> = Vec::with_capacity(self.0.len());
        for r in self.0.drain(..) {
            match out.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => out.push(r),
            }
        }
        self.0 = out;
    }

    fn take(&mut self) -> Vec<Range<u64>> {
        self.merge();
        std::mem::take(&mut self.0)
    }
}

impl FileOutput {
    pub fn new(file: File) -> Self {
        FileOutput {
            file,
            buf: Vec::with_capacity(GATHER_LEN),
            buf_at: 0,
            len: 0,
            conceal: None,
            note: None,
            warning: None,
            fresh: true,
            failed: None,
            unwritten: Unwritten::default(),
        }
    }

    /// A file that already holds part of the transfer (resuming an earlier reception):
    /// nothing in it reads as zeros unless written so.
    pub fn existing(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(FileOutput {
            len,
            fresh: false,
            ..FileOutput::new(file)
        })
    }

    /// The file's descriptor (a test replaces it to make writes fail).
    #[cfg(test)]
    pub fn file_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// Conceal the lost pixels at the end, the image's geometry taken from `source`.
    pub fn concealing(self, source: ImageSource) -> Self {
        FileOutput {
            conceal: Some(source),
            ..self
        }
    }

    /// The pass over the holes: read the file, conceal, write back what changed.
    fn conceal_holes(&mut self, source: &ImageSource, unknown: &[Range<u64>]) -> OutputResult<()> {
        let geometry = match source {
            ImageSource::Given(g, _) => g.clone(),
            ImageSource::Head(_) => {
                let mut head = vec![0; 1024.min(self.len as usize)];
                self.file.read_exact_at(&mut head, 0)?;
                match crate::image::from_head(&head) {
                    Ok(g) => g,
                    Err(e) => {
                        self.note = Some(format!("not concealed: {e}"));
                        return Ok(());
                    }
                }
            }
        };
        let file = &self.file;
        let len = self.len.min(geometry.conceal_end());
        let (concealed, misfit) = render(
            len,
            unknown,
            Some((&geometry, source.concealment())),
            (0, 0),
            &[0],
            &mut |at, block| file.read_exact_at(block, at),
            &mut |at, data| file.write_all_at(data, at),
        )?;
        self.warning = misfit;
        self.note = Some(format!(
            "concealing {}: {concealed} pixels concealed",
            geometry.description
        ));
        Ok(())
    }

    fn write_buffered(&mut self) -> OutputResult<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let end = self.buf_at + self.buf.len() as u64;
        if self.failed.is_some() {
            self.unwritten.add(self.buf_at..end);
        } else if let Err(e) = self.file.write_all_at(&self.buf, self.buf_at) {
            // Part of it may be there: all of it counts as unwritten.
            self.unwritten.add(self.buf_at..end);
            self.failed = Some(e);
        }
        self.buf_at = end;
        self.buf.clear();
        Ok(())
    }

    /// Set the file's length; a failure is the output's first write error (see
    /// [`Output::write_failed`]), unless one came before.
    fn resize(&mut self, len: u64) -> OutputResult<()> {
        if let Err(e) = self.file.set_len(len) {
            self.failed.get_or_insert(e);
        }
        Ok(())
    }
}

impl Output for FileOutput {
    fn write_at(&mut self, at: u64, data: &[u8]) -> OutputResult<()> {
        let contiguous = at == self.buf_at + self.buf.len() as u64;
        if !contiguous || self.buf.len() + data.len() > GATHER_LEN {
            self.write_buffered()?;
            self.buf_at = at;
        }
        self.buf.extend_from_slice(data);
        self.len = self.len.max(at + data.len() as u64);
        Ok(())
    }

    fn seekable(&self) -> bool {
        true
    }

    fn flush(&mut self) -> OutputResult<()> {
        self.write_buffered()
    }

    fn finish(&mut self, unknown: &[Range<u64>]) -> OutputResult<()> {
        self.write_buffered()?;
        match self.conceal.take() {
            Some(source) if !unknown.is_empty() && self.failed.is_none() => {
                self.conceal_holes(&source, unknown)
            }
            _ => Ok(()),
        }
    }

    fn set_len(&mut self, len: u64) -> OutputResult<()> {
        if len != self.len {
            self.write_buffered()?;
            self.resize(len)?;
            self.len = len;
        }
        Ok(())
    }

    fn write_failed(&self) -> Option<&io::Error> {
        self.failed.as_ref()
    }

    fn take_unwritten(&mut self) -> Vec<Range<u64>> {
        self.unwritten.take()
    }

    fn holes_read_as_zeros(&self) -> bool {
        // The file is created (or truncated) empty, and the reassembler fills only ranges
        // it never wrote.
        self.fresh
    }

    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> OutputResult<bool> {
        self.write_buffered()?;
        match self.file.read_exact_at(buf, at) {
            Ok(()) => Ok(true),
            // Shorter than the report said: the caller checked the length already, so
            // this is a file changed meanwhile; its bytes are not this transfer's.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                buf.fill(0);
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn set_len_hint(&mut self, len: u64) -> OutputResult<()> {
        if len > self.len {
            self.write_buffered()?;
            match self.file.set_len(len) {
                Ok(()) => self.len = len,
                // A claim beyond what the filesystem holds: only a hint, so ignore it here;
                // writing or filling that far fails with the same error if it comes to it.
                Err(e) if e.raw_os_error() == Some(libc::EFBIG) => {}
                Err(e) => {
                    self.failed.get_or_insert(e);
                }
            }
        }
        Ok(())
    }
}

/// Collects output in memory: for tests.
#[derive(Default)]
pub struct MemoryOutput {
    pub bytes: Vec<u8>,
    pub seekable: bool,
}

impl Output for MemoryOutput {
    fn write_at(&mut self, at: u64, data: &[u8]) -> OutputResult<()> {
        let at = at as usize;
        if !self.seekable {
            assert_eq!(at, self.bytes.len(), "a stream is written in order");
        }
        if self.bytes.len() < at + data.len() {
            self.bytes.resize(at + data.len(), 0);
        }
        self.bytes[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn can_write_at(&self, at: u64) -> bool {
        self.seekable || at == self.bytes.len() as u64
    }

    fn seekable(&self) -> bool {
        self.seekable
    }

    fn flush(&mut self) -> OutputResult<()> {
        Ok(())
    }
}

impl ImageOutput for FileOutput {
    fn note(&self) -> Option<String> {
        self.note.clone()
    }

    fn warning(&self) -> Option<String> {
        self.warning.clone()
    }
}

impl<W: Write> ImageOutput for StreamOutput<W> {
    fn note(&self) -> Option<String> {
        None
    }
}
