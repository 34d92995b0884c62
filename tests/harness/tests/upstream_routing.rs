//! The real filter `.wasm` under the harness: which Envoy cluster (and so which upstream
//! client certificate) each API's upstream gets (SPEC §6).

use crate::support::*;
use mtls_gate_core::feed::{CertIndexEntry, ChangeSet};
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::upstream::cluster_name;
use mtls_gate_harness::{Status, Worker};
use std::time::Duration;

fn fp(cert: &TestCert) -> Fingerprint {
    Fingerprint::parse_hex(&cert.fingerprint).unwrap()
}

struct Upstreams {
    exact: TestCert,
    wildcard: TestCert,
    default: TestCert,
    global: TestCert,
}

fn upstreams() -> Upstreams {
    Upstreams {
        exact: TestCert::new("exact"),
        wildcard: TestCert::new("wildcard"),
        default: TestCert::new("default"),
        global: TestCert::new("global"),
    }
}

/// APIs whose targets exercise each host rule; certificates are store IDs (no org).
fn gate(u: &Upstreams) -> String {
    let api = |id: &str, target: &str, extra: &str| {
        format!(
            r#"{{"api_id": "{id}", "domain": "{id}.gw.test", "proxy": {{"listen_path": "/", "target_url": "{target}"}},
                 "upstream_certificates": {{"exact.up.test:8443": "{exact}", "*.up.test": "{wild}", "*": "{default}"}} {extra}}}"#,
            exact = u.exact.fingerprint,
            wild = u.wildcard.fingerprint,
            default = u.default.fingerprint,
        )
    };
    format!(
        r#"{{"store": {{"cluster": "shim", "authority": "shim", "token": "t"}},
            "security": {{"certificates": {{"upstream": {{"*": "{global}"}}}}}},
            "apis": [{}, {}, {}, {}, {}]}}"#,
        api("exact", "https://exact.up.test:8443/v1", ""),
        api("wild", "https://api.up.test", ""),
        api("fallback", "https://elsewhere.test", ""),
        api(
            "disabled",
            "https://exact.up.test:8443",
            r#", "upstream_certificates_disabled": true"#
        ),
        api("plain", "http://a.b.up.test", ""),
        global = u.global.fingerprint,
    )
}

fn index(certs: &[(&TestCert, bool)]) -> ChangeSet {
    ChangeSet {
        version: 1,
        full: true,
        certs: certs
            .iter()
            .map(|(c, has_private)| CertIndexEntry {
                id: certificate_id(c.fingerprint.clone()),
                fingerprint: fingerprint_of(c),
                not_after: Some(2_200_000_000),
                has_private: *has_private,
                is_ca: false,
                trust_anchor: None,
            })
            .collect(),
        removed_certs: vec![],
        sessions: vec![],
        removed_sessions: vec![],
        next: None,
    }
}

fn synced_worker(host: &mtls_gate_harness::Host, gate: &str, changes: &ChangeSet) -> Worker {
    let mut worker = host.worker(gate).unwrap();
    host.clock().advance(Duration::from_millis(600));
    worker.tick().unwrap();
    let call = worker.pending_http_calls().pop().expect("feed call");
    worker
        .respond_http_call(call.token, 200, &[], &changes.encode())
        .unwrap();
    worker
}

fn routed(worker: &mut Worker, api: &str) -> String {
    let out = worker
        .request()
        .header(":authority", &format!("{api}.gw.test"))
        .header(":path", "/x")
        .header(headers::ROUTING, "client-picked-cluster")
        .send_headers()
        .unwrap();
    assert_forwarded(&out);
    out.header(headers::ROUTING)
        .expect("routing header")
        .to_owned()
}

#[test]
fn each_api_routes_to_the_cluster_of_the_certificate_its_target_host_selects() {
    let u = upstreams();
    let host = filter();
    let all_with_keys = index(&[
        (&u.exact, true),
        (&u.wildcard, true),
        (&u.default, true),
        (&u.global, true),
    ]);
    let mut worker = synced_worker(&host, &gate(&u), &all_with_keys);
    let cases = [
        ("exact", Some(&u.exact)),      // exact host:port beats *.up.test and *
        ("wild", Some(&u.wildcard)),    // *.up.test, one level deep
        ("fallback", Some(&u.default)), // API map's * beats the global *
        ("disabled", Some(&u.global)),  // API map ignored; the global map applies
        ("plain", Some(&u.default)),    // a.b.up.test is two levels deep: only * matches
    ];
    for (api, cert) in cases {
        let want = cluster_name(api, cert.map(fp).as_ref());
        assert_eq!(routed(&mut worker, api), want, "api {api}");
    }
}

#[test]
fn a_certificate_without_a_private_key_falls_back_to_the_plain_cluster() {
    let u = upstreams();
    let host = filter();
    let no_keys = index(&[
        (&u.exact, false),
        (&u.wildcard, true),
        (&u.default, true),
        (&u.global, true),
    ]);
    let mut worker = synced_worker(&host, &gate(&u), &no_keys);
    assert_eq!(routed(&mut worker, "exact"), cluster_name("exact", None));
    assert_eq!(
        routed(&mut worker, "wild"),
        cluster_name("wild", Some(&fp(&u.wildcard)))
    );
}

#[test]
fn a_certificate_missing_from_the_store_gives_no_client_certificate() {
    let u = upstreams();
    let host = filter();
    let mut worker = synced_worker(&host, &gate(&u), &index(&[]));
    assert_eq!(routed(&mut worker, "exact"), cluster_name("exact", None));
}

#[test]
fn the_client_cannot_choose_the_cluster_even_for_unmatched_requests() {
    let host = filter();
    let mut worker = host
        .worker(r#"{"apis": [{"api_id": "a", "domain": "a.test"}]}"#)
        .unwrap();
    let out = worker
        .request()
        .header(":authority", "elsewhere.test")
        .header(":path", "/")
        .header(headers::ROUTING, "mtls-gate_a_admin")
        .send_headers()
        .unwrap();
    assert_forwarded(&out);
    assert_eq!(
        out.header(headers::ROUTING),
        None,
        "removed, so the default route applies"
    );
}

#[test]
fn envoy_builds_without_clear_route_cache_still_route() {
    let u = upstreams();
    let host = filter();
    let all = index(&[
        (&u.exact, true),
        (&u.wildcard, true),
        (&u.default, true),
        (&u.global, true),
    ]);
    let mut worker = synced_worker(&host, &gate(&u), &all);
    worker.set_foreign_function_status("clear_route_cache", Status::NotFound);
    assert_eq!(
        routed(&mut worker, "exact"),
        cluster_name("exact", Some(&fp(&u.exact)))
    );
    assert!(!worker.has_crashed());
}
