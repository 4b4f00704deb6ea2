//! `pktize --key` / `unpktize --key`: authenticated packets. Exact round trips through loss
//! and FEC, and what a forger, a splicer or a sender without the key gets: nothing written.

use crate::common::{bytes, header, run, sh, split_packets, stderr};
use pktools::wire::{Header, Kind, HEADER_LEN};
use std::path::{Path, PathBuf};

/// A directory with two 32-byte keys, `key` and `other`, and a 10-byte `short` one.
fn keys() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), bytes(32, 1)).unwrap();
    std::fs::write(dir.path().join("other"), bytes(32, 2)).unwrap();
    std::fs::write(dir.path().join("short"), bytes(10, 3)).unwrap();
    dir
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

/// The packets of `data` sent by pktize from a file, with `args`.
fn pktize(dir: &Path, data: &[u8], args: &[&str]) -> Vec<u8> {
    let input: PathBuf = dir.join("input");
    std::fs::write(&input, data).unwrap();
    let mut all = args.to_vec();
    all.push(input.to_str().unwrap());
    let out = run("pktize", &all, b"");
    assert!(out.status.success(), "pktize: {}", stderr(&out));
    out.stdout
}

/// The stream pktize sends with the key of `dir` for `len` test bytes made from `seed`.
fn keyed_stream(dir: &Path, len: usize, seed: u64) -> Vec<u8> {
    pktize(dir, &bytes(len, seed), &["--key", &path(dir, "key")])
}

/// The packets of `data` that pktize sends with `key` in 1000-byte payloads, and `args`.
fn keyed_packets(dir: &Path, data: &[u8], args: &[&str]) -> Vec<Vec<u8>> {
    let key = path(dir, "key");
    let all = [&["--key", &key, "-s", "1000"], args].concat();
    split_packets(&pktize(dir, data, &all))
}

/// Run unpktize with a JSON report; returns its output and the report's packet counts.
fn unpktize(dir: &Path, args: &[&str], stream: &[u8]) -> (std::process::Output, serde_json::Value) {
    let report = path(dir, "report.json");
    let mut all = vec!["--report", &report];
    all.extend_from_slice(args);
    let out = run("unpktize", &all, stream);
    let json = std::fs::read_to_string(&report)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .map(|v| v["packets"].clone())
        .unwrap_or_default();
    (out, json)
}

/// A packet with its payload changed by `change`, CRC and header check recomputed, as
/// anyone who knows pktize(5) but not the key can make.
fn forged(packet: &[u8], change: impl Fn(&mut Header, &mut [u8])) -> Vec<u8> {
    let mut h = header(packet);
    let mut payload = packet[HEADER_LEN..].to_vec();
    change(&mut h, &mut payload);
    h.payload_crc = Header::crc_of(&payload);
    h.with_payload(&payload)
}

/// `packets` in order, each after the forgeries `forge` makes of it; and how many
/// forgeries there are.
fn forgeries_first(packets: &[Vec<u8>], forge: impl Fn(&[u8]) -> Vec<Vec<u8>>) -> (Vec<u8>, u64) {
    let mut stream = vec![];
    let mut forgeries = 0;
    for p in packets {
        for f in forge(p) {
            stream.extend(f);
            forgeries += 1;
        }
        stream.extend(p);
    }
    (stream, forgeries)
}

/// unpktize --key on a stream with forgeries: exit 0, exactly `data` out, each forgery
/// rejected. Returns the report's packet counts.
fn only_authentic_bytes_come_out(
    dir: &Path,
    stream: &[u8],
    data: &[u8],
    forgeries: u64,
) -> serde_json::Value {
    let (out, counts) = unpktize(dir, &["--key", &path(dir, "key")], stream);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout == data, "forged bytes reached the output");
    assert_eq!(counts["rejected"], forgeries, "{counts}");
    counts
}

