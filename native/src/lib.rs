//! mtls-gate as a native Envoy dynamic module: the same core (`mtls_gate_core`) as the
//! proxy-wasm filter, loaded by Envoy 1.40's `envoy.filters.http.dynamic_modules` filter
//! instead of a wasm VM. One job per module:
//!
//! - [`abi`]: the C ABI, hand-written: Envoy's callbacks (safe wrappers) and this module's
//!   exported event hooks (pointer checks, panic guard). With `host`, the only `unsafe`.
//! - [`host`]: core's `Host` trait over the ABI.
//! - [`module`]: configuration, per-thread roots, the sync tick, streams.
//! - [`shared_store`]: process-wide shared data with proxy-wasm's CAS rules.

// A panic must never cross into Envoy (each hook also catches one; see `abi::guard`).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod abi;
pub mod host;
pub mod module;
pub mod shared_store;
