//! The fuzz targets' smoke run: every committed corpus file under `fuzz/corpus/<target>/`
//! goes through the same harness function as `cargo fuzz run <target>`, on stable Rust and
//! without libFuzzer, so `make test` catches a regression on any input the fuzzers kept
//! (crashes found are added to the corpus as files named `crash-*`).

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
pub(crate) mod harness;

use std::path::Path;

/// A fuzz target's harness function.
type Harness = fn(&[u8]);

/// Run `harness` on every file of one target's corpus; the corpus must not be empty.
fn run_corpus(target: &str, harness: Harness) {
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
fn every_target_takes_every_file_of_its_corpus() {
    let targets: [(&str, Harness); 7] = [
        ("packet_stream", harness::packet_stream),
        ("descriptor", harness::descriptor),
        ("pnm", harness::pnm),
        ("rawvideo", harness::rawvideo),
        ("channel", harness::channel),
        ("keyed_stream", harness::keyed_stream),
        ("hostile", harness::hostile),
    ];
    for (target, harness) in targets {
        run_corpus(target, harness);
    }
    // A corpus of a new target is run too, once it has a row above.
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut found: Vec<String> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut named: Vec<&str> = targets.iter().map(|(target, _)| *target).collect();
    named.sort();
    assert_eq!(found, named, "the corpora under {}", corpus.display());
}
