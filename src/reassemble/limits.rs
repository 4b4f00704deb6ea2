//! Every cap on what a reception holds, in one value: what a forged packet may ask of the
//! receiver is bounded by these, never by what the packet says.
//!
//! [`Limits`] carries the caps a reception may change; the fixed ones are named here too,
//! so this page (and the MEMORY section of `unpktize(1)`, which lists the same) is the one
//! place to read them all:
//!
//! | what | bound | where |
//! |---|---|---|
//! | reorder window, packets | [`MAX_WINDOW_PACKETS`] (65536) | `window` |
//! | reorder window, payload bytes held | [`Limits::window_bytes`] (8 MiB, or the `--window` asked for when more) | `window` |
//! | FEC ring, payload bytes copied | [`Limits::fec`]`.ring_bytes` (8 MiB) | [`crate::fec::Decoder`] |
//! | FEC ring, slots | [`crate::fec::RING_MAX_SLOTS`] (65536) | [`crate::fec::Decoder`] |
//! | FEC parity held | [`Limits::fec`]`.parity_bytes` (2 MiB), at most 8192 groups | [`crate::fec::Decoder`] |
//! | transfer length | [`super::Settings::max_len`] (`--max-size`; 16 GiB to a stream) | `transfer` |
//! | a transfer held whole | `receive::Plan::max_hold` (`--max-hold`, 1 GiB); a carousel to a stream in memory up to 8 MiB, beyond in a temporary file | `output`, `spill` |
//! | a map's image | 64 Mi pixels, unless the transfer is that long (else the packet grid) | [`super::map_sink`] |
//! | an indexed JPEG's read-ahead | [`Limits::jpeg_peek_bytes`] (1 MiB of a stream) or a pause of [`Limits::jpeg_peek_quiet`] (200 ms), only while the data packets may be an indexed JPEG's | `jpeg_output` |
//! | an indexed JPEG rebuilt | [`Limits::jpeg_transfer_bytes`] (128 MiB, read back into memory), [`crate::jpeg::rebuild::MAX_BLOCKS`] blocks | `jpeg_output` |
//! | framing work | [`crate::framing::CRC_CREDIT_PER_BYTE`] payload CRC bytes per input byte | [`crate::framing::Scanner`] |
//!
//! A descriptor's interleave span or FEC scheme raises the window and ring only within
//! these; past them, a gap is settled (filled) sooner, and a group whose payloads were not
//! kept is not rebuilt: what arrives is still written, never lost for memory's sake.

pub use super::window::MAX_WINDOW_PACKETS;

/// The caps a reception may change; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Payload bytes the reorder window holds ahead of the frontier (copied, or lent in
    /// the input) when no window was asked for: an interleaved sender's span or FEC's
    /// groups included. A window asked for in packets may hold that many of the largest
    /// payload.
    pub window_bytes: u64,
    /// What the FEC decoder may hold.
    pub fec: crate::fec::Budget,
    /// Bytes of a stream read ahead to tell an indexed JPEG (only while its data packets
    /// may be one's): [`super::jpeg_output::PEEK_MAX`].
    pub jpeg_peek_bytes: usize,
    /// How long a quiet stream is waited for while reading ahead:
    /// [`super::jpeg_output::PEEK_QUIET`].
    pub jpeg_peek_quiet: std::time::Duration,
    /// The longest indexed JPEG transfer rebuilt (read back into memory):
    /// [`super::jpeg_output::MAX_TRANSFER`].
    pub jpeg_transfer_bytes: u64,
}

/// The window's default byte bound: `pktize --interleave`'s default span, 8 MiB, and one
/// payload more.
pub const WINDOW_BYTES: u64 = (8 << 20) + crate::wire::MAX_PAYLOAD as u64;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            window_bytes: WINDOW_BYTES,
            fec: crate::fec::Budget::default(),
            jpeg_peek_bytes: super::jpeg_output::PEEK_MAX,
            jpeg_peek_quiet: super::jpeg_output::PEEK_QUIET,
            jpeg_transfer_bytes: super::jpeg_output::MAX_TRANSFER,
        }
    }
}
