//! Decision tables for SPEC §3 (static lists), §4 (certificate auth) and §5 (matching).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mtls_gate_core::client_trust::ClientTrust;
use mtls_gate_core::config::GateConfig;
use mtls_gate_core::decision::{
    PeerCertificate, RequestFacts, RequestView, SessionLookup, StoreView, Verdict, decide,
    upstream_cluster,
};
use mtls_gate_core::denial::Denial;
use mtls_gate_core::feed::CertIndexEntry;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::ids::CertificateId;
use mtls_gate_core::session::SessionGrant;
use mtls_gate_core::upstream::cluster_name;
use std::collections::HashMap;

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
    fn sni(&mut self) -> Option<&str> {
        self.sni.as_deref()
    }
    fn peer_not_after(&mut self, _fingerprint: &Fingerprint) -> Option<i64> {
        self.xfcc_not_after
    }
    fn request_header(&mut self, name: &str) -> Option<String> {
        self.headers.get(name).cloned()
    }
    fn chain_trusted(
        &mut self,
        _fingerprint: &Fingerprint,
        _trust: &ClientTrust,
        _store: &dyn StoreView,
        _now: i64,
    ) -> bool {
        false
    }
}

#[derive(Default)]
struct FakeStore {
    certs: HashMap<String, CertIndexEntry>,
    sessions: HashMap<String, SessionLookup>,
    stale: bool,
}

impl FakeStore {
    fn with_cert(mut self, org: &str, name: &str, not_after: Option<i64>) -> Self {
        // Spelled out here rather than with `CertificateId::new`, so the tables check that
        // the decision builds the ID the store uses.
        let id = format!("{org}{}", fp(name));
        let entry = CertIndexEntry {
            id: CertificateId::verbatim(id.clone()),
            fingerprint: fp(name),
            not_after,
            has_private: true,
            is_ca: false,
            trust_anchor: None,
        };
        self.certs.insert(id, entry);
        self
    }
    /// A session and, as the store keeps them together, its certificate (unless one was
    /// already given).
    fn with_session(mut self, org: &str, name: &str, grant: SessionGrant) -> Self {
        if !self.certs.contains_key(&format!("{org}{}", fp(name))) {
            self = self.with_cert(org, name, None);
        }
        self.sessions
            .insert(format!("{org}{}", fp(name)), SessionLookup::Found(grant));
        self
    }
    /// The certificate deleted from the store, its sessions kept (SPEC §2).
    fn without_cert(mut self, org: &str, name: &str) -> Self {
        self.certs.remove(&format!("{org}{}", fp(name)));
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
    fn version(&self) -> u64 {
        0
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
    let indexed = FakeStore::default().with_cert("org1", "c", Some(NOW + 100));
    let expired = FakeStore::default().with_cert("org1", "c", Some(NOW - 100));
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
            session(grant()).with_cert("o", "c", Some(NOW - 1)),
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
            "certificate deleted, key kept: 403 until it is back",
            FakeFacts::with_cert("c"),
            session(grant()).without_cert("o", "c"),
            Err(Denial::CertificateNotInStore),
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

/// Deviation (audit): in legacy mode another session's token counts only next to a
/// certificate whose own session is valid for the API.
#[test]
fn legacy_tokens_need_the_certificates_own_session_to_be_valid_for_the_api() {
    let legacy = cert_auth_config(r#""security": {"allow_unsafe_dynamic_mtls_token": true},"#);
    let valid_token = format!("o{}", fp("valid"));
    let with_token = |cert: &str| {
        let mut facts = FakeFacts::with_cert(cert);
        facts
            .headers
            .insert("authorization".into(), valid_token.clone());
        facts
    };
    let store = FakeStore::default()
        .with_session("o", "valid", grant())
        .with_session(
            "o",
            "inactive",
            SessionGrant {
                is_inactive: true,
                ..grant()
            },
        )
        .with_session(
            "o",
            "elsewhere",
            SessionGrant {
                api_ids: vec!["other-api".into()],
                ..grant()
            },
        )
        .with_session(
            "o",
            "lapsed",
            SessionGrant {
                expires: NOW - 1,
                ..grant()
            },
        )
        .with_session("o", "orphan", grant())
        .without_cert("o", "orphan");
    let cases = [
        ("inactive", Err(Denial::KeyInactive)),
        ("elsewhere", Err(Denial::ApiNotInAccessRights)),
        ("lapsed", Err(Denial::KeyExpired)),
        ("orphan", Err(Denial::CertificateNotInStore)),
        ("valid", Ok(Some("dyn".into()))),
    ];
    for (cert, want) in cases {
        assert_eq!(
            run(&legacy, "h", &mut with_token(cert), &store),
            want,
            "{cert}"
        );
    }
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
        .with_cert("o", "listed", Some(NOW + 100))
        .with_cert("o", "unsessioned", Some(NOW + 100))
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
    let mut store = FakeStore::default().with_cert("", "k", Some(NOW + 100));
    assert_eq!(
        upstream_cluster(api, &store),
        Some(cluster_name("a", Some(&fp("k"))).as_str())
    );
    store.certs.values_mut().for_each(|e| e.has_private = false);
    assert_eq!(
        upstream_cluster(api, &store),
        Some(cluster_name("a", None).as_str())
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

    // Audit: percent-encoded ordinary characters and `;` parameters are what the upstream
    // decodes and drops, so they select the API the upstream serves.
    for encoded in [
        "/%73ecure/x",
        "/%73%65%63%75%72%65/x",
        "/secure;jsessionid=1/x",
        "/secure%3bx/x",
        "/secure/x;v=1",
    ] {
        assert_eq!(
            decide_path(&guarded, encoded),
            Ok(Some("secure".into())),
            "{encoded}"
        );
    }
    for dodge in ["/open/..;/secure/x", "/open/%2E%2E/secure/x", "/open/%2F/x"] {
        assert_eq!(
            decide_path(&guarded, dodge),
            Err(Denial::PathNotNormalized),
            "{dodge}"
        );
    }

    // With no API that needs a certificate there is nothing to dodge: Envoy's path stands.
    let open_only = config(r#"{"apis": [{"api_id": "open", "proxy": {"listen_path": "/open/"}}]}"#);
    assert_eq!(
        decide_path(&open_only, "/open/../x"),
        Ok(Some("open".into()))
    );
}

/// Audit: with an empty domain, `/%61nysecure/x` reached the mTLS API's upstream unchecked.
#[test]
fn encoded_paths_reach_the_certificate_check_of_the_api_they_decode_to() {
    let config = config(&format!(
        r#"{{"apis": [{{"api_id": "anysecure", "use_mutual_tls_auth": true,
                        "client_certificates": ["{allowed}"], "proxy": {{"listen_path": "/anysecure/"}}}}]}}"#,
        allowed = fp("allowed"),
    ));
    let request = RequestView {
        authority: "any.test",
        path: "/%61nysecure/x",
    };
    let mut stranger = FakeFacts::with_cert("stranger");
    match decide(&config, &request, &mut stranger, &FakeStore::default(), NOW) {
        Verdict::Deny(denial) => assert_eq!(denial, Denial::CertificateNotAllowed(fp("stranger"))),
        other => panic!("the encoded path must reach the allow list, got {other:?}"),
    }
}

fn mtls_api(domain_fields: &str) -> GateConfig {
    config(&format!(
        r#"{{"apis": [{{"api_id": "secure", {domain_fields} "use_mutual_tls_auth": true,
                        "client_certificates": ["{allowed}"], "proxy": {{"listen_path": "/"}}}},
                      {{"api_id": "open", "domain": "open.test", "proxy": {{"listen_path": "/"}}}}]}}"#,
        allowed = fp("allowed"),
    ))
}

