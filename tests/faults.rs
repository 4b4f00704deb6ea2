//! I/O faults: a full disk, a reader that goes away, an input that cannot be read, a signal
//! in the middle of a stream. Each program must say what failed in one line and exit with
//! the status its man page gives; `unpktize -o FILE` must keep everything it received.

mod common;

use common::{bin, bytes, sh};
use std::path::Path;
use std::process::Command;

/// Every program with arguments that make it write something from `input`.
fn programs(dir: &Path) -> Vec<(&'static str, Vec<String>, std::path::PathBuf)> {
    let data = bytes(3 << 20, 1);
    let raw = dir.join("data.bin");
    std::fs::write(&raw, &data).unwrap();
    let packets = dir.join("data.pk");
    let out = common::run("pktize", &["--id", "3", raw.to_str().unwrap()], b"");
    std::fs::write(&packets, &out.stdout).unwrap();
    let ppm = dir.join("image.ppm");
    let mut image = b"P6\n1024 1024\n255\n".to_vec();
    image.extend_from_slice(&data[..3 << 20]);
    std::fs::write(&ppm, &image).unwrap();
    vec![
        ("pktize", vec![], raw.clone()),
        ("unpktize", vec![], packets.clone()),
        ("corrupt", vec!["--loss".into(), "1%".into()], packets),
        ("raw2ppm", vec!["-s".into(), "1024x1024".into()], raw),
        ("ppm2bmp", vec![], ppm),
    ]
}

fn quoted(args: &[String]) -> String {
    args.iter().map(|a| format!("'{a}' ")).collect()
}

#[test]
fn a_full_disk_is_one_line_and_status_2() {
    let dir = tempfile::tempdir().unwrap();
    for (program, args, input) in programs(dir.path()) {
        for (how, redirect) in [
            ("file", format!("'{}'", input.display())),
            ("pipe", String::new()),
        ] {
            let script = match how {
                "file" => format!("{program} {}{redirect} > /dev/full", quoted(&args)),
                _ => format!(
                    "cat '{}' | {program} {} > /dev/full",
                    input.display(),
                    quoted(&args)
                ),
            };
            let out = sh(&script);
            let err = common::stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{script}: {err}");
            assert_eq!(err.lines().count(), 1, "{script}: {err}");
            assert!(
                err.starts_with(&format!("{program}: error: writing")),
                "{script}: {err}"
            );
            assert!(err.contains("No space left on device"), "{script}: {err}");
        }
    }
}

#[test]
fn unpktize_output_and_report_on_a_full_disk() {
    let dir = tempfile::tempdir().unwrap();
    let programs = programs(dir.path());
    let packets = programs[1].2.display().to_string();
    let out = sh(&format!("unpktize -o /dev/full '{packets}'"));
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err,
        "unpktize: error: writing output: No space left on device (os error 28)\n"
    );
    let got = dir.path().join("got");
    let out = sh(&format!(
        "unpktize -o '{}' --report /dev/full '{packets}'",
        got.display()
    ));
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("unpktize: error: writing the report: No space left"),
        "{err}"
    );
}

#[test]
fn unpktize_writes_to_a_device_given_as_output_file() {
    // -o /dev/null, /dev/stdout: a device takes no writes at offsets and no length.
    let dir = tempfile::tempdir().unwrap();
    let programs = programs(dir.path());
    let packets = programs[1].2.display().to_string();
    let out = sh(&format!("unpktize -o /dev/null '{packets}'"));
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let out = sh(&format!(
        "unpktize -o /dev/stdout '{packets}' | cmp - '{}'",
        { programs[0].2.display() }
    ));
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
}

#[test]
fn a_reader_that_goes_away_ends_each_program_quietly() {
    let dir = tempfile::tempdir().unwrap();
    for (program, args, input) in programs(dir.path()) {
        for from_pipe in [false, true] {
            let source = if from_pipe {
                format!("cat '{}' | {program} {}", input.display(), quoted(&args))
            } else {
                format!("{program} {}'{}'", quoted(&args), input.display())
            };
            // The program's own status and stderr, whatever the rest of the pipeline did.
            let script = format!(
                "{source} 2> '{err}' | head -c 100 > /dev/null; s=(\"${{PIPESTATUS[@]}}\"); \
                 exit ${{s[-2]}}",
                err = dir.path().join("err").display()
            );
            let out = sh(&script);
            let err = std::fs::read_to_string(dir.path().join("err")).unwrap();
            assert_eq!(out.status.code(), Some(0), "{source}: {err}");
            assert_eq!(err, "", "{source}");
        }
    }
}

#[test]
fn an_input_that_cannot_be_read_is_one_line_and_status_2() {
    // A directory as standard input: open, but every read fails.
    for (program, args) in [
        ("pktize", vec!["--force"]),
        ("unpktize", vec!["--force"]),
        ("unpktize", vec!["--info"]),
        ("corrupt", vec!["--force"]),
        ("raw2ppm", vec!["-s", "4x4", "--force"]),
        ("raw2ppm", vec!["-s", "4", "--force"]),
        ("raw2ppm", vec!["-s", "4x4", "-p", "yuv420p", "--force"]),
        ("ppm2bmp", vec!["--force"]),
    ] {
        let out = Command::new(bin(program))
            .args(&args)
            .stdin(std::fs::File::open("/").unwrap())
            .output()
            .unwrap();
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{program} {args:?}: {err}");
        assert_eq!(
            err,
            format!("{program}: error: reading input: Is a directory (os error 21)\n"),
            "{program} {args:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = common::run(
        "unpktize",
        &["-o", dir.path().join("o").to_str().unwrap()],
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "empty input: {}",
        common::stderr(&out)
    );
}
