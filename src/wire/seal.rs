//! Encrypted packets (`pktize --encrypt`): the data of every packet (data, parity,
//! descriptor) enciphered and authenticated with AES-256-GCM (RFC 5116, NIST SP 800-38D),
//! under a key of the transfer's own, with each packet's place in the transfer as nonce.
//!
//! An encrypted packet is a keyed packet ([`crate::wire::auth`]) whose kind code has
//! [`crate::wire::KIND_ENCRYPTED`] added and whose trailer is longer:
//!
//! ```text
//! payload = ciphertext || salt (16 bytes) || tag (16 bytes)
//! root    = BLAKE3 derive_key("pktools 2026 packet cipher v1", secret file bytes)
//! tkey    = BLAKE3 keyed_hash(root, salt)                    the transfer's AES-256 key
//! nonce   = kind (1) || index (3, big-endian) || position (8, big-endian)
//! ciphertext, tag = AES-256-GCM(tkey, nonce, aad = header0, data)
//! ```
//!
//! `header0` is the header as sent with `header_check` and `payload_crc` zero, as for a
//! keyed packet ([`Header::tag_input`]). The nonce is the packet's place ([`nonce`]): kind
//! code 0, 2, 3 or 4 (without [`crate::wire::KIND_ENCRYPTED`]); index the parity index of a
//! parity packet, a repair packet's `repair_index`, else 0; position the offset of a data
//! or parity packet, a descriptor's number (`offset << 32 | seq`) for a descriptor, a
//! repair packet's block number (its `seq`).
//!
//! Why the nonce is unique, not merely unlikely to repeat: the salt is 128 random bits
//! drawn once per transfer, so two transfers get the same key only if they draw the same
//! salt; within a transfer the sender never seals two different headers or data under one
//! place: a data packet's bytes are those of its offset, a parity packet's follow from its
//! group, a repair symbol's from its block and number, and descriptors are numbered in 64
//! bits (the sender counts them, `seq` the low half, `offset` the high one). A carousel
//! sends the same packet again, bit for bit, and a fountain that has spent a block's
//! symbol space starts again from symbol 0, the same symbol: either repeats the nonce with
//! the same input, so the same ciphertext, nothing learnt.
//!
//! Parity and repair symbols are coded over ciphertexts, then enciphered like any payload,
//! so a receiver rebuilds a lost packet's ciphertext before it deciphers it:
//! [`TransferCipher::decipher`] runs GCM's counter mode alone, as the rebuilt packet has no
//! tag of its own (it is a combination of packets whose tags held). A sender codes repair
//! symbols long after it sent the data packets, and enciphers their data again for it
//! with [`TransferCipher::encipher_untagged`], the same counter mode: the ciphertext GCM
//! gave, without the tag.
//!
//! Why AES-256-GCM, and ring's: on the development machine (AES-NI, VAES, PCLMULQDQ, no
//! `-C target-cpu`), sealing 1 KiB payloads took, in CPU time, 5.5 GB/s with ring's
//! AES-256-GCM (BoringSSL's assembly), 1.29 GB/s with RustCrypto's aes-gcm, 0.94 GB/s
//! with its aes-gcm-siv and 0.45 GB/s with its chacha20poly1305 (7.6, 1.40, 1.33 and 1.03
//! GB/s at 8 KiB); and GCM-SIV takes its counter from the tag, so a rebuilt packet, which
//! has none, could not be deciphered. ring has no counter mode of its own: RustCrypto's
//! `aes` and `ctr` run it for [`TransferCipher::decipher`], checked against ring here.
//!
//! This module only seals and opens payloads; which packets are taken is
//! [`crate::wire::auth::Verifier`]'s decision.

use crate::wire::{Header, Kind, ParityInfo, SEALED_SALT_LEN, TAG_LEN};
use ctr::cipher::{KeyIvInit, StreamCipher};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use std::fmt;

/// The BLAKE3 key-derivation context of the cipher's root key.
pub const CIPHER_CONTEXT: &str = "pktools 2026 packet cipher v1";

/// The per-transfer salt of an encrypted packet's trailer.
pub type LongSalt = [u8; SEALED_SALT_LEN];

/// The bytes of a nonce: GCM's 96 bits.
pub const NONCE_LEN: usize = 12;

/// One transfer's cipher: AES-256-GCM under the key derived from the secret and the
/// transfer's salt. Its `Debug` does not show the key.
#[derive(Clone)]
pub struct TransferCipher {
    aead: LessSafeKey,
    key: [u8; 32],
}

impl fmt::Debug for TransferCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransferCipher(..)")
    }
}

impl TransferCipher {
    /// The cipher of the transfer with `salt`, from the secret's cipher root key.
    pub fn new(root: &[u8; 32], salt: &LongSalt) -> Self {
        let key = *blake3::keyed_hash(root, salt).as_bytes();
        let unbound = UnboundKey::new(&AES_256_GCM, &key).expect("AES-256 takes a 32-byte key");
        TransferCipher {
            aead: LessSafeKey::new(unbound),
            key,
        }
    }

