//! Sizes that fit: when the input is not a whole number of frames of the size asked for
//! (a mistyped or guessed `-s`), the sizes near it whose frames would divide the input
//! exactly, so that a warning can say what to try instead of leaving a sheared image.

use crate::pixel::{Layout, PixelFormat, MAX_DIMENSION};

/// How many widths either side of the one asked for are tried, at most.
const WIDTH_SPAN: u64 = 4096;

/// Up to `max` sizes (W, H) of `format` whose frame length divides `data_len`, for as many
/// frames as the size asked for suggests (and for one frame), nearest to `width`x`height`
/// first. A square that holds the data as one frame is always among them.
pub fn sizes_that_fit(
    format: PixelFormat,
    data_len: u64,
    width: u64,
    height: u64,
    max: usize,
) -> Vec<(u64, u64)> {
    let frame_len = |w: u64, h: u64| {
        Layout::new(format, w, h, None)
            .ok()
            .map(|l| l.frame_len as u64)
    };
    let Some(asked) = frame_len(width, height) else {
        return Vec::new();
    };
    let frames = ((data_len + asked / 2) / asked).max(1);
    let mut found: Vec<(u64, u64)> = Vec::new();
    for n in [1, frames] {
        if data_len % n != 0 {
            continue;
        }
        let target = data_len / n;
        let square = isqrt(target / format.bytes_per_pixel().max(1));
        let near = width.saturating_sub(WIDTH_SPAN / 2).max(width / 2).max(1)
            ..=width
                .saturating_add(WIDTH_SPAN / 2)
                .min(width * 2)
                .min(MAX_DIMENSION);
        let around_square = square.saturating_sub(2).max(1)..=square + 2;
        for w in near.chain(around_square) {
            if let Some(h) = height_for(&frame_len, w, target) {
                if !found.contains(&(w, h)) {
                    found.push((w, h));
                }
            }
        }
    }
    let distance = |&(w, h): &(u64, u64)| w.abs_diff(width) + h.abs_diff(height);
    found.sort_by_key(|s| (distance(s), s.0));
    let square = found
        .iter()
        .copied()
        .find(|&(w, h)| w == h && frame_len(w, h) == Some(data_len));
    found.truncate(max);
    if let Some(s) = square {
        if !found.contains(&s) {
            found.pop();
            found.insert(0, s);
        }
    }
    found
}

/// The height at which frames of width `w` are exactly `target` bytes, if there is one.
fn height_for(frame_len: &dyn Fn(u64, u64) -> Option<u64>, w: u64, target: u64) -> Option<u64> {
    let (mut lo, mut hi) = (1, MAX_DIMENSION);
    if frame_len(w, hi)? < target {
        return None;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if frame_len(w, mid)? >= target {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    (frame_len(w, lo)? == target).then_some(lo)
}

fn isqrt(n: u64) -> u64 {
    let mut r = (n as f64).sqrt() as u64;
    while r * r > n {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= n {
        r += 1;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_square_input_suggests_the_square_first() {
        let fits = sizes_that_fit(PixelFormat::Rgb24, 512 * 512 * 3, 513, 511, 3);
        assert_eq!(fits[0], (512, 512));
        assert!(fits.len() <= 3);
    }

    #[test]
    fn every_suggestion_divides_the_input() {
        for (format, w, h) in [
            (PixelFormat::Rgb24, 600, 600),
            (PixelFormat::Yuv420p, 321, 240),
            (PixelFormat::Gray, 100, 7),
        ] {
            let len = Layout::new(format, 320, 240, None).unwrap().frame_len as u64 * 2;
            for (fw, fh) in sizes_that_fit(format, len, w, h, 4) {
                let frame = Layout::new(format, fw, fh, None).unwrap().frame_len as u64;
                assert_eq!(len % frame, 0, "{format} {fw}x{fh}");
            }
        }
    }

    #[test]
    fn a_prime_length_of_rgb_has_no_fit() {
        assert!(sizes_that_fit(PixelFormat::Rgb24, 786433, 512, 512, 3).is_empty());
    }
}
