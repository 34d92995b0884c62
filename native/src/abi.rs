//! Envoy 1.40's dynamic-module ABI, both directions, written by hand for just what the gate
//! uses (Envoy's `source/extensions/dynamic_modules/abi/abi.h`; no SDK crate is vendored).
//!
//! - Callbacks (`envoy_dynamic_module_callback_*`): Envoy's functions, resolved from the
//!   Envoy binary when it `dlopen`s this library. Each has a safe wrapper here.
//! - Event hooks (`envoy_dynamic_module_on_*`): this library's exports. Each turns Envoy's
//!   raw pointers into references and calls the safe code in [`crate::module`] inside
//!   [`guard`], so a panic never unwinds into Envoy (it answers the hook's failure value).
//!
//! Every `unsafe` block of the crate is here or in `host.rs`. The layouts below copy abi.h:
//! C enums are `int`-sized, buffers are `(pointer, length)` pairs.

#![allow(unsafe_code)]

use crate::module::{self, CalloutAnswer, NativeConfig, NativeFilter};
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

// ---- types (abi.h "Common Types", "HTTP Filter Types") ----

/// `envoy_dynamic_module_type_envoy_buffer`: bytes Envoy owns, valid for the current hook.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyBuffer {
    ptr: *const u8,
    length: usize,
}

impl EnvoyBuffer {
    const EMPTY: EnvoyBuffer = EnvoyBuffer {
        ptr: std::ptr::null(),
        length: 0,
    };

    /// The bytes, copied out (they die with the hook).
    fn to_vec(self) -> Vec<u8> {
        if self.ptr.is_null() || self.length == 0 {
            return Vec::new();
        }
        // SAFETY: Envoy hands out `length` readable bytes at `ptr`, valid until the hook
        // returns (abi.h, on every buffer it gives); we copy them before that.
        unsafe { std::slice::from_raw_parts(self.ptr, self.length) }.to_vec()
    }
}

/// `envoy_dynamic_module_type_module_buffer`: bytes this module owns, lent for one call.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ModuleBuffer {
    ptr: *const u8,
    length: usize,
}

impl ModuleBuffer {
    pub fn of(bytes: &[u8]) -> Self {
        ModuleBuffer {
            ptr: bytes.as_ptr(),
            length: bytes.len(),
        }
    }

    /// abi.h: a null value removes the header (`set_header`), an empty body sends none.
    pub const NULL: ModuleBuffer = ModuleBuffer {
        ptr: std::ptr::null(),
        length: 0,
    };
}

/// `envoy_dynamic_module_type_module_http_header`.
#[repr(C)]
pub struct ModuleHttpHeader {
    key_ptr: *const u8,
    key_length: usize,
    value_ptr: *const u8,
    value_length: usize,
}

impl ModuleHttpHeader {
    pub fn of(key: &str, value: &str) -> Self {
        ModuleHttpHeader {
            key_ptr: key.as_ptr(),
            key_length: key.len(),
            value_ptr: value.as_ptr(),
            value_length: value.len(),
        }
    }
}

/// `envoy_dynamic_module_type_envoy_http_header`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyHttpHeader {
    key_ptr: *const u8,
    key_length: usize,
    value_ptr: *const u8,
    value_length: usize,
}

type ConfigEnvoyRaw = *mut c_void;
type FilterEnvoyRaw = *mut c_void;
type ConfigModuleRaw = *const c_void;
type FilterModuleRaw = *const c_void;
type SchedulerRaw = *mut c_void;

/// `envoy_dynamic_module_type_http_header_type`.
#[derive(Clone, Copy)]
#[repr(i32)]
pub enum HeaderMap {
    RequestHeaders = 0,
    RequestTrailers = 1,
    ResponseHeaders = 2,
}

/// `envoy_dynamic_module_type_log_level` (Trace = 0 … Critical = 5).
#[derive(Clone, Copy)]
#[repr(i32)]
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

