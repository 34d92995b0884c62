//! Requests through the gate on mock workers: the cache, the lookup on a miss, its negative
//! cache and budget, and a snapshot landing while a lookup is out.
//! Test-only: included under `#[cfg(test)]`, so unwraps here cannot trap a VM.

use super::*;
use crate::feed::{ChangeSet, LookupAnswer, SessionEntry, lookup_path};
use crate::gate_root::GateRoot;
use crate::headers;
use crate::host::HostError;
use crate::host_facts::property;
use crate::ids::{CertificateId, SessionKey};
use crate::metrics;
use crate::mock_host::MockHost;
use crate::sync;
use crate::test_support::{STORE, cert_entry, fp, grant, store_link};

const NO_SESSION: (u32, &str) = (
    401,
    r#"{"error": "Access to this API has been disallowed"}"#,
);
const UNAVAILABLE: (u32, &str) = (503, r#"{"error": "Certificate store unavailable"}"#);

fn gate(host: &MockHost) -> GateRoot {
    host.set_plugin_configuration(&format!(
        r#"{{{STORE}, "apis": [{{"api_id": "dyn", "org_id": "org",
            "auth_configs": {{"authToken": {{"use_certificate": true}}}},
            "proxy": {{"listen_path": "/"}}}}]}}"#
    ));
    let mut root = GateRoot::default();
    assert!(root.configure(host), "{:?}", host.logs());
    root
}

fn id(name: &str) -> String {
    CertificateId::new("org", &fp(name)).into_string()
}

/// The key of certificate `name`'s session, as the shim writes it.
fn key(name: &str) -> SessionKey {
    SessionKey::new("org", &fp(name))
}

/// The store's snapshot `version`: certificate `leaf`, with its session or without.
fn snapshot(version: u64, with_session: bool) -> ChangeSet {
    ChangeSet {
        version,
        full: true,
        certs: vec![cert_entry("org", "leaf", false)],
        sessions: match with_session {
            true => vec![SessionEntry {
                key: key("leaf"),
                grant: grant(),
            }],
            false => vec![],
        },
        ..ChangeSet::default()
    }
}

fn synced(host: &MockHost, changes: &ChangeSet) {
    sync::apply(host, &store_link().namespace, changes, host.now());
}

/// A request presenting certificate `cert`.
fn send(host: &MockHost, root: &GateRoot, cert: &str) -> (GateRequest, Flow) {
    host.start_request();
    host.put_request_header(":authority", "api.test");
    host.put_request_header(":path", "/orders");
    host.put_property(property::PEER_DIGEST, fp(cert).to_hex().as_bytes());
    let mut request = root.new_request();
    let flow = request.on_request_headers(host);
    (request, flow)
}

fn answer_lookup(host: &MockHost, request: &mut GateRequest, answer: &LookupAnswer) {
    let token = request.pending_lookup().unwrap();
    let response = host.answer_call(token, Some("200"), &answer.encode());
    request.on_call_response(host, &response);
}

fn replies(host: &MockHost) -> Vec<(u32, String)> {
    host.local_responses()
}

fn reply(status_and_body: (u32, &str)) -> Vec<(u32, String)> {
    vec![(status_and_body.0, status_and_body.1.to_owned())]
}

#[test]
fn a_cached_session_admits_at_once_reading_one_property() {
    let host = MockHost::new();
    let root = gate(&host);
    synced(&host, &snapshot(1, true));
    host.put_request_header(headers::SESSION_KEY, "forged");
    let (request, flow) = send(&host, &root, "leaf");
    assert_eq!(flow, Flow::Continue);
    assert_eq!(request.pending_lookup(), None);
    assert_eq!(host.callouts(), []);
    assert_eq!(host.header(headers::SESSION_KEY), Some(id("leaf")));
    assert_eq!(host.header(headers::KEY_ALIAS).as_deref(), Some("alice"));
    assert_eq!(host.header(headers::API_ID).as_deref(), Some("dyn"));
    assert_eq!(host.counter(metrics::ALLOWED), Some(1));
    assert_eq!(
        host.journal_count("property"),
        1,
        "the digest, nothing else"
    );
    assert_eq!(host.journal_count("send_local_response"), 0);
}

