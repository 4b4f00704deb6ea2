//! Where an image's pixels lie in the bytes of a transfer: one [`Grid`] per plane (raster
//! offset, row stride, width, rows and their order, the bytes and samples of a pixel), and
//! what the samples mean ([`Colour`]). The one geometry type: the descriptor
//! head ([`DescribedImage`]), concealment ([`crate::conceal`]),
//! the damage map and the image-aware outputs of [`crate::reassemble`] all use it.
//!
//! It is built from what the formats' own header parsers read, never from a parse of its
//! own: [`from_pnm`] from a [`crate::pnm::Header`] (P5/P6), [`from_bmp`] from a
//! [`crate::bmp::BmpHeader`] and its palette (uncompressed 8, 24 or 32-bit), and
//! [`from_head`] from the first bytes of a transfer (what a descriptor carries, so it is
//! known even when the first packets were lost). For raw pixels the user names it:
//! [`parse_spec`] reads `WxH[:PIX_FMT]` (pix_fmt names as in [`crate::pixel`]) and [`raw`]
//! lays out the planes from [`crate::pixel::Layout`].
//!
//! Invariant: every grid has been checked against [`crate::pixel::MAX_DIMENSION`] and its
//! byte extent computed without overflow, so `offset + rows * stride` fits in `u64` and
//! one row fits in `usize`. Layouts whose samples are not whole bytes (PBM, 1 and 4-bit
//! BMP) and compressed ones have no geometry.

mod described;
mod raw;

pub use described::DescribedImage;
pub use raw::{parse_spec, raw};

use crate::bmp::{BmpHeader, BmpHeaderError};
use crate::pixel::{GeometryError, MAX_DIMENSION};
use crate::pnm::{self, Kind};
use crate::y4m;
use std::ops::Range;

/// How one sample is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    U8,
    U16Be,
    U16Le,
}

impl Sample {
    /// Bytes of one sample.
    pub fn width(self) -> usize {
        match self {
            Sample::U8 => 1,
            Sample::U16Be | Sample::U16Le => 2,
        }
    }
}

/// The order of rows in the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOrder {
    /// The first stored row is the top of the picture (PNM, raw, top-down BMP).
    TopDown,
    /// The first stored row is the bottom of the picture (BMP with a positive height).
    BottomUp,
}

/// What the samples of a pixel mean, for drawing the image under a damage map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Colour {
    Gray,
    /// Red, green and blue at these sample indices within a pixel.
    Rgb {
        r: usize,
        g: usize,
        b: usize,
    },
    /// An index into this palette (RGB entries; indices past its end are shown grey).
    Indexed(Vec<[u8; 3]>),
    /// A luma plane (the first grid of a YUV format); other planes are not drawn.
    Luma,
    /// Colour differences or packed YUV: drawn as the first sample, grey.
    Other,
}

/// One plane of pixels: a rectangle of `width` x `rows` pixels of `pixel_bytes` bytes each,
/// rows `stride` bytes apart from `offset` on. Padding after `width * pixel_bytes` bytes of
/// a row is not part of any pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    /// Transfer offset of the first stored row.
    pub offset: u64,
    pub stride: usize,
    pub width: usize,
    pub rows: usize,
    pub order: RowOrder,
    pub pixel_bytes: usize,
    pub samples: usize,
    pub sample: Sample,
    /// Samples are palette indices: they are copied, never averaged.
    pub indexed: bool,
    pub colour: Colour,
}

impl Grid {
    /// Bytes of a row that belong to pixels (the stride less padding).
    pub fn row_len(&self) -> usize {
        self.width * self.pixel_bytes
    }

    /// Transfer offsets of stored row `row`'s pixels.
    pub fn row_bytes(&self, row: usize) -> Range<u64> {
        let start = self.offset + (row * self.stride) as u64;
        start..start + self.row_len() as u64
    }

    /// The transfer offsets the grid spans, padding included.
    pub fn extent(&self) -> Range<u64> {
        self.offset..self.offset + (self.rows * self.stride) as u64
    }

    /// The stored row that shows picture row `y` (counted from the top).
    pub fn stored_row(&self, y: usize) -> usize {
        match self.order {
            RowOrder::TopDown => y,
            RowOrder::BottomUp => self.rows - 1 - y,
        }
    }
}

