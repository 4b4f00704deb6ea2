//! raw2ppm, run as a real binary through real pipes, its output decoded by readers nobody
//! here wrote: Pillow, ffmpeg and netpbm.

use crate::common;

use common::{bytes, require_tool, run_cmd, stderr};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

/// Debian's python3, which has Pillow (python3-pil); the one first on PATH may not.
const PYTHON: &str = "/usr/bin/python3";

/// Run raw2ppm with `input` on stdin.
pub(crate) fn run(args: &[&str], input: &[u8]) -> Output {
    common::run("raw2ppm", args, input)
}

fn require_pillow() {
    let ok = Command::new(PYTHON)
        .args(["-c", "import PIL"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "Pillow is not installed for {PYTHON}; .ci/run must install python3-pil"
    );
}

pub(crate) fn ok(out: &Output) -> &[u8] {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(out));
    &out.stdout
}

/// A PPM/PGM as a test writes it by hand: header, then the samples.
pub(crate) fn pnm(magic: &str, w: usize, h: usize, maxval: u32, samples: &[u8]) -> Vec<u8> {
    let mut v = format!("{magic}\n{w} {h}\n{maxval}\n").into_bytes();
    v.extend_from_slice(samples);
    v
}

/// Pixels of an 8-bit PPM as Pillow decodes them (RGB bytes), and its size.
fn pillow_rgb(path: &Path) -> (u32, u32, Vec<u8>) {
    require_pillow();
    let script = "import sys\nfrom PIL import Image\nim = Image.open(sys.argv[1])\n\
                  sys.stderr.write('%d %d %s' % (im.size[0], im.size[1], im.mode))\n\
                  sys.stdout.buffer.write(im.convert('RGB').tobytes())";
    let out = Command::new(PYTHON)
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "Pillow: {}", stderr(&out));
    let info = stderr(&out);
    let mut it = info.split(' ');
    let w = it.next().unwrap().parse().unwrap();
    let h = it.next().unwrap().parse().unwrap();
    (w, h, out.stdout)
}