#[test]
fn a_client_cannot_forge_the_identity_headers() {
    let host = MockHost::new();
    let root = gate(&host);
    synced(&host, &snapshot(1, false));
    host.start_request();
    for name in headers::GATE_OWNED {
        host.put_request_header(name, "forged");
    }
    host.put_request_header(":authority", "api.test");
    host.put_request_header(":path", "/orders");
    let mut request = root.new_request();
    assert_eq!(request.on_request_headers(&host), Flow::Pause);
    for name in headers::GATE_OWNED {
        assert_eq!(host.header(name), None, "{name}");
    }
    assert_eq!(
        replies(&host),
        reply((401, r#"{"error": "Client certificate required"}"#))
    );
    host.put_request_trailer(headers::ROUTING, "forged");
    assert_eq!(request.on_request_trailers(&host), Flow::Continue);
    assert_eq!(host.request_trailers(), []);
}

#[test]
fn a_miss_pauses_for_one_lookup_whose_answer_admits_and_serves_every_worker() {
    let host = MockHost::new();
    let root = gate(&host);
    synced(&host, &snapshot(1, false));
    let (mut request, flow) = send(&host, &root, "leaf");
    assert_eq!(flow, Flow::Pause);
    assert_eq!(replies(&host), []);
    let calls = host.callouts();
    let [call] = calls.as_slice() else {
        panic!("{calls:?}")
    };
    assert_eq!(
        call.header(":path"),
        Some(lookup_path(&id("leaf")).as_str())
    );
    assert_eq!(host.counter(metrics::LOOKUP_CALLOUTS), Some(1));

    answer_lookup(
        &host,
        &mut request,
        &LookupAnswer {
            key: key("leaf"),
            session: Some(grant()),
            cert: None,
        },
    );
    assert_eq!(host.resumed(), 1);
    assert_eq!(replies(&host), []);
    assert_eq!(host.header(headers::SESSION_KEY), Some(id("leaf")));
    assert_eq!(host.counter(metrics::ALLOWED), Some(1));

    let other = host.sibling();
    let other_root = gate(&other);
    let (_, flow) = send(&other, &other_root, "leaf");
    assert_eq!(flow, Flow::Continue, "cached in shared data");
    assert_eq!(other.callouts(), []);
}

#[test]
fn no_session_is_401_and_believed_for_a_second_on_this_worker_only() {
    let host = MockHost::new();
    let root = gate(&host);
    synced(&host, &snapshot(1, false));
    let (mut request, _) = send(&host, &root, "leaf");
    answer_lookup(
        &host,
        &mut request,
        &LookupAnswer {
            key: key("leaf"),
            session: None,
            cert: None,
        },
    );
    assert_eq!(replies(&host), reply(NO_SESSION));
    assert_eq!(host.resumed(), 0);
    assert_eq!(host.counter(&metrics::denied("no_session")), Some(1));

    host.advance_ms(999);
    let (_, flow) = send(&host, &root, "leaf");
    assert_eq!(flow, Flow::Pause);
    assert_eq!(replies(&host), reply(NO_SESSION));
    assert_eq!(host.callouts().len(), 1, "answered from the negative cache");

    let other = host.sibling();
    let other_root = gate(&other);
    send(&other, &other_root, "leaf");
    assert_eq!(other.callouts().len(), 1, "another worker asks for itself");

    host.advance_ms(1);
    send(&host, &root, "leaf");
    assert_eq!(host.callouts().len(), 2, "a second later, ask again");
}

#[test]
fn an_unanswered_lookup_fails_closed() {
    let cases: [(&str, Option<&str>, Vec<u8>); 4] = [
        ("failed call", None, vec![]),
        ("refused", Some("403"), vec![]),
        ("garbled", Some("200"), b"{".to_vec()),
        (
            "another key",
            Some("200"),
            LookupAnswer {
                key: key("other"),
                session: Some(grant()),
                cert: None,
            }
            .encode(),
        ),
    ];
    for (name, status, body) in cases {
        let host = MockHost::new();
        let root = gate(&host);
        synced(&host, &snapshot(1, false));
        let (mut request, _) = send(&host, &root, "leaf");
        let token = request.pending_lookup().unwrap();
        let keys = host.shared_keys();
        let response = host.answer_call(token, status, &body);
        request.on_call_response(&host, &response);
        assert_eq!(replies(&host), reply(UNAVAILABLE), "{name}");
        assert_eq!(host.resumed(), 0, "{name}");
        assert_eq!(host.shared_keys(), keys, "{name}: nothing cached");
        assert_eq!(host.counter(&metrics::denied("store_unavailable")), Some(1));
        assert_eq!(host.counter(metrics::STORE_STALE), Some(1), "{name}");
    }
}

#[test]
fn an_answer_for_another_requests_call_is_ignored() {
    let host = MockHost::new();
    let root = gate(&host);
    synced(&host, &snapshot(1, false));
    let (mut request, _) = send(&host, &root, "leaf");
    let token = request.pending_lookup().unwrap();
    let response = host.answer_call(token + 100, Some("200"), b"{}");
    request.on_call_response(&host, &response);
    assert_eq!(request.pending_lookup(), Some(token), "still waiting");
    assert_eq!((replies(&host), host.resumed()), (vec![], 0));
}

#[test]
fn past_the_budget_a_miss_is_503_without_a_callout() {
    let host = MockHost::new();
    let root = gate(&host); // two lookups in flight per worker
    synced(&host, &snapshot(1, false));
    let (first, _) = send(&host, &root, "one");
    let (_second, _) = send(&host, &root, "two");
    let (third, flow) = send(&host, &root, "three");
    assert_eq!(flow, Flow::Pause);
    assert_eq!(third.pending_lookup(), None);
    assert_eq!(replies(&host), reply(UNAVAILABLE));
    assert_eq!(host.callouts().len(), 2);
    assert_eq!(host.counter(metrics::LOOKUP_SHED), Some(1));
    assert_eq!(host.counter(metrics::STORE_STALE), Some(1));

    // A request that goes away gives its place back (Envoy cancels its callout).
    drop(first);
    let (fourth, _) = send(&host, &root, "four");
    assert!(fourth.pending_lookup().is_some());
    assert_eq!(host.callouts().len(), 3);
}

#[test]
fn a_lookup_that_cannot_start_is_503() {
    let host = MockHost::new();
    let root = gate(&host);
    synced(&host, &snapshot(1, false));
    host.fail_dispatch(Some(HostError::BadArgument));
    let (request, flow) = send(&host, &root, "leaf");
    assert_eq!(flow, Flow::Pause);
    assert_eq!(request.pending_lookup(), None);
    assert_eq!(replies(&host), reply(UNAVAILABLE));
    assert_eq!(host.counter(metrics::LOOKUP_CALLOUTS), Some(0));
}

#[test]
fn a_snapshot_during_a_lookup_is_not_undone_by_its_answer() {
    let host = MockHost::new();
    let mut root = gate(&host);
    let feed = |root: &mut GateRoot, changes: &ChangeSet| {
        root.on_tick(&host);
        let call = host.callouts().pop().unwrap();
        let response = host.answer_call(call.token, Some("200"), &changes.encode());
        root.on_call_response(&host, &response);
    };
    feed(&mut root, &snapshot(1, false));
    let (mut request, _) = send(&host, &root, "leaf");
    assert!(request.pending_lookup().is_some());

    // While the lookup is out, the store deletes the session and the feed answers with a
    // snapshot (generation 2), which says so only by leaving it out.
    host.advance_ms(1_000);
    feed(&mut root, &snapshot(2, false));
    answer_lookup(
        &host,
        &mut request,
        &LookupAnswer {
            key: key("leaf"),
            session: Some(grant()),
            cert: Some(cert_entry("org", "leaf", false)),
        },
    );
    assert_eq!(host.resumed(), 1, "this request had its answer");
    let ns = store_link().namespace;
    assert_eq!(host.shared_value(&ns.session(2, &id("leaf"))), None);

    let lookups = host.callouts().len();
    let (next, flow) = send(&host, &root, "leaf");
    assert_eq!(flow, Flow::Pause);
    assert!(
        next.pending_lookup().is_some(),
        "the next request asks again"
    );
    assert_eq!(host.callouts().len(), lookups + 1);
}

#[test]
fn a_store_silent_past_max_stale_is_503_without_a_lookup() {
    let host = MockHost::new();
    let root = gate(&host); // max_stale_s: 30
    synced(&host, &snapshot(1, true));
    host.advance_ms(30_001);
    let (_, flow) = send(&host, &root, "leaf");
    assert_eq!(flow, Flow::Pause);
    assert_eq!(replies(&host), reply(UNAVAILABLE));
    assert_eq!(host.callouts(), []);
}

/// SPEC §6b: Envoy's answer to a handshake that failed the pins (measured in
/// `envoy-config/ENVOY-FACTS.md`).
const PIN_FAILURE: &[u8] = b"upstream_reset_before_response_started{remote_connection_failure|TLS_error:|268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify_cert_failed:_cert_hash_and_spki:TLS_error_end}";

/// Two keyless APIs on `https://127.0.0.1:8443`: `/pinned/` pins its target, `/open/` pins
/// nothing (its own pins are disabled and no global pin matches).
#[test]
fn with_the_headers_listed_a_clean_request_is_read_once_and_nothing_is_removed() {
    let host = MockHost::new();
    host.list_request_headers();
    let root = gate(&host);
    synced(&host, &snapshot(1, true));
    let (_, flow) = send(&host, &root, "leaf");
    assert_eq!(flow, Flow::Continue);
    assert_eq!(host.header(headers::KEY_ALIAS).as_deref(), Some("alice"));
    assert_eq!(host.journal_count("request_header_pairs"), 1);
    assert_eq!(
        host.journal_count("request_header"),
        0,
        "no header is read by name"
    );
    assert_eq!(
        host.journal_count("remove_request_header"),
        0,
        "nothing absent is removed"
    );
}

#[test]
fn with_the_headers_listed_forged_gate_headers_are_overwritten_or_removed_after_a_lookup() {
    let host = MockHost::new();
    host.list_request_headers();
    let root = gate(&host);
    synced(&host, &snapshot(1, false));
    host.start_request();
    for name in headers::GATE_OWNED {
        host.put_request_header(name, "forged");
    }
    host.put_request_header(":authority", "api.test");
    host.put_request_header(":path", "/orders");
    host.put_property(property::PEER_DIGEST, fp("leaf").to_hex().as_bytes());
    let mut request = root.new_request();
    assert_eq!(request.on_request_headers(&host), Flow::Pause);
    let answer = LookupAnswer {
        key: key("leaf"),
        session: Some(grant()),
        cert: None,
    };
    answer_lookup(&host, &mut request, &answer);
    assert_eq!(host.resumed(), 1);
    assert_eq!(host.header(headers::SESSION_KEY), Some(id("leaf")));
    assert_eq!(host.header(headers::KEY_ALIAS).as_deref(), Some("alice"));
    assert_eq!(host.header(headers::API_ID).as_deref(), Some("dyn"));
    assert_eq!(host.header(headers::CERT_SHA256), Some(fp("leaf").to_hex()));
    assert_eq!(host.header(headers::ROUTING), None, "no target: no route");
    let removed = format!("remove_request_header {}", headers::ROUTING);
    assert!(host.journal().contains(&removed), "{:?}", host.journal());
    assert_eq!(
        host.journal_count("remove_request_header"),
        1,
        "only the forged header the gate does not write is removed"
    );
}

fn pinned_gate(host: &MockHost) -> GateRoot {
    let key = fp("upstream key").to_hex();
    host.set_plugin_configuration(&format!(
        r#"{{"security": {{"pinned_public_keys": {{"other.test": "{key}"}}}},
            "apis": [
            {{"api_id": "pinned", "proxy": {{"listen_path": "/pinned/", "target_url": "https://127.0.0.1:8443"}},
              "pinned_public_keys": {{"127.0.0.1": "{key}"}}}},
            {{"api_id": "open", "proxy": {{"listen_path": "/open/", "target_url": "https://127.0.0.1:8443"}},
              "pinned_public_keys": {{"*": "{key}"}}, "certificate_pinning_disabled": true}}]}}"#
    ));
    let mut root = GateRoot::default();
    assert!(root.configure(host), "{:?}", host.logs());
    root
}

