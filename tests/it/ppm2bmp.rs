//! ppm2bmp, run as a real program: exact bytes for small images, pixels as four independent
//! BMP readers see them (Pillow, ffmpeg, ImageMagick, netpbm), round trips, bad input.
//!
//! The expected pixels of generated images come from netpbm (`ppmtoppm | pamdepth 255`), not
//! from this crate, so a scaling or ordering mistake here cannot hide behind itself.

use crate::common;

use common::{require_tool, run_cmd, stderr};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_ppm2bmp");
/// Debian's python3, which has Pillow (the one first on PATH may not).
const PYTHON: &str = "/usr/bin/python3";
/// ImageMagick's convert (another `convert` may come first on PATH).
const CONVERT: &str = "/usr/bin/convert";

/// ppm2bmp with `args`, `input` through a pipe.
pub(crate) fn ppm2bmp(args: &[&str], input: &[u8]) -> Output {
    run_cmd(Command::new(BIN).args(args), input)
}

/// ppm2bmp with `args`, `input` from a regular file (memory-mapped).
pub(crate) fn ppm2bmp_file(args: &[&str], input: &[u8]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("in.pnm");
    std::fs::write(&path, input).expect("write input");
    run_cmd(Command::new(BIN).args(args).arg(&path), b"")
}

/// The BMP for `input`, asserting success and that file and pipe input give the same bytes.
pub(crate) fn convert(args: &[&str], input: &[u8]) -> Vec<u8> {
    let piped = ppm2bmp(args, input);
    assert!(piped.status.success(), "{}", stderr(&piped));
    let mapped = ppm2bmp_file(args, input);
    assert!(mapped.status.success(), "{}", stderr(&mapped));
    assert!(
        piped.stdout == mapped.stdout,
        "pipe and file input differ for {args:?}"
    );
    piped.stdout
}

/// Deterministic pseudo-random numbers (xorshift), so failures are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A sample in 0..=maxval, with 0 and maxval themselves more likely than chance.
    fn sample(&mut self, maxval: u32) -> u32 {
        match self.next() % 8 {
            0 => 0,
            1 => maxval,
            _ => (self.next() >> 16) as u32 % (maxval + 1),
        }
    }
}

/// A generated PNM image: magic `P1`..`P6`, size, maxval (ignored for bitmaps), and whether
/// its header carries comments.
#[derive(Debug, Clone, Copy)]
struct Spec {
    magic: u8,
    width: u32,
    height: u32,
    maxval: u32,
    comments: bool,
}

impl Spec {
    fn name(&self) -> String {
        format!(
            "P{} {}x{} maxval {}{}",
            self.magic,
            self.width,
            self.height,
            self.maxval,
            if self.comments { " with comments" } else { "" }
        )
    }

    fn generate(&self, seed: u64) -> Vec<u8> {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let bitmap = self.magic == 1 || self.magic == 4;
        let maxval = if bitmap { 1 } else { self.maxval };
        let channels = if self.magic == 3 || self.magic == 6 {
            3
        } else {
            1
        };
        let mut out = Vec::new();
        if self.comments {
            write!(
                out,
                "P{}\n# made by a test\n{}\t# width\n {}\n",
                self.magic, self.width, self.height
            )
            .unwrap();
            if !bitmap {
                write!(out, "#maxval next\n{maxval}\n").unwrap();
            }
        } else {
            write!(out, "P{}\n{} {}\n", self.magic, self.width, self.height).unwrap();
            if !bitmap {
                writeln!(out, "{maxval}").unwrap();
            }
        }
        for _ in 0..self.height {
            match self.magic {
                1..=3 => {
                    for x in 0..self.width * channels {
                        let sep = if x % 7 == 6 { "\n" } else { " " };
                        write!(out, "{}{sep}", rng.sample(maxval)).unwrap();
                    }
                    out.push(b'\n');
                }
                4 => {
                    let mut row = vec![0u8; self.width.div_ceil(8) as usize];
                    for x in 0..self.width as usize {
                        if rng.sample(1) == 1 {
                            row[x / 8] |= 0x80 >> (x % 8);
                        }
                    }
                    // Junk in the padding bits: a BMP must not depend on it.
                    if self.width % 8 != 0 {
                        *row.last_mut().unwrap() |= 0xFF >> (self.width % 8);
                    }
                    out.extend_from_slice(&row);
                }
                _ => {
                    for _ in 0..self.width * channels {
                        let v = rng.sample(maxval);
                        if maxval < 256 {
                            out.push(v as u8);
                        } else {
                            out.extend_from_slice(&(v as u16).to_be_bytes());
                        }
                    }
                }
            }
        }
        out
    }
}

