//! The image harnesses: PNM parsing and BMP writing (`pnm`), raw pixels to PPM
//! (`rawvideo`).

use super::*;

// ---------------------------------------------------------------------------------------
// PNM parsing and BMP writing.

/// Output kept up to a bound (a header may claim a large image that the input fills with
/// a few plain samples); beyond it only the length is counted, and `bytes` is a prefix.
#[derive(Default)]
struct Capped {
    bytes: Vec<u8>,
    len: u64,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.len += buf.len() as u64;
        if self.len <= OUTPUT_LIMIT {
            self.bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn to_bmp(source: pnm::Source<'_>, options: &convert::Options) -> Result<Capped, String> {
    let mut out = Capped::default();
    convert::convert(&mut pnm::Reader::new(source), &mut out, options)
        .map(|_| out)
        .map_err(|e| e.to_string())
}

/// PNM to BMP, as ppm2bmp does: from a map, from a stream read whole, and from a stream
/// cut at arbitrary places. All three agree on success and output; the two streams agree on
/// the error message too (an error must not depend on where a pipe cut the input).
pub fn pnm(data: &[u8]) {
    let Some((mut c, image)) = Controls::split(data, 2) else {
        return;
    };
    let flags = c.u8();
    let chunk_seed = c.u8();
    let options = convert::Options {
        depth: match flags % 4 {
            1 => Some(bmp::Depth::One),
            2 => Some(bmp::Depth::Eight),
            3 => Some(bmp::Depth::TwentyFour),
            _ => None,
        },
        top_down: flags & 4 != 0,
    };

    let mapped = to_bmp(pnm::Source::mapped(image), &options);
    let mut whole_reader = image;
    let whole = to_bmp(pnm::Source::stream(&mut whole_reader), &options);
    let mut chunked_reader = ChunkedReader::new(image, chunk_seed);
    let chunked = to_bmp(pnm::Source::stream(&mut chunked_reader), &options);
    match (&mapped, &whole, &chunked) {
        (Ok(m), Ok(w), Ok(c)) => {
            assert_eq!(m.len, w.len);
            assert_eq!(w.len, c.len);
            assert!(
                m.bytes == w.bytes && w.bytes == c.bytes,
                "BMP output differs"
            );
        }
        (Err(_), Err(w), Err(c)) => assert_eq!(w, c, "stream errors differ by chunking"),
        _ => panic!(
            "map and stream disagree: {:?} / {:?} / {:?}",
            mapped.as_ref().err(),
            whole.as_ref().err(),
            chunked.as_ref().err()
        ),
    }

    // Headers round-trip through their own writer.
    let mut reader = pnm::Reader::new(pnm::Source::mapped(image));
    if let Ok(Some(h)) = reader.next_header() {
        let mut text = Vec::new();
        h.write_to(&mut text).expect("writing to memory");
        let (again, len) = pnm::header::Header::parse(&text).expect("a written header parses");
        assert_eq!((again, len), (h, text.len()), "PNM header round trip");
    }
}

// ---------------------------------------------------------------------------------------
// raw2ppm: geometry, formats, frames.

/// The largest frame the harness asks for: enough for every format's odd corners.
const MAX_FUZZ_FRAME: usize = 1 << 20;

/// raw2ppm's conversion with options chosen by the input: every pixel format, odd sizes,
/// strides, skips, frames, snapshots, from a map or a stream. Whatever is written must
/// parse as PNM images of the layout, as many as the report says.
pub fn rawvideo(data: &[u8]) {
    let Some((mut c, pixels)) = Controls::split(data, 12) else {
        return;
    };
    // The geometry string parser gets the raw control bytes as text, too.
    let _ = rawvideo::parse_size(&String::from_utf8_lossy(&data[..12]));
    let format = PixelFormat::ALL[usize::from(c.u8()) % PixelFormat::ALL.len()];
    let width = c.u16();
    let height = c.u16();
    let flags = c.u8();
    let stride_pad = c.u8();
    let skip = c.u8();
    let every = c.u16();
    let fill = c.u8();
    let width = match width {
        0 => rawvideo::Width::Auto,
        w => rawvideo::Width::Pixels(u64::from(w % 2048)),
    };
    let height = (height != 0).then_some(u64::from(height % 2048));
    let stride = (flags & 1 != 0).then(|| {
        let w = match width {
            rawvideo::Width::Pixels(w) => w,
            rawvideo::Width::Auto => 1,
        };
        format.bytes_per_pixel() * w + u64::from(stride_pad % 16)
    });
    if let (rawvideo::Width::Pixels(w), Some(h)) = (width, height) {
        match Layout::new(format, w, h, stride) {
            Ok(l) if l.frame_len > MAX_FUZZ_FRAME => return,
            _ => {}
        }
    }
    let every = match flags >> 1 & 3 {
        1 => Some(rawvideo::Every::Bytes(u64::from(every).max(1) * 256)),
        2 => Some(rawvideo::Every::Rows(u64::from(every % 64).max(1))),
        3 => Some(rawvideo::Every::Bytes(0)),
        _ => None,
    };
    let request = rawvideo::Request {
        format,
        width,
        height,
        stride,
        skip: u64::from(skip % 8),
        fill: Rgb {
            r: fill,
            g: fill.rotate_left(3),
            b: !fill,
        },
        output: if flags & 8 != 0 {
            PixelOutput::Pgm
        } else {
            PixelOutput::Ppm
        },
        yuv: YuvOptions {
            matrix: [Matrix::Bt601, Matrix::Bt709, Matrix::Bt2020][usize::from(fill % 3)],
            range: if flags & 16 != 0 {
                Range::Pc
            } else {
                Range::Tv
            },
        },
        frames: flags & 32 != 0,
        every,
    };
    let input = if flags & 64 != 0 {
        mapped_input(pixels)
    } else {
        Input::Stream(Box::new(ChunkedReader::new(pixels.to_vec(), fill)))
    };
    let mut out = Capped::default();
    let Ok(report) = rawvideo::convert(input, None, &request, &mut out) else {
        return;
    };
    let layout = &report.layout;
    if layout.frame_len > MAX_FUZZ_FRAME || out.len > OUTPUT_LIMIT {
        return;
    }
    let mut images = 0;
    let mut reader = pnm::Reader::new(pnm::Source::mapped(&out.bytes));
    while let Some(h) = reader
        .next_header()
        .expect("raw2ppm writes valid PNM headers")
    {
        assert_eq!(
            (h.width as usize, h.height as usize),
            (layout.width, layout.height),
            "image size differs from the layout"
        );
        let mut rows = reader.rows(&h).expect("rows of a written image");
        while rows
            .next_row()
            .expect("raw2ppm writes whole, valid rows")
            .is_some()
        {}
        images += 1;
    }
    assert_eq!(images, report.images, "images written and reported differ");
}
