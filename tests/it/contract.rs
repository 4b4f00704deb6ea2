//! What every program shares (issue 21): --help names its options and --version the
//! program, a file error names the file, each program prints its own shell completions
//! for `make install`, none writes into a closed standard output (issue 17), none writes
//! binary data to a terminal unless told to, each ends quietly when its reader goes
//! away, and each runs with the standard output Python's `subprocess` gives (issue 29).

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
fn help_names_the_options_and_version_names_the_program() {
    let corrupt = "--loss --burst --gilbert --dup --reorder --truncate --ber --payload-only \
                   --raw --packets --block --seed --log --verbose --force";
    let options = [
        ("pktize", "--size --id --rate --verbose --force"),
        ("corrupt", corrupt),
        ("unpktize", "--fill --damaged --window --report --force"),
        ("raw2ppm", "--every"),
        ("ppm2bmp", "--bpp --top-down --force --help --version"),
    ];
    assert_eq!(options.len(), PROGRAMS.len());
    for (program, options) in options {
        let help = run_cmd(Command::new(bin(program)).arg("--help"), b"");
        assert!(help.status.success(), "{program} --help");
        let help = String::from_utf8(help.stdout).unwrap();
        for option in options.split_whitespace() {
            assert!(help.contains(option), "{program} --help lacks {option}");
        }
        let version = run_cmd(Command::new(bin(program)).arg("--version"), b"");
        assert!(version.status.success(), "{program} --version");
        let version = String::from_utf8(version.stdout).unwrap();
        assert!(version.starts_with(&format!("{program} ")), "{version}");
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

/// Run `program arguments` (a shell fragment, redirections allowed) under `script`, so that
/// its standard output is a terminal; returns what the terminal showed and the status.
fn on_a_terminal(program: &str, arguments: &str) -> std::process::Output {
    common::sh(&format!(
        "script -qec '{} {arguments}' /dev/null",
        bin(program).display()
    ))
}

#[test]
fn binary_data_is_not_written_to_a_terminal_unless_asked_for() {
    common::require_tool("script");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    std::fs::write(dir.path().join("a.ppm"), b"P6 1 1 255\nabc").unwrap();
    let (ppm, file) = (format!("{d}/a.ppm"), format!("-o {d}/x < /dev/null"));
    let refused = [
        ("pktize", "< /dev/null"),
        ("corrupt", "--raw < /dev/null"),
        ("unpktize", "< /dev/null"),
        ("raw2ppm", "-s 1x1 < /dev/null"),
        ("ppm2bmp", &ppm),
    ];
    assert_eq!(refused.len(), PROGRAMS.len());
    for (program, arguments) in refused {
        let out = on_a_terminal(program, arguments);
        let text = String::from_utf8_lossy(&out.stdout);
        let error = format!("{program}: error: refusing to write binary data to a terminal");
        assert!(text.contains(&error), "{program} {arguments}: {text}");
        assert_eq!(out.status.code(), Some(2), "{program} {arguments}: {text}");
    }
    // Forced, or into a file: not refused (unpktize then finds no packets in no input).
    let allowed = [
        ("pktize", "--force < /dev/null", Some(0)),
        ("corrupt", "--raw --force < /dev/null", Some(0)),
        ("unpktize", &file, None),
    ];
    for (program, arguments, status) in allowed {
        let out = on_a_terminal(program, arguments);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("refusing"), "{program} {arguments}: {text}");
        if status.is_some() {
            assert_eq!(out.status.code(), status, "{program} {arguments}: {text}");
        }
    }
}

#[test]
fn a_reader_that_goes_away_is_a_quiet_success() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::write(&big, common::bytes(20 << 20, 1)).unwrap();
    // corrupt's input: 20000 packets of 1000 bytes.
    let packets = dir.path().join("big.pk");
    let data = common::bytes(20_000 * 1000, 20_000);
    let stream = common::run(
        "pktize",
        &["-s", "1000", "--id", "1", "--describe-every", "0"],
        &data,
    );
    std::fs::write(&packets, stream.stdout).unwrap();
    let ppm = dir.path().join("big.ppm");
    let mut image = b"P6 1024 1024 255\n".to_vec();
    image.resize(image.len() + 1024 * 1024 * 3, 0x55);
    std::fs::write(&ppm, image).unwrap();
    // Each pipeline ends in the program under test, whose reader `head` leaves after 10
    // bytes: its own status must be 0, and nothing may be said.
    let sources = [
        "head -c 50000000 /dev/zero | pktize".to_string(),
        format!("pktize {}", big.display()),
        "head -c 30000000 /dev/zero | pktize | unpktize".into(),
        format!("corrupt --ber 1e-5 --seed 1 < {}", packets.display()),
        format!("corrupt --raw --ber 1e-5 --seed 1 < {}", packets.display()),
        "head -c 30000000 /dev/zero | raw2ppm -s 100x100 --frames".into(),
        format!("ppm2bmp {}", ppm.display()),
    ];
    for source in sources {
        let stage = source.matches(" | ").count();
        let out = common::sh(&format!(
            "{source} | head -c 10 > /dev/null; echo \"${{PIPESTATUS[{stage}]}}\""
        ));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "{source}");
        assert_eq!(common::stderr(&out), "", "{source}");
    }
}