#[test]
fn keyed_round_trip_is_exact_through_loss_with_fec() {
    let dir = keys();
    let data = bytes(300_000, 7);
    std::fs::write(dir.path().join("input"), &data).unwrap();
    let script = format!(
        "cd {d} && pktize --key key --fec 8+2 input > packets && \
         unpktize --key key < packets > out && cmp out input && \
         corrupt --loss 5% --seed 4 < packets | unpktize --key key -v -o file 2> log && \
         cmp file input && grep -q ' 0 lost, [1-9][0-9]* recovered' log && \
         grep -q ' 0 rejected' log",
        d = dir.path().display()
    );
    let out = sh(&script);
    assert!(
        out.status.success(),
        "{}{}",
        stderr(&out),
        std::fs::read_to_string(dir.path().join("log")).unwrap_or_default()
    );
}

#[test]
fn every_keyed_packet_carries_the_flag_and_one_salt() {
    let dir = keys();
    let stream = pktize(
        dir.path(),
        &bytes(20_000, 8),
        &[
            "--key",
            &path(dir.path(), "key"),
            "--fec",
            "4+1",
            "-s",
            "1000",
        ],
    );
    let packets = split_packets(&stream);
    let kinds: Vec<Kind> = packets.iter().map(|p| header(p).kind).collect();
    assert!(kinds.contains(&Kind::Descriptor) && kinds.contains(&Kind::Parity));
    let salt = |p: &[u8]| p[p.len() - 24..p.len() - 16].to_vec();
    for p in &packets {
        let h = header(p);
        assert!(h.keyed && p[3] & pktools::wire::FLAG_KEYED != 0, "{h:?}");
        assert_eq!(salt(p), salt(&packets[0]));
        if h.kind == Kind::Data {
            assert_eq!(h.offset, u64::from(h.seq) * 1000);
            assert_eq!(h.data_len() + 24, h.payload_len);
        }
    }
}

#[test]
fn forged_payloads_with_crc_and_header_check_recomputed_never_reach_the_output() {
    let dir = keys();
    let data = bytes(10_000, 9);
    let packets = keyed_packets(dir.path(), &data, &[]);
    // Before each data packet, forgeries of it: other data, then a claim of a larger
    // total. All arrive first; none may count.
    let (stream, forgeries) = forgeries_first(&packets, |p| match header(p).kind {
        Kind::Data => vec![
            forged(p, |_, payload| payload[0] ^= 0xFF),
            forged(p, |h, _| h.total_len = Some(1 << 30)),
        ],
        _ => vec![],
    });
    let counts = only_authentic_bytes_come_out(dir.path(), &stream, &data, forgeries);
    assert_eq!(counts["damaged"], 0);
    assert_eq!(counts["conflicting"], 0);
}

#[test]
fn a_spliced_packet_of_another_keyed_transfer_with_the_same_id_is_rejected() {
    let dir = keys();
    let key = path(dir.path(), "key");
    let ours = bytes(8_000, 10);
    let theirs = bytes(8_000, 11);
    let a = keyed_packets(dir.path(), &ours, &["--id", "0x4242"]);
    let b = keyed_packets(dir.path(), &theirs, &["--id", "0x4242"]);
    assert_eq!(a.len(), b.len());
    // Their data packet 3 takes the place of ours: same id, same key, same offset.
    let third = |p: &Vec<u8>| header(p).kind == Kind::Data && header(p).seq == 3;
    let stream: Vec<u8> = a
        .iter()
        .zip(&b)
        .flat_map(|(x, y)| if third(x) { y.clone() } else { x.clone() })
        .collect();
    let (out, counts) = unpktize(dir.path(), &["--key", &key], &stream);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(counts["rejected"], 1, "{counts}");
    assert_eq!(out.stdout.len(), ours.len());
    assert!(
        out.stdout[3000..4000].iter().all(|&b| b == 0),
        "spliced bytes written"
    );
    assert_eq!(out.stdout[..3000], ours[..3000]);
    assert_eq!(out.stdout[4000..], ours[4000..]);
}

