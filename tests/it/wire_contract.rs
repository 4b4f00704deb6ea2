//! pktize(5) as a contract (issue 34): the test vectors printed in the page are what the
//! library makes, and parse back to the fields the page says; and the Python reference
//! written from the page, `python/pkwire.py`, matches `pktize` byte for byte and goes
//! through `unpktize` intact (its own tests, `python/test_pkwire.py`, run from here).

use crate::common;

use pktools::descriptor::{Descriptor, MediaType};
use pktools::fec::Scheme;
use pktools::packetize::{packetize_slice, Describe, Interleave, Settings};
use pktools::wire::auth::{Key, Signer};
use pktools::wire::{Header, Kind, HEADER_LEN};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The page's vectors: each literal block after a `.\" vector NAME` comment, its bytes
/// in hex after `od`'s 7-digit offsets.
fn vectors() -> BTreeMap<String, Vec<u8>> {
    let page = std::fs::read_to_string(repo().join("man/pktize.5")).expect("man/pktize.5");
    let mut out = BTreeMap::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix(".\\\" vector ") else {
            continue;
        };
        assert_eq!(lines.next(), Some(".Bd -literal -offset indent"), "{name}");
        let mut bytes = Vec::new();
        for line in lines.by_ref().take_while(|l| *l != ".Ed") {
            let (offset, hex) = line.split_once(' ').unwrap_or((line, ""));
            assert_eq!(offset.len(), 7, "vector {name}: {line:?}");
            assert_eq!(
                offset.parse::<usize>().ok(),
                Some(bytes.len()),
                "{name}: {line}"
            );
            for byte in hex.split_whitespace() {
                bytes.push(u8::from_str_radix(byte, 16).expect("hex bytes"));
            }
        }
        out.insert(name.to_string(), bytes);
    }
    out
}

fn settings(payload_len: usize, transfer_id: u16) -> Settings {
    Settings {
        payload_len,
        transfer_id,
        bytes_per_sec: None,
        describe: None,
        fec: None,
        interleave: None,
        sign: None,
    }
}

/// What `pktize` sends for `data` from a file, as the library makes it.
fn stream(data: &[u8], settings: &Settings) -> Vec<u8> {
    let mut out = Vec::new();
    packetize_slice(data, &mut out, settings, &mut |_| {}).expect("writes to memory");
    out
}

/// The stream's packets, each parsed, with its payload.
fn packets(stream: &[u8]) -> Vec<(Header, Vec<u8>)> {
    common::split_packets(stream)
        .into_iter()
        .map(|p| {
            (
                Header::parse(&p).expect("a valid header"),
                p[HEADER_LEN..].to_vec(),
            )
        })
        .collect()
}

