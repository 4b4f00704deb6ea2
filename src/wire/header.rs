//! The packet wire format: one 32-byte big-endian header, then the payload.
//!
//! This module is the only place that knows the byte layout; it reads side by side with the
//! table in `man/pktize.5`:
//!
//! ```text
//! offset size field        meaning
//!  0     2   magic         "pk" (0x70 0x6b), the sync pattern with the version byte
//!  2     1   version       1
//!  3     1   kind_flags    high nibble: kind (0 data, 3 parity, 2 descriptor, 4 repair;
//!                          1 retired; the kind + 8 when ENCRYPTED, KEYED packets only)
//!                          low nibble: flags (0x1 LAST, 0x2 TOTAL_KNOWN, 0x4 ODD on
//!                          parity only, else zero; 0x8 KEYED)
//!  4     2   payload_len   bytes of payload after the header, 0..=MAX_PAYLOAD (a keyed
//!                          packet's trailer included)
//!  6     2   header_check  low 16 bits of CRC-32 over header bytes 0..6 and 8..32
//!  8     2   transfer_id   random per run unless given; tells transfers apart
//! 10     4   seq           packet number within the transfer, from 0 (wraps)
//! 14     8   offset        byte offset of the payload within the transfer
//! 22     6   total_len     transfer length in bytes when TOTAL_KNOWN, else 0
//!                          (parity packets: the group fields below instead)
//! 28     4   payload_crc   CRC-32 (IEEE) of the payload
//! ```
//!
//! A parity packet (kind 3) never has TOTAL_KNOWN; its `seq` is the group number, its
//! `offset` the offset of the group's first data packet, and bytes 22..28 describe the group:
//!
//! ```text
//! 22     1   group_len     data packets in this group, K' (1..=K)
//! 23     1   parity_count  parity packets per group, M (1..)
//! 24     1   parity_index  this parity packet's place among them (0..M)
//! 25     1   group_size    data packets in a full group, K (1..)
//! 26     2   last_len      payload length of the group's last data packet
//! ```
//!
//! A repair packet (kind 4, `pktize --fountain`) is a fountain code's repair symbol for
//! one source block: never LAST nor TOTAL_KNOWN; its `seq` is the block number, its
//! `offset` the transfer's length, and bytes 22..28:
//!
//! ```text
//! 22     2   repair_index  the repair symbol's number within its block (0..)
//! 24     2   block_size    data packets per source block, K (1..=MAX_BLOCK_PACKETS)
//! 26     2   reserved      zero
//! ```
//!
//! The header check covers the payload CRC too, so a header that parses is trustworthy as a
//! whole: a packet whose payload is damaged still has a known place. Parsing checks only the
//! header; the payload is verified by [`Header::payload_matches`].
//!
//! A KEYED packet (`pktize --key`) ends its payload with a [`TRAILER_LEN`]-byte trailer,
//! salt then tag, counted in `payload_len` and covered by `payload_crc`; its data (what
//! offsets, lengths and the FEC code count) is the payload without the trailer. Making and
//! checking the trailer is [`crate::wire::auth`]'s concern; here are only its length and the
//! header bytes the tag covers ([`Header::tag_input`]). An ENCRYPTED packet (`pktize
//! --encrypt`, kind code + 8) is keyed too, with a [`SEALED_TRAILER_LEN`]-byte trailer and
//! its data enciphered ([`crate::wire::seal`]); a reader that predates it finds an unknown
//! kind, so never takes its bytes for data.
//!
//! Parity packets carry forward-error-correction parity over a group of data packets; the
//! code is [`crate::fec`]'s, only the header layout is here. Descriptor packets are reserved.

use byteorder::{BigEndian, ByteOrder};
use nom::bytes::complete::take;
use nom::number::complete::{be_u16, be_u32, be_u64, be_u8};
use nom::{Finish, IResult};

