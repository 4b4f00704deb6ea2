//! Raw mode: any byte stream, cut into fixed-size blocks by byte offset (the last may be
//! shorter), so `corrupt` can damage plain files and raw video.
//!
//! For each block, in order: loss (a lost block is gone, nothing else is drawn for it), then
//! duplication (one draw; the copy follows the original). Bit errors run over every byte
//! sent, copies included. Without loss and duplication the blocks only name the lines of the
//! log.
//!
//! A block is decided when its first byte arrives and streamed as it comes; only a block
//! that is sent twice is kept whole, for its second copy. Runs of blocks sent once without
//! errors leave as one slice of the input, as in packet mode.

use super::loss::Loss;
use super::rng::{BitErrors, Stream};
use super::{transmit, Chance, ChannelError, Config, EventLog, Output, Sink, Stats};

pub(super) struct RawChannel {
    block_len: usize,
    loss: Loss,
    dup: Option<Chance>,
    errors: Option<BitErrors>,
    /// Index of the current block, and how much of it has arrived.
    index: u64,
    pos_in_block: usize,
    lost: bool,
    /// The current block, kept for its second copy when it is duplicated.
    copy: Option<Vec<u8>>,
    /// The buffer of the last copy, kept for the next duplicated block.
    spare: Option<Vec<u8>>,
    /// Offsets of the bits flipped in the current block's first copy.
    flips: Vec<usize>,
    stats: Stats,
}

impl RawChannel {
    pub(super) fn new(config: &Config) -> RawChannel {
        RawChannel {
            block_len: config.block_len,
            loss: Loss::new(config.loss, config.seed),
            dup: Chance::new(config.dup_prob, config.seed, Stream::Duplicate),
            errors: (config.ber > 0.0).then(|| BitErrors::new(config.seed, config.ber)),
            index: 0,
            pos_in_block: 0,
            lost: false,
            copy: None,
            spare: None,
            flips: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Decide the fate of the block that starts now.
    fn start_block(&mut self, log: &mut EventLog) -> Result<(), ChannelError> {
        self.stats.units_in += 1;
        self.lost = self.loss.lose();
        if self.lost {
            self.stats.dropped += 1;
            return log.event(self.index, None, 0, "drop", "-");
        }
        if self.dup.as_mut().is_some_and(Chance::happens) {
            self.stats.duplicated += 1;
            self.copy = Some(self.spare.take().unwrap_or_default());
            log.event(self.index, None, 1, "dup", "-")?;
        }
        Ok(())
    }

    /// Send the second copy if there is one, log the first copy's flips, move on.
    fn end_block(&mut self, out: &mut Output, log: &mut EventLog) -> Result<(), ChannelError> {
        if !self.flips.is_empty() {
            self.stats.bits_flipped += self.flips.len() as u64;
            self.stats.units_damaged += 1;
            log.flips(self.index, None, 0, &self.flips)?;
            self.flips.clear();
        }
        if let Some(mut copy) = self.copy.take() {
            transmit(out, &copy, self.errors.as_mut(), 0, &mut self.flips)?;
            copy.clear();
            self.spare = Some(copy);
            if !self.flips.is_empty() {
                self.stats.bits_flipped += self.flips.len() as u64;
                self.stats.units_damaged += 1;
                log.flips(self.index, None, 1, &self.flips)?;
                self.flips.clear();
            }
        }
        self.index += 1;
        self.pos_in_block = 0;
        Ok(())
    }

    /// Process all of `buf`: raw mode never needs to look ahead.
    pub(super) fn feed(
        &mut self,
        buf: &[u8],
        out: &mut Output,
        log: &mut EventLog,
    ) -> Result<(), ChannelError> {
        let mut at = 0;
        // buf[clean_from..at] passes unchanged: blocks that are sent once, without errors.
        let mut clean_from = 0;
        while at < buf.len() {
            if self.pos_in_block == 0 {
                self.start_block(log)?;
            }
            let n = (self.block_len - self.pos_in_block).min(buf.len() - at);
            let piece = &buf[at..at + n];
            if self.lost {
                out.pass(&buf[clean_from..at])?;
                clean_from = at + n;
            } else {
                let bits = n as u64 * 8;
                match self.errors.as_mut() {
                    Some(errors) if errors.next_hit(bits).is_some() => {
                        out.pass(&buf[clean_from..at])?;
                        let base = self.pos_in_block;
                        transmit(out, piece, Some(errors), base, &mut self.flips)?;
                        clean_from = at + n;
                    }
                    Some(errors) => errors.skip(bits),
                    None => {}
                }
                if let Some(copy) = self.copy.as_mut() {
                    copy.pass(piece)?;
                }
            }
            self.pos_in_block += n;
            at += n;
            if self.pos_in_block == self.block_len {
                if self.copy.is_some() {
                    out.pass(&buf[clean_from..at])?;
                    clean_from = at;
                }
                self.end_block(out, log)?;
            }
        }
        out.pass(&buf[clean_from..at])?;
        self.stats.bytes_in += buf.len() as u64;
        Ok(())
    }

    pub(super) fn finish(
        &mut self,
        out: &mut Output,
        log: &mut EventLog,
    ) -> Result<Stats, ChannelError> {
        if self.pos_in_block > 0 {
            self.end_block(out, log)?;
        }
        Ok(self.stats.clone())
    }
}
