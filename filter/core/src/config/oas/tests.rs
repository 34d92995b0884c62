//! OAS API definitions: each of Tyk's examples compiles to what its Classic twin compiles to
//! and decides requests alike; refusals name OAS paths; the two certificate-auth contracts;
//! typos against Tyk's strict schema. Test-only (`#[cfg(test)]` in `oas/mod.rs`).

use super::*;
use crate::client_trust::ClientTrust;
use crate::config::{ApiSpec, GateConfig};
use crate::decision::{
    PeerCertificate, RequestFacts, RequestView, SessionLookup, StoreView, Verdict, decide,
    upstream_cluster,
};
use crate::domain::DomainPattern;
use crate::feed::CertIndexEntry;
use crate::fingerprint::Fingerprint;
use crate::test_support::{cert_entry, fp, grant};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

const STATIC_MTLS: &str = include_str!("../testdata/oas/static-mtls.oas.json");
const CERTIFICATE_AUTH: &str = include_str!("../testdata/oas/certificate-auth.oas.json");
const STATIC_PLUS_LEGACY: &str =
    include_str!("../testdata/oas/static-plus-certificate-auth-legacy.oas.json");
const UPSTREAM: &str = include_str!("../testdata/oas/upstream-mtls-and-pinning.oas.json");
const STRICT_SCHEMA: &str = include_str!("../testdata/oas/x-tyk-api-gateway.strict.json");
const SCHEMA_TABLE: &str = include_str!("schema_table.rs");

const STORE: &str = r#"{"cluster": "shim", "authority": "shim.local", "token": "t"}"#;
const NOW: i64 = 1_800_000_000;

/// The fixtures' certificate IDs: `default` + SHA-256 of a label (testdata/oas/README.md).
const CLIENT_1: &str = "tyk-fixture client cert 1";
const CLIENT_2: &str = "tyk-fixture client cert 2";
const ROOT_CA: &str = "tyk-fixture root CA";
const UPSTREAM_CERT: &str = "95af8e204db33ed033cd8bd0cc2f17d7292d4a64231cca14628bef19984936aa";

fn id(label: &str) -> String {
    format!("default{}", fp(label))
}

/// A gate with a store (certificate auth needs sessions) and these APIs.
fn gate(apis: &[&Value]) -> String {
    json!({"store": serde_json::from_str::<Value>(STORE).unwrap(), "apis": apis}).to_string()
}

fn compiled(apis: &[&Value]) -> GateConfig {
    GateConfig::from_json(gate(apis).as_bytes()).unwrap()
}

fn refused(apis: &[&Value]) -> ConfigError {
    GateConfig::from_json(gate(apis).as_bytes()).expect_err("config should be refused")
}

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// `base` with the fields at JSON pointers set (`Some`) or removed (`None`).
fn edited(base: &str, edits: &[(&str, Option<Value>)]) -> Value {
    let mut doc = fixture(base);
    for (pointer, value) in edits {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = doc
            .pointer_mut(parent)
            .unwrap_or_else(|| panic!("{pointer}"));
        match (parent, value) {
            (Value::Object(fields), Some(value)) => {
                fields.insert(key.to_owned(), value.clone());
            }
            (Value::Object(fields), None) => {
                fields.remove(key);
            }
            (Value::Array(items), Some(value)) => {
                items[key.parse::<usize>().unwrap()] = value.clone()
            }
            (other, _) => panic!("{pointer}: cannot edit {other}"),
        }
    }
    doc
}

/// Every field of the two specs, so a field added to `ApiSpec` must be compared here too.
fn assert_same_api(oas: &ApiSpec, classic: &ApiSpec) {
    let ApiSpec {
        api_id,
        name,
        org_id,
        domain,
        listen_path,
        target,
        use_mutual_tls_auth,
        client_certificates,
        client_trust,
        use_certificate_auth,
        use_keyless,
        strip_auth_data,
        auth_header_name,
        upstream_certificates,
        upstream_certificates_disabled,
        upstream_route,
        server_certificates,
        pinned_public_keys,
        pins,
        certificate_pinning_disabled,
        pinned_upstream,
        upstream_transport,
    } = classic;
    let at = &classic.api_id;
    assert_eq!(&oas.api_id, api_id);
    assert_eq!(&oas.name, name, "{at}");
    assert_eq!(&oas.org_id, org_id, "{at}");
    // Regex-holding types: their Debug form (the pattern) is what they match.
    assert_eq!(format!("{:?}", oas.domain), format!("{domain:?}"), "{at}");
    assert_eq!(
        format!("{:?}", oas.listen_path),
        format!("{listen_path:?}"),
        "{at}"
    );
    assert_eq!(&oas.target, target, "{at}");
    assert_eq!(&oas.use_mutual_tls_auth, use_mutual_tls_auth, "{at}");
    assert_eq!(&oas.client_certificates, client_certificates, "{at}");
    assert_eq!(&oas.client_trust, client_trust, "{at}");
    assert_eq!(&oas.use_certificate_auth, use_certificate_auth, "{at}");
    assert_eq!(&oas.use_keyless, use_keyless, "{at}");
    assert_eq!(&oas.strip_auth_data, strip_auth_data, "{at}");
    assert_eq!(&oas.auth_header_name, auth_header_name, "{at}");
    assert_eq!(&oas.upstream_certificates, upstream_certificates, "{at}");
    assert_eq!(
        &oas.upstream_certificates_disabled, upstream_certificates_disabled,
        "{at}"
    );
    assert_eq!(&oas.upstream_route, upstream_route, "{at}");
    assert_eq!(&oas.server_certificates, server_certificates, "{at}");
    assert_eq!(&oas.pinned_public_keys, pinned_public_keys, "{at}");
    assert_eq!(&oas.pins, pins, "{at}");
    assert_eq!(&oas.pinned_upstream, pinned_upstream, "{at}");
    assert_eq!(
        &oas.certificate_pinning_disabled, certificate_pinning_disabled,
        "{at}"
    );
    assert_eq!(&oas.upstream_transport, upstream_transport, "{at}");
}

