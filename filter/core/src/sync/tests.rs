//! The lease and the change feed, played out on mock workers that share one shared data.
//! Test-only: included under `#[cfg(test)]`, so unwraps here cannot trap a VM.

use super::*;
use crate::decision::{SessionLookup, StoreView};
use crate::feed::{CertIndexEntry, SessionEntry};
use crate::host::HostError;
use crate::ids::{CertificateId, SessionKey};
use crate::mock_host::MockHost;
use crate::negative_cache::NegativeCache;
use crate::store_view::SharedDataStore;
use crate::test_support::{cert_entry, grant, store_link};
use std::cell::RefCell;

/// `store_link()`: ticks of 1 s and calls of 250 ms make a lease of 3 s.
const LEASE_MS: i64 = 3_000;

fn syncer(host: &MockHost) -> Syncer {
    Syncer::new(
        host,
        store_link(),
        Rc::new(Metrics::define(host)),
        BTreeSet::new(),
    )
}

fn state(host: &MockHost) -> SyncState {
    let bytes = host
        .shared_value(&store_link().namespace.sync_state())
        .unwrap();
    SyncState::decode(&bytes).unwrap()
}

fn lease(host: &MockHost) -> Option<Lease> {
    Lease::decode(&host.shared_value(&store_link().namespace.lease())?)
}

/// Answers this worker's latest feed call with `changes`.
fn answer(host: &MockHost, syncer: &mut Syncer, changes: &ChangeSet) {
    let call = host.callouts().pop().unwrap();
    let response = host.answer_call(call.token, Some("200"), &changes.encode());
    assert!(syncer.on_response(host, &response));
}

fn session_of(host: &MockHost, key: &impl AsRef<str>) -> SessionLookup {
    let link = store_link();
    let negative = RefCell::new(NegativeCache::default());
    SharedDataStore::new(host, &link, host.now(), &negative).session(key.as_ref())
}

fn certificate_of(host: &MockHost, id: &impl AsRef<str>) -> Option<crate::feed::CertIndexEntry> {
    let link = store_link();
    let negative = RefCell::new(NegativeCache::default());
    SharedDataStore::new(host, &link, host.now(), &negative).certificate(id.as_ref())
}

/// What the session at `key` carries of its certificate (`None`: no session value).
fn carried(host: &MockHost, key: &impl AsRef<str>) -> Option<CachedCertificate> {
    let generation = state(host).generation;
    let value = host.shared_value(&store_link().namespace.session(generation, key.as_ref()))?;
    shared_data::decode_session(&value).map(|s| s.certificate)
}

// ---- holder IDs and the start record ----

#[test]
fn each_worker_gets_its_own_holder_id_and_the_first_start_is_kept() {
    let a = MockHost::new();
    let b = a.sibling();
    let first = syncer(&a);
    a.advance_ms(10);
    let second = syncer(&b);
    assert_eq!((first.holder_id(), second.holder_id()), (1, 2));
    assert_eq!(
        state(&a).started_ms,
        MockHost::START_MS,
        "the first start counts"
    );
    assert_eq!(state(&a).version, 0);
}

#[test]
fn a_contended_worker_counter_is_retried_with_cas() {
    let a = MockHost::new();
    let b = Rc::new(a.sibling());
    let counter = store_link().namespace.worker_counter();
    a.put_shared(&counter, b"4");
    // Another worker takes ID 5 between this one's read and its write.
    let other = Rc::clone(&b);
    a.before_next_set(&counter, move || assert_eq!(syncer(&other).holder_id(), 5));
    assert_eq!(syncer(&a).holder_id(), 6);
}

// ---- the lease ----

#[test]
fn the_lease_holder_calls_the_feed_from_its_last_version() {
    let a = MockHost::new();
    let mut sync = syncer(&a);
    sync.on_tick(&a);
    let calls = a.callouts();
    let [call] = calls.as_slice() else {
        panic!("{calls:?}")
    };
    assert_eq!(
        call.header(":path"),
        Some("/mtls-gate/v1/changes?since=0&page_size=2000")
    );
    assert_eq!(call.header("authorization"), Some("Bearer feed-token"));
    assert_eq!(lease(&a).map(|l| l.holder), Some(sync.holder_id()));

    answer(
        &a,
        &mut sync,
        &ChangeSet {
            version: 7,
            full: true,
            ..ChangeSet::default()
        },
    );
    assert_eq!(a.counter("mtls_gate.sync.success"), Some(1));
    a.advance_ms(1_000);
    sync.on_tick(&a);
    let path = a.callouts().pop().unwrap();
    assert_eq!(
        path.header(":path"),
        Some("/mtls-gate/v1/changes?since=7&page_size=2000")
    );
}

