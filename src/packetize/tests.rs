//! Tests of the parent module, kept apart so the module reads as the code it is.

use crate::framing::{scan, Frame};
use crate::wire::{Header, HEADER_LEN};

/// Every packet of a stream, header and payload, checking that each is intact.
fn packets(stream: &[u8]) -> Vec<(Header, Vec<u8>)> {
    let mut at = 0;
    let mut out = vec![];
    while at < stream.len() {
        match scan(&stream[at..], true) {
            Frame::Packet {
                header,
                intact: true,
                payload_len,
                ..
            } => {
                let payload = stream[at + HEADER_LEN..at + HEADER_LEN + payload_len].to_vec();
                out.push((header, payload));
                at += HEADER_LEN + payload_len;
            }
            other => panic!("unexpected {other:?} at {at}"),
        }
    }
    out
}

mod unit {
    use super::super::*;
    use std::time::{Duration, Instant};

    fn settings(payload_len: usize) -> Settings {
        Settings {
            payload_len,
            transfer_id: 42,
            bytes_per_sec: None,
            describe: None,
            fec: None,
            sign: None,
            interleave: None,
        }
    }

    /// Headers of every packet in a stream, checking that each is intact.
    fn headers(stream: &[u8]) -> Vec<Header> {
        super::packets(stream).into_iter().map(|(h, _)| h).collect()
    }

    #[test]
    fn empty_input_is_one_empty_last_packet() {
        let mut out = vec![];
        packetize_slice(&[], &mut out, &settings(4), &mut |_| {}).unwrap();
        let h = headers(&out);
        assert_eq!(h.len(), 1);
        assert!(h[0].last);
        assert_eq!(h[0].payload_len, 0);
        assert_eq!(h[0].total_len, Some(0));
    }

    #[test]
    fn slices_and_streams_give_the_same_offsets_and_flags() {
        let data: Vec<u8> = (0..=255).cycle().take(1000).collect();
        for len in [0, 1, 9, 10, 11, 1000] {
            let mut a = vec![];
            packetize_slice(&data[..len], &mut a, &settings(10), &mut |_| {}).unwrap();
            let mut b = vec![];
            packetize_stream(&mut &data[..len], &mut b, &settings(10)).unwrap();
            let (ha, hb) = (headers(&a), headers(&b));
            assert_eq!(ha.len(), len.div_ceil(10).max(1));
            assert_eq!(ha.len(), hb.len());
            for (i, (x, y)) in ha.iter().zip(&hb).enumerate() {
                assert_eq!(x.offset, 10 * i as u64);
                assert_eq!(x.seq, i as u32);
                assert_eq!((x.offset, x.seq, x.last), (y.offset, y.seq, y.last));
                assert_eq!(x.last, i + 1 == ha.len());
                assert_eq!(x.total_len, Some(len as u64));
                assert_eq!(y.total_len, None);
            }
        }
    }

    /// A reader that gives one byte per read.
    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            match buf.first_mut() {
                Some(b) => *b = first,
                None => return Ok(0),
            }
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn parity_follows_each_group_from_slices_and_streams_alike() {
        let data: Vec<u8> = (0..=255).cycle().take(1000).collect();
        let fec = Some(Scheme::new(3, 2).unwrap());
        for len in [0, 1, 29, 30, 31, 95, 1000] {
            let settings = Settings {
                fec,
                ..settings(10)
            };
            let mut a = vec![];
            let summary = packetize_slice(&data[..len], &mut a, &settings, &mut |_| {}).unwrap();
            // A stream read one byte at a time still gives every group its parity in place.
            let mut b = vec![];
            packetize_stream(&mut OneByte(&data[..len]), &mut b, &settings).unwrap();
            let (ha, hb) = (headers(&a), headers(&b));
            assert_eq!(ha.len(), hb.len());
            let groups = len.div_ceil(10).max(1).div_ceil(3);
            assert_eq!(summary.parity_packets, 2 * groups as u64);
            assert_eq!(summary.output_bytes, a.len() as u64);
            let kinds: String = ha
                .iter()
                .map(|h| if h.kind == Kind::Data { 'd' } else { 'p' })
                .collect();
            let want: String = (0..len.div_ceil(10).max(1))
                .collect::<Vec<_>>()
                .chunks(3)
                .map(|g| "d".repeat(g.len()) + "pp")
                .collect();
            assert_eq!(kinds, want, "length {len}");
            for (x, y) in ha.iter().zip(&hb) {
                assert_eq!(
                    (x.kind, x.seq, x.offset, x.parity, x.payload_crc),
                    (y.kind, y.seq, y.offset, y.parity, y.payload_crc)
                );
            }
        }
    }