/// What the connection and the store say, for the decision.
struct Facts(PeerCertificate);

impl RequestFacts for Facts {
    fn peer_certificate(&mut self) -> PeerCertificate {
        self.0
    }
    fn sni(&mut self) -> Option<&str> {
        None
    }
    fn peer_not_after(&mut self, _fingerprint: &Fingerprint) -> Option<i64> {
        None
    }
    fn request_header(&mut self, _name: &str) -> Option<String> {
        None
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
struct Store {
    certs: HashMap<String, CertIndexEntry>,
    sessions: HashMap<String, SessionLookup>,
}

impl StoreView for Store {
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
        false
    }
    fn version(&self) -> u64 {
        1
    }
}

/// The fixtures' certificates, a session for client cert 1, and the upstream certificate
/// with its key.
fn store() -> Store {
    let mut store = Store::default();
    for label in [CLIENT_1, CLIENT_2, ROOT_CA] {
        let entry = cert_entry("default", label, false);
        store.certs.insert(entry.id.as_str().to_owned(), entry);
    }
    let upstream = Fingerprint::parse_hex(UPSTREAM_CERT).unwrap();
    let mut entry = cert_entry("", "unused", true);
    entry.id = crate::ids::CertificateId::verbatim(UPSTREAM_CERT.to_owned());
    entry.fingerprint = upstream;
    store.certs.insert(UPSTREAM_CERT.to_owned(), entry);
    store
        .sessions
        .insert(id(CLIENT_1), SessionLookup::Found(grant()));
    store
}

/// A request's outcome in words: `allow <api> <alias> <cluster>`, `deny <status> <message>`,
/// `lookup`.
fn outcome(config: &GateConfig, host: &str, path: &str, peer: PeerCertificate) -> String {
    let store = store();
    let request = RequestView {
        authority: host,
        path,
    };
    match decide(config, &request, &mut Facts(peer), &store, NOW) {
        Verdict::Allow(admission) => {
            let api = admission.api.map_or("-", |api| api.api_id.as_str());
            let alias = admission.identity.map_or("-".to_owned(), |i| i.alias);
            let cluster = admission
                .api
                .and_then(|api| upstream_cluster(api, &store))
                .unwrap_or_default();
            format!("allow {api} {alias} {cluster}")
        }
        Verdict::Deny(denial) => format!("deny {} {}", denial.status(), denial.message()),
        Verdict::LookupSession { .. } => "lookup".to_owned(),
    }
}

/// Tyk's answer to a certificate with no session (SPEC §4).
const NO_SESSION: &str = "deny 401 Access to this API has been disallowed";

fn not_allowed(label: &str) -> String {
    format!("deny 403 Certificate with SHA256 {} not allowed", fp(label))
}

fn presented(label: &str) -> PeerCertificate {
    PeerCertificate::Presented(fp(label))
}

struct Example {
    oas: &'static str,
    /// The Classic definition `ExtractTo` makes (testdata README's "what each example
    /// extracts to"), written by hand.
    classic: Value,
    /// Host, path, peer certificate, expected outcome.
    requests: Vec<(&'static str, &'static str, PeerCertificate, String)>,
}

fn examples() -> Vec<Example> {
    let upstream_cluster = crate::upstream::cluster_name(
        "upstream-mtls",
        Some(&Fingerprint::parse_hex(UPSTREAM_CERT).unwrap()),
    );
    vec![
        Example {
            oas: STATIC_MTLS,
            classic: json!({"api_id": "apiID-1", "org_id": "default", "name": "static-mtls",
                "active": true, "use_keyless": true, "domain": "localhost", "domain_disabled": false,
                "proxy": {"listen_path": "/static-mtls/", "strip_listen_path": true,
                          "target_url": "http://httpbin.org/"},
                "use_mutual_tls_auth": true, "client_certificates": [id(CLIENT_1), id(ROOT_CA)]}),
            requests: vec![
                (
                    "localhost",
                    "/static-mtls/get",
                    presented(CLIENT_1),
                    "allow apiID-1 - ".to_owned() + &crate::upstream::cluster_name("apiID-1", None),
                ),
                (
                    "localhost",
                    "/static-mtls/get",
                    presented(CLIENT_2),
                    not_allowed(CLIENT_2),
                ),
                (
                    "localhost",
                    "/static-mtls/get",
                    PeerCertificate::NotTls,
                    "deny 403 TLS not enabled".to_owned(),
                ),
                (
                    "localhost",
                    "/static-mtls/get",
                    PeerCertificate::NoCertificate,
                    "deny 403 Client TLS certificate is required".to_owned(),
                ),
                // The custom domain binds: another host matches no API (default allow).
                (
                    "other.test",
                    "/static-mtls/get",
                    presented(CLIENT_2),
                    "allow - - ".to_owned(),
                ),
            ],
        },
        Example {
            oas: CERTIFICATE_AUTH,
            classic: json!({"api_id": "test", "org_id": "default", "name": "certificate-auth",
                "active": true, "use_keyless": false, "domain": "localhost",
                "proxy": {"listen_path": "/test1/", "target_url": "http://httpbin.org/"},
                "auth_configs": {"authToken": {"use_certificate": true}}}),
            requests: vec![
                (
                    "localhost",
                    "/test1/get",
                    presented(CLIENT_1),
                    "allow test alice ".to_owned() + &crate::upstream::cluster_name("test", None),
                ),
                (
                    "localhost",
                    "/test1/get",
                    presented(CLIENT_2),
                    NO_SESSION.to_owned(),
                ),
                (
                    "localhost",
                    "/test1/get",
                    PeerCertificate::NoCertificate,
                    "deny 401 Client certificate required".to_owned(),
                ),
            ],
        },
        Example {
            oas: STATIC_PLUS_LEGACY,
            classic: json!({"api_id": "combined-mtls-api", "org_id": "default",
                "name": "combined-mtls-api", "active": true, "use_keyless": false,
                "proxy": {"listen_path": "/combined-mtls/", "target_url": "http://httpbin.org/"},
                "use_mutual_tls_auth": true, "client_certificates": [id(CLIENT_1), id(CLIENT_2)],
                "use_standard_auth": true, "strip_auth_data": true,
                "auth_configs": {"authToken": {"name": "authToken",
                    "auth_header_name": "Authorization", "use_certificate": true}}}),
            requests: vec![
                (
                    "h.test",
                    "/combined-mtls/get",
                    presented(CLIENT_1),
                    "allow combined-mtls-api alice ".to_owned()
                        + &crate::upstream::cluster_name("combined-mtls-api", None),
                ),
                // Listed, but no session: both checks must pass.
                (
                    "h.test",
                    "/combined-mtls/get",
                    presented(CLIENT_2),
                    NO_SESSION.to_owned(),
                ),
                (
                    "h.test",
                    "/combined-mtls/get",
                    presented(ROOT_CA),
                    not_allowed(ROOT_CA),
                ),
            ],
        },
        Example {
            oas: UPSTREAM,
            classic: json!({"api_id": "upstream-mtls", "org_id": "default", "name": "upstream-mtls",
                "active": true, "use_keyless": true,
                "proxy": {"listen_path": "/upstream/", "strip_listen_path": true,
                          "target_url": "https://host1.target:8443/",
                          "transport": {"ssl_force_common_name_check": true, "ssl_min_version": 771}},
                "upstream_certificates_disabled": false,
                "upstream_certificates": {
                    "*.target:8443": UPSTREAM_CERT,
                    "*.example.com": "33ef38fd3b0997d34faf466f4eb0e290582502e98be8fd24bd7f20aa32028644",
                    "api.example.com:8443": UPSTREAM_CERT},
                "certificate_pinning_disabled": false,
                "pinned_public_keys": {
                    "127.0.0.1": "56f6ced1f184905e611933eba61d76d39bb07b247ba98b927b8134bd067d9f6f",
                    "*": "56f6ced1f184905e611933eba61d76d39bb07b247ba98b927b8134bd067d9f6f,0f5d713e85535d51f222fa63de522e60775fa75e6fb9122d67944a33b071882b"}}),
            requests: vec![
                // `*.target:8443` picks the upstream certificate (it has its key in the store).
                (
                    "h.test",
                    "/upstream/get",
                    PeerCertificate::NotTls,
                    format!("allow upstream-mtls - {upstream_cluster}"),
                ),
            ],
        },
    ]
}

#[test]
fn each_tyk_example_compiles_to_its_classic_twin_and_decides_alike() {
    for example in examples() {
        let oas = compiled(&[&fixture(example.oas)]);
        let classic = compiled(&[&example.classic]);
        assert!(oas.unknown_fields.is_empty(), "{:?}", oas.unknown_fields);
        assert!(
            classic.unknown_fields.is_empty(),
            "{:?}",
            classic.unknown_fields
        );
        assert_eq!((oas.apis.len(), classic.apis.len()), (1, 1));
        assert_same_api(&oas.apis[0], &classic.apis[0]);
        assert_eq!(
            format!("{:?}", oas.mtls_domains),
            format!("{:?}", classic.mtls_domains)
        );
        for (host, path, peer, expected) in &example.requests {
            let from_oas = outcome(&oas, host, path, *peer);
            assert_eq!(&from_oas, expected, "{} {host}{path}", oas.apis[0].api_id);
            assert_eq!(from_oas, outcome(&classic, host, path, *peer));
        }
    }
}

#[test]
fn the_upstream_example_carries_pins_and_transport_as_tyk_extracts_them() {
    let twin = to_classic(&fixture(UPSTREAM), "apis[0]").unwrap();
    assert_eq!(
        twin.api["pinned_public_keys"]["*"],
        "56f6ced1f184905e611933eba61d76d39bb07b247ba98b927b8134bd067d9f6f,\
         0f5d713e85535d51f222fa63de522e60775fa75e6fb9122d67944a33b071882b"
    );
    assert_eq!(twin.api["proxy"]["transport"]["ssl_min_version"], 0x0303);
    let api = &compiled(&[&fixture(UPSTREAM)]).apis[0];
    assert_eq!(api.upstream_transport.min_version, Some(771));
    assert_eq!(api.upstream_transport.max_version, None);
    assert!(api.upstream_transport.force_common_name_check);
    assert_eq!(
        api.pinned_public_keys.keys().collect::<Vec<_>>(),
        ["*", "127.0.0.1"]
    );
    assert_eq!(
        twin.origins
            .oas_path(r#"upstream_certificates["api.example.com:8443"]"#)
            .as_deref(),
        Some("x-tyk-api-gateway.upstream.mutualTLS.domainToCertificateMapping[2]")
    );
}

#[test]
fn tls_versions_are_read_as_tyks_numbers() {
    for (version, number) in [("1.0", 769), ("1.1", 770), ("1.2", 771), ("1.3", 772)] {
        let api = edited(
            UPSTREAM,
            &[
                (
                    "/x-tyk-api-gateway/upstream/tlsTransport/maxVersion",
                    Some(json!(version)),
                ),
                ("/x-tyk-api-gateway/upstream/tlsTransport/minVersion", None),
            ],
        );
        let compiled = compiled(&[&api]);
        assert_eq!(
            compiled.apis[0].upstream_transport.max_version,
            Some(number)
        );
    }
}

#[test]
fn refusals_name_the_oas_field() {
    let tyk = "/x-tyk-api-gateway";
    let at = "apis[1].x-tyk-api-gateway";
    let cases: Vec<(Value, String, &str)> = vec![
        (
            edited(
                STATIC_MTLS,
                &[(
                    &format!("{tyk}/server/clientCertificates/allowlist/0"),
                    Some(json!("nope")),
                )],
            ),
            format!("{at}.server.clientCertificates.allowlist[0]"),
            "not a PEM, ID or fingerprint",
        ),
        (
            edited(
                STATIC_MTLS,
                &[(
                    &format!("{tyk}/server/clientCertificates/allowlist/1"),
                    Some(json!(42)),
                )],
            ),
            format!("{at}.server.clientCertificates.allowlist[1]"),
            "invalid type: number, expected a string",
        ),
        (
            edited(
                STATIC_MTLS,
                &[(
                    &format!("{tyk}/server/clientCertificates/enabled"),
                    Some(json!("yes")),
                )],
            ),
            format!("{at}.server.clientCertificates.enabled"),
            "invalid type: string, expected a boolean",
        ),
        (
            edited(
                STATIC_MTLS,
                &[(&format!("{tyk}/server/listenPath/value"), Some(json!("a/")))],
            ),
            format!("{at}.server.listenPath.value"),
            "must start with",
        ),
        (
            edited(
                STATIC_MTLS,
                &[(
                    &format!("{tyk}/server/customDomain/name"),
                    Some(json!("a b")),
                )],
            ),
            format!("{at}.server.customDomain.name"),
            "cannot appear in a host name",
        ),
        (
            edited(
                STATIC_MTLS,
                &[(&format!("{tyk}/server/customDomain/enabled"), None)],
            ),
            format!("{at}.server.customDomain.enabled"),
            "required",
        ),
        (
            edited(
                STATIC_MTLS,
                &[(&format!("{tyk}/upstream/url"), Some(json!("up.test")))],
            ),
            format!("{at}.upstream.url"),
            "absolute",
        ),
        (
            edited(STATIC_MTLS, &[(&format!("{tyk}/info/id"), None)]),
            format!("{at}.info.id"),
            "required",
        ),
        (
            edited(
                STATIC_MTLS,
                &[(&format!("{tyk}/info/id"), Some(json!("classic")))],
            ),
            format!("{at}.info.id"),
            "duplicate api_id",
        ),
        (
            edited(
                STATIC_MTLS,
                &[(&format!("{tyk}/info/orgId"), Some(json!("o/1")))],
            ),
            format!("{at}.info.orgId"),
            "org_id may hold only",
        ),
        (
            edited(STATIC_MTLS, &[(&format!("{tyk}/info/state"), None)]),
            format!("{at}.info.state.active"),
            "required",
        ),
        (
            edited(STATIC_MTLS, &[(&format!("{tyk}/server"), Some(json!([])))]),
            format!("{at}.server"),
            "invalid type: array, expected an object",
        ),
        (
            edited(
                UPSTREAM,
                &[(
                    &format!("{tyk}/upstream/mutualTLS/domainToCertificateMapping/1"),
                    Some(
                        json!({"domain": "https://api.example.com", "certificate": UPSTREAM_CERT}),
                    ),
                )],
            ),
            format!("{at}.upstream.mutualTLS.domainToCertificateMapping[1]"),
            "without a scheme",
        ),
        (
            edited(
                UPSTREAM,
                &[(
                    &format!("{tyk}/upstream/mutualTLS/domainToCertificateMapping/0"),
                    Some(json!({"domain": "*.target:8443", "certificate": "not-a-cert"})),
                )],
            ),
            format!("{at}.upstream.mutualTLS.domainToCertificateMapping[0]"),
            "not a PEM, ID or fingerprint",
        ),
        (
            edited(
                UPSTREAM,
                &[(
                    &format!("{tyk}/upstream/mutualTLS/domainToCertificateMapping/0"),
                    Some(json!({"domain": "*.target:8443"})),
                )],
            ),
            format!("{at}.upstream.mutualTLS.domainToCertificateMapping[0].certificate"),
            "required",
        ),
        (
            edited(
                UPSTREAM,
                &[(
                    &format!("{tyk}/upstream/certificatePinning/domainToPublicKeysMapping/0"),
                    Some(json!({"domain": "127.0.0.1", "publicKeys": []})),
                )],
            ),
            format!("{at}.upstream.certificatePinning.domainToPublicKeysMapping[0]"),
            "at least one public key",
        ),
        (
            edited(
                UPSTREAM,
                &[(
                    &format!("{tyk}/upstream/tlsTransport/minVersion"),
                    Some(json!("1.4")),
                )],
            ),
            format!("{at}.upstream.tlsTransport.minVersion"),
            "not a TLS version",
        ),
        (
            edited(
                UPSTREAM,
                &[
                    (
                        &format!("{tyk}/upstream/tlsTransport/minVersion"),
                        Some(json!("1.3")),
                    ),
                    (
                        &format!("{tyk}/upstream/tlsTransport/maxVersion"),
                        Some(json!("1.2")),
                    ),
                ],
            ),
            format!("{at}.upstream.tlsTransport.maxVersion"),
            "below",
        ),
        (
            edited(STATIC_MTLS, &[(tyk, Some(json!("x")))]),
            at.to_owned(),
            "invalid type: string, expected an object",
        ),
        (
            edited(STATIC_MTLS, &[(tyk, None)]),
            at.to_owned(),
            "needs Tyk's x-tyk-api-gateway",
        ),
    ];
    let classic = json!({"api_id": "classic"});
    for (api, path, reason) in cases {
        let error = refused(&[&classic, &api]);
        assert_eq!(error.path, path, "{error}");
        assert!(error.reason().contains(reason), "{error}");
    }
}

#[test]
fn a_definition_read_alone_is_refused_from_its_own_top() {
    // As the shim's `import` reads a file: no gate around it.
    let api = edited(STATIC_MTLS, &[("/x-tyk-api-gateway/info/name", None)]);
    let error = to_classic(&api, "").unwrap_err();
    assert_eq!(error.path, "x-tyk-api-gateway.info.name");
}

#[test]
fn certificate_auth_without_a_store_is_refused_at_the_field_that_turned_it_on() {
    let no_store = |api: &Value| {
        GateConfig::from_json(json!({"apis": [api]}).to_string().as_bytes()).unwrap_err()
    };
    assert_eq!(
        no_store(&fixture(CERTIFICATE_AUTH)).path,
        "apis[0].x-tyk-api-gateway.server.authentication.certificateAuth.enabled"
    );
    let legacy = edited(
        STATIC_PLUS_LEGACY,
        &[(
            "/x-tyk-api-gateway/server/clientCertificates/allowlist",
            Some(json!([])),
        )],
    );
    let error = no_store(&legacy);
    assert_eq!(
        error.path,
        "apis[0].x-tyk-api-gateway.server.authentication.securitySchemes.authToken.enableClientCertificate"
    );
    assert!(error.reason().contains("configure `store`"), "{error}");
}

#[test]
fn certificate_auth_object_wins_over_the_legacy_flag_even_when_disabled() {
    let auth = "/x-tyk-api-gateway/server/authentication";
    let legacy_flag = format!("{auth}/securitySchemes/authToken/enableClientCertificate");
    let certificate_auth = format!("{auth}/certificateAuth");
    let cases = [
        // (certificateAuth, enableClientCertificate, certificate auth on)
        (None, true, true),
        (Some(json!({"enabled": false})), true, false),
        (Some(json!({})), true, false),
        (Some(json!({"enabled": true})), false, true),
        (None, false, false),
    ];
    for (object, flag, on) in cases {
        let api = edited(
            STATIC_PLUS_LEGACY,
            &[
                (&certificate_auth, object.clone()),
                (&legacy_flag, Some(json!(flag))),
            ],
        );
        let config = compiled(&[&api]);
        assert_eq!(config.apis[0].use_certificate_auth, on, "{object:?} {flag}");
        // Off, client cert 2 (listed, no session) passes the static list alone.
        let expected = match on {
            true => NO_SESSION.to_owned(),
            false => format!(
                "allow combined-mtls-api - {}",
                crate::upstream::cluster_name("combined-mtls-api", None)
            ),
        };
        assert_eq!(
            outcome(&config, "h.test", "/combined-mtls/x", presented(CLIENT_2)),
            expected
        );
    }
}

#[test]
fn the_legacy_flag_counts_only_on_a_scheme_the_openapi_security_requires() {
    // Tyk's extractSecurityTo reads token settings only for the apiKey schemes named by the
    // (first) OpenAPI security requirement.
    let cases = [
        (json!([{"authToken": []}]), true),
        (json!([]), false),
        (json!([{"other": []}]), false),
        (json!([{"other": []}, {"authToken": []}]), false),
    ];
    for (security, on) in cases {
        let api = edited(STATIC_PLUS_LEGACY, &[("/security", Some(security.clone()))]);
        assert_eq!(
            compiled(&[&api]).apis[0].use_certificate_auth,
            on,
            "{security}"
        );
    }
    // "compliant" mode reads every requirement.
    let api = edited(
        STATIC_PLUS_LEGACY,
        &[
            ("/security", Some(json!([{"other": []}, {"authToken": []}]))),
            (
                "/x-tyk-api-gateway/server/authentication/securityProcessingMode",
                Some(json!("compliant")),
            ),
        ],
    );
    assert!(compiled(&[&api]).apis[0].use_certificate_auth);
}

#[test]
fn the_token_header_comes_from_the_openapi_scheme_then_tyks_header_source() {
    let header_in_openapi = "/components/securitySchemes/authToken/name";
    let api = edited(
        STATIC_PLUS_LEGACY,
        &[(header_in_openapi, Some(json!("X-Api-Key")))],
    );
    assert_eq!(compiled(&[&api]).apis[0].auth_header_name, "x-api-key");
    let api = edited(
        STATIC_PLUS_LEGACY,
        &[
            (
                "/components/securitySchemes/authToken/in",
                Some(json!("query")),
            ),
            (
                "/x-tyk-api-gateway/server/authentication/securitySchemes/authToken/header/name",
                Some(json!("X-Tyk-Header")),
            ),
        ],
    );
    assert_eq!(compiled(&[&api]).apis[0].auth_header_name, "x-tyk-header");
}

#[test]
fn a_disabled_custom_domain_is_ignored() {
    let enabled = "/x-tyk-api-gateway/server/customDomain/enabled";
    let bound = compiled(&[&fixture(STATIC_MTLS)]);
    let unbound = compiled(&[&edited(STATIC_MTLS, &[(enabled, Some(json!(false)))])]);
    assert!(matches!(bound.apis[0].domain, DomainPattern::Exact(_)));
    assert!(matches!(unbound.apis[0].domain, DomainPattern::Any));
    let classic = compiled(&[&json!({"api_id": "apiID-1", "domain": "localhost",
        "domain_disabled": true, "use_mutual_tls_auth": true,
        "proxy": {"listen_path": "/static-mtls/"}})]);
    assert!(matches!(classic.apis[0].domain, DomainPattern::Any));
    // Any host now reaches the API, and its allow list.
    let other_host =
        |config: &GateConfig| outcome(config, "other.test", "/static-mtls/x", presented(CLIENT_2));
    assert_eq!(other_host(&bound), "allow - - ");
    assert_eq!(other_host(&unbound), not_allowed(CLIENT_2));
}

#[test]
fn an_absent_custom_domain_means_any_host() {
    let api = edited(
        STATIC_MTLS,
        &[("/x-tyk-api-gateway/server/customDomain", None)],
    );
    assert!(matches!(
        compiled(&[&api]).apis[0].domain,
        DomainPattern::Any
    ));
}

#[test]
fn an_inactive_oas_api_is_skipped_like_a_classic_one() {
    let api = edited(
        STATIC_MTLS,
        &[("/x-tyk-api-gateway/info/state/active", Some(json!(false)))],
    );
    assert!(compiled(&[&api]).apis.is_empty());
}

#[test]
fn classic_and_oas_entries_mix_in_one_gate() {
    let classic = json!({"api_id": "classic", "proxy": {"listen_path": "/classic/"}});
    let config = compiled(&[&classic, &fixture(STATIC_MTLS), &fixture(CERTIFICATE_AUTH)]);
    let ids: Vec<&str> = config.apis.iter().map(|a| a.api_id.as_str()).collect();
    assert_eq!(ids, ["classic", "apiID-1", "test"]);
}

#[test]
fn repeated_keys_are_refused_in_oas_and_classic_entries() {
    let oas = r#"{"apis": [{"x-tyk-api-gateway": {"server": {"clientCertificates":
        {"enabled": true, "enabled": false}}}}]}"#;
    let error = GateConfig::from_json(oas.as_bytes()).unwrap_err();
    assert_eq!(
        error.path,
        "apis[0].x-tyk-api-gateway.server.clientCertificates"
    );
    assert!(
        error.reason().contains("duplicate field `enabled`"),
        "{error}"
    );
    let classic =
        r#"{"apis": [{"api_id": "a", "use_mutual_tls_auth": true, "use_mutual_tls_auth": false}]}"#;
    let error = GateConfig::from_json(classic.as_bytes()).unwrap_err();
    assert_eq!(error.path, "apis[0]");
    assert!(error.reason().contains("duplicate field"), "{error}");
}

