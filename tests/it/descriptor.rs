//! The transfer descriptor end to end: late receivers, lost heads, damaged and conflicting
//! descriptors, `unpktize --info`, and the overhead at the defaults.

use crate::common;

use common::{bytes, header, require_tool, run, run_cmd, sh, split_packets, stderr};
use pktools::descriptor::{Descriptor, MediaType};
use pktools::wire::{Kind, HEADER_LEN};
use serde_json::Value;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

/// A PPM image with a gradient, `w` x `h`.
fn ppm(w: usize, h: usize) -> Vec<u8> {
    let mut img = format!("P6\n# made by a test\n{w} {h}\n255\n").into_bytes();
    for y in 0..h {
        for x in 0..w {
            img.extend_from_slice(&[
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                ((x ^ y) & 255) as u8,
            ]);
        }
    }
    img
}

fn write_temp(dir: &std::path::Path, name: &str, data: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path.to_str().unwrap().to_string()
}

/// Every 1024-byte slot of `got` is either the original or reported lost in `report`.
fn check_slots(original: &[u8], got: &[u8], report: &Value) {
    assert_eq!(got.len(), original.len(), "full length");
    let lost: Vec<(usize, usize)> = report["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let o = r["offset"].as_u64().unwrap() as usize;
            (o, o + r["length"].as_u64().unwrap() as usize)
        })
        .collect();
    for (i, (a, b)) in original.chunks(1024).zip(got.chunks(1024)).enumerate() {
        let s = i * 1024;
        let reported = lost.iter().any(|&(x, y)| x <= s && s < y);
        assert!(a == b || reported, "slot {i} differs but is not reported");
        if !reported {
            assert!(a == b, "slot {i} not reported yet wrong");
        }
    }
}

#[test]
fn an_image_missing_its_first_packets_still_decodes_full_size() {
    require_tool("ffmpeg");
    require_tool("/usr/bin/python3");
    let img = ppm(200, 150);
    let dir = tempfile::tempdir().unwrap();
    let src = write_temp(dir.path(), "img.ppm", &img);
    let d = dir.path().display();
    // Cut away the first descriptor and the first four data packets and a half.
    let out = sh(&format!(
        "pktize {src} | tail -c +$((1100 + 4 * 1056 + 500)) | unpktize --report {d}/r.json > {d}/got.ppm"
    ));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let got = std::fs::read(format!("{d}/got.ppm")).unwrap();
    let report: Value =
        serde_json::from_slice(&std::fs::read(format!("{d}/r.json")).unwrap()).unwrap();
    check_slots(&img, &got, &report);
    assert_eq!(&got[..1024], &img[..1024], "the head is restored");
    assert_eq!(report["bytes"]["restored"].as_u64(), Some(1024));
    common::sh_prints(
        &format!(
            "/usr/bin/python3 -c 'from PIL import Image; im = Image.open(\"{d}/got.ppm\"); im.load(); print(im.size)'"
        ),
        "(200, 150)",
    );
    common::sh_prints(
        &format!("ffmpeg -v error -i {d}/got.ppm -f rawvideo -pix_fmt rgb24 - | wc -c"),
        "90000",
    );
}

#[test]
fn a_receiver_that_starts_at_40_percent_writes_the_full_length_and_the_head() {
    let data = ppm(640, 480);
    let dir = tempfile::tempdir().unwrap();
    let src = write_temp(dir.path(), "img.ppm", &data);
    let stream = sh(&format!("pktize {src}")).stdout;
    let late = &stream[stream.len() * 4 / 10..];
    for to_file in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("r.json");
        let outfile = dir.path().join("got");
        let mut args = vec!["--report".to_string(), report.to_str().unwrap().into()];
        if to_file {
            args.extend(["-o".into(), outfile.to_str().unwrap().into()]);
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run("unpktize", &argv, late);
        assert_eq!(out.status.code(), Some(1));
        let got = if to_file {
            std::fs::read(&outfile).unwrap()
        } else {
            out.stdout
        };
        let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        check_slots(&data, &got, &report);
        assert_eq!(
            &got[..1024],
            &data[..1024],
            "head restored (file output: {to_file})"
        );
        let tail = data.len() * 6 / 10 + 2048;
        assert!(got[data.len() - tail + 4096..] == data[data.len() - tail + 4096..]);
    }
}

