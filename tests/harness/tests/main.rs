//! The proxy-wasm harness and the real filter `.wasm` under it.
//!
//! One test binary, not one per file (Cargo.toml: `autotests = false` and one `[[test]]`):
//! each binary links wasmtime and Cranelift, and a dozen of them filled a CI disk. A new file
//! here is a `mod` below.

mod support;

mod audit;
mod ca_trust;
mod certificate_auth;
mod host_calls;
mod oas;
mod selftest;
mod static_mtls;
mod upstream_routing;
