//! Outputs that are the input, or one another (issue 29, items 4 and 5): refused with one
//! line and exit status 2 before anything is opened for writing, every file as it was.
//! Before, `unpktize capture.pk -o capture.pk` truncated its mapped input (SIGBUS, exit
//! 135), and `--map X -o X` replaced the output by the map with exit 0.

use crate::common;

use common::{sh, stderr};
use std::collections::BTreeMap;
use std::path::Path;

/// Every file in `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap_or_default())
        })
        .collect()
}

#[test]
fn outputs_that_are_the_input_or_each_other_are_refused_and_nothing_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    // cap.pk: a whole capture; got and r.json: a first reception through 20% loss.
    let first = sh(&format!(
        "cd {d} && head -c 200000 /dev/urandom > f && pktize --id 7 f > cap.pk && \
         corrupt --loss 20% --seed 1 < cap.pk | unpktize -o got --report r.json"
    ));
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    std::os::unix::fs::symlink("got", dir.path().join("link")).unwrap();
    let cases = [
        // Item 4: the input is an output.
        (
            "unpktize cap.pk -o cap.pk",
            "the input and -o name the same file, cap.pk",
        ),
        (
            "unpktize cap.pk -o new --report cap.pk",
            "the input and --report",
        ),
        (
            "unpktize cap.pk -o new --map ./cap.pk",
            "the input and --map",
        ),
        ("unpktize -o cap.pk < cap.pk", "the input and -o"),
        ("unpktize cap.pk >> cap.pk", "the input and standard output"),
        (
            "corrupt cap.pk --log cap.pk > /dev/null",
            "the input and --log",
        ),
        // Item 5: two outputs are one file, existing or not yet.
        (
            "unpktize cap.pk --map X -o X",
            "-o and --map name the same file, X",
        ),
        ("unpktize cap.pk --map got -o link", "-o and --map"),
        (
            "unpktize cap.pk -o new --map M --report ./M",
            "--map and --report",
        ),
        (
            "unpktize cap.pk --report /dev/stdout | cat",
            "standard output and --report",
        ),
        (
            "unpktize cap.pk --map /dev/stdout | cat",
            "standard output and --map",
        ),
        (
            "corrupt --seed 1 cap.pk --log /dev/stdout | cat",
            "standard output and --log",
        ),
        // ... or the report being resumed, which only --report may rewrite.
        (
            "unpktize cap.pk --resume r.json -o got --map got",
            "-o and --map",
        ),
        (
            "unpktize cap.pk -o got --map r.json --resume r.json",
            "--resume and --map",
        ),
        (
            "unpktize cap.pk -o r.json --resume r.json",
            "--resume and -o",
        ),
    ];
    for (command, says) in cases {
        let before = files(dir.path());
        let out = sh(&format!("cd {d} && {command}"));
        let program = command.split_whitespace().next().unwrap();
        let line = common::error_line(program, &out, &command);
        assert!(line.contains(says), "{command}: {line}");
        assert_eq!(files(dir.path()), before, "{command} touched a file");
    }
    // The documented resume, its report rewritten in place, still works.
    let resumed = sh(&format!(
        "cd {d} && unpktize cap.pk -o got --resume r.json --report r.json && cmp got f"
    ));
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    // And one file for input and output is fine when it is not a regular file.
    let null = sh(&format!(
        "cd {d} && unpktize -o /dev/null --map /dev/null < cap.pk"
    ));
    assert_eq!(null.status.code(), Some(0), "{}", stderr(&null));
}

#[test]
fn no_program_writes_over_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let made = sh(&format!(
        "cd {d} && head -c 30000 /dev/urandom > raw && pktize --id 1 raw > pk && \
         (printf 'P6 100 100 255\\n'; cat raw) > ppm"
    ));
    assert!(made.status.success(), "{}", stderr(&made));
    let cases = [
        ("pktize", "raw", ""),
        ("corrupt", "pk", "--seed 1"),
        ("unpktize", "pk", ""),
        ("raw2ppm", "raw", "-s 100x100"),
        ("ppm2bmp", "ppm", ""),
    ];
    for (program, file, args) in cases {
        for command in [
            format!("{program} {args} {file} >> {file}"),
            format!("{program} {args} < {file} 1<> {file}"),
        ] {
            let before = files(dir.path());
            let out = sh(&format!("cd {d} && {command}"));
            let line = common::error_line(program, &out, &command);
            assert!(
                line.contains("the input and standard output name the same file"),
                "{command}: {line}"
            );
            assert_eq!(files(dir.path()), before, "{command} touched a file");
        }
    }
}