/// An image's planes in stream order, and its picture size (that of the first plane).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    /// The planes (of the first frame, in a frame stream).
    pub grids: Vec<Grid>,
    /// One line for people: "PPM 512x512 maxval 255", "BMP 101x7 24-bit bottom-up".
    pub description: String,
    /// The image is the first frame of a stream of frames of the same geometry.
    pub frames: Option<Frames>,
}

/// A stream of frames that all share the first one's geometry (raw video, PNM frame
/// streams, Y4M): frame `k` starts at `first + k * period` with `header`, and its planes
/// lie where the first frame's do, `k * period` bytes on. The stream ends wherever the
/// data does; the last frame may be cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frames {
    /// Transfer offset of the first frame's header (after a stream header, Y4M's).
    pub first: u64,
    /// Bytes from one frame's start to the next's (header and pixels), at least 1.
    pub period: u64,
    /// The bytes every frame starts with (a PNM header, Y4M's `FRAME\n`; none for raw
    /// frames): what a frame whose header was lost gets back.
    pub header: Vec<u8>,
    /// Known to be video (Y4M), not perhaps a single image: worth keeping the first
    /// frame for temporal concealment of the second.
    pub video: bool,
    /// How each frame would be laid out short, when the stream may come from a writer
    /// known to get it wrong (ffmpeg 5.1's odd-width high-depth Y4M, [`y4m::ShortRows`]).
    pub short: Option<ShortFrames>,
}

/// Frames each `by` bytes short of what the stream's header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortFrames {
    pub by: u64,
    /// What to say when frame 1's header is found that much early.
    pub why: String,
    /// What to add when a frame header is out of place otherwise.
    pub maybe: String,
}

impl Frames {
    /// The frame that transfer offset `at` lies in (`None` before the first).
    pub fn index(&self, at: u64) -> Option<u64> {
        at.checked_sub(self.first).map(|d| d / self.period)
    }

    /// Where frame `k` starts.
    pub fn start(&self, k: u64) -> u64 {
        self.first.saturating_add(k.saturating_mul(self.period))
    }
}

impl Geometry {
    /// Picture width and height in pixels.
    pub fn size(&self) -> (usize, usize) {
        (self.grids[0].width, self.grids[0].rows)
    }

    /// Where the image's bytes end (the end of the last plane; of the first frame, in a
    /// frame stream).
    pub fn end(&self) -> u64 {
        self.grids.iter().map(|g| g.extent().end).max().unwrap_or(0)
    }

    /// Where concealment stops: the image's end, or never for a frame stream.
    pub fn conceal_end(&self) -> u64 {
        match self.frames {
            Some(_) => u64::MAX,
            None => self.end(),
        }
    }

    /// The same geometry as a stream of frames, each `header` then the image: the frames
    /// follow each other without a gap from `first` on (where the first header starts).
    pub fn into_frames(mut self, first: u64, header: Vec<u8>) -> Geometry {
        let period = (self.end() - first).max(1);
        self.frames = Some(Frames {
            first,
            period,
            header,
            video: false,
            short: None,
        });
        self
    }

    /// The geometry of frame `k`'s planes.
    pub fn frame_grid(&self, grid: usize, k: u64) -> Grid {
        let mut g = self.grids[grid].clone();
        if let Some(f) = &self.frames {
            g.offset = g.offset.saturating_add(k.saturating_mul(f.period));
        }
        g
    }

    /// Frame `k` alone, as a single image at its place in the transfer (a single image
    /// is its own frame 0).
    pub fn frame(&self, k: u64) -> Geometry {
        Geometry {
            grids: (0..self.grids.len())
                .map(|i| self.frame_grid(i, k))
                .collect(),
            description: self.description.clone(),
            frames: None,
        }
    }

    /// How many frames a transfer of `len` bytes holds, the last perhaps cut short (at
    /// least 1; 1 for a single image).
    pub fn frame_count(&self, len: u64) -> u64 {
        match &self.frames {
            Some(f) => len.saturating_sub(f.first).div_ceil(f.period).max(1),
            None => 1,
        }
    }
}

