//! The empty proxy-wasm filter `make bench` measures as the floor of any wasm filter: a root
//! context that creates an HTTP context per request, and an HTTP context that keeps every
//! default callback (each answers `Continue` without a host call). What Envoy spends on it
//! is the cost of having a V8 filter in the chain at all; the bench reports mtls-gate's cost
//! against it (issue 14).

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(EmptyRoot) });
}}

struct EmptyRoot;

impl Context for EmptyRoot {}

impl RootContext for EmptyRoot {
    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(EmptyRequest))
    }
}

struct EmptyRequest;

impl Context for EmptyRequest {}

impl HttpContext for EmptyRequest {}