/// The first two header bytes.
pub const MAGIC: [u8; 2] = *b"pk";
/// The only version this code writes and reads.
pub const VERSION: u8 = 1;
/// Magic and version together: the byte pattern a resynchronising reader searches for.
pub const SYNC: [u8; 3] = [MAGIC[0], MAGIC[1], VERSION];
/// Length of every header.
pub const HEADER_LEN: usize = 32;
/// Largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP): a packet must fit one datagram.
pub const MAX_DATAGRAM: usize = 65_507;
/// Largest payload: header and payload together still fit one UDP datagram.
pub const MAX_PAYLOAD: usize = MAX_DATAGRAM - HEADER_LEN;
/// The default payload size, small enough to survive any path MTU after fragmentation.
pub const DEFAULT_PAYLOAD: usize = 1024;
/// Largest transfer length the 48-bit `total_len` field can state; longer transfers are
/// sent with the total unknown.
pub const MAX_TOTAL_LEN: u64 = (1 << 48) - 1;

/// Flag: this packet ends its transfer.
pub const FLAG_LAST: u8 = 0x1;
/// Flag: `total_len` holds the transfer's length.
pub const FLAG_TOTAL_KNOWN: u8 = 0x2;
/// Parity packets only: the group's data payload size is the shard length minus one
/// (shards are a whole number of 16-bit symbols, so an odd payload size is padded).
pub const FLAG_ODD: u8 = 0x4;
/// Flag: the payload ends with a salt and an authentication tag (see [`crate::wire::auth`]).
pub const FLAG_KEYED: u8 = 0x8;
/// The most data packets in one source block of a repair packet (`block_size`).
pub const MAX_BLOCK_PACKETS: u16 = 4096;
/// Flags no packet but a parity or repair packet may have.
const FLAGS_RESERVED: u8 = FLAG_ODD;
/// Bytes of the per-transfer salt in a keyed packet's trailer.
pub const SALT_LEN: usize = 8;
/// Bytes of the authentication tag, after the salt.
pub const TAG_LEN: usize = 16;
/// The trailer of a keyed packet: salt, then tag, at the end of the payload.
pub const TRAILER_LEN: usize = SALT_LEN + TAG_LEN;
/// Bytes of the per-transfer salt in an encrypted packet's trailer: 128 bits, from which
/// the transfer's own key is derived.
pub const SEALED_SALT_LEN: usize = 16;
/// The trailer of an encrypted packet: salt, then the AEAD's tag.
pub const SEALED_TRAILER_LEN: usize = SEALED_SALT_LEN + TAG_LEN;
/// Added to the kind code of an encrypted packet (the kind nibble's high bit).
pub const KIND_ENCRYPTED: u8 = 8;

/// What a packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A slice of the transferred bytes at `offset`.
    Data,
    /// Forward-error-correction parity over a group of data packets.
    Parity,
    /// A description of the transfer (length, name, media type, head of the data).
    Descriptor,
    /// A fountain code's repair symbol for one source block (`pktize --fountain`).
    Repair(RepairInfo),
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::Data => 0,
            Kind::Parity => 3,
            Kind::Descriptor => 2,
            Kind::Repair(_) => 4,
        }
    }

    /// The kind of code `code`; a repair packet's fields are filled in later.
    fn from_code(code: u8) -> Option<Kind> {
        match code {
            0 => Some(Kind::Data),
            // 1 was the GF(2^8) parity of pktools 0.1, retired with its code: its packets
            // are not recognised, so no reader mistakes them for this code's.
            2 => Some(Kind::Descriptor),
            3 => Some(Kind::Parity),
            4 => Some(Kind::Repair(RepairInfo::default())),
            _ => None,
        }
    }
}

/// What a repair packet says about its symbol (bytes 22..26 of its header); the block
/// geometry and the code are [`crate::fec`]'s concern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RepairInfo {
    /// The repair symbol's number within its block, from 0.
    pub repair_index: u16,
    /// Data packets per source block, K (the transfer's blocks hold at most K each).
    pub block_size: u16,
    /// Flag [`FLAG_ODD`]: the data payload size is the symbol length minus one.
    pub odd: bool,
}

