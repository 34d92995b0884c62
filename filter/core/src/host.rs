//! The host, as the filter's protocol needs it: the one seam between mtls-gate's rules and
//! the proxy-wasm ABI (ARCHITECTURE "Workspace"; the Kuadrant wasm-shim pattern).
//!
//! Everything the filter does to Envoy goes through [`Host`]: shared data with CAS, the
//! callouts to the shim, the clock, counters, logs, and the current request's properties and
//! headers. The filter implements it with `proxy_wasm::hostcalls` (`filter/src/host.rs`, the
//! only file that calls the host); `crate::mock_host::MockHost` implements it for unit
//! tests. The rules built on it (sync, lookup, admission) live in this crate once.
//!
//! Every method is infallible where the filter never acted on a failure: a refused header
//! write or metric increment changes nothing the filter could do. An implementation must
//! never panic on host data (a panic traps the VM).

use crate::header_map::HeaderMap;
use std::fmt;
use std::time::Duration;

/// Log levels, as proxy-wasm names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

/// A host call refused, named as proxy-wasm's `Status` names it (so logs read the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostError {
    NotFound,
    BadArgument,
    SerializationFailure,
    ParseFailure,
    Empty,
    /// A shared-data write whose CAS token is no longer the key's (another worker wrote).
    CasMismatch,
    InternalFailure,
}

/// What mtls-gate asks of its host. Methods take `&self`: a worker is single-threaded, and
/// the real host keeps no state of its own.
pub trait Host {
    // ---- clock, logs, configuration ----

    /// Unix time in milliseconds from the host clock.
    fn now_ms(&self) -> i64;

    /// Logs one line. `message` is formatted only if the host keeps that level.
    fn log(&self, level: LogLevel, message: fmt::Arguments<'_>);

    /// The plugin configuration (`on_configure`); `None` when the host has none.
    fn plugin_configuration(&self) -> Option<Vec<u8>>;

    /// How often `on_tick` fires in this root context.
    fn set_tick_period(&self, period: Duration);

    // ---- shared data (ARCHITECTURE "Shared data": no delete, no eviction) ----

    /// A value and its CAS token. An empty value comes back as `(None, Some(cas))`, as
    /// the proxy-wasm SDK reads it; a missing key as `(None, None)`.
    fn shared_get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>);

    /// Writes `value`. With `cas`, refused ([`HostError::CasMismatch`]) when the key exists
    /// with another token; creating a key never checks the CAS (Envoy's rule).
    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), HostError>;

    // ---- callouts ----

    /// Starts an HTTP call to `cluster`; the answer arrives later under the returned token.
    fn dispatch_http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<u32, HostError>;

    /// A header of the callout answer being delivered. Only to be asked when the answer has
    /// headers: a failed callout has none, and Envoy refuses the map (see
    /// [`crate::store_call::CallResponse::status`]).
    fn callout_response_header(&self, name: &str) -> Option<Vec<u8>>;

    /// The first `size` bytes of the callout answer's body.
    fn callout_response_body(&self, size: usize) -> Option<Vec<u8>>;

    // ---- counters ----

    /// Defines a counter; `None` when the host refuses it (it is then never incremented).
    fn define_counter(&self, name: &str) -> Option<u32>;

    fn increment_counter(&self, id: u32);

    // ---- the current request ----

    /// A property (`connection.sha256_peer_certificate_digest` …) as raw bytes; `None`
    /// when absent or unreadable.
    fn property(&self, dotted_path: &str) -> Option<Vec<u8>>;

    /// A request header as text; invalid UTF-8 is replaced, never trusted or trapped on.
    fn request_header(&self, name: &str) -> Option<String>;

    /// Every request header in one read (names lower-case, values raw), for a host where
    /// one call is cheaper than one per header (proxy-wasm: `proxy_get_header_map_pairs`).
    /// With it the gate reads the request once, and removes or rewrites only what is there
    /// (ARCHITECTURE "Hot path budget"). `None` (the default): the host cannot list them,
    /// and the gate reads each header it needs by name and removes its own names blind.
    fn request_header_pairs(&self) -> Option<HeaderMap> {
        None
    }

    fn set_request_header(&self, name: &str, value: &str);

    fn remove_request_header(&self, name: &str);

    fn remove_request_trailer(&self, name: &str);

    /// A response header as text (`:status` …), read in the response path only; `None`
    /// when absent or unreadable.
    fn response_header(&self, name: &str) -> Option<String>;

    /// Answers the request here with a JSON body (`content-type: application/json`). In the
    /// response path it replaces the response (Envoy 1.40 allows it while the response
    /// headers have not left: `envoy-config/ENVOY-FACTS.md`).
    fn send_local_response(&self, status: u32, body: &str);

    /// Lets a request paused for a callout continue.
    fn resume_request(&self);

    /// Makes the route re-read the routing header (ARCHITECTURE "Routing").
    fn clear_route_cache(&self);
}
