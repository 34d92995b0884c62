//! SPEC §8 through real Envoy 1.40, from what `mtls-gate-shim render` writes:
//! - server certificates from the store and from config (file paths too), picked by SNI;
//!   render refuses a keyless or expired one and skips an ID not in the store;
//! - handshake-level enforcement: a domain whose APIs all need a static client certificate
//!   refuses a client at the handshake (a TLS alert, never an HTTP status), by fingerprint
//!   for a leaf-only list and by chain for a CA-only list; mixed lists, shared domains and
//!   connections without SNI keep the filter's HTTP-level 403s.
//!
//! Handshakes are probed with `openssl s_client` (the alert number and the served
//! certificate), requests with curl.

use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::pem::parse_blocks;
use mtls_gate_e2e::envoy_config::ShimRender;
use mtls_gate_e2e::*;
use mtls_gate_testkit::ca::{Leaf, TestCa};
use mtls_gate_testkit::*;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Stdio};

/// TLS alerts (RFC 8446 §6): what Envoy (BoringSSL) sends a refused client.
const ALERT_BAD_CERTIFICATE_HASH_VALUE: u8 = 114;
const ALERT_CERTIFICATE_REQUIRED: u8 = 116;
const ALERT_UNKNOWN_CA: u8 = 48;
const ALERT_CERTIFICATE_EXPIRED: u8 = 45;

/// What one TLS connection saw.
#[derive(Debug)]
struct Probe {
    /// SHA-256 of the certificate the server presented.
    served: Option<String>,
    /// The TLS alert the client received, if any.
    alert: Option<u8>,
    /// The HTTP status of `GET /` (None: the connection ended before one).
    status: Option<u16>,
    output: String,
}

