//! Reading PNM images from a [`Source`]: a [`Reader`] walks the concatenated images of a
//! source. For each image it offers:
//!
//! - [`Rows`]: the rows top to bottom, each in binary form (the P4, P5 or P6 layout of
//!   [`Header::raw_row_len`] bytes). Binary input rows are slices of the source; plain (ASCII)
//!   rows are decoded into a row buffer.
//! - [`Raster`]: random access to every row, when the image is binary and mapped; this is
//!   what lets a bottom-up writer start from the last row without buffering.
//!
//! Every sample is checked against maxval before a row is handed out, so consumers may trust
//! `sample <= maxval`.

use std::io;

use super::header::{Header, Kind};
use super::source::Source;
use super::{PnmError, MAX_HEADER_LEN};

/// Walks the images of a source, one header and one raster after another.
pub struct Reader<'a> {
    source: Source<'a>,
}

impl<'a> Reader<'a> {
    pub fn new(source: Source<'a>) -> Self {
        Reader { source }
    }

    /// The next image's header, or `None` when only whitespace is left. Call [`Reader::rows`]
    /// or [`Reader::raster`] to read its raster before asking for the next one.
    pub fn next_header(&mut self) -> Result<Option<Header>, PnmError> {
        // Whitespace between images (a plain raster usually ends with a newline).
        loop {
            let window = self.source.window();
            let blank = window
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
            let more = blank < window.len();
            self.source.consume(blank);
            if more {
                break;
            }
            if !self.source.read_more()? {
                return Ok(None);
            }
        }
        let start = self.source.offset();
        loop {
            // At most MAX_HEADER_LEN bytes are parsed, from a map as from a pipe, so that
            // one header is accepted or refused the same way whatever the input is.
            let window = self.source.window();
            let limited = &window[..window.len().min(MAX_HEADER_LEN)];
            match Header::parse(limited) {
                Ok((header, len)) => {
                    self.source.consume(len);
                    return Ok(Some(header));
                }
                Err(err) if err.is_truncated() => {
                    if limited.len() == MAX_HEADER_LEN {
                        return Err(PnmError::HeaderTooLong { offset: start });
                    }
                    if !self.source.read_more()? {
                        return Err(err.shifted(start).into());
                    }
                }
                Err(err) => {
                    // Read a little past the error so that the excerpt of what was found
                    // does not depend on where a pipe happened to cut the input. (The same
                    // bytes fail the same way; only the excerpt can grow.)
                    let want = self.source.window().len() + 16;
                    self.source.fill(want)?;
                    let err = Header::parse(self.source.window()).err().unwrap_or(err);
                    return Err(err.shifted(start).into());
                }
            }
        }
    }

    /// The rows of the image whose header was just read, top to bottom.
    pub fn rows(&mut self, header: &Header) -> Result<Rows<'_, 'a>, PnmError> {
        let row_len = row_len(header)?;
        Ok(Rows {
            source: &mut self.source,
            header: *header,
            row_len,
            row: 0,
            plain_row: Vec::new(),
        })
    }

    /// Random access to the rows of a binary image from a mapped source; `None` when the
    /// image is plain or the source a stream (read it with [`Reader::rows`] instead).
    /// Fails at once if the input is shorter than the raster.
    pub fn raster(&mut self, header: &Header) -> Result<Option<Raster<'a>>, PnmError> {
        if header.kind.is_plain() || !self.source.is_mapped() {
            return Ok(None);
        }
        let row_len = row_len(header)?;
        let offset = self.source.offset();
        let len = u64::from(header.height) * row_len as u64;
        let Some((data, map)) = self.source.take_mapped(len) else {
            return Ok(None);
        };
        if (data.len() as u64) < len {
            let full_rows = data.len() / row_len;
            return Err(PnmError::Truncated {
                offset: offset + data.len() as u64,
                row: full_rows as u32 + 1,
                height: header.height,
            });
        }
        Ok(Some(Raster {
            data,
            header: *header,
            row_len,
            offset,
            map,
        }))
    }
}

fn row_len(header: &Header) -> Result<usize, PnmError> {
    header.raw_row_len().ok_or_else(|| {
        PnmError::Io(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("a row of {header} does not fit this machine's address space"),
        ))
    })
}

/// The rows of one image, top to bottom, in binary form.
pub struct Rows<'r, 'a> {
    source: &'r mut Source<'a>,
    header: Header,
    row_len: usize,
    row: u32,
    /// The decoded row, for plain images.
    plain_row: Vec<u8>,
}

impl Rows<'_, '_> {
    /// Bytes in each row handed out.
    pub fn row_len(&self) -> usize {
        self.row_len
    }