/// Why bytes do not give an image geometry this module can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("not a PNM, BMP or Y4M image (the data starts with {0:02x?})")]
    NotAnImage(Vec<u8>),
    #[error(transparent)]
    Pnm(#[from] pnm::HeaderError),
    #[error("PNM {0}: only binary greymaps and pixmaps (P5, P6) are concealed")]
    PnmKind(String),
    #[error(transparent)]
    Bmp(#[from] BmpHeaderError),
    #[error(
        "BMP of {bits} bits per pixel with compression {compression}: only uncompressed 24, \
         32 and 8-bit images are concealed"
    )]
    BmpDepth { bits: u16, compression: u32 },
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    #[error(transparent)]
    Y4m(#[from] y4m::Y4mError),
    #[error("image size \"{0}\": expected WIDTHxHEIGHT[:PIX_FMT], as 640x480:rgb24")]
    Spec(String),
}

/// The geometry of the image at the start of `head` (the first bytes of the transfer): a
/// PNM P5/P6 or a BMP (24 or 32-bit, or 8-bit with what `head` holds of its palette).
///
/// A PNM is taken as the first frame of a stream of PNM frames (`raw2ppm --frames`), each
/// with the same header; a single image is a stream of one frame.
pub fn from_head(head: &[u8]) -> Result<Geometry, ImageError> {
    match head {
        [b'P', ..] => {
            let (header, header_len) = pnm::Header::parse(head)?;
            let g = from_pnm(&header, header_len)?;
            Ok(g.into_frames(0, head[..header_len].to_vec()))
        }
        [b'B', b'M', ..] => {
            let header = BmpHeader::parse(head)?;
            from_bmp(&header, header.palette(head))
        }
        [b'Y', b'U', b'V', b'4', ..] => {
            let (header, header_len) = y4m::Header::parse(head)?;
            // Frames are taken to be `FRAME\n` and a picture each: a first frame header
            // with parameters says otherwise.
            let first = &head[header_len..];
            let n = first.len().min(y4m::FRAME_HEADER.len());
            if first[..n] != y4m::FRAME_HEADER[..n] {
                return Err(y4m::Y4mError::Frame {
                    frame: 0,
                    found: String::from_utf8_lossy(&first[..first.len().min(12)]).into_owned(),
                    offset: header_len as u64,
                }
                .into());
            }
            Ok(from_y4m(&header, header_len))
        }
        _ => Err(ImageError::NotAnImage(
            head.iter().take(4).copied().collect(),
        )),
    }
}

/// Where every frame's pixels lie in a Y4M stream whose header is `header_len` bytes
/// and whose frame headers are all [`y4m::FRAME_HEADER`] (as ffmpeg writes them).
pub fn from_y4m(h: &y4m::Header, header_len: usize) -> Geometry {
    let s = h.colorspace.sample_bytes();
    let sample = if s == 2 { Sample::U16Le } else { Sample::U8 };
    let mut offset = (header_len + y4m::FRAME_HEADER.len()) as u64;
    let mut grids = Vec::new();
    for (i, (width, rows)) in h.planes().into_iter().enumerate() {
        let colour = match (i, h.colorspace.chroma) {
            (0, Some(_)) => Colour::Luma,
            (0, None) => Colour::Gray,
            _ => Colour::Other,
        };
        grids.push(Grid {
            offset,
            stride: width * s,
            width,
            rows,
            order: RowOrder::TopDown,
            pixel_bytes: s,
            samples: 1,
            sample,
            indexed: false,
            colour,
        });
        offset += (width * rows * s) as u64;
    }
    let mut g = Geometry {
        grids,
        description: format!(
            "Y4M {}x{} C{} {}",
            h.width,
            h.height,
            h.colorspace.name,
            match h.rate {
                (0, _) | (_, 0) => "rate unknown".to_string(),
                (n, d) => format!("{:.3} fps", n as f64 / d as f64),
            }
        ),
        frames: None,
    }
    .into_frames(header_len as u64, y4m::FRAME_HEADER.to_vec());
    if let Some(f) = &mut g.frames {
        f.video = true;
        f.short = h.short_rows().map(|s| ShortFrames {
            by: s.per_frame() as u64,
            why: s.error(h, 0).to_string(),
            maybe: format!(
                "Y4M {} at width {} needs chroma rows of {} bytes, and {}",
                h.describe_colorspace(),
                h.width,
                s.row_len,
                y4m::FFMPEG_SHORT_ROWS
            ),
        });
    }
    g
}

