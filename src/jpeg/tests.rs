#![allow(
    clippy::needless_range_loop,
    clippy::single_range_in_vec_init,
    clippy::type_complexity
)]
//! The JPEG module against synthetic files made with its own encoder (real photographs are
//! in tests/it/jpeg.rs): what is encoded decodes, sub-headers point at MCU starts, a lost
//! packet costs its MCUs only, no input panics.

use super::header::Header;
use super::huffman;
use super::packed::{pack, Layout};
use super::packets::{index, sub_len, Pieces, SubHeader, NONE};
use super::rebuild::rebuild;
use super::scan::{encode_block, BitWriter, Block, Position, Walker};
use super::JpegError;
use proptest::prelude::*;

/// A baseline JPEG of random coefficients, made with the Annex K tables: `sampling` per
/// component, a restart marker every `ri` MCUs (0: none). Returns the file and its blocks.
fn synth(w: u16, h: u16, sampling: &[(u8, u8)], ri: u16, seed: u64) -> (Vec<u8>, Vec<Block>) {
    let mut f = vec![0xFF, 0xD8];
    // One quantisation table of ones.
    f.extend_from_slice(&[0xFF, 0xDB, 0, 67, 0]);
    f.extend_from_slice(&[1; 64]);
    let n = sampling.len();
    f.extend_from_slice(&[0xFF, 0xC0]);
    f.extend_from_slice(&((8 + 3 * n) as u16).to_be_bytes());
    f.push(8);
    f.extend_from_slice(&h.to_be_bytes());
    f.extend_from_slice(&w.to_be_bytes());
    f.push(n as u8);
    for (i, (sh, sv)) in sampling.iter().enumerate() {
        f.extend_from_slice(&[i as u8 + 1, sh << 4 | sv, 0]);
    }
    let tables = huffman::standard();
    let mut dht = Vec::new();
    tables[0].dht_body(0, 0, &mut dht);
    tables[1].dht_body(0, 1, &mut dht);
    tables[2].dht_body(1, 0, &mut dht);
    tables[3].dht_body(1, 1, &mut dht);
    f.extend_from_slice(&[0xFF, 0xC4]);
    f.extend_from_slice(&((dht.len() + 2) as u16).to_be_bytes());
    f.extend_from_slice(&dht);
    if ri > 0 {
        f.extend_from_slice(&[0xFF, 0xDD, 0, 4]);
        f.extend_from_slice(&ri.to_be_bytes());
    }
    f.extend_from_slice(&[0xFF, 0xDA]);
    f.extend_from_slice(&((6 + 2 * n) as u16).to_be_bytes());
    f.push(n as u8);
    for i in 0..n {
        let t = u8::from(i > 0);
        f.extend_from_slice(&[i as u8 + 1, t << 4 | t]);
    }
    f.extend_from_slice(&[0, 63, 0]);
    let header = Header::parse(&f).expect("synthetic header");
    let (mx, my) = header.mcus();
    let per = header.blocks_in_mcu();
    let mut rng = seed | 1;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut blocks = Vec::new();
    let mut wr = BitWriter::new(f);
    let mut preds = [0i32; 4];
    for m in 0..mx * my {
        if ri > 0 && m > 0 && m % usize::from(ri) == 0 {
            wr.finish();
            wr.out
                .extend_from_slice(&[0xFF, 0xD0 + ((m / usize::from(ri) - 1) % 8) as u8]);
            preds = [0; 4];
        }
        let mut b = 0;
        for c in 0..n {
            let (a, d) = header.blocks_per_mcu(c);
            for _ in 0..a * d {
                let mut block = [0i16; 64];
                block[0] = (next() % 600) as i16 - 300;
                for k in 1..64 {
                    if next() % (k as u64 + 2) == 0 {
                        block[k] = (next() % 61) as i16 - 30;
                    }
                }
                let (dc, ac) = if c == 0 {
                    (&tables[0], &tables[2])
                } else {
                    (&tables[1], &tables[3])
                };
                encode_block(&mut wr, dc, ac, &mut preds[c], &block);
                blocks.push(block);
                b += 1;
            }
        }
        assert_eq!(b, per);
    }
    wr.finish();
    let mut f = wr.out;
    f.extend_from_slice(&[0xFF, 0xD9]);
    (f, blocks)
}

