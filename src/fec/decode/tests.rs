//! Tests of the parent module, kept apart so the module reads as the code it is.

mod unit {
    use super::super::*;
    use crate::fec::Encoder;
    use crate::wire::HEADER_LEN;
    use proptest::prelude::*;

    /// A packet as the tests see it: header and payload.
    type Packet = (Header, Vec<u8>);

    /// Data and parity packets of `data` in sending order, as pktize makes them.
    fn send(data: &[u8], payload_len: usize, scheme: Scheme) -> Vec<Packet> {
        let mut enc = Encoder::new(scheme, 9, payload_len);
        let mut out = vec![];
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(payload_len).collect()
        };
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            let header = Header {
                kind: Kind::Data,
                last,
                keyed: false,
                payload_len: chunk.len() as u16,
                transfer_id: 9,
                seq: i as u32,
                offset: (i * payload_len) as u64,
                total_len: None,
                payload_crc: Header::crc_of(chunk),
                parity: None,
            };
            out.push((header, chunk.to_vec()));
            let mut bytes = vec![];
            enc.add(chunk, last, &mut bytes);
            for p in bytes_to_packets(&bytes) {
                out.push(p);
            }
        }
        out
    }

    fn bytes_to_packets(mut bytes: &[u8]) -> Vec<Packet> {
        let mut out = vec![];
        while !bytes.is_empty() {
            let h = Header::parse(bytes).unwrap();
            let end = h.packet_len();
            assert!(h.payload_matches(&bytes[HEADER_LEN..end]));
            out.push((h, bytes[HEADER_LEN..end].to_vec()));
            bytes = &bytes[end..];
        }
        out
    }

    /// Feed the packets not in `lost` (and the `damaged` ones as damaged) to a decoder;
    /// return the data packets that arrived intact plus those rebuilt, by seq.
    fn receive(packets: &[Packet], lost: &[usize], damaged: &[usize]) -> BTreeMap<u32, Packet> {
        let mut dec = Decoder::new();
        dec.reset(9);
        let mut got = BTreeMap::new();
        for (i, (h, p)) in packets.iter().enumerate() {
            if lost.contains(&i) {
                continue;
            }
            let intact = !damaged.contains(&i);
            match h.kind {
                Kind::Data => {
                    dec.data(h, p, intact, None);
                    if intact {
                        got.insert(h.seq, (*h, p.clone()));
                    }
                }
                _ => assert_eq!(dec.parity(h, p, intact), ParityTaken::Used),
            }
            while let Some(r) = dec.take_recovered() {
                assert!(got.insert(r.header.seq, (r.header, r.payload)).is_none());
            }
        }
        dec.flush();
        while let Some(r) = dec.take_recovered() {
            assert!(got.insert(r.header.seq, (r.header, r.payload)).is_none());
        }
        got
    }

    /// [`receive`], with the payloads lent in input buffers of `block` packets each (as a
    /// stream reader lends its buffer), given back after each block.
    fn receive_lent(packets: &[Packet], lost: &[usize], block: usize) -> BTreeMap<u32, Packet> {
        let mut dec = Decoder::new();
        dec.reset(9);
        let mut got = BTreeMap::new();
        let arrived: Vec<&Packet> = (0..packets.len())
            .filter(|i| !lost.contains(i))
            .map(|i| &packets[i])
            .collect();
        for chunk in arrived.chunks(block) {
            let buffer: Vec<u8> = chunk.iter().flat_map(|(_, p)| p.iter().copied()).collect();
            let lent: crate::io::LentInput = std::rc::Rc::new(buffer);
            dec.lend(Some(lent.clone()));
            let mut pos = 0;
            for (h, p) in chunk {
                let payload = &(*lent).as_ref()[pos..pos + p.len()];
                match h.kind {
                    Kind::Data => {
                        dec.data(h, payload, true, Some(pos));
                        got.insert(h.seq, (*h, p.clone()));
                    }
                    _ => assert_eq!(dec.parity(h, payload, true), ParityTaken::Used),
                }
                pos += p.len();
                while let Some(r) = dec.take_recovered() {
                    assert!(got.insert(r.header.seq, (r.header, r.payload)).is_none());
                }
            }
            dec.lend(None);
        }
        dec.flush();
        while let Some(r) = dec.take_recovered() {
            assert!(got.insert(r.header.seq, (r.header, r.payload)).is_none());
        }
        got
    }

    #[test]
    fn two_different_parity_packets_for_one_slot_conflict_and_rebuild_nothing() {
        let data: Vec<u8> = (0..4000u32).map(|i| (i * 7 % 251) as u8).collect();
        let packets = send(&data, 500, Scheme::new(4, 2).unwrap());
        let mut dec = Decoder::new();
        dec.reset(9);
        let mut conflicts = 0;
        for (h, p) in &packets {
            match h.kind {
                Kind::Data if h.seq == 1 => {} // lost
                Kind::Data => dec.data(h, p, true, None),
                _ => {
                    if h.seq == 0 && h.parity.unwrap().parity_index == 0 {
                        let mut forged = p.clone();
                        forged[0] ^= 1;
                        let fh = Header {
                            payload_crc: Header::crc_of(&forged),
                            ..*h
                        };
                        assert_eq!(dec.parity(&fh, &forged, true), ParityTaken::Used);
                    }
                    conflicts += usize::from(dec.parity(h, p, true) == ParityTaken::Conflict);
                }
            }
        }
        dec.flush();
        assert_eq!(conflicts, 1);
        // Group 0 is given up (which parity is the sender's is unknown); group 1 is whole.
        assert!(dec.take_recovered().is_none());
    }

    #[test]
    fn lent_payloads_rebuild_as_copies_do_across_buffer_changes() {
        let packets = send(&pattern(40 * 64 + 17), 64, scheme(5, 2));
        let all = data_packets(&packets);
        // Losses in most groups, at group starts, ends and across buffer boundaries.
        let lost: Vec<usize> = (0..packets.len())
            .filter(|i| i % 7 == 3 || i % 11 == 0)
            .collect();
        let copied = receive(&packets, &lost, &[]);
        assert!(
            copied.len() > all.len() - lost.len(),
            "parity rebuilt something"
        );
        for block in [1, 2, 3, 7, 13, packets.len()] {
            assert_eq!(
                receive_lent(&packets, &lost, block),
                copied,
                "blocks of {block}"
            );
        }
    }

    fn data_packets(packets: &[Packet]) -> Vec<Packet> {
        packets
            .iter()
            .filter(|(h, _)| h.kind == Kind::Data)
            .cloned()
            .collect()
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 131 + i / 7) as u8).collect()
    }

    fn scheme(k: usize, m: usize) -> Scheme {
        Scheme::new(k, m).unwrap()
    }

    #[test]
    fn parity_follows_each_group_and_the_short_last_one() {
        let packets = send(&pattern(10 * 100 + 33), 100, scheme(4, 2));
        let kinds: String = packets
            .iter()
            .map(|(h, _)| if h.kind == Kind::Data { 'd' } else { 'p' })
            .collect();
        assert_eq!(kinds, "ddddppddddppdddpp");
        let last_parity = packets.last().unwrap().0;
        let info = last_parity.parity.unwrap();
        assert_eq!((info.group_len, info.group_size, info.last_len), (3, 4, 33));
        assert_eq!((last_parity.seq, last_parity.offset), (2, 800));
        assert!(last_parity.last);
        assert!(!packets[4].0.last);
    }

    #[test]
    fn any_m_losses_in_a_group_are_rebuilt_exactly() {
        let data = pattern(8 * 64 * 3 + 17);
        let packets = send(&data, 64, scheme(8, 2));
        let want = data_packets(&packets);
        // Every pair of losses within the first group (data or parity).
        for a in 0..10 {
            for b in a + 1..10 {
                let got = receive(&packets, &[a, b], &[]);
                assert_eq!(got.len(), want.len(), "lost {a} and {b}");
                for (h, p) in &want {
                    assert_eq!(&got[&h.seq].1, p, "packet {} after losing {a},{b}", h.seq);
                    assert_eq!(got[&h.seq].0.offset, h.offset);
                    assert_eq!(got[&h.seq].0.last, h.last);
                }
            }
        }
    }

    #[test]
    fn the_short_last_group_is_rebuilt_with_its_true_length() {
        for len in [1, 63, 64, 65, 64 * 5 + 1, 64 * 8 + 7] {
            let data = pattern(len);
            let packets = send(&data, 64, scheme(8, 3));
            let want = data_packets(&packets);
            let n = packets.len();
            // Lose the last data packet and the two before it, where they exist.
            let lost: Vec<usize> = packets
                .iter()
                .enumerate()
                .filter(|(_, (h, _))| h.kind == Kind::Data)
                .map(|(i, _)| i)
                .rev()
                .take(3)
                .filter(|&i| i + 3 < n)
                .collect();
            let got = receive(&packets, &lost, &[]);
            let bytes: Vec<u8> = got.values().flat_map(|(_, p)| p.clone()).collect();
            assert_eq!(bytes, data, "length {len}, lost {lost:?}");
            assert_eq!(got.len(), want.len());
            assert!(got.values().last().unwrap().0.last);
        }
    }

    #[test]
    fn an_empty_transfer_gets_empty_parity_that_rebuilds_its_end() {
        let packets = send(&[], 1024, scheme(4, 2));
        assert_eq!(packets.len(), 3);
        assert!(packets.iter().all(|(h, p)| h.last && p.is_empty()));
        let got = receive(&packets, &[0], &[]);
        assert_eq!(got.len(), 1);
        assert!(got[&0].0.last && got[&0].1.is_empty());
    }

    #[test]
    fn damaged_payloads_are_erasures() {
        let data = pattern(6 * 50);
        let packets = send(&data, 50, scheme(6, 2));
        let got = receive(&packets, &[1], &[4]);
        let bytes: Vec<u8> = got.values().flat_map(|(_, p)| p.clone()).collect();
        assert_eq!(bytes, data);
        // Damaged parity is no help.
        let got = receive(&packets, &[1, 2], &[6]);
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn more_than_m_losses_rebuild_nothing_of_that_group() {
        let data = pattern(4 * 10 * 2);
        let packets = send(&data, 10, scheme(4, 2));
        let got = receive(&packets, &[0, 1, 2], &[]);
        assert!(!got.contains_key(&0) && !got.contains_key(&1) && !got.contains_key(&2));
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn odd_payload_sizes_and_large_groups() {
        for (p, k, m) in [
            (1, 1, 1),
            (7, 3, 5),
            (33, 32, 4),
            (3, 200, 56),
            (999, 255, 1),
        ] {
            let data = pattern(p * k * 2 + p / 2);
            let packets = send(&data, p, scheme(k, m));
            let lost: Vec<usize> = (0..m).map(|i| i * 2 % (k + m)).collect();
            let got = receive(&packets, &lost, &[]);
            let bytes: Vec<u8> = got.values().flat_map(|(_, q)| q.clone()).collect();
            assert_eq!(bytes, data, "{p} bytes, {k}+{m}");
        }
    }

    #[test]
    fn the_last_packet_is_rebuilt_after_the_ring_has_wrapped() {
        // Tiny shards make the ring as long as it gets (its slot cap); the last group comes
        // after the ring has wrapped, and a short last group is coded at its own length.
        for (p, k, m) in [
            (1, 1, 1),
            (1, 1, 2),
            (2, 1, 1),
            (1, 2, 1),
            (1, 3, 2),
            (3, 4, 2),
            (1024, 8, 2),
        ] {
            // Past the ring's length (4096 slots of tiny shards, 1024 of 1 KiB), ending in
            // a group of one packet.
            for packets_sent in [4095, 4096, 4097, 4100, 8193, 9001] {
                let data = pattern(p * packets_sent - p / 2);
                let packets = send(&data, p, scheme(k, m));
                let last = packets
                    .iter()
                    .rposition(|(h, _)| h.kind == Kind::Data)
                    .unwrap();
                let got = receive(&packets, &[last], &[]);
                let bytes: Vec<u8> = got.values().flat_map(|(_, q)| q.clone()).collect();
                assert!(bytes == data, "{p} bytes, {k}+{m}, {packets_sent} packets");
            }
        }
    }

    #[test]
    fn a_stream_without_parity_stops_being_copied() {
        let mut dec = Decoder::new();
        dec.reset(1);
        let payload = [5u8; 100];
        for seq in 0..2000u32 {
            let h = Header {
                kind: Kind::Data,
                last: false,
                keyed: false,
                payload_len: 100,
                transfer_id: 1,
                seq,
                offset: u64::from(seq) * 100,
                total_len: None,
                payload_crc: Header::crc_of(&payload),
                parity: None,
            };
            dec.data(&h, &payload, true, None);
        }
        assert!(!dec.may_rebuild());
        assert!(dec.ring.is_empty());
    }

    fn any_case() -> impl Strategy<Value = (usize, usize, usize, usize, u64)> {
        (
            1usize..20,
            1usize..6,
            1usize..80,
            0usize..3000,
            any::<u64>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn losses_within_m_per_group_are_always_rebuilt((k, m, p, len, seed) in any_case()) {
            let data = pattern(len);
            let packets = send(&data, p, scheme(k, m));
            // Lose up to M packets of each group, chosen by the seed.
            let mut lost = vec![];
            let mut state = seed | 1;
            let mut group_start = 0;
            for (i, (h, _)) in packets.iter().enumerate() {
                if h.kind == Kind::Parity && h.parity.unwrap().parity_index + 1 == m as u8 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let size = i + 1 - group_start;
                    for n in 0..(state % (m as u64 + 1)) as usize {
                        let at = group_start + (state as usize >> 8).wrapping_add(n * 7919) % size;
                        if !lost.contains(&at) {
                            lost.push(at);
                        }
                    }
                    group_start = i + 1;
                }
            }
            let got = receive(&packets, &lost, &[]);
            let bytes: Vec<u8> = got.values().flat_map(|(_, q)| q.clone()).collect();
            prop_assert_eq!(bytes, data);
        }
    }
}

mod forged {
    use super::super::*;

    fn parity_header(seq: u32, offset: u64, info: ParityInfo, payload: &[u8]) -> Header {
        Header {
            kind: Kind::Parity,
            parity: Some(info),
            ..Header::test_data(seq, offset, payload)
        }
    }

    fn data_header(seq: u32, payload: &[u8]) -> Header {
        Header::test_data(seq, u64::from(seq) * payload.len() as u64, payload)
    }

    fn info(index: u8) -> ParityInfo {
        ParityInfo {
            group_len: 8,
            parity_count: 2,
            parity_index: index,
            group_size: 8,
            last_len: 100,
            odd: false,
        }
    }

    #[test]
    fn a_stream_of_parity_alone_holds_a_bounded_number_of_groups() {
        let mut dec = Decoder::new();
        dec.reset(1);
        let payload = [7u8; 100];
        let mut most = 0;
        for g in 0..100_000u32 {
            for i in 0..2 {
                let h = parity_header(g, u64::from(g) * 800, info(i), &payload);
                dec.parity(&h, &payload, true);
            }
            most = most.max(dec.groups.len());
            while dec.take_recovered().is_some() {}
        }
        assert!(most <= dec.max_groups(), "{most} groups held");
        assert!(dec.max_groups() < 1000);
        let held: usize = dec.groups.values().map(|g| g.held).sum();
        assert!(held <= 2 * dec.max_groups());
    }

    #[test]
    fn parity_whose_geometry_disagrees_with_the_data_rebuilds_nothing() {
        let payload = [3u8; 100];
        // The data packets say P = 100; parity claiming offsets of another size, or a
        // shorter payload size, must not make packets up.
        for (offset, len) in [(8 * 99, 100), (800, 98)] {
            let mut dec = Decoder::new();
            dec.reset(1);
            for seq in 0..7 {
                dec.data(&data_header(seq, &payload), &payload, true, None);
            }
            let parity = vec![1u8; len];
            for i in 0..2 {
                let mut h = parity_header(0, 0, info(i), &parity);
                if offset != 800 {
                    h.seq = 1;
                    h.offset = offset;
                }
                dec.parity(&h, &parity, true);
            }
            dec.flush();
            assert!(
                dec.take_recovered().is_none(),
                "offset {offset}, shard {len}"
            );
        }
    }

    #[test]
    fn forged_parity_rebuilds_only_missing_slots_and_is_caught_when_parity_is_spare() {
        let payload = [3u8; 100];
        let parity = vec![9u8; 100];
        for sent in [1, 2] {
            let mut dec = Decoder::new();
            dec.reset(1);
            for seq in 0..8 {
                if seq != 5 {
                    dec.data(&data_header(seq, &payload), &payload, true, None);
                }
            }
            for i in 0..sent {
                dec.parity(&parity_header(0, 0, info(i), &parity), &parity, true);
            }
            dec.flush();
            let rebuilt: Vec<u32> = std::iter::from_fn(|| dec.take_recovered())
                .map(|r| r.header.seq)
                .collect();
            if sent == 1 {
                // Nothing to check against: wrong bytes, but only for the missing slot.
                assert_eq!(rebuilt, [5]);
            } else {
                // The second parity packet disagrees with the rebuilt group.
                assert_eq!(rebuilt, [] as [u32; 0]);
            }
        }
    }
}
