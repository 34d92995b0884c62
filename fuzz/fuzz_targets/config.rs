#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = mtls_gate_fuzz::core_targets::config(data);
});
