//! The reorder window: packets that arrived ahead of the frontier, waiting for the gap
//! before them to be filled or given up.
//!
//! Invariants: entries are keyed by start offset, every key is beyond the frontier when
//! inserted, and there are at most `capacity` of them, so memory is bounded by
//! `capacity` times the largest payload whatever arrives. A payload already written to a
//! seekable output at its offset (written through) keeps no bytes here, only its extent.
//! A payload that lies in the input buffer the driver lends is kept as its place there,
//! and copied only when that buffer is about to change ([`Window::lend`]): from a mapped
//! file, never. Buffers of delivered entries are kept in a pool, so a steady stream
//! allocates nothing.

use super::limits::Limits;
use super::output::{LentInput, Output, OutputResult};
use super::packet::Integrity;
use std::collections::BTreeMap;

/// The payload bytes the automatic window holds: enough for the reordering of a busy link,
/// small enough for the memory budget.
pub const AUTO_WINDOW_BYTES: usize = 1 << 20;
/// Bounds on the window in packets, so tiny payloads do not make a huge index.
pub const MAX_WINDOW_PACKETS: usize = 1 << 16;
/// The automatic window never exceeds this many packets.
pub(super) const AUTO_WINDOW_MAX_PACKETS: usize = 4096;

/// A payload waiting ahead of the frontier.
pub struct Pending {
    /// The payload bytes present; empty when `written` or `lent` (and for a header alone).
    pub data: Vec<u8>,
    /// Where the payload lies in the lent input, when it was not copied to `data`.
    pub lent: Option<usize>,
    /// End offset the header states (beyond the data when truncated).
    pub stated_end: u64,
    pub integrity: Integrity,
    /// Already written at its offset (a seekable output): only the extent is kept.
    pub written: bool,
    /// Bytes present (the data's length, also when written through).
    pub present: usize,
    /// What it counts against the window's byte bound: its stated length, unless written
    /// through (a better copy replacing it is never longer).
    held: u64,
}

impl Pending {
    pub fn is_intact(&self) -> bool {
        self.integrity == Integrity::Intact
    }

    /// Take a better copy of the payload (intact, or longer): kept here, or, when the
    /// payload was written through, written over it at `at` (its output offset).
    pub fn replace<O: Output>(
        &mut self,
        at: u64,
        payload: &[u8],
        integrity: Integrity,
        out: &mut O,
    ) -> OutputResult<()> {
        self.integrity = integrity;
        self.present = payload.len();
        if self.written {
            return out.write_at(at, payload);
        }
        self.lent = None;
        self.data.clear();
        self.data.extend_from_slice(payload);
        Ok(())
    }
}

/// Waiting payloads by start offset.
pub struct Window {
    entries: BTreeMap<u64, Pending>,
    capacity: usize,
    /// Payload bytes the entries hold (copied or lent), and the most they may.
    held_bytes: u64,
    max_held_bytes: u64,
    pool: Vec<Vec<u8>>,
    /// The bytes the pool's buffers have room for.
    pool_bytes: u64,
    /// The input buffer that entries' `lent` places are in.
    lent: Option<LentInput>,
}

impl Window {
    pub fn new() -> Self {
        Window {
            entries: BTreeMap::new(),
            capacity: 1,
            held_bytes: 0,
            max_held_bytes: u64::MAX,
            pool: Vec::new(),
            pool_bytes: 0,
            lent: None,
        }
    }

    /// The input buffer that payloads inserted with their place lie in, until the next
    /// call; the entries kept as places in the buffer being given up are copied out of it.
    pub fn lend(&mut self, input: Option<LentInput>) {
        if let Some(old) = self.lent.take() {
            let buf: &[u8] = (*old).as_ref();
            for p in self.entries.values_mut() {
                if let Some(pos) = p.lent.take() {
                    p.data = pool_take(&mut self.pool, &mut self.pool_bytes);
                    p.data.extend_from_slice(&buf[pos..pos + p.present]);
                }
            }
        }
        self.lent = input;
    }

    /// The earliest place in the lent input that an entry refers to.
    pub fn oldest_lent(&self) -> Option<usize> {
        self.entries.values().filter_map(|p| p.lent).min()
    }

