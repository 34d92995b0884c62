//! Certificate expiry monitoring (SPEC §10) through the real binary: `serve --gate` with
//! Tyk's `TestCertificateCheckMW_Integration_*` certificates (90, 15 and 5 days, and one
//! expired) in each role, a web hook receiver on loopback, `/metrics` and
//! `GET /gate/certificates`.

use crate::common::{ADMIN_HEADER, ADMIN_SECRET, FORBIDDEN_BODY, admin, send, shim, started};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method as HttpMethod, Uri};
use mtls_gate_testkit::ca::{Leaf, TestCa};
use mtls_gate_testkit::shim::Shim;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const ORG: &str = "acme";

/// What the receiver got: method, path and query, headers, JSON body.
#[derive(Debug, Clone)]
struct Delivery {
    method: String,
    uri: String,
    headers: HeaderMap,
    body: Value,
}

type Received = Arc<Mutex<Vec<Delivery>>>;

/// A web hook receiver on loopback: its address and what it got.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let app = Router::new()
        .fallback(
            |State(received): State<Received>,
             method: HttpMethod,
             uri: Uri,
             headers: HeaderMap,
             body: Bytes| async move {
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                received.lock().unwrap().push(Delivery {
                    method: method.to_string(),
                    uri: uri.to_string(),
                    headers,
                    body,
                });
                "ok"
            },
        )
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

/// `n` days and an hour from now: an hour's margin keeps Tyk's whole days (truncated) at
/// `n` however long the test takes to get to the check.
fn days(n: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::days(n) + time::Duration::hours(1)
}

fn id(leaf: &Leaf) -> String {
    format!("{ORG}{}", leaf.fingerprint())
}

struct Certs {
    d90: Leaf,
    d15: Leaf,
    d5: Leaf,
    expired: Leaf,
    /// Listed from the start, uploaded after the first events.
    d10: Leaf,
}

/// The expired certificate is a file the gate names (the store refuses an expired upload,
/// as Tyk does): its ID is its SHA-256, Tyk's ID for a certificate read from a file.
fn expired_file(dir: &std::path::Path, leaf: &Leaf) -> String {
    let path = dir.join("expired.pem");
    std::fs::write(&path, leaf.bundle()).unwrap();
    path.display().to_string()
}

impl Certs {
    fn new() -> Self {
        let ca = TestCa::new();
        Certs {
            d90: ca.leaf_until("d90", days(90)),
            d15: ca.leaf_until("d15", days(15)),
            d5: ca.leaf_until("d5", days(5)),
            // Expired a day and an hour ago: one day since expiry.
            expired: ca.leaf_until("expired", days(-1) - time::Duration::hours(2)),
            d10: ca.leaf_until("d10", days(10)),
        }
    }

    /// Each role: client (API `pay`): 90, 15 and (later) 10 days; upstream: 5 days; server:
    /// expired; control API: 90 days. Hooks for both events to `hook`, and for the expired
    /// event also to a closed port.
    fn gate(&self, hook: &str, closed: &str, expired_file: &str) -> Value {
        let web_hook = |target: String| {
            json!({"handler_name": "eh_web_hook_handler", "handler_meta": {
                "target_path": target, "method": "POST",
                "header_map": {"X-Gate": "mtls"}, "event_timeout": 10}})
        };
        json!({
            "org_id": ORG,
            "security": {
                "certificate_expiry_monitor": {"warning_threshold_days": 30,
                    "check_cooldown_seconds": 10, "event_cooldown_seconds": 10},
                "certificates": {"upstream": {"*": id(&self.d5)},
                                 "control_api": [id(&self.d90)]}},
            "http_server_options": {"ssl_certificates": [expired_file]},
            "event_handlers": {"events": {
                "CertificateExpiringSoon": [web_hook(format!("{hook}/hooks/certs?token=hook-token"))],
                "CertificateExpired": [web_hook(format!("{hook}/hooks/certs?token=hook-token")),
                                       web_hook(format!("{closed}/down"))]}},
            "apis": [{"api_id": "pay", "use_mutual_tls_auth": true,
                      "client_certificates": [id(&self.d90), id(&self.d15), id(&self.d10)],
                      "proxy": {"listen_path": "/pay/", "target_url": "http://127.0.0.1:9"}}]
        })
    }
}

