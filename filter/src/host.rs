//! The one adapter between mtls-gate and the proxy-wasm host: core's [`Host`] over
//! `proxy_wasm::hostcalls`. No other file of the filter calls the host.
//!
//! Every host call goes through `proxy_wasm::hostcalls` and its `Result`s, never the
//! SDK's trait helpers: those `unwrap()` host statuses, and `get_http_request_header`
//! panics on a non-UTF-8 value that any client can send. A panic traps the VM.

use crate::abi;
use mtls_gate_core::header_map::HeaderMap;
use mtls_gate_core::host::{Host, HostError, LogLevel};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel as ProxyLogLevel, MapType, MetricType, Status};
use std::fmt;
use std::time::Duration;

/// The level the filter logs at; Envoy filters further by its own.
pub const LOG_LEVEL: ProxyLogLevel = ProxyLogLevel::Info;

/// The proxy-wasm host of this VM. It keeps no state: every call goes to Envoy.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvoyHost;

/// A panic traps the VM and takes every request on that worker with it: say why first,
/// through the host's log, so it is in Envoy's log next to the trap. Replaces the SDK's
/// hook (installed by `proxy_wasm::set_log_level`), which unwraps the log call.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|panic| {
        let _ = hostcalls::log(
            ProxyLogLevel::Critical,
            &format!("mtls-gate: panic, the VM traps: {panic}"),
        );
    }));
}

fn host_error(status: Status) -> HostError {
    match status {
        Status::NotFound => HostError::NotFound,
        Status::BadArgument => HostError::BadArgument,
        Status::SerializationFailure => HostError::SerializationFailure,
        Status::ParseFailure => HostError::ParseFailure,
        Status::Empty => HostError::Empty,
        Status::CasMismatch => HostError::CasMismatch,
        // `InternalFailure`, and statuses the SDK may add (`Ok` never comes as an error).
        _ => HostError::InternalFailure,
    }
}

impl Host for EnvoyHost {
    /// Through [`abi::now_nanos`]: no 128-bit arithmetic on the request path.
    fn now_ms(&self) -> i64 {
        abi::now_nanos().map_or(0, |nanos| {
            i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
        })
    }

    /// Through the SDK's logger, which drops what is below [`LOG_LEVEL`] without a host call.
    fn log(&self, level: LogLevel, message: fmt::Arguments<'_>) {
        let level = match level {
            LogLevel::Trace => log::Level::Trace,
            LogLevel::Debug => log::Level::Debug,
            LogLevel::Info => log::Level::Info,
            LogLevel::Warn => log::Level::Warn,
            LogLevel::Error | LogLevel::Critical => log::Level::Error,
        };
        log::log!(level, "{message}");
    }

    fn plugin_configuration(&self) -> Option<Vec<u8>> {
        hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
    }

    fn set_tick_period(&self, period: Duration) {
        let _ = hostcalls::set_tick_period(period);
    }

    /// Empty values (tombstones) come back as `Some(empty)` or `None`, as the SDK reads them.
    fn shared_get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        hostcalls::get_shared_data(key).unwrap_or((None, None))
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), HostError> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(host_error)
    }

    fn dispatch_http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<u32, HostError> {
        hostcalls::dispatch_http_call(cluster, headers.to_vec(), None, vec![], timeout)
            .map_err(host_error)
    }

    fn callout_response_header(&self, name: &str) -> Option<Vec<u8>> {
        hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, name)
            .ok()
            .flatten()
    }

    fn callout_response_body(&self, size: usize) -> Option<Vec<u8>> {
        hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, size)
            .ok()
            .flatten()
    }

    fn define_counter(&self, name: &str) -> Option<u32> {
        hostcalls::define_metric(MetricType::Counter, name).ok()
    }

    fn increment_counter(&self, id: u32) {
        let _ = hostcalls::increment_metric(id, 1);
    }

    /// Through [`abi::property`]: the path serialized on the stack.
    fn property(&self, dotted_path: &str) -> Option<Vec<u8>> {
        abi::property(dotted_path)
    }

    /// Invalid UTF-8 is replaced, not trusted and never trapped on.
    fn request_header(&self, name: &str) -> Option<String> {
        hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name)
            .ok()
            .flatten()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// One `proxy_get_header_map_pairs` instead of a call per header, read in place
    /// ([`abi::request_header_map`]).
    fn request_header_pairs(&self) -> Option<HeaderMap> {
        abi::request_header_map().and_then(HeaderMap::parse)
    }

    fn set_request_header(&self, name: &str, value: &str) {
        let _ = hostcalls::set_map_value_bytes(
            MapType::HttpRequestHeaders,
            name,
            Some(value.as_bytes()),
        );
    }

    fn remove_request_header(&self, name: &str) {
        let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name);
    }

    fn remove_request_trailer(&self, name: &str) {
        let _ = hostcalls::remove_map_value(MapType::HttpRequestTrailers, name);
    }

    /// Only called from `on_http_response_headers`, where Envoy has the map (measured:
    /// `envoy-config/ENVOY-FACTS.md`); the request headers are not readable there.
    fn response_header(&self, name: &str) -> Option<String> {
        hostcalls::get_map_value_bytes(MapType::HttpResponseHeaders, name)
            .ok()
            .flatten()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    fn send_local_response(&self, status: u32, body: &str) {
        let _ = hostcalls::send_http_response(
            status,
            vec![("content-type", "application/json")],
            Some(body.as_bytes()),
        );
    }

    fn resume_request(&self) {
        let _ = hostcalls::resume_http_request();
    }

    /// Nothing to do, so no host call: under proxy-wasm ABI 0.2.1 Envoy clears the route
    /// cache on every request-header write, and the routing header was just written
    /// (measured on Envoy 1.40: `envoy-config/ENVOY-FACTS.md` "Routing"). Envoy's
    /// `clear_route_cache` foreign function would clear it a second time.
    fn clear_route_cache(&self) {}
}
