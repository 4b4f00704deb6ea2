//! raw2ppm's YUV formats (planar, semi-planar, packed; 8 and 10 bit): exact bytes for
//! frames laid out by hand, agreement with ffmpeg's own conversion, and what missing
//! bytes look like.

use super::raw2ppm::{ok, pnm, run};
use crate::common;
use common::{require_tool, sh, stderr};
use std::process::Command;

/// The YUV formats, named here rather than taken from the library, so that one the
/// library loses fails the tests instead of leaving them.
const YUV_FORMATS: &str = "yuv420p yuv422p yuv444p nv12 nv21 yuyv422 uyvy422 yuv420p10le";

/// One 2x2 frame in `format` from four luma samples and one chroma pair (U, V) shared by
/// all four pixels, laid out by hand from ffmpeg's pix_fmt descriptions.
fn yuv_2x2(format: &str, y: [u8; 4], u: u8, v: u8) -> Vec<u8> {
    let [y0, y1, y2, y3] = y;
    match format {
        "yuv420p" => vec![y0, y1, y2, y3, u, v],
        "yuv422p" => vec![y0, y1, y2, y3, u, u, v, v],
        "yuv444p" => vec![y0, y1, y2, y3, u, u, u, u, v, v, v, v],
        "nv12" => vec![y0, y1, y2, y3, u, v],
        "nv21" => vec![y0, y1, y2, y3, v, u],
        "yuyv422" => vec![y0, u, y1, v, y2, u, y3, v],
        "uyvy422" => vec![u, y0, v, y1, u, y2, v, y3],
        "yuv420p10le" => [y0, y1, y2, y3, u, v]
            .iter()
            .flat_map(|&s| ((s as u16) << 2).to_le_bytes())
            .collect(),
        other => panic!("no layout for {other}"),
    }
}

#[test]
fn exact_bytes_for_every_yuv_format() {
    // BT.601 limited range, worked out by hand: with U=V=128, R=G=B=255*(Y-16)/219, so
    // Y=16, 235, 126, 81 give 0, 255, 128.08, 75.68. Y=81 U=90 V=240 (pure red as it
    // rounds to 8 bits) gives R=255*(0.2968+1.402*0.5)=254.4, G=-0.5, B=-1.0: 254, 0, 0.
    for format in YUV_FORMATS.split(' ') {
        let grey = yuv_2x2(format, [16, 235, 126, 81], 128, 128);
        let out = run(&["-s", "2x2", "-p", format], &grey);
        let want = [0, 0, 0, 255, 255, 255, 128, 128, 128, 76, 76, 76];
        assert_eq!(ok(&out), pnm("P6", 2, 2, 255, &want), "{format} grey");

        let red = yuv_2x2(format, [81; 4], 90, 240);
        let out = run(&["-s", "2x2", "-p", format], &red);
        assert_eq!(
            ok(&out),
            pnm("P6", 2, 2, 255, &[254, 0, 0].repeat(4)),
            "{format} red"
        );
    }
}