#[test]
fn two_workers_ticking_together_make_one_call() {
    let a = MockHost::new();
    let b = a.sibling();
    let mut sync_a = syncer(&a);
    let mut sync_b = syncer(&b);
    for round in 0..5 {
        sync_a.on_tick(&a);
        sync_b.on_tick(&b);
        assert_eq!(a.callouts().len(), round + 1, "the holder calls every tick");
        answer(&a, &mut sync_a, &ChangeSet::default());
        a.advance_ms(1_000);
    }
    assert_eq!(b.callouts(), [], "the other never calls out");
    assert_eq!(lease(&a).map(|l| l.holder), Some(sync_a.holder_id()));
}

#[test]
fn of_two_workers_taking_an_expired_lease_at_once_the_cas_lets_one_win() {
    let a = MockHost::new();
    let b = Rc::new(a.sibling());
    let lease_key = store_link().namespace.lease();
    // A holder that died long ago.
    let dead = Lease {
        holder: 99,
        expires_ms: MockHost::START_MS - 1,
    };
    a.put_shared(&lease_key, &dead.encode());
    let mut sync_a = syncer(&a);
    let sync_b = Rc::new(RefCell::new(syncer(&b)));

    // Both read the expired lease; b's write lands between a's read and a's write.
    let (other_host, other_sync) = (Rc::clone(&b), Rc::clone(&sync_b));
    a.before_next_set(&lease_key, move || {
        other_sync.borrow_mut().on_tick(other_host.as_ref())
    });
    sync_a.on_tick(&a);

    assert_eq!(a.callouts(), [], "a's write carried a stale CAS token");
    assert_eq!(b.callouts().len(), 1);
    assert_eq!(
        lease(&a).map(|l| l.holder),
        Some(sync_b.borrow().holder_id())
    );
}

#[test]
fn a_holder_that_stops_ticking_is_replaced_once_its_lease_expires() {
    let a = MockHost::new();
    let b = a.sibling();
    let mut sync_a = syncer(&a);
    let mut sync_b = syncer(&b);
    sync_a.on_tick(&a);
    answer(&a, &mut sync_a, &ChangeSet::default());
    // a's worker hangs: it never ticks again.
    a.advance_ms(LEASE_MS - 1);
    sync_b.on_tick(&b);
    assert_eq!(b.callouts(), [], "still a's lease");
    a.advance_ms(1);
    sync_b.on_tick(&b);
    assert_eq!(b.callouts().len(), 1, "expired: b takes over");
    assert_eq!(lease(&b).map(|l| l.holder), Some(sync_b.holder_id()));

    // a comes back: the lease is b's now.
    sync_a.on_tick(&a);
    assert_eq!(a.callouts().len(), 1, "no second call from a");
}

#[test]
fn a_lost_answer_holds_the_next_call_until_the_lease_runs_out() {
    let a = MockHost::new();
    let mut sync = syncer(&a);
    sync.on_tick(&a);
    a.advance_ms(1_000);
    sync.on_tick(&a);
    a.advance_ms(LEASE_MS - 1_001);
    sync.on_tick(&a);
    assert_eq!(a.callouts().len(), 1, "one call in flight at a time");
    a.advance_ms(1);
    sync.on_tick(&a);
    assert_eq!(a.callouts().len(), 2, "the lost call's deadline passed");
    let stale = a.callouts().first().unwrap().token;
    let late = a.answer_call(stale, Some("200"), &ChangeSet::default().encode());
    assert!(
        !sync.on_response(&a, &late),
        "an answer to the lost call is not awaited"
    );
}

// ---- answers ----

#[test]
fn a_feed_that_fails_keeps_the_last_snapshot() {
    let a = MockHost::new();
    let mut sync = syncer(&a);
    let cases: [(Option<&str>, &[u8], &str); 3] = [
        (None, b"", "change feed answered \"\""),
        (Some("503"), b"", "change feed answered \"503\""),
        (
            Some("200"),
            b"{\"version\": \"x\"}",
            "malformed change feed",
        ),
    ];
    for (round, (status, body, logged)) in cases.into_iter().enumerate() {
        sync.on_tick(&a);
        let call = a.callouts().pop().unwrap();
        a.start_request();
        let response = a.answer_call(call.token, status, body);
        assert!(sync.on_response(&a, &response));
        assert!(a.logged(LogLevel::Warn, logged), "{:?}", a.logs());
        assert_eq!(a.counter("mtls_gate.sync.failure"), Some(round as u64 + 1));
        a.advance_ms(1_000);
    }
    assert_eq!(state(&a).last_success_ms, 0, "nothing applied");
    assert_eq!(a.counter("mtls_gate.sync.success"), Some(0));
}

#[test]
fn a_failed_call_is_never_asked_for_its_headers() {
    let a = MockHost::new();
    let mut sync = syncer(&a);
    sync.on_tick(&a);
    let call = a.callouts().pop().unwrap();
    a.start_request();
    let response = a.answer_call(call.token, None, b"");
    assert!(sync.on_response(&a, &response));
    assert_eq!(a.journal_count("callout_response_header"), 0);
}

