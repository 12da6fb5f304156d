#![no_main]
//! Fuzz target: see `swill_fuzz::server`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: swill_fuzz::ServerInput| swill_fuzz::server(&input));
