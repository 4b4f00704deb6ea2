//! Raw pixel formats, named as ffmpeg names them, and their conversion to PPM/PGM samples.
//!
//! A [`PixelFormat`] says how pixels are laid out in bytes; a [`Layout`] is that format at
//! one geometry: where each plane of a frame starts, how long its rows are, how long the
//! whole frame is. A [`Converter`] turns one row of a frame into one row of PPM samples
//! (8-bit RGB, 16-bit big-endian RGB, or grey for PGM), and writes the fill pattern that
//! stands for bytes that never arrived.
//!
//! Invariants: a `Layout` has been checked (no zero or absurd size, no overflow), so every
//! offset computed from it fits in `usize`; row conversion reads exactly the bytes of the
//! layout and never allocates.
//!
//! This module does no I/O and knows nothing of frames in a stream; see `rawvideo`.

mod layout;
mod rgb;
mod yuv;

pub use layout::{GeometryError, Layout, Plane, MAX_DIMENSION};
pub use yuv::{Matrix, Range};

use std::fmt;
use std::str::FromStr;

/// A raw pixel format. Names and byte layouts are ffmpeg's `pix_fmt`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    Rgb24,
    Bgr24,
    Rgba,
    Bgra,
    Argb,
    Abgr,
    Gray,
    Gray16be,
    Gray16le,
    Rgb48be,
    Rgb48le,
    Yuv420p,
    Yuv422p,
    Yuv444p,
    Nv12,
    Nv21,
    Yuyv422,
    Uyvy422,
    Yuv420p10le,
    Yuv422p10le,
    Yuv444p10le,
}

/// What a pixel format's samples mean, which decides how it is converted and filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Red, green, blue (and maybe alpha, which PPM cannot carry and is dropped).
    Rgb,
    /// One grey sample.
    Gray,
    /// Luma and two colour differences, converted with a [`Matrix`] and a [`Range`].
    Yuv,
}

impl PixelFormat {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [PixelFormat; 21] = [
        PixelFormat::Rgb24,
        PixelFormat::Bgr24,
        PixelFormat::Rgba,
        PixelFormat::Bgra,
        PixelFormat::Argb,
        PixelFormat::Abgr,
        PixelFormat::Gray,
        PixelFormat::Gray16be,
        PixelFormat::Gray16le,
        PixelFormat::Rgb48be,
        PixelFormat::Rgb48le,
        PixelFormat::Yuv420p,
        PixelFormat::Yuv422p,
        PixelFormat::Yuv444p,
        PixelFormat::Nv12,
        PixelFormat::Nv21,
        PixelFormat::Yuyv422,
        PixelFormat::Uyvy422,
        PixelFormat::Yuv420p10le,
        PixelFormat::Yuv422p10le,
        PixelFormat::Yuv444p10le,
    ];

    /// The names of [`PixelFormat::ALL`], for argument parsers.
    pub const NAMES: [&'static str; 21] = [
        "rgb24",
        "bgr24",
        "rgba",
        "bgra",
        "argb",
        "abgr",
        "gray",
        "gray16be",
        "gray16le",
        "rgb48be",
        "rgb48le",
        "yuv420p",
        "yuv422p",
        "yuv444p",
        "nv12",
        "nv21",
        "yuyv422",
        "uyvy422",
        "yuv420p10le",
        "yuv422p10le",
        "yuv444p10le",
    ];

    /// The format whose name is nearest to `text`, for a "did you mean" hint: the same name
    /// in another case (`RGB24`), one within two edits (`yuv420` for `yuv420p`), or the one
    /// name that `text` begins (`yuyv` for `yuyv422`).
    pub fn nearest(text: &str) -> Option<PixelFormat> {
        let text = text.trim().to_ascii_lowercase();
        let close = PixelFormat::NAMES
            .iter()
            .map(|name| edit_distance(name, &text))
            .enumerate()
            .min_by_key(|&(_, d)| d)
            .filter(|&(_, d)| d <= 2 && d < text.len())
            .map(|(i, _)| PixelFormat::ALL[i]);
        let mut begun = (0..PixelFormat::NAMES.len())
            .filter(|&i| PixelFormat::NAMES[i].starts_with(text.as_str()));
        close.or(match (begun.next(), begun.next()) {
            (Some(i), None) if !text.is_empty() => Some(PixelFormat::ALL[i]),
            _ => None,
        })
    }

