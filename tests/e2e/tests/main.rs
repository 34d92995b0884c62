//! End to end through real Envoy 1.40, the real filter `.wasm`, the real shim and real TLS.
//!
//! One test binary, not one per file (Cargo.toml: `autotests = false` and one `[[test]]`):
//! when the test support linked wasmtime, a dozen binaries filled a CI disk, and one binary
//! still builds and links once. A new file here is a `mod` below.
//!
//! Needs, besides Envoy, the release filter and the release shim: the `echo-upstream` tool
//! built in the same profile (`cargo build -p mtls-gate-tools --bin echo-upstream`);
//! `make test-e2e` builds all of them.

mod admin_mtls;
mod audit;
mod ca_trust;
mod certificate_auth;
mod dashboard;
mod envoy_smoke;
mod fingerprint_forms;
mod hostile_input;
mod import;
mod infra;
mod live_config;
mod live_tls;
mod make_run;
mod native_module;
mod readme_recipes;
mod security;
mod soak;
mod static_mtls;
mod store_outage;
mod tls_layer;
mod upstream_certificates;
mod upstream_tls;
