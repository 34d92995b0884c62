//! Keeping the shared-data cache in step with the shim's change feed.
//!
//! `on_tick` fires in every worker's root context and on the main thread. Exactly one of
//! them holds the lease (taken with CAS in shared data, with an expiry so a dead holder is
//! replaced) and calls the feed; the others never call out.

use crate::host;
use crate::metrics::Metrics;
use mtls_gate_core::config::StoreLink;
use mtls_gate_core::feed::{ChangeSet, changes_path};
use mtls_gate_core::shared_data::{self, Lease, Namespace, SyncState};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType};
use std::rc::Rc;
use std::time::Duration;

pub struct Syncer {
    link: StoreLink,
    holder_id: u64,
    in_flight: Option<InFlight>,
    metrics: Rc<Metrics>,
}

struct InFlight {
    token: u32,
    deadline_ms: i64,
}

impl Syncer {
    pub fn new(link: StoreLink, metrics: Rc<Metrics>) -> Self {
        let holder_id = allocate_holder_id(&link.namespace);
        record_start(&link.namespace, host::now_ms());
        Syncer {
            link,
            holder_id,
            in_flight: None,
            metrics,
        }
    }

    pub fn tick_period(&self) -> Duration {
        Duration::from_millis(self.link.sync_interval_ms)
    }

    fn lease_ttl_ms(&self) -> i64 {
        let ms = self
            .link
            .sync_interval_ms
            .saturating_mul(3)
            .max(self.link.sync_interval_ms + self.link.timeout_ms);
        i64::try_from(ms).unwrap_or(i64::MAX)
    }

    pub fn on_tick(&mut self) {
        let now = host::now_ms();
        if let Some(in_flight) = &self.in_flight {
            if now < in_flight.deadline_ms {
                return;
            }
            // Envoy answers every callout, timeouts included; this only guards a lost answer.
            self.in_flight = None;
        }
        if !self.take_lease(now) {
            return;
        }
        let since = host::shared_get(&self.link.namespace.sync_state())
            .0
            .and_then(|v| SyncState::decode(&v))
            .map_or(0, |s| s.version);
        let path = changes_path(since);
        let authorization = format!("Bearer {}", self.link.token);
        let headers = vec![
            (":method", "GET"),
            (":path", path.as_str()),
            (":authority", self.link.authority.as_str()),
            ("authorization", authorization.as_str()),
        ];
        let timeout = Duration::from_millis(self.link.timeout_ms);
        match hostcalls::dispatch_http_call(&self.link.cluster, headers, None, vec![], timeout) {
            Ok(token) => {
                let deadline_ms = now.saturating_add(self.lease_ttl_ms());
                self.in_flight = Some(InFlight { token, deadline_ms });
            }
            Err(status) => {
                log::warn!(
                    "mtls-gate: sync call to cluster {:?} failed to start: {status:?}",
                    self.link.cluster
                );
                self.metrics.sync_failed();
            }
        }
    }

    /// Returns true when `token` was this syncer's call.
    pub fn on_response(&mut self, token: u32, num_headers: usize, body_size: usize) -> bool {
        if self.in_flight.as_ref().is_none_or(|f| f.token != token) {
            return false;
        }
        self.in_flight = None;
        let status = call_response_status(num_headers).unwrap_or_default();
        if status != b"200" {
            log::warn!(
                "mtls-gate: change feed answered {:?}; keeping the last synced snapshot",
                String::from_utf8_lossy(&status)
            );
            self.metrics.sync_failed();
            return true;
        }
        let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
            .ok()
            .flatten()
            .unwrap_or_default();
        match ChangeSet::decode(&body) {
            Ok(changes) => {
                apply(&self.link.namespace, &changes, host::now_ms());
                self.metrics.sync_succeeded();
            }
            Err(error) => {
                log::warn!(
                    "mtls-gate: malformed change feed ({error}); keeping the last synced snapshot"
                );
                self.metrics.sync_failed();
            }
        }
        true
    }

    fn take_lease(&self, now: i64) -> bool {
        let key = self.link.namespace.lease();
        let (value, cas) = host::shared_get(&key);
        let current = value.and_then(|v| Lease::decode(&v));
        if current.is_some_and(|lease| !lease.available_to(self.holder_id, now)) {
            return false;
        }
        let lease = Lease {
            holder: self.holder_id,
            expires_ms: now.saturating_add(self.lease_ttl_ms()),
        };
        host::shared_set(&key, &lease.encode(), cas).is_ok()
    }
}

/// The `:status` of a callout's answer. A failed or timed-out callout has no headers, and
/// Envoy then refuses the header map with BadArgument, on which the SDK panics: never ask.
pub fn call_response_status(num_headers: usize) -> Option<Vec<u8>> {
    if num_headers == 0 {
        return None;
    }
    hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status")
        .ok()
        .flatten()
}

/// Writes a change set into shared data and advances the sync state.
fn apply(ns: &Namespace, changes: &ChangeSet, now_ms: i64) {
    let (state_bytes, state_cas) = host::shared_get(&ns.sync_state());
    let state = state_bytes
        .and_then(|v| SyncState::decode(&v))
        .unwrap_or_default();
    if !changes.full && changes.version < state.version {
        return;
    }
    // A snapshot goes to a fresh generation: whatever it omits is gone, with no need to
    // know the old keys (shared data cannot list or delete them).
    let generation = if changes.full {
        state.generation.saturating_add(1)
    } else {
        state.generation
    };
    for cert in &changes.certs {
        let _ = host::shared_set(
            &ns.certificate(generation, &cert.id),
            &shared_data::encode_certificate(cert),
            None,
        );
    }
    for id in &changes.removed_certs {
        let _ = host::shared_set(
            &ns.certificate(generation, id),
            shared_data::TOMBSTONE,
            None,
        );
    }
    for entry in &changes.sessions {
        let _ = host::shared_set(
            &ns.session(generation, &entry.key),
            &shared_data::encode_session(&entry.grant),
            None,
        );
    }
    for key in &changes.removed_sessions {
        let _ = host::shared_set(&ns.session(generation, key), shared_data::TOMBSTONE, None);
    }
    let next = SyncState {
        version: changes.version,
        generation,
        last_success_ms: now_ms,
        started_ms: state.started_ms,
    };
    if host::shared_set(&ns.sync_state(), &next.encode(), state_cas).is_err() {
        log::warn!("mtls-gate: sync state changed under us; the next tick resyncs");
    }
}

/// A distinct ID for this VM among all workers, from a CAS-incremented counter.
fn allocate_holder_id(ns: &Namespace) -> u64 {
    let key = ns.worker_counter();
    for _ in 0..16 {
        let (value, cas) = host::shared_get(&key);
        let next = value
            .and_then(|v| std::str::from_utf8(&v).ok()?.parse::<u64>().ok())
            .unwrap_or(0)
            .saturating_add(1);
        if host::shared_set(&key, next.to_string().as_bytes(), cas).is_ok() {
            return next;
        }
    }
    // Contended beyond reason: fall back to the clock, still very likely distinct.
    u64::try_from(host::now_ms()).unwrap_or(0)
}

/// Records when the first worker started, so staleness counts before any sync succeeds.
fn record_start(ns: &Namespace, now_ms: i64) {
    let key = ns.sync_state();
    let (value, cas) = host::shared_get(&key);
    if value.is_none() {
        let state = SyncState {
            started_ms: now_ms,
            ..SyncState::default()
        };
        let _ = host::shared_set(&key, &state.encode(), cas);
    }
}
