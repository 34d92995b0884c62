//! The real filter `.wasm` with a Tyk OAS API definition in `apis[]` (SPEC §9): each of Tyk's
//! four example definitions (the core's OAS fixtures) answers exactly as its Classic twin, a
//! refusal names the OAS path, and a typo inside `x-tyk-api-gateway` is logged with the field
//! meant.
//!
//! A twin is written by hand from the fixtures' README ("What each example extracts to"),
//! not made by the code under test. For the examples that need the store, each side runs in a
//! host of its own (its own shared data and feed), synced with the same change set, so that
//! nothing one worker caches can make the other answer alike.

use crate::support::*;
use mtls_gate_core::feed::{CertIndexEntry, ChangeSet, LookupAnswer, SessionEntry};
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::session::SessionGrant;
use mtls_gate_core::upstream::cluster_name;
use mtls_gate_harness::{Outcome, Refusal, Worker};
use serde_json::{Value, json};
use std::time::Duration;

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

// The other three examples: certificate authentication (new and legacy contract) and
// upstream certificates, each through the feed and the wasm, OAS against Classic.

const CERTIFICATE_AUTH: &str =
    include_str!("../../../filter/core/src/config/testdata/oas/certificate-auth.oas.json");
const STATIC_PLUS_LEGACY: &str = include_str!(
    "../../../filter/core/src/config/testdata/oas/static-plus-certificate-auth-legacy.oas.json"
);
const UPSTREAM: &str =
    include_str!("../../../filter/core/src/config/testdata/oas/upstream-mtls-and-pinning.oas.json");

/// The fixtures' placeholder certificate IDs (SHA-256 of a label, no real certificate; the
/// org prefix stays): each test swaps them for a test certificate's fingerprint.
const PLACEHOLDER_CLIENT_1: &str =
    "09abfc958e1031cd6d071d24607b5588995337470139629d9cca7642292c34ad";
const PLACEHOLDER_CLIENT_2: &str =
    "50179038fff9e390a87e06de0ecda97b98bb5bca194b1f00c80e5a93c76e5d7a";
/// Mapped to `*.target:8443` and `api.example.com:8443`.
const PLACEHOLDER_UPSTREAM_TARGET: &str =
    "95af8e204db33ed033cd8bd0cc2f17d7292d4a64231cca14628bef19984936aa";
/// Mapped to `*.example.com`.
const PLACEHOLDER_UPSTREAM_EXAMPLE: &str =
    "33ef38fd3b0997d34faf466f4eb0e290582502e98be8fd24bd7f20aa32028644";
/// The upstream example's pins: public-key IDs the filter carries but does not enforce
/// (Envoy does, SPEC §6b), so they stay placeholders on both sides.
const PIN_1: &str = "56f6ced1f184905e611933eba61d76d39bb07b247ba98b927b8134bd067d9f6f";
const PIN_2: &str = "0f5d713e85535d51f222fa63de522e60775fa75e6fb9122d67944a33b071882b";

/// The examples' org (`info.orgId`): it prefixes certificate IDs and session keys.
const ORG: &str = "default";
const SYNC_MS: u64 = 500;
/// Sent with every request: the filter must overwrite or remove it (SPEC §6).
const CLIENT_ROUTING: &str = "client-picked-cluster";

/// A fixture with its placeholder certificate IDs swapped for test certificates'.
fn with_certificates(fixture: &str, swaps: &[(&str, &TestCert)]) -> Value {
    let mut text = fixture.to_owned();
    for (placeholder, cert) in swaps {
        assert!(
            text.contains(placeholder),
            "the fixture names {placeholder}"
        );
        text = text.replace(placeholder, &cert.fingerprint);
    }
    serde_json::from_str(&text).unwrap()
}

/// A gate with the shim's feed (certificate auth and store IDs need it).
fn store_gate(apis: &[Value], security: Value) -> String {
    json!({"store": {"cluster": "mtls_gate_shim", "authority": "shim.local",
                     "token": "feed-token", "sync_interval_ms": SYNC_MS},
           "security": security, "apis": apis})
    .to_string()
}

fn id_of(cert: &TestCert) -> String {
    format!("{ORG}{}", cert.fingerprint)
}