/// What a parity packet says about its group (bytes 22..28 of its header). The coding
/// itself is [`crate::fec`]'s concern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParityInfo {
    /// Data packets in this group, K': the nominal size but for a transfer's last group.
    pub group_len: u8,
    /// Parity packets per group, M.
    pub parity_count: u8,
    /// This packet's index among the group's parity packets, 0..M.
    pub parity_index: u8,
    /// Data packets in a full group, K.
    pub group_size: u8,
    /// Payload length of the group's last data packet (shorter than the others when it
    /// ends the transfer), so a rebuilt last packet gets its true length.
    pub last_len: u16,
    /// Flag [`FLAG_ODD`]: the group's data payload size is the parity payload length minus
    /// one, not equal to it.
    pub odd: bool,
}

impl ParityInfo {
    /// The data payload size P of the group's packets but its last, given the parity
    /// payload (shard) length.
    pub fn data_len(&self, shard_len: u16) -> u16 {
        shard_len - u16::from(self.odd)
    }
}

/// A packet header, as sent and as parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    pub kind: Kind,
    /// This packet ends its transfer.
    pub last: bool,
    /// The payload ends with a [`TRAILER_LEN`]-byte salt and tag (the KEYED flag).
    pub keyed: bool,
    /// The data is enciphered and the trailer is [`SEALED_TRAILER_LEN`] bytes (kind code +
    /// [`KIND_ENCRYPTED`]; only with `keyed`). Kept when a receiver strips the trailer:
    /// the payload is still the ciphertext.
    pub encrypted: bool,
    /// Bytes after the header on the wire, a keyed packet's trailer included.
    pub payload_len: u16,
    pub transfer_id: u16,
    pub seq: u32,
    pub offset: u64,
    /// The transfer's length, when the sender knew it (at most [`MAX_TOTAL_LEN`]).
    pub total_len: Option<u64>,
    pub payload_crc: u32,
    /// The group fields of a parity packet; `None` for every other kind.
    pub parity: Option<ParityInfo>,
}

/// Why bytes are not a valid header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated header: {found} of {HEADER_LEN} bytes")]
    Truncated { found: usize },
    #[error("bad magic: expected \"pk\", found {found:02x?}")]
    BadMagic { found: [u8; 2] },
    #[error("unsupported version {found} (this program reads version {VERSION})")]
    BadVersion { found: u8 },
    #[error("header checksum mismatch: header says {stated:04x}, bytes give {computed:04x}")]
    HeaderChecksum { stated: u16, computed: u16 },
    #[error("unknown packet kind {found}")]
    BadKind { found: u8 },
    #[error("reserved flag bits set: {found:#x}")]
    ReservedFlags { found: u8 },
    #[error("payload length {found} exceeds the maximum {MAX_PAYLOAD}")]
    PayloadTooLong { found: usize },
    #[error("packet at offset {offset} with {len} bytes ends beyond the total length {total}")]
    BeyondTotal { offset: u64, len: u16, total: u64 },
    #[error("parity packet with TOTAL_KNOWN set")]
    ParityWithTotal,
    #[error(
        "parity group fields out of range: {group_len} of {group_size} data packets, \
         parity {parity_index} of {parity_count}, last payload {last_len} bytes"
    )]
    BadParityGroup {
        group_len: u8,
        group_size: u8,
        parity_index: u8,
        parity_count: u8,
        last_len: u16,
    },
    #[error("packet at offset {offset} with {len} bytes ends beyond the largest offset, 2^64 - 1")]
    EndOverflow { offset: u64, len: u16 },
    #[error("keyed packet with {found} payload bytes, fewer than its {need}-byte trailer")]
    ShortTrailer { found: u16, need: usize },
    #[error("encrypted packet without the KEYED flag")]
    EncryptedUnkeyed,
    #[error("keyed packet without TOTAL_KNOWN has nonzero total_len bytes")]
    NonCanonical,
    #[error(
        "repair fields out of range: block size {block_size} (1 to {MAX_BLOCK_PACKETS}), \
         symbol of {symbol_len} bytes, transfer of {total} bytes, reserved {reserved:#x}, \
         flags {flags:#x}"
    )]
    BadRepair {
        block_size: u16,
        symbol_len: u16,
        total: u64,
        reserved: u16,
        flags: u8,
    },
}