/// Audit: `domain_disabled: true` was ignored, so the API stayed bound to its domain and the
/// same path on another host passed with no certificate. Tyk: the API listens on every host.
#[test]
fn a_disabled_domain_puts_the_api_on_every_host() {
    let config = mtls_api(r#""domain": "secure.test", "domain_disabled": true,"#);
    for host in ["secure.test", "elsewhere.test", "127.0.0.1:8443"] {
        assert_eq!(
            run(
                &config,
                host,
                &mut FakeFacts::with_cert("stranger"),
                &FakeStore::default()
            ),
            Err(Denial::CertificateNotAllowed(fp("stranger"))),
            "{host}"
        );
    }
    assert_eq!(
        run(
            &config,
            "elsewhere.test",
            &mut FakeFacts::with_cert("allowed"),
            &FakeStore::default()
        ),
        Ok(Some("secure".into()))
    );
}

/// Audit: a Tyk host template was accepted and never matched, so its requests passed.
#[test]
fn host_templates_bind_their_api_and_its_sni_check() {
    let config = mtls_api(r#""domain": "{tenant:[a-z]+}.secure.test","#);
    let store = FakeStore::default();
    assert_eq!(
        run(
            &config,
            "acme.secure.test",
            &mut FakeFacts::with_cert("stranger"),
            &store
        ),
        Err(Denial::CertificateNotAllowed(fp("stranger")))
    );
    assert_eq!(
        run(
            &config,
            "acme.secure.test",
            &mut FakeFacts::with_cert("allowed"),
            &store
        ),
        Ok(Some("secure".into()))
    );
    // Not covered by the template: not this API.
    assert_eq!(
        run(
            &config,
            "ac1.secure.test",
            &mut FakeFacts::with_cert("stranger"),
            &store
        ),
        Ok(None)
    );
    // The SNI check knows the template too.
    let mut fronted = FakeFacts {
        sni: Some("open.test".into()),
        ..FakeFacts::with_cert("allowed")
    };
    assert_eq!(
        run(&config, "acme.secure.test", &mut fronted, &store),
        Err(Denial::DomainDoesNotMatchSni)
    );
}

/// Audit: a `{var}` segment in `listen_path` was accepted and never matched.
#[test]
fn listen_path_templates_match_as_tyk() {
    let config = config(&format!(
        r#"{{"apis": [{{"api_id": "orders", "use_mutual_tls_auth": true, "client_certificates": ["{allowed}"],
                        "proxy": {{"listen_path": "/api/{{version}}/orders/"}}}}]}}"#,
        allowed = fp("allowed"),
    ));
    assert_eq!(
        decide_path_with(&config, "/api/v2/orders/7", "stranger"),
        Err(Denial::CertificateNotAllowed(fp("stranger")))
    );
    assert_eq!(
        decide_path_with(&config, "/api/%76%32/orders/7", "stranger"),
        Err(Denial::CertificateNotAllowed(fp("stranger")))
    );
    assert_eq!(
        decide_path_with(&config, "/api/v2/orders/7", "allowed"),
        Ok(Some("orders".into()))
    );
    assert_eq!(
        decide_path_with(&config, "/api/v2/users", "stranger"),
        Ok(None)
    );
}

