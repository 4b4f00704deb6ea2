//! Authenticated packets (`--key`): a tag over every packet, made with a secret that sender
//! and receiver share, so that nobody without it can put bytes into the received file.
//!
//! The CRC-32 and the header check stop noise, not people: anyone who knows `pktize(5)`
//! can forge a packet that passes them. A keyed packet (the KEYED flag, see
//! [`crate::wire`]) ends its payload with a trailer, counted in `payload_len` and covered
//! by `payload_crc`:
//!
//! ```text
//! payload = data || salt (8 bytes) || tag (16 bytes)
//! key     = BLAKE3 derive_key("pktools 2026 packet tag v2", secret file bytes)
//! hkey    = first 16 bytes of BLAKE3 derive_key("pktools 2026 packet hash v2", secret)
//! digest  = POLYVAL(hkey, data zero-padded to a multiple of 16 bytes)   (RFC 8452)
//! tag     = first 16 bytes of BLAKE3 keyed_hash(key, header0 || salt || digest)
//! ```
//!
//! where `header0` is the 32-byte header as sent with `header_check` and `payload_crc`
//! zero ([`Header::tag_input`]); both are computed after the tag, as for any packet. The
//! salt is drawn from the OS by the sender, once per transfer, and is the same in every
//! packet of it (data, parity, descriptor).
//!
//! Why two steps: BLAKE3 hashes a 1 KiB payload as one chunk, block by block, without its
//! SIMD parallelism, and cost two thirds of a keyed receiver's time. POLYVAL is a
//! universal hash (two different payloads of `n` blocks collide for at most `n` of the
//! 2^128 keys) that carry-less multiplication computes several times faster, and the
//! BLAKE3 PRF then costs one compression per packet (`header0 || salt || digest` is 56
//! bytes). This is hash-then-PRF: no nonce is needed, the key `hkey` never leaves the
//! PRF, and a forger must find, without seeing `hkey`, another payload that collides with
//! a sealed one under the same header and salt (at most one chance in 2^128 / `n` per
//! try), or guess a tag. The header's `payload_len` pins the data length, so the zero
//! padding is unambiguous. The context strings end in `v2`: the keys of the first
//! construction (BLAKE3 over the whole packet, `v1`) are never used with this one.
//!
//! Why a keyed receiver still checks the CRC (framing does, before the tag): the tag does
//! not cover `payload_crc`, so a packet whose tag holds can still carry a wrong one (noise
//! that the 16-bit header check missed, or a meddler), and the stages after this one tell
//! packets apart by the CRC of their data (a range's fingerprints, a transfer's first
//! packet, the packets FEC rebuilds): it must be the data's own. Nor would skipping the
//! check spare its pass: the data's CRC would still be computed, on the same carry-less
//! multiplier as the POLYVAL. What is spared is a second pass to strip the trailer:
//! `crc_without` gets the data's CRC from the payload's.
//!
//! Replay: the [`Verifier`] pins the salt of the first authentic packet of each transfer
//! id; an authentic packet of that id with another salt belongs to another transfer made
//! with the same key (an old one replayed, or spliced in) and is rejected. What an attacker
//! can still do is in `unpktize(1)`, SECURITY.
//!
//! This module does not find packets (that is [`crate::wire::framing`]) nor place them (that is
//! [`crate::reassemble`], which calls [`Verifier::check`] on every packet when it has a
//! key): it makes and checks trailers, and strips them, so that every stage after it sees
//! packets exactly as an unkeyed sender would have sent them.

use crate::wire::polyval::PolyvalKey;
use crate::wire::seal::{LongSalt, TransferCipher, CIPHER_CONTEXT};
use crate::wire::{
    Header, HEADER_LEN, MAX_PAYLOAD, SALT_LEN, SEALED_SALT_LEN, SEALED_TRAILER_LEN, TAG_LEN,
    TRAILER_LEN,
};
use crate::wire::{Integrity, Packet};
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Shortest secret accepted: 128 bits.
pub const KEY_MIN_LEN: usize = 16;
/// Longest key file read: a secret is short; a larger file is probably the wrong one.
pub const KEY_MAX_LEN: usize = 1 << 16;
/// The BLAKE3 key-derivation context of the tag's PRF key: names this use of the secret,
/// so the same secret used elsewhere (or for another version of this format) gives
/// unrelated keys.
pub const KEY_CONTEXT: &str = "pktools 2026 packet tag v2";
/// The BLAKE3 key-derivation context of the POLYVAL key.
pub const HASH_KEY_CONTEXT: &str = "pktools 2026 packet hash v2";

/// The per-transfer salt in every keyed packet's trailer.
pub type Salt = [u8; SALT_LEN];

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("key file {}: {found} bytes, a key needs at least {KEY_MIN_LEN}", path.display())]
    TooShort { path: PathBuf, found: usize },
    #[error("key file {}: more than {KEY_MAX_LEN} bytes, not a key", path.display())]
    TooLong { path: PathBuf },
    #[error("no random salt from the operating system: {0}")]
    Random(String),
}

