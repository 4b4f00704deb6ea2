//! Standard output a datagram or sequenced-packet socket (issue 29, item 2): pktize sends
//! exactly one packet per message at any rate, with any options, and corrupt keeps what it
//! made of each packet one message. Before, pktize's 512 KiB writes failed (EMSGSIZE) and
//! its paced writes held ~19 packets each, which a receiver reading one packet's worth per
//! datagram truncated in every pass.
//!
//! The oracles: every message parses as one whole packet; the messages put end to end are
//! the bytes a pipe gets; unpktize restores the file from them, intact (exit 0).

use crate::common;

use common::{bytes, require_tool, stderr};
use pktools::wire::{Header, MAX_DATAGRAM};
use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
use std::fs::File;
use std::io::Read;
use std::net::UdpSocket;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Run `program args` with stdout one end of a `SOCK_SEQPACKET` pair and `input` on a
/// pipe to its stdin; the records read from the other end, and how it ended.
fn records_from(program: &str, args: &[&str], input: &[u8]) -> (Vec<Vec<u8>>, Output) {
    let (ours, theirs): (OwnedFd, OwnedFd) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    let mut child = Command::new(common::bin(program))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::from(theirs))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut stdin, &input);
    });
    let mut ours = File::from(ours);
    let mut records = vec![];
    // One byte more than any datagram: a record that fills it was longer than a packet.
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        match ours.read(&mut buf).unwrap() {
            0 => break,
            n => records.push(buf[..n].to_vec()),
        }
    }
    writer.join().unwrap();
    (records, child.wait_with_output().unwrap())
}

/// Check that each message is one whole packet.
#[track_caller]
fn one_packet_each(messages: &[Vec<u8>], what: &str) {
    assert!(!messages.is_empty(), "{what}: no messages");
    for (i, m) in messages.iter().enumerate() {
        let header = Header::parse(m).unwrap_or_else(|e| panic!("{what}: message {i}: {e}"));
        assert_eq!(
            m.len(),
            header.packet_len(),
            "{what}: message {i}: one packet, whole"
        );
    }
}

/// unpktize restores `data` from `stream`, intact.
#[track_caller]
fn restores(stream: &[u8], args: &[&str], data: &[u8], what: &str) {
    let out = common::run("unpktize", args, stream);
    assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(&out));
    assert!(out.stdout == data, "{what}: restored bytes differ");
}

#[test]
fn pktize_sends_one_packet_per_record_to_a_seqpacket_socket() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(300_000, 29);
    let input = dir.path().join("input");
    std::fs::write(&input, &data).unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, bytes(32, 1)).unwrap();
    let key = key.to_str().unwrap();
    let file = input.to_str().unwrap();
    let cases: [&[&str]; 9] = [
        &[file],
        &["--rate", "20M", file],
        &["--fec", "8+2", file],
        &["--interleave", file],
        &["--repeat", "3", file],
        &[
            "--rate",
            "50M",
            "--fec",
            "8+2",
            "--interleave=64",
            "-s",
            "1400",
            file,
        ],
        &["--key", key, "--fec", "4+1", file],
        &["--key", key, "--rate", "20M", "--repeat", "2", file],
        // From a pipe: the stream sender.
        &["--fec", "8+2"],
    ];
    for args in cases {
        let what = format!("pktize {args:?}");
        let mut all = vec!["--id", "29"];
        all.extend_from_slice(args);
        let (records, out) = records_from("pktize", &all, &data);
        assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(&out));
        one_packet_each(&records, &what);
        let keyed = args.contains(&key);
        let unpktize: &[&str] = if keyed { &["--key", key] } else { &[] };
        restores(&records.concat(), unpktize, &data, &what);
        if !keyed {
            // Without a key (its salt is random), the very bytes a pipe gets.
            let piped = common::run("pktize", &all, &data);
            assert!(
                records.concat() == piped.stdout,
                "{what}: not what a pipe gets"
            );
        }
    }
}

#[test]
fn corrupt_keeps_each_copy_of_a_packet_one_record() {
    let packets = common::run("pktize", &["--id", "3"], &bytes(200_000, 3)).stdout;
    let args = [
        "--seed",
        "29",
        "--loss",
        "5%",
        "--dup",
        "5%",
        "--reorder",
        "5%",
        "--truncate",
        "5%",
        "--ber",
        "1e-5",
        "--payload-only",
    ];
    let (records, out) = records_from("corrupt", &args, &packets);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let piped = common::run("corrupt", &args, &packets);
    assert!(records.concat() == piped.stdout, "not what a pipe gets");
    let mut truncated = 0;
    for (i, r) in records.iter().enumerate() {
        // Headers are spared, so each record starts with one; a truncated copy is shorter.
        let header = Header::parse(r).unwrap_or_else(|e| panic!("record {i}: {e}"));
        assert!(
            r.len() <= header.packet_len(),
            "record {i}: more than one packet"
        );
        truncated += usize::from(r.len() < header.packet_len());
    }
    assert!(
        truncated > 0 && records.len() > 150,
        "{} records",
        records.len()
    );
}