fn decode_all(file: &[u8]) -> Vec<Block> {
    let header = Header::parse(file).unwrap();
    let mut w = Walker::new(file, &header);
    let mut blocks = [[0i16; 64]; 10];
    let mut out = Vec::new();
    while w.next_mcu(&mut blocks).unwrap().is_some() {
        out.extend_from_slice(&blocks[..header.blocks_in_mcu()]);
    }
    assert!(!w.overran());
    out
}

const CASES: [(u16, u16, &[(u8, u8)], u16); 5] = [
    (64, 48, &[(2, 2), (1, 1), (1, 1)], 0),
    (37, 29, &[(1, 1), (1, 1), (1, 1)], 0),
    (41, 17, &[(1, 1)], 0),
    (50, 40, &[(2, 1), (1, 1), (1, 1)], 3),
    (33, 33, &[(2, 2)], 1),
];

#[test]
fn the_walker_decodes_what_was_encoded() {
    for (i, (w, h, s, ri)) in CASES.iter().enumerate() {
        let (file, blocks) = synth(*w, *h, s, *ri, i as u64 + 7);
        assert_eq!(decode_all(&file), blocks, "case {i}");
    }
}

#[test]
fn without_loss_the_file_comes_back_byte_for_byte() {
    for (i, (w, h, s, ri)) in CASES.iter().enumerate() {
        let (file, _) = synth(*w, *h, s, *ri, i as u64 + 1);
        for p in [64, 100, 1024] {
            let t = index(&file, p).unwrap();
            let sub = sub_len(s.len());
            let packed = pack(&file, &Header::parse(&file).unwrap());
            assert!(packed.len() < file.len() - 400, "Annex K tables named");
            assert_eq!(t.len(), packed.len() + packed.len().div_ceil(p - sub) * sub);
            let r = rebuild(&t, p, &[]).unwrap();
            assert!(r.exact);
            assert_eq!(r.jpeg, file, "case {i} payload {p}");
        }
    }
}

#[test]
fn every_sub_header_points_at_an_mcu_start() {
    let (file, _) = synth(64, 48, &[(2, 2), (1, 1), (1, 1)], 2, 3);
    let header = Header::parse(&file).unwrap();
    let mut starts = Vec::new();
    let mut w = Walker::new(&file, &header);
    let mut blocks = [[0i16; 64]; 10];
    while let Some((m, at, preds)) = w.next_mcu(&mut blocks).unwrap() {
        starts.push((m, at, preds));
    }
    let p = 80;
    let d = p - sub_len(3);
    let t = index(&file, p).unwrap();
    // Where the scan's bytes lie in the packed file.
    let head_end = Layout::parse(&pack(&file, &header)).unwrap().head_end;
    let moved = |at: &Position| at.byte - header.scan_start + head_end;
    for (k, chunk) in t.chunks(p).enumerate() {
        let sub = SubHeader::parse(chunk).unwrap();
        let first = starts.iter().find(|(_, at, _)| moved(at) / d == k);
        match first {
            Some((m, at, preds)) => {
                assert_eq!(sub.first_mcu, *m as u32);
                assert_eq!(
                    sub.start_bit as usize,
                    (moved(at) - k * d) * 8 + usize::from(at.bit)
                );
                assert_eq!(sub.predictors, *preds);
            }
            None => assert_eq!(sub.first_mcu, NONE),
        }
    }
}

#[test]
fn a_lost_packet_costs_its_mcus_and_no_others() {
    for (i, (w, h, s, ri)) in CASES.iter().enumerate() {
        let (file, blocks) = synth(*w, *h, s, *ri, i as u64 + 11);
        let p = 100;
        let t = index(&file, p).unwrap();
        let packets = t.len().div_ceil(p);
        // A packet past the headers, before the last.
        let scan_start = Header::parse(&file).unwrap().scan_start;
        let head_end = Layout::parse(&pack(&file, &Header::parse(&file).unwrap()))
            .unwrap()
            .head_end;
        let k = (head_end / (p - sub_len(s.len())) + 1).max(packets / 2);
        assert!(k < packets - 1, "case {i}: {packets} packets");
        let lost = [(k * p) as u64..((k + 1) * p) as u64];
        let r = rebuild(&t, p, &lost).unwrap();
        assert!(!r.exact);
        assert!(r.lost_mcus() > 0, "case {i}");
        let got = decode_all(&r.jpeg);
        assert_eq!(got.len(), blocks.len());
        let header = Header::parse(&file).unwrap();
        let per = header.blocks_in_mcu();
        let lost_mcu = |m: usize| r.lost.iter().any(|l| l.contains(&m));
        for m in 0..blocks.len() / per {
            if !lost_mcu(m) {
                assert_eq!(
                    got[m * per..(m + 1) * per],
                    blocks[m * per..(m + 1) * per],
                    "case {i} MCU {m}"
                );
            }
        }
        // Only MCUs of the lost packet's bytes (and one reaching into it) are lost.
        let sub = sub_len(s.len());
        let lost_bytes = (p - sub) as f64;
        let mcus = blocks.len() / per;
        assert!(
            (r.lost_mcus() as f64)
                < 2.0 + lost_bytes / ((file.len() - scan_start) as f64 / mcus as f64) * 1.5,
            "case {i}: {} of {mcus} MCUs lost, {:?}, {} bytes",
            r.lost_mcus(),
            r.lost,
            file.len()
        );
    }
}

