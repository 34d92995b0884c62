//! The proxy-wasm harness and the real filter `.wasm` under it.
//!
//! One test binary, not one per file: each binary links wasmtime and Cranelift, and a dozen
//! of them filled a CI disk.

mod support;

mod audit;
mod certificate_auth;
mod selftest;
mod static_mtls;
mod upstream_routing;