/// Connects with `openssl s_client` to the TLS port, with `sni` (or none) and `cert`, sends
/// `GET /probe` with `Host: host`, and reads until the server closes.
fn probe(port: u16, sni: Option<&str>, host: &str, cert: Option<&CertFiles>) -> Probe {
    let mut cmd = Command::new("timeout");
    cmd.args(["15", "openssl", "s_client", "-ign_eof", "-connect"])
        .arg(format!("127.0.0.1:{port}"));
    match sni {
        Some(sni) => cmd.args(["-servername", sni]),
        None => cmd.arg("-noservername"),
    };
    if let Some(cert) = cert {
        cmd.arg("-cert").arg(&cert.cert_path);
        cmd.arg("-key").arg(&cert.key_path);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = write!(
            stdin,
            "GET /probe HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        );
    }
    let out = child.wait_with_output().expect("openssl s_client output");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let served = parse_blocks(&output)
        .ok()
        .and_then(|blocks| blocks.into_iter().find(|b| b.is_certificate()))
        .map(|b| Fingerprint::of_der(&b.der).to_hex());
    let alert = output
        .split("SSL alert number ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok());
    // s_client interleaves its own lines with the response: the status line need not
    // start a line.
    let status = output
        .split("HTTP/1.1 ")
        .nth(1)
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    Probe {
        served,
        alert,
        status,
        output,
    }
}

/// Asserts a refusal at the handshake: this alert, and no HTTP response at all.
fn assert_alert(probe: &Probe, alert: u8) {
    assert_eq!(probe.alert, Some(alert), "{}", probe.output);
    assert_eq!(probe.status, None, "{}", probe.output);
}

fn not_allowed(cert: &CertFiles) -> String {
    format!("Certificate with SHA256 {} not allowed", cert.fingerprint)
}

/// A [`Leaf`] of a [`TestCa`] written to `dir` as a certificate and key file.
fn files(dir: &Path, name: &str, leaf: &Leaf) -> CertFiles {
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, &leaf.cert_pem).unwrap();
    std::fs::write(&key_path, &leaf.key_pem).unwrap();
    CertFiles {
        name: name.to_string(),
        cert_path,
        key_path,
        cert_pem: leaf.cert_pem.clone(),
        key_pem: leaf.key_pem.clone(),
        der: leaf.cert_der.clone(),
        fingerprint: leaf.fingerprint(),
        not_after: time::OffsetDateTime::now_utc() + time::Duration::days(30),
    }
}

/// One Envoy rendered from a gate with a domain of each kind (all APIs proxy to one echo):
/// - `secure.test`: leaf-only (`client`, inline PEM) → handshake, by hash;
/// - `other.test`: CA-only (the test CA, as a file path) → handshake, by chain;
/// - `open.test`: an mTLS API and an open one → HTTP level;
/// - `mixed.example.test`: the CA and `client2` → HTTP level.
struct HandshakeEnv {
    pki: TestPki,
    dir: tempfile::TempDir,
    envoy: Envoy,
    _echo: EchoUpstream,
    _shim: Shim,
    render_stdout: String,
}

impl HandshakeEnv {
    fn start() -> anyhow::Result<Self> {
        let pki = TestPki::generate()?;
        let dir = tempfile::tempdir()?;
        let shim = Shim::start()?;
        let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
        let target = format!("https://localhost:{}", echo.addr.port());
        let ca_file = pki.ca.cert_path.display().to_string();
        let api = |id: &str, domain: &str, path: &str, list: Option<Vec<String>>| {
            let mut api = json!({"api_id": id, "domain": domain,
                "proxy": {"listen_path": path, "target_url": target}});
            if let Some(list) = list {
                api["use_mutual_tls_auth"] = json!(true);
                api["client_certificates"] = json!(list);
            }
            api
        };
        let gate = json!({"apis": [
            api("leaf", "secure.test", "/", Some(vec![pki.client.cert_pem.clone()])),
            api("ca", "other.test", "/", Some(vec![ca_file.clone()])),
            api("shared-mtls", "open.test", "/secure/", Some(vec![pki.client.cert_pem.clone()])),
            api("shared-open", "open.test", "/open/", None),
            api("mixed", "mixed.example.test", "/", Some(vec![ca_file, pki.client2.cert_pem.clone()])),
        ]})
        .to_string();
        let render = ShimRender::new(dir.path(), &shim)?
            .server_cert(&pki.server)
            .upstreams(&pki.ca, &[("localhost", echo.addr.port())]);
        let output = render.run(&gate)?;
        let envoy = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;
        Ok(HandshakeEnv {
            pki,
            dir,
            envoy,
            _echo: echo,
            _shim: shim,
            render_stdout: output.stdout,
        })
    }

    fn port(&self) -> u16 {
        self.envoy.tls_port()
    }

    fn probe(&self, sni: &str, cert: Option<&CertFiles>) -> Probe {
        probe(self.port(), Some(sni), sni, cert)
    }

    fn get(&self, sni: &str, cert: Option<&CertFiles>, path: &str) -> anyhow::Result<Response> {
        let mut client = Client::new(&self.pki.ca);
        if let Some(cert) = cert {
            client = client.cert(cert);
        }
        client.get(&self.envoy.https_url(path)).sni(sni).send()
    }
}

#[test]
fn a_leaf_only_domain_refuses_other_clients_at_the_handshake() -> anyhow::Result<()> {
    let env = HandshakeEnv::start()?;
    assert!(
        env.render_stdout.contains(
            "domain secure.test: client certificate verified at the handshake (1 listed leaf fingerprints)"
        ),
        "{}",
        env.render_stdout
    );
    assert_alert(&env.probe("secure.test", None), ALERT_CERTIFICATE_REQUIRED);
    assert_alert(
        &env.probe("secure.test", Some(&env.pki.rogue)),
        ALERT_BAD_CERTIFICATE_HASH_VALUE,
    );
    // Signed by the right CA is not enough: only the listed leaf.
    assert_alert(
        &env.probe("secure.test", Some(&env.pki.client2)),
        ALERT_BAD_CERTIFICATE_HASH_VALUE,
    );
    // curl sees a failed connection, not a status.
    let err = env
        .get("secure.test", Some(&env.pki.rogue), "/x")
        .expect_err("no HTTP answer");
    assert!(err.to_string().contains("curl failed"), "{err}");
    // The listed certificate reaches the upstream (the filter still checked it).
    let ok = env.get("secure.test", Some(&env.pki.client), "/orders")?;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let seen = ok.echo()?;
    assert_eq!(seen.path, "/orders");
    assert_eq!(
        seen.header(mtls_gate_core::headers::CERT_SHA256),
        Some(&*env.pki.client.fingerprint)
    );
    Ok(())
}

#[test]
fn a_ca_only_domain_trusts_its_ca_at_the_handshake() -> anyhow::Result<()> {
    let env = HandshakeEnv::start()?;
    assert!(
        env.render_stdout.contains(
            "domain other.test: client certificate verified at the handshake (chain to a listed CA)"
        ),
        "{}",
        env.render_stdout
    );
    let stranger_ca = TestCa::new();
    let stranger = files(env.dir.path(), "stranger", &stranger_ca.leaf("stranger"));
    assert_alert(&env.probe("other.test", None), ALERT_CERTIFICATE_REQUIRED);
    assert_alert(&env.probe("other.test", Some(&stranger)), ALERT_UNKNOWN_CA);
    assert_alert(
        &env.probe("other.test", Some(&env.pki.rogue)),
        ALERT_UNKNOWN_CA,
    );
    assert_alert(
        &env.probe("other.test", Some(&env.pki.expired)),
        ALERT_CERTIFICATE_EXPIRED,
    );
    // Clients the CA signed complete the handshake and reach the filter, which admits them
    // by the same CA entry (SPEC §3).
    for client in [&env.pki.client, &env.pki.client2] {
        let handshake = env.probe("other.test", Some(client));
        assert_eq!(handshake.alert, None, "{}", handshake.output);
        assert!(handshake.status.is_some(), "{}", handshake.output);
        let resp = env.get("other.test", Some(client), "/x")?;
        assert_eq!(resp.status, 200, "{}: {}", client.name, resp.body);
        assert_eq!(resp.echo()?.path, "/x");
    }
    Ok(())
}

#[test]
fn shared_and_mixed_domains_and_connections_without_sni_stay_at_the_http_level()
-> anyhow::Result<()> {
    let env = HandshakeEnv::start()?;
    for (domain, reason) in [
        (
            "open.test",
            "shared with an API that needs no static certificate",
        ),
        ("mixed.example.test", "CA and leaf entries together"),
    ] {
        assert!(
            env.render_stdout.contains(&format!(
                "domain {domain}: client certificate checked per request only ({reason})"
            )),
            "{}",
            env.render_stdout
        );
    }
    // Shared domain: the mTLS API refuses with Tyk's 403s, the open one needs nothing.
    let rogue = env.get("open.test", Some(&env.pki.rogue), "/secure/x")?;
    assert_denied(&rogue, 403, &not_allowed(&env.pki.rogue));
    let none = env.get("open.test", None, "/secure/x")?;
    assert_denied(&none, 403, "Client TLS certificate is required");
    let open = env.get("open.test", None, "/open/x")?;
    assert_eq!(open.status, 200, "{}", open.body);
    let listed = env.get("open.test", Some(&env.pki.client), "/secure/x")?;
    assert_eq!(listed.status, 200, "{}", listed.body);
    // Mixed CA and leaf: HTTP level.
    let rogue = env.get("mixed.example.test", Some(&env.pki.rogue), "/x")?;
    assert_denied(&rogue, 403, &not_allowed(&env.pki.rogue));
    // No SNI: the default chain, whose Host names the leaf-only domain: the filter answers.
    let no_sni = |cert: Option<&CertFiles>| {
        let mut client = Client::new(&env.pki.ca);
        if let Some(cert) = cert {
            client = client.cert(cert);
        }
        client
            .get(&env.envoy.https_url("/x"))
            .host("secure.test")
            .send()
    };
    assert_denied(
        &no_sni(Some(&env.pki.rogue))?,
        403,
        &not_allowed(&env.pki.rogue),
    );
    assert_denied(&no_sni(None)?, 403, "Client TLS certificate is required");
    let probe = probe(env.port(), None, "secure.test", Some(&env.pki.rogue));
    assert_eq!(probe.alert, None, "{}", probe.output);
    assert_eq!(probe.status, Some(403), "{}", probe.output);
    Ok(())
}

#[test]
fn sni_picks_the_server_certificate_from_the_store_or_the_config() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let dir = tempfile::tempdir()?;
    let shim = Shim::start()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let server_ca = TestCa::new();
    // SANs srv-a.example.test and srv-b.example.test.
    let (srv_a, srv_b) = (server_ca.leaf("srv-a"), server_ca.leaf("srv-b"));
    let id_a = shim.admin_client()?.add_cert(&srv_a.bundle(), "acme")?;
    let b_file = dir.path().join("srv-b-bundle.pem");
    std::fs::write(&b_file, srv_b.bundle())?;
    let absent = format!("acme{}", "ab".repeat(32));
    let target = format!("https://localhost:{}", echo.addr.port());
    let gate = json!({
        "org_id": "acme",
        "http_server_options": {"ssl_certificates": [id_a, absent]},
        "apis": [
            {"api_id": "b", "domain": "api-b.test", "certificates": [b_file.display().to_string()],
             "proxy": {"listen_path": "/", "target_url": target}},
            {"api_id": "any", "proxy": {"listen_path": "/", "target_url": target}},
        ]
    })
    .to_string();
    let render = ShimRender::new(dir.path(), &shim)?
        .server_cert(&pki.server)
        .upstreams(&pki.ca, &[("localhost", echo.addr.port())]);
    let output = render.run(&gate)?;
    assert!(
        output.stderr.contains(&format!(
            "http_server_options.ssl_certificates[1]: server certificate {absent} is not in the store (yet): skipped"
        )),
        "{}",
        output.stderr
    );
    let envoy = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;
    let port = envoy.tls_port();
    let served = |sni: Option<&str>| {
        let p = probe(port, sni, sni.unwrap_or("localhost"), None);
        p.served
            .unwrap_or_else(|| panic!("no certificate served: {}", p.output))
    };
    assert_eq!(served(Some("srv-a.example.test")), srv_a.fingerprint());
    assert_eq!(served(Some("srv-b.example.test")), srv_b.fingerprint());
    // The API's domain is served by the API's certificate.
    assert_eq!(served(Some("api-b.test")), srv_b.fingerprint());
    // Every other name, and no SNI: --server-cert.
    assert_eq!(served(Some("unknown.example.test")), pki.server.fingerprint);
    assert_eq!(served(None), pki.server.fingerprint);

    // A full request over the store certificate, verified by the client against its CA.
    let ca_path = dir.path().join("server-ca.pem");
    std::fs::write(&ca_path, &server_ca.ca_pem)?;
    let server_ca_files = CertFiles {
        name: "server-ca".into(),
        cert_path: ca_path.clone(),
        key_path: ca_path,
        cert_pem: server_ca.ca_pem.clone(),
        key_pem: String::new(),
        der: server_ca.ca_der.clone(),
        fingerprint: Fingerprint::of_der(&server_ca.ca_der).to_hex(),
        not_after: time::OffsetDateTime::now_utc() + time::Duration::days(30),
    };
    let resp = Client::new(&server_ca_files)
        .get(&envoy.https_url("/hello"))
        .sni("srv-a.example.test")
        .send()?;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.echo()?.path, "/hello");

    // Without --server-cert the first server certificate is the default.
    let dir2 = tempfile::tempdir()?;
    let render =
        ShimRender::new(dir2.path(), &shim)?.upstreams(&pki.ca, &[("localhost", echo.addr.port())]);
    render.run(&gate)?;
    let envoy = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;
    let p = probe(envoy.tls_port(), None, "localhost", None);
    assert_eq!(
        p.served.as_deref(),
        Some(&*srv_a.fingerprint()),
        "{}",
        p.output
    );
    assert_eq!(
        served_by(&envoy, "api-b.test"),
        srv_b.fingerprint(),
        "the other names are unchanged"
    );
    Ok(())
}

