//! Packet mode: the channel's decisions applied to whole packets found by the framing
//! scanner.
//!
//! For each packet, in input order, the decisions are drawn in this order, each from its own
//! stream (see [`super::rng`]):
//! 1. loss: a lost packet is gone, and nothing else is drawn for it;
//! 2. truncation (`--truncate`): one draw, and if it hits, one more for the length kept,
//!    `1 + floor(u * (len - 1))` bytes;
//! 3. duplication (`--dup`): one draw; a duplicate is sent right after the original;
//! 4. for each copy: bit errors over the copy's bytes (headers included unless
//!    `--payload-only`), then reordering (`--reorder`): one draw, and if it hits one more for
//!    the displacement K from 1 to the maximum; the copy is held back and sent after the
//!    copies of the next K packet slots.
//!
//! Bytes between packets are not packets: they pass untouched, draw nothing, and are counted.
//!
//! Runs of packets that pass unchanged are never copied one by one: they stay where they lie
//! in the input and leave as one slice.

use super::loss::Loss;
use super::rng::{BitErrors, Stream};
use super::{transmit, Chance, ChannelError, Config, EventLog, Output, Sink, Stats};
use crate::framing::{scan, Frame};
use crate::wire::HEADER_LEN;

/// A copy held back by reordering.
struct Held {
    /// The packet slot after which it is sent.
    release_at: u64,
    bytes: Vec<u8>,
}

/// The reorder buffer: at most `max_displacement` copies, since each leaves at most that
/// many slots after it arrived.
struct Reorderer {
    chance: Chance,
    max_displacement: u64,
    held: Vec<Held>,
    /// Buffers of released copies, reused so that holding a packet does not allocate.
    spare: Vec<Vec<u8>>,
}

impl Reorderer {
    /// Draw the displacement of the next copy, if it is held back.
    fn draw(&mut self) -> Option<u64> {
        self.chance
            .happens()
            .then(|| self.chance.rng.one_to(self.max_displacement))
    }

    fn due(&self, slot: u64) -> bool {
        self.held.iter().any(|h| h.release_at <= slot)
    }

