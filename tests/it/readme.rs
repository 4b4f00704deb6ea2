//! Every recipe of README.md, run as written (issue 21): the ```sh blocks are read from the
//! README itself, so a recipe edited there stays tested.
//!
//! A recipe is a paragraph of a block (lines between blank lines). Each runs in bash with
//! `set -e -o pipefail`, in a temporary directory holding the input files the recipes name
//! (photo.ppm, photo.jpg, photo.rgb, file.bin, f, in.mp4, frames.raw), with the built binaries first on
//! PATH, under a timeout. It passes when it exits 0 (or 1, "finished but damaged", when it
//! runs `corrupt`, whose loss is the point), its background jobs (a receiver started with
//! `&`) do too, no program printed an error line, and every file it writes (`> F`, `-o F`,
//! `--report F`, `--log F`, an ffmpeg output) exists and is not empty. A UDP recipe that
//! lost a datagram on a loaded machine (exit 1) is tried again, twice.
//!
//! What the harness changes, and only that: `ffplay` runs headless (`-nodisp -autoexit`),
//! port 9000 becomes a free port, and after a line that starts a receiver in the background
//! (`nc -l`, socat's `UDP-RECV`, `unpktize --udp`, ending in `&`) the next line waits until something listens
//! on that port (as the README's "start the receiver first" asks of a
//! reader). A block preceded by `<!-- recipe: skip (reason) -->` is not run; the reason is
//! required, and the skips are few (the set-up commands, `make install`).

use crate::common;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How long one recipe may take; only a hang comes near it.
const TIMEOUT_SECS: u32 = 120;

/// The README's port, replaced by a free one.
const README_PORT: &str = "9000";

const OUR_PROGRAMS: [&str; 5] = ["pktize", "corrupt", "unpktize", "raw2ppm", "ppm2bmp"];

#[derive(Debug)]
struct Recipe {
    /// 1-based line of the README where it starts.
    line: usize,
    text: String,
}

/// The recipes of `readme`, and the skipped blocks with their reasons (by line).
fn recipes(readme: &str) -> (Vec<Recipe>, Vec<(usize, String)>) {
    let mut recipes = Vec::new();
    let mut skipped = Vec::new();
    let mut skip_reason: Option<String> = None;
    let mut in_block: Option<bool> = None; // Some(skip) inside a ```sh block
    let mut paragraph: Vec<(usize, &str)> = Vec::new();
    let flush = |paragraph: &mut Vec<(usize, &str)>, recipes: &mut Vec<Recipe>| {
        let runnable = paragraph
            .iter()
            .any(|(_, l)| !l.trim_start().starts_with('#'));
        if runnable {
            recipes.push(Recipe {
                line: paragraph[0].0,
                text: paragraph
                    .iter()
                    .map(|(_, l)| *l)
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        paragraph.clear();
    };
    for (i, line) in readme.lines().enumerate() {
        let number = i + 1;
        match in_block {
            None => {
                let t = line.trim();
                if let Some(rest) = t.strip_prefix("<!-- recipe: skip") {
                    let reason = rest
                        .trim()
                        .strip_prefix('(')
                        .and_then(|r| r.strip_suffix(") -->"))
                        .unwrap_or_else(|| {
                            panic!("README.md:{number}: a skip needs a reason: <!-- recipe: skip (why) -->")
                        });
                    skip_reason = Some(reason.to_string());
                } else if t == "```sh" {
                    in_block = Some(skip_reason.is_some());
                    if let Some(reason) = skip_reason.take() {
                        skipped.push((number, reason));
                    }
                } else if !t.is_empty() {
                    skip_reason = None;
                }
            }
            Some(skip) => {
                if line.trim() == "```" {
                    if !skip {
                        flush(&mut paragraph, &mut recipes);
                    }
                    paragraph.clear();
                    in_block = None;
                } else if !skip {
                    if line.trim().is_empty() {
                        flush(&mut paragraph, &mut recipes);
                    } else {
                        paragraph.push((number, line));
                    }
                }
            }
        }
    }
    (recipes, skipped)
}

/// The input files the recipes name, made once.
fn inputs() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("file.bin"), common::bytes(256 << 10, 21)).unwrap();
        fs::write(d.join("f"), common::bytes(512 << 10, 22)).unwrap();
        let lavfi = |args: &str| {
            common::succeeds(
                Command::new("bash")
                    .args(["-c", &format!("ffmpeg -v error -nostdin -f lavfi {args}")])
                    .current_dir(d),
                &format!("ffmpeg {args}"),
            );
        };
        lavfi("-i testsrc=size=640x480 -frames:v 1 photo.ppm");
        lavfi("-i testsrc=size=640x480 -frames:v 1 photo.jpg");
        lavfi("-i testsrc=size=640x480 -frames:v 1 -f rawvideo -pix_fmt rgb24 photo.rgb");
        lavfi("-i testsrc=size=640x480:rate=10 -frames:v 3 -f rawvideo -pix_fmt rgb24 frames.raw");
        lavfi("-i testsrc=size=320x240:rate=10 -t 1 -pix_fmt yuv420p in.mp4");
        dir
    })
    .path()
}

