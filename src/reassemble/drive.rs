//! Feeding the reassembler: from a whole input in memory (a mapped file) or from a stream
//! read in large blocks, with live-mode ticks while the input is quiet.

use super::output::Output;
use super::Reassembler;
use crate::framing::{self, Frame, FrameReader};
use crate::wire::HEADER_LEN;
use std::io::{self, Read};
use std::time::Duration;

/// Feed a whole input held in memory (a mapped file) through the reassembler. `consumed`
/// is told every few megabytes how far the input has been read, so the caller can release
/// it.
pub fn run_slice<O: Output>(
    data: &[u8],
    r: &mut Reassembler<O>,
    consumed: &mut dyn FnMut(usize),
) -> io::Result<()> {
    const RELEASE_EVERY: usize = 8 << 20;
    let mut at = 0;
    let mut released = 0;
    r.lend_input(data);
    let mut fed = Ok(());
    while at < data.len() && fed.is_ok() {
        if at - released >= RELEASE_EVERY {
            consumed(at);
            released = at;
        }
        let frame = framing::scan(&data[at..], true);
        fed = feed(&frame, &data[at..], r);
        if frame.is_empty() {
            break;
        }
        at += frame.len();
    }
    // `data` may be unmapped once we return: nothing may point into it.
    r.take_back_input().and(fed)
}

fn feed<O: Output>(frame: &Frame, buf: &[u8], r: &mut Reassembler<O>) -> io::Result<()> {
    match frame {
        Frame::Packet {
            header,
            intact,
            truncated,
            payload_len,
        } => r.accept(
            header,
            &buf[HEADER_LEN..HEADER_LEN + payload_len],
            *intact,
            *truncated,
        ),
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
) -> io::Result<()> {
    let mut frames = FrameReader::new(input);
    let fed = feed_stream(&mut frames, r, live, on_progress);
    // The buffer goes away with `frames`: nothing may point into it.
    r.take_back_input().and(fed)
}

fn feed_stream<O: Output>(
    frames: &mut FrameReader,
    r: &mut Reassembler<O>,
    live: Option<&dyn Fn(Duration) -> bool>,
    on_progress: &mut dyn FnMut(&Reassembler<O>),
) -> io::Result<()> {
    loop {
        r.lend_input(frames.buffer());
        while let Some((frame, bytes)) = frames.next_buffered() {
            feed(&frame, bytes, r)?;
        }
        // The buffer is about to change: nothing may point into it any more.
        r.take_back_input()?;
        if let Some(ready) = live {
            r.tick()?;
            r.output().flush()?;
            while let Some(timeout) = r.next_tick_in() {
                if ready(timeout) {
                    break;
                }
                r.tick()?;
                r.output().flush()?;
            }
        }
        if !frames.read_more()? {
            return Ok(());
        }
        on_progress(r);
    }
}
