//! SPEC §9 "Import" through real Envoy: a small Tyk installation (tyk.conf, a Classic API and
//! an OAS API stored as Tyk stores it, certificates named by file path) goes through
//! `mtls-gate-shim import`, then `render`, then Envoy; each API answers as its Tyk definition
//! says: 403 without a listed certificate, 200 with one. The OAS API sits on a domain enforced
//! at the handshake, where its own allow list must join the global one.

use mtls_gate_core::headers;
use mtls_gate_e2e::envoy_config::ShimRender;
use mtls_gate_e2e::*;
use mtls_gate_testkit::*;
use serde_json::{Value, json};
use std::path::Path;

/// Writes the installation into `dir`: tyk.conf, `apps/`, and `certs/` (copies of the test
/// PKI's files, named as a Tyk operator would).
fn tyk_installation(dir: &Path, pki: &TestPki, target: &str) -> anyhow::Result<()> {
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs)?;
    std::fs::write(certs.join("gateway.pem"), pki.server.cert_and_key_pem())?;
    std::fs::write(certs.join("orders-client.pem"), &pki.client.cert_pem)?;
    std::fs::write(certs.join("billing-client.pem"), &pki.client2.cert_pem)?;
    let conf = json!({
        "listen_port": 8080,
        "secret": "352d20ee67be67f6340b4c0605b044b7",
        "app_path": "./apps/",
        "enable_custom_domains": true,
        "http_server_options": {"use_ssl": true, "ssl_certificates": ["certs/gateway.pem"]},
        "security": {"certificates": {"apis": ["certs/orders-client.pem"]}}
    });
    let orders = json!({
        "name": "Orders", "api_id": "orders", "org_id": "acme", "active": true,
        "use_keyless": true, "use_mutual_tls_auth": true,
        "client_certificates": ["certs/orders-client.pem"],
        "version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default"}}},
        "proxy": {"listen_path": "/orders/", "target_url": target, "strip_listen_path": true}
    });
    let billing_oas = json!({
        "openapi": "3.0.3",
        "info": {"title": "billing", "version": "1.0.0"},
        "paths": {},
        "x-tyk-api-gateway": {
            "info": {"id": "billing", "orgId": "acme", "name": "billing",
                     "state": {"active": true, "internal": false}},
            "upstream": {"url": target},
            "server": {
                "listenPath": {"value": "/billing/", "strip": true},
                "customDomain": {"enabled": true, "name": "secure.test"},
                "clientCertificates": {"enabled": true, "allowlist": ["certs/billing-client.pem"]}
            }
        }
    });
    let billing = json!({
        "name": "billing", "api_id": "billing", "org_id": "acme", "is_oas": true,
        "active": true, "use_keyless": true, "domain": "secure.test",
        "use_mutual_tls_auth": true, "client_certificates": ["certs/billing-client.pem"],
        "proxy": {"listen_path": "/billing/", "target_url": target, "strip_listen_path": true}
    });
    let apps = dir.join("apps");
    std::fs::create_dir_all(&apps)?;
    let write = |path: &Path, value: &Value| std::fs::write(path, value.to_string());
    write(&dir.join("tyk.conf"), &conf)?;
    write(&apps.join("orders.json"), &orders)?;
    write(&apps.join("billing.json"), &billing)?;
    write(&apps.join("billing-oas.json"), &billing_oas)?;
    Ok(())
}

#[test]
fn an_imported_tyk_installation_answers_as_its_definitions_say() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let target = format!("https://localhost:{}/", echo.addr.port());
    let install = tempfile::tempdir()?;
    tyk_installation(install.path(), &pki, &target)?;

    // Run from elsewhere: certificate paths are read under tyk.conf's directory.
    let elsewhere = tempfile::tempdir()?;
    let imported = std::process::Command::new(paths::shim_bin()?)
        .arg("import")
        .arg("--tyk-conf")
        .arg(install.path().join("tyk.conf"))
        .arg("--apps")
        .arg(install.path().join("apps"))
        .arg("--strict")
        .current_dir(elsewhere.path())
        .output()?;
    let report = String::from_utf8_lossy(&imported.stderr);
    anyhow::ensure!(imported.status.success(), "import failed: {report}");
    assert!(
        report.contains("2 API definitions") && report.contains("(1 Classic, 1 OAS)"),
        "{report}"
    );
    let gate = String::from_utf8(imported.stdout)?;

    let shim = Shim::start()?;
    let dir = tempfile::tempdir()?;
    let render =
        ShimRender::new(dir.path(), &shim)?.upstreams(&pki.ca, &[("localhost", echo.addr.port())]);
    let rendered = render.run(&gate)?;
    assert!(
        rendered.stdout.contains(
            "domain secure.test: client certificate verified at the handshake (2 listed leaf fingerprints)"
        ),
        "the OAS allow list and the global list, both: {}",
        rendered.stdout
    );
    let envoy = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;

    // Classic `orders`, any host: the filter's 403s, with Tyk's messages.
    let orders = envoy.https_url("/orders/x");
    let client = Client::new(&pki.ca);
    assert_denied(
        &client.get(&orders).send()?,
        403,
        "Client TLS certificate is required",
    );
    assert_denied(
        &client.clone().cert(&pki.rogue).get(&orders).send()?,
        403,
        &format!(
            "Certificate with SHA256 {} not allowed",
            pki.rogue.fingerprint
        ),
    );
    assert_denied(
        &client.clone().cert(&pki.client2).get(&orders).send()?,
        403,
        &format!(
            "Certificate with SHA256 {} not allowed",
            pki.client2.fingerprint
        ),
    );
    let ok = client.clone().cert(&pki.client).get(&orders).send()?;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let seen = ok.echo()?;
    assert_eq!(seen.header(headers::API_ID), Some("orders"));

    // OAS `billing` on secure.test: its own allow list admits client2; an unlisted client
    // fails the handshake (no HTTP answer).
    let billing = envoy.https_url("/billing/x");
    let ok = client
        .clone()
        .cert(&pki.client2)
        .get(&billing)
        .sni("secure.test")
        .host("secure.test")
        .send()?;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.echo()?.header(headers::API_ID), Some("billing"));
    let refused = client
        .clone()
        .cert(&pki.rogue)
        .get(&billing)
        .sni("secure.test")
        .host("secure.test")
        .send();
    let err = refused.expect_err("an unlisted certificate gets no HTTP answer");
    assert!(err.to_string().contains("curl failed"), "{err}");
    Ok(())
}