#[test]
fn a_call_that_cannot_start_is_a_failed_sync() {
    let a = MockHost::new();
    a.fail_dispatch(Some(HostError::InternalFailure));
    let mut sync = syncer(&a);
    sync.on_tick(&a);
    assert_eq!(a.counter("mtls_gate.sync.failure"), Some(1));
    assert!(a.logged(
        LogLevel::Warn,
        "sync call to cluster \"shim\" failed to start: InternalFailure"
    ));
    // Nothing in flight: the next tick tries again.
    a.fail_dispatch(None);
    a.advance_ms(1_000);
    sync.on_tick(&a);
    assert_eq!(a.callouts().len(), 1);
}

#[test]
fn an_answer_to_someone_elses_call_is_not_the_syncers() {
    let a = MockHost::new();
    let mut sync = syncer(&a);
    let response = a.answer_call(42, Some("200"), b"{}");
    assert!(!sync.on_response(&a, &response), "nothing in flight");
    sync.on_tick(&a);
    assert!(!sync.on_response(&a, &response), "another token");
}

// ---- apply ----

#[test]
fn incremental_changes_upsert_and_tombstone_in_the_current_generation() {
    let a = MockHost::new();
    let ns = store_link().namespace;
    let _ = syncer(&a);
    let (kept, removed) = (
        cert_entry("org", "kept", true),
        cert_entry("org", "gone", false),
    );
    apply(
        &a,
        &ns,
        &ChangeSet {
            version: 5,
            full: true,
            certs: vec![kept.clone(), removed.clone()],
            sessions: vec![
                SessionEntry {
                    key: SessionKey::of(kept.id.clone()),
                    grant: grant(),
                },
                SessionEntry {
                    key: SessionKey::of(removed.id.clone()),
                    grant: grant(),
                },
            ],
            ..ChangeSet::default()
        },
        a.now(),
    );
    assert_eq!(state(&a).generation, 1);
    a.advance_ms(500);
    apply(
        &a,
        &ns,
        &ChangeSet {
            version: 6,
            full: false,
            removed_certs: vec![removed.id.clone()],
            removed_sessions: vec![SessionKey::of(removed.id.clone())],
            ..ChangeSet::default()
        },
        a.now(),
    );
    let now = state(&a);
    assert_eq!((now.version, now.generation), (6, 1));
    assert_eq!(now.last_success_ms, a.now());
    assert_eq!(now.started_ms, MockHost::START_MS, "the start is kept");
    assert_eq!(session_of(&a, &kept.id), SessionLookup::Found(grant()));
    assert_eq!(certificate_of(&a, &kept.id), Some(kept));
    assert_eq!(
        session_of(&a, &removed.id),
        SessionLookup::Absent,
        "a tombstone: known absent, no lookup"
    );
    assert_eq!(certificate_of(&a, &removed.id), None);
    assert_eq!(
        a.shared_value(&ns.session(1, removed.id.as_str()))
            .as_deref(),
        Some(shared_data::TOMBSTONE)
    );
}

#[test]
fn a_snapshot_moves_to_a_new_generation_and_drops_what_it_omits() {
    let a = MockHost::new();
    let ns = store_link().namespace;
    let (old, new) = (
        cert_entry("org", "old", true),
        cert_entry("org", "new", true),
    );
    let with = |cert: &crate::feed::CertIndexEntry, version| ChangeSet {
        version,
        full: true,
        certs: vec![cert.clone()],
        sessions: vec![SessionEntry {
            key: SessionKey::of(cert.id.clone()),
            grant: grant(),
        }],
        ..ChangeSet::default()
    };
    apply(&a, &ns, &with(&old, 3), a.now());
    apply(&a, &ns, &with(&new, 4), a.now());
    assert_eq!(state(&a).generation, 2);
    assert_eq!(session_of(&a, &new.id), SessionLookup::Found(grant()));
    assert_eq!(certificate_of(&a, &old.id), None);
    assert_eq!(
        session_of(&a, &old.id),
        SessionLookup::Unknown,
        "omitted: never seen in this generation (a lookup decides)"
    );
}

#[test]
fn an_older_incremental_set_is_ignored_but_a_snapshot_is_not() {
    let a = MockHost::new();
    let ns = store_link().namespace;
    let full = |version| ChangeSet {
        version,
        full: true,
        ..ChangeSet::default()
    };
    apply(&a, &ns, &full(10), a.now());
    a.start_request();
    let late = ChangeSet {
        version: 9,
        certs: vec![cert_entry("org", "late", true)],
        ..ChangeSet::default()
    };
    apply(&a, &ns, &late, a.now());
    assert_eq!(a.journal_count("shared_set"), 0, "nothing written");
    // A store that was wiped starts over lower, with a snapshot.
    apply(&a, &ns, &full(2), a.now());
    assert_eq!((state(&a).version, state(&a).generation), (2, 2));
}

