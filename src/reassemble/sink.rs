//! Where a transfer's bytes go: the output, the damage map that records what was not
//! received intact, and the fill pattern for what was lost.
//!
//! Every write of the reassembler passes here, so "what the output holds" and "what the
//! damage map says about it" change together.

use super::damage::DamageMap;
use super::output::{Output, OutputResult};

/// Bytes of fill written per call: big enough to amortise calls, small enough that a stop
/// request is noticed within a fraction of a second.
const FILL_BLOCK: usize = 64 << 10;
/// Fill still written after a stop request: the rest of an honest transfer's length is
/// owed to the output (a receiver stopped by a signal still writes the length it knew),
/// but a forged total of 2^48 bytes must not keep it running.
const FILL_AFTER_STOP: u64 = 256 << 20;

/// The output side of the reassembler.
pub struct Sink<O: Output> {
    pub out: O,
    pub damage: DamageMap,
    pattern: Vec<u8>,
    /// The pattern repeated over a block, plus one pattern's length for any phase.
    block: Vec<u8>,
    /// Asked before each block of fill: true once the program was asked to stop.
    stop: fn() -> bool,
    /// Fill bytes written since a stop request.
    filled_after_stop: u64,
}

impl<O: Output> Sink<O> {
    /// `pattern` must not be empty (the settings' parser guarantees it).
    pub fn new(out: O, damage: DamageMap, pattern: Vec<u8>, stop: fn() -> bool) -> Self {
        assert!(
            !pattern.is_empty(),
            "the fill pattern has at least one byte"
        );
        let block = pattern
            .iter()
            .copied()
            .cycle()
            .take(FILL_BLOCK + pattern.len())
            .collect();
        Sink {
            out,
            damage,
            pattern,
            block,
            stop,
            filled_after_stop: 0,
        }
    }

    /// Write payload bytes at `at`; `input_pos` is where they lie in the lent input, so the
    /// output may reference them instead of copying.
    pub fn write(&mut self, at: u64, data: &[u8], input_pos: Option<usize>) -> OutputResult<()> {
        match input_pos {
            Some(pos) => self.out.write_lent(at, data, pos),
            None => self.out.write_at(at, data),
        }
    }

    /// Write the fill pattern over `from..to` (output offsets); the pattern's phase counts
    /// from `origin`, so a pixel pattern fills whole pixels after an image header. Returns
    /// false when a stop request cut it short (the rest is not written): after a stop,
    /// only [`FILL_AFTER_STOP`] more bytes are filled.
    pub fn fill(&mut self, from: u64, to: u64, origin: u64) -> OutputResult<bool> {
        if self.pattern.iter().all(|&b| b == 0) && self.out.holes_read_as_zeros() {
            // A fresh file reads zeros where nothing was written: leave a hole, so a huge
            // claimed length costs no disk and no time.
            self.out.set_len_hint(to)?;
            return Ok(true);
        }
        let n = self.pattern.len() as u64;
        let mut at = from;
        while at < to {
            let phase = ((at + n - origin % n) % n) as usize;
            let len = ((to - at) as usize).min(FILL_BLOCK);
            if (self.stop)() {
                if self.filled_after_stop >= FILL_AFTER_STOP {
                    return Ok(false);
                }
                self.filled_after_stop += len as u64;
            }
            self.out.write_fill(at, &self.block[phase..phase + len])?;
            at += len as u64;
        }
        Ok(true)
    }
}
