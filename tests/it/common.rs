//! Helpers shared by the integration tests: run a real binary with bytes on stdin, make
//! deterministic test data, find external tools.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Path of one of the crate's binaries, built by cargo for the integration tests.
pub fn bin(name: &str) -> PathBuf {
    match name {
        "pktize" => PathBuf::from(env!("CARGO_BIN_EXE_pktize")),
        "unpktize" => PathBuf::from(env!("CARGO_BIN_EXE_unpktize")),
        other => {
            // Binaries of later issues: found beside the two above.
            let dir = Path::new(env!("CARGO_BIN_EXE_pktize")).parent().unwrap();
            dir.join(other)
        }
    }
}

/// Run `program args` with `input` on stdin; returns its output (stdout, stderr, status).
/// The input is written from a thread so large inputs cannot deadlock against the output.
pub fn run(program: &str, args: &[&str], input: &[u8]) -> Output {
    run_cmd(Command::new(bin(program)).args(args), input)
}

/// Run an arbitrary command with `input` on stdin.
pub fn run_cmd(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Start `program args` with pipes for its stdin and stdout (its stderr is the test's), for
/// a test that writes and reads while it runs.
pub fn spawn(program: &str, args: &[&str]) -> std::process::Child {
    Command::new(bin(program))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
}

/// Run `cmd` to its end and check that it succeeded; a failure shows `what` and its stderr.
#[track_caller]
pub fn succeeds(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    assert!(out.status.success(), "{what}: {}", stderr(&out));
    out
}

/// `bash -o pipefail -c script`, the binaries' directory first on PATH, stdin null.
fn bash(script: &str) -> Command {
    let dir = bin("pktize").parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-o", "pipefail", "-c", script])
        .env("PATH", path)
        .stdin(Stdio::null());
    cmd
}

/// Run a shell pipeline with `bash -o pipefail -c`, the binaries' directory first on PATH.
pub fn sh(script: &str) -> Output {
    bash(script).output().expect("bash runs")
}

/// Start `script` as [`sh`] runs it, in the background, its output piped.
pub fn sh_spawn(script: &str) -> std::process::Child {
    bash(script)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs")
}

/// Run `script` as [`sh`] does and check what it prints, `line` (surrounding whitespace
/// aside); a failure shows the script's stderr.
#[track_caller]
pub fn sh_prints(script: &str, line: &str) {
    let out = sh(script);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        line,
        "{script}: {}",
        stderr(&out)
    );
}

/// Deterministic pseudo-random numbers (xorshift64) from `seed`, so failures are
/// reproducible.
pub fn xorshift(seed: u64) -> impl Iterator<Item = u64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    std::iter::repeat_with(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    })
}

/// Deterministic pseudo-random bytes (see [`xorshift`]).
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    xorshift(seed).take(len).map(|s| (s >> 24) as u8).collect()
}

/// Stderr as text, for assertions and failure messages.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Check that a program's stderr says `needle`; a failure shows all of it.
#[track_caller]
pub fn says(out: &Output, needle: &str) {
    let err = stderr(out);
    assert!(err.contains(needle), "no {needle:?} in: {err}");
}

/// Check that a program exited with `code` and said `needle` on stderr; returns the stderr.
#[track_caller]
pub fn exits_saying(out: &Output, code: i32, needle: &str) -> String {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    says(out, needle);
    stderr(out)
}

/// Check that `program` failed as a usage, input or I/O error: status 2 and one line,
/// `PROG: error: ...`, on stderr; returns the line. `case` names the case in a failure.
#[track_caller]
pub fn error_line(program: &str, out: &Output, case: &dyn std::fmt::Debug) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{case:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{case:?}: {err}");
    let prefix = format!("{program}: error: ");
    assert!(err.starts_with(&prefix), "{case:?}: {err}");
    err
}

/// Panic with a clear message unless an external tool is installed: tests that need a
/// tool must fail, not skip, when `bin/deps` forgot to install it.
pub fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed; `make test` installs it (bin/deps)"
    );
}

/// Split a packet stream into its packets (each header plus payload), using the library's
/// framing scanner; panics on anything that is not an intact packet.
pub fn split_packets(stream: &[u8]) -> Vec<Vec<u8>> {
    use pktools::framing::{scan, Frame};
    let mut out = vec![];
    let mut at = 0;
    while at < stream.len() {
        let frame = scan(&stream[at..], true);
        assert!(
            matches!(frame, Frame::Packet { intact: true, .. }),
            "not an intact packet at {at}: {frame:?}"
        );
        out.push(stream[at..at + frame.len()].to_vec());
        at += frame.len();
    }
    out
}

/// Only the data packets of a stream (descriptors and parity left out).
pub fn data_packets(stream: &[u8]) -> Vec<Vec<u8>> {
    split_packets(stream)
        .into_iter()
        .filter(|p| header(p).kind == pktools::wire::Kind::Data)
        .collect()
}

/// The header of one packet.
pub fn header(packet: &[u8]) -> pktools::wire::Header {
    pktools::wire::Header::parse(packet).expect("a valid header")
}

/// Data packets of `data` made by the real pktize with payload size `size`, from a file,
/// so every header states the total length; no descriptors, so that each packet is a slot
/// of the data.
pub fn packetize(data: &[u8], size: usize) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input");
    std::fs::write(&path, data).unwrap();
    let path = path.to_str().unwrap();
    let out = run(
        "pktize",
        &[
            "-s",
            &size.to_string(),
            "--id",
            "4660",
            "--describe-every",
            "0",
            path,
        ],
        b"",
    );
    assert!(out.status.success(), "pktize failed: {}", stderr(&out));
    split_packets(&out.stdout)
}

