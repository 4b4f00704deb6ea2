//! Where the frames come from: a memory map whose pages are released behind the reader,
//! or a stream read as it arrives; a stream spooled to a temporary file when the geometry
//! depends on its length; and the kernel-side copy from a regular input file.

use super::{reading, RawVideoError, Request, Trailing, Width};
use crate::io::{self as pio, Input, OpenError};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// A regular input file and the output descriptor, between which the kernel can copy
/// frames that need no conversion (rgb24 to PPM) without them passing through our memory.
#[derive(Debug)]
pub struct KernelCopy {
    pub from: File,
    /// The output (a duplicate of the program's descriptor: same file, same offset).
    pub to: OwnedFd,
    /// The output is a regular file (where writing from the map beats copy_file_range).
    pub to_regular_file: bool,
}

/// Open FILE (or stdin) as [`Input::open`] does, and also return the regular file behind a
/// mapped input, for [`KernelCopy`].
pub fn open_input(path: Option<&Path>) -> Result<(Input, Option<File>), OpenError> {
    let input = Input::open(path)?;
    let file = match (&input, path) {
        (Input::Mapped(_), Some(p)) if p != Path::new("-") => File::open(p).ok(),
        (Input::Mapped(_), _) => io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map(File::from)
            .ok(),
        _ => None,
    };
    Ok((input, file))
}

/// A memory map whose pages behind the reader are given back as it goes.
pub(super) struct Mapped {
    map: memmap2::Mmap,
    behind: pio::ReleaseBehind,
}

impl Mapped {
    fn new(map: memmap2::Mmap) -> Mapped {
        Mapped {
            map,
            behind: pio::ReleaseBehind::default(),
        }
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Drop the pages before `end` from our resident set once enough have been read.
    pub(super) fn release_before(&self, end: usize) {
        self.behind.advance(&self.map, end);
    }

    /// Read the pages of `start..end` in with one call (see [`pio::prefetch`]).
    pub(super) fn populate(&self, start: usize, end: usize) {
        pio::prefetch(&self.map, start..end);
    }

    /// Drop the pages of `start..end` from our resident set (they stay in the page cache).
    pub(super) fn release(&self, start: usize, end: usize) {
        pio::release(&self.map, start..end);
    }
}

/// Where the frames come from.
pub(super) enum Source {
    Mapped { mapped: Mapped, pos: usize },
    Stream(Box<dyn Read>),
}

impl Source {
    /// Open the input, skip the header, and make a stream seekable (by spooling it to an
    /// unlinked temporary file) when the geometry depends on the length of the data.
    pub(super) fn open(input: Input, request: &Request) -> Result<Source, RawVideoError> {
        let needs_len = request.height.is_none() || request.width == Width::Auto;
        let mut source = match input {
            Input::Mapped(map) => Source::Mapped {
                mapped: Mapped::new(map),
                pos: 0,
            },
            Input::Stream(reader) => Source::Stream(reader),
        };
        source.skip(request.skip)?;
        if needs_len {
            if let Source::Stream(reader) = &mut source {
                source = match spool(reader.as_mut())? {
                    Some(map) => Source::Mapped {
                        mapped: Mapped::new(map),
                        pos: 0,
                    },
                    None => Source::Stream(Box::new(io::empty())),
                };
            }
        }
        Ok(source)
    }

    fn skip(&mut self, skip: u64) -> Result<(), RawVideoError> {
        match self {
            Source::Mapped { mapped, pos } => {
                let len = mapped.bytes().len() as u64;
                if skip > len {
                    return Err(RawVideoError::SkipBeyondData { skip, len });
                }
                *pos = skip as usize;
            }
            Source::Stream(reader) => {
                let copied =
                    io::copy(&mut reader.as_mut().take(skip), &mut io::sink()).map_err(reading)?;
                if copied < skip {
                    return Err(RawVideoError::SkipBeyondData { skip, len: copied });
                }
            }
        }
        Ok(())
    }

