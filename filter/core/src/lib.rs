//! mtls-gate core: the pure decisions and wire formats, shared by the filter and the shim.
//!
//! Nothing here touches the proxy-wasm ABI, so every rule is testable natively, on wasm32,
//! and through the harness. The filter (`filter/`) and the shim (`host-shim/`) import their
//! formats from here, so each format is defined once.

// Library code may not panic (the filter would trap); tests may.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod allow_list;
pub mod api_match;
pub mod authority;
pub mod cert_ref;
pub mod certificate;
pub mod config;
pub mod decision;
pub mod denial;
pub mod domain;
pub mod feed;
pub mod fingerprint;
pub mod headers;
pub mod ids;
pub mod listen_path;
pub mod lookup_budget;
pub mod mux_template;
pub mod negative_cache;
pub mod org_id;
pub mod pem;
pub mod request_path;
pub mod session;
pub mod shared_data;
pub mod upstream;
pub mod xfcc;
