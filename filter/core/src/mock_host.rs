//! [`MockHost`]: a [`Host`] in memory, for fast unit tests of the filter's protocol (sync,
//! lookup, admission) without wasm or Envoy. Compiled for tests and with the `mock` feature
//! only, never into the filter.
//!
//! One `MockHost` is one Envoy worker (one wasm VM). [`MockHost::sibling`] is another
//! worker of the same Envoy: it shares the shared data and the clock, and nothing else, so
//! races between workers are played out call by call ([`MockHost::before_next_set`] lands
//! another worker's write between a read and the CAS write that follows it).
//!
//! Shared data follows Envoy's rules (proxy-wasm-cpp-host `SharedData`): CAS 0 is
//! unconditional, a stale CAS is refused only when the key exists, every write takes a fresh
//! token, and an empty value reads back as "no value" with a token, as the SDK sees it.
//! Every host call is written to a journal, so a test can count the calls of a request.

use crate::header_map::HeaderMap;
use crate::host::{Host, HostError, LogLevel};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

/// A callout the code under test started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callout {
    pub token: u32,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

impl Callout {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

type Hook = Box<dyn FnOnce()>;

/// The Envoy-wide part: shared data.
struct SharedData {
    entries: BTreeMap<String, (Vec<u8>, u32)>,
    next_cas: u32,
    /// Run once, just before the next write of their key lands.
    before_set: Vec<(String, Hook)>,
}

impl Default for SharedData {
    fn default() -> Self {
        // Envoy's counter starts at 1: 0 means "no CAS".
        SharedData {
            entries: BTreeMap::new(),
            next_cas: 1,
            before_set: Vec::new(),
        }
    }
}

impl SharedData {
    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), HostError> {
        if let (Some(cas), Some((_, current))) = (cas, self.entries.get(key))
            && cas != *current
        {
            return Err(HostError::CasMismatch);
        }
        let fresh = self.next_cas;
        self.next_cas = self.next_cas.wrapping_add(1).max(1);
        self.entries.insert(key.to_owned(), (value.to_vec(), fresh));
        Ok(())
    }

    fn take_hook(&mut self, key: &str) -> Option<Hook> {
        let at = self.before_set.iter().position(|(k, _)| k == key)?;
        Some(self.before_set.remove(at).1)
    }
}

/// One worker's view: its configuration, its counters, the request in progress.
#[derive(Default)]
struct Worker {
    configuration: Option<Vec<u8>>,
    tick_period: Option<Duration>,
    properties: HashMap<String, Vec<u8>>,
    request_headers: Vec<(String, String)>,
    request_trailers: Vec<(String, String)>,
    response_headers: Vec<(String, String)>,
    callouts: Vec<Callout>,
    last_token: u32,
    dispatch_error: Option<HostError>,
    /// The callout answer being delivered: `:status` (none for a failed call) and body.
    response: Option<(Option<String>, Vec<u8>)>,
    counters: Vec<(String, u64)>,
    logs: Vec<(LogLevel, String)>,
    local_responses: Vec<(u32, String)>,
    route_cache_clears: usize,
    resumed: usize,
    journal: Vec<String>,
    /// Answers [`Host::request_header_pairs`] (as the proxy-wasm host does); off by default,
    /// as a host that reads each header by name.
    lists_headers: bool,
}

/// A worker of a pretend Envoy. See the module docs.
pub struct MockHost {
    shared: Rc<RefCell<SharedData>>,
    clock_ms: Rc<Cell<i64>>,
    worker: RefCell<Worker>,
}

impl Default for MockHost {
    fn default() -> Self {
        Self::new()
    }
}

impl MockHost {
    /// Where the clock starts: 2027-01-15, unix ms.
    pub const START_MS: i64 = 1_800_000_000_000;

    /// The first worker of a new Envoy.
    pub fn new() -> Self {
        MockHost {
            shared: Rc::default(),
            clock_ms: Rc::new(Cell::new(Self::START_MS)),
            worker: RefCell::default(),
        }
    }

    /// Another worker of the same Envoy: same shared data and clock, its own everything else.
    pub fn sibling(&self) -> Self {
        MockHost {
            shared: Rc::clone(&self.shared),
            clock_ms: Rc::clone(&self.clock_ms),
            worker: RefCell::default(),
        }
    }

    fn record(&self, call: String) {
        self.worker.borrow_mut().journal.push(call);
    }

    // ---- clock ----

