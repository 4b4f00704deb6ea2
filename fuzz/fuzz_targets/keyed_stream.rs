#![no_main]
//! Fuzz target: see `pktools_fuzz::keyed_stream`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pktools_fuzz::keyed_stream(data));