#[test]
fn a_sync_state_written_meanwhile_is_not_overwritten() {
    let a = MockHost::new();
    let b = Rc::new(a.sibling());
    let ns = store_link().namespace;
    let state_key = ns.sync_state();
    a.put_shared(&state_key, &SyncState::default().encode());
    let other = Rc::clone(&b);
    let key = state_key.clone();
    a.before_next_set(&state_key, move || {
        let theirs = SyncState {
            version: 50,
            generation: 7,
            ..SyncState::default()
        };
        other.put_shared(&key, &theirs.encode());
    });
    apply(
        &a,
        &ns,
        &ChangeSet {
            version: 40,
            full: true,
            ..ChangeSet::default()
        },
        a.now(),
    );
    assert_eq!(state(&a).version, 50, "the other write stands");
    assert!(a.logged(LogLevel::Warn, "sync state changed under us"));
}

// ---- snapshots in pages ----

/// A certificate and its session, as one snapshot entry each.
fn bound(name: &str) -> (crate::feed::CertIndexEntry, SessionEntry) {
    let cert = cert_entry("org", name, false);
    let session = SessionEntry {
        key: SessionKey::of(cert.id.clone()),
        grant: grant(),
    };
    (cert, session)
}

fn page(version: u64, names: &[&str], next: Option<&str>) -> ChangeSet {
    let (certs, sessions) = names.iter().map(|n| bound(n)).unzip();
    ChangeSet {
        version,
        full: true,
        certs,
        sessions,
        next: next.map(str::to_owned),
        ..ChangeSet::default()
    }
}

/// After a snapshot's last page: asserts the catch-up call (the changes after the snapshot's
/// version) and answers it with an empty incremental set at `version`.
fn catch_up(host: &MockHost, syncer: &mut Syncer, since: u64, version: u64) {
    assert_eq!(
        last_path(host),
        format!("/mtls-gate/v1/changes?since={since}&page_size=2000")
    );
    let paging = state(host).paging.expect("paging until the catch-up");
    assert_eq!(paging.next, None, "every page is in");
    answer(
        host,
        syncer,
        &ChangeSet {
            version,
            ..ChangeSet::default()
        },
    );
}

fn last_path(host: &MockHost) -> String {
    let calls = host.callouts();
    let call = calls.last().unwrap();
    call.header(":path").unwrap().to_owned()
}

#[test]
fn a_paged_snapshot_is_served_only_once_its_last_page_is_in_and_pages_follow_at_once() {
    let a = MockHost::new();
    let mut sync = syncer(&a);
    let (old, _) = bound("old");
    sync.on_tick(&a);
    answer(&a, &mut sync, &page(5, &["old"], None));
    assert_eq!(certificate_of(&a, &old.id), Some(old.clone()));
    let successes = a.counter("mtls_gate.sync.success");

    // The store was rewritten beyond the log: a snapshot, in three pages.
    a.advance_ms(1_000);
    sync.on_tick(&a);
    assert_eq!(
        last_path(&a),
        "/mtls-gate/v1/changes?since=5&page_size=2000"
    );
    answer(&a, &mut sync, &page(20, &["p1"], Some("20:c:one")));
    // The next page is asked at once, with the cursor as sent, without waiting for a tick.
    assert_eq!(a.callouts().len(), 3);
    assert_eq!(
        last_path(&a),
        "/mtls-gate/v1/changes?since=0&page_size=2000&after=20%3Ac%3Aone"
    );
    let (p1, p1_session) = bound("p1");
    assert_eq!(
        certificate_of(&a, &old.id),
        Some(old.clone()),
        "still served"
    );
    assert_eq!(
        certificate_of(&a, &p1.id),
        None,
        "not served before the last page"
    );
    assert_eq!(state(&a).version, 5);
    assert_eq!(a.counter("mtls_gate.sync.success"), successes);

    answer(&a, &mut sync, &page(20, &["p2"], Some("20:s:two")));
    // A page may come from a newer store state; its own version is not the one kept.
    answer(&a, &mut sync, &page(23, &["p3"], None));
    // Every page is in; the changes since the first page's version are asked at once, and
    // the pages are served only once they are applied.
    assert_eq!(
        certificate_of(&a, &p1.id),
        None,
        "not served before the catch-up"
    );
    assert_eq!(a.counter("mtls_gate.sync.success"), successes);
    catch_up(&a, &mut sync, 20, 23);
    let done = state(&a);
    assert_eq!((done.version, done.paging), (23, None));
    for name in ["p1", "p2", "p3"] {
        let (cert, session) = bound(name);
        assert_eq!(certificate_of(&a, &cert.id), Some(cert));
        assert_eq!(session_of(&a, &session.key), SessionLookup::Found(grant()));
    }
    assert_eq!(
        session_of(&a, &p1_session.key),
        SessionLookup::Found(grant())
    );
    assert_eq!(certificate_of(&a, &old.id), None, "omitted by the snapshot");
    assert_eq!(
        a.counter("mtls_gate.sync.success"),
        successes.map(|n| n + 1)
    );
    assert_eq!(
        a.callouts().len(),
        5,
        "no call after the catch-up until a tick"
    );
    a.advance_ms(1_000);
    sync.on_tick(&a);
    assert_eq!(
        last_path(&a),
        "/mtls-gate/v1/changes?since=23&page_size=2000"
    );
}

