//! mtls-gate proxy-wasm filter: thin glue between the proxy-wasm ABI and `mtls_gate_core`,
//! which holds every rule (the decision, sync, lookup, admission) over its `Host` trait.
//!
//! - [`host`]: core's `Host` over `proxy_wasm::hostcalls`, the only module that calls the
//!   host; it never panics on host data. Also the panic hook.
//! - [`abi`]: the one host call made without the SDK (the request headers, read in place),
//!   and the crate's only `unsafe`.
//! - [`root_context`]: proxy-wasm's root callbacks → `mtls_gate_core::gate_root`.
//! - [`http_context`]: proxy-wasm's request callbacks → `mtls_gate_core::gate_request`.

pub mod abi;
pub mod host;
pub mod http_context;
pub mod root_context;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(host::LOG_LEVEL);
    // After set_log_level, which installs the SDK's own hook.
    host::log_panics();
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root_context::GateRootContext::default())
    });
}}
