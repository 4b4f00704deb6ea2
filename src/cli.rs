//! The Unix manners every pktools program shares.
//!
//! One error line (`PROG: error: message`) and one exit-status mapping, a quiet exit when the
//! reader goes away (EPIPE), refusal to write binary data to a terminal, input that is
//! memory-mapped when it is a regular file and read in large blocks otherwise, bigger pipe
//! buffers, progress lines only on a terminal, signals that end the input rather than the
//! program (for a receiver that must write what it holds), and the parsers for sizes
//! (`64k`), rates (`1%`, `1e-5`) and hex fill patterns that several programs accept.
//! Read errors of a streamed input are marked, so they are reported as `reading input`
//! even from a loop that also writes.
//!
//! This module knows nothing about packets or pixels.

pub mod completions;

use std::fmt;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// Exit status: everything worked and the data is complete and intact.
pub const EXIT_OK: u8 = 0;
/// Exit status: the program finished, but the data it wrote is damaged or incomplete.
pub const EXIT_DAMAGED: u8 = 1;
/// Exit status: usage, input or I/O error.
pub const EXIT_ERROR: u8 = 2;

/// Size of the buffers between a program and its pipes. Large blocks amortise the system
/// calls; 1 MiB keeps every program far below the 16 MiB memory budget.
pub const IO_BUFFER_LEN: usize = 1 << 20;

/// What a program that finished without error has to say about its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Complete and intact: exit 0.
    Intact,
    /// Written, but damaged or incomplete: exit 1.
    Damaged,
}

/// A failure that ends a program: printed as one line, exit status 2.
///
/// A broken pipe on output is carried as its own variant so that `finish` can exit quietly
/// with status 0 instead of reporting it.
#[derive(Debug)]
pub enum Failure {
    /// The reader of our output went away: stop, say nothing.
    BrokenPipe,
    /// Anything else: the message, without the program name.
    Message(String),
}

impl Failure {
    /// A failure with a message; the program name is added when it is printed.
    pub fn new(message: impl Into<String>) -> Self {
        Failure::Message(message.into())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::BrokenPipe => f.write_str("broken pipe"),
            Failure::Message(m) => f.write_str(m),
        }
    }
}

/// True when an I/O error means that the reader of our output has gone away.
pub fn is_broken_pipe(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::BrokenPipe && !is_input_error(err)
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        if is_input_error(&err) {
            Failure::Message(format!("reading input: {err}"))
        } else if is_broken_pipe(&err) {
            Failure::BrokenPipe
        } else {
            Failure::Message(err.to_string())
        }
    }
}

/// Give an I/O error the context of what was being done (`writing output: ...`), keeping a
/// broken pipe recognisable. An error that reading a streamed [`Input`] returned says
/// `reading input: ...` whatever `what` is: a loop that reads and writes returns one kind
/// of error, and only the input knows which side failed.
pub fn io_context(what: impl fmt::Display) -> impl FnOnce(io::Error) -> Failure {
    move |err| {
        if is_input_error(&err) {
            Failure::Message(format!("reading input: {err}"))
        } else if is_broken_pipe(&err) {
            Failure::BrokenPipe
        } else {
            Failure::Message(format!("{what}: {err}"))
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

/// True when `err` came from reading a streamed [`Input`].
pub fn is_input_error(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|e| e.is::<InputError>())
}

/// A stream whose read errors are marked as input errors (an interruption is not an error).
struct MarkedInput<R>(R);

impl<R: Read> Read for MarkedInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::Interrupted => e,
            kind => io::Error::new(kind, InputError(e)),
        })
    }
}

