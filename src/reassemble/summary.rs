//! What a reception comes to: packet and byte counts, the transfers as received, and the
//! report that decides the exit status (`-v`, `--report`).

use super::damage::DamageTotals;
use super::packet::Integrity;
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

/// What became of one data packet of the followed transfer: what
/// `Transfer::place` returns, counted by [`Counts::count`] alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// New: written at the frontier, or waiting ahead of it in the window; `reordered`
    /// when a packet with a later offset came before it.
    Delivered {
        integrity: Integrity,
        reordered: bool,
    },
    /// New, damaged, and treated as lost ([`super::DamagedPolicy::Fill`]): not written.
    Dropped { integrity: Integrity },
    /// Only its header arrived: it told the length, its range stays lost.
    HeaderOnly,
    /// Its range was already placed (or waits in the window) with these bytes;
    /// `reordered` as for `Late`.
    Duplicate { reordered: bool },
    /// Intact, but its range was already placed with other bytes: not written.
    Conflict,
    /// Its length contradicts the transfer's: not taken.
    Foreign,
    /// It came after its range was settled as lost. `repaired`: the output took it, with
    /// this integrity, repairing that many lost packet slots. `reordered` when it was
    /// first taken as new and the window settled its range to make room.
    Late {
        repaired: Option<(Integrity, u64)>,
        reordered: bool,
    },
    /// Rebuilt from parity (or a fountain's repair), repairing that many packet slots
    /// settled as lost.
    Rebuilt { repaired_slots: u64 },
    /// Rebuilt, but not needed: its range arrived after all, or a stream cannot take it
    /// back any more (then counted late).
    Unneeded { late: bool },
}

/// Every fact the counts are made of: a packet placed, and what happened to packets and
/// ranges around that. [`Counts::count`] is the one place that turns them into counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Placed(Placed),
    /// `bytes` of input that were not packets.
    Garbage {
        bytes: u64,
    },
    /// Without a key, a keyed packet (ignored).
    Keyed {
        encrypted: bool,
    },
    /// With a key, a packet whose tag held (opened, when `encrypted`).
    Authentic {
        encrypted: bool,
    },
    /// With a key, a packet whose tag failed.
    Rejected,
    /// With a key, a keyed packet whose CRC failed: nothing of it is trusted.
    DamagedKeyed {
        truncated: bool,
    },
    /// With a key, a packet without a tag.
    Unauthenticated,
    /// Packets of a transfer not followed (or dropped from the tracker's hold).
    Foreign {
        packets: u64,
    },
    /// Two parity packets for one slot.
    ConflictingParity,
    /// A parity or fountain repair packet of the followed transfer.
    Parity,
    Repair,
    /// A transfer started.
    Transfer,
    /// A descriptor used, one damaged or malformed, one contradicting what is known.
    Descriptor,
    BadDescriptor,
    ConflictingDescriptor,
    /// Packet slots settled as lost (filled).
    Lost {
        slots: u64,
    },
    /// Packet slots settled as lost that were repaired after all.
    Repaired {
        slots: u64,
    },
    /// Bytes restored from a descriptor's copy of the head; and made damaged again, the
    /// head being disputed (`final_already`: the damage map could no longer take them
    /// back as open, so they count as a conflict).
    Restored {
        bytes: u64,
    },
    Unrestored {
        bytes: u64,
        final_already: bool,
    },
}

impl Counts {
    /// Count one fact: the only place counts change.
    pub fn count(&mut self, c: Counted) {
        match c {
            Counted::Placed(p) => self.placed(p),
            Counted::Garbage { bytes } => self.garbage_bytes += bytes,
            Counted::Keyed { encrypted } => {
                self.keyed += 1;
                self.encrypted += u64::from(encrypted);
            }
            Counted::Authentic { encrypted } => {
                self.authentic += 1;
                self.encrypted += u64::from(encrypted);
            }
            Counted::Rejected => self.rejected += 1,
            Counted::DamagedKeyed { truncated } => {
                self.damaged += 1;
                self.truncated += u64::from(truncated);
            }
            Counted::Unauthenticated => self.unauthenticated += 1,
            Counted::Foreign { packets } => self.foreign += packets,
            Counted::ConflictingParity => self.conflicting += 1,
            Counted::Parity => self.parity += 1,
            Counted::Repair => self.repair += 1,
            Counted::Transfer => self.transfers += 1,
            Counted::Descriptor => self.descriptors += 1,
            Counted::BadDescriptor => self.bad_descriptors += 1,
            Counted::ConflictingDescriptor => self.conflicting_descriptors += 1,
            Counted::Lost { slots } => self.lost += slots,
            Counted::Repaired { slots } => self.lost = self.lost.saturating_sub(slots),
            Counted::Restored { bytes } => self.restored_bytes += bytes,
            Counted::Unrestored {
                bytes,
                final_already,
            } => {
                self.restored_bytes -= bytes;
                self.conflicting += u64::from(final_already);
            }
        }
    }

    fn new_packet(&mut self, integrity: Integrity) {
        match integrity {
            Integrity::Intact => self.intact += 1,
            Integrity::Damaged | Integrity::Truncated => {
                self.damaged += 1;
                self.truncated += u64::from(integrity == Integrity::Truncated);
            }
        }
    }

    fn placed(&mut self, p: Placed) {
        match p {
            Placed::Delivered {
                integrity,
                reordered,
            } => {
                self.new_packet(integrity);
                self.reordered += u64::from(reordered);
            }
            Placed::Dropped { integrity } => self.new_packet(integrity),
            Placed::HeaderOnly => {
                self.header_only += 1;
                self.truncated += 1;
            }
            Placed::Duplicate { reordered } => {
                self.duplicate += 1;
                self.reordered += u64::from(reordered);
            }
            Placed::Conflict => self.conflicting += 1,
            Placed::Foreign => self.foreign += 1,
            Placed::Late {
                repaired,
                reordered,
            } => {
                self.late += 1;
                self.reordered += u64::from(reordered);
                if let Some((integrity, slots)) = repaired {
                    self.late_written += 1;
                    self.lost = self.lost.saturating_sub(slots);
                    match integrity {
                        Integrity::Intact => self.intact += 1,
                        // A late packet repairing a lost range is counted damaged only
                        // (its range was counted lost, not truncated).
                        Integrity::Damaged | Integrity::Truncated => self.damaged += 1,
                    }
                }
            }
            Placed::Rebuilt { repaired_slots } => {
                self.recovered += 1;
                self.lost = self.lost.saturating_sub(repaired_slots);
            }
            Placed::Unneeded { late } => self.late += u64::from(late),
        }
    }

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
    pub refused: Option<super::TooLarge>,
    /// Resuming: why the transfer is not the one the output holds part of, if it is not.
    pub mismatch: Option<super::resume::Mismatch>,
    /// Reading stopped once a carousel's transfer was whole (see
    /// [`super::Settings::stop_when_whole`]): whatever the input held after it, another
    /// transfer included, was not read.
    pub stopped_whole: bool,
    /// BLAKE3 of the output's `output_len` bytes, when it is a file a report describes:
    /// what seals the report to it (see `seal`).
    pub content_digest: Option<[u8; 32]>,
    /// Writing the output failed with an error other than running out of room (EIO):
    /// what the file holds cannot be trusted (the report is not sealed).
    pub output_error: Option<String>,
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
            && self.output_error.is_none()
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
