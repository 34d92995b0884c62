//! The change feed and lookup (ARCHITECTURE "Change feed"; `mtls_gate_core::feed`).

use crate::common::{ADMIN_HEADER, ADMIN_SECRET, FEED_TOKEN, FORBIDDEN_BODY, TestShim, send};
use mtls_gate_core::feed::{
    ChangeSet, LookupAnswer, changes_path, changes_path_in_pages, lookup_path, snapshot_page_path,
};
use mtls_gate_testkit::ca::TestCa;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

async fn changes(shim: &TestShim, since: u64) -> ChangeSet {
    let answer = shim.feed(&changes_path(since)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.content_type.starts_with("application/json"));
    ChangeSet::decode(answer.text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {}", answer.text))
}

#[tokio::test]
async fn feed_token_and_admin_secret_do_not_open_each_others_routes() {
    let shim = TestShim::start().await;
    let feed_bearer = format!("Bearer {FEED_TOKEN}");
    let admin_bearer = format!("Bearer {ADMIN_SECRET}");
    for path in ["/mtls-gate/v1/changes?since=0", "/mtls-gate/v1/lookup/abc"] {
        let ok = send(
            Method::GET,
            &shim.url(path),
            &[("Authorization", &feed_bearer)],
            None,
        )
        .await;
        assert_eq!(ok.status, 200, "{path}: {}", ok.text);
        for headers in [
            vec![],
            vec![("Authorization", admin_bearer.as_str())],
            vec![(ADMIN_HEADER, ADMIN_SECRET)],
            vec![("Authorization", FEED_TOKEN)],
            vec![("Authorization", "Bearer wrong")],
        ] {
            let refused = send(Method::GET, &shim.url(path), &headers, None).await;
            refused.assert_error(401, "Invalid or missing feed token");
        }
    }
    for headers in [
        vec![("Authorization", feed_bearer.as_str())],
        vec![(ADMIN_HEADER, FEED_TOKEN)],
    ] {
        let refused = send(Method::GET, &shim.url("/tyk/certs"), &headers, None).await;
        assert_eq!(refused.status, 403);
        assert_eq!(refused.text, FORBIDDEN_BODY);
    }
}

#[tokio::test]
async fn without_a_feed_token_the_feed_is_closed() {
    let shim = TestShim::start_with(None, 1000).await;
    let bearer = format!("Bearer {FEED_TOKEN}");
    send(
        Method::GET,
        &shim.url("/mtls-gate/v1/changes?since=0"),
        &[("Authorization", &bearer)],
        None,
    )
    .await
    .assert_error(401, "Invalid or missing feed token");
}

#[tokio::test]
async fn since_zero_is_a_snapshot_then_changes_are_incremental() {
    let shim = TestShim::start().await;
    let empty = changes(&shim, 0).await;
    assert!(empty.full);
    let v0 = empty.version;

    let leaf = TestCa::new().leaf("client");
    let cert_id = shim.add_cert(&leaf.bundle(), "org1").await;
    let body = json!({"org_id": "org1", "certificate": cert_id, "alias": "a", "expires": 1_900_000_000,
                      "access_rights": {"api1": {"api_id": "api1"}}});
    assert_eq!(
        shim.admin(Method::POST, "/tyk/keys/create", Some(&body.to_string()))
            .await
            .status,
        200
    );

    let set = changes(&shim, v0).await;
    assert!(!set.full);
    assert_eq!(set.version, v0 + 2);
    assert_eq!(set.certs.len(), 1);
    let entry = &set.certs[0];
    assert_eq!(entry.id, cert_id);
    assert_eq!(entry.fingerprint.to_hex(), leaf.fingerprint());
    assert!(entry.has_private && !entry.is_ca && entry.not_after.is_some());
    assert_eq!(set.sessions.len(), 1);
    assert_eq!(set.sessions[0].key, format!("org1{}", leaf.fingerprint()));
    assert_eq!(set.sessions[0].grant.alias, "a");
    assert_eq!(set.sessions[0].grant.expires, 1_900_000_000);
    assert_eq!(set.sessions[0].grant.api_ids, ["api1"]);

    let nothing_new = changes(&shim, set.version).await;
    assert!(!nothing_new.full && nothing_new.certs.is_empty() && nothing_new.sessions.is_empty());

    let snapshot = changes(&shim, 0).await;
    assert!(snapshot.full);
    assert_eq!((snapshot.certs.len(), snapshot.sessions.len()), (1, 1));

    // Revocation by deletion (SPEC §2): only the certificate leaves the feed; its session
    // stays, and the filter refuses it while the certificate is gone.
    shim.admin(Method::DELETE, &format!("/tyk/certs/{cert_id}"), None)
        .await;
    let after = changes(&shim, set.version).await;
    assert!(!after.full);
    assert_eq!(after.removed_certs, std::slice::from_ref(&cert_id));
    assert!(after.removed_sessions.is_empty(), "{after:?}");
    assert!(after.certs.is_empty() && after.sessions.is_empty());
    let snapshot = changes(&shim, 0).await;
    assert!(snapshot.full && snapshot.certs.is_empty());
    assert_eq!(snapshot.sessions.len(), 1, "the snapshot keeps the session");
    assert_eq!(snapshot.sessions[0].key, cert_id);

    // Uploading the same certificate again brings it back beside its session.
    shim.add_cert(&leaf.bundle(), "org1").await;
    let restored = changes(&shim, after.version).await;
    assert_eq!(restored.certs.len(), 1);
    assert_eq!(restored.certs[0].id, cert_id);
    assert!(restored.removed_certs.is_empty() && restored.removed_sessions.is_empty());
}

#[tokio::test]
async fn a_since_older_than_the_retained_log_or_from_elsewhere_gets_a_snapshot() {
    let shim = TestShim::start_with(Some(FEED_TOKEN), 3).await;
    let start = changes(&shim, 0).await.version;
    let pki = TestCa::new();
    for n in 0..5 {
        shim.add_cert(&pki.leaf(&format!("c{n}")).cert_pem, "")
            .await;
    }
    let old = changes(&shim, start + 1).await;
    assert!(old.full);
    assert_eq!(old.certs.len(), 5);
    let recent = changes(&shim, start + 3).await;
    assert!(!recent.full);
    assert_eq!(recent.certs.len(), 2);
    assert!(
        changes(&shim, start + 1000).await.full,
        "a version this store never had"
    );
    assert!(changes(&shim, 1).await.full);
}

async fn decoded(shim: &TestShim, path: &str) -> ChangeSet {
    let answer = shim.feed(path).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    ChangeSet::decode(answer.text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {}", answer.text))
}

/// Every page of the snapshot `since` gets, asked as the filter asks.
async fn pages(shim: &TestShim, since: u64, page_size: usize) -> Vec<ChangeSet> {
    let mut pages = vec![decoded(shim, &changes_path_in_pages(since, page_size)).await];
    while let Some(next) = pages.last().and_then(|p| p.next.clone()) {
        pages.push(decoded(shim, &snapshot_page_path(&next, page_size)).await);
        assert!(pages.len() < 100, "paging does not end");
    }
    pages
}

/// Certificate IDs and session keys of `sets` together, sorted.
fn entries(sets: &[ChangeSet]) -> (Vec<String>, Vec<String>) {
    let mut certs: Vec<String> = sets
        .iter()
        .flat_map(|s| s.certs.iter().map(|c| c.id.to_string()))
        .collect();
    let mut sessions: Vec<String> = sets
        .iter()
        .flat_map(|s| s.sessions.iter().map(|e| e.key.to_string()))
        .collect();
    certs.sort();
    sessions.sort();
    (certs, sessions)
}

/// `n` certificates, each with a session; their IDs.
async fn bound_certificates(shim: &TestShim, pki: &TestCa, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = shim
            .add_cert(&pki.leaf(&format!("paged{i}")).cert_pem, "org1")
            .await;
        let body = json!({"org_id": "org1", "certificate": id, "alias": format!("k{i}"),
                          "access_rights": {"api1": {"api_id": "api1"}}});
        let created = shim
            .admin(Method::POST, "/tyk/keys/create", Some(&body.to_string()))
            .await;
        assert_eq!(created.status, 200, "{}", created.text);
        ids.push(id);
    }
    ids
}

#[tokio::test]
async fn a_snapshot_in_pages_holds_exactly_what_the_whole_one_does() {
    let shim = TestShim::start().await;
    bound_certificates(&shim, &TestCa::new(), 12).await;
    let whole = changes(&shim, 0).await;
    assert!(
        whole.full && whole.next.is_none(),
        "no page_size: one body, as before"
    );
    let pages = pages(&shim, 0, 5).await;
    assert_eq!(pages.len(), 5, "24 entries by 5");
    for page in &pages {
        assert!(page.full && page.version == whole.version, "{page:?}");
        assert!(page.certs.len() + page.sessions.len() <= 5);
    }
    assert_eq!(entries(&pages), entries(std::slice::from_ref(&whole)));
    // With page_size, a since the log answers is an incremental set as before.
    let nothing = decoded(&shim, &changes_path_in_pages(whole.version, 5)).await;
    assert!(!nothing.full && nothing.next.is_none() && nothing.certs.is_empty());
}

#[tokio::test]
async fn writes_between_pages_are_caught_up_by_the_incremental_set_after_the_first_page() {
    let shim = TestShim::start().await;
    let pki = TestCa::new();
    let ids = bound_certificates(&shim, &pki, 6).await;
    let first = decoded(&shim, &changes_path_in_pages(0, 4)).await;
    // Meanwhile: one certificate not yet paged is deleted, one paged is deleted, one added.
    let last_id = ids.last().unwrap();
    shim.admin(Method::DELETE, &format!("/tyk/certs/{last_id}"), None)
        .await;
    shim.admin(Method::DELETE, &format!("/tyk/certs/{}", ids[0]), None)
        .await;
    shim.add_cert(&pki.leaf("late").cert_pem, "org1").await;
    let mut got = vec![first.clone()];
    while let Some(next) = got.last().and_then(|p| p.next.clone()) {
        got.push(decoded(&shim, &snapshot_page_path(&next, 4)).await);
    }
    // What the filter does: the pages, then the changes after the first page's version.
    let catch_up = changes(&shim, first.version).await;
    assert!(!catch_up.full);
    let (mut certs, sessions) = entries(&got);
    certs.retain(|id| !catch_up.removed_certs.iter().any(|r| r.as_str() == id));
    certs.extend(catch_up.certs.iter().map(|c| c.id.to_string()));
    certs.sort();
    certs.dedup();
    let now = changes(&shim, 0).await;
    assert_eq!((certs, sessions), entries(std::slice::from_ref(&now)));
}

#[tokio::test]
async fn bad_page_parameters_are_400_json() {
    let shim = TestShim::start().await;
    for (query, error) in [
        ("since=0&page_size=0", "page_size must be at least 1"),
        (
            "since=0&page_size=x",
            "page_size must be an unsigned integer",
        ),
        ("since=0&after=5:c:x", "after needs page_size"),
        (
            "since=0&page_size=5&after=nonsense",
            "after must be a cursor the feed gave as next",
        ),
    ] {
        shim.feed(&format!("/mtls-gate/v1/changes?{query}"))
            .await
            .assert_error(400, error);
    }
}

#[tokio::test]
async fn malformed_since_is_400_json() {
    let shim = TestShim::start().await;
    shim.feed("/mtls-gate/v1/changes?since=abc")
        .await
        .assert_error(400, "since must be an unsigned integer");
    shim.feed("/mtls-gate/v1/changes?since=-1")
        .await
        .assert_error(400, "since must be an unsigned integer");
    assert!(
        ChangeSet::decode(shim.feed("/mtls-gate/v1/changes").await.text.as_bytes())
            .is_ok_and(|s| s.full)
    );
}

#[tokio::test]
async fn lookup_answers_200_found_or_not() {
    let shim = TestShim::start().await;
    let leaf = TestCa::new().leaf("client");
    let key = format!("org1{}", leaf.fingerprint());
    let missing = shim.feed(&lookup_path(&key)).await;
    assert_eq!(missing.status, 200);
    assert_eq!(
        missing.text,
        format!(r#"{{"key":"{key}","session":null,"cert":null}}"#)
    );

    let cert_id = shim.add_cert(&leaf.cert_pem, "org1").await;
    assert_eq!(cert_id, key);
    shim.create_key(&cert_id, json!({"alias": "who"})).await;
    let found = LookupAnswer::decode(shim.feed(&lookup_path(&key)).await.text.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.key, key);
    assert_eq!(found.session.map(|g| g.alias), Some("who".into()));
    assert_eq!(found.cert.map(|c| c.id.into_string()), Some(cert_id));
}

/// SPEC §4 step 3: a session whose certificate was deleted is answered with `cert: null`,
/// which the filter refuses with 403 `Access to this API has been disallowed`.
#[tokio::test]
async fn lookup_of_a_key_whose_certificate_was_deleted_has_a_null_cert() {
    let shim = TestShim::start().await;
    let leaf = TestCa::new().leaf("client");
    let cert_id = shim.add_cert(&leaf.cert_pem, "org1").await;
    let key = shim.create_key(&cert_id, json!({"alias": "orphan"})).await;
    shim.admin(Method::DELETE, &format!("/tyk/certs/{cert_id}"), None)
        .await;
    let answer = shim.feed(&lookup_path(&key)).await;
    assert_eq!(answer.status, 200);
    let parsed: serde_json::Value = answer.json();
    assert_eq!(parsed["cert"], serde_json::Value::Null, "{}", answer.text);
    assert_eq!(parsed["session"]["alias"], "orphan");
    assert_eq!(parsed["key"], key.as_str());
}

#[tokio::test]
async fn wait_ms_long_poll_returns_at_the_next_write() {
    let shim = TestShim::start().await;
    let version = changes(&shim, 0).await.version;
    let url = shim.url(&format!("{}&wait_ms=10000", changes_path(version)));
    let bearer = format!("Bearer {FEED_TOKEN}");
    let started = Instant::now();
    let poll =
        tokio::spawn(
            async move { send(Method::GET, &url, &[("Authorization", &bearer)], None).await },
        );
    tokio::time::sleep(Duration::from_millis(300)).await;
    shim.add_cert(&TestCa::new().leaf("late").cert_pem, "")
        .await;
    let answer = poll.await.unwrap_or_else(|e| panic!("{e}"));
    let set = ChangeSet::decode(answer.text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.certs.len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "returned at the write, not the timeout"
    );
}
