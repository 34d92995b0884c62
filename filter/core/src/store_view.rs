//! The [`StoreView`]s a request is decided with: the synced cache in shared data
//! ([`SharedDataStore`], as the syncing worker wrote it, plus this worker's negative lookup
//! answers), no store at all ([`NoStore`]), and one lookup answer over either
//! ([`WithLookupAnswer`]).

use crate::config::StoreLink;
use crate::decision::{SessionLookup, StoreView};
use crate::feed::{CertIndexEntry, LookupAnswer};
use crate::host::Host;
use crate::negative_cache::NegativeCache;
use crate::shared_data::{self, CachedCertificate, CachedSession, Namespace, SyncState};
use std::cell::{OnceCell, RefCell};

/// Reads the synced cache for one request. The sync state is read once, on first use.
pub struct SharedDataStore<'a> {
    host: &'a dyn Host,
    namespace: &'a Namespace,
    max_stale_ms: i64,
    now_ms: i64,
    state: OnceCell<Option<SyncState>>,
    /// Per worker: "no session" answers are never written to shared data, which cannot
    /// forget them (SPEC §4: believed for at most 1 s).
    negative: &'a RefCell<NegativeCache>,
}

impl<'a> SharedDataStore<'a> {
    pub fn new(
        host: &'a dyn Host,
        link: &'a StoreLink,
        now_ms: i64,
        negative: &'a RefCell<NegativeCache>,
    ) -> Self {
        SharedDataStore {
            host,
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
                self.host
                    .shared_get(self.namespace.sync_state_key())
                    .0
                    .and_then(|v| SyncState::decode(&v))
            })
            .as_ref()
    }

    /// The generation the synced entries live under (0 before the first sync).
    pub fn generation(&self) -> u64 {
        self.state().map_or(0, |s| s.generation)
    }

    /// Records a lookup asked while the cache was at `asked_in` (a generation): the
    /// session (unless the feed already wrote or removed that key) in shared data for every
    /// worker; "no session" in this worker's bounded cache.
    ///
    /// If a snapshot moved the cache to a new generation while the lookup was out, the
    /// answer is not written there: it may predate the snapshot, whose silence about a key
    /// is that key's removal, and a snapshot leaves no tombstone to stop the write. The
    /// request still uses the answer; the next one asks again.
    pub fn record_lookup(&self, answer: &LookupAnswer, asked_in: u64) {
        let generation = self.generation();
        let current = generation == asked_in;
        if current && let Some(cert) = &answer.cert {
            let key = self.namespace.certificate(generation, cert.id.as_str());
            if self.host.shared_get(&key).0.is_none() {
                let _ = self
                    .host
                    .shared_set(&key, &shared_data::encode_certificate(cert), None);
            }
        }
        match &answer.session {
            Some(grant) => {
                self.negative.borrow_mut().remove(answer.key.as_str());
                let key = self.namespace.session(generation, answer.key.as_str());
                // A tombstone means the feed removed it after this answer was made.
                // Written without its certificate: the feed may remove that certificate
                // between this answer and this write, and would not see this session to
                // update. Requests then read the certificate's own entry, until the feed
                // writes the session with its certificate (in its next change set).
                if current && self.host.shared_get(&key).0.is_none() {
                    let session = CachedSession {
                        grant: grant.clone(),
                        certificate: CachedCertificate::Unrecorded,
                    };
                    let _ =
                        self.host
                            .shared_set(&key, &shared_data::encode_session(&session), None);
                }
            }
            None => self
                .negative
                .borrow_mut()
                .insert(answer.key.as_str(), self.now_ms),
        }
    }
}

impl SharedDataStore<'_> {
    /// The session of `key`, and what its value says of the certificate of the same ID.
    fn cached_session(&self, key: &str) -> (SessionLookup, CachedCertificate) {
        let entry = self.namespace.session(self.generation(), key);
        let unrecorded = |lookup| (lookup, CachedCertificate::Unrecorded);
        match self.host.shared_get(&entry).0 {
            Some(value) if shared_data::is_tombstone(&value) => unrecorded(SessionLookup::Absent),
            Some(value) => match shared_data::decode_session(&value) {
                Some(session) => (SessionLookup::Found(session.grant), session.certificate),
                None => unrecorded(SessionLookup::Absent),
            },
            None if self.negative.borrow().contains(key, self.now_ms) => {
                unrecorded(SessionLookup::Absent)
            }
            None => unrecorded(SessionLookup::Unknown),
        }
    }
}

