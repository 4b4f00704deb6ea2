//! How every stage moves bytes: input that is memory-mapped when it is a regular file and
//! read in large blocks otherwise ([`Input`]), the release and prefetch of mapped pages
//! ([`map`]), vectored writes ([`write_all_vectored`]), writes on a thread of their own
//! ([`BackgroundWriter`]), one message per send to a datagram socket ([`PacketWriter`]), a
//! byte stream in bounded messages there ([`ByteStream`]),
//! standard output and pipe sizing, reads that a stop signal ends ([`read_some`],
//! [`read_full`]), the signals themselves, and which of a program's files are one file
//! ([`FileId`]).
//!
//! This module knows nothing about packets, pixels, flags or exit codes: a library user
//! gets `io::Result`s and typed errors from it, and `cli` turns them into messages.

mod background;
mod byte_stream;
mod identity;
mod input;
pub mod map;
mod packet_writer;
mod signals;
pub mod udp;
mod write;

pub use background::BackgroundWriter;
pub use byte_stream::{ByteStream, MAX_MESSAGE};
pub use identity::{first_clash, FileId};
pub use input::{is_input_error, Input, OpenError};
pub use map::{prefetch, release, ReleaseBehind, RELEASE_BLOCK};
pub use packet_writer::{is_packet_socket, PacketWriter};
pub use signals::{die_of_stop_signal, stop_on_signals, stop_requested};
pub use write::{write_all_vectored, IOV_MAX};

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

/// Input bytes a consumer may keep referring to until it is told the buffer changes: a
/// mapped file, or a stream reader's buffer (the reassembler's output and FEC decoder keep
/// places in it instead of copies). Shared, so no lifetime ties them to the reader and no
/// raw pointer is needed; the reader takes its buffer back (to refill it) after a flush.
pub type LentInput = std::rc::Rc<dyn AsRef<[u8]>>;

/// `pos` as the place of `payload` in `input`, when `payload` truly lies there (the same
/// bytes, not equal ones elsewhere): only then may a consumer keep the place instead of
/// copying the bytes.
pub fn lent_place(input: Option<&LentInput>, pos: Option<usize>, payload: &[u8]) -> Option<usize> {
    let buf: &[u8] = (**input?).as_ref();
    pos.filter(|&pos| {
        buf.get(pos..pos + payload.len())
            .is_some_and(|there| std::ptr::eq(there, payload))
    })
}

/// Size of the buffers between a program and its pipes. Large blocks amortise the system
/// calls; 1 MiB keeps every program far below the 16 MiB memory budget.
pub const IO_BUFFER_LEN: usize = 1 << 20;
// The framing's reader (in `wire`, below this module) takes a pipe's worth at a time too.
const _: () = assert!(crate::wire::framing::READ_BUFFER_LEN == IO_BUFFER_LEN);

/// Ask the kernel for a larger pipe buffer when `fd` is a pipe. Fewer context switches
/// between the programs of a pipeline; failure (not a pipe, or a limit) changes nothing.
pub fn grow_pipe(fd: BorrowedFd<'_>) {
    let is_fifo = rustix::fs::fstat(fd).is_ok_and(|st| {
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Fifo
    });
    if is_fifo {
        let _ = rustix::pipe::fcntl_setpipe_size(fd, IO_BUFFER_LEN);
    }
}

/// Standard output, locked, with a pipe buffer as large as the kernel allows.
pub fn stdout_raw() -> io::StdoutLock<'static> {
    let out = io::stdout();
    grow_pipe(out.as_fd());
    out.lock()
}

/// Standard output as a `File` (a duplicate of descriptor 1): unbuffered, so large writes go
/// straight to the kernel without std's line buffering scanning them for newlines.
///
/// Fails with [`io::ErrorKind::NotConnected`] when standard output was closed when the
/// program started (see [`stdout_is_closed`]): data written there would vanish unseen.
pub fn stdout_file() -> io::Result<File> {
    if stdout_is_closed() {
        return Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "standard output is closed",
        ));
    }
    let out = io::stdout();
    grow_pipe(out.as_fd());
    out.as_fd().try_clone_to_owned().map(File::from)
}

