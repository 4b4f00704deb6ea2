//! Raw video from ffmpeg through the lossy channel and back into ffmpeg (issue 7):
//!
//! ```text
//! ffmpeg testsrc rgb24 | pktize | corrupt | unpktize | raw2ppm --frames [| ppm2bmp] | ffmpeg
//! ```
//!
//! ffmpeg decodes what the tools made and hashes every frame (`-f framemd5`); the original
//! frames are hashed by ffmpeg too. The damage map of `unpktize --report` says which frames
//! the channel touched; every other frame must hash the same as the original.

use crate::common;

use common::{require_tool, sh};
use serde_json::Value;
use std::path::Path;

const W: usize = 320;
const H: usize = 240;
const FRAME: usize = W * H * 3;
const FRAMES: usize = 100; // 4 s at 25 frames a second

/// The test video: ffmpeg's testsrc, 4 s, as raw rgb24 in `dir/original.rgb`.
fn make_video(dir: &Path) {
    let out = sh(&format!(
        "ffmpeg -nostdin -v error -f lavfi -i testsrc=size={W}x{H}:rate=25 -t 4 \
         -f rawvideo -pix_fmt rgb24 - > {}/original.rgb",
        dir.display()
    ));
    assert!(out.status.success(), "ffmpeg: {}", common::stderr(&out));
    let len = std::fs::metadata(dir.join("original.rgb")).unwrap().len();
    assert_eq!(len as usize, FRAMES * FRAME);
}

/// Per-frame MD5s from an ffmpeg `-f framemd5` listing.
fn frame_md5s(listing: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(listing)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(',').next().unwrap().trim().to_string())
        .collect()
}

/// ffmpeg's per-frame MD5s of the raw original, decoded as rgb24.
fn original_md5s(dir: &Path) -> Vec<String> {
    let out = sh(&format!(
        "ffmpeg -nostdin -v error -f rawvideo -pix_fmt rgb24 -s {W}x{H} -r 25 \
         -i {}/original.rgb -pix_fmt rgb24 -f framemd5 -",
        dir.display()
    ));
    assert!(out.status.success(), "ffmpeg: {}", common::stderr(&out));
    frame_md5s(&out.stdout)
}

/// Which frames the report's lost and damaged ranges touch.
fn touched_frames(report: &Value) -> Vec<bool> {
    let mut touched = vec![false; FRAMES];
    for r in report["ranges"].as_array().unwrap() {
        let start = r["offset"].as_u64().unwrap() as usize;
        let end = start + r["length"].as_u64().unwrap() as usize;
        for t in &mut touched[start / FRAME..end.div_ceil(FRAME).min(FRAMES)] {
            *t = true;
        }
    }
    touched
}

/// Send the video through the damaged channel into `decoder` (which ends with ffmpeg
/// reading stdin and writing framemd5 to stdout), and compare frame by frame.
fn through_channel(decoder: &str) {
    require_tool("ffmpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    make_video(dir.path());
    let original = original_md5s(dir.path());
    assert_eq!(original.len(), FRAMES);
    // unpktize exits 1 on a damaged transfer: expected here, anything else fails.
    let out = sh(&format!(
        "pktize {d}/original.rgb |
         corrupt --loss 0.1% --burst 3 --ber 2e-8 --payload-only --seed 11 |
         {{ unpktize --fill ff00ff --report {d}/report.json; [ $? -eq 1 ]; }} |
         raw2ppm -s {W}x{H} --frames |
         {decoder}"
    ));
    assert!(out.status.success(), "pipeline: {}", common::stderr(&out));
    let got = frame_md5s(&out.stdout);
    assert_eq!(got.len(), FRAMES, "frame count");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    let touched = touched_frames(&report);
    let n_touched = touched.iter().filter(|&&t| t).count();
    assert!(
        0 < n_touched && n_touched < FRAMES / 2,
        "the channel should damage some frames, not most: {n_touched}"
    );
    for i in 0..FRAMES {
        if !touched[i] {
            assert_eq!(got[i], original[i], "frame {i}: no damage, yet it differs");
        }
    }
    let differ = (0..FRAMES).filter(|&i| got[i] != original[i]).count();
    eprintln!("{n_touched} of {FRAMES} frames touched by damage, {differ} differ");
    assert!(differ > 0, "damaged frames look like the originals?");
}

#[test]
fn untouched_frames_are_bit_identical_through_ppm() {
    through_channel(
        "ffmpeg -nostdin -v error -f image2pipe -c:v ppm -i - -pix_fmt rgb24 -f framemd5 -",
    );
}

#[test]
fn untouched_frames_are_bit_identical_through_bmp() {
    through_channel(
        "ppm2bmp | \
         ffmpeg -nostdin -v error -f image2pipe -c:v bmp -i - -pix_fmt rgb24 -f framemd5 -",
    );
}

#[test]
fn a_clean_channel_gives_every_frame_back() {
    require_tool("ffmpeg");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    make_video(dir.path());
    let out = sh(&format!(
        "pktize {d}/original.rgb | unpktize | raw2ppm -s {W}x{H} --frames | ppm2bmp |
         ffmpeg -nostdin -v error -f image2pipe -c:v bmp -i - -pix_fmt rgb24 -f framemd5 -"
    ));
    assert!(out.status.success(), "pipeline: {}", common::stderr(&out));
    assert_eq!(frame_md5s(&out.stdout), original_md5s(dir.path()));
}

#[test]
fn the_issue_recipe_makes_an_mp4_of_every_frame() {
    require_tool("ffmpeg");
    require_tool("ffprobe");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    // As in the README, but lossy: the mp4 is for eyes; the tests above check the pixels.
    let out = sh(&format!(
        "ffmpeg -nostdin -v error -f lavfi -i testsrc=size={W}x{H}:rate=25 -t 4 \
            -f rawvideo -pix_fmt rgb24 - |
         pktize | corrupt --loss 1% --seed 3 |
         {{ unpktize --fill ff00ff; [ $? -le 1 ]; }} |
         raw2ppm -s {W}x{H} --frames |
         ffmpeg -nostdin -v error -f image2pipe -c:v ppm -r 25 -i - -pix_fmt yuv420p \
            {d}/out.mp4 &&
         ffprobe -v error -count_frames -select_streams v:0 \
            -show_entries stream=nb_read_frames,width,height -of csv=p=0 {d}/out.mp4"
    ));
    assert!(out.status.success(), "pipeline: {}", common::stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "320,240,100");
}