async fn upload(shim: &Shim, pem: &str) {
    let answer = admin(
        shim,
        Method::POST,
        &format!("/tyk/certs?org_id={ORG}"),
        Some(pem),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

/// Waits until `received` holds `count` deliveries, then a little longer for any more.
async fn deliveries(received: &Received, count: usize) -> Vec<Delivery> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.lock().unwrap().len() < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Past the monitor's poll, so an extra event would have arrived.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    received.lock().unwrap().clone()
}

/// (event, cert_id, cert_role, api_id) of each delivery, sorted.
fn summary(deliveries: &[Delivery]) -> Vec<(String, String, String, String)> {
    let field = |d: &Delivery, name: &str| d.body[name].as_str().unwrap_or_default().to_owned();
    let mut rows: Vec<_> = deliveries
        .iter()
        .map(|d| {
            (
                field(d, "event"),
                field(d, "cert_id"),
                field(d, "cert_role"),
                field(d, "api_id"),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn row(event: &str, id: String, role: &str, api: &str) -> (String, String, String, String) {
    (event.into(), id, role.into(), api.into())
}

async fn metrics(shim: &Shim) -> String {
    send(Method::GET, &shim.url("/metrics"), &[], None)
        .await
        .text
}

/// The value of the one series of `name` whose labels include every `labels` pair.
fn series(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<i64> {
    metrics
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .find(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn expiring_and_expired_certificates_raise_tyks_events_once_per_cooldown() {
    let certs = Certs::new();
    let (hook, received) = receiver().await;
    // A port nothing listens on: that hook fails, and is counted.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let dir = tempfile::tempdir().unwrap();
    let gate_path = dir.path().join("gate.json");
    let expired = expired_file(dir.path(), &certs.expired);
    std::fs::write(&gate_path, certs.gate(&hook, &closed, &expired).to_string()).unwrap();
    let mut shim = started(shim().arg("--gate").arg(&gate_path));

    for leaf in [&certs.d90, &certs.d15, &certs.d5] {
        upload(&shim, &leaf.cert_pem).await;
    }

    // Exactly ExpiringSoon for 15 and 5 days, Expired for the expired one, nothing for 90.
    let first = deliveries(&received, 3).await;
    let mut expected = vec![
        row(
            "CertificateExpired",
            certs.expired.fingerprint(),
            "server",
            "",
        ),
        row("CertificateExpiringSoon", id(&certs.d15), "client", "pay"),
        row("CertificateExpiringSoon", id(&certs.d5), "upstream", ""),
    ];
    expected.sort();
    assert_eq!(summary(&first), expected, "{first:#?}");
    for delivery in &first {
        assert_eq!(delivery.method, "POST");
        assert_eq!(delivery.uri, "/hooks/certs?token=hook-token");
        assert_eq!(delivery.headers["x-gate"], "mtls");
        assert_eq!(delivery.headers["user-agent"], "Tyk-Hookshot");
        assert_eq!(delivery.headers["content-type"], "application/json");
    }
    let soon = first.iter().find(|d| d.body["cert_name"] == "d15").unwrap();
    let d15_not_after = days(15);
    let body = &soon.body;
    assert_eq!(body["days_remaining"], 15, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Certificate d15 is expiring in 15 days"),
        "{body}"
    );
    let expires_at = OffsetDateTime::parse(body["expires_at"].as_str().unwrap(), &Rfc3339).unwrap();
    assert!(
        (expires_at - d15_not_after).whole_seconds().abs() < 60,
        "{body}"
    );
    assert!(body.get("timestamp").is_some() && body.get("expired_at").is_none());
    let expired = first
        .iter()
        .find(|d| d.body["event"] == "CertificateExpired")
        .unwrap();
    assert_eq!(expired.body["days_since_expiry"], 1, "{}", expired.body);
    assert_eq!(expired.body["cert_name"], "expired");
    assert!(
        expired.body.get("api_id").is_none(),
        "a global use: none, as Tyk"
    );

    // Inside the cool-down a new check (set off by this upload) raises only the newcomer's.
    upload(&shim, &certs.d10.cert_pem).await;
    let second = deliveries(&received, 4).await;
    assert_eq!(second.len(), 4, "{second:#?}");
    assert_eq!(
        summary(&second[3..]),
        vec![row(
            "CertificateExpiringSoon",
            id(&certs.d10),
            "client",
            "pay"
        )]
    );

    // The metrics: a gauge per use, the event counters, the failed hook.
    let text = metrics(&shim).await;
    let not_after = |leaf: &Leaf, role: &str| {
        series(
            &text,
            "mtls_gate_certificate_not_after_seconds",
            &[("id", &id(leaf)), ("role", role)],
        )
    };
    // The stored certificate's not_after, as Tyk's JSON gives it.
    let stored = admin(
        &shim,
        Method::GET,
        &format!("/tyk/certs/{}", id(&certs.d15)),
        None,
    )
    .await
    .json();
    let stored_not_after =
        OffsetDateTime::parse(stored["not_after"].as_str().unwrap_or_default(), &Rfc3339)
            .unwrap_or_else(|e| panic!("{e}: {stored}"))
            .unix_timestamp();
    assert_eq!(
        not_after(&certs.d15, "client"),
        Some(stored_not_after),
        "{text}"
    );
    assert_eq!(
        series(
            &text,
            "mtls_gate_certificate_not_after_seconds",
            &[("id", &id(&certs.d15)), ("cn", "d15"), ("api_id", "pay")],
        ),
        Some(stored_not_after),
        "{text}"
    );
    for (leaf, role) in [
        (&certs.d90, "client"),
        (&certs.d90, "control_api"),
        (&certs.d10, "client"),
        (&certs.d5, "upstream"),
    ] {
        assert!(not_after(leaf, role).is_some(), "{role} {text}");
    }
    let expired_series = series(
        &text,
        "mtls_gate_certificate_not_after_seconds",
        &[("id", &certs.expired.fingerprint()), ("role", "server")],
    );
    assert!(expired_series.is_some(), "{text}");
    let events = |event: &str| {
        series(
            &text,
            "mtls_gate_certificate_events_total",
            &[("event", event)],
        )
    };
    assert_eq!(events("CertificateExpiringSoon"), Some(3), "{text}");
    assert_eq!(events("CertificateExpired"), Some(1), "{text}");
    let hooks = |event: &str, outcome: &str| {
        series(
            &text,
            "mtls_gate_shim_webhook_deliveries_total",
            &[("event", event), ("outcome", outcome)],
        )
    };
    assert_eq!(hooks("CertificateExpiringSoon", "ok"), Some(3), "{text}");
    assert_eq!(hooks("CertificateExpired", "ok"), Some(1), "{text}");
    assert_eq!(hooks("CertificateExpired", "failed"), Some(1), "{text}");

    // The structured log line, with no token or key material.
    let log = shim.log();
    let line = log
        .lines()
        .find(|l| {
            l.contains("event=CertificateExpired") && l.contains(&certs.expired.fingerprint())
        })
        .unwrap_or_else(|| panic!("no event line:\n{log}"));
    for field in [
        "Certificate expired is expired since 1 days and 1 hours",
        "cert_name=expired",
        "expired_at=",
        "days_since_expiry=1",
        "cert_role=server",
    ] {
        assert!(line.contains(field), "{field}: {line}");
    }
    assert!(!log.contains("hook-token"), "{log}");
    assert!(!log.contains("PRIVATE KEY"));

    // A certificate that leaves the inventory leaves the gauge.
    let deleted = admin(
        &shim,
        Method::DELETE,
        &format!("/tyk/certs/{}", id(&certs.d10)),
        None,
    )
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = metrics(&shim).await;
        if !text.contains(&id(&certs.d10)) {
            break;
        }
        assert!(Instant::now() < deadline, "d10 still exported: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The cool-downs are in the store: a restarted shim raises nothing again.
    shim.restart().unwrap();
    // The restarted monitor checks at once, and again on this upload.
    upload(&shim, &certs.d10.cert_pem).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_restart = received.lock().unwrap().clone();
    assert_eq!(after_restart.len(), 4, "{after_restart:#?}");
}

#[tokio::test]
async fn gate_certificates_lists_every_use_with_its_status_for_the_secret_only() {
    let certs = Certs::new();
    let dir = tempfile::tempdir().unwrap();
    let shim = started(shim());
    let path = "/gate/certificates";

    // No gate yet: an empty list.
    let empty = admin(&shim, Method::GET, path, None).await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(
        empty.json(),
        json!({"certificates": [], "warning_threshold_days": 30})
    );

    for headers in [vec![], vec![(ADMIN_HEADER, "wrong")]] {
        let refused = send(Method::GET, &shim.url(path), &headers, None).await;
        assert_eq!(refused.status, 403);
        assert_eq!(refused.text, FORBIDDEN_BODY);
    }

    drop(shim);
    let gate_path = dir.path().join("gate.json");
    let expired = expired_file(dir.path(), &certs.expired);
    let mut gate = certs.gate("http://127.0.0.1:9", "http://127.0.0.1:9", &expired);
    gate["security"]["certificate_expiry_monitor"]["warning_threshold_days"] = json!(12);
    std::fs::write(&gate_path, gate.to_string()).unwrap();
    let shim = started(crate::common::shim().arg("--gate").arg(&gate_path));
    for leaf in [&certs.d90, &certs.d15, &certs.d5] {
        upload(&shim, &leaf.cert_pem).await;
    }
    let answer = send(
        Method::GET,
        &shim.url(path),
        &[(ADMIN_HEADER, ADMIN_SECRET)],
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["warning_threshold_days"], 12);
    let rows = body["certificates"].as_array().unwrap();
    let expired_id = certs.expired.fingerprint();
    let by = |leaf: &Leaf, role: &str| -> Value {
        let wanted = match leaf.cert_der == certs.expired.cert_der {
            true => expired_id.clone(),
            false => id(leaf),
        };
        rows.iter()
            .find(|r| r["id"] == wanted && r["role"] == role)
            .cloned()
            .unwrap_or_else(|| panic!("no {role} row for {wanted}: {body}"))
    };
    // One row per use; d10 is not in the store, so not listed.
    assert_eq!(rows.len(), 5, "{body}");
    let d15 = by(&certs.d15, "client");
    assert_eq!(
        d15.as_object().unwrap().keys().cloned().collect::<Vec<_>>(),
        [
            "id",
            "cn",
            "role",
            "api_id",
            "not_after",
            "not_after_seconds",
            "days_left",
            "status",
            "in_store"
        ]
    );
    assert_eq!(d15["cn"], "d15");
    assert_eq!(d15["api_id"], "pay");
    assert_eq!(d15["days_left"], 15);
    assert_eq!(d15["status"], "ok", "outside a 12-day threshold");
    assert_eq!(d15["in_store"], true);
    let seconds = d15["not_after_seconds"].as_i64().unwrap();
    let text = OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    assert_eq!(d15["not_after"], text);
    assert_eq!(by(&certs.d5, "upstream")["status"], "expiring");
    assert_eq!(by(&certs.d5, "upstream")["api_id"], "");
    assert_eq!(by(&certs.expired, "server")["status"], "expired");
    assert_eq!(by(&certs.expired, "server")["days_left"], -1);
    assert_eq!(
        by(&certs.expired, "server")["in_store"],
        false,
        "read from its file"
    );
    assert_eq!(by(&certs.d90, "control_api")["status"], "ok");
    assert_eq!(by(&certs.d90, "client")["days_left"], 90);
}
