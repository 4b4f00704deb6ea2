// Lists of one unknown range are what these tests mean, not a mistaken `vec![0; n]`.
#![allow(clippy::single_range_in_vec_init)]

use super::*;
use crate::bmp::header::test_headers as bmp_head;
use crate::image::{from_head, raw};
use crate::pixel::PixelFormat;
use proptest::prelude::*;

/// A smooth image with some texture: what interpolation is for.
fn picture(len: usize, seed: u64) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let v = (i as u64).wrapping_mul(2654435761).wrapping_add(seed);
            ((i / 7) as u8).wrapping_add((v >> 29) as u8 & 7)
        })
        .collect()
}

/// Pixels of `grid` whose bytes are all outside `unknown` must be as they were, and so
/// must every byte outside the pixels.
fn assert_intact_exact(geometry: &Geometry, before: &[u8], after: &[u8], unknown: &[Range<u64>]) {
    let hit = |r: Range<u64>| unknown.iter().any(|u| u.start < r.end && r.start < u.end);
    let mut in_pixels = vec![false; before.len()];
    let frames = match &geometry.frames {
        Some(f) => (before.len() as u64)
            .saturating_sub(f.first)
            .div_ceil(f.period),
        None => 1,
    };
    let grids =
        (0..frames).flat_map(|k| (0..geometry.grids.len()).map(move |i| geometry.frame_grid(i, k)));
    for grid in grids {
        for row in 0..grid.rows {
            let bytes = grid.row_bytes(row);
            if bytes.end as usize > before.len() {
                continue;
            }
            for x in 0..grid.width {
                let p = bytes.start + (x * grid.pixel_bytes) as u64;
                let r = p..p + grid.pixel_bytes as u64;
                for b in r.clone() {
                    in_pixels[b as usize] = true;
                }
                if !hit(r.clone()) {
                    assert_eq!(
                        before[r.start as usize..r.end as usize],
                        after[r.start as usize..r.end as usize],
                        "intact pixel {x} of row {row} changed"
                    );
                }
            }
        }
    }
    // A frame header's lost bytes are written back; its other bytes stay.
    if let Some(f) = &geometry.frames {
        let mut k = 0;
        while f.start(k) < before.len() as u64 {
            for (j, &want) in f.header.iter().enumerate() {
                let at = f.start(k) as usize + j;
                if at < before.len() {
                    let lost = hit(at as u64..at as u64 + 1);
                    assert_eq!(
                        after[at],
                        if lost { want } else { before[at] },
                        "header byte {at}"
                    );
                    in_pixels[at] = true;
                }
            }
            k += 1;
        }
    }
    for (i, inside) in in_pixels.iter().enumerate() {
        if !inside {
            assert_eq!(before[i], after[i], "byte {i} outside the pixels changed");
        }
    }
}

fn stream_all(
    geometry: &Geometry,
    data: &[u8],
    unknown: &[Range<u64>],
    chunk: usize,
    rows: usize,
) -> Vec<u8> {
    let mut c = Concealer::with_max_rows(geometry.clone(), rows);
    let mut out = Vec::new();
    for (i, piece) in data.chunks(chunk).enumerate() {
        let start = (i * chunk) as u64;
        let end = start + piece.len() as u64;
        let mine: Vec<_> = unknown
            .iter()
            .filter(|r| r.start < end && r.end > start)
            .cloned()
            .collect();
        c.push(piece, &mine);
        out.extend_from_slice(c.ready());
    }
    c.finish();
    out.extend_from_slice(c.ready());
    out
}

#[test]
fn vertical_gradient_is_rebuilt_exactly() {
    // A 6x5 grey image whose rows are 0, 40, 80, ...: a lost row between known ones comes
    // back as it was.
    let g = raw(PixelFormat::Gray, 6, 5, 0).unwrap();
    let original: Vec<u8> = (0..30).map(|i| (i / 6 * 40) as u8).collect();
    let mut data = original.clone();
    data[6..18].fill(0xff); // rows 1 and 2 lost
    let done = conceal(&g, &mut data, 0, &[6..18]);
    assert_eq!(data, original);
    assert_eq!(done.pixels, 12);
}

