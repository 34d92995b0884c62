//! End to end through real Envoy 1.40, the real filter `.wasm`, the real shim and real TLS.
//!
//! One test binary, not one per file: each binary links the whole test-support crate
//! (wasmtime included), and a dozen of them filled a CI disk.

mod audit;
mod certificate_auth;
mod envoy_smoke;
mod infra;
mod security;
mod static_mtls;
mod store_outage;
mod upstream_certificates;