#[test]
fn the_pages_vectors_are_what_the_library_makes_and_parses() {
    let v = vectors();
    let names: Vec<&str> = v.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "data",
            "descriptor",
            "interleaved",
            "keyed",
            "parity-2+1",
            "parity-2+2"
        ]
    );

    let hello = stream(b"hello", &settings(1024, 0x1234));
    assert_eq!(hello, v["data"]);
    let h = Header::parse(&v["data"]).unwrap();
    assert_eq!(
        (h.kind, h.last, h.seq, h.offset, h.total_len, h.payload_len),
        (Kind::Data, true, 0, 0, Some(5), 5)
    );
    let mut again = [0; HEADER_LEN];
    h.encode(&mut again);
    assert_eq!(again[..], v["data"][..HEADER_LEN]);

    let described = Settings {
        describe: Some(Describe {
            every: 256,
            name: "h.txt".into(),
            media_type: None,
        }),
        ..settings(1024, 0x1234)
    };
    let (h, body) = packets(&stream(b"hello", &described)).remove(0);
    assert_eq!([&h.encode_to_vec()[..], &body].concat(), v["descriptor"]);
    assert_eq!((h.kind, h.seq, h.total_len), (Kind::Descriptor, 0, Some(5)));
    let d = Descriptor::parse(&body).unwrap();
    assert_eq!(
        (d.media_type, d.payload_len, d.fec, &d.name[..], &d.head[..]),
        (MediaType::Raw, 1024, None, "h.txt", &b"hello"[..])
    );
    assert_eq!(d.encode(), body);

    let xor = Settings {
        fec: Some(Scheme::new(2, 1).unwrap()),
        ..settings(4, 1)
    };
    let got = packets(&stream(&[1, 2, 3, 4, 0x10, 0x20, 0x30, 0x40], &xor));
    let (h, shard) = &got[2];
    assert_eq!([&h.encode_to_vec()[..], shard].concat(), v["parity-2+1"]);
    let p = h.parity.unwrap();
    assert_eq!(
        (h.kind, h.last, h.seq, h.offset, p.group_len, p.parity_count),
        (Kind::Parity, true, 0, 0, 2, 1)
    );
    assert_eq!((p.parity_index, p.group_size, p.last_len), (0, 2, 4));
    assert_eq!(shard, &[0x11, 0x22, 0x33, 0x44], "the xor of the data");

    let two = Settings {
        fec: Some(Scheme::new(2, 2).unwrap()),
        ..settings(6, 0x1234)
    };
    let out = stream(b"hello world!", &two);
    assert_eq!(out[2 * (HEADER_LEN + 6)..], v["parity-2+2"]);

    let spread = Settings {
        interleave: Some(Interleave::Whole),
        ..settings(1, 1)
    };
    let seqs: Vec<u8> = packets(&stream(&[0, 1, 2, 3, 4, 5, 6, 7], &spread))
        .iter()
        .map(|(h, _)| h.seq as u8)
        .collect();
    assert_eq!(seqs, v["interleaved"]);

    let key = Key::from_secret(&(0..32).collect::<Vec<u8>>()).unwrap();
    let signer = Signer::new(key, [1, 2, 3, 4, 5, 6, 7, 8]);
    let unkeyed = Header {
        kind: Kind::Data,
        last: false,
        keyed: false,
        encrypted: false,
        payload_len: 17,
        transfer_id: 7,
        seq: 3,
        offset: 30,
        total_len: Some(100),
        payload_crc: 0,
        parity: None,
    };
    let data = b"pktools test data";
    let (header, trailer) = signer.seal(&unkeyed, data);
    assert_eq!([&header[..], data, &trailer].concat(), v["keyed"]);
    let h = Header::parse(&v["keyed"]).unwrap();
    assert!(h.keyed && h.payload_matches(&v["keyed"][HEADER_LEN..]));
}

/// `Header::encode` into a new vector, for comparing whole packets.
trait EncodeToVec {
    fn encode_to_vec(&self) -> Vec<u8>;
}

impl EncodeToVec for Header {
    fn encode_to_vec(&self) -> Vec<u8> {
        let mut out = [0; HEADER_LEN];
        self.encode(&mut out);
        out.to_vec()
    }
}

#[test]
fn pkwire_matches_pktize_byte_for_byte_and_unpktize_takes_its_streams() {
    common::require_tool("python3");
    let python = repo().join("python");
    let out = Command::new("python3")
        .args(["-m", "unittest", "-q", "test_pkwire"])
        .current_dir(&python)
        .env("PKTIZE", common::bin("pktize"))
        .env("UNPKTIZE", common::bin("unpktize"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python/test_pkwire.py failed (keyed cases need `pip install blake3`, which bin/deps \
         does):\n{}",
        common::stderr(&out)
    );
}

#[test]
fn a_pipes_descriptors_carry_the_heads_pktize_5_says_however_slowly_the_bytes_come() {
    // Issue 34 item 13: at the default payload every descriptor holds the first 1024
    // bytes, as from a file; at a shorter payload P the first holds at least P + 1 bytes
    // (up to 1024) and every one a prefix of the data.
    use std::io::{Read, Write};
    let data = common::bytes(3000, 34);
    for (size, least) in [("1024", 1024), ("100", 101)] {
        let mut child = common::spawn("pktize", &["-s", size, "--describe-every", "1"]);
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&data[..10]).unwrap();
        stdin.flush().unwrap();
        // The first 10 bytes come alone: pktize has read them and waits for more.
        let pid = child.id();
        common::wait_until(
            "pktize blocked reading",
            std::time::Duration::from_secs(20),
            || common::blocked_reading(pid, 0),
        );
        stdin.write_all(&data[10..]).unwrap();
        drop(stdin);
        let mut out = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        assert!(child.wait().unwrap().success());
        let heads: Vec<Vec<u8>> = packets(&out)
            .into_iter()
            .filter(|(h, _)| h.kind == Kind::Descriptor)
            .map(|(_, body)| Descriptor::parse(&body).unwrap().head)
            .collect();
        assert!(heads.len() > 2, "{} descriptors", heads.len());
        assert!(heads[0].len() >= least, "-s {size}: {}", heads[0].len());
        assert!(heads
            .iter()
            .all(|h| h[..] == data[..h.len()] && h.len() <= 1024));
        assert_eq!(heads.last().unwrap()[..], data[..1024], "-s {size}");
        if size == "1024" {
            assert!(heads.iter().all(|h| h.len() == 1024));
        }
    }
}