/// The files a recipe writes: after `>`, `-o`, `--report`, `--log`, and the last word of
/// an ffmpeg command that does not write to stdout (`%03d`: its first file).
fn outputs(recipe: &str) -> Vec<String> {
    let mut files = Vec::new();
    for line in recipe.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let code = line.split(" #").next().unwrap_or("");
        let words: Vec<&str> = code.split_whitespace().collect();
        for pair in words.windows(2) {
            if [">", "-o", "--report", "--log"].contains(&pair[0]) && pair[1] != "-" {
                files.push(pair[1].to_string());
            }
        }
        for command in code.split('|') {
            let w: Vec<&str> = command.split_whitespace().collect();
            if w.first() == Some(&"ffmpeg") {
                if let Some(last) = w.last().filter(|l| **l != "-" && !l.ends_with('\\')) {
                    files.push(last.replace("%03d", "001"));
                }
            }
        }
    }
    files
}

/// A UDP port that was free a moment ago.
fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral port");
    s.local_addr().unwrap().port()
}

/// The recipe as bash runs it (see the module docs for what changes).
fn script(recipe: &str, port: u16) -> String {
    let mut s = String::from(
        "set -e -o pipefail\n\
         wait_for_udp_listener() {\n\
         python3 -c 'import socket,sys,time\n\
         for _ in range(500):\n\
         \x20   s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         \x20   try: s.bind((\"127.0.0.1\",int(sys.argv[1])))\n\
         \x20   except OSError: sys.exit(0)\n\
         \x20   s.close(); time.sleep(0.02)\n\
         sys.exit(\"no UDP listener on port \"+sys.argv[1])' \"$1\"\n\
         }\n",
    );
    let recipe = recipe
        .replace(README_PORT, &port.to_string())
        .replace("ffplay ", "ffplay -nodisp -autoexit -loglevel error ");
    let mut wait_next = false;
    for line in recipe.lines() {
        if wait_next && !line.trim_start().starts_with('#') {
            s.push_str(&format!("wait_for_udp_listener {port}\n"));
            wait_next = false;
        }
        s.push_str(line);
        s.push('\n');
        let background = line
            .split(" #")
            .next()
            .unwrap_or("")
            .trim_end()
            .ends_with('&');
        // Only a receiver started in the background is waited for: a sender started
        // first (a carousel a receiver joins late) has nothing to wait for.
        let receiver = line.contains(" -l ")
            || line.contains("UDP-RECV")
            || (line.starts_with("unpktize") && line.contains("--udp"));
        if background && receiver && recipe.contains(&port.to_string()) {
            wait_next = true;
        }
    }
    s.push_str("for job in $(jobs -p); do wait \"$job\"; done\n");
    s
}

/// Why a recipe failed, and whether exit status 1 (damaged) was all that was wrong.
struct Failed {
    damage_only: bool,
    why: String,
}