/// Runs the jobs in the JSON file `argv[1]` from Python's `subprocess`, each with stdin
/// the file `stdin` and stdout as `mode` says: `devnull` (`subprocess.DEVNULL`, /dev/null
/// opened read-write, as service managers hand it over too), `socket` (one end of a
/// stream socket pair, as socat's EXEC gives), `seqpacket` or `dgram` (one end of a
/// `SOCK_SEQPACKET` or `SOCK_DGRAM` socket pair: each write a message). What a socket
/// carries is read here into the file `out`, and the length of each message into
/// `out.sizes` (JSON). A datagram socket has no end of stream: once the program has
/// exited, what it sent is all queued, and read until none is left. Each job's stderr goes
/// to the file `err`; the exit statuses are printed as JSON. One Python for all: its start
/// is the slow part.
const PYTHON_RUNNER: &str = r#"
import json, select, socket, subprocess, sys
KINDS = {"socket": socket.SOCK_STREAM, "seqpacket": socket.SOCK_SEQPACKET, "dgram": socket.SOCK_DGRAM}
statuses = []
for job in json.load(open(sys.argv[1])):
    with open(job["stdin"], "rb") as stdin, open(job["err"], "wb") as err:
        if job["mode"] == "devnull":
            p = subprocess.run(job["cmd"], stdin=stdin, stdout=subprocess.DEVNULL, stderr=err)
            statuses.append(p.returncode)
            continue
        ours, theirs = socket.socketpair(socket.AF_UNIX, KINDS[job["mode"]])
        p = subprocess.Popen(job["cmd"], stdin=stdin, stdout=theirs, stderr=err)
        theirs.close()
        sizes = []
        with open(job["out"], "wb") as out:
            while True:
                if job["mode"] == "dgram" and not select.select([ours], [], [], 0.05)[0]:
                    if p.poll() is None:
                        continue
                    ours.setblocking(False)
                    try:
                        data = ours.recv(1 << 17)
                    except BlockingIOError:
                        break
                else:
                    data = ours.recv(1 << 17)
                if not data:
                    break
                sizes.append(len(data))
                out.write(data)
        with open(job["out"] + ".sizes", "w") as f:
            json.dump(sizes, f)
        statuses.append(p.wait())
print(json.dumps(statuses))
"#;