    /// ffmpeg's name for the format.
    pub fn name(self) -> &'static str {
        let index = PixelFormat::ALL
            .iter()
            .position(|&f| f == self)
            .expect("ALL lists every variant");
        PixelFormat::NAMES[index]
    }

    /// What the samples mean.
    pub fn family(self) -> Family {
        use PixelFormat::*;
        match self {
            Rgb24 | Bgr24 | Rgba | Bgra | Argb | Abgr | Rgb48be | Rgb48le => Family::Rgb,
            Gray | Gray16be | Gray16le => Family::Gray,
            Yuv420p | Yuv422p | Yuv444p | Nv12 | Nv21 | Yuyv422 | Uyvy422 | Yuv420p10le
            | Yuv422p10le | Yuv444p10le => Family::Yuv,
        }
    }

    /// True when each row of the image is one row of bytes, so rows can be converted as
    /// they arrive. Planar formats need the chroma planes, which follow the whole luma
    /// plane, before the first row can be converted.
    pub fn is_packed(self) -> bool {
        !matches!(
            self,
            PixelFormat::Yuv420p
                | PixelFormat::Yuv422p
                | PixelFormat::Yuv444p
                | PixelFormat::Nv12
                | PixelFormat::Nv21
                | PixelFormat::Yuv420p10le
                | PixelFormat::Yuv422p10le
                | PixelFormat::Yuv444p10le
        )
    }

    /// True for the 10-bit YUV formats (samples in the low bits of 16-bit words).
    pub fn is_10_bit(self) -> bool {
        matches!(
            self,
            PixelFormat::Yuv420p10le | PixelFormat::Yuv422p10le | PixelFormat::Yuv444p10le
        )
    }

    /// True for formats whose output samples are 16 bits (PPM maxval 65535).
    pub fn is_16_bit(self) -> bool {
        matches!(
            self,
            PixelFormat::Gray16be
                | PixelFormat::Gray16le
                | PixelFormat::Rgb48be
                | PixelFormat::Rgb48le
        )
    }

    /// Bytes of one row of a packed format, without padding; `None` for planar formats.
    pub(super) fn packed_row_len(self, width: u64) -> Option<u64> {
        use PixelFormat::*;
        let per_pixel = match self {
            Gray => 1,
            Gray16be | Gray16le => 2,
            Rgb24 | Bgr24 => 3,
            Rgba | Bgra | Argb | Abgr => 4,
            Rgb48be | Rgb48le => 6,
            // Two pixels share one chroma pair: 4 bytes per pair, an odd width rounded up.
            Yuyv422 | Uyvy422 => return Some(width.div_ceil(2) * 4),
            _ => return None,
        };
        Some(width * per_pixel)
    }

    /// Average bytes per pixel, rounded up: what `--width auto` divides the data by.
    pub fn bytes_per_pixel(self) -> u64 {
        match self.packed_row_len(2) {
            Some(len) => len / 2,
            None => 2,
        }
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PixelFormat {
    type Err = GeometryError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PixelFormat::NAMES
            .iter()
            .position(|&n| n == text)
            .map(|i| PixelFormat::ALL[i])
            .ok_or_else(|| GeometryError::UnknownFormat(text.to_string()))
    }
}

/// Levenshtein distance: insertions, deletions and substitutions of bytes.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// A colour given on the command line, 8 bits per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rgb {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

/// A colour that is not `RRGGBB` in hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a colour as RRGGBB hex digits, found \"{0}\"")]
pub struct ColourError(pub String);

impl FromStr for Rgb {
    type Err = ColourError;

    /// `RRGGBB` in hex, with an optional `#` or `0x` in front: the hex grammar of fill
    /// patterns ([`crate::units::decode_hex`]), three bytes exactly.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        let hex = t
            .strip_prefix('#')
            .or_else(|| t.strip_prefix("0x"))
            .unwrap_or(t);
        match crate::units::decode_hex(hex).as_deref() {
            Some(&[r, g, b]) => Ok(Rgb { r, g, b }),
            _ => Err(ColourError(text.to_string())),
        }
    }
}

