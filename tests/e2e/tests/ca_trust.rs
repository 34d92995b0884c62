//! SPEC §3 "CA entries" through real Envoy 1.40: a CA named in an allow list (inline PEM or
//! store ID) admits the clients it signed, directly or through an intermediate the client
//! presents (curl sends the chain; Envoy passes it on in XFCC `Chain`). Deleting the CA from
//! the store revokes them within the sync bound; uploading it again restores them.

use mtls_gate_core::metrics;
use mtls_gate_e2e::*;
use mtls_gate_testkit::chains::{ChainIssuer, ChainLeaf, KeyKind, LeafSpec, Validity};
use mtls_gate_testkit::*;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const ORG: &str = "acme";
const SYNC_MS: u64 = 500;

/// Files curl presents: the leaf, then the intermediates, in one certificate file.
fn presented(
    dir: &Path,
    name: &str,
    leaf: &ChainLeaf,
    intermediates: &[&ChainIssuer],
) -> CertFiles {
    let chain: String = std::iter::once(leaf.pem.as_str())
        .chain(intermediates.iter().map(|i| i.pem.as_str()))
        .collect();
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, &chain).unwrap();
    std::fs::write(&key_path, &leaf.key_pem).unwrap();
    CertFiles {
        name: name.to_owned(),
        cert_path,
        key_path,
        cert_pem: chain,
        key_pem: leaf.key_pem.clone(),
        der: leaf.der.clone(),
        fingerprint: leaf.fingerprint(),
        not_after: time::OffsetDateTime::now_utc() + time::Duration::days(30),
    }
}

fn not_allowed(cert: &CertFiles) -> String {
    format!("Certificate with SHA256 {} not allowed", cert.fingerprint)
}

#[test]
fn an_inline_ca_admits_its_clients_through_an_intermediate_and_no_others() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let dir = tempfile::tempdir()?;
    let root = ChainIssuer::root("e2e root", KeyKind::EcdsaP256);
    let issuing = root.intermediate("e2e issuing", KeyKind::Rsa);
    let client = presented(dir.path(), "client", &issuing.leaf("client"), &[&issuing]);
    let direct = presented(dir.path(), "direct", &root.leaf("direct"), &[]);
    let without_intermediate = presented(dir.path(), "bare", &issuing.leaf("bare"), &[]);
    let stranger = presented(
        dir.path(),
        "stranger",
        &ChainIssuer::root("other", KeyKind::EcdsaP256).leaf("stranger"),
        &[],
    );
    let expired = presented(
        dir.path(),
        "expired",
        &root.leaf_with(
            "expired",
            LeafSpec {
                validity: Validity::Expired,
                ..LeafSpec::default()
            },
        ),
        &[],
    );
    let gate = json!({
        "apis": [{"api_id": "ca", "proxy": {"listen_path": "/ca/"}, "use_mutual_tls_auth": true,
                  "client_certificates": [root.pem]}]
    })
    .to_string();
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let envoy = Envoy::start(EnvoyConfig::new(&gate, &pki).default_upstream(&echo, &pki))?;
    let get = |cert: &CertFiles| {
        Client::new(&pki.ca)
            .cert(cert)
            .get(&envoy.https_url("/ca/x"))
            .send()
    };
    for cert in [&client, &direct, &client] {
        let resp = get(cert)?;
        assert_eq!(resp.status, 200, "{}: {}", cert.name, resp.body);
    }
    for cert in [&without_intermediate, &stranger, &expired] {
        assert_denied(&get(cert)?, 403, &not_allowed(cert));
    }
    Ok(())
}

#[test]
fn a_store_ca_revokes_its_clients_when_deleted_and_restores_them_when_uploaded()
-> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let dir = tempfile::tempdir()?;
    let root = ChainIssuer::root("store root", KeyKind::EcdsaP384);
    let client = presented(dir.path(), "client", &root.leaf("client"), &[]);
    let shim = Shim::start()?;
    let admin = shim.admin_client()?;
    let ca_id = admin.add_cert(&root.pem, ORG)?;
    let store: serde_json::Value = serde_json::from_str(&shim.store_json(SYNC_MS, 300))?;
    let gate = json!({
        "org_id": ORG,
        "store": store,
        "apis": [{"api_id": "ca", "proxy": {"listen_path": "/ca/"}, "use_mutual_tls_auth": true,
                  "client_certificates": [ca_id]}]
    })
    .to_string();
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let envoy = Envoy::start(
        EnvoyConfig::new(&gate, &pki)
            .default_upstream(&echo, &pki)
            .shim_port(shim.port()),
    )?;
    let get = || {
        Client::new(&pki.ca)
            .cert(&client)
            .get(&envoy.https_url("/ca/x"))
            .send()
    };
    wait::until("the filter's first sync", Duration::from_secs(10), || {
        Ok(envoy
            .stat(&metrics::envoy_stat(metrics::SYNC_SUCCESS))?
            .filter(|n| *n > 0)
            .map(|_| ()))
    })?;
    assert_eq!(get()?.status, 200);

    let deleted_at = Instant::now();
    admin.delete_cert(&ca_id)?;
    let refused = wait::until(
        "the CA's client to be refused",
        Duration::from_secs(5),
        || {
            let resp = get()?;
            Ok((resp.status != 200).then_some(resp))
        },
    )?;
    let revoked_after = deleted_at.elapsed();
    assert_denied(&refused, 403, &not_allowed(&client));
    assert!(
        revoked_after <= Duration::from_millis(2 * SYNC_MS),
        "revoked {revoked_after:?} after the delete (> 2 × {SYNC_MS} ms)"
    );

    admin.add_cert(&root.pem, ORG)?;
    wait::until(
        "the CA's client to pass again",
        Duration::from_secs(5),
        || Ok((get()?.status == 200).then_some(())),
    )?;
    Ok(())
}
