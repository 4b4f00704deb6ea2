//! The cipher's own speed, for `bench/bench-keyed.sh` (issue 32): what AES-256-GCM, as
//! `pktize --encrypt` and `unpktize --key` use it ([`TransferCipher`]), costs a payload
//! when nothing else is done, so that the encrypted spine's ratio to the unkeyed one can be
//! set against the most it could be.
//!
//! ```text
//! bench-aead seal|open PAYLOAD_BYTES MIB
//! ```
//!
//! seals (or opens) MIB mebibytes of payloads of PAYLOAD_BYTES each, in one buffer that
//! stays in cache, and prints nothing: the script takes its CPU time. Opening copies the
//! sealed payload and its tag first, as the receiver does.

use pktools::wire::seal::TransferCipher;
use pktools::wire::{Header, Kind, TAG_LEN};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match &args[..] {
        [mode, len, mib] => len
            .parse::<usize>()
            .ok()
            .zip(mib.parse::<u64>().ok())
            .filter(|&(len, _)| (1..=65_000).contains(&len))
            .map(|(len, mib)| (mode.as_str(), len, mib)),
        _ => None,
    };
    let Some((mode @ ("seal" | "open"), len, mib)) = parsed else {
        eprintln!("usage: bench-aead seal|open PAYLOAD_BYTES MIB");
        return ExitCode::from(2);
    };
    let cipher = TransferCipher::new(&[7; 32], &[9; 16]);
    let packets = (mib << 20) / len as u64;
    let mut header = Header {
        kind: Kind::Data,
        last: false,
        keyed: true,
        encrypted: true,
        payload_len: (len + 32) as u16,
        transfer_id: 1,
        seq: 0,
        offset: 0,
        total_len: None,
        payload_crc: 0,
        parity: None,
    };
    let mut data = vec![0x5a; len];
    let mut sum = 0u8;
    if mode == "seal" {
        for n in 0..packets {
            header.offset = n * len as u64;
            let tag = cipher.seal(&header, &mut data);
            sum ^= tag[0];
        }
    } else {
        let mut sealed = data.clone();
        let tag = cipher.seal(&header, &mut sealed);
        sealed.extend_from_slice(&tag);
        let mut work = Vec::with_capacity(len + TAG_LEN);
        for _ in 0..packets {
            work.clear();
            work.extend_from_slice(&sealed);
            match cipher.open(&header, &mut work) {
                Some(plain) => sum ^= plain[0],
                None => {
                    eprintln!("bench-aead: error: a sealed payload did not open");
                    return ExitCode::from(2);
                }
            }
        }
    }
    // Keep the work from being optimised away.
    std::hint::black_box(sum);
    ExitCode::SUCCESS
}