/// Standard output for a byte stream (see [`stdout_file`]): on a datagram or
/// sequenced-packet socket, in messages of at most [`MAX_MESSAGE`] bytes ([`ByteStream`]).
pub fn stdout_stream() -> io::Result<ByteStream> {
    stdout_file().map(ByteStream::new)
}

/// True when the program was started with standard output closed (`prog >&-`): data
/// written there would vanish unseen.
///
/// Rust's runtime does not leave descriptor 1 closed: before `main` it opens `/dev/null`
/// there, so every write succeeds and the data is lost without a word. What was there is
/// therefore looked at before the runtime starts, by `STDOUT_AT_START`, a constructor
/// the C library runs before `main` (Linux). A /dev/null handed over on purpose, read-write
/// as Python's `subprocess.DEVNULL` and service managers open it, is an open output like
/// any other. Where no constructor runs, nothing is detected.
pub fn stdout_is_closed() -> bool {
    #[cfg(target_os = "linux")]
    {
        // Read through the constructor's static, so that the linker keeps it.
        let record: extern "C" fn() = std::hint::black_box(STDOUT_AT_START);
        let _ = record;
    }
    STDOUT_CLOSED_AT_START.load(std::sync::atomic::Ordering::Relaxed)
}

/// Set once, before `main`, when descriptor 1 was not open.
static STDOUT_CLOSED_AT_START: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Runs before `main` and before Rust's runtime puts `/dev/null` on closed standard
/// descriptors: the C library calls every function in `.init_array` first.
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static STDOUT_AT_START: extern "C" fn() = {
    extern "C" fn record() {
        // SAFETY: fcntl(F_GETFD) only asks about a descriptor number; EBADF means closed.
        let closed = unsafe { libc::fcntl(1, libc::F_GETFD) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF);
        STDOUT_CLOSED_AT_START.store(closed, std::sync::atomic::Ordering::Relaxed);
    }
    record
};

/// Wait until `fd` has input (or its end) to read, for at most `timeout`; true if ready.
/// Lets a live receiver do timed work between packets without a busy loop.
pub fn wait_readable(fd: std::os::fd::RawFd, timeout: Duration) -> bool {
    // SAFETY: the caller's descriptor is only polled, for the length of this call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let timeout = rustix::event::Timespec::try_from(timeout).unwrap_or(rustix::event::Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    });
    rustix::event::poll(&mut fds, Some(&timeout)).is_ok_and(|n| n != 0)
}

/// Read until `buf` is full or the input ends; returns how many bytes were read.
/// Interrupted reads are retried, as `read_exact` would, unless a signal asked the program
/// to stop (see [`stop_on_signals`]): then the input has ended.
pub fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        if stop_requested() {
            break;
        }
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Read what is available (at least one byte unless the input ended); returns 0 at the end,
/// or once a signal asked the program to stop (see [`stop_on_signals`]).
pub fn read_some(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        if stop_requested() {
            return Ok(0);
        }
        match reader.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn is_regular_file(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::fstat(fd).is_ok_and(|st| {
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
    })
}

/// A reader that hands out its bytes in pieces of the given sizes, cycling: for tests that
/// the result of a read loop does not depend on how the input arrives.
#[cfg(test)]
pub(crate) struct ChunkedReader<'a> {
    pub data: &'a [u8],
    pub sizes: Vec<usize>,
    pub next: usize,
}

#[cfg(test)]
impl Read for ChunkedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.sizes[self.next % self.sizes.len()].max(1);
        self.next += 1;
        let n = size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// A new file in the temporary directory (`$TMPDIR`, else /tmp), already unlinked: it
/// goes away with the last descriptor, however the program ends. For what a mode must hold
/// beyond its memory budget (the fountain code's symbols).
pub fn temp_file() -> io::Result<File> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir();
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".pktools-{}-{nanos}-{n}", std::process::id()));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => {
                std::fs::remove_file(&path)?;
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("temporary file in {}: {e}", dir.display()),
                ))
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no new temporary file name in {}", dir.display()),
    ))
}