    #[test]
    fn pacer_holds_the_rate() {
        let mut p = Pacer::new(1_000_000);
        let t = Instant::now();
        for _ in 0..10 {
            p.wait_for(5_000);
        }
        assert!(t.elapsed() >= Duration::from_millis(45));
    }

    #[test]
    fn a_pacer_that_fell_behind_catches_up_by_one_burst_at_most() {
        // 1 MB/s: 10 kB take 10 ms.
        let t0 = Instant::now();
        let mut p = Pacer::starting_at(1_000_000, t0);
        assert_eq!(p.delay(t0, 10_000), Duration::from_millis(10));
        // Back on time: the next 10 kB wait their 10 ms.
        let t = t0 + Duration::from_millis(10);
        assert_eq!(p.delay(t, 10_000), Duration::from_millis(10));
        // A second late (computing, or descheduled): only MAX_BURST's worth goes at once,
        // then the rate holds again.
        let late = t0 + Duration::from_secs(1);
        let burst = (super::super::pacer::MAX_BURST.as_secs_f64() * 1e6) as usize;
        assert_eq!(p.delay(late, burst), Duration::ZERO);
        assert_eq!(p.delay(late, 10_000), Duration::from_millis(10));
    }
}

mod interleaved_tests {
    use super::super::*;

    use super::packets;

    fn settings(fec: Option<Scheme>, interleave: Interleave) -> Settings {
        Settings {
            payload_len: 10,
            transfer_id: 5,
            bytes_per_sec: None,
            describe: Some(Describe {
                every: 16,
                name: String::new(),
                media_type: None,
            }),
            fec,
            interleave: Some(interleave),
            sign: None,
        }
    }

    #[test]
    fn interleaved_data_is_a_permutation_with_true_offsets_from_files_and_pipes() {
        let data: Vec<u8> = (0..=255).cycle().take(1234).collect();
        for fec in [None, Some(Scheme::new(4, 2).unwrap())] {
            for interleave in [
                Interleave::Whole,
                Interleave::Packets(16),
                Interleave::Packets(5),
            ] {
                let s = settings(fec, interleave);
                let mut a = vec![];
                packetize_slice(&data, &mut a, &s, &mut |_| {}).unwrap();
                let mut b = vec![];
                packetize_stream(&mut &data[..], &mut b, &s).unwrap();
                for stream in [&a, &b] {
                    let got = packets(stream);
                    let mut rebuilt = vec![0u8; data.len()];
                    let mut seqs = vec![];
                    for (h, p) in got.iter().filter(|(h, _)| h.kind == Kind::Data) {
                        assert_eq!(h.offset, u64::from(h.seq) * 10);
                        rebuilt[h.offset as usize..h.end() as usize].copy_from_slice(p);
                        seqs.push(h.seq);
                        assert_eq!(h.last, h.seq == 123);
                    }
                    assert_eq!(rebuilt, data);
                    let in_order = seqs.windows(2).all(|w| w[0] < w[1]);
                    assert!(!in_order, "{fec:?} {interleave:?}");
                    seqs.sort_unstable();
                    assert_eq!(seqs, (0..124).collect::<Vec<u32>>());
                    // The last packet sent is a descriptor stating the total and the span.
                    let (last, body) = got.last().unwrap();
                    assert_eq!(last.kind, Kind::Descriptor);
                    assert_eq!(last.total_len, Some(1234));
                    let d = Descriptor::parse(body).unwrap();
                    let span = d.interleave_span.unwrap();
                    assert!(span > 1 && span % fec.map_or(1, |s| u32::from(s.data)) == 0);
                }
                // From a file and from a pipe the same packets go in the same order.
                let key = |h: &Header| (h.kind, h.seq, h.offset, h.payload_crc);
                let (pa, pb) = (packets(&a), packets(&b));
                let ka: Vec<_> = pa
                    .iter()
                    .filter(|(h, _)| h.kind != Kind::Descriptor)
                    .map(|(h, _)| key(h))
                    .collect();
                let kb: Vec<_> = pb
                    .iter()
                    .filter(|(h, _)| h.kind != Kind::Descriptor)
                    .map(|(h, _)| key(h))
                    .collect();
                assert_eq!(ka, kb);
            }
        }
    }

