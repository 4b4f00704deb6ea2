//! YUV4MPEG2 (Y4M, ffmpeg's `yuv4mpegpipe`): the self-describing raw video stream that
//! ffmpeg, x264, dav1d, mpv and ffplay read and write.
//!
//! A stream is one header line, then frames, each `FRAME` (parameters allowed, up to the
//! newline) and the planes of one picture, Y then Cb then Cr (then alpha), each row after
//! row without padding:
//!
//! ```text
//! YUV4MPEG2 W<width> H<height> F<num>:<den> I<p|t|b|m|?> A<num>:<den> C<colorspace> X<...>\n
//! FRAME\n <planes>
//! FRAME\n <planes>
//! ```
//!
//! [`Header::parse`] reads the header line (`W`, `H`, `F`, `I`, `A`, `C`; `X` tags and
//! unknown tags are kept out, as the spec says readers must ignore them), with typed
//! errors carrying byte offsets. [`Colorspace`] is the `C` tag: 4:2:0 (`420jpeg`,
//! `420paldv`, `420mpeg2`, `420`: the default when `C` is absent), `422`, `444`,
//! `444alpha`, `mono`, and the high-depth `420p10`, `422p10`, `444p10`, `mono16` etc.
//! (samples in 16-bit little-endian words). Where every frame's pixels lie is
//! [`crate::image::from_y4m`]'s answer, built from this header as from the PNM and BMP ones.
//!
//! The header is at most [`MAX_HEADER_LEN`] bytes (it must fit a descriptor's head); sizes
//! are checked against [`crate::pixel::MAX_DIMENSION`]. This module does no I/O and no
//! conversion of samples (see [`crate::pixel`] for that).

use crate::pixel::{PixelFormat, MAX_DIMENSION};

/// The signature that starts a stream.
pub const MAGIC: &[u8] = b"YUV4MPEG2";
/// The start of every frame header.
pub const FRAME_MAGIC: &[u8] = b"FRAME";
/// The frame header ffmpeg and most writers use: no parameters.
pub const FRAME_HEADER: &[u8] = b"FRAME\n";
/// Longest stream header accepted, newline included: what a descriptor's head carries.
pub const MAX_HEADER_LEN: usize = 1024;

/// The `C` tag: chroma subsampling, bit depth and planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colorspace {
    /// The tag as written (`420jpeg`, `422p10`, ...).
    pub name: &'static str,
    /// Chroma width and height divisors (1 or 2); `None` for mono.
    pub chroma: Option<(usize, usize)>,
    /// Bits per sample: 8, or 9 to 16 in 16-bit little-endian words.
    pub bits: u8,
    /// A fourth plane of alpha (`444alpha`).
    pub alpha: bool,
}

/// Chroma width and height divisors, `None` for mono.
type Subsampling = Option<(usize, usize)>;

/// The colorspaces understood, as (tag, chroma divisors, bits, alpha).
const COLORSPACES: &[(&str, Subsampling, u8, bool)] = &[
    ("420jpeg", Some((2, 2)), 8, false),
    ("420paldv", Some((2, 2)), 8, false),
    ("420mpeg2", Some((2, 2)), 8, false),
    ("420", Some((2, 2)), 8, false),
    ("422", Some((2, 1)), 8, false),
    ("444", Some((1, 1)), 8, false),
    ("444alpha", Some((1, 1)), 8, true),
    ("411", Some((4, 1)), 8, false),
    ("mono", None, 8, false),
    ("420p9", Some((2, 2)), 9, false),
    ("422p9", Some((2, 1)), 9, false),
    ("444p9", Some((1, 1)), 9, false),
    ("420p10", Some((2, 2)), 10, false),
    ("422p10", Some((2, 1)), 10, false),
    ("444p10", Some((1, 1)), 10, false),
    ("420p12", Some((2, 2)), 12, false),
    ("422p12", Some((2, 1)), 12, false),
    ("444p12", Some((1, 1)), 12, false),
    ("420p14", Some((2, 2)), 14, false),
    ("422p14", Some((2, 1)), 14, false),
    ("444p14", Some((1, 1)), 14, false),
    ("420p16", Some((2, 2)), 16, false),
    ("422p16", Some((2, 1)), 16, false),
    ("444p16", Some((1, 1)), 16, false),
    ("mono9", None, 9, false),
    ("mono10", None, 10, false),
    ("mono12", None, 12, false),
    ("mono16", None, 16, false),
];