#[test]
fn typos_inside_the_tyk_extension_are_reported_with_the_name_meant() {
    let tyk = "/x-tyk-api-gateway";
    let api = edited(
        STATIC_PLUS_LEGACY,
        &[
            (
                &format!("{tyk}/server/clientCertificates/allowlst"),
                Some(json!([])),
            ),
            (
                &format!(
                    "{tyk}/server/authentication/securitySchemes/authToken/enableClientCertficate"
                ),
                Some(json!(true)),
            ),
            (
                &format!("{tyk}/upstream/mutualTLS"),
                Some(json!({"enabled": true, "domainToCertificateMapping":
                    [{"domain": "*", "certificate": UPSTREAM_CERT, "certficate": ""}]})),
            ),
            (
                &format!("{tyk}/server/certificateAuth"),
                Some(json!({"enabled": true})),
            ),
            ("/compnents", Some(json!({}))),
            // Keys the user chooses, and `x-` extensions, are not typos.
            (
                &format!("{tyk}/middleware"),
                Some(json!({"operations": {"my-operation-id": {"allow": {"enabled": true}}}})),
            ),
            ("/x-internal-note", Some(json!("free"))),
        ],
    );
    let mut found: Vec<String> = compiled(&[&api])
        .unknown_fields
        .iter()
        .map(ToString::to_string)
        .collect();
    found.sort();
    let mut expected = vec![
        "apis[0].compnents: unknown field; did you mean `components`?",
        "apis[0].x-tyk-api-gateway.server.authentication.securitySchemes.authToken.enableClientCertficate: unknown field; did you mean `enableClientCertificate`?",
        "apis[0].x-tyk-api-gateway.server.certificateAuth: unknown field, ignored",
        "apis[0].x-tyk-api-gateway.server.clientCertificates.allowlst: unknown field; did you mean `allowlist`?",
        "apis[0].x-tyk-api-gateway.upstream.mutualTLS.domainToCertificateMapping[0].certficate: unknown field; did you mean `certificate`?",
    ];
    expected.sort_unstable();
    assert_eq!(found, expected);
}

