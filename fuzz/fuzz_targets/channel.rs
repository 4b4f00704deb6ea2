#![no_main]
//! Fuzz target: see `pktools_fuzz::channel`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pktools_fuzz::channel(data));
