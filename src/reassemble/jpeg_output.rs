//! Receiving an indexed JPEG (`pktize(5)`, JPEG transfers): the transfer is reassembled
//! into an unlinked temporary file as any other, and at the end turned back into the
//! JPEG ([`crate::jpeg::rebuild()`]): the original file when every packet arrived, else a
//! baseline JPEG of what arrived, lost MCUs concealed. Several transfers one after
//! another ([`Output::transfers`]) are rebuilt each on its own and written in turn.
//!
//! A receiver must know before the first byte is written whether the transfer is an
//! indexed JPEG: [`detect`] reads ahead to the first intact descriptor only while the data
//! packets may be an indexed JPEG's (a plain transfer stops it at its first data packet),
//! at most [`Limits::jpeg_peek_bytes`] of a stream while it keeps coming, and gives the
//! input back whole. The transfer is read back into memory at the end, up to
//! [`Limits::jpeg_transfer_bytes`], with the coefficients of the image
//! ([`crate::jpeg::rebuild::MAX_BLOCKS`]). The constants here are those caps' defaults.

use super::image_output::ImageOutput;
use super::limits::Limits;
use super::output::{FileOutput, LentInput, Output, OutputResult};
use crate::conceal::map::{ByteState, StateRange};
use crate::descriptor::{self, Descriptor, MediaType};
use crate::framing::{Frame, Scanner};
use crate::image::Geometry;
use crate::io::Input;
use crate::jpeg;
use crate::wire::auth::Key;
use crate::wire::{Kind, HEADER_LEN};
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::os::fd::RawFd;
use std::os::unix::fs::FileExt;
use std::rc::Rc;
use std::time::Duration;

/// Most bytes of a stream read ahead to find the first descriptor.
pub const PEEK_MAX: usize = 1 << 20;
/// How long a quiet stream is waited for while reading ahead.
pub const PEEK_QUIET: Duration = Duration::from_millis(200);
/// The longest indexed JPEG transfer rebuilt (it is read back into memory): the longest
/// JPEG the sender indexes with its sub-headers at the smallest payload size.
pub const MAX_TRANSFER: u64 = 128 << 20;

/// The input, given back whole, and the payload size of the transfer when it is an
/// indexed JPEG. Its first intact descriptor (of transfer `id` if given) says so; the
/// input is read ahead to it only while the data packets may be an indexed JPEG's (their
/// payloads start with a sub-header), at most [`PEEK_MAX`] bytes of a stream. When no
/// descriptor arrives, the transfer's first data packet says so on its own: a sub-header,
/// then a JPEG's SOI. With `fd`, the stream's descriptor, reading ahead also stops once
/// the input has been quiet for [`PEEK_QUIET`], so a sender that waits is not held up.
pub fn detect(
    input: Input,
    id: Option<u16>,
    key: Option<&Key>,
    fd: Option<RawFd>,
    limits: &Limits,
) -> io::Result<(Input, Option<u16>)> {
    match input {
        Input::Mapped(map) => {
            let found = look_ahead(&map[..], id, key, true)?;
            Ok((Input::Mapped(map), found.indexed()))
        }
        Input::Stream(mut reader) => {
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 64 << 10];
            let found = loop {
                let quiet =
                    fd.is_some_and(|fd| !crate::io::wait_readable(fd, limits.jpeg_peek_quiet));
                if buf.len() >= limits.jpeg_peek_bytes || quiet {
                    break look_ahead(&buf, id, key, true)?;
                }
                let n = match reader.read(&mut chunk) {
                    Ok(0) => break look_ahead(&buf, id, key, true)?,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                buf.extend_from_slice(&chunk[..n]);
                match look_ahead(&buf, id, key, false)? {
                    Ahead::Undecided => continue,
                    decided => break decided,
                }
            };
            let chained: Box<dyn Read> = Box::new(io::Cursor::new(buf).chain(reader));
            Ok((Input::Stream(chained), found.indexed()))
        }
    }
}

/// What the bytes read ahead say of the transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ahead {
    /// An indexed JPEG of this payload size.
    Indexed(u16),
    /// Anything else.
    Other,
    /// Not known yet: read on.
    Undecided,
}

