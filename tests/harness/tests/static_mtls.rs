//! The real filter `.wasm` under the harness: static mTLS (SPEC §3), API matching (§5),
//! header hygiene (§7). One test per row or rule.

use crate::support::*;
use mtls_gate_core::denial::Denial;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_harness::{Action, Level};

fn static_gate(allowed: &TestCert, global: &TestCert) -> String {
    format!(
        r#"{{"security": {{"certificates": {{"apis": ["{global}"]}}}},
            "apis": [
              {{"api_id": "secure", "domain": "api.example.test", "use_mutual_tls_auth": true,
                "client_certificates": ["{allowed}"],
                "proxy": {{"listen_path": "/secure/", "target_url": "https://backend.test"}}}},
              {{"api_id": "open", "domain": "api.example.test",
                "proxy": {{"listen_path": "/open/", "target_url": "http://backend.test"}}}}
            ]}}"#,
        global = global.fingerprint,
        allowed = allowed.fingerprint,
    )
}

struct Fixture {
    allowed: TestCert,
    global: TestCert,
    rogue: TestCert,
}

fn fixture() -> Fixture {
    Fixture {
        allowed: TestCert::new("allowed"),
        global: TestCert::new("global"),
        rogue: TestCert::new("rogue"),
    }
}

#[test]
fn plain_http_is_refused_with_tls_not_enabled() {
    let f = fixture();
    let host = filter();
    let mut worker = host.worker(static_gate(&f.allowed, &f.global)).unwrap();
    let out = worker
        .request()
        .header(":authority", "api.example.test")
        .header(":path", "/secure/x")
        .header(":method", "GET")
        .send_headers()
        .unwrap();
    assert_denied(&out, 403, "TLS not enabled");
    assert_eq!(out.action(), Action::Pause);
}

#[test]
fn tls_without_a_client_certificate_is_refused() {
    let f = fixture();
    let host = filter();
    let mut worker = host.worker(static_gate(&f.allowed, &f.global)).unwrap();
    let out = worker
        .request()
        .tls("TLSv1.3")
        .mtls(false)
        .header(":authority", "api.example.test")
        .header(":path", "/secure/x")
        .send_headers()
        .unwrap();
    assert_denied(&out, 403, "Client TLS certificate is required");
}

#[test]
fn allowed_certificate_passes_reading_the_digest_once() {
    let f = fixture();
    let host = filter();
    let mut worker = host.worker(static_gate(&f.allowed, &f.global)).unwrap();
    let out = mtls_request(
        &mut worker,
        &f.allowed.fingerprint,
        "api.example.test",
        "/secure/x",
    );
    assert_forwarded(&out);
    assert_eq!(
        out.property_reads("connection.sha256_peer_certificate_digest"),
        1
    );
    assert_eq!(
        out.property_reads("connection.tls_version"),
        0,
        "the allow path reads only the digest"
    );
    assert_eq!(out.header(headers::API_ID), Some("secure"));
    assert_eq!(
        out.header(headers::CERT_SHA256),
        Some(f.allowed.fingerprint.as_str())
    );
}

#[test]
fn certificate_in_the_global_list_passes() {
    let f = fixture();
    let host = filter();
    let mut worker = host.worker(static_gate(&f.allowed, &f.global)).unwrap();
    assert_forwarded(&mtls_request(
        &mut worker,
        &f.global.fingerprint,
        "api.example.test",
        "/secure/x",
    ));
}

#[test]
fn certificate_not_in_any_list_is_refused_with_its_fingerprint() {
    let f = fixture();
    let host = filter();
    let mut worker = host.worker(static_gate(&f.allowed, &f.global)).unwrap();
    let out = mtls_request(
        &mut worker,
        &f.rogue.fingerprint,
        "api.example.test",
        "/secure/x",
    );
    assert_denied(
        &out,
        403,
        &format!(
            "Certificate with SHA256 {} not allowed",
            f.rogue.fingerprint
        ),
    );
    assert_eq!(
        host.metric(&denied_metric(&Denial::CertificateNotAllowed(
            Fingerprint::parse_hex(&f.rogue.fingerprint).unwrap()
        ))),
        Some(1)
    );
    assert_eq!(host.metric(metrics::ALLOWED), Some(0));
}

#[test]
fn expired_certificate_pinned_as_inline_pem_is_refused() {
    let expired = TestCert::expired("old");
    let host = filter();
    let gate = format!(
        r#"{{"apis": [{{"api_id": "a", "use_mutual_tls_auth": true, "client_certificates": [{}]}}]}}"#,
        expired.pem_json()
    );
    let mut worker = host.worker(gate).unwrap();
    assert_denied(
        &mtls_request(&mut worker, &expired.fingerprint, "h.test", "/"),
        403,
        "Certificate has expired",
    );
}