/// The store as the shim would send it: each certificate (with or without its private
/// key) and the sessions bound to some of them.
fn snapshot(certs: &[(&TestCert, bool)], sessions: &[(&TestCert, SessionGrant)]) -> ChangeSet {
    ChangeSet {
        version: 1,
        full: true,
        certs: certs
            .iter()
            .map(|(cert, has_private)| CertIndexEntry {
                id: certificate_id(id_of(cert)),
                fingerprint: fingerprint_of(cert),
                not_after: Some(2_200_000_000),
                has_private: *has_private,
                is_ca: false,
                trust_anchor: None,
            })
            .collect(),
        removed_certs: vec![],
        sessions: sessions
            .iter()
            .map(|(cert, grant)| SessionEntry {
                key: session_key(id_of(cert)),
                grant: grant.clone(),
            })
            .collect(),
        removed_sessions: vec![],
        next: None,
    }
}

/// A worker in a host of its own, synced once from the feed with `changes`.
fn synced_worker(gate: &str, changes: &ChangeSet) -> Worker {
    let host = filter();
    let mut worker = host.worker(gate).unwrap();
    assert!(!worker.logs_contain("unknown field"), "{:?}", worker.logs());
    host.clock().advance(Duration::from_millis(SYNC_MS));
    worker.tick().unwrap();
    let feed = worker
        .pending_http_calls()
        .into_iter()
        .find(|c| {
            c.header(":path")
                .is_some_and(|p| p.starts_with("/mtls-gate/v1/changes"))
        })
        .expect("the lease holder calls the feed");
    worker
        .respond_http_call(feed.token, 200, &[], &changes.encode())
        .unwrap();
    worker
}

/// What a client presents.
#[derive(Clone, Copy)]
enum Peer<'c> {
    PlainHttp,
    NoCertificate,
    Certificate(&'c TestCert),
}

/// One request of a table: what it tests, who sends it, where, with which extra headers.
struct Ask<'c> {
    what: &'static str,
    peer: Peer<'c>,
    authority: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
}

fn ask<'c>(
    what: &'static str,
    peer: Peer<'c>,
    authority: &'static str,
    path: impl Into<String>,
) -> Ask<'c> {
    Ask {
        what,
        peer,
        authority,
        path: path.into(),
        headers: vec![],
    }
}

impl Ask<'_> {
    fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// Where a legacy token may travel: the fixture's header, and the one a variant renames it to.
const TOKEN_HEADERS: [&str; 2] = ["authorization", "x-api-key"];

/// Sends `ask`, answering a session lookup as the shim does for a certificate it has no
/// session for, and says what came of it: `<status> <body>`, or what went upstream
/// (`forwarded <api id> key=<alias> via <cluster>`, then the token headers left in).
fn answer_to(worker: &mut Worker, ask: &Ask) -> String {
    let mut request = worker
        .request()
        .header(":authority", ask.authority)
        .header(":path", &ask.path)
        .header(":method", "GET")
        .header(headers::ROUTING, CLIENT_ROUTING);
    request = match ask.peer {
        Peer::PlainHttp => request,
        Peer::NoCertificate => request.tls("TLSv1.3").mtls(false),
        Peer::Certificate(cert) => request
            .tls("TLSv1.3")
            .mtls(true)
            .peer_digest(&cert.fingerprint),
    };
    for (name, value) in &ask.headers {
        request = request.header(name, value);
    }
    let mut out = request.send_headers().unwrap();
    if out.is_paused() {
        let lookup = out
            .http_calls()
            .first()
            .cloned()
            .expect("a held request waits on a lookup");
        let key = lookup
            .header(":path")
            .and_then(|p| p.strip_prefix("/mtls-gate/v1/lookup/"))
            .expect("a lookup names the session key")
            .to_owned();
        let none = LookupAnswer {
            key: session_key(key),
            session: None,
            cert: None,
        };
        out = worker
            .respond_http_call(lookup.token, 200, &[], &none.encode())
            .unwrap()
            .expect("the answer resolves the request");
    }
    if let Some(reply) = out.local_response() {
        return format!("{} {}", reply.status, reply.body_text());
    }
    assert!(out.is_forwarded(), "{}: {:?}", ask.what, out.action());
    let header = |name| out.header(name).unwrap_or("-");
    let mut said = format!(
        "forwarded {} key={} via {}",
        header(headers::API_ID),
        header(headers::KEY_ALIAS),
        header(headers::ROUTING)
    );
    for name in TOKEN_HEADERS {
        if let Some(value) = out.header(name) {
            said.push_str(&format!(" {name}={value}"));
        }
    }
    said
}

