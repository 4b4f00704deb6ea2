//! The demo's helper (`make demo`): draws the sample image, and tiles live-view snapshots
//! into one contact sheet, so the demo needs nothing but Rust and the tools.
//!
//! ```text
//! sample image W H      raw rgb24 pixels of the sample (a Mandelbrot view) on stdout
//! sample sheet COLS     concatenated P6 images on stdin -> one P6 on stdout: the images at
//!                       half size, COLS to a row, on a dark background
//! sample clip W H N     a raw rgb24 image of W x H on stdin -> N raw rgb24 frames of
//!                       W/2 x H/2 on stdout: a still window with a white square moving
//!                       across it, 3 px a frame
//! ```

use pktools::pnm::{Header, Kind};
use std::io::{self, Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).and_then(|s| s.parse::<usize>().ok());
    let result = match (args.first().map(String::as_str), arg(1), arg(2)) {
        (Some("image"), Some(w), Some(h)) if w > 0 && h > 0 && w * h <= 1 << 24 => {
            io::stdout().lock().write_all(&image(w, h))
        }
        (Some("sheet"), Some(cols), None) if cols > 0 => sheet(cols),
        (Some("clip"), Some(w), Some(h)) if w >= 64 && h >= 64 && w * h <= 1 << 24 => {
            match arg(3) {
                Some(n) if n > 0 && n <= 1000 => clip(w, h, n),
                _ => Err(io::Error::other("clip: a frame count of 1 to 1000")),
            }
        }
        _ => {
            eprintln!("usage: sample image W H | sample sheet COLS | sample clip W H N");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sample: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// A view into the Mandelbrot set's seahorse valley, 2x2 supersampled, coloured by smooth
/// escape time through a blue-white-gold palette (no magenta, the fill colour of loss).
fn image(w: usize, h: usize) -> Vec<u8> {
    let (cx, cy, span) = (-0.7453, 0.1127, 0.0065);
    let scale = span / w as f64;
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let mut sum = [0.0f64; 3];
            for (dx, dy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                let re = cx + (x as f64 + dx - w as f64 / 2.0) * scale;
                let im = cy - (y as f64 + dy - h as f64 / 2.0) * scale;
                let c = colour(escape(re, im));
                for k in 0..3 {
                    sum[k] += c[k];
                }
            }
            out.extend(sum.map(|s| (s / 4.0 * 255.0).round().clamp(0.0, 255.0) as u8));
        }
    }
    out
}

const MAX_ITER: u32 = 1200;

/// Smooth iteration count at escape, or None inside the set.
fn escape(re: f64, im: f64) -> Option<f64> {
    let (mut x, mut y) = (0.0f64, 0.0f64);
    for i in 0..MAX_ITER {
        let (x2, y2) = (x * x, y * y);
        if x2 + y2 > 256.0 {
            let log_zn = (x2 + y2).ln() / 2.0;
            return Some(i as f64 + 1.0 - (log_zn / std::f64::consts::LN_2).ln() / 2f64.ln());
        }
        y = 2.0 * x * y + im;
        x = x2 - y2 + re;
    }
    None
}

/// Palette stops: deep blue, cyan-white, gold, dark brown, repeating.
fn colour(n: Option<f64>) -> [f64; 3] {
    const STOPS: [[f64; 3]; 5] = [
        [0.00, 0.03, 0.20],
        [0.13, 0.42, 0.80],
        [0.93, 1.00, 1.00],
        [1.00, 0.67, 0.00],
        [0.20, 0.05, 0.00],
    ];
    let Some(n) = n else {
        return [0.0, 0.0, 0.0];
    };
    let t = (n.sqrt() * 0.9).rem_euclid(STOPS.len() as f64);
    let i = t.floor() as usize;
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[(i + 1) % STOPS.len()]);
    [0, 1, 2].map(|k| a[k] + (b[k] - a[k]) * f)
}

/// Tile P6 images (all of one size, maxval 255) at half size into rows of `cols`.
fn sheet(cols: usize) -> io::Result<()> {
    let mut input = Vec::new();
    io::stdin().lock().read_to_end(&mut input)?;
    let mut images = Vec::new();
    let mut at = 0;
    while at < input.len() {
        let (h, len) = Header::parse(&input[at..]).map_err(io::Error::other)?;
        let ok = h.kind == Kind::RawPixmap && h.maxval == 255;
        let size = h.width as usize * h.height as usize * 3;
        let pixels = input.get(at + len..at + len + size);
        match pixels {
            Some(p) if ok && images.first().is_none_or(|(f, _)| *f == h) => images.push((h, p)),
            _ => return Err(io::Error::other("expected P6 images of one size")),
        }
        at += len + size;
    }
    let Some(&(first, _)) = images.first() else {
        return Err(io::Error::other("no images on stdin"));
    };
    let (tw, th) = (first.width as usize / 2, first.height as usize / 2);
    let gap = 8;
    let rows = images.len().div_ceil(cols);
    let (sw, sh) = (cols * (tw + gap) + gap, rows * (th + gap) + gap);
    let mut out = vec![24u8; sw * sh * 3];
    for (n, (h, p)) in images.iter().enumerate() {
        let (ox, oy) = (gap + (n % cols) * (tw + gap), gap + (n / cols) * (th + gap));
        let src_w = h.width as usize;
        for y in 0..th {
            for x in 0..tw {
                for k in 0..3 {
                    let s = |dx: usize, dy: usize| p[((2 * y + dy) * src_w + 2 * x + dx) * 3 + k];
                    let avg =
                        (s(0, 0) as u32 + s(1, 0) as u32 + s(0, 1) as u32 + s(1, 1) as u32 + 2) / 4;
                    out[((oy + y) * sw + ox + x) * 3 + k] = avg as u8;
                }
            }
        }
    }
    let mut stdout = io::stdout().lock();
    write!(stdout, "P6\n{sw} {sh}\n255\n")?;
    stdout.write_all(&out)?;
    stdout.flush()
}

/// `n` frames of the middle of a `w` x `h` image, half its size each way, with a 12x12
/// white square crossing it 3 px a frame.
fn clip(w: usize, h: usize, n: usize) -> io::Result<()> {
    let mut image = vec![0u8; w * h * 3];
    io::stdin().lock().read_exact(&mut image)?;
    let (fw, fh) = (w / 2, h / 2);
    let (x0, y0) = (w / 4, h / 4);
    let mut stdout = io::stdout().lock();
    let mut frame = vec![0u8; fw * fh * 3];
    for k in 0..n {
        for y in 0..fh {
            let src = ((y0 + y) * w + x0) * 3;
            frame[y * fw * 3..(y + 1) * fw * 3].copy_from_slice(&image[src..src + fw * 3]);
        }
        let (sx, sy) = ((8 + 3 * k) % (fw - 12), fh / 2);
        for y in sy..sy + 12 {
            for x in sx..sx + 12 {
                frame[(y * fw + x) * 3..(y * fw + x) * 3 + 3].fill(255);
            }
        }
        stdout.write_all(&frame)?;
    }
    Ok(())
}
