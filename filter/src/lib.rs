//! mtls-gate proxy-wasm filter: thin glue between the proxy-wasm ABI and `mtls_gate_core`.
