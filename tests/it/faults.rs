//! I/O faults: a full disk, a reader that goes away, an input that cannot be read, a signal
//! in the middle of a stream. Each program must say what failed in one line and exit with
//! the status its man page gives; `unpktize -o FILE` must keep everything it received.

use crate::common;

use common::{bin, bytes, sh};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// 3 MiB of data in `dir`, and its packets: the files (data, packets).
fn data_and_packets(dir: &Path) -> (PathBuf, PathBuf) {
    let raw = dir.join("data.bin");
    std::fs::write(&raw, bytes(3 << 20, 1)).unwrap();
    let packets = dir.join("data.pk");
    let out = common::run("pktize", &["--id", "3", raw.to_str().unwrap()], b"");
    std::fs::write(&packets, &out.stdout).unwrap();
    (raw, packets)
}

/// Every program with arguments that make it write something from `input`.
fn programs(dir: &Path) -> Vec<(&'static str, Vec<String>, PathBuf)> {
    let (raw, packets) = data_and_packets(dir);
    let ppm = dir.join("image.ppm");
    let mut image = b"P6\n1024 1024\n255\n".to_vec();
    image.extend_from_slice(&bytes(3 << 20, 1));
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
    let packets = data_and_packets(dir.path()).1;
    let out = sh(&format!("unpktize -o /dev/full '{}'", packets.display()));
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err,
        "unpktize: error: writing output: No space left on device (os error 28)\n"
    );
    let got = dir.path().join("got");
    let out = sh(&format!(
        "unpktize -o '{}' --report /dev/full '{}'",
        got.display(),
        packets.display()
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
    let (raw, packets) = data_and_packets(dir.path());
    let (raw, packets) = (raw.display(), packets.display());
    let out = sh(&format!("unpktize -o /dev/null '{packets}'"));
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let out = sh(&format!(
        "unpktize -o /dev/stdout '{packets}' | cmp - '{raw}'"
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
        Some(2),
        "empty input: {}",
        common::stderr(&out)
    );
}

/// Start `unpktize args` reading a pipe, send it `stream`, wait until it has read all of
/// it, send `signal`, and return its status and stdout. The pipe stays open, as a network
/// receiver's would.
fn interrupt_unpktize(
    args: &[&str],
    stream: &[u8],
    signal: i32,
) -> (std::process::ExitStatus, Vec<u8>) {
    let mut child = common::spawn("unpktize", args);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(stream).unwrap();
    // Wait until the pipe is empty: unpktize has read (so its handlers are installed).
    let started = Instant::now();
    loop {
        let mut unread: libc::c_int = 0;
        // SAFETY: FIONREAD on a pipe descriptor we own writes one int.
        let rc = unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&stdin),
                libc::FIONREAD,
                &mut unread,
            )
        };
        assert_eq!(rc, 0);
        if unread == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "unpktize does not read"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Read is not placed: wait until it is blocked reading again, everything taken.
    common::wait_until(
        "unpktize blocked reading its input",
        Duration::from_secs(20),
        || common::blocked_reading(child.id(), 0),
    );
    // SAFETY: signals our own child, not yet reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    (out.status, out.stdout)
}

#[test]
fn a_signal_leaves_unpktize_output_file_with_everything_received() {
    let data = bytes(400_000, 5);
    let packets = common::packetize(&data, 1000);
    // The first 150 packets, in order, and packet 200: not enough for unpktize's 1 MiB
    // output buffer to have been written on its own.
    let mut stream: Vec<u8> = packets[..150].concat();
    stream.extend_from_slice(&packets[200]);
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let dir = tempfile::tempdir().unwrap();
        let got = dir.path().join("got");
        let report = dir.path().join("report.json");
        let args = [
            "-o",
            got.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ];
        let (status, _) = interrupt_unpktize(&args, &stream, signal);
        assert_eq!(
            status.signal(),
            Some(signal),
            "dies of the signal: {status:?}"
        );
        let file = std::fs::read(&got).unwrap();
        assert_eq!(
            file.len(),
            data.len(),
            "sized from the packets' total length"
        );
        assert!(file[..150_000] == data[..150_000], "the first 150 packets");
        assert!(
            file[200_000..201_000] == data[200_000..201_000],
            "packet 200"
        );
        assert!(
            file[150_000..200_000].iter().all(|&b| b == 0),
            "the gap is fill"
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap())
                .expect("the report is complete JSON");
        assert_eq!(json["packets"]["intact"], 151, "{json}");
    }
}

#[test]
fn a_signal_leaves_unpktize_stdout_with_everything_received() {
    let data = bytes(100_000, 6);
    let packets = common::packetize(&data, 1000);
    let stream: Vec<u8> = packets[..40].concat();
    let (status, stdout) = interrupt_unpktize(&[], &stream, libc::SIGINT);
    assert_eq!(status.signal(), Some(libc::SIGINT));
    // The transfer's stated length is owed as fill after what arrived.
    assert_eq!(stdout.len(), data.len());
    assert!(stdout[..40_000] == data[..40_000]);
}

