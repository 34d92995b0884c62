//! [`StoreView`] over proxy-wasm shared data, as written by the syncing worker.

use crate::host;
use mtls_gate_core::decision::{SessionLookup, StoreView};
use mtls_gate_core::feed::{CertIndexEntry, LookupAnswer};
use mtls_gate_core::shared_data::{self, SyncState};
use std::cell::OnceCell;

/// Reads the synced cache for one request. The sync state is read once, on first use.
pub struct SharedDataStore {
    max_stale_ms: i64,
    now_ms: i64,
    state: OnceCell<Option<SyncState>>,
}

impl SharedDataStore {
    pub fn new(max_stale_s: u64, now_ms: i64) -> Self {
        SharedDataStore {
            max_stale_ms: i64::try_from(max_stale_s.saturating_mul(1000)).unwrap_or(i64::MAX),
            now_ms,
            state: OnceCell::new(),
        }
    }

    fn state(&self) -> Option<&SyncState> {
        self.state
            .get_or_init(|| {
                host::shared_get(SyncState::KEY)
                    .0
                    .and_then(|v| SyncState::decode(&v))
            })
            .as_ref()
    }

    fn generation(&self) -> u64 {
        self.state().map_or(0, |s| s.generation)
    }

    /// Records a lookup answer so other requests and workers see it: the session (unless
    /// the feed already wrote or removed that key) or a short negative entry.
    pub fn record_lookup(&self, answer: &LookupAnswer, negative_ttl_ms: i64) {
        let generation = self.generation();
        if let Some(cert) = &answer.cert {
            let key = shared_data::certificate_key(generation, &cert.id);
            if host::shared_get(&key).0.is_none() {
                let _ = host::shared_set(&key, &shared_data::encode_certificate(cert), None);
            }
        }
        match &answer.session {
            Some(grant) => {
                let key = shared_data::session_key(generation, &answer.key);
                // A tombstone means the feed removed it after this answer was made.
                if host::shared_get(&key).0.is_none() {
                    let _ = host::shared_set(&key, &shared_data::encode_session(grant), None);
                }
            }
            None => {
                let until = self.now_ms.saturating_add(negative_ttl_ms);
                let _ = host::shared_set(
                    &shared_data::miss_key(&answer.key),
                    &shared_data::encode_miss(until),
                    None,
                );
            }
        }
    }
}

impl StoreView for SharedDataStore {
    fn certificate(&self, id: &str) -> Option<CertIndexEntry> {
        let value = host::shared_get(&shared_data::certificate_key(self.generation(), id)).0?;
        shared_data::decode_certificate(&value)
    }

    fn session(&self, key: &str) -> SessionLookup {
        match host::shared_get(&shared_data::session_key(self.generation(), key)).0 {
            Some(value) if shared_data::is_tombstone(&value) => SessionLookup::Absent,
            Some(value) => shared_data::decode_session(&value)
                .map_or(SessionLookup::Absent, SessionLookup::Found),
            None => {
                let missed_until = host::shared_get(&shared_data::miss_key(key))
                    .0
                    .and_then(|v| shared_data::decode_miss(&v));
                match missed_until {
                    Some(until) if until > self.now_ms => SessionLookup::Absent,
                    _ => SessionLookup::Unknown,
                }
            }
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