impl Ahead {
    fn indexed(self) -> Option<u16> {
        match self {
            Ahead::Indexed(p) => Some(p),
            _ => None,
        }
    }
}

/// Look at `buf` (all there is when `complete`) packet by packet: the first intact
/// descriptor decides, and so does a data packet whose payload cannot start with a
/// sub-header ([`jpeg::packets::SubHeader::plausible`]: not an indexed JPEG). Without a
/// descriptor in all of it, the intact first data packet (offset 0) of an indexed JPEG
/// (a sub-header, then SOI) tells its payload size.
fn look_ahead(buf: &[u8], id: Option<u16>, key: Option<&Key>, complete: bool) -> io::Result<Ahead> {
    let mut scanner = Scanner::new();
    let mut pos = 0;
    let mut first_piece = None;
    loop {
        let frame = scanner.scan(&buf[pos..], complete);
        if frame.is_empty() {
            break;
        }
        let len = frame.len();
        if let Frame::Packet {
            header,
            intact: true,
            payload_len,
            ..
        } = frame
        {
            let wanted = id.is_none_or(|id| id == header.transfer_id);
            let payload = &buf[pos + HEADER_LEN..pos + HEADER_LEN + payload_len];
            match header.kind {
                Kind::Descriptor if wanted => {
                    // Checked (and deciphered) as the reassembler will; a forged or other
                    // key's descriptor decides nothing.
                    let one = &mut &buf[pos..pos + len];
                    if let Some((_, d)) = descriptor::find_first(one, id, key)? {
                        return Ok(if is_indexed_jpeg(&d) {
                            Ahead::Indexed(d.payload_len)
                        } else {
                            Ahead::Other
                        });
                    }
                }
                Kind::Data if wanted => {
                    if !jpeg::packets::SubHeader::plausible(payload) {
                        return Ok(Ahead::Other);
                    }
                    if header.offset == 0 && !header.keyed && starts_jpeg(payload) {
                        first_piece.get_or_insert(header.payload_len);
                    }
                }
                _ => {}
            }
        }
        pos += len;
    }
    Ok(match (complete, first_piece) {
        (false, _) => Ahead::Undecided,
        (true, Some(p)) => Ahead::Indexed(p),
        (true, None) => Ahead::Other,
    })
}

/// True when `payload`, a data packet's at offset 0, is a sub-header and then the start of
/// a JPEG (SOI and a marker).
fn starts_jpeg(payload: &[u8]) -> bool {
    jpeg::packets::SubHeader::parse(payload)
        .and_then(|h| payload.get(h.byte_len()..h.byte_len() + 3))
        .is_some_and(|soi| soi == [0xFF, 0xD8, 0xFF])
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
    /// The longest transfer rebuilt ([`Limits::jpeg_transfer_bytes`]).
    max_transfer: u64,
    note: Option<String>,
    /// Write the picture so far at each snapshot (`--every`, `--live`).
    snapshots: bool,
    /// The transfer's length, once known.
    total: Option<u64>,
    /// Where the picture's damage goes, for the map.
    damage: Option<PictureDamage>,
    /// The transfers received, one after another (output ranges), once the input ended.
    spans: Vec<Range<u64>>,
}

/// The damage of the picture written (`--conceal`), for the map: its geometry and the
/// byte ranges of its lost MCUs' pixels, sorted and disjoint; set when the picture is.
pub type PictureDamage = Rc<RefCell<Option<(Geometry, Vec<StateRange>)>>>;

impl<W: Write> JpegOutput<W> {
    /// Reassemble into `temp` (an empty file nobody else writes, unlinked or soon
    /// removed), the transfer's payload size `payload_len`, the JPEG to `dest`.
    pub fn new(temp: File, payload_len: u16, dest: W) -> io::Result<Self> {
        Ok(JpegOutput {
            max_transfer: MAX_TRANSFER,
            inner: FileOutput::new(temp.try_clone()?),
            file: temp,
            dest,
            payload_len: usize::from(payload_len),
            picture: false,
            note: None,
            snapshots: false,
            total: None,
            damage: None,
            spans: Vec::new(),
        })
    }

