//! The damage map (`unpktize --map FILE`): a PPM (P6) that shows what became of every
//! byte. For an image, one map pixel per image pixel, coloured by the worst state of its
//! bytes; for other data, one square cell per packet in a square-ish grid, row by row.
//!
//! Legend (colours are the Okabe-Ito palette, told apart with colour-blindness too):
//!
//! | state | colour | RGB |
//! |---|---|---|
//! | intact | grey | `#808080` |
//! | lost (nothing arrived; filled or concealed) | vermillion | `#d55e00` |
//! | damaged (CRC failed, or cut short) | yellow | `#f0e442` |
//! | rebuilt by FEC | sky blue | `#56b4e9` |
//! | restored from a descriptor | bluish green | `#009e73` |
//! | not yet arrived | black | `#000000` |
//! | (packet grid only) no packet: past the end of the data | white | `#ffffff` |
//!
//! A pixel whose bytes are in several states shows the worst, in this order: damaged,
//! lost, not yet arrived, restored, rebuilt, intact. With blending the image shows under
//! the colours: intact pixels as they are, the others mixed with their state's colour
//! (`blend_percent` of the colour).
//!
//! Memory: one row of the map and the caller's sorted list of ranges; rows are written in
//! order as they are drawn, so the map of a 1 GiB transfer needs no more than its widest
//! row. The image under a blended map is read row by row from the caller's bytes (a slice,
//! or the output file through [`ImageBytes`]) in blocks of [`READ_BLOCK`]: never whole.

use crate::image::{Colour, Geometry, Grid, Sample};
use std::io::{self, Write};
use std::ops::Range;

/// Bytes of the image under a blended map read at once (a row longer than that is read
/// alone): what the map holds of the image at any time.
pub const READ_BLOCK: usize = 1 << 20;

/// The transfer's bytes, read at offsets: a slice, or a file (the `-o` output) that is
/// never read whole.
pub trait ImageBytes {
    /// Read from `offset` into `buf`, as many bytes as there are up to `buf.len()`; fewer
    /// only at the end.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
}

impl ImageBytes for &[u8] {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let from = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let n = buf.len().min(self.len() - from);
        buf[..n].copy_from_slice(&self[from..from + n]);
        Ok(n)
    }
}

impl ImageBytes for std::fs::File {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match FileExt::read_at(self, &mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

/// The rows of the image under the map, served from one block of [`READ_BLOCK`] bytes
/// read ahead in the direction the rows go (down for a bottom-up BMP).
struct Rows<'a> {
    src: &'a dyn ImageBytes,
    block: Vec<u8>,
    /// Transfer offset of `block[0]`.
    at: u64,
    last_start: u64,
}

impl<'a> Rows<'a> {
    fn new(src: &'a dyn ImageBytes) -> Self {
        Rows {
            src,
            block: Vec::new(),
            at: 0,
            last_start: 0,
        }
    }

    /// The bytes of `range`, or `None` when the transfer ends before it does.
    fn get(&mut self, range: Range<u64>) -> io::Result<Option<&[u8]>> {
        let len = (range.end - range.start) as usize;
        let held = self.at..self.at + self.block.len() as u64;
        if !(held.start <= range.start && range.end <= held.end) {
            let want = len.max(READ_BLOCK);
            // Read ahead downwards when the rows go that way.
            let start = if range.start < self.last_start && want > len {
                range.end.saturating_sub(want as u64)
            } else {
                range.start
            };
            self.block.resize(want, 0);
            let n = self.src.read_at(start, &mut self.block)?;
            self.block.truncate(n);
            self.at = start;
        }
        self.last_start = range.start;
        let from = (range.start - self.at) as usize;
        Ok(self.block.get(from..from + len))
    }
}

/// What became of a byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteState {
    Intact,
    Lost,
    Damaged,
    Rebuilt,
    Restored,
    Pending,
}

impl ByteState {
    /// Every state, in the legend's order.
    pub const ALL: [ByteState; 6] = [
        ByteState::Intact,
        ByteState::Lost,
        ByteState::Damaged,
        ByteState::Rebuilt,
        ByteState::Restored,
        ByteState::Pending,
    ];

    /// The state's colour on the map.
    pub fn colour(self) -> [u8; 3] {
        match self {
            ByteState::Intact => [0x80, 0x80, 0x80],
            ByteState::Lost => [0xd5, 0x5e, 0x00],
            ByteState::Damaged => [0xf0, 0xe4, 0x42],
            ByteState::Rebuilt => [0x56, 0xb4, 0xe9],
            ByteState::Restored => [0x00, 0x9e, 0x73],
            ByteState::Pending => [0x00, 0x00, 0x00],
        }
    }