/// `envoy_dynamic_module_type_attribute_id`: the ones the gate reads, by their place in
/// abi.h's enum.
#[derive(Clone, Copy)]
#[repr(i32)]
pub enum Attribute {
    ResponseCodeDetails = 16,
    ConnectionRequestedServerName = 30,
    ConnectionTlsVersion = 31,
    ConnectionSha256PeerCertificateDigest = 38,
}

/// `envoy_dynamic_module_type_on_http_filter_request_headers_status` (and the response
/// twin): Continue = 0, StopIteration = 1, StopAllIterationAndWatermark = 4.
const HEADERS_CONTINUE: i32 = 0;
const HEADERS_STOP_ITERATION: i32 = 1;
const HEADERS_STOP_ALL_AND_WATERMARK: i32 = 4;
/// `..._body_status`: Continue = 0, StopIterationAndBuffer = 1.
const BODY_CONTINUE: i32 = 0;
const BODY_STOP_AND_BUFFER: i32 = 1;
/// `..._trailers_status`: Continue = 0.
const TRAILERS_CONTINUE: i32 = 0;
/// `envoy_dynamic_module_type_http_callout_init_result_Success` and
/// `..._http_callout_result_Success`.
const CALLOUT_SUCCESS: i32 = 0;
/// `envoy_dynamic_module_type_metrics_result_Success`.
const METRICS_SUCCESS: i32 = 0;

/// The ABI version this module was written against. Envoy only warns on a mismatch; the
/// log line `Dynamic module ABI version v0.2.0 matched.` confirms it.
static ABI_VERSION: &[u8] = b"v0.2.0\0";

// ---- Envoy's callbacks ----