/// The generated set: row padding (widths 1-5), 1xN and Nx1, every kind, maxvals from 1 to
/// 65535, headers with comments.
fn specs() -> Vec<Spec> {
    let spec = |magic, width, height, maxval, comments| Spec {
        magic,
        width,
        height,
        maxval,
        comments,
    };
    let mut all = Vec::new();
    for width in 1..=5 {
        all.push(spec(6, width, 3, 255, false));
        all.push(spec(5, width, 2, 255, false));
        all.push(spec(4, width, 2, 1, false));
    }
    for (width, height) in [(1, 9), (9, 1), (17, 2)] {
        all.push(spec(6, width, height, 255, false));
        all.push(spec(4, width, height, 1, false));
        all.push(spec(1, width, height, 1, true));
    }
    for maxval in [1, 15, 255, 1000, 65535] {
        all.push(spec(6, 3, 2, maxval, false));
        all.push(spec(3, 2, 3, maxval, true));
        all.push(spec(5, 5, 2, maxval, false));
        all.push(spec(2, 3, 1, maxval, true));
    }
    all
}

/// A P6 maxval 255 image's pixels, after its header.
fn p6_pixels(ppm: &[u8]) -> Vec<u8> {
    // "P6", width, height, maxval: four whitespace-separated tokens, then one byte.
    let mut tokens = 0;
    let mut i = 0;
    while tokens < 4 {
        while ppm[i].is_ascii_whitespace() {
            i += 1;
        }
        while !ppm[i].is_ascii_whitespace() {
            i += 1;
        }
        tokens += 1;
    }
    assert!(ppm.starts_with(b"P6"), "not a P6: {:?}", &ppm[..10]);
    ppm[i + 1..].to_vec()
}

/// What the image looks like in 8-bit RGB, according to netpbm.
fn expected_rgb(pnm: &[u8]) -> Vec<u8> {
    let out = run_cmd(
        Command::new("bash").args(["-o", "pipefail", "-c", "ppmtoppm | pamdepth 255"]),
        pnm,
    );
    assert!(out.status.success(), "netpbm: {}", stderr(&out));
    p6_pixels(&out.stdout)
}

fn decode_ffmpeg(bmp: &Path) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-i"])
        .arg(bmp)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "ffmpeg: {}", stderr(&out));
    out.stdout
}

fn decode_imagemagick(bmp: &Path) -> Vec<u8> {
    let out = Command::new(CONVERT)
        .arg(bmp)
        .args(["-depth", "8", "rgb:-"])
        .output()
        .expect("convert runs");
    assert!(out.status.success(), "convert: {}", stderr(&out));
    out.stdout
}

fn decode_netpbm(bmp: &Path) -> Vec<u8> {
    let out = Command::new("bash")
        .args(["-o", "pipefail", "-c", "bmptoppm \"$0\" | ppmtoppm"])
        .arg(bmp)
        .output()
        .expect("bmptoppm runs");
    assert!(out.status.success(), "bmptoppm: {}", stderr(&out));
    p6_pixels(&out.stdout)
}

/// Pillow decodes every file in one process (starting Python per file is slow).
fn decode_pillow_all(bmps: &[PathBuf]) -> Vec<Vec<u8>> {
    let script = "import sys\nfrom PIL import Image\nfor p in sys.argv[1:]:\n    print(Image.open(p).convert('RGB').tobytes().hex())\n";
    let out = Command::new(PYTHON)
        .args(["-c", script])
        .args(bmps)
        .output()
        .expect("python runs");
    assert!(out.status.success(), "Pillow: {}", stderr(&out));
    String::from_utf8(out.stdout)
        .expect("hex")
        .lines()
        .map(|line| {
            (0..line.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&line[i..i + 2], 16).expect("hex digit"))
                .collect()
        })
        .collect()
}

