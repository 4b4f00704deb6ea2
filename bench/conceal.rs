//! The concealment benchmark (`bench/bench-conceal.sh`): its speed at 10% loss, and the
//! PSNR table on a real photograph.
//!
//! ```text
//! bench-conceal PHOTO.ppm     speed (whole-image pass and streaming, MB/s of image data)
//!                             and PSNR: loss 1/5/10/20% x mean burst 1/8/64 packets of
//!                             1 KiB x {fill, conceal}, the mean over 4 seeds
//! ```
//!
//! Loss is simulated on the bytes (a two-state Markov chain per packet: the mean burst
//! length as given, the loss rate on average), so the figures measure concealment alone.

use pktools::conceal;
use pktools::image::{self, Geometry};
use std::ops::Range;
use std::process::ExitCode;
use std::time::Instant;

const PACKET: u64 = 1024;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: bench-conceal PHOTO.ppm");
        return ExitCode::from(2);
    };
    let image = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("bench-conceal: error: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let geometry = match image::from_head(&image) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("bench-conceal: error: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    speed(&image, &geometry);
    table(&image, &geometry);
    ExitCode::SUCCESS
}

/// Lost ranges: packets lost in bursts of mean length `burst`, at mean rate `rate`.
fn loss(len: u64, rate: f64, burst: f64, seed: u64) -> Vec<Range<u64>> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    // Good to bad with q, bad stays bad with 1 - 1/burst: stationary loss q / (q + 1/burst).
    let leave = 1.0 / burst;
    let enter = rate * leave / (1.0 - rate);
    let mut bad = uniform() < rate;
    let mut out: Vec<Range<u64>> = Vec::new();
    let mut at = 0;
    while at < len {
        let end = (at + PACKET).min(len);
        if bad {
            match out.last_mut() {
                Some(last) if last.end == at => last.end = end,
                _ => out.push(at..end),
            }
        }
        bad = if bad {
            uniform() >= leave
        } else {
            uniform() < enter
        };
        at = end;
    }
    out
}

fn samples(geometry: &Geometry, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for grid in &geometry.grids {
        for row in 0..grid.rows {
            let b = grid.row_bytes(row);
            out.extend_from_slice(&data[b.start as usize..b.end as usize]);
        }
    }
    out
}

fn speed(image: &[u8], geometry: &Geometry) {
    // The photo stacked 32 times: a larger image, so the timing is not a cache effect.
    let (header_len, grid) = (geometry.grids[0].offset as usize, &geometry.grids[0]);
    let copies = 32;
    let (w, h) = (grid.width, grid.rows * copies);
    let head = image[..header_len].to_vec();
    let head = String::from_utf8_lossy(&head).replacen(
        &format!("{} {}", grid.width, grid.rows),
        &format!("{w} {h}"),
        1,
    );
    let mut big = head.into_bytes();
    for _ in 0..copies {
        big.extend_from_slice(&image[header_len..]);
    }
    let Ok(big_geometry) = image::from_head(&big) else {
        eprintln!("bench-conceal: the stacked image has no header it can read; no timing");
        return;
    };
    let lost = loss(big.len() as u64, 0.10, 1.0, 1);
    let raster = (big.len() - big_geometry.grids[0].offset as usize) as f64;
    let runs = 7;
    let mut whole = Vec::new();
    let mut streamed = Vec::new();
    for _ in 0..runs {
        let mut data = big.clone();
        let t = Instant::now();
        conceal::conceal(&big_geometry, &mut data, 0, &lost);
        whole.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut c = conceal::Concealer::new(big_geometry.clone());
        let mut out = 0usize;
        for (i, chunk) in big.chunks(64 << 10).enumerate() {
            let at = (i * (64 << 10)) as u64;
            let from = lost.partition_point(|r| r.end <= at);
            let to = lost.partition_point(|r| r.start < at + chunk.len() as u64);
            c.push(chunk, &lost[from..to]);
            out += c.ready().len();
        }
        c.finish();
        out += c.ready().len();
        assert_eq!(out, big.len());
        streamed.push(t.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    println!(
        "  speed at 10% loss, {w}x{h} ({:.1} MB of pixels, {} holes):",
        raster / 1e6,
        lost.len()
    );
    println!(
        "    whole image (in place)  {:8.1} MB/s",
        raster / median(&mut whole) / 1e6
    );
    println!(
        "    streaming (64 KiB in)   {:8.1} MB/s  (copies in and out included)",
        raster / median(&mut streamed) / 1e6
    );
}

fn table(image: &[u8], geometry: &Geometry) {
    let reference = samples(geometry, image);
    let seeds = 16;
    println!(
        "  PSNR (dB) on {}, packets of {PACKET} bytes, over {seeds} seeds:",
        geometry.description
    );
    println!("    loss  burst    fill  conceal");
    // Squared error summed over the seeds: a run that lost nothing does not count as
    // infinitely good.
    let squared = |a: &[u8], b: &[u8]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
            .sum()
    };
    let db = |sum: f64| {
        10.0 * (255.0f64 * 255.0 * (seeds as usize * reference.len()) as f64 / sum).log10()
    };
    for rate in [0.01, 0.05, 0.10, 0.20] {
        for burst in [1.0, 8.0, 64.0] {
            let (mut fill, mut concealed) = (0.0, 0.0);
            for seed in 0..seeds {
                let lost = loss(image.len() as u64, rate, burst, seed + 1);
                let mut data = image.to_vec();
                for r in &lost {
                    for i in r.start..r.end {
                        data[i as usize] = [0xff, 0x00, 0xff][(i % 3) as usize];
                    }
                }
                fill += squared(&reference, &samples(geometry, &data));
                conceal::conceal(geometry, &mut data, 0, &lost);
                concealed += squared(&reference, &samples(geometry, &data));
            }
            println!(
                "    {:3.0}%  {:5}  {:6.1}  {:7.1}",
                rate * 100.0,
                burst,
                db(fill),
                db(concealed)
            );
        }
    }
}
