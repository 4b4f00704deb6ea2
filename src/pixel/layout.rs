//! The byte layout of one frame: planes, strides, rows and the frame length, checked.
//!
//! Every size comes from the command line or the data, so [`Layout::new`] refuses zero and
//! absurd sizes before anything is computed from them; after that, every offset within the
//! frame fits in `usize` without overflow.

use super::PixelFormat;

/// The largest width or height accepted: far beyond any real image, small enough that a
/// row of the widest format (6 bytes a pixel) stays a few MiB and no product overflows.
pub const MAX_DIMENSION: u64 = 1 << 20;

/// A geometry or format that cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    #[error("unknown pixel format \"{0}\" (expected one of: {names})", names = PixelFormat::NAMES.join(", "))]
    UnknownFormat(String),
    #[error("image size {width}x{height}: width and height must be at least 1")]
    Zero { width: u64, height: u64 },
    #[error("image size {width}x{height}: larger than the limit of {MAX_DIMENSION} on each side")]
    TooLarge { width: u64, height: u64 },
    #[error(
        "row stride {stride} is shorter than a row of {width} {format} pixels ({row_len} bytes)"
    )]
    StrideTooShort {
        stride: u64,
        width: u64,
        format: PixelFormat,
        row_len: u64,
    },
    #[error("row stride {0} is larger than the limit of {max} bytes", max = MAX_DIMENSION * 8)]
    StrideTooLarge(u64),
    #[error("a row stride applies to packed formats only, not to {0}")]
    StrideOnPlanar(PixelFormat),
    #[error("PGM output is for grey formats (gray, gray16be, gray16le), not {0}")]
    PgmNeedsGrey(PixelFormat),
}

/// One plane of a frame: where it starts, the bytes from one row to the next, how many rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plane {
    pub offset: usize,
    pub stride: usize,
    pub rows: usize,
}

/// A pixel format at one geometry: the byte layout of one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    /// Planes in stream order; packed formats have one.
    pub planes: Vec<Plane>,
    /// Bytes of one frame: the end of the last plane.
    pub frame_len: usize,
}

impl Layout {
    /// The layout of `format` at `width` x `height`, with rows `stride` bytes apart when
    /// given (packed formats only; the default is the row length, no padding).
    ///
    /// Plane sizes follow ffmpeg (`av_image_fill_arrays` with alignment 1), so frames of
    /// odd sizes line up with what `ffmpeg -f rawvideo` writes: chroma of 4:2:0 and 4:2:2
    /// is ceil(W/2) wide, and ceil(H/2) high for 4:2:0.
    pub fn new(
        format: PixelFormat,
        width: u64,
        height: u64,
        stride: Option<u64>,
    ) -> Result<Layout, GeometryError> {
        if width == 0 || height == 0 {
            return Err(GeometryError::Zero { width, height });
        }
        if width > MAX_DIMENSION || height > MAX_DIMENSION {
            return Err(GeometryError::TooLarge { width, height });
        }
        // With both sides at most 2^20, every product below stays under 2^47.
        let (w, h) = (width as usize, height as usize);
        let planes = match format.packed_row_len(width) {
            Some(row_len) => {
                let stride = stride.unwrap_or(row_len);
                if stride < row_len {
                    return Err(GeometryError::StrideTooShort {
                        stride,
                        width,
                        format,
                        row_len,
                    });
                }
                if stride > MAX_DIMENSION * 8 {
                    return Err(GeometryError::StrideTooLarge(stride));
                }
                vec![(stride as usize, h)]
            }
            None => {
                if stride.is_some() {
                    return Err(GeometryError::StrideOnPlanar(format));
                }
                let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
                match format {
                    PixelFormat::Yuv420p => vec![(w, h), (cw, ch), (cw, ch)],
                    PixelFormat::Yuv422p => vec![(w, h), (cw, h), (cw, h)],
                    PixelFormat::Yuv444p => vec![(w, h), (w, h), (w, h)],
                    PixelFormat::Nv12 | PixelFormat::Nv21 => vec![(w, h), (2 * cw, ch)],
                    PixelFormat::Yuv420p10le => vec![(2 * w, h), (2 * cw, ch), (2 * cw, ch)],
                    PixelFormat::Yuv422p10le => vec![(2 * w, h), (2 * cw, h), (2 * cw, h)],
                    PixelFormat::Yuv444p10le => vec![(2 * w, h), (2 * w, h), (2 * w, h)],
                    _ => unreachable!("packed formats have a row length"),
                }
            }
        };
        let mut offset = 0;
        let planes = planes
            .into_iter()
            .map(|(stride, rows)| {
                let plane = Plane {
                    offset,
                    stride,
                    rows,
                };
                offset += stride * rows;
                plane
            })
            .collect();
        Ok(Layout {
            format,
            width: w,
            height: h,
            planes,
            frame_len: offset,
        })
    }

