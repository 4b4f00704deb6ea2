//! What every program shares (issue 21): a file error names the file, each program
//! prints its own shell completions for `make install`, and none writes into a closed
//! standard output (issue 17).

use crate::common;

use common::{bin, run_cmd};
use std::process::Command;

const PROGRAMS: [&str; 5] = ["pktize", "corrupt", "unpktize", "raw2ppm", "ppm2bmp"];

/// Arguments each program needs besides its input.
fn required_args(program: &str) -> &'static [&'static str] {
    match program {
        "raw2ppm" => &["-s", "2x2"],
        _ => &[],
    }
}

#[test]
fn a_directory_as_input_is_refused_by_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photos");
    std::fs::create_dir(&path).unwrap();
    for program in PROGRAMS {
        let out = run_cmd(
            Command::new(bin(program))
                .args(required_args(program))
                .arg(&path),
            b"",
        );
        assert_eq!(out.status.code(), Some(2), "{program}");
        let err = common::stderr(&out);
        assert_eq!(
            err.trim_end(),
            format!(
                "{program}: error: {}: is a directory, not a file",
                path.display()
            ),
            "{program}"
        );
    }
}

#[test]
fn a_missing_file_is_named() {
    for program in PROGRAMS {
        let out = run_cmd(
            Command::new(bin(program))
                .args(required_args(program))
                .arg("/nonexistent/in.pk"),
            b"",
        );
        assert_eq!(out.status.code(), Some(2), "{program}");
        let err = common::stderr(&out);
        assert!(
            err.starts_with(&format!("{program}: error: /nonexistent/in.pk: ")),
            "{err}"
        );
    }
}

#[test]
fn every_program_prints_completions_that_know_its_options() {
    for program in PROGRAMS {
        let help = run_cmd(Command::new(bin(program)).arg("--help"), b"");
        let help = String::from_utf8_lossy(&help.stdout).into_owned();
        // The options a line of --help begins with: "  -s, --size <SIZE>  ...".
        let options: Vec<&str> = help
            .lines()
            .filter(|l| l.trim_start().starts_with('-'))
            .flat_map(|l| {
                l.split_whitespace()
                    .map(|w| w.trim_end_matches(','))
                    // `--interleave[=<SPAN>]`: the option's name ends at its value.
                    .map(|w| w.split(['[', '=']).next().unwrap_or(w))
                    .take_while(|w| w.starts_with('-'))
            })
            // Option names only, not a wrapped line of help that starts with one.
            .filter(|w| {
                w.starts_with("--")
                    && w.len() > 2
                    && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            .collect();
        assert!(
            options.len() > 2,
            "{program}: options in --help: {options:?}"
        );
        for shell in ["bash", "zsh", "fish"] {
            let out = run_cmd(
                Command::new(bin(program)).args(["--generate-completions", shell]),
                b"",
            );
            assert!(
                out.status.success(),
                "{program} {shell}: {}",
                common::stderr(&out)
            );
            let script = String::from_utf8_lossy(&out.stdout);
            for option in &options {
                let bare = option.trim_start_matches('-');
                assert!(script.contains(bare), "{program} {shell}: no {option}");
            }
        }
        let bash = run_cmd(
            Command::new(bin(program)).args(["--generate-completions", "bash"]),
            b"",
        );
        assert!(String::from_utf8_lossy(&bash.stdout).contains(&format!("complete -F _{program}")));
    }
    let bad = run_cmd(
        Command::new(bin("pktize")).args(["--generate-completions", "tcsh"]),
        b"",
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        common::stderr(&bad).starts_with("pktize: error: --generate-completions: expected bash")
    );
}

#[test]
fn a_closed_standard_output_is_refused_not_written_into_the_void() {
    // Rust's runtime opens /dev/null read-write on a closed descriptor 1, so without a check
    // every write "succeeds". A shell's >/dev/null (write-only) is still a good output.
    let cases = [
        ("pktize", "printf hello | pktize"),
        ("corrupt", "printf hello | pktize | corrupt --seed 1"),
        ("unpktize", "printf hello | pktize | unpktize"),
        ("raw2ppm", "head -c 12 /dev/zero | raw2ppm -s 2x2"),
        ("ppm2bmp", "printf 'P5 1 1 255\\n\\0' | ppm2bmp"),
    ];
    assert_eq!(cases.len(), PROGRAMS.len());
    for (program, pipeline) in cases {
        let ok = common::sh(&format!("{pipeline} >/dev/null"));
        assert!(ok.status.success(), "{program}: {}", common::stderr(&ok));
        let out = common::sh(&format!("{pipeline} >&-"));
        assert_eq!(out.status.code(), Some(2), "{program}");
        assert_eq!(
            common::stderr(&out).trim_end(),
            format!("{program}: error: standard output is closed"),
        );
    }
}
