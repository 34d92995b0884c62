//! The real filter `.wasm` under the harness: certificate authentication (SPEC §4), the
//! shared-data session cache, the sync lease, lookups on miss and staleness (SPEC §7).
//! Callouts to the shim are answered by the tests with the core's own wire types.

use crate::support::*;
use mtls_gate_core::feed::{CertIndexEntry, ChangeSet, LookupAnswer, SessionEntry};
use mtls_gate_core::session::SessionGrant;
use mtls_gate_harness::{Host, HttpCall, Outcome, Worker};
use std::time::Duration;

const ORG: &str = "acme";
const SYNC_MS: u64 = 500;

fn gate(extra_security: &str, max_stale_s: u64) -> String {
    format!(
        r#"{{"org_id": "{ORG}",
            "security": {{ {extra_security} }},
            "store": {{"cluster": "mtls_gate_shim", "authority": "shim.local", "token": "feed-token",
                       "sync_interval_ms": {SYNC_MS}, "max_stale_s": {max_stale_s}}},
            "apis": [
              {{"api_id": "dyn", "domain": "dyn.test", "strip_auth_data": true,
                "auth_configs": {{"authToken": {{"use_certificate": true}}}},
                "proxy": {{"listen_path": "/", "target_url": "http://backend.test"}}}},
              {{"api_id": "static", "domain": "static.test", "use_mutual_tls_auth": true,
                "client_certificates": [],
                "proxy": {{"listen_path": "/", "target_url": "http://backend.test"}}}}
            ]}}"#
    )
}

fn default_gate() -> String {
    gate("", 300)
}

fn key_of(cert: &TestCert) -> String {
    format!("{ORG}{}", cert.fingerprint)
}

fn index_entry(cert: &TestCert, not_after: i64) -> CertIndexEntry {
    CertIndexEntry {
        id: certificate_id(key_of(cert)),
        fingerprint: fingerprint_of(cert),
        not_after: Some(not_after),
        has_private: false,
        is_ca: false,
        trust_anchor: None,
    }
}

fn snapshot(version: u64, sessions: &[(&TestCert, SessionGrant)]) -> ChangeSet {
    ChangeSet {
        version,
        full: true,
        certs: sessions
            .iter()
            .map(|(c, _)| index_entry(c, 2_200_000_000))
            .collect(),
        removed_certs: vec![],
        sessions: sessions
            .iter()
            .map(|(c, g)| SessionEntry {
                key: session_key(key_of(c)),
                grant: g.clone(),
            })
            .collect(),
        removed_sessions: vec![],
        next: None,
    }
}

fn feed_calls(worker: &Worker) -> Vec<HttpCall> {
    worker
        .pending_http_calls()
        .into_iter()
        .filter(|c| {
            c.header(":path")
                .is_some_and(|p| p.starts_with("/mtls-gate/v1/changes"))
        })
        .collect()
}

/// Ticks `worker`, answers its feed call with `changes`, and returns the path it asked for.
fn sync(host: &Host, worker: &mut Worker, changes: &ChangeSet) -> String {
    host.clock().advance(Duration::from_millis(SYNC_MS));
    worker.tick().unwrap();
    let calls = feed_calls(worker);
    assert_eq!(
        calls.len(),
        1,
        "the lease holder calls the feed once per tick"
    );
    let call = &calls[0];
    assert_eq!(call.upstream, "mtls_gate_shim");
    assert_eq!(call.header("authorization"), Some("Bearer feed-token"));
    assert_eq!(call.header(":authority"), Some("shim.local"));
    worker
        .respond_http_call(
            call.token,
            200,
            &[("content-type", "application/json")],
            &changes.encode(),
        )
        .unwrap();
    call.header(":path").unwrap_or_default().to_owned()
}

fn dyn_request(worker: &mut Worker, cert: &TestCert) -> Outcome {
    mtls_request(worker, &cert.fingerprint, "dyn.test", "/orders")
}