#[test]
fn lost_headers_are_said() {
    let (file, _) = synth(64, 48, &[(1, 1)], 0, 5);
    let t = index(&file, 100).unwrap();
    assert_eq!(
        rebuild(&t, 100, &[0..100]).unwrap_err(),
        JpegError::HeadersLost
    );
}

#[test]
fn progressive_and_arithmetic_are_refused_with_the_remedy() {
    let (mut file, _) = synth(16, 16, &[(1, 1)], 0, 5);
    let sof = file.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    file[sof + 1] = 0xC2;
    assert_eq!(Header::parse(&file).unwrap_err(), JpegError::Progressive);
    assert!(JpegError::Progressive.to_string().contains("jpegtran"));
    file[sof + 1] = 0xC9;
    assert_eq!(Header::parse(&file).unwrap_err(), JpegError::Arithmetic);
}

#[test]
fn pieces_of_an_empty_transfer() {
    let p = Pieces::split(&[], 100, &[]);
    assert!(p.whole());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), p in 64usize..200) {
        let _ = Header::parse(&bytes);
        if let Ok(l) = Layout::parse(&bytes) {
            let _ = l.headers(&bytes, &|r| r.start % 2 == 0);
            let _ = l.unpack(&bytes);
        }
        let _ = index(&bytes, p);
        let _ = rebuild(&bytes, p, &[0..(bytes.len() as u64 / 2)]);
    }

    #[test]
    fn damaged_jpegs_never_panic(seed in any::<u64>(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let (mut file, _) = synth(40, 24, &[(2, 1), (1, 1), (1, 1)], 2, seed);
        for (at, b) in flips {
            let at = at % file.len();
            file[at] = b;
        }
        let _ = index(&file, 90);
        let (good, _) = synth(40, 24, &[(2, 1), (1, 1), (1, 1)], 2, seed);
        let mut t = index(&good, 90).unwrap();
        let at = cut % t.len();
        t[at] ^= 0x5a;
        let _ = rebuild(&t, 90, &[(at as u64 / 90 * 90 + 90)..(at as u64 / 90 * 90 + 180)]);
    }
}

#[test]
fn the_descriptor_head_ends_with_the_headers() {
    let (file, _) = synth(64, 48, &[(2, 2), (1, 1), (1, 1)], 0, 9);
    // The packed headers' end: what a receiver needs.
    let scan_start = Layout::parse(&pack(&file, &Header::parse(&file).unwrap()))
        .unwrap()
        .head_end;
    for p in [64, 100, 1024] {
        let t = index(&file, p).unwrap();
        let head = &t[..t.len().min(1024)];
        let n = super::packets::head_len(head, p);
        let file_bytes = n - n.div_ceil(p) * sub_len(3);
        assert_eq!(
            file_bytes.min(1024),
            scan_start.min(file_bytes),
            "payload {p}"
        );
        if n < head.len() {
            assert_eq!(file_bytes, scan_start, "payload {p}");
        }
    }
}

#[test]
fn sub_headers_are_plausible_and_random_payloads_are_not() {
    let (file, _) = synth(64, 48, &[(2, 2), (1, 1), (1, 1)], 0, 4);
    let t = index(&file, 100).unwrap();
    assert!(t.chunks(100).all(SubHeader::plausible));
    let mut rng = 99u64;
    let random = (0..20_000)
        .filter(|_| {
            let payload: Vec<u8> = (0..1024)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng as u8
                })
                .collect();
            SubHeader::plausible(&payload)
        })
        .count();
    assert!(
        random <= 1,
        "{random} of 20000 random payloads look like sub-headers"
    );
}

/// `file` with `segments` (marker, body) inserted after its SOI, and `extra` raw bytes
/// before them.
fn with_segments(file: &[u8], extra: &[u8], segments: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = file[..2].to_vec();
    out.extend_from_slice(extra);
    for (marker, body) in segments {
        out.extend_from_slice(&[0xFF, *marker]);
        out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(body);
    }
    out.extend_from_slice(&file[2..]);
    out
}

