//! Native proxy-wasm ABI 0.2.1 host on wasmtime, for testing the filter like Envoy runs it.
//!
//! ```no_run
//! use mtls_gate_harness::{Action, Host};
//! # fn main() -> anyhow::Result<()> {
//! let host = Host::load_filter()?;
//! let mut worker = host.worker(r#"{"apis": []}"#)?;
//! let out = worker
//!     .request()
//!     .peer_digest("ab12")
//!     .header(":authority", "a.example.com")
//!     .header(":path", "/x")
//!     .header(":method", "GET")
//!     .send_headers()?;
//! assert_eq!(out.action(), Action::Continue);
//! worker.finish(out.context_id())?;
//! # Ok(()) }
//! ```
//!
//! - A [`Host`] is one Envoy process: one compiled module, one [`SharedData`] store and one
//!   manual [`Clock`] for all its workers.
//! - A [`Worker`] is one VM (one Envoy worker thread) with root context 1. Streams get
//!   context ids 2, 3, ... and stay open until [`Worker::finish`], which runs
//!   `proxy_on_done`, `proxy_on_log` and `proxy_on_delete`. Nothing runs implicitly:
//!   a local response does not trigger `proxy_on_response_headers` or the end of the
//!   stream; call [`Worker::response_headers`] / [`Worker::finish`] when a test needs them.
//! - Host calls follow Envoy's status codes (see each `abi` module). A host call the harness
//!   does not implement traps with `harness: unimplemented host call NAME`; a trap surfaces
//!   as an `Err` with the trap and the plugin's logs.

mod abi;
mod clock;
mod headers;
mod metrics;
mod outcome;
mod properties;
mod request;
mod shared_data;
mod shared_queue;
mod state;
mod status;
mod wasi;
mod worker;

pub use clock::{Clock, DEFAULT_UNIX_SECONDS};
pub use headers::{HeaderMap, MapFormatError};
pub use outcome::{Action, HttpCall, LocalResponse, Outcome};
pub use properties::PropertyPath;
pub use request::{
    MTLS, PEER_DIGEST, PEER_DNS_SAN, PEER_SUBJECT, PEER_URI_SAN, Request, SNI, SOURCE_ADDRESS,
    TLS_VERSION,
};
pub use shared_data::SharedData;
pub use status::{Level, Status};
pub use worker::{ConfigureRefused, Refusal, WASM_PAGE_BYTES, Worker};

use anyhow::{Context as _, Result, anyhow};
use mtls_gate_testkit::paths;
use state::{HostShared, WorkerState};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;
use wasmtime::{Config, Engine, InstancePre, Linker, Module, OptLevel};

/// Overrides where [`Host::load_filter`] looks for the filter (shared with the e2e launchers).
pub use mtls_gate_testkit::paths::FILTER_WASM_ENV;

/// One Envoy process running one plugin: the compiled module and what its workers share.
pub struct Host {
    shared: Arc<HostShared>,
    pre: InstancePre<WorkerState>,
    unimplemented: Vec<String>,
    next_worker: AtomicU64,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("workers", &self.next_worker.load(Ordering::Relaxed))
            .field("shared_data_keys", &self.shared.shared_data.keys().len())
            .finish()
    }
}

/// Compiling the filter takes seconds; every host in a test binary reuses one compile
/// per file version.
type CompiledModules = Mutex<HashMap<(PathBuf, Option<SystemTime>, u64), Module>>;

/// One engine per test binary. Compiling the filter with a debug build of Cranelift takes
/// seconds, so optimisation is off (tests need the plugin's behaviour, not its speed) and
/// each module is compiled once per test binary ([`compile_cached`]).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.cranelift_opt_level(OptLevel::None);
        // `MTLS_GATE_HARNESS_PERFMAP=1`: optimised code and a perf map, so that `perf
        // record` names the plugin's functions (with a .wasm built without `strip`).
        if std::env::var_os("MTLS_GATE_HARNESS_PERFMAP").is_some() {
            config.cranelift_opt_level(OptLevel::Speed);
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        // Fuel counts the plugin's own wasm work per callback (`Outcome::wasm_fuel`): a
        // measure of a path's cost that does not depend on the machine or its load.
        config.consume_fuel(true);
        Engine::new(&config).unwrap_or_default()
    })
}

fn compile_cached(path: &Path) -> Result<Module> {
    static CACHE: OnceLock<CompiledModules> = OnceLock::new();
    let meta = std::fs::metadata(path)
        .with_context(|| format!("reading plugin module {}", path.display()))?;
    let key = (path.to_path_buf(), meta.modified().ok(), meta.len());
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(module) = cache.get(&key) {
        return Ok(module.clone());
    }
    let bytes =
        std::fs::read(path).with_context(|| format!("reading plugin module {}", path.display()))?;
    let module = Module::new(engine(), &bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("compiling plugin module {}", path.display()))?;
    cache.insert(key, module.clone());
    Ok(module)
}

