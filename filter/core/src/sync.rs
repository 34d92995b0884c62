//! Keeping the shared-data cache in step with the shim's change feed (ARCHITECTURE "Worker
//! threads", "Change feed").
//!
//! `on_tick` fires in every worker's root context and on the main thread. Exactly one of
//! them holds the lease (taken with CAS in shared data, with an expiry so a dead holder is
//! replaced) and calls the feed; the others never call out. Change sets are written as
//! [`crate::shared_data`] describes: removals as tombstones, a snapshot into a fresh
//! generation.

use crate::config::StoreLink;
use crate::feed::{ChangeSet, changes_path};
use crate::host::{Host, LogLevel};
use crate::metrics::Metrics;
use crate::shared_data::{self, Lease, Namespace, SyncState};
use crate::store_call::{self, CallResponse};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

/// One root context's part in the sync: a holder ID, and the feed call it has out.
#[derive(Debug)]
pub struct Syncer {
    link: StoreLink,
    holder_id: u64,
    in_flight: Option<InFlight>,
    metrics: Rc<Metrics>,
    /// The store IDs the configuration names, and those the index lacked at the last sync:
    /// each is logged once when it goes missing (a fingerprint meant as a pin is a store ID
    /// once a store is configured, and passes nothing until uploaded).
    referenced: BTreeSet<String>,
    missing: BTreeSet<String>,
}

#[derive(Debug)]
struct InFlight {
    token: u32,
    deadline_ms: i64,
}

impl Syncer {
    /// Takes a holder ID and records the start (for staleness before the first sync).
    pub fn new(
        host: &dyn Host,
        link: StoreLink,
        metrics: Rc<Metrics>,
        referenced: BTreeSet<String>,
    ) -> Self {
        let holder_id = allocate_holder_id(host, &link.namespace);
        record_start(host, &link.namespace, host.now_ms());
        Syncer {
            link,
            holder_id,
            in_flight: None,
            metrics,
            referenced,
            missing: BTreeSet::new(),
        }
    }

    /// Logs each referenced ID the index lacks once, when it goes missing: all of them after
    /// a snapshot, those removed after an incremental set.
    fn note_missing(&mut self, host: &dyn Host, changes: &ChangeSet) {
        let gone: Vec<String> = if changes.full {
            let present: BTreeSet<&str> = changes.certs.iter().map(|c| c.id.as_str()).collect();
            self.missing.retain(|id| !present.contains(id.as_str()));
            self.referenced
                .iter()
                .filter(|id| !present.contains(id.as_str()))
                .cloned()
                .collect()
        } else {
            for cert in &changes.certs {
                self.missing.remove(cert.id.as_str());
            }
            changes
                .removed_certs
                .iter()
                .filter(|id| self.referenced.contains(id.as_str()))
                .map(|id| id.as_str().to_owned())
                .collect()
        };
        for id in gone {
            if self.missing.insert(id.clone()) {
                host.log(
                    LogLevel::Warn,
                    format_args!(
                        "mtls-gate: the configuration names certificate {id:?}, which is not in \
                         the store: it admits nothing until uploaded (to pin a certificate \
                         without the store, list it as inline PEM)"
                    ),
                );
            }
        }
    }

    pub fn holder_id(&self) -> u64 {
        self.holder_id
    }

    pub fn tick_period(&self) -> Duration {
        Duration::from_millis(self.link.sync_interval_ms)
    }

    /// How long a lease (and a feed call) lasts: three ticks, and at least one tick plus
    /// the call's timeout.
    fn lease_ttl_ms(&self) -> i64 {
        let ms = self
            .link
            .sync_interval_ms
            .saturating_mul(3)
            .max(self.link.sync_interval_ms + self.link.timeout_ms);
        i64::try_from(ms).unwrap_or(i64::MAX)
    }

    pub fn on_tick(&mut self, host: &dyn Host) {
        let now = host.now_ms();
        if let Some(in_flight) = &self.in_flight {
            if now < in_flight.deadline_ms {
                return;
            }
            // Envoy answers every callout, timeouts included; this only guards a lost answer.
            self.in_flight = None;
        }
        if !self.take_lease(host, now) {
            return;
        }
        let since = host
            .shared_get(&self.link.namespace.sync_state())
            .0
            .and_then(|v| SyncState::decode(&v))
            .map_or(0, |s| s.version);
        match store_call::dispatch(host, &self.link, &changes_path(since)) {
            Ok(token) => {
                let deadline_ms = now.saturating_add(self.lease_ttl_ms());
                self.in_flight = Some(InFlight { token, deadline_ms });
            }
            Err(status) => {
                host.log(
                    LogLevel::Warn,
                    format_args!(
                        "mtls-gate: sync call to cluster {:?} failed to start: {status:?}",
                        self.link.cluster
                    ),
                );
                self.metrics.sync_failed(host);
            }
        }
    }

