//! The PNM header: magic number, width, height and maxval, as netpbm's `pnm(5)` describes.
//!
//! ```text
//! magic      "P1".."P6"
//! separator  one or more of: blank, TAB, CR, LF, or a comment ("#" through end of line)
//! width      decimal, 1..=MAX_DIMENSION
//! separator
//! height     decimal, 1..=MAX_DIMENSION
//! separator                          (absent with maxval for P1 and P4: maxval is 1)
//! maxval     decimal, 1..=MAX_MAXVAL
//! delimiter  exactly one whitespace character, or one comment; the raster follows
//! ```
//!
//! A comment ends at a CR or LF. As in netpbm's `pm_getc`, a comment where the single
//! delimiter is expected counts as that delimiter, newline included.
//!
//! The parser is written for both whole files and streams: when the bytes end before the
//! header does, it says so with [`HeaderError::Truncated`], and a streaming caller reads more
//! and tries again. It does not look at the raster.

use std::fmt;
use std::io::{self, Write};

use nom::error::{ErrorKind, ParseError};
use nom::IResult;

/// Largest width or height accepted: netpbm's limit (`INT_MAX`), and BMP's, whose size
/// fields are signed 32-bit.
pub const MAX_DIMENSION: u32 = i32::MAX as u32;
/// Largest maxval the formats allow (16-bit samples).
pub const MAX_MAXVAL: u16 = u16::MAX;

/// The six PNM formats, named by what they hold and how samples are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `P1`: bitmap, one ASCII `0`/`1` per pixel, 1 is black.
    PlainBitmap,
    /// `P2`: greyscale, ASCII decimal samples.
    PlainGraymap,
    /// `P3`: colour, ASCII decimal red, green, blue samples.
    PlainPixmap,
    /// `P4`: bitmap, 8 pixels per byte, most significant bit first, rows padded to a byte.
    RawBitmap,
    /// `P5`: greyscale, one byte per sample (maxval < 256) or two, big-endian.
    RawGraymap,
    /// `P6`: colour, as P5 with three samples (red, green, blue) per pixel.
    RawPixmap,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::PlainBitmap,
        Kind::PlainGraymap,
        Kind::PlainPixmap,
        Kind::RawBitmap,
        Kind::RawGraymap,
        Kind::RawPixmap,
    ];

    /// The two magic bytes, `P1` to `P6`.
    pub fn magic(self) -> [u8; 2] {
        let digit = match self {
            Kind::PlainBitmap => b'1',
            Kind::PlainGraymap => b'2',
            Kind::PlainPixmap => b'3',
            Kind::RawBitmap => b'4',
            Kind::RawGraymap => b'5',
            Kind::RawPixmap => b'6',
        };
        [b'P', digit]
    }

    /// The kind whose magic is `magic`, if any.
    pub fn from_magic(magic: [u8; 2]) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.magic() == magic)
    }

    /// True for the ASCII formats P1, P2 and P3.
    pub fn is_plain(self) -> bool {
        matches!(
            self,
            Kind::PlainBitmap | Kind::PlainGraymap | Kind::PlainPixmap
        )
    }

    /// True for P1 and P4, which have no maxval in their header.
    pub fn is_bitmap(self) -> bool {
        matches!(self, Kind::PlainBitmap | Kind::RawBitmap)
    }

    /// The binary format with the same content: P1 to P4, P2 to P5, P3 to P6.
    pub fn raw(self) -> Kind {
        match self {
            Kind::PlainBitmap => Kind::RawBitmap,
            Kind::PlainGraymap => Kind::RawGraymap,
            Kind::PlainPixmap => Kind::RawPixmap,
            raw => raw,
        }
    }

    /// Samples per pixel: 3 for pixmaps, 1 otherwise.
    pub fn channels(self) -> usize {
        match self {
            Kind::PlainPixmap | Kind::RawPixmap => 3,
            _ => 1,
        }
    }
}

/// The magic number, `P1` to `P6`.
impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [p, digit] = self.magic();
        write!(f, "{}{}", p as char, digit as char)
    }
}

/// A parsed PNM header. For bitmaps `maxval` is 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
    pub maxval: u16,
}

