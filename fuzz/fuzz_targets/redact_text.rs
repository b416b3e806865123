#![no_main]

#[allow(dead_code)] // each target uses one property
#[path = "../props.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::redact_text(data));
