//! The transfer descriptor: what a receiver needs to make sense of a transfer it joined
//! late, or whose first packets it lost.
//!
//! `pktize` sends a descriptor packet (kind 2) first, repeats it every N data packets and
//! after the last one. Its header carries the transfer id and the total length (when known);
//! its payload is the body below, protected by the payload CRC like any other payload. A
//! damaged descriptor is ignored, never trusted.
//!
//! ```text
//! offset size field          meaning
//!  0     1   body_version    1, or 2 for a transfer sent interleaved or as a carousel
//!  1     1   media_type      0 raw, 1 PNM, 2 BMP, 3 PNG, 4 JPEG, 5 Y4M, 6 indexed JPEG
//!  2     2   payload_len     payload size of the transfer's data packets
//!  4     1   fec_data        data packets per FEC group, 0 without FEC
//!  5     1   fec_parity      parity packets per FEC group
//!  6     1   name_len        0..=255
//!  7     N   name            UTF-8
//!  7+N   2   head_len        0..=HEAD_MAX
//!  9+N   H   head            the first H bytes of the transfer
//!  9+N+H 1   flags           body_version 2 only: 0x1 interleaved, 0x2 carousel,
//!                              0x4 fountain
//! 10+N+H 4   interleave_span body_version 2 only: data packets per interleaved span, or 0
//! 14+N+H 2   block_size      fountain only: data packets per source block (repair packets)
//! ```
//!
//! A transfer sent in order and once keeps body version 1, byte for byte what earlier
//! receivers read. A carousel (`pktize --repeat`) says so, so that a receiver stops by
//! itself once it holds every byte.
//!
//! The head (up to 1024 bytes) holds any PNM or BMP header, so a receiver that lost the
//! first data packets can still write an image that viewers open. This module carries the
//! head and never reads it: what it says about the image is [`crate::image::DescribedImage`].

use crate::framing::{Frame, FrameReader};
use crate::wire::auth::{Key, Verdict, Verifier};
use crate::wire::{Header, Kind, Packet, HEADER_LEN};
use nom::bytes::complete::take;
use nom::number::complete::{be_u16, be_u32, be_u8};
use nom::IResult;

/// Bytes of the data's beginning a descriptor carries.
pub const HEAD_MAX: usize = 1024;
/// Longest name.
pub const NAME_MAX: usize = 255;
const BODY_VERSION: u8 = 1;
/// Version 1 and, after the head, flags and the interleaving span.
const BODY_VERSION_EXTENDED: u8 = 2;
/// Flag: the data packets are sent interleaved over `interleave_span`.
const FLAG_INTERLEAVED: u8 = 0x1;
/// Flag: the transfer is sent again and again (a carousel).
const FLAG_CAROUSEL: u8 = 0x2;
/// Flag: after the data, repair packets of a fountain code (`pktize --fountain`); the
/// body ends with the source block size.
const FLAG_FOUNTAIN: u8 = 0x4;

/// What the transferred bytes are, as far as their first bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Raw,
    Pnm,
    Bmp,
    Png,
    Jpeg,
    /// YUV4MPEG2 video (`ffmpeg -f yuv4mpegpipe`).
    Y4m,
    /// A baseline JPEG sent so that each packet decodes alone (`pktize(5)`, JPEG
    /// transfers): the data packets carry a sub-header before their piece of the file.
    JpegIndexed,
}

impl MediaType {
    pub const ALL: [MediaType; 7] = [
        MediaType::Raw,
        MediaType::Pnm,
        MediaType::Bmp,
        MediaType::Png,
        MediaType::Jpeg,
        MediaType::Y4m,
        MediaType::JpegIndexed,
    ];

    fn code(self) -> u8 {
        match self {
            MediaType::Raw => 0,
            MediaType::Pnm => 1,
            MediaType::Bmp => 2,
            MediaType::Png => 3,
            MediaType::Jpeg => 4,
            MediaType::Y4m => 5,
            MediaType::JpegIndexed => 6,
        }
    }

