//! Feeding the reassembler: from a whole input in memory (a mapped file), from a stream
//! read in large blocks, with live-mode ticks while the input is quiet, or from datagrams
//! (`unpktize --udp`), a batch at a time.
//!
//! The driver lends the output the buffer the packets lie in, so in-order payloads are
//! written from it without a copy, and flushes the output before that buffer changes.
//! It owns the clock: the reassembler reads none, it is told the time with each packet
//! (see [`Reassembler::accept`]), as a [`Duration`] since the driver started.

use super::output::{LentInput, Output, OutputError, OutputResult};
use super::packet::Packet;
use super::{ReassembleError, Reassembler};
use crate::framing::{self, Frame, FrameReader};
use crate::wire::HEADER_LEN;
use std::io::Read;
use std::ops::Range;
use std::time::{Duration, Instant};

/// The driver's clock for the reassembler: the time since the reception started, read
/// only in live mode (the only one that asks how long a gap waited).
struct Clock(Option<Instant>);

impl Clock {
    fn new(live: bool) -> Self {
        Clock(live.then(Instant::now))
    }

    fn now(&self) -> Duration {
        self.0.map_or(Duration::ZERO, |start| start.elapsed())
    }
}

/// Feed a whole input held in memory (a mapped file) through the reassembler. `consumed`
/// is told, every couple of megabytes, a range of the input that has been read and that
/// nothing refers to any more (see [`Reassembler::oldest_lent`]), each byte once, so the
/// caller can release it. Stops early once the reassembler has nothing more to take (see
/// [`Reassembler::done`]). The whole input is there at once: every packet arrived at time
/// zero, and no timeout is handled (live mode is for streams).
pub fn run_slice<O: Output>(
    input: LentInput,
    r: &mut Reassembler<O>,
    consumed: &mut dyn FnMut(Range<usize>),
) -> Result<(), ReassembleError> {
    const RELEASE_EVERY: usize = crate::io::RELEASE_BLOCK;
    /// Released ranges end on a page boundary, so a page still referred to stays mapped.
    const PAGE: usize = 4096;
    let data: &[u8] = (*input).as_ref();
    let mut at = 0;
    let (mut checked_at, mut released_to) = (0, 0);
    r.lend(Some(input.clone()));
    let mut scanner = framing::Scanner::new();
    let mut fed = Ok(());
    while at < data.len() && fed.is_ok() && !r.done() {
        if at - checked_at >= RELEASE_EVERY {
            let unused = r.oldest_lent().map_or(at, |pos| pos.min(at)) / PAGE * PAGE;
            if unused > released_to {
                consumed(released_to..unused);
                released_to = unused;
            }
            checked_at = at;
        }
        let frame = scanner.scan(&data[at..], true);
        fed = feed(&frame, data, at, Duration::ZERO, r);
        if frame.is_empty() {
            break;
        }
        at += frame.len();
    }
    let flushed = r.output().flush();
    r.lend(None);
    fed.and(flushed.map_err(ReassembleError::from))
}

/// Hand one frame at `at` of `buf`, which arrived at `now`, to the reassembler.
fn feed<O: Output>(
    frame: &Frame,
    buf: &[u8],
    at: usize,
    now: Duration,
    r: &mut Reassembler<O>,
) -> Result<(), ReassembleError> {
    match frame {
        Frame::Packet {
            header,
            intact,
            truncated,
            payload_len,
        } => {
            let pos = at + HEADER_LEN;
            let payload = &buf[pos..pos + payload_len];
            r.accept(
                now,
                &Packet::new(*header, payload, *intact, *truncated).in_input(pos),
            )
        }
        Frame::Garbage { len } => {
            r.garbage(*len);
            Ok(())
        }
        Frame::NeedMore => Ok(()),
    }
}

/// Feed a stream through the reassembler as it arrives. In live mode, `live` is asked,
/// before each blocking read, whether input arrives within a timeout, so that stale gaps
/// are filled and the output flushed while the input is quiet. `on_progress` is called
/// after each read.
pub fn run_stream<O: Output>(
    input: &mut dyn Read,
    r: &mut Reassembler<O>,
    live: Option<&dyn Fn(Duration) -> bool>,
    on_progress: &mut dyn FnMut(&Reassembler<O>),
) -> Result<(), ReassembleError> {
    let mut frames = FrameReader::new(input);
    let clock = Clock::new(live.is_some());
    let fed = feed_stream(&mut frames, r, &clock, live, on_progress);
    // The buffer goes away with `frames`: the output must not refer to it.
    let flushed = r.output().flush();
    r.lend(None);
    fed.and(flushed.map_err(ReassembleError::from))
}

