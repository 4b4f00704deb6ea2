#![no_main]
//! Fuzz target: see `pktools_fuzz::rawvideo`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pktools_fuzz::rawvideo(data));