    fn from_code(code: u8) -> Option<MediaType> {
        MediaType::ALL.into_iter().find(|m| m.code() == code)
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            MediaType::Raw => "raw",
            MediaType::Pnm => "pnm",
            MediaType::Bmp => "bmp",
            MediaType::Png => "png",
            MediaType::Jpeg => "jpeg",
            MediaType::Y4m => "y4m",
            MediaType::JpegIndexed => "jpeg-indexed",
        }
    }

    pub fn from_name(name: &str) -> Option<MediaType> {
        MediaType::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Guess the type from the first bytes (magic numbers).
    pub fn sniff(head: &[u8]) -> MediaType {
        match head {
            [b'P', b'1'..=b'6', ..] => MediaType::Pnm,
            [b'B', b'M', ..] => MediaType::Bmp,
            [0x89, b'P', b'N', b'G', ..] => MediaType::Png,
            [0xFF, 0xD8, 0xFF, ..] => MediaType::Jpeg,
            [b'Y', b'U', b'V', b'4', b'M', b'P', b'E', b'G', b'2', ..] => MediaType::Y4m,
            _ => MediaType::Raw,
        }
    }
}

/// A transfer's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: MediaType,
    pub payload_len: u16,
    /// (data, parity) packets per FEC group, when the transfer carries parity.
    pub fec: Option<(u8, u8)>,
    pub name: String,
    pub head: Vec<u8>,
    /// The data packets are sent in an interleaved order over spans of this many packets
    /// (`pktize(5)`): a receiver holds a span to put them back in order.
    pub interleave_span: Option<u32>,
    /// The sender repeats the transfer (`pktize --repeat`): a receiver that holds every
    /// byte may stop.
    pub carousel: bool,
    /// The data packets are followed by fountain repair packets over source blocks of at
    /// most this many data packets (`pktize --fountain`, `pktize(5)`).
    pub fountain: Option<u16>,
}

/// Why a descriptor body was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptorError {
    #[error("descriptor body version {found} is not {BODY_VERSION} or {BODY_VERSION_EXTENDED}")]
    Version { found: u8 },
    #[error("descriptor: unknown media type {found}")]
    MediaType { found: u8 },
    #[error("descriptor: head of {found} bytes exceeds {HEAD_MAX}")]
    HeadTooLong { found: usize },
    #[error("descriptor: name is not UTF-8")]
    Name,
    #[error("descriptor: truncated or malformed body")]
    Malformed,
}

impl Descriptor {
    /// The body bytes, as sent in a descriptor packet's payload.
    pub fn encode(&self) -> Vec<u8> {
        let name = truncate_utf8(&self.name, NAME_MAX);
        let head = &self.head[..self.head.len().min(HEAD_MAX)];
        let (fec_data, fec_parity) = self.fec.unwrap_or((0, 0));
        let mut out = Vec::with_capacity(9 + name.len() + head.len());
        let extended = self.interleave_span.is_some() || self.carousel || self.fountain.is_some();
        out.push(if extended {
            BODY_VERSION_EXTENDED
        } else {
            BODY_VERSION
        });
        out.push(self.media_type.code());
        out.extend_from_slice(&self.payload_len.to_be_bytes());
        out.push(fec_data);
        out.push(fec_parity);
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(head.len() as u16).to_be_bytes());
        out.extend_from_slice(head);
        if extended {
            let flags = (u8::from(self.interleave_span.is_some()) * FLAG_INTERLEAVED)
                | (u8::from(self.carousel) * FLAG_CAROUSEL)
                | (u8::from(self.fountain.is_some()) * FLAG_FOUNTAIN);
            out.push(flags);
            out.extend_from_slice(&self.interleave_span.unwrap_or(0).to_be_bytes());
            if let Some(k) = self.fountain {
                out.extend_from_slice(&k.to_be_bytes());
            }
        }
        out
    }

    /// Parse a descriptor body (the payload of a descriptor packet whose CRC matched).
    pub fn parse(input: &[u8]) -> Result<Descriptor, DescriptorError> {
        let (rest, raw) = body(input).map_err(|_| DescriptorError::Malformed)?;
        let descriptor = raw?;
        if !rest.is_empty() {
            return Err(DescriptorError::Malformed);
        }
        Ok(descriptor)
    }

    /// True when `other` describes the same transfer: the same fields, and heads of which
    /// one begins the other (a sender that reads a pipe sends a longer head later).
    pub fn agrees_with(&self, other: &Descriptor) -> bool {
        let shorter = self.head.len().min(other.head.len());
        self.media_type == other.media_type
            && self.payload_len == other.payload_len
            && self.fec == other.fec
            && self.name == other.name
            && self.interleave_span == other.interleave_span
            && self.fountain == other.fountain
            && self.head[..shorter] == other.head[..shorter]
    }
}

