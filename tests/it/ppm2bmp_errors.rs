//! ppm2bmp on bad input: exit 2 and one error line naming the problem, never a panic or
//! an allocation the header asks for; whole images before a bad one are still written.

use super::ppm2bmp::{convert, ppm2bmp, ppm2bmp_file, BIN};
use crate::common;
use common::{run_cmd, stderr};
use std::process::Command;

/// Assert that ppm2bmp refuses `input` (from a pipe and from a file) with exit 2 and one
/// error line containing `needle`.
fn refuses(args: &[&str], input: &[u8], needle: &str) {
    for out in [ppm2bmp(args, input), ppm2bmp_file(args, input)] {
        let err = common::error_line("ppm2bmp", &out, &args);
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn truncated_input_is_refused() {
    refuses(
        &[],
        b"P6 2 2 255\n123456789",
        "input ends at byte 20, in row 2 of 2",
    );
    refuses(&["--top-down"], b"P6 2 2 255\n123456789", "in row 2 of 2");
    refuses(&[], b"P3 1 1 255 1 2", "in row 1 of 1");
}

#[test]
fn a_header_cut_short_is_called_truncated() {
    // "P6 2 2 255" at the end of the input used to be "expected maxval", with the maxval
    // right there: what is missing is the rest of the image.
    for (input, at) in [
        (&b"P6 2 2 255"[..], 10),
        (b"P6 2 2", 6),
        (b"P6 2 2 #a comment", 17),
        (b"P6", 2),
    ] {
        refuses(
            &[],
            input,
            &format!("PNM header: the input ends at byte {at} inside the header"),
        );
    }
}

#[test]
fn truncated_mapped_input_writes_nothing_bottom_up() {
    // From a file the raster's length is known before the first row is written.
    let out = ppm2bmp_file(&[], b"P6 2 2 255\n123456789");
    assert!(out.stdout.is_empty());
}

/// `count` copies of a `side`x`side` P6 image (its BMP rows need no padding when `side` is a
/// multiple of 4), and the size of each one's BMP.
fn good_images(count: usize, side: usize) -> (Vec<u8>, usize) {
    let mut one = format!("P6 {side} {side} 255\n").into_bytes();
    one.extend(common::bytes(3 * side * side, side as u64));
    (one.repeat(count), 54 + 3 * side * side)
}

#[test]
fn whole_images_before_a_bad_one_are_written_before_the_error() {
    // Two 1000x1000 images (3000054 bytes of BMP each) and a truncated third; and 1000 tiny
    // images, all inside one output batch, then garbage. Every mode, from a pipe and a file.
    let (big, big_bmp) = good_images(2, 1000);
    let (tiny, tiny_bmp) = good_images(1000, 4);
    for (good, bmp_len, whole, bad) in [
        (big, big_bmp, 2, &b"P6 1000 1000 255\n0123456789"[..]),
        (tiny, tiny_bmp, 1000, &b"P6 x"[..]),
    ] {
        let input = [&good[..], bad].concat();
        for args in [&[][..], &["--top-down"][..]] {
            let expected = convert(args, &good);
            assert_eq!(expected.len(), whole * bmp_len);
            for out in [ppm2bmp(args, &input), ppm2bmp_file(args, &input)] {
                let err = stderr(&out);
                assert_eq!(out.status.code(), Some(2), "{err}");
                assert_eq!(err.lines().count(), 1, "{err}");
                assert!(err.contains(&format!("image {}: ", whole + 1)), "{err}");
                assert_eq!(out.stdout.len(), expected.len(), "{args:?}: {err}");
                assert!(out.stdout == expected, "{args:?}: the BMPs differ");
            }
        }
    }
}

#[test]
fn lying_header_does_not_allocate_what_it_claims() {
    // 30000 x 30000 x 3 = 2.7 GB claimed (a BMP can hold it), 10 bytes given; run with
    // 200 MB of address space, so an allocation of the claimed size would abort instead.
    for mode in ["", "--top-down"] {
        let out = run_cmd(
            Command::new("bash").args(["-c", &format!("ulimit -v 200000; exec {BIN} {mode}")]),
            b"P6 30000 30000 255\n0123456789",
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("in row 1 of 30000"), "{err}");
    }
    // 100000 x 100000 does not fit a BMP at all: refused from the header alone.
    refuses(
        &[],
        b"P6 100000 100000 255\n0123456789",
        "32-bit size fields",
    );
}

#[test]
fn one_header_length_limit_for_files_and_pipes() {
    // A P5 1x1 header whose comment makes it `len` bytes, delimiter included.
    let pgm = |len: usize| {
        let mut image = b"P5 1 1 #".to_vec();
        image.resize(len - b"\n255\n".len(), b'c');
        image.extend_from_slice(b"\n255\n\x07");
        image
    };
    let limit = 1 << 20;
    let _ = convert(&[], &pgm(limit));
    // Just over, and well over (a file used to take any length, a pipe about 2 MiB).
    for len in [limit + 1, 3 * limit] {
        refuses(
            &[],
            &pgm(len),
            "PNM header: longer than 1048576 bytes at byte 0",
        );
    }
}

#[test]
fn maxval_out_of_range_is_refused() {
    refuses(
        &[],
        b"P6 1 1 0\n\0\0\0",
        "maxval 0 is out of range 1..=65535 at byte 7",
    );
    refuses(&[], b"P5 1 1 65536\n\0\0", "maxval 65536 is out of range");
}

#[test]
fn garbage_is_refused() {
    refuses(
        &[],
        b"GIF89a\x01\x00",
        "expected magic number P1-P6, found \"GIF89a",
    );
    refuses(
        &[],
        b"P6 abc 2 255\n",
        "expected width, found \"abc\" at byte 3",
    );
    refuses(
        &[],
        b"P2 2 1 9\n1 x\n",
        "expected a decimal sample, found \"x\" at byte 11",
    );
    refuses(&[], b"", "no PNM image");
}

#[test]
fn samples_above_maxval_are_refused() {
    refuses(
        &[],
        b"P2 2 1 100\n7 101\n",
        "sample 101 exceeds maxval 100 at byte 13",
    );
    refuses(&[], b"P3 1 1 15\n1 2 16\n", "sample 16 exceeds maxval 15");
    refuses(&[], b"P5 1 1 100\n\x65", "sample 101 exceeds maxval 100");
}

#[test]
fn trailing_garbage_after_an_image_is_refused() {
    refuses(
        &[],
        b"P5 1 1 255\n\x07junk",
        "image 2: PNM header: expected magic number",
    );
}

#[test]
fn bmp_size_overflow_is_refused() {
    // 65536 x 21846 x 3 bytes is more than 4 GiB: refused from the header alone.
    refuses(&[], b"P6 65536 21846 255\n", "32-bit size fields");
}

#[test]
fn too_small_depth_is_refused() {
    refuses(
        &["--bpp", "8"],
        b"P6 1 1 255\nabc",
        "--bpp 8 cannot hold a colour image",
    );
    common::error_line("ppm2bmp", &ppm2bmp(&["--bpp", "4"], b""), &"--bpp 4");
}
