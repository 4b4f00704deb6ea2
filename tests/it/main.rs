//! The one integration-test binary: it links the library once. A module per program,
//! and the cases every program shares.

mod auth;
mod boundaries;
mod carousel;
mod combos;
#[allow(dead_code)]
mod common;
mod conceal;
mod contract;
mod corrupt;
mod datagrams;
mod descriptor;
mod faults;
mod fec;
mod ffmpeg;
mod fountain;
mod fuzz_corpus;
mod honest;
mod hostile;
mod install;
mod jpeg;
mod layering;
mod limits;
mod manual;
mod netcat;
mod pktize;
mod ppm2bmp;
mod ppm2bmp_errors;
mod raw2ppm;
mod raw2ppm_yuv;
mod readme;
mod regressions;
mod resume;
mod same_file;
mod unpktize;
mod video;
mod wire_contract;