fn served_by(envoy: &Envoy, sni: &str) -> String {
    let p = probe(envoy.tls_port(), Some(sni), sni, None);
    p.served
        .unwrap_or_else(|| panic!("no certificate served: {}", p.output))
}

#[test]
fn render_refuses_keyless_expired_and_unreadable_certificates() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let dir = tempfile::tempdir()?;
    let shim = Shim::start()?;
    let server_ca = TestCa::new();
    let keyless = shim
        .admin_client()?
        .add_cert(&server_ca.leaf("keyless").cert_pem, "acme")?;
    let expired_file = dir.path().join("expired.pem");
    std::fs::write(&expired_file, server_ca.expired("old").bundle())?;
    let render = ShimRender::new(dir.path(), &shim)?.server_cert(&pki.server);
    let cases = [
        (
            json!({"http_server_options": {"ssl_certificates": [keyless]}}),
            format!(
                "http_server_options.ssl_certificates[0]: server certificate {keyless}: no private key"
            ),
        ),
        (
            json!({"apis": [{"api_id": "a", "domain": "a.test",
                             "certificates": [expired_file.display().to_string()]}]}),
            format!(
                "apis[0].certificates[0]: server certificate file {}: expired",
                expired_file.display()
            ),
        ),
        (
            json!({"apis": [{"api_id": "a", "use_mutual_tls_auth": true,
                             "client_certificates": ["/nonexistent/client.pem"]}]}),
            "apis[0].client_certificates[0]: certificate file /nonexistent/client.pem: No such file"
                .to_string(),
        ),
    ];
    for (gate, message) in cases {
        let stderr = render.refused(&gate.to_string())?;
        assert!(stderr.contains(&message), "want {message:?} in {stderr}");
    }
    // No --server-cert and no server certificate in the gate.
    let bare = ShimRender::new(dir.path(), &shim)?;
    let stderr = bare.refused(r#"{"apis": []}"#)?;
    assert!(stderr.contains("no server certificate"), "{stderr}");
    Ok(())
}