#[test]
fn unkeyed_packets_with_the_keyed_id_are_ignored() {
    let dir = keys();
    let key = path(dir.path(), "key");
    let ours = bytes(5_000, 12);
    let keyed = pktize(dir.path(), &ours, &["--key", &key, "--id", "0x77"]);
    let plain = pktize(dir.path(), &bytes(5_000, 13), &["--id", "0x77"]);
    let unkeyed = split_packets(&plain).len() as u64;
    for stream in [
        [&plain[..], &keyed[..]].concat(),
        [&keyed[..], &plain[..]].concat(),
    ] {
        let (out, counts) = unpktize(dir.path(), &["--key", &key], &stream);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(out.stdout == ours);
        assert_eq!(counts["unauthenticated"], unkeyed, "{counts}");
    }
}

#[test]
fn a_damaged_keyed_packet_is_never_written() {
    let dir = keys();
    let key = path(dir.path(), "key");
    let data = bytes(5_000, 14);
    let mut packets = keyed_packets(dir.path(), &data, &["--describe-every", "0"]);
    packets[2][HEADER_LEN + 10] ^= 0x01; // noise in data packet 2: its CRC fails
    let (out, counts) = unpktize(
        dir.path(),
        &["--key", &key, "--damaged", "keep"],
        &packets.concat(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        (counts["damaged"].as_u64(), counts["rejected"].as_u64()),
        (Some(1), Some(0))
    );
    assert!(out.stdout[2000..3000].iter().all(|&b| b == 0));
    assert_eq!(out.stdout[..2000], data[..2000]);
}

#[test]
fn the_wrong_key_writes_nothing_and_says_so() {
    let dir = keys();
    let stream = keyed_stream(dir.path(), 5_000, 15);
    let file = path(dir.path(), "out");
    let (out, counts) = unpktize(
        dir.path(),
        &["--key", &path(dir.path(), "other"), "-o", &file],
        &stream,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "unpktize: error: no packet passed authentication: wrong key?\n"
    );
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 0);
    assert!(counts["rejected"].as_u64() > Some(0), "{counts}");
    let out = run("unpktize", &["--key", &path(dir.path(), "other")], &stream);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn keyed_packets_without_a_key_ask_for_one() {
    let dir = keys();
    let stream = keyed_stream(dir.path(), 5_000, 16);
    let out = run("unpktize", &[], &stream);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        "unpktize: error: packets are authenticated: use --key\n"
    );
}

#[test]
fn a_short_key_file_is_refused_by_name() {
    let dir = keys();
    let short = path(dir.path(), "short");
    for program in ["pktize", "unpktize"] {
        let out = run(program, &["--key", &short], b"data");
        assert_eq!(out.status.code(), Some(2), "{program}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&short) && err.contains("10 bytes") && err.contains("16"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    let missing = path(dir.path(), "missing");
    let out = run("pktize", &["--key", &missing], b"data");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&missing));
}

