//! One reception as a user asks for it: where the bytes go (standard output or a file),
//! what rides along (the JSON report, the damage picture, an earlier reception to
//! resume), which [`Output`] serves that combination, and the feeding from a mapped file
//! or a stream. `unpktize` parses its arguments into a [`Plan`] and turns a
//! [`ReceiveError`] or a [`Problem`] into its one-line message and exit status; a program
//! that receives the way `unpktize` does needs none of its command line.
//!
//! The outputs, by destination and options:
//! - a regular file: [`FileOutput`], written at offsets as packets arrive (concealed at
//!   the end with `conceal`; an existing file when resuming);
//! - a device or FIFO named as the file, or standard output: [`StreamOutput`], in order
//!   (holding a carousel's transfer up to [`super::Limits::hold_bytes`]);
//! - standard output with concealment: [`ConcealingStream`] around it;
//! - standard output with snapshots (`Settings::snapshot_every`): [`HeldOutput`], the
//!   whole transfer in memory up to [`super::Limits::hold_bytes`].
//! - an indexed JPEG (its first descriptor says so, read ahead by
//!   [`jpeg_output::detect`]), to either destination: [`JpegOutput`], reassembled into a
//!   temporary file and rebuilt at the end.

use super::damage::{DamageMap, RangeSink, RangeSinkError};
use super::image_output::{ConcealingStream, Concealment, HeldOutput, ImageOutput, ImageSource};
use super::jpeg_output::{self, JpegOutput};
use super::map_sink::MapSink;
use super::output::{
    is_out_of_room, FileOutput, HoldLimit, LentInput, Output, OutputError, StreamOutput,
};
use super::report::JsonReport;
use super::resume::{Mismatch, Resume, ResumeError};
use super::StopOnRequest;
use super::{ReassembleError, Reassembler, Report, Settings, Status, TooLarge};
use crate::image::Geometry;
use crate::io::{self as pio, Input};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter};
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

/// The largest transfer written to standard output unless the plan says otherwise: a
/// forged total must not make a receiver write fill without end.
pub const DEFAULT_STDOUT_MAX_SIZE: u64 = 16 << 30;

/// How large a transfer may be before it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeLimit {
    /// [`super::Limits::stream_max_len`] (by default [`DEFAULT_STDOUT_MAX_SIZE`]) to a
    /// stream, none into a file.
    Default,
    /// No limit.
    Unlimited,
    /// At most this many bytes.
    At(u64),
}

/// What a reception is asked to do, before anything is opened.
#[derive(Debug, Clone)]
pub struct Plan {
    /// How to reassemble; its `max_len` and `resume` are set from `size_limit` and
    /// `resume` below.
    pub settings: Settings,
    pub size_limit: SizeLimit,
    /// The file written at offsets; `None` (or `-`) for standard output.
    pub output: Option<PathBuf>,
    /// Hide lost pixels of an image.
    pub conceal: bool,
    /// Where concealment takes a frame's lost pixels from (space, the previous frame).
    pub conceal_mode: crate::conceal::Mode,
    /// The data's geometry when it is raw pixels; otherwise it is read from the head.
    pub image: Option<Geometry>,
    /// Where to draw the damage picture.
    pub map: Option<PathBuf>,
    /// Blend the received image under the map's colours, this percentage of colour.
    pub map_blend: Option<u8>,
    /// Where to write the JSON report.
    pub report: Option<PathBuf>,
    /// The report of an earlier reception into `output` to continue.
    pub resume: Option<PathBuf>,
    /// The input's name (`None` or `-`: standard input), only to check that no output
    /// is the input.
    pub input: Option<PathBuf>,
}

/// Which file an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Output,
    Report,
    Map,
    Resume,
    /// The input, named or standard input.
    Input,
    /// Standard output, when the data goes there.
    Stdout,
}

