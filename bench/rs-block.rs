//! The fountain code's own speed, for `bench/bench-fountain.sh` (issue 30): what
//! reed-solomon-simd's low-rate coder, which `pktize --fountain` and `unpktize` use,
//! costs one source block when nothing else is done (no packets, no store, no output), so
//! that the programs' ratio to `cat | cat` can be set against the most it could be.
//!
//! ```text
//! bench-rs-block encode|decode MIB
//! ```
//!
//! encodes (or decodes) blocks of 2048 data shards of 1 KiB, each with 2048 repair shards
//! (decoding: 20% of the data lost, rebuilt from as many repair shards, after encoding
//! one block to have them), until MIB
//! mebibytes of data are coded, and prints nothing: the script takes its time.

use reed_solomon_simd::engine::DefaultEngine;
use reed_solomon_simd::rate::{LowRateDecoder, LowRateEncoder, RateDecoder, RateEncoder};
use std::process::ExitCode;

const K: usize = 2048;
const S: usize = 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match &args[..] {
        [mode, mib] => mib.parse::<usize>().ok().map(|mib| (mode.as_str(), mib)),
        _ => None,
    };
    let Some((mode @ ("encode" | "decode"), mib)) = parsed else {
        eprintln!("usage: bench-rs-block encode|decode MIB");
        return ExitCode::from(2);
    };
    let blocks = (mib << 20).div_ceil(K * S).max(1);
    let data: Vec<Vec<u8>> = (0..K)
        .map(|i| (0..S).map(|j| (i * 31 + j * 7) as u8).collect())
        .collect();
    let mut encoder =
        LowRateEncoder::<DefaultEngine>::new(K, K, S, DefaultEngine::new(), None).expect("sizes");
    let encode = |encoder: &mut LowRateEncoder<DefaultEngine>| {
        for d in &data {
            encoder.add_original_shard(d).expect("a shard");
        }
        let result = encoder.encode().expect("encodes");
        let repair: Vec<Vec<u8>> = (0..K)
            .map(|i| result.recovery(i).expect("a repair shard").to_vec())
            .collect();
        drop(result);
        encoder.reset(K, K, S).expect("sizes");
        repair
    };
    let mut repair = encode(&mut encoder);
    if mode == "encode" {
        for _ in 1..blocks {
            repair = encode(&mut encoder);
        }
        std::hint::black_box(&repair);
        return ExitCode::SUCCESS;
    }
    let lost = K / 5;
    let mut decoder =
        LowRateDecoder::<DefaultEngine>::new(K, K, S, DefaultEngine::new(), None).expect("sizes");
    for _ in 0..blocks {
        for (i, d) in data.iter().enumerate().skip(lost) {
            decoder.add_original_shard(i, d).expect("a shard");
        }
        for (i, r) in repair.iter().enumerate().take(lost) {
            decoder.add_recovery_shard(i, r).expect("a shard");
        }
        let result = decoder.decode().expect("decodes");
        if result.restored_original(0) != Some(&data[0][..]) {
            eprintln!("bench-rs-block: decoded wrongly");
            return ExitCode::FAILURE;
        }
        drop(result);
        decoder.reset(K, K, S).expect("sizes");
    }
    ExitCode::SUCCESS
}
