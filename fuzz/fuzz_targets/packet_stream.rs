#![no_main]
//! Fuzz target: see `pktools_fuzz::packet_stream`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pktools_fuzz::packet_stream(data));
