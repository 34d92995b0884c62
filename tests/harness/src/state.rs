//! What the host knows about one worker VM: its contexts, streams and pending work.
//! This is the wasmtime `Store` data that host calls read and change.

use super::clock::Clock;
use super::headers::HeaderMap;
use super::metrics::{MetricStore, WorkerMetrics};
use super::outcome::{Action, HttpCall, LocalResponse};
use super::properties::{Properties, PropertyPath};
use super::shared_data::SharedData;
use super::shared_queue::SharedQueues;
use super::status::{Level, Status};
use crate::wasi::{WasiCtx, WasiView};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// Everything every worker of one host shares, like one Envoy process.
#[derive(Debug, Default)]
pub(crate) struct HostShared {
    pub shared_data: SharedData,
    pub queues: SharedQueues,
    pub metrics: MetricStore,
    pub clock: Clock,
    pub settings: Mutex<Settings>,
}

impl HostShared {
    pub(crate) fn settings(&self) -> MutexGuard<'_, Settings> {
        self.settings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `proxy_get_log_level`; messages below it are dropped, as Envoy does.
    pub log_level: Level,
    /// When set, `proxy_http_call` to any other cluster is `BadArgument`, as Envoy does
    /// for an unknown cluster.
    pub clusters: Option<BTreeSet<String>>,
    pub vm_id: String,
    pub vm_config: Vec<u8>,
    /// The WASI environment of later workers (Envoy's `vm_config.environment_variables`).
    pub environment: Vec<(String, String)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            log_level: Level::Trace,
            clusters: None,
            vm_id: String::new(),
            vm_config: Vec::new(),
            environment: Vec::new(),
        }
    }
}

/// The response of an outgoing HTTP call, readable only during a successful call's
/// `proxy_on_http_call_response`. During a failed call's callback there is none, as in
/// Envoy: reading its headers is then `BadArgument` (a panic in the SDK).
#[derive(Debug, Default)]
pub(crate) struct CallResponse {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Envoy has no trailer map when the response had no trailers.
    pub trailers: Option<HeaderMap>,
}

