//! Receiving an indexed JPEG (`pktize(5)`, JPEG transfers): the transfer is reassembled
//! into an unlinked temporary file as any other, and at the end turned back into the
//! JPEG ([`crate::jpeg::rebuild`]): the original file when every packet arrived, else a
//! baseline JPEG of what arrived, lost MCUs concealed.
//!
//! A receiver must know before the first byte is written whether the transfer is an
//! indexed JPEG: [`detect`] reads ahead to the first intact descriptor (at most
//! [`PEEK_MAX`] bytes of a stream, while it keeps coming, and past a first data packet
//! only when that packet's payload may start with a sub-header) and gives the input back
//! whole. The transfer is read
//! back into memory at the end, up to [`MAX_TRANSFER`] bytes, with the coefficients of the
//! image ([`crate::jpeg::rebuild::MAX_BLOCKS`]).

use super::image_output::ImageOutput;
use super::output::{FileOutput, LentInput, Output};
use crate::descriptor::{self, Descriptor, MediaType};
use crate::framing::{Frame, FrameReader};
use crate::io::Input;
use crate::jpeg;
use crate::wire::auth::Key;
use crate::wire::{Kind, HEADER_LEN};
use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::os::fd::RawFd;
use std::os::unix::fs::FileExt;
use std::time::Duration;

/// Most bytes of a stream read ahead to find the first descriptor.
pub const PEEK_MAX: usize = 1 << 20;
/// How long a quiet stream is waited for while reading ahead.
pub const PEEK_QUIET: Duration = Duration::from_millis(200);
/// The longest indexed JPEG transfer rebuilt (it is read back into memory): the longest
/// JPEG the sender indexes with its sub-headers at the smallest payload size.
pub const MAX_TRANSFER: u64 = 128 << 20;

/// The input, given back whole, and its first intact descriptor (of transfer `id` if
/// given) when one lies in the first [`PEEK_MAX`] bytes (anywhere in a mapped file). With
/// `fd`, the stream's descriptor, reading ahead also stops once the input has been quiet
/// for [`PEEK_QUIET`], so a sender that sends no descriptors and waits is not held up.
pub fn detect(
    input: Input,
    id: Option<u16>,
    key: Option<&Key>,
    fd: Option<RawFd>,
) -> io::Result<(Input, Option<Descriptor>)> {
    match input {
        Input::Mapped(map) => {
            let found = descriptor::find_first(&mut &map[..], id, key)?;
            Ok((Input::Mapped(map), found.map(|(_, d)| d)))
        }
        Input::Stream(mut reader) => {
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 64 << 10];
            let mut found = None;
            while buf.len() < PEEK_MAX {
                if fd.is_some_and(|fd| !crate::io::wait_readable(fd, PEEK_QUIET)) {
                    break;
                }
                let n = match reader.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                buf.extend_from_slice(&chunk[..n]);
                if let Some((_, d)) = descriptor::find_first(&mut &buf[..], id, key)? {
                    found = Some(d);
                    break;
                }
                // A data packet before any descriptor: wait for one only if it may be
                // part of an indexed JPEG (whose first descriptor was lost).
                if first_data_is_plain(&buf, id) {
                    break;
                }
            }
            let chained: Box<dyn Read> = Box::new(io::Cursor::new(buf).chain(reader));
            Ok((Input::Stream(chained), found))
        }
    }
}

/// True when `buf` holds an intact data packet (of transfer `id` if given) whose payload
/// does not start with a sub-header ([`jpeg::packets::SubHeader::plausible`]).
fn first_data_is_plain(buf: &[u8], id: Option<u16>) -> bool {
    let mut input = buf;
    let mut frames = FrameReader::new(&mut input);
    loop {
        while let Some((frame, at)) = frames.next_buffered() {
            if let Frame::Packet {
                header,
                intact: true,
                payload_len,
                ..
            } = frame
            {
                if header.kind == Kind::Data && id.is_none_or(|id| id == header.transfer_id) {
                    let b = frames.buffer();
                    let payload = &b[at + HEADER_LEN..at + HEADER_LEN + payload_len];
                    return !jpeg::packets::SubHeader::plausible(payload);
                }
            }
        }
        if !frames.read_more().unwrap_or(false) {
            return false;
        }
    }
}

/// True when `d` describes an indexed JPEG.
pub fn is_indexed_jpeg(d: &Descriptor) -> bool {
    d.media_type == MediaType::JpegIndexed
}

/// Reassembles an indexed JPEG into a temporary file and writes the JPEG to `dest` at the
/// end.
pub struct JpegOutput<W: Write> {
    inner: FileOutput,
    file: File,
    dest: W,
    payload_len: usize,
    /// Write the picture as PNM instead of the JPEG.
    picture: bool,
    note: Option<String>,
}

