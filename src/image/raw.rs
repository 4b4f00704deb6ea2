//! Raw pixels have no header: their geometry is what the user names (`--image
//! WxH:PIX_FMT`), laid out plane by plane as [`crate::pixel::Layout`] says.

use super::{Colour, Geometry, Grid, ImageError, RowOrder, Sample};
use crate::pixel::{Layout, PixelFormat};

/// Parse a user's `WIDTHxHEIGHT[:PIX_FMT]` (pix_fmt default `rgb24`).
pub fn parse_spec(text: &str) -> Result<(u64, u64, PixelFormat), ImageError> {
    let bad = || ImageError::Spec(text.to_string());
    let (size, format) = match text.split_once(':') {
        Some((size, f)) => (size, f.parse::<PixelFormat>()?),
        None => (text, PixelFormat::Rgb24),
    };
    let (w, h) = size.split_once(['x', 'X']).ok_or_else(bad)?;
    let w = w.trim().parse::<u64>().map_err(|_| bad())?;
    let h = h.trim().parse::<u64>().map_err(|_| bad())?;
    Ok((w, h, format))
}

/// The geometry of raw pixels of `format` at `width` x `height`, starting at `offset`.
///
/// Each plane of a planar format is its own grid (yuv420p: Y, U, V), concealed on its own.
/// Packed 4:2:2 (yuyv422, uyvy422) is a grid of two-pixel groups of four samples.
pub fn raw(
    format: PixelFormat,
    width: u64,
    height: u64,
    offset: u64,
) -> Result<Geometry, ImageError> {
    use PixelFormat::*;
    let layout = Layout::new(format, width, height, None)?;
    let (w, h) = (layout.width, layout.height);
    let cw = w.div_ceil(2);
    let grid = |index: usize, width: usize, samples: usize, sample: Sample, colour: Colour| {
        let plane = layout.planes[index];
        Grid {
            offset: offset + plane.offset as u64,
            stride: plane.stride,
            width,
            rows: plane.rows,
            order: RowOrder::TopDown,
            pixel_bytes: samples * sample.width(),
            samples,
            sample,
            indexed: false,
            colour,
        }
    };
    let rgb = |r, g, b| Colour::Rgb { r, g, b };
    let grids = match format {
        Rgb24 => vec![grid(0, w, 3, Sample::U8, rgb(0, 1, 2))],
        Bgr24 => vec![grid(0, w, 3, Sample::U8, rgb(2, 1, 0))],
        Rgba => vec![grid(0, w, 4, Sample::U8, rgb(0, 1, 2))],
        Bgra => vec![grid(0, w, 4, Sample::U8, rgb(2, 1, 0))],
        Argb => vec![grid(0, w, 4, Sample::U8, rgb(1, 2, 3))],
        Abgr => vec![grid(0, w, 4, Sample::U8, rgb(3, 2, 1))],
        Gray => vec![grid(0, w, 1, Sample::U8, Colour::Gray)],
        Gray16be => vec![grid(0, w, 1, Sample::U16Be, Colour::Gray)],
        Gray16le => vec![grid(0, w, 1, Sample::U16Le, Colour::Gray)],
        Rgb48be => vec![grid(0, w, 3, Sample::U16Be, rgb(0, 1, 2))],
        Rgb48le => vec![grid(0, w, 3, Sample::U16Le, rgb(0, 1, 2))],
        Yuyv422 | Uyvy422 => vec![grid(0, cw, 4, Sample::U8, Colour::Other)],
        Yuv420p | Yuv422p => vec![
            grid(0, w, 1, Sample::U8, Colour::Luma),
            grid(1, cw, 1, Sample::U8, Colour::Other),
            grid(2, cw, 1, Sample::U8, Colour::Other),
        ],
        Yuv444p => vec![
            grid(0, w, 1, Sample::U8, Colour::Luma),
            grid(1, w, 1, Sample::U8, Colour::Other),
            grid(2, w, 1, Sample::U8, Colour::Other),
        ],
        Yuv420p10le | Yuv422p10le => vec![
            grid(0, w, 1, Sample::U16Le, Colour::Luma),
            grid(1, cw, 1, Sample::U16Le, Colour::Other),
            grid(2, cw, 1, Sample::U16Le, Colour::Other),
        ],
        Yuv444p10le => vec![
            grid(0, w, 1, Sample::U16Le, Colour::Luma),
            grid(1, w, 1, Sample::U16Le, Colour::Other),
            grid(2, w, 1, Sample::U16Le, Colour::Other),
        ],
        Nv12 | Nv21 => vec![
            grid(0, w, 1, Sample::U8, Colour::Luma),
            grid(1, cw, 2, Sample::U8, Colour::Other),
        ],
    };
    Ok(Geometry {
        grids,
        description: format!("raw {format} {w}x{h}"),
        frames: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_planar_formats_have_a_grid_per_plane() {
        let (w, h, f) = parse_spec("5x3:yuv420p").unwrap();
        let g = raw(f, w, h, 0).unwrap();
        let planes: Vec<_> = g
            .grids
            .iter()
            .map(|p| (p.offset, p.width, p.rows))
            .collect();
        assert_eq!(planes, [(0, 5, 3), (15, 3, 2), (21, 3, 2)]);
        assert_eq!(g.end(), 27);
    }

    #[test]
    fn the_spec_is_width_x_height_and_an_optional_pix_fmt() {
        assert_eq!(parse_spec("4x4").unwrap(), (4, 4, PixelFormat::Rgb24));
        assert_eq!(parse_spec("7X2:gray").unwrap(), (7, 2, PixelFormat::Gray));
        assert!(parse_spec("4by4").is_err());
        assert!(parse_spec("4x4:rgb").is_err());
    }
}
