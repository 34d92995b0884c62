//! The one adapter between mtls-gate and the proxy-wasm host.
//!
//! Every host call goes through `proxy_wasm::hostcalls` and its `Result`s, never the
//! SDK's trait helpers: those `unwrap()` host statuses, and `get_http_request_header`
//! panics on a non-UTF-8 value that any client can send. A panic traps the VM.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{MapType, Status};
use std::time::UNIX_EPOCH;

/// A property (`connection.sha256_peer_certificate_digest` …) as raw bytes; `None` when
/// absent or unreadable.
pub fn property(dotted_path: &str) -> Option<Vec<u8>> {
    hostcalls::get_property(dotted_path.split('.').collect())
        .ok()
        .flatten()
}

/// A request header as text. Invalid UTF-8 is replaced, not trusted and never trapped on.
pub fn request_header(name: &str) -> Option<String> {
    hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name)
        .ok()
        .flatten()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

pub fn set_request_header(name: &str, value: &str) {
    let _ =
        hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, name, Some(value.as_bytes()));
}

pub fn remove_request_header(name: &str) {
    let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name);
}

pub fn remove_request_trailer(name: &str) {
    let _ = hostcalls::remove_map_value(MapType::HttpRequestTrailers, name);
}

/// Unix time in milliseconds from the host clock.
pub fn now_ms() -> i64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A shared-data value and its CAS token. Empty values (tombstones) come back as `Some(empty)`.
pub fn shared_get(key: &str) -> (Option<Vec<u8>>, Option<u32>) {
    hostcalls::get_shared_data(key).unwrap_or((None, None))
}

pub fn shared_set(key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Status> {
    hostcalls::set_shared_data(key, Some(value), cas)
}

/// Envoy's `clear_route_cache` foreign function, so the route re-reads the routing
/// header. Envoy builds without it answer `NotFound`; setting a header under ABI 0.2.1
/// clears the cache anyway, so that is not an error.
pub fn clear_route_cache() {
    let _ = hostcalls::call_foreign_function("clear_route_cache", Some(&[]));
}

pub fn send_local_response(status: u32, body: &str) {
    let _ = hostcalls::send_http_response(
        status,
        vec![("content-type", "application/json")],
        Some(body.as_bytes()),
    );
}

pub fn resume_request() {
    let _ = hostcalls::resume_http_request();
}
