//! One plugin VM, as one Envoy worker thread runs it, and the events a test drives into it.

use super::headers::HeaderMap;
use super::outcome::{Action, HttpCall, Outcome};
use super::properties::{Properties, PropertyPath};
use super::request::Request;
use super::state::{CallResponse, HostShared, PluginExports, Stream, WorkerState};
use super::status::{Level, Status};
use crate::wasi::{Output, WasiCtx};
use anyhow::{Context as _, Result, anyhow, bail};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::{Extern, Instance, InstancePre, Store, TypedFunc, WasmParams, WasmResults};

/// How many log lines an error message quotes.
const LOGS_IN_ERRORS: usize = 40;
/// WASI stdout/stderr capacity per worker.
const STDIO_CAPACITY: usize = 4 << 20;
/// The size of a wasm linear-memory page.
pub const WASM_PAGE_BYTES: usize = 64 * 1024;

/// Why a worker did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `proxy_on_configure` returned false: the plugin rejected its configuration.
    ConfigureReturnedFalse,
    /// `proxy_on_vm_start` returned false.
    VmStartReturnedFalse,
    /// The plugin trapped (panicked) while starting; the trap message.
    Trapped(String),
    /// The module could not be run at all (bad ABI version, missing memory...).
    Harness(String),
}

/// A worker that did not start, with what the plugin logged on the way.
#[derive(Debug, Clone)]
pub struct ConfigureRefused {
    pub reason: Refusal,
    pub logs: Vec<(Level, String)>,
}

impl ConfigureRefused {
    /// True when some log line contains `needle`.
    pub fn logs_contain(&self, needle: &str) -> bool {
        self.logs.iter().any(|(_, line)| line.contains(needle))
    }
}

impl fmt::Display for ConfigureRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Refusal::ConfigureReturnedFalse => write!(
                f,
                "plugin refused its configuration (proxy_on_configure returned false)"
            )?,
            Refusal::VmStartReturnedFalse => write!(f, "proxy_on_vm_start returned false")?,
            Refusal::Trapped(trap) => write!(f, "plugin trapped while starting: {trap}")?,
            Refusal::Harness(why) => write!(f, "harness could not start the plugin: {why}")?,
        }
        write!(f, "{}", render_logs(&self.logs))
    }
}

impl std::error::Error for ConfigureRefused {}

fn render_logs(logs: &[(Level, String)]) -> String {
    if logs.is_empty() {
        return "\nplugin logs: (none)".to_string();
    }
    let skip = logs.len().saturating_sub(LOGS_IN_ERRORS);
    let mut out = format!(
        "\nplugin logs ({} lines, last {} shown):",
        logs.len(),
        logs.len() - skip
    );
    for (level, line) in logs.iter().skip(skip) {
        out.push_str(&format!("\n  [{level}] {line}"));
    }
    out
}

/// `proxy_on_http_call_response(context, token, headers, body_size, trailers)`.
type HttpCallResponseFn = TypedFunc<(i32, i32, i32, i32, i32), ()>;

/// The plugin's exported callbacks; a missing export is skipped, as Envoy does.
struct Callbacks {
    context_create: Option<TypedFunc<(i32, i32), ()>>,
    vm_start: Option<TypedFunc<(i32, i32), i32>>,
    configure: Option<TypedFunc<(i32, i32), i32>>,
    tick: Option<TypedFunc<i32, ()>>,
    queue_ready: Option<TypedFunc<(i32, i32), ()>>,
    request_headers: Option<TypedFunc<(i32, i32, i32), i32>>,
    request_body: Option<TypedFunc<(i32, i32, i32), i32>>,
    request_trailers: Option<TypedFunc<(i32, i32), i32>>,
    response_headers: Option<TypedFunc<(i32, i32, i32), i32>>,
    done: Option<TypedFunc<i32, i32>>,
    log: Option<TypedFunc<i32, ()>>,
    delete: Option<TypedFunc<i32, ()>>,
    http_call_response: Option<HttpCallResponseFn>,
    foreign_function: Option<TypedFunc<(i32, i32, i32), ()>>,
}