    /// The next row, or `None` after the last one.
    pub fn next_row(&mut self) -> Result<Option<&[u8]>, PnmError> {
        if self.row == self.header.height {
            return Ok(None);
        }
        self.row += 1;
        if self.header.kind.is_plain() {
            decode_plain_row(self.source, &self.header, self.row, &mut self.plain_row)?;
            return Ok(Some(&self.plain_row));
        }
        if !self.source.fill(self.row_len)? {
            return Err(PnmError::Truncated {
                offset: self.source.offset() + self.source.window().len() as u64,
                row: self.row,
                height: self.header.height,
            });
        }
        let offset = self.source.offset();
        let row = self.source.take(self.row_len);
        check_samples(&self.header, row, offset)?;
        Ok(Some(row))
    }
}

/// Every row of a binary image that is wholly in memory.
#[derive(Clone, Copy)]
pub struct Raster<'a> {
    data: &'a [u8],
    header: Header,
    row_len: usize,
    /// Input offset of `data[0]`.
    offset: u64,
    map: Option<&'a memmap2::Mmap>,
}

impl<'a> Raster<'a> {
    /// Row `index` (0 is the top), in binary form, its samples checked against maxval.
    pub fn row(&self, index: u32) -> Result<&'a [u8], PnmError> {
        let at = index as usize * self.row_len;
        let row = &self.data[at..at + self.row_len];
        check_samples(&self.header, row, self.offset + at as u64)?;
        Ok(row)
    }

    /// Bytes in each row.
    pub fn row_len(&self) -> usize {
        self.row_len
    }

    /// Tell the kernel that rows `rows` are about to be read: their pages of a file map are
    /// mapped in one call instead of one page fault at a time. Does nothing for other memory.
    pub fn prepare(&self, rows: std::ops::Range<u32>) {
        if let Some(map) = self.map {
            let (offset, len) = self.map_range(map, rows);
            crate::io::prefetch(map, offset..offset + len);
        }
    }

    /// Offset in `map` and length of the bytes of `rows`.
    fn map_range(&self, map: &memmap2::Mmap, rows: std::ops::Range<u32>) -> (usize, usize) {
        let start = rows.start as usize * self.row_len;
        let end = rows.end as usize * self.row_len;
        let in_map = self.data.as_ptr() as usize - map.as_ptr() as usize;
        (in_map + start, end.saturating_sub(start))
    }

    /// Tell the kernel that rows `rows` have been read: their pages of a file map leave our
    /// resident memory (a later access reads them again). Does nothing for other memory.
    pub fn release(&self, rows: std::ops::Range<u32>) {
        if let Some(map) = self.map {
            let (offset, len) = self.map_range(map, rows);
            crate::io::release(map, offset..offset + len);
        }
    }
}

/// Check that every sample of a binary row is at most maxval. Free when maxval is 255 or
/// 65535 (every value is valid) and for bitmaps; otherwise one pass over the row.
fn check_samples(header: &Header, row: &[u8], offset: u64) -> Result<(), PnmError> {
    let maxval = header.maxval;
    if header.kind.is_bitmap() || maxval == 255 || maxval == u16::MAX {
        return Ok(());
    }
    let above = |value: u32, index: usize| PnmError::AboveMaxval {
        value,
        maxval,
        offset: offset + index as u64,
    };
    if maxval < 256 {
        let limit = maxval as u8;
        if row.iter().fold(0, |m, &s| m.max(s)) > limit {
            let index = row.iter().position(|&s| s > limit).unwrap_or(0);
            return Err(above(u32::from(row[index]), index));
        }
    } else {
        let sample = |pair: &[u8]| u16::from_be_bytes([pair[0], pair[1]]);
        if row.chunks_exact(2).fold(0, |m, p| m.max(sample(p))) > maxval {
            let index = row
                .chunks_exact(2)
                .position(|p| sample(p) > maxval)
                .unwrap_or(0);
            return Err(above(u32::from(sample(&row[2 * index..])), 2 * index));
        }
    }
    Ok(())
}

