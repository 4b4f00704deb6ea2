//! Regressions for bugs that fuzzing found, each named for the behaviour it pins. The
//! inputs that found them are also kept in `fuzz/corpus/<target>/crash-*`, which
//! `tests/fuzz_corpus.rs` runs through the fuzz harness.

mod common;

use common::run;
use pktools::wire::{Header, Kind, WireError, HEADER_LEN};

fn header_bytes(offset: u64, payload: &[u8], total: Option<u64>) -> Vec<u8> {
    let h = Header {
        kind: Kind::Data,
        last: false,
        payload_len: payload.len() as u16,
        transfer_id: 9,
        seq: 1,
        offset,
        total_len: total,
        payload_crc: Header::crc_of(payload),
    };
    let mut bytes = [0; HEADER_LEN];
    h.encode(&mut bytes);
    let mut v = bytes.to_vec();
    v.extend_from_slice(payload);
    v
}

#[test]
fn a_header_whose_end_overflows_64_bits_is_invalid() {
    // Found by fuzz target packet_stream: `Header::end` overflowed (a panic in debug
    // builds, a wrapped end offset in release ones) for an offset near 2^64.
    let bytes = header_bytes(u64::MAX - 3, b"0123456789", None);
    assert!(matches!(
        Header::parse(&bytes),
        Err(WireError::EndOverflow { .. })
    ));
    let fits = header_bytes(u64::MAX - 10, b"0123456789", None);
    assert_eq!(Header::parse(&fits).unwrap().end(), u64::MAX);
}

#[test]
fn unpktize_skips_a_packet_whose_end_overflows() {
    let mut stream = header_bytes(0, b"first", None);
    stream.extend(header_bytes(u64::MAX - 1, b"overflowing", None));
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