#[test]
fn info_with_a_key_reads_only_authentic_descriptors() {
    let dir = keys();
    let key = path(dir.path(), "key");
    let stream = pktize(
        dir.path(),
        &bytes(5_000, 17),
        &["--key", &key, "--name", "x.raw"],
    );
    let out = run("unpktize", &["--info", "--key", &key], &stream);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("5000 bytes"));
    let out = run(
        "unpktize",
        &["--info", "--key", &path(dir.path(), "other")],
        &stream,
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn fec_rebuilds_from_authenticated_parity_only() {
    let dir = keys();
    let data = bytes(8_000, 18);
    let mut packets = keyed_packets(dir.path(), &data, &["--fec", "4+1"]);
    // Data packet 1 is lost; a forged copy of every parity packet comes before the real one.
    packets.retain(|p| !(header(p).kind == Kind::Data && header(p).seq == 1));
    let (stream, forgeries) = forgeries_first(&packets, |p| match header(p).kind {
        Kind::Parity => vec![forged(p, |_, payload| payload[5] ^= 0x20)],
        _ => vec![],
    });
    let counts = only_authentic_bytes_come_out(dir.path(), &stream, &data, forgeries);
    assert_eq!(counts["recovered"], 1, "{counts}");
}

/// Every sending mode that a key goes with, as pktize arguments (payloads of 1000 bytes).
const MODES: &[&[&str]] = &[
    &[],
    &["--fec", "4+1"],
    &["--interleave"],
    &["--interleave=8", "--fec", "4+1"],
    &["--repeat", "2"],
    &["--interleave", "--fec", "4+2", "--repeat", "2"],
    &["--describe-every", "1"],
    &["--fountain", "--repeat", "3"],
];

/// For one way of keying (`keying`: `--key` alone or with `--encrypt`) and every mode: an
/// exact round trip, through loss when the mode has parity; forgeries of every packet,
/// and every packet of another transfer with the same key and id spliced in, rejected and
/// never written.
fn every_mode_keeps_out_forgeries_splices_and_replays(keying: &[&str]) {
    let dir = keys();
    let key = path(dir.path(), "key");
    let data = bytes(20_000, 20);
    let theirs = bytes(20_000, 21);
    for mode in MODES {
        let args = [keying, &["--id", "0x5151"], mode].concat();
        let ours = keyed_packets(dir.path(), &data, &args);
        let clean = ours.concat();
        let (out, _) = unpktize(dir.path(), &["--key", &key], &clean);
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
        assert!(out.stdout == data, "{mode:?}: round trip");

        // Loss: one data packet of each group of four (parity or the fountain's repair
        // rebuilds it), or only the fourth one (its range is filled; the descriptors
        // restore the first 1024 bytes).
        let fec = mode.contains(&"--fec") || mode.contains(&"--fountain");
        let lost: Vec<u8> = ours
            .iter()
            .filter(|p| {
                let h = header(p);
                h.kind != Kind::Data || if fec { h.seq % 4 != 1 } else { h.seq != 3 }
            })
            .flatten()
            .copied()
            .collect();
        let (out, counts) = unpktize(dir.path(), &["--key", &key], &lost);
        if fec {
            assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
            assert!(out.stdout == data, "{mode:?}: rebuilt");
            assert!(counts["recovered"].as_u64() > Some(0), "{mode:?}: {counts}");
        } else if !mode.contains(&"--repeat") {
            assert_eq!(out.status.code(), Some(1), "{mode:?}: {}", stderr(&out));
            assert!(out.stdout[3000..4000].iter().all(|&b| b == 0), "{mode:?}");
            assert_eq!(out.stdout[..3000], data[..3000], "{mode:?}");
            assert_eq!(out.stdout[4000..], data[4000..], "{mode:?}");
        }

        let (stream, forgeries) =
            forgeries_first(&ours, |p| vec![forged(p, |_, payload| payload[0] ^= 0x01)]);
        rejected_and_never_written(dir.path(), mode, &stream, &data, forgeries);

        // Another transfer, same key, same id: each of its packets right after ours.
        let other = keyed_packets(dir.path(), &theirs, &args);
        let mut spliced = Vec::new();
        for (n, p) in ours.iter().enumerate() {
            spliced.extend(p);
            if let Some(q) = other.get(n) {
                spliced.extend(q);
            }
        }
        let replayed = ours.len().min(other.len()) as u64;
        rejected_and_never_written(dir.path(), mode, &spliced, &data, replayed);
    }
}

/// [`only_authentic_bytes_come_out`], but a carousel's receiver stops once the transfer is
/// whole, before the last of the forgeries.
fn rejected_and_never_written(dir: &Path, mode: &[&str], stream: &[u8], data: &[u8], n: u64) {
    if !mode.contains(&"--repeat") {
        only_authentic_bytes_come_out(dir, stream, data, n);
        return;
    }
    let (out, counts) = unpktize(dir, &["--key", &path(dir, "key")], stream);
    assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
    assert!(
        out.stdout == data,
        "{mode:?}: forged bytes reached the output"
    );
    let rejected = counts["rejected"].as_u64().unwrap_or(0);
    assert!(rejected > 0 && rejected <= n, "{mode:?}: {counts}");
}

#[test]
fn keyed_every_mode_keeps_out_forgeries_splices_and_replays() {
    every_mode_keeps_out_forgeries_splices_and_replays(&[]);
}

#[test]
fn encrypted_every_mode_keeps_out_forgeries_splices_and_replays() {
    every_mode_keeps_out_forgeries_splices_and_replays(&["--encrypt"]);
}

/// 20 000 bytes of a 64-byte block that anyone might guess, over and over.
fn known_plaintext() -> Vec<u8> {
    let block = b"KNOWN PLAINTEXT: the same 64 bytes in every packet, guessable..";
    block.iter().copied().cycle().take(20_000).collect()
}

#[test]
fn a_known_plaintext_block_never_appears_on_the_wire() {
    let dir = keys();
    let data = known_plaintext();
    let name = "secret-name.raw";
    for mode in MODES {
        let args = [&["--encrypt", "--name", name][..], mode].concat();
        let packets = keyed_packets(dir.path(), &data, &args);
        // Kind codes 8, 10, 11 and 12, which a receiver older than --encrypt does not know
        // (it knows 0, 2, 3 and 4): it finds no packets instead of taking ciphertext for data.
        for p in &packets {
            assert!(
                [8, 10, 11, 12].contains(&(p[3] >> 4)),
                "{mode:?}: kind {}",
                p[3] >> 4
            );
        }
        let wire = packets.concat();
        // No 16 bytes of the block (nor of the name) anywhere: not in data, parity or
        // descriptors (whose head copies the first 1024 bytes).
        for at in 0..64 - 16 {
            let piece = &data[at..at + 16];
            assert!(
                !wire.windows(16).any(|w| w == piece),
                "{mode:?}: plaintext on the wire"
            );
        }
        assert!(
            !wire.windows(name.len()).any(|w| w == name.as_bytes()),
            "{mode:?}: name"
        );
        let (out, counts) = unpktize(dir.path(), &["--key", &path(dir.path(), "key")], &wire);
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
        assert!(out.stdout == data, "{mode:?}");
        assert!(counts["encrypted"].as_u64() > Some(0), "{counts}");
    }
    // Keyed but not encrypted, the same block is there for anyone to read: the check sees it.
    let wire = keyed_packets(dir.path(), &data, &[]).concat();
    assert!(wire.windows(16).any(|w| w == &data[..16]));
}

#[test]
fn bit_flips_and_truncations_of_encrypted_packets_never_reach_the_output() {
    let dir = keys();
    let data = bytes(200_000, 22);
    let input = dir.path().join("input");
    std::fs::write(&input, &data).unwrap();
    for mode in ["", "--fec 4+1 --interleave"] {
        let script = format!(
            "cd {d} && pktize --key key --encrypt -s 1000 {mode} input | \
             corrupt --ber 0.00002 --truncate 2% --loss 2% --seed 9 | head -c 190000 | \
             unpktize --key key --damaged keep --fill 00 -o out --report report.json; \
             test $? = 1",
            d = dir.path().display()
        );
        let out = sh(&script);
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        let got = std::fs::read(dir.path().join("out")).unwrap();
        // Every 1000-byte range is either exactly what was sent or fill: no damaged,
        // cut or undeciphered byte was written.
        let mut sent = 0;
        for (n, chunk) in got.chunks(1000).enumerate() {
            let want = &data[n * 1000..(n * 1000 + chunk.len()).min(data.len())];
            if chunk == want {
                sent += 1;
            } else {
                assert!(
                    chunk.iter().all(|&b| b == 0),
                    "{mode}: range {n} is neither"
                );
            }
        }
        assert!(sent > 100, "{mode}: only {sent} ranges arrived");
        let report = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
        let counts = serde_json::from_str::<serde_json::Value>(&report).unwrap()["packets"].clone();
        assert!(counts["damaged"].as_u64() > Some(0), "{mode}: {counts}");
        assert!(counts["truncated"].as_u64() > Some(0), "{mode}: {counts}");
    }
}

#[test]
fn an_encrypted_stream_without_its_key_writes_nothing_and_says_why() {
    let dir = keys();
    let stream = pktize(
        dir.path(),
        &bytes(5_000, 23),
        &["--key", &path(dir.path(), "key"), "--encrypt"],
    );
    let out = run("unpktize", &[], &stream);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        "unpktize: error: packets are encrypted: use --key\n"
    );
    let out = run("unpktize", &["--key", &path(dir.path(), "other")], &stream);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        "unpktize: error: no packet passed authentication: wrong key?\n"
    );
    // --info reads the descriptor only with the key.
    let out = run(
        "unpktize",
        &["--info", "--key", &path(dir.path(), "key")],
        &stream,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("5000 bytes"));
    let out = run("pktize", &["--encrypt"], b"data");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "pktize: error: --encrypt needs --key FILE, the secret to encipher with\n"
    );
}