/// Read packets until the first intact descriptor; `None` if the input ends first. Lets a
/// receiver say what is being sent without receiving all of it. With `key`, only an
/// authentic descriptor counts (its header returned as [`crate::wire::auth`] strips it); without,
/// keyed descriptors are passed over.
pub fn find_first(
    input: &mut dyn std::io::Read,
    transfer_id: Option<u16>,
    key: Option<&Key>,
) -> std::io::Result<Option<(Header, Descriptor)>> {
    let mut frames = FrameReader::new(input);
    let mut verifier = key.cloned().map(Verifier::new);
    loop {
        while let Some((frame, at)) = frames.next_buffered() {
            if let Frame::Packet {
                header,
                intact: true,
                payload_len,
                ..
            } = frame
            {
                let wanted = transfer_id.is_none_or(|id| id == header.transfer_id);
                if header.kind == Kind::Descriptor && wanted {
                    let buf = frames.buffer();
                    let payload = &buf[at + HEADER_LEN..at + HEADER_LEN + payload_len];
                    let packet = Packet::new(header, payload, true, false);
                    // With a key only an authentic descriptor counts; without, only a plain one.
                    // An encrypted one is read deciphered.
                    let checked = match verifier.as_mut().map(|v| v.check(&packet)) {
                        Some(Verdict::Authentic(p)) => Some((p.header, p.payload)),
                        Some(Verdict::Opened(p)) => {
                            let v = verifier.as_ref().expect("a verifier opened it");
                            Some((p.header, v.plain()))
                        }
                        None if !header.keyed => Some((packet.header, packet.payload)),
                        _ => None,
                    };
                    if let Some((header, Ok(d))) = checked.map(|(h, b)| (h, Descriptor::parse(b))) {
                        return Ok(Some((header, d)));
                    }
                }
            }
        }
        if !frames.read_more()? {
            return Ok(None);
        }
    }
}