/// Runs the table on the OAS worker and on the Classic worker: both must answer each request
/// alike, and the OAS worker as `expected` says.
fn assert_twins_answer(oas: &mut Worker, classic: &mut Worker, table: &[(Ask, String)]) {
    for (ask, expected) in table {
        let from_oas = answer_to(oas, ask);
        assert_eq!(&from_oas, expected, "OAS: {}", ask.what);
        assert_eq!(
            answer_to(classic, ask),
            from_oas,
            "Classic twin: {}",
            ask.what
        );
    }
}

const NO_SESSION: &str = r#"401 {"error": "Access to this API has been disallowed"}"#;
const INACTIVE: &str = r#"403 {"error": "Key is inactive, please renew"}"#;

fn not_allowed(cert: &TestCert) -> String {
    format!(
        r#"403 {{"error": "Certificate with SHA256 {} not allowed"}}"#,
        cert.fingerprint
    )
}

/// Upstream of an API without upstream certificates: its plain cluster.
fn forwarded(api: &str, key: &str) -> String {
    format!("forwarded {api} key={key} via {}", cluster_name(api, None))
}

/// A request no API matches goes on untouched, the client's routing header removed.
const NO_API: &str = "forwarded - key=- via -";

/// Who the certificate-auth tests' clients are.
struct Clients {
    /// An active session.
    alice: TestCert,
    /// Another active session (its key is the token a legacy client sends).
    bob: TestCert,
    /// In the store, with no session.
    carol: TestCert,
    /// A session switched off (`is_inactive`).
    idle: TestCert,
    /// A session past its `expires`.
    lapsed: TestCert,
    /// Never in the store: the shim's lookup finds nothing.
    stranger: TestCert,
}

fn clients() -> Clients {
    Clients {
        alice: TestCert::new("alice"),
        bob: TestCert::new("bob"),
        carol: TestCert::new("carol"),
        idle: TestCert::new("idle"),
        lapsed: TestCert::new("lapsed"),
        stranger: TestCert::new("stranger"),
    }
}

fn sessions(c: &Clients) -> ChangeSet {
    snapshot(
        &[
            (&c.alice, false),
            (&c.bob, false),
            (&c.carol, false),
            (&c.idle, false),
            (&c.lapsed, false),
        ],
        &[
            (&c.alice, grant("alice")),
            (&c.bob, grant("bob")),
            (
                &c.idle,
                SessionGrant {
                    is_inactive: true,
                    ..grant("idle")
                },
            ),
            (
                &c.lapsed,
                SessionGrant {
                    expires: 1,
                    ..grant("lapsed")
                },
            ),
        ],
    )
}

/// What Tyk's ExtractTo makes of `certificate-auth.oas.json`.
fn certificate_auth_twin() -> Value {
    json!({"api_id": "test", "org_id": ORG, "name": "certificate-auth", "active": true,
        "use_keyless": false, "domain": "localhost", "domain_disabled": false,
        "auth_configs": {"authToken": {"use_certificate": true}},
        "proxy": {"listen_path": "/test1/", "strip_listen_path": true,
                  "target_url": "http://httpbin.org/"}})
}

#[test]
fn the_oas_certificate_auth_example_answers_as_its_classic_twin() {
    let c = clients();
    let changes = sessions(&c);
    let oas_api: Value = serde_json::from_str(CERTIFICATE_AUTH).unwrap();
    let mut oas = synced_worker(&store_gate(&[oas_api], json!({})), &changes);
    let mut classic = synced_worker(&store_gate(&[certificate_auth_twin()], json!({})), &changes);
    let cert = Peer::Certificate;
    let path = "/test1/get";
    let table = [
        (
            ask("a synced session", cert(&c.alice), "localhost", path)
                .with("authorization", "Bearer opaque"),
            // No stripAuthorizationData: the token goes upstream.
            forwarded("test", "alice") + " authorization=Bearer opaque",
        ),
        (
            ask(
                "no session (the shim's lookup finds none)",
                cert(&c.stranger),
                "localhost",
                path,
            ),
            NO_SESSION.to_owned(),
        ),
        (
            ask(
                "a certificate in the store without a session",
                cert(&c.carol),
                "localhost",
                path,
            ),
            NO_SESSION.to_owned(),
        ),
        (
            ask("an inactive session", cert(&c.idle), "localhost", path),
            INACTIVE.to_owned(),
        ),
        (
            ask("an expired session", cert(&c.lapsed), "localhost", path),
            r#"401 {"error": "Key has expired, please renew"}"#.to_owned(),
        ),
        (
            ask(
                "TLS without a certificate",
                Peer::NoCertificate,
                "localhost",
                path,
            ),
            r#"401 {"error": "Client certificate required"}"#.to_owned(),
        ),
        (
            ask("plain HTTP", Peer::PlainHttp, "localhost", path),
            r#"401 {"error": "Client certificate required"}"#.to_owned(),
        ),
        // customDomain binds the API to its host, listenPath to its prefix.
        (
            ask("another host", cert(&c.stranger), "other.test", path),
            NO_API.to_owned(),
        ),
        (
            ask("another path", cert(&c.stranger), "localhost", "/test2/get"),
            NO_API.to_owned(),
        ),
    ];
    assert_twins_answer(&mut oas, &mut classic, &table);
}