/// The packet keys, derived from the shared secret: the PRF key and the POLYVAL key
/// (held ready, its powers of `hkey` computed), and the root of encrypted transfers' keys
/// ([`crate::wire::seal`]). Its `Debug` does not show them.
#[derive(Clone)]
pub struct Key {
    prf: [u8; 32],
    hash: PolyvalKey,
    cipher: [u8; 32],
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    /// The key for a secret of at least [`KEY_MIN_LEN`] bytes (`None` if shorter).
    pub fn from_secret(secret: &[u8]) -> Option<Key> {
        (secret.len() >= KEY_MIN_LEN).then(|| {
            let hkey = blake3::derive_key(HASH_KEY_CONTEXT, secret);
            Key {
                prf: blake3::derive_key(KEY_CONTEXT, secret),
                cipher: blake3::derive_key(CIPHER_CONTEXT, secret),
                hash: PolyvalKey::new(
                    hkey[..POLYVAL_KEY_LEN]
                        .try_into()
                        .expect("a derived key has 32 bytes"),
                ),
            }
        })
    }

    /// The key for the secret in a file: all its bytes, a final newline included.
    pub fn from_file(path: &Path) -> Result<Key, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut secret = Vec::new();
        file.take(KEY_MAX_LEN as u64 + 1)
            .read_to_end(&mut secret)
            .map_err(io)?;
        if secret.len() > KEY_MAX_LEN {
            return Err(KeyError::TooLong {
                path: path.to_path_buf(),
            });
        }
        Key::from_secret(&secret).ok_or(KeyError::TooShort {
            path: path.to_path_buf(),
            found: secret.len(),
        })
    }

    fn tag(&self, header: &Header, data: &[u8], salt: &Salt) -> [u8; TAG_LEN] {
        let digest = self.hash.hash(data);
        let mut block = [0; PRF_INPUT_LEN];
        block[..HEADER_LEN].copy_from_slice(&header.tag_input());
        block[HEADER_LEN..HEADER_LEN + SALT_LEN].copy_from_slice(salt);
        block[HEADER_LEN + SALT_LEN..].copy_from_slice(&digest);
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&blake3::keyed_hash(&self.prf, &block).as_bytes()[..TAG_LEN]);
        tag
    }
}

/// POLYVAL's key and digest are one 16-byte field element each.
const POLYVAL_KEY_LEN: usize = 16;
/// What the PRF makes the tag of: `header0 || salt || digest`, within one BLAKE3 block.
const PRF_INPUT_LEN: usize = HEADER_LEN + SALT_LEN + POLYVAL_KEY_LEN;
const _: () = assert!(PRF_INPUT_LEN <= blake3::BLOCK_LEN);

/// A salt from the operating system's random source, for a new transfer.
pub fn random_salt() -> Result<Salt, KeyError> {
    let mut salt = [0; SALT_LEN];
    getrandom::getrandom(&mut salt).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(salt)
}

/// A 128-bit salt from the operating system's random source, for a new encrypted transfer.
pub fn random_long_salt() -> Result<LongSalt, KeyError> {
    let mut salt = [0; SEALED_SALT_LEN];
    getrandom::getrandom(&mut salt).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(salt)
}

/// The sender's half: seals every packet of one transfer with the key and its salt, and
/// enciphers them too when made with [`Signer::encrypting`].
#[derive(Debug, Clone)]
pub struct Signer {
    key: Key,
    salt: Salt,
    /// Encrypting: the transfer's cipher and its salt.
    sealing: Option<(TransferCipher, LongSalt)>,
}

/// Largest data payload a keyed packet can carry.
pub const MAX_KEYED_DATA: usize = MAX_PAYLOAD - TRAILER_LEN;
/// Largest data payload an encrypted packet can carry.
pub const MAX_SEALED_DATA: usize = MAX_PAYLOAD - SEALED_TRAILER_LEN;

impl Signer {
    pub fn new(key: Key, salt: Salt) -> Self {
        Signer {
            key,
            salt,
            sealing: None,
        }
    }

    /// A signer that enciphers every packet too, with the transfer key of `salt`.
    pub fn encrypting(key: Key, salt: LongSalt) -> Self {
        Signer {
            sealing: Some((TransferCipher::new(&key.cipher, &salt), salt)),
            key,
            salt: [0; SALT_LEN],
        }
    }

    /// True when packets are enciphered: they must be built whole with
    /// [`Signer::seal_into`].
    pub fn encrypts(&self) -> bool {
        self.sealing.is_some()
    }