/// Decode one plain (ASCII) row into its binary form: P1 into packed bits as in P4, P2 and
/// P3 into one or two big-endian bytes per sample as in P5 and P6.
///
/// `out` grows as samples arrive, never to the row length up front: a header may claim a
/// row of gigabytes that the input never delivers, and each sample costs at least one input
/// byte, so memory stays proportional to what was read.
fn decode_plain_row(
    source: &mut Source<'_>,
    header: &Header,
    row: u32,
    out: &mut Vec<u8>,
) -> Result<(), PnmError> {
    out.clear();
    let samples = header.width as usize * header.kind.channels();
    if header.kind == Kind::PlainBitmap {
        for x in 0..samples {
            if x % 8 == 0 {
                out.push(0);
            }
            if plain_sample(source, header, row)? == 1 {
                out[x / 8] |= 0x80 >> (x % 8);
            }
        }
    } else if header.bytes_per_sample() == 1 {
        for _ in 0..samples {
            out.push(plain_sample(source, header, row)? as u8);
        }
    } else {
        for _ in 0..samples {
            let value = plain_sample(source, header, row)? as u16;
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
    Ok(())
}

/// The next plain sample, after any whitespace and comments (netpbm skips comments in plain
/// rasters too). In P1 each `0` or `1` is a sample, with or without whitespace between.
fn plain_sample(source: &mut Source<'_>, header: &Header, row: u32) -> Result<u32, PnmError> {
    let truncated = |source: &Source<'_>| PnmError::Truncated {
        offset: source.offset(),
        row,
        height: header.height,
    };
    // Whitespace and comments.
    loop {
        if source.window().is_empty() && !source.read_more()? {
            return Err(truncated(source));
        }
        match source.window()[0] {
            b' ' | b'\t' | b'\r' | b'\n' => source.consume(1),
            b'#' => loop {
                let window = source.window();
                match memchr::memchr2(b'\n', b'\r', window) {
                    Some(end) => {
                        source.consume(end + 1);
                        break;
                    }
                    None => {
                        let all = window.len();
                        source.consume(all);
                        if !source.read_more()? {
                            return Err(truncated(source));
                        }
                    }
                }
            },
            _ => break,
        }
    }
    // Enough bytes for an error message's excerpt, however the input arrives.
    source.fill(12)?;
    let offset = source.offset();
    let first = source.window()[0];
    if header.kind == Kind::PlainBitmap {
        return match first {
            b'0' | b'1' => {
                source.consume(1);
                Ok(u32::from(first - b'0'))
            }
            _ => Err(bad_sample("0 or 1", source.window(), offset)),
        };
    }
    if !first.is_ascii_digit() {
        return Err(bad_sample("a decimal sample", source.window(), offset));
    }
    let mut value: u32 = 0;
    loop {
        let window = source.window();
        let digits = window.iter().take_while(|b| b.is_ascii_digit()).count();
        for &d in &window[..digits] {
            // Saturate: anything past maxval is an error below, whatever its exact value.
            value = value.saturating_mul(10).saturating_add(u32::from(d - b'0'));
        }
        let ended = digits < window.len();
        source.consume(digits);
        if ended || !source.read_more()? {
            break;
        }
    }
    if value > u32::from(header.maxval) {
        return Err(PnmError::AboveMaxval {
            value,
            maxval: header.maxval,
            offset,
        });
    }
    Ok(value)
}

fn bad_sample(expected: &'static str, at: &[u8], offset: u64) -> PnmError {
    let end = at
        .iter()
        .take(12)
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(at.len().min(12))
        .max(1);
    PnmError::BadSample {
        expected,
        found: at[..end].escape_ascii().to_string(),
        offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Read;

    /// A reader that hands out at most `step` bytes per read, as a slow pipe does.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Every image of `input` as (header, concatenated binary rows), read through `source`.
    fn images(source: Source<'_>) -> Result<Vec<(Header, Vec<u8>)>, PnmError> {
        let mut reader = Reader::new(source);
        let mut out = Vec::new();
        while let Some(header) = reader.next_header()? {
            let mut raster = Vec::new();
            let mut rows = reader.rows(&header)?;
            while let Some(row) = rows.next_row()? {
                raster.extend_from_slice(row);
            }
            out.push((header, raster));
        }
        Ok(out)
    }

    /// The images read from a map and from pipes of several read sizes, which must agree.
    fn read_all(input: &[u8]) -> Result<Vec<(Header, Vec<u8>)>, PnmError> {
        let mapped = images(Source::mapped(input));
        for step in [1, 3, 4096] {
            let mut trickle = Trickle { data: input, step };
            let streamed = images(Source::stream(&mut trickle));
            assert_eq!(
                format!("{mapped:?}"),
                format!("{streamed:?}"),
                "step {step}"
            );
        }
        mapped
    }

    #[test]
    fn plain_and_raw_forms_give_the_same_rows() {
        let pairs: [(&[u8], &[u8]); 3] = [
            (
                b"P1\n10 2\n1 0 0 0 0 0 0 1 1 1\n0101010101\n",
                b"P4\n10 2\n\x81\xc0\x55\x40",
            ),
            (
                b"P2 2 1 1000\n# c\n1000 3\n",
                b"P5 2 1 1000\n\x03\xe8\x00\x03",
            ),
            (
                b"P3 1 2 255 1 2 3 4 5#x\n 6",
                b"P6 1 2 255\n\x01\x02\x03\x04\x05\x06",
            ),
        ];
        for (plain, raw) in pairs {
            let a = read_all(plain).unwrap();
            let b = read_all(raw).unwrap();
            assert_eq!(a[0].1, b[0].1, "{}", plain.escape_ascii());
            assert_eq!(a[0].0.kind.raw(), b[0].0.kind);
        }
    }

    #[test]
    fn concatenated_images_with_whitespace_between() {
        let input = b"P5 1 1 255\n\x07P2 1 1 9\n9\n\n  P4 1 1\n\x80";
        let got = read_all(input).unwrap();
        let rasters: Vec<&[u8]> = got.iter().map(|(_, r)| &r[..]).collect();
        assert_eq!(rasters, [&b"\x07"[..], b"\x09", b"\x80"]);
    }

    /// The message of the error that reading `input` gives.
    fn error(input: &[u8]) -> String {
        read_all(input).unwrap_err().to_string()
    }

    #[test]
    fn truncated_raster_names_row_and_offset() {
        assert_eq!(
            error(b"P6 2 2 255\n123456123"),
            "PNM raster: input ends at byte 20, in row 2 of 2"
        );
        let err = read_all(b"P2 2 2 255\n1 2 3").unwrap_err();
        assert!(matches!(err, PnmError::Truncated { row: 2, .. }), "{err}");
    }

    #[test]
    fn samples_above_maxval_are_refused() {
        assert_eq!(
            error(b"P2 2 1 100\n7 101\n"),
            "PNM raster: sample 101 exceeds maxval 100 at byte 13"
        );
        assert_eq!(
            error(b"P5 3 1 100\n\x00\x65\x00"),
            "PNM raster: sample 101 exceeds maxval 100 at byte 12"
        );
        let err = read_all(b"P5 2 1 1000\n\x00\x01\x03\xe9").unwrap_err();
        assert!(matches!(
            err,
            PnmError::AboveMaxval {
                value: 1001,
                offset: 14,
                ..
            }
        ));
        assert!(read_all(b"P3 1 1 65535 99999999999999 0 0\n").is_err());
    }

    #[test]
    fn garbage_in_a_plain_raster() {
        assert_eq!(
            error(b"P1 2 1\n1 2\n"),
            "PNM raster: expected 0 or 1, found \"2\" at byte 9"
        );
        assert!(matches!(
            read_all(b"P2 1 1 9\nx\n"),
            Err(PnmError::BadSample { .. })
        ));
    }

    #[test]
    fn header_errors_carry_stream_offsets() {
        assert_eq!(
            error(b"P5 1 1 255\n\x07P5 1 x"),
            "PNM header: expected height, found \"x\" at byte 17"
        );
    }

    #[test]
    fn a_lying_header_allocates_nothing_big() {
        // 100000 x 100000 x 3 bytes claimed, 3 given: fails after reading what there is.
        let input = b"P6 100000 100000 255\nabc";
        let mut trickle = Trickle {
            data: input,
            step: 4096,
        };
        let mut reader = Reader::new(Source::stream(&mut trickle));
        let header = reader.next_header().unwrap().unwrap();
        let mut rows = reader.rows(&header).unwrap();
        assert!(matches!(
            rows.next_row(),
            Err(PnmError::Truncated { row: 1, .. })
        ));
        let mut reader = Reader::new(Source::mapped(input));
        let header = reader.next_header().unwrap().unwrap();
        assert!(matches!(
            reader.raster(&header),
            Err(PnmError::Truncated { row: 1, .. })
        ));
    }

    #[test]
    fn mapped_raster_gives_rows_in_any_order() {
        let input = b"P5 2 3 255\nabcdef";
        let mut reader = Reader::new(Source::mapped(input));
        let header = reader.next_header().unwrap().unwrap();
        let raster = reader.raster(&header).unwrap().unwrap();
        assert_eq!(raster.row(2).unwrap(), b"ef");
        assert_eq!(raster.row(0).unwrap(), b"ab");
        assert_eq!(reader.next_header().unwrap(), None);
    }

    #[test]
    fn empty_and_blank_input_have_no_images() {
        assert!(read_all(b"").unwrap().is_empty());
        assert!(read_all(b" \n\t").unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn reading_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = images(Source::mapped(&bytes));
        }

        #[test]
        fn reading_header_like_input_never_panics(
            text in "(P[1-6] [0-9]{1,2} [0-9]{1,2} [0-9]{1,3}\n[0-9 #\n]{0,30}){1,3}"
        ) {
            let _ = read_all(text.as_bytes());
        }
    }
}