/// Run `script` in a mount namespace of its own (as root, else as root of a user
/// namespace of our own), where it may mount a small tmpfs that goes away with it.
fn in_mount_namespace(script: &str) -> std::process::Output {
    common::require_tool("unshare");
    let quoted = format!("'{}'", script.replace('\'', r"'\''"));
    let root = unsafe { libc::geteuid() } == 0;
    let flags = if root { "-m" } else { "-rm" };
    sh(&format!("unshare {flags} bash -c {quoted}"))
}

/// In `d`: data.bin (3 MiB of `seed`), whole.pk (`pktize PKTIZE data.bin`), lossy.pk
/// (that through `corrupt CORRUPT`) and an empty disk/ for a small tmpfs.
fn full_disk_fixture(d: &Path, seed: u64, pktize: &[&str], corrupt: &[&str]) {
    let data = bytes(3 << 20, seed);
    std::fs::write(d.join("data.bin"), &data).unwrap();
    let input = d.join("data.bin");
    let args: Vec<&str> = pktize
        .iter()
        .copied()
        .chain([input.to_str().unwrap()])
        .collect();
    let whole = common::run("pktize", &args, b"");
    std::fs::write(d.join("whole.pk"), &whole.stdout).unwrap();
    let lossy = common::run("corrupt", corrupt, &whole.stdout);
    std::fs::write(d.join("lossy.pk"), &lossy.stdout).unwrap();
    std::fs::create_dir(d.join("disk")).unwrap();
}

#[test]
fn a_full_disk_leaves_a_finished_report_to_resume_from() {
    // Issue 35.11: a full disk on -o ended without a report (or an unfinished one), so the
    // reception could not be resumed. On a 4 MiB tmpfs a 3.5 MiB file leaves 512 KiB for
    // the output and the report beside it: the reception stops with the real cause, its
    // report says what the file holds, and once the filler is gone a resume ends whole.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    full_disk_fixture(
        d,
        3511,
        &["--id", "3511"],
        &["--loss", "5%", "--seed", "11"],
    );
    let script = format!(
        r#"
cd '{d}'
mount -t tmpfs -o size=4m none disk || exit 99
head -c $((3584 << 10)) /dev/zero > disk/filler
unpktize -o disk/out --report disk/r.json lossy.pk 2> err1
echo $? > rc1
ls -a disk > listing
cp disk/r.json report1.json
rm disk/filler
unpktize -o disk/out --resume disk/r.json --report disk/r.json whole.pk 2> err2
echo $? > rc2
cmp -s disk/out data.bin && echo same > cmp
"#,
        d = d.display()
    );
    let out = in_mount_namespace(&script);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let read = |name: &str| std::fs::read_to_string(d.join(name)).unwrap_or_default();
    assert_eq!(read("rc1").trim(), "2", "{}", read("err1"));
    assert_eq!(
        read("err1"),
        "unpktize: error: writing output: No space left on device (os error 28)\n"
    );
    // The report is in place, whole, and nothing else is left beside it.
    assert_eq!(read("listing"), ".\n..\nfiller\nout\nr.json\n");
    let json: serde_json::Value = serde_json::from_str(&read("report1.json")).unwrap();
    assert_eq!(json["intact"], false);
    assert!(json["digest"].is_string(), "sealed for a resume");
    let lost = json["bytes"]["lost"].as_u64().unwrap();
    assert!(lost > 2 << 20, "what did not fit is lost: {lost} bytes");
    assert_eq!(read("rc2").trim(), "0", "{}", read("err2"));
    assert_eq!(read("cmp").trim(), "same", "resumed whole");
}

#[test]
fn a_resume_on_a_full_disk_leaves_a_report_that_matches_the_file() {
    // Issue 35 (after 35.11): a resume whose disk was full wrote into the file, then could
    // not write its report; the old report no longer matched the file and no resume could
    // go on. Full before the resume: it stops before writing, both files as they were.
    // Filling up during the resume: its report describes what is on disk. Once there is
    // room, a resume ends whole. 16 KiB packets leave holes of whole pages, that take
    // room to fill.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    full_disk_fixture(
        d,
        3512,
        &["-s", "16384", "--id", "3512"],
        &["--loss", "30%", "--seed", "12"],
    );
    let script = format!(
        r#"
cd '{d}'
mount -t tmpfs -o size=4m none disk || exit 99
unpktize -o disk/out --report disk/r.json lossy.pk 2> err1
echo $? > rc1
head -c $((4 << 20)) /dev/zero > disk/filler 2> /dev/null
cp disk/out out.before; cp disk/r.json r.before
unpktize -o disk/out --resume disk/r.json --report disk/r.json whole.pk 2> err2
echo $? > rc2
cmp -s disk/out out.before && cmp -s disk/r.json r.before && echo same > untouched
ls -a disk > listing
truncate -s -600K disk/filler
unpktize -o disk/out --resume disk/r.json --report disk/r.json whole.pk 2> err3
echo $? > rc3
cp disk/r.json report3.json
rm disk/filler
unpktize -o disk/out --resume disk/r.json --report disk/r.json whole.pk 2> err4
echo $? > rc4
cmp -s disk/out data.bin && echo same > cmp
"#,
        d = d.display()
    );
    let out = in_mount_namespace(&script);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let read = |name: &str| std::fs::read_to_string(d.join(name)).unwrap_or_default();
    assert_eq!(read("rc1").trim(), "1", "{}", read("err1"));
    assert_eq!(read("rc2").trim(), "2", "{}", read("err2"));
    assert_eq!(
        read("err2"),
        "unpktize: error: writing the report: No space left on device (os error 28)\n"
    );
    assert_eq!(read("untouched").trim(), "same", "nothing written");
    assert_eq!(read("listing"), ".\n..\nfiller\nout\nr.json\n");
    assert_eq!(read("rc3").trim(), "2", "{}", read("err3"));
    assert_eq!(
        read("err3"),
        "unpktize: error: writing output: No space left on device (os error 28)\n"
    );
    let json: serde_json::Value = serde_json::from_str(&read("report3.json")).unwrap();
    assert_eq!(json["intact"], false);
    assert!(json["digest"].is_string(), "sealed for a resume");
    let before: serde_json::Value = serde_json::from_str(&read("r.before")).unwrap();
    let (lost, lost_before) = (&json["bytes"]["lost"], &before["bytes"]["lost"]);
    assert!(
        lost.as_u64() < lost_before.as_u64(),
        "the resume wrote part: {lost} of {lost_before} still lost"
    );
    assert_eq!(read("rc4").trim(), "0", "{}", read("err4"));
    assert_eq!(read("cmp").trim(), "same", "resumed whole");
}

