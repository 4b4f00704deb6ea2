#![no_main]
//! Fuzz target: see `pktools_fuzz::jpeg`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pktools_fuzz::jpeg(data));
