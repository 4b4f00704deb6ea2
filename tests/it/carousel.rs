//! One-way delivery that completes (issue 19): `pktize --repeat` passes merged by
//! `unpktize`, which stops by itself once every byte is intact; late joiners; bursts
//! against FEC with and without interleaving; one sender to many receivers over multicast.

use crate::common;

use common::{bytes, run, sh, stderr};
use std::time::{Duration, Instant};

/// A file of `len` bytes in a fresh temp dir.
fn file_of(len: usize, seed: u64) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let data = bytes(len, seed);
    std::fs::write(&path, &data).unwrap();
    (dir, path, data)
}

#[test]
fn passes_with_different_losses_give_the_file_back_to_a_file_and_to_stdout() {
    let (dir, f, data) = file_of(2_000_000, 1);
    let (f, d) = (f.display(), dir.path().display());
    for (out, to) in [("-o {d}/got", "file"), ("> {d}/got", "stdout")] {
        let out = out.replace("{d}", &d.to_string());
        let r = sh(&format!(
            "pktize --repeat 6 {f} | corrupt --loss 10% --seed 4 | unpktize {out} \
             --report {d}/r.json"
        ));
        assert_eq!(r.status.code(), Some(0), "{to}: {}", stderr(&r));
        assert!(
            std::fs::read(dir.path().join("got")).unwrap() == data,
            "{to}"
        );
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
        assert_eq!(report["intact"], true, "{to}");
        assert_eq!(report["ranges"].as_array().unwrap().len(), 0, "{to}");
    }
}

#[test]
fn a_packet_lost_in_every_pass_is_filled_and_reported() {
    let data = bytes(50_000, 2);
    let packets = common::packetize(&data, 1000);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("f");
    std::fs::write(&src, &data).unwrap();
    // Three passes as pktize --repeat sends them, then packet 7 (seq 7) removed from each.
    let stream = sh(&format!("pktize -s 1000 --repeat 3 {}", src.display())).stdout;
    let mut kept = Vec::new();
    for p in common::split_packets(&stream) {
        let h = common::header(&p);
        if !(h.kind == pktools::wire::Kind::Data && h.seq == 7) {
            kept.extend(p);
        }
    }
    assert!(packets.len() > 10);
    let report = dir.path().join("r.json");
    let out = run("unpktize", &["--report", report.to_str().unwrap()], &kept);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout[..7000] == data[..7000] && out.stdout[8000..] == data[8000..]);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["packets"]["lost"], 1);
    assert_eq!(r["ranges"][0]["offset"], 7000);
    assert_eq!(r["ranges"][0]["length"], 1000);
}

#[test]
fn an_endless_carousel_through_heavy_loss_ends_by_itself_with_the_file_whole() {
    let (dir, f, data) = file_of(1_000_000, 3);
    let t0 = Instant::now();
    let out = sh(&format!(
        "timeout 120 pktize --repeat 0 {} | corrupt --loss 20% --seed 5 | unpktize -o {}/got",
        f.display(),
        dir.path().display()
    ));
    assert!(t0.elapsed() < Duration::from_secs(100));
    // The sender dies of SIGPIPE once the receiver has left: the pipeline says 141.
    assert!(
        matches!(out.status.code(), Some(0) | Some(141)),
        "{:?}: {}",
        out.status,
        stderr(&out)
    );
    assert!(std::fs::read(dir.path().join("got")).unwrap() == data);
}

#[test]
fn a_receiver_that_joins_late_gets_everything_in_the_next_pass() {
    let (_dir, f, data) = file_of(500_000, 4);
    let stream = sh(&format!("pktize --repeat 2 {}", f.display())).stdout;
    // Join 60% into the first pass: half a pass and one whole pass arrive.
    let late = &stream[stream.len() * 3 / 10..];
    let out = run("unpktize", &[], late);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout == data);
}

#[test]
fn keep_reading_reads_every_pass() {
    let (_dir, f, data) = file_of(100_000, 5);
    let stream = sh(&format!("pktize --repeat 3 {}", f.display())).stdout;
    let out = run("unpktize", &["-v"], &stream);
    assert_eq!(out.status.code(), Some(0));
    let stopped = stderr(&out);
    let out = run("unpktize", &["-v", "--keep-reading"], &stream);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout == data);
    let all = stderr(&out);
    // Stopping after the first whole pass leaves two passes unread.
    let duplicates = |s: &str| -> u64 {
        let at = s.find(" duplicate").unwrap();
        s[..at].rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(duplicates(&stopped), 0, "{stopped}");
    assert!(duplicates(&all) >= 2 * 97, "{all}");
}

#[test]
fn interleaving_spreads_a_burst_so_fec_loses_a_small_fraction() {
    let (_dir, f, _data) = file_of(3_000_000, 6);
    let lost = |pktize: &str| -> u64 {
        let out = sh(&format!(
            "pktize {pktize} {} | corrupt --loss 2% --burst 8 --seed 9 | \
             unpktize --report /dev/stdout -o /dev/null | tail -n 12",
            f.display()
        ));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let at = text.find("\"lost\": ").expect("bytes.lost in the report");
        let rest = &text[at + 8..];
        rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap()]
            .parse()
            .unwrap()
    };
    let plain = lost("--fec 8+2");
    let spread = lost("--fec 8+2 --interleave");
    assert!(plain > 20_000, "bursts beat plain FEC: {plain} bytes lost");
    assert!(spread * 10 < plain, "interleaved {spread} vs plain {plain}");
}

/// One sender to three receivers over UDP multicast, inside a network namespace of our
/// own (no datagram can leave the machine): each receiver has its own loss, all finish
/// byte-exact by themselves. Paced so that each write of pktize is one packet, which the
/// sequenced-packet socket keeps one datagram.
#[test]
fn one_carousel_sender_to_three_multicast_receivers_all_finish_whole() {
    common::require_tool("socat");
    common::require_tool("unshare");
    let (dir, f, data) = file_of(400_000, 7);
    let d = dir.path().display();
    let script = format!(
        r#"
set -e
ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo
group=239.255.42.1
for i in 1 2 3; do
  timeout 60 socat -u UDP4-RECV:9400,ip-add-membership=$group:127.0.0.1,reuseaddr,rcvbuf=4194304 - \
    | corrupt --loss 1$i% --seed $i | unpktize -o {d}/got$i 2> {d}/err$i &
done
{wait}wait_udp 9400 3
timeout 60 socat -u -b 65536 EXEC:'pktize --rate 300k --repeat 0 {f}',socktype=5 \
  UDP4-DATAGRAM:$group:9400,ip-multicast-loop=1,ip-multicast-if=127.0.0.1 &
sender=$!
# Each receiver ends by itself once its file is whole; give up after a minute.
for i in 1 2 3; do
  for t in $(seq 300); do cmp -s {d}/got$i {f} 2>/dev/null && break; sleep 0.2; done
done
kill $sender 2>/dev/null || true
wait
"#,
        f = f.display(),
        wait = common::WAIT_UDP_SH
    );
    let out = sh(&format!("unshare -n bash -c {}", shell_quote(&script)));
    for i in 1..=3 {
        let got = std::fs::read(dir.path().join(format!("got{i}"))).unwrap_or_default();
        assert!(
            got == data,
            "receiver {i}: {} of {} bytes; {}; {}",
            got.len(),
            data.len(),
            stderr(&out),
            std::fs::read_to_string(dir.path().join(format!("err{i}"))).unwrap_or_default()
        );
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