    /// Encrypting: encipher `data` in place into the ciphertext the packet `header` places
    /// carries (without its tag), what repair symbols are coded over; false, and `data`
    /// untouched, when not encrypting.
    pub fn encipher_untagged(&self, header: &Header, data: &mut [u8]) -> bool {
        match &self.sealing {
            Some((cipher, _)) => {
                cipher.encipher_untagged(header, data);
                true
            }
            None => false,
        }
    }

    /// Bytes of trailer after each packet's data.
    pub fn trailer_len(&self) -> usize {
        match self.sealing {
            Some(_) => SEALED_TRAILER_LEN,
            None => TRAILER_LEN,
        }
    }

    /// Append the whole packet carrying `data` to `out`: header, data (enciphered when
    /// encrypting), trailer; from the header an unkeyed sender would send. `data` is at
    /// most `MAX_PAYLOAD` less the trailer.
    pub fn seal_into(&self, header: &Header, data: &[u8], out: &mut Vec<u8>) {
        let Some((cipher, salt)) = &self.sealing else {
            let (h, t) = self.seal(header, data);
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out.extend_from_slice(&t);
            return;
        };
        let payload_len = u16::try_from(data.len() + SEALED_TRAILER_LEN)
            .ok()
            .filter(|&n| usize::from(n) <= MAX_PAYLOAD)
            .expect("callers keep encrypted data within MAX_PAYLOAD less the trailer");
        let mut header = Header {
            keyed: true,
            encrypted: true,
            payload_len,
            ..*header
        };
        let start = out.len();
        out.resize(start + HEADER_LEN, 0);
        out.extend_from_slice(data);
        let tag = cipher.seal(&header, &mut out[start + HEADER_LEN..]);
        out.extend_from_slice(salt);
        out.extend_from_slice(&tag);
        header.payload_crc = Header::crc_of(&out[start + HEADER_LEN..]);
        let bytes: &mut [u8; HEADER_LEN] = (&mut out[start..start + HEADER_LEN])
            .try_into()
            .expect("HEADER_LEN bytes");
        header.encode(bytes);
    }

    /// The wire header and trailer of a packet carrying `data`, from the header an unkeyed
    /// sender would send (its `keyed`, `payload_len` and `payload_crc` are set here).
    /// `data` is at most [`MAX_KEYED_DATA`] bytes.
    pub fn seal(&self, header: &Header, data: &[u8]) -> ([u8; HEADER_LEN], [u8; TRAILER_LEN]) {
        debug_assert!(
            self.sealing.is_none(),
            "an encrypting signer seals whole packets"
        );
        let payload_len = u16::try_from(data.len() + TRAILER_LEN)
            .ok()
            .filter(|&n| usize::from(n) <= MAX_PAYLOAD)
            .expect("callers keep keyed data within MAX_KEYED_DATA");
        let mut header = Header {
            keyed: true,
            payload_len,
            ..*header
        };
        let mut trailer = [0; TRAILER_LEN];
        trailer[..SALT_LEN].copy_from_slice(&self.salt);
        let tag = self.key.tag(&header, data, &self.salt);
        trailer[SALT_LEN..].copy_from_slice(&tag);
        let mut crc = super::header::crc_hasher();
        crc.update(data);
        crc.update(&trailer);
        header.payload_crc = crc.finalize();
        let mut bytes = [0; HEADER_LEN];
        header.encode(&mut bytes);
        (bytes, trailer)
    }
}

/// What a receiver with the key makes of a packet.
#[derive(Debug, Clone, Copy)]
pub enum Verdict<'a> {
    /// The tag holds and the salt is the transfer's: the packet as an unkeyed sender would
    /// have sent it (KEYED clear, `payload_len` and `payload_crc` of the data alone).
    Authentic(Packet<'a>),
    /// An encrypted packet whose tag holds and whose salt is the transfer's: the packet
    /// stripped as for `Authentic`, its payload still the ciphertext as it lies in the
    /// input (what parity is coded over), and the plaintext in [`Verifier::plain`].
    Opened(Packet<'a>),
    /// A keyed packet whose tag fails (forged, or made with another key), or whose salt is
    /// not the one pinned for its transfer id (another transfer's packet spliced in).
    Rejected,
    /// A keyed packet whose payload fails its CRC (or was cut): noise, as far as anyone can
    /// tell, but nothing in it can be verified, its header included.
    Damaged,
    /// A packet without the KEYED flag: nobody vouches for it.
    Unkeyed,
}

/// What the first authentic packet of a transfer id pinned: its salt, and whether the
/// transfer is encrypted (a keyed packet never passes for an encrypted transfer's, nor
/// the other way round).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pin {
    Keyed(Salt),
    Encrypted(LongSalt),
}

