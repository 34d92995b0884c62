//! Keeping the shared-data cache in step with the shim's change feed (ARCHITECTURE "Worker
//! threads", "Change feed").
//!
//! `on_tick` fires in every worker's root context and on the main thread. Exactly one of
//! them holds the lease (taken with CAS in shared data, with an expiry so a dead holder is
//! replaced) and calls the feed; the others never call out. Change sets are written as
//! [`crate::shared_data`] describes: removals as tombstones, a snapshot into a fresh
//! generation.

use crate::config::StoreLink;
use crate::feed::{ChangeSet, changes_path_in_pages, snapshot_page_path};
use crate::host::{Host, LogLevel};
use crate::metrics::Metrics;
use crate::shared_data::{
    self, CachedCertificate, CachedSession, Lease, Namespace, Paging, SyncState,
};
use crate::store_call::{self, CallResponse};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

/// Entries per snapshot page. A session's entry is about 350 bytes on the wire, so a page
/// is under 1 MiB: a 100,000-session store as one 35 MiB answer never reached the filter
/// (Envoy answered the call without a status), and 9 MiB did.
pub const SNAPSHOT_PAGE_SIZE: usize = 2_000;

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
    /// When this syncer last asked for the changes after a version: while a snapshot pages
    /// in, it asks for them between pages once a sync interval has passed.
    changes_asked_ms: Option<i64>,
}

#[derive(Debug)]
struct InFlight {
    token: u32,
    deadline_ms: i64,
    asked: Asked,
}

/// What a feed call asked for.
#[derive(Debug, Clone)]
enum Asked {
    /// The changes after the synced version (or a snapshot's first page).
    Changes,
    /// The next page of this paged snapshot.
    Page(Paging),
    /// The changes after this paging's `caught_up_to`, between two of its pages, for the
    /// generation served.
    ChangesWhilePaging(Paging),
    /// Every page is in: the changes after the snapshot's version, for its generation, which
    /// is then served.
    CatchUp(Paging),
}

