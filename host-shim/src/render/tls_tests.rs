//! The TLS listener plan (SPEC §8): which filter chains a gate gets, each chain's server
//! certificate and client validation, and what render refuses. Real Envoy runs the output
//! in `tests/e2e/tests/tls_layer.rs`.

use super::envoy::{ClientValidation, ServerCertificate, TlsFilterChain};
use super::handshake::{Enforcement, HttpLevelReason};
use super::*;
use crate::certificates;
use crate::secret::Secret;
use crate::store::sqlite::SqliteBackend;
use mtls_gate_testkit::ca::{Leaf, TestCa};
use serde_json::{Value, json};

struct Fixture {
    dir: tempfile::TempDir,
    store: Store,
    ca: TestCa,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let secret = Secret::new("tls-plan-secret", "secret").unwrap();
        let backend = SqliteBackend::open(&dir.path().join("store.db")).unwrap();
        Fixture {
            store: Store::open(backend, &secret).unwrap(),
            dir,
            ca: TestCa::new(),
        }
    }

    fn add(&self, pem: &str) -> String {
        certificates::add(&self.store, pem.as_bytes(), "acme", unix_now()).unwrap()
    }

    fn plan(&self, gate: &Value, default: bool) -> Result<TlsPlan, RenderError> {
        let prepared = prepare_gate(gate.to_string().as_bytes(), "127.0.0.1:8181", None)?;
        let default = default.then(|| ("/srv.pem".into(), "/srv.key".into()));
        plan_tls(
            &prepared,
            &self.store,
            default,
            &self.dir.path().join("secrets"),
            unix_now(),
        )
    }
}

fn default_cert() -> ServerCertificate {
    ServerCertificate::Files {
        cert: "/srv.pem".into(),
        key: "/srv.key".into(),
    }
}

fn fp(leaf: &Leaf) -> String {
    leaf.fingerprint()
}

fn chain<'a>(plan: &'a TlsPlan, name: &str) -> &'a TlsFilterChain {
    plan.chains
        .iter()
        .find(|c| c.server_names.iter().any(|n| n == name))
        .unwrap_or_else(|| panic!("no chain for {name}: {:#?}", plan.chains))
}

fn enforcement<'a>(plan: &'a TlsPlan, domain: &str) -> &'a Enforcement {
    &plan
        .domains
        .iter()
        .find(|d| d.domain == domain)
        .unwrap_or_else(|| panic!("{domain} not planned: {:?}", plan.domains))
        .enforcement
}

fn mtls_api(id: &str, domain: &str, list: Vec<String>) -> Value {
    json!({"api_id": id, "domain": domain, "proxy": {"listen_path": format!("/{id}/")},
           "use_mutual_tls_auth": true, "client_certificates": list})
}

fn open_api(id: &str, domain: &str) -> Value {
    json!({"api_id": id, "domain": domain, "proxy": {"listen_path": format!("/{id}/")}})
}