/// The receiver's half: checks tags, opens encrypted packets, and pins each transfer id's
/// salt.
#[derive(Debug, Clone)]
pub struct Verifier {
    key: Key,
    /// The salt of the first authentic packet of each transfer id seen: at most 65536.
    pinned: HashMap<u16, Pin>,
    /// The last entry of `pinned` that a packet matched: a stream is mostly one transfer,
    /// and this spares hashing its id for every packet.
    last_pinned: Option<(u16, Pin)>,
    /// The cipher of the encrypted transfer used last; another one's is derived again from
    /// its pinned salt (a BLAKE3 compression and a key expansion), so that memory stays
    /// 17 bytes a transfer id however many there are.
    last_cipher: Option<(u16, TransferCipher)>,
    /// The plaintext of the last packet opened (one payload, reused).
    plain: Vec<u8>,
}

impl Verifier {
    pub fn new(key: Key) -> Self {
        Verifier {
            key,
            pinned: HashMap::new(),
            last_pinned: None,
            last_cipher: None,
            plain: Vec::new(),
        }
    }

    /// The plaintext of the packet the last [`Verdict::Opened`] was for.
    pub fn plain(&self) -> &[u8] {
        &self.plain
    }

    /// Take the plaintext buffer (to use it while the verifier is borrowed otherwise);
    /// give it back with [`Verifier::give_back`], so it is not allocated again.
    pub fn take_plain(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.plain)
    }

    pub fn give_back(&mut self, plain: Vec<u8>) {
        self.plain = plain;
    }

    /// True when `id` is an encrypted transfer whose salt is pinned: its packets' payloads,
    /// and what parity rebuilds of them, are ciphertext.
    pub fn encrypted(&self, id: u16) -> bool {
        matches!(self.pinned.get(&id), Some(Pin::Encrypted(_)))
    }

    /// Decipher in place the ciphertext `data` of the packet `header` places, in the
    /// encrypted transfer `header.transfer_id` (a packet rebuilt from parity, or held and
    /// opened before); false, and `data` untouched, when that transfer is not encrypted.
    pub fn decipher(&mut self, header: &Header, data: &mut [u8]) -> bool {
        match self.cipher(header.transfer_id) {
            Some(c) => {
                c.decipher(header, data);
                true
            }
            None => false,
        }
    }

    /// The pinned cipher of an encrypted transfer.
    fn cipher(&mut self, id: u16) -> Option<&TransferCipher> {
        if self
            .last_cipher
            .as_ref()
            .is_none_or(|(last, _)| *last != id)
        {
            let Some(Pin::Encrypted(salt)) = self.pinned.get(&id) else {
                return None;
            };
            self.last_cipher = Some((id, TransferCipher::new(&self.key.cipher, salt)));
        }
        self.last_cipher.as_ref().map(|(_, c)| c)
    }

    /// Check one packet as framing found it.
    pub fn check<'a>(&mut self, p: &Packet<'a>) -> Verdict<'a> {
        let h = &p.header;
        if !h.keyed {
            return Verdict::Unkeyed;
        }
        if p.integrity != Integrity::Intact {
            return Verdict::Damaged;
        }
        if h.encrypted {
            return self.open(p);
        }
        // An intact keyed payload is at least a trailer long (the parser makes sure).
        let Some((data, trailer)) = p.payload.split_last_chunk::<TRAILER_LEN>() else {
            return Verdict::Damaged;
        };
        let (salt, tag) = trailer
            .split_first_chunk::<SALT_LEN>()
            .expect("the trailer starts with SALT_LEN bytes");
        let expected = self.key.tag(h, data, salt);
        // Constant time, so response timing tells nothing about how much of a tag was right.
        let diff = expected
            .iter()
            .zip(tag)
            .fold(0, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 || !self.pin(h.transfer_id, Pin::Keyed(*salt)) {
            return Verdict::Rejected;
        }
        Verdict::Authentic(stripped(p, data, trailer))
    }

    /// Pin `pin` for `id`, or check it against the one pinned: false if another is.
    fn pin(&mut self, id: u16, pin: Pin) -> bool {
        if self.last_pinned != Some((id, pin)) {
            if *self.pinned.entry(id).or_insert(pin) != pin {
                return false;
            }
            self.last_pinned = Some((id, pin));
        }
        true
    }

    /// [`Verifier::check`] for an intact encrypted packet.
    fn open<'a>(&mut self, p: &Packet<'a>) -> Verdict<'a> {
        let h = &p.header;
        let Some((data, trailer)) = p.payload.split_last_chunk::<SEALED_TRAILER_LEN>() else {
            return Verdict::Damaged;
        };
        let (salt, tag) = trailer
            .split_first_chunk::<SEALED_SALT_LEN>()
            .expect("the trailer starts with SEALED_SALT_LEN bytes");
        let tag: &[u8; TAG_LEN] = tag.try_into().expect("the rest of the trailer is the tag");
        let pin = Pin::Encrypted(*salt);
        // Another salt than the pinned one is rejected before any work; a transfer not
        // pinned yet gets the key of the salt it claims, kept only if the tag holds.
        let known = self.last_pinned == Some((h.transfer_id, pin))
            || match self.pinned.get(&h.transfer_id) {
                Some(&pinned) if pinned != pin => return Verdict::Rejected,
                Some(_) => true,
                None => false,
            };
        // The AEAD opens ciphertext and tag together, in place: one copy of both.
        let mut plain = std::mem::take(&mut self.plain);
        plain.clear();
        plain.extend_from_slice(data);
        plain.extend_from_slice(tag);
        let opened = if known {
            let c = self
                .cipher(h.transfer_id)
                .expect("a pinned encrypted id has a cipher");
            let opened = c.open(h, &mut plain).is_some();
            if opened {
                self.last_pinned = Some((h.transfer_id, pin));
            }
            opened
        } else {
            let c = TransferCipher::new(&self.key.cipher, salt);
            let opened = c.open(h, &mut plain).is_some();
            if opened {
                self.pin(h.transfer_id, pin);
                self.last_cipher = Some((h.transfer_id, c));
            }
            opened
        };
        plain.truncate(data.len());
        self.plain = plain;
        if !opened {
            return Verdict::Rejected;
        }
        Verdict::Opened(stripped(p, data, trailer))
    }
}

