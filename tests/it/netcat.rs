//! Real UDP transfers on loopback with netcat-openbsd and socat (issue 7).
//!
//! `nc -u` sends each read() of its stdin as one datagram, so datagrams neither start nor end
//! at packet boundaries, and the kernel drops datagrams when the receiver's socket buffer is
//! full. The oracle here is what really crossed the network: the receiver's bytes are
//! captured with `tee` before unpktize reads them, and every data packet that pktize sent is
//! looked up in that capture. A packet found there whole must be at its offset in the output
//! and absent from the report; a packet not found whole must be covered by the report's lost
//! or damaged ranges, and lost bytes must hold the fill pattern.
//!
//! Every process runs under `timeout`; every receiver ends by itself after 2 s of silence
//! (`nc -w 2`, `socat -T 2`). Ports come from binding port 0 and releasing it.

use crate::common;

use common::{bytes, data_packets, header, require_tool, sh, split_packets};
use serde_json::Value;
use std::net::UdpSocket;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

const FILL: [u8; 3] = [0xff, 0x00, 0xff];
const MIB: usize = 1 << 20;

/// The transfers run one at a time: two at once on a 2-core machine mostly test how the
/// scheduler shares it, and the unpaced one floods the loopback for the others.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A UDP port that was free a moment ago.
fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral port");
    s.local_addr().unwrap().port()
}

/// Start `script` (bash, pipefail, binaries on PATH) in the background.
fn spawn_sh(script: &str) -> Child {
    common::sh_spawn(script)
}

/// Wait until something listens on UDP `port` on 127.0.0.1 (we can no longer bind it).
fn wait_for_listener(port: u16) {
    let start = Instant::now();
    while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no listener on UDP port {port} after 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn check_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status,
        common::stderr(out)
    );
}

/// One transfer's files, in a temporary directory.
struct Transfer {
    dir: tempfile::TempDir,
    receiver_status: Option<i32>,
    receiver_stderr: String,
}

impl Transfer {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_default()
    }
    fn report(&self) -> Value {
        let text = std::fs::read_to_string(self.path("report.json")).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "report is not JSON ({e}): {text}\nreceiver: {}",
                self.receiver_stderr
            )
        })
    }
}

/// Send `data` from a file: the receiver runs `receive` (a pipeline that writes the
/// datagrams' bytes to stdout) into `tee captured | unpktize`; the sender runs
/// `send_prefix < file | tee sent | [channel |] send`. `{port}` is replaced in both.
fn transfer(data: &[u8], send_prefix: &str, channel: &str, send: &str, receive: &str) -> Transfer {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::write(&input, data).unwrap();
    let port = free_udp_port().to_string();
    let d = dir.path().to_str().unwrap();
    let receiver = spawn_sh(&format!(
        "{} | tee {d}/captured | timeout 120 unpktize -o {d}/got --fill ff00ff \
         --report {d}/report.json -v",
        receive.replace("{port}", &port)
    ));
    wait_for_listener(port.parse().unwrap());
    let channel = if channel.is_empty() {
        String::new()
    } else {
        format!("{channel} | ")
    };
    let sender = sh(&format!(
        "timeout 120 {send_prefix} < {input} | tee {d}/sent | {channel}{}",
        send.replace("{port}", &port),
        input = input.display()
    ));
    check_ok("sender", &sender);
    let out = receiver.wait_with_output().unwrap();
    Transfer {
        dir,
        receiver_status: out.status.code(),
        receiver_stderr: common::stderr(&out),
    }
}

/// Which data packets of `sent` occur whole, byte for byte, somewhere in `captured`.
fn arrived_whole(sent: &[Vec<u8>], captured: &[u8]) -> Vec<bool> {
    use std::collections::HashMap;
    let by_header: HashMap<&[u8], usize> = sent
        .iter()
        .enumerate()
        .map(|(i, p)| (&p[..pktools::wire::HEADER_LEN], i))
        .collect();
    let mut arrived = vec![false; sent.len()];
    for at in memchr::memmem::find_iter(captured, &pktools::wire::MAGIC) {
        let Some(head) = captured.get(at..at + pktools::wire::HEADER_LEN) else {
            continue;
        };
        if let Some(&i) = by_header.get(head) {
            if captured.get(at..at + sent[i].len()) == Some(&sent[i][..]) {
                arrived[i] = true;
            }
        }
    }
    arrived
}