/// Turn the result of a program's `run` into its exit status, printing the one error line.
///
/// This is the only place that maps outcomes to exit codes, so every program behaves alike.
///
/// A program stopped by a signal (see [`stop_on_signals`]) dies of it here, after its error
/// line if it has one.
pub fn finish(program: &str, result: Result<Outcome, Failure>) -> ExitCode {
    let code = match result {
        Ok(Outcome::Intact) => ExitCode::from(EXIT_OK),
        Ok(Outcome::Damaged) => ExitCode::from(EXIT_DAMAGED),
        Err(Failure::BrokenPipe) => ExitCode::from(EXIT_OK),
        Err(Failure::Message(message)) => {
            let _ = writeln!(io::stderr(), "{program}: error: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    };
    die_of_stop_signal();
    code
}

/// Parse arguments with clap, mapping usage errors to our one-line format and exit status 2.
///
/// `--help` and `--version` print to stdout and exit 0 as usual.
///
/// `PROG --generate-completions SHELL` prints a completion script instead (see
/// [`completions`]).
pub fn parse_args<T: clap::Parser>(program: &str) -> Result<T, ExitCode> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match completions::requested(&argv) {
        Ok(None) => {}
        Ok(Some(shell)) => {
            let mut cmd = T::command();
            return Err(
                match completions::write(shell, &mut cmd, program, &mut io::stdout()) {
                    Ok(()) => ExitCode::from(EXIT_OK),
                    Err(e) => finish(program, Err(Failure::from(e))),
                },
            );
        }
        Err(message) => return Err(finish(program, Err(Failure::new(message)))),
    }
    match T::try_parse_from(argv) {
        Ok(args) => Ok(args),
        Err(err) => match err.kind() {
            clap::error::ErrorKind::DisplayHelp
            | clap::error::ErrorKind::DisplayVersion
            | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                let _ = err.print();
                Err(ExitCode::from(EXIT_OK))
            }
            _ => {
                let rendered = err.render().to_string();
                let first = rendered
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("invalid arguments")
                    .trim_start_matches("error: ");
                let _ = writeln!(
                    io::stderr(),
                    "{program}: error: {first} (see '{program} --help')"
                );
                Err(ExitCode::from(EXIT_ERROR))
            }
        },
    }
}

/// Refuse to write binary data to a terminal unless forced: it would only garble the screen.
pub fn refuse_terminal_stdout(force: bool) -> Result<(), Failure> {
    if !force && io::stdout().is_terminal() {
        return Err(Failure::new(
            "refusing to write binary data to a terminal; redirect stdout or use --force",
        ));
    }
    Ok(())
}

/// Ask the kernel for a larger pipe buffer when `fd` is a pipe. Fewer context switches
/// between the programs of a pipeline; failure (not a pipe, or a limit) changes nothing.
pub fn grow_pipe(fd: RawFd) {
    // SAFETY: fstat and fcntl only read the descriptor's state; both tolerate any fd value.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFIFO {
            libc::fcntl(fd, libc::F_SETPIPE_SZ, IO_BUFFER_LEN as libc::c_int);
        }
    }
}

/// Where a program's input comes from: a memory map of a regular file, or a stream.
pub enum Input {
    /// A regular file (named, or stdin redirected from one), mapped: no copy, no read calls.
    Mapped(memmap2::Mmap),
    /// An empty regular file (which cannot be mapped).
    Empty,
    /// A pipe, socket, terminal or device, read in large blocks.
    Stream(Box<dyn Read>),
}

impl Input {
    /// Open FILE, or stdin when `path` is `None` or `-`.
    pub fn open(path: Option<&Path>) -> Result<Input, Failure> {
        match path {
            Some(p) if p != Path::new("-") => {
                let file = File::open(p).map_err(io_context(format_args!("{}", p.display())))?;
                Input::from_file(file, &p.display().to_string())
            }
            _ => {
                let stdin = io::stdin();
                let fd = stdin.as_raw_fd();
                if is_regular_file(fd) {
                    // Duplicate so the map owns a File without closing our stdin.
                    let file = std::os::fd::AsFd::as_fd(&stdin)
                        .try_clone_to_owned()
                        .map(File::from)
                        .map_err(io_context("stdin"))?;
                    Input::from_file(file, "stdin")
                } else {
                    grow_pipe(fd);
                    Ok(Input::Stream(Box::new(MarkedInput(stdin))))
                }
            }
        }
    }

    fn from_file(file: File, name: &str) -> Result<Input, Failure> {
        let meta = file.metadata().map_err(io_context(name))?;
        if meta.is_dir() {
            return Err(Failure::new(format!("{name}: is a directory, not a file")));
        }
        if !meta.is_file() {
            grow_pipe(file.as_raw_fd());
            return Ok(Input::Stream(Box::new(MarkedInput(file))));
        }
        if meta.len() == 0 {
            return Ok(Input::Empty);
        }
        // SAFETY: the map is read-only. If another process truncates the file while we read
        // it, we may get SIGBUS; that is the documented price of mapping, as with every
        // tool that maps its input (ripgrep, GNU grep).
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
            Input::Empty => Some(0),
            Input::Stream(_) => None,
        }
    }
}

