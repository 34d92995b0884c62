//! The module's life in Envoy, driving core exactly as the wasm filter's glue does
//! (`filter/src/root_context.rs`, `http_context.rs`), with Envoy's threads in place of
//! proxy-wasm's VMs:
//!
//! - **Configuration** (`config_new`, main thread): the gate's JSON is validated by a root
//!   ([`GateRoot::configure`]), which also defines the counters (Envoy allows that only
//!   here). A refused configuration makes Envoy refuse the filter.
//! - **Roots per thread.** Core's root state is single-threaded (`Rc`), as a wasm VM is:
//!   each thread keeps its own [`GateRoot`] per configuration, made on the thread's first
//!   stream. The main thread's root runs the sync.
//! - **Shared data** is one process-wide store ([`crate::shared_store`]) with proxy-wasm's
//!   CAS rules, so core's lease, change sets and lookups run unchanged.
//! - **The tick.** The ABI has no timer for HTTP filters: a thread of ours sleeps the sync
//!   interval and commits an event to the configuration's scheduler; Envoy runs it on the
//!   main thread (`config_tick`), where the feed is called with a configuration callout.
//! - **Streams** (`filter_new` … `filter destroy`, worker thread): one [`GateRequest`] each;
//!   a session lookup is a stream callout, answered on the same worker.

use crate::abi::{ConfigEnvoy, ConfigScheduler, FilterEnvoy};
use crate::host::{NativeHost, Scope, Stage};
use mtls_gate_core::gate_request::{Flow, GateRequest};
use mtls_gate_core::gate_root::GateRoot;
use mtls_gate_core::store_call::CallResponse;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, OnceLock, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// The `filter_name` this module answers to (`DynamicModuleFilter.filter_name`).
pub const FILTER_NAME: &str = "mtls_gate";

/// One Envoy filter configuration, shared by every thread's streams.
pub struct NativeConfig {
    /// Distinguishes this configuration in each thread's roots.
    id: u64,
    pub(crate) envoy: ConfigEnvoy,
    /// The gate's JSON, as Envoy passed it.
    pub(crate) bytes: Vec<u8>,
    /// Counter IDs by name, defined in `config_new` (frozen after).
    counters: OnceLock<HashMap<String, u32>>,
    /// The sync interval core asked for, in ms; 0 when there is no store.
    tick_ms: AtomicU64,
    ticker: Mutex<Option<Ticker>>,
}

impl NativeConfig {
    pub(crate) fn counter(&self, name: &str) -> Option<u32> {
        self.counters.get()?.get(name).copied()
    }

    pub(crate) fn set_tick_period(&self, period: Duration) {
        let ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX);
        self.tick_ms.store(ms, Ordering::Relaxed);
    }
}

/// One stream. The request sits in a `RefCell`: Envoy re-enters our hooks (a local reply
/// runs this stream's response hooks while its request hook is still on the stack).
pub struct NativeFilter {
    config: Arc<NativeConfig>,
    request: RefCell<GateRequest>,
    stage: Cell<Stage>,
}

/// A callout's answer, copied out of the hook that delivered it.
#[derive(Debug, Default)]
pub struct CalloutAnswer {
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl CalloutAnswer {
    fn response(&self, id: u64) -> Option<CallResponse> {
        Some(CallResponse {
            token: u32::try_from(id).ok()?,
            num_headers: self.headers.len(),
            body_size: self.body.len(),
        })
    }
}

static NEXT_CONFIG_ID: AtomicU64 = AtomicU64::new(1);

/// Configurations not yet destroyed: a thread drops its roots of the others.
static LIVE_CONFIGS: LazyLock<RwLock<HashSet<u64>>> = LazyLock::new(RwLock::default);

thread_local! {
    /// This thread's root per configuration (core's root state is single-threaded).
    static ROOTS: RefCell<HashMap<u64, GateRoot>> = RefCell::new(HashMap::new());
}

fn is_live(id: u64) -> bool {
    LIVE_CONFIGS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(&id)
}

/// `on_http_filter_config_new`: `None` refuses the configuration (the reason is logged).
pub fn config_new(envoy: ConfigEnvoy, name: &[u8], bytes: Vec<u8>) -> Option<Arc<NativeConfig>> {
    if name != FILTER_NAME.as_bytes() {
        crate::abi::log(
            crate::abi::LogLevel::Error,
            &format!(
                "mtls-gate: unknown filter_name {:?}; this module serves {FILTER_NAME:?}",
                String::from_utf8_lossy(name)
            ),
        );
        return None;
    }
    let config = Arc::new(NativeConfig {
        id: NEXT_CONFIG_ID.fetch_add(1, Ordering::Relaxed),
        envoy,
        bytes,
        counters: OnceLock::new(),
        tick_ms: AtomicU64::new(0),
        ticker: Mutex::new(None),
    });
    let defined = RefCell::new(HashMap::new());
    let mut root = GateRoot::default();
    let host = NativeHost::new(&config, Scope::Config).defining(&defined);
    if !root.configure(&host) {
        return None;
    }
    let _ = config.counters.set(defined.into_inner());
    LIVE_CONFIGS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(config.id);
    ROOTS.with_borrow_mut(|roots| roots.insert(config.id, root));
    let period = config.tick_ms.load(Ordering::Relaxed);
    // `--mode validate` exits after configuring: no thread to outlive it.
    if period > 0 && !crate::abi::is_validation_mode() {
        match Ticker::start(&config, Duration::from_millis(period)) {
            Some(ticker) => {
                *config.ticker.lock().unwrap_or_else(PoisonError::into_inner) = Some(ticker);
            }
            None => {
                crate::abi::log(
                    crate::abi::LogLevel::Error,
                    "mtls-gate: no scheduler for the sync tick; refusing the configuration",
                );
                return None;
            }
        }
    }
    Some(config)
}

/// `on_http_filter_config_destroy` (main thread): stops the tick before Envoy's
/// configuration goes, and drops this thread's root.
pub fn config_destroy(config: Arc<NativeConfig>) {
    LIVE_CONFIGS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&config.id);
    let ticker = config
        .ticker
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(ticker) = ticker {
        ticker.stop();
    }
    ROOTS.with_borrow_mut(|roots| roots.remove(&config.id));
}