/// A binary greymap or pixmap (P5, P6) whose header is `header_len` bytes long.
pub fn from_pnm(h: &pnm::Header, header_len: usize) -> Result<Geometry, ImageError> {
    let samples = match h.kind {
        Kind::RawGraymap => 1,
        Kind::RawPixmap => 3,
        other => return Err(ImageError::PnmKind(other.to_string())),
    };
    let (width, height) = check_size(h.width as u64, h.height as u64)?;
    let sample = if h.maxval > 255 {
        Sample::U16Be
    } else {
        Sample::U8
    };
    let pixel_bytes = samples * sample.width();
    let colour = if samples == 1 {
        Colour::Gray
    } else {
        Colour::Rgb { r: 0, g: 1, b: 2 }
    };
    Ok(Geometry {
        grids: vec![Grid {
            offset: header_len as u64,
            stride: width * pixel_bytes,
            width,
            rows: height,
            order: RowOrder::TopDown,
            pixel_bytes,
            samples,
            sample,
            indexed: false,
            colour,
        }],
        description: format!(
            "{} {}x{} maxval {}",
            if samples == 1 { "PGM" } else { "PPM" },
            width,
            height,
            h.maxval
        ),
        frames: None,
    })
}

/// An uncompressed BMP of 24 or 32 bits per pixel, or of 8 with `palette` (from
/// [`BmpHeader::palette`]; indices past its end are drawn grey).
pub fn from_bmp(header: &BmpHeader, palette: Vec<[u8; 3]>) -> Result<Geometry, ImageError> {
    const BI_RGB: u32 = 0;
    const BI_BITFIELDS: u32 = 3;
    let bgr = Colour::Rgb { r: 2, g: 1, b: 0 };
    let (pixel_bytes, colour, indexed) = match (header.bits_per_pixel, header.compression) {
        (24, BI_RGB) => (3, bgr, false),
        (32, BI_RGB | BI_BITFIELDS) => (4, bgr, false),
        (8, BI_RGB) => (1, Colour::Indexed(palette), true),
        (bits, compression) => return Err(ImageError::BmpDepth { bits, compression }),
    };
    let (width, height) = check_size(header.width.into(), header.height.into())?;
    // Rows are padded to a multiple of 4 bytes: what the header says, for these depths.
    let stride = header.row_stride() as usize;
    let order = if header.top_down {
        RowOrder::TopDown
    } else {
        RowOrder::BottomUp
    };
    Ok(Geometry {
        grids: vec![Grid {
            offset: header.pixel_offset.into(),
            stride,
            width,
            rows: height,
            order,
            pixel_bytes,
            samples: pixel_bytes,
            sample: Sample::U8,
            indexed,
            colour,
        }],
        description: format!(
            "BMP {}x{} {}-bit {}",
            width,
            height,
            header.bits_per_pixel,
            if header.top_down {
                "top-down"
            } else {
                "bottom-up"
            }
        ),
        frames: None,
    })
}

