//! `unpktize -o FILE --resume REPORT` (issue 19): an incomplete reception continues into
//! its file from its report, writing only what is still missing, and refuses a transfer
//! the file does not hold.

use crate::common;

use common::{bytes, sh, stderr};
use std::path::{Path, PathBuf};

/// 300 kB (293 packets of 1024 bytes) in `dir/f`, and a first reception of it through
/// 20% loss into `dir/got` with its report in `dir/r.json`.
fn first_reception(dir: &Path) -> (PathBuf, Vec<u8>) {
    let data = bytes(300_000, 11);
    let src = dir.join("f");
    std::fs::write(&src, &data).unwrap();
    let d = dir.display();
    let r = sh(&format!(
        "pktize --id 7 {d}/f | corrupt --loss 20% --seed 1 | \
         unpktize -o {d}/got --report {d}/r.json"
    ));
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    (src, data)
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The missing ranges of a report, as (offset, end).
fn missing(report: &serde_json::Value) -> Vec<(u64, u64)> {
    report["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let o = r["offset"].as_u64().unwrap();
            (o, o + r["length"].as_u64().unwrap())
        })
        .collect()
}

#[test]
fn lossy_resumes_fill_the_holes_until_the_file_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = first_reception(dir.path());
    let d = dir.path().display();
    let mut holes = missing(&report(&dir.path().join("r.json"))).len();
    assert!(holes > 10, "20% loss leaves holes");
    let mut status = None;
    for seed in 2..12 {
        let r = sh(&format!(
            "pktize --id 7 {d}/f | corrupt --loss 20% --seed {seed} | \
             unpktize -o {d}/got --resume {d}/r.json --report {d}/r.json"
        ));
        status = r.status.code();
        let now = missing(&report(&dir.path().join("r.json"))).len();
        assert!(now <= holes, "a resume never adds holes: {holes} -> {now}");
        holes = now;
        if status == Some(0) {
            break;
        }
        assert_eq!(status, Some(1), "{}", stderr(&r));
    }
    assert_eq!(status, Some(0), "whole after a few resumes");
    assert_eq!(holes, 0);
    assert_eq!(report(&dir.path().join("r.json"))["intact"], true);
    assert!(std::fs::read(dir.path().join("got")).unwrap() == data);
}

#[test]
fn a_resume_writes_only_the_missing_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = first_reception(dir.path());
    let d = dir.path().display();
    let before = missing(&report(&dir.path().join("r.json")));
    let r = sh(&format!(
        "pktize --id 7 {d}/f | unpktize -o {d}/got --resume {d}/r.json --report {d}/new.json"
    ));
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let new = report(&dir.path().join("new.json"));
    let packets = data.len().div_ceil(1024) as u64;
    let lost_packets: u64 = before.iter().map(|(s, e)| (e - s).div_ceil(1024)).sum();
    assert_eq!(new["packets"]["late_written"].as_u64(), Some(lost_packets));
    assert_eq!(
        new["packets"]["duplicate"].as_u64(),
        Some(packets - lost_packets)
    );
    assert!(std::fs::read(dir.path().join("got")).unwrap() == data);
}

#[test]
fn a_resume_into_a_file_changed_since_its_report_is_refused_untouched() {
    // Issue 29.6: a byte already present changed, far past any packet compared; the
    // resume ended with exit 0 and mixed content. The report's digest refuses it first.
    let dir = tempfile::tempdir().unwrap();
    first_reception(dir.path());
    let d = dir.path().display();
    let before = missing(&report(&dir.path().join("r.json")));
    let got = dir.path().join("got");
    let mut held = std::fs::read(&got).unwrap();
    let marked = (250_000..300_000)
        .find(|&o| !before.iter().any(|&(s, e)| s <= o && o < e))
        .unwrap();
    held[marked as usize] ^= 0xff;
    std::fs::write(&got, &held).unwrap();
    let old = std::fs::read(dir.path().join("r.json")).unwrap();
    let r = sh(&format!(
        "pktize --id 7 {d}/f | unpktize -o {d}/got --resume {d}/r.json --report {d}/r.json"
    ));
    common::exits_saying(&r, 2, "changed since the reception");
    assert!(
        std::fs::read(&got).unwrap() == held,
        "the file is left alone"
    );
    assert!(std::fs::read(dir.path().join("r.json")).unwrap() == old);
}

#[test]
fn a_resume_with_a_report_edited_is_refused() {
    // Issue 29.6: a report with a missing range taken out claimed the fill bytes there.
    let dir = tempfile::tempdir().unwrap();
    first_reception(dir.path());
    let d = dir.path().display();
    let path = dir.path().join("r.json");
    let mut r: serde_json::Value = report(&path);
    let ranges = r["ranges"].as_array_mut().unwrap();
    assert!(ranges.len() > 20);
    ranges.remove(20);
    std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
    let out = sh(&format!(
        "pktize --id 7 {d}/f | unpktize -o {d}/got --resume {d}/r.json"
    ));
    common::exits_saying(&out, 2, "changed since the reception");
}