/// Why a reception could not start or go on. No message names a command-line option:
/// the binary says which of its options each variant is about.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// Two of the files are one (see [`crate::io::FileId`]): writing the second would
    /// destroy the first (or interleave with it). `path` is the one of them that was
    /// named, if either was.
    #[error("{first:?} and {second:?} name the same file{}", .path.as_ref().map(|p| format!(", {}", p.display())).unwrap_or_default())]
    SameFile {
        first: Role,
        second: Role,
        path: Option<PathBuf>,
    },
    #[error("resuming needs an output file")]
    ResumeWithoutFile,
    /// The earlier report cannot be resumed from.
    #[error("{path}: {source}", path = .0.display(), source = .1)]
    ResumeReport(PathBuf, ResumeError),
    /// The file resumed into does not hold what the earlier report says it does.
    #[error("{path}: {source}", path = .0.display(), source = .1)]
    ResumeFile(PathBuf, ResumeError),
    #[error("the transfer to follow differs from the resumed one, {0:#06x}")]
    ResumeIdDiffers(u16),
    #[error("snapshots go to a stream, not to a file written at offsets")]
    SnapshotsToFile,
    /// A file could not be opened, created or inspected.
    #[error("{path}: {source}", path = .path.display())]
    File {
        role: Role,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{0}")]
    Stdout(io::Error),
    /// The transfer was too large, or not the resumed one.
    #[error(transparent)]
    Refused(ReassembleError),
    #[error("writing output: {0}")]
    Write(io::Error),
    /// The output file ran out of room (see [`Output::out_of_room`]): the reception ended
    /// there, and its report (put in place) says what was not written, to resume from
    /// once there is room.
    #[error("writing output: {0}")]
    OutOfRoom(io::Error, Box<Report>),
    /// Writing the output file failed otherwise (EIO): the reception ended there, and its
    /// report (put in place, not sealed) says the file cannot be trusted.
    #[error("writing output: {0} (what the file holds cannot be trusted)")]
    Untrusted(io::Error, Box<Report>),
    #[error("reading input: {0}")]
    Read(io::Error),
    /// Reading the input failed during the reception: what arrived stays, and the report
    /// (put in place) says what was settled, to resume from.
    #[error("reading input: {0}")]
    InputFailed(io::Error, Box<Report>),
    #[error("writing the report: {0}")]
    WriteReport(io::Error),
    #[error("writing the map: {0}")]
    WriteMap(io::Error),
    #[error(transparent)]
    HoldLimit(HoldLimit),
}

/// How the input is fed, beyond the plan.
pub struct Feed<'a> {
    /// Live mode: the descriptor a stream comes from, polled while it is quiet so stale
    /// gaps are filled in time (`None`: flush after each read only).
    pub live_fd: Option<RawFd>,
    /// Called after each read of a stream with where the reception stands.
    pub on_progress: &'a mut dyn FnMut(&Status),
    /// Receive datagrams from this socket instead of reading the input.
    pub udp: Option<crate::io::udp::UdpReceiver>,
    /// Asked by the driver (never by the reassembler) while fill is written and the map
    /// drawn: true once the program should stop (see [`super::StopOnRequest`]).
    pub stop: fn() -> bool,
}

/// A reception that can start: its plan checked, the earlier reception read.
#[derive(Debug)]
pub struct Reception {
    plan: Plan,
    /// The output file, `-` taken as standard output.
    output: Option<PathBuf>,
}

/// What a reception came to.
#[derive(Debug)]
pub struct Received {
    pub report: Report,
    /// What concealment did not do, for `-v` (non-image data, no geometry).
    pub note: Option<String>,
    /// Why concealment stopped before the end (a frame stream not laid out as its head
    /// says), to say whether or not `-v` was given.
    pub warning: Option<String>,
    /// The output file, when there is one.
    pub output: Option<PathBuf>,
    /// The transfer followed: asked for, or the resumed one.
    pub followed: Option<u16>,
    /// A key was given.
    pub keyed: bool,
    /// An earlier reception was resumed.
    pub resumed: bool,
    /// The transfer was an indexed JPEG, rebuilt at the end (`note` says what was lost).
    pub jpeg: bool,
}

/// What the output had to say about concealment.
#[derive(Debug, Default)]
pub struct Notes {
    /// For `-v`.
    pub note: Option<String>,
    /// Always.
    pub warning: Option<String>,
}

