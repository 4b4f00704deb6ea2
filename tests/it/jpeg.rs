//! JPEGs sent indexed (`pktize(5)`, JPEG transfers) on real photographs (scikit-image's
//! samples, fetched by `tests/photos/fetch.sh`) made into JPEGs by libjpeg-turbo's
//! `cjpeg` and by ffmpeg: byte for byte without loss, whatever the sampling, restart
//! markers or size; with loss a baseline JPEG that ffmpeg and Pillow decode, close to the
//! original; progressive JPEGs refused with the remedy.

use crate::common::{require_tool, sh, stderr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The directory of the photographs as PPM (astronaut, coffee, chelsea).
fn photos() -> &'static Path {
    static FETCHED: OnceLock<PathBuf> = OnceLock::new();
    FETCHED.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/photos");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/photos/fetch.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "tests/photos/fetch.sh: {}",
            stderr(&out)
        );
        dir
    })
}

/// A temporary directory holding `name`.jpg made by `make` (a shell command that writes
/// the JPEG to stdout, with $P the photos' directory).
fn jpeg(dir: &Path, name: &str, make: &str) -> Vec<u8> {
    let out = sh(&format!(
        "cd {} && P={} && {make} > {name}.jpg",
        dir.display(),
        photos().display()
    ));
    assert!(out.status.success(), "{make}: {}", stderr(&out));
    std::fs::read(dir.join(format!("{name}.jpg"))).unwrap()
}

/// In `dir`: run `script` with the binaries on PATH.
fn run_in(dir: &Path, script: &str) -> std::process::Output {
    sh(&format!("cd {} && {script}", dir.display()))
}

/// The PSNR of two images' RGB pixels as ffmpeg decodes them.
fn psnr(dir: &Path, a: &str, b: &str) -> f64 {
    let decode = |f: &str| {
        let out = run_in(
            dir,
            &format!("ffmpeg -v error -i {f} -f rawvideo -pix_fmt rgb24 -"),
        );
        assert!(out.status.success(), "ffmpeg decodes {f}: {}", stderr(&out));
        out.stdout
    };
    let (x, y) = (decode(a), decode(b));
    assert_eq!(x.len(), y.len());
    let se: f64 = x
        .iter()
        .zip(&y)
        .map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2))
        .sum();
    10.0 * (255.0f64.powi(2) / (se / x.len() as f64)).log10()
}

#[test]
fn round_trip_is_byte_identical_for_every_kind_of_baseline_jpeg() {
    require_tool("cjpeg");
    require_tool("ffmpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        ("q75", "cjpeg -quality 75 $P/astronaut.ppm"),
        ("q90opt", "cjpeg -quality 90 -optimize $P/astronaut.ppm"),
        ("s444odd", "cjpeg -sample 1x1 $P/chelsea.ppm"),
        ("s422", "cjpeg -sample 2x1 $P/coffee.ppm"),
        ("gray", "cjpeg -grayscale $P/chelsea.ppm"),
        ("restart1", "cjpeg -restart 1 $P/coffee.ppm"),
        ("restart7b", "cjpeg -restart 7b -sample 1x1 $P/chelsea.ppm"),
        (
            "ffmpeg",
            "ffmpeg -v error -i $P/chelsea.ppm -q:v 4 -f mjpeg -",
        ),
    ];
    for (name, make) in cases {
        let original = jpeg(d, name, make);
        for size in ["1024", "200"] {
            let out = run_in(
                d,
                &format!("pktize -s {size} {name}.jpg | tee {name}.pk | unpktize > {name}.out"),
            );
            assert!(out.status.success(), "{name} -s {size}: {}", stderr(&out));
            let back = std::fs::read(d.join(format!("{name}.out"))).unwrap();
            assert!(back == original, "{name} -s {size}: not the original bytes");
            let info = run_in(d, &format!("unpktize --info {name}.pk"));
            assert!(
                String::from_utf8_lossy(&info.stdout).contains("jpeg-indexed"),
                "{name}"
            );
        }
    }
}

