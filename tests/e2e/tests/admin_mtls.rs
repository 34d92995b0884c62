//! SPEC §2 "Admin API over mutual TLS" with real Envoy: the shim serves the admin API on TLS
//! and requires a listed client certificate at the handshake (curl without one gets no HTTP
//! answer at all; the secret is still checked with one), while the filters reach the feed on
//! `--feed-listen`, which `render --shim-url` names: certificate authentication works
//! through Envoy exactly as with a plain shim.

use mtls_gate_core::metrics;
use mtls_gate_e2e::envoy_config::ShimRender;
use mtls_gate_e2e::*;
use mtls_gate_testkit::*;
use serde_json::json;
use std::process::Command;
use std::time::Duration;

const ORG: &str = "acme";

/// `curl` to the shim's TLS admin API: (exit code, HTTP status or 0, body).
fn admin_curl(
    shim: &Shim,
    pki: &TestPki,
    cert: Option<&CertFiles>,
    secret: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (i32, u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "10",
        "-w",
        "\n%{http_code}",
        "-X",
        method,
    ])
    .arg("--cacert")
    .arg(&pki.ca.cert_path)
    .args(["-H", &format!("X-Tyk-Authorization: {secret}")]);
    if let Some(cert) = cert {
        cmd.arg("--cert").arg(&cert.cert_path);
        cmd.arg("--key").arg(&cert.key_path);
    }
    if let Some(body) = body {
        cmd.args(["--data-binary", body]);
    }
    let out = cmd
        .arg(format!("https://127.0.0.1:{}{path}", shim.port()))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        out.status.code().unwrap_or(-1),
        status.trim().parse().unwrap_or(0),
        body.to_owned(),
    )
}

#[test]
fn an_mtls_admin_api_refuses_unlisted_clients_and_envoy_still_follows_the_feed()
-> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let dir = tempfile::tempdir()?;
    let operator = &pki.client2;
    let shim = Shim::builder(paths::shim_bin()?)
        .args([
            "--tls-cert".to_owned(),
            pki.server.cert_path.display().to_string(),
            "--tls-key".to_owned(),
            pki.server.key_path.display().to_string(),
            "--control-api-certs".to_owned(),
            operator.fingerprint.clone(),
            "--feed-listen".to_owned(),
            "127.0.0.1:0".to_owned(),
        ])
        .start()?;
    let feed = shim.feed_addr().expect("the shim logs its feed address");
    let secret = shim.secret().to_owned();

    // No client certificate, or an unlisted one: no HTTP answer at all.
    for cert in [None, Some(&pki.client)] {
        let (code, status, _) = admin_curl(&shim, &pki, cert, &secret, "GET", "/tyk/certs", None);
        assert!(code != 0 && status == 0, "curl exit {code}, HTTP {status}");
    }
    // The listed certificate with a wrong secret: Tyk's 403.
    let (_, status, body) = admin_curl(
        &shim,
        &pki,
        Some(operator),
        "wrong",
        "GET",
        "/tyk/certs",
        None,
    );
    assert_eq!(status, 403, "{body}");

    // The operator uploads a client certificate and gives it a key.
    let (_, status, body) = admin_curl(
        &shim,
        &pki,
        Some(operator),
        &secret,
        "POST",
        &format!("/tyk/certs?org_id={ORG}"),
        Some(&pki.client.cert_pem),
    );
    assert_eq!(status, 200, "{body}");
    let cert_id: String = serde_json::from_str::<serde_json::Value>(&body)?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let session = json!({"org_id": ORG, "certificate": cert_id, "alias": "over-mtls",
        "access_rights": {"dyn": {"api_id": "dyn", "versions": ["Default"]}}})
    .to_string();
    let (_, status, body) = admin_curl(
        &shim,
        &pki,
        Some(operator),
        &secret,
        "POST",
        "/tyk/keys/create",
        Some(&session),
    );
    assert_eq!(status, 200, "{body}");

    // Envoy reaches the feed on --feed-listen: certificate auth passes through the filter.
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let gate = json!({
        "org_id": ORG,
        "store": {"sync_interval_ms": 200},
        "apis": [{"api_id": "dyn", "auth_configs": {"authToken": {"use_certificate": true}},
                  "proxy": {"listen_path": "/",
                            "target_url": format!("https://localhost:{}", echo.addr.port())}}]
    })
    .to_string();
    let render = ShimRender::new(dir.path(), &shim)?
        .shim_url(&format!("http://{feed}"))
        .server_cert(&pki.server)
        .upstreams(&pki.ca, &[("localhost", echo.addr.port())]);
    render.run(&gate)?;
    let envoy = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;
    wait::until("the filter's first sync", Duration::from_secs(20), || {
        Ok(envoy
            .stat(&metrics::envoy_stat(metrics::SYNC_SUCCESS))?
            .filter(|n| *n > 0)
            .map(|_| ()))
    })?;
    let resp = Client::new(&pki.ca)
        .cert(&pki.client)
        .get(&envoy.https_url("/orders"))
        .send()?;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let echo_reply = resp.echo()?;
    assert_eq!(
        echo_reply.header(mtls_gate_core::headers::KEY_ALIAS),
        Some("over-mtls")
    );
    // The feed port serves no admin route.
    let plain = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("X-Tyk-Authorization: {secret}"))
        .arg(format!("http://{feed}/tyk/certs"))
        .output()?;
    assert_eq!(String::from_utf8_lossy(&plain.stdout), "404");
    Ok(())
}
