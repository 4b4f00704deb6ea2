//! Video through the lossy channel (issue 31): raw frames, PNM frame streams and Y4M, each
//! frame concealed; ffmpeg reads what unpktize wrote, frame for frame, and the PSNR of
//! every frame against the frames sent says the concealment did its work.

use crate::common;

use common::{require_tool, sh};
use pktools::conceal::psnr;
use std::path::Path;

const W: usize = 160;
const H: usize = 120;

fn ffmpeg(script: &str) {
    let out = sh(script);
    assert!(out.status.success(), "{script}: {}", common::stderr(&out));
}

/// How many frames ffmpeg decodes from `file` read as `input_args`, and their sizes.
fn ffmpeg_frames(input_args: &str, file: &Path) -> Vec<u64> {
    let out = sh(&format!(
        "ffmpeg -nostdin -v error {input_args} -i {} -f framemd5 -",
        file.display()
    ));
    assert!(out.status.success(), "ffmpeg: {}", common::stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(',').nth(4).unwrap().trim().parse().unwrap())
        .collect()
}

/// Per-frame PSNR of `got` against `sent`, frames of `frame` bytes from `first` on, each
/// `skip` bytes of header first.
fn frame_psnrs(sent: &[u8], got: &[u8], first: usize, frame: usize, skip: usize) -> Vec<f64> {
    assert_eq!(
        sent.len(),
        got.len(),
        "the output keeps every frame's length"
    );
    (first..sent.len())
        .step_by(frame)
        .map(|at| psnr(&sent[at + skip..at + frame], &got[at + skip..at + frame]))
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().map(|x| x.min(99.0)).sum::<f64>() / v.len() as f64
}

/// The test clip: ffmpeg's testsrc (a still pattern with a moving sweep and a counter).
fn clip(dir: &Path, frames: usize, format: &str, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    ffmpeg(&format!(
        "ffmpeg -nostdin -v error -f lavfi -i testsrc=size={W}x{H}:rate=25 -frames:v {frames} \
         -pix_fmt {format} {} {}",
        if name.ends_with(".y4m") {
            "-f yuv4mpegpipe"
        } else {
            "-f rawvideo"
        },
        path.display()
    ));
    std::fs::read(path).unwrap()
}