#[test]
fn strict_refuses_a_typo_inside_the_tyk_extension() {
    let api = edited(
        STATIC_MTLS,
        &[(
            "/x-tyk-api-gateway/server/clientCertificates/enabeld",
            Some(json!(true)),
        )],
    );
    let json = json!({"strict": true, "apis": [api]}).to_string();
    let error = GateConfig::from_json(json.as_bytes()).unwrap_err();
    assert_eq!(
        error.path,
        "apis[0].x-tyk-api-gateway.server.clientCertificates.enabeld"
    );
    assert!(error.reason().contains("did you mean `enabled`"), "{error}");
}

#[test]
fn the_unknown_field_walk_follows_every_kind_of_schema_node() {
    // Object → Map (securitySchemes) → AnyOf (Token | JWT | ...) → Object; arrays of objects.
    let tyk = json!({"server": {"authentication": {"securitySchemes": {
        "jwtScheme": {"enabled": true, "source": "x", "identityBaseField": "sub"},
        "tok": {"enabled": true, "header": {"enabled": true, "nmae": "X"}}}}},
        "upstream": {"url": "http://u", "loadBalancing": {"enabled": true, "targets": [{"url": "x", "weight": 1, "wieght": 2}]}}});
    let mut found = Vec::new();
    let entry = json!({"x-tyk-api-gateway": tyk});
    find_unknown(entry.as_object().unwrap(), "", &mut found);
    let mut paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "x-tyk-api-gateway.server.authentication.securitySchemes.tok.header.nmae",
            "x-tyk-api-gateway.upstream.loadBalancing.targets[0].wieght",
        ]
    );
}