    #[test]
    fn a_piped_transfer_ends_with_a_descriptor_that_knows_the_total() {
        let data = [7u8; 95];
        let mut s = settings(None, Interleave::Whole);
        s.interleave = None;
        let mut out = vec![];
        packetize_stream(&mut &data[..], &mut out, &s).unwrap();
        let got = packets(&out);
        let (last, _) = got.last().unwrap();
        assert_eq!(last.kind, Kind::Descriptor);
        assert_eq!(last.total_len, Some(95));
        assert_eq!(got[0].0.total_len, None);
    }

    #[test]
    fn spans_are_whole_groups_and_no_longer_than_the_input() {
        let s = settings(Some(Scheme::new(8, 2).unwrap()), Interleave::Packets(20));
        assert_eq!(s.interleave_span(None), Some(24));
        assert_eq!(s.interleave_span(Some(3)), None, "one row: sent in order");
        assert_eq!(s.interleave_span(Some(9)), Some(16));
        let s = settings(None, Interleave::Whole);
        assert_eq!(s.interleave_span(Some(1)), None);
        // 8 MiB of 10-byte payloads, capped at what a receiver's window holds.
        assert_eq!(s.interleave_span(None), Some(MAX_INTERLEAVE_PACKETS));
        let s = Settings {
            payload_len: 1024,
            ..settings(None, Interleave::Whole)
        };
        assert_eq!(
            s.interleave_span(None),
            Some(DEFAULT_INTERLEAVE_BYTES / 1024)
        );
        let s = settings(None, Interleave::Packets(u32::MAX));
        assert_eq!(s.interleave_span(None), Some(MAX_INTERLEAVE_PACKETS));
        let s = Settings {
            payload_len: 2000,
            ..settings(None, Interleave::Packets(u32::MAX))
        };
        assert_eq!(s.interleave_span(None), Some(MAX_INTERLEAVE_BYTES / 2000));
    }
}

mod settings_tests {
    use super::super::*;
    use crate::wire::auth::Key;
    use crate::wire::seal::LongSalt;
    use crate::wire::SALT_LEN;

    fn keyed() -> Signer {
        Signer::new(Key::from_secret(&[7; 32]).unwrap(), [1; SALT_LEN])
    }

    fn sealed() -> Signer {
        let salt: LongSalt = [2; std::mem::size_of::<LongSalt>()];
        Signer::encrypting(Key::from_secret(&[7; 32]).unwrap(), salt)
    }

    fn fec() -> Option<Scheme> {
        Some(Scheme::new(8, 2).unwrap())
    }

