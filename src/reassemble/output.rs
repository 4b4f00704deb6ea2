//! Where reassembled bytes go: a stream that only grows at its end (a pipe), or a file that
//! takes writes at any offset, so late packets still land and a viewer can watch it fill.
//!
//! Both gather small writes into one large buffer; the file gathers only contiguous runs and
//! writes each with `pwrite`, so the usual in-order case costs one system call per megabyte.

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::os::unix::fs::FileExt;

/// A destination for reassembled bytes, addressed by absolute output offset.
pub trait Output {
    /// Write `data` at output offset `at`. A sequential output only accepts `at` equal to
    /// the number of bytes written so far.
    fn write_at(&mut self, at: u64, data: &[u8]) -> io::Result<()>;
    /// Like `write_at`, but the output may keep a reference to `data` instead of copying it,
    /// until the next [`Output::flush`].
    ///
    /// # Safety
    /// `data` must stay valid and unchanged until `flush` is next called.
    unsafe fn write_at_borrowed(&mut self, at: u64, data: &[u8]) -> io::Result<()> {
        self.write_at(at, data)
    }
    /// True when writes may go to any offset (a regular file), false for a stream.
    fn seekable(&self) -> bool;
    /// Write out everything gathered (and drop references to borrowed data).
    fn flush(&mut self) -> io::Result<()>;
    /// The whole output is `len` bytes long, as far as is known now (lets a file be sized
    /// at once, so a viewer sees its final size); streams ignore it.
    fn set_len_hint(&mut self, _len: u64) -> io::Result<()> {
        Ok(())
    }
    /// True when bytes never written read as zeros once the output is long enough (a file
    /// created empty), so zero fill need not be written.
    fn holes_read_as_zeros(&self) -> bool {
        false
    }
}

/// How much to gather before writing.
const GATHER_LEN: usize = 1 << 20;
/// Pieces per vectored write: Linux's IOV_MAX.
const MAX_PIECES: usize = crate::io::IOV_MAX;

/// An output that only grows at its end: stdout, a pipe.
///
/// Payloads delivered in order straight from the input buffer are not copied: the output
/// keeps (pointer, length) pieces and writes them with one `writev` per megabyte. Payloads
/// from elsewhere (the reorder window, fill) are copied into `copied`, whose capacity is
/// fixed so that pieces pointing into it stay valid.
pub struct StreamOutput<W: Write> {
    inner: W,
    pieces: Vec<(*const u8, usize)>,
    pending: usize,
    copied: Vec<u8>,
    written: u64,
}

impl<W: Write> StreamOutput<W> {
    pub fn new(inner: W) -> Self {
        StreamOutput {
            inner,
            pieces: Vec::with_capacity(MAX_PIECES),
            pending: 0,
            copied: Vec::with_capacity(GATHER_LEN),
            written: 0,
        }
    }

    fn add_piece(&mut self, ptr: *const u8, len: usize) -> io::Result<()> {
        self.pieces.push((ptr, len));
        self.pending += len;
        if self.pieces.len() >= MAX_PIECES || self.pending >= GATHER_LEN {
            self.write_pieces()?;
        }
        Ok(())
    }

    fn write_pieces(&mut self) -> io::Result<()> {
        let mut slices: Vec<IoSlice> = self
            .pieces
            .iter()
            // SAFETY: every piece points into `copied` (not reallocated or cleared until
            // below) or into borrowed data its caller keeps valid until this flush.
            .map(|&(ptr, len)| IoSlice::new(unsafe { std::slice::from_raw_parts(ptr, len) }))
            .collect();
        crate::io::write_all_vectored(&mut self.inner, &mut slices)?;
        self.pieces.clear();
        self.copied.clear();
        self.pending = 0;
        Ok(())
    }
}

impl<W: Write> Output for StreamOutput<W> {
    fn write_at(&mut self, at: u64, data: &[u8]) -> io::Result<()> {
        debug_assert_eq!(at, self.written, "a stream is written in order");
        self.written += data.len() as u64;
        if self.copied.len() + data.len() > self.copied.capacity() {
            self.write_pieces()?;
            if data.len() > self.copied.capacity() {
                return self.inner.write_all(data);
            }
        }
        let start = self.copied.len();
        self.copied.extend_from_slice(data);
        // Within capacity: `copied` did not move, earlier pieces into it stay valid.
        let ptr = self.copied[start..].as_ptr();
        self.add_piece(ptr, data.len())
    }

    unsafe fn write_at_borrowed(&mut self, at: u64, data: &[u8]) -> io::Result<()> {
        debug_assert_eq!(at, self.written, "a stream is written in order");
        self.written += data.len() as u64;
        self.add_piece(data.as_ptr(), data.len())
    }

    fn seekable(&self) -> bool {
        false
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pieces.is_empty() {
            self.write_pieces()?;
        }
        self.inner.flush()
    }
}

/// A regular file written at any offset.
pub struct FileOutput {
    file: File,
    /// Bytes gathered for one contiguous write starting at `buf_at`.
    buf: Vec<u8>,
    buf_at: u64,
    len: u64,
}

impl FileOutput {
    pub fn new(file: File) -> Self {
        FileOutput {
            file,
            buf: Vec::with_capacity(GATHER_LEN),
            buf_at: 0,
            len: 0,
        }
    }

    fn write_buffered(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.file.write_all_at(&self.buf, self.buf_at)?;
            self.buf_at += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }
}

impl Output for FileOutput {
    fn write_at(&mut self, at: u64, data: &[u8]) -> io::Result<()> {
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

    fn flush(&mut self) -> io::Result<()> {
        self.write_buffered()
    }

    fn holes_read_as_zeros(&self) -> bool {
        // The file is created (or truncated) empty, and the reassembler fills only ranges
        // it never wrote.
        true
    }

    fn set_len_hint(&mut self, len: u64) -> io::Result<()> {
        if len > self.len {
            self.write_buffered()?;
            self.file.set_len(len)?;
            self.len = len;
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
    fn write_at(&mut self, at: u64, data: &[u8]) -> io::Result<()> {
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

    fn seekable(&self) -> bool {
        self.seekable
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
