//! Issue 11: every way the README lets a certificate be named in an allow list works through
//! real Envoy: a fingerprint in lower case, upper case and openssl's colon form, without a
//! store (self-contained) and with one (then the ID of a certificate uploaded with no org,
//! Tyk's rule), an org-prefixed store ID with upper-case hex, inline PEM, and PEM collapsed
//! onto one line.

use mtls_gate_core::metrics;
use mtls_gate_e2e::*;
use mtls_gate_testkit::*;
use serde_json::{Value, json};
use std::time::Duration;

/// `AB:CD:…`, as `openssl x509 -noout -fingerprint -sha256` prints it.
fn openssl_form(hex: &str) -> String {
    hex.to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// One API per form, each listing `client` that way.
fn apis(forms: &[(&str, String)]) -> Vec<Value> {
    forms
        .iter()
        .map(|(name, entry)| {
            json!({"api_id": name, "proxy": {"listen_path": format!("/{name}/")},
                   "use_mutual_tls_auth": true, "client_certificates": [entry]})
        })
        .collect()
}

fn assert_each_form_admits(envoy: &Envoy, pki: &TestPki, forms: &[(&str, String)]) {
    for (name, _) in forms {
        let resp = Client::new(&pki.ca)
            .cert(&pki.client)
            .get(&envoy.https_url(&format!("/{name}/x")))
            .send()
            .unwrap();
        assert_eq!(resp.status, 200, "{name}: {}", resp.body);
        let rogue = Client::new(&pki.ca)
            .cert(&pki.rogue)
            .get(&envoy.https_url(&format!("/{name}/x")))
            .send()
            .unwrap();
        assert_eq!(rogue.status, 403, "{name}: {}", rogue.body);
    }
}

#[test]
fn every_documented_form_of_a_certificate_reference_admits_it() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let fp = pki.client.fingerprint.clone();
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;

    // Without a store: fingerprints are self-contained.
    let self_contained = [
        ("lower", fp.clone()),
        ("upper", fp.to_uppercase()),
        ("colons", openssl_form(&fp)),
        ("pem", pki.client.cert_pem.clone()),
        (
            "pem-one-line",
            pki.client.cert_pem.trim().replace('\n', " "),
        ),
    ];
    let gate = json!({"apis": apis(&self_contained)}).to_string();
    let envoy = Envoy::start(EnvoyConfig::new(&gate, &pki).default_upstream(&echo, &pki))?;
    assert_each_form_admits(&envoy, &pki, &self_contained);
    drop(envoy);

    // With a store: the bare forms name the certificate uploaded with no org; an
    // org-prefixed ID may use upper-case hex.
    let shim = Shim::start()?;
    let admin = shim.admin_client()?;
    admin.add_cert(&pki.client.cert_pem, "")?;
    admin.add_cert(&pki.client.cert_pem, "acme")?;
    let in_store = [
        ("lower", fp.clone()),
        ("upper", fp.to_uppercase()),
        ("colons", openssl_form(&fp)),
        ("org-upper", format!("acme{}", fp.to_uppercase())),
    ];
    let store: Value = serde_json::from_str(&shim.store_json(200, 300))?;
    let gate = json!({"store": store, "apis": apis(&in_store)}).to_string();
    let envoy = Envoy::start(
        EnvoyConfig::new(&gate, &pki)
            .default_upstream(&echo, &pki)
            .shim_port(shim.port()),
    )?;
    wait::until("the filter's first sync", Duration::from_secs(20), || {
        Ok(envoy
            .stat(&metrics::envoy_stat(metrics::SYNC_SUCCESS))?
            .filter(|n| *n > 0)
            .map(|_| ()))
    })?;
    assert_each_form_admits(&envoy, &pki, &in_store);
    Ok(())
}