#[test]
fn inline_pem_collapsed_onto_one_line_is_accepted() {
    let cert = TestCert::new("oneline");
    let one_line = cert.pem.trim_end().replace('\n', " ");
    let gate = format!(
        r#"{{"apis": [{{"api_id": "a", "use_mutual_tls_auth": true, "client_certificates": [{}]}}]}}"#,
        serde_json::to_string(&one_line).unwrap()
    );
    let host = filter();
    let mut worker = host.worker(gate).unwrap();
    assert_forwarded(&mtls_request(&mut worker, &cert.fingerprint, "h.test", "/"));
}

#[test]
fn expired_certificate_pinned_by_fingerprint_is_refused_using_envoys_xfcc() {
    let expired = TestCert::expired("old");
    let host = filter();
    let gate = format!(
        r#"{{"apis": [{{"api_id": "a", "use_mutual_tls_auth": true, "client_certificates": ["{}"]}}]}}"#,
        expired.fingerprint
    );
    let mut worker = host.worker(gate).unwrap();
    let out = tls_request(&mut worker, &expired.fingerprint, "h.test", "/")
        .header(headers::XFCC, &expired.xfcc())
        .send_headers()
        .unwrap();
    assert_denied(&out, 403, "Certificate has expired");
}

#[test]
fn forged_xfcc_cannot_make_an_expired_certificate_look_valid_or_reach_upstream() {
    let presented = TestCert::expired("presented");
    let other_valid = TestCert::new("other");
    let gate = format!(
        r#"{{"apis": [{{"api_id": "a", "use_mutual_tls_auth": true, "client_certificates": ["{}", "{}"]}}]}}"#,
        presented.fingerprint, other_valid.fingerprint
    );
    let host = filter();
    let mut worker = host.worker(gate).unwrap();
    // XFCC carries a different, valid certificate: it does not hash to the connection's digest.
    let forged = other_valid
        .xfcc()
        .replace(&other_valid.fingerprint, &presented.fingerprint);
    let out = tls_request(&mut worker, &other_valid.fingerprint, "h.test", "/")
        .header(headers::XFCC, &forged)
        .send_headers()
        .unwrap();
    assert_forwarded(&out);
    assert_eq!(
        out.header(headers::XFCC),
        None,
        "XFCC is removed before the upstream"
    );
}

#[test]
fn client_supplied_gate_headers_are_removed_or_overwritten() {
    let f = fixture();
    let host = filter();
    let mut worker = host.worker(static_gate(&f.allowed, &f.global)).unwrap();
    let out = tls_request(
        &mut worker,
        &f.allowed.fingerprint,
        "api.example.test",
        "/open/x",
    )
    .header(headers::ROUTING, "attacker-cluster")
    .header(headers::KEY_ALIAS, "admin")
    .header(headers::CERT_SHA256, "00")
    .send_headers()
    .unwrap();
    assert_forwarded(&out);
    let routed = out.header(headers::ROUTING).expect("routing header set");
    assert!(routed.starts_with("mtls-gate_open_"), "{routed}");
    assert_eq!(out.header(headers::KEY_ALIAS), None);
    assert_eq!(
        out.header(headers::CERT_SHA256),
        None,
        "the open API needs no certificate"
    );
    // Under ABI 0.2.1 Envoy clears the route cache on the routing header's write, so the
    // route re-reads it (envoy-config/ENVOY-FACTS.md "Routing"); no second clear is asked.
    assert!(
        out.route_cache_clears() >= 1,
        "the route re-reads the routing header"
    );
    assert!(
        out.foreign_calls().is_empty(),
        "no clear_route_cache call on top of the header write"
    );
}

#[test]
fn two_apis_on_one_domain_only_the_mtls_one_needs_a_certificate() {
    let f = fixture();
    let host = filter();
    let mut worker = host.worker(static_gate(&f.allowed, &f.global)).unwrap();
    let open = worker
        .request()
        .header(":authority", "api.example.test")
        .header(":path", "/open/anything")
        .send_headers()
        .unwrap();
    assert_forwarded(&open);
    let secure = worker
        .request()
        .header(":authority", "api.example.test")
        .header(":path", "/secure/anything")
        .send_headers()
        .unwrap();
    assert_denied(&secure, 403, "TLS not enabled");
}