#[test]
fn known_certificate_passes_and_the_upstream_learns_who_it_is() {
    let host = filter();
    let mut worker = host.worker(default_gate()).unwrap();
    let alice = TestCert::new("alice");
    sync(
        &host,
        &mut worker,
        &snapshot(1, &[(&alice, grant("alice-app"))]),
    );
    let out = tls_request(&mut worker, &alice.fingerprint, "dyn.test", "/orders")
        .header("authorization", "Bearer whatever")
        .send_headers()
        .unwrap();
    assert_forwarded(&out);
    assert_eq!(out.header(headers::KEY_ALIAS), Some("alice-app"));
    assert_eq!(
        out.header(headers::SESSION_KEY),
        Some(key_of(&alice).as_str())
    );
    assert_eq!(out.header("authorization"), None, "strip_auth_data");
    assert_eq!(
        out.property_reads("connection.sha256_peer_certificate_digest"),
        1
    );
    assert!(
        out.http_calls().is_empty(),
        "a cached session needs no callout"
    );
}

#[test]
fn unknown_certificate_is_looked_up_once_then_refused_from_the_negative_cache() {
    let host = filter();
    let mut worker = host.worker(default_gate()).unwrap();
    sync(&host, &mut worker, &snapshot(1, &[]));
    let stranger = TestCert::new("stranger");
    let first = dyn_request(&mut worker, &stranger);
    assert!(first.is_paused(), "paused while the shim is asked");
    let lookup = first
        .http_calls()
        .first()
        .cloned()
        .expect("one lookup callout");
    assert_eq!(
        lookup.header(":path").unwrap(),
        format!("/mtls-gate/v1/lookup/{}", key_of(&stranger))
    );
    let answer = LookupAnswer {
        key: session_key(key_of(&stranger)),
        session: None,
        cert: None,
    };
    let resolved = worker
        .respond_http_call(lookup.token, 200, &[], &answer.encode())
        .unwrap()
        .expect("stream resolved");
    assert_denied(&resolved, 401, "Access to this API has been disallowed");

    let again = dyn_request(&mut worker, &stranger);
    assert_denied(&again, 401, "Access to this API has been disallowed");
    assert!(
        again.http_calls().is_empty(),
        "negative answers are cached: no callout storm"
    );

    host.clock().advance(Duration::from_millis(1_100));
    let later = dyn_request(&mut worker, &stranger);
    assert!(later.is_paused(), "the negative entry lasts at most 1 s");
}

#[test]
fn a_new_key_works_on_the_very_next_request_through_lookup_then_stays_cached() {
    let host = filter();
    let mut worker = host.worker(default_gate()).unwrap();
    sync(&host, &mut worker, &snapshot(1, &[]));
    let bob = TestCert::new("bob");
    let out = dyn_request(&mut worker, &bob);
    let lookup = out.http_calls()[0].clone();
    let answer = LookupAnswer {
        key: session_key(key_of(&bob)),
        session: Some(grant("bob")),
        cert: Some(index_entry(&bob, 2_200_000_000)),
    };
    let resolved = worker
        .respond_http_call(lookup.token, 200, &[], &answer.encode())
        .unwrap()
        .unwrap();
    assert_forwarded(&resolved);
    assert_eq!(resolved.header(headers::KEY_ALIAS), Some("bob"));
    let cached = dyn_request(&mut worker, &bob);
    assert_forwarded(&cached);
    assert!(cached.http_calls().is_empty());
    assert_eq!(host.metric(metrics::LOOKUP_CALLOUTS), Some(1));
}

#[test]
fn a_second_worker_sees_the_first_workers_sync_and_never_calls_out() {
    let host = filter();
    let mut first = host.worker(default_gate()).unwrap();
    let mut second = host.worker(default_gate()).unwrap();
    let alice = TestCert::new("alice");
    sync(&host, &mut first, &snapshot(1, &[(&alice, grant("a"))]));
    second.tick().unwrap();
    assert!(
        feed_calls(&second).is_empty(),
        "only the lease holder calls the feed"
    );
    let out = dyn_request(&mut second, &alice);
    assert_forwarded(&out);
}