#[test]
fn holes_at_the_edges_are_extended_from_the_one_known_side() {
    let g = raw(PixelFormat::Gray, 3, 4, 0).unwrap();
    let mut data: Vec<u8> = vec![9, 9, 9, 1, 2, 3, 4, 5, 6, 9, 9, 9];
    conceal(&g, &mut data, 0, &[0..3, 9..12]);
    assert_eq!(data, [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]);
}

#[test]
fn a_column_with_no_known_pixel_is_filled_along_its_rows() {
    let g = raw(PixelFormat::Gray, 5, 2, 0).unwrap();
    let mut data = vec![10, 0, 0, 0, 50, 20, 0, 0, 0, 60];
    conceal(&g, &mut data, 0, &[1..4, 6..9]);
    assert_eq!(data, [10, 20, 30, 40, 50, 20, 30, 40, 50, 60]);
}

#[test]
fn palette_indices_take_the_nearer_neighbour() {
    let head = bmp_head(2, -4, 8);
    let g = from_head(&head).unwrap();
    let mut data = head.clone();
    // Rows of 2 indices padded to 4: 7 7, lost, lost, 200 200.
    data.extend_from_slice(&[7, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200, 200, 0, 0]);
    conceal(&g, &mut data, 0, &[58..66]);
    assert_eq!(data[58..60], [7, 7]);
    assert_eq!(data[62..64], [200, 200]);
}

#[test]
fn sixteen_bit_samples_are_interpolated_as_numbers() {
    let g = from_head(b"P5 1 3 65535\n").unwrap();
    let mut data = b"P5 1 3 65535\n".to_vec();
    data.extend_from_slice(&[0x00, 0xff, 0xff, 0xff, 0x02, 0x01]);
    conceal(&g, &mut data, 0, &[15..17]);
    // Between 0x00ff and 0x0201: 0x0180.
    assert_eq!(data[15..17], [0x01, 0x80]);
}

#[test]
fn streaming_gives_the_whole_image_result() {
    let g = from_head(b"P6 37 29 255\n").unwrap();
    let mut original = b"P6 37 29 255\n".to_vec();
    original.extend(picture(37 * 29 * 3, 5));
    let unknown = vec![20..90, 300..301, 400..1500, 2000..2100, 3000..3230];
    let mut whole = original.clone();
    conceal(&g, &mut whole, 0, &unknown);
    for chunk in [1, 7, 100, 5000] {
        let streamed = stream_all(&g, &original, &unknown, chunk, 1000);
        assert_eq!(streamed, whole, "chunks of {chunk}");
    }
}

#[test]
fn a_hole_taller_than_the_window_is_extended_from_above() {
    let g = raw(PixelFormat::Gray, 4, 10, 0).unwrap();
    let mut data = vec![0u8; 40];
    data[..4].copy_from_slice(&[1, 2, 3, 4]);
    data[36..].copy_from_slice(&[9, 9, 9, 9]);
    // Rows 1..9 lost, a window of 3 rows: rows go out before the hole ends.
    let out = stream_all(&g, &data, &[4..36], 4, 3);
    assert_eq!(out.len(), 40);
    assert_eq!(out[4..8], [1, 2, 3, 4]);
    assert_eq!(out[36..], [9, 9, 9, 9]);
    assert_intact_exact(&g, &data, &out, &[4..36]);
}

#[test]
fn a_block_with_known_edges_matches_the_whole_image() {
    let g = raw(PixelFormat::Rgb24, 20, 12, 0).unwrap();
    let original = picture(20 * 12 * 3, 9);
    // A hole in rows 4..7; rows 3 and 8 are known.
    let unknown = [4 * 60 + 10..6 * 60 + 50];
    let mut whole = original.clone();
    conceal(&g, &mut whole, 0, &unknown);
    let mut block = original[3 * 60..9 * 60].to_vec();
    let local = [unknown[0].start - 180..unknown[0].end - 180];
    conceal_block(&g.grids[0], &mut block, 3, &local);
    assert_eq!(block, whole[3 * 60..9 * 60]);
}