/// Tell the kernel that the mapped bytes before `offset` will not be read again, so they
/// stop counting toward our resident memory (they stay in the page cache). Without this, a
/// program that maps a 1 GiB file ends with 1 GiB resident.
pub fn release_mapped(map: &memmap2::Mmap, offset: usize) {
    let page = 4096;
    let end = offset.min(map.len()) / page * page;
    if end > 0 {
        // SAFETY: the map is read-only and private to us; dropping its pages only makes a
        // later access fault them in again from the file.
        let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, 0, end) };
    }
}

fn is_regular_file(fd: RawFd) -> bool {
    // SAFETY: fstat only reads the descriptor's metadata into a zeroed struct.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFREG
    }
}

/// Standard output, locked, with a pipe buffer as large as the kernel allows.
pub fn stdout_raw() -> io::StdoutLock<'static> {
    let out = io::stdout();
    grow_pipe(out.as_raw_fd());
    out.lock()
}

/// Standard output as a `File` (a duplicate of descriptor 1): unbuffered, so large writes go
/// straight to the kernel without std's line buffering scanning them for newlines.
pub fn stdout_file() -> Result<File, Failure> {
    let out = io::stdout();
    grow_pipe(out.as_raw_fd());
    std::os::fd::AsFd::as_fd(&out)
        .try_clone_to_owned()
        .map(File::from)
        .map_err(io_context("stdout"))
}

/// Wait until `fd` has input (or its end) to read, for at most `timeout`; true if ready.
/// Lets a live receiver do timed work between packets without a busy loop.
pub fn wait_readable(fd: RawFd, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd, count 1; poll only writes `revents`.
    unsafe { libc::poll(&mut pfd, 1, ms) != 0 }
}

/// The signal that asked the program to stop (see [`stop_on_signals`]), or 0.
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn note_stop_signal(signal: libc::c_int) {
    STOP_SIGNAL.store(signal, Ordering::SeqCst);
}

/// Make SIGINT, SIGTERM and SIGHUP end the input instead of the program: a blocked read is
/// interrupted, [`read_some`] and [`read_full`] then report the end of the input, and the
/// program finishes as if its input had ended (a receiver writes what it holds and its
/// report). [`finish`] then dies of the same signal, so a shell or a supervisor still sees
/// the program killed by it. A second signal kills at once.
///
/// A program that reads a regular file (mapped, no reads to interrupt) finishes the file
/// first.
pub fn stop_on_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe. No
        // SA_RESTART: a blocking read must return EINTR so the reader notices. With
        // SA_RESETHAND the next signal has its default action.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = note_stop_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// True once a signal caught by [`stop_on_signals`] asked the program to stop.
pub fn stop_requested() -> bool {
    STOP_SIGNAL.load(Ordering::SeqCst) != 0
}

/// Die of the signal that asked the program to stop, if one did.
fn die_of_stop_signal() {
    let signal = STOP_SIGNAL.load(Ordering::SeqCst);
    if signal != 0 {
        // SAFETY: restoring the default action and raising the signal ends the process
        // the way the signal would have, after everything has been written.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }
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

/// An error in a number given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArgError(String);

/// Parse a byte count with an optional suffix: `1024`, `64k`, `1.5M`, `2G`, `64KiB`.
/// Suffixes are binary (k = 1024), as in `head -c` and ffmpeg's `-bufsize`.
pub fn parse_size(text: &str) -> Result<u64, ArgError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(split);
    let multiplier: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => {
            return Err(ArgError(format!(
                "expected a size such as 1024, 64k, 1M or 2G, found \"{text}\""
            )))
        }
    };
    let bad = || {
        ArgError(format!(
            "expected a size such as 1024, 64k, 1M or 2G, found \"{text}\""
        ))
    };
    if number.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = number.parse::<u64>() {
        return n
            .checked_mul(multiplier)
            .ok_or_else(|| ArgError(format!("size \"{text}\" is too large")));
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(ArgError(format!("size \"{text}\" is too large")));
    }
    Ok(bytes.round() as u64)
}

/// Parse a transfer id: decimal 0-65535, or hexadecimal with 0x.
pub fn parse_transfer_id(text: &str) -> Result<u16, ArgError> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| {
        ArgError(format!(
            "expected a transfer id 0-65535 or 0x0000-0xffff, found \"{text}\""
        ))
    })
}