/// Send `file` with `pktize args` run by socat on a sequenced-packet socket, to UDP on
/// loopback; the datagrams that arrived.
fn through_socat_udp(args: &str, file: &Path) -> Vec<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Room for the whole transfer, so that the kernel drops nothing however fast it comes
    // (forced past rmem_max, as root can; otherwise as much as the system allows).
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(&socket, 64 << 20).is_err() {
        rustix::net::sockopt::set_socket_recv_buffer_size(&socket, 64 << 20).unwrap();
    }
    let port = socket.local_addr().unwrap().port();
    let mut sender = Command::new("timeout")
        .args(["60", "socat", "-u", "-b", "65536"])
        .arg(format!(
            "EXEC:{} {args} {},socktype=5",
            common::bin("pktize").display(),
            file.display()
        ))
        .arg(format!("UDP-SENDTO:127.0.0.1:{port}"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read while it sends; once it has ended, until the queue is empty (loopback delivers
    // at once: what was sent is queued by the time the sender exits).
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut datagrams = vec![];
    let mut buf = vec![0u8; 1 << 16];
    let mut ended = false;
    loop {
        match socket.recv(&mut buf) {
            Ok(n) => datagrams.push(buf[..n].to_vec()),
            Err(_) if ended => break,
            Err(_) => ended = sender.try_wait().unwrap().is_some(),
        }
    }
    let out = sender.wait_with_output().unwrap();
    assert!(out.status.success(), "socat: {}", stderr(&out));
    datagrams
}

#[test]
fn pktize_through_socat_to_udp_sends_one_packet_per_datagram_at_any_rate() {
    let _serial = crate::netcat::one_at_a_time();
    require_tool("socat");
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(1 << 20, 30);
    let input = dir.path().join("input");
    std::fs::write(&input, &data).unwrap();
    for args in [
        "--id 30 --rate 20M",
        "--id 30",
        "--id 30 --fec 8+2 --repeat 2",
    ] {
        let what = format!("pktize {args}");
        let datagrams = through_socat_udp(args, &input);
        one_packet_each(&datagrams, &what);
        restores(&datagrams.concat(), &[], &data, &what);
    }
}

/// `unpktize --udp --live`: while the sender pauses after a lost datagram, the receiver
/// fills the gap once it is older than --max-delay and writes what came after it; without
/// live mode those bytes would wait in the reorder window until the transfer ended.
#[test]
fn a_live_udp_receiver_fills_a_stale_gap_while_the_sender_pauses() {
    use std::io::BufRead;
    let data = bytes(100_000, 31);
    // 100 packets of 1000 bytes, no descriptors: packet i holds bytes 1000 i ..
    let stream = common::run("pktize", &["-s", "1000", "--describe-every", "0"], &data).stdout;
    let packets = common::split_packets(&stream);
    assert_eq!(packets.len(), 100);
    let mut child = Command::new(common::bin("unpktize"))
        .args(["--udp", "127.0.0.1:0", "--live", "--max-delay", "50"])
        .args(["--idle", "5", "-v"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    log.read_line(&mut first).unwrap();
    let at = first
        .trim()
        .strip_prefix("unpktize: listening on ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let log = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut log, &mut rest);
        rest
    });
    // Read standard output as it comes, in another thread, so the test can wait for it
    // with a deadline.
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => tx.send(buf[..n].to_vec()).unwrap(),
            }
        }
    });
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    // The first half, less packet 10.
    for (i, p) in packets[..50].iter().enumerate() {
        if i != 10 {
            sock.send_to(p, &at).unwrap();
        }
    }
    // The sender pauses: the first 50,000 bytes come out, packet 10 filled with zeros
    // (without --live they would come only once --idle ended the reception, and the second
    // half would find no receiver).
    let mut got = vec![];
    while got.len() < 50_000 {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(chunk) => got.extend(chunk),
            Err(_) => panic!("live mode wrote {} bytes of the first 50,000", got.len()),
        }
    }
    assert_eq!(got.len(), 50_000, "nothing after the pause was sent yet");
    let mut expected = data[..50_000].to_vec();
    expected[10_000..11_000].fill(0);
    assert!(got == expected, "first half");
    // The rest: the receiver, still listening, writes it, ends after --idle and says the
    // transfer was damaged.
    for p in &packets[50..] {
        sock.send_to(p, &at).unwrap();
    }
    reader.join().unwrap();
    while let Ok(chunk) = rx.try_recv() {
        got.extend(chunk);
    }
    let status = child.wait().unwrap();
    let log = log.join().unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    let mut expected = data.clone();
    expected[10_000..11_000].fill(0);
    assert!(got == expected, "whole: {} bytes; {log}", got.len());
}

/// `pktize --udp` paces at 100M without `--rate` (issue 30: with no return channel, an
/// unpaced sender overran a receiver on the same host, 3x the file sent, most of it dropped
/// unread); `--rate 0` sends as fast as the system takes the datagrams. 30 MB at 100 MB/s
/// cannot leave in less than 0.3 s less one catch-up burst (unpaced, loopback takes it in
/// a few tens of milliseconds on an idle host).
#[test]
fn pktize_udp_paces_by_default_and_rate_0_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, bytes(30_000_000, 30)).unwrap();
    // Bound, never read: what overflows its buffer is dropped, the sender never told.
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = sink.local_addr().unwrap().to_string();
    let send = |rate: Option<&str>| {
        let mut args = vec!["--udp", to.as_str(), "--describe-every", "0"];
        args.extend(rate.map(|r| ["--rate", r]).into_iter().flatten());
        let started = std::time::Instant::now();
        let out = Command::new(common::bin("pktize"))
            .args(&args)
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{rate:?}: {}", stderr(&out));
        started.elapsed()
    };
    let paced = send(None);
    assert!(
        paced >= Duration::from_millis(280),
        "default pace: {paced:?}"
    );
    let mut buf = [0u8; 2048];
    sink.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = sink.recv(&mut buf).unwrap();
    assert_eq!(Header::parse(&buf[..n]).unwrap().packet_len(), n);
    send(Some("0"));
}