impl Colorspace {
    /// The colorspace of a `C` tag's value.
    pub fn from_tag(tag: &str) -> Option<Colorspace> {
        COLORSPACES
            .iter()
            .find(|c| c.0 == tag)
            .map(|&(name, chroma, bits, alpha)| Colorspace {
                name,
                chroma,
                bits,
                alpha,
            })
    }

    /// Bytes of one sample.
    pub fn sample_bytes(self) -> usize {
        if self.bits > 8 {
            2
        } else {
            1
        }
    }

    /// The same layout as an ffmpeg pix_fmt this crate converts, when there is one.
    pub fn pixel_format(self) -> Option<PixelFormat> {
        match (self.chroma, self.bits, self.alpha) {
            (Some((2, 2)), 8, false) => Some(PixelFormat::Yuv420p),
            (Some((2, 1)), 8, false) => Some(PixelFormat::Yuv422p),
            (Some((1, 1)), 8, false) => Some(PixelFormat::Yuv444p),
            (Some((2, 2)), 10, false) => Some(PixelFormat::Yuv420p10le),
            (Some((2, 1)), 10, false) => Some(PixelFormat::Yuv422p10le),
            (Some((1, 1)), 10, false) => Some(PixelFormat::Yuv444p10le),
            (None, 8, _) => Some(PixelFormat::Gray),
            (None, 16, _) => Some(PixelFormat::Gray16le),
            _ => None,
        }
    }
}

/// The `I` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interlace {
    Progressive,
    TopFirst,
    BottomFirst,
    Mixed,
    Unknown,
}

/// A Y4M stream header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub width: u64,
    pub height: u64,
    /// Frame rate, numerator and denominator (`F`; 0:0 when absent).
    pub rate: (u32, u32),
    pub interlace: Interlace,
    /// Pixel aspect ratio (`A`; 0:0 unknown).
    pub aspect: (u32, u32),
    pub colorspace: Colorspace,
}

/// Why bytes are not a Y4M header this crate can use. Offsets count from the stream start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Y4mError {
    #[error("Y4M header: expected \"YUV4MPEG2 \", found {0:?}")]
    Magic(String),
    #[error("Y4M header: no newline within {MAX_HEADER_LEN} bytes")]
    TooLong,
    #[error("Y4M header: expected {expected}, found \"{found}\" at byte {offset}")]
    Tag {
        expected: &'static str,
        found: String,
        offset: usize,
    },
    #[error("Y4M header: missing {0}")]
    Missing(&'static str),
    #[error("Y4M header: colorspace \"{found}\" at byte {offset} is not one of 420jpeg, 420paldv, 420mpeg2, 420, 422, 444, 444alpha, 411, mono, and their p9-p16 forms")]
    Colorspace { found: String, offset: usize },
    #[error("Y4M header: size {width}x{height}: each side must be 1 to {MAX_DIMENSION}")]
    Size { width: u64, height: u64 },
    #[error("Y4M frame {frame}: expected \"FRAME\" (without parameters where concealed), found {found:?} at byte {offset}")]
    Frame {
        frame: u64,
        found: String,
        offset: u64,
    },
    #[error("Y4M frame {frame}: each chroma plane is {got} bytes, Y4M {name} at width {width} needs {needed} ({short}; {FFMPEG_SHORT_ROWS})")]
    ShortChroma {
        frame: u64,
        got: usize,
        needed: usize,
        name: String,
        width: u64,
        short: String,
    },
}

/// What a stream whose chroma rows are one byte short most likely is.
pub const FFMPEG_SHORT_ROWS: &str = "ffmpeg 5.1 writes odd-width Y4M of more than 8 bits one byte short per chroma row; make the width even, e.g. ffmpeg -vf pad=ceil(iw/2)*2:ih";

