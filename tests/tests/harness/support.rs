//! Shared pieces for the filter's harness tests: certificates made at test time, Envoy-style
//! request builders, and assertions on Tyk's error template.

use mtls_gate_core::session::SessionGrant;
use mtls_gate_harness::host::{Host, Outcome, Request, Worker};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rcgen::{CertificateParams, KeyPair, date_time_ymd};
use sha2::{Digest, Sha256};

/// A client certificate generated for one test. The harness never does a handshake, so only
/// the certificate is kept: Envoy would hand the filter its digest and PEM.
pub struct TestCert {
    pub pem: String,
    pub fingerprint: String,
}

impl TestCert {
    /// Valid from 2020 to 2040: valid at the harness clock's default time (2023).
    pub fn new(cn: &str) -> Self {
        Self::with_validity(cn, (2020, 1, 1), (2040, 1, 1))
    }

    /// Expired in 2021, before the harness clock's default time.
    pub fn expired(cn: &str) -> Self {
        Self::with_validity(cn, (2019, 1, 1), (2021, 1, 1))
    }

    pub fn with_validity(cn: &str, from: (i32, u8, u8), until: (i32, u8, u8)) -> Self {
        let mut params = CertificateParams::new(vec![format!("{cn}.example.test")]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.not_before = date_time_ymd(from.0, from.1, from.2);
        params.not_after = date_time_ymd(until.0, until.1, until.2);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCert {
            fingerprint: hex::encode(Sha256::digest(cert.der())),
            pem: cert.pem(),
        }
    }

    /// The `x-forwarded-client-cert` value Envoy sets under SANITIZE_SET for this cert.
    pub fn xfcc(&self) -> String {
        let cert = utf8_percent_encode(&self.pem, NON_ALPHANUMERIC);
        format!(
            r#"Hash={};Cert="{cert}";Subject="CN=client";URI=;DNS=client.example.test"#,
            self.fingerprint
        )
    }

    /// The PEM as a JSON string value.
    pub fn pem_json(&self) -> String {
        serde_json::to_string(&self.pem).unwrap()
    }
}

pub fn filter() -> Host {
    Host::load_filter().expect("build the filter first: make wasm")
}

/// A TLS request presenting the certificate with `fingerprint`, ready for more headers.
pub fn tls_request<'w>(
    worker: &'w mut Worker,
    fingerprint: &str,
    authority: &str,
    path: &str,
) -> Request<'w> {
    worker
        .request()
        .tls("TLSv1.3")
        .mtls(true)
        .peer_digest(fingerprint)
        .header(":authority", authority)
        .header(":path", path)
        .header(":method", "GET")
}

/// A TLS request with a client certificate to `authority` + `path`, sent.
pub fn mtls_request(
    worker: &mut Worker,
    fingerprint: &str,
    authority: &str,
    path: &str,
) -> Outcome {
    tls_request(worker, fingerprint, authority, path)
        .send_headers()
        .unwrap()
}

/// Asserts a local reply with Tyk's error template and the exact message.
pub fn assert_denied(outcome: &Outcome, status: u32, message: &str) {
    let reply = outcome.local_response().unwrap_or_else(|| {
        panic!(
            "expected {status} {message:?}, but the request went on: {:?}",
            outcome.action()
        )
    });
    assert_eq!(reply.status, status, "body {}", reply.body_text());
    let body: serde_json::Value = serde_json::from_slice(&reply.body).expect("JSON body");
    assert_eq!(body, serde_json::json!({ "error": message }));
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

pub fn assert_forwarded(outcome: &Outcome) {
    assert!(
        outcome.is_forwarded(),
        "expected the request to continue; got {:?} {:?}",
        outcome.action(),
        outcome.local_response().map(|r| (r.status, r.body_text()))
    );
}

/// An active session grant for every API, that never expires.
pub fn grant(alias: &str) -> SessionGrant {
    SessionGrant {
        alias: alias.into(),
        expires: 0,
        is_inactive: false,
        api_ids: vec![],
    }
}