    /// The name in reports and the legend.
    pub fn name(self) -> &'static str {
        match self {
            ByteState::Intact => "intact",
            ByteState::Lost => "lost",
            ByteState::Damaged => "damaged",
            ByteState::Rebuilt => "rebuilt by FEC",
            ByteState::Restored => "restored from a descriptor",
            ByteState::Pending => "not yet arrived",
        }
    }

    /// Higher is worse: which state a pixel of mixed bytes shows.
    fn severity(self) -> u8 {
        match self {
            ByteState::Intact => 0,
            ByteState::Rebuilt => 1,
            ByteState::Restored => 2,
            ByteState::Pending => 3,
            ByteState::Lost => 4,
            ByteState::Damaged => 5,
        }
    }

    /// The worse of two states.
    pub fn worst(self, other: ByteState) -> ByteState {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }
}

/// The colour of cells past the end of the data in a packet grid.
pub const NO_PACKET: [u8; 3] = [0xff, 0xff, 0xff];

/// A byte range of the transfer in one state. Bytes in no range are intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRange {
    pub range: Range<u64>,
    pub state: ByteState,
}

/// How to draw the map.
#[derive(Clone, Copy, Default)]
pub struct MapOptions<'a> {
    /// The transfer's bytes (from offset 0), to draw the image under the colours; with
    /// `blend_percent` of the colour mixed in (50: half and half).
    pub image: Option<&'a dyn ImageBytes>,
    pub blend_percent: u8,
}

/// Write the map of an image of `geometry`: a P6 of the picture's size, top row first
/// (whatever the stored row order). `states` must be sorted by start and disjoint.
///
/// For planar formats a picture pixel shows the worst state among its samples in every
/// plane (a yuv420p pixel: its Y, and the U and V it shares with three others).
pub fn write_image_map(
    out: &mut dyn Write,
    geometry: &Geometry,
    states: &[StateRange],
    options: &MapOptions,
) -> io::Result<()> {
    let (width, height) = geometry.size();
    write!(out, "P6\n{width} {height}\n255\n")?;
    let mut row_out = vec![0u8; width * 3];
    let mut grid_states: Vec<Vec<ByteState>> = geometry
        .grids
        .iter()
        .map(|g| vec![ByteState::Intact; g.width])
        .collect();
    let first = &geometry.grids[0];
    let mut rows = options.image.map(Rows::new);
    for y in 0..height {
        for (grid, row_states) in geometry.grids.iter().zip(grid_states.iter_mut()) {
            let gy = (y * grid.rows / height).min(grid.rows - 1);
            pixel_states(grid, grid.stored_row(gy), states, row_states);
        }
        let image_row = match &mut rows {
            Some(rows) => rows.get(first.row_bytes(first.stored_row(y)))?,
            None => None,
        };
        for x in 0..width {
            let mut state = ByteState::Intact;
            for (grid, row_states) in geometry.grids.iter().zip(&grid_states) {
                state = state.worst(row_states[(x * grid.width / width).min(grid.width - 1)]);
            }
            let colour = state.colour();
            let px = match image_row {
                Some(row) => {
                    let pixel = &row[x * first.pixel_bytes..(x + 1) * first.pixel_bytes];
                    let under = pixel_rgb(first, pixel);
                    if state == ByteState::Intact {
                        under
                    } else {
                        mix(colour, under, options.blend_percent)
                    }
                }
                None => colour,
            };
            row_out[3 * x..3 * x + 3].copy_from_slice(&px);
        }
        out.write_all(&row_out)?;
    }
    Ok(())
}

/// The states of stored row `row`'s pixels, into `dst` (one per pixel).
fn pixel_states(grid: &Grid, row: usize, states: &[StateRange], dst: &mut [ByteState]) {
    dst.fill(ByteState::Intact);
    let bytes = grid.row_bytes(row);
    let pb = grid.pixel_bytes as u64;
    let mut i = states.partition_point(|s| s.range.end <= bytes.start);
    while let Some(s) = states.get(i) {
        if s.range.start >= bytes.end {
            break;
        }
        let from = s.range.start.max(bytes.start) - bytes.start;
        let to = s.range.end.min(bytes.end) - bytes.start;
        for d in &mut dst[(from / pb) as usize..to.div_ceil(pb) as usize] {
            *d = d.worst(s.state);
        }
        i += 1;
    }
}

