//! Y4M input: the stream header gives the size and format, so no `-s` or `-p` is needed;
//! each `FRAME` becomes one image (the first only, without `frames`).
//!
//! One picture is buffered (its chroma planes come after the whole luma plane); the
//! header's colour range tag (`XCOLORRANGE=FULL` or `LIMITED`, as ffmpeg writes it) takes
//! precedence over the requested range. `444alpha` converts as `444`, its alpha dropped.
//! Chroma siting: each chroma sample stands for the
//! luma pixels it covers (nearest neighbour, ffmpeg's `-sws_flags neighbor`), as for raw
//! planar input. Interlaced 4:2:0 (`It`, `Ib`, `Im`) is refused: its chroma belongs to
//! fields, and converting it as a progressive picture would smear colour between them;
//! interlaced 4:2:2, 4:4:4 and mono convert row for row, as they are.
//!
//! A stream laid out as ffmpeg 5.1 writes odd-width 4:2:0 and 4:2:2 Y4M of more than 8
//! bits (each chroma row one byte short, [`y4m::ShortRows`]) is refused at its first
//! frame, before anything is written, with an error that says so.

use super::{reading, writing, RawVideoError, Report, ShortFrame, Trailing, MAX_BUFFERED_FRAME};
use crate::pixel::{Converter, Layout, Output, Range, Rgb, YuvOptions};
use crate::y4m::{self, Header, Interlace, FRAME_MAGIC};
use std::io::{self, BufRead, Read, Write};

