//! SPEC §7, store unreachable: the shim is killed under a running Envoy. Static allow lists
//! keep working; certificate-auth requests are served from the last snapshot until
//! `max_stale_s`, then refused with 503 `Certificate store unavailable`.

use mtls_gate_core::denial::Denial;
use mtls_gate_core::{headers, metrics};
use mtls_gate_e2e::*;
use mtls_gate_testkit::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ORG: &str = "acme";
const SYNC_MS: u64 = 200;
const MAX_STALE_S: u64 = 2;

#[test]
fn shim_killed_static_apis_keep_working_and_certificate_auth_turns_503() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let mut shim = Shim::start()?;
    let client_id = shim.admin_client()?.add_cert(&pki.client.cert_pem, ORG)?;
    let key = shim.admin_client()?.create_key(&json!({
        "org_id": ORG, "certificate": client_id, "alias": "dyn-client",
        "access_rights": {"dyn": {"api_id": "dyn"}}
    }))?;
    let client2_id = shim.admin_client()?.add_cert(&pki.client2.cert_pem, ORG)?;

    let store: Value = serde_json::from_str(&shim.store_json(SYNC_MS, MAX_STALE_S))?;
    let gate = json!({
        "org_id": ORG,
        "store": store,
        "apis": [
            // Inline PEM: self-contained, needs no store at all.
            {"api_id": "static-pem", "proxy": {"listen_path": "/static-pem/"},
             "use_mutual_tls_auth": true, "client_certificates": [pki.client2.cert_pem]},
            // Store ID: served from the last synced certificate index.
            {"api_id": "static-id", "proxy": {"listen_path": "/static-id/"},
             "use_mutual_tls_auth": true, "client_certificates": [client2_id]},
            {"api_id": "dyn", "proxy": {"listen_path": "/dyn/"},
             "auth_configs": {"authToken": {"use_certificate": true}}}
        ]
    })
    .to_string();
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let envoy = Envoy::start(
        EnvoyConfig::new(&gate, &pki)
            .default_upstream(&echo, &pki)
            .shim_port(shim.port()),
    )?;
    let get = |cert: &CertFiles, path: &str| {
        Client::new(&pki.ca)
            .cert(cert)
            .get(&envoy.https_url(path))
            .send()
    };
    let static_ok = |when: &str| -> anyhow::Result<()> {
        for path in ["/static-pem/x", "/static-id/x"] {
            let resp = get(&pki.client2, path)?;
            assert_eq!(resp.status, 200, "{when}: {path}: {}", resp.body);
            assert_eq!(resp.echo()?.path, path);
        }
        Ok(())
    };

    // Everything passes once the filter has synced.
    wait::until("the first sync", Duration::from_secs(10), || {
        Ok(envoy
            .stat(&metrics::envoy_stat(metrics::SYNC_SUCCESS))?
            .filter(|n| *n > 0)
            .map(|_| ()))
    })?;
    static_ok("before the outage")?;
    let dyn_ok = get(&pki.client, "/dyn/x")?;
    assert_eq!(dyn_ok.status, 200, "{}", dyn_ok.body);
    assert_eq!(
        dyn_ok.echo()?.header(headers::SESSION_KEY),
        Some(&*key),
        "session served"
    );

    shim.kill();
    let killed_at = Instant::now();
    // Right after the outage, certificate auth is served from the last snapshot.
    let served = get(&pki.client, "/dyn/x")?;
    assert_eq!(
        served.status,
        200,
        "served from the snapshot within max_stale_s, {:?} after the kill: {}",
        killed_at.elapsed(),
        served.body
    );
    static_ok("during the outage, before max_stale_s")?;

    let refused = wait::until(
        "certificate auth to turn 503",
        Duration::from_secs(MAX_STALE_S + 10),
        || {
            let resp = get(&pki.client, "/dyn/x")?;
            Ok((resp.status != 200).then_some(resp))
        },
    )?;
    let flipped_after = killed_at.elapsed();
    println!("store_outage_flip_ms={}", flipped_after.as_millis());
    assert_eq!(refused.status, 503, "body: {}", refused.body);
    assert_eq!(
        serde_json::from_str::<Value>(&refused.body)?,
        json!({"error": "Certificate store unavailable"}),
        "raw body: {}",
        refused.body
    );
    assert_eq!(refused.header("content-type"), Some("application/json"));
    // The last successful sync was at most one interval before the kill.
    let earliest = Duration::from_millis(MAX_STALE_S * 1000 - SYNC_MS - 100);
    let latest = Duration::from_millis(MAX_STALE_S * 1000 + 3 * SYNC_MS + 1000);
    assert!(
        flipped_after >= earliest && flipped_after <= latest,
        "flipped to 503 {flipped_after:?} after the kill; expected about max_stale_s = {MAX_STALE_S} s"
    );

    // It stays 503, static lists still pass, and the outage is counted.
    let again = get(&pki.client, "/dyn/y")?;
    assert_eq!(again.status, 503, "{}", again.body);
    static_ok("after max_stale_s")?;
    let stats = envoy.filter_stats()?;
    let stat = |name: &str| stats.get(name).copied().unwrap_or(0);
    assert!(
        stat(&denied_stat(&Denial::StoreUnavailable)) >= 2,
        "{stats:?}"
    );
    assert!(
        stat(&metrics::envoy_stat(metrics::SYNC_FAILURE)) >= 1,
        "{stats:?}"
    );
    Ok(())
}