/// Why a finished reception is an error rather than a (possibly damaged) result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{}: the earlier file does not hold this transfer: {why}", .output.display())]
    Mismatch { output: PathBuf, why: Mismatch },
    #[error("no packets of the resumed transfer {0:#06x} in the input")]
    ResumedTransferAbsent(u16),
    /// A transfer claimed more than the size limit.
    #[error(transparent)]
    TooLarge(TooLarge),
    #[error("no packet passed authentication: wrong key?")]
    WrongKey,
    #[error("no packet passed authentication: the packets carry no tag (sent without a key)")]
    Untagged,
    #[error("packets are authenticated: a key is needed")]
    NeedsKey,
    #[error("packets are encrypted: a key is needed")]
    NeedsKeyToDecrypt,
    #[error("no pktize packets{} in the input", .0.map(|id| format!(" of transfer {id:#06x}")).unwrap_or_default())]
    NoPackets(Option<u16>),
}

impl Received {
    /// What makes this reception an error, if anything, in the order a user needs to
    /// hear it.
    pub fn problem(&self) -> Option<Problem> {
        let r = &self.report;
        if let (Some(why), Some(output)) = (&r.mismatch, &self.output) {
            return Some(Problem::Mismatch {
                output: output.clone(),
                why: why.clone(),
            });
        }
        if self.resumed && r.transfers.is_empty() {
            return Some(Problem::ResumedTransferAbsent(
                self.followed
                    .expect("a resumed reception follows its transfer"),
            ));
        }
        if let Some(id) = self.followed.filter(|_| r.transfers.is_empty()) {
            if !pio::stop_requested() {
                // Packets of other transfers only: the one asked for never came.
                return Some(Problem::NoPackets(Some(id)));
            }
        }
        if let Some(why) = r.refused {
            return Some(Problem::TooLarge(why));
        }
        let c = &r.counts;
        if self.keyed && c.authentic == 0 && c.rejected > 0 {
            return Some(Problem::WrongKey);
        }
        if self.keyed && c.authentic == 0 && c.unauthenticated > 0 {
            return Some(Problem::Untagged);
        }
        if c.keyed > 0 && c.packets_found() == c.keyed {
            return Some(match c.encrypted {
                0 => Problem::NeedsKey,
                _ => Problem::NeedsKeyToDecrypt,
            });
        }
        if c.packets_found() == 0 && !pio::stop_requested() {
            return Some(Problem::NoPackets(self.followed));
        }
        None
    }
}

impl Reception {
    /// Check a plan and read the earlier reception it resumes, before any input is read.
    pub fn new(mut plan: Plan) -> Result<Reception, ReceiveError> {
        // `-` is standard output, as coreutils have it.
        let output = plan.output.clone().filter(|p| p != Path::new("-"));
        check_files(&plan, output.as_deref())?;
        let resume = match (&plan.resume, &output) {
            (Some(_), None) => return Err(ReceiveError::ResumeWithoutFile),
            (Some(path), Some(out)) => Some(load_resume(path, out, &plan.settings)?),
            (None, _) => None,
        };
        plan.settings.max_len = match plan.size_limit {
            SizeLimit::At(n) => Some(n),
            SizeLimit::Unlimited => None,
            // A FIFO, `/dev/stdout` or a device is a stream like standard output (issue
            // 35.9): only a regular file (or one yet to be made) goes unlimited.
            SizeLimit::Default if output.as_deref().is_none_or(is_stream) => {
                Some(plan.settings.limits.stream_max_len)
            }
            SizeLimit::Default => None,
        };
        plan.settings.resume = resume;
        if plan.settings.snapshot_every.is_some() && output.is_some() {
            return Err(ReceiveError::SnapshotsToFile);
        }
        Ok(Reception { plan, output })
    }

    /// The output is standard output.
    pub fn to_stdout(&self) -> bool {
        self.output.is_none()
    }