    pub fn now(&self) -> i64 {
        self.clock_ms.get()
    }

    pub fn advance_ms(&self, ms: i64) {
        self.clock_ms.set(self.clock_ms.get().saturating_add(ms));
    }

    // ---- shared data ----

    /// An unconditional write, as another process of the same Envoy (or a test) makes it.
    pub fn put_shared(&self, key: &str, value: &[u8]) {
        let _ = self.shared.borrow_mut().set(key, value, None);
    }

    /// The stored bytes of `key`, an empty value included.
    pub fn shared_value(&self, key: &str) -> Option<Vec<u8>> {
        self.shared
            .borrow()
            .entries
            .get(key)
            .map(|(v, _)| v.clone())
    }

    /// Every shared-data key, sorted.
    pub fn shared_keys(&self) -> Vec<String> {
        self.shared.borrow().entries.keys().cloned().collect()
    }

    /// Runs `hook` once, just before the next write of `key` (by any worker) lands: another
    /// worker acting between this one's read and its write.
    pub fn before_next_set(&self, key: &str, hook: impl FnOnce() + 'static) {
        self.shared
            .borrow_mut()
            .before_set
            .push((key.to_owned(), Box::new(hook)));
    }

    // ---- configuration ----

    pub fn set_plugin_configuration(&self, json: &str) {
        self.worker.borrow_mut().configuration = Some(json.as_bytes().to_vec());
    }

    pub fn tick_period(&self) -> Option<Duration> {
        self.worker.borrow().tick_period
    }

    // ---- the request ----

    /// A new request on this worker: its properties, headers, trailers and replies start
    /// empty, and so does the journal. Callouts, counters and logs stay.
    pub fn start_request(&self) {
        let mut worker = self.worker.borrow_mut();
        worker.properties.clear();
        worker.request_headers.clear();
        worker.request_trailers.clear();
        worker.response_headers.clear();
        worker.response = None;
        worker.local_responses.clear();
        worker.route_cache_clears = 0;
        worker.resumed = 0;
        worker.journal.clear();
    }

    pub fn put_property(&self, dotted_path: &str, value: &[u8]) {
        self.worker
            .borrow_mut()
            .properties
            .insert(dotted_path.to_owned(), value.to_vec());
    }

    /// Makes this worker list the request headers in one read ([`Host::request_header_pairs`]).
    pub fn list_request_headers(&self) {
        self.worker.borrow_mut().lists_headers = true;
    }

    /// Adds a request header as the client (or Envoy) sent it.
    pub fn put_request_header(&self, name: &str, value: &str) {
        self.worker
            .borrow_mut()
            .request_headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
    }

    /// Adds a response header as Envoy hands the response to the filter.
    pub fn put_response_header(&self, name: &str, value: &str) {
        self.worker
            .borrow_mut()
            .response_headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
    }

    pub fn put_request_trailer(&self, name: &str, value: &str) {
        self.worker
            .borrow_mut()
            .request_trailers
            .push((name.to_ascii_lowercase(), value.to_owned()));
    }

    /// The request header `name` as it would now go upstream.
    pub fn header(&self, name: &str) -> Option<String> {
        self.worker
            .borrow()
            .request_headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    pub fn request_headers(&self) -> Vec<(String, String)> {
        self.worker.borrow().request_headers.clone()
    }

    pub fn request_trailers(&self) -> Vec<(String, String)> {
        self.worker.borrow().request_trailers.clone()
    }

    pub fn local_responses(&self) -> Vec<(u32, String)> {
        self.worker.borrow().local_responses.clone()
    }

    pub fn route_cache_clears(&self) -> usize {
        self.worker.borrow().route_cache_clears
    }

    pub fn resumed(&self) -> usize {
        self.worker.borrow().resumed
    }

    // ---- callouts ----

    /// Every callout started on this worker, oldest first.
    pub fn callouts(&self) -> Vec<Callout> {
        self.worker.borrow().callouts.clone()
    }

    /// Makes the next dispatches fail with `error` (`None`: succeed again).
    pub fn fail_dispatch(&self, error: Option<HostError>) {
        self.worker.borrow_mut().dispatch_error = error;
    }

    /// Delivers the answer to callout `token`: with a `:status`, or (`None`) as a failed or
    /// timed-out call, which has no headers. Returns what the host announces with it.
    pub fn answer_call(
        &self,
        token: u32,
        status: Option<&str>,
        body: &[u8],
    ) -> crate::store_call::CallResponse {
        let num_headers = usize::from(status.is_some());
        self.worker.borrow_mut().response = Some((status.map(str::to_owned), body.to_vec()));
        crate::store_call::CallResponse {
            token,
            num_headers,
            body_size: body.len(),
        }
    }

    // ---- counters and logs ----

    /// A counter's value; `None` when it was never defined.
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.worker
            .borrow()
            .counters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.worker.borrow().logs.clone()
    }

