//! SPEC §2b: the Dashboard flavour, `/api/certs` and `/api/keys`, each caller in the org its
//! API key opens (`serve --org-keys`).

use crate::common::{ADMIN_HEADER, ADMIN_SECRET, Answer, FEED_TOKEN, refused, send, started};
use mtls_gate_shim::api::AppState;
use mtls_gate_shim::dashboard::OrgKeys;
use mtls_gate_shim::render::record::{GateRecord, save_gate};
use mtls_gate_shim::secret::Secret;
use mtls_gate_shim::serve;
use mtls_gate_shim::store::Store;
use mtls_gate_shim::store::sqlite::SqliteBackend;
use mtls_gate_testkit::ca::TestCa;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const ACME_KEY: &str = "acme-dashboard-key-0123456789abcdef";
const GLOBEX_KEY: &str = "globex-dashboard-key-0123456789abcdef";

/// The API router in this process, with two orgs' Dashboard keys (or none).
struct Dashboard {
    base: String,
    _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Dashboard {
    async fn start() -> Self {
        Self::launch(true, None).await
    }

    /// With `gate` recorded in the store, as `render` or `serve --gate` records it.
    async fn start_with_gate(gate: &Value) -> Self {
        Self::launch(true, Some(gate)).await
    }

    async fn launch(org_keys: bool, gate: Option<&Value>) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let secret = |v: &str| Secret::new(v, "test").unwrap_or_else(|e| panic!("{e}"));
        let store = SqliteBackend::open(&dir.path().join("shim.db"))
            .and_then(|backend| Store::open(backend, &secret("encoding")))
            .unwrap_or_else(|e| panic!("store: {e}"));
        if let Some(gate) = gate {
            let record = GateRecord {
                gate: gate.to_string(),
                base_dir: dir.path().to_path_buf(),
                source: "test".into(),
            };
            save_gate(&store, &record).unwrap_or_else(|e| panic!("gate: {e}"));
        }
        let mut state = AppState::new(
            Arc::new(store),
            secret(ADMIN_SECRET),
            Some(secret(FEED_TOKEN)),
        )
        .unwrap_or_else(|e| panic!("state: {e}"));
        if org_keys {
            let keys = json!({ACME_KEY: "acme", GLOBEX_KEY: "globex"}).to_string();
            state = state.with_org_keys(
                OrgKeys::from_json(keys.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve::serve(listener, Arc::new(state), async {
            let _ = stopped.await;
        }));
        Dashboard {
            base: format!("http://{addr}"),
            _dir: dir,
            shutdown: Some(shutdown),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A call with Dashboard's `Authorization: <key>`.
    async fn call(&self, key: &str, method: Method, path: &str, body: Option<&str>) -> Answer {
        send(
            method,
            &self.url(path),
            &[("Authorization", key)],
            body.map(|b| b.as_bytes().to_vec()),
        )
        .await
    }

    async fn admin(&self, method: Method, path: &str, body: Option<&str>) -> Answer {
        send(
            method,
            &self.url(path),
            &[(ADMIN_HEADER, ADMIN_SECRET)],
            body.map(|b| b.as_bytes().to_vec()),
        )
        .await
    }

    /// Uploads a raw PEM body as `key`'s org; asserts 200; returns the ID.
    async fn upload(&self, key: &str, pem: &str) -> String {
        let answer = self.call(key, Method::POST, "/api/certs", Some(pem)).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()["id"].as_str().unwrap_or_default().to_owned()
    }

    /// Creates a key for `certificate` as `key`'s org; asserts 200; returns the key.
    async fn create_key(&self, key: &str, certificate: &str, alias: &str) -> String {
        let answer = self
            .call(
                key,
                Method::POST,
                "/api/keys",
                Some(&session(certificate, alias)),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()["key_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

fn session(certificate: &str, alias: &str) -> String {
    json!({
        "certificate": certificate, "alias": alias,
        "access_rights": {"api1": {"api_id": "api1", "api_name": "API 1", "versions": ["Default"]}}
    })
    .to_string()
}

/// Asserts Dashboard's error shape: `{"Status":"Error","Message":…,"Meta":null}`.
#[track_caller]
fn assert_dashboard_error(answer: &Answer, status: u16, message: &str) {
    assert_eq!(answer.status, status, "body: {}", answer.text);
    assert!(
        answer.content_type.starts_with("application/json"),
        "{answer:?}"
    );
    assert_eq!(
        answer.json(),
        json!({"Status": "Error", "Message": message, "Meta": null})
    );
}

/// A multipart/form-data body with `fields` (name, file name, content), and its content type.
fn form(fields: &[(&str, &str, &str)]) -> (Vec<u8>, String) {
    let boundary = "mtls-gate-test-boundary-7d3f";
    let mut body = String::new();
    for (name, file_name, content) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: application/x-pem-file\r\n\r\n{content}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (
        body.into_bytes(),
        format!("multipart/form-data; boundary={boundary}"),
    )
}

async fn upload_form(dashboard: &Dashboard, key: &str, fields: &[(&str, &str, &str)]) -> Answer {
    let (body, content_type) = form(fields);
    send(
        Method::POST,
        &dashboard.url("/api/certs"),
        &[("Authorization", key), ("Content-Type", &content_type)],
        Some(body),
    )
    .await
}

/// Two orgs, each with a certificate and its key.
struct TwoOrgs {
    dashboard: Dashboard,
    acme_cert: String,
    acme_key: String,
    globex_cert: String,
    globex_key: String,
}

impl TwoOrgs {
    async fn start() -> Self {
        let dashboard = Dashboard::start().await;
        let ca = TestCa::new();
        let acme_leaf = ca.leaf("acme-client");
        let globex_leaf = ca.leaf("globex-client");
        let acme_cert = dashboard.upload(ACME_KEY, &acme_leaf.cert_pem).await;
        let globex_cert = dashboard.upload(GLOBEX_KEY, &globex_leaf.cert_pem).await;
        let acme_key = dashboard.create_key(ACME_KEY, &acme_cert, "acme").await;
        let globex_key = dashboard
            .create_key(GLOBEX_KEY, &globex_cert, "globex")
            .await;
        TwoOrgs {
            dashboard,
            acme_cert,
            acme_key,
            globex_cert,
            globex_key,
        }
    }
}

#[tokio::test]
async fn ids_are_the_callers_org_plus_the_fingerprint_without_naming_the_org() {
    let dashboard = Dashboard::start().await;
    let leaf = TestCa::new().leaf("client");
    let acme = dashboard.upload(ACME_KEY, &leaf.cert_pem).await;
    assert_eq!(acme, format!("acme{}", leaf.fingerprint()));
    // The same certificate in another org is another certificate: nothing is shared.
    let globex = dashboard.upload(GLOBEX_KEY, &leaf.cert_pem).await;
    assert_eq!(globex, format!("globex{}", leaf.fingerprint()));
    let again = dashboard
        .call(ACME_KEY, Method::POST, "/api/certs", Some(&leaf.cert_pem))
        .await;
    assert_dashboard_error(
        &again,
        404,
        &format!("Could not create certificate.Certificate with {acme} id already exists"),
    );
    // A `?org_id=` is not the caller's to choose.
    let leaf2 = TestCa::new().leaf("client2");
    let id = dashboard
        .call(
            ACME_KEY,
            Method::POST,
            "/api/certs?org_id=globex",
            Some(&leaf2.cert_pem),
        )
        .await
        .json()["id"]
        .clone();
    assert_eq!(id, json!(format!("acme{}", leaf2.fingerprint())));
}

#[tokio::test]
async fn an_org_cannot_see_fetch_delete_or_bind_another_orgs_certificates_and_keys() {
    let orgs = TwoOrgs::start().await;
    let d = &orgs.dashboard;
    let (cert, key) = (orgs.globex_cert.as_str(), orgs.globex_key.as_str());
    let bind = session(cert, "stolen");
    // Every route that names an ID, called by acme with globex's: each answers as for a
    // certificate or key that does not exist.
    let table: Vec<(Method, String, Option<&str>, u16, &str)> = vec![
        (
            Method::GET,
            format!("/api/certs/{cert}"),
            None,
            404,
            "Could not retrieve certificate details. Certificate with given SHA256 fingerprint not found.",
        ),
        (
            Method::DELETE,
            format!("/api/certs/{cert}"),
            None,
            404,
            "Could not delete certificate.",
        ),
        (
            Method::GET,
            format!("/api/certs/{cert}/apis"),
            None,
            404,
            "Certificate not found or access denied",
        ),
        (
            Method::POST,
            "/api/keys".to_owned(),
            Some(&bind),
            400,
            "Key must be used with an existent certificate",
        ),
        (
            Method::POST,
            "/api/keys/create".to_owned(),
            Some(&bind),
            400,
            "Key must be used with an existent certificate",
        ),
        (
            Method::POST,
            format!("/api/keys/{cert}"),
            Some(&bind),
            400,
            "Key must be used with an existent certificate",
        ),
        (
            Method::POST,
            "/api/keys/preview".to_owned(),
            Some(&bind),
            400,
            "Key must be used with an existent certificate",
        ),
        (
            Method::GET,
            format!("/api/keys/{key}"),
            None,
            404,
            "Could not retrieve key detail.",
        ),
        (
            Method::PUT,
            format!("/api/keys/{key}"),
            Some(&bind),
            404,
            "Could not retrieve key detail.",
        ),
        (
            Method::DELETE,
            format!("/api/keys/{key}"),
            None,
            404,
            "Could not retrieve key detail.",
        ),
    ];
    for (method, path, body, status, message) in &table {
        let answer = d.call(ACME_KEY, method.clone(), path, *body).await;
        assert_dashboard_error(&answer, *status, message);
        // The same call for an ID of the caller's own org that does not exist answers the
        // same: nothing tells another org's certificate from no certificate.
        let missing_id = format!("acme{}", "0".repeat(64));
        let missing = path.replace(cert, &missing_id);
        let missing_body = body.map(|b| b.replace(cert, &missing_id));
        let answer = d
            .call(ACME_KEY, method.clone(), &missing, missing_body.as_deref())
            .await;
        assert_dashboard_error(&answer, *status, message);
    }

    // Nothing of globex's changed, and globex still sees all of it.
    let got = d
        .call(GLOBEX_KEY, Method::GET, &format!("/api/keys/{key}"), None)
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json()["data"]["alias"], "globex");
    let got = d
        .call(GLOBEX_KEY, Method::GET, &format!("/api/certs/{cert}"), None)
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    let all_keys = d.admin(Method::GET, "/tyk/keys", None).await.json();
    assert_eq!(all_keys["keys"].as_array().map(Vec::len), Some(2));

    // Listings show only the caller's own.
    let lists = [
        ("/api/certs", "/certs"),
        ("/api/certs?mode=detailed", "/cert_basics/0/id"),
        ("/api/certs/details", "/certificates/0/id"),
        ("/api/apis/keys", "/data/keys"),
        ("/api/keys/detailed", "/keys/0/key_id"),
    ];
    for (path, pointer) in lists {
        let answer = d.call(ACME_KEY, Method::GET, path, None).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        assert!(!answer.text.contains("globex"), "{path}: {}", answer.text);
        let mine = answer.json().pointer(pointer).cloned().unwrap_or_default();
        let expected = match pointer {
            "/certs" => json!([orgs.acme_cert]),
            "/data/keys" => json!([orgs.acme_key]),
            "/keys/0/key_id" => json!(orgs.acme_key),
            _ => json!(orgs.acme_cert),
        };
        assert_eq!(mine, expected, "{path}");
        assert_eq!(answer.json()["pages"], 1, "{path}");
    }
}

#[tokio::test]
async fn dashboard_keys_are_the_gateway_apis_keys_in_the_callers_org() {
    let dashboard = Dashboard::start().await;
    let leaf = TestCa::new().leaf("client");
    let cert = dashboard.upload(ACME_KEY, &leaf.cert_pem).await;
    // A body naming another org is put in the caller's, as Dashboard does.
    let mut body: Value = serde_json::from_str(&session(&cert, "payments")).unwrap_or_default();
    body["org_id"] = json!("globex");
    let created = dashboard
        .call(ACME_KEY, Method::POST, "/api/keys", Some(&body.to_string()))
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let created = created.json();
    assert_eq!(
        created["key_id"],
        cert.as_str(),
        "the key is the certificate ID"
    );
    assert_eq!(created["api_model"], json!({}));
    assert_eq!(created["data"]["org_id"], "acme");
    assert_eq!(created["data"]["alias"], "payments");
    assert!(created["data"]["date_created"].is_string());

    // The Gateway API and the feed see the same session.
    let gateway = dashboard
        .admin(Method::GET, &format!("/tyk/keys/{cert}"), None)
        .await
        .json();
    assert_eq!(gateway["alias"], "payments");
    assert_eq!(gateway["org_id"], "acme");
    let lookup = send(
        Method::GET,
        &dashboard.url(&format!("/mtls-gate/v1/lookup/acme{}", leaf.fingerprint())),
        &[("Authorization", &format!("Bearer {FEED_TOKEN}"))],
        None,
    )
    .await
    .json();
    assert_eq!(lookup["session"]["alias"], "payments");

    // A second key for the same certificate: the Gateway API's answer.
    let again = dashboard
        .call(
            ACME_KEY,
            Method::POST,
            "/api/keys",
            Some(&session(&cert, "x")),
        )
        .await;
    assert_dashboard_error(
        &again,
        500,
        &format!("Failed to create key - Key with given certificate already found:{cert}"),
    );

    let mut changed: Value = serde_json::from_str(&session(&cert, "renamed")).unwrap_or_default();
    changed["is_inactive"] = json!(true);
    let updated = dashboard
        .call(
            ACME_KEY,
            Method::PUT,
            &format!("/api/keys/{cert}"),
            Some(&changed.to_string()),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json()["data"]["alias"], "renamed");
    assert_eq!(updated.json()["data"]["is_inactive"], true);
    let shown = dashboard
        .call(ACME_KEY, Method::GET, &format!("/api/keys/{cert}"), None)
        .await;
    assert_eq!(shown.json()["key_id"], cert.as_str());
    assert_eq!(shown.json()["data"]["alias"], "renamed");

    let preview = dashboard
        .call(
            ACME_KEY,
            Method::POST,
            "/api/keys/preview",
            Some(&session(&cert, "p")),
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.text);
    assert_eq!(preview.json()["key_id"], cert.as_str());
    assert_eq!(preview.json()["data"]["org_id"], "acme");

    let deleted = dashboard
        .call(ACME_KEY, Method::DELETE, &format!("/api/keys/{cert}"), None)
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(
        deleted.json(),
        json!({"Status": "OK", "Message": "Key deleted successfully.", "Meta": null})
    );
    let gone = dashboard
        .admin(Method::GET, &format!("/tyk/keys/{cert}"), None)
        .await;
    assert_eq!(gone.status, 404);

    // A custom key is the certificate's fingerprint, the caller's org before it.
    let custom = dashboard
        .call(
            ACME_KEY,
            Method::POST,
            &format!("/api/keys/{}", leaf.fingerprint()),
            Some(&session(&cert, "custom")),
        )
        .await;
    assert_eq!(custom.status, 200, "{}", custom.text);
    assert_eq!(custom.json()["key_id"], cert.as_str());

    // Dashboard's answer to a body that is not a session.
    let malformed = dashboard
        .call(ACME_KEY, Method::POST, "/api/keys", Some("{not json"))
        .await;
    assert_dashboard_error(&malformed, 403, "Request body malformed.");
}

#[tokio::test]
async fn certificates_show_and_delete_in_the_callers_org() {
    let dashboard = Dashboard::start().await;
    let leaf = TestCa::new().leaf("client");
    let cert = dashboard.upload(ACME_KEY, &leaf.cert_pem).await;
    let shown = dashboard
        .call(ACME_KEY, Method::GET, &format!("/api/certs/{cert}"), None)
        .await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert_eq!(shown.json()["id"], cert.as_str());
    assert_eq!(shown.json()["fingerprint"], leaf.fingerprint().as_str());
    assert_eq!(shown.json()["subject"]["CommonName"], "client");
    let deleted = dashboard
        .call(
            ACME_KEY,
            Method::DELETE,
            &format!("/api/certs/{cert}"),
            None,
        )
        .await;
    assert_eq!(
        deleted.text, r#"{"status":"ok","message":"removed"}"#,
        "the Gateway API's answer"
    );
    let again = dashboard
        .call(
            ACME_KEY,
            Method::DELETE,
            &format!("/api/certs/{cert}"),
            None,
        )
        .await;
    assert_dashboard_error(&again, 404, "Could not delete certificate.");
    let listed = dashboard
        .call(ACME_KEY, Method::GET, "/api/certs", None)
        .await;
    assert_eq!(listed.json(), json!({"certs": [], "pages": 0}));
}

#[tokio::test]
async fn certificate_lists_are_paginated_by_ten() {
    let dashboard = Dashboard::start().await;
    let ca = TestCa::new();
    let mut ids = Vec::new();
    for n in 0..12 {
        let leaf = ca.leaf(&format!("client-{n}"));
        let pem = if n == 0 { leaf.bundle() } else { leaf.cert_pem };
        ids.push(dashboard.upload(ACME_KEY, &pem).await);
    }
    let d = &dashboard;
    let page = |p: &str| {
        let path = format!("/api/certs{p}");
        async move { d.call(ACME_KEY, Method::GET, &path, None).await.json() }
    };
    assert_eq!(page("").await, json!({"certs": ids[..10], "pages": 2}));
    assert_eq!(page("?p=1").await, json!({"certs": ids[..10], "pages": 2}));
    assert_eq!(page("?p=2").await, json!({"certs": ids[10..], "pages": 2}));
    assert_eq!(page("?p=3").await, json!({"certs": [], "pages": 2}));
    assert_eq!(page("?p=-1").await, json!({"certs": ids, "pages": 2}));
    assert_eq!(page("?p=0").await, json!({"certs": ids, "pages": 2}));
    let detailed = page("?mode=detailed&p=2").await;
    assert_eq!(detailed["pages"], 2);
    assert_eq!(detailed["cert_basics"].as_array().map(Vec::len), Some(2));
    assert_eq!(detailed["cert_basics"][0]["id"], ids[10].as_str());
    // Dashboard's filter of the detailed list: the first upload carried its key.
    let with_key = page("?mode=detailed&filter=with_pk&p=-1").await;
    assert_eq!(with_key["cert_basics"].as_array().map(Vec::len), Some(1));
    assert_eq!(with_key["cert_basics"][0]["id"], ids[0].as_str());
    assert_eq!(with_key["pages"], 1);
    let without_key = page("?mode=detailed&filter=without_pk").await;
    assert_eq!(without_key["pages"], 2);
    assert_eq!(without_key["cert_basics"][0]["id"], ids[1].as_str());
    let details = page("/details?p=2").await;
    assert_eq!(details["certificates"].as_array().map(Vec::len), Some(2));
    assert_eq!(details["certificates"][1]["id"], ids[11].as_str());

    let bad = dashboard
        .call(ACME_KEY, Method::GET, "/api/certs?p=two", None)
        .await;
    assert_dashboard_error(
        &bad,
        400,
        "p must be a page number (1 for the first, 0 or less for all), not \"two\"",
    );
    let bad = dashboard
        .call(
            ACME_KEY,
            Method::GET,
            "/api/certs?mode=detailed&filter=x",
            None,
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    // Another org's list is its own, and empty.
    let globex = dashboard
        .call(GLOBEX_KEY, Method::GET, "/api/certs", None)
        .await;
    assert_eq!(globex.json(), json!({"certs": [], "pages": 0}));
}

#[tokio::test]
async fn key_lists_are_paginated_and_searchable() {
    let dashboard = Dashboard::start().await;
    let ca = TestCa::new();
    let mut keys = Vec::new();
    for n in 0..11 {
        let leaf = ca.leaf(&format!("client-{n}"));
        let cert = dashboard.upload(ACME_KEY, &leaf.cert_pem).await;
        keys.push(
            dashboard
                .create_key(ACME_KEY, &cert, &format!("k{n}"))
                .await,
        );
    }
    keys.sort();
    let listed = dashboard
        .call(ACME_KEY, Method::GET, "/api/apis/keys?p=2", None)
        .await
        .json();
    assert_eq!(listed, json!({"data": {"keys": [keys[10]]}, "pages": 2}));
    let detailed = dashboard
        .call(ACME_KEY, Method::GET, "/api/keys/detailed?p=-1", None)
        .await
        .json();
    assert_eq!(detailed["keys"].as_array().map(Vec::len), Some(11));
    assert_eq!(detailed["keys"][3]["key_id"], keys[3].as_str());
    let found = dashboard
        .call(
            ACME_KEY,
            Method::GET,
            &format!("/api/keys/detailed?q={}", &keys[5][4..20]),
            None,
        )
        .await
        .json();
    assert_eq!(found["keys"].as_array().map(Vec::len), Some(1));
    assert_eq!(found["keys"][0]["key_id"], keys[5].as_str());
    assert_eq!(found["pages"], 1);
}

#[tokio::test]
async fn uploads_are_a_multipart_file_or_a_raw_pem_body() {
    let dashboard = Dashboard::start().await;
    let ca = TestCa::new();
    let leaf = ca.leaf("form");
    // As Dashboard takes it: the PEM as the form's `file` field, next to other fields.
    let answer = upload_form(
        &dashboard,
        ACME_KEY,
        &[
            ("note", "n.txt", "ignored"),
            ("file", "bundle.pem", leaf.bundle().as_str()),
        ],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let id = format!("acme{}", leaf.fingerprint());
    assert_eq!(
        answer.json(),
        json!({"id": id, "status": "ok", "message": "Certificate added"})
    );
    let shown = dashboard
        .call(ACME_KEY, Method::GET, &format!("/api/certs/{id}"), None)
        .await
        .json();
    assert_eq!(shown["has_private"], true, "the key in the file came along");

    let raw = ca.leaf("raw");
    let answer = dashboard
        .call(ACME_KEY, Method::POST, "/api/certs", Some(&raw.cert_pem))
        .await;
    assert_eq!(answer.json()["id"], format!("acme{}", raw.fingerprint()));

    // What is refused, and why.
    let other = ca.leaf("other");
    let no_file = upload_form(&dashboard, ACME_KEY, &[("cert", "c.pem", &other.cert_pem)]).await;
    assert_dashboard_error(
        &no_file,
        400,
        "Could not create certificate. The form has no \"file\" field: send the PEM file as it, e.g. curl -F file=@cert.pem",
    );
    let two = upload_form(
        &dashboard,
        ACME_KEY,
        &[
            ("file", "a.pem", &other.cert_pem),
            ("file", "b.pem", &raw.cert_pem),
        ],
    )
    .await;
    assert_eq!(two.status, 400, "{}", two.text);
    let not_pem = upload_form(
        &dashboard,
        ACME_KEY,
        &[("file", "c.der", "not a certificate")],
    )
    .await;
    assert_eq!(not_pem.status, 404, "{}", not_pem.text);
    assert!(
        not_pem.json()["Message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Could not create certificate.Failed to decode certificate. It should be PEM encoded.")),
        "{}",
        not_pem.text
    );
    let broken = send(
        Method::POST,
        &dashboard.url("/api/certs"),
        &[
            ("Authorization", ACME_KEY),
            ("Content-Type", "multipart/form-data; boundary=x"),
        ],
        Some(b"--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nunterminated".to_vec()),
    )
    .await;
    assert_eq!(broken.status, 400, "{}", broken.text);
    let listed = dashboard
        .call(ACME_KEY, Method::GET, "/api/certs?p=-1", None)
        .await
        .json();
    assert_eq!(
        listed["certs"].as_array().map(Vec::len),
        Some(2),
        "refusals wrote nothing"
    );
}

#[tokio::test]
async fn a_missing_or_unknown_key_is_401_on_every_dashboard_path() {
    let dashboard = Dashboard::start().await;
    let bearer = format!("Bearer {ACME_KEY}");
    let bearer_feed = format!("Bearer {FEED_TOKEN}");
    let credentials: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("Authorization", "")],
        vec![("Authorization", "wrong-key-0123456789abcdef")],
        vec![("Authorization", &ACME_KEY[..ACME_KEY.len() - 1])],
        vec![("Authorization", ADMIN_SECRET)],
        vec![(ADMIN_HEADER, ADMIN_SECRET)],
        vec![("Authorization", &bearer_feed)],
        vec![("X-Api-Key", ACME_KEY)],
    ];
    let paths = [
        (Method::GET, "/api/certs"),
        (Method::POST, "/api/certs"),
        (Method::GET, "/api/certs/x"),
        (Method::DELETE, "/api/certs/x"),
        (Method::GET, "/api/keys/x"),
        (Method::POST, "/api/keys"),
        (Method::GET, "/api/apis/keys"),
        (Method::PATCH, "/api/certs"),
        (Method::GET, "/api/no/such/route"),
        (Method::GET, "/api"),
    ];
    for (method, path) in &paths {
        for headers in &credentials {
            let answer = send(method.clone(), &dashboard.url(path), headers, None).await;
            assert_dashboard_error(&answer, 401, "Not authorised");
        }
        // Dashboard's `Authorization: <key>`, and the bearer form its OpenAPI declares.
        for key in [ACME_KEY, bearer.as_str()] {
            let answer = dashboard.call(key, method.clone(), path, None).await;
            assert_ne!(answer.status, 401, "{method} {path}: {}", answer.text);
        }
    }
    // A Dashboard key opens no Gateway API route.
    let answer = dashboard
        .call(ACME_KEY, Method::GET, "/tyk/certs", None)
        .await;
    assert_eq!(answer.status, 403, "{}", answer.text);
    // With a key, unknown routes and methods answer in Dashboard's shape.
    let answer = dashboard
        .call(ACME_KEY, Method::GET, "/api/no/such/route", None)
        .await;
    assert_dashboard_error(&answer, 404, "Not found");
    let answer = dashboard
        .call(ACME_KEY, Method::PATCH, "/api/certs", None)
        .await;
    assert_dashboard_error(&answer, 405, "Method not supported");
}

#[tokio::test]
async fn without_org_keys_the_dashboard_api_is_off_and_says_how_to_turn_it_on() {
    let dashboard = Dashboard::launch(false, None).await;
    for path in ["/api/certs", "/api/keys/x", "/api"] {
        let answer = dashboard.call(ACME_KEY, Method::GET, path, None).await;
        assert_dashboard_error(
            &answer,
            404,
            "The Dashboard API (/api) is off: start mtls-gate-shim serve with --org-keys FILE",
        );
    }
    let tyk = dashboard.admin(Method::GET, "/tyk/certs", None).await;
    assert_eq!(tyk.status, 200, "the Gateway API is unaffected");
}

#[tokio::test]
async fn certificate_apis_are_the_gates_apis_of_the_callers_org_that_name_it() {
    let ca = TestCa::new();
    let leaf = ca.leaf("client");
    let id = format!("acme{}", leaf.fingerprint());
    let gate = json!({
        "org_id": "acme",
        "store": {"cluster": "c", "authority": "a", "token": "t"},
        "apis": [
            {"api_id": "payments", "name": "Payments", "proxy": {"listen_path": "/pay/"},
             "use_mutual_tls_auth": true, "client_certificates": [id],
             "upstream_certificates": {"bank.example": id}},
            {"api_id": "orders", "name": "Orders", "proxy": {"listen_path": "/orders/"}},
            {"api_id": "globex-api", "org_id": "globex", "proxy": {"listen_path": "/g/"},
             "use_mutual_tls_auth": true, "client_certificates": [id]}
        ]
    });
    let dashboard = Dashboard::start_with_gate(&gate).await;
    assert_eq!(dashboard.upload(ACME_KEY, &leaf.cert_pem).await, id);
    let apis = dashboard
        .call(
            ACME_KEY,
            Method::GET,
            &format!("/api/certs/{id}/apis"),
            None,
        )
        .await;
    assert_eq!(apis.status, 200, "{}", apis.text);
    assert_eq!(
        apis.json(),
        json!({
            "cert_id": id,
            "apis": [{"api_id": "payments", "name": "Payments",
                      "usage_type": ["client", "upstream"], "tyk_api_type": "Tyk Classic"}],
            "pages": 1
        })
    );
    // Named by no API of the caller's org.
    let other = dashboard
        .upload(ACME_KEY, &ca.leaf("unused").cert_pem)
        .await;
    let apis = dashboard
        .call(
            ACME_KEY,
            Method::GET,
            &format!("/api/certs/{other}/apis"),
            None,
        )
        .await;
    assert_eq!(
        apis.json(),
        json!({"cert_id": other, "apis": [], "pages": 0})
    );

    // Without a recorded gate there is no API to name it.
    let bare = Dashboard::start().await;
    let id = bare.upload(ACME_KEY, &leaf.cert_pem).await;
    let apis = bare
        .call(
            ACME_KEY,
            Method::GET,
            &format!("/api/certs/{id}/apis"),
            None,
        )
        .await;
    assert_eq!(apis.json(), json!({"cert_id": id, "apis": [], "pages": 0}));
}

#[tokio::test]
async fn serve_with_org_keys_serves_the_dashboard_api() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("org-keys.json");
    std::fs::write(&file, json!({ACME_KEY: "acme"}).to_string()).unwrap_or_else(|e| panic!("{e}"));
    let shim = started(crate::common::shim().arg("--org-keys").arg(&file));
    let leaf = TestCa::new().leaf("client");
    let url = shim.url("/api/certs");
    let added = send(
        Method::POST,
        &url,
        &[("Authorization", ACME_KEY)],
        Some(leaf.cert_pem.clone().into_bytes()),
    )
    .await;
    assert_eq!(added.status, 200, "{}", added.text);
    let listed = send(Method::GET, &url, &[("Authorization", ACME_KEY)], None).await;
    assert_eq!(
        listed.json(),
        json!({"certs": [format!("acme{}", leaf.fingerprint())], "pages": 1})
    );
    let unknown = send(Method::GET, &url, &[("Authorization", GLOBEX_KEY)], None).await;
    assert_dashboard_error(&unknown, 401, "Not authorised");
}

#[test]
fn serve_refuses_a_bad_org_keys_file_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cases = [
        ("missing.json", None, "--org-keys"),
        ("empty.json", Some("{}".to_owned()), "holds no key"),
        (
            "short.json",
            Some(json!({"short": "acme"}).to_string()),
            "shorter than 16 characters",
        ),
        (
            "admin.json",
            Some(json!({ADMIN_SECRET: "acme"}).to_string()),
            "a key in --org-keys is the admin secret",
        ),
        (
            "feed.json",
            Some(json!({FEED_TOKEN: "acme"}).to_string()),
            "a key in --org-keys is the feed token",
        ),
    ];
    for (name, contents, want) in cases {
        let file = dir.path().join(name);
        if let Some(contents) = contents {
            std::fs::write(&file, contents).unwrap_or_else(|e| panic!("{e}"));
        }
        let (status, log) = refused(crate::common::shim().arg("--org-keys").arg(&file));
        assert!(!status.success(), "{name}");
        assert!(log.contains(want), "{name}: {log}");
        assert!(log.contains("refusing to start"), "{name}: {log}");
    }
}