    /// Receive `input`: open the report, map and output, reassemble, and put the report in
    /// place.
    pub fn run(self, input: Input, feed: Feed) -> Result<Received, ReceiveError> {
        let plan = &self.plan;
        // The report is written beside its place and put there only once it is whole:
        // a reception that fails (a full disk) never leaves an unfinished report, and an
        // earlier one (resuming with the report in place) stays when the transfer does
        // not match. A report to a device or FIFO is written in place.
        let report_path = plan.report.as_ref().map(|r| {
            let special = std::fs::metadata(r).is_ok_and(|m| !m.is_file());
            if special {
                return r.clone();
            }
            let mut name = std::ffi::OsString::from(".");
            name.push(r.file_name().unwrap_or_default());
            name.push(".unpktize-new");
            r.with_file_name(name)
        });
        let picture = jpeg_output::PictureDamage::default();
        let damage = self.damage_map(report_path.as_deref(), &picture, feed.stop)?;
        let received = self.reassemble(damage, input, feed, &picture);
        // Resuming, the new report replaces the old one only when the transfer matched.
        let report_of = match &received {
            Ok(r) => Some(&r.0),
            Err(
                ReceiveError::OutOfRoom(_, r)
                | ReceiveError::Untrusted(_, r)
                | ReceiveError::InputFailed(_, r),
            ) => Some(&**r),
            Err(_) => None,
        };
        // The map is drawn after the report is written and sealed (`MapSink::finish`):
        // a map that could not be written (a full disk) leaves a finished report of a
        // fresh reception. Resuming, which report describes the file is not known then.
        let map_failed = matches!(received, Err(ReceiveError::WriteMap(_)));
        let finished = report_of.is_some() || (map_failed && plan.resume.is_none());
        let matched = report_of.is_some_and(|r| r.mismatch.is_none() && !r.transfers.is_empty());
        if let (Some(written), Some(asked)) = (&report_path, &plan.report) {
            if !finished || (plan.resume.is_some() && !matched) {
                if written != asked {
                    let _ = std::fs::remove_file(written);
                }
            } else if written != asked {
                std::fs::rename(written, asked).map_err(file_error(Role::Report, asked))?;
            }
        }
        let (report, notes, jpeg) = received?;
        Ok(Received {
            jpeg,
            report,
            note: notes.note,
            warning: notes.warning,
            output: self.output.clone(),
            followed: plan.settings.transfer_id.or(self
                .plan
                .settings
                .resume
                .as_ref()
                .map(|r| r.id)),
            keyed: plan.settings.key.is_some(),
            resumed: self.plan.settings.resume.is_some(),
        })
    }

    /// The damage map with what rides along: the JSON report, the picture.
    fn damage_map(
        &self,
        report_path: Option<&Path>,
        picture: &jpeg_output::PictureDamage,
        stop: fn() -> bool,
    ) -> Result<DamageMap, ReceiveError> {
        let plan = &self.plan;
        let sink = match report_path {
            Some(path) => {
                let file = File::create(path).map_err(file_error(Role::Report, path))?;
                let (file, unreserved) = ReservedFile::new(file);
                // Resuming writes into a sealed file: were its new report not written, the
                // old one would describe bytes that changed, and no later resume could go
                // on. No room for the new report: stop before anything is written.
                let resuming = plan.settings.resume.is_some();
                if let Some(e) = unreserved.filter(|e| resuming && is_out_of_room(e)) {
                    drop(file);
                    let _ = std::fs::remove_file(path);
                    return Err(ReceiveError::WriteReport(e));
                }
                let json =
                    JsonReport::new(BufWriter::new(file)).map_err(ReceiveError::WriteReport)?;
                Some(Box::new(json) as Box<dyn RangeSink>)
            }
            None => None,
        };
        let sink = match &plan.map {
            Some(path) => {
                let file = File::create(path).map_err(file_error(Role::Map, path))?;
                let map = MapSink::new(
                    BufWriter::new(file),
                    sink,
                    plan.image.clone(),
                    self.output.clone(),
                    plan.map_blend,
                )
                .with_limits(&plan.settings.limits)
                .with_stop(stop)
                .with_picture(picture.clone());
                Some(Box::new(map) as Box<dyn RangeSink>)
            }
            None => sink,
        };
        let mut damage = DamageMap::new(sink);
        if plan.map.is_some() {
            damage.record_repairs();
        }
        Ok(damage)
    }

