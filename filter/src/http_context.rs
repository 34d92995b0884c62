//! The HTTP context: proxy-wasm's request callbacks, forwarded to core's [`GateRequest`]
//! with the Envoy host.

use crate::host::EnvoyHost;
use mtls_gate_core::gate_request::{Flow, GateRequest};
use mtls_gate_core::store_call::CallResponse;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

pub struct GateHttpContext {
    request: GateRequest,
}

impl GateHttpContext {
    pub fn new(request: GateRequest) -> Self {
        GateHttpContext { request }
    }
}

fn action(flow: Flow) -> Action {
    match flow {
        Flow::Continue => Action::Continue,
        Flow::Pause => Action::Pause,
    }
}

impl Context for GateHttpContext {
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
        self.request.on_call_response(&EnvoyHost, &response);
    }
}

impl HttpContext for GateHttpContext {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        action(self.request.on_request_headers(&EnvoyHost))
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        action(self.request.on_request_trailers(&EnvoyHost))
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        action(self.request.on_response_headers(&EnvoyHost))
    }
}