/// Parse a probability: `0.01`, `1%`, `1e-5`. Outside 0..=1 is an error.
pub fn parse_rate(text: &str) -> Result<f64, ArgError> {
    let t = text.trim();
    let (number, scale) = match t.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (t, 1.0),
    };
    let value: f64 = number.trim().parse().map_err(|_| {
        ArgError(format!(
            "expected a rate such as 0.01, 1% or 1e-5, found \"{text}\""
        ))
    })?;
    let rate = value / scale;
    if !(0.0..=1.0).contains(&rate) {
        return Err(ArgError(format!(
            "rate \"{text}\" is outside 0..1 (0%..100%)"
        )));
    }
    Ok(rate)
}

/// Parse a fill pattern given as hex digits (`ff00ff`, `0x00`) or a decimal byte (`255`).
/// Two hex digits per byte; a lone decimal number 0..=255 is one byte.
pub fn parse_hex_pattern(text: &str) -> Result<Vec<u8>, ArgError> {
    let t = text.trim();
    let bad = || {
        ArgError(format!(
            "expected a byte (0-255) or hex bytes such as ff00ff, found \"{text}\""
        ))
    };
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return decode_hex(hex).ok_or_else(bad);
    }
    if t.len() <= 3 && !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<u8>().map(|b| vec![b]).map_err(|_| bad());
    }
    decode_hex(t).ok_or_else(bad)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.is_empty() || hex.len() % 2 != 0 || hex.len() > 2 * 4096 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A progress line on stderr, drawn only when stderr is a terminal, at most a few times a
/// second, and erased at the end.
pub struct Progress {
    enabled: bool,
    started: Instant,
    last_drawn: Instant,
    drew: bool,
}

impl Progress {
    /// A progress line that draws only if stderr is a terminal and `wanted` is true.
    pub fn new(wanted: bool) -> Self {
        let now = Instant::now();
        Progress {
            enabled: wanted && io::stderr().is_terminal(),
            started: now,
            last_drawn: now,
            drew: false,
        }
    }

    /// Time since the progress line was created.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// True when it is time to draw again; cheap enough to call per packet.
    #[inline]
    pub fn due(&self) -> bool {
        self.enabled && self.last_drawn.elapsed() >= Duration::from_millis(200)
    }

    /// Draw `line` in place of the previous one.
    pub fn draw(&mut self, line: &str) {
        if !self.enabled {
            return;
        }
        self.last_drawn = Instant::now();
        self.drew = true;
        let _ = write!(io::stderr(), "\r\x1b[K{line}");
    }

    /// Erase the line so the summary that follows starts clean.
    pub fn clear(&mut self) {
        if self.drew {
            let _ = write!(io::stderr(), "\r\x1b[K");
            self.drew = false;
        }
    }
}

/// Format a byte count for people: `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("64k").unwrap(), 65536);
        assert_eq!(parse_size("64KiB").unwrap(), 65536);
        assert_eq!(parse_size("1.5M").unwrap(), 1572864);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert!(parse_size("").is_err());
        assert!(parse_size("k").is_err());
        assert!(parse_size("12q").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999999999T").is_err());
    }

    #[test]
    fn rates_accept_fraction_percent_and_exponent() {
        assert_eq!(parse_rate("0.01").unwrap(), 0.01);
        assert_eq!(parse_rate("1%").unwrap(), 0.01);
        assert_eq!(parse_rate("1e-5").unwrap(), 1e-5);
        assert_eq!(parse_rate("0").unwrap(), 0.0);
        assert_eq!(parse_rate("100%").unwrap(), 1.0);
        assert!(parse_rate("-0.1").is_err());
        assert!(parse_rate("1.5").is_err());
        assert!(parse_rate("101%").is_err());
        assert!(parse_rate("abc").is_err());
        assert!(parse_rate("NaN").is_err());
    }

    #[test]
    fn hex_patterns_and_decimal_bytes() {
        assert_eq!(parse_hex_pattern("ff00ff").unwrap(), vec![0xff, 0, 0xff]);
        assert_eq!(parse_hex_pattern("0x7f").unwrap(), vec![0x7f]);
        assert_eq!(parse_hex_pattern("0").unwrap(), vec![0]);
        assert_eq!(parse_hex_pattern("255").unwrap(), vec![255]);
        assert!(parse_hex_pattern("256").is_err());
        assert!(parse_hex_pattern("fff").is_err());
        assert!(parse_hex_pattern("zz").is_err());
        assert!(parse_hex_pattern("").is_err());
    }

    #[test]
    fn human_bytes_picks_a_unit() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