    /// Choose the output and reassemble into it.
    fn reassemble(
        &self,
        damage: DamageMap,
        input: Input,
        feed: Feed,
        picture: &jpeg_output::PictureDamage,
    ) -> Result<(Report, Notes, bool), ReceiveError> {
        let plan = &self.plan;
        let mut settings = plan.settings.clone();
        // An indexed JPEG is rebuilt at the end: it must be known before anything is
        // written (resuming and snapshots take the transfer's bytes as they are).
        let (input, indexed) = jpeg_output::detect(
            input,
            settings.transfer_id,
            settings.key.as_ref(),
            feed.live_fd,
            &settings.limits,
        )
        .map_err(ReceiveError::Write)?;
        let jpeg = indexed.filter(|_| settings.resume.is_none());
        if let Some(payload_len) = jpeg {
            // A damaged payload would decode to garbage: it is lost, and concealed.
            settings.damaged = super::DamagedPolicy::Fill;
            let temp = jpeg_output::temp_file().map_err(ReceiveError::Write)?;
            let dest = match &self.output {
                Some(path) => OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(true)
                    .open(path)
                    .map_err(file_error(Role::Output, path))?,
                None => pio::stdout_file().map_err(ReceiveError::Stdout)?,
            };
            let dest = pio::ByteStream::new(dest);
            let mut out =
                JpegOutput::new(temp, payload_len, BufWriter::with_capacity(1 << 20, dest))
                    .map_err(ReceiveError::Write)?
                    .with_max_transfer(settings.limits.jpeg_transfer_bytes);
            if plan.conceal {
                out = out.as_picture().with_damage(picture.clone());
            }
            // The live view of a JPEG to a stream: a picture after every packet.
            if self.output.is_none() && settings.live_latency.is_some() {
                settings.snapshot_every.get_or_insert(1);
            }
            if settings.snapshot_every.is_some() {
                out = out.with_snapshots();
            }
            let (report, note) = reassemble_into(out, settings, damage, input, feed)?;
            return Ok((report, note, true));
        }
        let concealment = Concealment::new(plan.conceal_mode, &settings.limits);
        let source = match &plan.image {
            Some(g) => ImageSource::Given(g.clone(), concealment),
            None => ImageSource::Head(concealment),
        };
        let stdout = || pio::stdout_stream().map_err(ReceiveError::Stdout);
        // The output file is opened first: whether it takes writes at offsets (a regular
        // file) or not (a device, a FIFO) is a fact of the choice below.
        let file = match &self.output {
            Some(path) if self.plan.settings.resume.is_some() => Some(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(file_error(Role::Output, path))?,
            ),
            Some(path) => Some(
                OpenOptions::new()
                    .create(true)
                    .read(true)
                    .write(true)
                    .truncate(true)
                    .open(path)
                    .or_else(|first| {
                        // A device or FIFO may be writable only; for anything else the
                        // first error is the one to tell (a read-only file system, a
                        // directory that cannot be written: not "no such file").
                        let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file());
                        if !special {
                            return Err(first);
                        }
                        OpenOptions::new().write(true).truncate(true).open(path)
                    })
                    .map_err(file_error(Role::Output, path))?,
            ),
            None => None,
        };
        let facts = OutputFacts {
            file: file
                .as_ref()
                .map(|f| f.metadata().is_ok_and(|m| m.is_file())),
            resume: settings.resume.is_some(),
            snapshots: settings.snapshot_every.is_some(),
            conceal: plan.conceal,
        };
        let path = self.output.as_deref().unwrap_or(Path::new("-"));
        match (choose_output(&facts), file) {
            (OutputKind::Resumed, Some(file)) => {
                let out = FileOutput::existing(file).map_err(file_error(Role::Output, path))?;
                plain(reassemble_into(out, settings, damage, input, feed))
            }
            (OutputKind::File { conceal }, Some(file)) => {
                let mut out = FileOutput::new(file);
                if conceal {
                    out = out.concealing(source);
                }
                plain(reassemble_into(out, settings, damage, input, feed))
            }
            (OutputKind::Device, Some(file)) => {
                // A device or a FIFO (/dev/null, /dev/stdout) takes no writes at offsets.
                let kernel = file.try_clone().ok().map(OwnedFd::from);
                plain(reassemble_into(
                    StreamOutput::new(file).with_kernel_copy(kernel),
                    settings,
                    damage,
                    input,
                    feed,
                ))
            }
            (OutputKind::Held, _) => {
                let fill = settings.fill.clone();
                let hold = settings.limits.hold_bytes;
                let out = HeldOutput::new(stdout()?, hold, fill, Some(source), plan.conceal, true);
                plain(reassemble_into(out, settings, damage, input, feed))
            }
            (OutputKind::ConcealingStream, _) => {
                let out = ConcealingStream::new(StreamOutput::new(stdout()?), source);
                plain(reassemble_into(out, settings, damage, input, feed))
            }
            (OutputKind::Stream, _) => {
                let stream = stdout()?;
                let kernel = (!stream.is_messages())
                    .then(|| stream.file().try_clone().ok().map(OwnedFd::from))
                    .flatten();
                let out = StreamOutput::new(stream)
                    .with_limits(&settings.limits)
                    .with_kernel_copy(kernel);
                plain(reassemble_into(out, settings, damage, input, feed))
            }
            (OutputKind::Resumed | OutputKind::File { .. } | OutputKind::Device, None) => {
                unreachable!("choose_output picks a file's output only when a file is open")
            }
        }
    }
}