/// Every generated image, converted bottom-up and top-down, in files for the decoders:
/// (description, BMP path, expected RGB).
fn converted_set(dir: &Path) -> Vec<(String, PathBuf, Vec<u8>)> {
    require_tool("ppmtoppm");
    require_tool("pamdepth");
    let mut set = Vec::new();
    for (i, spec) in specs().iter().enumerate() {
        let pnm = spec.generate(i as u64 + 1);
        let expected = expected_rgb(&pnm);
        assert_eq!(expected.len(), (spec.width * spec.height * 3) as usize);
        for (mode, args) in [("bottom-up", &[][..]), ("top-down", &["--top-down"][..])] {
            let bmp = convert(args, &pnm);
            let path = dir.join(format!("{i}-{mode}.bmp"));
            std::fs::write(&path, bmp).expect("write bmp");
            set.push((format!("{} {mode}", spec.name()), path, expected.clone()));
        }
    }
    set
}

fn check_decoder(name: &str, decode: impl Fn(&Path) -> Vec<u8>) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (what, path, expected) in converted_set(dir.path()) {
        assert!(
            decode(&path) == expected,
            "{name} sees other pixels for {what}"
        );
    }
}

#[test]
fn ffmpeg_decodes_every_generated_image_exactly() {
    require_tool("ffmpeg");
    check_decoder("ffmpeg", decode_ffmpeg);
}

#[test]
fn imagemagick_decodes_every_generated_image_exactly() {
    require_tool(CONVERT);
    check_decoder("ImageMagick", decode_imagemagick);
}

#[test]
fn netpbm_decodes_every_generated_image_exactly() {
    require_tool("bmptoppm");
    check_decoder("bmptoppm", decode_netpbm);
}

#[test]
fn pillow_decodes_every_generated_image_exactly() {
    require_tool(PYTHON);
    let dir = tempfile::tempdir().expect("tempdir");
    let set = converted_set(dir.path());
    let paths: Vec<PathBuf> = set.iter().map(|(_, p, _)| p.clone()).collect();
    let decoded = decode_pillow_all(&paths);
    assert_eq!(decoded.len(), set.len());
    for ((what, _, expected), got) in set.iter().zip(decoded) {
        assert!(&got == expected, "Pillow sees other pixels for {what}");
    }
}

#[test]
fn forced_truecolour_decodes_the_same() {
    require_tool("ffmpeg");
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, spec) in specs()
        .iter()
        .enumerate()
        .filter(|(_, s)| s.magic != 3 && s.magic != 6)
    {
        let pnm = spec.generate(100 + i as u64);
        let bmp = convert(&["--bpp", "24"], &pnm);
        assert_eq!(u16::from_le_bytes([bmp[28], bmp[29]]), 24);
        let path = dir.path().join("t.bmp");
        std::fs::write(&path, bmp).unwrap();
        assert!(
            decode_ffmpeg(&path) == expected_rgb(&pnm),
            "{} at 24 bits",
            spec.name()
        );
    }
}

#[test]
fn round_trip_through_bmptoppm_is_exact_for_8_bit() {
    require_tool("bmptoppm");
    for (width, height) in [(1, 1), (2, 5), (3, 3), (4, 1), (5, 7), (64, 3)] {
        let mut ppm = format!("P6\n{width} {height}\n255\n").into_bytes();
        let mut rng = Rng(width as u64 * 31 + height as u64);
        ppm.extend((0..width * height * 3).map(|_| rng.next() as u8));
        let bmp = convert(&[], &ppm);
        let back = run_cmd(&mut Command::new("bmptoppm"), &bmp);
        assert!(back.status.success(), "{}", stderr(&back));
        assert!(
            back.stdout == ppm,
            "{width}x{height} changed in the round trip"
        );
    }
}