/// ffmpeg's test pattern at `size` in `pix_fmt`, as raw frames.
fn ffmpeg_testsrc(size: &str, pix_fmt: &str, frames: usize) -> Vec<u8> {
    require_tool("ffmpeg");
    let (w, h) = size.split_once('x').unwrap();
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=s=128x96:r=25"])
        .args(["-frames:v", &frames.to_string()])
        // testsrc2 only makes even sizes; scale down to odd ones.
        .args(["-vf", &format!("scale={w}:{h}:flags=neighbor")])
        .args(["-pix_fmt", pix_fmt, "-f", "rawvideo", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg: {}", stderr(&out));
    out.stdout
}

/// ffmpeg's conversion of raw frames to rgb24, with nearest-neighbour chroma and exact
/// arithmetic, in the given matrix and range.
fn ffmpeg_to_rgb(raw: &[u8], size: &str, pix_fmt: &str, matrix: &str, range: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.raw");
    std::fs::write(&path, raw).unwrap();
    let scale = format!(
        "scale=in_color_matrix={matrix}:in_range={range}:\
         flags=neighbor+accurate_rnd+full_chroma_int,format=rgb24"
    );
    let out = Command::new("ffmpeg")
        .args([
            "-v", "error", "-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", size,
        ])
        .args(["-i", path.to_str().unwrap(), "-vf", &scale])
        .args(["-f", "rawvideo", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg: {}", stderr(&out));
    out.stdout
}

/// The samples of a stream of 8-bit P6 images with the same header, concatenated.
fn ppm_samples(stream: &[u8], w: usize, h: usize) -> Vec<u8> {
    let header = format!("P6\n{w} {h}\n255\n").into_bytes();
    let image = header.len() + w * h * 3;
    assert_eq!(stream.len() % image, 0, "not a stream of {w}x{h} images");
    stream
        .chunks_exact(image)
        .flat_map(|img| {
            assert!(img.starts_with(&header));
            img[header.len()..].to_vec()
        })
        .collect()
}

fn assert_within_1(ours: &[u8], theirs: &[u8], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    let worst = ours
        .iter()
        .zip(theirs)
        .map(|(&a, &b)| (a as i32 - b as i32).abs())
        .max()
        .unwrap_or(0);
    assert!(worst <= 1, "{what}: differs from ffmpeg by {worst}");
}

#[test]
fn every_yuv_format_agrees_with_ffmpeg_within_1_at_even_and_odd_sizes() {
    for format in YUV_FORMATS.split(' ') {
        for size in ["64x48", "33x17", "7x5", "1x1"] {
            let raw = ffmpeg_testsrc(size, format, 2);
            let theirs = ffmpeg_to_rgb(&raw, size, format, "bt601", "tv");
            let out = run(&["-s", size, "-p", format, "--frames"], &raw);
            let (w, h) = size.split_once('x').unwrap();
            let ours = ppm_samples(ok(&out), w.parse().unwrap(), h.parse().unwrap());
            assert_within_1(&ours, &theirs, &format!("{format} {size}"));
        }
    }
}

#[test]
fn a_short_planar_frame_from_a_file_is_filled_as_from_a_pipe() {
    // From a file a short planar frame is completed row by row in place; from a pipe the
    // whole frame is buffered and filled. Both must give the same image, and exit 1.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.yuv");
    for format in [
        "yuv420p",
        "yuv422p",
        "yuv444p",
        "nv12",
        "nv21",
        "yuv420p10le",
    ] {
        for size in ["33x17", "7x5"] {
            let raw = ffmpeg_testsrc(size, format, 1);
            let (w, h): (usize, usize) = {
                let (w, h) = size.split_once('x').unwrap();
                (w.parse().unwrap(), h.parse().unwrap())
            };
            for cut in [raw.len() - 1, raw.len() * 3 / 4, w * h, 5, 0] {
                let args = ["-s", size, "-p", format];
                let piped = run(&args, &raw[..cut]);
                std::fs::write(&file, &raw[..cut]).unwrap();
                let mapped = run(&[&args[..], &[file.to_str().unwrap()]].concat(), b"");
                let what = format!("{format} {size} cut at {cut}");
                assert_eq!(piped.status.code(), Some(1), "{what}: {}", stderr(&piped));
                assert_eq!(mapped.status.code(), Some(1), "{what}: {}", stderr(&mapped));
                assert!(piped.stdout == mapped.stdout, "{what}: images differ");
            }
        }
    }
}

#[test]
fn matrix_and_range_options_agree_with_ffmpeg_within_1() {
    let raw = ffmpeg_testsrc("64x48", "yuv420p", 1);
    for matrix in ["bt601", "bt709", "bt2020"] {
        for range in ["tv", "pc"] {
            let theirs = ffmpeg_to_rgb(&raw, "64x48", "yuv420p", matrix, range);
            let args = [
                "-s", "64x48", "-p", "yuv420p", "--matrix", matrix, "--range", range,
            ];
            let out = run(&args, &raw);
            let ours = ppm_samples(ok(&out), 64, 48);
            assert_within_1(&ours, &theirs, &format!("{matrix} {range}"));
        }
    }
}

#[test]
fn missing_yuv_bytes_leave_black_holes_and_grey_smears_never_green() {
    // A 4x4 yuv420p frame cut after two luma rows: the lower rows are missing (Y=16, black)
    // and so is all chroma (U=V=128), so the top rows are grey, not green.
    let luma_rows = [16, 235, 126, 81, 235, 16, 81, 126];
    let out = run(&["-s", "4x4", "-p", "yuv420p"], &luma_rows);
    assert_eq!(out.status.code(), Some(1));
    let mut want = [0, 255, 128, 76, 255, 0, 76, 128]
        .iter()
        .flat_map(|&g| [g, g, g])
        .collect::<Vec<u8>>();
    want.resize(48, 0);
    assert_eq!(out.stdout, pnm("P6", 4, 4, 255, &want));
}

#[test]
fn yuv_live_view_fills_unarrived_luma_with_black() {
    // 64x48 yuv420p is 4608 bytes: snapshots at 1k, 2k, 3k, 4k and the whole frame.
    let raw = ffmpeg_testsrc("64x48", "yuv420p", 1);
    let out = run(&["-s", "64x48", "-p", "yuv420p", "--every", "1k"], &raw);
    let images = ppm_samples(ok(&out), 64, 48);
    let image_len = 64 * 48 * 3;
    assert_eq!(images.len(), 5 * image_len);
    // First snapshot: 16 luma rows arrived, no chroma: grey above, black below.
    let first = &images[..image_len];
    let (top, bottom) = first.split_at(16 * 64 * 3);
    assert!(top.chunks_exact(3).all(|p| p[0] == p[1] && p[1] == p[2]));
    assert!(top.iter().any(|&b| b != 0));
    assert!(bottom.iter().all(|&b| b == 0));
    // The last is the whole frame, as a plain conversion gives it.
    let whole = run(&["-s", "64x48", "-p", "yuv420p"], &raw);
    assert_eq!(
        &images[4 * image_len..],
        &ppm_samples(ok(&whole), 64, 48)[..]
    );
}

#[test]
fn yuv_frames_through_a_named_pipe_from_ffmpeg() {
    require_tool("ffmpeg");
    require_tool("mkfifo");
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("video");
    let script = format!(
        "mkfifo {f}
         ffmpeg -v error -f lavfi -i testsrc2=s=96x64:r=25 -frames:v 12 \
                -f rawvideo -pix_fmt yuv420p -y {f} &
         raw2ppm -s 96x64 -p yuv420p --frames < {f} |
           ffmpeg -v error -f image2pipe -c:v ppm -i - -f framemd5 - | grep -vc '^#'
         wait $!",
        f = fifo.display()
    );
    let out = sh(&script);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "12");
}

#[test]
fn auto_width_is_refused_for_planar_formats() {
    let out = run(&["--width", "auto", "-p", "yuv420p"], &[0; 100]);
    common::exits_saying(&out, 2, "packed");
}