/// A stream whose chroma rows are each one byte short, as ffmpeg 5.1 writes 4:2:0 and
/// 4:2:2 Y4M of 9 to 16 bits at an odd width (it halves the luma row's bytes, not its
/// samples): each frame is [`ShortRows::per_frame`] bytes short of what the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortRows {
    /// Chroma rows a plane.
    pub rows: usize,
    /// Bytes a chroma row should have.
    pub row_len: usize,
}

impl ShortRows {
    /// Bytes missing from each frame (one a chroma row, two planes).
    pub fn per_frame(&self) -> usize {
        2 * self.rows
    }

    /// The error for frame `frame` of stream `header`, found to be laid out this way.
    pub fn error(&self, header: &Header, frame: u64) -> Y4mError {
        Y4mError::ShortChroma {
            frame,
            got: self.rows * (self.row_len - 1),
            needed: self.rows * self.row_len,
            name: header.describe_colorspace(),
            width: header.width,
            short: format!(
                "{} rows of {} bytes, not {}",
                self.rows,
                self.row_len - 1,
                self.row_len
            ),
        }
    }
}

impl Header {
    /// Parse the stream header at the start of `input`; returns it and its length (the
    /// newline included).
    pub fn parse(input: &[u8]) -> Result<(Header, usize), Y4mError> {
        if !input.starts_with(MAGIC)
            || input
                .get(MAGIC.len())
                .is_some_and(|&b| b != b' ' && b != b'\n')
        {
            let shown = String::from_utf8_lossy(&input[..input.len().min(10)]).into_owned();
            return Err(Y4mError::Magic(shown));
        }
        let window = &input[..input.len().min(MAX_HEADER_LEN)];
        let Some(nl) = window.iter().position(|&b| b == b'\n') else {
            return Err(Y4mError::TooLong);
        };
        let (mut width, mut height) = (None, None);
        let mut rate = (0, 0);
        let mut aspect = (0, 0);
        let mut interlace = Interlace::Progressive;
        let mut colorspace = Colorspace::from_tag("420jpeg").expect("listed above");
        let mut at = MAGIC.len();
        for token in window[MAGIC.len()..nl].split(|&b| b == b' ') {
            let offset = at;
            at += token.len() + 1;
            let Some((&tag, value)) = token.split_first() else {
                continue;
            };
            let text = String::from_utf8_lossy(value);
            let bad = |expected| Y4mError::Tag {
                expected,
                found: String::from_utf8_lossy(token).into_owned(),
                offset,
            };
            match tag {
                b'W' => width = Some(text.parse::<u64>().map_err(|_| bad("W<width>"))?),
                b'H' => height = Some(text.parse::<u64>().map_err(|_| bad("H<height>"))?),
                b'F' => rate = ratio(&text).ok_or_else(|| bad("F<num>:<den>"))?,
                b'A' => aspect = ratio(&text).ok_or_else(|| bad("A<num>:<den>"))?,
                b'I' => {
                    interlace = match value {
                        b"p" => Interlace::Progressive,
                        b"t" => Interlace::TopFirst,
                        b"b" => Interlace::BottomFirst,
                        b"m" => Interlace::Mixed,
                        b"?" => Interlace::Unknown,
                        _ => return Err(bad("I<p|t|b|m|?>")),
                    }
                }
                b'C' => {
                    colorspace = Colorspace::from_tag(&text).ok_or(Y4mError::Colorspace {
                        found: text.into_owned(),
                        offset,
                    })?
                }
                // X: application tags; others: reserved, to be ignored.
                _ => {}
            }
        }
        let width = width.ok_or(Y4mError::Missing("W<width>"))?;
        let height = height.ok_or(Y4mError::Missing("H<height>"))?;
        if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
            return Err(Y4mError::Size { width, height });
        }
        let header = Header {
            width,
            height,
            rate,
            interlace,
            aspect,
            colorspace,
        };
        Ok((header, nl + 1))
    }

    /// The planes of a picture, as (width, rows) in samples.
    pub fn planes(&self) -> Vec<(usize, usize)> {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut planes = vec![(w, h)];
        if let Some((dx, dy)) = self.colorspace.chroma {
            let c = (w.div_ceil(dx), h.div_ceil(dy));
            planes.extend([c, c]);
        }
        if self.colorspace.alpha {
            planes.push((w, h));
        }
        planes
    }

    /// The layout ffmpeg 5.1 writes instead of this header's, when it differs: chroma
    /// rows one byte short (4:2:0 and 4:2:2 of more than 8 bits at an odd width).
    pub fn short_rows(&self) -> Option<ShortRows> {
        let (dx, dy) = self.colorspace.chroma?;
        let s = self.colorspace.sample_bytes();
        let w = self.width as usize;
        let row_len = w.div_ceil(dx) * s;
        // ffmpeg writes ceil(luma row bytes / dx).
        (row_len != (w * s).div_ceil(dx)).then(|| ShortRows {
            rows: (self.height as usize).div_ceil(dy),
            row_len,
        })
    }

    /// The colorspace in words, as "4:2:0 10-bit".
    pub fn describe_colorspace(&self) -> String {
        let sub = match self.colorspace.chroma {
            Some((1, 1)) => "4:4:4",
            Some((2, 1)) => "4:2:2",
            Some((2, 2)) => "4:2:0",
            Some((4, 1)) => "4:1:1",
            _ => "mono",
        };
        format!("{sub} {}-bit", self.colorspace.bits)
    }

    /// Bytes of one picture (the planes, without the frame header).
    pub fn picture_len(&self) -> usize {
        let s = self.colorspace.sample_bytes();
        self.planes().iter().map(|(w, h)| w * h * s).sum()
    }
}