/// Issue 14: a revocation made while a snapshot pages in used to wait for its last page
/// (3.4 s with 100,000 sessions). Between pages, once a sync interval has passed, the
/// changes since the snapshot began are asked and written into both generations.
#[test]
fn a_revocation_while_a_snapshot_pages_in_is_served_within_a_sync_interval() {
    let a = MockHost::new();
    let mut sync = syncer(&a);
    let ns = store_link().namespace;
    sync.on_tick(&a);
    answer(&a, &mut sync, &page(5, &["old", "kept"], None));
    let (old, old_session) = bound("old");
    let (p1, p1_session) = bound("p1");
    let (p3, p3_session) = bound("p3");
    let served = state(&a).generation;

    // A snapshot in pages; the first arrives at once, the second after a sync interval.
    a.advance_ms(1_000);
    sync.on_tick(&a);
    answer(&a, &mut sync, &page(20, &["old", "p1"], Some("20:c:p1")));
    let paged = state(&a).paging.unwrap().generation;
    a.advance_ms(1_000);
    answer(&a, &mut sync, &page(20, &["p2"], Some("20:c:p2")));
    // A sync interval has passed since the last change set was asked: the changes since the
    // snapshot's version come before the next page.
    assert_eq!(
        last_path(&a),
        "/mtls-gate/v1/changes?since=20&page_size=2000"
    );
    answer(
        &a,
        &mut sync,
        &ChangeSet {
            version: 22,
            removed_certs: vec![p1.id.clone()],
            removed_sessions: vec![old_session.key.clone()],
            ..ChangeSet::default()
        },
    );
    // Revoked now, in the generation served, before the snapshot is in.
    assert_eq!(session_of(&a, &old_session.key), SessionLookup::Absent);
    assert_eq!(
        certificate_of(&a, &bound("kept").0.id),
        Some(bound("kept").0)
    );
    let paging = state(&a).paging.unwrap();
    assert_eq!((paging.caught_up_to, state(&a).generation), (22, served));
    // The paging goes on at once, from the same cursor. Its pages are cut from the store
    // as it was at version 20: the last one still has the session revoked since.
    assert_eq!(
        last_path(&a),
        "/mtls-gate/v1/changes?since=0&page_size=2000&after=20%3Ac%3Ap2"
    );
    answer(&a, &mut sync, &page(20, &["old", "p3"], None));
    assert_eq!(
        session_of(&a, &old_session.key),
        SessionLookup::Absent,
        "the stale page is not served"
    );
    // The catch-up brings every change since version 20 into the pages, then they serve.
    assert_eq!(
        last_path(&a),
        "/mtls-gate/v1/changes?since=20&page_size=2000"
    );
    answer(
        &a,
        &mut sync,
        &ChangeSet {
            version: 23,
            removed_certs: vec![p1.id.clone()],
            removed_sessions: vec![old_session.key.clone()],
            ..ChangeSet::default()
        },
    );
    let done = state(&a);
    assert_eq!(
        (done.version, done.generation, done.paging),
        (23, paged, None)
    );
    assert_eq!(
        a.shared_value(&ns.session(paged, old_session.key.as_str()))
            .as_deref(),
        Some(shared_data::TOMBSTONE)
    );
    assert_eq!(session_of(&a, &old_session.key), SessionLookup::Absent);
    assert_eq!(certificate_of(&a, &old.id), Some(old));
    assert_eq!(certificate_of(&a, &p1.id), None);
    assert_eq!(
        carried(&a, &p1_session.key),
        Some(CachedCertificate::Absent),
        "the paged session learnt its certificate is gone"
    );
    assert_eq!(certificate_of(&a, &p3.id), Some(p3));
    assert_eq!(
        session_of(&a, &p3_session.key),
        SessionLookup::Found(grant())
    );
    a.advance_ms(1_000);
    sync.on_tick(&a);
    assert_eq!(
        last_path(&a),
        "/mtls-gate/v1/changes?since=23&page_size=2000"
    );
}