    /// Was a line containing `needle` logged at `level`?
    pub fn logged(&self, level: LogLevel, needle: &str) -> bool {
        self.worker
            .borrow()
            .logs
            .iter()
            .any(|(l, m)| *l == level && m.contains(needle))
    }

    // ---- the journal ----

    /// Every host call since the request started, as `"<method> <argument>"`.
    pub fn journal(&self) -> Vec<String> {
        self.worker.borrow().journal.clone()
    }

    /// How many journal entries are calls of `method`, or of exactly `"<method> <argument>"`.
    pub fn journal_count(&self, call: &str) -> usize {
        self.worker
            .borrow()
            .journal
            .iter()
            .filter(|entry| {
                entry.as_str() == call
                    || entry
                        .strip_prefix(call)
                        .is_some_and(|rest| rest.starts_with(' '))
            })
            .count()
    }
}

impl Host for MockHost {
    fn now_ms(&self) -> i64 {
        self.record("now_ms".into());
        self.clock_ms.get()
    }

    fn log(&self, level: LogLevel, message: fmt::Arguments<'_>) {
        let mut worker = self.worker.borrow_mut();
        worker.journal.push(format!("log {level:?}"));
        worker.logs.push((level, message.to_string()));
    }

    fn plugin_configuration(&self) -> Option<Vec<u8>> {
        self.record("plugin_configuration".into());
        self.worker.borrow().configuration.clone()
    }

    fn set_tick_period(&self, period: Duration) {
        self.record(format!("set_tick_period {}", period.as_millis()));
        self.worker.borrow_mut().tick_period = Some(period);
    }