impl Header {
    /// The CRC-32 of a payload, as stored in `payload_crc`.
    #[inline]
    pub fn crc_of(payload: &[u8]) -> u32 {
        let mut hasher = crc_hasher();
        hasher.update(payload);
        hasher.finalize()
    }

    /// True when `payload` is the one this header describes (length and CRC).
    #[inline]
    pub fn payload_matches(&self, payload: &[u8]) -> bool {
        payload.len() == self.payload_len as usize && Header::crc_of(payload) == self.payload_crc
    }

    /// Bytes of transfer data the payload carries: all of it, but for a keyed packet's
    /// trailer.
    #[inline]
    pub fn data_len(&self) -> u16 {
        self.payload_len.saturating_sub(self.trailer_len() as u16)
    }

    /// Bytes of trailer at the end of the payload: none unless keyed.
    #[inline]
    pub fn trailer_len(&self) -> usize {
        match (self.keyed, self.encrypted) {
            (false, _) => 0,
            (true, false) => TRAILER_LEN,
            (true, true) => SEALED_TRAILER_LEN,
        }
    }

    /// End offset of the payload's data within the transfer.
    #[inline]
    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.data_len())
    }

    /// Length of the whole packet on the wire.
    #[inline]
    pub fn packet_len(&self) -> usize {
        HEADER_LEN + self.payload_len as usize
    }

    /// A whole packet: this header, encoded, then `payload` (whose length and CRC it
    /// should state). For building packets one at a time; the packetizer writes headers
    /// in place instead.
    pub fn with_payload(&self, payload: &[u8]) -> Vec<u8> {
        let mut packet = vec![0; HEADER_LEN + payload.len()];
        let (head, body) = packet.split_at_mut(HEADER_LEN);
        self.encode(head.try_into().expect("split at HEADER_LEN"));
        body.copy_from_slice(payload);
        packet
    }

    /// Write the header into its 32 bytes, computing the header check.
    ///
    /// Callers keep `total_len <= MAX_TOTAL_LEN` and `payload_len <= MAX_PAYLOAD`
    /// (the packetizer guarantees both); larger totals are sent as unknown.
    pub fn encode(&self, out: &mut [u8; HEADER_LEN]) {
        self.encode_fields(out);
        let check = header_check(out);
        BigEndian::write_u16(&mut out[6..8], check);
    }

    /// The header bytes a keyed packet's tag covers: as encoded, with `header_check` and
    /// `payload_crc` zero (both are computed after the tag). For a header that parsed,
    /// these are the received bytes with those two fields zeroed: the parser accepts only
    /// keyed headers that encode back to the same bytes.
    pub fn tag_input(&self) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        Header {
            payload_crc: 0,
            ..*self
        }
        .encode_fields(&mut out);
        out
    }

    /// Every field but the header check, which is left as it was.
    fn encode_fields(&self, out: &mut [u8; HEADER_LEN]) {
        debug_assert!(self.payload_len as usize <= MAX_PAYLOAD);
        out[0..2].copy_from_slice(&MAGIC);
        out[2] = VERSION;
        let mut flags = 0;
        if self.last {
            flags |= FLAG_LAST;
        }
        if self.keyed {
            flags |= FLAG_KEYED;
        }
        debug_assert_eq!(self.kind == Kind::Parity, self.parity.is_some());
        let total = match (self.parity, self.total_len) {
            (Some(_), _) => 0,
            (None, Some(t)) if t <= MAX_TOTAL_LEN => {
                flags |= FLAG_TOTAL_KNOWN;
                t
            }
            _ => 0,
        };
        let repair = match self.kind {
            Kind::Repair(r) => Some(r),
            _ => None,
        };
        if self.parity.is_some_and(|p| p.odd) || repair.is_some_and(|r| r.odd) {
            flags |= FLAG_ODD;
        }
        if repair.is_some() {
            flags &= !FLAG_TOTAL_KNOWN;
        }
        let kind = self.kind.code() + if self.encrypted { KIND_ENCRYPTED } else { 0 };
        out[3] = kind << 4 | flags;
        BigEndian::write_u16(&mut out[4..6], self.payload_len);
        BigEndian::write_u16(&mut out[8..10], self.transfer_id);
        BigEndian::write_u32(&mut out[10..14], self.seq);
        BigEndian::write_u64(&mut out[14..22], self.offset);
        match (self.parity, repair) {
            (_, Some(r)) => {
                BigEndian::write_u16(&mut out[22..24], r.repair_index);
                BigEndian::write_u16(&mut out[24..26], r.block_size);
                BigEndian::write_u16(&mut out[26..28], 0);
            }
            (Some(p), None) => {
                out[22] = p.group_len;
                out[23] = p.parity_count;
                out[24] = p.parity_index;
                out[25] = p.group_size;
                BigEndian::write_u16(&mut out[26..28], p.last_len);
            }
            (None, None) => BigEndian::write_u48(&mut out[22..28], total),
        }
        BigEndian::write_u32(&mut out[28..32], self.payload_crc);
    }

    /// Parse and validate the header at the start of `input` (the payload is not looked at).
    pub fn parse(input: &[u8]) -> Result<Header, WireError> {
        if input.len() < HEADER_LEN {
            return Err(WireError::Truncated { found: input.len() });
        }
        let bytes: &[u8; HEADER_LEN] = input[..HEADER_LEN]
            .try_into()
            .expect("slice of HEADER_LEN bytes");
        // On 32 bytes only the magic and version fields can fail, each with its own error.
        let (_, raw) = raw_header(bytes).finish()?;
        let computed = header_check(bytes);
        if raw.header_check != computed {
            return Err(WireError::HeaderChecksum {
                stated: raw.header_check,
                computed,
            });
        }
        raw.validate()
    }
}

