//! Packets to bytes: put every received payload at its offset, in order, whatever the
//! channel did: reordering, duplication, loss, damage, garbage, interleaved transfers.
//!
//! [`receive`] is the entry point for a whole reception (outputs, report, map, resume, as
//! `unpktize` offers them); [`Reassembler`] is the engine under it. The parts, each with
//! its own invariants:
//! - [`Packet`]: a packet with its integrity (intact, damaged, truncated), from [`crate::wire`];
//! - `tracker`: which transfer a packet belongs to, and what starts a new one;
//! - `transfer`: one transfer's frontier, window, descriptor, and placement (`extent`: what
//!   is known of its length; `transfer::repair`: late, rebuilt and restored ranges);
//! - `window`: the bounded reorder window; `fingerprints`: duplicates vs conflicts;
//! - `recovery`: the glue to [`crate::fec::Decoder`], which rebuilds lost packets;
//! - `sink` and [`output`]: where bytes go; [`damage`]: what was lost or damaged;
//! - [`Counts`], [`Report`]: what a reception comes to; [`report`]: the JSON damage map
//!   and the human summary; `drive`: feeding from a map or a stream.
//! - [`resume`]: continuing an earlier reception from its report, into the file it left.
//!
//! Errors are typed by what failed: [`ReassembleError`] carries the output's
//! [`output::OutputError`] (its file, or the memory cap of a held transfer), the report's
//! or the map's [`damage::RangeSinkError`], the input's or the fountain store's I/O
//! error, a refused transfer ([`TooLarge`], [`resume::Mismatch`]); [`receive`] maps each
//! to its [`receive::ReceiveError`] with a `match`, never by looking inside an
//! [`io::Error`].
//!
//! With a key (`Settings::key`), every packet passes [`crate::wire::auth::Verifier`] first: only
//! authentic ones, stripped of their trailer, go further; the others are counted and
//! dropped before any stage below sees them, so no forged byte, length or offset counts.
//! An encrypted packet goes further as its ciphertext (what the FEC decoder codes over,
//! lent from the input) with its plaintext beside it: `Reassembler::place` gives the
//! transfer the plaintext, and deciphers what the decoder rebuilds (and packets held
//! before their transfer started) on the way, so no stage below sees ciphertext as data.
//!
//! Memory is bounded whatever the stream: the window, the fingerprints, the damage ranges
//! kept and the FEC decoder's ring each have a cap, listed in one place, [`limits`]; a
//! transfer held for a stream spills past 8 MiB to a temporary file (`spill`). Reading bytes and finding packets is
//! [`crate::framing`]'s job; this module only sees packets.

pub mod damage;
mod drive;
mod extent;
mod fingerprints;
pub mod image_output;
pub mod jpeg_output;
pub mod limits;
pub mod map_sink;
pub mod output;
/// [`Packet`] and [`Integrity`] live in [`crate::wire::packet`]; this path stays.
pub mod packet {
    pub use crate::wire::packet::{Integrity, Packet};
}
pub mod receive;
mod recovery;
pub mod report;
pub mod resume;
mod seal;
mod sink;
mod spill;
mod summary;
mod tracker;
mod transfer;
mod window;

pub use drive::{run_datagrams, run_slice, run_stream, StopOnRequest};
pub use limits::Limits;
pub use packet::{Integrity, Packet};
pub use summary::{Counted, Counts, LossyCompressed, Placed, Report, Status, TransferSummary};
pub use window::{AUTO_WINDOW_BYTES, MAX_WINDOW_PACKETS};

use crate::descriptor::Descriptor;
use crate::wire::auth::{Key, Verdict, Verifier};
use crate::wire::Kind;
use damage::{DamageMap, RangeKind};
use output::{LentInput, Output};
use sink::Sink;
use std::io;
use std::time::Duration;
use tracker::{Belongs, Held, Tracker};
use transfer::{Ctx, Transfer};

/// What to do with a payload whose CRC failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamagedPolicy {
    /// Write the received bytes: in an image, damage shows as noise where it happened.
    Keep,
    /// Treat the packet as lost: its range is filled.
    Fill,
}