#[test]
fn every_program_runs_from_python_with_stdout_devnull_or_a_socket() {
    // Issue 29, item 1: /dev/null opened read-write was taken for a closed stdout. Item 2
    // and its follow-up: on a datagram or sequenced-packet socket pktize and corrupt send
    // one packet per message; unpktize, raw2ppm and ppm2bmp failed with EMSGSIZE once
    // their output passed the socket's buffer (about 200 KB), and now send their byte
    // stream in messages of at most 65,507 bytes. Every output here is larger than that.
    common::require_tool("python3");
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let data = common::bytes(400_000, 29);
    let raw = file("data", &data);
    let packets = common::run("pktize", &["--id", "29"], &data).stdout;
    let pk = file("data.pk", &packets);
    let mut ppm = b"P6 300 300 255\n".to_vec();
    ppm.extend_from_slice(&common::bytes(270_000, 30));
    let image = file("image.ppm", &ppm);
    let cases: [(&str, &[&str], &std::path::Path); 5] = [
        ("pktize", &["--id", "29"], &raw),
        ("corrupt", &["--loss", "10%", "--seed", "29"], &pk),
        ("unpktize", &[], &pk),
        ("raw2ppm", &["-s", "200x600"], &raw),
        ("ppm2bmp", &[], &image),
    ];
    assert_eq!(cases.len(), PROGRAMS.len());
    let modes = ["devnull", "socket", "seqpacket", "dgram"];
    let mut jobs = vec![];
    for (program, args, input) in &cases {
        for mode in modes {
            let mut cmd = vec![bin(program).display().to_string()];
            cmd.extend(args.iter().map(|a| a.to_string()));
            let name = dir.path().join(format!("{program}.{mode}"));
            jobs.push(serde_json::json!({
                "mode": mode,
                "stdin": input,
                "cmd": cmd,
                "out": name.with_extension(format!("{mode}.out")),
                "err": name.with_extension(format!("{mode}.err")),
            }));
        }
    }
    let job_file = file(
        "jobs.json",
        serde_json::to_string(&jobs).unwrap().as_bytes(),
    );
    let script = file("runner.py", PYTHON_RUNNER.as_bytes());
    let ran = Command::new("python3")
        .arg(&script)
        .arg(&job_file)
        .output()
        .unwrap();
    assert!(ran.status.success(), "{}", common::stderr(&ran));
    let statuses: Vec<i32> = serde_json::from_slice(&ran.stdout).unwrap();
    for (n, (program, args, input)) in cases.iter().enumerate() {
        // Stdin the same file as Python gives, stdout a pipe.
        let through_pipe = Command::new(bin(program))
            .args(*args)
            .stdin(std::fs::File::open(input).unwrap())
            .output()
            .unwrap();
        let status = through_pipe.status.code();
        assert!(
            matches!(status, Some(0 | 1)),
            "{program}: {}",
            common::stderr(&through_pipe)
        );
        for (m, mode) in modes.iter().enumerate() {
            let what = format!("{program} with stdout {mode}");
            let name = dir.path().join(format!("{program}.{mode}"));
            let err = std::fs::read(name.with_extension(format!("{mode}.err"))).unwrap();
            let err = String::from_utf8_lossy(&err);
            assert_eq!(Some(statuses[n * modes.len() + m]), status, "{what}: {err}");
            assert_eq!(err, common::stderr(&through_pipe), "{what}");
            if *mode == "devnull" {
                continue;
            }
            let out = std::fs::read(name.with_extension(format!("{mode}.out"))).unwrap();
            assert!(out == through_pipe.stdout, "{what}: not what a pipe gets");
            assert!(
                out.len() > 200_000,
                "{what}: a larger output than a socket buffer"
            );
            let sizes = std::fs::read(name.with_extension(format!("{mode}.out.sizes"))).unwrap();
            let sizes: Vec<usize> = serde_json::from_slice(&sizes).unwrap();
            match (*mode, *program) {
                ("socket", _) => {}
                (_, "pktize" | "corrupt") => {
                    // One packet per message: each message is the next packet whole.
                    let packets: Vec<usize> = common::split_packets(&out)
                        .iter()
                        .map(|p| p.len())
                        .collect();
                    assert_eq!(sizes, packets, "{what}: not one packet per message");
                }
                _ => assert!(
                    sizes.iter().all(|&n| n <= 65_507) && sizes.len() > 3,
                    "{what}: messages of {sizes:?} bytes"
                ),
            }
        }
    }
}

#[test]
fn no_program_writes_over_its_input() {
    // Issue 29, item 4: an output that is the input destroys it (a mapped one: SIGBUS).
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let made = common::sh(&format!(
        "cd {d} && head -c 30000 /dev/urandom > raw && pktize --id 1 raw > pk && \
         (printf 'P6 100 100 255\\n'; cat raw) > ppm"
    ));
    assert!(made.status.success(), "{}", common::stderr(&made));
    let cases = [
        ("pktize", "raw", ""),
        ("corrupt", "pk", "--seed 1"),
        ("unpktize", "pk", ""),
        ("raw2ppm", "raw", "-s 100x100"),
        ("ppm2bmp", "ppm", ""),
    ];
    assert_eq!(cases.len(), PROGRAMS.len());
    for (program, file, args) in cases {
        for command in [
            format!("{program} {args} {file} >> {file}"),
            format!("{program} {args} < {file} 1<> {file}"),
        ] {
            let before = crate::same_file::files(dir.path());
            let out = common::sh(&format!("cd {d} && {command}"));
            let line = common::error_line(program, &out, &command);
            assert!(
                line.contains("the input and standard output name the same file"),
                "{command}: {line}"
            );
            assert_eq!(
                crate::same_file::files(dir.path()),
                before,
                "{command} touched a file"
            );
        }
    }
}