#[test]
fn an_encrypted_image_is_concealed_and_mapped_as_a_keyed_one_is() {
    let dir = keys();
    let (w, h) = (64, 48);
    let mut image = format!("P6\n{w} {h}\n255\n").into_bytes();
    image.extend((0..w * h * 3).map(|i| (i * 7 % 251) as u8));
    std::fs::write(dir.path().join("input"), &image).unwrap();
    let receive = |keying: &str, tag: &str| {
        let script = format!(
            "cd {d} && pktize --key key {keying} -s 500 input | corrupt --loss 8% --seed 5 | \
             unpktize --key key --conceal --map map-{tag}.ppm -o out-{tag}.ppm; \
             test $? = 1",
            d = dir.path().display()
        );
        let out = sh(&script);
        assert!(out.status.success(), "{keying}: {}", stderr(&out));
        let read = |name: String| std::fs::read(dir.path().join(name)).unwrap();
        (
            read(format!("out-{tag}.ppm")),
            read(format!("map-{tag}.ppm")),
        )
    };
    let (keyed, keyed_map) = receive("", "keyed");
    let (encrypted, encrypted_map) = receive("--encrypt", "encrypted");
    assert_eq!(keyed.len(), image.len());
    assert_ne!(keyed, image, "the loss hit nothing");
    assert!(encrypted == keyed, "concealment differs");
    assert!(encrypted_map == keyed_map, "map differs");
}

