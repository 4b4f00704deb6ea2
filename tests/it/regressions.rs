//! Regressions for bugs that fuzzing found, each named for the behaviour it pins. The
//! inputs that found them are also kept in `fuzz/corpus/<target>/crash-*`, which
//! `tests/it/fuzz_corpus.rs` runs through the fuzz harness.

use crate::common;

use common::{data_packet, run};
use pktools::wire::{Header, WireError};

#[test]
fn a_header_whose_end_overflows_64_bits_is_invalid() {
    // Found by fuzz target packet_stream: `Header::end` overflowed (a panic in debug
    // builds, a wrapped end offset in release ones) for an offset near 2^64.
    let bytes = data_packet(9, u64::MAX - 3, None, b"0123456789");
    assert!(matches!(
        Header::parse(&bytes),
        Err(WireError::EndOverflow { .. })
    ));
    let fits = data_packet(9, u64::MAX - 10, None, b"0123456789");
    assert_eq!(Header::parse(&fits).unwrap().end(), u64::MAX);
}

#[test]
fn unpktize_skips_a_packet_whose_end_overflows() {
    let mut stream = data_packet(9, 0, None, b"first");
    stream.extend(data_packet(9, u64::MAX - 1, None, b"overflowing"));
    let out = run("unpktize", &["-v", "--force"], &stream);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    assert_eq!(out.stdout, b"first");
}

#[test]
fn raw2ppm_fills_the_image_when_skip_leaves_no_data_in_a_file() {
    // Found by fuzz target rawvideo: from a regular file whose bytes --skip passes
    // entirely, raw2ppm wrote the PPM header and no pixels (a packed format took the
    // "copied by the kernel" branch with nothing copied). From a pipe it wrote the fill.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("header-only.raw");
    std::fs::write(&path, b"0123456").unwrap();
    let args = [
        "-s", "3x2", "-p", "gray16le", "--skip", "7", "--fill", "102030",
    ];
    let from_file = run(
        "raw2ppm",
        &[&args[..], &[path.to_str().unwrap()]].concat(),
        b"",
    );
    let from_pipe = run("raw2ppm", &args, b"0123456");
    assert_eq!(
        from_file.status.code(),
        Some(1),
        "{}",
        common::stderr(&from_file)
    );
    assert_eq!(
        from_pipe.status.code(),
        Some(1),
        "{}",
        common::stderr(&from_pipe)
    );
    let header = b"P6\n3 2\n65535\n";
    assert_eq!(from_file.stdout.len(), header.len() + 3 * 2 * 6);
    assert_eq!(from_file.stdout, from_pipe.stdout);
}