/// `static-plus-certificate-auth-legacy.oas.json`, its allow list naming `listed`.
fn legacy_oas(listed: [&TestCert; 2]) -> Value {
    with_certificates(
        STATIC_PLUS_LEGACY,
        &[
            (PLACEHOLDER_CLIENT_1, listed[0]),
            (PLACEHOLDER_CLIENT_2, listed[1]),
        ],
    )
}

/// What Tyk's ExtractTo makes of [`legacy_oas`].
fn legacy_twin(listed: [&TestCert; 2]) -> Value {
    json!({"api_id": "combined-mtls-api", "org_id": ORG, "name": "combined-mtls-api",
        "active": true, "use_keyless": false,
        "use_mutual_tls_auth": true, "client_certificates": [id_of(listed[0]), id_of(listed[1])],
        "use_standard_auth": true, "strip_auth_data": true,
        "auth_configs": {"authToken": {"name": "authToken",
            "auth_header_name": "Authorization", "use_certificate": true}},
        "proxy": {"listen_path": "/combined-mtls/", "strip_listen_path": true,
                  "target_url": "http://httpbin.org/"}})
}

fn legacy_workers(
    oas_api: Value,
    twin: Value,
    unsafe_token: bool,
    changes: &ChangeSet,
) -> (Worker, Worker) {
    let security = json!({"allow_unsafe_dynamic_mtls_token": unsafe_token});
    (
        synced_worker(&store_gate(&[oas_api], security.clone()), changes),
        synced_worker(&store_gate(&[twin], security), changes),
    )
}

#[test]
fn the_oas_static_plus_legacy_certificate_auth_example_answers_as_its_classic_twin() {
    let c = clients();
    let changes = sessions(&c);
    let listed = [&c.alice, &c.carol];
    let cert = Peer::Certificate;
    let (host, path) = ("gw.test", "/combined-mtls/get");
    // The gate's legacy token mode decides what the token in the scheme's header does.
    for unsafe_token in [false, true] {
        let (mut oas, mut classic) = legacy_workers(
            legacy_oas(listed),
            legacy_twin(listed),
            unsafe_token,
            &changes,
        );
        let alice = forwarded("combined-mtls-api", "alice");
        let by_token = |session: &str, otherwise: &str| match unsafe_token {
            true => session.to_owned(),
            false => otherwise.to_owned(),
        };
        let table = [
            (
                ask("listed, with a session", cert(&c.alice), host, path),
                alice.clone(),
            ),
            // stripAuthorizationData: the token never goes upstream.
            (
                ask(
                    "listed, with a session and a token",
                    cert(&c.alice),
                    host,
                    path,
                )
                .with("authorization", "Bearer opaque"),
                by_token(NO_SESSION, &alice),
            ),
            (
                ask(
                    "listed, the token of another session",
                    cert(&c.alice),
                    host,
                    path,
                )
                .with("authorization", id_of(&c.bob)),
                by_token(&forwarded("combined-mtls-api", "bob"), &alice),
            ),
            (
                ask(
                    "listed, the token of an inactive session",
                    cert(&c.alice),
                    host,
                    path,
                )
                .with("authorization", format!("Bearer {}", id_of(&c.idle))),
                by_token(INACTIVE, &alice),
            ),
            // Both checks must pass (SPEC §4): listed is not enough, nor is a session.
            (
                ask("listed, without a session", cert(&c.carol), host, path),
                NO_SESSION.to_owned(),
            ),
            (
                ask("a session, not listed", cert(&c.bob), host, path),
                not_allowed(&c.bob),
            ),
            (
                ask(
                    "a token without a certificate",
                    Peer::NoCertificate,
                    host,
                    path,
                )
                .with("authorization", id_of(&c.alice)),
                r#"403 {"error": "Client TLS certificate is required"}"#.to_owned(),
            ),
            (
                ask("plain HTTP", Peer::PlainHttp, host, path),
                r#"403 {"error": "TLS not enabled"}"#.to_owned(),
            ),
        ];
        assert_twins_answer(&mut oas, &mut classic, &table);
    }
}

