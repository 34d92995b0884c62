//! SPEC §2b through real Envoy with the real shim: a key made with Tyk Dashboard's
//! `POST /api/keys` (`serve --org-keys`) works in the filter exactly as a Gateway-API key,
//! and only in its own org.

use mtls_gate_core::{headers, metrics};
use mtls_gate_e2e::*;
use mtls_gate_testkit::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SYNC_MS: u64 = 500;
const API: &str = "dyn";
/// The gate's APIs are acme's.
const ACME_KEY: &str = "e2e-acme-dashboard-key-0123456789";
const GLOBEX_KEY: &str = "e2e-globex-dashboard-key-0123456789";

/// A Dashboard call with `Authorization: <key>`; its JSON answer, which must be a 200.
fn dashboard(
    shim: &Shim,
    key: &str,
    method: &str,
    path: &str,
    body: &str,
) -> anyhow::Result<Value> {
    let answer = shim.request(method, path, &[("Authorization", key)], Some(body))?;
    anyhow::ensure!(
        answer.status == 200,
        "{method} {path}: {} {}",
        answer.status,
        answer.body
    );
    answer.json()
}

/// Uploads `cert` and creates its key through the Dashboard API as `key`'s org; the key.
fn register(shim: &Shim, key: &str, cert: &CertFiles, alias: &str) -> anyhow::Result<String> {
    let id = dashboard(shim, key, "POST", "/api/certs", &cert.cert_pem)?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let session = json!({
        "certificate": id,
        "alias": alias,
        "access_rights": {API: {"api_id": API, "api_name": "Dynamic", "versions": ["Default"]}}
    });
    let created = dashboard(shim, key, "POST", "/api/keys", &session.to_string())?;
    Ok(created["key_id"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn a_dashboard_key_opens_its_orgs_api_until_it_is_deleted() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let org_keys = dir.path().join("org-keys.json");
    std::fs::write(
        &org_keys,
        json!({ACME_KEY: "acme", GLOBEX_KEY: "globex"}).to_string(),
    )?;
    let shim = Shim::builder(paths::shim_bin()?)
        .arg("--org-keys")
        .arg(&org_keys)
        .start()?;
    let pki = TestPki::generate()?;
    let store: Value = serde_json::from_str(&shim.store_json(SYNC_MS, 300))?;
    let gate = json!({
        "org_id": "acme",
        "store": store,
        "apis": [{"api_id": API, "proxy": {"listen_path": "/dyn/"},
                  "auth_configs": {"authToken": {"use_certificate": true}}}]
    })
    .to_string();
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let envoy = Envoy::start(
        EnvoyConfig::new(&gate, &pki)
            .default_upstream(&echo, &pki)
            .shim_port(shim.port()),
    )?;
    wait::until("the filter's first sync", Duration::from_secs(10), || {
        Ok(envoy
            .stat(&metrics::envoy_stat(metrics::SYNC_SUCCESS))?
            .filter(|n| *n > 0)
            .map(|_| ()))
    })?;
    let get = |cert: &CertFiles, path: &str| {
        Client::new(&pki.ca)
            .cert(cert)
            .get(&envoy.https_url(path))
            .send()
    };

    let key = register(&shim, ACME_KEY, &pki.client, "from-dashboard")?;
    assert_eq!(key, format!("acme{}", pki.client.fingerprint));
    let resp = get(&pki.client, "/dyn/orders")?;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let seen = resp.echo()?;
    assert_eq!(seen.header(headers::KEY_ALIAS), Some("from-dashboard"));
    assert_eq!(seen.header(headers::SESSION_KEY), Some(key.as_str()));
    assert_eq!(seen.header(headers::API_ID), Some(API));

    // Another org's key for its own certificate opens nothing of acme's: the API looks the
    // session up under acme's ID for that certificate.
    let globex = register(&shim, GLOBEX_KEY, &pki.client2, "globex")?;
    assert_eq!(globex, format!("globex{}", pki.client2.fingerprint));
    let denied = get(&pki.client2, "/dyn/orders")?;
    assert_denied(&denied, 401, "Access to this API has been disallowed");

    // Deleting it through the Dashboard API revokes it as deleting a Gateway-API key does.
    dashboard(&shim, ACME_KEY, "DELETE", &format!("/api/keys/{key}"), "")?;
    let deleted = Instant::now();
    let resp = wait::until(
        "the deleted key to be refused",
        Duration::from_millis(SYNC_MS * 10),
        || {
            let resp = get(&pki.client, "/dyn/x")?;
            Ok((resp.status != 200).then_some(resp))
        },
    )?;
    let elapsed = deleted.elapsed();
    assert_denied(&resp, 401, "Access to this API has been disallowed");
    assert!(
        elapsed <= Duration::from_millis(2 * SYNC_MS),
        "still allowed {elapsed:?} after DELETE /api/keys (> 2 × {SYNC_MS} ms)"
    );
    Ok(())
}
