//! The manual (issue 7): every option that `--help` offers is in the program's man page,
//! every page has the sections a reader looks for, mandoc finds nothing to warn about, and
//! `make install` puts binaries and pages where PREFIX and DESTDIR say.

use crate::common;

use common::{bin, require_tool};
use std::path::{Path, PathBuf};
use std::process::Command;

const PROGRAMS: [&str; 5] = ["pktize", "unpktize", "corrupt", "raw2ppm", "ppm2bmp"];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A man page as a reader sees it: rendered by mandoc, overstrikes removed.
fn rendered(page: &str) -> String {
    require_tool("mandoc");
    let out = Command::new("mandoc")
        .args(["-T", "ascii"])
        .arg(repo().join("man").join(page))
        .output()
        .expect("mandoc runs");
    assert!(out.status.success(), "mandoc {page} failed");
    let mut text = String::new();
    for c in String::from_utf8_lossy(&out.stdout).chars() {
        if c == '\u{8}' {
            text.pop();
        } else {
            text.push(c);
        }
    }
    text
}

/// The long options (`--name`) that `program --help` prints.
fn long_options(program: &str) -> Vec<String> {
    let out = Command::new(bin(program)).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let mut options: Vec<String> = help
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            // Option lines start with "-x, --long" or "--long".
            let l = l
                .strip_prefix('-')
                .filter(|r| !r.starts_with('-'))
                .map(|r| r.get(3..).unwrap_or("").trim_start())
                .unwrap_or(l);
            let name: String = l
                .strip_prefix("--")?
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            Some(format!("--{name}"))
        })
        .collect();
    options.sort();
    options.dedup();
    options
}

/// Whole-word occurrence of `option` in `text` (so `--every` is not found in `--every-rows`).
fn mentions(text: &str, option: &str) -> bool {
    text.match_indices(option).any(|(at, _)| {
        let next = text[at + option.len()..].chars().next();
        !matches!(next, Some(c) if c.is_ascii_alphanumeric() || c == '-')
    })
}

#[test]
fn help_parser_finds_the_options() {
    let options = long_options("pktize");
    for o in ["--size", "--rate", "--help", "--version", "--force"] {
        assert!(options.contains(&o.to_string()), "{o} not in {options:?}");
    }
}

#[test]
fn every_long_option_in_help_is_in_the_man_page() {
    let mut missing = vec![];
    for program in PROGRAMS {
        let page = rendered(&format!("{program}.1"));
        for option in long_options(program) {
            if !mentions(&page, &option) {
                missing.push(format!("{program} {option}"));
            }
        }
    }
    assert!(missing.is_empty(), "not in the man pages: {missing:?}");
}

#[test]
fn every_page_has_the_sections_readers_look_for() {
    let mut missing = vec![];
    let pages = PROGRAMS.iter().map(|p| (format!("{p}.1"), true));
    for (page, is_program) in pages.chain([("pktize.5".to_string(), false)]) {
        let text = rendered(&page);
        let mut sections = vec!["NAME", "DESCRIPTION", "EXAMPLES", "SEE ALSO"];
        if is_program {
            sections.extend(["SYNOPSIS", "OPTIONS", "EXIT STATUS"]);
        }
        for s in sections {
            if !text.lines().any(|l| l == s) {
                missing.push(format!("{page}: {s}"));
            }
        }
    }
    assert!(missing.is_empty(), "missing sections: {missing:?}");
}

#[test]
fn examples_use_the_programs_they_document() {
    for program in PROGRAMS {
        let text = rendered(&format!("{program}.1"));
        let examples = text.split("\nEXAMPLES\n").nth(1).unwrap();
        let examples = examples.split("\nSEE ALSO\n").next().unwrap();
        assert!(
            examples.contains(&format!("{program} ")) && examples.contains('|'),
            "{program}.1: EXAMPLES should show {program} in a pipeline"
        );
    }
}

#[test]
fn mandoc_lint_is_clean() {
    require_tool("mandoc");
    let pages: Vec<PathBuf> = std::fs::read_dir(repo().join("man"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(pages.len() >= 6);
    let out = Command::new("mandoc")
        .args(["-T", "lint", "-W", "warning"])
        .args(&pages)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        common::stderr(&out)
    );
}

#[test]
fn make_install_and_uninstall_honour_prefix_and_destdir() {
    require_tool("make");
    let dest = tempfile::tempdir().unwrap();
    // The binaries cargo built for the tests stand in for the release build, and CARGO=true
    // turns the build step into a no-op, so the test does not compile anything.
    let built = bin("pktize").parent().unwrap().to_path_buf();
    let make = |target: &str| {
        common::succeeds(
            Command::new("make")
                .arg("-C")
                .arg(repo())
                .arg(target)
                .arg("CARGO=true")
                .arg(format!("RELEASE={}", built.display()))
                .arg("PREFIX=/opt/pk")
                .arg(format!("DESTDIR={}", dest.path().display())),
            &format!("make {target}"),
        );
    };
    make("install");
    let root = dest.path().join("opt/pk");
    for program in PROGRAMS {
        let installed = root.join("bin").join(program);
        let meta = std::fs::metadata(&installed).unwrap_or_else(|e| panic!("{program}: {e}"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o755, "{program} mode");
        assert!(
            std::fs::read(&installed).unwrap() == std::fs::read(bin(program)).unwrap(),
            "{program} is the built binary"
        );
        let out = Command::new(&installed).arg("--version").output().unwrap();
        assert!(out.status.success(), "installed {program} runs");
        let page = root.join("share/man/man1").join(format!("{program}.1"));
        assert_eq!(
            std::fs::read(&page).unwrap(),
            std::fs::read(repo().join("man").join(format!("{program}.1"))).unwrap()
        );
    }
    assert!(root.join("share/man/man5/pktize.5").is_file());
    make("uninstall");
    for program in PROGRAMS {
        assert!(
            !root.join("bin").join(program).exists(),
            "{program} removed"
        );
        assert!(!root.join(format!("share/man/man1/{program}.1")).exists());
    }
    assert!(!root.join("share/man/man5/pktize.5").exists());
}