impl Host {
    /// Loads any proxy-wasm 0.2.1 module (`.wasm`).
    pub fn load(path: impl AsRef<Path>) -> Result<Host> {
        Host::from_module(compile_cached(path.as_ref())?)
    }

    /// Loads a module from bytes: binary wasm or WAT text.
    pub fn from_bytes(wasm_or_wat: impl AsRef<[u8]>) -> Result<Host> {
        let module = Module::new(engine(), wasm_or_wat.as_ref())
            .map_err(anyhow::Error::from)
            .context("compiling plugin module")?;
        Host::from_module(module)
    }

    fn from_module(module: Module) -> Result<Host> {
        let mut linker = Linker::new(engine());
        abi::register(&mut linker).map_err(anyhow::Error::from)?;
        let (pre, unimplemented) =
            abi::stub_unknown_imports(&mut linker, &module).map_err(anyhow::Error::from)?;
        Ok(Host {
            shared: Arc::new(HostShared::default()),
            pre,
            unimplemented,
            next_worker: AtomicU64::new(1),
        })
    }

    /// Where the release filter is built: `$MTLS_GATE_FILTER_WASM`, or
    /// `<target>/wasm32-wasip1/release/mtls_gate_filter.wasm` (the e2e launchers' rule,
    /// [`paths::filter_wasm_path`]).
    pub fn filter_wasm_path() -> PathBuf {
        paths::filter_wasm_path()
    }

    /// Loads the real release filter.
    pub fn load_filter() -> Result<Host> {
        let path = Host::filter_wasm_path();
        if !path.exists() {
            return Err(anyhow!(
                "the filter is not built: {} is missing; build it with `make wasm` \
                 (cargo build -p mtls-gate-filter --target wasm32-wasip1 --release)",
                path.display()
            ));
        }
        Host::load(path)
    }

    /// Starts a worker with this plugin configuration. Errors (with the plugin's logs) if
    /// the plugin refuses it or traps.
    pub fn worker(&self, plugin_config: impl AsRef<[u8]>) -> Result<Worker> {
        self.try_worker(plugin_config).map_err(anyhow::Error::from)
    }

    /// Like [`worker`](Host::worker), with the refusal as a value so a test can check
    /// what the plugin logged about its configuration.
    pub fn try_worker(&self, plugin_config: impl AsRef<[u8]>) -> Result<Worker, ConfigureRefused> {
        let id = self.next_worker.fetch_add(1, Ordering::Relaxed);
        Worker::start(self.shared.clone(), &self.pre, id, plugin_config.as_ref())
    }

    /// The module's imports the harness does not implement (`module::name`); each traps
    /// with `harness: unimplemented host call NAME` when called.
    pub fn unimplemented_imports(&self) -> &[String] {
        &self.unimplemented
    }

    /// The manual clock every worker reads.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// The shared data every worker reads and writes.
    pub fn shared_data(&self) -> &SharedData {
        &self.shared.shared_data
    }

    /// A counter or gauge across all workers, as Envoy's stats show it: counters add up,
    /// a gauge holds the last value set.
    pub fn metric(&self, name: &str) -> Option<u64> {
        self.shared.metrics.value(name)
    }

    /// The samples a histogram recorded, across all workers.
    pub fn histogram(&self, name: &str) -> Option<Vec<u64>> {
        self.shared.metrics.samples(name)
    }

    /// The level `proxy_get_log_level` reports; lower messages are dropped (default: trace,
    /// so tests see everything).
    pub fn set_log_level(&self, level: Level) {
        self.shared.settings().log_level = level;
    }

    /// The VM configuration later workers get (`proxy_on_vm_start`).
    pub fn set_vm_config(&self, config: impl AsRef<[u8]>) {
        self.shared.settings().vm_config = config.as_ref().to_vec();
    }

    /// The environment variables later workers' VMs see through WASI (`environ_get`), as
    /// Envoy fills them from `vm_config.environment_variables` (`host_env_keys`,
    /// `key_values`). Replaces what was set before; by default a VM has none, and nothing is
    /// inherited from the test process.
    pub fn set_vm_environment(&self, variables: &[(&str, &str)]) {
        self.shared.settings().environment = variables
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    /// Restricts `proxy_http_call` to these clusters; others are `BadArgument` as in Envoy.
    /// By default every cluster name is accepted.
    pub fn set_known_clusters(&self, clusters: &[&str]) {
        let clusters: BTreeSet<String> = clusters.iter().map(|c| c.to_string()).collect();
        self.shared.settings().clusters = Some(clusters);
    }
}
