//! Where a program's input comes from: a memory map of a regular file, or a stream.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::Path;

/// Where a program's input comes from: a memory map of a regular file, or a stream.
///
/// An empty regular file is a zero-length map, so a consumer has two cases, not three.
pub enum Input {
    /// A regular file (named, or stdin redirected from one), mapped: no copy, no read calls.
    Mapped(memmap2::Mmap),
    /// A pipe, socket, terminal or device, read in large blocks. Its read errors are marked
    /// (see [`is_input_error`]).
    Stream(Box<dyn Read>),
}

/// The input could not be opened: what was being opened, and why.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {source}")]
pub struct OpenError {
    /// The file's name as given, or `stdin`.
    pub name: String,
    pub source: io::Error,
}

impl Input {
    /// Open FILE, or stdin when `path` is `None` or `-`.
    pub fn open(path: Option<&Path>) -> Result<Input, OpenError> {
        match path {
            Some(p) if p != Path::new("-") => {
                let name = p.display().to_string();
                match File::open(p) {
                    Ok(file) => Input::from_file(file, name),
                    Err(source) => Err(OpenError { name, source }),
                }
            }
            _ => {
                let stdin = io::stdin();
                if super::is_regular_file(stdin.as_fd()) {
                    // Duplicate so the map owns a File without closing our stdin.
                    let file = stdin
                        .as_fd()
                        .try_clone_to_owned()
                        .map_err(|source| OpenError {
                            name: "stdin".into(),
                            source,
                        })?;
                    Input::from_file(File::from(file), "stdin".into())
                } else {
                    super::grow_pipe(stdin.as_fd());
                    Ok(Input::Stream(Box::new(MarkedInput(stdin))))
                }
            }
        }
    }

    fn from_file(file: File, name: String) -> Result<Input, OpenError> {
        let meta = file.metadata().map_err(|source| OpenError {
            name: name.clone(),
            source,
        })?;
        if meta.is_dir() {
            return Err(OpenError {
                name,
                source: io::Error::other("is a directory, not a file"),
            });
        }
        if !meta.is_file() {
            super::grow_pipe(file.as_fd());
            return Ok(Input::Stream(Box::new(MarkedInput(file))));
        }
        // SAFETY: the map is read-only. If another process truncates the file while we read
        // it, we may get SIGBUS; that is the documented price of mapping, as with every
        // tool that maps its input (ripgrep, GNU grep). An empty file gives an empty map.
        match unsafe { memmap2::Mmap::map(&file) } {
            Ok(map) => {
                let _ = map.advise(memmap2::Advice::Sequential);
                Ok(Input::Mapped(map))
            }
            // Some filesystems cannot map: fall back to reading.
            Err(_) => Ok(Input::Stream(Box::new(MarkedInput(file)))),
        }
    }

    /// The length of the input when it is known in advance (a regular file).
    pub fn known_len(&self) -> Option<u64> {
        match self {
            Input::Mapped(m) => Some(m.len() as u64),
            Input::Stream(_) => None,
        }
    }
}

/// An error returned by reading a streamed [`Input`]: it displays as the error itself.
#[derive(Debug)]
struct InputError(io::Error);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// True when `err` came from reading a streamed [`Input`]: a loop that reads and writes
/// returns one kind of error, and only the input knows which side failed.
pub fn is_input_error(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|e| e.is::<InputError>())
}

/// A stream whose read errors are marked as input errors (an interruption is not an error),
/// and that ends once a signal asked the program to stop (see [`super::stop_on_signals`]),
/// as [`super::read_some`] does: so a reader that knows nothing of signals (the framing's
/// `FrameReader`, which only retries interrupted reads) stops reading too.
struct MarkedInput<R>(R);

impl<R: Read> Read for MarkedInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if super::stop_requested() {
            return Ok(0);
        }
        match self.0.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => match super::stop_requested() {
                true => Ok(0),
                false => Err(e),
            },
            Err(e) => Err(io::Error::new(e.kind(), InputError(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_an_empty_map() {
        let file = tempfile::NamedTempFile::new().unwrap();
        match Input::open(Some(file.path())).unwrap() {
            Input::Mapped(map) => assert!(map.is_empty()),
            Input::Stream(_) => panic!("an empty regular file is mapped"),
        }
    }

    #[test]
    fn a_missing_file_names_itself() {
        let err = Input::open(Some(Path::new("/nonexistent/x")))
            .err()
            .unwrap();
        assert!(err.to_string().starts_with("/nonexistent/x: "), "{err}");
    }
}