/// Why bytes are not (or not yet) a PNM header. Offsets count from the header's first byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The bytes end inside the header: a stream reader should read more and try again.
    /// `expected` is what the parser was looking for; it is not in the message, because
    /// at the end of the bytes that can mislead ("P6 2 2 255" ends inside its maxval, not
    /// before it): the image is truncated, and the offset says where.
    #[error("PNM header: the input ends at byte {offset} inside the header")]
    Truncated {
        expected: &'static str,
        offset: usize,
    },
    /// Something other than what the format allows at this place.
    #[error("PNM header: expected {expected}, found \"{found}\" at byte {offset}")]
    Unexpected {
        expected: &'static str,
        found: String,
        offset: usize,
    },
    /// A number outside its field's range.
    #[error("PNM header: {field} {value} is out of range {min}..={max} at byte {offset}")]
    OutOfRange {
        field: &'static str,
        value: String,
        min: u32,
        max: u32,
        offset: usize,
    },
}

impl HeaderError {
    /// True when more bytes could complete the header.
    pub fn is_truncated(&self) -> bool {
        matches!(self, HeaderError::Truncated { .. })
    }

    /// The same error with its offset moved by `by` bytes (for offsets within a stream).
    pub fn shifted(self, by: u64) -> HeaderError {
        let add = |offset: usize| offset.saturating_add(usize::try_from(by).unwrap_or(usize::MAX));
        match self {
            HeaderError::Truncated { expected, offset } => HeaderError::Truncated {
                expected,
                offset: add(offset),
            },
            HeaderError::Unexpected {
                expected,
                found,
                offset,
            } => HeaderError::Unexpected {
                expected,
                found,
                offset: add(offset),
            },
            HeaderError::OutOfRange {
                field,
                value,
                min,
                max,
                offset,
            } => HeaderError::OutOfRange {
                field,
                value,
                min,
                max,
                offset: add(offset),
            },
        }
    }
}

impl Header {
    /// Parse the header at the start of `input`; returns it with its length in bytes (the
    /// raster starts there).
    ///
    /// When `input` ends inside the header the error is [`HeaderError::Truncated`]; a caller
    /// reading a stream reads more and calls again, one that has everything reports it.
    pub fn parse(input: &[u8]) -> Result<(Header, usize), HeaderError> {
        match header(input) {
            Ok((rest, header)) => Ok((header, input.len() - rest.len())),
            Err(nom::Err::Error(stop) | nom::Err::Failure(stop)) => Err(stop.into_error(input)),
            // The field parsers turn nom's own Incomplete into a Stop; this is a fallback.
            Err(nom::Err::Incomplete(_)) => Err(HeaderError::Truncated {
                expected: "more header",
                offset: input.len(),
            }),
        }
    }

    /// Write the header in its usual form: `P6\n640 480\n255\n` (no maxval for bitmaps).
    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        write!(out, "{}\n{} {}\n", self.kind, self.width, self.height)?;
        if !self.kind.is_bitmap() {
            writeln!(out, "{}", self.maxval)?;
        }
        Ok(())
    }

    /// Bytes per sample in the binary formats: 1 when maxval < 256, else 2 (big-endian).
    pub fn bytes_per_sample(&self) -> usize {
        if self.maxval < 256 {
            1
        } else {
            2
        }
    }

    /// Length of one row in the binary form of this image (P4, P5 or P6), or `None` when it
    /// does not fit `usize`.
    pub fn raw_row_len(&self) -> Option<usize> {
        let width = usize::try_from(self.width).ok()?;
        if self.kind.is_bitmap() {
            return Some(width.div_ceil(8));
        }
        width
            .checked_mul(self.kind.channels())?
            .checked_mul(self.bytes_per_sample())
    }

    /// Length of the whole raster in binary form, or `None` when it does not fit `u64`.
    pub fn raw_raster_len(&self) -> Option<u64> {
        u64::try_from(self.raw_row_len()?)
            .ok()?
            .checked_mul(u64::from(self.height))
    }
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}x{}", self.kind, self.width, self.height)?;
        if !self.kind.is_bitmap() {
            write!(f, " maxval {}", self.maxval)?;
        }
        Ok(())
    }
}