fn feed_stream<O: Output>(
    frames: &mut FrameReader,
    r: &mut Reassembler<O>,
    clock: &Clock,
    live: Option<&dyn Fn(Duration) -> bool>,
    on_progress: &mut dyn FnMut(&Reassembler<O>),
) -> Result<(), ReassembleError> {
    loop {
        let lent = frames.buffer();
        r.lend(Some(lent.clone() as LentInput));
        let buf: &[u8] = &lent[..];
        // What one read brought arrived at once.
        let now = clock.now();
        while let Some((frame, at)) = frames.next_buffered() {
            feed(&frame, buf, at, now, r)?;
            if r.done() {
                return Ok(());
            }
        }
        // The buffer is about to change: the output must not refer to it any more.
        r.output().flush()?;
        r.lend(None);
        drop(lent);
        if let Some(ready) = live {
            tick_until_readable(r, clock, ready)?;
        }
        if !frames.read_more().map_err(ReassembleError::Input)? {
            return Ok(());
        }
        on_progress(r);
    }
}

/// Live mode, before a blocking read: handle the reassembler's timeouts as they fall due
/// (filling stale gaps, flushing the output) until `ready` says input arrived within the
/// wait for the next one, or none is pending.
fn tick_until_readable<O: Output>(
    r: &mut Reassembler<O>,
    clock: &Clock,
    ready: &dyn Fn(Duration) -> bool,
) -> Result<(), ReassembleError> {
    r.handle_timeout(clock.now())?;
    r.output().flush()?;
    while let Some(due) = r.poll_timeout() {
        if ready(due.saturating_sub(clock.now())) {
            break;
        }
        r.handle_timeout(clock.now())?;
        r.output().flush()?;
    }
    Ok(())
}

/// Feed datagrams from `rx` through the reassembler, one packet (or a few) per datagram,
/// until it has nothing more to take or no datagram came for the receiver's idle time.
/// `on_progress` is called after each batch. In live mode (`live`), each batch arrives at
/// the time it was received, and while the socket is quiet the reassembler's timeouts are
/// handled when due (a gap older than its latency is filled, the output flushed), as for
/// a stream; otherwise every datagram is taken as arriving at time zero.
pub fn run_datagrams<O: Output>(
    rx: &mut crate::io::udp::UdpReceiver,
    r: &mut Reassembler<O>,
    live: bool,
    on_progress: &mut dyn FnMut(&Reassembler<O>),
) -> Result<(), ReassembleError> {
    let clock = Clock::new(live);
    /// Room for the largest datagram in each slot; untouched pages of a slot cost nothing.
    const SLOT: usize = 1 << 16;
    const SLOTS: usize = 32;
    let mut lens = Vec::with_capacity(SLOTS);
    let mut buf: std::rc::Rc<Vec<u8>> = std::rc::Rc::new(vec![0; SLOT * SLOTS]);
    let fed = loop {
        if std::rc::Rc::get_mut(&mut buf).is_none() {
            buf = std::rc::Rc::new(vec![0; SLOT * SLOTS]);
        }
        let space = std::rc::Rc::get_mut(&mut buf).expect("a buffer nothing else holds");
        if live {
            if let Err(e) = tick_until_readable(r, &clock, &|t| rx.wait_readable(t)) {
                break Err(e);
            }
        }
        let n = rx
            .recv_batch(space, SLOT, &mut lens)
            .map_err(ReassembleError::Input)?;
        if n == 0 {
            break Ok(());
        }
        let now = clock.now();
        r.lend(Some(buf.clone() as LentInput));
        let data: &[u8] = &buf;
        let mut fed = Ok(());
        'batch: for (i, &len) in lens.iter().enumerate() {
            let mut at = i * SLOT;
            let end = at + len;
            while at < end {
                let frame = framing::scan(&data[at..end], true);
                fed = feed(&frame, &data[..end], at, now, r);
                if fed.is_err() || r.done() || frame.is_empty() {
                    break 'batch;
                }
                at += frame.len();
            }
        }
        // The buffer is about to change: the output must not refer to it any more. One
        // that copied what it gathers (a file) need not write it yet: a batch is only a
        // few dozen packets.
        if r.output().oldest_lent().is_some() {
            r.output().flush()?;
        }
        r.lend(None);
        if fed.is_err() || r.done() {
            break fed;
        }
        on_progress(r);
    };
    let flushed = r.output().flush();
    r.lend(None);
    fed.and(flushed.map_err(ReassembleError::from))
}

