#![no_main]
//! Fuzz target: see `swill_fuzz::decode`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| swill_fuzz::decode(data));
