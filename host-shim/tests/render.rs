//! `mtls-gate-shim render` as a library: which clusters a gate gets, their names (the
//! core's `cluster_name`, the names the filter routes to), key files on disk, atomic
//! re-renders, and refusals. Real Envoy runs the output in `tests/e2e/tests/upstream_certificates.rs`.

use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::upstream::cluster_name;
use mtls_gate_shim::certificates;
use mtls_gate_shim::render::envoy::{Endpoint, GateModule};
use mtls_gate_shim::render::plan::{Resolve, UpstreamOptions};
use mtls_gate_shim::render::{RenderError, RenderOptions, Rendered, render_dir};
use mtls_gate_shim::secret::Secret;
use mtls_gate_shim::store::Store;
use mtls_gate_shim::store::sqlite::SqliteBackend;
use mtls_gate_testkit::ca::{Leaf, TestCa};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

struct Fixture {
    dir: tempfile::TempDir,
    store: Store,
    pki: TestCa,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let secret = Secret::new("render-test-secret", "secret").unwrap();
        let backend = SqliteBackend::open(&dir.path().join("store.db")).unwrap();
        let store = Store::open(backend, &secret).unwrap();
        Fixture {
            dir,
            store,
            pki: TestCa::new(),
        }
    }

    /// Uploads `pem` under org `acme`; the certificate ID.
    fn add(&self, pem: &str) -> String {
        certificates::add(&self.store, pem.as_bytes(), "acme", now()).unwrap()
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn options(&self, gate: &serde_json::Value) -> RenderOptions {
        RenderOptions {
            gate_json: gate.to_string().into_bytes(),
            out_dir: self.out(),
            listen: "127.0.0.1:8443".parse().unwrap(),
            plain_listen: None,
            admin: "127.0.0.1:9901".parse().unwrap(),
            server_cert: Some((
                PathBuf::from("/etc/server.pem"),
                PathBuf::from("/etc/server.key"),
            )),
            module: GateModule::Wasm(PathBuf::from("/opt/mtls_gate_filter.wasm")),
            shim: Endpoint {
                host: "127.0.0.1".into(),
                port: 8181,
            },
            feed_token: Some("feed-token".into()),
            upstreams: UpstreamOptions {
                ca: Some(PathBuf::from("/etc/upstream-ca.pem")),
                resolve: vec!["exact.example.test:9001:127.0.0.1".parse().unwrap()],
            },
        }
    }

    fn render(&self, gate: &serde_json::Value) -> Result<Rendered, RenderError> {
        render_dir(&self.options(gate), &self.store)
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn fp(leaf: &Leaf) -> Fingerprint {
    Fingerprint::parse_hex(&leaf.fingerprint()).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// Three host rules in the global map (exact host:port, wildcard, `*`) and one API whose
/// own map names a certificate without a key.
fn gate(exact: &str, wildcard: &str, any: &str, keyless: &str) -> serde_json::Value {
    serde_json::json!({
        "org_id": "acme",
        "store": {"cluster": "ignored", "authority": "ignored"},
        "security": {"certificates": {"upstream": {
            "exact.example.test:9001": exact,
            "*.example.test": wildcard,
            "*": any,
        }}},
        "apis": [
            {"api_id": "exact", "proxy": {"listen_path": "/exact/", "target_url": "https://exact.example.test:9001/base"}},
            {"api_id": "wild", "proxy": {"listen_path": "/wild/", "target_url": "https://svc.example.test:9002"}},
            {"api_id": "any", "proxy": {"listen_path": "/any/", "target_url": "https://localhost:9003"}},
            {"api_id": "keyless", "proxy": {"listen_path": "/keyless/", "target_url": "https://other.example.test:9004"},
             "upstream_certificates": {"other.example.test": keyless}},
            {"api_id": "no-target", "proxy": {"listen_path": "/none/"}},
        ]
    })
}

struct Certs {
    exact: Leaf,
    wild: Leaf,
    any: Leaf,
    ids: [String; 4],
}

fn upload_certs(f: &Fixture) -> Certs {
    let (exact, wild, any, keyless) = (
        f.pki.leaf("exact"),
        f.pki.leaf("wild"),
        f.pki.leaf("any"),
        f.pki.leaf("keyless"),
    );
    let ids = [
        f.add(&exact.bundle()),
        f.add(&wild.bundle()),
        f.add(&any.bundle()),
        f.add(&keyless.cert_pem),
    ];
    Certs {
        exact,
        wild,
        any,
        ids,
    }
}

#[test]
fn each_api_gets_a_plain_cluster_and_one_for_its_chosen_certificate_named_by_the_core() {
    let f = Fixture::new();
    let c = upload_certs(&f);
    let [a, b, d, k] = &c.ids;
    let rendered = f.render(&gate(a, b, d, k)).unwrap();

    let summary: Vec<(String, Option<String>, String)> = rendered
        .upstreams
        .iter()
        .map(|u| {
            (
                u.plain_cluster.name.clone(),
                u.certificate_cluster
                    .as_ref()
                    .map(|c| c.cluster.name.clone()),
                u.routed_cluster.clone(),
            )
        })
        .collect();
    let with_cert = |api: &str, leaf: &Leaf| {
        let cert = cluster_name(api, Some(&fp(leaf)));
        (cluster_name(api, None), Some(cert.clone()), cert)
    };
    assert_eq!(
        summary,
        vec![
            with_cert("exact", &c.exact),
            with_cert("wild", &c.wild),
            with_cert("any", &c.any),
            // The API map beats the global `*`, and its certificate has no key: no client
            // certificate at all, so no certificate cluster.
            (
                cluster_name("keyless", None),
                None,
                cluster_name("keyless", None)
            ),
        ]
    );

    // Every routed cluster is in CDS, with the shim's; the API without a target has none.
    let cds = read(&f.out().join("xds/cds.yaml"));
    for (plain, cert, _) in &summary {
        assert!(cds.contains(&format!("name: \"{plain}\"")), "{plain}");
        if let Some(cert) = cert {
            assert!(cds.contains(&format!("name: \"{cert}\"")), "{cert}");
        }
    }
    assert!(cds.contains("name: \"mtls-gate-shim\""));
    assert!(!cds.contains(&cluster_name("no-target", None)));
    // --resolve pins the exact target to loopback; SNI stays the target host.
    assert!(cds.contains("sni: \"exact.example.test\""));
    assert_eq!(cds.matches("type: STRICT_DNS").count(), 5, "{cds}");

    // The filter config is inlined, with its store block pointed at the shim cluster.
    let lds = read(&f.out().join("xds/lds.yaml"));
    assert!(lds.contains(r#"\"cluster\":\"mtls-gate-shim\""#), "{lds}");
    assert!(lds.contains(r#"\"authority\":\"127.0.0.1:8181\""#));
    assert!(lds.contains(r#"\"token\":\"feed-token\""#));
    assert!(lds.contains("request_headers_to_remove: [x-mtls-gate-cluster]"));
    assert!(lds.contains("trust_chain_verification: ACCEPT_UNTRUSTED"));
    assert!(lds.contains("forward_client_cert_details: SANITIZE_SET"));
    assert!(lds.contains("status: 404"));
}

#[test]
fn key_files_are_owner_only_and_hold_the_stored_key() {
    let f = Fixture::new();
    let c = upload_certs(&f);
    let [a, b, d, k] = &c.ids;
    f.render(&gate(a, b, d, k)).unwrap();

    let out = f.out();
    for dir in [out.clone(), out.join("xds"), out.join("secrets")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    let secrets = out.join("secrets");
    let mut names: Vec<String> = std::fs::read_dir(&secrets)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // Three certificates with keys, three files each; the key-less one has none.
    assert_eq!(names.len(), 9, "{names:?}");
    for name in &names {
        assert_eq!(mode(&secrets.join(name)), 0o600, "{name}");
    }
    let key_file = secrets.join(format!("{}.key.pem", c.exact.fingerprint()));
    let key = mtls_gate_core::pem::parse_blocks(&read(&key_file)).unwrap();
    assert_eq!(key[0].der, c.exact.key_der);
    let sds = read(&secrets.join(format!("{}.yaml", c.exact.fingerprint())));
    assert!(sds.contains(&key_file.display().to_string()), "{sds}");
    for file in ["envoy.yaml", "xds/lds.yaml", "xds/cds.yaml"] {
        assert_eq!(mode(&out.join(file)), 0o600, "{file}");
    }
}

#[test]
fn rerender_after_rotation_renames_new_files_in_and_removes_the_old_key() {
    let f = Fixture::new();
    let c = upload_certs(&f);
    let [a, b, d, k] = &c.ids;
    f.render(&gate(a, b, d, k)).unwrap();
    let out = f.out();
    let inode = |p: &str| std::fs::metadata(out.join(p)).unwrap().ino();
    let (lds_before, bootstrap_before) = (inode("xds/lds.yaml"), inode("envoy.yaml"));

    // Unchanged input: nothing is rewritten (Envoy is not made to reload).
    let again = f.render(&gate(a, b, d, k)).unwrap();
    assert!(again.written.is_empty(), "{:?}", again.written);
    assert!(again.removed.is_empty());

    // Rotate the exact host's certificate: upload a new one, point the gate at it.
    let rotated = f.pki.leaf("exact-rotated");
    let rotated_id = f.add(&rotated.bundle());
    let result = f.render(&gate(&rotated_id, b, d, k)).unwrap();
    assert_eq!(
        result.upstreams[0].routed_cluster,
        cluster_name("exact", Some(&fp(&rotated)))
    );
    // Replaced by rename (a new inode), never rewritten in place; the bootstrap is unchanged.
    assert_ne!(inode("xds/lds.yaml"), lds_before);
    assert_eq!(inode("envoy.yaml"), bootstrap_before);
    let secrets = out.join("secrets");
    assert!(
        secrets
            .join(format!("{}.key.pem", rotated.fingerprint()))
            .is_file()
    );
    // The old key outlives its cluster on disk no longer.
    assert!(
        !secrets
            .join(format!("{}.key.pem", c.exact.fingerprint()))
            .exists()
    );
    assert_eq!(result.removed.len(), 3, "{:?}", result.removed);
    // No temp file is left behind anywhere.
    for dir in [out.clone(), out.join("xds"), secrets] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.contains(".tmp-"), "{name}");
        }
    }
}

#[test]
fn a_deleted_certificate_falls_back_to_the_plain_cluster() {
    let f = Fixture::new();
    let c = upload_certs(&f);
    let [a, b, d, k] = &c.ids;
    assert!(f.store.delete_certificate(a).unwrap());
    let rendered = f.render(&gate(a, b, d, k)).unwrap();
    // Like the filter: a certificate that is not in the index has no key, so the plain cluster.
    assert_eq!(
        rendered.upstreams[0].routed_cluster,
        cluster_name("exact", None)
    );
    assert!(rendered.upstreams[0].certificate_cluster.is_none());
}

#[test]
fn an_invalid_gate_is_refused_with_the_path_of_the_bad_field_and_nothing_is_written() {
    let f = Fixture::new();
    let c = upload_certs(&f);
    let cases = [
        (
            serde_json::json!({"security": {"certificates": {"upstream": {"https://a.example.test": c.ids[0]}}}}),
            "security.certificates.upstream",
        ),
        (
            serde_json::json!({"apis": [{"api_id": "x", "proxy": {"target_url": "ftp://x"}}]}),
            "apis[0].proxy.target_url",
        ),
        (serde_json::json!([1, 2]), "$"),
    ];
    for (gate, path) in cases {
        let err = f.render(&gate).unwrap_err().to_string();
        assert!(err.starts_with("refusing gate config: "), "{err}");
        assert!(err.contains(path), "{err} should name {path}");
    }
    assert!(!f.out().join("envoy.yaml").exists());

    let err = render_dir(
        &RenderOptions {
            gate_json: b"{\"apis\": [".to_vec(),
            ..f.options(&serde_json::json!({}))
        },
        &f.store,
    )
    .unwrap_err();
    assert!(matches!(err, RenderError::Gate(_)), "{err}");
}

#[test]
fn resolve_takes_curl_syntax_and_refuses_junk() {
    assert_eq!(
        "API.example.test:443:10.0.0.1".parse::<Resolve>().unwrap(),
        Resolve {
            host: "api.example.test".into(),
            port: 443,
            addr: "10.0.0.1".parse().unwrap()
        }
    );
    for junk in ["api.example.test", "a:b:127.0.0.1", "a:443:not-an-ip"] {
        assert!(junk.parse::<Resolve>().is_err(), "{junk}");
    }
}