    /// Returns true when `response` answers this syncer's call.
    pub fn on_response(&mut self, host: &dyn Host, response: &CallResponse) -> bool {
        if self
            .in_flight
            .as_ref()
            .is_none_or(|f| f.token != response.token)
        {
            return false;
        }
        self.in_flight = None;
        let status = response.status(host).unwrap_or_default();
        if status != b"200" {
            host.log(
                LogLevel::Warn,
                format_args!(
                    "mtls-gate: change feed answered {:?}; keeping the last synced snapshot",
                    String::from_utf8_lossy(&status)
                ),
            );
            self.metrics.sync_failed(host);
            return true;
        }
        let body = response.body(host).unwrap_or_default();
        match ChangeSet::decode(&body) {
            Ok(changes) => {
                apply(host, &self.link.namespace, &changes, host.now_ms());
                self.note_missing(host, &changes);
                self.metrics.sync_succeeded(host);
            }
            Err(error) => {
                host.log(
                    LogLevel::Warn,
                    format_args!(
                        "mtls-gate: malformed change feed ({error}); keeping the last synced snapshot"
                    ),
                );
                self.metrics.sync_failed(host);
            }
        }
        true
    }

    /// Takes or renews the lease. Read and write are two host calls, so another worker can
    /// write in between; the CAS token then refuses this write.
    fn take_lease(&self, host: &dyn Host, now: i64) -> bool {
        let key = self.link.namespace.lease();
        let (value, cas) = host.shared_get(&key);
        let current = value.and_then(|v| Lease::decode(&v));
        if current.is_some_and(|lease| !lease.available_to(self.holder_id, now)) {
            return false;
        }
        let lease = Lease {
            holder: self.holder_id,
            expires_ms: now.saturating_add(self.lease_ttl_ms()),
        };
        host.shared_set(&key, &lease.encode(), cas).is_ok()
    }
}

/// Writes a change set into shared data and advances the sync state.
pub fn apply(host: &dyn Host, ns: &Namespace, changes: &ChangeSet, now_ms: i64) {
    let (state_bytes, state_cas) = host.shared_get(&ns.sync_state());
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
        let _ = host.shared_set(
            &ns.certificate(generation, cert.id.as_str()),
            &shared_data::encode_certificate(cert),
            None,
        );
    }
    for id in &changes.removed_certs {
        let _ = host.shared_set(
            &ns.certificate(generation, id.as_str()),
            shared_data::TOMBSTONE,
            None,
        );
    }
    for entry in &changes.sessions {
        let _ = host.shared_set(
            &ns.session(generation, entry.key.as_str()),
            &shared_data::encode_session(&entry.grant),
            None,
        );
    }
    for key in &changes.removed_sessions {
        let _ = host.shared_set(
            &ns.session(generation, key.as_str()),
            shared_data::TOMBSTONE,
            None,
        );
    }
    let next = SyncState {
        version: changes.version,
        generation,
        last_success_ms: now_ms,
        started_ms: state.started_ms,
    };
    if host
        .shared_set(&ns.sync_state(), &next.encode(), state_cas)
        .is_err()
    {
        host.log(
            LogLevel::Warn,
            format_args!("mtls-gate: sync state changed under us; the next tick resyncs"),
        );
    }
}

/// A distinct ID for this VM among all workers, from a CAS-incremented counter.
fn allocate_holder_id(host: &dyn Host, ns: &Namespace) -> u64 {
    let key = ns.worker_counter();
    for _ in 0..16 {
        let (value, cas) = host.shared_get(&key);
        let next = value
            .and_then(|v| std::str::from_utf8(&v).ok()?.parse::<u64>().ok())
            .unwrap_or(0)
            .saturating_add(1);
        if host
            .shared_set(&key, next.to_string().as_bytes(), cas)
            .is_ok()
        {
            return next;
        }
    }
    // Contended beyond reason: fall back to the clock, still very likely distinct.
    u64::try_from(host.now_ms()).unwrap_or(0)
}

/// Records when the first worker started, so staleness counts before any sync succeeds.
fn record_start(host: &dyn Host, ns: &Namespace, now_ms: i64) {
    let key = ns.sync_state();
    let (value, cas) = host.shared_get(&key);
    if value.is_none() {
        let state = SyncState {
            started_ms: now_ms,
            ..SyncState::default()
        };
        let _ = host.shared_set(&key, &state.encode(), cas);
    }
}

#[cfg(test)]
mod tests;