/// One combinator per field, in body order (see the table at the top).
fn body(input: &[u8]) -> IResult<&[u8], Result<Descriptor, DescriptorError>> {
    let (input, version) = be_u8(input)?;
    if version != BODY_VERSION && version != BODY_VERSION_EXTENDED {
        return Ok((input, Err(DescriptorError::Version { found: version })));
    }
    let (input, media_code) = be_u8(input)?;
    let (input, payload_len) = be_u16(input)?;
    let (input, fec_data) = be_u8(input)?;
    let (input, fec_parity) = be_u8(input)?;
    let (input, name_len) = be_u8(input)?;
    let (input, name) = take(name_len)(input)?;
    let (input, head_len) = be_u16(input)?;
    if head_len as usize > HEAD_MAX {
        return Ok((
            input,
            Err(DescriptorError::HeadTooLong {
                found: head_len as usize,
            }),
        ));
    }
    let (input, head) = take(head_len)(input)?;
    let (input, flags, span) = match version {
        BODY_VERSION_EXTENDED => {
            let (input, flags) = be_u8(input)?;
            let (input, span) = be_u32(input)?;
            (input, flags, span)
        }
        _ => (input, 0, 0),
    };
    if flags & !(FLAG_INTERLEAVED | FLAG_CAROUSEL | FLAG_FOUNTAIN) != 0 {
        return Ok((input, Err(DescriptorError::Malformed)));
    }
    let (input, fountain) = match flags & FLAG_FOUNTAIN {
        0 => (input, None),
        _ => {
            let (input, k) = be_u16(input)?;
            if !(1..=crate::wire::MAX_BLOCK_PACKETS).contains(&k) {
                return Ok((input, Err(DescriptorError::Malformed)));
            }
            (input, Some(k))
        }
    };
    let interleave_span = (flags & FLAG_INTERLEAVED != 0).then_some(span);
    let Some(media_type) = MediaType::from_code(media_code) else {
        return Ok((input, Err(DescriptorError::MediaType { found: media_code })));
    };
    let Ok(name) = std::str::from_utf8(name) else {
        return Ok((input, Err(DescriptorError::Name)));
    };
    Ok((
        input,
        Ok(Descriptor {
            media_type,
            payload_len,
            fec: (fec_data > 0).then_some((fec_data, fec_parity)),
            name: name.to_string(),
            head: head.to_vec(),
            interleave_span,
            carousel: flags & FLAG_CAROUSEL != 0,
            fountain,
        }),
    ))
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Descriptor {
        Descriptor {
            media_type: MediaType::Pnm,
            payload_len: 1024,
            fec: Some((8, 2)),
            name: "photo.ppm".into(),
            head: b"P6\n640 480\n255\n".to_vec(),
            interleave_span: None,
            carousel: false,
            fountain: None,
        }
    }

    #[test]
    fn layout_matches_the_manual() {
        let b = sample().encode();
        assert_eq!(&b[..7], &[1, 1, 0x04, 0x00, 8, 2, 9]);
        assert_eq!(&b[7..16], b"photo.ppm");
        assert_eq!(&b[16..18], &[0, 15]);
        assert_eq!(&b[18..], b"P6\n640 480\n255\n");
    }

    #[test]
    fn an_interleaved_transfer_says_its_span_in_body_version_2() {
        let d = Descriptor {
            interleave_span: Some(4096),
            ..sample()
        };
        let b = d.encode();
        assert_eq!(b[0], 2);
        assert_eq!(&b[b.len() - 4..], &[0, 0, 0x10, 0]);
        assert_eq!(Descriptor::parse(&b), Ok(d.clone()));
        assert!(!d.agrees_with(&sample()));
    }

    #[test]
    fn round_trip() {
        let d = sample();
        assert_eq!(Descriptor::parse(&d.encode()), Ok(d.clone()));
    }

    #[test]
    fn sniffing_knows_the_common_magics() {
        assert_eq!(MediaType::sniff(b"P5 1 1 255\n"), MediaType::Pnm);
        assert_eq!(MediaType::sniff(b"\x89PNG\r\n"), MediaType::Png);
        assert_eq!(MediaType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), MediaType::Jpeg);
        assert_eq!(MediaType::sniff(b"P7"), MediaType::Raw);
        assert_eq!(MediaType::sniff(b""), MediaType::Raw);
    }

    #[test]
    fn bad_bodies_are_rejected() {
        let good = sample().encode();
        let with = |at: usize, byte: u8| {
            let mut body = good.clone();
            body[at] = byte;
            Descriptor::parse(&body)
        };
        let malformed = Err(DescriptorError::Malformed);
        assert_eq!(Descriptor::parse(&good[..good.len() - 1]), malformed);
        assert_eq!(Descriptor::parse(&[&good[..], &[0]].concat()), malformed);
        assert_eq!(with(0, 3), Err(DescriptorError::Version { found: 3 }));
        // Version 2 has the span after the head: a version 1 body is too short for it.
        assert_eq!(with(0, 2), malformed);
        assert_eq!(with(1, 9), Err(DescriptorError::MediaType { found: 9 }));
        let mut h = sample();
        h.head = vec![0; 2000];
        assert_eq!(Descriptor::parse(&h.encode()).unwrap().head.len(), HEAD_MAX);
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        let mut d = sample();
        d.name = "é".repeat(200);
        let parsed = Descriptor::parse(&d.encode()).unwrap();
        assert!(parsed.name.len() <= NAME_MAX);
        assert!(d.name.starts_with(&parsed.name));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..1200)) {
            let _ = Descriptor::parse(&bytes);
        }

        #[test]
        fn parse_inverts_encode(
            media in 0usize..MediaType::ALL.len(),
            payload_len in any::<u16>(),
            fec in prop::option::of((1u8.., any::<u8>())),
            name in "[a-z./ ]{0,40}",
            head in prop::collection::vec(any::<u8>(), 0..=HEAD_MAX),
            interleave_span in prop::option::of(any::<u32>()),
            carousel in any::<bool>(),
            fountain in prop::option::of(1..=crate::wire::MAX_BLOCK_PACKETS),
        ) {
            let d = Descriptor {
                media_type: MediaType::ALL[media],
                payload_len,
                fec,
                name,
                head,
                interleave_span,
                carousel,
                fountain,
            };
            prop_assert_eq!(Descriptor::parse(&d.encode()), Ok(d));
        }
    }
}
