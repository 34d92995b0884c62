//! Proves that `make test-wasm` really runs the core's tests as wasm32 under node: this test
//! checks the architecture it runs on. (`#[wasm_bindgen_test]` tests are collected only on
//! wasm32; a native `cargo test` lists none here.)

use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn runs_as_wasm32_under_the_test_runner() {
    assert_eq!(std::env::consts::ARCH, "wasm32");
    assert_eq!(usize::BITS, 32);
    // The core's JSON dependency works on this target too.
    let config = serde_json::from_str::<serde_json::Value>(r#"{"apis": []}"#).ok();
    assert_eq!(config, Some(serde_json::json!({ "apis": [] })));
}