/// What the output is chosen from (besides an indexed JPEG, chosen before: see
/// `Reception::reassemble`): all known before anything is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputFacts {
    /// An output file is open: `Some(true)` when it is a regular file (writes at offsets),
    /// `Some(false)` for a device or FIFO; `None` for standard output.
    pub file: Option<bool>,
    /// Resuming an earlier reception into the file.
    pub resume: bool,
    /// Whole-transfer snapshots are asked for (`--every`).
    pub snapshots: bool,
    /// Lost pixels are concealed.
    pub conceal: bool,
}

/// Which output a reception writes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// The earlier reception's file, written at offsets, its bytes kept.
    Resumed,
    /// A new regular file, written at offsets; concealed at the end when asked.
    File { conceal: bool },
    /// A device or FIFO named as the output: a stream, no concealment.
    Device,
    /// Standard output, the transfer held whole for snapshots.
    Held,
    /// Standard output, concealed on the way.
    ConcealingStream,
    /// Standard output as it comes.
    Stream,
}

/// The output for `facts`: a pure function, so the choice is tested without files.
pub fn choose_output(facts: &OutputFacts) -> OutputKind {
    match facts.file {
        Some(_) if facts.resume => OutputKind::Resumed,
        Some(true) => OutputKind::File {
            conceal: facts.conceal,
        },
        Some(false) => OutputKind::Device,
        None if facts.snapshots => OutputKind::Held,
        None if facts.conceal => OutputKind::ConcealingStream,
        None => OutputKind::Stream,
    }
}

/// A reception that was not an indexed JPEG.
fn plain(r: Result<(Report, Notes), ReceiveError>) -> Result<(Report, Notes, bool), ReceiveError> {
    r.map(|(report, note)| (report, note, false))
}

/// Reassemble `input` into `out`; the report, and what concealment had to say.
fn reassemble_into<O: Output + ImageOutput>(
    out: O,
    settings: Settings,
    damage: DamageMap,
    input: Input,
    feed: Feed,
) -> Result<(Report, Notes), ReceiveError> {
    let live = settings.live_latency.is_some();
    let mut settings = settings;
    // A file ends: read it all, so a transfer after a whole carousel is not left unread
    // (stopping early only spares a receiver of an endless stream from waiting).
    settings.stop_when_whole &= matches!(input, Input::Stream(_));
    let mut r = Reassembler::new(settings, StopOnRequest::new(out, feed.stop), damage);
    let fed = match (feed.udp, input) {
        (Some(mut rx), _) => {
            let on_progress = feed.on_progress;
            super::run_datagrams(&mut rx, &mut r, live, &mut |r| on_progress(&r.status()))
        }
        (None, Input::Mapped(map)) => {
            let map = Rc::new(map);
            let lent: LentInput = map.clone();
            // Only what nothing refers to any more (the output's gathered pieces, the
            // window, the FEC ring), so no page is faulted back in and released again.
            super::run_slice(lent, &mut r, &mut |range| pio::release(&map, range))
        }
        (None, Input::Stream(mut reader)) => {
            let fd = feed.live_fd;
            // An input that cannot be polled: live mode then flushes per read only.
            let wait = move |t: Duration| fd.is_none_or(|fd| pio::wait_readable(fd, t));
            let live: Option<&dyn Fn(Duration) -> bool> = live.then_some(&wait);
            let on_progress = feed.on_progress;
            super::run_stream(&mut reader, &mut r, live, &mut |r| on_progress(&r.status()))
        }
    };
    match fed {
        // Asked to stop while writing fill: keep what was settled, write the report.
        Ok(()) | Err(ReassembleError::Stopped) => {}
        // The input failed (a connection reset): keep what arrived, and end with the
        // report of what was settled, as at the end of the input.
        Err(ReassembleError::Input(e)) => {
            let (report, _) = r.finish()?;
            return Err(ReceiveError::InputFailed(e, Box::new(report)));
        }
        Err(e) => return Err(e.into()),
    }
    let (report, out) = r.finish()?;
    if let Some(e) = out.write_failed() {
        let room = is_out_of_room(e);
        let e = match e.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(e.kind(), e.to_string()),
        };
        let report = Box::new(report);
        return Err(if room {
            ReceiveError::OutOfRoom(e, report)
        } else {
            ReceiveError::Untrusted(e, report)
        });
    }
    let out = out.into_inner();
    let notes = Notes {
        note: out.note(),
        warning: out.warning(),
    };
    Ok((report, notes))
}