#[test]
fn every_raw_frame_is_concealed_and_temporal_beats_spatial() {
    require_tool("ffmpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let sent = clip(dir.path(), 12, "rgb24", "in.rgb");
    let frame = W * H * 3;
    let mut results = Vec::new();
    for mode in ["fill", "spatial", "temporal", "auto"] {
        let conceal = match mode {
            "fill" => String::new(),
            m => format!("--conceal={m} --image {W}x{H}"),
        };
        let out = sh(&format!(
            "pktize {d}/in.rgb | corrupt --loss 10% --seed 4 | unpktize {conceal} > {d}/{mode}.rgb"
        ));
        assert_eq!(
            out.status.code(),
            Some(1),
            "{mode}: {}",
            common::stderr(&out)
        );
        let got = std::fs::read(dir.path().join(format!("{mode}.rgb"))).unwrap();
        let sizes = ffmpeg_frames(
            &format!("-f rawvideo -pix_fmt rgb24 -s {W}x{H}"),
            &dir.path().join(format!("{mode}.rgb")),
        );
        assert_eq!(sizes, vec![frame as u64; 12], "{mode}");
        results.push((mode, frame_psnrs(&sent, &got, 0, frame, 0)));
    }
    let (fill, spatial, temporal, auto) =
        (&results[0].1, &results[1].1, &results[2].1, &results[3].1);
    // No frame left unconcealed: every one well above the fill's.
    for k in 0..12 {
        assert!(spatial[k] > fill[k] + 8.0, "frame {k}: {results:?}");
        assert!(auto[k] >= spatial[k] - 0.5, "frame {k}: {results:?}");
    }
    assert!(
        mean(&temporal[1..]) > mean(&spatial[1..]) + 5.0,
        "{results:?}"
    );
    assert!(mean(auto) > 45.0, "{results:?}");
}

#[test]
fn a_pnm_frame_stream_that_lost_frame_headers_reads_frame_for_frame() {
    require_tool("ffmpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    clip(dir.path(), 10, "rgb24", "in.rgb");
    ffmpeg(&format!(
        "raw2ppm -s {W}x{H} --frames {d}/in.rgb > {d}/in.ppm"
    ));
    let sent = std::fs::read(dir.path().join("in.ppm")).unwrap();
    let header = format!("P6\n{W} {H}\n255\n");
    let frame = header.len() + W * H * 3;
    assert_eq!(sent.len(), 10 * frame);
    // Packets of 256 bytes, 30% lost: some frame headers are lost for sure (checked).
    let out = sh(&format!(
        "pktize -s 256 {d}/in.ppm | corrupt --loss 30% --seed 2 | \
         unpktize --conceal --report {d}/r.json > {d}/out.ppm"
    ));
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    let lost_headers = (1..10)
        .filter(|k| {
            let h = (k * frame) as u64;
            report["ranges"].as_array().unwrap().iter().any(|r| {
                let s = r["offset"].as_u64().unwrap();
                s <= h && h < s + r["length"].as_u64().unwrap()
            })
        })
        .count();
    assert!(
        lost_headers >= 2,
        "the channel lost {lost_headers} frame headers"
    );
    let got = std::fs::read(dir.path().join("out.ppm")).unwrap();
    for k in 0..10 {
        assert_eq!(
            &got[k * frame..k * frame + header.len()],
            header.as_bytes(),
            "frame {k}"
        );
    }
    let sizes = ffmpeg_frames("-f image2pipe -c:v ppm", &dir.path().join("out.ppm"));
    assert_eq!(sizes, vec![(W * H * 3) as u64; 10]);
    let p = frame_psnrs(&sent, &got, 0, frame, header.len());
    assert!(p.iter().all(|&x| x > 25.0), "{p:?}");
}

#[test]
fn y4m_through_loss_is_valid_y4m_with_every_frame_and_descriptors_say_so() {
    require_tool("ffmpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let sent = clip(dir.path(), 15, "yuv420p", "in.y4m");
    let (header, header_len) = pktools::y4m::Header::parse(&sent).unwrap();
    let frame = 6 + header.picture_len();
    assert_eq!(sent.len(), header_len + 15 * frame);
    common::sh_prints(
        &format!("pktize --type y4m {d}/in.y4m | unpktize --info | sed 's/.*, y4m/y4m/'"),
        &format!(
            "y4m, {} bytes, packets of 1024 bytes, Y4M {W}x{H} C420jpeg 25.000 fps",
            sent.len()
        ),
    );
    let mut means = Vec::new();
    for mode in ["spatial", "auto"] {
        // The first packets are lost too: the stream header comes back from a descriptor.
        let out = sh(&format!(
            "pktize {d}/in.y4m | corrupt --loss 10% --seed 6 | \
             unpktize --conceal={mode} -v > {d}/{mode}.y4m"
        ));
        assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
        common::says(&out, &format!("concealing Y4M {W}x{H} C420jpeg"));
        let got = std::fs::read(dir.path().join(format!("{mode}.y4m"))).unwrap();
        let sizes = ffmpeg_frames("-f yuv4mpegpipe", &dir.path().join(format!("{mode}.y4m")));
        assert_eq!(sizes, vec![header.picture_len() as u64; 15], "{mode}");
        let p = frame_psnrs(&sent, &got, header_len, frame, 6);
        // A 1 KiB packet is 6 rows of luma here: spatial alone is coarse.
        let floor = if mode == "auto" { 28.0 } else { 20.0 };
        assert!(p.iter().all(|&x| x > floor), "{mode}: {p:?}");
        means.push(mean(&p));
    }
    assert!(means[1] > means[0] + 5.0 && means[1] > 45.0, "{means:?}");
}

#[test]
fn live_y4m_plays_at_the_frame_rate_through_loss() {
    require_tool("ffmpeg");
    // 2 s of video at 25 frames a second, in real time (-re), paced, through 5% loss, read
    // by ffmpeg as it arrives: every frame comes out, and it ends soon after the sender.
    let started = std::time::Instant::now();
    let out = sh(&format!(
        "ffmpeg -nostdin -v error -re -f lavfi -i testsrc=size={W}x{H}:rate=25 -t 2 \
         -pix_fmt yuv420p -f yuv4mpegpipe - | pktize --rate 2M | corrupt --loss 5% --seed 1 | \
         {{ unpktize --live --conceal || [ $? = 1 ]; }} | ffmpeg -nostdin -v error -f yuv4mpegpipe -i - -f framemd5 -"
    ));
    let took = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let frames = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    assert_eq!(frames, 50);
    assert!(
        (1.9..4.0).contains(&took),
        "took {took:.2} s for 2 s of video"
    );
}

/// The map's colours of intact and lost pixels (unpktize(1)).
const GREY: [u8; 3] = [0x80; 3];
const VERMILLION: [u8; 3] = [0xd5, 0x5e, 0x00];
const GREEN: [u8; 3] = [0x00, 0x9e, 0x73];

/// The lost byte ranges of a JSON report.
fn lost_ranges(report: &Path) -> Vec<std::ops::Range<usize>> {
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
    report["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = r["offset"].as_u64().unwrap() as usize;
            s..s + r["length"].as_u64().unwrap() as usize
        })
        .collect()
}

/// The frames ffmpeg decodes from `file` (read as `input_args`) as rgb24, each `len` bytes.
fn ffmpeg_rgb_frames(input_args: &str, file: &Path, len: usize) -> Vec<Vec<u8>> {
    let out = sh(&format!(
        "ffmpeg -nostdin -v error {input_args} -i {} -f rawvideo -pix_fmt rgb24 -",
        file.display()
    ));
    assert!(out.status.success(), "ffmpeg: {}", common::stderr(&out));
    assert_eq!(out.stdout.len() % len, 0);
    out.stdout.chunks(len).map(<[u8]>::to_vec).collect()
}

#[test]
fn the_map_of_a_frame_stream_is_a_map_per_frame() {
    require_tool("ffmpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let sent = clip(dir.path(), 12, "rgb24", "in.rgb");
    let frame = W * H * 3;
    let out = sh(&format!(
        "pktize -s 512 {d}/in.rgb | corrupt --loss 10% --seed 5 | \
         unpktize --conceal --image {W}x{H} --map {d}/map.ppm --report {d}/r.json > {d}/out.rgb"
    ));
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let lost = lost_ranges(&dir.path().join("r.json"));
    let maps = ffmpeg_rgb_frames("-f ppm_pipe", &dir.path().join("map.ppm"), frame);
    assert_eq!(maps.len(), 12, "a map per frame");
    let mut lost_in = vec![0; 12];
    for (k, map) in maps.iter().enumerate() {
        for p in 0..W * H {
            let at = k * frame + 3 * p;
            let is_lost = lost.iter().any(|r| r.start < at + 3 && at < r.end);
            let px = &map[3 * p..3 * p + 3];
            match is_lost {
                true => assert_eq!(px, VERMILLION, "frame {k} pixel {p}"),
                // Restored from the descriptor's head: only the first packets.
                false if at < 1024 => assert!(px == GREY || px == GREEN, "pixel {p}"),
                false => assert_eq!(px, GREY, "frame {k} pixel {p}"),
            }
            lost_in[k] += is_lost as usize;
        }
    }
    assert!(
        lost_in.iter().filter(|&&n| n > 0).count() >= 6,
        "{lost_in:?}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("out.rgb")).unwrap().len(),
        sent.len()
    );

    // Y4M into a file, the image blended under the map: frame k's map shows frame k.
    let sent = clip(dir.path(), 8, "yuv420p", "in.y4m");
    let (header, first) = pktools::y4m::Header::parse(&sent).unwrap();
    let period = 6 + header.picture_len();
    let out = sh(&format!(
        "pktize -s 512 {d}/in.y4m | corrupt --loss 5% --seed 2 | \
         unpktize --conceal -o {d}/out.y4m --map {d}/blend.ppm --map-blend 100 --report {d}/r.json"
    ));
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let lost = lost_ranges(&dir.path().join("r.json"));
    let got = std::fs::read(dir.path().join("out.y4m")).unwrap();
    let maps = ffmpeg_rgb_frames("-f ppm_pipe", &dir.path().join("blend.ppm"), frame);
    assert_eq!(maps.len(), 8, "a map per frame");
    for (k, map) in maps.iter().enumerate() {
        let luma = first + k * period + 6;
        for y in 0..H {
            for x in 0..W {
                let at = luma + y * W + x;
                let u = luma + W * H + (y / 2) * (W / 2) + x / 2;
                let chroma = [u, u + W * H / 4];
                let is_lost = lost
                    .iter()
                    .any(|r| r.contains(&at) || chroma.iter().any(|c| r.contains(c)));
                let px = &map[3 * (y * W + x)..3 * (y * W + x) + 3];
                match is_lost {
                    true => assert_eq!(px, VERMILLION, "frame {k} ({x}, {y})"),
                    false if at < 1024 && px == GREEN => {}
                    false => assert_eq!(px, [got[at]; 3], "frame {k} ({x}, {y})"),
                }
            }
        }
    }
}

#[test]
fn every_snapshot_of_a_frame_stream_is_the_frame_being_received() {
    require_tool("ffmpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let frame = W * H * 3;
    // Random frames: each snapshot's intact samples match the one frame it shows.
    std::fs::write(dir.path().join("in.rgb"), random_frames(frame, 10, false)).unwrap();
    ffmpeg(&format!(
        "raw2ppm -s {W}x{H} --frames {d}/in.rgb > {d}/in.ppm && \
         ffmpeg -nostdin -v error -f rawvideo -pix_fmt rgb24 -s {W}x{H} -i {d}/in.rgb \
         -pix_fmt yuv420p -f yuv4mpegpipe {d}/in.y4m"
    ));
    let y4m_header = std::fs::read(dir.path().join("in.y4m")).unwrap();
    let y4m_header = y4m_header.iter().position(|&b| b == b'\n').unwrap() + 1;
    let ppm_header = format!("P6\n{W} {H}\n255\n").len();
    // Each stream's frames: where the first starts, their period, the header of each,
    // and the size ffmpeg decodes.
    for (name, image, input, first, skip, len, decoded) in [
        (
            "in.rgb",
            format!("--image {W}x{H}"),
            format!("-f rawvideo -pix_fmt rgb24 -s {W}x{H}"),
            0,
            0,
            frame,
            frame,
        ),
        (
            "in.ppm",
            String::new(),
            "-f ppm_pipe".to_string(),
            0,
            ppm_header,
            frame,
            frame,
        ),
        (
            "in.y4m",
            String::new(),
            "-f yuv4mpegpipe".to_string(),
            y4m_header,
            6,
            W * H * 3 / 2,
            W * H * 3 / 2,
        ),
    ] {
        let frames = |bytes: &[u8], from: usize| -> Vec<Vec<u8>> {
            bytes[from..]
                .chunks(skip + len)
                .map(|f| f[skip..].to_vec())
                .collect()
        };
        let sent = frames(&std::fs::read(dir.path().join(name)).unwrap(), first);
        assert_eq!(sent.len(), 10);
        // A snapshot every 2/3 of a frame: frames are shown while they arrive, and some
        // are shown twice.
        let out = sh(&format!(
            "pktize -s 512 {d}/{name} | corrupt --loss 10% --seed 3 | \
             unpktize --conceal {image} --every {} > {d}/snap",
            2 * len / 3
        ));
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {}",
            common::stderr(&out)
        );
        let snap = std::fs::read(dir.path().join("snap")).unwrap();
        // A stream of whole frames, Y4M's stream header once.
        assert_eq!(snap[..first], sent_header(dir.path(), name, first)[..]);
        let sizes = ffmpeg_frames(&input, &dir.path().join("snap"));
        assert!((13..=17).contains(&sizes.len()), "{name}: {sizes:?}");
        assert_eq!(sizes, vec![decoded as u64; sizes.len()], "{name}");
        let shown = frames(&snap, first);
        assert_eq!(shown.len(), sizes.len());
        // Each snapshot is one frame sent (the one being received: its part not yet
        // arrived is fill): the one it shares the most samples with. They come in order
        // and end with the last frame, whole, concealed.
        let best: Vec<(usize, usize)> = shown
            .iter()
            .map(|s| {
                (0..sent.len())
                    .map(|k| (k, sent[k].iter().zip(s).filter(|(a, b)| a == b).count()))
                    .fold((0, 0), |a, b| if b.1 > a.1 { b } else { a })
            })
            .collect();
        assert!(
            best.windows(2).all(|w| w[0].0 <= w[1].0),
            "{name}: {best:?}"
        );
        let last = best.last().unwrap();
        assert_eq!(last.0, 9, "{name}: {best:?}");
        assert!(last.1 > len * 8 / 10, "{name}: {best:?}");
    }
}

/// The first `n` bytes of the file sent.
fn sent_header(dir: &Path, name: &str, n: usize) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()[..n].to_vec()
}

#[test]
fn a_bad_conceal_mode_is_a_usage_error() {
    let out = common::run("unpktize", &["--conceal=sideways"], b"");
    common::exits_saying(&out, 2, "sideways");
}

/// Random samples for `frames` frames of `len` bytes: every value, legal or not, the
/// extremes where swscale's sums wrap included; 16-bit words keep 10 significant bits.
fn random_frames(len: usize, frames: usize, ten_bit: bool) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut bytes: Vec<u8> = (0..len * frames)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    if ten_bit {
        for word in bytes.chunks_exact_mut(2) {
            word[1] &= 3;
        }
    }
    bytes
}

/// raw2ppm's images of random frames against ffmpeg's own conversion of the same raw
/// frames (`-sws_flags neighbor+accurate_rnd+full_chroma_int`: nearest-neighbour chroma, as
/// raw2ppm sites it); `colorspace` Some: raw2ppm reads them as Y4M with that `C` tag, else
/// as raw frames with `args`. Returns how many samples differ, and of how many.
fn raw2ppm_against_ffmpeg(
    dir: &Path,
    pix_fmt: &str,
    colorspace: Option<&str>,
    args: &str,
    scale: &str,
    (w, h): (usize, usize),
) -> (usize, usize) {
    let frames = 2;
    let layout =
        pktools::pixel::Layout::new(pix_fmt.parse().unwrap(), w as u64, h as u64, None).unwrap();
    let frame_len = layout.frame_len;
    let raw = random_frames(frame_len, frames, pix_fmt.contains("10"));
    std::fs::write(dir.join("t.raw"), &raw).unwrap();
    let input = match colorspace {
        Some(c) => {
            let mut y4m = format!("YUV4MPEG2 W{w} H{h} F25:1 Ip C{c}\n").into_bytes();
            for frame in raw.chunks_exact(frame_len) {
                y4m.extend_from_slice(b"FRAME\n");
                y4m.extend_from_slice(frame);
            }
            std::fs::write(dir.join("t.y4m"), y4m).unwrap();
            "t.y4m".to_string()
        }
        None => format!("-s {w}x{h} -p {pix_fmt} {args} t.raw"),
    };
    let d = dir.display();
    ffmpeg(&format!(
        "cd {d} && raw2ppm --frames {input} > ours.ppm && \
         ffmpeg -nostdin -v error -y -f rawvideo -pix_fmt {pix_fmt} -s {w}x{h} -i t.raw \
         -vf scale={scale}flags=neighbor+accurate_rnd+full_chroma_int,format=rgb24 \
         -f rawvideo theirs.rgb"
    ));
    let ppm = std::fs::read(dir.join("ours.ppm")).unwrap();
    let header = format!("P6\n{w} {h}\n255\n");
    let image_len = header.len() + w * h * 3;
    assert_eq!(ppm.len(), image_len * frames, "{pix_fmt}: whole images");
    let ours: Vec<u8> = ppm
        .chunks_exact(image_len)
        .flat_map(|image| {
            assert!(
                image.starts_with(header.as_bytes()),
                "{pix_fmt}: a P6 header"
            );
            image[header.len()..].to_vec()
        })
        .collect();
    let theirs = std::fs::read(dir.join("theirs.rgb")).unwrap();
    assert_eq!(ours.len(), theirs.len(), "{pix_fmt}");
    let differ = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
    (differ, ours.len())
}

#[test]
fn raw2ppm_converts_every_yuv_format_exactly_as_ffmpeg() {
    require_tool("ffmpeg");
    let dir = tempfile::tempdir().unwrap();
    let y4m = [
        ("yuv444p", "444"),
        ("yuv422p", "422"),
        ("yuv420p", "420jpeg"),
        ("yuv420p10le", "420p10"),
        ("yuv422p10le", "422p10"),
        ("yuv444p10le", "444p10"),
        ("gray", "mono"),
    ];
    let cases = y4m.iter().map(|&(f, c)| (f, Some(c), "", "")).chain([
        ("nv12", None, "", ""),
        ("nv21", None, "", ""),
        ("yuyv422", None, "", ""),
        ("uyvy422", None, "", ""),
        (
            "yuv420p",
            None,
            "--matrix bt709 --range pc",
            "in_color_matrix=bt709:in_range=pc:",
        ),
        (
            "yuv444p",
            None,
            "--matrix bt2020",
            "in_color_matrix=bt2020:in_range=tv:",
        ),
    ]);
    // Odd sizes (chroma stretched), and an even width (chroma in pairs of pixels: the
    // AVX2 rows of 16 pixels, and 2 pixels after them) for the 8-bit planar formats.
    let even = [
        ("yuv444p", Some("444"), "", ""),
        ("yuv422p", Some("422"), "", ""),
        ("yuv420p", Some("420jpeg"), "", ""),
        ("gray", Some("mono"), "", ""),
        (
            "yuv420p",
            None,
            "--matrix bt709 --range pc",
            "in_color_matrix=bt709:in_range=pc:",
        ),
    ];
    let cases = cases
        .map(|c| (c, (67, 51)))
        .chain(even.into_iter().map(|c| (c, (66, 50))));
    for ((pix_fmt, colorspace, args, scale), size) in cases {
        let (differ, of) =
            raw2ppm_against_ffmpeg(dir.path(), pix_fmt, colorspace, args, scale, size);
        assert_eq!(
            differ, 0,
            "{pix_fmt} {args} {size:?}: {differ} of {of} samples differ from ffmpeg's"
        );
    }
}

#[test]
fn raw2ppm_converts_444alpha_as_444_with_the_alpha_dropped() {
    let (w, h) = (5, 3);
    let frames = random_frames(w * h * 4, 2, false);
    let (mut alpha, mut plain) = (
        format!("YUV4MPEG2 W{w} H{h} C444alpha\n").into_bytes(),
        format!("YUV4MPEG2 W{w} H{h} C444\n").into_bytes(),
    );
    for frame in frames.chunks_exact(w * h * 4) {
        alpha.extend_from_slice(b"FRAME\n");
        alpha.extend_from_slice(frame);
        plain.extend_from_slice(b"FRAME\n");
        plain.extend_from_slice(&frame[..w * h * 3]);
    }
    let with_alpha = common::run("raw2ppm", &["--frames"], &alpha);
    let without = common::run("raw2ppm", &["--frames"], &plain);
    assert_eq!(
        with_alpha.status.code(),
        Some(0),
        "{}",
        common::stderr(&with_alpha)
    );
    assert_eq!(
        with_alpha.stdout.len(),
        2 * (b"P6\n5 3\n255\n".len() + w * h * 3)
    );
    assert_eq!(with_alpha.stdout, without.stdout);
}

#[test]
fn raw2ppm_refuses_what_it_cannot_convert_in_one_line() {
    for (input, says) in [
        (
            &b"YUV4MPEG2 W4 H2 C420jpeg It\n"[..],
            "interlaced Y4M 4:2:0 (It) is refused",
        ),
        (b"YUV4MPEG2 W4 H2 C444p12\n", "C444p12: not converted"),
        (b"YUV4MPEG2 W4 H2 Cxyz\n", "colorspace \"xyz\""),
        (b"YUV4MPEG2 W4 H2\nFRAMX\n", "expected \"FRAME\""),
        (b"YUV4MPEG W4 H2\n", "no image size"),
    ] {
        let out = common::run("raw2ppm", &["--frames"], input);
        common::exits_saying(&out, 2, says);
    }
    // A frame cut short is filled and said: exit 1, every image whole.
    let out = common::run("raw2ppm", &[], b"YUV4MPEG2 W4 H2 C444\nFRAME\nabc");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout.len(), b"P6\n4 2\n255\n".len() + 24);
}