    /// Bytes of data after the skipped header, when known in advance.
    pub(super) fn mapped_len(&self) -> Option<usize> {
        match self {
            Source::Mapped { mapped, pos } => Some(mapped.bytes().len() - pos),
            Source::Stream(_) => None,
        }
    }

    /// Read what is available now into `buf`, without waiting to fill it; 0 at the end.
    pub(super) fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Mapped { mapped, pos } => {
                let data = &mapped.bytes()[*pos..];
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                *pos += n;
                mapped.release_before(*pos);
                Ok(n)
            }
            Source::Stream(reader) => pio::read_some(reader.as_mut(), buf),
        }
    }

    /// Whether input is left after what was read: how much, if it ends within
    /// `frame_len` bytes (a stream is read that far, its bytes dropped).
    pub(super) fn trailing(&mut self, frame_len: usize) -> io::Result<Trailing> {
        match self {
            Source::Mapped { mapped, pos } => {
                let left = (mapped.bytes().len() - *pos) as u64;
                Ok(if left == 0 {
                    Trailing::None
                } else {
                    Trailing::Bytes(left)
                })
            }
            Source::Stream(reader) => {
                let mut probe = [0u8; 64 << 10];
                let mut left = 0u64;
                while left <= frame_len as u64 {
                    match pio::read_some(reader.as_mut(), &mut probe)? {
                        0 if left == 0 => return Ok(Trailing::None),
                        0 => return Ok(Trailing::Bytes(left)),
                        n => left += n as u64,
                    }
                }
                Ok(Trailing::More)
            }
        }
    }
}

/// Copy a stream into an unlinked temporary file and map it, so its length is known.
/// Memory stays bounded; the disk holds the data. `None` for an empty stream.
fn spool(reader: &mut dyn Read) -> Result<Option<memmap2::Mmap>, RawVideoError> {
    use std::os::unix::fs::OpenOptionsExt;
    let spool_err = |source| RawVideoError::Io {
        what: "spooling input to a temporary file",
        source,
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let path = std::env::temp_dir().join(format!("raw2ppm-{}-{nanos}", std::process::id()));
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(spool_err)?;
    let _ = fs::remove_file(&path);
    let mut buf = vec![0u8; pio::IO_BUFFER_LEN];
    let mut total = 0u64;
    loop {
        let n = pio::read_some(reader, &mut buf).map_err(reading)?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n]).map_err(spool_err)?;
        total += n as u64;
    }
    if total == 0 {
        return Ok(None);
    }
    // SAFETY: the file is ours alone (created new, already unlinked), so nobody can
    // truncate it under the map.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(spool_err)?;
    Ok(Some(map))
}

/// Copy `len` bytes of the input file from `offset` to the output inside the kernel:
/// `copy_file_range` (file to file), else `sendfile` (file to anything). Returns how many
/// bytes were copied; fewer than `len` when the kernel cannot, and the caller writes the
/// rest itself.
pub(super) fn kernel_copy(kernel: &KernelCopy, offset: usize, len: usize) -> io::Result<usize> {
    use rustix::io::Errno;
    let mut off = offset as u64;
    let mut left = len;
    let mut file_to_file = true;
    while left > 0 {
        let copied = if file_to_file {
            rustix::fs::copy_file_range(&kernel.from, Some(&mut off), &kernel.to, None, left)
        } else {
            rustix::fs::sendfile(&kernel.to, &kernel.from, Some(&mut off), left)
        };
        match copied {
            Ok(0) => break, // the file ended early (truncated under us): write from the map
            Ok(n) => left -= n,
            Err(Errno::INTR) => {}
            // Not file to file (a pipe, a terminal, O_APPEND): try sendfile.
            Err(Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::BADF)
                if file_to_file =>
            {
                file_to_file = false
            }
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::BADF) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(len - left)
}
