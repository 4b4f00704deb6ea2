//! Where PNM bytes come from: a memory-mapped file (every byte addressable, nothing
//! copied, pages released behind the reader) or a stream read in blocks into a buffer that
//! grows only as bytes arrive. [`super::Reader`] reads images from a [`Source`]; this
//! module knows nothing of headers or samples.

use std::io::{self, Read};

use crate::io::ReleaseBehind;

/// How much a stream source asks of `read` at a time.
const READ_CHUNK: usize = 1 << 20;

/// Where the bytes come from.
pub struct Source<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    Mapped {
        data: &'a [u8],
        pos: usize,
        /// The file map behind `data`, when pages read can be handed back to the kernel.
        map: Option<&'a memmap2::Mmap>,
        /// How far the pages behind `pos` have been released.
        behind: ReleaseBehind,
    },
    Stream {
        reader: &'a mut dyn Read,
        /// `buf[start..end]` is read but not yet consumed.
        buf: Vec<u8>,
        start: usize,
        end: usize,
        /// Input offset of `buf[0]`.
        base: u64,
        eof: bool,
    },
}

impl<'a> Source<'a> {
    /// A source over bytes already in memory (a memory-mapped file).
    pub fn mapped(data: &'a [u8]) -> Self {
        Source {
            inner: Inner::Mapped {
                data,
                pos: 0,
                map: None,
                behind: ReleaseBehind::default(),
            },
        }
    }

    /// A source over a memory-mapped file. Pages already read are released as reading goes
    /// on, so that a large file does not count against the process's resident memory.
    pub fn file_map(map: &'a memmap2::Mmap) -> Self {
        Source {
            inner: Inner::Mapped {
                data: map,
                pos: 0,
                map: Some(map),
                behind: ReleaseBehind::default(),
            },
        }
    }

    /// A source over a stream, read in blocks of about 1 MiB.
    pub fn stream(reader: &'a mut dyn Read) -> Self {
        Source {
            inner: Inner::Stream {
                reader,
                buf: Vec::new(),
                start: 0,
                end: 0,
                base: 0,
                eof: false,
            },
        }
    }

    /// Input offset of the first unconsumed byte.
    pub fn offset(&self) -> u64 {
        match &self.inner {
            Inner::Mapped { pos, .. } => *pos as u64,
            Inner::Stream { start, base, .. } => base + *start as u64,
        }
    }

    /// The bytes read but not yet consumed.
    #[inline]
    pub fn window(&self) -> &[u8] {
        match &self.inner {
            Inner::Mapped { data, pos, .. } => &data[*pos..],
            Inner::Stream {
                buf, start, end, ..
            } => &buf[*start..*end],
        }
    }

    /// Read until the window holds at least `want` bytes; false if the input ends first.
    pub fn fill(&mut self, want: usize) -> io::Result<bool> {
        while self.window().len() < want {
            if !self.read_more()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Read at least one more byte into the window; false at the end of the input.
    pub fn read_more(&mut self) -> io::Result<bool> {
        let Inner::Stream {
            reader,
            buf,
            start,
            end,
            base,
            eof,
        } = &mut self.inner
        else {
            return Ok(false);
        };
        if *eof {
            return Ok(false);
        }
        if buf.len() - *end < READ_CHUNK {
            // Move the unconsumed bytes to the front, then grow by at most one chunk: the
            // buffer never holds more than a chunk beyond what actually arrived.
            buf.copy_within(*start..*end, 0);
            *base += *start as u64;
            *end -= *start;
            *start = 0;
            if buf.len() - *end < READ_CHUNK {
                buf.resize(*end + READ_CHUNK, 0);
            }
        }
        let n = crate::io::read_some(*reader, &mut buf[*end..])?;
        if n == 0 {
            *eof = true;
            return Ok(false);
        }
        *end += n;
        Ok(true)
    }

    /// Drop `n` bytes from the front of the window (`n <= window().len()`).
    #[inline]
    pub fn consume(&mut self, n: usize) {
        match &mut self.inner {
            Inner::Mapped { pos, .. } => {
                *pos += n;
                self.release_read();
            }
            Inner::Stream { start, .. } => *start += n,
        }
    }

    /// Release the pages of a file map that reading has passed, a block at a time.
    fn release_read(&mut self) {
        if let Inner::Mapped {
            pos,
            map: Some(map),
            behind,
            ..
        } = &self.inner
        {
            behind.advance(map, *pos);
        }
    }

    /// The first `n` bytes of the window, consumed (`n <= window().len()`).
    #[inline]
    pub(super) fn take(&mut self, n: usize) -> &[u8] {
        let at = match &self.inner {
            Inner::Mapped { pos, .. } => *pos,
            Inner::Stream { start, .. } => *start,
        };
        self.consume(n);
        match &self.inner {
            Inner::Mapped { data, .. } => &data[at..at + n],
            Inner::Stream { buf, .. } => &buf[at..at + n],
        }
    }

    /// For a mapped source: the next `n` bytes, or all that is left if fewer, consumed, with
    /// the map's lifetime. `None` for a stream.
    pub(super) fn take_mapped(&mut self, n: u64) -> Option<(&'a [u8], Option<&'a memmap2::Mmap>)> {
        match &mut self.inner {
            Inner::Mapped {
                data,
                pos,
                map,
                behind,
            } => {
                let data: &'a [u8] = data;
                let len = usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .min(data.len() - *pos);
                let at = *pos;
                *pos += len;
                // The taker releases these pages as it reads them (see `Raster::release`).
                behind.skip_to(*pos);
                Some((&data[at..at + len], *map))
            }
            Inner::Stream { .. } => None,
        }
    }

    pub(super) fn is_mapped(&self) -> bool {
        matches!(self.inner, Inner::Mapped { .. })
    }
}
