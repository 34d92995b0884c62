//! Decision tables for SPEC §3 (static lists), §4 (certificate auth) and §5 (matching).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mtls_gate_core::config::GateConfig;
use mtls_gate_core::decision::{
    PeerCertificate, RequestFacts, RequestView, SessionLookup, StoreView, Verdict, decide,
    upstream_cluster,
};
use mtls_gate_core::denial::Denial;
use mtls_gate_core::feed::CertIndexEntry;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::session::SessionGrant;
use mtls_gate_core::upstream::cluster_name;
use std::collections::HashMap;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const NOW: i64 = 1_800_000_000;

fn fp(name: &str) -> Fingerprint {
    Fingerprint::of_der(name.as_bytes())
}

#[derive(Default)]
struct FakeFacts {
    peer: Option<PeerCertificate>,
    sni: Option<String>,
    xfcc_not_after: Option<i64>,
    headers: HashMap<String, String>,
    peer_reads: usize,
}

impl FakeFacts {
    fn with_cert(name: &str) -> Self {
        FakeFacts {
            peer: Some(PeerCertificate::Presented(fp(name))),
            ..Default::default()
        }
    }
    fn without(peer: PeerCertificate) -> Self {
        FakeFacts {
            peer: Some(peer),
            ..Default::default()
        }
    }
}

impl RequestFacts for FakeFacts {
    fn peer_certificate(&mut self) -> PeerCertificate {
        self.peer_reads += 1;
        self.peer.unwrap_or(PeerCertificate::NotTls)
    }
    fn sni(&mut self) -> Option<String> {
        self.sni.clone()
    }
    fn peer_not_after(&mut self, _fingerprint: &Fingerprint) -> Option<i64> {
        self.xfcc_not_after
    }
    fn request_header(&mut self, name: &str) -> Option<String> {
        self.headers.get(name).cloned()
    }
}

#[derive(Default)]
struct FakeStore {
    certs: HashMap<String, CertIndexEntry>,
    sessions: HashMap<String, SessionLookup>,
    stale: bool,
}

impl FakeStore {
    fn with_cert(mut self, org: &str, name: &str, not_after: i64) -> Self {
        let id = format!("{org}{}", fp(name));
        let entry = CertIndexEntry {
            id: id.clone(),
            fingerprint: fp(name).to_hex(),
            not_after,
            has_private: true,
            is_ca: false,
        };
        self.certs.insert(id, entry);
        self
    }
    fn with_session(mut self, org: &str, name: &str, grant: SessionGrant) -> Self {
        self.sessions
            .insert(format!("{org}{}", fp(name)), SessionLookup::Found(grant));
        self
    }
}

impl StoreView for FakeStore {
    fn certificate(&self, id: &str) -> Option<CertIndexEntry> {
        self.certs.get(id).cloned()
    }
    fn session(&self, key: &str) -> SessionLookup {
        self.sessions
            .get(key)
            .cloned()
            .unwrap_or(SessionLookup::Absent)
    }
    fn is_stale(&self, _now: i64) -> bool {
        self.stale
    }
}

fn grant() -> SessionGrant {
    SessionGrant {
        alias: "alice".into(),
        expires: 0,
        is_inactive: false,
        api_ids: vec![],
    }
}

fn config(json: &str) -> GateConfig {
    GateConfig::from_json(json.as_bytes()).unwrap()
}

const STORE: &str = r#""store": {"cluster": "shim", "authority": "shim", "token": "t"}"#;

fn static_config() -> GateConfig {
    config(&format!(
        r#"{{"security": {{"certificates": {{"apis": ["{global}"]}}}},
            "apis": [{{"api_id": "mtls", "domain": "mtls.test", "use_mutual_tls_auth": true,
                       "client_certificates": ["{allowed}"], "proxy": {{"listen_path": "/"}}}},
                     {{"api_id": "open", "domain": "open.test", "proxy": {{"listen_path": "/"}}}}]}}"#,
        global = fp("global"),
        allowed = fp("allowed"),
    ))
}