impl Callbacks {
    fn find(instance: &Instance, store: &mut Store<WorkerState>) -> Result<Callbacks> {
        fn get<P: WasmParams, R: WasmResults>(
            instance: &Instance,
            store: &mut Store<WorkerState>,
            name: &str,
        ) -> Result<Option<TypedFunc<P, R>>> {
            match instance.get_func(&mut *store, name) {
                None => Ok(None),
                Some(func) => func
                    .typed::<P, R>(&*store)
                    .map(Some)
                    .map_err(anyhow::Error::from)
                    .with_context(|| format!("export {name} has the wrong signature")),
            }
        }
        Ok(Callbacks {
            context_create: get(instance, store, "proxy_on_context_create")?,
            vm_start: get(instance, store, "proxy_on_vm_start")?,
            configure: get(instance, store, "proxy_on_configure")?,
            tick: get(instance, store, "proxy_on_tick")?,
            queue_ready: get(instance, store, "proxy_on_queue_ready")?,
            request_headers: get(instance, store, "proxy_on_request_headers")?,
            request_body: get(instance, store, "proxy_on_request_body")?,
            request_trailers: get(instance, store, "proxy_on_request_trailers")?,
            response_headers: get(instance, store, "proxy_on_response_headers")?,
            done: get(instance, store, "proxy_on_done")?,
            log: get(instance, store, "proxy_on_log")?,
            delete: get(instance, store, "proxy_on_delete")?,
            http_call_response: get(instance, store, "proxy_on_http_call_response")?,
            foreign_function: get(instance, store, "proxy_on_foreign_function")?,
        })
    }
}

/// One plugin VM: root context 1 and the HTTP streams a test opens on it.
///
/// After the plugin traps, the worker refuses further calls, as Envoy stops using a
/// crashed VM.
pub struct Worker {
    store: Store<WorkerState>,
    callbacks: Callbacks,
    crashed: Option<String>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.store.data();
        f.debug_struct("Worker")
            .field("worker_id", &state.worker_id)
            .field("streams", &state.streams.keys().collect::<Vec<_>>())
            .field("pending_http_calls", &state.http_calls.len())
            .field("crashed", &self.crashed)
            .finish()
    }
}