    /// The lent input buffer, for the bytes of an entry kept as a place in it.
    pub fn lent_input(&self) -> Option<LentInput> {
        self.lent.clone()
    }

    /// Size the window for payloads of `payload_len` bytes: `packets` when asked for,
    /// else about [`Limits::auto_window_bytes`]; never below `at_least` (what FEC or an
    /// interleaved sender needs held), never above [`Limits::window_packets`].
    ///
    /// Whatever a descriptor announces, the payload bytes held (not written through) stay
    /// within [`Limits::window_bytes`], or within the window asked for when that is more: the window
    /// is full when either bound is reached (issue 29.8: a forged span made it hold 65536
    /// payloads of 64 KiB).
    pub fn resize(
        &mut self,
        packets: Option<usize>,
        payload_len: u64,
        at_least: usize,
        limits: &Limits,
    ) {
        let asked = packets.map_or(0, |n| n as u64 * payload_len);
        self.max_held_bytes = limits.window_bytes.max(asked);
        let wanted = match packets {
            Some(n) => n,
            None => (limits.auto_window_bytes / payload_len.max(1) as usize)
                .clamp(1, limits.auto_window_packets.max(1)),
        };
        self.capacity = wanted.max(at_least).clamp(1, limits.window_packets.max(1));
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.capacity || self.held_bytes >= self.max_held_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, start: u64) -> bool {
        self.entries.contains_key(&start)
    }

    pub fn get_mut(&mut self, start: u64) -> Option<&mut Pending> {
        self.entries.get_mut(&start)
    }

    /// The waiting entries, in offset order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Pending)> {
        self.entries.iter().map(|(&k, v)| (k, v))
    }

    /// The first waiting entry.
    pub fn first(&self) -> Option<(u64, &Pending)> {
        self.entries.first_key_value().map(|(&k, v)| (k, v))
    }

    pub fn pop_first(&mut self) -> Option<(u64, Pending)> {
        let first = self.entries.pop_first();
        if let Some((_, p)) = &first {
            self.held_bytes -= p.held;
        }
        first
    }

    /// Hold a payload, lying at `input_pos` in the lent input when known to; `written`
    /// keeps only its extent (the output already has it).
    pub fn insert(
        &mut self,
        start: u64,
        stated_end: u64,
        payload: &[u8],
        integrity: Integrity,
        written: bool,
        input_pos: Option<usize>,
    ) {
        let lent = match written {
            true => None,
            false => crate::io::lent_place(self.lent.as_ref(), input_pos, payload),
        };
        let mut data = Vec::new();
        if !written && lent.is_none() {
            data = self.pooled();
            data.extend_from_slice(payload);
        }
        let held = match written {
            true => 0,
            false => stated_end.saturating_sub(start).max(payload.len() as u64),
        };
        self.held_bytes += held;
        let replaced = self.entries.insert(
            start,
            Pending {
                data,
                lent,
                stated_end,
                integrity,
                written,
                present: payload.len(),
                held,
            },
        );
        if let Some(old) = replaced {
            self.held_bytes -= old.held;
        }
    }

    /// An empty buffer from the pool, or a new one.
    fn pooled(&mut self) -> Vec<u8> {
        pool_take(&mut self.pool, &mut self.pool_bytes)
    }

    /// Give a delivered entry's buffer back for reuse. The pool may hold as many as the
    /// window: an interleaved span fills the window, then empties it, and a pool of 1024
    /// left thousands of buffers to be freed and allocated again each span (a seventh of an
    /// interleaved receiver's time in malloc and free). Each buffer in it was an entry's;
    /// nor does it keep more bytes than the window may hold, so buffers grown for large
    /// payloads once are not all kept.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        let bytes = buf.capacity() as u64;
        if bytes > 0
            && self.pool.len() < self.capacity
            && self.pool_bytes + bytes <= self.max_held_bytes
        {
            self.pool_bytes += bytes;
            self.pool.push(buf);
        }
    }
}

/// An empty buffer from `pool` (whose buffers have room for `pool_bytes`), or a new one.
fn pool_take(pool: &mut Vec<Vec<u8>>, pool_bytes: &mut u64) -> Vec<u8> {
    let mut data = pool.pop().unwrap_or_default();
    *pool_bytes -= data.capacity() as u64;
    data.clear();
    data
}
