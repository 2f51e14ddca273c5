//! `cargo +nightly fuzz run request_decoder`: see `dtag::fuzzing::request_decoder` for the input layout and the
//! invariants checked. `scripts/fuzz.sh` runs every target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dtag::fuzzing::request_decoder(data);
});