/// How to reassemble.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Pattern for lost bytes; byte `o` of a transfer gets `fill[o % fill.len()]`.
    pub fill: Vec<u8>,
    pub damaged: DamagedPolicy,
    /// Reorder window in packets; `None` for about [`AUTO_WINDOW_BYTES`] of payload.
    pub window_packets: Option<usize>,
    /// Follow only this transfer.
    pub transfer_id: Option<u16>,
    /// Live mode: a gap that holds up later packets longer than this is filled.
    pub live_latency: Option<Duration>,
    /// Refuse a transfer that claims or reaches more bytes than this.
    pub max_len: Option<u64>,
    /// Stop taking packets once the followed transfer is whole (every byte intact) when
    /// its sender announced a carousel, instead of reading the input to its end (the
    /// report says so: [`Report::stopped_whole`]). [`receive`] reads a file to its end
    /// whatever this says, so a transfer after the carousel is received.
    pub stop_when_whole: bool,
    /// Take only packets authenticated with this key (see [`crate::wire::auth`]); without one,
    /// keyed packets are counted and ignored.
    pub key: Option<Key>,
    /// Ask the output for a whole-transfer snapshot each time this many more payload
    /// bytes have arrived (and it writes one at the end).
    pub snapshot_every: Option<u64>,
    /// Continue an earlier reception into the output it left (a seekable one that holds
    /// it): follow only its transfer, write only what it lacks, refuse a transfer that is
    /// not the same one (see [`resume`]).
    pub resume: Option<resume::Resume>,
    /// Makes the store where a fountain transfer's incomplete blocks wait (a temporary
    /// file; see [`crate::fec::fountain`]); `None` holds them in memory.
    pub spill: Option<crate::fec::fountain::OpenStore>,
    /// What the reception may hold, whatever arrives (see [`limits`]).
    pub limits: Limits,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            fill: vec![0],
            damaged: DamagedPolicy::Keep,
            window_packets: None,
            transfer_id: None,
            live_latency: None,
            max_len: None,
            stop_when_whole: false,
            key: None,
            snapshot_every: None,
            resume: None,
            spill: None,
            limits: Limits::default(),
        }
    }
}

/// An output's error, except a stop (the driver's: [`ReassembleError::Stopped`]).
impl From<output::OutputError> for ReassembleError {
    fn from(e: output::OutputError) -> Self {
        match e {
            output::OutputError::Stopped => ReassembleError::Stopped,
            e => ReassembleError::Output(e),
        }
    }
}

/// Why reassembly stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReassembleError {
    /// The output failed, or would pass its memory cap.
    #[error(transparent)]
    Output(output::OutputError),
    /// The report or the map failed.
    #[error(transparent)]
    Ranges(#[from] damage::RangeSinkError),
    /// Reading the input failed (a driver's error: the core reads nothing).
    #[error("reading input: {0}")]
    Input(io::Error),
    /// The fountain decoder's temporary store failed.
    #[error("{0}")]
    Store(io::Error),
    /// A transfer claimed more than [`Settings::max_len`]: nothing more is taken.
    #[error(transparent)]
    TooLarge(TooLarge),
    /// The driver was asked to stop while fill was being written: what was settled is
    /// kept.
    #[error("stopped")]
    Stopped,
    /// Resuming: the transfer arriving is not the one the output holds part of. Nothing
    /// more is taken.
    #[error("the earlier file does not hold this transfer: {0}")]
    Mismatch(resume::Mismatch),
}

/// A transfer that claims (by a length it states, or an offset it reaches) more bytes than
/// [`Settings::max_len`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("transfer {transfer_id:#06x} claims {claimed} bytes, more than the limit of {limit}")]
pub struct TooLarge {
    pub transfer_id: u16,
    pub claimed: u64,
    pub limit: u64,
}

/// Packets in, bytes out. See the module documentation.
pub struct Reassembler<O: Output> {
    settings: Settings,
    sink: Sink<O>,
    tracker: Tracker,
    current: Option<Transfer>,
    /// Where the next transfer starts in the output.
    next_base: u64,
    finished: Vec<TransferSummary>,
    counts: Counts,
    fec: crate::fec::Decoder,
    /// The fountain code's decoder, for a transfer that sends repair packets.
    fountain: crate::fec::fountain::Decoder,
    /// Buffers for held packets.
    pool: Vec<Vec<u8>>,
    /// A transfer was refused: nothing more is taken.
    refused: Option<ReassembleError>,
    /// With a key: what vouches for every packet.
    verifier: Option<Verifier>,
    /// Encrypted transfers: the plaintext of a held packet being placed (reused).
    deciphered: Vec<u8>,
    /// When the next whole-transfer snapshot is due, if snapshots are asked for.
    snapshots: Option<SnapshotSchedule>,
    /// The input buffer the driver lent (see [`Reassembler::lend`]).
    lent: Option<LentInput>,
    /// Resuming: the earlier reception, until its transfer is over.
    resume: Option<resume::Resuming>,
    /// The latest time a driver gave (see [`Reassembler::accept`]).
    now: Duration,
}

