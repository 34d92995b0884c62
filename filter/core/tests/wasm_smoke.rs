//! Proves that `make test-wasm` really runs the core's tests on `wasm32-wasip1`, the filter's
//! own target, under the harness's WASI: this test checks where it runs. (A native `cargo
//! test` compiles none here.)

#![cfg(target_arch = "wasm32")]

#[test]
fn runs_on_the_filters_own_target() {
    assert_eq!(std::env::consts::ARCH, "wasm32");
    assert!(cfg!(target_os = "wasi"));
    assert_eq!(usize::BITS, 32);
    // The core's JSON dependency works on this target too.
    let config = serde_json::from_str::<serde_json::Value>(r#"{"apis": []}"#).ok();
    assert_eq!(config, Some(serde_json::json!({ "apis": [] })));
}