/// The header's fields as they are on the wire, before validation.
struct RawHeader {
    kind_flags: u8,
    payload_len: u16,
    header_check: u16,
    transfer_id: u16,
    seq: u32,
    offset: u64,
    total_len: u64,
    payload_crc: u32,
}

/// What the field combinators fail with: the header's own error, not nom's.
type Parsed<'a, T> = IResult<&'a [u8], T, WireError>;

impl nom::error::ParseError<&[u8]> for WireError {
    /// Only running out of bytes makes nom's own combinators fail here.
    fn from_error_kind(input: &[u8], _kind: nom::error::ErrorKind) -> Self {
        WireError::Truncated {
            found: HEADER_LEN.saturating_sub(input.len()),
        }
    }

    fn append(_input: &[u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// `magic`: "pk".
fn magic(input: &[u8]) -> Parsed<'_, ()> {
    let (rest, found) = take(2usize)(input)?;
    if found != MAGIC {
        return Err(nom::Err::Failure(WireError::BadMagic {
            found: [found[0], found[1]],
        }));
    }
    Ok((rest, ()))
}

/// `version`: [`VERSION`].
fn version(input: &[u8]) -> Parsed<'_, ()> {
    let (rest, found) = be_u8(input)?;
    if found != VERSION {
        return Err(nom::Err::Failure(WireError::BadVersion { found }));
    }
    Ok((rest, ()))
}

/// One combinator per field, in wire order (see the table at the top of this module).
fn raw_header(input: &[u8]) -> Parsed<'_, RawHeader> {
    let (input, ()) = magic(input)?;
    let (input, ()) = version(input)?;
    let (input, kind_flags) = be_u8(input)?;
    let (input, payload_len) = be_u16(input)?;
    let (input, header_check) = be_u16(input)?;
    let (input, transfer_id) = be_u16(input)?;
    let (input, seq) = be_u32(input)?;
    let (input, offset) = be_u64(input)?;
    let (input, total_len) = be_u48(input)?;
    let (input, payload_crc) = be_u32(input)?;
    Ok((
        input,
        RawHeader {
            kind_flags,
            payload_len,
            header_check,
            transfer_id,
            seq,
            offset,
            total_len,
            payload_crc,
        },
    ))
}

