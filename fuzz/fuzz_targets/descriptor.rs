#![no_main]
//! Fuzz target: see `pktools_fuzz::descriptor`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pktools_fuzz::descriptor(data));