impl<W: Write> JpegOutput<W> {
    /// Reassemble into `temp` (an empty file nobody else writes, unlinked or soon
    /// removed), the transfer's payload size `payload_len`, the JPEG to `dest`.
    pub fn new(temp: File, payload_len: u16, dest: W) -> io::Result<Self> {
        Ok(JpegOutput {
            inner: FileOutput::new(temp.try_clone()?),
            file: temp,
            dest,
            payload_len: usize::from(payload_len),
            picture: false,
            note: None,
        })
    }

    /// Write the JPEG's picture as PNM (P6, or P5 for grayscale) instead of the JPEG, so
    /// that what reads images of pixels reads it.
    pub fn as_picture(self) -> Self {
        JpegOutput {
            picture: true,
            ..self
        }
    }

    fn write_jpeg(&mut self, unknown: &[Range<u64>]) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        if len > MAX_TRANSFER {
            self.note = Some(format!(
                "JPEG: a transfer of {len} bytes is more than the {} MiB rebuilt; its bytes are written as they came",
                MAX_TRANSFER >> 20
            ));
            return self.copy_through();
        }
        let mut transfer = vec![0; len as usize];
        self.file.read_exact_at(&mut transfer, 0)?;
        let rebuilt = jpeg::rebuild(&transfer, self.payload_len, unknown);
        match rebuilt {
            Ok(r) => {
                if !r.exact {
                    self.note = Some(lost_note(&r));
                }
                let picture = self
                    .picture
                    .then(|| jpeg::pixels::picture(&r.jpeg))
                    .flatten();
                if self.picture && picture.is_none() {
                    let why = "JPEG: its picture is not converted (not 1 or 3 components); the JPEG is written";
                    self.note = Some(match self.note.take() {
                        Some(n) => format!("{n}; {why}"),
                        None => why.to_string(),
                    });
                }
                self.dest.write_all(picture.as_deref().unwrap_or(&r.jpeg))?;
            }
            Err(e) => {
                self.note = Some(format!(
                    "JPEG not rebuilt: {e}; the bytes that arrived are written at their places, zeros elsewhere"
                ));
                let pieces = jpeg::packets::Pieces::split(&transfer, self.payload_len, unknown);
                self.dest.write_all(&pieces.file)?;
            }
        }
        self.dest.flush()
    }

    fn copy_through(&mut self) -> io::Result<()> {
        let mut f = &self.file;
        let mut reader = io::BufReader::new(&mut f);
        io::copy(&mut reader, &mut self.dest)?;
        self.dest.flush()
    }
}

/// Which MCUs were lost, for people: the count and the first runs.
fn lost_note(r: &jpeg::Rebuilt) -> String {
    let runs: Vec<String> = r
        .lost
        .iter()
        .take(8)
        .map(|l| match l.len() {
            1 => l.start.to_string(),
            _ => format!("{}-{}", l.start, l.end - 1),
        })
        .collect();
    let more = if r.lost.len() > 8 { ", ..." } else { "" };
    format!(
        "JPEG: {} of {} MCUs lost and concealed (MCUs {}{more})",
        r.lost_mcus(),
        r.mcus,
        runs.join(", ")
    )
}

impl<W: Write> Output for JpegOutput<W> {
    fn write_at(&mut self, at: u64, data: &[u8]) -> io::Result<()> {
        self.inner.write_at(at, data)
    }
    fn write_lent(&mut self, at: u64, data: &[u8], pos: usize) -> io::Result<()> {
        self.inner.write_lent(at, data, pos)
    }
    fn write_fill(&mut self, at: u64, data: &[u8]) -> io::Result<()> {
        self.inner.write_fill(at, data)
    }
    fn finish(&mut self, unknown: &[Range<u64>]) -> io::Result<()> {
        self.inner.finish(unknown)?;
        self.write_jpeg(unknown)
    }
    fn lend(&mut self, input: Option<LentInput>) {
        self.inner.lend(input)
    }
    fn oldest_lent(&self) -> Option<usize> {
        self.inner.oldest_lent()
    }
    fn can_write_at(&self, at: u64) -> bool {
        self.inner.can_write_at(at)
    }
    fn seekable(&self) -> bool {
        self.inner.seekable()
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
    fn set_len_hint(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len_hint(len)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn holes_read_as_zeros(&self) -> bool {
        self.inner.holes_read_as_zeros()
    }
    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.read_at(at, buf)
    }
}

impl<W: Write> ImageOutput for JpegOutput<W> {
    fn note(&self) -> Option<String> {
        self.note.clone()
    }
}

/// An empty temporary file, already unlinked: gone with the process.
pub fn temp_file() -> io::Result<File> {
    let dir = std::env::temp_dir();
    for n in 0..100u32 {
        let path = dir.join(format!("unpktize-{}-{n}.tmp", std::process::id()));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => {
                std::fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no temporary file name free"))
}