#[test]
fn leaf_only_ca_only_mixed_shared_and_empty_domains() {
    let f = Fixture::new();
    let (a, b) = (f.ca.leaf("a"), f.ca.leaf("b"));
    let other_ca = TestCa::new();
    let stored_ca = f.add(&other_ca.ca_pem);
    let stored_leaf = f.add(&b.cert_pem);
    let absent = format!("acme{}", "0".repeat(64));
    let gate = json!({
        "org_id": "acme",
        "store": {"cluster": "x", "authority": "x", "token": "t"},
        "apis": [
            mtls_api("leaf", "leaf.test", vec![a.cert_pem.clone(), stored_leaf.clone()]),
            // Two APIs on one domain: their lists join.
            mtls_api("leaf2", "Leaf.Test", vec![stored_leaf.clone()]),
            mtls_api("ca", "ca.test", vec![f.ca.ca_pem.clone(), stored_ca.clone()]),
            mtls_api("mixed", "mixed.test", vec![f.ca.ca_pem.clone(), a.cert_pem.clone()]),
            mtls_api("shared", "shared.test", vec![a.cert_pem.clone()]),
            open_api("shared-open", "shared.test"),
            mtls_api("templated", "x.tpl.test", vec![a.cert_pem.clone()]),
            open_api("template-open", "{sub:[a-z]+}.tpl.test"),
            mtls_api("absent", "absent.test", vec![absent.clone()]),
            mtls_api("by-ip", "127.0.0.1", vec![a.cert_pem.clone()]),
        ]
    });
    let plan = f.plan(&gate, true).unwrap();

    let mut leaves = vec![fp(&a), fp(&b)];
    leaves.sort();
    let leaf_chain = chain(&plan, "leaf.test");
    assert_eq!(leaf_chain.server_names, ["leaf.test"]);
    assert_eq!(
        leaf_chain.client_validation,
        ClientValidation::LeafHashes(leaves)
    );
    assert_eq!(leaf_chain.server_certificate, default_cert());

    let Enforcement::Handshake(ClientValidation::TrustedCa(pem)) = enforcement(&plan, "ca.test")
    else {
        panic!("{:?}", plan.domains)
    };
    let cas = mtls_gate_core::certificate::parse_bundle(pem).unwrap();
    let mut got: Vec<String> = cas
        .certificates
        .iter()
        .map(|(_, c)| c.fingerprint.to_hex())
        .collect();
    got.sort();
    let mut want = vec![
        mtls_gate_core::fingerprint::Fingerprint::of_der(&f.ca.ca_der).to_hex(),
        mtls_gate_core::fingerprint::Fingerprint::of_der(&other_ca.ca_der).to_hex(),
    ];
    want.sort();
    assert_eq!(got, want);

    for (domain, reason) in [
        ("mixed.test", HttpLevelReason::Mixed),
        ("shared.test", HttpLevelReason::Shared),
        // A host template of an open API serves x.tpl.test too.
        ("x.tpl.test", HttpLevelReason::Shared),
        ("absent.test", HttpLevelReason::NothingToTrust),
    ] {
        assert_eq!(
            enforcement(&plan, domain),
            &Enforcement::HttpLevel(reason),
            "{domain}"
        );
    }
    assert!(
        plan.domains.iter().all(|d| d.domain != "127.0.0.1"),
        "no SNI carries an IP"
    );
    assert!(
        plan.server_certs
            .warnings
            .iter()
            .any(|w| w.contains(&absent) && w.contains("not in the store")),
        "{:?}",
        plan.server_certs.warnings
    );
    // Handshake chains for leaf.test and ca.test, and the default last, without names.
    assert_eq!(plan.chains.len(), 3, "{:#?}", plan.chains);
    let default = plan.chains.last().unwrap();
    assert!(default.server_names.is_empty());
    assert_eq!(default.client_validation, ClientValidation::HttpLevel);
    assert_eq!(default.server_certificate, default_cert());
}

#[test]
fn global_and_any_host_mtls_lists_join_every_domain() {
    let f = Fixture::new();
    let (a, g, any) = (f.ca.leaf("a"), f.ca.leaf("g"), f.ca.leaf("any"));
    let gate = json!({
        "security": {"certificates": {"apis": [g.fingerprint()]}},
        "apis": [
            mtls_api("a", "a.test", vec![a.fingerprint()]),
            mtls_api("any", "", vec![any.fingerprint()]),
            // An open API for any host does not share a.test (Tyk's rule).
            open_api("open", ""),
        ]
    });
    let plan = f.plan(&gate, true).unwrap();
    let mut want = vec![a.fingerprint(), g.fingerprint(), any.fingerprint()];
    want.sort();
    assert_eq!(
        chain(&plan, "a.test").client_validation,
        ClientValidation::LeafHashes(want)
    );
    // The global list alone, with a CA: a CA-only domain.
    let gate = json!({
        "security": {"certificates": {"apis": [f.ca.ca_pem]}},
        "apis": [mtls_api("a", "a.test", vec![])]
    });
    let plan = f.plan(&gate, true).unwrap();
    assert!(matches!(
        chain(&plan, "a.test").client_validation,
        ClientValidation::TrustedCa(_)
    ));
}

