//! Only for the programs in `src/bin`: one error line (`PROG: error: message`) and one
//! exit-status mapping, a quiet exit when the reader goes away (EPIPE), the clap glue,
//! refusal to write binary data to a terminal, progress lines only on a terminal, and the
//! argument parsers several programs accept.
//!
//! The library does not use this module: its stages return typed errors, and the `From`
//! impls here turn them into a [`Failure`]. Moving bytes is [`crate::io`]'s job.

pub mod completions;

use crate::io::{self as pio, is_input_error, OpenError};
use std::fmt;
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub use crate::units::{human_bytes, parse_hex_pattern, parse_rate, parse_size};

/// Exit status: everything worked and the data is complete and intact.
pub const EXIT_OK: u8 = 0;
/// Exit status: the program finished, but the data it wrote is damaged or incomplete.
pub const EXIT_DAMAGED: u8 = 1;
/// Exit status: usage, input or I/O error.
pub const EXIT_ERROR: u8 = 2;

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
/// broken pipe recognisable. An error that reading a streamed [`pio::Input`] returned says
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

/// Turn the result of a program's `run` into its exit status, printing the one error line.
///
/// This is the only place that maps outcomes to exit codes, so every program behaves alike.
///
/// A program stopped by a signal (see [`pio::stop_on_signals`]) dies of it here, after its error
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
    pio::die_of_stop_signal();
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

/// Standard output as a `File` (see [`pio::stdout_file`]), its failure a [`Failure`].
/// Standard output closed at the start is refused with "standard output is closed".
pub fn stdout_file() -> Result<File, Failure> {
    pio::stdout_file().map_err(|err| {
        if err.kind() == io::ErrorKind::NotConnected {
            Failure::new(err.to_string())
        } else {
            io_context("stdout")(err)
        }
    })
}

/// Standard output for a byte stream (see [`pio::stdout_stream`]): bounded messages on a
/// datagram or sequenced-packet socket, failures as [`stdout_file`]'s.
pub fn stdout_stream() -> Result<pio::ByteStream, Failure> {
    stdout_file().map(pio::ByteStream::new)
}

/// Refuse, before anything is opened for writing, an output that is the input (a regular
/// file, which writing would destroy) or two outputs that are one file (see
/// [`pio::FileId`]). `input` is the input's name (`None` or `-`: standard input); each
/// output comes with how the message names it (`--log`); standard output is one of them
/// when `to_stdout`.
pub fn refuse_same_files(
    input: Option<&Path>,
    outputs: &[(&str, &Path)],
    to_stdout: bool,
) -> Result<(), Failure> {
    use std::os::fd::AsFd;
    let input = input.filter(|p| *p != Path::new("-"));
    let inputs = [(
        ("the input", input),
        match input {
            Some(path) => pio::FileId::of_path(path),
            None => pio::FileId::of_fd(io::stdin().as_fd()),
        },
    )];
    let stdout = to_stdout.then(|| {
        let id = pio::FileId::of_fd(io::stdout().as_fd());
        (("standard output", None), id)
    });
    let named = outputs
        .iter()
        .map(|&(name, path)| ((name, Some(path)), pio::FileId::of_path(path)));
    let outputs: Vec<_> = stdout.into_iter().chain(named).collect();
    let Some(((first, first_path), (second, second_path))) = pio::first_clash(&inputs, &outputs)
    else {
        return Ok(());
    };
    let path = match second_path.or(first_path) {
        Some(p) => format!(", {}", p.display()),
        None => String::new(),
    };
    let why = if first == "the input" {
        "writing it would destroy the input"
    } else {
        "the two outputs would overwrite each other"
    };
    Err(Failure::new(format!(
        "{first} and {second} name the same file{path}: {why}"
    )))
}

impl From<OpenError> for Failure {
    fn from(err: OpenError) -> Self {
        Failure::Message(err.to_string())
    }
}

impl From<crate::channel::ChannelError> for Failure {
    fn from(err: crate::channel::ChannelError) -> Failure {
        match err {
            crate::channel::ChannelError::Write(e) if is_broken_pipe(&e) => Failure::BrokenPipe,
            other => Failure::new(other.to_string()),
        }
    }
}

impl From<crate::rawvideo::RawVideoError> for Failure {
    fn from(err: crate::rawvideo::RawVideoError) -> Failure {
        match err {
            crate::rawvideo::RawVideoError::Io { source, .. } if is_broken_pipe(&source) => {
                Failure::BrokenPipe
            }
            other => Failure::new(other.to_string()),
        }
    }
}

/// An error in a number given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArgError(String);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_ids_are_decimal_or_hex() {
        assert_eq!(parse_transfer_id("258").unwrap(), 258);
        assert_eq!(parse_transfer_id("0x0102").unwrap(), 258);
        assert!(parse_transfer_id("65536").is_err());
        assert!(parse_transfer_id("0x").is_err());
    }
}