/// The oracle described at the top. Returns how many data packets arrived whole.
fn check_against_capture(original: &[u8], t: &Transfer) -> (usize, usize) {
    let sent = data_packets(&t.read("sent"));
    let captured = t.read("captured");
    let got = t.read("got");
    let report = t.report();
    let err = &t.receiver_stderr;
    assert_eq!(got.len(), original.len(), "output length; receiver: {err}");
    assert_eq!(report["bytes"]["output"], original.len() as u64);

    // What the report says about each byte: 0 nothing, 1 lost, 2 damaged.
    let mut said = vec![0u8; original.len()];
    let (mut lost, mut damaged) = (0u64, 0u64);
    for r in report["ranges"].as_array().unwrap() {
        let start = r["offset"].as_u64().unwrap() as usize;
        let len = r["length"].as_u64().unwrap() as usize;
        let (mark, total) = match r["kind"].as_str().unwrap() {
            "lost" => (1, &mut lost),
            "damaged" => (2, &mut damaged),
            other => panic!("unknown range kind {other}"),
        };
        *total += len as u64;
        for (i, s) in said[start..start + len].iter_mut().enumerate() {
            assert_eq!(*s, 0, "ranges overlap at byte {}", start + i);
            *s = mark;
        }
    }
    assert_eq!(
        report["bytes"]["lost"], lost,
        "lost bytes = sum of lost ranges"
    );
    assert_eq!(report["bytes"]["damaged"], damaged);
    for (at, (&s, &b)) in said.iter().zip(&got).enumerate() {
        if s == 1 {
            assert_eq!(b, FILL[at % 3], "lost byte {at} holds the fill pattern");
        }
    }

    let arrived = arrived_whole(&sent, &captured);
    for (p, &whole) in sent.iter().zip(&arrived) {
        let h = header(p);
        let (s, e) = (
            h.offset as usize,
            h.offset as usize + h.payload_len as usize,
        );
        if whole {
            assert!(
                got[s..e] == original[s..e],
                "packet seq {} arrived whole but bytes {s}..{e} differ",
                h.seq
            );
            assert!(
                said[s..e].iter().all(|&m| m == 0),
                "packet seq {} arrived whole but the report marks bytes {s}..{e}",
                h.seq
            );
        } else {
            assert!(
                said[s..e].iter().all(|&m| m != 0),
                "packet seq {} never arrived whole, yet the report leaves part of \
                 bytes {s}..{e} unmarked",
                h.seq
            );
        }
    }
    let whole = arrived.iter().filter(|&&a| a).count();
    let expect_status = if whole == sent.len() { 0 } else { 1 };
    assert_eq!(t.receiver_status, Some(expect_status), "receiver: {err}");
    (whole, sent.len())
}

/// -d: no stdin; -w 2: quit after 2 s without datagrams (after the first one); -I: a
/// 1 MiB socket receive buffer (as far as net.core.rmem_max allows), so that a receiver
/// descheduled for a moment loses less.
const NC_RECEIVER: &str = "timeout 120 nc -u -l -d -w 2 -I 1048576 127.0.0.1 {port}";

/// -q 1: quit 1 s after stdin ends.
const NC_SENDER: &str = "timeout 120 nc -u -q 1 127.0.0.1 {port}";

#[test]
fn paced_10_mib_arrives_byte_identical_over_nc() {
    let _serial = one_at_a_time();
    require_tool("nc");
    let data = bytes(10 * MIB, 71);
    // Paced, nothing is lost unless the machine starves the receiver for longer than its
    // socket buffer lasts (1 MiB asked; 208 KiB where rmem_max is the default, 25 ms at
    // 8 MB/s). That is the channel losing datagrams, not the tools misbehaving, so a lossy
    // attempt is still checked packet by packet and then retried slower; a bug in the
    // tools fails every attempt.
    paced_until_whole(&data, NC_SENDER, NC_RECEIVER);
}