/// An authentic packet as an unkeyed sender would have sent it, but for the encrypted
/// flag: KEYED clear, `payload_len` and `payload_crc` of `data`, the payload less its
/// trailer.
fn stripped<'a>(p: &Packet<'a>, data: &'a [u8], trailer: &[u8]) -> Packet<'a> {
    let h = &p.header;
    Packet {
        header: Header {
            keyed: false,
            payload_len: h.data_len(),
            payload_crc: crc_without(h.payload_crc, trailer),
            ..*h
        },
        payload: data,
        integrity: Integrity::Intact,
        input_pos: p.input_pos,
    }
}

/// The CRC-32 of `data` from the CRC-32 of `data || trailer`: the receiver has the
/// latter from framing, and needs the former for the packet as an unkeyed sender would
/// have sent it. CRC-32 is affine: with `R(s, m)` the CRC register after `m` from state
/// `s`, `R(s, trailer) = Z(s) ^ R(0, trailer)`, where `Z` runs the register over as many
/// zero bytes as the trailer has and is invertible (so is one byte's step, since every entry
/// of the CRC table has its own top byte). So `s = Z^-1(R(s, trailer) ^ R(0, trailer))`:
/// a short CRC and four lookups in [`UNDO_TRAILER`] (or [`UNDO_SEALED_TRAILER`]), instead
/// of a pass over the data (or of 24 dependent steps backwards over the trailer, which
/// cost a quarter of a keyed receiver's verification).
fn crc_without(crc: u32, trailer: &[u8]) -> u32 {
    let undo = match trailer.len() {
        TRAILER_LEN => &UNDO_TRAILER,
        SEALED_TRAILER_LEN => &UNDO_SEALED_TRAILER,
        _ => unreachable!("trailers are TRAILER_LEN or SEALED_TRAILER_LEN bytes"),
    };
    // From the initial value !0, crc32fast's register starts at 0 and ends as R(0, trailer).
    let mut from_zero = crc32fast::Hasher::new_with_initial(!0);
    from_zero.update(trailer);
    let v = !crc ^ !from_zero.finalize();
    let undone = (0..4).fold(0, |acc, i| acc ^ undo[i][usize::from((v >> (8 * i)) as u8)]);
    !undone
}

/// `Z^-1` of [`crc_without`] for a keyed trailer, byte by byte (it is linear):
/// `UNDO_TRAILER[i][b]` is the state that [`TRAILER_LEN`] zero bytes take to `b << 8i`.
static UNDO_TRAILER: [[u32; 256]; 4] = undo_zeros(TRAILER_LEN);
/// The same for an encrypted packet's [`SEALED_TRAILER_LEN`] bytes.
static UNDO_SEALED_TRAILER: [[u32; 256]; 4] = undo_zeros(SEALED_TRAILER_LEN);

const fn undo_zeros(len: usize) -> [[u32; 256]; 4] {
    let mut t = [[0; 256]; 4];
    let mut i = 0;
    while i < 4 {
        let mut b = 0;
        while b < 256 {
            // One step back over a zero byte, `len` times: the entry whose top byte
            // is the register's top byte was xored in, and the register shifted.
            let mut reg = (b as u32) << (8 * i);
            let mut k = 0;
            while k < len {
                let e = CRC_TOP[(reg >> 24) as usize];
                reg = ((reg ^ CRC_TABLE[e as usize]) << 8) | e as u32;
                k += 1;
            }
            t[i][b] = reg;
            b += 1;
        }
        i += 1;
    }
    t
}

