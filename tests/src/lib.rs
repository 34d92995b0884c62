//! Test support for mtls-gate.
//!
//! - [`host`]: a native proxy-wasm ABI 0.2.1 host on wasmtime that loads the real filter `.wasm`.
//! - [`e2e`]: process management for end-to-end tests over a real Envoy and the real shim.

pub mod e2e;
pub mod host;