/// Whole-transfer snapshots every so many payload bytes of the followed transfers.
struct SnapshotSchedule {
    every: u64,
    arrived: u64,
    next: u64,
}

impl SnapshotSchedule {
    fn new(every: u64) -> Self {
        SnapshotSchedule {
            every,
            arrived: 0,
            next: every,
        }
    }

    /// Count `len` more bytes; true when a snapshot is due.
    fn arrived(&mut self, len: usize) -> bool {
        self.arrived += len as u64;
        let due = self.arrived >= self.next;
        if due {
            self.next = self.arrived + self.every;
        }
        due
    }
}

impl<O: Output> Reassembler<O> {
    pub fn new(settings: Settings, out: O, mut damage: DamageMap) -> Self {
        let spill = settings.spill;
        if out.seekable() {
            damage.keep_all();
        }
        damage.set_limits(&settings.limits);
        let sink = Sink::new(out, damage, settings.fill.clone());
        let verifier = settings.key.clone().map(Verifier::new);
        let snapshots = settings.snapshot_every.map(SnapshotSchedule::new);
        let resume = settings.resume.clone().map(resume::Resuming::new);
        let mut fec = crate::fec::Decoder::new();
        fec.set_budget(settings.limits.fec);
        let fountain = crate::fec::fountain::Decoder::new(spill)
            .with_max_packets(settings.limits.fountain_packets);
        let wanted = settings
            .transfer_id
            .or(resume.as_ref().map(|r| r.resume.id));
        Reassembler {
            tracker: Tracker::new(wanted),
            resume,
            settings,
            sink,
            current: None,
            next_base: 0,
            finished: Vec::new(),
            counts: Counts::default(),
            fec,
            fountain,
            pool: Vec::new(),
            refused: None,
            verifier,
            deciphered: Vec::new(),
            snapshots,
            lent: None,
            now: Duration::ZERO,
        }
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub fn output(&mut self) -> &mut O {
        &mut self.sink.out
    }

    /// The input buffer that packets placed with their place in it (`input_pos`) lie in,
    /// until the next call; `None` takes it back. The output must be flushed first: it may
    /// refer to the buffer being given up.
    pub fn lend(&mut self, input: Option<LentInput>) {
        self.fec.lend(input.clone());
        if let Some(t) = &mut self.current {
            t.lend(input.clone());
        }
        self.sink.out.lend(input.clone());
        self.lent = input;
    }

    /// The earliest place in the lent input that anything still refers to (the reorder
    /// window, the FEC decoder's ring, the output's gathered pieces): a mapped input may be
    /// released up to there.
    pub fn oldest_lent(&self) -> Option<usize> {
        let window = self.current.as_ref().and_then(Transfer::oldest_lent);
        [window, self.fec.oldest_lent(), self.sink.out.oldest_lent()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Where the reception stands, for a progress display.
    pub fn status(&self) -> Status {
        Status {
            counts: self.counts,
            settled: self.settled_bytes(),
            current: self.current_len(),
        }
    }

    /// Output bytes settled so far (written or filled, in order).
    pub fn settled_bytes(&self) -> u64 {
        match &self.current {
            Some(t) => t.base + t.frontier,
            None => self.next_base,
        }
    }

    /// The current transfer's frontier and known length, for progress display.
    pub fn current_len(&self) -> Option<(u64, u64)> {
        let t = self.current.as_ref()?;
        t.extent.end().map(|e| (t.frontier, e))
    }

    /// The current transfer is complete and every byte of it arrived intact (or was
    /// repaired): a receiver of a carousel may stop reading.
    pub fn current_is_whole(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|t| t.is_whole(&self.sink))
    }

    /// Count bytes that were not packets.
    pub fn garbage(&mut self, len: usize) {
        self.counts.count(Counted::Garbage { bytes: len as u64 });
    }

    fn ctx(&mut self) -> (Option<&mut Transfer>, Ctx<'_, O>) {
        let cx = Ctx {
            sink: &mut self.sink,
            counts: &mut self.counts,
            settings: &self.settings,
            hold_damaged: self.fec.may_rebuild(),
            min_window: self.fec.min_window(),
            now: self.now,
        };
        (self.current.as_mut(), cx)
    }

    /// Take one packet found by the framing scanner, which arrived at `now`.
    ///
    /// Time is the driver's: `now` is a [`Duration`] since a start the driver chose (the
    /// start of the reception), never earlier than a `now` given before. The core reads no
    /// clock; only live mode ([`Settings::live_latency`]) looks at it, to give up on a gap
    /// that held up later packets too long (see [`Reassembler::poll_timeout`]). A driver
    /// that never times out (a whole file in memory) may give [`Duration::ZERO`].
    pub fn accept(&mut self, now: Duration, p: &Packet) -> Result<(), ReassembleError> {
        self.now = self.now.max(now);
        if self.refused.is_some() {
            return Ok(());
        }
        let authentic;
        let p = match self.verifier.as_mut().map(|v| v.check(p)) {
            None if p.header.keyed => {
                self.counts.count(Counted::Keyed {
                    encrypted: p.header.encrypted,
                });
                return Ok(());
            }
            Some(Verdict::Opened(sealed)) => {
                self.counts.count(Counted::Authentic { encrypted: true });
                let verifier = self.verifier.as_mut().expect("a verifier opened it");
                let plain = verifier.take_plain();
                let opened = Packet {
                    payload: &plain,
                    input_pos: None,
                    ..sealed
                };
                let taken = match sealed.header.kind {
                    Kind::Data => self.accept_data(&sealed, Some(&plain)),
                    Kind::Descriptor => self.accept_descriptor(&opened),
                    Kind::Parity => self.accept_parity(&opened),
                    Kind::Repair(_) => self.accept_repair(&opened),
                };
                let verifier = self.verifier.as_mut().expect("a verifier opened it");
                verifier.give_back(plain);
                return self.taken(taken);
            }
            None => p,
            Some(Verdict::Authentic(stripped)) => {
                self.counts.count(Counted::Authentic { encrypted: false });
                authentic = stripped;
                &authentic
            }
            Some(Verdict::Rejected) => {
                self.counts.count(Counted::Rejected);
                return Ok(());
            }
            Some(Verdict::Damaged) => {
                // Nothing of it can be trusted, not even its place: its range stays lost.
                self.counts.count(Counted::DamagedKeyed {
                    truncated: p.is_truncated(),
                });
                return Ok(());
            }
            Some(Verdict::Unkeyed) => {
                self.counts.count(Counted::Unauthenticated);
                return Ok(());
            }
        };
        let taken = match p.header.kind {
            Kind::Data => self.accept_data(p, None),
            Kind::Descriptor => self.accept_descriptor(p),
            Kind::Parity => self.accept_parity(p),
            Kind::Repair(_) => self.accept_repair(p),
        };
        self.taken(taken)
    }

    /// What taking a packet came to: a refused transfer stops the reception, keeping what
    /// was settled.
    fn taken(&mut self, taken: Result<(), ReassembleError>) -> Result<(), ReassembleError> {
        match taken {
            Err(e @ (ReassembleError::TooLarge(_) | ReassembleError::Mismatch(_))) => {
                // Keep what was settled; claim nothing beyond it.
                if let Some(t) = &mut self.current {
                    t.extent = extent::Extent::default();
                }
                self.refused = Some(e);
                Ok(())
            }
            other => other,
        }
    }

    /// Nothing more to take: a transfer was refused, or (when asked) the followed transfer
    /// is whole. A driver stops reading.
    pub fn done(&self) -> bool {
        let repeats = self.current.as_ref().is_some_and(Transfer::is_carousel)
            || self.fountain.geometry().is_some();
        self.refused.is_some()
            || self.sink.out.write_failed().is_some()
            || (self.settings.stop_when_whole && repeats && self.current_is_whole())
    }

    fn belongs(&self, p: &Packet) -> Belongs {
        let id = p.header.transfer_id;
        if self.tracker.ignores(id) {
            return Belongs::Other;
        }
        match &self.current {
            None => Belongs::NewTransfer,
            Some(t) if t.id == id && t.contradicted_by(p) => Belongs::NewTransfer,
            // A new run of this id was announced after the transfer finished, and this
            // packet fits what its descriptor says: it is that run's.
            Some(t)
                if t.id == id
                    && t.is_complete()
                    && !t.repeats_first(p)
                    && self.tracker.pending_admits(id, &p.header) == Some(true) =>
            {
                Belongs::NewTransfer
            }
            Some(t) if t.id == id => Belongs::Current,
            Some(t) if t.is_complete() => Belongs::NewTransfer,
            Some(_) => Belongs::Other,
        }
    }

    /// A data packet; `plain` is its plaintext when it is an encrypted one just opened.
    fn accept_data(&mut self, p: &Packet, plain: Option<&[u8]>) -> Result<(), ReassembleError> {
        // The file resumed holds plaintext.
        let opened = plain.map(|payload| Packet {
            payload,
            input_pos: None,
            ..*p
        });
        self.check_resumed(opened.as_ref().unwrap_or(p))?;
        let id = p.header.transfer_id;
        let finished = self
            .current
            .as_ref()
            .filter(|t| t.id == id && t.is_complete());
        let repeats = finished.is_some_and(|t| t.repeats_first(p));
        let admits = self.tracker.pending_admits(id, &p.header);
        if finished.is_some() && (admits == Some(false) || (admits.is_some() && repeats)) {
            // The finished transfer goes on (a carousel's next pass, a duplicating
            // channel: its first packet again, or a packet that does not fit what a
            // descriptor of its id that disagreed with it said since): that descriptor
            // announced no new run. It conflicts; it starts nothing.
            self.tracker.take_descriptor(id);
            self.counts.count(Counted::ConflictingDescriptor);
        }
        match self.belongs(p) {
            Belongs::Current => {
                // The current transfer advancing while another's packets are held: the
                // two run side by side (see tracker), that one is another sender's.
                let advances = self
                    .current
                    .as_ref()
                    .is_some_and(|t| p.stated_end() > t.highest_end());
                if let Some(held) = self.tracker.current_packet(advances) {
                    self.drop_held(held);
                }
            }
            Belongs::NewTransfer => self.next_transfer(p.header.transfer_id)?,
            Belongs::Other => return self.other_transfer(p, plain),
        }
        self.place(p, plain)
    }

    /// End the current transfer and start transfer `id`, placing what was held for it.
    fn next_transfer(&mut self, id: u16) -> Result<(), ReassembleError> {
        self.end_transfer()?;
        self.start_transfer(id)?;
        let mut dropped = Vec::new();
        let held = self.tracker.take_for(id, &mut dropped);
        self.drop_held(dropped);
        self.place_held(held)
    }

    /// Place packets held for the current transfer, in the order they arrived.
    fn place_held(&mut self, held: Vec<Held>) -> Result<(), ReassembleError> {
        for h in held {
            self.place(&h.packet(), None)?;
            self.pool.push(h.payload);
        }
        Ok(())
    }

    fn drop_held(&mut self, held: Vec<Held>) {
        self.counts.count(Counted::Foreign {
            packets: held.len() as u64,
        });
        self.pool.extend(held.into_iter().map(|h| h.payload));
    }

    /// A data packet of a transfer not followed: another sender's, or perhaps the next
    /// (`plain` as for [`Reassembler::accept_data`]; a packet held is deciphered when placed).
    fn other_transfer(&mut self, p: &Packet, plain: Option<&[u8]>) -> Result<(), ReassembleError> {
        if self.tracker.ignores(p.header.transfer_id) {
            self.counts.count(Counted::Foreign { packets: 1 });
            return Ok(());
        }
        let mut dropped = Vec::new();
        if let Some((id, held)) = self
            .tracker
            .displaced_by(p.header.transfer_id, &mut dropped)
        {
            // What was held came after the current transfer: it is the next one, and this
            // packet is taken anew against it.
            self.end_transfer()?;
            self.start_transfer(id)?;
            self.place_held(held)?;
            return self.accept_data(p, plain);
        }
        self.drop_held(std::mem::take(&mut dropped));
        let buf = self.pool.pop().unwrap_or_default();
        let run = self.tracker.hold(p, buf, &mut dropped);
        self.drop_held(dropped);
        if let Some((id, held)) = run {
            self.end_transfer()?;
            self.start_transfer(id)?;
            self.place_held(held)?;
        }
        Ok(())
    }

    /// Place a packet of the current transfer, and what parity rebuilt thanks to it. The
    /// decoder takes the packet as sent; the transfer takes the plaintext of an encrypted
    /// one: `plain`, or (a packet held before its transfer started) deciphered here.
    fn place(&mut self, p: &Packet, plain: Option<&[u8]>) -> Result<(), ReassembleError> {
        self.fec
            .data(&p.header, p.payload, p.is_intact(), p.input_pos);
        self.fountain
            .data(&p.header, p.payload, p.is_intact())
            .map_err(fountain_error)?;
        let mut deciphered = std::mem::take(&mut self.deciphered);
        let plain = match (plain, &mut self.verifier) {
            (Some(plain), _) => Some(plain),
            (None, Some(v)) if p.header.encrypted => {
                deciphered.clear();
                deciphered.extend_from_slice(p.payload);
                v.decipher(&p.header, &mut deciphered);
                Some(&deciphered[..])
            }
            _ => None,
        };
        let opened = plain.map(|payload| Packet {
            payload,
            input_pos: None,
            ..*p
        });
        let (t, mut cx) = self.ctx();
        let placed = t
            .expect("placing happens only while a transfer is current")
            .place(opened.as_ref().unwrap_or(p), &mut cx);
        self.deciphered = deciphered;
        self.counts.count(Counted::Placed(placed?));
        self.place_recovered()?;
        let due = self
            .snapshots
            .as_mut()
            .is_some_and(|s| s.arrived(p.payload.len()));
        if due {
            let t = self.current.as_ref().expect("a transfer is current");
            let unknown = t.unknown_ranges(&self.sink);
            self.sink.out.snapshot(&unknown)?;
        }
        Ok(())
    }

    /// Resuming: refuse a packet that shows the transfer is not the one resumed.
    fn check_resumed(&mut self, p: &Packet) -> Result<(), ReassembleError> {
        let current_resumed = self.current.as_ref().is_some_and(|t| t.resumed);
        match &mut self.resume {
            Some(rs) => rs.check_data(p, current_resumed, &mut self.sink.out),
            None => Ok(()),
        }
    }

    fn start_transfer(&mut self, id: u16) -> Result<(), ReassembleError> {
        self.counts.count(Counted::Transfer);
        self.fec.reset(id);
        self.fountain.reset(id);
        let mut t = Transfer::new(id, self.next_base, self.sink.damage.totals(), self.now);
        t.lend(self.lent.clone());
        self.current = Some(t);
        if let Some(rs) = &mut self.resume {
            if !rs.started && id == rs.resume.id && self.next_base == 0 {
                rs.started = true;
                let t = self.current.as_mut().expect("just started");
                t.resume_at(rs.resume.len, rs.resume.end_known);
                // Each kind as the earlier reception left it: bytes it kept damaged are
                // still damaged, not lost, unless a packet for them arrives now.
                for (kind, r) in rs.resume.missing_kinds() {
                    self.sink.damage.record(kind, r.start, r.end);
                }
            }
        }
        if let Some((d, total)) = self.tracker.take_descriptor(id) {
            let (t, mut cx) = self.ctx();
            t.expect("just started")
                .apply_descriptor(d, total, &mut cx)?;
            self.after_descriptor();
        }
        Ok(())
    }

    /// What the current transfer's descriptor asks of the receiver: a window that holds an
    /// interleaved span (and FEC groups spread over it), and, for a carousel to a stream,
    /// holding the transfer so that later passes fill in what earlier ones lost.
    fn after_descriptor(&mut self) {
        let Some(t) = &mut self.current else {
            return;
        };
        let Some(d) = &t.descriptor else {
            return;
        };
        let span = d.interleave_span.map_or(0, |s| s as usize);
        if span != t.interleave_span {
            t.interleave_span = span;
            self.fec.hold_span(span);
        }
        if let Some((k, m)) = d.fec {
            if let Ok(scheme) = crate::fec::Scheme::new(usize::from(k), usize::from(m)) {
                self.fec.expect(scheme, usize::from(d.payload_len));
            }
        }
        let repeats = d.carousel || d.fountain.is_some();
        if let (Some(k), Some(total)) = (d.fountain, t.extent.end()) {
            let geometry = crate::fec::fountain::Geometry::new(
                total,
                usize::from(d.payload_len),
                usize::from(k),
            );
            if let Ok(g) = geometry {
                self.fountain.activate(g);
                self.fountain_followed();
            }
        }
        if repeats && !self.sink.out.seekable() && self.sink.out.hold() {
            self.sink.damage.keep_all();
        }
    }

    /// Close the current transfer: deliver everything waiting, fill up to its known end.
    fn end_transfer(&mut self) -> Result<(), ReassembleError> {
        if self.current.is_none() {
            return Ok(());
        }
        self.fec.flush();
        self.place_recovered()?;
        let (t, mut cx) = self.ctx();
        t.expect("checked above").close(&mut cx)?;
        let t = self.current.take().expect("checked above");
        self.finished.push(TransferSummary {
            id: t.id,
            base: t.base,
            len: t.frontier,
            end_known: t.extent.end().is_some(),
            descriptor: t.descriptor,
        });
        self.next_base = t.base + t.frontier;
        Ok(())
    }

    /// A descriptor packet: use it for its transfer, keep it for later, or ignore it.
    fn accept_descriptor(&mut self, p: &Packet) -> Result<(), ReassembleError> {
        let parsed = if p.is_intact() {
            Descriptor::parse(p.payload).ok()
        } else {
            None
        };
        let Some(d) = parsed else {
            self.counts.count(Counted::BadDescriptor);
            return Ok(());
        };
        let id = p.header.transfer_id;
        if self.tracker.ignores(id) {
            self.counts.count(Counted::Foreign { packets: 1 });
            return Ok(());
        }
        if let Some(rs) = &self.resume {
            let current_resumed = self.current.as_ref().is_some_and(|t| t.resumed);
            rs.check_descriptor(id, &d, p.header.total_len, current_resumed)?;
        }
        match &self.current {
            None => self.start_transfer(id)?,
            Some(t) if t.id == id && !t.is_complete() => {}
            // A finished transfer's trailing descriptor, or a carousel's next pass.
            // After descriptors disagreed, no descriptor can tell the next run apart (its
            // data packets still can): this one is counted among the conflicting.
            Some(t) if t.id == id && t.head_disputed() => {}
            Some(t)
                if t.id == id
                    && t.descriptor.as_ref().is_none_or(|old| old.agrees_with(&d))
                    && p.header.total_len.is_none_or(|n| t.extent.end() == Some(n)) => {}
            // After a finished transfer, a descriptor of its id that says something else
            // announces a new run with that id; its data packets start it (they contradict
            // the finished one), not the descriptor alone: a forged or stray descriptor
            // between two passes of a carousel must not turn the next pass into a second
            // copy of the file. Kept until then (see `place` and `take_held_at_end`).
            Some(t) if t.id == id && t.is_complete() => {
                self.tracker.keep_descriptor(id, d, p.header.total_len);
                return Ok(());
            }
            // The trailing descriptor of an earlier transfer, reordered after the whole of
            // this one: it agrees with the last finished transfer of its id, so it is that
            // transfer's late packet, never a new transfer by itself (a new run of that id
            // shows itself by its data packets).
            Some(t) if t.is_complete() && self.late_for_finished(id, &d, p.header.total_len) => {
                self.counts.count(Counted::Descriptor);
                return Ok(());
            }
            // After a finished transfer, another id's descriptor starts the next one.
            Some(t) if t.is_complete() => self.next_transfer(id)?,
            // Another transfer while this one runs: keep it for when (if) that one starts.
            Some(_) => {
                self.tracker.keep_descriptor(id, d, p.header.total_len);
                return Ok(());
            }
        }
        let (t, mut cx) = self.ctx();
        t.expect("a transfer is current")
            .apply_descriptor(d, p.header.total_len, &mut cx)?;
        self.after_descriptor();
        Ok(())
    }

    /// Does a descriptor of transfer `id` (stating `total`) agree with the last finished
    /// transfer of that id: the same descriptor fields (when that one had a descriptor), and
    /// the length it ended with (or, its end not known, no shorter than what it reached)?
    fn late_for_finished(&self, id: u16, d: &Descriptor, total: Option<u64>) -> bool {
        let Some(s) = self.finished.iter().rev().find(|s| s.id == id) else {
            return false;
        };
        s.descriptor.as_ref().is_none_or(|old| old.agrees_with(d))
            && total.is_none_or(|n| n == s.len || (!s.end_known && n > s.len))
    }

    /// The input ended with packets of another transfer held: that transfer followed the
    /// current one (too short to take over by itself, see tracker), so it is the next
    /// transfer, unless it has the id of the transfer before the current one (leftovers
    /// of that one: counted, not written). The same for a transfer known only by the
    /// descriptor kept for it (its data packets all lost) that came after the current
    /// transfer's data: it is the next transfer, its bytes lost (or restored from the
    /// descriptor's head), never left out of a result called intact.
    fn take_held_at_end(&mut self) -> Result<(), ReassembleError> {
        if let Some((id, held)) = self.tracker.take_held() {
            let leftovers = self.finished.last().is_some_and(|t| t.id == id);
            if leftovers || self.refused.is_some() {
                self.drop_held(held);
            } else {
                self.end_transfer()?;
                self.start_transfer(id)?;
                self.place_held(held)?;
            }
        }
        let Some(id) = self.tracker.described_after() else {
            return Ok(());
        };
        let current = self.current.as_ref().map(|t| (t.id, t.is_complete()));
        let leftovers = self.finished.last().is_some_and(|t| t.id == id);
        // A new run of the current transfer's id, announced after it finished by a
        // descriptor that nothing since showed to be a stray (see `accept_descriptor`),
        // is the next transfer, its data lost: never left out of a result called intact.
        let new_run = current == Some((id, true));
        if ((leftovers || current.is_some_and(|(c, _)| c == id)) && !new_run)
            || self.refused.is_some()
        {
            return Ok(());
        }
        self.end_transfer()?;
        self.start_transfer(id)?;
        if new_run {
            // Only a descriptor that disagreed with the finished transfer of its id tells
            // of this run: its head is not known on that word alone (as when descriptors
            // disagree), so what it restored is damaged, never intact.
            self.counts.count(Counted::ConflictingDescriptor);
            let (t, mut cx) = self.ctx();
            t.expect("just started").dispute_head(&mut cx);
        }
        Ok(())
    }

    /// Live mode: it is `now` (the driver's clock, as for [`Reassembler::accept`]); fill a
    /// gap that has held up later packets since [`Reassembler::poll_timeout`] or before.
    pub fn handle_timeout(&mut self, now: Duration) -> Result<(), ReassembleError> {
        self.now = self.now.max(now);
        let Some(latency) = self.settings.live_latency else {
            return Ok(());
        };
        let now = self.now;
        let due = |t: &Transfer| t.waiting_since().is_some_and(|s| now >= s + latency);
        if self.current.as_ref().is_some_and(due) {
            // Before giving up on a gap, rebuild what parity already can.
            self.fec.flush();
            self.place_recovered()?;
        }
        while self.current.as_ref().is_some_and(due) {
            let (t, mut cx) = self.ctx();
            t.expect("checked").settle_first_gap(&mut cx)?;
        }
        Ok(())
    }

    /// When (the driver's clock) [`Reassembler::handle_timeout`] next has work, if ever
    /// without more input: a reader waits for input until then. Live mode only.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let latency = self.settings.live_latency?;
        let since = self.current.as_ref()?.waiting_since()?;
        Some(since + latency)
    }

    /// The input ended: settle everything and return the report. A stop request while
    /// writing fill ends it early, keeping what was settled.
    pub fn finish(mut self) -> Result<(Report, O), ReassembleError> {
        let stopped_whole = self.refused.is_none() && self.done();
        let ended = self.take_held_at_end().and_then(|()| self.end_transfer());
        match ended {
            Ok(())
            | Err(
                ReassembleError::Stopped
                | ReassembleError::TooLarge(_)
                | ReassembleError::Mismatch(_),
            ) => {}
            Err(e) => return Err(e),
        }
        if let Some(t) = self.current.take() {
            // Cut short: report what was settled.
            self.finished.push(TransferSummary {
                id: t.id,
                base: t.base,
                len: t.frontier,
                end_known: false,
                descriptor: t.descriptor,
            });
            self.next_base = t.base + t.frontier;
        }
        let unknown = self.sink.damage.open_lost(false);
        self.sink.out.finish(&unknown)?;
        // A write failed (out of room, EIO): what could not be written is lost, whatever
        // arrived for it, so the report tells a resume to fetch it again.
        if self.sink.out.write_failed().is_some() {
            for r in self.sink.out.take_unwritten() {
                self.sink.damage.repair(r.start, r.end);
                self.sink
                    .damage
                    .record_inside(RangeKind::Lost, r.start, r.end);
            }
            // The report must fit in the room set aside for it.
            self.sink.damage.coarsen_to(receive::RANGES_OUT_OF_ROOM);
        }
        self.sink.damage.settle_all()?;
        let totals = self.sink.damage.totals();
        // A file that a report describes may be resumed: seal the report to its bytes.
        // Not after a write error other than running out of room (EIO): what the file
        // holds cannot be trusted, the report says so and is not sealed.
        let output_error = match self.sink.out.write_failed() {
            Some(e) if self.sink.out.out_of_room().is_none() => Some(e.to_string()),
            _ => None,
        };
        let sealable = self.sink.out.seekable() && output_error.is_none();
        let content_digest = if sealable && self.sink.damage.has_sink() {
            let out = &mut self.sink.out;
            seal::content_digest(self.next_base, |at, buf| out.read_at(at, buf))?
        } else {
            None
        };
        let complete = !self.finished.is_empty() && self.finished.iter().all(|t| t.end_known);
        let report = Report {
            counts: self.counts,
            damage: totals,
            transfers: self.finished,
            output_len: self.next_base,
            complete,
            refused: match &self.refused {
                Some(ReassembleError::TooLarge(t)) => Some(*t),
                _ => None,
            },
            mismatch: match &self.refused {
                Some(ReassembleError::Mismatch(m)) => Some(m.clone()),
                _ => None,
            },
            stopped_whole,
            content_digest,
            output_error,
        };
        self.sink.damage.finish(&report)?;
        Ok((report, self.sink.out))
    }
}

/// A fountain store that failed is an I/O error of the reception.
fn fountain_error(e: crate::fec::fountain::DecodeError) -> ReassembleError {
    match e {
        crate::fec::fountain::DecodeError::Io(e) => ReassembleError::Store(e),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod model_tests;