/// Where parsing stopped, and why; `Header::parse` turns it into a `HeaderError` with offsets.
#[derive(Debug)]
struct Stop<'a> {
    at: &'a [u8],
    why: Why,
}

#[derive(Debug)]
enum Why {
    Expected(&'static str),
    OutOfRange {
        field: &'static str,
        value: String,
        min: u32,
        max: u32,
    },
}

impl<'a> ParseError<&'a [u8]> for Stop<'a> {
    fn from_error_kind(input: &'a [u8], _: ErrorKind) -> Self {
        Stop {
            at: input,
            why: Why::Expected("PNM header"),
        }
    }

    fn append(_: &'a [u8], _: ErrorKind, other: Self) -> Self {
        other
    }
}

impl Stop<'_> {
    fn into_error(self, start: &[u8]) -> HeaderError {
        let offset = start.len() - self.at.len();
        match self.why {
            Why::Expected(expected) if self.at.is_empty() => {
                HeaderError::Truncated { expected, offset }
            }
            Why::Expected(expected) => HeaderError::Unexpected {
                expected,
                found: excerpt(self.at),
                offset,
            },
            Why::OutOfRange {
                field,
                value,
                min,
                max,
            } => HeaderError::OutOfRange {
                field,
                value,
                min,
                max,
                offset,
            },
        }
    }
}

/// The start of what was found instead of a field: up to the next whitespace, at most 12
/// bytes, non-printable bytes escaped.
fn excerpt(at: &[u8]) -> String {
    let end = at
        .iter()
        .take(12)
        .position(|&b| is_whitespace(b))
        .unwrap_or(at.len().min(12))
        .max(1);
    at[..end].escape_ascii().to_string()
}

type Parsed<'a, O> = IResult<&'a [u8], O, Stop<'a>>;

fn expected<'a>(at: &'a [u8], what: &'static str) -> nom::Err<Stop<'a>> {
    nom::Err::Error(Stop {
        at,
        why: Why::Expected(what),
    })
}

/// The header, one parser per field, in the order of the table at the top of this module.
fn header(input: &[u8]) -> Parsed<'_, Header> {
    let (input, kind) = magic(input)?;
    let (input, ()) = separator("whitespace after the magic number", input)?;
    let (input, width) = number("width", 1, MAX_DIMENSION, input)?;
    let (input, ()) = separator("whitespace after the width", input)?;
    let (input, height) = number("height", 1, MAX_DIMENSION, input)?;
    let (input, maxval) = if kind.is_bitmap() {
        (input, 1)
    } else {
        let (input, ()) = separator("whitespace after the height", input)?;
        number("maxval", 1, u32::from(MAX_MAXVAL), input)?
    };
    let (input, ()) = delimiter(input)?;
    Ok((
        input,
        Header {
            kind,
            width,
            height,
            // In range: checked against MAX_MAXVAL by `number`.
            maxval: u16::try_from(maxval).unwrap_or(MAX_MAXVAL),
        },
    ))
}

fn magic(input: &[u8]) -> Parsed<'_, Kind> {
    const WHAT: &str = "magic number P1-P6";
    match input {
        [] | [b'P'] => Err(expected(&input[input.len()..], WHAT)),
        [a, b, rest @ ..] => match Kind::from_magic([*a, *b]) {
            Some(kind) => Ok((rest, kind)),
            None => Err(expected(input, WHAT)),
        },
        _ => Err(expected(input, WHAT)),
    }
}

/// Whitespace as `pnm(5)` defines it: blanks, TABs, CRs and LFs.
fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// A comment: `#` through the next CR or LF, which it includes. `None` if `input` does not
/// start one; `Some(Err)` if it ends before the comment does.
fn comment(input: &[u8]) -> Option<Result<&[u8], &[u8]>> {
    if input.first() != Some(&b'#') {
        return None;
    }
    Some(match memchr::memchr2(b'\n', b'\r', input) {
        Some(end) => Ok(&input[end + 1..]),
        None => Err(&input[input.len()..]),
    })
}