/// The sync's tick, on the main thread.
pub fn config_tick(config: &NativeConfig) {
    ROOTS.with(|roots| {
        let Ok(mut roots) = roots.try_borrow_mut() else {
            return;
        };
        if let Some(root) = roots.get_mut(&config.id) {
            root.on_tick(&NativeHost::new(config, Scope::Config));
        }
    });
}

/// A configuration callout answered (the feed), on the main thread.
pub fn config_callout_done(config: &NativeConfig, id: u64, answer: &CalloutAnswer) {
    let Some(response) = answer.response(id) else {
        return;
    };
    ROOTS.with(|roots| {
        let Ok(mut roots) = roots.try_borrow_mut() else {
            return;
        };
        if let Some(root) = roots.get_mut(&config.id) {
            let host = NativeHost::new(config, Scope::Config).answering(answer);
            root.on_call_response(&host, &response);
        }
    });
}

/// `on_http_filter_new` (worker): a request from this thread's root, made on first use.
pub fn filter_new(config: Arc<NativeConfig>, filter: FilterEnvoy) -> NativeFilter {
    let host = NativeHost::new(&config, Scope::Stream(filter));
    let request = ROOTS.with(|roots| {
        let Ok(mut roots) = roots.try_borrow_mut() else {
            // Not reached (no hook re-enters here); an unconfigured request fails closed.
            return GateRoot::default().new_request();
        };
        if !roots.contains_key(&config.id) {
            // A new configuration on this thread: drop the roots of destroyed ones.
            roots.retain(|id, _| is_live(*id));
            let mut root = GateRoot::default();
            // Validated in `config_new`; a refusal here leaves the root unconfigured, and
            // its requests answer 500 (fail closed).
            let _ = root.configure(&host);
            roots.insert(config.id, root);
        }
        roots
            .get(&config.id)
            .map_or_else(|| GateRoot::default().new_request(), GateRoot::new_request)
    });
    NativeFilter {
        config,
        request: RefCell::new(request),
        stage: Cell::new(Stage::Deciding),
    }
}

/// The request headers: true when the request may continue now.
pub fn request_headers(filter: &NativeFilter, envoy: FilterEnvoy) -> bool {
    let Ok(mut request) = filter.request.try_borrow_mut() else {
        return false;
    };
    let host = NativeHost::new(&filter.config, Scope::Stream(envoy)).tracking(&filter.stage);
    let proceed = request.on_request_headers(&host) == Flow::Continue;
    if proceed {
        filter.stage.set(Stage::Passed);
    }
    proceed
}

/// Whether the request has passed (its body may follow it to the upstream).
pub fn request_passed(filter: &NativeFilter) -> bool {
    filter.stage.get() == Stage::Passed
}

pub fn request_trailers(filter: &NativeFilter, envoy: FilterEnvoy) {
    if let Ok(mut request) = filter.request.try_borrow_mut() {
        let host = NativeHost::new(&filter.config, Scope::Stream(envoy));
        let _ = request.on_request_trailers(&host);
    }
}

/// The response headers: false when the gate answered instead (a pinned upstream's failed
/// handshake). A local reply of our own arrives while the request hook holds the request,
/// and simply passes.
pub fn response_headers(filter: &NativeFilter, envoy: FilterEnvoy) -> bool {
    let Ok(mut request) = filter.request.try_borrow_mut() else {
        return true;
    };
    let host = NativeHost::new(&filter.config, Scope::Stream(envoy)).tracking(&filter.stage);
    request.on_response_headers(&host) == Flow::Continue
}

/// A stream callout answered (a session lookup): decide again, then resume or answer.
pub fn request_callout_done(
    filter: &NativeFilter,
    envoy: FilterEnvoy,
    id: u64,
    answer: &CalloutAnswer,
) {
    let Some(response) = answer.response(id) else {
        return;
    };
    let Ok(mut request) = filter.request.try_borrow_mut() else {
        return;
    };
    let host = NativeHost::new(&filter.config, Scope::Stream(envoy))
        .tracking(&filter.stage)
        .answering(answer);
    request.on_call_response(&host, &response);
}

/// The sync's clock: sleeps the interval, then asks Envoy to run `config_tick` on the main
/// thread. Stopped and joined before the configuration (and its scheduler) is destroyed.
struct Ticker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<ConfigScheduler>>,
}

impl Ticker {
    fn start(config: &NativeConfig, period: Duration) -> Option<Ticker> {
        let scheduler: ConfigScheduler = config.envoy.scheduler()?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("mtls-gate-tick".into())
            .spawn(move || {
                let (stopped, wake) = &*signal;
                let mut guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    let (next, _) = wake
                        .wait_timeout(guard, period)
                        .unwrap_or_else(PoisonError::into_inner);
                    guard = next;
                    if *guard {
                        break;
                    }
                    scheduler.commit(0);
                }
                // Handed back to be deleted on the main thread, after its last commit.
                scheduler
            })
            .ok()?;
        Some(Ticker {
            stop,
            thread: Some(thread),
        })
    }

    fn stop(mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // Deleting the scheduler here, on the main thread, after the last commit.
            drop(thread.join());
        }
    }
}