/// One HTTP stream (an Envoy HTTP filter context).
#[derive(Debug, Default)]
pub(crate) struct Stream {
    pub request_headers: HeaderMap,
    pub request_trailers: Option<HeaderMap>,
    pub response_headers: Option<HeaderMap>,
    pub response_trailers: Option<HeaderMap>,
    pub request_body: Option<Vec<u8>>,
    pub response_body: Option<Vec<u8>>,
    /// The last request-body callback returned Pause: Envoy buffers the next chunk.
    pub buffering_request_body: bool,
    pub properties: Properties,
    pub property_reads: BTreeMap<String, usize>,
    pub property_writes: Vec<(String, Vec<u8>)>,
    pub foreign_calls: Vec<(String, Vec<u8>)>,
    pub local_response: Option<LocalResponse>,
    /// The request is stopped and waits for `proxy_continue_stream(HttpRequest)`.
    pub request_paused: bool,
    pub response_paused: bool,
    pub resumed: usize,
    pub reset: bool,
    pub route_cache_clears: usize,
    /// Every `env` host call made while this stream was the effective context, by import.
    pub host_calls: BTreeMap<&'static str, usize>,
    /// Wasm fuel (about one unit per instruction) the plugin burnt in this stream's
    /// callbacks, host calls excluded.
    pub wasm_fuel: u64,
    /// Each host call of this stream, in order, with the fuel its callbacks had burnt when
    /// it was made: the differences are the wasm work between calls.
    pub fuel_at_calls: Vec<(&'static str, u64)>,
    pub http_calls: Vec<HttpCall>,
    pub last_action: Option<Action>,
}

/// The wasmtime store data of one worker.
pub(crate) struct WorkerState {
    pub wasi: WasiCtx,
    pub host: Arc<HostShared>,
    pub worker_id: u64,
    pub root_id: u32,
    pub next_context_id: u32,
    /// The context host calls act on (`proxy_set_effective_context` can change it).
    pub effective: u32,
    pub plugin_config: Vec<u8>,
    /// Envoy hands out the plugin configuration only inside `proxy_on_configure`.
    pub in_configure: bool,
    /// Envoy's access-log phase: a missing header map is `NotFound`, not `BadArgument`.
    pub in_log_phase: bool,
    pub streams: BTreeMap<u32, Stream>,
    pub logs: Vec<(Level, String)>,
    pub tick_period_ms: u32,
    pub http_calls: BTreeMap<u32, HttpCall>,
    pub next_token: u32,
    pub call_response: Option<CallResponse>,
    /// `proxy_get_status`: the outcome of the last HTTP call delivered.
    pub call_status: (u32, String),
    pub metrics: WorkerMetrics,
    pub foreign_status: BTreeMap<String, Status>,
    pub root_foreign_calls: Vec<(String, Vec<u8>)>,
    pub properties: Properties,
    pub done_called: bool,
    /// The plugin's `memory` and allocator, looked up once after instantiation: most host
    /// calls need one or both, and looking them up by name in each call cost about a sixth
    /// of a long test's time (a flood of 100,000 requests).
    pub exports: PluginExports,
    /// The store's fuel when the callback under way began (see `Worker::invoke`).
    pub fuel_at_callback_start: u64,
}

/// Exports of the plugin that host calls use.
#[derive(Default)]
pub(crate) struct PluginExports {
    pub memory: Option<wasmtime::Memory>,
    pub allocate: Option<wasmtime::TypedFunc<i32, i32>>,
}

impl WorkerState {
    pub(crate) fn new(
        host: Arc<HostShared>,
        worker_id: u64,
        wasi: WasiCtx,
        plugin_config: Vec<u8>,
    ) -> Self {
        let metrics = WorkerMetrics::new(host.metrics.clone());
        let mut foreign_status = BTreeMap::new();
        foreign_status.insert("clear_route_cache".to_string(), Status::Ok);
        WorkerState {
            wasi,
            host,
            worker_id,
            root_id: 1,
            next_context_id: 2,
            effective: 1,
            plugin_config,
            in_configure: false,
            in_log_phase: false,
            streams: BTreeMap::new(),
            logs: Vec::new(),
            tick_period_ms: 0,
            http_calls: BTreeMap::new(),
            next_token: 1,
            call_response: None,
            call_status: (0, String::new()),
            metrics,
            foreign_status,
            root_foreign_calls: Vec::new(),
            properties: Properties::default(),
            done_called: false,
            exports: PluginExports::default(),
            fuel_at_callback_start: 0,
        }
    }

    /// The stream the current host call acts on, if the effective context is a stream.
    pub(crate) fn stream(&mut self) -> Option<&mut Stream> {
        self.streams.get_mut(&self.effective)
    }

    pub(crate) fn is_live_context(&self, id: u32) -> bool {
        id == self.root_id || self.streams.contains_key(&id)
    }

    /// Looks a property up for the effective context: the stream's own values first,
    /// then the worker-wide ones. Reads on a stream are counted.
    pub(crate) fn read_property(&mut self, path: &PropertyPath) -> Option<Vec<u8>> {
        let worker_value = self.properties.get(path).map(<[u8]>::to_vec);
        match self.streams.get_mut(&self.effective) {
            Some(stream) => {
                *stream.property_reads.entry(path.to_dotted()).or_default() += 1;
                stream
                    .properties
                    .get(path)
                    .map(<[u8]>::to_vec)
                    .or(worker_value)
            }
            None => worker_value,
        }
    }

    /// Moves what the plugin wrote to WASI stdout/stderr into the logs, as Envoy logs
    /// them (stdout at info, stderr at error).
    pub(crate) fn drain_stdio(&mut self) {
        for (output, level) in [
            (&mut self.wasi.stdout, Level::Info),
            (&mut self.wasi.stderr, Level::Error),
        ] {
            let fresh = output.take();
            let text = String::from_utf8_lossy(&fresh);
            for line in text.lines().filter(|l| !l.is_empty()) {
                self.logs.push((level, line.to_string()));
            }
        }
    }
}

impl WasiView for WorkerState {
    fn wasi(&mut self) -> &mut WasiCtx {
        &mut self.wasi
    }
}