#[test]
fn headers_are_packed_so_the_wire_costs_at_most_five_percent() {
    require_tool("cjpeg");
    require_tool("wrjpgcom");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // libjpeg's tables at several qualities are named, optimised ones spelled out; a
    // long comment travels after the scan, so the descriptors stay small.
    let comment: String = (0..3000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let cases = [
        (
            "q75",
            "cjpeg -quality 75 $P/astronaut.ppm".to_string(),
            1.05,
        ),
        (
            "q90",
            "cjpeg -quality 90 $P/astronaut.ppm".to_string(),
            1.05,
        ),
        ("q90c", "cjpeg -quality 90 $P/coffee.ppm".to_string(), 1.05),
        ("q20", "cjpeg -quality 20 $P/coffee.ppm".to_string(), 1.05),
        (
            "com",
            format!("cjpeg -quality 75 $P/astronaut.ppm | wrjpgcom -comment {comment}"),
            1.05,
        ),
        // Its own tables are spelled out: ~600 bytes in each of two descriptors.
        (
            "opt",
            "cjpeg -quality 75 -optimize $P/astronaut.ppm".to_string(),
            1.08,
        ),
    ];
    for (name, make, most) in cases {
        let original = jpeg(d, name, &make);
        let out = run_in(d, &format!("pktize {name}.jpg > {name}.pk"));
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let wire = std::fs::metadata(d.join(format!("{name}.pk")))
            .unwrap()
            .len();
        let ratio = wire as f64 / original.len() as f64;
        assert!(
            ratio <= most,
            "{name}: {wire} bytes on the wire for {}, {ratio:.3}",
            original.len()
        );
        let back = run_in(d, &format!("unpktize < {name}.pk"));
        assert!(
            back.status.success() && back.stdout == original,
            "{name}: not the original bytes"
        );
    }
    // The comment is in the last packets: with them lost, the JPEG is rebuilt without it.
    let out = run_in(d, "head -c 30000 com.pk | unpktize -o com.lossy.jpg");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lossy = std::fs::read(d.join("com.lossy.jpg")).unwrap();
    assert!(lossy.starts_with(&[0xFF, 0xD8]) && lossy.ends_with(&[0xFF, 0xD9]));
}

#[test]
fn with_loss_a_decodable_jpeg_close_to_the_original() {
    require_tool("cjpeg");
    require_tool("ffmpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    jpeg(d, "a", "cjpeg -quality 75 $P/astronaut.ppm");
    jpeg(
        d,
        "r",
        "cjpeg -quality 75 -restart 2 -sample 1x1 $P/coffee.ppm",
    );
    for (name, floor) in [("a", 24.0), ("r", 24.0)] {
        let out = run_in(
            d,
            &format!(
                "pktize {name}.jpg | corrupt --loss 10% --seed 5 | unpktize -o {name}.lossy.jpg"
            ),
        );
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("MCUs lost and concealed"),
            "{}",
            stderr(&out)
        );
        let db = psnr(d, &format!("{name}.lossy.jpg"), &format!("{name}.jpg"));
        assert!(db > floor, "{name}: {db:.1} dB at 10% loss");
        // Pillow, a second decoder, reads it whole.
        let pil = run_in(
            d,
            &format!("/usr/bin/python3 -c 'from PIL import Image; im = Image.open(\"{name}.lossy.jpg\"); im.load(); print(im.size)'"),
        );
        assert!(pil.status.success(), "Pillow: {}", stderr(&pil));
        // ffmpeg finds no error in its scan.
        let strict = run_in(
            d,
            &format!("ffmpeg -v error -xerror -i {name}.lossy.jpg -f null - 2>&1"),
        );
        assert!(
            strict.status.success() && strict.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&strict.stdout)
        );
    }
}