fn be_u48(input: &[u8]) -> Parsed<'_, u64> {
    let (input, high) = be_u16(input)?;
    let (input, low) = be_u32(input)?;
    Ok((input, u64::from(high) << 32 | u64::from(low)))
}

impl RawHeader {
    fn validate(self) -> Result<Header, WireError> {
        let code = self.kind_flags >> 4;
        let encrypted = code & KIND_ENCRYPTED != 0;
        let kind =
            Kind::from_code(code & !KIND_ENCRYPTED).ok_or(WireError::BadKind { found: code })?;
        let flags = self.kind_flags & 0xF;
        let reserved = match kind {
            Kind::Parity | Kind::Repair(_) => FLAGS_RESERVED & !FLAG_ODD,
            _ => FLAGS_RESERVED,
        };
        if flags & reserved != 0 {
            return Err(WireError::ReservedFlags { found: flags });
        }
        if self.payload_len as usize > MAX_PAYLOAD {
            return Err(WireError::PayloadTooLong {
                found: self.payload_len as usize,
            });
        }
        let keyed = flags & FLAG_KEYED != 0;
        if encrypted && !keyed {
            return Err(WireError::EncryptedUnkeyed);
        }
        // Offsets and lengths count a keyed packet's data, not its trailer.
        let trailer_len = match (keyed, encrypted) {
            (false, _) => 0,
            (true, false) => TRAILER_LEN,
            (true, true) => SEALED_TRAILER_LEN,
        };
        if usize::from(self.payload_len) < trailer_len {
            return Err(WireError::ShortTrailer {
                found: self.payload_len,
                need: trailer_len,
            });
        }
        let data_len = self.payload_len - trailer_len as u16;
        let total_len = (flags & FLAG_TOTAL_KNOWN != 0).then_some(self.total_len);
        // The tag covers the header re-encoded from its fields (`Header::tag_input`): the
        // only bits encoding drops, total_len's without TOTAL_KNOWN, must be zero.
        let plain = matches!(kind, Kind::Data | Kind::Descriptor);
        if keyed && plain && total_len.is_none() && self.total_len != 0 {
            return Err(WireError::NonCanonical);
        }
        let parity = match kind {
            Kind::Parity if total_len.is_some() => return Err(WireError::ParityWithTotal),
            Kind::Parity => Some(parity_group(
                self.total_len,
                data_len,
                flags & FLAG_ODD != 0,
            )?),
            _ => None,
        };
        let kind = match kind {
            Kind::Repair(_) => Kind::Repair(self.repair_fields(flags, data_len)?),
            other => other,
        };
        if let (Kind::Data, Some(total)) = (kind, total_len) {
            let end = self.offset.checked_add(u64::from(data_len));
            if end.is_none_or(|e| e > total) {
                return Err(WireError::BeyondTotal {
                    offset: self.offset,
                    len: data_len,
                    total,
                });
            }
        }
        // Every later use of the header counts on `offset + payload_len` (its `end`).
        if self
            .offset
            .checked_add(u64::from(self.payload_len))
            .is_none()
        {
            return Err(WireError::EndOverflow {
                offset: self.offset,
                len: self.payload_len,
            });
        }
        Ok(Header {
            kind,
            last: flags & FLAG_LAST != 0,
            keyed,
            encrypted,
            payload_len: self.payload_len,
            transfer_id: self.transfer_id,
            seq: self.seq,
            offset: self.offset,
            total_len,
            payload_crc: self.payload_crc,
            parity,
        })
    }
}