fn run(
    config: &GateConfig,
    authority: &str,
    facts: &mut FakeFacts,
    store: &FakeStore,
) -> Result<Option<String>, Denial> {
    let request = RequestView {
        authority,
        path: "/x",
    };
    match decide(config, &request, facts, store, NOW) {
        Verdict::Allow(admission) => Ok(admission.api.map(|a| a.api_id.clone())),
        Verdict::Deny(denial) => Err(denial),
        Verdict::LookupSession { key } => panic!("unexpected lookup of {key}"),
    }
}

#[test]
fn static_allow_list_rows_of_spec_section_3() {
    let config = static_config();
    let store = FakeStore::default();
    let cases: Vec<(FakeFacts, Result<Option<String>, Denial>)> = vec![
        (
            FakeFacts::without(PeerCertificate::NotTls),
            Err(Denial::TlsNotEnabled),
        ),
        (
            FakeFacts::without(PeerCertificate::NoCertificate),
            Err(Denial::ClientTlsCertificateRequired),
        ),
        (FakeFacts::with_cert("allowed"), Ok(Some("mtls".into()))),
        (FakeFacts::with_cert("global"), Ok(Some("mtls".into()))),
        (
            FakeFacts::with_cert("rogue"),
            Err(Denial::CertificateNotAllowed(fp("rogue"))),
        ),
        (
            FakeFacts {
                xfcc_not_after: Some(NOW - 1),
                ..FakeFacts::with_cert("allowed")
            },
            Err(Denial::CertificateExpired),
        ),
        (
            FakeFacts {
                xfcc_not_after: Some(NOW + 1),
                ..FakeFacts::with_cert("allowed")
            },
            Ok(Some("mtls".into())),
        ),
    ];
    for (mut facts, want) in cases {
        assert_eq!(
            run(&config, "mtls.test", &mut facts, &store),
            want,
            "peer {:?}",
            facts.peer
        );
    }
}

#[test]
fn allow_path_reads_the_peer_certificate_once() {
    let config = static_config();
    let mut facts = FakeFacts::with_cert("allowed");
    run(&config, "mtls.test", &mut facts, &FakeStore::default()).unwrap();
    assert_eq!(
        facts.peer_reads, 2,
        "static check + the admission's fingerprint; the filter caches the property"
    );
}

#[test]
fn an_api_without_mtls_on_the_same_gateway_needs_no_certificate() {
    let config = static_config();
    let mut facts = FakeFacts::without(PeerCertificate::NotTls);
    assert_eq!(
        run(&config, "open.test", &mut facts, &FakeStore::default()),
        Ok(Some("open".into()))
    );
    assert_eq!(
        facts.peer_reads, 0,
        "no TLS property is read for an API that does not need it"
    );
}

#[test]
fn store_ids_pass_only_while_indexed_and_not_expired() {
    let config = config(&format!(
        r#"{{{STORE}, "apis": [{{"api_id": "a", "use_mutual_tls_auth": true, "client_certificates": ["org1{}"]}}]}}"#,
        fp("c")
    ));
    let indexed = FakeStore::default().with_cert("org1", "c", NOW + 100);
    let expired = FakeStore::default().with_cert("org1", "c", NOW - 100);
    let deleted = FakeStore::default();
    assert_eq!(
        run(&config, "h", &mut FakeFacts::with_cert("c"), &indexed),
        Ok(Some("a".into()))
    );
    assert_eq!(
        run(&config, "h", &mut FakeFacts::with_cert("c"), &expired),
        Err(Denial::CertificateExpired)
    );
    assert_eq!(
        run(&config, "h", &mut FakeFacts::with_cert("c"), &deleted),
        Err(Denial::CertificateNotAllowed(fp("c")))
    );
}

fn cert_auth_config(extra: &str) -> GateConfig {
    config(&format!(
        r#"{{{STORE}, {extra} "apis": [{{"api_id": "dyn", "org_id": "o", "auth_configs": {{"authToken": {{"use_certificate": true}}}}}}]}}"#
    ))
}