#[test]
fn progressive_jpegs_are_refused_with_the_remedy() {
    require_tool("cjpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let original = jpeg(d, "p", "cjpeg -progressive $P/chelsea.ppm");
    let out = run_in(d, "pktize --type jpeg p.jpg > /dev/null");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("pktize: error: a progressive JPEG"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("jpegtran"));
    // Sniffed, it goes out as plain bytes, with the warning.
    let out = run_in(d, "pktize p.jpg | unpktize > p.out");
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("warning: this JPEG is sent as plain bytes"),
        "{}",
        stderr(&out)
    );
    assert!(std::fs::read(d.join("p.out")).unwrap() == original);
    // jpegtran's baseline copy of it goes indexed.
    let out = run_in(
        d,
        "jpegtran p.jpg > b.jpg && pktize b.jpg | unpktize --info -",
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("jpeg-indexed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_jpeg_whose_first_descriptor_was_lost_is_still_rebuilt() {
    require_tool("cjpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let original = jpeg(d, "a", "cjpeg -quality 60 $P/chelsea.ppm");
    let stream = crate::common::sh(&format!("pktize {}/a.jpg", d.display())).stdout;
    let packets = crate::common::split_packets(&stream);
    assert_eq!(
        crate::common::header(&packets[0]).kind,
        pktools::wire::Kind::Descriptor
    );
    // Without the first descriptor: read ahead to the last, the original.
    let rest: Vec<u8> = packets[1..].concat();
    let out = crate::common::run("unpktize", &[], &rest);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout == original, "not the original bytes");
    // Nor the first data packet: the headers come back from the last descriptor's head,
    // the first MCUs are lost and concealed.
    let rest: Vec<u8> = packets[2..].concat();
    let out = crate::common::run("unpktize", &[], &rest);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("MCUs lost and concealed (MCUs 0-"),
        "{}",
        stderr(&out)
    );
    std::fs::write(d.join("b.jpg"), &out.stdout).unwrap();
    let strict = run_in(d, "ffmpeg -v error -xerror -i b.jpg -f null - 2>&1");
    assert!(strict.status.success() && strict.stdout.is_empty());
}

#[test]
fn conceal_writes_the_picture_as_ppm() {
    require_tool("cjpeg");
    require_tool("djpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    jpeg(d, "a", "cjpeg -quality 80 $P/coffee.ppm");
    jpeg(d, "g", "cjpeg -grayscale $P/chelsea.ppm");
    let out = run_in(
        d,
        "pktize a.jpg | unpktize --conceal > a.ppm && djpeg -ppm a.jpg > ref.ppm && \
         pktize g.jpg | unpktize --conceal > g.pgm",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ppm = std::fs::read(d.join("a.ppm")).unwrap();
    assert!(ppm.starts_with(b"P6\n600 400\n255\n"));
    assert!(std::fs::read(d.join("g.pgm"))
        .unwrap()
        .starts_with(b"P5\n451 300\n255\n"));
    // Our decoder against libjpeg's: the same picture but for upsampling and rounding.
    let db = psnr(d, "a.ppm", "ref.ppm");
    assert!(db > 38.0, "{db:.1} dB against djpeg");
    let out = run_in(
        d,
        "pktize a.jpg | corrupt --loss 10% --seed 2 | unpktize --conceal > l.ppm",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let db = psnr(d, "l.ppm", "ref.ppm");
    assert!(db > 24.0, "{db:.1} dB at 10% loss");
}

#[test]
fn a_jpeg_whose_every_descriptor_was_lost_is_rebuilt_from_its_first_packet() {
    require_tool("cjpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let original = jpeg(d, "a", "cjpeg -quality 60 $P/chelsea.ppm");
    let stream = crate::common::sh(&format!("pktize {}/a.jpg", d.display())).stdout;
    let packets = crate::common::split_packets(&stream);
    let kind = |p: &[u8]| crate::common::header(p).kind;
    let data: Vec<&Vec<u8>> = packets
        .iter()
        .filter(|p| kind(p) == pktools::wire::Kind::Data)
        .collect();
    assert!(data.len() > 4 && data.len() + 2 == packets.len());
    // No descriptor at all: the first data packet (a sub-header, then SOI) says it is an
    // indexed JPEG, from a pipe and from a file.
    let all: Vec<u8> = data.iter().flat_map(|p| p.iter().copied()).collect();
    let out = crate::common::run("unpktize", &[], &all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout == original, "not the original bytes");
    // And with a data packet lost: a JPEG, not the transfer's bytes.
    let lossy: Vec<u8> = data
        .iter()
        .enumerate()
        .filter(|(k, _)| *k != 2)
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    std::fs::write(d.join("l.pk"), &lossy).unwrap();
    let out = run_in(d, "unpktize l.pk > b.jpg");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("MCUs lost and concealed"),
        "{}",
        stderr(&out)
    );
    let strict = run_in(d, "ffmpeg -v error -xerror -i b.jpg -f null - 2>&1");
    assert!(strict.status.success() && strict.stdout.is_empty());
}

#[test]
fn two_indexed_jpegs_back_to_back_are_rebuilt_one_after_the_other() {
    require_tool("cjpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = jpeg(d, "a", "cjpeg -quality 60 $P/chelsea.ppm");
    let b = jpeg(d, "b", "cjpeg -quality 60 $P/coffee.ppm");
    // Both whole in one reception: both files, byte for byte, one after the other.
    let out = run_in(d, "(pktize a.jpg; pktize b.jpg) | unpktize > ab.out");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read(d.join("ab.out")).unwrap() == [a.clone(), b.clone()].concat());
    // With losses (in both, at this seed): each rebuilt on its own, a JPEG of its own size, concealed; exit 1, never intact.
    let out = run_in(
        d,
        "(pktize a.jpg; pktize b.jpg) | corrupt --loss 20% --seed 3 | unpktize > ab.lossy",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    for k in ["transfer 1 of 2: JPEG:", "transfer 2 of 2: JPEG:"] {
        assert!(err.contains(k), "{k}: {err}");
    }
    std::fs::write(
        d.join("sizes.py"),
        "from PIL import Image\nimport io\n\
         d = open('ab.lossy', 'rb').read()\n\
         i = d.index(b'\\xff\\xd9\\xff\\xd8') + 2\n\
         for part in (d[:i], d[i:], open('a.jpg', 'rb').read(), open('b.jpg', 'rb').read()):\n\
         \x20   im = Image.open(io.BytesIO(part))\n\
         \x20   im.load()\n\
         \x20   print(im.size)\n",
    )
    .unwrap();
    let sizes = run_in(d, "/usr/bin/python3 sizes.py");
    assert!(sizes.status.success(), "Pillow: {}", stderr(&sizes));
    let sizes = String::from_utf8_lossy(&sizes.stdout).to_string();
    let lines: Vec<&str> = sizes.lines().collect();
    assert_eq!(lines.len(), 4, "{sizes}");
    assert_eq!(lines[..2], lines[2..], "{sizes}");
    assert_ne!(lines[0], lines[1], "{sizes}");
    // With --conceal: the two pictures, one after the other (a PNM stream).
    let out = run_in(
        d,
        "(pktize a.jpg; pktize b.jpg) | corrupt --loss 20% --seed 3 | unpktize --conceal > ab.ppm",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let ppm = std::fs::read(d.join("ab.ppm")).unwrap();
    let (wa, ha) = (451, 300);
    let first = format!("P6\n{wa} {ha}\n255\n");
    assert!(ppm.starts_with(first.as_bytes()));
    let second = b"P6\n600 400\n255\n";
    assert!(ppm[first.len() + wa * ha * 3..].starts_with(second));
    assert_eq!(
        ppm.len(),
        first.len() + wa * ha * 3 + second.len() + 600 * 400 * 3
    );
    // One of them picked by its transfer id: that JPEG, byte for byte.
    let out = run_in(
        d,
        "(pktize --id 0x0101 a.jpg; pktize --id 0x0202 b.jpg) | unpktize --id 0x0101 > a.out",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read(d.join("a.out")).unwrap() == a);
}

#[test]
fn map_every_and_live_view_show_a_jpeg_as_its_picture() {
    require_tool("cjpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 512x512 at 4:2:0: 32x32 MCUs of 16x16 pixels.
    jpeg(d, "a", "cjpeg -quality 75 $P/astronaut.ppm");
    let out = run_in(
        d,
        "pktize a.jpg | corrupt --loss 10% --seed 3 > l.pk && \
         unpktize --conceal --map m.ppm -o o.ppm < l.pk",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    let lost: usize = said
        .split("JPEG: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(lost > 0);
    // The map is the picture's: one pixel per pixel, a lost MCU's 256 in the lost colour.
    let map = std::fs::read(d.join("m.ppm")).unwrap();
    let header = b"P6\n512 512\n255\n";
    assert!(map.starts_with(header), "{:?}", &map[..16]);
    let colour = pktools::conceal::map::ByteState::Lost.colour();
    let red = map[header.len()..]
        .chunks(3)
        .filter(|p| *p == colour)
        .count();
    assert_eq!(red, lost * 256, "{said}");
    let picture = std::fs::read(d.join("o.ppm")).unwrap();
    assert_eq!(picture.len(), 786447);
    // Blended, the picture shows under the map.
    let out = run_in(
        d,
        "unpktize --conceal --map b.ppm --map-blend 50 -o o.ppm < l.pk",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let blended = std::fs::read(d.join("b.ppm")).unwrap();
    assert!(blended.len() == map.len() && blended != map);
    // --every: the picture so far at every 10000 bytes, then the whole; --live: one after
    // every packet. Each a whole PPM, the last the picture -o wrote.
    for (how, least) in [("--every 10000", 4), ("--live", 30)] {
        let out = run_in(d, &format!("unpktize --conceal {how} < l.pk > s.ppm"));
        assert_eq!(out.status.code(), Some(1), "{how}: {}", stderr(&out));
        let s = std::fs::read(d.join("s.ppm")).unwrap();
        assert_eq!(s.len() % picture.len(), 0, "{how}");
        let frames: Vec<&[u8]> = s.chunks(picture.len()).collect();
        assert!(frames.len() >= least, "{how}: {} pictures", frames.len());
        assert!(frames.iter().all(|f| f.starts_with(header)), "{how}");
        assert!(
            frames.last() == Some(&&picture[..]),
            "{how}: the last is the picture"
        );
        // Filling in: the top rows (the first packets) are there from the first picture on
        // and stay; the first picture differs from the last below them.
        let top = header.len() + 16 * 512 * 3;
        assert_eq!(frames[0][..top], picture[..top], "{how}");
        assert_ne!(frames[0], &picture[..], "{how}");
    }
}