#[test]
fn concealing_a_million_pixel_wide_image_stays_within_16_mib() {
    // Issue 29 item 8: 31 MiB once. Rows this wide are concealed along the row.
    let (w, h) = (1usize << 20, 4usize);
    let mut image = format!("P6\n{w} {h}\n255\n").into_bytes();
    image.extend((0..w * h * 3).map(|i| ((i / 3 % w) / 4096) as u8));
    let sent = common::run("pktize", &[], &image);
    let lossy = common::run("corrupt", &["--loss", "10%", "--seed", "1"], &sent.stdout);
    let (out, rss) = common::run_measuring_rss("unpktize", &["--conceal"], &lossy.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    assert_eq!(out.stdout.len(), image.len());
    assert!(rss < 16 << 10, "peak RSS {rss} KiB");
    let p = psnr(&image, &out.stdout);
    assert!(p > 30.0, "PSNR {p:.1} dB");
}

/// A Y4M 4:2:0 10-bit stream of `frames` (raw yuv420p10le pictures of `w`x`h`), laid out
/// as the spec says, or as ffmpeg 5.1 writes it at an odd width (`short`: each chroma row
/// one byte short).
fn y4m_10bit(raw: &[u8], w: usize, h: usize, short: bool) -> Vec<u8> {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let picture = 2 * (w * h + 2 * cw * ch);
    let mut out = format!("YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C420p10 XYSCSS=420P10\n").into_bytes();
    for p in raw.chunks_exact(picture) {
        out.extend_from_slice(b"FRAME\n");
        out.extend_from_slice(&p[..2 * w * h]);
        for row in p[2 * w * h..].chunks_exact(2 * cw) {
            out.extend_from_slice(&row[..2 * cw - usize::from(short)]);
        }
    }
    out
}

#[test]
fn odd_width_10_bit_y4m_with_short_chroma_rows_is_named_wherever_it_is_read() {
    require_tool("ffmpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let (w, h) = (67, 51);
    ffmpeg(&format!(
        "ffmpeg -nostdin -v error -f lavfi -i testsrc=size={w}x{h}:rate=25 -frames:v 6 \
         -pix_fmt yuv420p10le -f rawvideo {d}/in.raw"
    ));
    let raw = std::fs::read(dir.path().join("in.raw")).unwrap();
    let said = "each chroma plane is 1742 bytes, Y4M 4:2:0 10-bit at width 67 needs 1768";
    for short in [true, false] {
        let y4m = y4m_10bit(&raw, w, h, short);
        std::fs::write(dir.path().join("in.y4m"), &y4m).unwrap();
        // raw2ppm refuses it before writing anything, one frame or several.
        for args in ["--frames", ""] {
            let out = sh(&format!("raw2ppm {args} < {d}/in.y4m"));
            if short {
                let line = common::error_line("raw2ppm", &out, &args);
                assert!(line.contains(said) && line.contains("ffmpeg 5.1"), "{line}");
                assert_eq!(out.status.code(), Some(2));
                assert!(out.stdout.is_empty());
            } else {
                assert!(out.status.success(), "{}", common::stderr(&out));
                let images = if args.is_empty() { 1 } else { 6 };
                let image = format!("P6\n{w} {h}\n255\n").len() + w * h * 3;
                assert_eq!(out.stdout.len(), images * image);
            }
        }
        // pktize sends it as it is, from a file and from a pipe, and says why receivers
        // will not conceal it.
        for input in [format!("< {d}/in.y4m"), format!("< {d}/in.y4m cat |")] {
            let script = match input.ends_with('|') {
                true => format!("{input} pktize > {d}/p"),
                false => format!("pktize {input} > {d}/p"),
            };
            let out = sh(&script);
            assert!(out.status.success(), "{}", common::stderr(&out));
            let err = common::stderr(&out);
            assert_eq!(err.contains(said), short, "{script}: {err}");
            let back = sh(&format!("unpktize < {d}/p | cmp - {d}/in.y4m"));
            assert!(back.status.success(), "sent as it is");
        }
        // unpktize conceals up to frame 1's header, out of place, then says why it stops.
        for out_to in [
            "> {d}/out.y4m",
            "-o {d}/out.y4m",
            "--every 4k > {d}/all.y4m",
        ] {
            let out_to = out_to.replace("{d}", &d.to_string());
            let out = sh(&format!(
                "pktize < {d}/in.y4m | corrupt --loss 10% --seed 4 | unpktize --conceal {out_to}"
            ));
            assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
            let err = common::stderr(&out);
            assert_eq!(
                err.contains("unpktize: warning: "),
                short,
                "{out_to}: {err}"
            );
            if short {
                assert!(err.contains("not concealed from there on"), "{err}");
                assert!(err.contains("ffmpeg 5.1"), "{err}");
                let ours = err.lines().filter(|l| l.starts_with("unpktize:")).count();
                assert_eq!(ours, 1, "{err}");
            }
            if !out_to.contains("every") {
                let got = std::fs::read(dir.path().join("out.y4m")).unwrap();
                assert_eq!(got.len(), y4m.len(), "{out_to}");
            }
        }
    }
}