#[test]
fn server_certificates_are_chosen_by_san_and_api_domain_without_overlaps() {
    let f = Fixture::new();
    let (s1, s2, client) = (f.ca.leaf("s1"), f.ca.leaf("s2"), f.ca.leaf("client"));
    let id1 = f.add(&s1.bundle());
    let key_file = f.dir.path().join("s2.pem");
    std::fs::write(&key_file, s2.bundle()).unwrap();
    let gate = json!({
        "org_id": "acme",
        "store": {"cluster": "x", "authority": "x", "token": "t"},
        "http_server_options": {"ssl_certificates": [id1, id1]},
        "apis": [
            // s1 also serves api.test (its domain); api.test is handshake-level, so its
            // own chain presents s1 and s1's chain leaves the name out.
            {"api_id": "api", "domain": "api.test", "proxy": {"listen_path": "/"},
             "use_mutual_tls_auth": true, "client_certificates": [client.cert_pem],
             "certificates": [id1]},
            // A file with certificate and key; s1's name again (already claimed).
            {"api_id": "two", "domain": "s1.example.test", "proxy": {"listen_path": "/two/"},
             "certificates": [key_file.display().to_string()]},
        ]
    });
    let plan = f.plan(&gate, false).unwrap();
    let names: Vec<Vec<String>> = plan.chains.iter().map(|c| c.server_names.clone()).collect();
    assert_eq!(
        names,
        [
            vec!["api.test".to_owned()],
            vec!["s1.example.test".to_owned()],
            vec!["s2.example.test".to_owned()],
            vec![],
        ]
    );
    let sds = |leaf: &Leaf| ServerCertificate::Sds {
        secret: format!("server-{}", leaf.fingerprint()),
        sds_path: f
            .dir
            .path()
            .join("secrets")
            .join(format!("{}.server.yaml", leaf.fingerprint())),
    };
    assert_eq!(plan.chains[0].server_certificate, sds(&s1));
    assert!(matches!(
        plan.chains[0].client_validation,
        ClientValidation::LeafHashes(_)
    ));
    assert_eq!(plan.chains[1].server_certificate, sds(&s1));
    assert_eq!(plan.chains[2].server_certificate, sds(&s2));
    // No --server-cert: the first server certificate is the default.
    assert_eq!(plan.chains[3].server_certificate, sds(&s1));
    assert_eq!(plan.server_certs.certs.len(), 2);
    assert_eq!(
        plan.server_certs.certs[0].names,
        ["s1.example.test", "api.test"]
    );
    assert_eq!(
        *plan.server_certs.certs[0].secret.key_pem,
        s1.key_pem.replace("\r\n", "\n"),
        "the decrypted key"
    );
}

#[test]
fn keyless_expired_and_missing_server_certificates() {
    let f = Fixture::new();
    let keyless = f.add(&f.ca.leaf("keyless").cert_pem);
    let expired = f.ca.expired("old");
    let cases = [
        (
            json!({"http_server_options": {"ssl_certificates": [keyless.clone()]}}),
            "http_server_options.ssl_certificates[0]: server certificate ",
            keyless.clone(),
            "no private key",
        ),
        (
            json!({"apis": [{"api_id": "a", "certificates": [f.ca.leaf("nokey").cert_pem]}]}),
            "apis[0].certificates[0]: server certificate inline PEM (SHA256 ",
            String::new(),
            "no private key",
        ),
        (
            json!({"apis": [{"api_id": "z", "active": false}, {"api_id": "a", "certificates": [expired.bundle()]}]}),
            "apis[1].certificates[0]: server certificate inline PEM (SHA256 ",
            expired.fingerprint(),
            "expired",
        ),
    ];
    for (gate, prefix, names, reason) in cases {
        let err = f.plan(&gate, true).err().expect("refused").to_string();
        assert!(err.starts_with(prefix), "{err}");
        assert!(err.contains(&names) && err.contains(reason), "{err}");
    }
    // A file that is not there is refused naming the field and the file.
    let gate = json!({"http_server_options": {"ssl_certificates": ["/nonexistent/srv.pem"]}});
    let err = f.plan(&gate, true).err().unwrap().to_string();
    assert!(
        err.starts_with(
            "http_server_options.ssl_certificates[0]: certificate file /nonexistent/srv.pem: "
        ),
        "{err}"
    );
    // An ID not (yet) in the store: skipped with a warning.
    let absent = format!("acme{}", "1".repeat(64));
    let gate = json!({"http_server_options": {"ssl_certificates": [absent]}});
    let plan = f.plan(&gate, true).unwrap();
    assert_eq!(plan.chains.len(), 1);
    assert!(plan.server_certs.warnings[0].contains("not in the store (yet)"));
    // ... and with no --server-cert either, there is no certificate at all.
    assert!(matches!(
        f.plan(&gate, false),
        Err(RenderError::NoServerCertificate)
    ));
}

