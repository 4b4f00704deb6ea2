#![no_main]
//! Fuzz target: see `pktools_fuzz::pnm`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pktools_fuzz::pnm(data));