#[test]
fn certificate_auth_rows_of_spec_section_4() {
    let config = cert_auth_config("");
    let session = |g: SessionGrant| FakeStore::default().with_session("o", "c", g);
    type Case = (
        &'static str,
        FakeFacts,
        FakeStore,
        Result<Option<String>, Denial>,
    );
    let cases: Vec<Case> = vec![
        (
            "valid session",
            FakeFacts::with_cert("c"),
            session(grant()),
            Ok(Some("dyn".into())),
        ),
        (
            "no certificate",
            FakeFacts::without(PeerCertificate::NoCertificate),
            session(grant()),
            Err(Denial::ClientCertificateRequired),
        ),
        (
            "plain http",
            FakeFacts::without(PeerCertificate::NotTls),
            session(grant()),
            Err(Denial::ClientCertificateRequired),
        ),
        (
            "no session",
            FakeFacts::with_cert("c"),
            FakeStore::default(),
            Err(Denial::NoSession),
        ),
        (
            "expired cert by store",
            FakeFacts::with_cert("c"),
            session(grant()).with_cert("o", "c", NOW - 1),
            Err(Denial::CertificateExpired),
        ),
        (
            "expired cert by xfcc",
            FakeFacts {
                xfcc_not_after: Some(NOW - 1),
                ..FakeFacts::with_cert("c")
            },
            session(grant()),
            Err(Denial::CertificateExpired),
        ),
        (
            "inactive",
            FakeFacts::with_cert("c"),
            session(SessionGrant {
                is_inactive: true,
                ..grant()
            }),
            Err(Denial::KeyInactive),
        ),
        (
            "key expired",
            FakeFacts::with_cert("c"),
            session(SessionGrant {
                expires: NOW - 1,
                ..grant()
            }),
            Err(Denial::KeyExpired),
        ),
        (
            "key not yet expired",
            FakeFacts::with_cert("c"),
            session(SessionGrant {
                expires: NOW + 60,
                ..grant()
            }),
            Ok(Some("dyn".into())),
        ),
        (
            "access rights exclude",
            FakeFacts::with_cert("c"),
            session(SessionGrant {
                api_ids: vec!["other".into()],
                ..grant()
            }),
            Err(Denial::ApiNotInAccessRights),
        ),
        (
            "access rights include",
            FakeFacts::with_cert("c"),
            session(SessionGrant {
                api_ids: vec!["dyn".into()],
                ..grant()
            }),
            Ok(Some("dyn".into())),
        ),
        (
            "stale store",
            FakeFacts::with_cert("c"),
            FakeStore {
                stale: true,
                ..session(grant())
            },
            Err(Denial::StoreUnavailable),
        ),
    ];
    for (name, mut facts, store, want) in cases {
        assert_eq!(run(&config, "h", &mut facts, &store), want, "{name}");
    }
}

#[test]
fn statuses_and_messages_are_tyks() {
    let table = [
        (Denial::TlsNotEnabled, 403, "TLS not enabled"),
        (
            Denial::ClientTlsCertificateRequired,
            403,
            "Client TLS certificate is required",
        ),
        (Denial::CertificateExpired, 403, "Certificate has expired"),
        (
            Denial::ClientCertificateRequired,
            401,
            "Client certificate required",
        ),
        (
            Denial::NoSession,
            401,
            "Access to this API has been disallowed",
        ),
        (Denial::KeyInactive, 403, "Key is inactive, please renew"),
        (Denial::KeyExpired, 401, "Key has expired, please renew"),
        (
            Denial::ApiNotInAccessRights,
            403,
            "Access to this API has been disallowed",
        ),
        (
            Denial::StoreUnavailable,
            503,
            "Certificate store unavailable",
        ),
        (
            Denial::DomainDoesNotMatchSni,
            403,
            "Domain does not match SNI",
        ),
    ];
    for (denial, status, message) in table {
        assert_eq!(
            (denial.status(), denial.message().as_str()),
            (status, message)
        );
        let body: serde_json::Value = serde_json::from_str(&denial.body()).unwrap();
        assert_eq!(body["error"], message);
    }
    let not_allowed = Denial::CertificateNotAllowed(fp("x"));
    assert_eq!(
        not_allowed.message(),
        format!("Certificate with SHA256 {} not allowed", fp("x"))
    );
}