/// Watches a byte stream go by, in order, for ffmpeg 5.1's short chroma rows
/// ([`ShortRows`]): for a sender that passes the stream on as it is and can only warn.
/// Holds the stream and first frame headers (at most twice [`MAX_HEADER_LEN`]) and the
/// bytes where frame 1's header may lie.
#[derive(Debug, Default)]
pub struct ShortRowsWatch {
    /// Bytes seen.
    at: u64,
    /// The stream header and frame 0's header, while they are incomplete.
    head: Vec<u8>,
    /// What was found out: watching where frame 1's header would be, with the short
    /// layout and as the header says.
    state: WatchState,
}

#[derive(Debug, Default)]
enum WatchState {
    #[default]
    Head,
    Watching {
        header: Header,
        short: ShortRows,
        /// Where frame 1's header starts, short and as the header says, and the bytes
        /// seen there.
        early: (u64, Vec<u8>),
        right: (u64, Vec<u8>),
    },
    Done,
}

impl ShortRowsWatch {
    /// The next bytes of the stream; the error, once, when they show the short layout.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<Y4mError> {
        let start = self.at;
        self.at += bytes.len() as u64;
        if let WatchState::Head = self.state {
            let room = (2 * MAX_HEADER_LEN).saturating_sub(self.head.len());
            self.head.extend_from_slice(&bytes[..bytes.len().min(room)]);
            let Ok((header, len)) = Header::parse(&self.head) else {
                if self.head.len() >= MAX_HEADER_LEN
                    || !self
                        .head
                        .starts_with(&MAGIC[..self.head.len().min(MAGIC.len())])
                {
                    self.state = WatchState::Done;
                }
                return None;
            };
            let Some(short) = header.short_rows() else {
                self.state = WatchState::Done;
                return None;
            };
            let frame0 = &self.head[len..];
            match frame0.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    let right = (len + nl + 1 + header.picture_len()) as u64;
                    let early = right - short.per_frame() as u64;
                    self.head = Vec::new();
                    self.state = WatchState::Watching {
                        header,
                        short,
                        early: (early, Vec::new()),
                        right: (right, Vec::new()),
                    };
                }
                None if frame0.len() >= MAX_HEADER_LEN => self.state = WatchState::Done,
                None => return None,
            }
        }
        let WatchState::Watching {
            header,
            short,
            early,
            right,
        } = &mut self.state
        else {
            return None;
        };
        let want = FRAME_MAGIC.len() + 1;
        for (from, seen) in [&mut *early, &mut *right] {
            let (s, e) = ((*from).max(start), (*from + want as u64).min(self.at));
            if s < e && seen.len() < want {
                seen.extend_from_slice(&bytes[(s - start) as usize..(e - start) as usize]);
            }
        }
        let is_header = |b: &[u8]| {
            b.starts_with(FRAME_MAGIC) && matches!(b.get(FRAME_MAGIC.len()), Some(b' ' | b'\n'))
        };
        let (e, r) = (&early.1, &right.1);
        // Known once frame 1's header shows up early and not where the header puts it,
        // or the stream ends early (see `end`).
        if e.len() == want && (!is_header(e) || r.len() == want) {
            let found = is_header(e) && !is_header(r);
            let error = found.then(|| short.error(header, 0));
            self.state = WatchState::Done;
            return error;
        }
        None
    }

    /// The end of the stream: the error when frame 0 ended where the short layout says
    /// (a stream of one frame).
    pub fn end(&mut self) -> Option<Y4mError> {
        let WatchState::Watching {
            header,
            short,
            early,
            ..
        } = &self.state
        else {
            return None;
        };
        let error = (self.at == early.0).then(|| short.error(header, 0));
        self.state = WatchState::Done;
        error
    }
}

