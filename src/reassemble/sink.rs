//! Where a transfer's bytes go: the output, the damage map that records what was not
//! received intact, and the fill pattern for what was lost.
//!
//! Every write of the reassembler passes here, so "what the output holds" and "what the
//! damage map says about it" change together.

use super::damage::DamageMap;
use super::output::{Output, OutputResult};

/// Bytes of fill written per call: big enough to amortise calls, small enough that a
/// driver's output notices a stop request within a fraction of a second (see
/// [`super::StopOnRequest`]: the sink reads no stop flag).
const FILL_BLOCK: usize = 64 << 10;

/// The output side of the reassembler.
pub struct Sink<O: Output> {
    pub out: O,
    pub damage: DamageMap,
    pattern: Vec<u8>,
    /// The pattern repeated over a block, plus one pattern's length for any phase.
    block: Vec<u8>,
}

impl<O: Output> Sink<O> {
    /// `pattern` must not be empty (the settings' parser guarantees it).
    pub fn new(out: O, damage: DamageMap, pattern: Vec<u8>) -> Self {
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
    /// from `origin`, so a pixel pattern fills whole pixels after an image header. Written
    /// in blocks of [`FILL_BLOCK`], each through [`Output::write_fill`], so an output may
    /// end a long fill with [`super::output::OutputError::Stopped`].
    pub fn fill(&mut self, from: u64, to: u64, origin: u64) -> OutputResult<()> {
        if self.pattern.iter().all(|&b| b == 0) && self.out.holes_read_as_zeros() {
            // A fresh file reads zeros where nothing was written: leave a hole, so a huge
            // claimed length costs no disk and no time.
            return self.out.set_len_hint(to);
        }
        let n = self.pattern.len() as u64;
        let mut at = from;
        while at < to {
            let phase = ((at + n - origin % n) % n) as usize;
            let len = ((to - at) as usize).min(FILL_BLOCK);
            self.out.write_fill(at, &self.block[phase..phase + len])?;
            at += len as u64;
        }
        Ok(())
    }
}