#[test]
fn the_longest_listen_path_wins() {
    let cert = TestCert::new("c");
    let gate = format!(
        r#"{{"apis": [
            {{"api_id": "outer", "proxy": {{"listen_path": "/v1/"}}}},
            {{"api_id": "inner", "use_mutual_tls_auth": true, "client_certificates": ["{}"],
              "proxy": {{"listen_path": "/v1/admin/"}}}}]}}"#,
        cert.fingerprint
    );
    let host = filter();
    let mut worker = host.worker(gate).unwrap();
    let inner = worker
        .request()
        .header(":authority", "h")
        .header(":path", "/v1/admin/users")
        .send_headers()
        .unwrap();
    assert_denied(&inner, 403, "TLS not enabled");
    let outer = worker
        .request()
        .header(":authority", "h")
        .header(":path", "/v1/users")
        .send_headers()
        .unwrap();
    assert_forwarded(&outer);
    assert_eq!(outer.header(headers::API_ID), Some("outer"));
}

#[test]
fn sni_that_differs_from_the_host_of_an_mtls_api_is_refused() {
    let f = fixture();
    let host = filter();
    let mut worker = host.worker(static_gate(&f.allowed, &f.global)).unwrap();
    let out = worker
        .request()
        .tls("TLSv1.3")
        .peer_digest(&f.allowed.fingerprint)
        .sni("public.example.test")
        .header(":authority", "api.example.test")
        .header(":path", "/secure/x")
        .send_headers()
        .unwrap();
    assert_denied(&out, 403, "Domain does not match SNI");
}

#[test]
fn unmatched_requests_pass_untouched_unless_default_is_deny() {
    let host = filter();
    let mut allow = host
        .worker(r#"{"apis": [{"api_id": "a", "domain": "a.test"}]}"#)
        .unwrap();
    let out = allow
        .request()
        .header(":authority", "elsewhere.test")
        .header(":path", "/")
        .send_headers()
        .unwrap();
    assert_forwarded(&out);
    assert_eq!(out.header(headers::ROUTING), None);
    let mut deny = host
        .worker(r#"{"default": "deny", "apis": [{"api_id": "a", "domain": "a.test"}]}"#)
        .unwrap();
    let out = deny
        .request()
        .header(":authority", "elsewhere.test")
        .header(":path", "/")
        .send_headers()
        .unwrap();
    assert_denied(&out, 403, "No API matches this request");
}

#[test]
fn strip_auth_data_removes_the_authorization_header() {
    let cert = TestCert::new("c");
    let gate = format!(
        r#"{{"apis": [{{"api_id": "a", "use_mutual_tls_auth": true, "strip_auth_data": true,
            "client_certificates": ["{}"]}}]}}"#,
        cert.fingerprint
    );
    let host = filter();
    let mut worker = host.worker(gate).unwrap();
    let out = tls_request(&mut worker, &cert.fingerprint, "h", "/")
        .header("authorization", "Bearer secret")
        .send_headers()
        .unwrap();
    assert_forwarded(&out);
    assert_eq!(out.header("authorization"), None);
}