/// The byte-wise table of CRC-32 (reflected 0xedb88320).
const CRC_TABLE: [u32; 256] = {
    let mut t = [0; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// For each top byte, the index of the table entry that has it.
const CRC_TOP: [u8; 256] = {
    let mut top = [0; 256];
    let mut i = 0;
    while i < 256 {
        top[(CRC_TABLE[i] >> 24) as usize] = i as u8;
        i += 1;
    }
    top
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::framing::{scan, Frame};
    use crate::wire::Kind;

    fn key(byte: u8) -> Key {
        Key::from_secret(&[byte; 32]).unwrap()
    }

    fn header(offset: u64, len: usize) -> Header {
        Header {
            kind: Kind::Data,
            last: false,
            keyed: false,
            encrypted: false,
            payload_len: len as u16,
            transfer_id: 7,
            seq: (offset / 10) as u32,
            offset,
            total_len: Some(100),
            payload_crc: 0,
            parity: None,
        }
    }

    /// A keyed packet on the wire.
    fn sealed(signer: &Signer, offset: u64, data: &[u8]) -> Vec<u8> {
        let (h, t) = signer.seal(&header(offset, data.len()), data);
        [&h[..], data, &t[..]].concat()
    }

    /// The packet framing finds at the front of `bytes`.
    fn framed(bytes: &[u8]) -> Packet<'_> {
        match scan(bytes, true) {
            Frame::Packet {
                header,
                intact,
                truncated,
                payload_len,
            } => Packet::new(
                header,
                &bytes[HEADER_LEN..HEADER_LEN + payload_len],
                intact,
                truncated,
            ),
            other => panic!("not a packet: {other:?}"),
        }
    }

    #[test]
    fn a_sealed_packet_frames_intact_and_verifies_to_its_unkeyed_form() {
        let signer = Signer::new(key(1), [9; SALT_LEN]);
        let bytes = sealed(&signer, 10, b"0123456789");
        assert_eq!(bytes.len(), HEADER_LEN + 10 + TRAILER_LEN);
        assert_eq!(bytes[3] & 0xF, 0x2 | 0x8); // TOTAL_KNOWN, KEYED
        let p = framed(&bytes);
        assert!(p.is_intact() && p.header.keyed);
        match Verifier::new(key(1)).check(&p) {
            Verdict::Authentic(s) => {
                let want = Header {
                    payload_crc: Header::crc_of(b"0123456789"),
                    ..header(10, 10)
                };
                assert_eq!(s.header, want);
                assert_eq!(s.payload, b"0123456789");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn another_key_or_any_changed_bit_is_rejected() {
        let signer = Signer::new(key(1), [9; SALT_LEN]);
        let good = sealed(&signer, 10, b"0123456789");
        assert!(matches!(
            Verifier::new(key(2)).check(&framed(&good)),
            Verdict::Rejected
        ));
        // Change any payload byte, or the offset, and repair the CRC and the header check
        // as a forger would: framing finds an intact packet, the tag fails.
        let forge = |change: &dyn Fn(&mut Header, &mut [u8])| {
            let mut h = Header::parse(&good).unwrap();
            let mut payload = good[HEADER_LEN..].to_vec();
            change(&mut h, &mut payload);
            h.payload_crc = Header::crc_of(&payload);
            h.with_payload(&payload)
        };
        let mut forgeries: Vec<Vec<u8>> = (0..good.len() - HEADER_LEN)
            .map(|at| forge(&|_, p| p[at] ^= 0x10))
            .collect();
        forgeries.push(forge(&|h, _| h.offset += 10));
        forgeries.push(forge(&|h, _| h.last = true));
        for (n, bytes) in forgeries.iter().enumerate() {
            let p = framed(bytes);
            assert!(p.is_intact(), "forgery {n} is intact to framing");
            assert!(
                matches!(Verifier::new(key(1)).check(&p), Verdict::Rejected),
                "forgery {n} verified"
            );
        }
    }

    #[test]
    fn a_second_salt_for_one_transfer_id_is_rejected() {
        let ours = Signer::new(key(1), [1; SALT_LEN]);
        let theirs = Signer::new(key(1), [2; SALT_LEN]);
        let mut v = Verifier::new(key(1));
        let a = sealed(&ours, 0, b"first");
        let b = sealed(&theirs, 10, b"spliced");
        let c = sealed(&ours, 20, b"third");
        assert!(matches!(v.check(&framed(&a)), Verdict::Authentic(_)));
        assert!(matches!(v.check(&framed(&b)), Verdict::Rejected));
        assert!(matches!(v.check(&framed(&c)), Verdict::Authentic(_)));
    }

    #[test]
    fn each_transfer_id_keeps_its_own_salt_when_ids_alternate() {
        let ours = Signer::new(key(1), [1; SALT_LEN]);
        let theirs = Signer::new(key(1), [2; SALT_LEN]);
        let with_id = |signer: &Signer, id: u16| {
            let h = Header {
                transfer_id: id,
                ..header(0, 4)
            };
            let (h, t) = signer.seal(&h, b"data");
            [&h[..], b"data", &t[..]].concat()
        };
        let mut v = Verifier::new(key(1));
        let mut verdicts = String::new();
        for (signer, id) in [
            (&ours, 7),
            (&theirs, 8),
            (&theirs, 7),
            (&ours, 8),
            (&ours, 7),
        ] {
            let authentic = matches!(
                v.check(&framed(&with_id(signer, id))),
                Verdict::Authentic(_)
            );
            verdicts.push(if authentic { 'A' } else { 'R' });
        }
        assert_eq!(verdicts, "AARRA");
    }

    #[test]
    fn unkeyed_and_damaged_packets_are_told_apart() {
        let signer = Signer::new(key(1), [9; SALT_LEN]);
        let mut bytes = sealed(&signer, 10, b"0123456789");
        bytes[HEADER_LEN + 3] ^= 1;
        let mut v = Verifier::new(key(1));
        assert!(matches!(v.check(&framed(&bytes)), Verdict::Damaged));
        let h = Header {
            payload_crc: Header::crc_of(b"plain"),
            ..header(0, 5)
        };
        let mut plain = [0; HEADER_LEN];
        h.encode(&mut plain);
        let plain = [&plain[..], b"plain"].concat();
        assert!(matches!(v.check(&framed(&plain)), Verdict::Unkeyed));
    }

    /// The test vector of pktize(5), Keyed packets: the header bytes and the tag printed
    /// there.
    #[test]
    fn the_manual_test_vector_holds() {
        let secret: Vec<u8> = (0..32).collect();
        let data = b"pktools test data";
        let h = Header {
            keyed: true,
            payload_len: (data.len() + TRAILER_LEN) as u16,
            seq: 3,
            ..header(30, 0)
        };
        assert_eq!(
            hex(&h.tag_input()),
            "706b010a00290000000700000003000000000000001e00000000006400000000"
        );
        let tag = Key::from_secret(&secret)
            .unwrap()
            .tag(&h, data, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(hex(&tag), "b3957e90d43b31fcf0ab44f2142b3c35");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_crc_of_the_data_comes_back_from_the_crc_of_the_payload() {
        let bytes: Vec<u8> = (0..2000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
            .collect();
        for trailer_len in [TRAILER_LEN, SEALED_TRAILER_LEN] {
            for len in [0, 1, 7, 1000, 1968] {
                let (data, tail) = bytes[..len + trailer_len].split_at(len);
                let whole = Header::crc_of(&bytes[..len + trailer_len]);
                assert_eq!(
                    crc_without(whole, tail),
                    Header::crc_of(data),
                    "length {len}, trailer {trailer_len}"
                );
            }
        }
    }

    #[test]
    fn a_short_secret_gives_no_key() {
        assert!(Key::from_secret(&[0; KEY_MIN_LEN - 1]).is_none());
        assert!(Key::from_secret(&[0; KEY_MIN_LEN]).is_some());
        assert_eq!(format!("{:?}", key(1)), "Key(..)");
    }
}

#[cfg(test)]
mod sealed_tests {
    use super::*;
    use crate::wire::Kind;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The test vector of pktize(5), Encrypted packets.
    #[test]
    fn the_manual_test_vector_of_an_encrypted_packet_holds() {
        let secret: Vec<u8> = (0..32).collect();
        let salt: LongSalt = std::array::from_fn(|i| i as u8 + 1);
        let signer = Signer::encrypting(Key::from_secret(&secret).unwrap(), salt);
        let h = Header {
            kind: Kind::Data,
            last: false,
            keyed: false,
            encrypted: false,
            payload_len: 0,
            transfer_id: 7,
            seq: 3,
            offset: 30,
            total_len: Some(100),
            payload_crc: 0,
            parity: None,
        };
        let mut packet = Vec::new();
        signer.seal_into(&h, b"pktools test data", &mut packet);
        let parsed = Header::parse(&packet).unwrap();
        assert_eq!(
            hex(&parsed.tag_input()),
            "706b018a00310000000700000003000000000000001e00000000006400000000"
        );
        let root = blake3::derive_key(CIPHER_CONTEXT, &secret);
        assert_eq!(
            hex(blake3::keyed_hash(&root, &salt).as_bytes()),
            "dae3d0e452dceae697ad216b44c841a7e8f009024340f2fd9cef786bc13d77bb"
        );
        assert_eq!(
            hex(&crate::wire::seal::nonce(&parsed)),
            "00000000000000000000001e"
        );
        // Ciphertext and tag as Python's `cryptography` AESGCM computes them from the
        // transfer key, nonce and header0 above.
        assert_eq!(
            hex(&packet),
            "706b018a0031cb83000700000003000000000000001e000000000064a5254f60\
             76ca166eef1af02bc2f27562890fa4230e\
             0102030405060708090a0b0c0d0e0f10\
             2257ba9cdf196b46d6b731b66f528755"
        );
        let opened = Verifier::new(Key::from_secret(&secret).unwrap()).check(&Packet::new(
            parsed,
            &packet[HEADER_LEN..],
            true,
            false,
        ));
        assert!(matches!(opened, Verdict::Opened(p) if p.header.data_len() == 17));
    }

    fn data_header(offset: u64) -> Header {
        Header {
            kind: Kind::Data,
            last: false,
            keyed: false,
            encrypted: false,
            payload_len: 0,
            transfer_id: 9,
            seq: (offset / 10) as u32,
            offset,
            total_len: Some(100),
            payload_crc: 0,
            parity: None,
        }
    }

    fn framed(bytes: &[u8]) -> Packet<'_> {
        let h = Header::parse(bytes).unwrap();
        let intact = h.payload_matches(&bytes[HEADER_LEN..]);
        Packet::new(h, &bytes[HEADER_LEN..], intact, false)
    }

    #[test]
    fn an_opened_packet_gives_its_plaintext_and_keeps_its_ciphertext() {
        let key = Key::from_secret(&[5; 32]).unwrap();
        let ours = Signer::encrypting(key.clone(), [1; SEALED_SALT_LEN]);
        let theirs = Signer::encrypting(key.clone(), [2; SEALED_SALT_LEN]);
        let keyed = Signer::new(key.clone(), [1; SALT_LEN]);
        let seal = |s: &Signer, offset: u64, data: &[u8]| {
            let mut out = Vec::new();
            s.seal_into(&data_header(offset), data, &mut out);
            out
        };
        let mut v = Verifier::new(key);
        let a = seal(&ours, 0, b"0123456789");
        assert!(!a.windows(10).any(|w| w == b"0123456789"));
        match v.check(&framed(&a)) {
            Verdict::Opened(p) => {
                assert_eq!(p.payload, &a[HEADER_LEN..HEADER_LEN + 10]);
                assert_eq!(p.header.payload_crc, Header::crc_of(p.payload));
                assert!(!p.header.keyed && p.header.encrypted);
                assert_eq!(v.plain(), b"0123456789");
                // What parity rebuilds of it, deciphered by its place alone.
                let mut rebuilt = p.payload.to_vec();
                assert!(v.decipher(&p.header, &mut rebuilt));
                assert_eq!(rebuilt, b"0123456789");
            }
            other => panic!("{other:?}"),
        }
        // Another transfer with the same key and id, a keyed one, a forgery: rejected.
        for bytes in [seal(&theirs, 10, b"spliced"), seal(&keyed, 10, b"keyed"), {
            let mut f = seal(&ours, 10, b"forged");
            f[HEADER_LEN] ^= 1;
            let mut h = Header::parse(&f).unwrap();
            h.payload_crc = Header::crc_of(&f[HEADER_LEN..]);
            h.with_payload(&f[HEADER_LEN..])
        }] {
            assert!(matches!(v.check(&framed(&bytes)), Verdict::Rejected));
        }
        assert!(matches!(
            v.check(&framed(&seal(&ours, 20, b"third"))),
            Verdict::Opened(_)
        ));
        assert_eq!(v.plain(), b"third");
        // Two encrypted transfers taking turns each keep their own salt and cipher.
        let other_id = |s: &Signer, offset: u64, data: &[u8]| {
            let mut out = Vec::new();
            let h = Header {
                transfer_id: 11,
                ..data_header(offset)
            };
            s.seal_into(&h, data, &mut out);
            out
        };
        for (n, bytes) in [
            other_id(&theirs, 0, b"theirs 0"),
            seal(&ours, 30, b"ours 30"),
            other_id(&theirs, 10, b"theirs 10"),
            other_id(&ours, 20, b"ours, wrong id"),
        ]
        .iter()
        .enumerate()
        {
            let opened = matches!(v.check(&framed(bytes)), Verdict::Opened(_));
            assert_eq!(opened, n < 3, "packet {n}");
        }
        let mut rebuilt = other_id(&theirs, 40, b"rebuilt")[HEADER_LEN..HEADER_LEN + 7].to_vec();
        assert!(v.decipher(
            &Header {
                transfer_id: 11,
                ..data_header(40)
            },
            &mut rebuilt
        ));
        assert_eq!(rebuilt, b"rebuilt");
        // A transfer not encrypted is not deciphered.
        assert!(!v.decipher(
            &Header {
                transfer_id: 10,
                ..data_header(0)
            },
            &mut [0; 4]
        ));
    }
}
