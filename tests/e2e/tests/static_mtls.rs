//! SPEC §3 over real TLS through real Envoy: static allow lists (`use_mutual_tls_auth`,
//! `client_certificates`, `security.certificates.apis`), every row of the table, with Tyk's
//! exact `{"error": "..."}` bodies. Each test starts its own Envoy (and shim) on loopback.

use mtls_gate_core::headers;
use mtls_gate_e2e::*;
use mtls_gate_testkit::*;
use serde_json::json;
use std::time::{Duration, Instant};

const SYNC_MS: u64 = 500;

fn not_allowed(cert: &CertFiles) -> String {
    format!("Certificate with SHA256 {} not allowed", cert.fingerprint)
}

/// No store: fingerprints are self-contained. APIs have no `target_url`, so the default route
/// (the echo) applies.
/// - `/static/`: `client` by fingerprint, `expired` as inline PEM;
/// - `/static-fp/`: `expired` by bare fingerprint (expiry comes from Envoy's XFCC PEM);
/// - `/static-oneline/`: `client` as a PEM collapsed onto one line;
/// - `/global/`: an empty list, so only the global list (`client2`) passes;
/// - `/open/`: no mTLS at all.
fn static_gate(pki: &TestPki) -> String {
    let one_line = pki.client.cert_pem.trim().replace('\n', " ");
    json!({
        "security": {"certificates": {"apis": [pki.client2.fingerprint]}},
        "apis": [
            {"api_id": "static", "proxy": {"listen_path": "/static/"},
             "use_mutual_tls_auth": true,
             "client_certificates": [pki.client.fingerprint, pki.expired.cert_pem]},
            {"api_id": "static-fp", "proxy": {"listen_path": "/static-fp/"},
             "use_mutual_tls_auth": true,
             "client_certificates": [pki.expired.fingerprint]},
            {"api_id": "static-oneline", "proxy": {"listen_path": "/static-oneline/"},
             "use_mutual_tls_auth": true,
             "client_certificates": [one_line]},
            {"api_id": "global", "proxy": {"listen_path": "/global/"},
             "use_mutual_tls_auth": true, "client_certificates": []},
            {"api_id": "open", "proxy": {"listen_path": "/open/"}}
        ]
    })
    .to_string()
}

struct StaticEnv {
    pki: TestPki,
    envoy: Envoy,
    _echo: EchoUpstream,
}

impl StaticEnv {
    fn start() -> anyhow::Result<Self> {
        let pki = TestPki::generate()?;
        let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
        let envoy =
            Envoy::start(EnvoyConfig::new(&static_gate(&pki), &pki).default_upstream(&echo, &pki))?;
        Ok(Self {
            pki,
            envoy,
            _echo: echo,
        })
    }

    fn get(&self, cert: Option<&CertFiles>, path: &str) -> anyhow::Result<Response> {
        let mut client = Client::new(&self.pki.ca);
        if let Some(cert) = cert {
            client = client.cert(cert);
        }
        client.get(&self.envoy.https_url(path)).send()
    }
}

#[test]
fn plain_http_listener_is_tls_not_enabled() -> anyhow::Result<()> {
    let env = StaticEnv::start()?;
    let resp = Client::default()
        .get(&env.envoy.plain_url("/static/x"))
        .send()?;
    assert_denied(&resp, 403, "TLS not enabled");
    // An API without mTLS is not affected by the missing TLS.
    let open = Client::default()
        .get(&env.envoy.plain_url("/open/x"))
        .send()?;
    assert_eq!(open.status, 200, "{}", open.body);
    assert_eq!(open.echo()?.path, "/open/x");
    Ok(())
}

#[test]
fn tls_without_client_certificate_is_required() -> anyhow::Result<()> {
    let env = StaticEnv::start()?;
    for path in ["/static/x", "/global/x", "/static-fp/x"] {
        let resp = env.get(None, path)?;
        assert_denied(&resp, 403, "Client TLS certificate is required");
    }
    Ok(())
}

#[test]
fn allowed_certificate_reaches_the_upstream() -> anyhow::Result<()> {
    let env = StaticEnv::start()?;
    let resp = env.get(Some(&env.pki.client), "/static/orders?id=7")?;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let seen = resp.echo()?;
    assert_eq!(seen.name, "echo");
    assert_eq!(seen.path, "/static/orders?id=7");
    assert_eq!(seen.header(headers::API_ID), Some("static"));
    assert_eq!(
        seen.header(headers::CERT_SHA256),
        Some(&*env.pki.client.fingerprint)
    );
    // The same certificate pinned as a PEM collapsed onto one line.
    let oneline = env.get(Some(&env.pki.client), "/static-oneline/x")?;
    assert_eq!(oneline.status, 200, "{}", oneline.body);
    assert_eq!(oneline.echo()?.path, "/static-oneline/x");
    Ok(())
}