/// Before the first sync, requests are served from lookups recorded under generation 0. A
/// key deleted after its lookup but before the shim read the first page is in no change
/// asked between pages (measured through Envoy: refused only after the last page, 3 s at
/// 100,000 sessions). Once the first page is in, those recorded answers are no longer
/// served: the next request looks up again. No later snapshot reuses their generation.
#[test]
fn lookups_recorded_before_the_first_page_are_not_served_once_it_is_in() {
    let a = MockHost::new();
    let mut sync = syncer(&a);
    let (alice, alice_session) = bound("alice");
    let link = store_link();
    let negative = RefCell::new(NegativeCache::default());
    let record = |asked_in: u64| {
        SharedDataStore::new(&a, &link, a.now(), &negative).record_lookup(
            &crate::feed::LookupAnswer {
                key: alice_session.key.clone(),
                session: Some(grant()),
                cert: Some(alice.clone()),
            },
            asked_in,
        )
    };
    record(0);
    assert_eq!(
        session_of(&a, &alice_session.key),
        SessionLookup::Found(grant())
    );

    sync.on_tick(&a);
    answer(&a, &mut sync, &page(20, &["p1"], Some("20:c:p1")));
    let paging = state(&a);
    let lookups = paging.generation;
    assert!(lookups != 0 && lookups < paging.paging.as_ref().unwrap().generation);
    assert_eq!(
        session_of(&a, &alice_session.key),
        SessionLookup::Unknown,
        "looked up again"
    );
    // A lookup asked before the first page came is not recorded; one asked after is.
    record(0);
    assert_eq!(session_of(&a, &alice_session.key), SessionLookup::Unknown);
    record(lookups);
    assert_eq!(
        session_of(&a, &alice_session.key),
        SessionLookup::Found(grant())
    );

    // The paging ends; a later snapshot goes to a generation never used.
    answer(&a, &mut sync, &page(20, &["p2"], None));
    catch_up(&a, &mut sync, 20, 20);
    let synced = state(&a).generation;
    a.advance_ms(1_000);
    sync.on_tick(&a);
    answer(&a, &mut sync, &page(30, &["p3"], Some("30:c:p3")));
    let again = state(&a);
    assert_eq!(
        again.generation, synced,
        "a synced filter keeps serving its generation"
    );
    let paged = again.paging.unwrap().generation;
    assert!(
        paged > synced && paged != lookups,
        "{paged} after {synced} and {lookups}"
    );
}

/// Between pages the shim may answer the changes with a snapshot (its log no longer reaches
/// back that far): nothing is written and the paging goes on; so does a failed call, a tick
/// later.
#[test]
fn a_snapshot_or_a_failure_answering_the_changes_between_pages_leaves_the_paging_as_it_was() {
    let a = MockHost::new();
    let mut sync = syncer(&a);
    sync.on_tick(&a);
    answer(&a, &mut sync, &page(9, &["p1"], Some("9:c:p1")));
    a.advance_ms(1_000);
    answer(&a, &mut sync, &page(9, &["p2"], Some("9:c:p2")));
    assert_eq!(
        last_path(&a),
        "/mtls-gate/v1/changes?since=9&page_size=2000"
    );
    let before = state(&a);
    let writes = a.journal_count("shared_set");
    answer(&a, &mut sync, &page(30, &["ghost"], Some("30:c:ghost")));
    assert_eq!(state(&a), before);
    assert_eq!(a.journal_count("shared_set"), writes + 1, "the lease only");
    assert_eq!(
        last_path(&a),
        "/mtls-gate/v1/changes?since=0&page_size=2000&after=9%3Ac%3Ap2"
    );

    // The next changes call fails: the page after it is asked on the next tick.
    a.advance_ms(1_000);
    answer(&a, &mut sync, &page(9, &["p3"], Some("9:c:p3")));
    assert_eq!(
        last_path(&a),
        "/mtls-gate/v1/changes?since=9&page_size=2000"
    );
    let call = a.callouts().pop().unwrap();
    let failed = a.answer_call(call.token, Some("503"), b"");
    assert!(sync.on_response(&a, &failed));
    a.advance_ms(100);
    sync.on_tick(&a);
    assert_eq!(
        last_path(&a),
        "/mtls-gate/v1/changes?since=0&page_size=2000&after=9%3Ac%3Ap3"
    );
    answer(&a, &mut sync, &page(9, &["p4"], None));
    catch_up(&a, &mut sync, 9, 9);
    let done = state(&a);
    assert_eq!((done.version, done.paging), (9, None));
    assert!(certificate_of(&a, &bound("p4").0.id).is_some());
    assert_eq!(certificate_of(&a, &bound("ghost").0.id), None);
}