/// Two packet streams interleaved packet by packet, `a` first: the stream of two transfers
/// sent at once.
pub fn interleave(a: &[Vec<u8>], b: &[Vec<u8>]) -> Vec<u8> {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| [x.as_slice(), y.as_slice()])
        .flatten()
        .copied()
        .collect()
}

/// The stream of `packets` with the one at `index` left out: a packet lost on the way.
pub fn without(packets: &[Vec<u8>], index: usize) -> Vec<u8> {
    packets
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .flat_map(|(_, p)| p.iter().copied())
        .collect()
}

/// Run a command under `/usr/bin/time` and return its output and peak RSS in KiB.
pub fn run_measuring_rss(program: &str, args: &[&str], input: &[u8]) -> (Output, u64) {
    require_tool("/usr/bin/time");
    let dir = tempfile::tempdir().unwrap();
    let rss_file = dir.path().join("rss");
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(bin(program))
        .args(args);
    let out = run_cmd(&mut cmd, input);
    let rss = std::fs::read_to_string(&rss_file).unwrap();
    let kib = rss.lines().last().unwrap().trim().parse().unwrap();
    (out, kib)
}

/// One intact packet with the given header fields (CRC and header check computed): for
/// tests that forge packets pktize would not send.
pub fn forged_packet(
    kind: pktools::wire::Kind,
    id: u16,
    seq: u32,
    offset: u64,
    total: Option<u64>,
    payload: &[u8],
) -> Vec<u8> {
    use pktools::wire::Header;
    let header = Header {
        kind,
        last: false,
        keyed: false,
        encrypted: false,
        payload_len: payload.len() as u16,
        transfer_id: id,
        seq,
        offset,
        total_len: total,
        payload_crc: Header::crc_of(payload),
        parity: None,
    };
    header.with_payload(payload)
}

/// One intact data packet of transfer `id` carrying `payload` at `offset`, stating `total`
/// when given.
pub fn data_packet(id: u16, offset: u64, total: Option<u64>, payload: &[u8]) -> Vec<u8> {
    forged_packet(pktools::wire::Kind::Data, id, 0, offset, total, payload)
}

// ---------------------------------------------------------------------------------------
// Waiting for a condition, never for a fixed time: each wait polls what it waits for and
// fails the test, saying what it waited for, past a deadline.

/// Poll `ready` until it holds; panic after `within`, naming `what`.
pub fn wait_until(what: &str, within: std::time::Duration, mut ready: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !ready() {
        assert!(start.elapsed() < within, "{what}: not after {within:?}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// True once process `pid`'s main thread is blocked reading file descriptor `fd` (read(2),
/// or poll(2)/ppoll(2) on it): it has taken what was sent and waits for more.
pub fn blocked_reading(pid: u32, fd: i32) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/syscall")) else {
        return false;
    };
    let mut fields = text.split_whitespace();
    let (nr, arg0) = (fields.next(), fields.next());
    let fd = format!("{fd:#x}");
    match nr {
        // read(fd, ..)
        Some("0") => arg0 == Some(fd.as_str()),
        // poll(fds, ..), ppoll(fds, ..): unpktize polls only its input
        Some("7") | Some("271") => true,
        _ => false,
    }
}

/// Take (and drop) `n` datagrams from `sock`: what a receiver that joins late misses.
/// Fails if they do not come within 20 s.
pub fn miss_datagrams(sock: &std::net::UdpSocket, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut buf = vec![0u8; 1 << 16];
    for i in 0..n {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "only {i} of {n} datagrams came");
        sock.set_read_timeout(Some(left)).unwrap();
        sock.recv(&mut buf)
            .unwrap_or_else(|e| panic!("only {i} of {n} datagrams came: {e}"));
    }
}

/// Bytes queued for reading on the IPv4 UDP sockets bound to `port` in this network
/// namespace (`/proc/net/udp`'s rx_queue): 0 once the receiver took every datagram, or
/// when nothing is bound there any more.
pub fn udp_queued(port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (addr, queues) = (f.nth(1)?, f.nth(2)?);
            let rx = queues.split(':').nth(1)?;
            addr.ends_with(&local)
                .then(|| u64::from_str_radix(rx, 16).ok())
                .flatten()
        })
        .sum()
}

/// A bash function, `wait_udp PORT [N]`: returns once N (default 1) sockets are bound to
/// UDP port PORT in this network namespace (IPv4 or IPv6: `/proc/net/udp`, `/proc/net/udp6`), fails after 10 s.
pub const WAIT_UDP_SH: &str = r#"wait_udp() {
  local port; port=$(printf %04X "$1")
  for _ in $(seq 1000); do
    [ "$(cat /proc/net/udp /proc/net/udp6 2>/dev/null | grep -c "^ *[0-9]*: [0-9A-F]*:$port ")" -ge "${2:-1}" ] && return 0
    sleep 0.01
  done
  echo "no UDP socket on port $1 after 10 s" >&2
  return 1
}
"#;

#[test]
fn udp_queued_counts_what_waits_on_a_port() {
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    assert_eq!(udp_queued(port), 0);
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.send_to(&[7; 100], ("127.0.0.1", port)).unwrap();
    wait_until(
        "the datagram queued",
        std::time::Duration::from_secs(5),
        || udp_queued(port) > 0,
    );
    let mut buf = [0; 200];
    assert_eq!(rx.recv(&mut buf).unwrap(), 100);
    assert_eq!(udp_queued(port), 0);
}