/// The RGB colour of one pixel, for drawing the image under the map.
fn pixel_rgb(grid: &Grid, pixel: &[u8]) -> [u8; 3] {
    // The high byte of a 16-bit sample.
    let sample = |i: usize| match grid.sample {
        Sample::U8 => pixel[i],
        Sample::U16Be => pixel[2 * i],
        Sample::U16Le => pixel[2 * i + 1],
    };
    match &grid.colour {
        Colour::Rgb { r, g, b } => [sample(*r), sample(*g), sample(*b)],
        Colour::Indexed(palette) => {
            let i = pixel[0] as usize;
            palette.get(i).copied().unwrap_or([pixel[0]; 3])
        }
        Colour::Gray | Colour::Luma | Colour::Other => [sample(0); 3],
    }
}

fn mix(colour: [u8; 3], under: [u8; 3], percent: u8) -> [u8; 3] {
    let p = percent.min(100) as u32;
    let m = |c: u8, u: u8| ((c as u32 * p + u as u32 * (100 - p) + 50) / 100) as u8;
    [
        m(colour[0], under[0]),
        m(colour[1], under[1]),
        m(colour[2], under[2]),
    ]
}

/// The size of the packet grid: columns and rows of cells for `packets` packets.
pub fn packet_grid(packets: u64) -> (u64, u64) {
    if packets == 0 {
        return (1, 1);
    }
    let mut cols = (packets as f64).sqrt().ceil() as u64;
    while cols * cols < packets {
        cols += 1;
    }
    (cols, packets.div_ceil(cols))
}

/// The widest packet grid drawn, in pixels: cells shrink (to 1 pixel) to stay within it.
pub const MAX_GRID_SIDE: u64 = 8192;