    /// Write the picture (or JPEG) of what arrived so far at each snapshot, lost and
    /// not yet arrived MCUs concealed, so a stream of pictures fills in as packets come.
    pub fn with_snapshots(self) -> Self {
        JpegOutput {
            snapshots: true,
            ..self
        }
    }

    /// Tell `damage` where the written picture was concealed.
    pub fn with_damage(self, damage: PictureDamage) -> Self {
        JpegOutput {
            damage: Some(damage),
            ..self
        }
    }

    /// Write the JPEG's picture as PNM (P6, or P5 for grayscale) instead of the JPEG, so
    /// that what reads images of pixels reads it.
    pub fn as_picture(self) -> Self {
        JpegOutput {
            picture: true,
            ..self
        }
    }

    /// Rebuild transfers of at most `bytes` (longer ones are written as they came).
    pub fn with_max_transfer(self, bytes: u64) -> Self {
        JpegOutput {
            max_transfer: bytes,
            ..self
        }
    }

    fn write_jpeg(&mut self, unknown: &[Range<u64>], snapshot: bool) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        if snapshot && len > self.max_transfer {
            return Ok(());
        }
        if len > self.max_transfer {
            self.note = Some(format!(
                "JPEG: a transfer of {len} bytes is more than the {} bytes rebuilt; its bytes are written as they came",
                self.max_transfer
            ));
            return self.copy_through();
        }
        if !snapshot && self.spans.len() > 1 {
            return self.write_several(unknown, len);
        }
        let mut transfer = vec![0; len as usize];
        self.file.read_exact_at(&mut transfer, 0)?;
        let mut unknown = unknown.to_vec();
        if let Some(total) = self
            .total
            .filter(|&t| snapshot && t > len && t <= self.max_transfer)
        {
            // The transfer's end has not been written yet (`unknown` covers it).
            transfer.resize(total as usize, 0);
        }
        if snapshot && unknown.is_empty() && self.total.is_none_or(|t| t > len) {
            // What follows has not arrived: one more packet, lost, so what is here is
            // rebuilt as a part and the rest concealed.
            transfer.resize(transfer.len() + self.payload_len, 0);
            unknown.push(len..transfer.len() as u64);
        }
        self.write_one(&transfer, &unknown, snapshot, "")?;
        self.dest.flush()
    }

    /// Several transfers one after another (`cat a.pk b.pk`): each rebuilt on its own and
    /// written in turn; one that is no indexed JPEG of this payload size (or too long to
    /// rebuild) is written as it came, zeros where it was lost.
    fn write_several(&mut self, unknown: &[Range<u64>], len: u64) -> io::Result<()> {
        let spans = std::mem::take(&mut self.spans);
        for (k, span) in spans.iter().enumerate() {
            let (start, end) = (span.start.min(len), span.end.min(len));
            let mut transfer = vec![0; (end - start) as usize];
            self.file.read_exact_at(&mut transfer, start)?;
            let within: Vec<Range<u64>> = unknown
                .iter()
                .filter(|r| r.start < end && r.end > start)
                .map(|r| r.start.max(start) - start..r.end.min(end) - start)
                .collect();
            let label = format!("transfer {} of {}: ", k + 1, spans.len());
            if end - start > self.max_transfer {
                self.add_note(format!(
                    "{label}JPEG: a transfer of {} bytes is more than the {} bytes rebuilt; its bytes are written as they came",
                    end - start,
                    self.max_transfer
                ));
                self.dest.write_all(&transfer)?;
                continue;
            }
            self.write_one(&transfer, &within, false, &label)?;
        }
        self.dest.flush()
    }

    fn add_note(&mut self, why: String) {
        self.note = Some(match self.note.take() {
            Some(n) => format!("{n}; {why}"),
            None => why,
        });
    }

    /// Rebuild one transfer (`unknown`: its ranges not received) and write it, or what
    /// arrived of it; `label` begins its notes.
    fn write_one(
        &mut self,
        transfer: &[u8],
        unknown: &[Range<u64>],
        snapshot: bool,
        label: &str,
    ) -> io::Result<()> {
        let rebuilt = jpeg::rebuild(transfer, self.payload_len, unknown);
        if snapshot && rebuilt.is_err() {
            return Ok(());
        }
        match rebuilt {
            Ok(r) => {
                if !r.exact && !snapshot {
                    self.add_note(format!("{label}{}", lost_note(&r)));
                }
                let picture = self
                    .picture
                    .then(|| jpeg::pixels::picture(&r.jpeg))
                    .flatten();
                // The map shows one picture: that of a single transfer.
                if let (Some(damage), Some(p), "") = (&self.damage, &picture, label) {
                    *damage.borrow_mut() = picture_damage(p, &r);
                }
                if self.picture && picture.is_none() && !snapshot {
                    self.add_note(format!("{label}JPEG: its picture is not converted (not 1 or 3 components); the JPEG is written"));
                }
                self.dest.write_all(picture.as_deref().unwrap_or(&r.jpeg))?;
            }
            Err(e) => {
                self.add_note(format!(
                    "{label}JPEG not rebuilt: {e}; the bytes that arrived are written at their places, zeros elsewhere"
                ));
                let pieces = jpeg::packets::Pieces::split(transfer, self.payload_len, unknown);
                self.dest.write_all(&pieces.file)?;
            }
        }
        Ok(())
    }

    fn copy_through(&mut self) -> io::Result<()> {
        let mut f = &self.file;
        let mut reader = io::BufReader::new(&mut f);
        io::copy(&mut reader, &mut self.dest)?;
        self.dest.flush()
    }
}