#[test]
fn psnr_of_equal_images_is_infinite() {
    assert_eq!(psnr(&[1, 2, 3], &[1, 2, 3]), f64::INFINITY);
    let p = psnr(&[0; 100], &[1; 100]);
    assert!((p - 48.13).abs() < 0.01, "{p}");
}

/// `data` with each frame's header where a frame stream has it.
fn with_frame_headers(g: &Geometry, mut data: Vec<u8>) -> Vec<u8> {
    if let Some(f) = &g.frames {
        let mut k = 0;
        while (f.start(k) as usize) < data.len() {
            let at = f.start(k) as usize;
            let n = f.header.len().min(data.len() - at);
            data[at..at + n].copy_from_slice(&f.header[..n]);
            k += 1;
        }
    }
    data
}

#[test]
fn a_frame_header_out_of_place_stops_concealment_there() {
    let g = from_head(b"P5 4 3 255\n").unwrap();
    let frame = 11 + 12;
    let mut data = with_frame_headers(&g, picture(frame * 4, 3));
    // Frame 2's header is a byte late: frames 2 and 3 pass through as they came.
    data.insert(2 * frame, 9);
    data.pop();
    let unknown = [
        12..14,
        (frame + 12) as u64..(frame + 14) as u64,
        (2 * frame + 13) as u64..(2 * frame + 15) as u64,
    ];
    for chunk in [1, 5, 1000] {
        let mut c = Concealer::with_max_rows(g.clone(), 2);
        let mut out = Vec::new();
        for (i, piece) in data.chunks(chunk).enumerate() {
            c.push(
                piece,
                &unknown
                    .iter()
                    .filter(|r| r.end > (i * chunk) as u64)
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            out.extend_from_slice(c.ready());
        }
        c.finish();
        out.extend_from_slice(c.ready());
        assert_eq!(out.len(), data.len());
        let why = c.misfit().expect("misfit said");
        let at = format!(
            "at byte {} where its header \"P5 4 3 255\\n\" belongs",
            2 * frame
        );
        assert!(
            why.starts_with("frame 2: found ") && why.contains(&at),
            "{why}"
        );
        assert_eq!(out[2 * frame..], data[2 * frame..], "passed through");
        assert_ne!(out[12..14], data[12..14], "frame 0 concealed");
        assert_ne!(
            out[frame + 12..frame + 14],
            data[frame + 12..frame + 14],
            "frame 1 concealed"
        );
    }
}

fn geometries() -> Vec<(Geometry, usize)> {
    let mut out = Vec::new();
    for (w, h, f) in [
        (13, 9, PixelFormat::Rgb24),
        (7, 5, PixelFormat::Gray16le),
        (9, 7, PixelFormat::Yuv420p),
        (6, 6, PixelFormat::Nv12),
        (5, 4, PixelFormat::Yuyv422),
        (4, 6, PixelFormat::Rgba),
    ] {
        let g = raw(f, w, h, 3).unwrap();
        let len = g.end() as usize + 5;
        out.push((g, len));
    }
    for head in [&b"P6 11 7 65535\n"[..], b"P5 13 6 255\n"] {
        let g = from_head(head).unwrap();
        let len = g.end() as usize;
        out.push((g, len));
    }
    for (w, h, bits) in [(5i32, 7i32, 24u16), (5, -7, 24), (3, 4, 8), (3, 3, 32)] {
        let g = from_head(&bmp_head(w, h, bits)).unwrap();
        let len = g.end() as usize;
        out.push((g, len));
    }
    // Frame streams: raw frames, and PNM frames with their headers, the last cut short.
    let g = raw(PixelFormat::Yuv420p, 5, 4, 0)
        .unwrap()
        .into_frames(0, Vec::new());
    out.push((g, 30 * 2 + 17));
    let g = from_head(b"P6 4 3 255\n").unwrap();
    out.push((g, (11 + 36) * 3 - 5));
    out
}

proptest! {
    #[test]
    fn intact_pixels_stay_exact_and_streaming_agrees(
        which in 0..14usize,
        seed in any::<u64>(),
        holes in proptest::collection::vec((0usize..400, 1usize..80), 0..8),
        chunk in 1usize..300,
        window in 2usize..6,
        cut in 0usize..40,
    ) {
        let (g, len) = &geometries()[which];
        let original = with_frame_headers(g, picture(*len, seed));
        let mut unknown: Vec<Range<u64>> = Vec::new();
        let mut starts: Vec<_> = holes.iter().map(|&(s, l)| (s % len, l)).collect();
        starts.sort();
        for (s, l) in starts {
            let (s, e) = (s as u64, ((s + l).min(*len)) as u64);
            match unknown.last_mut() {
                Some(last) if last.end >= s => last.end = last.end.max(e),
                _ => unknown.push(s..e),
            }
        }
        let mut whole = original.clone();
        conceal(g, &mut whole, 0, &unknown);
        assert_intact_exact(g, &original, &whole, &unknown);
        // With a window taller than the image, streaming is the whole-image pass.
        let streamed = stream_all(g, &original, &unknown, chunk, 1 << 20);
        prop_assert_eq!(&streamed, &whole);
        // With a small window, intact pixels stay exact all the same.
        let small = stream_all(g, &original, &unknown, chunk, window);
        assert_intact_exact(g, &original, &small, &unknown);
        // A transfer cut short: rows before the cut are concealed, nothing panics.
        let short = &original[..len.saturating_sub(cut * 3)];
        let mut part = short.to_vec();
        conceal(g, &mut part, 0, &unknown);
        let s = stream_all(g, short, &unknown, chunk, window);
        prop_assert_eq!(s.len(), short.len());
    }
}

/// Frames of a still textured scene with a small square moving 3 px a frame: `frames`
/// frames of gray `w`x`h`.
fn still_scene(w: usize, h: usize, frames: usize) -> Vec<u8> {
    let back = picture(w * h, 9);
    let mut out = Vec::new();
    for k in 0..frames {
        let mut f = back.clone();
        for y in 10..18 {
            for x in (3 * k)..(3 * k + 8) {
                f[y * w + x % w] = 250;
            }
        }
        out.extend_from_slice(&f);
    }
    out
}

fn stream_mode(
    geometry: &Geometry,
    data: &[u8],
    unknown: &[Range<u64>],
    mode: Mode,
    chunk: usize,
) -> Vec<u8> {
    stream_with(
        Concealer::new(geometry.clone()).with_mode(mode),
        data,
        unknown,
        chunk,
    )
}

fn stream_with(mut c: Concealer, data: &[u8], unknown: &[Range<u64>], chunk: usize) -> Vec<u8> {
    // The transfer's length known (a descriptor says it): frame 0 is kept for frame 1.
    c.expect_len(data.len() as u64);
    let mut out = Vec::new();
    for (i, piece) in data.chunks(chunk).enumerate() {
        let start = (i * chunk) as u64;
        c.push(
            piece,
            unknown
                .iter()
                .filter(|r| r.start < start + piece.len() as u64 && r.end > start)
                .cloned()
                .collect::<Vec<_>>()
                .as_slice(),
        );
        out.extend_from_slice(c.ready());
    }
    c.finish();
    out.extend_from_slice(c.ready());
    out
}

#[test]
fn a_still_scene_is_rebuilt_from_the_previous_frame_and_a_moving_one_in_space() {
    let (w, h) = (64usize, 32usize);
    let g = raw(PixelFormat::Gray, w as u64, h as u64, 0)
        .unwrap()
        .into_frames(0, Vec::new());
    let data = still_scene(w, h, 4);
    let n = w * h;
    // Rows 3..6 of frame 1 (still background), rows 12..15 of frame 2 (the square
    // crosses them), and all of frame 3.
    let unknown = vec![
        (n + 3 * w) as u64..(n + 6 * w) as u64,
        (2 * n + 12 * w) as u64..(2 * n + 15 * w) as u64,
        (3 * n) as u64..(4 * n) as u64,
    ];
    let mut received = data.clone();
    for r in &unknown {
        received[r.start as usize..r.end as usize].fill(0);
    }
    let auto = stream_mode(&g, &received, &unknown, Mode::Auto, 1000);
    let spatial = stream_mode(&g, &received, &unknown, Mode::Spatial, 1000);
    let temporal = stream_mode(&g, &received, &unknown, Mode::Temporal, 777);
    assert_eq!(auto.len(), data.len());
    // Still background: exact from the previous frame.
    assert_eq!(auto[n + 3 * w..n + 6 * w], data[n + 3 * w..n + 6 * w]);
    assert_ne!(spatial[n + 3 * w..n + 6 * w], data[n + 3 * w..n + 6 * w]);
    // The lost frame 3 is frame 2 again (as concealed), not fill.
    assert_eq!(auto[3 * n..], auto[2 * n..3 * n]);
    // Around the moving square, auto interpolates as spatial does; temporal copies the
    // old frame, where the square was elsewhere.
    let square = 2 * n + 12 * w..2 * n + 15 * w;
    let err = |v: &[u8]| -> u64 {
        v[square.clone()]
            .iter()
            .zip(&data[square.clone()])
            .map(|(&a, &b)| a.abs_diff(b) as u64)
            .sum()
    };
    assert!(
        err(&auto) < err(&temporal),
        "{} {}",
        err(&auto),
        err(&temporal)
    );
    for (out, name) in [
        (&auto, "auto"),
        (&spatial, "spatial"),
        (&temporal, "temporal"),
    ] {
        assert_intact_exact(&g, &data, out, &unknown);
        assert_eq!(out.len(), data.len(), "{name}");
    }
    // Chunking does not change the result.
    assert_eq!(stream_mode(&g, &received, &unknown, Mode::Auto, 37), auto);
}

#[test]
fn a_frame_longer_than_the_previous_frame_cap_is_concealed_in_space() {
    let (w, h) = (64usize, 32usize);
    let g = raw(PixelFormat::Gray, w as u64, h as u64, 0)
        .unwrap()
        .into_frames(0, Vec::new());
    let data = still_scene(w, h, 3);
    let n = w * h;
    let unknown = vec![(n + 3 * w) as u64..(n + 6 * w) as u64];
    let mut received = data.clone();
    received[n + 3 * w..n + 6 * w].fill(0);
    let capped = |cap: u64| {
        let c = Concealer::new(g.clone())
            .with_mode(Mode::Temporal)
            .with_prev_frame_max(cap);
        stream_with(c, &received, &unknown, 1000)
    };
    let spatial = stream_mode(&g, &received, &unknown, Mode::Spatial, 1000);
    // A frame of n bytes: a cap of n keeps it, a byte less does not.
    assert_eq!(
        capped(n as u64)[n + 3 * w..n + 6 * w],
        data[n + 3 * w..n + 6 * w]
    );
    assert_eq!(capped(n as u64 - 1), spatial);
}

#[test]
fn a_lost_pnm_frame_header_is_written_back() {
    let head = b"P5 8 4 255\n";
    let g = from_head(head).unwrap();
    let frame_len = head.len() + 32;
    let mut data = Vec::new();
    for k in 0..3u8 {
        data.extend_from_slice(head);
        data.extend((0..32u8).map(|i| i.wrapping_mul(k + 1)));
    }
    let lost = (frame_len as u64)..(frame_len + 20) as u64;
    let mut received = data.clone();
    received[lost.start as usize..lost.end as usize].fill(0);
    let out = stream_mode(&g, &received, std::slice::from_ref(&lost), Mode::Auto, 5);
    assert_eq!(&out[frame_len..frame_len + head.len()], head);
    assert_eq!(out.len(), data.len());
    assert_eq!(out[2 * frame_len..], data[2 * frame_len..]);
}
