//! What a reception comes to: packet and byte counts, the transfers as received, and the
//! report that decides the exit status (`-v`, `--report`).

use super::damage::DamageTotals;
use crate::descriptor::{Descriptor, MediaType};

/// Packet and byte counts over the whole input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// New packets whose payload matched its CRC.
    pub intact: u64,
    /// New packets with a valid header and a damaged payload (truncated ones included);
    /// with a key, every keyed packet whose CRC fails (its range stays lost).
    pub damaged: u64,
    /// Of the damaged, those cut short.
    pub truncated: u64,
    /// Packet slots never received intact or damaged: filled.
    pub lost: u64,
    /// Packets rebuilt from parity (lost or damaged on the way); not counted as lost.
    pub recovered: u64,
    pub duplicate: u64,
    /// New packets that arrived after a packet with a later offset.
    pub reordered: u64,
    /// Packets that came after their range was filled; written when the output is a file.
    pub late: u64,
    pub late_written: u64,
    /// Packets of transfers not followed, or contradicting their transfer's length.
    pub foreign: u64,
    /// Intact packets whose range was already placed with other bytes: dropped; and
    /// parity packets that conflict with one taken for their slot (see
    /// [`crate::fec::ParityTaken::Conflict`]).
    pub conflicting: u64,
    /// Parity packets of the followed transfer.
    pub parity: u64,
    /// Fountain repair packets of the followed transfer (`pktize --fountain`).
    pub repair: u64,
    /// Packets of kinds this version does not use (none yet).
    pub unused: u64,
    /// Descriptor packets used (intact, of a followed transfer).
    pub descriptors: u64,
    /// Descriptor packets ignored: damaged or malformed.
    pub bad_descriptors: u64,
    /// Descriptor packets contradicting an earlier one or the data packets.
    pub conflicting_descriptors: u64,
    /// With a key: intact keyed packets whose tag failed, or whose salt is not their
    /// transfer's (never written). Keyed packets whose CRC failed count as damaged.
    pub rejected: u64,
    /// With a key: packets without a tag (ignored).
    pub unauthenticated: u64,
    /// Without a key: keyed packets (ignored; they need `--key`).
    pub keyed: u64,
    /// Encrypted packets: with a key, those opened (of the authentic); without, those
    /// ignored (of the keyed).
    pub encrypted: u64,
    /// With a key: packets whose tag held.
    #[serde(skip)]
    pub authentic: u64,
    /// Bytes of lost or damaged packets restored from a descriptor's copy of the head.
    #[serde(skip)]
    pub restored_bytes: u64,
    #[serde(skip)]
    pub garbage_bytes: u64,
    #[serde(skip)]
    pub transfers: u64,
    /// Packets of which only the header arrived (counted truncated; their range lost).
    #[serde(skip)]
    pub header_only: u64,
}

impl Counts {
    /// Packets of any kind found in the input.
    pub fn packets_found(&self) -> u64 {
        self.intact
            + self.damaged
            + self.duplicate
            + self.foreign
            + self.conflicting
            + self.parity
            + self.repair
            + self.unused
            + self.descriptors
            + self.bad_descriptors
            + self.conflicting_descriptors
            + self.late
            + self.rejected
            + self.unauthenticated
            + self.keyed
            + self.header_only
    }
}

/// One transfer as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferSummary {
    pub id: u16,
    /// Where it starts in the output.
    pub base: u64,
    /// Bytes written for it, fill included.
    pub len: u64,
    /// Its length was known (total length or last packet received).
    pub end_known: bool,
    /// What its descriptors said, if any arrived.
    pub descriptor: Option<Descriptor>,
}

/// What happened, for `-v`, `--report` and the exit status.
#[derive(Debug)]
pub struct Report {
    pub counts: Counts,
    pub damage: DamageTotals,
    pub transfers: Vec<TransferSummary>,
    pub output_len: u64,
    /// Every transfer's end was known (so no tail can be missing).
    pub complete: bool,
    /// Why a transfer was refused (too large), if one was: nothing more was taken.
    pub refused: Option<String>,
    /// Resuming: why the transfer is not the one the output holds part of, if it is not.
    pub mismatch: Option<String>,
    /// Reading stopped once a carousel's transfer was whole (see
    /// [`super::Settings::stop_when_whole`]): whatever the input held after it, another
    /// transfer included, was not read.
    pub stopped_whole: bool,
    /// BLAKE3 of the output's `output_len` bytes, when it is a file a report describes:
    /// what seals the report to it (see `seal`).
    pub content_digest: Option<[u8; 32]>,
}

impl Report {
    /// Complete, without damage, loss or conflicting data.
    pub fn intact(&self) -> bool {
        self.complete
            && self.refused.is_none()
            && self.mismatch.is_none()
            && self.damage.lost_bytes == 0
            && self.damage.damaged_bytes == 0
            && self.counts.conflicting == 0
    }

    /// A compressed image that lost bytes mostly does not decode: which case this is, so
    /// the user can be told why and what to do instead.
    pub fn lossy_compressed_image(&self) -> Option<LossyCompressed> {
        if self.damage.lost_bytes + self.damage.damaged_bytes == 0 {
            return None;
        }
        let descriptors = || self.transfers.iter().filter_map(|t| t.descriptor.as_ref());
        let kind = descriptors()
            .map(|d| d.media_type)
            .find(|m| matches!(m, MediaType::Jpeg | MediaType::Png))?;
        let restart_markers = descriptors().any(|d| d.head.windows(2).any(|w| w == [0xff, 0xdd]));
        Some(match kind {
            MediaType::Jpeg if restart_markers => LossyCompressed::JpegWithRestartMarkers,
            MediaType::Jpeg => LossyCompressed::Jpeg,
            _ => LossyCompressed::Png,
        })
    }
}

/// A compressed image that lost data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossyCompressed {
    /// Decoders resynchronise at the next marker: a loss costs only its rows.
    JpegWithRestartMarkers,
    /// Mostly undecodable from the first loss on.
    Jpeg,
    Png,
}

/// Where a reception stands while it runs.
#[derive(Debug, Clone, Copy)]
pub struct Status {
    pub counts: Counts,
    /// Output bytes settled (written or filled, in order).
    pub settled: u64,
    /// The current transfer's frontier and known length.
    pub current: Option<(u64, u64)>,
}