#[test]
fn unpaced_nc_loses_datagrams_and_the_report_says_which() {
    let _serial = one_at_a_time();
    require_tool("nc");
    let data = bytes(10 * MIB, 72);
    let t = transfer(&data, "pktize", "", NC_SENDER, NC_RECEIVER);
    let (whole, sent) = check_against_capture(&data, &t);
    eprintln!("unpaced: {whole} of {sent} packets arrived whole");
}

#[test]
fn nc_through_corrupt_places_every_intact_packet() {
    let _serial = one_at_a_time();
    require_tool("nc");
    let data = bytes(4 * MIB, 73);
    let t = transfer(
        &data,
        "pktize --rate 8M",
        "corrupt --loss 2% --burst 3 --ber 2e-6 --dup 1% --reorder 1%,8 --truncate 0.5% \
         --seed 7",
        NC_SENDER,
        NC_RECEIVER,
    );
    let (whole, sent) = check_against_capture(&data, &t);
    assert!(whole < sent, "the channel damaged nothing?");
    assert!(whole > sent * 9 / 10, "only {whole} of {sent} arrived");
}

/// -T 2: quit after 2 s without data; rcvbuf as nc's -I above.
const SOCAT_RECEIVER: &str =
    "timeout 120 socat -u -T 2 UDP-RECV:{port},bind=127.0.0.1,rcvbuf=1048576 -";

#[test]
fn paced_transfer_arrives_byte_identical_over_socat() {
    let _serial = one_at_a_time();
    require_tool("socat");
    let data = bytes(10 * MIB, 74);
    // Retried slower when the kernel drops datagrams, as over nc.
    paced_until_whole(
        &data,
        "timeout 120 socat -u - UDP-SENDTO:127.0.0.1:{port}",
        SOCAT_RECEIVER,
    );
}

/// Send `data` paced at 8, 4, 2, then 1 MB/s until one transfer arrives whole; each lossy
/// attempt is still checked packet by packet. Panics if none arrives whole.
fn paced_until_whole(data: &[u8], sender: &str, receiver: &str) {
    let mut tries = vec![];
    for rate in ["8M", "4M", "2M", "1M"] {
        let t = transfer(data, &format!("pktize --rate {rate}"), "", sender, receiver);
        let (whole, sent) = check_against_capture(data, &t);
        if whole == sent {
            assert!(t.read("got") == data);
            assert_eq!(t.report()["intact"], true);
            return;
        }
        tries.push(format!("{rate}: {whole} of {sent} packets"));
        eprintln!("retrying slower after {tries:?}");
    }
    panic!("every paced transfer lost datagrams: {tries:?}");
}

/// Receive datagrams on a socket of our own while `send` (with `{port}`) runs; returns each
/// datagram's bytes.
fn capture_datagrams(send: &str) -> Vec<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port().to_string();
    let sender = spawn_sh(&send.replace("{port}", &port));
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut datagrams = vec![];
    let mut buf = vec![0u8; 1 << 16];
    // After the first datagram, 2 s of silence ends the transfer.
    while let Ok(n) = socket.recv(&mut buf) {
        datagrams.push(buf[..n].to_vec());
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
    }
    check_ok("sender", &sender.wait_with_output().unwrap());
    datagrams
}

fn unpktize_datagrams(datagrams: &[Vec<u8>]) -> Vec<u8> {
    let out = common::run("unpktize", &[], &datagrams.concat());
    check_ok("unpktize", &out);
    out.stdout
}

/// Send 201 packets' worth of data from a file with `send` (`{input}`: the file, `{port}`:
/// our socket): each datagram must hold one whole packet, 201 of them data packets, and
/// unpktize must restore the data from them.
fn one_packet_per_datagram(seed: u64, send: &str) {
    let _serial = one_at_a_time();
    require_tool("socat");
    let data = bytes(200 * 1024 + 100, seed);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::write(&input, &data).unwrap();
    let datagrams = capture_datagrams(&send.replace("{input}", input.to_str().unwrap()));
    for (i, d) in datagrams.iter().enumerate() {
        assert_eq!(split_packets(d).len(), 1, "datagram {i}: one packet, whole");
    }
    let data_datagrams = datagrams.iter().filter(|d| data_packets(d).len() == 1);
    assert_eq!(data_datagrams.count(), 201, "one datagram per data packet");
    assert!(unpktize_datagrams(&datagrams) == data);
}