#[test]
fn a_worker_taking_the_lease_over_goes_on_with_the_paging_and_the_old_holders_page_is_ignored() {
    let a = MockHost::new();
    let b = a.sibling();
    let mut sync_a = syncer(&a);
    let mut sync_b = syncer(&b);
    sync_a.on_tick(&a);
    answer(&a, &mut sync_a, &page(9, &["p1"], Some("9:c:p1")));
    // a asked the second page, then hung; its lease runs out and b goes on from the cursor,
    // once it has asked for the changes since the snapshot (it never has).
    let stale = a.callouts().last().unwrap().token;
    a.advance_ms(LEASE_MS);
    sync_b.on_tick(&b);
    assert_eq!(
        last_path(&b),
        "/mtls-gate/v1/changes?since=9&page_size=2000"
    );
    answer(
        &b,
        &mut sync_b,
        &ChangeSet {
            version: 9,
            ..ChangeSet::default()
        },
    );
    assert_eq!(
        last_path(&b),
        "/mtls-gate/v1/changes?since=0&page_size=2000&after=9%3Ac%3Ap1"
    );
    answer(&b, &mut sync_b, &page(9, &["p2"], Some("9:c:p2")));
    // a's late answer to the same page finds the paging moved on: nothing is written.
    a.start_request();
    let late = a.answer_call(stale, Some("200"), &page(9, &["ghost"], None).encode());
    assert!(sync_a.on_response(&a, &late));
    assert_eq!(
        a.journal_count("shared_set"),
        0,
        "the late page wrote nothing"
    );
    answer(&b, &mut sync_b, &page(9, &["p3"], None));
    catch_up(&b, &mut sync_b, 9, 9);
    assert_eq!((state(&a).version, state(&a).paging), (9, None));
    for name in ["p1", "p2", "p3"] {
        assert!(certificate_of(&a, &bound(name).0.id).is_some(), "{name}");
    }
    assert_eq!(certificate_of(&a, &bound("ghost").0.id), None);
}

#[test]
fn a_snapshot_begun_again_never_reuses_the_half_written_generation() {
    let a = MockHost::new();
    let ns = store_link().namespace;
    apply(&a, &ns, &page(3, &["base"], None), a.now());
    apply(&a, &ns, &page(7, &["ghost"], Some("7:c:x")), a.now());
    let abandoned = state(&a).paging.unwrap().generation;
    // The paging is abandoned (say the store answered a snapshot again from the start).
    apply(&a, &ns, &page(8, &["fresh"], None), a.now());
    let now = state(&a);
    assert!(now.generation > abandoned, "{now:?}");
    assert!(certificate_of(&a, &bound("fresh").0.id).is_some());
    assert_eq!(certificate_of(&a, &bound("ghost").0.id), None);
    assert_eq!(certificate_of(&a, &bound("base").0.id), None);
}

// ---- referenced certificates missing from the store ----

/// Issue 11: a store ID the configuration names but the store lacks is logged once when
/// it goes missing, not on every sync.
#[test]
fn a_referenced_id_missing_from_the_store_is_logged_once_each_time_it_goes_missing() {
    let host = MockHost::new();
    let (a, b) = (cert_entry("org", "a", false), cert_entry("org", "b", false));
    let referenced: BTreeSet<String> = [a.id.to_string(), b.id.to_string()].into();
    let mut syncer = Syncer::new(
        &host,
        store_link(),
        Rc::new(Metrics::define(&host)),
        referenced,
    );
    let warnings = |host: &MockHost, id: &str| {
        host.logs()
            .iter()
            .filter(|(level, line)| {
                *level == LogLevel::Warn
                    && line.contains(&format!(
                        "names certificate {id:?}, which is not in the store"
                    ))
            })
            .count()
    };
    let mut sync = |changes: ChangeSet| {
        host.advance_ms(1_000);
        syncer.on_tick(&host);
        answer(&host, &mut syncer, &changes);
    };
    let snapshot = ChangeSet {
        version: 1,
        full: true,
        certs: vec![a.clone()],
        ..ChangeSet::default()
    };
    sync(snapshot.clone());
    sync(ChangeSet {
        version: 2,
        ..snapshot.clone()
    });
    assert_eq!(
        (
            warnings(&host, a.id.as_str()),
            warnings(&host, b.id.as_str())
        ),
        (0, 1)
    );
    sync(ChangeSet {
        version: 3,
        removed_certs: vec![a.id.clone()],
        ..ChangeSet::default()
    });
    sync(ChangeSet {
        version: 4,
        certs: vec![a.clone()],
        ..ChangeSet::default()
    });
    sync(ChangeSet {
        version: 5,
        removed_certs: vec![a.id.clone(), CertificateId::verbatim("unrelated")],
        ..ChangeSet::default()
    });
    assert_eq!(
        (
            warnings(&host, a.id.as_str()),
            warnings(&host, b.id.as_str())
        ),
        (2, 1)
    );
    assert_eq!(warnings(&host, "unrelated"), 0);
}

// ---- a session carries its certificate ----

