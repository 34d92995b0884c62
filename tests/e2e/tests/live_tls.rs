//! SPEC §8 "Live" for the TLS layer, from outside: after one `render`, with the shim
//! running `serve` (default flags), admin API calls alone change what the running Envoy
//! does at the handshake, each within 1 s of the admin API's answer:
//! - a server certificate named by ID is served by SNI once uploaded;
//! - a CA-only domain verifies clients at the handshake; deleting the CA from the store
//!   refuses them (the filter's 403: no anchor is left to trust), uploading it again
//!   admits them;
//! - deleting a listed leaf refuses it.

use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::pem::parse_blocks;
use mtls_gate_e2e::envoy_config::ShimRender;
use mtls_gate_e2e::*;
use mtls_gate_testkit::ca::TestCa;
use mtls_gate_testkit::chains::{ChainIssuer, ChainLeaf, KeyKind};
use mtls_gate_testkit::*;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIVE_BOUND: Duration = Duration::from_secs(1);

/// The certificate a TLS server presents for `sni` (`openssl s_client`).
fn served(port: u16, sni: &str) -> Option<String> {
    let out = Command::new("timeout")
        .args(["10", "openssl", "s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", sni])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    parse_blocks(&String::from_utf8_lossy(&out.stdout))
        .ok()?
        .into_iter()
        .find(|b| b.is_certificate())
        .map(|b| Fingerprint::of_der(&b.der).to_hex())
}

fn files(dir: &Path, name: &str, leaf: &ChainLeaf) -> CertFiles {
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, &leaf.pem).unwrap();
    std::fs::write(&key_path, &leaf.key_pem).unwrap();
    CertFiles {
        name: name.to_owned(),
        cert_path,
        key_path,
        cert_pem: leaf.pem.clone(),
        key_pem: leaf.key_pem.clone(),
        der: leaf.der.clone(),
        fingerprint: leaf.fingerprint(),
        not_after: time::OffsetDateTime::now_utc() + time::Duration::days(30),
    }
}

/// Polls `check` every 20 ms until it holds; how long that took after `since`.
fn within_bound(what: &str, since: Instant, mut check: impl FnMut() -> bool) -> Duration {
    let deadline = since + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within 5 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = since.elapsed();
    eprintln!("live TLS: {what} after {took:?}");
    assert!(
        took <= LIVE_BOUND,
        "{what}: took {took:?} (> {LIVE_BOUND:?})"
    );
    took
}

#[test]
fn server_certificates_cas_and_listed_leaves_follow_the_store_at_the_handshake()
-> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let dir = tempfile::tempdir()?;
    let shim = Shim::start()?;
    let admin = shim.admin_client()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let target = format!("https://localhost:{}", echo.addr.port());

    let server = TestCa::new().leaf("srv-live");
    let server_fp = server.fingerprint();
    let server_id = format!("acme{server_fp}");
    let root = ChainIssuer::root("live CA", KeyKind::EcdsaP256);
    let ca_id = admin.add_cert(&root.pem, "acme")?;
    let ca_client = files(dir.path(), "ca-client", &root.leaf("ca-client"));
    let leaf_id = admin.add_cert(&pki.client.cert_pem, "acme")?;

    let gate = json!({
        "org_id": "acme",
        "store": {"sync_interval_ms": 200},
        "http_server_options": {"ssl_certificates": [server_id]},
        "apis": [
            {"api_id": "ca", "domain": "ca.example.test", "use_mutual_tls_auth": true,
             "client_certificates": [ca_id],
             "proxy": {"listen_path": "/", "target_url": target}},
            {"api_id": "leaf", "domain": "leaf.example.test", "use_mutual_tls_auth": true,
             "client_certificates": [leaf_id],
             "proxy": {"listen_path": "/", "target_url": target}}
        ]
    })
    .to_string();
    let render = ShimRender::new(dir.path(), &shim)?
        .server_cert(&pki.server)
        .upstreams(&pki.ca, &[("localhost", echo.addr.port())]);
    render.run(&gate)?;
    let envoy = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;
    let port = envoy.tls_port();
    let get = |sni: &str, cert: &CertFiles| {
        Client::new(&pki.ca)
            .cert(cert)
            .get(&envoy.https_url("/x"))
            .sni(sni)
            .send()
            .map(|r| r.status)
            .unwrap_or(0)
    };
    wait::until("the CA's client to pass", Duration::from_secs(20), || {
        Ok((get("ca.example.test", &ca_client) == 200).then_some(()))
    })?;
    assert_eq!(get("leaf.example.test", &pki.client), 200);
    assert_ne!(
        served(port, "srv-live.example.test"),
        Some(server_fp.clone())
    );

    // A server certificate uploaded by ID is served for its name.
    let uploaded = Instant::now();
    admin.add_cert(&server.bundle(), "acme")?;
    within_bound("server certificate served", uploaded, || {
        served(port, "srv-live.example.test").as_deref() == Some(server_fp.as_str())
    });

    // The CA leaves the store: its clients are refused; back in the store, admitted.
    let deleted = Instant::now();
    admin.delete_cert(&ca_id)?;
    within_bound("CA client refused", deleted, || {
        get("ca.example.test", &ca_client) != 200
    });
    let uploaded = Instant::now();
    admin.add_cert(&root.pem, "acme")?;
    within_bound("CA client admitted again", uploaded, || {
        get("ca.example.test", &ca_client) == 200
    });

    // A listed leaf deleted from the store is refused.
    let deleted = Instant::now();
    admin.delete_cert(&leaf_id)?;
    within_bound("deleted leaf refused", deleted, || {
        get("leaf.example.test", &pki.client) != 200
    });
    Ok(())
}