#[test]
fn an_encrypted_reception_resumes_into_the_file_it_left() {
    let dir = keys();
    std::fs::write(dir.path().join("input"), bytes(30_000, 24)).unwrap();
    let script = format!(
        "cd {d} && pktize --key key --encrypt -s 1000 --repeat 2 input > packets && \
         head -c 12000 packets | unpktize --key key -o out --report report.json; \
         test $? = 1 && unpktize --key key --resume report.json -o out < packets && \
         cmp out input",
        d = dir.path().display()
    );
    let out = sh(&script);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn encrypted_round_trips_from_a_pipe_in_every_mode() {
    let dir = keys();
    let key = path(dir.path(), "key");
    let data = bytes(20_000, 25);
    for mode in MODES {
        let args = [&["--key", &key, "--encrypt", "-s", "1000"][..], mode].concat();
        let sent = run("pktize", &args, &data);
        assert!(sent.status.success(), "{mode:?}: {}", stderr(&sent));
        let (out, _) = unpktize(dir.path(), &["--key", &key], &sent.stdout);
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
        assert!(out.stdout == data, "{mode:?}");
    }
}

/// An oracle nobody here wrote: Python's `cryptography` (OpenSSL) opens every encrypted
/// packet pktize sends, from the keys and nonce pktize(5) defines, and gets the data back;
/// a fountain's repair packets open to the repair symbols of the data's ciphertexts.
#[test]
fn python_cryptography_opens_what_pktize_encrypts() {
    let dir = keys();
    let data = bytes(3_000, 26);
    let packets = keyed_packets(dir.path(), &data, &["--encrypt", "--fec", "2+1"]);
    let opened = opened_by_python(&packets);
    let data_hex: String = packets
        .iter()
        .zip(&opened)
        .filter(|(p, _)| header(p).kind == Kind::Data)
        .map(|(_, o)| hex(o))
        .collect();
    assert_eq!(data_hex, hex(&data));

    // A fountain: 3 data packets, one block, then repair symbols 0, 1, ...
    let packets = keyed_packets(
        dir.path(),
        &data,
        &["--encrypt", "--fountain", "--repeat", "3"],
    );
    let opened = opened_by_python(&packets);
    let ciphertexts: Vec<&[u8]> = packets
        .iter()
        .filter(|p| header(p).kind == Kind::Data)
        .map(|p| &p[HEADER_LEN..p.len() - pktools::wire::SEALED_TRAILER_LEN])
        .collect();
    assert_eq!(ciphertexts.len(), 3);
    let mut encoder = pktools::fec::fountain::BlockEncoder::new(1000);
    encoder.load(ciphertexts.into_iter());
    let mut repairs = 0;
    for (p, o) in packets.iter().zip(&opened) {
        let h = header(p);
        match h.kind {
            Kind::Data => assert_eq!(o[..], data[h.offset as usize..][..o.len()]),
            Kind::Repair(r) => {
                assert_eq!(h.seq, 0);
                let mut symbol = vec![0; 1000];
                encoder.repair(r.repair_index.into(), &mut symbol);
                assert!(*o == symbol, "repair symbol {}", r.repair_index);
                repairs += 1;
            }
            _ => {}
        }
    }
    assert_eq!(repairs, 6);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What Python's `cryptography` opens each of `packets` to, from the key `keys()` holds.
fn opened_by_python(packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
    use pktools::wire::seal::{nonce, CIPHER_CONTEXT};
    use pktools::wire::{SEALED_SALT_LEN, SEALED_TRAILER_LEN};
    let root = blake3::derive_key(CIPHER_CONTEXT, &bytes(32, 1));
    // One line per packet: key, nonce, header0, ciphertext || tag.
    let mut lines = String::new();
    for p in packets {
        let h = header(p);
        let trailer = &p[p.len() - SEALED_TRAILER_LEN..];
        let salt: [u8; SEALED_SALT_LEN] = trailer[..SEALED_SALT_LEN].try_into().unwrap();
        let tkey = blake3::keyed_hash(&root, &salt);
        let sealed = [&p[HEADER_LEN..p.len() - SEALED_TRAILER_LEN], &trailer[16..]].concat();
        lines += &format!(
            "{} {} {} {}\n",
            hex(tkey.as_bytes()),
            hex(&nonce(&h)),
            hex(&h.tag_input()),
            hex(&sealed)
        );
    }
    crate::common::require_tool("python3");
    let script = "import sys\n\
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n\
        for line in sys.stdin:\n    \
            k, n, a, c = (bytes.fromhex(x) for x in line.split())\n    \
            sys.stdout.write(AESGCM(k).decrypt(n, c, a).hex() + '\\n')\n";
    let out = crate::common::run_cmd(
        std::process::Command::new("python3").args(["-c", script]),
        lines.as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let opened: Vec<Vec<u8>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect();
    assert_eq!(opened.len(), packets.len());
    opened
}

/// The datagrams `pktize --udp` sends to a socket of ours for `data`, with the key of
/// `dir`, 1000-byte payloads and `args`: one packet each.
fn udp_packets(dir: &Path, data: &[u8], args: &[&str]) -> Vec<Vec<u8>> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Room for the whole transfer, so that the kernel drops none of it.
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(&socket, 8 << 20).is_err() {
        rustix::net::sockopt::set_socket_recv_buffer_size(&socket, 8 << 20).unwrap();
    }
    let to = socket.local_addr().unwrap().to_string();
    let key = path(dir, "key");
    let all = [&["--udp", &to, "--key", &key, "-s", "1000"], args].concat();
    let sent = pktize(dir, data, &all);
    assert!(sent.is_empty(), "--udp wrote to stdout");
    socket.set_nonblocking(true).unwrap();
    let mut buf = vec![0; 1 << 16];
    let mut datagrams = vec![];
    while let Ok(n) = socket.recv(&mut buf) {
        datagrams.push(buf[..n].to_vec());
    }
    datagrams
}

/// `unpktize --udp --key` given `datagrams` one by one from another socket: its output
/// and report counts.
fn unpktize_udp(dir: &Path, datagrams: &[Vec<u8>]) -> (std::process::Output, serde_json::Value) {
    let _one = crate::netcat::one_at_a_time();
    // A port that was free a moment ago; the receiver binds it.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let at = format!("127.0.0.1:{port}");
    let (key, report) = (path(dir, "key"), path(dir, "report.json"));
    let child = std::process::Command::new(crate::common::bin("unpktize"))
        .args([
            "--udp", &at, "--idle", "0.5", "--key", &key, "--report", &report,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while std::net::UdpSocket::bind(&at).is_ok() {
        assert!(start.elapsed().as_secs() < 10, "no receiver on {at}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in datagrams {
        // Once whole, a fountain's receiver may be gone before the last of them.
        let _ = sender.send_to(d, &at);
    }
    let out = child.wait_with_output().unwrap();
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let counts = serde_json::from_str::<serde_json::Value>(&text)
        .map(|v| v["packets"].clone())
        .unwrap_or_default();
    (out, counts)
}

/// Over real UDP, sent by `pktize --udp` and received by `unpktize --udp`, keyed and
/// encrypted, in order and as a fountain through loss: forgeries of every packet and the
/// packets of another transfer with the same key and id, each beside ours, are rejected
/// and never written.
#[test]
fn udp_transfers_keep_out_forgeries_splices_and_replays() {
    let dir = keys();
    let data = bytes(20_000, 27);
    let theirs = bytes(20_000, 28);
    for keying in [&[][..], &["--encrypt"]] {
        for mode in [&[][..], &["--fountain", "--repeat", "3"]] {
            let what = format!("{keying:?} {mode:?}");
            let args = [keying, &["--id", "0x5252"], mode].concat();
            let ours = udp_packets(dir.path(), &data, &args);
            let other = udp_packets(dir.path(), &theirs, &args);
            for p in ours.iter().chain(&other) {
                assert_eq!(header(p).encrypted, !keying.is_empty(), "{what}");
            }
            let fountain = !mode.is_empty();
            let mut stream = vec![];
            let mut hostile = 0;
            for (n, p) in ours.iter().enumerate() {
                // The fountain's repair makes up for one data packet in four lost.
                let h = header(p);
                if fountain && h.kind == Kind::Data && h.seq % 4 == 1 {
                    continue;
                }
                stream.push(forged(p, |_, payload| payload[5] ^= 0x20));
                stream.push(p.clone());
                stream.extend(other.get(n).cloned());
                hostile += 1 + u64::from(n < other.len());
            }
            let (out, counts) = unpktize_udp(dir.path(), &stream);
            assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(&out));
            assert!(
                out.stdout == data,
                "{what}: forged or spliced bytes written"
            );
            let rejected = counts["rejected"].as_u64().unwrap_or(0);
            if fountain {
                // It stops once whole, before the last of them.
                assert!(rejected > 0 && rejected <= hostile, "{what}: {counts}");
                assert!(counts["recovered"].as_u64() > Some(0), "{what}: {counts}");
            } else {
                assert_eq!(rejected, hostile, "{what}: {counts}");
            }
        }
    }
}