impl RawHeader {
    /// The fields of a repair header (bytes 22..28), checked: a block size within
    /// [`MAX_BLOCK_PACKETS`], a symbol of whole 16-bit units (at least one) that holds the
    /// data size, a nonempty transfer, reserved bits zero, neither LAST nor TOTAL_KNOWN.
    fn repair_fields(&self, flags: u8, symbol_len: u16) -> Result<RepairInfo, WireError> {
        let bits = self.total_len;
        let r = RepairInfo {
            repair_index: (bits >> 32) as u16,
            block_size: (bits >> 16) as u16,
            odd: flags & FLAG_ODD != 0,
        };
        let reserved = bits as u16;
        let valid = (1..=MAX_BLOCK_PACKETS).contains(&r.block_size)
            && symbol_len >= 2
            && symbol_len % 2 == 0
            && self.offset > 0
            && reserved == 0
            && flags & (FLAG_LAST | FLAG_TOTAL_KNOWN) == 0;
        if !valid {
            return Err(WireError::BadRepair {
                block_size: r.block_size,
                symbol_len,
                total: self.offset,
                reserved,
                flags,
            });
        }
        Ok(r)
    }
}

/// The group fields of a parity header, from the 48 bits that hold `total_len` elsewhere.
fn parity_group(bits: u64, payload_len: u16, odd: bool) -> Result<ParityInfo, WireError> {
    let byte = |n: u32| (bits >> (40 - 8 * n)) as u8;
    let p = ParityInfo {
        group_len: byte(0),
        parity_count: byte(1),
        parity_index: byte(2),
        group_size: byte(3),
        last_len: bits as u16,
        odd,
    };
    // Shards are whole 16-bit symbols: an even length, and a data size that fits in it.
    let valid = payload_len % 2 == 0
        && p.last_len <= payload_len.saturating_sub(u16::from(odd))
        && (payload_len > 0 || !odd)
        && p.group_len >= 1
        && p.group_len <= p.group_size
        && p.parity_count >= 1
        && p.parity_index < p.parity_count;
    if !valid {
        return Err(WireError::BadParityGroup {
            group_len: p.group_len,
            group_size: p.group_size,
            parity_index: p.parity_index,
            parity_count: p.parity_count,
            last_len: p.last_len,
        });
    }
    Ok(p)
}

/// A CRC-32 hasher with the CPU's fastest kernel already chosen: `Hasher::new` detects
/// the CPU's features on every call, and every packet needs two or three hashers.
#[inline]
pub(crate) fn crc_hasher() -> crc32fast::Hasher {
    static FASTEST: std::sync::LazyLock<crc32fast::Hasher> =
        std::sync::LazyLock::new(crc32fast::Hasher::new);
    FASTEST.clone()
}

/// The header check: low 16 bits of the CRC-32 of every header byte but the check itself.
fn header_check(bytes: &[u8; HEADER_LEN]) -> u16 {
    let mut hasher = crc_hasher();
    hasher.update(&bytes[0..6]);
    hasher.update(&bytes[8..HEADER_LEN]);
    hasher.finalize() as u16
}

/// Headers the tests of other modules build.
#[cfg(test)]
impl Header {
    /// An intact data packet's header: transfer 1, not the last, no total stated.
    pub(crate) fn test_data(seq: u32, offset: u64, payload: &[u8]) -> Header {
        Header {
            kind: Kind::Data,
            last: false,
            keyed: false,
            encrypted: false,
            payload_len: payload.len() as u16,
            transfer_id: 1,
            seq,
            offset,
            total_len: None,
            payload_crc: Header::crc_of(payload),
            parity: None,
        }
    }
}

#[cfg(test)]
mod tests;