/// The kind of image written: PPM (colour) or PGM (grey input only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Ppm,
    Pgm,
}

/// How YUV samples become RGB; ignored for RGB and grey formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct YuvOptions {
    pub matrix: Matrix,
    pub range: Range,
}

/// Converts rows of one [`Layout`] to rows of PPM or PGM samples, and fills frames.
#[derive(Debug, Clone)]
pub struct Converter {
    layout: Layout,
    output: Output,
    yuv: yuv::YuvToRgb,
    /// Where each pixel of a row finds its chroma sample (YUV formats).
    columns: yuv::ChromaColumns,
    /// The byte pattern that stands for a missing byte, per plane, repeating along a row.
    fill_units: Vec<Vec<u8>>,
}

impl Converter {
    /// A converter for `layout`; `fill` is the colour of bytes that never arrived.
    ///
    /// PGM output is for grey formats only.
    pub fn new(
        layout: Layout,
        output: Output,
        yuv_options: YuvOptions,
        fill: Rgb,
    ) -> Result<Converter, GeometryError> {
        if output == Output::Pgm && layout.format.family() != Family::Gray {
            return Err(GeometryError::PgmNeedsGrey(layout.format));
        }
        let bits = if layout.format.is_10_bit() { 10 } else { 8 };
        let yuv = yuv::YuvToRgb::new(yuv_options.matrix, yuv_options.range, bits);
        let fill_units = fill_units(layout.format, fill, yuv_options);
        let subsampled = layout.format.family() == Family::Yuv
            && !matches!(
                layout.format,
                PixelFormat::Yuv444p | PixelFormat::Yuv444p10le
            );
        let columns = yuv::ChromaColumns::new(layout.width, subsampled);
        Ok(Converter {
            layout,
            output,
            yuv,
            columns,
            fill_units,
        })
    }

    /// The layout this converter reads.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// PPM or PGM.
    pub fn output(&self) -> Output {
        self.output
    }

    /// The PNM maxval of the output: 65535 for 16-bit formats, else 255.
    pub fn maxval(&self) -> u16 {
        if self.layout.format.is_16_bit() {
            65535
        } else {
            255
        }
    }

    /// Bytes of one output row.
    pub fn out_row_len(&self) -> usize {
        let channels = match self.output {
            Output::Ppm => 3,
            Output::Pgm => 1,
        };
        let depth = if self.layout.format.is_16_bit() { 2 } else { 1 };
        self.layout.width * channels * depth
    }

    /// True when an input row without padding is already an output row (rgb24, rgb48be,
    /// and grey to PGM): the bytes can be written as they are.
    pub fn is_identity(&self) -> bool {
        use PixelFormat::*;
        match self.output {
            Output::Ppm => matches!(self.layout.format, Rgb24 | Rgb48be),
            Output::Pgm => matches!(self.layout.format, Gray | Gray16be),
        }
    }

    /// Convert row `y` of the image into `dst` (`out_row_len` bytes).
    ///
    /// `frame` holds the frame's bytes from the start of row `first_row`: for packed
    /// formats any block of whole rows, for planar formats the whole frame
    /// (`first_row == 0`). The caller guarantees that the bytes the row needs are in
    /// `frame`; a frame that arrived short is completed with [`Converter::fill`] first.
    pub fn convert_row(&self, frame: &[u8], first_row: usize, y: usize, dst: &mut [u8]) {
        let layout = &self.layout;
        let dst = &mut dst[..self.out_row_len()];
        let format = layout.format;
        if format.is_packed() {
            let stride = layout.planes[0].stride;
            let start = (y - first_row) * stride;
            let row_len = format
                .packed_row_len(layout.width as u64)
                .expect("packed formats have a row length") as usize;
            let src = &frame[start..start + row_len];
            match format.family() {
                Family::Yuv => yuv::packed_row(format, src, &self.columns, dst, &self.yuv),
                _ => rgb::row(format, self.output, src, dst),
            }
            return;
        }
        let mut rows: [&[u8]; 3] = [&[]; 3];
        for (p, plane) in layout.planes.iter().enumerate() {
            let start = plane.offset + self.source_row(p, y) * plane.stride;
            rows[p] = &frame[start..start + plane.stride];
        }
        self.convert_planar_row(&rows[..layout.planes.len()], dst);
    }