/// What went wrong while receiving, by what failed: the output (or its hold), the report,
/// the map, the input; or a refused transfer.
impl From<ReassembleError> for ReceiveError {
    fn from(e: ReassembleError) -> Self {
        match e {
            ReassembleError::Output(OutputError::Io(e)) | ReassembleError::Store(e) => {
                ReceiveError::Write(e)
            }
            ReassembleError::Output(OutputError::HoldLimit(limit)) => {
                ReceiveError::HoldLimit(limit)
            }
            // Not made by the conversion into ReassembleError (it is `Stopped`).
            ReassembleError::Output(OutputError::Stopped) => {
                ReceiveError::Refused(ReassembleError::Stopped)
            }
            ReassembleError::Ranges(RangeSinkError::Report(e)) => ReceiveError::WriteReport(e),
            ReassembleError::Ranges(RangeSinkError::Map(e)) => ReceiveError::WriteMap(e),
            ReassembleError::Input(e) => ReceiveError::Read(e),
            e @ (ReassembleError::TooLarge(_)
            | ReassembleError::Mismatch(_)
            | ReassembleError::Stopped) => ReceiveError::Refused(e),
        }
    }
}

/// Room set aside in a new report file before the reception starts (`ReservedFile`).
pub const REPORT_RESERVE: u64 = 256 << 10;

/// Ranges a report lists at most once the output ran out of room: what fits in
/// [`REPORT_RESERVE`] with room for the totals (a range's line is under 64 bytes).
pub const RANGES_OUT_OF_ROOM: usize = (REPORT_RESERVE as usize - (16 << 10)) / 64;

/// A report file with [`REPORT_RESERVE`] bytes allocated at its creation (where the file
/// system can), written from its start; the final flush cuts it to what was written. A
/// disk that fills up during the reception (the output is usually beside the report)
/// still takes a report of [`RANGES_OUT_OF_ROOM`] ranges, so the reception can be resumed.
/// A report to a device or FIFO is written as a stream.
struct ReservedFile {
    file: File,
    /// Where the next write goes, in a regular file (`None`: a stream).
    at: Option<u64>,
    reserved: u64,
}

impl ReservedFile {
    /// The file, and why no room could be set aside in it, if none was (a file system
    /// without `fallocate`, or a full one).
    fn new(file: File) -> (Self, Option<io::Error>) {
        use rustix::fs::FallocateFlags;
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            let stream = ReservedFile {
                file,
                at: None,
                reserved: 0,
            };
            return (stream, None);
        }
        let reserve = rustix::fs::fallocate(&file, FallocateFlags::empty(), 0, REPORT_RESERVE);
        let file = ReservedFile {
            file,
            at: Some(0),
            reserved: if reserve.is_ok() { REPORT_RESERVE } else { 0 },
        };
        (file, reserve.err().map(io::Error::from))
    }
}

impl io::Write for ReservedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let Some(at) = &mut self.at else {
            return self.file.write(buf);
        };
        let n = self.file.write_at(buf, *at)?;
        *at += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.at {
            Some(at) if at < self.reserved => {
                self.file.set_len(at)?;
                self.reserved = at;
            }
            _ => {}
        }
        Ok(())
    }
}

fn file_error(role: Role, path: &Path) -> impl FnOnce(io::Error) -> ReceiveError + '_ {
    move |source| ReceiveError::File {
        role,
        path: path.to_path_buf(),
        source,
    }
}