unsafe extern "C" {
    fn envoy_dynamic_module_callback_log(level: LogLevel, message: ModuleBuffer);
    fn envoy_dynamic_module_callback_log_enabled(level: LogLevel) -> bool;
    fn envoy_dynamic_module_callback_is_validation_mode() -> bool;

    fn envoy_dynamic_module_callback_http_filter_config_define_counter(
        config: ConfigEnvoyRaw,
        name: ModuleBuffer,
        label_names: *const ModuleBuffer,
        label_names_length: usize,
        counter_id: *mut usize,
    ) -> i32;
    fn envoy_dynamic_module_callback_http_filter_config_increment_counter(
        config: ConfigEnvoyRaw,
        id: usize,
        label_values: *const ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> i32;

    fn envoy_dynamic_module_callback_http_get_header(
        filter: FilterEnvoyRaw,
        header_type: HeaderMap,
        key: ModuleBuffer,
        result: *mut EnvoyBuffer,
        index: usize,
        optional_size: *mut usize,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_set_header(
        filter: FilterEnvoyRaw,
        header_type: HeaderMap,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_send_response(
        filter: FilterEnvoyRaw,
        status_code: u32,
        headers: *const ModuleHttpHeader,
        headers_size: usize,
        body: ModuleBuffer,
        details: ModuleBuffer,
    );
    fn envoy_dynamic_module_callback_http_clear_route_cache(filter: FilterEnvoyRaw);
    fn envoy_dynamic_module_callback_http_filter_get_attribute_string(
        filter: FilterEnvoyRaw,
        attribute: Attribute,
        result: *mut EnvoyBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_filter_continue_decoding(filter: FilterEnvoyRaw);
    fn envoy_dynamic_module_callback_http_filter_http_callout(
        filter: FilterEnvoyRaw,
        callout_id: *mut u64,
        cluster: ModuleBuffer,
        headers: *const ModuleHttpHeader,
        headers_size: usize,
        body: ModuleBuffer,
        timeout_ms: u64,
    ) -> i32;
    fn envoy_dynamic_module_callback_http_filter_config_http_callout(
        config: ConfigEnvoyRaw,
        callout_id: *mut u64,
        cluster: ModuleBuffer,
        headers: *const ModuleHttpHeader,
        headers_size: usize,
        body: ModuleBuffer,
        timeout_ms: u64,
    ) -> i32;

    fn envoy_dynamic_module_callback_http_filter_config_scheduler_new(
        config: ConfigEnvoyRaw,
    ) -> SchedulerRaw;
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
        scheduler: SchedulerRaw,
        event_id: u64,
    );
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_delete(scheduler: SchedulerRaw);
}

/// Logs through Envoy (component `dynamic_modules`).
pub fn log(level: LogLevel, message: &str) {
    // SAFETY: the buffer points at `message`, alive for the call; Envoy copies it.
    unsafe { envoy_dynamic_module_callback_log(level, ModuleBuffer::of(message.as_bytes())) }
}

pub fn log_enabled(level: LogLevel) -> bool {
    // SAFETY: takes and returns plain values.
    unsafe { envoy_dynamic_module_callback_log_enabled(level) }
}

/// `envoy --mode validate`: configure, but start no background thread.
pub fn is_validation_mode() -> bool {
    // SAFETY: no arguments; abi.h says main thread only, and it is only called from
    // `on_http_filter_config_new`, which runs there.
    unsafe { envoy_dynamic_module_callback_is_validation_mode() }
}

/// Envoy's `DynamicModuleHttpFilterConfig`: valid from `config_new` until `config_destroy`,
/// and Envoy's counters behind it are thread-safe, so it may be used from any thread.
#[derive(Clone, Copy, Debug)]
pub struct ConfigEnvoy(ConfigEnvoyRaw);

// SAFETY: the pointer is only passed back to Envoy, whose config object outlives every use
// (filters and callouts hold it; the ticker is joined in `config_destroy`), and the calls
// made with it from other threads (counters) are thread-safe on Envoy's side.
unsafe impl Send for ConfigEnvoy {}
// SAFETY: as for Send: no state on our side.
unsafe impl Sync for ConfigEnvoy {}

impl ConfigEnvoy {
    /// Defines a counter. Envoy freezes stat creation once `config_new` returns.
    pub fn define_counter(self, name: &str) -> Option<usize> {
        let mut id = 0usize;
        // SAFETY: `self.0` is the live config; `name` is lent for the call; no labels
        // (null, 0); `id` is a valid out pointer.
        let result = unsafe {
            envoy_dynamic_module_callback_http_filter_config_define_counter(
                self.0,
                ModuleBuffer::of(name.as_bytes()),
                std::ptr::null(),
                0,
                &mut id,
            )
        };
        (result == METRICS_SUCCESS).then_some(id)
    }

    pub fn increment_counter(self, id: usize) {
        // SAFETY: `self.0` is the live config and `id` one it defined; no labels.
        let _ = unsafe {
            envoy_dynamic_module_callback_http_filter_config_increment_counter(
                self.0,
                id,
                std::ptr::null(),
                0,
                1,
            )
        };
    }

    /// A callout from the configuration (main thread): answered in
    /// `on_http_filter_config_http_callout_done`.
    pub fn http_callout(
        self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Option<u64> {
        let headers: Vec<ModuleHttpHeader> = headers
            .iter()
            .map(|(k, v)| ModuleHttpHeader::of(k, v))
            .collect();
        let mut id = 0u64;
        // SAFETY: every buffer and the header array are alive for the call, and Envoy copies
        // them into its request; `id` is a valid out pointer.
        let result = unsafe {
            envoy_dynamic_module_callback_http_filter_config_http_callout(
                self.0,
                &mut id,
                ModuleBuffer::of(cluster.as_bytes()),
                headers.as_ptr(),
                headers.len(),
                ModuleBuffer::NULL,
                timeout_ms,
            )
        };
        (result == CALLOUT_SUCCESS).then_some(id)
    }

    /// A scheduler that posts events to this configuration on the main thread.
    pub fn scheduler(self) -> Option<ConfigScheduler> {
        // SAFETY: `self.0` is the live config; Envoy allocates the scheduler, which we own
        // and delete in `ConfigScheduler::drop`.
        let raw = unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_new(self.0) };
        (!raw.is_null()).then_some(ConfigScheduler(raw))
    }
}

/// Envoy's config scheduler: `commit` is safe from any thread (abi.h), so the ticker thread
/// holds it. Deleted on drop, after the ticker thread is joined.
#[derive(Debug)]
pub struct ConfigScheduler(SchedulerRaw);

// SAFETY: abi.h: the scheduler exists to dispatch from threads the module manages; commit
// posts to the main thread's dispatcher.
unsafe impl Send for ConfigScheduler {}
// SAFETY: as for Send; `commit` takes `&self` and Envoy synchronises the post.
unsafe impl Sync for ConfigScheduler {}

impl ConfigScheduler {
    /// Runs `on_http_filter_config_scheduled(event_id)` on the main thread, soon.
    pub fn commit(&self, event_id: u64) {
        // SAFETY: the scheduler is alive until drop, which happens after every commit (the
        // ticker thread that commits is joined first).
        unsafe {
            envoy_dynamic_module_callback_http_filter_config_scheduler_commit(self.0, event_id)
        }
    }
}

impl Drop for ConfigScheduler {
    fn drop(&mut self) {
        // SAFETY: made by `scheduler_new`, deleted exactly once, here.
        unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_delete(self.0) }
    }
}

/// Envoy's `DynamicModuleHttpFilter` for one stream: valid from `on_http_filter_new` until
/// `on_http_filter_destroy`, used only on that stream's worker thread, within its hooks.
#[derive(Clone, Copy, Debug)]
pub struct FilterEnvoy(FilterEnvoyRaw);

impl FilterEnvoy {
    /// One header's first value, copied. `None` when absent.
    pub fn header(self, map: HeaderMap, name: &str) -> Option<Vec<u8>> {
        let mut value = EnvoyBuffer::EMPTY;
        // SAFETY: the filter is live in this hook; `name` is lent for the call; `value` is a
        // valid out buffer and the count pointer may be null (abi.h).
        let found = unsafe {
            envoy_dynamic_module_callback_http_get_header(
                self.0,
                map,
                ModuleBuffer::of(name.as_bytes()),
                &mut value,
                0,
                std::ptr::null_mut(),
            )
        };
        (found && !value.ptr.is_null()).then(|| value.to_vec())
    }

    /// Sets (replaces) a header; `None` removes it.
    pub fn set_header(self, map: HeaderMap, name: &str, value: Option<&str>) {
        let value = value.map_or(ModuleBuffer::NULL, |v| ModuleBuffer::of(v.as_bytes()));
        // SAFETY: the filter is live in this hook; both buffers are lent for the call.
        let _ = unsafe {
            envoy_dynamic_module_callback_http_set_header(
                self.0,
                map,
                ModuleBuffer::of(name.as_bytes()),
                value,
            )
        };
    }

    /// Answers the stream here with a JSON body.
    pub fn send_json_response(self, status: u32, body: &str) {
        let headers = [ModuleHttpHeader::of("content-type", "application/json")];
        // SAFETY: the filter is live in this hook; the header array, body and details are
        // alive for the call and Envoy copies them.
        unsafe {
            envoy_dynamic_module_callback_http_send_response(
                self.0,
                status,
                headers.as_ptr(),
                headers.len(),
                ModuleBuffer::of(body.as_bytes()),
                ModuleBuffer::of(b"mtls_gate"),
            )
        }
    }

    pub fn clear_route_cache(self) {
        // SAFETY: the filter is live in this hook; a no-op in the wrong phase (abi.h).
        unsafe { envoy_dynamic_module_callback_http_clear_route_cache(self.0) }
    }

    pub fn continue_decoding(self) {
        // SAFETY: the filter is live in this hook (a callout answer on its worker).
        unsafe { envoy_dynamic_module_callback_http_filter_continue_decoding(self.0) }
    }

    /// A string attribute, copied. `None` when absent or not a string.
    pub fn attribute(self, attribute: Attribute) -> Option<Vec<u8>> {
        let mut value = EnvoyBuffer::EMPTY;
        // SAFETY: the filter is live in this hook; `value` is a valid out buffer.
        let found = unsafe {
            envoy_dynamic_module_callback_http_filter_get_attribute_string(
                self.0, attribute, &mut value,
            )
        };
        found.then(|| value.to_vec())
    }

    /// A callout from this stream: answered in `on_http_filter_http_callout_done`.
    pub fn http_callout(
        self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Option<u64> {
        let headers: Vec<ModuleHttpHeader> = headers
            .iter()
            .map(|(k, v)| ModuleHttpHeader::of(k, v))
            .collect();
        let mut id = 0u64;
        // SAFETY: the filter is live in this hook; the buffers and header array are alive
        // for the call and Envoy copies them; `id` is a valid out pointer.
        let result = unsafe {
            envoy_dynamic_module_callback_http_filter_http_callout(
                self.0,
                &mut id,
                ModuleBuffer::of(cluster.as_bytes()),
                headers.as_ptr(),
                headers.len(),
                ModuleBuffer::NULL,
                timeout_ms,
            )
        };
        (result == CALLOUT_SUCCESS).then_some(id)
    }
}

// ---- this module's event hooks ----

/// Runs `f`, catching a panic so it never unwinds into Envoy; a panic answers `failed`.
/// (The release profile aborts on panic instead; the lints keep panics out of this crate.)
fn guard<T>(failed: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(failed)
}

/// The configuration behind a module pointer made by `on_http_filter_config_new`.
fn config<'a>(ptr: ConfigModuleRaw) -> Option<&'a NativeConfig> {
    // SAFETY: a non-null config pointer is one `on_http_filter_config_new` returned from
    // `Arc::into_raw`, alive until `on_http_filter_config_destroy` (after every other hook
    // of that config and of its filters).
    unsafe { ptr.cast::<NativeConfig>().as_ref() }
}

/// A counted handle on the configuration behind a module pointer, for a stream to keep.
fn config_arc(ptr: ConfigModuleRaw) -> Option<Arc<NativeConfig>> {
    if ptr.is_null() {
        return None;
    }
    let ptr = ptr.cast::<NativeConfig>();
    // SAFETY: as in `config`: the pointer came from `Arc::into_raw` and that reference is
    // still held (by Envoy, until `config_destroy`); we add one count and take it.
    unsafe {
        Arc::increment_strong_count(ptr);
        Some(Arc::from_raw(ptr))
    }
}

/// The filter behind a module pointer made by `on_http_filter_new`.
fn filter<'a>(ptr: FilterModuleRaw) -> Option<&'a NativeFilter> {
    // SAFETY: a non-null filter pointer is one `on_http_filter_new` returned from
    // `Box::into_raw`, alive until `on_http_filter_destroy`. Only `&` is handed out: Envoy
    // can re-enter our hooks (a local reply runs the response hooks), so the request state
    // lives in a `RefCell`.
    unsafe { ptr.cast::<NativeFilter>().as_ref() }
}

/// A callout's answer, copied out of Envoy's arrays.
fn callout_answer(
    result: i32,
    headers: *const EnvoyHttpHeader,
    headers_size: usize,
    body_chunks: *const EnvoyBuffer,
    body_chunks_size: usize,
) -> CalloutAnswer {
    if result != CALLOUT_SUCCESS {
        return CalloutAnswer::default();
    }
    let headers: &[EnvoyHttpHeader] = if headers.is_null() {
        &[]
    } else {
        // SAFETY: Envoy passes `headers_size` headers at `headers`, valid for this hook.
        unsafe { std::slice::from_raw_parts(headers, headers_size) }
    };
    let chunks: &[EnvoyBuffer] = if body_chunks.is_null() {
        &[]
    } else {
        // SAFETY: Envoy passes `body_chunks_size` buffers at `body_chunks`, valid for this hook.
        unsafe { std::slice::from_raw_parts(body_chunks, body_chunks_size) }
    };
    CalloutAnswer {
        headers: headers
            .iter()
            .map(|h| {
                let key = EnvoyBuffer {
                    ptr: h.key_ptr,
                    length: h.key_length,
                };
                let value = EnvoyBuffer {
                    ptr: h.value_ptr,
                    length: h.value_length,
                };
                (key.to_vec(), value.to_vec())
            })
            .collect(),
        body: chunks.iter().flat_map(|c| c.to_vec()).collect(),
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const u8 {
    ABI_VERSION.as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    config_envoy: ConfigEnvoyRaw,
    name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> ConfigModuleRaw {
    guard(std::ptr::null(), || {
        match module::config_new(ConfigEnvoy(config_envoy), &name.to_vec(), config.to_vec()) {
            Some(config) => Arc::into_raw(config).cast(),
            // Envoy refuses the configuration.
            None => std::ptr::null(),
        }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(config: ConfigModuleRaw) {
    if config.is_null() {
        return;
    }
    // SAFETY: made by `Arc::into_raw` in `config_new`; Envoy destroys it exactly once.
    let config = unsafe { Arc::from_raw(config.cast::<NativeConfig>()) };
    guard((), || module::config_destroy(config));
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_scheduled(
    _config_envoy: ConfigEnvoyRaw,
    config_ptr: ConfigModuleRaw,
    _event_id: u64,
) {
    guard((), || {
        if let Some(config) = config(config_ptr) {
            module::config_tick(config);
        }
    });
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_http_callout_done(
    _config_envoy: ConfigEnvoyRaw,
    config_ptr: ConfigModuleRaw,
    callout_id: u64,
    result: i32,
    headers: *const EnvoyHttpHeader,
    headers_size: usize,
    body_chunks: *const EnvoyBuffer,
    body_chunks_size: usize,
) {
    guard((), || {
        let answer = callout_answer(result, headers, headers_size, body_chunks, body_chunks_size);
        if let Some(config) = config(config_ptr) {
            module::config_callout_done(config, callout_id, &answer);
        }
    });
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    config_ptr: ConfigModuleRaw,
    filter_envoy: FilterEnvoyRaw,
) -> FilterModuleRaw {
    guard(std::ptr::null(), || match config_arc(config_ptr) {
        Some(config) => Box::into_raw(Box::new(module::filter_new(
            config,
            FilterEnvoy(filter_envoy),
        )))
        .cast(),
        // Envoy closes the stream.
        None => std::ptr::null(),
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(filter: FilterModuleRaw) {
    if filter.is_null() {
        return;
    }
    // SAFETY: made by `Box::into_raw` in `on_http_filter_new`; Envoy destroys it once,
    // after its last hook.
    let filter = unsafe { Box::from_raw(filter.cast::<NativeFilter>().cast_mut()) };
    guard((), || drop(filter));
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    filter_envoy: FilterEnvoyRaw,
    filter_ptr: FilterModuleRaw,
    _end_of_stream: bool,
) -> i32 {
    // A failure holds the request (and everything after it) rather than pass it unchecked.
    guard(HEADERS_STOP_ALL_AND_WATERMARK, || {
        match filter(filter_ptr) {
            Some(f) if module::request_headers(f, FilterEnvoy(filter_envoy)) => HEADERS_CONTINUE,
            // Answered locally or waiting for a lookup: hold the body too, so nothing reaches
            // the upstream before the decision (StopIteration would let a body frame resume it).
            _ => HEADERS_STOP_ALL_AND_WATERMARK,
        }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    _filter_envoy: FilterEnvoyRaw,
    filter_ptr: FilterModuleRaw,
    _end_of_stream: bool,
) -> i32 {
    guard(BODY_STOP_AND_BUFFER, || match filter(filter_ptr) {
        Some(f) if module::request_passed(f) => BODY_CONTINUE,
        _ => BODY_STOP_AND_BUFFER,
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
    filter_envoy: FilterEnvoyRaw,
    filter_ptr: FilterModuleRaw,
) -> i32 {
    guard(TRAILERS_CONTINUE, || {
        if let Some(f) = filter(filter_ptr) {
            module::request_trailers(f, FilterEnvoy(filter_envoy));
        }
        TRAILERS_CONTINUE
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    filter_envoy: FilterEnvoyRaw,
    filter_ptr: FilterModuleRaw,
    _end_of_stream: bool,
) -> i32 {
    guard(HEADERS_CONTINUE, || match filter(filter_ptr) {
        Some(f) if !module::response_headers(f, FilterEnvoy(filter_envoy)) => {
            HEADERS_STOP_ITERATION
        }
        _ => HEADERS_CONTINUE,
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    _filter_envoy: FilterEnvoyRaw,
    _filter_ptr: FilterModuleRaw,
    _end_of_stream: bool,
) -> i32 {
    BODY_CONTINUE
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
    _filter_envoy: FilterEnvoyRaw,
    _filter_ptr: FilterModuleRaw,
) -> i32 {
    TRAILERS_CONTINUE
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    _filter_envoy: FilterEnvoyRaw,
    _filter_ptr: FilterModuleRaw,
) {
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    filter_envoy: FilterEnvoyRaw,
    filter_ptr: FilterModuleRaw,
    callout_id: u64,
    result: i32,
    headers: *const EnvoyHttpHeader,
    headers_size: usize,
    body_chunks: *const EnvoyBuffer,
    body_chunks_size: usize,
) {
    guard((), || {
        let answer = callout_answer(result, headers, headers_size, body_chunks, body_chunks_size);
        if let Some(f) = filter(filter_ptr) {
            module::request_callout_done(f, FilterEnvoy(filter_envoy), callout_id, &answer);
        }
    });
}

// Hooks Envoy 1.40 requires of every HTTP filter module; the gate uses none of them
// (no streamed callouts, no per-stream scheduler, not a terminal filter).

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
    _filter_envoy: FilterEnvoyRaw,
    _filter_ptr: FilterModuleRaw,
    _stream_id: u64,
    _headers: *const EnvoyHttpHeader,
    _headers_size: usize,
    _end_stream: bool,
) {
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
    _filter_envoy: FilterEnvoyRaw,
    _filter_ptr: FilterModuleRaw,
    _stream_id: u64,
    _data: *const EnvoyBuffer,
    _data_count: usize,
    _end_stream: bool,
) {
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
    _filter_envoy: FilterEnvoyRaw,
    _filter_ptr: FilterModuleRaw,
    _stream_id: u64,
    _trailers: *const EnvoyHttpHeader,
    _trailers_size: usize,
) {
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(
    _filter_envoy: FilterEnvoyRaw,
    _filter_ptr: FilterModuleRaw,
    _stream_id: u64,
) {
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(
    _filter_envoy: FilterEnvoyRaw,
    _filter_ptr: FilterModuleRaw,
    _stream_id: u64,
    _reason: i32,
) {
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(
    _filter_envoy: FilterEnvoyRaw,
    _filter_ptr: FilterModuleRaw,
    _event_id: u64,
) {
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
    _filter_envoy: FilterEnvoyRaw,
    _filter_ptr: FilterModuleRaw,
) {
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
    _filter_envoy: FilterEnvoyRaw,
    _filter_ptr: FilterModuleRaw,
) {
}