/// Run one recipe in a fresh directory holding the inputs.
fn run(recipe: &Recipe) -> Result<(), Failed> {
    let dir = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(inputs()).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let bins: PathBuf = common::bin("pktize").parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = script(&recipe.text, free_udp_port());
    let out = Command::new("timeout")
        .args(["-k", "5", &TIMEOUT_SECS.to_string(), "bash", "-c", &script])
        .env("PATH", path)
        // As after `pip install ./python`: the Python recipes import pkwire.
        .env(
            "PYTHONPATH",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("python"),
        )
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .process_group(0)
        .output()
        .expect("timeout and bash run");
    let stderr = common::stderr(&out);
    let lossy = recipe.text.contains("corrupt ");
    let status_ok = match out.status.code() {
        Some(0) => true,
        Some(1) => lossy,
        _ => false,
    };
    let mut problems = Vec::new();
    if !status_ok {
        problems.push(format!("exit status {:?}", out.status));
    }
    for line in stderr.lines() {
        if OUR_PROGRAMS
            .iter()
            .any(|p| line.starts_with(&format!("{p}: error:")))
        {
            problems.push(format!("error line: {line}"));
        }
    }
    for file in outputs(&recipe.text) {
        match fs::metadata(dir.path().join(&file)) {
            Ok(m) if m.len() > 0 => {}
            Ok(_) => problems.push(format!("{file} is empty")),
            Err(_) => problems.push(format!("{file} was not written")),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        let damage_only = problems.len() == 1 && out.status.code() == Some(1);
        Err(Failed {
            damage_only,
            why: format!(
                "README.md:{}: {}\n--- recipe:\n{}\n--- stderr:\n{stderr}",
                recipe.line,
                problems.join("; "),
                recipe.text
            ),
        })
    }
}

/// Run a recipe; one over UDP that finished with damage (a datagram the loaded kernel
/// dropped: exit 1, everything else right) gets two more tries. A hang, an error, a
/// missing file or loss every time still fails.
fn run_udp_retrying(recipe: &Recipe) -> Result<(), String> {
    let udp = recipe.text.contains(README_PORT) && !recipe.text.contains("corrupt ");
    let mut result = run(recipe);
    for _ in 0..2 {
        match &result {
            Err(failed) if udp && failed.damage_only => result = run(recipe),
            _ => break,
        }
    }
    result.map_err(|failed| failed.why)
}

#[test]
fn every_readme_recipe_runs_as_written() {
    for tool in ["ffmpeg", "ffplay", "nc", "socat", "python3", "timeout"] {
        common::require_tool(tool);
    }
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md is readable");
    let (recipes, skipped) = recipes(&readme);
    assert!(recipes.len() >= 8, "too few recipes found: {recipes:?}");
    assert!(skipped.len() <= 4, "skips are to stay rare: {skipped:?}");
    // UDP recipes share the loopback with the netcat tests: one at a time.
    let _guard = crate::netcat::one_at_a_time();
    let failures: Vec<String> = recipes
        .iter()
        .filter_map(|r| run_udp_retrying(r).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_recipe_reader_finds_paragraphs_skips_and_outputs() {
    let readme = "x\n\n<!-- recipe: skip (set-up) -->\n```sh\nmake test\n```\n\n```sh\n# a\na | b > out.ppm\n\n# only a comment\n\nnc -l 9000 | c -o got.bin &\nd --report r.json | ffmpeg -i - o-%03d.png\n\ne 9000 &\nf\n```\n";
    let (recipes, skipped) = recipes(readme);
    assert_eq!(skipped, vec![(4, "set-up".to_string())]);
    assert_eq!(recipes.len(), 3);
    assert_eq!(recipes[0].line, 9);
    assert_eq!(outputs(&recipes[0].text), ["out.ppm"]);
    assert_eq!(
        outputs(&recipes[1].text),
        ["got.bin", "r.json", "o-001.png"]
    );
    assert!(script(&recipes[0].text, 1234).contains("a | b > out.ppm\nfor job"));
    let s = script(&recipes[1].text, 1234);
    assert!(s.contains("c -o got.bin &\nwait_for_udp_listener 1234\nd --report"));
    // A sender in the background has no listener to wait for.
    assert!(script(&recipes[2].text, 1234).contains("e 1234 &\nf\n"));
}
