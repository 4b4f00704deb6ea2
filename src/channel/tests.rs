//! Tests of the channel as a whole: identity, independence from read sizes, modes, the
//! reorder bound, and properties over arbitrary input.

use super::*;
use crate::io::ChunkedReader;
use crate::packetize::{Packetizer, Settings};
use proptest::prelude::*;

/// `count` packets of `payload_len` bytes, made by pktize's packetizer.
fn packets(count: u32, payload_len: usize) -> Vec<u8> {
    let settings = Settings {
        payload_len,
        transfer_id: 9,
        bytes_per_sec: None,
        describe: None,
        fec: None,
        sign: None,
        interleave: None,
    };
    let mut packetizer = Packetizer::new(settings, Some(u64::from(count) * payload_len as u64));
    let mut out = Vec::new();
    for seq in 0..count {
        let payload: Vec<u8> = (0..payload_len)
            .map(|i| (i as u32 ^ seq.wrapping_mul(31)) as u8)
            .collect();
        out.extend_from_slice(&packetizer.next_header(&payload, seq + 1 == count));
        out.extend_from_slice(&payload);
    }
    out
}

fn through(config: &Config, input: &[u8], sizes: Vec<usize>) -> (Vec<u8>, String) {
    let mut reader = ChunkedReader {
        data: input,
        sizes,
        next: 0,
    };
    let mut out = Vec::new();
    let mut log = Vec::new();
    run_reader(config, &mut reader, &mut out, Some(&mut log)).expect("in-memory run");
    (out, String::from_utf8(log).expect("the log is text"))
}

fn everything(seed: u64) -> Config {
    Config {
        seed,
        loss: LossModel::Random(0.05),
        dup_prob: 0.05,
        reorder: Some(Reorder {
            prob: 0.05,
            max_displacement: 4,
        }),
        truncate_prob: 0.05,
        ber: 1e-4,
        ..Config::default()
    }
}

#[test]
fn all_rates_zero_is_the_identity() {
    let mut input = packets(300, 100);
    input.splice(1000..1000, b"garbage between packets".iter().copied());
    let (out, log) = through(&Config::default(), &input, vec![4096]);
    assert_eq!(out, input);
    assert_eq!(log, "# corrupt seed=0 mode=packets\n");
}

#[test]
fn decisions_do_not_depend_on_read_sizes() {
    let input = packets(500, 200);
    let config = everything(3);
    let (whole, whole_log) = through(&config, &input, vec![IO_BUFFER_LEN]);
    assert_ne!(whole, input, "the channel did something");
    for sizes in [vec![1], vec![7, 300, 1], vec![31, 33, 4096]] {
        let (out, log) = through(&config, &input, sizes);
        assert_eq!(out, whole);
        assert_eq!(log, whole_log);
    }
}

#[test]
fn auto_mode_picks_raw_for_other_bytes_and_refuses_packet_options() {
    let text = b"not a packet stream at all, just text".repeat(10);
    let config = Config {
        ber: 0.01,
        ..Config::default()
    };
    let (out, log) = through(&config, &text, vec![64]);
    assert!(log.starts_with("# corrupt seed=0 mode=raw\n"));
    assert_ne!(out, text);
    let config = Config {
        truncate_prob: 0.1,
        ..Config::default()
    };
    let mut out = Vec::new();
    let err = run_reader(&config, &mut &text[..], &mut out, None).unwrap_err();
    assert!(matches!(
        err,
        ChannelError::NotPackets {
            option: PacketOnly::Truncate
        }
    ));
}

#[test]
fn reorder_buffer_never_holds_more_than_the_displacement() {
    let input = packets(2000, 10);
    let config = Config {
        seed: 5,
        mode: Mode::Packets,
        reorder: Some(Reorder {
            prob: 1.0,
            max_displacement: 3,
        }),
        ..Config::default()
    };
    let mut channel = packet::PacketChannel::new(&config);
    let mut sink = Vec::new();
    let mut out = Output::new(&mut sink);
    let mut log = EventLog::new(None);
    let mut most = 0;
    for packet in input.chunks(HEADER_LEN + 10) {
        channel.feed(packet, false, &mut out, &mut log).unwrap();
        most = most.max(channel.held_count());
    }
    let stats = channel.finish(&mut out, &mut log).unwrap();
    out.finish().unwrap();
    assert_eq!(stats.reordered, 2000);
    assert!(most <= 3, "{most} packets held");
    assert_eq!(sink.len(), input.len());
}