    #[test]
    fn a_payload_fits_one_datagram_with_its_trailer() {
        let s = Settings::new(1000, Coding::default()).unwrap();
        assert_eq!((s.payload_len, s.transfer_id), (1000, 0));
        assert!(Settings::new(MAX_PAYLOAD as u64, Coding::default()).is_ok());
        for found in [0, MAX_PAYLOAD as u64 + 1] {
            assert_eq!(
                Settings::new(found, Coding::default()).unwrap_err(),
                SettingsError::PayloadLen {
                    found,
                    largest: MAX_PAYLOAD,
                    trailer_len: 0
                }
            );
        }
        let with_key = |sign: Signer, len: usize| {
            let coding = Coding {
                sign: Some(sign),
                ..Coding::default()
            };
            Settings::new(len as u64, coding)
        };
        assert!(with_key(keyed(), MAX_KEYED_DATA).is_ok());
        let e = with_key(keyed(), MAX_KEYED_DATA + 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "payload size must be 1 to {MAX_KEYED_DATA} bytes (one UDP datagram with the \
                 header and the {TRAILER_LEN}-byte trailer), found {}",
                MAX_KEYED_DATA + 1
            )
        );
        assert!(with_key(sealed(), MAX_SEALED_DATA).is_ok());
        assert!(matches!(
            with_key(sealed(), MAX_SEALED_DATA + 1),
            Err(SettingsError::PayloadLen { largest, .. }) if largest == MAX_SEALED_DATA
        ));
    }

    #[test]
    fn fec_payloads_are_whole_symbols_and_leave_room_for_the_trailer() {
        let coding = |sign| Coding {
            fec: fec(),
            sign,
            ..Coding::default()
        };
        assert!(Settings::new(fec::MAX_PAYLOAD as u64, coding(None)).is_ok());
        assert_eq!(
            Settings::new(fec::MAX_PAYLOAD as u64 + 1, coding(None)).unwrap_err(),
            SettingsError::FecPayloadLen {
                found: fec::MAX_PAYLOAD as u64 + 1,
                largest: fec::MAX_PAYLOAD
            }
        );
        let largest = fec::MAX_PAYLOAD - TRAILER_LEN;
        assert!(Settings::new(largest as u64, coding(Some(keyed()))).is_ok());
        assert_eq!(
            Settings::new(largest as u64 + 1, coding(Some(keyed()))).unwrap_err(),
            SettingsError::KeyedFecPayloadLen {
                found: largest as u64 + 1,
                largest
            }
        );
    }

    #[test]
    fn a_fountain_is_alone() {
        let fountain = |coding: Coding| {
            Settings::new(
                1000,
                Coding {
                    fountain: true,
                    ..coding
                },
            )
        };
        assert!(fountain(Coding::default()).is_ok());
        let keyed = Coding {
            sign: Some(keyed()),
            ..Coding::default()
        };
        assert!(fountain(keyed).is_ok());
        let sealed = Coding {
            sign: Some(sealed()),
            ..Coding::default()
        };
        assert!(fountain(sealed).is_ok());
        for coding in [
            Coding {
                fec: fec(),
                ..Coding::default()
            },
            Coding {
                interleave: Some(Interleave::Whole),
                ..Coding::default()
            },
        ] {
            assert_eq!(
                fountain(coding).unwrap_err(),
                SettingsError::FountainCombined
            );
        }
    }

    #[test]
    fn a_span_is_bounded_in_packets_and_in_bytes() {
        let span = |payload_len: u64, n| {
            let coding = Coding {
                interleave: Some(Interleave::Packets(n)),
                ..Coding::default()
            };
            Settings::new(payload_len, coding)
        };
        let most = MAX_INTERLEAVE_PACKETS as u32;
        assert!(span(1, most).is_ok());
        assert_eq!(
            span(1, most + 1).unwrap_err(),
            SettingsError::Span {
                found: most + 1,
                most: u64::from(most)
            }
        );
        assert!(matches!(
            span(1000, 0),
            Err(SettingsError::Span { found: 0, .. })
        ));
        // 65000-byte payloads: 64 MiB hold 1032 of them.
        assert!(span(65_000, 1032).is_ok());
        let e = span(65_000, 1033).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the interleaved span must be 1 to 1032 packets (at most 64 MiB of payload and \
             65536 packets), found 1033"
        );
        // No message of the library names a command-line option.
        assert!(!e.to_string().contains("--"));
    }
}
