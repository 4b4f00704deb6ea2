//! The fuzz targets' smoke run: every committed corpus file under `fuzz/corpus/<target>/`
//! goes through the same harness function as `cargo fuzz run <target>`, on stable Rust and
//! without libFuzzer, so `make test` catches a regression on any input the fuzzers kept
//! (crashes found are added to the corpus as files named `crash-*`).

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::path::Path;

/// Run `harness` on every file of one target's corpus; the corpus must not be empty.
fn run_corpus(target: &str, harness: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has no corpus files", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let outcome = std::panic::catch_unwind(|| harness(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", file.display());
    }
}

#[test]
fn packet_stream_corpus() {
    run_corpus("packet_stream", harness::packet_stream);
}

#[test]
fn descriptor_corpus() {
    run_corpus("descriptor", harness::descriptor);
}

#[test]
fn pnm_corpus() {
    run_corpus("pnm", harness::pnm);
}

#[test]
fn rawvideo_corpus() {
    run_corpus("rawvideo", harness::rawvideo);
}

#[test]
fn channel_corpus() {
    run_corpus("channel", harness::channel);
}

#[test]
fn keyed_stream_corpus() {
    run_corpus("keyed_stream", harness::keyed_stream);
}