#[test]
fn socat_from_a_pipe_sends_one_packet_per_datagram() {
    // pktize paced at up to 200 packets a second writes each packet with one write() of
    // 1056 bytes, which a pipe delivers whole (at most PIPE_BUF); socat's 1056-byte reads
    // then take exactly one packet each. Descriptors are off: their different length
    // would shift socat's reads off the packet boundaries.
    one_packet_per_datagram(
        75,
        "timeout 60 pktize --describe-every 0 --rate 200k {input} | \
         timeout 60 socat -u -b 1056 - UDP-SENDTO:127.0.0.1:{port}",
    );
}

#[test]
fn socat_exec_seqpacket_never_splits_a_packet() {
    // socat runs pktize with a SOCK_SEQPACKET socket pair as its stdout (socktype=5), so the
    // kernel keeps each write() of pktize as one record and socat sends each record as one
    // datagram. pktize sees the socket and writes each packet, descriptors too, on its own
    // (issue 29; datagrams.rs tests it at any rate).
    let send = format!(
        "timeout 60 socat -u -b 65536 \
         EXEC:'{} --rate 200k {{input}}',socktype=5 UDP-SENDTO:127.0.0.1:{{port}}",
        common::bin("pktize").display()
    );
    one_packet_per_datagram(76, &send);
}

#[test]
fn a_receiver_started_late_still_writes_the_full_length() {
    let _serial = one_at_a_time();
    require_tool("nc");
    require_tool("socat");
    // The sender starts first; the listener joins once 100 packets went by, missing the start.
    // Descriptors (every 200 ms while pacing) give it the length and the head.
    let data = bytes(2 * MIB, 77);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let input = dir.path().join("input");
    std::fs::write(&input, &data).unwrap();
    // The first datagrams reach this socket, not the listener: the receiver starts only
    // once they came, and misses them (and what is sent while it starts).
    let early = UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let port = early.local_addr().unwrap().port();
    // The sender is socat: nc -u connects its socket, and the ICMP "port unreachable" for
    // datagrams sent while nothing listens makes its next send fail with ECONNREFUSED,
    // which ends nc.
    let sender = spawn_sh(&format!(
        "timeout 60 pktize --rate 1M {} | timeout 60 socat -u - UDP-SENDTO:127.0.0.1:{port}",
        input.display()
    ));
    common::miss_datagrams(&early, 100);
    drop(early);
    let out = sh(&format!(
        "timeout 60 nc -u -l -d -w 2 127.0.0.1 {port} | \
         timeout 60 unpktize -o {d}/got --report {d}/report.json -v"
    ));
    check_ok("sender", &sender.wait_with_output().unwrap());
    let got = std::fs::read(format!("{d}/got")).unwrap_or_default();
    assert_eq!(got.len(), data.len(), "{}", common::stderr(&out));
    assert_eq!(out.status.code(), Some(1), "the start is missing");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{d}/report.json")).unwrap())
            .unwrap();
    assert!(
        report["bytes"]["restored"].as_u64().unwrap() > 0,
        "head restored"
    );
    assert!(
        got[..1024] == data[..1024],
        "head restored from a descriptor"
    );
    let tail = data.len() - 64 * 1024;
    assert!(got[tail..] == data[tail..], "the end arrived");
}

/// Not a test of the tools: a guard that the capture oracle finds whole packets and only
/// those.
#[test]
fn the_capture_oracle_finds_whole_packets_only() {
    let data = bytes(64 * 1024, 78);
    let stream = common::run("pktize", &["-s", "1000"], &data).stdout;
    let sent = data_packets(&stream);
    let mut captured = b"junk".to_vec();
    for (i, p) in sent.iter().enumerate() {
        let cut = if i == 10 { 100 } else { 0 };
        captured.extend_from_slice(&p[..p.len() - cut]);
    }
    let arrived = arrived_whole(&sent, &captured);
    let missing: Vec<usize> = (0..sent.len()).filter(|&i| !arrived[i]).collect();
    assert_eq!(missing, vec![10]);
}