#[test]
fn unknown_session_asks_for_one_lookup_when_enabled() {
    let config = cert_auth_config("");
    let store = FakeStore::default();
    let mut store_unknown = store;
    store_unknown
        .sessions
        .insert(format!("o{}", fp("c")), SessionLookup::Unknown);
    let request = RequestView {
        authority: "h",
        path: "/",
    };
    match decide(
        &config,
        &request,
        &mut FakeFacts::with_cert("c"),
        &store_unknown,
        NOW,
    ) {
        Verdict::LookupSession { key } => assert_eq!(key, format!("o{}", fp("c"))),
        other => panic!("expected a lookup, got {other:?}"),
    }
    let no_lookup = config_with_lookup_off();
    assert_eq!(
        run(
            &no_lookup,
            "h",
            &mut FakeFacts::with_cert("c"),
            &store_unknown
        ),
        Err(Denial::NoSession)
    );
}

fn config_with_lookup_off() -> GateConfig {
    config(
        r#"{"store": {"cluster": "shim", "authority": "shim", "token": "t", "lookup_on_miss": false},
            "apis": [{"api_id": "dyn", "org_id": "o", "auth_configs": {"authToken": {"use_certificate": true}}}]}"#,
    )
}

#[test]
fn tokens_are_ignored_unless_the_legacy_mode_is_on() {
    let token_key = format!("o{}", fp("other"));
    let store = FakeStore::default()
        .with_session("o", "c", grant())
        .with_session(
            "o",
            "other",
            SessionGrant {
                is_inactive: true,
                ..grant()
            },
        );
    let with_token = || {
        let mut facts = FakeFacts::with_cert("c");
        facts
            .headers
            .insert("authorization".into(), format!("Bearer {token_key}"));
        facts
    };
    // Default: the token plays no part; the certificate's session decides.
    assert_eq!(
        run(&cert_auth_config(""), "h", &mut with_token(), &store),
        Ok(Some("dyn".into()))
    );
    // Legacy: the token's session is used (and here it is inactive).
    let legacy = cert_auth_config(r#""security": {"allow_unsafe_dynamic_mtls_token": true},"#);
    assert_eq!(
        run(&legacy, "h", &mut with_token(), &store),
        Err(Denial::KeyInactive)
    );
    // Legacy still needs a certificate that resolves to a session.
    let mut token_only = FakeFacts::without(PeerCertificate::NotTls);
    token_only
        .headers
        .insert("authorization".into(), token_key.clone());
    assert_eq!(
        run(&legacy, "h", &mut token_only, &store),
        Err(Denial::ClientCertificateRequired)
    );
    let mut unknown_cert = with_token();
    unknown_cert.peer = Some(PeerCertificate::Presented(fp("stranger")));
    assert_eq!(
        run(&legacy, "h", &mut unknown_cert, &store),
        Err(Denial::NoSession)
    );
}

#[test]
fn static_and_certificate_auth_must_both_pass() {
    let config = config(&format!(
        r#"{{{STORE}, "apis": [{{"api_id": "both", "org_id": "o", "use_mutual_tls_auth": true,
            "client_certificates": ["o{listed}", "o{unsessioned}"],
            "auth_configs": {{"authToken": {{"use_certificate": true}}}}}}]}}"#,
        listed = fp("listed"),
        unsessioned = fp("unsessioned"),
    ));
    let store = FakeStore::default()
        .with_cert("o", "listed", NOW + 100)
        .with_cert("o", "unsessioned", NOW + 100)
        .with_session("o", "listed", grant())
        .with_session("o", "unlisted", grant());
    assert_eq!(
        run(&config, "h", &mut FakeFacts::with_cert("listed"), &store),
        Ok(Some("both".into()))
    );
    assert_eq!(
        run(
            &config,
            "h",
            &mut FakeFacts::with_cert("unsessioned"),
            &store
        ),
        Err(Denial::NoSession)
    );
    assert_eq!(
        run(&config, "h", &mut FakeFacts::with_cert("unlisted"), &store),
        Err(Denial::CertificateNotAllowed(fp("unlisted")))
    );
}

