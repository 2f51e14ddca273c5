//! `cargo +nightly fuzz run corpus_parser`: see `dtag::fuzzing::corpus_parser` for the input layout and the
//! invariants checked. `scripts/fuzz.sh` runs every target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dtag::fuzzing::corpus_parser(data);
});