    /// Encipher `data` in place, the payload of the packet with wire header `header`
    /// (KEYED, encrypted, `payload_len` counting the trailer), and return the tag.
    pub fn seal(&self, header: &Header, data: &mut [u8]) -> [u8; TAG_LEN] {
        let tag = self
            .aead
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce(header)),
                Aad::from(header.tag_input()),
                data,
            )
            .expect("a payload is far shorter than GCM's 64 GiB limit");
        let mut bytes = [0; TAG_LEN];
        bytes.copy_from_slice(tag.as_ref());
        bytes
    }

    /// Check the tag and decipher in place `sealed`, the ciphertext followed by its tag;
    /// the plaintext, the first `sealed.len() - TAG_LEN` bytes, when the tag holds, else
    /// `None` (and `sealed` is not to be used).
    pub fn open<'a>(&self, header: &Header, sealed: &'a mut [u8]) -> Option<&'a mut [u8]> {
        self.aead
            .open_in_place(
                Nonce::assume_unique_for_key(nonce(header)),
                Aad::from(header.tag_input()),
                sealed,
            )
            .ok()
    }

    /// Decipher `data` in place without a tag: GCM's counter mode alone (the counter block
    /// is the nonce and a 32-bit big-endian counter from 2). Only for ciphertext known to be
    /// authentic, a packet rebuilt from packets whose tags held; `header` gives its place.
    pub fn decipher(&self, header: &Header, data: &mut [u8]) {
        let mut iv = [0u8; 16];
        iv[..NONCE_LEN].copy_from_slice(&nonce(header));
        iv[15] = 2;
        let mut ctr = ctr::Ctr32BE::<aes::Aes256>::new(&self.key.into(), &iv.into());
        ctr.apply_keystream(data);
    }

    /// Encipher `data` in place as [`TransferCipher::seal`] does, without making the tag:
    /// the ciphertext a packet with wire header `header` carries, for a sender that codes
    /// repair symbols over packets it sent earlier. (Counter mode is its own inverse.)
    pub fn encipher_untagged(&self, header: &Header, data: &mut [u8]) {
        self.decipher(header, data);
    }
}

/// A packet's place, its nonce: kind code (1 byte), index (3 bytes), position (8 bytes),
/// as the module documentation says.
pub fn nonce(h: &Header) -> [u8; NONCE_LEN] {
    let (kind, index, position): (u8, u32, u64) = match (h.kind, h.parity) {
        (Kind::Data, _) => (0, 0, h.offset),
        (Kind::Parity, Some(ParityInfo { parity_index, .. })) => {
            (3, u32::from(parity_index), h.offset)
        }
        (Kind::Parity, None) => (3, 0, h.offset),
        (Kind::Descriptor, _) => (2, 0, h.offset << 32 | u64::from(h.seq)),
        (Kind::Repair(r), _) => (4, u32::from(r.repair_index), u64::from(h.seq)),
    };
    let mut n = [0; NONCE_LEN];
    n[0] = kind;
    n[1..4].copy_from_slice(&index.to_be_bytes()[1..]);
    n[4..].copy_from_slice(&position.to_be_bytes());
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: Kind, seq: u32, offset: u64) -> Header {
        Header {
            kind,
            last: false,
            keyed: true,
            encrypted: true,
            payload_len: 42,
            transfer_id: 7,
            seq,
            offset,
            total_len: (kind != Kind::Parity).then_some(100),
            payload_crc: 0,
            parity: (kind == Kind::Parity).then_some(ParityInfo {
                group_len: 4,
                parity_count: 2,
                parity_index: 1,
                group_size: 4,
                last_len: 10,
                odd: false,
            }),
        }
    }

    #[test]
    fn places_give_distinct_nonces() {
        let nonces = [
            nonce(&header(Kind::Data, 1, 10)),
            nonce(&header(Kind::Data, 2, 20)),
            nonce(&header(Kind::Parity, 1, 10)),
            nonce(&header(Kind::Descriptor, 1, 0)),
            nonce(&header(Kind::Descriptor, 1, 1)),
        ];
        for (i, a) in nonces.iter().enumerate() {
            for b in &nonces[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(
            nonce(&header(Kind::Parity, 5, 0x0102)),
            [3, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2]
        );
        assert_eq!(
            nonce(&header(Kind::Descriptor, 5, 1)),
            [2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 5]
        );
        // A repair packet's place: its symbol number and block number, whatever its offset
        // (the transfer's length, the same in every repair packet).
        let repair = |index, block| {
            let r = crate::wire::RepairInfo {
                repair_index: index,
                block_size: 4,
                odd: false,
            };
            nonce(&header(Kind::Repair(r), block, 10))
        };
        assert_eq!(repair(0x0102, 5), [4, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 5]);
        assert_ne!(repair(1, 0), repair(0, 1));
        assert!(!nonces.contains(&repair(1, 1)));
    }

    #[test]
    fn sealing_hides_the_data_and_opening_checks_every_bit() {
        let c = TransferCipher::new(&[1; 32], &[2; SEALED_SALT_LEN]);
        let h = header(Kind::Data, 1, 10);
        let data = *b"a known plaintext";
        let mut buf = data;
        let tag = c.seal(&h, &mut buf);
        assert_ne!(buf, data);
        let sealed = |ciphertext: &[u8]| [ciphertext, &tag[..]].concat();
        assert_eq!(c.open(&h, &mut sealed(&buf)).as_deref(), Some(&data[..]));
        // The counter mode alone gives the same plaintext (a rebuilt packet's way).
        let mut rebuilt = buf;
        c.decipher(&h, &mut rebuilt);
        assert_eq!(rebuilt, data);
        // And enciphering without the tag gives GCM's ciphertext (what repair is coded over).
        let mut again = data;
        c.encipher_untagged(&h, &mut again);
        assert_eq!(again, buf);
        for bit in 0..(buf.len() + TAG_LEN) * 8 {
            let mut bad = sealed(&buf);
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(c.open(&h, &mut bad).is_none(), "bit {bit}");
        }
        let moved = Header { offset: 20, ..h };
        assert!(c.open(&moved, &mut sealed(&buf)).is_none());
        let last = Header { last: true, ..h };
        assert!(c.open(&last, &mut sealed(&buf)).is_none());
        // Another salt is another key.
        let other = TransferCipher::new(&[1; 32], &[3; SEALED_SALT_LEN]);
        assert!(other.open(&h, &mut sealed(&buf)).is_none());
    }
}