impl StoreView for SharedDataStore<'_> {
    fn certificate(&self, id: &str) -> Option<CertIndexEntry> {
        let key = self.namespace.certificate(self.generation(), id);
        let value = self.host.shared_get(&key).0?;
        shared_data::decode_certificate(&value)
    }

    fn session(&self, key: &str) -> SessionLookup {
        self.cached_session(key).0
    }

    /// One read where the session carries its certificate; a second for the certificate's
    /// own entry otherwise (no session, or one written from a lookup).
    fn certificate_session(&self, id: &str) -> (SessionLookup, Option<CertIndexEntry>) {
        let (session, certificate) = self.cached_session(id);
        let certificate = match certificate {
            CachedCertificate::Present(entry) => Some(entry),
            CachedCertificate::Absent => None,
            CachedCertificate::Unrecorded => self.certificate(id),
        };
        (session, certificate)
    }

    fn is_stale(&self, _now: i64) -> bool {
        self.state()
            .is_some_and(|s| s.is_stale(self.now_ms, self.max_stale_ms))
    }

    fn version(&self) -> u64 {
        self.state().map_or(0, |s| s.version)
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

    fn version(&self) -> u64 {
        0
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

    fn certificate_session(&self, id: &str) -> (SessionLookup, Option<CertIndexEntry>) {
        match id == self.answer.key {
            true => (self.session(id), self.certificate(id)),
            false => self.inner.certificate_session(id),
        }
    }

    fn is_stale(&self, now: i64) -> bool {
        self.inner.is_stale(now)
    }

    fn version(&self) -> u64 {
        self.inner.version()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CertificateId, SessionKey};
    use crate::mock_host::MockHost;
    use crate::session::SessionGrant;
    use crate::test_support::{cert_entry, grant, store_link};

    fn write_state(host: &MockHost, link: &StoreLink, state: &SyncState) {
        host.put_shared(&link.namespace.sync_state(), &state.encode());
    }

    fn at_generation(generation: u64) -> SyncState {
        SyncState {
            version: 1,
            generation,
            last_success_ms: MockHost::START_MS,
            started_ms: MockHost::START_MS,
            paging: None,
        }
    }

    /// [`grant`]'s session as cached, with `certificate`.
    fn cached(certificate: CachedCertificate) -> Vec<u8> {
        shared_data::encode_session(&CachedSession {
            grant: grant(),
            certificate,
        })
    }

    #[test]
    fn a_session_carrying_its_certificate_is_one_read() {
        let host = MockHost::new();
        let link = store_link();
        let ns = &link.namespace;
        write_state(&host, &link, &at_generation(1));
        let entry = cert_entry("org", "leaf", false);
        let id = entry.id.as_str();
        // The certificate's own entry says otherwise: the session's copy is what is read.
        host.put_shared(&ns.certificate(1, id), shared_data::TOMBSTONE);
        host.put_shared(
            &ns.session(1, id),
            &cached(CachedCertificate::Present(entry.clone())),
        );
        let negative = RefCell::new(NegativeCache::new(1_000, 16));
        let store = SharedDataStore::new(&host, &link, host.now(), &negative);
        assert_eq!(
            store.certificate_session(id),
            (SessionLookup::Found(grant()), Some(entry.clone()))
        );
        assert_eq!(
            host.journal_count("shared_get"),
            2,
            "the sync state, the session"
        );

        host.put_shared(&ns.session(1, id), &cached(CachedCertificate::Absent));
        let store = SharedDataStore::new(&host, &link, host.now(), &negative);
        assert_eq!(
            store.certificate_session(id),
            (SessionLookup::Found(grant()), None)
        );

        // Written from a lookup: the certificate's own entry answers.
        host.put_shared(&ns.session(1, id), &cached(CachedCertificate::Unrecorded));
        host.put_shared(
            &ns.certificate(1, id),
            &shared_data::encode_certificate(&entry),
        );
        let store = SharedDataStore::new(&host, &link, host.now(), &negative);
        assert_eq!(
            store.certificate_session(id),
            (SessionLookup::Found(grant()), Some(entry.clone()))
        );
        // No session: the certificate's own entry too (its expiry comes first, SPEC §4).
        assert_eq!(
            store.certificate_session("nobody"),
            (SessionLookup::Unknown, None)
        );
        host.put_shared(&ns.session(1, id), shared_data::TOMBSTONE);
        let store = SharedDataStore::new(&host, &link, host.now(), &negative);
        assert_eq!(
            store.certificate_session(id),
            (SessionLookup::Absent, Some(entry))
        );
    }

    #[test]
    fn sessions_read_found_removed_known_absent_or_unknown() {
        let host = MockHost::new();
        let link = store_link();
        let ns = &link.namespace;
        write_state(&host, &link, &at_generation(3));
        host.put_shared(
            &ns.session(3, "found"),
            &cached(CachedCertificate::Unrecorded),
        );
        host.put_shared(&ns.session(3, "removed"), shared_data::TOMBSTONE);
        host.put_shared(&ns.session(3, "garbled"), b"{not json");
        // An older generation is never read.
        host.put_shared(
            &ns.session(2, "old"),
            &cached(CachedCertificate::Unrecorded),
        );
        let negative = RefCell::new(NegativeCache::new(1_000, 16));
        negative.borrow_mut().insert("refused", host.now());
        let store = SharedDataStore::new(&host, &link, host.now(), &negative);

        assert_eq!(store.session("found"), SessionLookup::Found(grant()));
        assert_eq!(store.session("removed"), SessionLookup::Absent);
        assert_eq!(
            store.session("garbled"),
            SessionLookup::Absent,
            "fail closed"
        );
        assert_eq!(store.session("refused"), SessionLookup::Absent);
        assert_eq!(store.session("old"), SessionLookup::Unknown);
        assert_eq!(store.session("never"), SessionLookup::Unknown);
        assert_eq!(
            host.journal_count(&format!("shared_get {}", ns.sync_state())),
            1,
            "the sync state is read once per request"
        );
    }

    #[test]
    fn certificates_of_the_current_generation_only() {
        let host = MockHost::new();
        let link = store_link();
        let ns = &link.namespace;
        write_state(&host, &link, &at_generation(2));
        let entry = cert_entry("org", "leaf", true);
        host.put_shared(
            &ns.certificate(2, entry.id.as_str()),
            &shared_data::encode_certificate(&entry),
        );
        host.put_shared(&ns.certificate(2, "gone"), shared_data::TOMBSTONE);
        host.put_shared(&ns.certificate(1, "stale"), b"{}");
        let negative = RefCell::new(NegativeCache::new(1_000, 16));
        let store = SharedDataStore::new(&host, &link, host.now(), &negative);
        assert_eq!(store.certificate(entry.id.as_str()), Some(entry));
        assert_eq!(store.certificate("gone"), None);
        assert_eq!(store.certificate("stale"), None);
    }

    #[test]
    fn staleness_counts_from_the_last_sync() {
        let host = MockHost::new();
        let link = store_link(); // max_stale_s: 30
        let negative = RefCell::new(NegativeCache::new(1_000, 16));
        let fresh = SharedDataStore::new(&host, &link, host.now(), &negative);
        assert!(
            !fresh.is_stale(0),
            "no state yet: nothing to be stale against"
        );

        write_state(&host, &link, &at_generation(1));
        let later = host.now() + 30_001;
        let stale = SharedDataStore::new(&host, &link, later, &negative);
        assert!(stale.is_stale(0));
        let within = SharedDataStore::new(&host, &link, host.now() + 30_000, &negative);
        assert!(!within.is_stale(0));
    }

    #[test]
    fn a_lookup_answer_is_shared_unless_the_feed_got_there_first() {
        let host = MockHost::new();
        let other_worker = host.sibling();
        let link = store_link();
        let ns = &link.namespace;
        write_state(&host, &link, &at_generation(1));
        host.put_shared(&ns.session(1, "removed"), shared_data::TOMBSTONE);
        let negative = RefCell::new(NegativeCache::new(1_000, 16));
        let store = SharedDataStore::new(&host, &link, host.now(), &negative);
        let cert = cert_entry("org", "leaf", false);

        store.record_lookup(
            &LookupAnswer {
                key: SessionKey::verbatim("fresh"),
                session: Some(grant()),
                cert: Some(cert.clone()),
            },
            1,
        );
        store.record_lookup(
            &LookupAnswer {
                key: SessionKey::verbatim("removed"),
                session: Some(grant()),
                cert: None,
            },
            1,
        );

        let theirs = RefCell::new(NegativeCache::new(1_000, 16));
        let seen = SharedDataStore::new(&other_worker, &link, host.now(), &theirs);
        assert_eq!(seen.session("fresh"), SessionLookup::Found(grant()));
        assert_eq!(seen.certificate(cert.id.as_str()), Some(cert));
        assert_eq!(
            seen.session("removed"),
            SessionLookup::Absent,
            "a removal the feed wrote is not undone by an older answer"
        );
    }

    #[test]
    fn no_session_is_remembered_by_this_worker_only_and_briefly() {
        let host = MockHost::new();
        let link = store_link();
        let negative = RefCell::new(NegativeCache::new(NegativeCache::TTL_MS, 16));
        let store = SharedDataStore::new(&host, &link, host.now(), &negative);
        let keys_before = host.shared_keys();
        store.record_lookup(
            &LookupAnswer {
                key: SessionKey::verbatim("nobody"),
                session: None,
                cert: None,
            },
            0,
        );
        assert_eq!(host.shared_keys(), keys_before, "nothing for every worker");
        assert_eq!(store.session("nobody"), SessionLookup::Absent);
        let later = SharedDataStore::new(&host, &link, host.now() + 1_000, &negative);
        assert_eq!(
            later.session("nobody"),
            SessionLookup::Unknown,
            "1 s at most"
        );

        // A session arriving later clears the negative answer at once.
        store.record_lookup(
            &LookupAnswer {
                key: SessionKey::verbatim("nobody"),
                session: Some(grant()),
                cert: None,
            },
            0,
        );
        assert!(!negative.borrow().contains("nobody", host.now()));
    }

    #[test]
    fn an_answer_from_before_a_snapshot_is_not_written_into_the_new_generation() {
        let host = MockHost::new();
        let link = store_link();
        let ns = &link.namespace;
        // The lookup went out at generation 1; a snapshot (generation 2) landed meanwhile
        // without this session: the store removed it.
        write_state(&host, &link, &at_generation(2));
        let negative = RefCell::new(NegativeCache::new(1_000, 16));
        let store = SharedDataStore::new(&host, &link, host.now(), &negative);
        let cert = cert_entry("org", "leaf", false);
        store.record_lookup(
            &LookupAnswer {
                key: SessionKey::of(cert.id.clone()),
                session: Some(grant()),
                cert: Some(cert.clone()),
            },
            1,
        );
        assert_eq!(host.shared_value(&ns.session(2, cert.id.as_str())), None);
        assert_eq!(
            host.shared_value(&ns.certificate(2, cert.id.as_str())),
            None
        );
        assert_eq!(host.shared_value(&ns.session(1, cert.id.as_str())), None);
        assert_eq!(host.journal_count("shared_set"), 0);
        assert_eq!(store.session(cert.id.as_str()), SessionLookup::Unknown);
    }

    #[test]
    fn a_lookup_answer_speaks_for_its_key_only() {
        struct Everything;
        impl StoreView for Everything {
            fn certificate(&self, id: &str) -> Option<CertIndexEntry> {
                Some(CertIndexEntry {
                    id: CertificateId::verbatim(id),
                    ..cert_entry("org", "any", false)
                })
            }
            fn session(&self, _key: &str) -> SessionLookup {
                SessionLookup::Found(SessionGrant::default())
            }
            fn version(&self) -> u64 {
                0
            }
            fn is_stale(&self, _now: i64) -> bool {
                true
            }
        }
        let cert = cert_entry("org", "leaf", true);
        let answer = LookupAnswer {
            key: SessionKey::verbatim("asked"),
            session: None,
            cert: Some(cert.clone()),
        };
        let view = WithLookupAnswer {
            inner: &Everything,
            answer: &answer,
        };
        assert_eq!(view.session("asked"), SessionLookup::Absent);
        assert_eq!(
            view.session("other"),
            SessionLookup::Found(SessionGrant::default())
        );
        assert_eq!(view.certificate(cert.id.as_str()), Some(cert));
        assert_eq!(
            view.certificate("x").map(|c| c.id),
            Some(CertificateId::verbatim("x"))
        );
        assert!(view.is_stale(0));
        assert_eq!(NoStore.session("k"), SessionLookup::Absent);
        assert!(!NoStore.is_stale(0) && NoStore.certificate("k").is_none());
    }
}