#[test]
fn bad_config_is_refused_and_the_log_names_the_field() {
    let host = filter();
    let refused = host
        .try_worker(r#"{"apis": [{"api_id": "a"}, {"api_id": "b"}, {"api_id": "c", "client_certificates": ["nope"]}]}"#)
        .expect_err("configuration must be refused");
    assert!(
        refused.logs_contain("apis[2].client_certificates[0]: not a PEM, ID or fingerprint"),
        "{refused:?}"
    );
    for bad in ["", "{", "[]", r#"{"apis": "x"}"#, r#"{"default": 1}"#] {
        assert!(host.try_worker(bad).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn a_full_tyk_api_definition_loads() {
    let sample = include_str!("../../../filter/core/tests/fixtures/app_sample.json");
    let host = filter();
    let mut worker = host.worker(format!(r#"{{"apis": [{sample}]}}"#)).unwrap();
    let out = worker
        .request()
        .header(":authority", "h")
        .header(":path", "/tyk-api-test/get")
        .send_headers()
        .unwrap();
    assert_forwarded(&out);
    assert_eq!(out.header(headers::API_ID), Some("1"));
    assert!(
        worker
            .logs()
            .iter()
            .any(|(level, line)| *level == Level::Info && line.contains("configured 1 API"))
    );
}

#[test]
fn hostile_property_and_header_values_never_trap() {
    let f = fixture();
    let host = filter();
    let mut worker = host.worker(static_gate(&f.allowed, &f.global)).unwrap();
    let upper_hex = b"G".repeat(64);
    let huge = vec![b'a'; 10_000];
    let cases: [&[u8]; 5] = [b"", b"zz", &[0xff, 0xfe, 0x00], &upper_hex, &huge];
    for digest in cases {
        let out = worker
            .request()
            .tls("TLSv1.3")
            .property("connection.sha256_peer_certificate_digest", digest)
            .sni("\u{0}\u{ffff}")
            .header(":authority", "api.example.test")
            .header(":path", "/secure/x")
            .header(headers::XFCC, "Cert=\"%ZZ%\";;,,\"")
            .send_headers()
            .unwrap();
        assert!(
            out.local_response().is_some(),
            "an unreadable digest is never allowed"
        );
    }
    assert!(!worker.has_crashed());
}

/// Envoy compiles the module in every VM (one per worker and the main thread). The budget
/// was 1 MiB until session 8, whose per-request trims (postcard for shared data, the headers
/// read in place, FxHash for the configuration's maps) took it to 1.002 MiB for about a
/// quarter less wasm work on every request.
#[test]
fn the_release_filter_is_under_its_size_budget() {
    let path = mtls_gate_harness::Host::filter_wasm_path();
    let size = std::fs::metadata(&path)
        .expect("build the filter first: make wasm")
        .len();
    assert!(
        size < 1_075_000,
        "{} is {size} bytes; Envoy loads it into every worker",
        path.display()
    );
}

#[test]
fn sni_is_read_only_when_some_mtls_api_has_a_domain() {
    let cert = TestCert::new("c");
    let host = filter();
    let without_domains = format!(
        r#"{{"apis": [{{"api_id": "a", "use_mutual_tls_auth": true, "client_certificates": ["{}"]}}]}}"#,
        cert.fingerprint
    );
    let mut worker = host.worker(without_domains).unwrap();
    let out = tls_request(&mut worker, &cert.fingerprint, "h.test", "/")
        .sni("h.test")
        .send_headers()
        .unwrap();
    assert_forwarded(&out);
    assert_eq!(out.property_reads("connection.requested_server_name"), 0);
    let f = fixture();
    let mut worker = host.worker(static_gate(&f.allowed, &f.global)).unwrap();
    let out = tls_request(
        &mut worker,
        &f.allowed.fingerprint,
        "api.example.test",
        "/secure/x",
    )
    .sni("api.example.test")
    .send_headers()
    .unwrap();
    assert_forwarded(&out);
    assert_eq!(out.property_reads("connection.requested_server_name"), 1);
    assert_eq!(
        out.property_reads("connection.sha256_peer_certificate_digest"),
        1
    );
}

#[test]
fn an_unnormalized_path_is_refused_where_envoy_did_not_normalize_it() {
    // render's HCM normalises paths before any filter; an Envoy that does not must not let
    // `/open/../secure/x` ride the open API's prefix to an upstream that resolves `..`.
    let f = fixture();
    let host = filter();
    let mut worker = host.worker(static_gate(&f.allowed, &f.global)).unwrap();
    for path in [
        "/open/../secure/x",
        "/open/%2E%2E/secure/x",
        "/open/..%2Fsecure/x",
        "//secure/x",
    ] {
        let out = mtls_request(&mut worker, &f.rogue.fingerprint, "api.example.test", path);
        assert_denied(&out, 400, "Path is not normalized");
        assert!(out.http_calls().is_empty());
    }
    assert_eq!(
        host.metric(&denied_metric(&Denial::PathNotNormalized)),
        Some(4)
    );
    assert_forwarded(&mtls_request(
        &mut worker,
        &f.rogue.fingerprint,
        "api.example.test",
        "/open/x?next=/../y",
    ));
}

/// Issue 11: a typo in a security field must never pass unnoticed. Warned (the definition
/// still loads, as Tyk's would) and, with `"strict": true`, refused.
#[test]
fn a_typo_in_a_security_field_is_warned_about_and_refused_when_strict() {
    let typo = r#"{"apis": [{"api_id": "a", "use_mutal_tls_auth": true,
                            "proxy": {"listen_path": "/"}}]}"#;
    let host = filter();
    let worker = host.worker(typo).unwrap();
    assert!(
        worker
            .logs()
            .iter()
            .any(|(level, line)| *level == Level::Warn
                && line.contains(
                    "apis[0].use_mutal_tls_auth: unknown field; did you mean `use_mutual_tls_auth`?"
                ))
    );

    let strict = typo.replacen('{', r#"{"strict": true, "#, 1);
    let refused = host
        .try_worker(strict)
        .expect_err("a strict configuration with a typo must be refused");
    assert!(refused.logs_contain(
        "apis[0].use_mutal_tls_auth: unknown field; did you mean `use_mutual_tls_auth`? (\"strict\": true)"
    ));
}
