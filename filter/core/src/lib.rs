//! mtls-gate core: the pure decisions and wire formats, shared by the filter and the shim.
//!
//! Nothing here touches the proxy-wasm ABI, so every rule is testable natively, on wasm32,
//! and through the harness. The filter (`filter/`) and the shim (`host-shim/`) import their
//! formats from here, so each format is defined once.

pub mod certificate;
pub mod fingerprint;
pub mod pem;