/// A DQT body of libjpeg's tables at `quality` (jpeg_quality_scaling), luminance as
/// table 0 and chrominance as table 1, 16-bit when `wide`.
fn libjpeg_dqt(quality: u32, wide: bool) -> Vec<u8> {
    #[rustfmt::skip]
    let k1: [u32; 64] = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99];
    #[rustfmt::skip]
    let k2: [u32; 64] = [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99];
    let scale = if quality < 50 {
        5000 / quality
    } else {
        200 - 2 * quality
    };
    let mut body = Vec::new();
    for (id, base) in [k1, k2].iter().enumerate() {
        body.push(u8::from(wide) << 4 | id as u8);
        for k in 0..64 {
            let v = ((base[super::pixels::ZIGZAG[k]] * scale + 50) / 100).clamp(1, 32767);
            match wide {
                false => body.push(v.min(255) as u8),
                true => body.extend_from_slice(&(v as u16).to_be_bytes()),
            }
        }
    }
    body
}

#[test]
fn packed_headers_name_standard_tables_and_defer_large_segments() {
    let (file, blocks) = synth(64, 48, &[(2, 2), (1, 1), (1, 1)], 0, 21);
    let exif: Vec<u8> = (0..700u32).map(|i| (i * 7) as u8).collect();
    let mut custom = libjpeg_dqt(75, false);
    custom[5] ^= 1;
    let file = with_segments(
        &file,
        &[0xFF, 0xFF],
        &[
            (0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0".to_vec()),
            (0xE1, exif.clone()),
            (0xFE, b"short".to_vec()),
            (0x02, vec![1, 2, 3]),
            (0xDB, libjpeg_dqt(37, false)),
            (0xDB, libjpeg_dqt(1, true)),
            (0xDB, libjpeg_dqt(100, false)),
            (0xDB, custom.clone()),
        ],
    );
    let header = Header::parse(&file).unwrap();
    let packed = pack(&file, &header);
    let layout = Layout::parse(&packed).unwrap();
    assert_eq!(layout.unpack(&packed).as_deref(), Some(&file[..]));
    // SOI, fill, JFIF (18), Exif and the reserved marker deferred (5 each), COM (9), three
    // DQT named (3 + 6), the changed one spelled out (69), synth's table of ones named
    // (scale 0: 6), frame, named DHT (7), scan.
    let frame = 2 + 8 + 3 * 3;
    let scan = 2 + 6 + 2 * 3;
    assert_eq!(
        layout.head_end,
        2 + 2 + 18 + 5 + 9 + 5 + 3 * 9 + 4 + custom.len() + 6 + frame + 7 + scan
    );
    assert_eq!(
        packed.len(),
        file.len() - header.scan_start + layout.head_end + exif.len() + 3
    );
    for p in [64, 200, 1024] {
        let t = index(&file, p).unwrap();
        let r = rebuild(&t, p, &[]).unwrap();
        assert!(r.exact && r.jpeg == file, "payload {p}");
        // The last packet lost (it holds the deferred bodies): the rebuilt JPEG has no
        // Exif, and every MCU before the loss as it was.
        let last = (t.len() - 1) / p * p;
        let r = rebuild(&t, p, &[last as u64..t.len() as u64]).unwrap();
        let h = Header::parse(&r.jpeg).unwrap();
        assert!(h.segments.iter().all(|s| s.marker != 0xE1), "payload {p}");
        assert_eq!(h.quant, header.quant, "payload {p}");
        let got = decode_all(&r.jpeg);
        assert_eq!(got[..64], blocks[..64], "payload {p}");
    }
}

#[test]
fn packed_headers_that_name_too_much_are_refused() {
    let mut packed = vec![0xFF, 0xD8];
    for _ in 0..100 {
        packed.extend_from_slice(&[0xFF, 0x02, 255]);
        packed.extend_from_slice(&[0x10; 255]);
    }
    assert!(matches!(Layout::parse(&packed), Err(JpegError::Bad { .. })));
    // A name outside Annex K's (class 2, id 4) is refused too.
    assert!(Layout::parse(&[0xFF, 0xD8, 0xFF, 0x02, 1, 0x20]).is_err());
    assert!(Layout::parse(&[0xFF, 0xD8, 0xFF, 0x03, 1, 0x04, 0, 50]).is_err());
}
