#![no_main]
//! Fuzz target: see `swill_fuzz::client`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|steps: Vec<swill_fuzz::ClientStep>| swill_fuzz::client(&steps));