/// Fill still written after a stop request: the rest of an honest transfer's length is
/// owed to the output (a receiver stopped by a signal still writes the length it knew),
/// but a forged total of 2^48 bytes must not keep it running.
const FILL_AFTER_STOP: u64 = 256 << 20;

/// The driver's side of a stop request (a signal): wraps the output the reassembler
/// writes to, and asks `stop` before each block of fill (the reassembler writes fill in
/// blocks of 64 KiB and reads no stop flag itself). Once a stop was asked, at most
/// 256 MiB (`FILL_AFTER_STOP`) more bytes of fill are written; the next block fails with
/// [`OutputError::Stopped`], which the reassembler returns as
/// [`ReassembleError::Stopped`], keeping what was settled. Everything else passes
/// through unchanged.
pub struct StopOnRequest<O: Output> {
    inner: O,
    stop: fn() -> bool,
    /// Fill bytes written since a stop request.
    filled_after_stop: u64,
}

impl<O: Output> StopOnRequest<O> {
    pub fn new(inner: O, stop: fn() -> bool) -> Self {
        StopOnRequest {
            inner,
            stop,
            filled_after_stop: 0,
        }
    }

    pub fn into_inner(self) -> O {
        self.inner
    }
}

impl<O: Output> Output for StopOnRequest<O> {
    fn write_at(&mut self, at: u64, data: &[u8]) -> OutputResult<()> {
        self.inner.write_at(at, data)
    }
    fn write_lent(&mut self, at: u64, data: &[u8], pos: usize) -> OutputResult<()> {
        self.inner.write_lent(at, data, pos)
    }
    fn write_fill(&mut self, at: u64, data: &[u8]) -> OutputResult<()> {
        if (self.stop)() {
            if self.filled_after_stop >= FILL_AFTER_STOP {
                return Err(OutputError::Stopped);
            }
            self.filled_after_stop += data.len() as u64;
        }
        self.inner.write_fill(at, data)
    }
    fn finish(&mut self, unknown: &[Range<u64>]) -> OutputResult<()> {
        self.inner.finish(unknown)
    }
    fn snapshot(&mut self, unknown: &[Range<u64>]) -> OutputResult<()> {
        self.inner.snapshot(unknown)
    }
    fn hold(&mut self) -> bool {
        self.inner.hold()
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
        self.inner.set_len_hint(len)
    }
    fn set_len(&mut self, len: u64) -> OutputResult<()> {
        self.inner.set_len(len)
    }
    fn holes_read_as_zeros(&self) -> bool {
        self.inner.holes_read_as_zeros()
    }
    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> OutputResult<bool> {
        self.inner.read_at(at, buf)
    }
    fn out_of_room(&self) -> Option<&std::io::Error> {
        self.inner.out_of_room()
    }
    fn take_unwritten(&mut self) -> Vec<Range<u64>> {
        self.inner.take_unwritten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the fill written, keeps nothing.
    struct Counting(u64);

    impl Output for Counting {
        fn write_at(&mut self, _at: u64, data: &[u8]) -> OutputResult<()> {
            self.0 += data.len() as u64;
            Ok(())
        }
        fn flush(&mut self) -> OutputResult<()> {
            Ok(())
        }
    }

    #[test]
    fn after_a_stop_request_the_fill_owed_is_written_and_no_more() {
        let block = vec![0u8; 64 << 10];
        let mut out = StopOnRequest::new(Counting(0), || true);
        let mut at = 0;
        let e = loop {
            match out.write_fill(at, &block) {
                Ok(()) => at += block.len() as u64,
                Err(e) => break e,
            }
        };
        assert!(matches!(e, OutputError::Stopped), "{e}");
        assert_eq!(out.into_inner().0, FILL_AFTER_STOP);
        // Data is never refused, and without a stop request neither is fill.
        let mut out = StopOnRequest::new(Counting(0), || false);
        for i in 0..(FILL_AFTER_STOP / block.len() as u64 + 2) {
            out.write_fill(i * block.len() as u64, &block).unwrap();
        }
        let mut out = StopOnRequest::new(Counting(0), || true);
        for i in 0..(FILL_AFTER_STOP / block.len() as u64 + 2) {
            out.write_at(i * block.len() as u64, &block).unwrap();
        }
    }
}