#[test]
fn a_dead_lease_holder_is_replaced_after_its_lease_expires() {
    let host = filter();
    let mut first = host.worker(default_gate()).unwrap();
    let mut second = host.worker(default_gate()).unwrap();
    sync(&host, &mut first, &snapshot(1, &[]));
    // `first` stops ticking (dead). Its lease runs out; `second` takes over.
    host.clock().advance(Duration::from_secs(10));
    second.tick().unwrap();
    let calls = feed_calls(&second);
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].header(":path"),
        Some("/mtls-gate/v1/changes?since=1&page_size=2000"),
        "it resumes from the shared version"
    );
}

#[test]
fn deleting_the_key_denies_after_the_next_sync() {
    let host = filter();
    let mut worker = host.worker(default_gate()).unwrap();
    let alice = TestCert::new("alice");
    sync(&host, &mut worker, &snapshot(1, &[(&alice, grant("a"))]));
    assert_forwarded(&dyn_request(&mut worker, &alice));
    let delete = ChangeSet {
        version: 2,
        full: false,
        removed_sessions: vec![session_key(key_of(&alice))],
        ..snapshot(2, &[])
    };
    let asked = sync(&host, &mut worker, &delete);
    assert_eq!(asked, "/mtls-gate/v1/changes?since=1&page_size=2000");
    let out = dyn_request(&mut worker, &alice);
    assert_denied(&out, 401, "Access to this API has been disallowed");
    assert!(
        out.http_calls().is_empty(),
        "a removed session is known absent: no lookup"
    );
}

