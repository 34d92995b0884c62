//! mtls-gate proxy-wasm filter: thin glue between the proxy-wasm ABI and `mtls_gate_core`.
//!
//! - [`root_context`]: configuration (`on_configure`), metrics, the sync tick.
//! - [`http_context`]: one request — read, decide (in the core), apply.
//! - [`host`]: the only module that calls the host; it never panics on host data.
//! - [`facts`], [`store_view`]: the core's `RequestFacts` / `StoreView` over Envoy.
//! - [`sync`]: the lease and the change feed.

pub mod facts;
pub mod host;
pub mod http_context;
pub mod metrics;
pub mod root_context;
pub mod store_view;
pub mod sync;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root_context::GateRoot::default())
    });
}}