    /// The row of plane `plane` that output row `y` of a planar format reads: `y` in the
    /// luma plane, the nearest chroma row in the others.
    pub fn source_row(&self, plane: usize, y: usize) -> usize {
        let layout = &self.layout;
        match layout.format {
            _ if plane == 0 => y,
            PixelFormat::Yuv422p
            | PixelFormat::Yuv444p
            | PixelFormat::Yuv422p10le
            | PixelFormat::Yuv444p10le => y,
            _ => yuv::nearest_chroma(y, layout.height, layout.planes[1].rows),
        }
    }

    /// Convert one row of a planar format into `dst` (`out_row_len` bytes) from the rows
    /// of its planes: `rows[p]` is row [`Converter::source_row`]`(p, y)` of plane `p`,
    /// wherever it lies (a frame read in place, or a row completed with fill).
    pub fn convert_planar_row(&self, rows: &[&[u8]], dst: &mut [u8]) {
        let format = self.layout.format;
        debug_assert!(!format.is_packed() && rows.len() == self.layout.planes.len());
        let dst = &mut dst[..self.out_row_len()];
        let (luma, cols, k) = (rows[0], &self.columns, &self.yuv);
        match format {
            PixelFormat::Nv12 | PixelFormat::Nv21 => {
                let swap = format == PixelFormat::Nv21;
                yuv::semi_planar_row(luma, rows[1], swap, cols, dst, k)
            }
            PixelFormat::Yuv420p10le | PixelFormat::Yuv422p10le | PixelFormat::Yuv444p10le => {
                yuv::planar_row_10le(luma, rows[1], rows[2], cols, dst, k)
            }
            _ => yuv::planar_row(luma, rows[1], rows[2], cols, dst, k),
        }
    }

    /// Write the fill pattern into `buf`, which holds the frame's bytes from byte
    /// `frame_offset` on: the colour of the fill for RGB and grey formats, and for YUV its
    /// luma in the luma plane and its colour differences in the chroma planes (black is
    /// Y=16, U=V=128), so a hole in one plane shows where it lands.
    pub fn fill(&self, frame_offset: usize, buf: &mut [u8]) {
        let end = frame_offset + buf.len();
        for (plane, unit) in self.layout.planes.iter().zip(&self.fill_units) {
            let plane_end = plane.offset + plane.stride * plane.rows;
            let from = frame_offset.max(plane.offset);
            let to = end.min(plane_end);
            let mut pos = from;
            while pos < to {
                // One row segment at a time, so the pattern restarts with every row.
                let in_row = (pos - plane.offset) % plane.stride;
                let seg_end = to.min(pos - in_row + plane.stride);
                let dst = &mut buf[pos - frame_offset..seg_end - frame_offset];
                let mut k = in_row % unit.len();
                for b in dst {
                    *b = unit[k];
                    k += 1;
                    if k == unit.len() {
                        k = 0;
                    }
                }
                pos = seg_end;
            }
        }
    }
}