#[test]
fn raw_block_loss_removes_whole_blocks() {
    let input: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    let config = Config {
        seed: 2,
        mode: Mode::Raw,
        loss: LossModel::Random(0.3),
        block_len: 100,
        ..Config::default()
    };
    let (out, log) = through(&config, &input, vec![333]);
    let dropped: Vec<usize> = log
        .lines()
        .filter(|l| l.ends_with("\tdrop\t-"))
        .map(|l| l.split('\t').next().unwrap().parse().unwrap())
        .collect();
    assert!(!dropped.is_empty());
    let expected: Vec<u8> = input
        .chunks(100)
        .enumerate()
        .filter(|(i, _)| !dropped.contains(i))
        .flat_map(|(_, b)| b.iter().copied())
        .collect();
    assert_eq!(out, expected);
}

#[test]
fn raw_duplicates_follow_their_block_and_carry_their_own_errors() {
    let input = vec![0u8; 5000];
    let config = Config {
        seed: 8,
        mode: Mode::Raw,
        dup_prob: 1.0,
        ber: 1e-3,
        block_len: 1000,
        ..Config::default()
    };
    let (out, log) = through(&config, &input, vec![4096]);
    assert_eq!(out.len(), 10_000);
    assert_eq!(log.lines().filter(|l| l.contains("\tdup\t")).count(), 5);
    // The same bytes twice, but the copies were damaged independently.
    assert_ne!(out[..1000], out[1000..2000]);
}

#[test]
fn payload_only_spares_every_header() {
    let input = packets(200, 64);
    let config = Config {
        seed: 4,
        ber: 0.01,
        payload_only: true,
        ..Config::default()
    };
    let (out, _) = through(&config, &input, vec![1 << 16]);
    let len = HEADER_LEN + 64;
    for (i, (a, b)) in input.chunks(len).zip(out.chunks(len)).enumerate() {
        assert_eq!(a[..HEADER_LEN], b[..HEADER_LEN], "header {i} was hit");
    }
    assert_ne!(out, input);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn packet_mode_never_panics_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..4000),
        seed in any::<u64>(),
        read in 1usize..600,
    ) {
        let config = Config {
            mode: Mode::Packets,
            payload_only: seed % 2 == 0,
            ..everything(seed)
        };
        let (out, _) = through(&config, &bytes, vec![read]);
        // Arbitrary bytes without a sync pattern hold no packet: they pass unchanged.
        if !bytes.windows(3).any(|w| w == crate::wire::SYNC) {
            prop_assert_eq!(out, bytes);
        }
    }

    #[test]
    fn rates_zero_is_the_identity_in_both_modes(
        bytes in prop::collection::vec(any::<u8>(), 0..3000),
        count in 0u32..20,
        raw in any::<bool>(),
        read in 1usize..700,
    ) {
        let mut input = packets(count, 37);
        input.extend_from_slice(&bytes);
        let config = Config {
            mode: if raw { Mode::Raw } else { Mode::Auto },
            ..Config::default()
        };
        let (out, _) = through(&config, &input, vec![read]);
        prop_assert_eq!(out, input);
    }

    #[test]
    fn mangled_streams_give_the_same_output_in_any_chunking(
        count in 1u32..40,
        cut in any::<prop::sample::Index>(),
        noise in prop::collection::vec(any::<u8>(), 0..200),
        seed in any::<u64>(),
        read in 1usize..500,
    ) {
        let mut input = packets(count, 50);
        let at = cut.index(input.len());
        input.splice(at..at, noise);
        let config = Config {
            mode: Mode::Packets,
            ..everything(seed)
        };
        let whole = through(&config, &input, vec![IO_BUFFER_LEN]);
        let pieces = through(&config, &input, vec![read, 1, 2 * read]);
        prop_assert_eq!(whole, pieces);
    }
}