#[test]
fn concatenated_images_become_concatenated_bmps_that_ffmpeg_reads() {
    require_tool("ffmpeg");
    let specs = [
        Spec {
            magic: 6,
            width: 3,
            height: 2,
            maxval: 255,
            comments: false,
        },
        Spec {
            magic: 3,
            width: 3,
            height: 2,
            maxval: 1000,
            comments: true,
        },
        Spec {
            magic: 6,
            width: 3,
            height: 2,
            maxval: 65535,
            comments: false,
        },
    ];
    let images: Vec<Vec<u8>> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| s.generate(7 + i as u64))
        .collect();
    let input = images.concat();
    let expected: Vec<u8> = images.iter().flat_map(|p| expected_rgb(p)).collect();
    for args in [&[][..], &["--top-down"][..]] {
        let bmps = convert(args, &input);
        let out = run_cmd(
            Command::new("ffmpeg").args([
                "-loglevel",
                "error",
                "-f",
                "image2pipe",
                "-c:v",
                "bmp",
                "-i",
                "-",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-",
            ]),
            &bmps,
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            out.stdout == expected,
            "ffmpeg image2pipe frames differ ({args:?})"
        );
    }
}

// ---- Exact bytes, checked by hand against the layout in bmp/header.rs's table ----

/// BITMAPFILEHEADER + BITMAPINFOHEADER, every field spelled out.
#[allow(clippy::too_many_arguments)]
fn headers(
    file_size: u32,
    offset: u32,
    width: i32,
    height: i32,
    bpp: u16,
    image_size: u32,
    colours: u32,
) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(b"BM");
    h.extend_from_slice(&file_size.to_le_bytes());
    h.extend_from_slice(&[0, 0, 0, 0]); // reserved
    h.extend_from_slice(&offset.to_le_bytes());
    h.extend_from_slice(&40u32.to_le_bytes()); // biSize
    h.extend_from_slice(&width.to_le_bytes());
    h.extend_from_slice(&height.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // planes
    h.extend_from_slice(&bpp.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // BI_RGB
    h.extend_from_slice(&image_size.to_le_bytes());
    h.extend_from_slice(&[0; 8]); // 0 pixels per metre, both ways
    h.extend_from_slice(&colours.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // all colours important
    assert_eq!(h.len(), 54);
    h
}

#[test]
fn exact_bytes_of_a_2x2_ppm_raw_and_plain() {
    // Rows of 2 pixels: 6 bytes, padded to 8. 54 + 2 x 8 = 70 bytes. Bottom row first, BGR.
    let mut expected = headers(70, 54, 2, 2, 24, 16, 0);
    expected.extend_from_slice(&[9, 8, 7, 12, 11, 10, 0, 0]); // (7,8,9) (10,11,12)
    expected.extend_from_slice(&[3, 2, 1, 6, 5, 4, 0, 0]); // (1,2,3) (4,5,6)
    let raw = b"P6\n2 2\n255\n\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c";
    assert_eq!(convert(&[], raw), expected);
    let plain = b"P3 # two by two\n2 2 255\n1 2 3  4 5 6\n7 8 9#c\n10 11 12\n";
    assert_eq!(convert(&[], plain), expected);
}

#[test]
fn exact_bytes_top_down() {
    // Negative height; rows in PNM order.
    let mut expected = headers(70, 54, 2, 2, 24, 16, 0);
    expected[22..26].copy_from_slice(&(-2i32).to_le_bytes());
    expected.extend_from_slice(&[3, 2, 1, 6, 5, 4, 0, 0]);
    expected.extend_from_slice(&[9, 8, 7, 12, 11, 10, 0, 0]);
    let raw = b"P6 2 2 255\n\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c";
    assert_eq!(convert(&["--top-down"], raw), expected);
}

#[test]
fn exact_bytes_of_a_pgm_with_grey_palette() {
    // 3 pixels, maxval 15: 0, 1 -> 17, 15 -> 255; row of 3 bytes padded to 4.
    // 54 + 256 x 4 palette = 1078 offset; + 4 = 1082.
    let mut expected = headers(1082, 1078, 3, 1, 8, 4, 256);
    for grey in 0..=255u8 {
        expected.extend_from_slice(&[grey, grey, grey, 0]);
    }
    expected.extend_from_slice(&[0, 17, 255, 0]);
    assert_eq!(convert(&[], b"P5 3 1 15\n\x00\x01\x0f"), expected);
    assert_eq!(convert(&[], b"P2 3 1 15\n0 1 15\n"), expected);
}

#[test]
fn exact_bytes_of_a_pbm_with_black_for_1() {
    // 10 pixels: 2 bytes of bits, padded to 4. Palette: 0 white, 1 black, so PBM's bits
    // are kept as they are. 54 + 8 = 62; + 2 x 4 = 70. Bits past the width are cleared.
    let mut expected = headers(70, 62, 10, 2, 1, 8, 2);
    expected.extend_from_slice(&[255, 255, 255, 0, 0, 0, 0, 0]);
    expected.extend_from_slice(&[0b0101_0101, 0b0100_0000, 0, 0]); // row 2: 0101010101
    expected.extend_from_slice(&[0b1000_0001, 0b1100_0000, 0, 0]); // row 1: 1000000111
    assert_eq!(convert(&[], b"P4 10 2\n\x81\xff\x55\x7f"), expected);
    assert_eq!(
        convert(&[], b"P1\n10 2\n1000000111\n0 1 0 1 0 1 0 1 0 1\n"),
        expected
    );
}

#[test]
fn exact_bytes_of_16_bit_samples() {
    // maxval 1000: (1000, 3, 2) -> (255, 1, 1) after rounding half up: 3 x 255 / 1000 = 0.765.
    // Big-endian samples. BGR: 1, 1, 255; one pixel padded to 4.
    let mut expected = headers(58, 54, 1, 1, 24, 4, 0);
    expected.extend_from_slice(&[1, 1, 255, 0]);
    assert_eq!(
        convert(&[], b"P6 1 1 1000\n\x03\xe8\x00\x03\x00\x02"),
        expected
    );
    assert_eq!(convert(&[], b"P3 1 1 1000\n1000 3 2\n"), expected);
}

#[test]
fn exact_bytes_of_forced_truecolour_pbm() {
    // 1 is black, 0 white; 2 pixels = 6 bytes padded to 8.
    let mut expected = headers(62, 54, 2, 1, 24, 8, 0);
    expected.extend_from_slice(&[0, 0, 0, 255, 255, 255, 0, 0]);
    assert_eq!(convert(&["--bpp", "24"], b"P1 2 1 1 0"), expected);
}

// ---- Unix manners ----

/// Peak resident memory of ppm2bmp in KiB, running `script` under /usr/bin/time.
fn peak_rss_kib(script: &str) -> u64 {
    require_tool("/usr/bin/time");
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "bash", "-o", "pipefail", "-c", script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stderr(&out).trim().lines().last().unwrap().parse().unwrap()
}

#[test]
fn memory_stays_small_from_a_file_and_top_down_from_a_pipe() {
    // A 4096 x 2048 PPM is 24 MiB, its BMP too: neither may be held whole, and the budget
    // is 16 MiB.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.ppm");
    let mut ppm = b"P6 4096 2048 255\n".to_vec();
    let mut rng = Rng(5);
    ppm.extend((0..4096 * 2048 * 3).map(|_| rng.next() as u8));
    std::fs::write(&input, ppm).unwrap();
    let input = input.display();
    let from_file = peak_rss_kib(&format!("{BIN} {input} >/dev/null"));
    assert!(from_file < 16 * 1024, "from a file: {from_file} KiB");
    // `cat` is measured too, but it is tiny; time reports the largest of the two.
    let top_down = peak_rss_kib(&format!("cat {input} | {BIN} --top-down >/dev/null"));
    assert!(top_down < 16 * 1024, "top-down from a pipe: {top_down} KiB");
    let held = peak_rss_kib(&format!("cat {input} | {BIN} >/dev/null"));
    assert!(
        held > 12 * 1024,
        "bottom-up from a pipe holds the image: {held} KiB"
    );
}