/// A request to `path`, admitted, then Envoy's response `status` with `details`.
fn respond(host: &MockHost, root: &GateRoot, path: &str, status: &str, details: &[u8]) -> Flow {
    host.start_request();
    host.put_request_header(":authority", "gate.test");
    host.put_request_header(":path", path);
    let mut request = root.new_request();
    assert_eq!(request.on_request_headers(host), Flow::Continue);
    host.start_request();
    host.put_response_header(":status", status);
    host.put_property(property::RESPONSE_CODE_DETAILS, details);
    request.on_response_headers(host)
}

#[test]
fn a_pinned_upstreams_failed_handshake_answers_tyks_500() {
    let host = MockHost::new();
    let root = pinned_gate(&host);
    assert_eq!(
        respond(&host, &root, "/pinned/x", "503", PIN_FAILURE),
        Flow::Pause
    );
    assert_eq!(
        replies(&host),
        reply((
            500,
            r#"{"error": "https://127.0.0.1 certificate public key pinning error. Public keys do not match."}"#
        ))
    );
    assert_eq!(host.journal_count("property"), 1, "the details, once");
}

#[test]
fn other_answers_of_a_pinned_upstream_pass_and_success_reads_no_property() {
    let host = MockHost::new();
    let root = pinned_gate(&host);
    assert_eq!(
        respond(&host, &root, "/pinned/x", "200", b"via_upstream"),
        Flow::Continue
    );
    assert_eq!(host.journal_count("property"), 0);
    assert_eq!(
        respond(&host, &root, "/pinned/x", "503", b"via_upstream"),
        Flow::Continue,
        "the upstream's own 503"
    );
    let refused = b"upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_Connection_refused}";
    assert_eq!(
        respond(&host, &root, "/pinned/x", "503", refused),
        Flow::Continue
    );
    assert_eq!(replies(&host), []);
}

#[test]
fn an_unpinned_api_never_looks_at_its_responses() {
    let host = MockHost::new();
    let root = pinned_gate(&host);
    assert_eq!(
        respond(&host, &root, "/open/x", "503", PIN_FAILURE),
        Flow::Continue
    );
    assert_eq!(host.journal(), Vec::<String>::new(), "no host call at all");
    assert_eq!(replies(&host), []);
}