#[test]
fn a_resume_of_a_report_of_two_transfers_is_refused_and_truncates_nothing() {
    // Issue 35.7: resuming the first of two concatenated transfers cut the file after it,
    // destroying the second's received bytes.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a"), bytes(100_000, 21)).unwrap();
    std::fs::write(dir.path().join("b"), bytes(100_000, 22)).unwrap();
    let d = dir.path().display();
    let r = sh(&format!(
        "(pktize --id 1 {d}/a; pktize --id 2 {d}/b) | corrupt --loss 10% --seed 3 | \
         unpktize -o {d}/got --report {d}/r.json"
    ));
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    let held = std::fs::read(dir.path().join("got")).unwrap();
    assert_eq!(held.len(), 200_000);
    let r = sh(&format!(
        "pktize --id 1 {d}/a | unpktize -o {d}/got --resume {d}/r.json"
    ));
    common::exits_saying(&r, 2, "2 transfers");
    assert!(std::fs::read(dir.path().join("got")).unwrap() == held);
}

/// Resume `dir/got` from `dir/r.json` with `src` sent as "f"; the file's present bytes and
/// the report must stay as they were, with one line on stderr. (A packet for a missing
/// range that comes before the first check is written: those bytes were fill.)
fn refused(dir: &Path, src: &Path, why: &str) {
    let d = dir.display();
    let (got, old) = (
        std::fs::read(dir.join("got")).unwrap(),
        std::fs::read(dir.join("r.json")).unwrap(),
    );
    let r = sh(&format!(
        "pktize --id 7 --name f {} | \
         unpktize -o {d}/got --resume {d}/r.json --report {d}/r.json",
        src.display()
    ));
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    let err = stderr(&r);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("does not hold this transfer") && err.contains(why),
        "{err}"
    );
    let holes = missing(&report(&dir.join("r.json")));
    let now = std::fs::read(dir.join("got")).unwrap();
    assert_eq!(now.len(), got.len());
    let present = |i: &usize| {
        !holes
            .iter()
            .any(|&(s, e)| s <= *i as u64 && (*i as u64) < e)
    };
    let changed = (0..got.len()).filter(present).find(|&i| now[i] != got[i]);
    assert_eq!(changed, None, "present bytes are left alone");
    assert!(
        std::fs::read(dir.join("r.json")).unwrap() == old,
        "the report too"
    );
}

#[test]
fn a_resume_against_a_file_of_other_content_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    first_reception(dir.path());
    let other = dir.path().join("other");
    std::fs::write(&other, bytes(300_000, 12)).unwrap();
    refused(dir.path(), &other, "differ");
}

#[test]
fn a_resume_of_a_transfer_of_another_length_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut data) = first_reception(dir.path());
    data.push(0);
    let longer = dir.path().join("longer");
    std::fs::write(&longer, &data).unwrap();
    refused(dir.path(), &longer, "300001 bytes long");
}

/// After a first reception, `script` (`{d}`: its directory) must exit 2 saying `needle`.
fn refused_after_a_first_reception(script: &str, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    first_reception(dir.path());
    let r = sh(&script.replace("{d}", &dir.path().display().to_string()));
    common::exits_saying(&r, 2, needle);
}

#[test]
fn a_resume_into_a_file_shorter_than_its_report_is_refused() {
    refused_after_a_first_reception(
        "truncate -s 1000 {d}/got; pktize --id 7 {d}/f | \
         unpktize -o {d}/got --resume {d}/r.json",
        "shorter than",
    );
}

#[test]
fn resume_without_an_output_file_is_a_usage_error() {
    refused_after_a_first_reception(
        "pktize --id 7 {d}/f | unpktize --resume {d}/r.json > /dev/null",
        "-o FILE",
    );
}

#[test]
fn a_reception_cut_short_resumes_with_its_tail() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(3_000_000, 13);
    std::fs::write(dir.path().join("f"), &data).unwrap();
    let d = dir.path().display();
    // From a pipe pktize learns the total only at the end (3 MB is more than it reads
    // ahead): the cut receiver does not know the end.
    let r = sh(&format!(
        "cat {d}/f | pktize --id 5 | head -c 1500000 | unpktize -o {d}/got --report {d}/r.json"
    ));
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    let first = report(&dir.path().join("r.json"));
    assert_eq!(first["transfers"][0]["end_known"], false);
    let r = sh(&format!(
        "cat {d}/f | pktize --id 5 | unpktize -o {d}/got --resume {d}/r.json --report {d}/r.json"
    ));
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    assert!(std::fs::read(dir.path().join("got")).unwrap() == data);
    assert_eq!(report(&dir.path().join("r.json"))["intact"], true);
}

#[test]
fn a_resume_given_only_another_transfer_says_so_and_keeps_the_report() {
    let dir = tempfile::tempdir().unwrap();
    first_reception(dir.path());
    let d = dir.path().display();
    let old = std::fs::read(dir.path().join("r.json")).unwrap();
    let r = sh(&format!(
        "pktize --id 8 {d}/f | unpktize -o {d}/got --resume {d}/r.json --report {d}/r.json"
    ));
    common::exits_saying(&r, 2, "resumed transfer 0x0007");
    assert!(std::fs::read(dir.path().join("r.json")).unwrap() == old);
}

#[test]
fn a_resume_with_another_file_that_shares_a_long_prefix_is_refused() {
    // Issue 29.6: only the first 16 packets on present bytes were compared.
    let dir = tempfile::tempdir().unwrap();
    let (_, mut data) = first_reception(dir.path());
    data[280_000..].iter_mut().for_each(|b| *b ^= 0x33);
    let other = dir.path().join("other");
    std::fs::write(&other, &data).unwrap();
    refused(dir.path(), &other, "differ");
}