/// `num:den`.
fn ratio(text: &str) -> Option<(u32, u32)> {
    let (n, d) = text.split_once(':')?;
    Some((n.parse().ok()?, d.parse().ok()?))
}

/// The length of the frame header at the start of `input` (`FRAME`, parameters, newline),
/// or `None` when `input` does not start with one; `frame` and `offset` name it in errors.
pub fn frame_header_len(input: &[u8], frame: u64, offset: u64) -> Result<Option<usize>, Y4mError> {
    if input.len() < FRAME_MAGIC.len() {
        return Ok(None);
    }
    if !input.starts_with(FRAME_MAGIC) || !matches!(input[FRAME_MAGIC.len()], b' ' | b'\n') {
        return Err(Y4mError::Frame {
            frame,
            found: String::from_utf8_lossy(&input[..input.len().min(8)]).into_owned(),
            offset,
        });
    }
    let window = &input[..input.len().min(MAX_HEADER_LEN)];
    match window.iter().position(|&b| b == b'\n') {
        Some(nl) => Ok(Some(nl + 1)),
        None if input.len() >= MAX_HEADER_LEN => Err(Y4mError::Frame {
            frame,
            found: "a frame header without a newline".to_string(),
            offset,
        }),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ffmpegs_header_parses() {
        let line = b"YUV4MPEG2 W320 H240 F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=LIMITED\nFRAME\n";
        let (h, len) = Header::parse(line).unwrap();
        assert_eq!(len, line.len() - 6);
        assert_eq!(
            (h.width, h.height, h.rate, h.aspect),
            (320, 240, (25, 1), (1, 1))
        );
        assert_eq!(h.colorspace.name, "420jpeg");
        assert_eq!(h.picture_len(), 320 * 240 * 3 / 2);
    }

    #[test]
    fn defaults_depths_and_errors() {
        let (h, _) = Header::parse(b"YUV4MPEG2 W5 H3\n").unwrap();
        assert_eq!(h.colorspace.pixel_format(), Some(PixelFormat::Yuv420p));
        assert_eq!(h.planes(), [(5, 3), (3, 2), (3, 2)]);
        let (h, _) = Header::parse(b"YUV4MPEG2 W5 H3 C422p10 It\n").unwrap();
        assert_eq!((h.colorspace.bits, h.interlace), (10, Interlace::TopFirst));
        assert_eq!(h.picture_len(), 2 * (15 + 2 * 9));
        let (h, _) = Header::parse(b"YUV4MPEG2 W5 H3 Cmono\n").unwrap();
        assert_eq!(h.planes(), [(5, 3)]);
        assert!(matches!(
            Header::parse(b"YUV4MPEG2 W5 H3 Cxyz\n"),
            Err(Y4mError::Colorspace { offset: 16, .. })
        ));
        assert!(matches!(
            Header::parse(b"YUV4MPEG2 Wx H3\n"),
            Err(Y4mError::Tag { offset: 10, .. })
        ));
        assert_eq!(
            Header::parse(b"YUV4MPEG2 H3\n"),
            Err(Y4mError::Missing("W<width>"))
        );
        assert!(matches!(
            Header::parse(b"YUV4MPEG2 W0 H3\n"),
            Err(Y4mError::Size { .. })
        ));
        assert!(matches!(
            Header::parse(b"YUV4MPEG W1 H3\n"),
            Err(Y4mError::Magic(_))
        ));
        assert_eq!(
            Header::parse(&[b"YUV4MPEG2 ".as_slice(), &[b'X'; 2000]].concat()),
            Err(Y4mError::TooLong)
        );
        assert_eq!(frame_header_len(b"FRAME Ixyz\nab", 0, 0), Ok(Some(11)));
    }

    #[test]
    fn ffmpegs_short_chroma_rows_are_known_for_odd_widths_above_8_bits() {
        let (h, _) = Header::parse(b"YUV4MPEG2 W67 H51 C420p10\n").unwrap();
        let short = h.short_rows().unwrap();
        assert_eq!((short.rows, short.row_len, short.per_frame()), (26, 68, 52));
        let e = short.error(&h, 0).to_string();
        assert!(
            e.contains("each chroma plane is 1742 bytes, Y4M 4:2:0 10-bit at width 67 needs 1768"),
            "{e}"
        );
        let (h, _) = Header::parse(b"YUV4MPEG2 W67 H51 C422p10\n").unwrap();
        assert_eq!(h.short_rows().map(|s| s.per_frame()), Some(102));
        for even_or_8_bit in [
            &b"YUV4MPEG2 W66 H51 C420p10\n"[..],
            b"YUV4MPEG2 W67 H51 C420jpeg\n",
            b"YUV4MPEG2 W67 H51 C444p10\n",
            b"YUV4MPEG2 W67 H51 Cmono16\n",
        ] {
            assert_eq!(Header::parse(even_or_8_bit).unwrap().0.short_rows(), None);
        }
        assert_eq!(frame_header_len(b"FRA", 0, 0), Ok(None));
        assert!(frame_header_len(b"FRAMEX\n", 3, 9).is_err());
    }

    #[test]
    fn the_watch_sees_short_rows_as_bytes_go_by_in_any_pieces() {
        let header = b"YUV4MPEG2 W67 H51 C420p10\nFRAME\n".to_vec();
        let (h, _) = Header::parse(&header).unwrap();
        let short = h.short_rows().unwrap();
        let frame = |len: usize| [vec![7u8; len], b"FRAME\n".to_vec()].concat();
        let short_stream = [
            header.clone(),
            frame(h.picture_len() - short.per_frame()),
            frame(h.picture_len()),
        ]
        .concat();
        let right_stream = [
            header.clone(),
            frame(h.picture_len()),
            frame(h.picture_len()),
        ]
        .concat();
        for piece in [1, 5, 7, 100, 1 << 20] {
            let run = |stream: &[u8]| {
                let mut w = ShortRowsWatch::default();
                let mut errors: Vec<_> = stream.chunks(piece).filter_map(|c| w.feed(c)).collect();
                errors.extend(w.end());
                errors
            };
            let found = run(&short_stream);
            assert_eq!(found.len(), 1, "piece {piece}");
            assert!(matches!(
                found[0],
                Y4mError::ShortChroma {
                    got: 1742,
                    needed: 1768,
                    ..
                }
            ));
            assert!(run(&right_stream).is_empty(), "piece {piece}");
            // One frame, short: the end says it.
            assert_eq!(
                run(&short_stream[..header.len() + h.picture_len() - short.per_frame()]).len(),
                1
            );
            assert!(run(&right_stream[..header.len() + h.picture_len()]).is_empty());
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_are_errors_not_panics(tail in proptest::collection::vec(any::<u8>(), 0..300), mode in 0..3u8) {
            let input = match mode {
                0 => tail.clone(),
                1 => [b"YUV4MPEG2 ".as_slice(), &tail].concat(),
                _ => [b"YUV4MPEG2 W".as_slice(), &tail, b"\n"].concat(),
            };
            if let Ok((h, len)) = Header::parse(&input) {
                prop_assert!(len <= input.len());
                prop_assert!(h.picture_len() > 0);
            }
            let _ = frame_header_len(&input, 0, 0);
        }
    }
}