#[test]
fn sni_must_match_host_when_either_names_an_mtls_api() {
    let config = static_config();
    let store = FakeStore::default();
    let with_sni = |sni: &str| FakeFacts {
        sni: Some(sni.into()),
        ..FakeFacts::with_cert("allowed")
    };
    assert_eq!(
        run(&config, "mtls.test", &mut with_sni("open.test"), &store),
        Err(Denial::DomainDoesNotMatchSni)
    );
    assert_eq!(
        run(&config, "open.test", &mut with_sni("mtls.test"), &store),
        Err(Denial::DomainDoesNotMatchSni)
    );
    assert_eq!(
        run(&config, "MTLS.test:443", &mut with_sni("mtls.test"), &store),
        Ok(Some("mtls".into()))
    );
    assert_eq!(
        run(&config, "open.test", &mut with_sni("other.test"), &store),
        Ok(Some("open".into()))
    );
    assert_eq!(
        run(
            &config,
            "mtls.test",
            &mut FakeFacts::with_cert("allowed"),
            &store
        ),
        Ok(Some("mtls".into()))
    );
}

#[test]
fn unmatched_requests_follow_the_default() {
    let allow = static_config();
    let deny = config(r#"{"default": "deny", "apis": [{"api_id": "a", "domain": "a.test"}]}"#);
    let store = FakeStore::default();
    assert_eq!(
        run(&allow, "nowhere.test", &mut FakeFacts::default(), &store),
        Ok(None)
    );
    assert_eq!(
        run(&deny, "nowhere.test", &mut FakeFacts::default(), &store),
        Err(Denial::NoMatchingApi)
    );
}

#[test]
fn upstream_cluster_needs_a_private_key_in_the_store() {
    let config = config(&format!(
        r#"{{{STORE}, "apis": [{{"api_id": "a", "proxy": {{"target_url": "https://up.test:8443"}},
            "upstream_certificates": {{"*.test:8443": "{with_key}", "other.test": "{without}"}}}}]}}"#,
        with_key = fp("k"),
        without = fp("nk"),
    ));
    let api = &config.apis[0];
    let mut store = FakeStore::default().with_cert("", "k", NOW + 100);
    assert_eq!(
        upstream_cluster(&config, api, &store),
        Some(cluster_name("a", Some(&fp("k"))))
    );
    store.certs.values_mut().for_each(|e| e.has_private = false);
    assert_eq!(
        upstream_cluster(&config, api, &store),
        Some(cluster_name("a", None))
    );
}

fn decide_path(config: &GateConfig, path: &str) -> Result<Option<String>, Denial> {
    let request = RequestView {
        authority: "api.test",
        path,
    };
    let mut facts = FakeFacts::with_cert("allowed");
    match decide(config, &request, &mut facts, &FakeStore::default(), NOW) {
        Verdict::Allow(admission) => Ok(admission.api.map(|a| a.api_id.clone())),
        Verdict::Deny(denial) => Err(denial),
        Verdict::LookupSession { key } => panic!("unexpected lookup of {key}"),
    }
}

#[test]
fn a_path_that_could_dodge_a_listen_path_is_refused_when_an_api_needs_a_certificate() {
    let guarded = config(&format!(
        r#"{{"apis": [{{"api_id": "secure", "use_mutual_tls_auth": true, "client_certificates": ["{allowed}"],
                        "proxy": {{"listen_path": "/secure/"}}}},
                      {{"api_id": "open", "proxy": {{"listen_path": "/open/"}}}}]}}"#,
        allowed = fp("allowed"),
    ));
    assert_eq!(decide_path(&guarded, "/open/x"), Ok(Some("open".into())));
    assert_eq!(
        decide_path(&guarded, "/secure/x"),
        Ok(Some("secure".into()))
    );
    for dodge in [
        "/open/../secure/x",
        "/open/%2e%2e/secure/x",
        "/open/..%2fsecure/x",
        "//secure/x",
    ] {
        assert_eq!(
            decide_path(&guarded, dodge),
            Err(Denial::PathNotNormalized),
            "{dodge}"
        );
    }
    assert_eq!(Denial::PathNotNormalized.status(), 400);

    // With no API that needs a certificate there is nothing to dodge: Envoy's path stands.
    let open_only = config(r#"{"apis": [{"api_id": "open", "proxy": {"listen_path": "/open/"}}]}"#);
    assert_eq!(
        decide_path(&open_only, "/open/../x"),
        Ok(Some("open".into()))
    );
}