    fn shared_get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        self.record(format!("shared_get {key}"));
        match self.shared.borrow().entries.get(key) {
            Some((value, cas)) if value.is_empty() => (None, Some(*cas)),
            Some((value, cas)) => (Some(value.clone()), Some(*cas)),
            None => (None, None),
        }
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), HostError> {
        self.record(format!("shared_set {key}"));
        // Take the hook out first: it may be another worker writing to the same store.
        let hook = self.shared.borrow_mut().take_hook(key);
        if let Some(hook) = hook {
            hook();
        }
        self.shared.borrow_mut().set(key, value, cas)
    }

    fn dispatch_http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<u32, HostError> {
        self.record(format!("dispatch_http_call {cluster}"));
        let mut worker = self.worker.borrow_mut();
        if let Some(error) = worker.dispatch_error {
            return Err(error);
        }
        worker.last_token = worker.last_token.wrapping_add(1);
        let token = worker.last_token;
        worker.callouts.push(Callout {
            token,
            cluster: cluster.to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            timeout,
        });
        Ok(token)
    }

    fn callout_response_header(&self, name: &str) -> Option<Vec<u8>> {
        self.record(format!("callout_response_header {name}"));
        let worker = self.worker.borrow();
        let (status, _) = worker.response.as_ref()?;
        // A failed call has no header map (Envoy: BadArgument), so no header either.
        (name == ":status")
            .then(|| status.as_ref().map(|s| s.as_bytes().to_vec()))
            .flatten()
    }

    fn callout_response_body(&self, size: usize) -> Option<Vec<u8>> {
        self.record(format!("callout_response_body {size}"));
        let worker = self.worker.borrow();
        let (_, body) = worker.response.as_ref()?;
        Some(body.iter().take(size).copied().collect())
    }

    fn define_counter(&self, name: &str) -> Option<u32> {
        self.record(format!("define_counter {name}"));
        let mut worker = self.worker.borrow_mut();
        let index = match worker.counters.iter().position(|(n, _)| n == name) {
            Some(index) => index,
            None => {
                worker.counters.push((name.to_owned(), 0));
                worker.counters.len() - 1
            }
        };
        u32::try_from(index + 1).ok()
    }

    fn increment_counter(&self, id: u32) {
        let mut worker = self.worker.borrow_mut();
        let index = usize::try_from(id).unwrap_or(0).wrapping_sub(1);
        let name = match worker.counters.get_mut(index) {
            Some((name, value)) => {
                *value += 1;
                name.clone()
            }
            None => format!("#{id}"),
        };
        worker.journal.push(format!("increment_counter {name}"));
    }

    fn property(&self, dotted_path: &str) -> Option<Vec<u8>> {
        self.record(format!("property {dotted_path}"));
        self.worker.borrow().properties.get(dotted_path).cloned()
    }

    fn request_header(&self, name: &str) -> Option<String> {
        self.record(format!("request_header {name}"));
        self.header(name)
    }

    fn request_header_pairs(&self) -> Option<HeaderMap> {
        if !self.worker.borrow().lists_headers {
            return None;
        }
        self.record("request_header_pairs".to_owned());
        let worker = self.worker.borrow();
        Some(HeaderMap::from_pairs(
            worker
                .request_headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes())),
        ))
    }

    fn set_request_header(&self, name: &str, value: &str) {
        self.record(format!("set_request_header {name}"));
        let mut worker = self.worker.borrow_mut();
        worker.request_headers.retain(|(n, _)| n != name);
        worker
            .request_headers
            .push((name.to_owned(), value.to_owned()));
    }

    fn remove_request_header(&self, name: &str) {
        self.record(format!("remove_request_header {name}"));
        self.worker
            .borrow_mut()
            .request_headers
            .retain(|(n, _)| n != name);
    }

    fn remove_request_trailer(&self, name: &str) {
        self.record(format!("remove_request_trailer {name}"));
        self.worker
            .borrow_mut()
            .request_trailers
            .retain(|(n, _)| n != name);
    }

    fn response_header(&self, name: &str) -> Option<String> {
        self.record(format!("response_header {name}"));
        self.worker
            .borrow()
            .response_headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn send_local_response(&self, status: u32, body: &str) {
        self.record(format!("send_local_response {status}"));
        self.worker
            .borrow_mut()
            .local_responses
            .push((status, body.to_owned()));
    }

    fn resume_request(&self) {
        self.record("resume_request".into());
        self.worker.borrow_mut().resumed += 1;
    }

    fn clear_route_cache(&self) {
        self.record("clear_route_cache".into());
        self.worker.borrow_mut().route_cache_clears += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_data_follows_envoys_cas_rules() {
        let a = MockHost::new();
        let b = a.sibling();
        // Creating a key never checks the CAS.
        assert_eq!(a.shared_set("k", b"1", Some(99)), Ok(()));
        let (value, cas) = b.shared_get("k");
        assert_eq!(value.as_deref(), Some(&b"1"[..]));
        assert_eq!(a.shared_set("k", b"2", cas), Ok(()));
        assert_eq!(
            b.shared_set("k", b"3", cas),
            Err(HostError::CasMismatch),
            "a token older than the last write is refused"
        );
        assert_eq!(
            b.shared_set("k", b"3", None),
            Ok(()),
            "no CAS: unconditional"
        );
        assert_eq!(a.shared_get("k").0.as_deref(), Some(&b"3"[..]));
        // An empty value is a value, which the SDK reads as none.
        a.put_shared("e", b"");
        assert!(matches!(a.shared_get("e"), (None, Some(_))));
        assert_eq!(a.shared_get("missing"), (None, None));
    }

    #[test]
    fn a_hook_lands_between_a_read_and_the_write_after_it() {
        let a = MockHost::new();
        let b = Rc::new(a.sibling());
        a.put_shared("k", b"0");
        let (_, cas) = a.shared_get("k");
        let other = Rc::clone(&b);
        a.before_next_set("k", move || {
            let (_, cas) = other.shared_get("k");
            assert_eq!(other.shared_set("k", b"b", cas), Ok(()));
        });
        assert_eq!(a.shared_set("k", b"a", cas), Err(HostError::CasMismatch));
        assert_eq!(a.shared_value("k").as_deref(), Some(&b"b"[..]));
    }

    #[test]
    fn workers_share_data_and_clock_but_not_requests() {
        let a = MockHost::new();
        let b = a.sibling();
        a.put_request_header("X-One", "1");
        a.advance_ms(5);
        assert_eq!(b.now(), MockHost::START_MS + 5);
        assert_eq!(b.header("x-one"), None);
        assert_eq!(a.header("x-one").as_deref(), Some("1"));
    }
}