/// Pixels of a PNM as ffmpeg decodes them, in `pix_fmt`.
fn ffmpeg_decode(path: &Path, pix_fmt: &str) -> Vec<u8> {
    require_tool("ffmpeg");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i", path.to_str().unwrap()])
        .args(["-f", "rawvideo", "-pix_fmt", pix_fmt, "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg: {}", stderr(&out));
    out.stdout
}

/// Size, maxval and samples of a PNM as netpbm reads it (through its plain format).
fn netpbm_samples(path: &Path) -> (usize, usize, u32, Vec<u32>) {
    require_tool("pnmtopnm");
    let out = Command::new("pnmtopnm")
        .args(["-plain", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "pnmtopnm: {}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut tokens = text.split_ascii_whitespace().skip(1);
    let mut next = || tokens.next().unwrap().parse::<u32>().unwrap();
    let (w, h, maxval) = (next() as usize, next() as usize, next());
    let samples = text
        .split_ascii_whitespace()
        .skip(4)
        .map(|t| t.parse().unwrap())
        .collect();
    (w, h, maxval, samples)
}

// ---------------------------------------------------------------------------------------
// Exact bytes, checked by hand.

#[test]
fn exact_bytes_for_every_rgb_and_grey_format() {
    // Two pixels, 1x2, per format: input bytes and the PPM samples they must become.
    let cases: &[(&str, &[u8], u32, &[u8])] = &[
        ("rgb24", &[1, 2, 3, 4, 5, 6], 255, &[1, 2, 3, 4, 5, 6]),
        ("bgr24", &[1, 2, 3, 4, 5, 6], 255, &[3, 2, 1, 6, 5, 4]),
        ("rgba", &[1, 2, 3, 9, 4, 5, 6, 9], 255, &[1, 2, 3, 4, 5, 6]),
        ("bgra", &[1, 2, 3, 9, 4, 5, 6, 9], 255, &[3, 2, 1, 6, 5, 4]),
        ("argb", &[9, 1, 2, 3, 9, 4, 5, 6], 255, &[1, 2, 3, 4, 5, 6]),
        ("abgr", &[9, 1, 2, 3, 9, 4, 5, 6], 255, &[3, 2, 1, 6, 5, 4]),
        ("gray", &[7, 200], 255, &[7, 7, 7, 200, 200, 200]),
        (
            "gray16be",
            &[0x12, 0x34, 0xab, 0xcd],
            65535,
            &[
                0x12, 0x34, 0x12, 0x34, 0x12, 0x34, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd,
            ],
        ),
        (
            "gray16le",
            &[0x34, 0x12, 0xcd, 0xab],
            65535,
            &[
                0x12, 0x34, 0x12, 0x34, 0x12, 0x34, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd,
            ],
        ),
        (
            "rgb48be",
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            65535,
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        ),
        (
            "rgb48le",
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            65535,
            &[2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11],
        ),
    ];
    for &(format, input, maxval, samples) in cases {
        let out = run(&["-s", "1x2", "-p", format], input);
        assert_eq!(ok(&out), pnm("P6", 1, 2, maxval, samples), "{format}");
    }
}

#[test]
fn grey_formats_write_pgm_on_request() {
    let out = run(&["-s", "2x1", "-p", "gray", "--pgm"], &[7, 200]);
    assert_eq!(ok(&out), pnm("P5", 2, 1, 255, &[7, 200]));
    let out = run(
        &["-s", "2x1", "-p", "gray16le", "--pgm"],
        &[0x34, 0x12, 0xcd, 0xab],
    );
    assert_eq!(ok(&out), pnm("P5", 2, 1, 65535, &[0x12, 0x34, 0xab, 0xcd]));
    let out = run(&["-s", "2x1", "-p", "rgb24", "--pgm"], &[0; 6]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn skip_and_stride_drop_header_and_row_padding() {
    // A 3-byte header, then 2x2 rgb24 rows padded to 8 bytes.
    let input = [
        b'H', b'D', b'R', 1, 2, 3, 4, 5, 6, 0xee, 0xee, 7, 8, 9, 10, 11, 12, 0xee, 0xee,
    ];
    let out = run(&["-s", "2x2", "--skip", "3", "--stride", "8"], &input);
    assert_eq!(
        ok(&out),
        pnm("P6", 2, 2, 255, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    );
}

#[test]
fn the_padding_after_the_last_row_is_not_needed() {
    // 2x2 rgb24 rows padded to 8 bytes; the input ends after the last pixel, 2 bytes
    // before the end of the padded frame. Every pixel is there: exit 0, nothing missing.
    let frame = [1, 2, 3, 4, 5, 6, 0xee, 0xee, 7, 8, 9, 10, 11, 12];
    let image = pnm("P6", 2, 2, 255, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    let padded = [&frame[..], &[0xee, 0xee]].concat();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.raw");
    for (args, input, images) in [
        (&["-s", "2x2"][..], frame.to_vec(), 1),
        (&["-s", "2"][..], frame.to_vec(), 1),
        (
            &["-s", "2x2", "--frames"][..],
            [&padded[..], &frame].concat(),
            2,
        ),
    ] {
        let args = [args, &["--stride", "8", "-v"]].concat();
        std::fs::write(&file, &input).unwrap();
        let mut on_file = args.clone();
        on_file.push(file.to_str().unwrap());
        for out in [run(&args, &input), run(&on_file, b"")] {
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
            assert!(!err.contains("missing") && !err.contains("filled"), "{err}");
            assert_eq!(out.stdout, image.repeat(images), "{args:?}");
        }
    }
    // One pixel byte fewer is a short frame, as before.
    let out = run(&["-s", "2x2", "--stride", "8"], &frame[..13]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------
// Independent readers.

#[test]
fn odd_sized_rgb24_decodes_identically_in_pillow_ffmpeg_and_netpbm() {
    let (w, h) = (37, 23);
    let raw = bytes(w * h * 3, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.ppm");
    let out = run(&["-s", &format!("{w}x{h}")], &raw);
    std::fs::write(&path, ok(&out)).unwrap();

    assert_eq!(pillow_rgb(&path), (w as u32, h as u32, raw.clone()));
    assert_eq!(ffmpeg_decode(&path, "rgb24"), raw);
    let (nw, nh, maxval, samples) = netpbm_samples(&path);
    assert_eq!((nw, nh, maxval), (w, h, 255));
    assert_eq!(samples, raw.iter().map(|&b| b as u32).collect::<Vec<_>>());
}

#[test]
fn every_rgb_and_grey_format_matches_ffmpegs_own_reading_of_the_raw_input() {
    // ffmpeg reads the raw bytes in the same pix_fmt and gives rgb24 (or rgb48be for
    // 16-bit formats); our PPM, decoded by ffmpeg and by netpbm, must hold the same samples.
    require_tool("ffmpeg");
    let (w, h) = (13, 7);
    let dir = tempfile::tempdir().unwrap();
    let formats = [
        ("rgb24", 3, "rgb24"),
        ("bgr24", 3, "rgb24"),
        ("rgba", 4, "rgb24"),
        ("bgra", 4, "rgb24"),
        ("argb", 4, "rgb24"),
        ("abgr", 4, "rgb24"),
        ("gray", 1, "rgb24"),
        ("gray16be", 2, "rgb48be"),
        ("gray16le", 2, "rgb48be"),
        ("rgb48be", 6, "rgb48be"),
        ("rgb48le", 6, "rgb48be"),
    ];
    for (i, (format, bpp, out_fmt)) in formats.into_iter().enumerate() {
        let raw = bytes(w * h * bpp, 10 + i as u64);
        let raw_path = dir.path().join(format!("{format}.raw"));
        std::fs::write(&raw_path, &raw).unwrap();
        let want = Command::new("ffmpeg")
            .args(["-v", "error", "-f", "rawvideo", "-pix_fmt", format])
            .args(["-s", &format!("{w}x{h}"), "-i", raw_path.to_str().unwrap()])
            .args(["-f", "rawvideo", "-pix_fmt", out_fmt, "-"])
            .output()
            .unwrap();
        assert!(want.status.success(), "{}", stderr(&want));

        let ppm_path = dir.path().join(format!("{format}.ppm"));
        let out = run(&["-s", &format!("{w}x{h}"), "-p", format], &raw);
        std::fs::write(&ppm_path, ok(&out)).unwrap();
        assert_eq!(ffmpeg_decode(&ppm_path, out_fmt), want.stdout, "{format}");

        let (_, _, maxval, samples) = netpbm_samples(&ppm_path);
        let want_samples: Vec<u32> = if maxval == 255 {
            want.stdout.iter().map(|&b| b as u32).collect()
        } else {
            want.stdout
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
                .collect()
        };
        assert_eq!(samples, want_samples, "{format} via netpbm");
    }
}

#[test]
fn sixteen_bit_pgm_decodes_in_pillow() {
    require_pillow();
    let raw = bytes(5 * 3 * 2, 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.pgm");
    let out = run(&["-s", "5x3", "-p", "gray16be", "--pgm"], &raw);
    std::fs::write(&path, ok(&out)).unwrap();
    let script = "import sys\nfrom PIL import Image\nim = Image.open(sys.argv[1])\n\
                  print(' '.join(str(v) for v in im.getdata()))";
    let py = Command::new(PYTHON)
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(py.status.success(), "{}", stderr(&py));
    let got: Vec<u32> = String::from_utf8(py.stdout)
        .unwrap()
        .split_ascii_whitespace()
        .map(|t| t.parse().unwrap())
        .collect();
    let want: Vec<u32> = raw
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
        .collect();
    assert_eq!(got, want);
}

// ---------------------------------------------------------------------------------------
// Frame streams.

/// The md5 column of ffmpeg's framemd5 output, one per frame.
fn framemd5(args: &[&str], input: &[u8]) -> Vec<String> {
    require_tool("ffmpeg");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error"]).args(args);
    cmd.args(["-f", "framemd5", "-"]);
    let out = run_cmd(&mut cmd, input);
    assert!(out.status.success(), "ffmpeg: {}", stderr(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(',').next().unwrap().trim().to_string())
        .collect()
}

#[test]
fn frame_stream_reads_back_in_ffmpeg_frame_by_frame() {
    let (w, h, n) = (16, 9, 5);
    let raw = bytes(w * h * 3 * n, 7);
    let out = run(&["-s", &format!("{w}x{h}"), "--frames"], &raw);
    let ppm_stream = ok(&out).to_vec();
    let ours = framemd5(
        &[
            "-f",
            "image2pipe",
            "-c:v",
            "ppm",
            "-i",
            "-",
            "-pix_fmt",
            "rgb24",
        ],
        &ppm_stream,
    );
    let theirs = framemd5(
        &[
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            &format!("{w}x{h}"),
            "-i",
            "-",
        ],
        &raw,
    );
    assert_eq!(ours.len(), n);
    assert_eq!(ours, theirs);
}

#[test]
fn frame_stream_from_a_mapped_file_equals_the_stream_from_a_pipe() {
    let raw = bytes(8 * 4 * 3 * 3 + 10, 8);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.raw");
    std::fs::write(&path, &raw).unwrap();
    let from_pipe = run(&["-s", "8x4", "--frames"], &raw);
    let from_file = run(&["-s", "8x4", "--frames", path.to_str().unwrap()], &[]);
    assert_eq!(from_pipe.stdout, from_file.stdout);
    // Three whole frames and a fourth of 10 bytes, filled: exit 1.
    assert_eq!(from_file.status.code(), Some(1));
    assert_eq!(from_file.stdout.len(), 4 * (11 + 8 * 4 * 3));
}

#[test]
fn without_frames_only_the_first_frame_is_written_and_verbose_says_so() {
    let raw = bytes(2 * 2 * 3 * 2 + 1, 9);
    let out = run(&["-s", "2x2", "-v"], &raw);
    assert_eq!(ok(&out), pnm("P6", 2, 2, 255, &raw[..12]));
    common::says(&out, "after the first frame");
}

#[test]
fn short_input_is_filled_with_the_fill_colour_and_exits_1() {
    let out = run(&["-s", "2x2", "--fill", "ff8000", "-v"], &[1, 2, 3, 4]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        out.stdout,
        pnm(
            "P6",
            2,
            2,
            255,
            &[1, 2, 3, 4, 0x80, 0, 0xff, 0x80, 0, 0xff, 0x80, 0]
        )
    );
    common::says(&out, "missing 8 bytes");
    // Without -v: one line says how much is missing (issue 21: no silent exit 1).
    let quiet = run(&["-s", "2x2"], &[1, 2, 3, 4]);
    assert_eq!(quiet.status.code(), Some(1));
    assert_eq!(
        stderr(&quiet),
        "raw2ppm: warning: the input ended 8 bytes short of a whole 2x2 rgb24 frame (12 bytes); the missing bytes are filled\n"
    );
}

#[test]
fn empty_input_gives_one_filled_image_or_no_frames() {
    let out = run(&["-s", "1x1", "--fill", "010203"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, pnm("P6", 1, 1, 255, &[1, 2, 3]));
    let out = run(&["-s", "1x1", "--frames"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn height_follows_from_the_data_length() {
    let raw = bytes(10 * 3, 3);
    let out = run(&["-s", "4"], &raw);
    let mut samples = raw.clone();
    samples.extend([0; 6]);
    assert_eq!(ok(&out), pnm("P6", 4, 3, 255, &samples));
}

#[test]
fn auto_width_makes_a_squarish_image_of_any_file() {
    let raw = bytes(3000, 5);
    let out = run(&["--width", "auto", "-p", "gray"], &raw);
    // 3000 pixels: sqrt is 54.8, the nearest power of two 64, so 47 rows.
    assert!(ok(&out).starts_with(b"P6\n64 47\n255\n"));
}

// ---------------------------------------------------------------------------------------
// The live view.

#[test]
fn live_view_writes_cumulative_snapshots_with_unarrived_pixels_in_fill() {
    let raw: Vec<u8> = (1..=16).collect();
    let out = run(
        &[
            "-s", "4x4", "-p", "gray", "--pgm", "--every", "6", "--fill", "636363",
        ],
        &raw,
    );
    // 0x63 = 99 in every channel: grey 99.
    let snapshot = |n: usize| {
        let mut s = raw[..n].to_vec();
        s.resize(16, 99);
        pnm("P5", 4, 4, 255, &s)
    };
    let want = [snapshot(6), snapshot(12), snapshot(16)].concat();
    assert_eq!(ok(&out), want);
}

#[test]
fn live_view_restarts_per_frame_and_ffmpeg_reads_every_snapshot() {
    let raw = bytes(8 * 8 * 3 * 2, 11);
    let out = run(&["-s", "8x8", "--frames", "--every-rows", "3"], &raw);
    // Rows 3, 6, 8 of each frame: three snapshots a frame.
    let md5s = framemd5(&["-f", "image2pipe", "-c:v", "ppm", "-i", "-"], ok(&out));
    assert_eq!(md5s.len(), 6);
    let frames = framemd5(
        &[
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "8x8", "-i", "-",
        ],
        &raw,
    );
    assert_eq!(md5s[2], frames[0]);
    assert_eq!(md5s[5], frames[1]);
    assert_ne!(md5s[1], frames[0]);
}

#[test]
fn live_snapshot_appears_before_the_rest_of_the_frame_arrives() {
    // Half a frame goes in and the pipe stays open: the snapshot must come out now, not
    // when the writer finishes.
    let mut child = common::spawn(
        "raw2ppm",
        &["-s", "64x64", "-p", "gray", "--pgm", "--every", "2k"],
    );
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    stdin.write_all(&[200; 2048]).unwrap();
    stdin.flush().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut first = vec![0; 13 + 4096];
        let r = stdout.read_exact(&mut first).map(|_| first);
        let _ = tx.send(r.map_err(|e| e.to_string()));
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no snapshot while the writer keeps the pipe open")
        .unwrap();
    assert!(first.starts_with(b"P5\n64 64\n255\n"));
    assert!(first[13..13 + 2048].iter().all(|&b| b == 200));
    assert!(first[13 + 2048..].iter().all(|&b| b == 0));
    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
}

#[test]
fn named_pipe_with_a_late_writer_ends_cleanly() {
    use std::os::unix::fs::OpenOptionsExt;
    require_tool("mkfifo");
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let raw = bytes(6 * 5 * 3 * 4, 12);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let fifo_arg = fifo.to_str().unwrap();
    let child = common::spawn("raw2ppm", &["-s", "6x5", "--frames", fifo_arg]);
    // The writer comes once raw2ppm waits in open(2): a non-blocking open for writing
    // fails (ENXIO) until the FIFO has a reader.
    let mut writer = None;
    common::wait_until("raw2ppm opening the FIFO", Duration::from_secs(20), || {
        writer = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .ok();
        writer.is_some()
    });
    // 360 bytes: within the pipe's buffer, so the non-blocking write is whole.
    writer.unwrap().write_all(&raw).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout.len(), 4 * (11 + 6 * 5 * 3));
}

// ---------------------------------------------------------------------------------------
// Unix manners and bad input.

#[test]
fn bad_geometry_and_arguments_are_one_line_errors_with_status_2() {
    let cases: &[&[&str]] = &[
        &["-s", "0x4"],
        &["-s", "4x0"],
        &["-s", "2000000x2000000"],
        &["-s", "18446744073709551615x18446744073709551615"],
        &["-s", "4x4", "-p", "rgb99"],
        &["-s", "4x4", "--skip", "100"],
        &["-s", "4x4", "--stride", "5"],
        &["-s", "4x4", "-p", "nv12", "--stride", "8"],
        &["-s", "4x4", "--every", "0"],
        &["-s", "banana"],
        &["-p", "gray"],
        &["-s", "4x4", "--fill", "red"],
    ];
    for args in cases {
        let out = run(args, &[0; 48]);
        common::error_line("raw2ppm", &out, args);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

// ---------------------------------------------------------------------------------------
// YUV.

/// raw2ppm on a file of `len` bytes, with `args`.
fn on_file(len: usize, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.raw");
    std::fs::write(&file, bytes(len, 5)).unwrap();
    let mut all: Vec<&str> = args.to_vec();
    all.push(file.to_str().unwrap());
    run(&all, b"")
}

/// What raw2ppm says, in one line, of a 512x512 rgb24 file read with `args`, exiting with
/// `code`.
fn one_line_on_a_512x512_file(args: &[&str], code: i32) -> String {
    let out = on_file(512 * 512 * 3, args);
    assert_eq!(out.status.code(), Some(code), "{args:?}");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn a_size_that_leaves_bytes_over_is_named_with_the_sizes_that_fit() {
    let err = one_line_on_a_512x512_file(&["-s", "513x511"], 0);
    let left_over = "raw2ppm: warning: 3 bytes left over after the first 513x511 rgb24 frame";
    assert!(err.starts_with(left_over), "{err}");
    assert!(err.contains("fit 512x512"), "the square first: {err}");
}

#[test]
fn a_size_that_leaves_bytes_over_is_told_from_a_pipe_too() {
    // Issue 29, item 11: from a pipe, the bytes after the last whole frame went unsaid.
    // The image written is whole (exit 0); more than a frame after it is more frames, not
    // a wrong size, and says nothing.
    let out = run(&["-s", "513x511"], &bytes(512 * 512 * 3, 5));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout.len(), 15 + 513 * 511 * 3);
    assert_eq!(
        stderr(&out),
        "raw2ppm: warning: 3 bytes left over after the first 513x511 rgb24 frame (786429 bytes)\n"
    );
    let two_frames = run(&["-s", "512x512"], &bytes(2 * 512 * 512 * 3 + 1, 5));
    assert_eq!(two_frames.status.code(), Some(0));
    assert_eq!(stderr(&two_frames), "");
}

#[test]
fn a_size_larger_than_the_data_says_how_much_is_missing_and_what_fits() {
    let err = one_line_on_a_512x512_file(&["-s", "600x600"], 1);
    let missing = 600 * 600 * 3 - 512 * 512 * 3;
    let short = format!("ended {missing} bytes short");
    assert!(err.contains(&short), "{err}");
    assert!(err.contains("512x512"), "{err}");
}

#[test]
fn a_size_that_fits_says_nothing() {
    for args in [
        &["-s", "512x512"][..],
        &["-s", "512"],
        &["-s", "256x512", "--frames"],
    ] {
        let out = on_file(512 * 512 * 3, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

#[test]
fn a_mistyped_pixel_format_gets_the_nearest_name() {
    for (typed, meant) in [
        ("yuv420", "yuv420p"),
        ("RGB24", "rgb24"),
        ("yuyv", "yuyv422"),
    ] {
        let err = common::error_line(
            "raw2ppm",
            &run(&["-s", "2x2", "-p", typed], &[0; 12]),
            &typed,
        );
        let hint = format!("did you mean {meant}?");
        assert!(err.contains(&hint), "{typed}: {err}");
    }
    common::says(
        &run(&["-s", "2x2", "-p", "h264"], &[0; 12]),
        "expected one of: rgb24",
    );
}
