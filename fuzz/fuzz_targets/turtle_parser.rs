//! `cargo +nightly fuzz run turtle_parser`: see `dtag::fuzzing::turtle_parser` for the input and the
//! invariants checked. `scripts/fuzz.sh` runs every target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dtag::fuzzing::turtle_parser(data);
});