/// `schema_table.rs` is the strict schema's property names, generated by
/// [`generate_schema_table`]: the filter never carries the 76 KB schema itself.
#[test]
fn schema_table_is_generated_from_tyk_strict_schema() {
    let generated = generate_schema_table(STRICT_SCHEMA);
    // rustfmt may rewrap lines and drop trailing commas; neither changes the table.
    let squash = |text: &str| {
        text.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .replace(",]", "]")
            .replace(",)", ")")
    };
    if squash(&generated) == squash(SCHEMA_TABLE) {
        return;
    }
    #[cfg(not(target_arch = "wasm32"))]
    if std::env::var_os("MTLS_GATE_REGENERATE").is_some() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/config/oas/schema_table.rs"
        );
        std::fs::write(path, &generated).unwrap();
        panic!("wrote {path}: run `rustfmt --edition 2024 {path}` and the tests again");
    }
    panic!(
        "oas/schema_table.rs is not what testdata/oas/x-tyk-api-gateway.strict.json gives: \
         MTLS_GATE_REGENERATE=1 cargo test -p mtls-gate-core schema_table"
    );
}

/// The Rust source of `schema_table.rs`: one [`known_fields::Node`] per object of the schema,
/// the root first, numbered as met (properties in name order).
fn generate_schema_table(schema: &str) -> String {
    let schema: Value = serde_json::from_str(schema).unwrap();
    let mut table = SchemaTable {
        definitions: schema["definitions"].as_object().unwrap(),
        nodes: Vec::new(),
        by_definition: BTreeMap::new(),
    };
    let root = table.object(&schema, "x-tyk-api-gateway");
    assert_eq!(root, Some(0));
    let mut out = String::from(
        "//! Tyk's strict schema of `x-tyk-api-gateway`, as the typo check reads it: generated from\n\
         //! `../testdata/oas/x-tyk-api-gateway.strict.json` by the test\n\
         //! `schema_table_is_generated_from_tyk_strict_schema` (oas/tests.rs), which fails when\n\
         //! the two differ and says how to regenerate. Do not edit by hand.\n\n\
         use super::known_fields::Node;\n\n\
         /// `x-tyk-api-gateway` itself.\n\
         pub(super) const ROOT: u16 = 0;\n\n\
         pub(super) static NODES: &[Node] = &[\n",
    );
    for (index, (label, node)) in table.nodes.iter().enumerate() {
        out.push_str(&format!("    // {index}: {label}\n    {node},\n"));
    }
    out.push_str("];\n");
    out
}

