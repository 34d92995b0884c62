//! Shared pieces for the filter's harness tests: certificates made at test time (the test
//! kit's [`TestCert`]), Envoy-style request builders, and assertions on Tyk's error template.

use mtls_gate_core::denial::Denial;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::ids::{CertificateId, SessionKey};
use mtls_gate_core::session::SessionGrant;
/// The filter's header and counter names, for every test file (`use crate::support::*`).
pub use mtls_gate_core::{headers, metrics};
use mtls_gate_harness::{Host, Outcome, Request, Worker};
pub use mtls_gate_testkit::TestCert;

/// A test certificate's fingerprint as the feed carries it (its 64 hex read back).
pub fn fingerprint_of(cert: &TestCert) -> Fingerprint {
    Fingerprint::parse_wire_hex(&cert.fingerprint).expect("a test fingerprint is 64 hex")
}

/// A store ID spelled out by the test (`org` + hex, not `CertificateId::new`), so the
/// tests check that the filter builds the same string.
pub fn certificate_id(id: impl Into<String>) -> CertificateId {
    CertificateId::verbatim(id)
}

/// A session key spelled out by the test, as [`certificate_id`].
pub fn session_key(key: impl Into<String>) -> SessionKey {
    SessionKey::verbatim(key)
}

pub fn filter() -> Host {
    Host::load_filter().expect("build the filter first: make wasm")
}

/// The filter's counter of `denial`: `mtls_gate.denied.<label>`.
pub fn denied_metric(denial: &Denial) -> String {
    metrics::denied(denial.metric_label())
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
