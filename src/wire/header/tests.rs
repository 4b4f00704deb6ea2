//! Tests of the parent module, kept apart so the module reads as the code it is.

mod unit {
    use super::super::*;
    use proptest::prelude::*;

    fn sample() -> Header {
        Header {
            kind: Kind::Data,
            last: false,
            keyed: false,
            encrypted: false,
            payload_len: 5,
            transfer_id: 0xBEEF,
            seq: 7,
            offset: 7 * 5,
            total_len: Some(100),
            payload_crc: Header::crc_of(b"hello"),
            parity: None,
        }
    }

    fn encoded(h: &Header) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        h.encode(&mut out);
        out
    }

    #[test]
    fn layout_matches_the_manual() {
        let bytes = encoded(&sample());
        assert_eq!(&bytes[0..3], b"pk\x01");
        assert_eq!(bytes[3], 0x02); // data, TOTAL_KNOWN
        assert_eq!(&bytes[4..6], &[0, 5]);
        assert_eq!(&bytes[8..10], &[0xBE, 0xEF]);
        assert_eq!(&bytes[10..14], &[0, 0, 0, 7]);
        assert_eq!(&bytes[14..22], &[0, 0, 0, 0, 0, 0, 0, 35]);
        assert_eq!(&bytes[22..28], &[0, 0, 0, 0, 0, 100]);
        assert_eq!(&bytes[28..32], &crc32fast::hash(b"hello").to_be_bytes());
    }

    fn parity_sample() -> Header {
        Header {
            kind: Kind::Parity,
            last: true,
            keyed: false,
            encrypted: false,
            payload_len: 1024,
            transfer_id: 0xBEEF,
            seq: 3,
            offset: 3 * 8 * 1024,
            total_len: None,
            payload_crc: 0x0102_0304,
            parity: Some(ParityInfo {
                group_len: 5,
                parity_count: 2,
                parity_index: 1,
                group_size: 8,
                last_len: 700,
                odd: false,
            }),
        }
    }

    #[test]
    fn parity_layout_matches_the_manual() {
        let bytes = encoded(&parity_sample());
        assert_eq!(bytes[3], 0x31); // parity, LAST, no TOTAL_KNOWN
        assert_eq!(&bytes[10..14], &[0, 0, 0, 3]);
        assert_eq!(&bytes[22..28], &[5, 2, 1, 8, 0x02, 0xBC]);
        assert_eq!(Header::parse(&bytes), Ok(parity_sample()));
    }

    #[test]
    fn parity_group_fields_are_validated() {
        let bad = |f: fn(&mut ParityInfo)| {
            let mut h = parity_sample();
            f(h.parity.as_mut().unwrap());
            Header::parse(&encoded(&h))
        };
        assert!(bad(|_| {}).is_ok());
        assert!(bad(|p| p.odd = true).is_ok());
        // An odd shard length is not a whole number of 16-bit symbols.
        let mut h = parity_sample();
        h.payload_len = 1023;
        assert!(matches!(
            Header::parse(&encoded(&h)),
            Err(WireError::BadParityGroup { .. })
        ));
        for f in [
            (|p: &mut ParityInfo| p.group_len = 9) as fn(&mut ParityInfo),
            |p| p.group_len = 0,
            |p| p.parity_count = 0,
            |p| p.parity_index = 2,
            |p| p.last_len = 1025,
            |p| {
                p.odd = true;
                p.last_len = 1024
            },
        ] {
            assert!(matches!(bad(f), Err(WireError::BadParityGroup { .. })));
        }
        // A parity header with TOTAL_KNOWN set is not one this format allows.
        let mut bytes = encoded(&parity_sample());
        bytes[3] |= FLAG_TOTAL_KNOWN;
        let check = header_check(&bytes);
        BigEndian::write_u16(&mut bytes[6..8], check);
        assert_eq!(Header::parse(&bytes), Err(WireError::ParityWithTotal));
    }

    #[test]
    fn round_trip_of_a_sample() {
        let h = sample();
        assert_eq!(Header::parse(&encoded(&h)), Ok(h));
    }

    #[test]
    fn truncated_header_is_rejected() {
        let bytes = encoded(&sample());
        assert_eq!(
            Header::parse(&bytes[..HEADER_LEN - 1]),
            Err(WireError::Truncated { found: 31 })
        );
        assert_eq!(Header::parse(&[]), Err(WireError::Truncated { found: 0 }));
    }

    #[test]
    fn wrong_magic_and_version_are_rejected() {
        let mut bytes = encoded(&sample());
        bytes[0] = b'P';
        assert!(matches!(
            Header::parse(&bytes),
            Err(WireError::BadMagic { .. })
        ));
        let mut bytes = encoded(&sample());
        bytes[2] = 2;
        assert_eq!(
            Header::parse(&bytes),
            Err(WireError::BadVersion { found: 2 })
        );
    }

    #[test]
    fn any_single_bit_flip_after_the_version_fails_the_header_check() {
        let good = encoded(&sample());
        for byte in 3..HEADER_LEN {
            for bit in 0..8 {
                let mut bytes = good;
                bytes[byte] ^= 1 << bit;
                assert!(
                    Header::parse(&bytes).is_err(),
                    "flip of bit {bit} in byte {byte} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn header_checksum_mismatch_is_reported() {
        let mut bytes = encoded(&sample());
        bytes[12] ^= 0x10;
        assert!(matches!(
            Header::parse(&bytes),
            Err(WireError::HeaderChecksum { .. })
        ));
    }

    /// Build a header with a valid check around raw field values the encoder would refuse.
    fn forged(kind_flags: u8, payload_len: u16, offset: u64, total: u64) -> [u8; HEADER_LEN] {
        let mut bytes = encoded(&sample());
        bytes[3] = kind_flags;
        BigEndian::write_u16(&mut bytes[4..6], payload_len);
        BigEndian::write_u64(&mut bytes[14..22], offset);
        BigEndian::write_u48(&mut bytes[22..28], total);
        let check = header_check(&bytes);
        BigEndian::write_u16(&mut bytes[6..8], check);
        bytes
    }

    #[test]
    fn an_encrypted_kind_needs_the_keyed_flag_and_its_longer_trailer() {
        // Data, encrypted (kind 8), KEYED and TOTAL_KNOWN: 32 trailer bytes, 10 of data.
        let h = Header::parse(&forged(0x8A, 42, 0, 100)).unwrap();
        assert!(h.keyed && h.encrypted && h.kind == Kind::Data);
        assert_eq!((h.trailer_len(), h.data_len()), (SEALED_TRAILER_LEN, 10));
        assert_eq!(
            Header::parse(&forged(0x8A, 31, 0, 100)),
            Err(WireError::ShortTrailer {
                found: 31,
                need: SEALED_TRAILER_LEN
            })
        );
        assert_eq!(
            Header::parse(&forged(0x82, 42, 0, 100)),
            Err(WireError::EncryptedUnkeyed)
        );
        // Parity (11) and descriptor (10) kinds encrypted; 9 (retired 1) is unknown.
        assert!(Header::parse(&forged(0xB8, 64, 0, 0x0102_0004_0000)).is_ok_and(|h| h.encrypted));
        assert!(Header::parse(&forged(0xAA, 40, 0, 100)).is_ok_and(|h| h.encrypted));
        assert_eq!(
            Header::parse(&forged(0x9A, 40, 0, 100)),
            Err(WireError::BadKind { found: 9 })
        );
    }

    #[test]
    fn length_beyond_maximum_is_rejected() {
        let bytes = forged(0, MAX_PAYLOAD as u16 + 1, 0, 0);
        assert_eq!(
            Header::parse(&bytes),
            Err(WireError::PayloadTooLong {
                found: MAX_PAYLOAD + 1
            })
        );
    }

    #[test]
    fn unknown_kind_reserved_flags_and_overlong_data_are_rejected() {
        assert_eq!(
            Header::parse(&forged(0x50, 5, 0, 0)),
            Err(WireError::BadKind { found: 5 })
        );
        // A repair packet: an odd symbol, and a zero block size, are out of range.
        assert!(matches!(
            Header::parse(&forged(0x40, 5, 100, 0)),
            Err(WireError::BadRepair { .. })
        ));
        // Kind 1, the retired GF(2^8) parity, is not read.
        assert_eq!(
            Header::parse(&forged(0x10, 5, 0, 0)),
            Err(WireError::BadKind { found: 1 })
        );
        assert_eq!(
            Header::parse(&forged(0x04, 5, 0, 0)),
            Err(WireError::ReservedFlags { found: 4 })
        );
        assert!(matches!(
            Header::parse(&forged(0x02, 5, 98, 100)),
            Err(WireError::BeyondTotal { .. })
        ));
        assert!(matches!(
            Header::parse(&forged(0x02, 5, u64::MAX - 1, 100)),
            Err(WireError::BeyondTotal { .. })
        ));
    }

    #[test]
    fn a_keyed_header_counts_its_data_without_the_trailer() {
        let keyed = |payload_len: u16, offset: u64, total: u64| {
            Header::parse(&forged(0x0A, payload_len, offset, total))
        };
        // 76 data bytes and the trailer end exactly at the total.
        let h = keyed(100, 24, 100).unwrap();
        assert!(h.keyed);
        assert_eq!((h.data_len(), h.end(), h.packet_len()), (76, 100, 132));
        assert!(matches!(
            keyed(101, 24, 100),
            Err(WireError::BeyondTotal { len: 77, .. })
        ));
        assert_eq!(
            keyed(23, 0, 100),
            Err(WireError::ShortTrailer {
                found: 23,
                need: TRAILER_LEN
            })
        );
        // Without TOTAL_KNOWN the total bytes must be zero: the tag covers the re-encoding.
        assert_eq!(
            Header::parse(&forged(0x08, 30, 0, 7)),
            Err(WireError::NonCanonical)
        );
        let h = Header::parse(&forged(0x08, 30, 0, 0)).unwrap();
        let mut zeroed = forged(0x08, 30, 0, 0);
        zeroed[6..8].fill(0);
        zeroed[28..32].fill(0);
        assert_eq!(h.tag_input(), zeroed);
    }

    #[test]
    fn payload_crc_mismatch_is_detected() {
        let h = sample();
        assert!(h.payload_matches(b"hello"));
        assert!(!h.payload_matches(b"hellp"));
        assert!(!h.payload_matches(b"hell"));
    }

    fn any_parity() -> impl Strategy<Value = ParityInfo> {
        (
            1..=255u8,
            1..=255u8,
            0..=255u8,
            0..=255u8,
            any::<u16>(),
            any::<bool>(),
        )
            .prop_map(
                |(group_size, parity_count, len_seed, index_seed, last_len, odd)| ParityInfo {
                    group_len: 1 + len_seed % group_size,
                    parity_count,
                    parity_index: index_seed % parity_count,
                    group_size,
                    last_len,
                    odd,
                },
            )
    }

    fn any_header() -> impl Strategy<Value = Header> {
        (
            prop_oneof![
                Just(Kind::Data),
                Just(Kind::Parity),
                Just(Kind::Descriptor),
                (any::<u16>(), 1..=MAX_BLOCK_PACKETS, any::<bool>()).prop_map(|(r, k, odd)| {
                    Kind::Repair(RepairInfo {
                        repair_index: r,
                        block_size: k,
                        odd,
                    })
                }),
            ],
            any::<bool>(),
            0..=MAX_PAYLOAD as u16,
            any::<u16>(),
            any::<u32>(),
            0..MAX_TOTAL_LEN / 2,
            prop::option::of(0..=MAX_TOTAL_LEN / 2),
            any::<u32>(),
            (any_parity(), any::<bool>()),
        )
            .prop_map(
                |(kind, last, payload_len, id, seq, offset, extra, crc, (parity, keyed))| {
                    // A parity payload is whole 16-bit symbols (the trailer is even too).
                    let payload_len = match kind {
                        Kind::Parity => payload_len & !1,
                        Kind::Repair(_) => (payload_len & !1).max(2),
                        _ => payload_len,
                    };
                    let repair = matches!(kind, Kind::Repair(_));
                    let (last, offset) = match repair {
                        true => (false, offset.max(1)),
                        false => (last, offset),
                    };
                    // Half the keyed headers are encrypted ones (the seq picks which).
                    let encrypted = keyed && seq % 2 == 1;
                    let trailer_len = match (keyed, encrypted) {
                        (false, _) => 0,
                        (true, false) => TRAILER_LEN as u16,
                        (true, true) => SEALED_TRAILER_LEN as u16,
                    };
                    let payload_len = payload_len.max(trailer_len + 2 * u16::from(repair && keyed));
                    let data_len = payload_len - trailer_len;
                    let end = offset + u64::from(data_len);
                    let odd = parity.odd && data_len > 0;
                    let parity = (kind == Kind::Parity).then_some(ParityInfo {
                        last_len: parity.last_len.min(data_len - u16::from(odd)),
                        odd,
                        ..parity
                    });
                    Header {
                        kind,
                        last,
                        keyed,
                        encrypted,
                        payload_len,
                        transfer_id: id,
                        seq,
                        offset,
                        total_len: extra
                            .filter(|_| parity.is_none() && !repair)
                            .map(|e| end + e),
                        payload_crc: crc,
                        parity,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn parse_inverts_encode(h in any_header()) {
            prop_assert_eq!(Header::parse(&encoded(&h)), Ok(h));
        }

        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = Header::parse(&bytes);
        }

    }

    #[test]
    fn random_bytes_after_sync_are_almost_never_a_header() {
        // A fixed-seed sweep: the 16-bit check, the kind and the reserved flags together
        // should let through about one random header in 2^22.
        let mut state = 0x1234_5678_9abc_def1_u64;
        let mut accepted = 0;
        let mut bytes = [0u8; HEADER_LEN];
        bytes[..3].copy_from_slice(&SYNC);
        for _ in 0..200_000 {
            for b in bytes[3..].iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = (state >> 32) as u8;
            }
            accepted += usize::from(Header::parse(&bytes).is_ok());
        }
        assert!(accepted <= 2, "{accepted} random headers accepted");
    }
}