#[test]
fn an_input_that_fails_midway_leaves_the_report_of_what_arrived() {
    // Issue 35: every exit path leaves a finished report. A TCP connection reset while
    // unpktize reads it (a real read error, ECONNRESET) ended without one, so what had
    // arrived could not be resumed from.
    common::require_tool("python3");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = bytes(2 << 20, 3513);
    std::fs::write(d.join("data.bin"), &data).unwrap();
    let whole = common::run(
        "pktize",
        &["--id", "3513", d.join("data.bin").to_str().unwrap()],
        b"",
    );
    std::fs::write(d.join("whole.pk"), &whole.stdout).unwrap();
    let script = r#"
import socket, struct, subprocess, sys
unpktize, stream, out, report = sys.argv[1:5]
data = open(stream, 'rb').read()
listener = socket.socket()
listener.bind(('127.0.0.1', 0))
listener.listen(1)
client = socket.create_connection(listener.getsockname())
server, _ = listener.accept()
p = subprocess.Popen([unpktize, '-o', out, '--report', report], stdin=server,
                     stderr=subprocess.PIPE)
server.close()
client.sendall(data[:len(data) // 2])
# A reset, not an end: the reader gets ECONNRESET.
client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
client.close()
sys.stderr.write(p.stderr.read().decode())
sys.exit(p.wait())
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(bin("unpktize"))
        .arg(d.join("whole.pk"))
        .arg(d.join("out"))
        .arg(d.join("r.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    assert_eq!(
        common::stderr(&out),
        "unpktize: error: reading input: Connection reset by peer (os error 104)\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    assert_eq!(json["intact"], false);
    assert!(json["digest"].is_string(), "sealed for a resume");
    // Resumed from that report with the whole stream, the file ends whole.
    let resumed = Command::new(bin("unpktize"))
        .args(["-o", d.join("out").to_str().unwrap()])
        .args(["--resume", d.join("r.json").to_str().unwrap()])
        .arg(d.join("whole.pk"))
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", common::stderr(&resumed));
    assert!(
        std::fs::read(d.join("out")).unwrap() == data,
        "resumed whole"
    );
}

#[test]
fn a_map_that_cannot_be_written_leaves_the_report_to_resume_from() {
    // Issue 35.11: every exit path leaves a finished report. The map is drawn after the
    // report is written and sealed; a map on a full disk (/dev/full answers every write
    // with ENOSPC) ended exit 2 and took the finished report with it.
    assert!(Path::new("/dev/full").exists(), "/dev/full is needed");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = bytes(300_000, 3512);
    let whole = common::run("pktize", &["--id", "3512"], &data);
    let lossy = common::run("corrupt", &["--loss", "5%", "--seed", "3"], &whole.stdout);
    let (out, report) = (d.join("out"), d.join("r.json"));
    let (out_s, report_s) = (out.to_str().unwrap(), report.to_str().unwrap());
    let first = common::run(
        "unpktize",
        &["-o", out_s, "--report", report_s, "--map", "/dev/full"],
        &lossy.stdout,
    );
    assert_eq!(first.status.code(), Some(2), "{}", common::stderr(&first));
    assert_eq!(
        common::stderr(&first).trim(),
        "unpktize: error: writing the map: No space left on device (os error 28)"
    );
    assert!(report.exists(), "the report was removed");
    let resumed = common::run(
        "unpktize",
        &["-o", out_s, "--resume", report_s],
        &whole.stdout,
    );
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        common::stderr(&resumed)
    );
    assert!(
        std::fs::read(&out).unwrap() == data,
        "resumed: not the source"
    );
}