struct SchemaTable<'s> {
    definitions: &'s serde_json::Map<String, Value>,
    /// (label, Rust expression) per node.
    nodes: Vec<(String, String)>,
    /// A definition's node; `None` while it is being read, or when nothing in it is checked.
    by_definition: BTreeMap<String, Option<u16>>,
}

impl SchemaTable<'_> {
    fn reserve(&mut self, label: &str) -> u16 {
        self.nodes.push((label.to_owned(), String::new()));
        u16::try_from(self.nodes.len() - 1).unwrap()
    }

    fn set(&mut self, index: u16, node: String) {
        self.nodes[usize::from(index)].1 = node;
    }

    fn definition(&mut self, name: &str) -> Option<u16> {
        if let Some(node) = self.by_definition.get(name) {
            return *node;
        }
        self.by_definition.insert(name.to_owned(), None);
        let schema = &self.definitions[name];
        let node = self.value(schema, name);
        self.by_definition.insert(name.to_owned(), node);
        node
    }

    /// The node a value of `schema` is checked against, if any.
    fn value(&mut self, schema: &Value, label: &str) -> Option<u16> {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.strip_prefix("#/definitions/").unwrap();
            return self.definition(name);
        }
        match schema.get("items") {
            // draft-04 tuple form: Tyk means "every element is like the first".
            Some(Value::Array(items)) => return self.value(items.first()?, label),
            Some(items @ Value::Object(_)) => return self.value(items, label),
            _ => {}
        }
        self.object(schema, label)
    }

    fn object(&mut self, schema: &Value, label: &str) -> Option<u16> {
        // An open object (additionalProperties: true) has no unknown fields.
        if schema.get("additionalProperties") == Some(&Value::Bool(true)) {
            return None;
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            let index = self.reserve(label);
            let mut names: Vec<&String> = properties.keys().collect();
            names.sort();
            let entries: Vec<String> = names
                .into_iter()
                .map(|name| {
                    let child = self.value(&properties[name], &format!("{label}.{name}"));
                    format!("({name:?}, {child:?})")
                })
                .collect();
            self.set(index, format!("Node::Object(&[{}])", entries.join(", ")));
            return Some(index);
        }
        let map_values = schema
            .get("patternProperties")
            .and_then(Value::as_object)
            .and_then(|patterns| patterns.values().next())
            .or_else(|| schema.get("additionalProperties").filter(|v| v.is_object()));
        if let Some(values) = map_values {
            let child = self.value(values, &format!("{label}.*"))?;
            let index = self.reserve(label);
            self.set(index, format!("Node::Map({child})"));
            return Some(index);
        }
        if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
            let mut children = Vec::new();
            for option in options {
                // One open alternative: anything goes.
                children.push(self.value(option, label)?);
            }
            let index = self.reserve(label);
            self.set(index, format!("Node::AnyOf(&{children:?})"));
            return Some(index);
        }
        None
    }
}

