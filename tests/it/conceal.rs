//! Concealment on real photographs (scikit-image's public-domain and CC0 samples, fetched
//! by `tests/photos/fetch.sh`): PSNR against the original, far above fill; every intact
//! pixel exact; PGM, 16-bit PPM, BMP both ways up with padded rows, raw rgb24; and the real
//! pipeline, `pktize | corrupt | unpktize --report`, concealed from the report's ranges.

use crate::common::{bin, sh};
use pktools::conceal;
use pktools::image::{self, Geometry, Sample};
use pktools::pixel::PixelFormat;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::OnceLock;

/// A photograph as binary PPM bytes: astronaut (512x512), coffee (600x400), chelsea (451x300).
fn photo(name: &str) -> Vec<u8> {
    static FETCHED: OnceLock<PathBuf> = OnceLock::new();
    let dir = FETCHED.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/photos");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/photos/fetch.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "tests/photos/fetch.sh failed (it needs apt-get and netpbm): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    });
    std::fs::read(dir.join(format!("{name}.ppm"))).expect("the photos are fetched")
}

/// The lost byte ranges of a transfer of `len` bytes in packets of `packet` bytes, each
/// lost with probability `rate`, reproducibly from `seed`.
fn packet_loss(len: u64, packet: u64, rate: f64, seed: u64) -> Vec<Range<u64>> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out: Vec<Range<u64>> = Vec::new();
    let mut at = 0;
    while at < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let end = (at + packet).min(len);
        if ((state >> 11) as f64 / (1u64 << 53) as f64) < rate {
            match out.last_mut() {
                Some(last) if last.end == at => last.end = end,
                _ => out.push(at..end),
            }
        }
        at = end;
    }
    out
}

/// What a receiver without concealment writes: magenta where bytes were lost.
fn fill_magenta(data: &mut [u8], lost: &[Range<u64>]) {
    for r in lost {
        for i in r.start..r.end {
            data[i as usize] = [0xff, 0x00, 0xff][(i % 3) as usize];
        }
    }
}

/// The samples of every pixel (8-bit, or the high byte of 16-bit ones), padding left out.
fn samples(geometry: &Geometry, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for grid in &geometry.grids {
        for row in 0..grid.rows {
            let bytes = grid.row_bytes(row);
            let row = &data[bytes.start as usize..bytes.end as usize];
            match grid.sample {
                Sample::U8 => out.extend_from_slice(row),
                Sample::U16Be => out.extend(row.iter().step_by(2)),
                Sample::U16Le => out.extend(row.iter().skip(1).step_by(2)),
            }
        }
    }
    out
}