#[test]
fn a_session_carries_its_certificate_and_every_change_to_that_certificate() {
    let a = MockHost::new();
    let ns = store_link().namespace;
    let _ = syncer(&a);
    let (alice, alice_session) = bound("alice");
    let (bob, bob_session) = bound("bob");
    let incremental = |version, changes: ChangeSet| ChangeSet {
        version,
        full: false,
        ..changes
    };
    // A snapshot: alice with her session, bob's certificate alone.
    let snapshot = ChangeSet {
        version: 1,
        full: true,
        certs: vec![alice.clone(), bob.clone()],
        sessions: vec![alice_session.clone()],
        ..ChangeSet::default()
    };
    apply(&a, &ns, &snapshot, a.now());
    assert_eq!(
        carried(&a, &alice.id),
        Some(CachedCertificate::Present(alice.clone()))
    );

    // Bob's session comes later, alone: it carries the certificate already synced.
    let bob_joins = ChangeSet {
        sessions: vec![bob_session.clone()],
        ..ChangeSet::default()
    };
    apply(&a, &ns, &incremental(2, bob_joins), a.now());
    assert_eq!(
        carried(&a, &bob.id),
        Some(CachedCertificate::Present(bob.clone()))
    );

    // Alice's certificate is deleted, her session kept (SPEC §2): the session says so.
    let alice_deleted = ChangeSet {
        removed_certs: vec![alice.id.clone()],
        ..ChangeSet::default()
    };
    apply(&a, &ns, &incremental(3, alice_deleted), a.now());
    assert_eq!(carried(&a, &alice.id), Some(CachedCertificate::Absent));
    let link = store_link();
    let negative = RefCell::new(NegativeCache::default());
    let store = SharedDataStore::new(&a, &link, a.now(), &negative);
    assert_eq!(
        store.certificate_session(alice.id.as_str()),
        (SessionLookup::Found(grant()), None)
    );

    // Uploaded again, now with its key: the session carries the new entry.
    let again = CertIndexEntry {
        has_private: true,
        ..alice.clone()
    };
    let alice_back = ChangeSet {
        certs: vec![again.clone()],
        ..ChangeSet::default()
    };
    apply(&a, &ns, &incremental(4, alice_back), a.now());
    assert_eq!(
        carried(&a, &alice.id),
        Some(CachedCertificate::Present(again))
    );
    // A certificate with no session writes none.
    let (carol, _) = bound("carol");
    let carol_only = ChangeSet {
        certs: vec![carol.clone()],
        ..ChangeSet::default()
    };
    apply(&a, &ns, &incremental(5, carol_only), a.now());
    assert_eq!(carried(&a, &carol.id), None);
    assert_eq!(session_of(&a, &carol.id), SessionLookup::Unknown);
}

#[test]
fn a_session_from_a_lookup_reads_its_certificate_until_the_feed_records_it() {
    let a = MockHost::new();
    let ns = store_link().namespace;
    let _ = syncer(&a);
    let (alice, alice_session) = bound("alice");
    let snapshot = ChangeSet {
        version: 1,
        full: true,
        certs: vec![alice.clone()],
        ..ChangeSet::default()
    };
    apply(&a, &ns, &snapshot, a.now());
    let link = store_link();
    let negative = RefCell::new(NegativeCache::default());
    let store = SharedDataStore::new(&a, &link, a.now(), &negative);
    store.record_lookup(
        &crate::feed::LookupAnswer {
            key: alice_session.key.clone(),
            session: Some(grant()),
            cert: Some(alice.clone()),
        },
        1,
    );
    assert_eq!(carried(&a, &alice.id), Some(CachedCertificate::Unrecorded));

    // The feed deletes the certificate: the session written from the lookup learns it.
    let deleted = ChangeSet {
        version: 2,
        removed_certs: vec![alice.id.clone()],
        ..ChangeSet::default()
    };
    apply(&a, &ns, &deleted, a.now());
    assert_eq!(carried(&a, &alice.id), Some(CachedCertificate::Absent));
    let store = SharedDataStore::new(&a, &link, a.now(), &negative);
    assert_eq!(
        store.certificate_session(alice.id.as_str()),
        (SessionLookup::Found(grant()), None)
    );
}

#[test]
fn a_session_in_a_later_page_carries_its_certificate_from_an_earlier_one() {
    let a = MockHost::new();
    let mut sync = syncer(&a);
    let (alice, alice_session) = bound("alice");
    sync.on_tick(&a);
    let certificates = ChangeSet {
        version: 7,
        full: true,
        certs: vec![alice.clone()],
        next: Some("7:c:alice".to_owned()),
        ..ChangeSet::default()
    };
    answer(&a, &mut sync, &certificates);
    let sessions = ChangeSet {
        version: 7,
        full: true,
        sessions: vec![alice_session],
        ..ChangeSet::default()
    };
    answer(&a, &mut sync, &sessions);
    catch_up(&a, &mut sync, 7, 7);
    assert_eq!(state(&a).paging, None);
    assert_eq!(
        carried(&a, &alice.id),
        Some(CachedCertificate::Present(alice))
    );
}