#[test]
fn certificate_not_in_any_list_is_not_allowed() -> anyhow::Result<()> {
    let env = StaticEnv::start()?;
    let rogue = env.get(Some(&env.pki.rogue), "/static/x")?;
    assert_denied(&rogue, 403, &not_allowed(&env.pki.rogue));
    // A valid CA-signed certificate that no list names is refused the same way.
    let upstream_a = env.get(Some(&env.pki.upstream_client_a), "/static/x")?;
    assert_denied(&upstream_a, 403, &not_allowed(&env.pki.upstream_client_a));
    // Allowed on one API is not allowed on another.
    let client_on_global = env.get(Some(&env.pki.client), "/global/x")?;
    assert_denied(&client_on_global, 403, &not_allowed(&env.pki.client));
    Ok(())
}

#[test]
fn expired_certificate_pinned_as_pem_or_fingerprint_has_expired() -> anyhow::Result<()> {
    let env = StaticEnv::start()?;
    let inline_pem = env.get(Some(&env.pki.expired), "/static/x")?;
    assert_denied(&inline_pem, 403, "Certificate has expired");
    let by_fingerprint = env.get(Some(&env.pki.expired), "/static-fp/x")?;
    assert_denied(&by_fingerprint, 403, "Certificate has expired");
    // A second request (cached expiry per worker) answers the same.
    let again = env.get(Some(&env.pki.expired), "/static-fp/y")?;
    assert_denied(&again, 403, "Certificate has expired");
    Ok(())
}

#[test]
fn global_list_allows_on_every_mtls_api() -> anyhow::Result<()> {
    let env = StaticEnv::start()?;
    for path in [
        "/global/x",
        "/static/x",
        "/static-fp/x",
        "/static-oneline/x",
    ] {
        let resp = env.get(Some(&env.pki.client2), path)?;
        assert_eq!(resp.status, 200, "{path}: {}", resp.body);
        let seen = resp.echo()?;
        assert_eq!(seen.path, path);
        assert_eq!(
            seen.header(headers::CERT_SHA256),
            Some(&*env.pki.client2.fingerprint)
        );
    }
    Ok(())
}

#[test]
fn store_id_deleted_from_the_shim_is_not_allowed_within_two_sync_intervals() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let shim = Shim::start()?;
    let org = "acme";
    let client_id = shim.admin_client()?.add_cert(&pki.client.cert_pem, org)?;
    let client2_id = shim.admin_client()?.add_cert(&pki.client2.cert_pem, org)?;
    assert_eq!(client_id, format!("{org}{}", pki.client.fingerprint));
    let gate = json!({
        "org_id": org,
        "store": serde_json::from_str::<serde_json::Value>(&shim.store_json(SYNC_MS, 300))?,
        "apis": [{"api_id": "by-id", "proxy": {"listen_path": "/by-id/"},
                  "use_mutual_tls_auth": true,
                  "client_certificates": [client_id, client2_id]}]
    })
    .to_string();
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let envoy = Envoy::start(
        EnvoyConfig::new(&gate, &pki)
            .default_upstream(&echo, &pki)
            .shim_port(shim.port()),
    )?;
    let get = |cert: &CertFiles| {
        Client::new(&pki.ca)
            .cert(cert)
            .get(&envoy.https_url("/by-id/x"))
            .send()
    };
    // A store ID passes once the filter has synced the certificate index.
    wait::until(
        "the store ID to pass after the first sync",
        Duration::from_secs(10),
        || Ok((get(&pki.client)?.status == 200).then_some(())),
    )?;
    assert_eq!(get(&pki.client2)?.status, 200);

    shim.admin_client()?.delete_cert(&client_id)?;
    let deleted_at = Instant::now();
    let denied = wait::until(
        "the deleted certificate to be refused",
        Duration::from_millis(SYNC_MS * 10),
        || {
            let resp = get(&pki.client)?;
            Ok((resp.status != 200).then_some(resp))
        },
    )?;
    let elapsed = deleted_at.elapsed();
    println!("static_store_id_revocation_ms={}", elapsed.as_millis());
    assert_denied(&denied, 403, &not_allowed(&pki.client));
    assert!(
        elapsed <= Duration::from_millis(2 * SYNC_MS),
        "deleted certificate still passed for {elapsed:?} (> 2 × {SYNC_MS} ms)"
    );
    // The other store entry is unaffected.
    let other = get(&pki.client2)?;
    assert_eq!(other.status, 200, "{}", other.body);
    Ok(())
}