/// Write the map of non-image data: one `cell_px` x `cell_px` cell per packet of
/// `packet_len` bytes of a `total_len`-byte transfer, left to right, top to bottom, in a
/// square-ish grid, coloured by the worst state of the packet's bytes. Cells shrink when
/// the grid would pass [`MAX_GRID_SIDE`] pixels.
pub fn write_packet_map(
    out: &mut dyn Write,
    total_len: u64,
    packet_len: u64,
    states: &[StateRange],
    cell_px: u64,
) -> io::Result<()> {
    let packet_len = packet_len.max(1);
    let packets = total_len.div_ceil(packet_len);
    let (cols, rows) = packet_grid(packets);
    let cell = cell_px.clamp(1, (MAX_GRID_SIDE / cols).max(1));
    let (w, h) = (cols * cell, rows * cell);
    write!(out, "P6\n{w} {h}\n255\n")?;
    let mut line = vec![0u8; (w * 3) as usize];
    let mut i = 0;
    for row in 0..rows {
        for col in 0..cols {
            let p = row * cols + col;
            let colour = if p < packets {
                let range = p * packet_len..((p + 1) * packet_len).min(total_len);
                while i < states.len() && states[i].range.end <= range.start {
                    i += 1;
                }
                let mut state = ByteState::Intact;
                let mut j = i;
                while j < states.len() && states[j].range.start < range.end {
                    if states[j].range.end > states[j].range.start {
                        state = state.worst(states[j].state);
                    }
                    j += 1;
                }
                state.colour()
            } else {
                NO_PACKET
            };
            for k in 0..cell {
                let at = ((col * cell + k) * 3) as usize;
                line[at..at + 3].copy_from_slice(&colour);
            }
        }
        for _ in 0..cell {
            out.write_all(&line)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image;

    fn decode(ppm: &[u8]) -> (usize, usize, &[u8]) {
        let (h, len) = crate::pnm::Header::parse(ppm).unwrap();
        (h.width as usize, h.height as usize, &ppm[len..])
    }

    fn state(range: Range<u64>, state: ByteState) -> StateRange {
        StateRange { range, state }
    }

    /// The map of an image: its width, height and pixels.
    fn image_map(
        geometry: &Geometry,
        states: &[StateRange],
        options: &MapOptions,
    ) -> (usize, usize, Vec<u8>) {
        let mut out = Vec::new();
        write_image_map(&mut out, geometry, states, options).unwrap();
        let (w, h, px) = decode(&out);
        (w, h, px.to_vec())
    }

    #[test]
    fn image_map_colours_each_pixel_by_its_state() {
        let g = image::raw(crate::pixel::PixelFormat::Rgb24, 4, 2, 10).unwrap();
        // Row 0 pixel 1 lost, row 1 pixel 2 one byte damaged, row 1 pixel 3 rebuilt.
        let states = [
            state(13..16, ByteState::Lost),
            state(29..30, ByteState::Damaged),
            state(31..34, ByteState::Rebuilt),
        ];
        let (w, h, px) = image_map(&g, &states, &MapOptions::default());
        assert_eq!((w, h), (4, 2));
        let at = |x: usize, y: usize| {
            [
                px[(y * 4 + x) * 3],
                px[(y * 4 + x) * 3 + 1],
                px[(y * 4 + x) * 3 + 2],
            ]
        };
        assert_eq!(at(0, 0), ByteState::Intact.colour());
        assert_eq!(at(1, 0), ByteState::Lost.colour());
        assert_eq!(at(2, 1), ByteState::Damaged.colour());
        assert_eq!(at(3, 1), ByteState::Rebuilt.colour());
    }

    #[test]
    fn bottom_up_bmp_map_is_drawn_top_row_first() {
        let head = crate::bmp::header::test_headers(3, 2, 24);
        let g = image::from_head(&head).unwrap();
        // The first stored row (the bottom of the picture) lost.
        let states = [state(54..63, ByteState::Lost)];
        let (_, _, px) = image_map(&g, &states, &MapOptions::default());
        assert_eq!(px[..3], ByteState::Intact.colour());
        assert_eq!(px[9..12], ByteState::Lost.colour());
    }

    #[test]
    fn blended_map_shows_intact_pixels_as_they_are() {
        let g = image::raw(crate::pixel::PixelFormat::Bgr24, 2, 1, 0).unwrap();
        let image: &[u8] = &[10, 20, 30, 0, 0, 0];
        let options = MapOptions {
            image: Some(&image),
            blend_percent: 50,
        };
        let (_, _, px) = image_map(&g, &[state(3..6, ByteState::Lost)], &options);
        assert_eq!(px[..3], [30, 20, 10]);
        let lost = ByteState::Lost.colour();
        assert_eq!(px[3..6], lost.map(|c| ((c as u32 * 50 + 50) / 100) as u8));
    }

    #[test]
    fn a_blended_map_reads_the_file_in_blocks_and_draws_what_the_bytes_draw() {
        // Larger than a block, rows top-down (raw) and bottom-up (BMP), the transfer cut
        // short: read from a file in blocks, the map is the one drawn from all the bytes.
        for bmp in [false, true] {
            let (w, h) = (700usize, 1100usize);
            let mut data = if bmp {
                crate::bmp::header::test_headers(w as _, h as _, 24)
            } else {
                vec![]
            };
            let g = if bmp {
                image::from_head(&data).unwrap()
            } else {
                image::raw(crate::pixel::PixelFormat::Rgb24, w as u64, h as u64, 0).unwrap()
            };
            data.extend((0..w * h * 3 - 5000).map(|i| (i * 31 % 251) as u8));
            assert!(data.len() > 2 * READ_BLOCK);
            let states = [state(7000..9000, ByteState::Lost)];
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(&data).unwrap();
            let slice: &[u8] = &data;
            let draw = |image: &dyn ImageBytes| {
                let options = MapOptions {
                    image: Some(image),
                    blend_percent: 40,
                };
                image_map(&g, &states, &options)
            };
            let (a, b) = (draw(&slice), draw(&file));
            assert!(a == b, "bmp {bmp}: the file's map differs");
        }
    }

    #[test]
    fn planar_map_pixel_shows_its_chroma_damage_too() {
        let g = image::raw(crate::pixel::PixelFormat::Yuv420p, 4, 2, 0).unwrap();
        // The U sample of the right half (byte 8 + 1) damaged: pixels x 2..4 of both rows.
        let states = [state(9..10, ByteState::Damaged)];
        let (w, h, px) = image_map(&g, &states, &MapOptions::default());
        assert_eq!((w, h), (4, 2));
        let damaged: Vec<bool> = px
            .chunks(3)
            .map(|c| c == ByteState::Damaged.colour())
            .collect();
        assert_eq!(
            damaged,
            [false, false, true, true, false, false, true, true]
        );
    }

    #[test]
    fn packet_map_has_a_cell_per_packet() {
        let states = [state(1024..2048, ByteState::Lost)];
        let mut out = Vec::new();
        write_packet_map(&mut out, 5 * 1024 - 10, 1024, &states, 2).unwrap();
        let (w, h, px) = decode(&out);
        assert_eq!((w, h), (6, 4)); // 5 packets: 3 x 2 cells of 2 x 2 pixels
        assert_eq!(px[6..9], ByteState::Lost.colour());
        assert_eq!(px[..3], ByteState::Intact.colour());
        // The sixth cell is past the end.
        let last = (2 * 6 + 4) * 3;
        assert_eq!(px[last..last + 3], NO_PACKET);
        assert_eq!(packet_grid(1), (1, 1));
        assert_eq!(packet_grid(10), (4, 3));
    }
}
