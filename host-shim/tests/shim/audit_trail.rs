//! The audit trail (`serve --audit-log FILE`, issue 15): one JSON line per admin write through
//! either API flavour, with time, route, object, outcome and who; never a secret, a
//! certificate or a key; there even when the shim is killed right after the answer.

use crate::common::{ADMIN_SECRET, admin, send, shim, started};
use mtls_gate_testkit::ca::TestCa;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;

const ORG_KEY: &str = "dashboard-key-of-acme-0123456789";

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test]
async fn every_admin_write_is_one_line_with_who_and_outcome_and_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let trail = dir.path().join("audit.jsonl");
    let org_keys = dir.path().join("org-keys.json");
    std::fs::write(&org_keys, json!({ ORG_KEY: "acme" }).to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut shim = started(
        shim()
            .arg("--audit-log")
            .arg(&trail)
            .arg("--org-keys")
            .arg(&org_keys),
    );
    let leaf = TestCa::new().leaf("audited");
    let id = format!("acme{}", leaf.fingerprint());

    // Writes through the Gateway API, and reads and a preview, which are not writes.
    let added = admin(
        &shim,
        Method::POST,
        "/tyk/certs?org_id=acme",
        Some(&leaf.bundle()),
    )
    .await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!(
        admin(&shim, Method::GET, "/tyk/certs", None).await.status,
        200
    );
    let session =
        json!({"certificate": id, "alias": "a", "access_rights": {"api": {"api_id": "api"}}});
    let preview = admin(
        &shim,
        Method::POST,
        "/tyk/keys/preview",
        Some(&session.to_string()),
    )
    .await;
    assert_eq!(preview.status, 200, "{}", preview.text);
    let created = admin(
        &shim,
        Method::POST,
        "/tyk/keys/create",
        Some(&session.to_string()),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let refused = admin(
        &shim,
        Method::POST,
        "/tyk/certs?org_id=acme",
        Some("not a certificate"),
    )
    .await;
    assert!((400..500).contains(&refused.status), "{}", refused.text);
    let deleted = admin(&shim, Method::DELETE, &format!("/tyk/keys/{id}"), None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    // A wrong secret never reaches a route: not a write.
    let wrong = send(
        Method::DELETE,
        &shim.url(&format!("/tyk/certs/{id}")),
        &[("X-Tyk-Authorization", "wrong-secret-xyz")],
        None,
    )
    .await;
    assert_eq!(wrong.status, 403);
    // Through the Dashboard API, as an org.
    let other = TestCa::new().leaf("dashboard-upload");
    let dashboard = send(
        Method::POST,
        &shim.url("/api/certs"),
        &[("Authorization", ORG_KEY)],
        Some(other.bundle().into_bytes()),
    )
    .await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.text);
    // The last write, then kill -9 at once: its line was synced before the answer.
    let removed = admin(&shim, Method::DELETE, &format!("/tyk/certs/{id}"), None).await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    shim.kill();

    let entries = lines(&trail);
    let summary: Vec<(String, String, Option<String>, String)> = entries
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap_or_default().to_owned(),
                e["route"].as_str().unwrap_or_default().to_owned(),
                e["object"].as_str().map(str::to_owned),
                e["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let other_id = format!("acme{}", other.fingerprint());
    let expected = vec![
        (
            "POST".into(),
            "/tyk/certs".into(),
            Some(id.clone()),
            "ok".into(),
        ),
        (
            "POST".into(),
            "/tyk/keys/create".into(),
            Some(id.clone()),
            "ok".into(),
        ),
        ("POST".into(), "/tyk/certs".into(), None, "refused".into()),
        (
            "DELETE".into(),
            "/tyk/keys/{key}".into(),
            Some(id.clone()),
            "ok".into(),
        ),
        (
            "POST".into(),
            "/api/certs".into(),
            Some(other_id),
            "ok".into(),
        ),
        (
            "DELETE".into(),
            "/tyk/certs/{ids}".into(),
            Some(id.clone()),
            "ok".into(),
        ),
    ];
    assert_eq!(summary, expected, "{entries:#?}");
    for entry in &entries {
        assert!(
            entry["time"].as_str().is_some_and(|t| t.starts_with("20")),
            "{entry}"
        );
        assert!(entry["status"].as_u64().is_some(), "{entry}");
    }
    assert_eq!(entries[0]["who"], json!({"credential": "admin secret"}));
    assert_eq!(
        entries[4]["who"],
        json!({"credential": "Dashboard key", "org": "acme"})
    );
    let text = std::fs::read_to_string(&trail).unwrap_or_default();
    for secret in [ADMIN_SECRET, ORG_KEY, "BEGIN", "wrong-secret-xyz"] {
        assert!(!text.contains(secret), "the trail holds {secret:?}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&trail).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
    }

    // A restart appends to the same trail.
    let again = started(crate::common::shim().arg("--audit-log").arg(&trail));
    let more = TestCa::new().leaf("after-restart");
    assert_eq!(
        admin(
            &again,
            Method::POST,
            "/tyk/certs?org_id=acme",
            Some(&more.bundle())
        )
        .await
        .status,
        200
    );
    assert_eq!(lines(&trail).len(), expected.len() + 1);
}

#[test]
fn an_audit_log_that_cannot_be_opened_stops_the_shim_at_start() {
    let (status, log) = crate::common::refused(
        shim()
            .arg("--audit-log")
            .arg("/nonexistent-dir/audit.jsonl"),
    );
    assert!(!status.success());
    assert!(
        log.contains("refusing to start: --audit-log /nonexistent-dir/audit.jsonl"),
        "{log}"
    );
}