/// Why a Y4M stream is not converted.
#[derive(Debug, thiserror::Error)]
pub enum Y4mInputError {
    #[error(transparent)]
    Header(#[from] y4m::Y4mError),
    #[error("Y4M colorspace C{0}: not converted (raw2ppm converts 420jpeg, 420paldv, 420mpeg2, 420, 422, 444, 444alpha, mono, mono16, 420p10, 422p10 and 444p10; not 411, mono9 to mono12, nor 9, 12, 14 or 16 bits of colour)")]
    Colorspace(&'static str),
    #[error("interlaced Y4M 4:2:0 (I{0}) is refused: its chroma belongs to fields; deinterlace first (ffmpeg -vf yadif)")]
    Interlaced(char),
    #[error(transparent)]
    Convert(#[from] RawVideoError),
}

/// Convert the Y4M stream `input` to PPM (or PGM for mono) images on `out`.
pub fn convert_y4m(
    input: &mut dyn Read,
    output: Output,
    yuv: YuvOptions,
    fill: Rgb,
    frames: bool,
    out: &mut dyn Write,
) -> Result<Report, Y4mInputError> {
    let mut input = io::BufReader::with_capacity(crate::io::IO_BUFFER_LEN, input);
    let mut line = Vec::new();
    read_line(&mut input, &mut line).map_err(reading)?;
    let (header, _) = Header::parse(&line)?;
    let cs = header.colorspace;
    let format = match cs.pixel_format() {
        // PPM has no alpha: a 444alpha picture is its 4:4:4 planes, the alpha plane after
        // them read and dropped.
        None if cs.alpha && cs.chroma == Some((1, 1)) && cs.bits == 8 => {
            Some(crate::pixel::PixelFormat::Yuv444p)
        }
        f => f,
    }
    .ok_or(Y4mInputError::Colorspace(cs.name))?;
    if header.colorspace.chroma == Some((2, 2)) {
        match header.interlace {
            Interlace::TopFirst => return Err(Y4mInputError::Interlaced('t')),
            Interlace::BottomFirst => return Err(Y4mInputError::Interlaced('b')),
            Interlace::Mixed => return Err(Y4mInputError::Interlaced('m')),
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(&line);
    let range = if text.contains(" XCOLORRANGE=FULL") {
        Range::Pc
    } else if text.contains(" XCOLORRANGE=LIMITED") {
        Range::Tv
    } else {
        yuv.range
    };
    let layout =
        Layout::new(format, header.width, header.height, None).map_err(RawVideoError::Geometry)?;
    let picture = header.picture_len();
    if picture > MAX_BUFFERED_FRAME {
        return Err(RawVideoError::FrameTooLarge { len: picture }.into());
    }
    let output = match (output, format.family()) {
        (Output::Pgm, crate::pixel::Family::Gray) => Output::Pgm,
        _ => Output::Ppm,
    };
    let conv = Converter::new(layout.clone(), output, YuvOptions { range, ..yuv }, fill)
        .map_err(RawVideoError::Geometry)?;
    let mut report = Report {
        layout: layout.clone(),
        images: 0,
        complete_frames: 0,
        short: None,
        padded_by_inference: 0,
        trailing: Trailing::None,
        data_len: None,
        height_given: true,
    };
    let mut frame = vec![0u8; picture];
    let magic = if output == Output::Pgm { "P5" } else { "P6" };
    let image_header = format!(
        "{magic}\n{} {}\n{}\n",
        layout.width,
        layout.height,
        conv.maxval()
    );
    // Rows are converted into blocks of at least a megabyte: a block that size passes
    // through a writer's buffer (the binary's is 1 MiB) without being copied into it.
    let rows_per_block = ((1 << 20) / conv.out_row_len() + 1).min(layout.height);
    let mut rows = vec![0u8; conv.out_row_len() * rows_per_block];
    loop {
        if !frames && report.images > 0 {
            if !input.fill_buf().map_err(reading)?.is_empty() {
                report.trailing = Trailing::More;
            }
            break;
        }
        line.clear();
        read_line(&mut input, &mut line).map_err(reading)?;
        if line.is_empty() {
            break;
        }
        let at = report.images;
        if y4m::frame_header_len(&line, at, 0)?.is_none() && !line.ends_with(b"\n") {
            // The stream ended inside a frame header: nothing of the picture arrived.
            report.short = Some(ShortFrame {
                number: at + 1,
                got: 0,
                frame_len: picture,
            });
            frame.fill(0);
            conv.fill(0, &mut frame);
        } else {
            let got = crate::io::read_full(&mut input, &mut frame).map_err(reading)?;
            if let Some(short) = header.short_rows() {
                // ffmpeg 5.1's odd-width high-depth Y4M: the next frame header (or the
                // end) comes one byte a chroma row early.
                let early = picture - short.per_frame();
                let next = frame.get(early..got).unwrap_or_default();
                let marks_frame = match next.get(FRAME_MAGIC.len()) {
                    Some(b' ' | b'\n') => next.starts_with(FRAME_MAGIC),
                    Some(_) => false,
                    // The stream ends there, or within a frame header.
                    None => FRAME_MAGIC.starts_with(next),
                };
                if got >= early && marks_frame {
                    return Err(short.error(&header, at).into());
                }
            }
            if got < picture {
                report.short = Some(ShortFrame {
                    number: at + 1,
                    got,
                    frame_len: picture,
                });
                conv.fill(got, &mut frame[got..]);
            } else {
                report.complete_frames += 1;
            }
        }
        out.write_all(image_header.as_bytes()).map_err(writing)?;
        let row_len = conv.out_row_len();
        let mut y = 0;
        while y < layout.height {
            let n = (layout.height - y).min(rows_per_block);
            for (i, dst) in rows[..n * row_len].chunks_exact_mut(row_len).enumerate() {
                conv.convert_row(&frame, 0, y + i, dst);
            }
            out.write_all(&rows[..n * row_len]).map_err(writing)?;
            y += n;
        }
        report.images += 1;
        if report.short.is_some() {
            break;
        }
    }
    out.flush().map_err(writing)?;
    Ok(report)
}

/// One header line, newline included, of at most [`y4m::MAX_HEADER_LEN`] bytes (a longer
/// one is returned cut, and refused by the parser).
fn read_line(input: &mut dyn BufRead, line: &mut Vec<u8>) -> io::Result<()> {
    input
        .take(y4m::MAX_HEADER_LEN as u64)
        .read_until(b'\n', line)
        .map(|_| ())
}