#[test]
fn deleting_the_certificate_denies_static_lists_that_name_its_id() {
    let alice = TestCert::new("alice");
    let gate = default_gate().replace(
        r#""client_certificates": []"#,
        &format!(r#""client_certificates": ["{}"]"#, key_of(&alice)),
    );
    let host = filter();
    let mut worker = host.worker(gate).unwrap();
    sync(&host, &mut worker, &snapshot(1, &[(&alice, grant("a"))]));
    assert_forwarded(&mtls_request(
        &mut worker,
        &alice.fingerprint,
        "static.test",
        "/",
    ));
    // As the shim sends it: deleting a certificate lists it in `removed_certs` and keeps
    // the keys bound to it (SPEC §2).
    let delete = ChangeSet {
        version: 2,
        full: false,
        removed_certs: vec![certificate_id(key_of(&alice))],
        ..snapshot(2, &[])
    };
    sync(&host, &mut worker, &delete);
    let out = mtls_request(&mut worker, &alice.fingerprint, "static.test", "/");
    assert_denied(
        &out,
        403,
        &format!("Certificate with SHA256 {} not allowed", alice.fingerprint),
    );
    // The key is still there, its certificate is not: Tyk's ErrAuthCertNotFound.
    let out = dyn_request(&mut worker, &alice);
    assert_denied(&out, 403, "Access to this API has been disallowed");
    assert!(
        out.http_calls().is_empty(),
        "the session is known: no lookup"
    );
}

#[test]
fn a_full_snapshot_drops_sessions_it_no_longer_lists() {
    let host = filter();
    let mut worker = host.worker(default_gate()).unwrap();
    let (alice, bob) = (TestCert::new("alice"), TestCert::new("bob"));
    sync(
        &host,
        &mut worker,
        &snapshot(1, &[(&alice, grant("a")), (&bob, grant("b"))]),
    );
    sync(&host, &mut worker, &snapshot(9, &[(&bob, grant("b"))]));
    let out = dyn_request(&mut worker, &alice);
    assert!(
        out.local_response().is_some() || out.is_paused(),
        "alice must not pass from the old generation"
    );
    assert!(!out.is_forwarded());
    assert_forwarded(&dyn_request(&mut worker, &bob));
}

#[test]
fn session_checks_use_tyks_statuses_and_messages() {
    let host = filter();
    let mut worker = host.worker(default_gate()).unwrap();
    let now = i64::try_from(host.clock().unix_seconds()).unwrap();
    let inactive = TestCert::new("inactive");
    let expired_key = TestCert::new("expired-key");
    let elsewhere = TestCert::new("elsewhere");
    let expired_cert = TestCert::new("expired-cert");
    let mut changes = snapshot(
        1,
        &[
            (
                &inactive,
                SessionGrant {
                    is_inactive: true,
                    ..grant("i")
                },
            ),
            (
                &expired_key,
                SessionGrant {
                    expires: now - 10,
                    ..grant("e")
                },
            ),
            (
                &elsewhere,
                SessionGrant {
                    api_ids: vec!["other-api".into()],
                    ..grant("o")
                },
            ),
            (&expired_cert, grant("c")),
        ],
    );
    changes
        .certs
        .iter_mut()
        .filter(|c| c.fingerprint == fingerprint_of(&expired_cert))
        .for_each(|c| c.not_after = Some(now - 1));
    sync(&host, &mut worker, &changes);
    assert_denied(
        &dyn_request(&mut worker, &inactive),
        403,
        "Key is inactive, please renew",
    );
    assert_denied(
        &dyn_request(&mut worker, &expired_key),
        401,
        "Key has expired, please renew",
    );
    assert_denied(
        &dyn_request(&mut worker, &elsewhere),
        403,
        "Access to this API has been disallowed",
    );
    assert_denied(
        &dyn_request(&mut worker, &expired_cert),
        403,
        "Certificate has expired",
    );
}

#[test]
fn a_token_without_a_certificate_never_passes() {
    for security in ["", r#""allow_unsafe_dynamic_mtls_token": true"#] {
        let host = filter();
        let mut worker = host.worker(gate(security, 300)).unwrap();
        let alice = TestCert::new("alice");
        sync(&host, &mut worker, &snapshot(1, &[(&alice, grant("a"))]));
        for tls in [false, true] {
            let mut request = worker
                .request()
                .header(":authority", "dyn.test")
                .header(":path", "/")
                .header("authorization", &key_of(&alice));
            if tls {
                request = request.tls("TLSv1.3");
            }
            assert_denied(
                &request.send_headers().unwrap(),
                401,
                "Client certificate required",
            );
        }
    }
}

#[test]
fn legacy_unsafe_mode_uses_the_tokens_session_next_to_a_certificate() {
    let host = filter();
    let mut worker = host
        .worker(gate(r#""allow_unsafe_dynamic_mtls_token": true"#, 300))
        .unwrap();
    let (alice, bob) = (TestCert::new("alice"), TestCert::new("bob"));
    sync(
        &host,
        &mut worker,
        &snapshot(1, &[(&alice, grant("alice")), (&bob, grant("bob"))]),
    );
    let out = tls_request(&mut worker, &alice.fingerprint, "dyn.test", "/")
        .header("authorization", &key_of(&bob))
        .send_headers()
        .unwrap();
    assert_forwarded(&out);
    assert_eq!(out.header(headers::KEY_ALIAS), Some("bob"));
}

#[test]
fn store_unreachable_beyond_max_stale_gives_503_for_dynamic_apis_only() {
    let alice = TestCert::new("alice");
    let gate = gate("", 2).replace(
        r#""client_certificates": []"#,
        &format!(r#""client_certificates": ["{}"]"#, key_of(&alice)),
    );
    let host = filter();
    let mut worker = host.worker(gate).unwrap();
    sync(&host, &mut worker, &snapshot(1, &[(&alice, grant("a"))]));
    // The shim goes away: every feed call fails, as Envoy reports a refused connection.
    for _ in 0..6 {
        host.clock().advance(Duration::from_millis(SYNC_MS));
        worker.tick().unwrap();
        for call in feed_calls(&worker) {
            worker.fail_http_call(call.token).unwrap();
        }
    }
    assert_denied(
        &dyn_request(&mut worker, &alice),
        503,
        "Certificate store unavailable",
    );
    assert_forwarded(&mtls_request(
        &mut worker,
        &alice.fingerprint,
        "static.test",
        "/",
    ));
    assert!(host.metric(metrics::SYNC_FAILURE).unwrap_or(0) >= 1);
    assert_eq!(host.metric(metrics::STORE_STALE), Some(1));
}

#[test]
fn malformed_feed_answers_are_logged_ignored_and_never_trap() {
    let host = filter();
    let mut worker = host.worker(default_gate()).unwrap();
    let alice = TestCert::new("alice");
    sync(&host, &mut worker, &snapshot(1, &[(&alice, grant("a"))]));
    for body in [
        &b"{not json"[..],
        b"",
        b"[]",
        b"{\"version\": \"x\"}",
        &[0xff, 0x00, 0x12],
    ] {
        host.clock().advance(Duration::from_millis(SYNC_MS));
        worker.tick().unwrap();
        let call = feed_calls(&worker).pop().expect("feed call");
        worker
            .respond_http_call(call.token, 200, &[], body)
            .unwrap();
    }
    assert!(worker.logs_contain("malformed change feed"));
    assert!(!worker.has_crashed());
    assert_forwarded(&dyn_request(&mut worker, &alice));
}

#[test]
fn a_failed_lookup_denies_rather_than_allows() {
    let host = filter();
    let mut worker = host.worker(default_gate()).unwrap();
    sync(&host, &mut worker, &snapshot(1, &[]));
    let stranger = TestCert::new("stranger");
    let out = dyn_request(&mut worker, &stranger);
    let token = out.http_calls()[0].token;
    let resolved = worker
        .fail_http_call(token)
        .unwrap()
        .expect("stream resolved");
    assert_denied(&resolved, 503, "Certificate store unavailable");
}

#[test]
fn a_client_that_disconnects_during_a_lookup_leaves_the_worker_healthy() {
    let host = filter();
    let mut worker = host.worker(default_gate()).unwrap();
    sync(&host, &mut worker, &snapshot(1, &[]));
    let stranger = TestCert::new("stranger");
    let paused = dyn_request(&mut worker, &stranger);
    assert!(paused.is_paused());
    // Envoy ends the stream and cancels its callout; the answer never arrives.
    worker.finish(paused.context_id()).unwrap();
    assert!(worker.pending_http_calls().is_empty());
    let alice = TestCert::new("alice");
    sync(
        &host,
        &mut worker,
        &ChangeSet {
            version: 2,
            ..snapshot(2, &[(&alice, grant("a"))])
        },
    );
    assert_forwarded(&dyn_request(&mut worker, &alice));
    assert!(!worker.has_crashed());
}

fn gate_with_lookup_budget(max_lookups_in_flight: u32) -> String {
    default_gate().replace(
        r#""max_stale_s": 300"#,
        &format!(r#""max_stale_s": 300, "max_lookups_in_flight": {max_lookups_in_flight}"#),
    )
}

#[test]
fn a_spent_lookup_budget_answers_503_without_a_callout_and_cached_sessions_still_pass() {
    let host = filter();
    let mut worker = host.worker(gate_with_lookup_budget(2)).unwrap();
    let alice = TestCert::new("alice");
    sync(&host, &mut worker, &snapshot(1, &[(&alice, grant("a"))]));

    // A client cycling fresh certificates: two lookups fill the budget.
    let stranger = TestCert::new("stranger-1");
    let first_key = key_of(&stranger);
    let first = dyn_request(&mut worker, &stranger);
    let second = dyn_request(&mut worker, &TestCert::new("stranger-2"));
    assert!(first.is_paused() && second.is_paused());
    assert_eq!(worker.pending_http_calls().len(), 2);

    let shed = dyn_request(&mut worker, &TestCert::new("stranger-3"));
    assert_denied(&shed, 503, "Certificate store unavailable");
    assert!(shed.http_calls().is_empty(), "no callout past the budget");
    assert_eq!(host.metric(metrics::LOOKUP_SHED), Some(1));
    assert_eq!(host.metric(metrics::LOOKUP_CALLOUTS), Some(2));

    // Sessions already in the cache need no lookup, so the flood does not lock them out.
    assert_forwarded(&dyn_request(&mut worker, &alice));

    // An answer gives its place back.
    let answer = LookupAnswer {
        key: session_key(first_key),
        session: None,
        cert: None,
    };
    let resolved = worker
        .respond_http_call(first.http_calls()[0].token, 200, &[], &answer.encode())
        .unwrap()
        .expect("stream resolved");
    assert_denied(&resolved, 401, "Access to this API has been disallowed");
    let next = dyn_request(&mut worker, &TestCert::new("stranger-4"));
    assert!(next.is_paused(), "a freed place is used by the next miss");
    assert_eq!(next.http_calls().len(), 1);
}

#[test]
fn a_client_that_disconnects_during_a_lookup_gives_its_place_back() {
    let host = filter();
    let mut worker = host.worker(gate_with_lookup_budget(1)).unwrap();
    sync(&host, &mut worker, &snapshot(1, &[]));
    let paused = dyn_request(&mut worker, &TestCert::new("stranger-1"));
    assert!(paused.is_paused());
    assert_denied(
        &dyn_request(&mut worker, &TestCert::new("stranger-2")),
        503,
        "Certificate store unavailable",
    );
    // Envoy cancels the callout of a stream it ends; no answer will ever free the place.
    worker.finish(paused.context_id()).unwrap();
    let next = dyn_request(&mut worker, &TestCert::new("stranger-3"));
    assert!(next.is_paused());
    assert_eq!(next.http_calls().len(), 1);
}

#[test]
fn the_lookup_budget_is_validated_like_the_rest_of_the_config() {
    let host = filter();
    let refused = host
        .try_worker(gate_with_lookup_budget(0))
        .expect_err("configure refuses 0");
    assert!(
        refused.logs_contain("store.max_lookups_in_flight: must be between 1 and 10000"),
        "the log names the field: {refused:?}"
    );
}

/// Answers the one feed call out with `changes`; returns the path it asked.
fn answer_feed(worker: &mut Worker, changes: &ChangeSet) -> String {
    let calls = feed_calls(worker);
    let [call] = calls.as_slice() else {
        panic!("one feed call out: {calls:?}")
    };
    worker
        .respond_http_call(call.token, 200, &[], &changes.encode())
        .unwrap();
    call.header(":path").unwrap_or_default().to_owned()
}

/// Issue 14: a key deleted while a snapshot pages in (a 100,000-session first sync is 50
/// pages, seconds) is refused before the last page: between pages, once a sync interval has
/// passed, the filter asks the changes since the snapshot began and applies them to the
/// sessions it serves.
#[test]
fn a_key_deleted_while_a_snapshot_pages_in_is_refused_before_its_last_page() {
    let host = filter();
    let mut worker = host.worker(default_gate()).unwrap();
    let (alice, bob) = (TestCert::new("alice"), TestCert::new("bob"));
    sync(
        &host,
        &mut worker,
        &snapshot(5, &[(&alice, grant("alice")), (&bob, grant("bob"))]),
    );
    assert_forwarded(&dyn_request(&mut worker, &alice));
    // The shim's log no longer covers version 5: a snapshot in pages.
    let page = |cert: &TestCert, alias: &str, next: &str| ChangeSet {
        next: Some(next.to_owned()),
        ..snapshot(20, &[(cert, grant(alias))])
    };
    let asked = sync(&host, &mut worker, &page(&alice, "alice", "20:s:one"));
    assert_eq!(asked, "/mtls-gate/v1/changes?since=5&page_size=2000");
    host.clock().advance(Duration::from_millis(SYNC_MS));
    let asked = answer_feed(&mut worker, &page(&bob, "bob", "20:s:two"));
    assert_eq!(
        asked,
        "/mtls-gate/v1/changes?since=0&page_size=2000&after=20%3As%3Aone"
    );
    // A sync interval has passed: the changes come before the next page.
    let revoked = ChangeSet {
        version: 21,
        full: false,
        removed_sessions: vec![session_key(key_of(&alice))],
        ..snapshot(21, &[])
    };
    assert_eq!(
        answer_feed(&mut worker, &revoked),
        "/mtls-gate/v1/changes?since=20&page_size=2000"
    );
    let out = dyn_request(&mut worker, &alice);
    assert_denied(&out, 401, "Access to this API has been disallowed");
    assert_forwarded(&dyn_request(&mut worker, &bob));
    // The paging goes on from its cursor.
    let calls = feed_calls(&worker);
    assert_eq!(
        calls.first().and_then(|c| c.header(":path")),
        Some("/mtls-gate/v1/changes?since=0&page_size=2000&after=20%3As%3Atwo")
    );
}

/// Issue 14: a store too big for one answer (100,000 sessions are 35 MiB) is synced in
/// pages. The pages go aside and are served only once the last one is in and caught up;
/// each page is asked as soon as the one before it is answered, with the cursor the shim
/// gave.
#[test]
fn a_snapshot_in_pages_is_asked_page_after_page_and_served_once_complete() {
    let host = filter();
    let mut worker = host.worker(default_gate()).unwrap();
    let (alice, bob, carol) = (
        TestCert::new("alice"),
        TestCert::new("bob"),
        TestCert::new("carol"),
    );
    let page = |cert: &TestCert, alias: &str, next: Option<&str>| ChangeSet {
        next: next.map(str::to_owned),
        ..snapshot(9, &[(cert, grant(alias))])
    };
    let first_path = sync(&host, &mut worker, &page(&alice, "alice", Some("9:s:one")));
    assert_eq!(first_path, "/mtls-gate/v1/changes?since=0&page_size=2000");
    for (next, cert, alias, more) in [
        ("9%3As%3Aone", &bob, "bob", Some("9:s:two")),
        ("9%3As%3Atwo", &carol, "carol", None),
    ] {
        // Not served yet: alice's request goes to a lookup.
        let early = dyn_request(&mut worker, &alice);
        assert!(early.is_paused(), "served before the last page");
        let calls = feed_calls(&worker);
        let [call] = calls.as_slice() else {
            panic!("one page call, at once: {calls:?}")
        };
        assert_eq!(
            call.header(":path"),
            Some(format!("/mtls-gate/v1/changes?since=0&page_size=2000&after={next}").as_str())
        );
        worker
            .respond_http_call(call.token, 200, &[], &page(cert, alias, more).encode())
            .unwrap();
    }
    // Every page is in: the changes since the snapshot's version come first (a page may be
    // older than a change the pages missed), then the pages are served.
    let early = dyn_request(&mut worker, &alice);
    assert!(early.is_paused(), "served before the catch-up");
    let calls = feed_calls(&worker);
    let [call] = calls.as_slice() else {
        panic!("one catch-up call, at once: {calls:?}")
    };
    assert_eq!(
        call.header(":path"),
        Some("/mtls-gate/v1/changes?since=9&page_size=2000")
    );
    let caught_up = ChangeSet {
        version: 10,
        ..ChangeSet::default()
    };
    worker
        .respond_http_call(call.token, 200, &[], &caught_up.encode())
        .unwrap();
    assert!(
        feed_calls(&worker).is_empty(),
        "no call after the catch-up until a tick"
    );
    for (cert, alias) in [(&alice, "alice"), (&bob, "bob"), (&carol, "carol")] {
        let out = dyn_request(&mut worker, cert);
        assert_forwarded(&out);
        assert_eq!(out.header(headers::KEY_ALIAS), Some(alias));
        assert!(out.http_calls().is_empty(), "served from the synced pages");
    }
    host.clock().advance(Duration::from_millis(SYNC_MS));
    worker.tick().unwrap();
    let calls = feed_calls(&worker);
    assert_eq!(
        calls.first().and_then(|c| c.header(":path")),
        Some("/mtls-gate/v1/changes?since=10&page_size=2000"),
        "then incremental from the catch-up's version"
    );
}