/// Read the report of the reception to continue into `out`, and check `out` against it.
fn load_resume(path: &Path, out: &Path, settings: &Settings) -> Result<Resume, ReceiveError> {
    let file = File::open(path).map_err(file_error(Role::Resume, path))?;
    let resume = Resume::from_reader_within(file, &settings.limits)
        .map_err(|e| ReceiveError::ResumeReport(path.to_path_buf(), e))?;
    if settings.transfer_id.is_some_and(|id| id != resume.id) {
        return Err(ReceiveError::ResumeIdDiffers(resume.id));
    }
    let file = File::open(out).map_err(file_error(Role::Output, out))?;
    resume
        .check_file(&file)
        .map_err(|e| ReceiveError::ResumeFile(out.to_path_buf(), e))?;
    Ok(resume)
}

/// Refuse, before anything is opened, an output that is the input, two outputs that are
/// one file (standard output among them when the data goes there), and an output that is
/// the report being resumed, but for the report itself: resuming rewrites the report it
/// read (put in place at the end, see [`Reception::run`]).
fn check_files(plan: &Plan, output: Option<&Path>) -> Result<(), ReceiveError> {
    use crate::io::{first_clash, FileId};
    use std::os::fd::AsFd;
    let named = |role: Role, path: &Path| (role, FileId::of_path(path));
    let input = match plan.input.as_deref().filter(|p| *p != Path::new("-")) {
        Some(path) => named(Role::Input, path),
        None => (Role::Input, FileId::of_fd(io::stdin().as_fd())),
    };
    let mut outputs = vec![match output {
        Some(path) => named(Role::Output, path),
        None => (Role::Stdout, FileId::of_fd(io::stdout().as_fd())),
    }];
    outputs.extend(plan.map.as_deref().map(|p| named(Role::Map, p)));
    outputs.extend(plan.report.as_deref().map(|p| named(Role::Report, p)));
    let resumed: Vec<_> = plan.resume.iter().map(|p| named(Role::Resume, p)).collect();
    let not_report: Vec<_> = outputs
        .iter()
        .filter(|(r, _)| *r != Role::Report)
        .cloned()
        .collect();
    let clash = first_clash(&[input], &outputs).or_else(|| first_clash(&resumed, &not_report));
    let Some((first, second)) = clash else {
        return Ok(());
    };
    let path_of = |role| match role {
        Role::Output => output,
        Role::Report => plan.report.as_deref(),
        Role::Map => plan.map.as_deref(),
        Role::Resume => plan.resume.as_deref(),
        Role::Input => plan.input.as_deref().filter(|p| *p != Path::new("-")),
        Role::Stdout => None,
    };
    Err(ReceiveError::SameFile {
        first,
        second,
        path: path_of(second).or(path_of(first)).map(Path::to_path_buf),
    })
}

/// An existing output that is not a regular file: written as a stream, whatever its name.
fn is_stream(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_is_chosen_from_the_plan_alone() {
        for file in [None, Some(false), Some(true)] {
            for resume in [false, true] {
                for snapshots in [false, true] {
                    for conceal in [false, true] {
                        let facts = OutputFacts {
                            file,
                            resume,
                            snapshots,
                            conceal,
                        };
                        let kind = choose_output(&facts);
                        let to_file = matches!(
                            kind,
                            OutputKind::Resumed | OutputKind::File { .. } | OutputKind::Device
                        );
                        // A named output is the output; standard output otherwise.
                        assert_eq!(to_file, file.is_some(), "{facts:?}");
                        // Resuming keeps the earlier bytes: never a truncating output.
                        assert_eq!(
                            kind == OutputKind::Resumed,
                            resume && file.is_some(),
                            "{facts:?}"
                        );
                        // Offsets only where the file takes them.
                        if matches!(kind, OutputKind::File { .. }) {
                            assert_eq!(file, Some(true), "{facts:?}");
                        }
                        if kind == OutputKind::Device {
                            assert_eq!(file, Some(false), "{facts:?}");
                        }
                        // Snapshots to standard output hold the transfer.
                        assert_eq!(
                            kind == OutputKind::Held,
                            snapshots && file.is_none(),
                            "{facts:?}"
                        );
                        // Concealment asked for is done by the output chosen (a held
                        // transfer conceals in itself; a device takes what comes).
                        match kind {
                            OutputKind::File { conceal: c } => assert_eq!(c, conceal),
                            OutputKind::ConcealingStream => assert!(conceal, "{facts:?}"),
                            OutputKind::Stream => assert!(!conceal, "{facts:?}"),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
}