/// One or more whitespace bytes or comments. It may only end where the input has more to
/// say: a header cut inside its separator is truncated, not finished.
fn separator<'a>(what: &'static str, input: &'a [u8]) -> Parsed<'a, ()> {
    let mut rest = input;
    loop {
        match rest.first() {
            Some(&b) if is_whitespace(b) => rest = &rest[1..],
            Some(b'#') => match comment(rest) {
                Some(Ok(after)) => rest = after,
                _ => return Err(expected(&rest[rest.len()..], what)),
            },
            Some(_) if rest.len() < input.len() => return Ok((rest, ())),
            Some(_) => return Err(expected(rest, what)),
            None => return Err(expected(rest, what)),
        }
    }
}

/// A decimal number in `min..=max`. Digits that run to the end of the input may continue,
/// so they are truncated, not finished.
fn number<'a>(field: &'static str, min: u32, max: u32, input: &'a [u8]) -> Parsed<'a, u32> {
    let (rest, text) = match nom::character::streaming::digit1::<_, Stop>(input) {
        Ok(found) => found,
        Err(nom::Err::Incomplete(_)) => return Err(expected(&input[input.len()..], field)),
        Err(_) => return Err(expected(input, field)),
    };
    let value = text.iter().try_fold(0u32, |n, &d| {
        n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    });
    match value {
        Some(v) if (min..=max).contains(&v) => Ok((rest, v)),
        _ => Err(nom::Err::Error(Stop {
            at: input,
            why: Why::OutOfRange {
                field,
                value: String::from_utf8_lossy(text).into_owned(),
                min,
                max,
            },
        })),
    }
}