/// The geometry of `picture` (a PNM) and the byte ranges of the pixels of `r`'s lost
/// MCUs in it.
fn picture_damage(picture: &[u8], r: &jpeg::Rebuilt) -> Option<(Geometry, Vec<StateRange>)> {
    let geometry = crate::image::from_head(picture).ok()?;
    let grid = geometry.grids.first()?;
    let (w, h) = (grid.width, grid.rows);
    let mut ranges: Vec<Range<u64>> = Vec::new();
    for (xs, ys) in r.lost_pixels() {
        let (x0, x1) = (xs.start.min(w), xs.end.min(w));
        for y in ys.start.min(h)..ys.end.min(h) {
            let row = grid.row_bytes(grid.stored_row(y));
            let px = grid.pixel_bytes as u64;
            ranges.push(row.start + x0 as u64 * px..row.start + x1 as u64 * px);
        }
    }
    ranges.sort_by_key(|r| r.start);
    let mut states: Vec<StateRange> = Vec::with_capacity(ranges.len());
    for range in ranges.into_iter().filter(|r| r.start < r.end) {
        match states.last_mut() {
            Some(last) if last.range.end >= range.start => {
                last.range.end = last.range.end.max(range.end)
            }
            _ => states.push(StateRange {
                range,
                state: ByteState::Lost,
            }),
        }
    }
    Some((geometry, states))
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
    fn write_at(&mut self, at: u64, data: &[u8]) -> OutputResult<()> {
        self.inner.write_at(at, data)
    }
    fn write_lent(&mut self, at: u64, data: &[u8], pos: usize) -> OutputResult<()> {
        self.inner.write_lent(at, data, pos)
    }
    fn write_fill(&mut self, at: u64, data: &[u8]) -> OutputResult<()> {
        self.inner.write_fill(at, data)
    }
    fn transfers(&mut self, spans: &[Range<u64>]) {
        self.spans = spans.to_vec();
    }
    fn finish(&mut self, unknown: &[Range<u64>]) -> OutputResult<()> {
        self.inner.finish(unknown)?;
        Ok(self.write_jpeg(unknown, false)?)
    }
    fn snapshot(&mut self, unknown: &[Range<u64>]) -> OutputResult<()> {
        if self.snapshots {
            self.inner.flush()?;
            self.write_jpeg(unknown, true)?;
        }
        Ok(())
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
    fn flush(&mut self) -> OutputResult<()> {
        self.inner.flush()
    }
    fn set_len_hint(&mut self, len: u64) -> OutputResult<()> {
        self.total = Some(len);
        self.inner.set_len_hint(len)
    }
    fn set_len(&mut self, len: u64) -> OutputResult<()> {
        self.total = Some(len);
        self.inner.set_len(len)
    }
    fn holes_read_as_zeros(&self) -> bool {
        self.inner.holes_read_as_zeros()
    }
    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> OutputResult<bool> {
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
