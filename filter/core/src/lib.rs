//! mtls-gate core: the pure decisions and wire formats, shared by the filter and the shim.
//!
//! Nothing here touches the proxy-wasm ABI, so every rule is testable natively, on wasm32,
//! and through the harness. The filter (`filter/`) and the shim (`host-shim/`) import their
//! formats from here, so each format is defined once.
//!
//! The filter's protocol lives here too, over one [`host::Host`] trait that the filter
//! implements with proxy-wasm host calls and `mock_host::MockHost` implements for tests:
//! - [`gate_root`]: a worker's configuration, counters and caches; [`sync`]: the lease and
//!   the change feed into shared data;
//! - [`gate_request`]: one request (decide, then [`admission`] or a denial); [`lookup`]: the
//!   session lookup on a miss; [`store_view`]: the synced cache as a request reads it;
//!   [`host_facts`]: the connection's properties;
//! - [`store_call`]: the callouts' header set; [`metrics`] and [`headers`]: the names.

// Library code may not panic (the filter would trap); tests may.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod admission;
pub mod allow_list;
pub mod api_match;
pub mod authority;
pub mod bytes_eq;
pub mod cert_ref;
pub mod certificate;
pub mod client_trust;
pub mod config;
pub mod decision;
pub mod denial;
pub mod domain;
pub mod feed;
pub mod fingerprint;
pub mod gate_request;
pub mod gate_root;
pub mod header_map;
pub mod headers;
pub mod host;
pub mod host_facts;
pub mod ids;
pub mod listen_path;
pub mod lookup;
pub mod lookup_budget;
pub mod metrics;
#[cfg(any(test, feature = "mock"))]
pub mod mock_host;
pub mod mux_template;
pub mod negative_cache;
pub mod org_id;
pub mod pem;
pub mod pinning;
pub mod request_path;
pub mod session;
pub mod shared_data;
pub mod store_call;
pub mod store_view;
pub mod sync;
#[cfg(test)]
mod test_support;
pub mod tls_cipher;
pub mod trust;
pub mod upstream;
pub mod xfcc;
