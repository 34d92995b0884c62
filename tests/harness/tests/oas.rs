//! The real filter `.wasm` with a Tyk OAS API definition in `apis[]` (SPEC §9): it answers
//! exactly as its Classic twin, a refusal names the OAS path, and a typo inside
//! `x-tyk-api-gateway` is logged with the field meant.

use crate::support::*;
use mtls_gate_harness::{Outcome, Refusal, Worker};
use serde_json::{Value, json};

/// Tyk's static-mTLS example (the core's OAS fixtures), as the core's tests read it.
const STATIC_MTLS: &str =
    include_str!("../../../filter/core/src/config/testdata/oas/static-mtls.oas.json");

const HOST: &str = "api.example.test";

/// The example bound to [`HOST`], its allow list replaced by `allowlist`.
fn oas_api(allowlist: Value) -> Value {
    let mut api: Value = serde_json::from_str(STATIC_MTLS).unwrap();
    let server = &mut api["x-tyk-api-gateway"]["server"];
    server["customDomain"]["name"] = json!(HOST);
    server["clientCertificates"]["allowlist"] = allowlist;
    api
}

/// What Tyk's ExtractTo makes of [`oas_api`].
fn classic_twin(allowlist: Value) -> Value {
    json!({"api_id": "apiID-1", "org_id": "default", "name": "static-mtls", "active": true,
        "domain": HOST, "domain_disabled": false, "use_keyless": true,
        "use_mutual_tls_auth": true, "client_certificates": allowlist,
        "proxy": {"listen_path": "/static-mtls/", "strip_listen_path": true,
                  "target_url": "http://httpbin.org/"}})
}

fn gate(api: Value) -> String {
    json!({ "apis": [api] }).to_string()
}

/// The answer in words: `forwarded <api id>`, or `<status> <body>`.
fn answer(out: &Outcome) -> String {
    match out.local_response() {
        Some(reply) => format!("{} {}", reply.status, reply.body_text()),
        None => format!(
            "forwarded {}",
            out.header(headers::API_ID).unwrap_or("(no API)")
        ),
    }
}

fn answers(worker: &mut Worker, allowed: &TestCert, rogue: &TestCert) -> Vec<String> {
    let no_certificate = worker
        .request()
        .tls("TLSv1.3")
        .mtls(false)
        .header(":authority", HOST)
        .header(":path", "/static-mtls/get")
        .send_headers()
        .unwrap();
    vec![
        answer(&mtls_request(
            worker,
            &allowed.fingerprint,
            HOST,
            "/static-mtls/get",
        )),
        answer(&mtls_request(
            worker,
            &rogue.fingerprint,
            HOST,
            "/static-mtls/get",
        )),
        answer(&no_certificate),
        // The custom domain binds the API: another host matches none.
        answer(&mtls_request(
            worker,
            &rogue.fingerprint,
            "other.test",
            "/static-mtls/get",
        )),
    ]
}

#[test]
fn an_oas_static_mtls_api_answers_as_its_classic_twin() {
    let allowed = TestCert::new("allowed");
    let rogue = TestCert::new("rogue");
    let allowlist = json!([allowed.fingerprint]);
    let host = filter();
    let mut oas = host.worker(gate(oas_api(allowlist.clone()))).unwrap();
    let mut classic = host.worker(gate(classic_twin(allowlist))).unwrap();

    let from_oas = answers(&mut oas, &allowed, &rogue);
    assert_eq!(
        from_oas,
        [
            "forwarded apiID-1".to_owned(),
            format!(
                r#"403 {{"error": "Certificate with SHA256 {} not allowed"}}"#,
                rogue.fingerprint
            ),
            r#"403 {"error": "Client TLS certificate is required"}"#.to_owned(),
            "forwarded (no API)".to_owned(),
        ]
    );
    assert_eq!(from_oas, answers(&mut classic, &allowed, &rogue));
    assert!(!oas.logs_contain("unknown field"), "{:?}", oas.logs());
}

#[test]
fn a_bad_oas_allowlist_entry_is_refused_naming_the_oas_path() {
    let refused = filter()
        .try_worker(gate(oas_api(json!(["not-a-certificate"]))))
        .expect_err("a bad allow-list entry refuses the configuration");
    assert_eq!(refused.reason, Refusal::ConfigureReturnedFalse);
    assert!(
        refused.logs_contain(
            "apis[0].x-tyk-api-gateway.server.clientCertificates.allowlist[0]: not a PEM, ID or fingerprint"
        ),
        "{refused}"
    );
}

#[test]
fn a_typo_inside_the_tyk_extension_is_logged_with_the_field_meant() {
    let cert = TestCert::new("c");
    let mut api = oas_api(json!([cert.fingerprint]));
    api["x-tyk-api-gateway"]["server"]["clientCertificates"]["enabeld"] = json!(true);
    let worker = filter().worker(gate(api.clone())).unwrap();
    assert!(
        worker.logs_contain(
            "apis[0].x-tyk-api-gateway.server.clientCertificates.enabeld: unknown field; did you mean `enabled`?"
        ),
        "{:?}",
        worker.logs()
    );
    let strict = json!({"strict": true, "apis": [api]}).to_string();
    let refused = filter()
        .try_worker(strict)
        .expect_err("strict refuses the typo");
    assert!(
        refused.logs_contain("x-tyk-api-gateway.server.clientCertificates.enabeld"),
        "{refused}"
    );
}
