//! [`StoreView`] over proxy-wasm shared data, as written by the syncing worker, plus this
//! worker's cache of negative lookup answers.

use crate::host;
use mtls_gate_core::config::StoreLink;
use mtls_gate_core::decision::{SessionLookup, StoreView};
use mtls_gate_core::feed::{CertIndexEntry, LookupAnswer};
use mtls_gate_core::negative_cache::NegativeCache;
use mtls_gate_core::shared_data::{self, Namespace, SyncState};
use std::cell::{OnceCell, RefCell};

/// Reads the synced cache for one request. The sync state is read once, on first use.
pub struct SharedDataStore<'a> {
    namespace: &'a Namespace,
    max_stale_ms: i64,
    now_ms: i64,
    state: OnceCell<Option<SyncState>>,
    /// Per worker: "no session" answers are never written to shared data, which cannot
    /// forget them (SPEC §4: believed for at most 1 s).
    negative: &'a RefCell<NegativeCache>,
}

impl<'a> SharedDataStore<'a> {
    pub fn new(link: &'a StoreLink, now_ms: i64, negative: &'a RefCell<NegativeCache>) -> Self {
        SharedDataStore {
            namespace: &link.namespace,
            max_stale_ms: i64::try_from(link.max_stale_s.saturating_mul(1000)).unwrap_or(i64::MAX),
            now_ms,
            state: OnceCell::new(),
            negative,
        }
    }

    fn state(&self) -> Option<&SyncState> {
        self.state
            .get_or_init(|| {
                host::shared_get(&self.namespace.sync_state())
                    .0
                    .and_then(|v| SyncState::decode(&v))
            })
            .as_ref()
    }

    fn generation(&self) -> u64 {
        self.state().map_or(0, |s| s.generation)
    }

    /// Records a lookup answer: the session (unless the feed already wrote or removed that
    /// key) in shared data for every worker; "no session" in this worker's bounded cache.
    pub fn record_lookup(&self, answer: &LookupAnswer) {
        let generation = self.generation();
        if let Some(cert) = &answer.cert {
            let key = self.namespace.certificate(generation, &cert.id);
            if host::shared_get(&key).0.is_none() {
                let _ = host::shared_set(&key, &shared_data::encode_certificate(cert), None);
            }
        }
        match &answer.session {
            Some(grant) => {
                self.negative.borrow_mut().remove(&answer.key);
                let key = self.namespace.session(generation, &answer.key);
                // A tombstone means the feed removed it after this answer was made.
                if host::shared_get(&key).0.is_none() {
                    let _ = host::shared_set(&key, &shared_data::encode_session(grant), None);
                }
            }
            None => self.negative.borrow_mut().insert(&answer.key, self.now_ms),
        }
    }
}

impl StoreView for SharedDataStore<'_> {
    fn certificate(&self, id: &str) -> Option<CertIndexEntry> {
        let value = host::shared_get(&self.namespace.certificate(self.generation(), id)).0?;
        shared_data::decode_certificate(&value)
    }

    fn session(&self, key: &str) -> SessionLookup {
        match host::shared_get(&self.namespace.session(self.generation(), key)).0 {
            Some(value) if shared_data::is_tombstone(&value) => SessionLookup::Absent,
            Some(value) => shared_data::decode_session(&value)
                .map_or(SessionLookup::Absent, SessionLookup::Found),
            None if self.negative.borrow().contains(key, self.now_ms) => SessionLookup::Absent,
            None => SessionLookup::Unknown,
        }
    }

    fn is_stale(&self, _now: i64) -> bool {
        self.state()
            .is_some_and(|s| s.is_stale(self.now_ms, self.max_stale_ms))
    }
}

/// The view when no store is configured: no index, no sessions, never stale.
pub struct NoStore;

impl StoreView for NoStore {
    fn certificate(&self, _id: &str) -> Option<CertIndexEntry> {
        None
    }

    fn session(&self, _key: &str) -> SessionLookup {
        SessionLookup::Absent
    }

    fn is_stale(&self, _now: i64) -> bool {
        false
    }
}

/// A store view where one lookup answer is authoritative for its key, so a decision
/// re-run after a callout never asks for the same lookup again.
pub struct WithLookupAnswer<'a> {
    pub inner: &'a dyn StoreView,
    pub answer: &'a LookupAnswer,
}

impl StoreView for WithLookupAnswer<'_> {
    fn certificate(&self, id: &str) -> Option<CertIndexEntry> {
        match &self.answer.cert {
            Some(cert) if cert.id == id => Some(cert.clone()),
            _ => self.inner.certificate(id),
        }
    }

    fn session(&self, key: &str) -> SessionLookup {
        if key != self.answer.key {
            return self.inner.session(key);
        }
        match &self.answer.session {
            Some(grant) => SessionLookup::Found(grant.clone()),
            None => SessionLookup::Absent,
        }
    }

    fn is_stale(&self, now: i64) -> bool {
        self.inner.is_stale(now)
    }
}