/// T.81 K.1 and K.2, natural order, as pktize(5) names them.
#[rustfmt::skip]
const K1_K2: [[u32; 64]; 2] = [
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
     92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
     47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
     99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99],
];

/// T.81 Figure A.6: the natural index of each zigzag position.
#[rustfmt::skip]
const ZIGZAG: [usize; 64] = [
     0,  1,  8, 16,  9,  2,  3, 10, 17, 24, 32, 25, 18, 11,  4,  5, 12, 19, 26, 33, 40, 48, 41, 34,
    27, 20, 13,  6,  7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// The original JPEG from an indexed transfer's packed file as pktize(5) says:
/// `huffman` the Annex K tables' DHT bytes (counts and symbols) by class and chroma.
fn unpack_per_page(packed: &[u8], huffman: &BTreeMap<(u8, bool), Vec<u8>>) -> Vec<u8> {
    let mut out = packed[..2].to_vec();
    let mut at = 2;
    let mut deferred = Vec::new();
    let segment = |marker: u8, body: &[u8]| {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(body);
        s
    };
    let mut pieces: Vec<Result<Vec<u8>, usize>> = Vec::new();
    loop {
        assert_eq!(packed[at], 0xFF, "an entry at {at}");
        let n = usize::from(packed[at + 2]);
        match packed[at + 1] {
            0xFF => {
                pieces.push(Ok(vec![0xFF]));
                at += 1;
            }
            0x02 => {
                let mut body = Vec::new();
                for &t in &packed[at + 3..at + 3 + n] {
                    body.push(t & 0x7F);
                    body.extend_from_slice(&huffman[&(t >> 4 & 7, t & 0x80 != 0)]);
                }
                pieces.push(Ok(segment(0xC4, &body)));
                at += 3 + n;
            }
            0x03 => {
                let mut body = Vec::new();
                for e in packed[at + 3..at + 3 + 3 * n].chunks(3) {
                    let (pq, s) = (e[0] >> 4 & 7, u32::from(u16::from_be_bytes([e[1], e[2]])));
                    body.push(e[0] & 0x7F);
                    for &z in &ZIGZAG {
                        let v = ((K1_K2[usize::from(e[0] >> 7)][z] * s + 50) / 100)
                            .clamp(1, if pq == 0 { 255 } else { 32767 });
                        match pq {
                            0 => body.push(v as u8),
                            _ => body.extend_from_slice(&(v as u16).to_be_bytes()),
                        }
                    }
                }
                pieces.push(Ok(segment(0xDB, &body)));
                at += 3 + 3 * n;
            }
            0x04 => {
                let len = usize::from(u16::from_be_bytes([packed[at + 3], packed[at + 4]]));
                pieces.push(Err(deferred.len()));
                deferred.push((packed[at + 2], len));
                at += 5;
            }
            marker => {
                let len = usize::from(u16::from_be_bytes([packed[at + 2], packed[at + 3]]));
                pieces.push(Ok(packed[at..at + 2 + len].to_vec()));
                at += 2 + len;
                if marker == 0xDA {
                    break;
                }
            }
        }
    }
    let deferred_len: usize = deferred.iter().map(|(_, len)| len - 2).sum();
    let mut body_at = packed.len() - deferred_len;
    let mut bodies = Vec::new();
    for (marker, len) in &deferred {
        let mut s = vec![0xFF, *marker];
        s.extend_from_slice(&(*len as u16).to_be_bytes());
        s.extend_from_slice(&packed[body_at..body_at + len - 2]);
        body_at += len - 2;
        bodies.push(s);
    }
    for p in pieces {
        match p {
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(k) => out.extend_from_slice(&bodies[k]),
        }
    }
    out.extend_from_slice(&packed[at..packed.len() - deferred_len]);
    out
}

#[test]
fn an_indexed_jpegs_packed_headers_unpack_as_the_page_says() {
    common::require_tool("cjpeg");
    common::require_tool("wrjpgcom");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photo = repo().join("target/photos/astronaut.ppm");
    let status = Command::new("bash")
        .arg(repo().join("tests/photos/fetch.sh"))
        .status()
        .unwrap();
    assert!(status.success());
    let comment = "x".repeat(2000);
    let make = |name: &str, how: &str| {
        let out = common::sh(&format!(
            "cd {} && cjpeg {how} {} > {name}.jpg && pktize -s 300 {name}.jpg > {name}.pk",
            d.display(),
            photo.display()
        ));
        assert!(out.status.success(), "{how}: {}", common::stderr(&out));
        let out = common::sh(&format!(
            "cd {} && wrjpgcom -comment {comment} {name}.jpg > {name}c.jpg && pktize -s 300 {name}c.jpg > {name}c.pk",
            d.display()
        ));
        assert!(out.status.success(), "{}", common::stderr(&out));
    };
    make("ref", "-quality 75");
    // The Annex K Huffman tables as libjpeg writes them, by class and chroma.
    let reference = std::fs::read(d.join("ref.jpg")).unwrap();
    let mut huffman = BTreeMap::new();
    let mut at = 2;
    while reference[at + 1] != 0xDA {
        let len = usize::from(u16::from_be_bytes([reference[at + 2], reference[at + 3]]));
        if reference[at + 1] == 0xC4 {
            let t = reference[at + 4];
            huffman.insert(
                (t >> 4, t & 15 == 1),
                reference[at + 5..at + 2 + len].to_vec(),
            );
        }
        at += 2 + len;
    }
    assert_eq!(huffman.len(), 4);
    for (name, how) in [
        ("q10", "-quality 10"),
        ("q50", "-quality 50"),
        ("q97", "-quality 97 -sample 1x1"),
        ("gray", "-quality 60 -grayscale"),
        ("opt", "-quality 75 -optimize"),
        ("q1", "-quality 1"),
    ] {
        make(name, how);
        for file in [name.to_string(), format!("{name}c")] {
            let stream = std::fs::read(d.join(format!("{file}.pk"))).unwrap();
            let original = std::fs::read(d.join(format!("{file}.jpg"))).unwrap();
            let mut data: Vec<(u64, Vec<u8>)> = packets(&stream)
                .into_iter()
                .filter(|(h, _)| h.kind == Kind::Data)
                .map(|(h, p)| (h.offset, p))
                .collect();
            data.sort();
            let transfer: Vec<u8> = data.iter().flat_map(|(_, p)| p.clone()).collect();
            let packed: Vec<u8> = data
                .iter()
                .flat_map(|(_, p)| p[usize::from(p[0])..].to_vec())
                .collect();
            let unpacked = unpack_per_page(&packed, &huffman);
            assert!(unpacked == original, "{file}: not the original");
            // The descriptors' head: the transfer up to the end of the packed SOS.
            let head = packets(&stream)
                .into_iter()
                .find(|(h, _)| h.kind == Kind::Descriptor)
                .map(|(_, b)| Descriptor::parse(&b).unwrap())
                .unwrap();
            assert_eq!(head.media_type, MediaType::JpegIndexed);
            assert!(transfer.starts_with(&head.head), "{file}");
            let sos = packed.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
            let sos_end =
                sos + 2 + usize::from(u16::from_be_bytes([packed[sos + 2], packed[sos + 3]]));
            let s = usize::from(transfer[0]);
            let k = sos_end / (300 - s);
            assert_eq!(head.head.len(), (sos_end + (k + 1) * s).min(1024), "{file}");
            if !name.starts_with("opt") {
                assert!(sos_end < 120, "{file}: packed headers of {sos_end} bytes");
            }
        }
    }
}