#[test]
fn an_oas_certificate_auth_object_switched_off_wins_over_the_legacy_flag_as_in_classic() {
    let c = clients();
    let changes = sessions(&c);
    let listed = [&c.alice, &c.carol];
    let mut oas_api = legacy_oas(listed);
    // Tyk 5.12: `certificateAuth`, once present, decides, even with `enabled: false`.
    oas_api["x-tyk-api-gateway"]["server"]["authentication"]["certificateAuth"] =
        json!({"enabled": false});
    let mut twin = legacy_twin(listed);
    twin["auth_configs"]["authToken"]["use_certificate"] = json!(false);
    let (mut oas, mut classic) = legacy_workers(oas_api, twin, false, &changes);
    let (host, path) = ("gw.test", "/combined-mtls/get");
    let table = [
        // The static list alone decides: no session is needed, none is named.
        (
            ask(
                "listed, without a session",
                Peer::Certificate(&c.carol),
                host,
                path,
            )
            .with("authorization", "Bearer opaque"),
            forwarded("combined-mtls-api", "-"),
        ),
        (
            ask(
                "listed, with a session",
                Peer::Certificate(&c.alice),
                host,
                path,
            ),
            forwarded("combined-mtls-api", "-"),
        ),
        (
            ask(
                "a session, not listed",
                Peer::Certificate(&c.bob),
                host,
                path,
            ),
            not_allowed(&c.bob),
        ),
    ];
    assert_twins_answer(&mut oas, &mut classic, &table);
}

#[test]
fn an_oas_legacy_token_is_read_from_the_header_its_openapi_scheme_names() {
    let c = clients();
    let changes = sessions(&c);
    let listed = [&c.alice, &c.carol];
    let mut oas_api = legacy_oas(listed);
    // Renamed in the OpenAPI scheme only (`in: header`). Tyk's extractAPIKeySchemeTo: that
    // name wins over Tyk's own `header.name`, still `Authorization`; the twin's
    // auth_header_name follows.
    oas_api["components"]["securitySchemes"]["authToken"]["name"] = json!("X-Api-Key");
    let mut twin = legacy_twin(listed);
    twin["auth_configs"]["authToken"]["auth_header_name"] = json!("X-Api-Key");
    let (mut oas, mut classic) = legacy_workers(oas_api, twin, true, &changes);
    let (host, path) = ("gw.test", "/combined-mtls/get");
    let bob_key = id_of(&c.bob);
    let table = [
        // That header picks the session and is stripped; Authorization is any other header.
        (
            ask(
                "the token in the scheme's header",
                Peer::Certificate(&c.alice),
                host,
                path,
            )
            .with("x-api-key", bob_key.clone()),
            forwarded("combined-mtls-api", "bob"),
        ),
        (
            ask(
                "the token in Authorization",
                Peer::Certificate(&c.alice),
                host,
                path,
            )
            .with("authorization", bob_key.clone()),
            forwarded("combined-mtls-api", "alice") + &format!(" authorization={bob_key}"),
        ),
    ];
    assert_twins_answer(&mut oas, &mut classic, &table);
}

/// The upstream certificates: one pair per placeholder, and the gate-wide default.
struct Upstreams {
    target: TestCert,
    example: TestCert,
    global: TestCert,
}

/// `upstream-mtls-and-pinning.oas.json` as one API of several: its ID, listen path, target
/// and `mutualTLS.enabled` set (the fixture's own are `upstream-mtls`, `/upstream/`,
/// `https://host1.target:8443/`, on).
fn upstream_oas(u: &Upstreams, id: &str, listen_path: &str, url: &str, mapping_on: bool) -> Value {
    let mut api = with_certificates(
        UPSTREAM,
        &[
            (PLACEHOLDER_UPSTREAM_TARGET, &u.target),
            (PLACEHOLDER_UPSTREAM_EXAMPLE, &u.example),
        ],
    );
    let tyk = &mut api["x-tyk-api-gateway"];
    tyk["info"]["id"] = json!(id);
    tyk["server"]["listenPath"]["value"] = json!(listen_path);
    tyk["upstream"]["url"] = json!(url);
    tyk["upstream"]["mutualTLS"]["enabled"] = json!(mapping_on);
    api
}