/// Wasm passes sizes and ids as `i32`.
fn abi(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl Worker {
    /// Instantiates the module and runs the start sequence Envoy runs on a worker:
    /// `_initialize`, `proxy_on_context_create(root)`, `proxy_on_vm_start`,
    /// `proxy_on_configure`.
    pub(crate) fn start(
        host: Arc<HostShared>,
        pre: &InstancePre<WorkerState>,
        worker_id: u64,
        plugin_config: &[u8],
    ) -> std::result::Result<Worker, ConfigureRefused> {
        let harness = |e: anyhow::Error| ConfigureRefused {
            reason: Refusal::Harness(format!("{e:#}")),
            logs: Vec::new(),
        };
        // Inherit nothing from the test process: no env, args, preopens or stdio. The
        // environment is only what the test gave the host (`Host::set_vm_environment`).
        let wasi = WasiCtx {
            env: host.settings().environment.clone(),
            stdout: Output::new(STDIO_CAPACITY),
            stderr: Output::new(STDIO_CAPACITY),
            clock: host.clock.clone(),
        };
        let vm_config_len = host.settings().vm_config.len();
        let state = WorkerState::new(host, worker_id, wasi, plugin_config.to_vec());
        let mut store = Store::new(pre.module().engine(), state);
        // Never the limit: fuel is only counted (see `invoke`).
        store
            .set_fuel(u64::MAX / 2)
            .map_err(|e| harness(anyhow::Error::from(e)))?;
        let instance = pre
            .instantiate(&mut store)
            .map_err(|e| harness(anyhow::Error::from(e).context("instantiating the plugin")))?;
        if instance
            .get_func(&mut store, "proxy_abi_version_0_2_1")
            .is_none()
        {
            return Err(harness(anyhow!(
                "the module does not export proxy_abi_version_0_2_1 (not a proxy-wasm 0.2.1 plugin)"
            )));
        }
        let initialize = instance
            .get_typed_func::<(), ()>(&mut store, "_initialize")
            .ok();
        let callbacks = Callbacks::find(&instance, &mut store).map_err(harness)?;
        let memory = match instance.get_export(&mut store, "memory") {
            Some(Extern::Memory(memory)) => Some(memory),
            _ => None,
        };
        // Looked up once here instead of by name in every host call (see `PluginExports`).
        let allocate = ["proxy_on_memory_allocate", "malloc"]
            .iter()
            .find_map(|name| instance.get_func(&mut store, name))
            .and_then(|func| func.typed::<i32, i32>(&store).ok());
        store.data_mut().exports = PluginExports { memory, allocate };
        let mut worker = Worker {
            store,
            callbacks,
            crashed: None,
        };
        let refused = |worker: &Worker, reason: Refusal| ConfigureRefused {
            reason,
            logs: worker.logs(),
        };
        let trapped = |worker: &Worker, e: anyhow::Error| {
            let trap = worker.crashed.clone().unwrap_or_else(|| format!("{e:#}"));
            refused(worker, Refusal::Trapped(trap))
        };
        let root = abi(worker.root_context_id() as usize);
        if let Err(e) = worker.invoke("_initialize", 0, initialize, ()) {
            return Err(trapped(&worker, e));
        }
        let create = worker.callbacks.context_create.clone();
        if let Err(e) = worker.invoke("proxy_on_context_create", 1, create, (root, 0)) {
            return Err(trapped(&worker, e));
        }
        let vm_start = worker.callbacks.vm_start.clone();
        match worker.invoke("proxy_on_vm_start", 1, vm_start, (root, abi(vm_config_len))) {
            Err(e) => return Err(trapped(&worker, e)),
            Ok(Some(0)) => return Err(refused(&worker, Refusal::VmStartReturnedFalse)),
            Ok(_) => {}
        }
        let configure = worker.callbacks.configure.clone();
        worker.store.data_mut().in_configure = true;
        let configured = worker.invoke(
            "proxy_on_configure",
            1,
            configure,
            (root, abi(plugin_config.len())),
        );
        worker.store.data_mut().in_configure = false;
        match configured {
            Err(e) => Err(trapped(&worker, e)),
            Ok(Some(0)) => Err(refused(&worker, Refusal::ConfigureReturnedFalse)),
            Ok(_) => Ok(worker),
        }
    }

    /// Calls one plugin callback with `context` as the effective context. A trap becomes
    /// an error carrying the trap and the plugin's logs, and marks the VM crashed.
    fn invoke<P: WasmParams, R: WasmResults>(
        &mut self,
        what: &str,
        context: u32,
        func: Option<TypedFunc<P, R>>,
        params: P,
    ) -> Result<Option<R>> {
        if let Some(crash) = &self.crashed {
            let first_line = crash.lines().next().unwrap_or_default();
            bail!(
                "harness: this worker's VM crashed earlier, Envoy would not call {what}: {first_line}"
            );
        }
        let Some(func) = func else {
            return Ok(None);
        };
        let root = self.store.data().root_id;
        self.store.data_mut().effective = context;
        let fuel_before = self.store.get_fuel().unwrap_or(0);
        self.store.data_mut().fuel_at_callback_start = fuel_before;
        let result = func.call(&mut self.store, params);
        let burnt = fuel_before.saturating_sub(self.store.get_fuel().unwrap_or(0));
        let state = self.store.data_mut();
        state.effective = root;
        if let Some(stream) = state.streams.get_mut(&context) {
            stream.wasm_fuel += burnt;
        }
        state.drain_stdio();
        match result {
            Ok(value) => Ok(Some(value)),
            Err(trap) => {
                // The cause first (panic/unreachable, or the harness's own message), then
                // the wasm backtrace wasmtime attaches.
                let trap = anyhow::Error::from(trap);
                let cause = trap.root_cause().to_string();
                let trap = format!("{what} (context {context}): {cause}\n{trap}");
                let message = format!(
                    "plugin trapped in {trap}{}",
                    render_logs(&self.store.data().logs)
                );
                self.crashed = Some(trap);
                Err(anyhow!(message))
            }
        }
    }

    pub fn root_context_id(&self) -> u32 {
        self.store.data().root_id
    }

    /// Calls `proxy_on_tick` on the root context. Allowed whether or not the plugin set a
    /// tick period; the clock does not move.
    pub fn tick(&mut self) -> Result<()> {
        let root = self.root_context_id();
        let tick = self.callbacks.tick.clone();
        self.invoke("proxy_on_tick", root, tick, abi(root as usize))?;
        Ok(())
    }

    /// The period the plugin set with `proxy_set_tick_period_milliseconds` (0 = none).
    pub fn tick_period(&self) -> Option<Duration> {
        match self.store.data().tick_period_ms {
            0 => None,
            ms => Some(Duration::from_millis(u64::from(ms))),
        }
    }

    /// Starts building one HTTP request on a new stream context.
    pub fn request(&mut self) -> Request<'_> {
        Request::new(self)
    }

    /// `proxy_on_context_create(ctx, root)` then `proxy_on_request_headers(ctx, n, eos)`.
    pub(crate) fn open_stream(
        &mut self,
        headers: HeaderMap,
        properties: Properties,
        end_of_stream: bool,
    ) -> Result<Outcome> {
        let state = self.store.data_mut();
        let ctx = state.next_context_id;
        state.next_context_id += 1;
        let root = state.root_id;
        let count = headers.len();
        state.streams.insert(
            ctx,
            Stream {
                request_headers: headers,
                properties,
                ..Stream::default()
            },
        );
        let create = self.callbacks.context_create.clone();
        self.invoke(
            "proxy_on_context_create",
            ctx,
            create,
            (abi(ctx as usize), abi(root as usize)),
        )?;
        let on_headers = self.callbacks.request_headers.clone();
        let raw = self.invoke(
            "proxy_on_request_headers",
            ctx,
            on_headers,
            (abi(ctx as usize), abi(count), i32::from(end_of_stream)),
        )?;
        let action = raw.map_or(Action::Continue, Action::from_abi);
        self.settle_request(ctx, action, 0)
    }

    /// Records what a request-phase callback returned and snapshots the stream.
    fn settle_request(
        &mut self,
        ctx: u32,
        action: Action,
        resumed_before: usize,
    ) -> Result<Outcome> {
        let stream = self.stream_mut(ctx)?;
        let resumed_during_call = stream.resumed > resumed_before;
        stream.request_paused = action != Action::Continue && !resumed_during_call;
        stream.last_action = Some(action);
        Ok(Outcome::snapshot(ctx, action, stream))
    }

    fn stream_mut(&mut self, ctx: u32) -> Result<&mut Stream> {
        self.store
            .data_mut()
            .streams
            .get_mut(&ctx)
            .ok_or_else(|| anyhow!("harness: no live stream with context id {ctx}"))
    }

    /// Sends a request body chunk: `proxy_on_request_body(ctx, size, eos)`. If the last
    /// body callback returned Pause, Envoy buffered: the chunk is appended and the plugin
    /// sees the whole buffer.
    pub fn request_body(&mut self, ctx: u32, chunk: &[u8], end_of_stream: bool) -> Result<Outcome> {
        let stream = self.stream_mut(ctx)?;
        let body = match (stream.buffering_request_body, stream.request_body.take()) {
            (true, Some(mut buffered)) => {
                buffered.extend_from_slice(chunk);
                buffered
            }
            _ => chunk.to_vec(),
        };
        let size = body.len();
        stream.request_body = Some(body);
        let resumed_before = stream.resumed;
        let on_body = self.callbacks.request_body.clone();
        let raw = self.invoke(
            "proxy_on_request_body",
            ctx,
            on_body,
            (abi(ctx as usize), abi(size), i32::from(end_of_stream)),
        )?;
        let action = raw.map_or(Action::Continue, Action::from_abi);
        self.stream_mut(ctx)?.buffering_request_body = action == Action::Pause && !end_of_stream;
        self.settle_request(ctx, action, resumed_before)
    }

    /// Sends the request's trailers: `proxy_on_request_trailers(ctx, n)`, after the headers
    /// (sent with `end_of_stream(false)`) and any body. The plugin reads and edits them as map
    /// type 1 (`HttpRequestTrailers`); the outcome shows them as it left them
    /// ([`Outcome::request_trailers`]).
    pub fn request_trailers(&mut self, ctx: u32, trailers: &[(&str, &str)]) -> Result<Outcome> {
        let map = HeaderMap::from_pairs(trailers);
        let count = map.len();
        let stream = self.stream_mut(ctx)?;
        stream.request_trailers = Some(map);
        let resumed_before = stream.resumed;
        let on_trailers = self.callbacks.request_trailers.clone();
        let raw = self.invoke(
            "proxy_on_request_trailers",
            ctx,
            on_trailers,
            (abi(ctx as usize), abi(count)),
        )?;
        let action = raw.map_or(Action::Continue, Action::from_abi);
        self.settle_request(ctx, action, resumed_before)
    }

    /// Sends the upstream's response headers (headers only, `end_of_stream` true):
    /// `proxy_on_response_headers(ctx, n, 1)`. Include `:status`.
    pub fn response_headers(&mut self, ctx: u32, headers: &[(&str, &str)]) -> Result<Outcome> {
        let map = HeaderMap::from_pairs(headers);
        let count = map.len();
        self.stream_mut(ctx)?.response_headers = Some(map);
        let on_headers = self.callbacks.response_headers.clone();
        let raw = self.invoke(
            "proxy_on_response_headers",
            ctx,
            on_headers,
            (abi(ctx as usize), abi(count), 1),
        )?;
        let action = raw.map_or(Action::Continue, Action::from_abi);
        let stream = self.stream_mut(ctx)?;
        stream.response_paused = action != Action::Continue;
        Ok(Outcome::snapshot(ctx, action, stream))
    }

    /// Ends a stream as Envoy does: `proxy_on_done`, `proxy_on_log` (access-log phase),
    /// `proxy_on_delete`. Its unanswered HTTP calls are cancelled.
    pub fn finish(&mut self, ctx: u32) -> Result<()> {
        self.stream_mut(ctx)?;
        let id = abi(ctx as usize);
        let done = self.callbacks.done.clone();
        self.invoke("proxy_on_done", ctx, done, id)?;
        self.store.data_mut().in_log_phase = true;
        let log = self.callbacks.log.clone();
        let logged = self.invoke("proxy_on_log", ctx, log, id);
        self.store.data_mut().in_log_phase = false;
        logged?;
        let delete = self.callbacks.delete.clone();
        self.invoke("proxy_on_delete", ctx, delete, id)?;
        let state = self.store.data_mut();
        state.streams.remove(&ctx);
        state.http_calls.retain(|_, call| call.context_id != ctx);
        Ok(())
    }

    /// The current state of a live stream.
    pub fn stream(&self, ctx: u32) -> Option<Outcome> {
        let stream = self.store.data().streams.get(&ctx)?;
        let action = stream.last_action.unwrap_or(Action::Continue);
        Some(Outcome::snapshot(ctx, action, stream))
    }

    /// Context ids of the streams not yet finished.
    pub fn live_streams(&self) -> Vec<u32> {
        self.store.data().streams.keys().copied().collect()
    }

    /// Outgoing HTTP calls not yet answered, oldest first.
    pub fn pending_http_calls(&self) -> Vec<HttpCall> {
        self.store.data().http_calls.values().cloned().collect()
    }

    /// Answers an HTTP call: `proxy_on_http_call_response(ctx, token, headers, body, 0)` on
    /// the context that dispatched it, with `:status` first among the headers.
    ///
    /// Returns the stream's outcome when the call was made by a stream that was held and
    /// the plugin has now resumed it, answered it locally or reset it; `None` otherwise
    /// (a root-context call, or a stream still held).
    pub fn respond_http_call(
        &mut self,
        token: u32,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Option<Outcome>> {
        let mut map = HeaderMap::new();
        map.add(":status", status.to_string().as_bytes());
        for (k, v) in headers {
            map.add(k, v.as_bytes());
        }
        let response = CallResponse {
            headers: map,
            body: body.to_vec(),
            trailers: None,
        };
        self.deliver_http_call(token, Some(response), (Status::Ok as u32, String::new()))
    }

    /// Fails an HTTP call as Envoy does on a reset or timeout: the callback runs with 0
    /// headers and no body, and there is no response to read (`proxy_get_status` says
    /// `BrokenConnection`, "reset").
    pub fn fail_http_call(&mut self, token: u32) -> Result<Option<Outcome>> {
        self.deliver_http_call(
            token,
            None,
            (Status::BrokenConnection as u32, "reset".into()),
        )
    }

    fn deliver_http_call(
        &mut self,
        token: u32,
        response: Option<CallResponse>,
        call_status: (u32, String),
    ) -> Result<Option<Outcome>> {
        let state = self.store.data_mut();
        let Some(call) = state.http_calls.remove(&token) else {
            let pending: Vec<u32> = state.http_calls.keys().copied().collect();
            bail!("harness: no pending HTTP call with token {token} (pending: {pending:?})");
        };
        let ctx = call.context_id;
        let (headers, body_len) = response
            .as_ref()
            .map_or((0, 0), |r| (r.headers.len(), r.body.len()));
        let held_before = state.streams.get(&ctx).map(|s| {
            (
                s.request_paused && s.local_response.is_none() && !s.reset,
                s.resumed,
            )
        });
        state.call_response = response;
        state.call_status = call_status;
        let callback = self.callbacks.http_call_response.clone();
        let result = self.invoke(
            "proxy_on_http_call_response",
            ctx,
            callback,
            (
                abi(ctx as usize),
                abi(token as usize),
                abi(headers),
                abi(body_len),
                0,
            ),
        );
        self.store.data_mut().call_response = None;
        result?;
        let Some((true, resumed_before)) = held_before else {
            return Ok(None);
        };
        let Some(stream) = self.store.data().streams.get(&ctx) else {
            return Ok(None);
        };
        let resumed = stream.resumed > resumed_before;
        if !(resumed || stream.local_response.is_some() || stream.reset) {
            return Ok(None);
        }
        let action = if resumed && stream.local_response.is_none() {
            Action::Continue
        } else {
            Action::Pause
        };
        Ok(Some(Outcome::snapshot(ctx, action, stream)))
    }

    /// Delivers pending `proxy_on_queue_ready` notifications for queues this worker owns.
    /// Returns how many were delivered.
    pub fn deliver_queue_ready(&mut self) -> Result<usize> {
        let state = self.store.data();
        let ready = state.host.queues.take_ready(state.worker_id);
        let callback = self.callbacks.queue_ready.clone();
        for (ctx, token) in &ready {
            self.invoke(
                "proxy_on_queue_ready",
                *ctx,
                callback.clone(),
                (abi(*ctx as usize), abi(*token as usize)),
            )?;
        }
        Ok(ready.len())
    }

    /// Asks the root context to shut down (`proxy_on_done(root)`), as Envoy does when the
    /// plugin is removed. True when it is done at once or has called `proxy_done`.
    pub fn shut_down(&mut self) -> Result<bool> {
        let root = self.root_context_id();
        let done = self.callbacks.done.clone();
        let answer = self.invoke("proxy_on_done", root, done, abi(root as usize))?;
        Ok(answer.is_none_or(|a| a != 0) || self.store.data().done_called)
    }

    /// Calls `proxy_on_foreign_function(root, function_id, args.len())` (the arguments are not
    /// readable; Envoy passes them only for its own foreign functions).
    pub fn foreign_function_callback(&mut self, function_id: u32, args_len: usize) -> Result<()> {
        let root = self.root_context_id();
        let callback = self.callbacks.foreign_function.clone();
        self.invoke(
            "proxy_on_foreign_function",
            root,
            callback,
            (abi(root as usize), abi(function_id as usize), abi(args_len)),
        )?;
        Ok(())
    }

    /// Everything the plugin logged (and wrote to stdout/stderr), oldest first.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.store.data().logs.clone()
    }

    /// True when some log line contains `needle`.
    pub fn logs_contain(&self, needle: &str) -> bool {
        self.store
            .data()
            .logs
            .iter()
            .any(|(_, line)| line.contains(needle))
    }

    pub fn clear_logs(&mut self) {
        self.store.data_mut().logs.clear();
    }

    /// A counter or gauge by name, as this worker alone changed it. Host-wide values:
    /// [`Host::metric`](super::Host::metric).
    pub fn metric(&self, name: &str) -> Option<u64> {
        self.store.data().metrics.local_value(name)
    }

    /// What `proxy_call_foreign_function(name)` answers from now on. By default
    /// `clear_route_cache` is `Ok` and every other name `NotFound`.
    pub fn set_foreign_function_status(&mut self, name: &str, status: Status) {
        self.store
            .data_mut()
            .foreign_status
            .insert(name.to_string(), status);
    }

    /// Foreign function calls made from the root context: (name, arguments).
    pub fn root_foreign_calls(&self) -> Vec<(String, Vec<u8>)> {
        self.store.data().root_foreign_calls.clone()
    }

    /// Sets a property for every context of this worker (streams may override it), e.g.
    /// `plugin_name` or `node.id`. Dotted path.
    pub fn set_property(&mut self, path: &str, value: impl AsRef<[u8]>) {
        self.store
            .data_mut()
            .properties
            .set(PropertyPath::dotted(path), value.as_ref().to_vec());
    }

    /// The size of the plugin's linear memory now, in bytes (a whole number of 64 KiB
    /// pages). Wasm memory only grows: this is the high-water mark of the plugin's heap.
    pub fn memory_bytes(&self) -> usize {
        let memory = self.store.data().exports.memory;
        memory.map_or(0, |memory| memory.data_size(&self.store))
    }

    /// [`memory_bytes`](Worker::memory_bytes) in 64 KiB wasm pages.
    pub fn memory_pages(&self) -> usize {
        self.memory_bytes() / WASM_PAGE_BYTES
    }

    /// True once the plugin trapped; every later call fails.
    pub fn has_crashed(&self) -> bool {
        self.crashed.is_some()
    }
}