/// SPEC §6b in the OAS form: `upstream.certificatePinning` pins the target as the Classic
/// `pinned_public_keys` does, `enabled: false` is `certificate_pinning_disabled`, and a key
/// that is no public key is refused under its OAS path.
#[test]
fn oas_pins_pin_the_target_as_classic_ones_do() {
    let tyk = "/x-tyk-api-gateway";
    let api = &compiled(&[&fixture(UPSTREAM)]).apis[0];
    assert_eq!(
        api.pinned_upstream.as_ref().map(|p| p.host()),
        Some("host1.target"),
        "the fixture's `*` pin matches its target"
    );
    assert_eq!(api.pins.public_keys().count(), 3);
    let disabled = edited(
        UPSTREAM,
        &[(
            &format!("{tyk}/upstream/certificatePinning/enabled"),
            Some(json!(false)),
        )],
    );
    let api = &compiled(&[&disabled]).apis[0];
    assert!(api.certificate_pinning_disabled);
    assert_eq!(api.pinned_upstream, None);
    let path_key = edited(
        UPSTREAM,
        &[(
            &format!("{tyk}/upstream/certificatePinning/domainToPublicKeysMapping/0"),
            Some(json!({"domain": "127.0.0.1", "publicKeys": ["certs/pin.pub"]})),
        )],
    );
    let error = refused(&[&path_key]);
    assert_eq!(
        error.path,
        "apis[0].x-tyk-api-gateway.upstream.certificatePinning.domainToPublicKeysMapping[0]"
    );
    assert!(error.reason().contains("mtls-gate-shim render"), "{error}");
}