/// What Tyk's ExtractTo makes of [`upstream_oas`].
fn upstream_twin(u: &Upstreams, id: &str, listen_path: &str, url: &str, mapping_on: bool) -> Value {
    json!({"api_id": id, "org_id": ORG, "name": "upstream-mtls", "active": true,
        "use_keyless": true,
        "proxy": {"listen_path": listen_path, "strip_listen_path": true, "target_url": url,
                  "transport": {"ssl_force_common_name_check": true, "ssl_min_version": 771}},
        "upstream_certificates_disabled": !mapping_on,
        "upstream_certificates": {"*.target:8443": u.target.fingerprint,
            "*.example.com": u.example.fingerprint,
            "api.example.com:8443": u.target.fingerprint},
        "certificate_pinning_disabled": false,
        "pinned_public_keys": {"127.0.0.1": PIN_1, "*": format!("{PIN_1},{PIN_2}")}})
}

#[test]
fn the_oas_upstream_example_picks_the_upstream_certificate_as_its_classic_twin() {
    let u = Upstreams {
        target: TestCert::new("upstream-target"),
        example: TestCert::new("upstream-example"),
        global: TestCert::new("upstream-global"),
    };
    // (API, listen path, target, mutualTLS.enabled, the certificate presented upstream)
    let cases = [
        // The fixture as written: `*.target:8443`.
        (
            "upstream-mtls",
            "/upstream/",
            "https://host1.target:8443/",
            true,
            &u.target,
        ),
        // Exact host:port beats `*.example.com`.
        (
            "exact",
            "/exact/",
            "https://api.example.com:8443/",
            true,
            &u.target,
        ),
        (
            "wildcard",
            "/wildcard/",
            "https://www.example.com/",
            true,
            &u.example,
        ),
        (
            "wildcard-port",
            "/wildcard-port/",
            "https://www.example.com:9443/",
            true,
            &u.example,
        ),
        // No entry of the API's map matches: the gate-wide map's `*`.
        (
            "two-levels",
            "/two-levels/",
            "https://a.b.example.com/",
            true,
            &u.global,
        ),
        (
            "other-port",
            "/other-port/",
            "https://host1.target:9443/",
            true,
            &u.global,
        ),
        // mutualTLS off: the API's map is ignored (`upstream_certificates_disabled`).
        (
            "mapping-off",
            "/mapping-off/",
            "https://host1.target:8443/",
            false,
            &u.global,
        ),
    ];
    let (oas_apis, twins): (Vec<Value>, Vec<Value>) = cases
        .iter()
        .map(|(id, listen, url, on, _)| {
            (
                upstream_oas(&u, id, listen, url, *on),
                upstream_twin(&u, id, listen, url, *on),
            )
        })
        .unzip();
    let security = json!({"certificates": {"upstream": {"*": u.global.fingerprint}}});
    // Upstream certificates are store IDs without an org (as Tyk's examples write them).
    let index = ChangeSet {
        certs: snapshot(
            &[(&u.target, true), (&u.example, true), (&u.global, true)],
            &[],
        )
        .certs
        .into_iter()
        .map(|entry| CertIndexEntry {
            id: certificate_id(entry.fingerprint.to_hex()),
            ..entry
        })
        .collect(),
        ..snapshot(&[], &[])
    };
    let mut oas = synced_worker(&store_gate(&oas_apis, security.clone()), &index);
    let mut classic = synced_worker(&store_gate(&twins, security), &index);
    let table: Vec<(Ask, String)> = cases
        .iter()
        .map(|(id, listen, _, _, cert)| {
            let fingerprint = Fingerprint::parse_hex(&cert.fingerprint).unwrap();
            (
                ask(id, Peer::PlainHttp, "gw.test", format!("{listen}get")),
                format!(
                    "forwarded {id} key=- via {}",
                    cluster_name(id, Some(&fingerprint))
                ),
            )
        })
        .collect();
    assert_twins_answer(&mut oas, &mut classic, &table);
}