fn check_size(width: u64, height: u64) -> Result<(usize, usize), ImageError> {
    if width == 0 || height == 0 {
        return Err(GeometryError::Zero { width, height }.into());
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(GeometryError::TooLarge { width, height }.into());
    }
    Ok((width as usize, height as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bmp::header::test_headers as bmp_head;

    #[test]
    fn pnm_sixteen_bit_has_two_byte_samples() {
        let g = from_head(b"P6\n3 2\n65535\n").unwrap();
        let grid = &g.grids[0];
        assert_eq!((grid.offset, grid.stride, grid.pixel_bytes), (13, 18, 6));
        assert_eq!((grid.width, grid.rows, grid.samples), (3, 2, 3));
        assert_eq!(grid.sample, Sample::U16Be);
        let g = from_head(b"P5 7 5 255 ").unwrap();
        assert_eq!((g.grids[0].offset, g.grids[0].stride), (11, 7));
        assert_eq!(g.description, "PGM 7x5 maxval 255");
        assert!(matches!(
            from_head(b"P4 8 1\n"),
            Err(ImageError::PnmKind(_))
        ));
    }

    #[test]
    fn bmp_rows_are_padded_and_ordered_by_the_sign_of_height() {
        let g = from_head(&bmp_head(101, 7, 24)).unwrap();
        let grid = &g.grids[0];
        assert_eq!((grid.stride, grid.row_len(), grid.rows), (304, 303, 7));
        assert_eq!(grid.order, RowOrder::BottomUp);
        assert_eq!(grid.stored_row(0), 6);
        let g = from_head(&bmp_head(101, -7, 8)).unwrap();
        assert_eq!(
            (g.grids[0].stride, g.grids[0].order),
            (104, RowOrder::TopDown)
        );
        assert!(g.grids[0].indexed);
        assert!(from_head(&bmp_head(4, 4, 4)).is_err());
        assert!(from_head(&bmp_head(0, 4, 24)).is_err());
        assert!(from_head(&bmp_head(4, i32::MIN, 24)).is_err());
        // Once shown as "BMP -1x1 65535 bits per pixel".
        assert!(from_head(&bmp_head(-1, 1, 65535)).is_err());
    }

    #[test]
    fn our_bmp_headers_give_their_layout_and_palette() {
        let head = crate::bmp::header::our_headers(3, 2, crate::bmp::Depth::Eight, true);
        let g = from_head(&head).unwrap();
        let grid = &g.grids[0];
        assert_eq!((grid.offset, grid.stride), (54 + 1024, 4));
        assert_eq!(
            (grid.width, grid.rows, grid.order),
            (3, 2, RowOrder::TopDown)
        );
        let Colour::Indexed(palette) = &grid.colour else {
            panic!("an 8-bit BMP is indexed: {:?}", grid.colour);
        };
        assert_eq!((palette.len(), palette[7]), (256, [7, 7, 7]));
        // A head cut inside the palette gives what it holds of it.
        let g = from_head(&head[..54 + 4 * 10 + 3]).unwrap();
        assert!(matches!(&g.grids[0].colour, Colour::Indexed(p) if p.len() == 11));
    }

    #[test]
    fn y4m_heads_give_frame_streams_and_frame_parameters_are_refused() {
        let g = from_head(b"YUV4MPEG2 W4 H2 C444\nFRAME\nabc").unwrap();
        let f = g.frames.unwrap();
        assert_eq!((f.first, f.period, f.video), (21, 6 + 24, true));
        assert!(from_head(b"YUV4MPEG2 W4 H2 C444\nFRAME Ixx\n").is_err());
        assert!(from_head(b"YUV4MPEG2 W4 H2 C444\nFRA").is_ok());
    }

    #[test]
    fn ffmpegs_y4m_header_gives_every_frames_planes() {
        let line = b"YUV4MPEG2 W320 H240 F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=LIMITED\nFRAME\n";
        let (h, len) = y4m::Header::parse(line).unwrap();
        let g = from_y4m(&h, len);
        let f = g.frames.as_ref().unwrap();
        assert_eq!((f.first, f.period), (len as u64, 6 + 320 * 240 * 3 / 2));
        assert_eq!(g.grids[1].offset, (len + 6 + 320 * 240) as u64);
        assert_eq!(g.frame_grid(0, 2).offset, (len + 6) as u64 + 2 * f.period);
        assert_eq!(g.description, "Y4M 320x240 C420jpeg 25.000 fps");
    }

    proptest::proptest! {
        #[test]
        fn every_parsed_y4m_header_has_a_geometry(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let input = [b"YUV4MPEG2 W".as_slice(), &tail, b"\n"].concat();
            if let Ok((h, len)) = y4m::Header::parse(&input) {
                let g = from_y4m(&h, len);
                proptest::prop_assert!(g.end() > len as u64);
            }
        }
    }

    #[test]
    fn arbitrary_heads_are_errors_not_panics() {
        for len in 0..60 {
            for seed in 0..50u32 {
                let mut head: Vec<u8> = (0..len)
                    .map(|i| ((i as u32).wrapping_mul(2654435761) ^ seed.wrapping_mul(40503)) as u8)
                    .collect();
                if seed % 2 == 0 && len >= 2 {
                    head[..2].copy_from_slice(b"BM");
                }
                let _ = from_head(&head);
            }
        }
    }
}
