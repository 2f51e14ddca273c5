//! `cargo +nightly fuzz run model_file`: see `dtag::fuzzing::model_file` for the input layout and the
//! invariants checked. `scripts/fuzz.sh` runs every target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dtag::fuzzing::model_file(data);
});
