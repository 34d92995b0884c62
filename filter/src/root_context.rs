//! The root context: proxy-wasm's configuration, tick and callout callbacks, forwarded to
//! the worker's [`GateRoot`] with the Envoy host.

use crate::host::EnvoyHost;
use crate::http_context::GateHttpContext;
use mtls_gate_core::gate_root::GateRoot;
use mtls_gate_core::store_call::CallResponse;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

#[derive(Default)]
pub struct GateRootContext {
    gate: GateRoot,
}

impl Context for GateRootContext {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let response = CallResponse {
            token: token_id,
            num_headers,
            body_size,
        };
        self.gate.on_call_response(&EnvoyHost, &response);
    }
}

impl RootContext for GateRootContext {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        self.gate.configure(&EnvoyHost)
    }

    fn on_tick(&mut self) {
        self.gate.on_tick(&EnvoyHost);
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // The SDK panics on `None`, so an unconfigured root still answers, failing closed.
        Some(Box::new(GateHttpContext::new(self.gate.new_request())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