/// The bytes that stand for a missing byte, per plane of `format`, as one repeating unit.
fn fill_units(format: PixelFormat, fill: Rgb, yuv_options: YuvOptions) -> Vec<Vec<u8>> {
    use PixelFormat::*;
    let Rgb { r, g, b } = fill;
    // Grey from colour with BT.601 luma weights, in full range.
    let grey = ((77 * r as u32 + 150 * g as u32 + 29 * b as u32 + 128) >> 8) as u8;
    let (y, u, v) = yuv::rgb_to_yuv(fill, yuv_options.matrix, yuv_options.range);
    // 16-bit samples of an 8-bit value v are v * 257: the bytes v, v in either order.
    match format {
        Rgb24 => vec![vec![r, g, b]],
        Bgr24 => vec![vec![b, g, r]],
        Rgba => vec![vec![r, g, b, 255]],
        Bgra => vec![vec![b, g, r, 255]],
        Argb => vec![vec![255, r, g, b]],
        Abgr => vec![vec![255, b, g, r]],
        Gray => vec![vec![grey]],
        Gray16be | Gray16le => vec![vec![grey, grey]],
        Rgb48be | Rgb48le => vec![vec![r, r, g, g, b, b]],
        Yuv420p | Yuv422p | Yuv444p => vec![vec![y], vec![u], vec![v]],
        Nv12 => vec![vec![y], vec![u, v]],
        Nv21 => vec![vec![y], vec![v, u]],
        Yuyv422 => vec![vec![y, u, y, v]],
        Uyvy422 => vec![vec![u, y, v, y]],
        Yuv420p10le | Yuv422p10le | Yuv444p10le => {
            let le10 = |s: u8| {
                let s = (s as u16) << 2;
                vec![s as u8, (s >> 8) as u8]
            };
            vec![le10(y), le10(u), le10(v)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn converter(format: PixelFormat, w: u64, h: u64) -> Converter {
        let layout = Layout::new(format, w, h, None).unwrap();
        Converter::new(layout, Output::Ppm, YuvOptions::default(), Rgb::default()).unwrap()
    }

    #[test]
    fn nearest_format_corrects_case_and_small_typos() {
        assert_eq!(PixelFormat::nearest("yuv420"), Some(PixelFormat::Yuv420p));
        assert_eq!(PixelFormat::nearest("RGB24"), Some(PixelFormat::Rgb24));
        assert_eq!(PixelFormat::nearest("nv13"), Some(PixelFormat::Nv12));
        assert_eq!(PixelFormat::nearest("yuyv"), Some(PixelFormat::Yuyv422));
        assert_eq!(PixelFormat::nearest("h264"), None);
    }

    #[test]
    fn names_round_trip() {
        for f in PixelFormat::ALL {
            assert_eq!(f.name().parse::<PixelFormat>().unwrap(), f);
        }
        assert!("rgb".parse::<PixelFormat>().is_err());
    }

    #[test]
    fn fill_colour_parses() {
        assert_eq!(
            "ff8000".parse::<Rgb>().unwrap(),
            Rgb {
                r: 255,
                g: 128,
                b: 0
            }
        );
        assert_eq!("#000001".parse::<Rgb>().unwrap().b, 1);
        assert!("fff".parse::<Rgb>().is_err());
        assert!("gg0000".parse::<Rgb>().is_err());
    }

    #[test]
    fn fill_restarts_the_pattern_on_every_row() {
        let layout = Layout::new(PixelFormat::Bgr24, 2, 2, Some(8)).unwrap();
        let fill = Rgb { r: 1, g: 2, b: 3 };
        let c = Converter::new(layout, Output::Ppm, YuvOptions::default(), fill).unwrap();
        let mut buf = vec![0; 14];
        c.fill(2, &mut buf);
        // Frame bytes 2..16: the rest of row 0 (B G R, the pattern running on into the
        // padding), then row 1 from its start.
        assert_eq!(buf, [1, 3, 2, 1, 3, 2, 3, 2, 1, 3, 2, 1, 3, 2]);
    }

    #[test]
    fn yuv_fill_is_black_with_neutral_chroma() {
        let c = converter(PixelFormat::Yuv420p, 2, 2);
        let mut buf = vec![0; 6];
        c.fill(0, &mut buf);
        assert_eq!(buf, [16, 16, 16, 16, 128, 128]);
    }

    proptest! {
        #[test]
        fn any_geometry_converts_without_panic(
            fi in 0..PixelFormat::ALL.len(),
            w in 0u64..40, h in 0u64..40,
            seed in any::<u8>(),
        ) {
            let format = PixelFormat::ALL[fi];
            if let Ok(layout) = Layout::new(format, w, h, None) {
                let c = Converter::new(layout.clone(), Output::Ppm, YuvOptions::default(), Rgb::default()).unwrap();
                let frame: Vec<u8> = (0..layout.frame_len).map(|i| (i as u8).wrapping_mul(seed)).collect();
                let mut row = vec![0; c.out_row_len()];
                for y in 0..layout.height {
                    c.convert_row(&frame, 0, y, &mut row);
                }
                let mut filled = vec![0; layout.frame_len];
                c.fill(0, &mut filled);
            }
        }
    }
}