/// What applying one answer did to the sync state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The entries served moved on: an incremental set, or a snapshot's last page.
    Synced,
    /// A snapshot page went aside; more follow.
    MorePages,
    /// Nothing changed: an answer older than the state, or a page of a paging that another
    /// worker has since moved on or finished.
    Ignored,
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
            changes_asked_ms: None,
        }
    }

    /// Logs each referenced ID the index lacks once, when it goes missing: after a snapshot,
    /// every one its generation lacks; after an incremental set, those it removed.
    fn note_missing(
        &mut self,
        host: &dyn Host,
        changes: &ChangeSet,
        snapshot_generation: Option<u64>,
    ) {
        let gone: Vec<String> = if let Some(generation) = snapshot_generation {
            // A paged snapshot's entries are in shared data, not in this answer: one read per
            // referenced ID, once per snapshot.
            let ns = &self.link.namespace;
            let present = |id: &str| {
                host.shared_get(&ns.certificate(generation, id))
                    .0
                    .is_some_and(|v| !shared_data::is_tombstone(&v))
            };
            let missing: Vec<String> = self
                .referenced
                .iter()
                .filter(|id| !present(id))
                .cloned()
                .collect();
            self.missing.retain(|id| missing.contains(id));
            missing
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
        self.call_feed(host, now);
    }

    /// Asks the feed for what comes next: the next page of a paged snapshot under way (or,
    /// once a sync interval has passed, the changes made since it began), or the changes
    /// after the synced version.
    fn call_feed(&mut self, host: &dyn Host, now: i64) {
        let state = host
            .shared_get(&self.link.namespace.sync_state())
            .0
            .and_then(|v| SyncState::decode(&v))
            .unwrap_or_default();
        let changes_due = self.changes_asked_ms.is_none_or(|asked| {
            now.saturating_sub(asked) >= i64::try_from(self.link.sync_interval_ms).unwrap_or(0)
        });
        let (path, asked) = match state.paging {
            Some(paging) => match &paging.next {
                None => (
                    changes_path_in_pages(paging.version, SNAPSHOT_PAGE_SIZE),
                    Asked::CatchUp(paging),
                ),
                Some(_) if changes_due => (
                    changes_path_in_pages(paging.caught_up_to, SNAPSHOT_PAGE_SIZE),
                    Asked::ChangesWhilePaging(paging),
                ),
                Some(cursor) => (
                    snapshot_page_path(cursor, SNAPSHOT_PAGE_SIZE),
                    Asked::Page(paging),
                ),
            },
            None => (
                changes_path_in_pages(state.version, SNAPSHOT_PAGE_SIZE),
                Asked::Changes,
            ),
        };
        match store_call::dispatch(host, &self.link, &path) {
            Ok(token) => {
                if !matches!(asked, Asked::Page(_)) {
                    self.changes_asked_ms = Some(now);
                }
                let deadline_ms = now.saturating_add(self.lease_ttl_ms());
                self.in_flight = Some(InFlight {
                    token,
                    deadline_ms,
                    asked,
                });
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
        let Some(in_flight) = self.in_flight.take_if(|f| f.token == response.token) else {
            return false;
        };
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
                let now = host.now_ms();
                let ns = &self.link.namespace;
                let applied = match &in_flight.asked {
                    Asked::Changes => apply_answer(host, ns, &changes, None, now),
                    Asked::Page(paging) => apply_answer(host, ns, &changes, Some(paging), now),
                    Asked::ChangesWhilePaging(paging) => {
                        apply_while_paging(host, ns, &changes, paging)
                    }
                    Asked::CatchUp(paging) => finish_paging(host, ns, &changes, paging, now),
                };
                match applied {
                    Applied::Synced => {
                        let snapshot_generation = match &in_flight.asked {
                            Asked::CatchUp(paging) => Some(paging.generation),
                            _ => changes
                                .full
                                .then(|| current_generation(host, &self.link.namespace)),
                        };
                        self.note_missing(host, &changes, snapshot_generation);
                        self.metrics.sync_succeeded(host);
                    }
                    // The next call at once, not a tick later: a 100,000-session snapshot is
                    // 50 pages, and its generation is served only after its catch-up.
                    Applied::MorePages => {
                        if self.take_lease(host, now) {
                            self.call_feed(host, now);
                        }
                    }
                    Applied::Ignored => {}
                }
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

/// Writes a change set (or a snapshot's first page) into shared data and advances the sync
/// state.
pub fn apply(host: &dyn Host, ns: &Namespace, changes: &ChangeSet, now_ms: i64) -> Applied {
    apply_answer(host, ns, changes, None, now_ms)
}

/// Writes a change set, or a snapshot page, into shared data and advances the sync state.
/// `continues` is the paging the call asked the next page of (`None` for a change set or a
/// snapshot's first page).
pub fn apply_answer(
    host: &dyn Host,
    ns: &Namespace,
    changes: &ChangeSet,
    continues: Option<&Paging>,
    now_ms: i64,
) -> Applied {
    let (state_bytes, state_cas) = host.shared_get(&ns.sync_state());
    let state = state_bytes
        .and_then(|v| SyncState::decode(&v))
        .unwrap_or_default();
    let mut next = state.clone();
    let generation = match (changes.full, continues) {
        (false, _) => {
            if changes.version < state.version {
                return Applied::Ignored;
            }
            next.version = changes.version;
            state.generation
        }
        // A snapshot goes to a fresh generation: whatever it omits is gone, with no need
        // to know the old keys (shared data cannot list or delete them).
        (true, None) => {
            let mut generation = state.next_generation();
            match &changes.next {
                Some(cursor) => {
                    // Before any sync, requests are served from lookups recorded under
                    // generation 0. One answered before the shim read this snapshot may miss
                    // a change older than its version, which the changes asked between pages
                    // never bring: such requests look up again, under a generation of their
                    // own (below the paged one, so no later snapshot reuses it), from answers
                    // no older than the snapshot.
                    if state.generation == 0 {
                        next.generation = generation;
                        generation = generation.saturating_add(1);
                    }
                    next.paging = Some(Paging {
                        generation,
                        version: changes.version,
                        next: Some(cursor.clone()),
                        caught_up_to: changes.version,
                    });
                }
                None => {
                    next.paging = None;
                    next.generation = generation;
                    next.version = changes.version;
                }
            }
            generation
        }
        (true, Some(paging)) => {
            // Another worker took the lease and moved this paging on, or started another.
            if state.paging.as_ref() != Some(paging) {
                return Applied::Ignored;
            }
            // After the last page (`next: None`) the paging waits for its catch-up.
            next.paging = Some(Paging {
                next: changes.next.clone(),
                ..paging.clone()
            });
            paging.generation
        }
    };
    write_entries(host, ns, changes, generation);
    let more_pages = next.paging.is_some() && changes.full;
    if !more_pages {
        next.last_success_ms = now_ms;
    }
    if !write_state(host, ns, &next, state_cas) {
        return Applied::Ignored;
    }
    if more_pages {
        Applied::MorePages
    } else {
        Applied::Synced
    }
}

/// The changes made since a paged snapshot began (or since the last such set), asked between
/// two of its pages and written into the generation served, so that a revocation takes
/// effect now rather than after the last page. The paging goes on ([`Applied::MorePages`]).
///
/// Not into the generation paging in: the shim cuts the pages from one copy of the store
/// (`crate::feed`, "Snapshots in pages"), so a later page could write back an entry this
/// set removed. That generation catches up once, after its last page ([`finish_paging`]).
/// The served generation may be at a version before the snapshot's: what changed in between
/// reaches requests only with the switch, as before.
fn apply_while_paging(
    host: &dyn Host,
    ns: &Namespace,
    changes: &ChangeSet,
    asked: &Paging,
) -> Applied {
    let Some((state, state_cas)) = still_paging(host, ns, asked) else {
        return Applied::Ignored;
    };
    // A snapshot here means the shim's log no longer reaches back to `caught_up_to`: the
    // paging goes on, and its catch-up still brings the truth.
    if changes.full || changes.version < asked.caught_up_to {
        return Applied::MorePages;
    }
    write_entries(host, ns, changes, state.generation);
    let mut next = state.clone();
    next.paging = Some(Paging {
        caught_up_to: changes.version,
        ..asked.clone()
    });
    if !write_state(host, ns, &next, state_cas) {
        return Applied::Ignored;
    }
    Applied::MorePages
}

/// Every page of a snapshot is in: the changes after its version bring its generation to the
/// truth (a page may be older than a change the served generation already has), and it is
/// served from then on. Should the shim answer a snapshot instead (its log no longer reaches
/// back that far), the generation is served at the snapshot's version and the next tick
/// asks from there.
fn finish_paging(
    host: &dyn Host,
    ns: &Namespace,
    changes: &ChangeSet,
    asked: &Paging,
    now_ms: i64,
) -> Applied {
    let Some((state, state_cas)) = still_paging(host, ns, asked) else {
        return Applied::Ignored;
    };
    let mut next = state.clone();
    next.paging = None;
    next.generation = asked.generation;
    next.version = asked.version;
    next.last_success_ms = now_ms;
    if !changes.full && changes.version >= asked.version {
        write_entries(host, ns, changes, asked.generation);
        next.version = changes.version;
    }
    if !write_state(host, ns, &next, state_cas) {
        return Applied::Ignored;
    }
    Applied::Synced
}

/// The sync state and its CAS token, if its paging is still the one `asked` was made in: not
/// when another worker moved it on or finished it meanwhile.
fn still_paging(
    host: &dyn Host,
    ns: &Namespace,
    asked: &Paging,
) -> Option<(SyncState, Option<u32>)> {
    let (bytes, cas) = host.shared_get(&ns.sync_state());
    let state = bytes.and_then(|v| SyncState::decode(&v))?;
    (state.paging.as_ref() == Some(asked)).then_some((state, cas))
}

/// Writes the sync state with the CAS token it was read with: `false` (and a log line) when
/// another worker wrote it meanwhile, so that this answer is dropped and the next tick
/// starts from what that worker wrote.
fn write_state(host: &dyn Host, ns: &Namespace, next: &SyncState, cas: Option<u32>) -> bool {
    let written = host
        .shared_set(&ns.sync_state(), &next.encode(), cas)
        .is_ok();
    if !written {
        host.log(
            LogLevel::Warn,
            format_args!("mtls-gate: sync state changed under us; the next tick resyncs"),
        );
    }
    written
}

/// Certificates first, then sessions, each session with its certificate's entry
/// ([`CachedSession`]). An incremental set that writes or removes a certificate whose
/// session it does not carry also updates that session, already in shared data. A snapshot
/// has none to update: its generation is its own, and its certificates come before its
/// sessions (`crate::feed`, "Snapshots in pages").
fn write_entries(host: &dyn Host, ns: &Namespace, changes: &ChangeSet, generation: u64) {
    let mut certificates: BTreeMap<&str, CachedCertificate> = BTreeMap::new();
    for cert in &changes.certs {
        let _ = host.shared_set(
            &ns.certificate(generation, cert.id.as_str()),
            &shared_data::encode_certificate(cert),
            None,
        );
        certificates.insert(cert.id.as_str(), CachedCertificate::Present(cert.clone()));
    }
    for id in &changes.removed_certs {
        let _ = host.shared_set(
            &ns.certificate(generation, id.as_str()),
            shared_data::TOMBSTONE,
            None,
        );
        certificates.insert(id.as_str(), CachedCertificate::Absent);
    }
    if !changes.full {
        let carried: BTreeSet<&str> = changes.sessions.iter().map(|s| s.key.as_str()).collect();
        for (id, certificate) in &certificates {
            if !carried.contains(id) {
                update_session_certificate(host, &ns.session(generation, id), certificate);
            }
        }
    }
    for entry in &changes.sessions {
        let key = entry.key.as_str();
        let certificate = match certificates.get(key) {
            Some(certificate) => certificate.clone(),
            None => CachedCertificate::recorded(
                host.shared_get(&ns.certificate(generation, key))
                    .0
                    .and_then(|v| shared_data::decode_certificate(&v)),
            ),
        };
        let session = CachedSession {
            grant: entry.grant.clone(),
            certificate,
        };
        let _ = host.shared_set(
            &ns.session(generation, key),
            &shared_data::encode_session(&session),
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
}

/// Writes `certificate` into the session at `key`, if there is one.
fn update_session_certificate(host: &dyn Host, key: &str, certificate: &CachedCertificate) {
    let Some(value) = host.shared_get(key).0 else {
        return;
    };
    if let Some(mut session) = shared_data::decode_session(&value) {
        session.certificate = certificate.clone();
        let _ = host.shared_set(key, &shared_data::encode_session(&session), None);
    }
}

fn current_generation(host: &dyn Host, ns: &Namespace) -> u64 {
    host.shared_get(&ns.sync_state())
        .0
        .and_then(|v| SyncState::decode(&v))
        .map_or(0, |s| s.generation)
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