/// Every pixel none of whose bytes is in `unknown` is as in `original`.
fn assert_intact_pixels_exact(
    geometry: &Geometry,
    original: &[u8],
    result: &[u8],
    unknown: &[Range<u64>],
) {
    let mut checked = 0u64;
    for grid in &geometry.grids {
        for row in 0..grid.rows {
            let start = grid.row_bytes(row).start;
            for x in 0..grid.width {
                let p = start + (x * grid.pixel_bytes) as u64;
                let px = p..p + grid.pixel_bytes as u64;
                let i = unknown.partition_point(|u| u.end <= px.start);
                if unknown.get(i).is_some_and(|u| u.start < px.end) {
                    continue;
                }
                let span = px.start as usize..px.end as usize;
                assert_eq!(
                    original[span.clone()],
                    result[span],
                    "intact pixel {x} of stored row {row} changed"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no intact pixel to check");
}

/// Lose 10% of 1 KiB packets of `image`, conceal; returns (fill PSNR, conceal PSNR) and
/// checks intact pixels. The streaming concealer gives the same bytes.
fn lose_and_conceal(image: &[u8], geometry: &Geometry, seed: u64) -> (f64, f64) {
    let lost = packet_loss(image.len() as u64, 1024, 0.10, seed);
    let mut filled = image.to_vec();
    fill_magenta(&mut filled, &lost);
    let mut concealed = filled.clone();
    let done = conceal::conceal(geometry, &mut concealed, 0, &lost);
    assert!(done.pixels > 0);
    assert_intact_pixels_exact(geometry, image, &concealed, &lost);
    let mut stream = conceal::Concealer::new(geometry.clone());
    let mut streamed = Vec::new();
    for chunk in filled.chunks(65536) {
        stream.push(chunk, &lost);
        streamed.extend_from_slice(stream.ready());
    }
    stream.finish();
    streamed.extend_from_slice(stream.ready());
    assert!(
        streamed == concealed,
        "streaming differs from the whole-image pass"
    );
    let reference = samples(geometry, image);
    (
        conceal::psnr(&reference, &samples(geometry, &filled)),
        conceal::psnr(&reference, &samples(geometry, &concealed)),
    )
}

fn assert_far_better(what: &str, (fill, concealed): (f64, f64)) {
    eprintln!("{what}: fill {fill:.1} dB, concealed {concealed:.1} dB");
    assert!(concealed > 30.0, "{what}: concealed only {concealed:.1} dB");
    assert!(
        fill < 22.0,
        "{what}: fill gives {fill:.1} dB, the loss is too light"
    );
}

#[test]
fn ten_percent_loss_on_a_photo_conceals_to_well_over_30_db() {
    for name in ["astronaut", "coffee", "chelsea"] {
        let image = photo(name);
        let geometry = image::from_head(&image).unwrap();
        for seed in [1, 2] {
            assert_far_better(name, lose_and_conceal(&image, &geometry, seed));
        }
    }
}

/// A PNM header and raster of the photo converted by `f`, per pixel (R, G, B).
fn convert(name: &str, header: &str, f: impl Fn(&[u8], &mut Vec<u8>)) -> Vec<u8> {
    let image = photo(name);
    let (_, len) = pktools::pnm::Header::parse(&image).unwrap();
    let mut out = header.as_bytes().to_vec();
    for px in image[len..].chunks_exact(3) {
        f(px, &mut out);
    }
    out
}

#[test]
fn a_greymap_photo_is_concealed() {
    let pgm = convert("astronaut", "P5\n512 512\n255\n", |p, out| {
        out.push(((77 * p[0] as u32 + 150 * p[1] as u32 + 29 * p[2] as u32 + 128) >> 8) as u8)
    });
    let geometry = image::from_head(&pgm).unwrap();
    assert_far_better("PGM", lose_and_conceal(&pgm, &geometry, 3));
}

#[test]
fn a_sixteen_bit_pixmap_is_concealed_sample_by_sample() {
    // 16-bit samples with low bytes of their own, so a byte-wise average would show.
    let ppm = convert("coffee", "P6\n600 400\n65535\n", |p, out| {
        for &s in p {
            let v = (s as u16 * 257) ^ (s as u16 & 0x5a);
            out.extend_from_slice(&v.to_be_bytes());
        }
    });
    let geometry = image::from_head(&ppm).unwrap();
    assert_eq!(geometry.grids[0].sample, Sample::U16Be);
    assert_far_better("PPM 16-bit", lose_and_conceal(&ppm, &geometry, 4));
}

/// The photo cropped to `width` columns, as a PPM.
fn cropped(name: &str, width: usize) -> Vec<u8> {
    let image = photo(name);
    let (h, len) = pktools::pnm::Header::parse(&image).unwrap();
    let full = h.width as usize * 3;
    let mut out = format!("P6\n{width} {}\n255\n", h.height).into_bytes();
    for row in image[len..].chunks_exact(full) {
        out.extend_from_slice(&row[..width * 3]);
    }
    out
}

#[test]
fn bmp_bottom_up_and_top_down_with_padded_rows_are_concealed() {
    let ppm = cropped("chelsea", 101);
    for args in [&[][..], &["--top-down"][..]] {
        let out = crate::common::run("ppm2bmp", args, &ppm);
        assert!(out.status.success(), "ppm2bmp {args:?} failed");
        let bmp = out.stdout;
        let geometry = image::from_head(&bmp).unwrap();
        let grid = &geometry.grids[0];
        assert_eq!(
            (grid.width, grid.stride),
            (101, 304),
            "rows padded to 4 bytes"
        );
        let what = format!("BMP {}", geometry.description);
        assert_far_better(&what, lose_and_conceal(&bmp, &geometry, 5));
    }
}

#[test]
fn raw_rgb24_with_a_given_geometry_is_concealed() {
    let image = photo("coffee");
    let (_, len) = pktools::pnm::Header::parse(&image).unwrap();
    let raw = &image[len..];
    let (w, h, f) = image::parse_spec("600x400:rgb24").unwrap();
    assert_eq!(f, PixelFormat::Rgb24);
    let geometry = image::raw(f, w, h, 0).unwrap();
    assert_far_better("raw rgb24", lose_and_conceal(raw, &geometry, 6));
}

#[test]
fn raw_yuv420p_is_concealed_plane_by_plane() {
    // BT.601 full-range planes from the photo, 4:2:0 by averaging 2x2 blocks.
    let image = photo("astronaut");
    let (_, len) = pktools::pnm::Header::parse(&image).unwrap();
    let rgb = &image[len..];
    let (w, h) = (512usize, 512usize);
    let at = |x: usize, y: usize, c: usize| rgb[(y * w + x) * 3 + c] as f64;
    let mut yuv = Vec::with_capacity(w * h * 3 / 2);
    for y in 0..h {
        for x in 0..w {
            yuv.push((0.299 * at(x, y, 0) + 0.587 * at(x, y, 1) + 0.114 * at(x, y, 2)) as u8);
        }
    }
    for (cr, cg, cb) in [(-0.1687, -0.3313, 0.5), (0.5, -0.4187, -0.0813)] {
        for y in (0..h).step_by(2) {
            for x in (0..w).step_by(2) {
                let mut s = 0.0;
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    s += cr * at(x + dx, y + dy, 0)
                        + cg * at(x + dx, y + dy, 1)
                        + cb * at(x + dx, y + dy, 2);
                }
                yuv.push((s / 4.0 + 128.0).clamp(0.0, 255.0) as u8);
            }
        }
    }
    let geometry = image::raw(PixelFormat::Yuv420p, 512, 512, 0).unwrap();
    assert_eq!(geometry.grids.len(), 3);
    assert_far_better("raw yuv420p", lose_and_conceal(&yuv, &geometry, 7));
}

/// The byte ranges of a `unpktize --report` JSON, of the given kinds.
fn report_ranges(report: &serde_json::Value, kinds: &[&str]) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::new();
    for r in report["ranges"].as_array().expect("a ranges array") {
        if !kinds.contains(&r["kind"].as_str().unwrap()) {
            continue;
        }
        let start = r["offset"].as_u64().unwrap();
        let end = start + r["length"].as_u64().unwrap();
        match out.last_mut() {
            Some(last) if last.end >= start => last.end = last.end.max(end),
            _ => out.push(start..end),
        }
    }
    out
}

#[test]
fn the_real_pipeline_conceals_from_the_reports_ranges() {
    let image = photo("astronaut");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ppm");
    std::fs::write(&input, &image).unwrap();
    let _ = bin("pktize");
    let out = sh(&format!(
        "cd {d} && pktize --type pnm < in.ppm | corrupt --loss 10% --seed 11 \
         | unpktize --report r.json > out.ppm; test $? -le 1",
        d = dir.path().display()
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut received = std::fs::read(dir.path().join("out.ppm")).unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    let lost = report_ranges(&report, &["lost", "damaged"]);
    assert!(!lost.is_empty(), "10% loss lost nothing");
    assert_eq!(received.len(), image.len());
    // The geometry from the original's head: what a descriptor carries.
    let geometry = image::from_head(&image[..1024]).unwrap();
    let reference = samples(&geometry, &image);
    let fill = conceal::psnr(&reference, &samples(&geometry, &received));
    conceal::conceal(&geometry, &mut received, 0, &lost);
    assert_intact_pixels_exact(&geometry, &image, &received, &lost);
    let concealed = conceal::psnr(&reference, &samples(&geometry, &received));
    assert_far_better("pipeline", (fill, concealed));
}

#[test]
fn the_map_from_the_report_matches_the_true_damage_from_corrupts_log() {
    use pktools::conceal::map::{self, ByteState, StateRange};
    let image = photo("chelsea");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.ppm"), &image).unwrap();
    let out = sh(&format!(
        "cd {d} && pktize --type pnm < in.ppm > sent && corrupt --loss 8% --ber 2e-6 \
         --payload-only --seed 21 --log log.tsv < sent | unpktize --report r.json > out.ppm; \
         test $? -le 1",
        d = dir.path().display()
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The truth: which packets corrupt dropped or flipped bits in, by input index.
    let packets = crate::common::split_packets(&std::fs::read(dir.path().join("sent")).unwrap());
    let log = std::fs::read_to_string(dir.path().join("log.tsv")).unwrap();
    let mut truth: Vec<StateRange> = Vec::new();
    for line in log.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let h = crate::common::header(&packets[f[0].parse::<usize>().unwrap()]);
        if h.kind != pktools::wire::Kind::Data {
            continue;
        }
        let state = match f[3] {
            "drop" => ByteState::Lost,
            "flip" => ByteState::Damaged,
            other => panic!("unexpected event {other}"),
        };
        truth.push(StateRange {
            range: h.offset..h.offset + h.payload_len as u64,
            state,
        });
    }
    assert!(
        truth.iter().any(|s| s.state == ByteState::Damaged),
        "no bit error: raise --ber"
    );
    truth.sort_by_key(|s| s.range.start);
    // What the receiver knows: the report's ranges.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    let known: Vec<StateRange> = report["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let start = r["offset"].as_u64().unwrap();
            StateRange {
                range: start..start + r["length"].as_u64().unwrap(),
                state: match r["kind"].as_str().unwrap() {
                    "lost" => ByteState::Lost,
                    _ => ByteState::Damaged,
                },
            }
        })
        .collect();
    let geometry = image::from_head(&image[..1024]).unwrap();
    let draw = |states: &[StateRange]| {
        let mut ppm = Vec::new();
        map::write_image_map(&mut ppm, &geometry, states, &map::MapOptions::default()).unwrap();
        ppm
    };
    let (from_report, from_truth) = (draw(&known), draw(&truth));
    assert_eq!(from_report.len(), 15 + 451 * 300 * 3);
    assert!(
        from_report == from_truth,
        "the map differs from the true damage"
    );
    let lost = ByteState::Lost.colour();
    assert!(from_report[15..].chunks(3).any(|c| c == lost));
}

/// PSNR of `got` against `want`, samples of the image only.
fn psnr_of(want: &[u8], got: &[u8]) -> f64 {
    let g = image::from_head(want).unwrap();
    conceal::psnr(&samples(&g, want), &samples(&g, got))
}

/// The astronaut (a.ppm) and its packets through a lossy channel (lossy.pk, with
/// corrupt's log in `log`), in a temporary directory that the tests' commands run in.
struct LossyPhoto {
    dir: tempfile::TempDir,
    image: Vec<u8>,
}

/// The astronaut through `pktize ARGS | corrupt CHANNEL`.
fn lossy_photo(pktize: &str, channel: &str) -> LossyPhoto {
    let dir = tempfile::tempdir().unwrap();
    let image = photo("astronaut");
    std::fs::write(dir.path().join("a.ppm"), &image).unwrap();
    let lossy = LossyPhoto { dir, image };
    let out = lossy.sh(&format!(
        "pktize {pktize} a.ppm | corrupt {channel} --log log > lossy.pk"
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lossy
}

impl LossyPhoto {
    /// Run `script` in the directory.
    fn sh(&self, script: &str) -> std::process::Output {
        sh(&format!("cd '{}' && {script}", self.dir.path().display()))
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(name)).unwrap()
    }
}

#[test]
fn unpktize_conceal_to_stdout_and_to_a_file_give_the_same_image_well_over_30_db() {
    let lossy = lossy_photo("", "--loss 10% --seed 3");
    let image = &lossy.image;
    let out = lossy.sh(
        "unpktize --conceal < lossy.pk > s.ppm; unpktize --conceal -o f.ppm lossy.pk; \
         unpktize --report r.json < lossy.pk > fill.ppm; true",
    );
    assert!(out.status.success());
    let read = |n: &str| lossy.read(n);
    let (stream, file, fill) = (read("s.ppm"), read("f.ppm"), read("fill.ppm"));
    assert!(stream == file, "stdout and -o differ");
    let (concealed, filled) = (psnr_of(image, &stream), psnr_of(image, &fill));
    assert!(
        concealed > 33.0 && filled < 22.0,
        "{filled} dB -> {concealed} dB"
    );
    // Every pixel whose bytes all arrived is exact.
    let report: serde_json::Value =
        serde_json::from_slice(&read("r.json")).expect("the report is JSON");
    let lost = report_ranges(&report, &["lost", "damaged"]);
    let header_len = image.len() - 512 * 512 * 3;
    for px in (header_len..image.len()).step_by(3) {
        let px = px as u64..px as u64 + 3;
        if !lost.iter().any(|r| r.start < px.end && px.start < r.end) {
            let px = px.start as usize..px.end as usize;
            assert_eq!(stream[px.clone()], image[px.clone()], "pixel at {px:?}");
        }
    }
}

#[test]
fn non_image_data_is_not_concealed_and_says_so() {
    let out = sh("head -c 51200 /dev/zero | tr '\\0' x | pktize | \
         corrupt --loss 10% --seed 2 | unpktize --conceal -v | wc -c");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not concealed"), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "51200");
}

#[test]
fn snapshots_are_whole_images_whose_quality_never_falls() {
    let lossy = lossy_photo("", "--loss 10% --seed 4");
    let image = &lossy.image;
    let out = lossy.sh("unpktize --every 100k --conceal < lossy.pk > snaps; echo $?");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    let snaps = lossy.read("snaps");
    assert_eq!(snaps.len() % image.len(), 0);
    let frames: Vec<&[u8]> = snaps.chunks(image.len()).collect();
    assert!(frames.len() >= 7, "{} snapshots", frames.len());
    let mut last = 0.0;
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(
            &f[..15],
            &image[..15],
            "snapshot {i} starts with the PPM header"
        );
        let q = psnr_of(image, f);
        assert!(q >= last - 0.01, "snapshot {i}: {q} dB after {last} dB");
        last = q;
    }
    assert!(last > 33.0, "{last}");
    // ffmpeg reads the stream of snapshots as images.
    crate::common::require_tool("ffmpeg");
    let decoded =
        lossy.sh("ffmpeg -v error -f image2pipe -c:v ppm -i snaps -f framecrc - | grep -vc '^#'");
    assert_eq!(
        String::from_utf8_lossy(&decoded.stdout).trim(),
        frames.len().to_string()
    );
}

#[test]
fn the_map_of_unpktize_shows_exactly_the_pixels_of_lost_packets() {
    let lossy = lossy_photo("", "--loss 10% --seed 5");
    let (dir, image) = (&lossy.dir, &lossy.image);
    let out = lossy.sh("unpktize --map map.ppm < lossy.pk > got.ppm; true");
    assert!(out.status.success());
    let map = std::fs::read(dir.path().join("map.ppm")).unwrap();
    let g = image::from_head(image).unwrap();
    let header_len = image.len() - 512 * 512 * 3;
    assert_eq!(
        &map[..header_len],
        &image[..header_len],
        "a P6 of the image's size"
    );
    // The log names the dropped packets (seq = offset / 1024 of data packets).
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    let got = std::fs::read(dir.path().join("got.ppm")).unwrap();
    let lost_px: usize = (0..512 * 512)
        .filter(|p| {
            let at = header_len + p * 3;
            map[at..at + 3] == conceal::map::ByteState::Lost.colour()
        })
        .count();
    let dropped = log.lines().filter(|l| l.contains("\tdrop")).count();
    assert!(dropped > 50);
    // Every pixel coloured lost differs from intact output only where bytes were filled.
    for p in 0..512 * 512 {
        let at = header_len + p * 3;
        let lost = map[at..at + 3] == conceal::map::ByteState::Lost.colour();
        let exact = got[at..at + 3] == image[at..at + 3];
        if !lost {
            assert!(exact, "pixel {p} is not marked lost but differs");
        }
    }
    assert!(lost_px > 0);
    let _ = g;
}

/// PSNR of the astronaut sent with `pktize ARGS`, through `CHANNEL`, concealed.
fn concealed_psnr(pktize: &str, channel: &str) -> f64 {
    let image = photo("astronaut");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.ppm"), &image).unwrap();
    let d = dir.path().display();
    let out = sh(&format!(
        "pktize {pktize} {d}/a.ppm | {channel} | unpktize --conceal > {d}/got.ppm; true"
    ));
    assert!(out.status.success());
    let got = std::fs::read(dir.path().join("got.ppm")).unwrap();
    assert_eq!(got.len(), image.len(), "{pktize} | {channel}");
    psnr_of(&image, &got)
}

/// Concealed PSNR through `channel` of the astronaut sent in order, and interleaved.
fn in_order_and_interleaved(channel: &str) -> (f64, f64) {
    (
        concealed_psnr("", channel),
        concealed_psnr("--interleave", channel),
    )
}

#[test]
fn interleaving_beats_plain_concealment_under_bursts_of_64_packets() {
    let (plain, interleaved) = in_order_and_interleaved("corrupt --loss 10% --burst 64 --seed 7");
    assert!(
        interleaved > plain + 3.0,
        "interleaved {interleaved:.1} dB vs plain {plain:.1} dB"
    );
}

#[test]
fn an_eighth_of_an_interleaved_transfer_is_a_recognisable_whole_image() {
    // The packets are about 1056 bytes each: keep the first eighth of the stream.
    let (sequential, interleaved) = in_order_and_interleaved("head -c $((786447 / 8 + 2000))");
    assert!(
        interleaved > 20.0 && interleaved > sequential + 8.0,
        "an eighth: interleaved {interleaved:.1} dB, in order {sequential:.1} dB"
    );
}

#[test]
fn a_jpeg_that_lost_packets_gets_a_warning_with_the_remedy() {
    crate::common::require_tool("ffmpeg");
    crate::common::require_tool("jpegtran");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    // A baseline JPEG goes indexed (tests/it/jpeg.rs); a progressive one goes as plain
    // bytes, and that is what the warning is about.
    let out = sh(&format!(
        "ffmpeg -v error -f lavfi -i testsrc=size=640x480 -frames:v 1 {d}/b.jpg && \
         jpegtran -progressive {d}/b.jpg > {d}/p.jpg && \
         jpegtran -progressive -restart 1 {d}/b.jpg > {d}/r.jpg && \
         pktize {d}/p.jpg | corrupt --loss 10% --seed 1 | unpktize > {d}/p.out 2> {d}/plain; \
         pktize {d}/r.jpg | corrupt --loss 10% --seed 1 | unpktize > {d}/r.out 2> {d}/restart; \
         pktize {d}/b.jpg | corrupt --loss 10% --seed 1 | unpktize > {d}/c.jpg 2> {d}/indexed; \
         ffmpeg -v error -y -i {d}/c.jpg {d}/c.png"
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = std::fs::read_to_string(dir.path().join("plain")).unwrap();
    assert!(plain.contains("jpegtran in.jpg > out.jpg"), "{plain}");
    let restart = std::fs::read_to_string(dir.path().join("restart")).unwrap();
    assert!(restart.contains("restart markers"), "{restart}");
    let indexed = std::fs::read_to_string(dir.path().join("indexed")).unwrap();
    assert!(indexed.contains("MCUs lost and concealed"), "{indexed}");
    assert!(!indexed.contains("warning"), "{indexed}");
}

#[test]
fn the_map_colours_packets_rebuilt_by_fec_and_heads_restored_from_a_descriptor() {
    use conceal::map::ByteState;
    let lossy = lossy_photo("--fec 8+2", "--loss 5% --seed 3");
    let (dir, d) = (&lossy.dir, lossy.dir.path().display());
    // The colours of the map that unpktize draws of the packets in `{name}.pk`.
    let map_colours = |name: &str| -> std::collections::HashSet<[u8; 3]> {
        sh(&format!(
            "unpktize --map {d}/{name}.map.ppm < {d}/{name}.pk > /dev/null"
        ));
        let map = std::fs::read(dir.path().join(format!("{name}.map.ppm"))).unwrap();
        let header_len = map.len() - 512 * 512 * 3;
        map[header_len..]
            .chunks(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect()
    };
    let rebuilt = map_colours("lossy");
    assert!(
        rebuilt.contains(&ByteState::Rebuilt.colour()),
        "{rebuilt:?}"
    );
    // Without its first data packet (the PPM header and first rows), the head comes from
    // a descriptor.
    let stream = sh(&format!("pktize {d}/a.ppm")).stdout;
    let mut dropped = false;
    let without: Vec<u8> = crate::common::split_packets(&stream)
        .into_iter()
        .filter(|p| {
            let first_data = !dropped && crate::common::header(p).kind == pktools::wire::Kind::Data;
            dropped |= first_data;
            !first_data
        })
        .flatten()
        .collect();
    std::fs::write(dir.path().join("nohead.pk"), without).unwrap();
    let restored = map_colours("nohead");
    assert!(
        restored.contains(&ByteState::Restored.colour()),
        "{restored:?}"
    );
}