#[test]
fn a_late_netcat_receiver_gets_a_full_length_output_with_its_head() {
    require_tool("nc");
    require_tool("socat");
    let data = bytes(3 << 20, 4);
    let dir = tempfile::tempdir().unwrap();
    let src = write_temp(dir.path(), "in", &data);
    let d = dir.path().display();
    // The sender starts first, paced at 2 MB/s for about 1.6 s. Its first 100 datagrams
    // reach this socket, not the receiver, which starts only once they came and misses
    // them (and what is sent while it starts). socat's UDP-SENDTO keeps sending while
    // nobody listens (nc would stop).
    let early = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let port = early.local_addr().unwrap().port();
    let _serial = crate::netcat::one_at_a_time();
    let sender = common::sh_spawn(&format!(
        "timeout 60 pktize --rate 2M {src} | timeout 60 socat -u - UDP-SENDTO:127.0.0.1:{port}"
    ));
    common::miss_datagrams(&early, 100);
    drop(early);
    let receiver = common::sh_spawn(&format!(
        "timeout 60 nc -u -l -d -w 2 127.0.0.1 {port} > {d}/late.pk"
    ));
    let sent = sender.wait_with_output().unwrap();
    assert!(sent.status.success(), "sender: {}", stderr(&sent));
    // nc ends 2 s after the last datagram.
    receiver.wait_with_output().unwrap();
    common::sh_prints(
        &format!("unpktize --report {d}/r.json < {d}/late.pk > {d}/got; echo $?"),
        "1",
    );
    let got = std::fs::read(format!("{d}/got")).unwrap();
    let report: Value =
        serde_json::from_slice(&std::fs::read(format!("{d}/r.json")).unwrap()).unwrap();
    check_slots(&data, &got, &report);
    assert_eq!(
        &got[..1024],
        &data[..1024],
        "head restored from a descriptor"
    );
    assert!(
        report["packets"]["intact"].as_u64().unwrap() > 500,
        "{report}"
    );
}

#[test]
fn info_names_the_transfer_and_exits_at_the_first_descriptor() {
    let img = ppm(64, 48);
    let dir = tempfile::tempdir().unwrap();
    let src = write_temp(dir.path(), "img.ppm", &img);
    let stream = run("pktize", &["--name", "holiday photo.ppm", &src], b"").stdout;
    // The stream never ends: --info must not wait for it.
    let mut child = common::spawn("unpktize", &["--info"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&stream[..2000]).unwrap();
    stdin.flush().unwrap();
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    drop(stdin);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"holiday photo.ppm\""), "{text}");
    assert!(text.contains("pnm"), "{text}");
    assert!(text.contains(&format!("{} bytes", img.len())), "{text}");
    assert!(text.contains("P6 64x48 maxval 255"), "{text}");
    let none = run("unpktize", &["--info"], b"no packets here");
    assert_eq!(none.status.code(), Some(2));
    assert!(stderr(&none).contains("no descriptor"), "{}", stderr(&none));
}

#[test]
fn info_reads_bmp_geometry_and_the_type_can_be_given() {
    // A real 2x2 24-bit BMP (ppm2bmp's), not a forged head: a head that does not parse
    // as BMP headers gives no geometry.
    let bmp = run("ppm2bmp", &[], b"P6 2 2 255\n000000000000").stdout;
    assert_eq!(bmp.len(), 54 + 16);
    let stream = run("pktize", &[], &bmp).stdout;
    let out = run("unpktize", &["--info"], &stream);
    assert!(String::from_utf8_lossy(&out.stdout).contains("BMP 2x2 24 bits per pixel"));
    let stream = run("pktize", &["--type", "jpeg"], &bmp).stdout;
    let out = run("unpktize", &["--info"], &stream);
    assert!(String::from_utf8_lossy(&out.stdout).contains("jpeg"));
    assert_eq!(
        run("pktize", &["--type", "gif"], b"").status.code(),
        Some(2)
    );
}

/// A descriptor packet with another body (valid header and CRC).
fn descriptor_packet(id: u16, total: u64, d: &Descriptor) -> Vec<u8> {
    common::forged_packet(Kind::Descriptor, id, 99, 0, Some(total), &d.encode())
}

#[test]
fn damaged_descriptors_are_ignored_and_conflicting_ones_reported() {
    let data = bytes(20_000, 9);
    let dir = tempfile::tempdir().unwrap();
    let src = write_temp(dir.path(), "in", &data);
    let packets = split_packets(&run("pktize", &["--id", "77", "--name", "a", &src], b"").stdout);
    let first = &packets[0];
    assert_eq!(header(first).kind, Kind::Descriptor);
    // A damaged copy of the first descriptor claiming another head: never trusted.
    let mut damaged = first.clone();
    let n = damaged.len();
    damaged[n - 3] ^= 0x55;
    // A well-formed descriptor that contradicts the first (another name).
    let mut other = Descriptor::parse(&first[HEADER_LEN..]).unwrap();
    other.name = "b".into();
    let conflicting = descriptor_packet(77, 20_000, &other);
    let mut stream = vec![damaged];
    stream.extend(packets.iter().cloned());
    stream.insert(5, conflicting);
    let dir2 = tempfile::tempdir().unwrap();
    let r = dir2.path().join("r.json");
    let out = run(
        "unpktize",
        &["--report", r.to_str().unwrap()],
        &stream.concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout == data);
    let report: Value = serde_json::from_slice(&std::fs::read(&r).unwrap()).unwrap();
    assert_eq!(report["packets"]["bad_descriptors"].as_u64(), Some(1));
    assert_eq!(
        report["packets"]["conflicting_descriptors"].as_u64(),
        Some(1)
    );
    assert_eq!(report["transfers"][0]["name"].as_str(), Some("a"));
    // The first and the trailing descriptor were used.
    assert_eq!(report["packets"]["descriptors"].as_u64(), Some(2));
}