#[test]
fn render_writes_server_secrets_and_keeps_keys_out_of_the_filter_config() {
    let f = Fixture::new();
    let server = f.ca.leaf("srv");
    let client = f.ca.leaf("client");
    let id = f.add(&server.bundle());
    let client_file = f.dir.path().join("client.pem");
    std::fs::write(&client_file, client.bundle()).unwrap();
    let gate = json!({
        "org_id": "acme",
        "store": {"cluster": "x", "authority": "x", "token": "t"},
        "http_server_options": {"ssl_certificates": [id]},
        "apis": [{"api_id": "a", "domain": "a.test", "proxy": {"listen_path": "/"},
                  "use_mutual_tls_auth": true,
                  "client_certificates": [client_file.display().to_string()]}]
    });
    let out = f.dir.path().join("out");
    let options = RenderOptions {
        gate_json: gate.to_string().into_bytes(),
        out_dir: out.clone(),
        listen: "127.0.0.1:8443".parse().unwrap(),
        plain_listen: None,
        admin: "127.0.0.1:9901".parse().unwrap(),
        server_cert: None,
        module: GateModule::Wasm("/f.wasm".into()),
        shim: Endpoint {
            host: "127.0.0.1".into(),
            port: 8181,
        },
        feed_token: None,
        upstreams: plan::UpstreamOptions::default(),
    };
    let rendered = render_dir(&options, &f.store).unwrap();
    let fp = server.fingerprint();
    let secrets = out.join("secrets");
    for file in [
        format!("{fp}.server.yaml"),
        format!("{fp}.crt.pem"),
        format!("{fp}.key.pem"),
    ] {
        let path = secrets.join(&file);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    let lds = std::fs::read_to_string(out.join("xds/lds.yaml")).unwrap();
    assert!(
        lds.contains(r#"filter_chain_match: {server_names: ["a.test"]}"#),
        "{lds}"
    );
    assert!(lds.contains(&format!(
        r#"verify_certificate_hash: ["{}"]"#,
        client.fingerprint()
    )));
    assert!(lds.contains(&format!(r#"- name: "server-{fp}""#)));
    assert_eq!(lds.matches("require_client_certificate: true").count(), 1);
    assert!(
        !lds.contains("PRIVATE KEY"),
        "no key reaches the filter config"
    );
    assert!(
        !lds.contains(&client_file.display().to_string()),
        "path inlined"
    );
    assert_eq!(rendered.tls_chains.len(), 3);
    // A re-render of the same gate changes nothing.
    assert!(render_dir(&options, &f.store).unwrap().written.is_empty());
}

/// SPEC §9: an OAS API's allow list (`server.clientCertificates.allowlist`) is its own at the
/// handshake too; read as `client_certificates` only, a domain with a global list would
/// verify the global entries alone and refuse the API's own clients with a TLS alert.
#[test]
fn an_oas_apis_allowlist_joins_its_domain_at_the_handshake() {
    let f = Fixture::new();
    let (global, own) = (f.ca.leaf("global"), f.ca.leaf("own"));
    let gate = json!({
        "security": {"certificates": {"apis": [global.cert_pem.clone()]}},
        "apis": [{"openapi": "3.0.3", "info": {"title": "o", "version": "1"}, "paths": {},
            "x-tyk-api-gateway": {
                "info": {"id": "oas", "name": "oas", "state": {"active": true}},
                "upstream": {"url": "http://up.test/"},
                "server": {"listenPath": {"value": "/"},
                    "customDomain": {"enabled": true, "name": "oas.test"},
                    "clientCertificates": {"enabled": true, "allowlist": [own.cert_pem.clone()]}}}}]
    });
    let plan = f.plan(&gate, true).unwrap();
    let mut leaves = vec![fp(&global), fp(&own)];
    leaves.sort();
    assert_eq!(
        enforcement(&plan, "oas.test"),
        &Enforcement::Handshake(ClientValidation::LeafHashes(leaves))
    );
}
