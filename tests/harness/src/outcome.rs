//! What a test sees of a stream after driving it: plain snapshots, no borrow of the worker.

use super::state::Stream;
use std::collections::BTreeMap;

/// What a `proxy_on_request_headers` (or body, response headers) callback returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `0`: Envoy goes on to the next filter.
    Continue,
    /// `1` (`StopIteration`): Envoy holds the stream until the plugin continues it.
    Pause,
    /// Any other value; Envoy has more `Filter*Status` values, the Rust SDK never returns them.
    Other(u32),
}

impl Action {
    pub(crate) fn from_abi(raw: i32) -> Action {
        match raw {
            0 => Action::Continue,
            1 => Action::Pause,
            other => Action::Other(other as u32),
        }
    }
}

/// A response the plugin sent with `proxy_send_local_response`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u32,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// The response code details, as the plugin passed them (Envoy would replace spaces
    /// with underscores in its access log).
    pub details: String,
    /// `-1` when the plugin set no gRPC status.
    pub grpc_status: i32,
}

impl LocalResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An outgoing call made with `proxy_http_call`, waiting for the test to answer it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCall {
    pub token: u32,
    /// The context that dispatched it (the root context id, or a stream's).
    pub context_id: u32,
    /// The cluster name.
    pub upstream: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    pub timeout_ms: u32,
}

impl HttpCall {
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }
}

/// The state of one stream after a host-driven event.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub(crate) context_id: u32,
    pub(crate) action: Action,
    pub(crate) local_response: Option<LocalResponse>,
    pub(crate) request_headers: Vec<(String, String)>,
    pub(crate) request_trailers: Option<Vec<(String, String)>>,
    pub(crate) response_headers: Option<Vec<(String, String)>>,
    pub(crate) request_body: Option<Vec<u8>>,
    pub(crate) property_reads: BTreeMap<String, usize>,
    pub(crate) property_writes: Vec<(String, Vec<u8>)>,
    pub(crate) foreign_calls: Vec<(String, Vec<u8>)>,
    pub(crate) http_calls: Vec<HttpCall>,
    pub(crate) paused: bool,
    pub(crate) reset: bool,
    pub(crate) route_cache_clears: usize,
    pub(crate) host_calls: BTreeMap<&'static str, usize>,
    pub(crate) wasm_fuel: u64,
    pub(crate) fuel_at_calls: Vec<(&'static str, u64)>,
}

impl Outcome {
    pub(crate) fn snapshot(context_id: u32, action: Action, stream: &Stream) -> Outcome {
        Outcome {
            context_id,
            action,
            local_response: stream.local_response.clone(),
            request_headers: stream.request_headers.to_pairs(),
            request_trailers: stream.request_trailers.as_ref().map(|m| m.to_pairs()),
            response_headers: stream.response_headers.as_ref().map(|m| m.to_pairs()),
            request_body: stream.request_body.clone(),
            property_reads: stream.property_reads.clone(),
            property_writes: stream.property_writes.clone(),
            foreign_calls: stream.foreign_calls.clone(),
            http_calls: stream.http_calls.clone(),
            paused: stream.request_paused,
            reset: stream.reset,
            route_cache_clears: stream.route_cache_clears,
            host_calls: stream.host_calls.clone(),
            wasm_fuel: stream.wasm_fuel,
            fuel_at_calls: stream.fuel_at_calls.clone(),
        }
    }

    pub fn context_id(&self) -> u32 {
        self.context_id
    }

    /// What the callback returned. For an outcome reported by
    /// [`Worker::respond_http_call`](super::Worker::respond_http_call): `Continue` when the
    /// plugin resumed the stream, `Pause` when it is still held or answered locally.
    pub fn action(&self) -> Action {
        self.action
    }

    pub fn local_response(&self) -> Option<&LocalResponse> {
        self.local_response.as_ref()
    }

    /// True when Envoy would pass the request upstream now: not held, not answered
    /// locally, not reset.
    pub fn is_forwarded(&self) -> bool {
        !self.paused && self.local_response.is_none() && !self.reset
    }

    /// True while the request waits for the plugin to continue it.
    pub fn is_paused(&self) -> bool {
        self.paused && self.local_response.is_none() && !self.reset
    }

    /// The plugin reset the stream (`proxy_close_stream`).
    pub fn was_reset(&self) -> bool {
        self.reset
    }

    /// The request headers as the plugin left them.
    pub fn request_headers(&self) -> &[(String, String)] {
        &self.request_headers
    }

    /// The first value of a request header as the plugin left it.
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.request_headers, name)
    }

    /// The request trailers as the plugin left them, once they were sent
    /// ([`Worker::request_trailers`](super::Worker::request_trailers)).
    pub fn request_trailers(&self) -> Option<&[(String, String)]> {
        self.request_trailers.as_deref()
    }

    /// The first value of a request trailer as the plugin left it.
    pub fn request_trailer(&self, name: &str) -> Option<&str> {
        find(self.request_trailers.as_deref().unwrap_or_default(), name)
    }

    /// The response headers as the plugin left them, once the response phase ran.
    pub fn response_headers(&self) -> Option<&[(String, String)]> {
        self.response_headers.as_deref()
    }

    pub fn response_header(&self, name: &str) -> Option<&str> {
        find(self.response_headers.as_deref().unwrap_or_default(), name)
    }

    pub fn request_body(&self) -> Option<&[u8]> {
        self.request_body.as_deref()
    }

    /// How many times this stream's callbacks read the property (dotted path), so far.
    pub fn property_reads(&self, path: &str) -> usize {
        self.property_reads.get(path).copied().unwrap_or(0)
    }

    /// Properties this stream wrote with `proxy_set_property`, in order (dotted paths).
    pub fn property_writes(&self) -> &[(String, Vec<u8>)] {
        &self.property_writes
    }

    /// `proxy_call_foreign_function` calls made by this stream: (name, arguments).
    pub fn foreign_calls(&self) -> Vec<(String, Vec<u8>)> {
        self.foreign_calls.clone()
    }

    /// HTTP calls this stream dispatched so far, answered or not.
    pub fn http_calls(&self) -> &[HttpCall] {
        &self.http_calls
    }

    /// How many times Envoy would have cleared the route cache for this stream: each
    /// request-header change (ABI 0.2.1) and each successful `clear_route_cache` call.
    pub fn route_cache_clears(&self) -> usize {
        self.route_cache_clears
    }

    /// Host calls (`env` imports) this stream's callbacks made so far, by import name,
    /// e.g. `proxy_get_property`. Calls in the root context (ticks, sync) are not counted.
    pub fn host_calls(&self) -> &BTreeMap<&'static str, usize> {
        &self.host_calls
    }

    /// How many times this stream called `import` so far.
    pub fn host_call_count(&self, import: &str) -> usize {
        self.host_calls.get(import).copied().unwrap_or(0)
    }

    /// Wasm fuel (about one unit per wasm instruction) this stream's callbacks burnt so
    /// far, the work inside host calls not counted: a path's own cost, the same on every
    /// machine for one `.wasm`.
    pub fn wasm_fuel(&self) -> u64 {
        self.wasm_fuel
    }

    /// Each host call this stream made so far, in order, with the wasm fuel its callbacks
    /// had burnt when it was made: where a path's fuel goes between host calls.
    pub fn fuel_at_calls(&self) -> &[(&'static str, u64)] {
        &self.fuel_at_calls
    }

    /// Every host call this stream made so far.
    pub fn total_host_calls(&self) -> usize {
        self.host_calls.values().sum()
    }
}

fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