    /// Send the copies due after `slot`, in the order they were held.
    fn release(&mut self, slot: u64, out: &mut Output) -> Result<(), ChannelError> {
        let mut i = 0;
        while i < self.held.len() {
            if self.held[i].release_at <= slot {
                let held = self.held.remove(i);
                out.pass_unit(&held.bytes)?;
                self.spare.push(held.bytes);
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// At the end of the input: send everything still held, earliest release first.
    fn release_all(&mut self, out: &mut Output) -> Result<(), ChannelError> {
        self.held.sort_by_key(|h| h.release_at);
        for held in self.held.drain(..) {
            out.pass_unit(&held.bytes)?;
        }
        Ok(())
    }
}

pub(super) struct PacketChannel {
    loss: Loss,
    truncate: Option<Chance>,
    dup: Option<Chance>,
    errors: Option<BitErrors>,
    reorder: Option<Reorderer>,
    payload_only: bool,
    /// Index of the next packet read.
    index: u64,
    /// Index of the next copy sent (a duplicate takes a slot of its own).
    slot: u64,
    /// Offsets of the bits flipped in the current copy, for the log.
    flips: Vec<usize>,
    stats: Stats,
}

impl PacketChannel {
    pub(super) fn new(config: &Config) -> PacketChannel {
        PacketChannel {
            loss: Loss::new(config.loss, config.seed),
            truncate: Chance::new(config.truncate_prob, config.seed, Stream::Truncate),
            dup: Chance::new(config.dup_prob, config.seed, Stream::Duplicate),
            errors: (config.ber > 0.0).then(|| BitErrors::new(config.seed, config.ber)),
            reorder: config.reorder.filter(|r| r.prob > 0.0).map(|r| Reorderer {
                chance: Chance {
                    prob: r.prob,
                    rng: super::rng::Rng::new(config.seed, Stream::Reorder),
                },
                max_displacement: r.max_displacement,
                held: Vec::new(),
                spare: Vec::new(),
            }),
            payload_only: config.payload_only,
            index: 0,
            slot: 0,
            flips: Vec::new(),
            stats: Stats {
                packets: true,
                ..Stats::default()
            },
        }
    }

    /// Bits of a `len`-byte copy that bit errors can hit.
    fn exposed_bits(&self, len: usize) -> u64 {
        let exposed = if self.payload_only {
            len.saturating_sub(HEADER_LEN)
        } else {
            len
        };
        exposed as u64 * 8
    }

    /// The length a `len`-byte packet keeps: all of it, or if truncation hits, 1 to
    /// `len - 1` bytes.
    fn kept_len(&mut self, len: usize) -> usize {
        let Some(t) = self.truncate.as_mut() else {
            return len;
        };
        if t.happens() && len > 1 {
            1 + (t.rng.uniform() * (len - 1) as f64) as usize
        } else {
            len
        }
    }

    /// Process the packets and garbage at the front of `buf`; returns how many bytes were
    /// used (the rest is an unfinished packet, unless `at_end`).
    pub(super) fn feed(
        &mut self,
        buf: &[u8],
        at_end: bool,
        out: &mut Output,
        log: &mut EventLog,
    ) -> Result<usize, ChannelError> {
        let mut at = 0;
        // buf[clean_from..at] passes unchanged: clean packets and garbage.
        let mut clean_from = 0;
        loop {
            let frame = scan(&buf[at..], at_end);
            let len = frame.len();
            let header = match frame {
                Frame::NeedMore => break,
                Frame::Garbage { len } => {
                    self.stats.garbage_bytes += len as u64;
                    at += len;
                    continue;
                }
                Frame::Packet { header, .. } => header,
            };
            let packet = &buf[at..at + len];
            let index = self.index;
            self.index += 1;
            self.stats.units_in += 1;
            if self.loss.lose() {
                out.pass_unit(&buf[clean_from..at])?;
                clean_from = at + len;
                at += len;
                self.stats.dropped += 1;
                log.event(index, Some(header.seq), 0, "drop", "-")?;
                continue;
            }
            let kept = self.kept_len(len);
            let copies = if self.dup.as_mut().is_some_and(Chance::happens) {
                2
            } else {
                1
            };
            if kept == len && copies == 1 {
                // The common case, decided without touching the bytes.
                let bits = self.exposed_bits(len);
                let hit = self
                    .errors
                    .as_ref()
                    .is_some_and(|e| e.next_hit(bits).is_some());
                let delay = self.reorder.as_mut().and_then(Reorderer::draw);
                let due = self.reorder.as_ref().is_some_and(|r| r.due(self.slot));
                if !hit && delay.is_none() && !due {
                    if let Some(e) = self.errors.as_mut() {
                        e.skip(bits);
                    }
                    self.slot += 1;
                    if out.datagrams {
                        out.pass_unit(&buf[clean_from..at])?;
                        out.pass_unit(packet)?;
                        clean_from = at + len;
                    }
                    at += len;
                    continue;
                }
                out.pass_unit(&buf[clean_from..at])?;
                self.send(packet, index, header.seq, 0, delay, out, log)?;
            } else {
                out.pass_unit(&buf[clean_from..at])?;
                if kept < len {
                    self.stats.truncated += 1;
                    log.event(index, Some(header.seq), 0, "truncate", kept)?;
                }
                if copies == 2 {
                    self.stats.duplicated += 1;
                    log.event(index, Some(header.seq), 1, "dup", "-")?;
                }
                for copy in 0..copies {
                    let delay = self.reorder.as_mut().and_then(Reorderer::draw);
                    self.send(&packet[..kept], index, header.seq, copy, delay, out, log)?;
                }
            }
            clean_from = at + len;
            at += len;
        }
        out.pass_unit(&buf[clean_from..at])?;
        self.stats.bytes_in += at as u64;
        Ok(at)
    }

    /// Send one copy through the bit errors, into the output or, if `delay` says so, into
    /// the reorder buffer; then send the held copies that are due.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        bytes: &[u8],
        index: u64,
        seq: u32,
        copy: u8,
        delay: Option<u64>,
        out: &mut Output,
        log: &mut EventLog,
    ) -> Result<(), ChannelError> {
        let slot = self.slot;
        self.slot += 1;
        self.flips.clear();
        let spared = if self.payload_only {
            bytes.len().min(HEADER_LEN)
        } else {
            0
        };
        let mut held_bytes = None;
        {
            let sink: &mut dyn Sink = match (delay, self.reorder.as_mut()) {
                (Some(_), Some(r)) => {
                    let mut b = r.spare.pop().unwrap_or_default();
                    b.clear();
                    held_bytes.insert(b)
                }
                _ => &mut *out,
            };
            sink.pass(&bytes[..spared])?;
            transmit(
                sink,
                &bytes[spared..],
                self.errors.as_mut(),
                spared,
                &mut self.flips,
            )?;
        }
        if held_bytes.is_none() {
            out.end_unit()?;
        }
        if !self.flips.is_empty() {
            self.stats.bits_flipped += self.flips.len() as u64;
            self.stats.units_damaged += 1;
            log.flips(index, Some(seq), copy, &self.flips)?;
        }
        if let (Some(k), Some(r), Some(bytes)) = (delay, self.reorder.as_mut(), held_bytes) {
            r.held.push(Held {
                release_at: slot + k,
                bytes,
            });
            self.stats.reordered += 1;
            log.event(index, Some(seq), copy, "reorder", k)?;
        }
        if let Some(r) = self.reorder.as_mut() {
            r.release(slot, out)?;
        }
        Ok(())
    }

    /// How many copies the reorder buffer holds now.
    #[cfg(test)]
    pub(super) fn held_count(&self) -> usize {
        self.reorder.as_ref().map_or(0, |r| r.held.len())
    }

    pub(super) fn finish(
        &mut self,
        out: &mut Output,
        _log: &mut EventLog,
    ) -> Result<Stats, ChannelError> {
        if let Some(r) = self.reorder.as_mut() {
            r.release_all(out)?;
        }
        Ok(self.stats.clone())
    }
}