/// The single whitespace byte, or the one comment, that ends the header.
fn delimiter(input: &[u8]) -> Parsed<'_, ()> {
    const WHAT: &str = "one whitespace character before the raster";
    match input.first() {
        Some(&b) if is_whitespace(b) => Ok((&input[1..], ())),
        Some(b'#') => match comment(input) {
            Some(Ok(rest)) => Ok((rest, ())),
            _ => Err(expected(&input[input.len()..], WHAT)),
        },
        _ => Err(expected(input, WHAT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parsed(text: &[u8]) -> Result<(Header, usize), HeaderError> {
        Header::parse(text)
    }

    /// The message of the error that `text` gives.
    fn error(text: &[u8]) -> String {
        parsed(text).unwrap_err().to_string()
    }

    fn ppm(width: u32, height: u32, maxval: u16) -> Header {
        Header {
            kind: Kind::RawPixmap,
            width,
            height,
            maxval,
        }
    }

    #[test]
    fn usual_header() {
        assert_eq!(
            parsed(b"P6\n640 480\n255\nxyz"),
            Ok((ppm(640, 480, 255), 15))
        );
    }

    #[test]
    fn every_magic_number() {
        for (text, kind) in [
            (&b"P1 2 3\n"[..], Kind::PlainBitmap),
            (b"P2 2 3 9\n", Kind::PlainGraymap),
            (b"P3 2 3 9\n", Kind::PlainPixmap),
            (b"P4 2 3\n", Kind::RawBitmap),
            (b"P5 2 3 9\n", Kind::RawGraymap),
            (b"P6 2 3 9\n", Kind::RawPixmap),
        ] {
            let (h, len) = parsed(text).unwrap();
            assert_eq!(h.kind, kind);
            assert_eq!((h.width, h.height), (2, 3));
            assert_eq!(h.maxval, if kind.is_bitmap() { 1 } else { 9 });
            assert_eq!(len, text.len());
        }
    }

    #[test]
    fn comments_and_any_whitespace_between_fields() {
        let text = b"P6#c1\n\t 3#c2\r\r4 \n#c3\n#c4\n 255\n";
        assert_eq!(parsed(text), Ok((ppm(3, 4, 255), text.len())));
    }

    #[test]
    fn a_comment_can_be_the_delimiter() {
        // netpbm's pm_getc returns a comment as its newline; the raster follows it.
        let text = b"P5 1 1 255#x\n\x07";
        let (h, len) = parsed(text).unwrap();
        assert_eq!(h.maxval, 255);
        assert_eq!(&text[len..], b"\x07");
    }

    #[test]
    fn exactly_one_delimiter_byte_is_consumed() {
        // The second newline is a raster byte (value 10), not header.
        let (_, len) = parsed(b"P5 1 1 255\n\n").unwrap();
        assert_eq!(len, 11);
    }

    #[test]
    fn error_names_field_found_text_and_offset() {
        assert_eq!(
            error(b"P6 abc 2 255\n"),
            "PNM header: expected width, found \"abc\" at byte 3"
        );
        assert_eq!(
            error(b"GIF89a"),
            "PNM header: expected magic number P1-P6, found \"GIF89a\" at byte 0"
        );
        assert_eq!(
            error(b"P6 1 1 25x\n"),
            "PNM header: expected one whitespace character before the raster, found \"x\" at byte 9"
        );
    }

    #[test]
    fn separator_is_required_after_magic() {
        assert!(matches!(
            parsed(b"P61 1 255\n"),
            Err(HeaderError::Unexpected { offset: 2, .. })
        ));
    }

    #[test]
    fn maxval_out_of_range() {
        assert_eq!(
            error(b"P6 1 1 0\n"),
            "PNM header: maxval 0 is out of range 1..=65535 at byte 7"
        );
        assert!(matches!(
            parsed(b"P6 1 1 65536\n"),
            Err(HeaderError::OutOfRange {
                field: "maxval",
                ..
            })
        ));
        assert!(matches!(
            parsed(b"P2 1 1 99999999999999999999\n"),
            Err(HeaderError::OutOfRange {
                field: "maxval",
                ..
            })
        ));
    }

    #[test]
    fn dimensions_out_of_range() {
        assert!(matches!(
            parsed(b"P6 0 1 255\n"),
            Err(HeaderError::OutOfRange { field: "width", .. })
        ));
        assert!(matches!(
            parsed(b"P6 1 2147483648 255\n"),
            Err(HeaderError::OutOfRange {
                field: "height",
                ..
            })
        ));
        assert!(parsed(b"P6 2147483647 1 255\n").is_ok());
    }

    #[test]
    fn every_proper_prefix_is_truncated() {
        let text = b"P6 #c\n12 34\n#d\n65535\n";
        for cut in 0..text.len() {
            let err = parsed(&text[..cut]).unwrap_err();
            assert!(err.is_truncated(), "prefix {cut}: {err}");
        }
        assert_eq!(parsed(text), Ok((ppm(12, 34, 65535), text.len())));
    }

    #[test]
    fn row_and_raster_lengths() {
        assert_eq!(ppm(5, 2, 255).raw_row_len(), Some(15));
        assert_eq!(ppm(5, 2, 256).raw_row_len(), Some(30));
        let pbm = Header {
            kind: Kind::RawBitmap,
            width: 9,
            height: 3,
            maxval: 1,
        };
        assert_eq!(pbm.raw_row_len(), Some(2));
        assert_eq!(pbm.raw_raster_len(), Some(6));
    }

    fn any_header() -> impl Strategy<Value = Header> {
        (
            prop::sample::select(Kind::ALL.to_vec()),
            1..=MAX_DIMENSION,
            1..=MAX_DIMENSION,
            1..=MAX_MAXVAL,
        )
            .prop_map(|(kind, width, height, maxval)| Header {
                kind,
                width,
                height,
                maxval: if kind.is_bitmap() { 1 } else { maxval },
            })
    }

    proptest! {
        #[test]
        fn parse_inverts_write(h in any_header(), tail in prop::collection::vec(any::<u8>(), 0..4)) {
            let mut bytes = Vec::new();
            h.write_to(&mut bytes).unwrap();
            let len = bytes.len();
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(Header::parse(&bytes), Ok((h, len)));
        }

        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..48)) {
            let _ = Header::parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_header_like_text(
            text in "P[0-7][ \t\r\n#a-z0-9]{0,40}"
        ) {
            if let Ok((_, len)) = Header::parse(text.as_bytes()) {
                prop_assert!(len <= text.len());
            }
        }
    }
}