    /// Bytes of a frame up to its last pixel: the frame without the padding after its last
    /// row (packed formats with a stride wider than the row). A frame that ends there lacks
    /// nothing, since that padding carries no pixel.
    pub fn pixel_len(&self) -> usize {
        match self.format.packed_row_len(self.width as u64) {
            Some(row_len) => self.frame_len - (self.planes[0].stride - row_len as usize),
            None => self.frame_len,
        }
    }

    /// Bytes of one row of the first plane, padding included: the unit of `--every-rows`
    /// for packed formats. For planar formats, the frame divided by the height, rounded up.
    pub fn bytes_per_row(&self) -> usize {
        if self.format.is_packed() {
            self.planes[0].stride
        } else {
            self.frame_len.div_ceil(self.height)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frame_lengths_match_ffmpeg_for_odd_sizes() {
        // Sizes measured with `ffmpeg ... -vf scale=W:H -pix_fmt F -f rawvideo - | wc -c`.
        let cases = [
            (PixelFormat::Yuv420p, 5, 3, 27),
            (PixelFormat::Yuv420p, 7, 5, 59),
            (PixelFormat::Yuv420p, 1, 1, 3),
            (PixelFormat::Yuv422p, 5, 3, 33),
            (PixelFormat::Yuv422p, 7, 5, 75),
            (PixelFormat::Nv12, 7, 5, 59),
            (PixelFormat::Yuyv422, 5, 3, 36),
            (PixelFormat::Uyvy422, 7, 5, 80),
            (PixelFormat::Yuv420p10le, 7, 5, 118),
            (PixelFormat::Rgb48le, 7, 5, 210),
        ];
        for (f, w, h, len) in cases {
            assert_eq!(
                Layout::new(f, w, h, None).unwrap().frame_len,
                len,
                "{f} {w}x{h}"
            );
        }
    }

    #[test]
    fn bad_geometry_is_refused() {
        let f = PixelFormat::Rgb24;
        assert!(matches!(
            Layout::new(f, 0, 5, None),
            Err(GeometryError::Zero { .. })
        ));
        assert!(matches!(
            Layout::new(f, 1 << 21, 5, None),
            Err(GeometryError::TooLarge { .. })
        ));
        assert!(matches!(
            Layout::new(f, 4, 4, Some(11)),
            Err(GeometryError::StrideTooShort { .. })
        ));
        assert!(matches!(
            Layout::new(PixelFormat::Nv12, 4, 4, Some(8)),
            Err(GeometryError::StrideOnPlanar(_))
        ));
        assert_eq!(Layout::new(f, 4, 2, Some(16)).unwrap().frame_len, 32);
    }

    proptest! {
        #[test]
        fn huge_or_zero_sizes_are_errors_not_panics(
            w in any::<u64>(), h in any::<u64>(), s in proptest::option::of(any::<u64>()),
        ) {
            for f in PixelFormat::ALL {
                let _ = Layout::new(f, w, h, s);
            }
        }
    }
}