#[test]
fn a_damaged_first_packet_takes_the_head_from_the_descriptor() {
    let data = ppm(100, 100);
    let dir = tempfile::tempdir().unwrap();
    let src = write_temp(dir.path(), "img.ppm", &data);
    let mut packets = split_packets(&run("pktize", &[&src], b"").stdout);
    let first_data = packets
        .iter()
        .position(|p| header(p).kind == Kind::Data)
        .unwrap();
    packets[first_data][HEADER_LEN + 7] ^= 0xFF;
    let out = run("unpktize", &["-v"], &packets.concat());
    assert!(
        out.stdout == data,
        "the descriptor's head replaced the damaged bytes"
    );
    assert!(stderr(&out).contains("1024 restored"), "{}", stderr(&out));
}

#[test]
fn descriptors_cost_under_one_percent_at_the_defaults() {
    let data = bytes(10 << 20, 2);
    let dir = tempfile::tempdir().unwrap();
    let src = write_temp(dir.path(), "in", &data);
    let stream = run("pktize", &[&src], b"").stdout;
    let packets = split_packets(&stream);
    let descriptor_bytes: usize = packets
        .iter()
        .filter(|p| header(p).kind == Kind::Descriptor)
        .map(Vec::len)
        .sum();
    let share = descriptor_bytes as f64 / stream.len() as f64;
    assert!(
        share < 0.01,
        "descriptors are {:.3}% of the stream",
        share * 100.0
    );
    assert!(descriptor_bytes > 0);
}

#[test]
fn a_slow_pipe_gets_a_descriptor_at_once_and_a_longer_head_later() {
    // pktize must not wait for 1024 bytes before sending: a slow producer gets its first
    // packets promptly, and later descriptors carry the full head.
    let data = bytes(5000, 3);
    let mut cmd = Command::new("bash");
    cmd.args([
        "-c",
        &format!(
            "{} -s 100 --describe-every 10",
            common::bin("pktize").display()
        ),
    ]);
    let out = run_cmd(&mut cmd, &data);
    let packets = split_packets(&out.stdout);
    let heads: Vec<usize> = packets
        .iter()
        .filter(|p| header(p).kind == Kind::Descriptor)
        .map(|p| Descriptor::parse(&p[HEADER_LEN..]).unwrap().head.len())
        .collect();
    assert_eq!(*heads.last().unwrap(), 1024);
    assert!(heads.windows(2).all(|w| w[0] <= w[1]));
    let got = run("unpktize", &[], &out.stdout);
    assert!(got.stdout == data);
    assert_eq!(
        Descriptor::parse(&packets[0][HEADER_LEN..])
            .unwrap()
            .media_type,
        MediaType::Raw
    );
}

#[test]
fn a_pixel_fill_pattern_lines_up_with_the_pixels_after_the_image_header() {
    // A 17-byte PPM header: a fill pattern phased by byte offset alone would paint the
    // holes in shifted colours; the descriptor tells where the pixels start.
    let mut img = b"P6\n# c\n64 48\n255\n".to_vec();
    assert_eq!(img.len(), 17);
    img.extend(bytes(64 * 48 * 3, 5));
    let dir = tempfile::tempdir().unwrap();
    let src = write_temp(dir.path(), "img.ppm", &img);
    let packets = split_packets(&run("pktize", &["-s", "1000", &src], b"").stdout);
    let data_at = |seq| {
        packets
            .iter()
            .position(|p| header(p).kind == Kind::Data && header(p).seq == seq)
            .unwrap()
    };
    let lost = data_at(4);
    let stream = common::without(&packets, lost);
    let out = run("unpktize", &["--fill", "ff00ff"], &stream);
    assert_eq!(out.status.code(), Some(1));
    let pixels = &out.stdout[17..];
    // Packet 4 held bytes 4000..5000 of the file: whole pixels inside it are magenta.
    let first = (4000 - 17usize).div_ceil(3);
    let last = (5000 - 17) / 3;
    for px in first..last {
        assert_eq!(&pixels[3 * px..3 * px + 3], &[0xff, 0, 0xff], "pixel {px}");
    }
}