fn decide_path_with(config: &GateConfig, path: &str, cert: &str) -> Result<Option<String>, Denial> {
    let request = RequestView {
        authority: "api.test",
        path,
    };
    match decide(
        config,
        &request,
        &mut FakeFacts::with_cert(cert),
        &FakeStore::default(),
        NOW,
    ) {
        Verdict::Allow(admission) => Ok(admission.api.map(|a| a.api_id.clone())),
        Verdict::Deny(denial) => Err(denial),
        Verdict::LookupSession { key } => panic!("unexpected lookup of {key}"),
    }
}

/// Audit: settings that can never match are refused at configure time, naming the field.
#[test]
fn api_settings_that_could_never_match_are_refused() {
    for (api, path) in [
        (r#""domain": "*.example.com""#, "apis[0].domain"),
        (r#""domain": "{sub:(}.example.com""#, "apis[0].domain"),
        (r#""domain": "{sub""#, "apis[0].domain"),
        (
            r#""proxy": {"listen_path": "/api/{v"}"#,
            "apis[0].proxy.listen_path",
        ),
        (
            r#""proxy": {"listen_path": "/a;b/"}"#,
            "apis[0].proxy.listen_path",
        ),
        (
            r#""org_id": "acme
forged""#,
            "apis[0].org_id",
        ),
    ] {
        let json =
            format!(r#"{{"apis": [{{"api_id": "a", "use_mutual_tls_auth": true, {api}}}]}}"#);
        let error = GateConfig::from_json(json.as_bytes()).expect_err(&json);
        assert_eq!(error.path, path, "{json}: {error}");
    }
    let error = GateConfig::from_json(br#"{"org_id": "a b"}"#).expect_err("org");
    assert_eq!(error.path, "org_id");
}

/// Audit hardening: with no SNI, a Host that is not `host[:port]` passed untouched.
#[test]
fn malformed_hosts_are_refused_where_an_api_is_bound_to_a_host() {
    let bound = mtls_api(r#""domain": "secure.test","#);
    for host in [
        "secure.test:1:2",
        "x@secure.test",
        "secure.test,open.test",
        "",
        "a b",
    ] {
        assert_eq!(
            run(
                &bound,
                host,
                &mut FakeFacts::with_cert("stranger"),
                &FakeStore::default()
            ),
            Err(Denial::InvalidHost),
            "{host:?}"
        );
    }
    assert_eq!(Denial::InvalidHost.status(), 400);
    // Hosts that need no certificate anywhere are not the filter's business.
    let open = config(r#"{"apis": [{"api_id": "open", "proxy": {"listen_path": "/"}}]}"#);
    assert_eq!(
        run(
            &open,
            "h:1:2",
            &mut FakeFacts::default(),
            &FakeStore::default()
        ),
        Ok(Some("open".into()))
    );
}
