//! `mtls-gate-shim import` over a sample Tyk installation (`tests/fixtures/tyk-install/`:
//! tyk.conf, two Classic mTLS APIs, one token API, two OAS APIs as Tyk stores them), with its
//! certificates generated at test time into a copy of it. Round trip: the imported gate
//! compiles (as render and the filter compile it) into the settings the Tyk files say, every
//! file reference is inlined, and the report names each setting left out by file and path.
//! Real Envoy runs an imported gate in `tests/e2e/tests/import.rs`.

use mtls_gate_core::config::GateConfig;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_shim::import::report::Report;
use mtls_gate_shim::import::{ImportError, ImportOptions, Imported, import};
use mtls_gate_testkit::ca::{Leaf, TestCa, public_key_pem};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tyk-install");

/// A copy of the fixture installation with its certificates.
struct Install {
    dir: tempfile::TempDir,
    partners_ca: TestCa,
    ops_ca: TestCa,
    partner_a: Leaf,
    server: Leaf,
    partners_server: Leaf,
    billing_client: Leaf,
    billing_server: Leaf,
    ledger_upstream: Leaf,
    pin: String,
}

impl Install {
    fn new() -> Install {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(Path::new(FIXTURE), dir.path());
        let ca = TestCa::new();
        let partners_ca = TestCa::new();
        let install = Install {
            partner_a: partners_ca.leaf("partner-a"),
            partners_ca,
            ops_ca: TestCa::new(),
            server: ca.leaf("gateway"),
            partners_server: ca.leaf("partners"),
            billing_client: ca.leaf("billing-client"),
            billing_server: ca.leaf("billing"),
            ledger_upstream: ca.leaf("ledger-client"),
            pin: public_key_pem(),
            dir,
        };
        let certs = install.root().join("certs");
        std::fs::create_dir(&certs).unwrap();
        for (name, pem) in [
            ("partners-ca.pem", install.partners_ca.ca_pem.clone()),
            ("ops-ca.pem", install.ops_ca.ca_pem.clone()),
            ("server.pem", install.server.bundle()),
            ("pin.pub", install.pin.clone()),
            ("partner-a.pem", install.partner_a.cert_pem.clone()),
            ("partners-server.pem", install.partners_server.bundle()),
            (
                "billing-client.pem",
                install.billing_client.cert_pem.clone(),
            ),
            ("billing-server.pem", install.billing_server.bundle()),
            (
                "ledger-upstream.crt",
                install.ledger_upstream.cert_pem.clone(),
            ),
        ] {
            std::fs::write(certs.join(name), pem).unwrap();
        }
        install
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn options(&self) -> ImportOptions {
        ImportOptions {
            tyk_conf: self.root().join("tyk.conf"),
            apps: self.root().join("apps"),
            base_dir: None,
        }
    }

    /// The name the report gives a file of the installation.
    fn file(&self, name: &str) -> String {
        self.root().join(name).display().to_string()
    }

    fn import(&self) -> (Result<Imported, ImportError>, Vec<String>) {
        let mut report = Report::default();
        let result = import(&self.options(), &mut report);
        (result, report.lines())
    }

    /// Edits one JSON file of the installation.
    fn edit(&self, name: &str, change: impl FnOnce(&mut Value)) {
        let path = self.root().join(name);
        let mut value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        change(&mut value);
        std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    }

    /// Runs the binary in `cwd` with `args` after `import`.
    fn run(&self, cwd: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mtls-gate-shim"))
            .arg("import")
            .args(args)
            .current_dir(cwd)
            .output()
            .unwrap()
    }
}

/// A change to one JSON file of the installation.
type Edit = fn(&mut Value);

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The gate compiled as render compiles it (render fills the feed token in).
fn compiled(gate: &Value) -> GateConfig {
    mtls_gate_shim::render::prepare_gate(gate.to_string().as_bytes(), "shim:8181", Some("t"))
        .unwrap_or_else(|e| panic!("{e}"))
        .config
}

fn fingerprint(leaf: &Leaf) -> Fingerprint {
    Fingerprint::of_der(&leaf.cert_der)
}

fn has_line(lines: &[String], start: &str) -> bool {
    lines.iter().any(|line| line.starts_with(start))
}

#[track_caller]
fn assert_line(lines: &[String], start: &str) {
    assert!(
        has_line(lines, start),
        "no line starting {start:?} in\n{}",
        lines.join("\n")
    );
}

#[test]
fn every_mtls_setting_of_tyk_conf_arrives_in_the_gate_with_files_inlined() {
    let install = Install::new();
    let (result, lines) = install.import();
    let gate = result
        .unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")))
        .gate;
    let security = &gate["security"];
    assert_eq!(
        security["certificates"]["apis"],
        json!([install.partners_ca.ca_pem])
    );
    assert_eq!(
        security["certificates"]["upstream"],
        json!({"*.internal.example.test": "acme135b80192c9c42d986924a3d6bbce34b65e52e890a15f9560279df86576d3289"})
    );
    assert_eq!(
        security["certificates"]["control_api"],
        json!([install.ops_ca.ca_pem])
    );
    assert_eq!(security["control_api_use_mutual_tls"], json!(true));
    assert_eq!(security["allow_unsafe_dynamic_mtls_token"], json!(false));
    assert_eq!(
        security["pinned_public_keys"],
        json!({"payments.internal.example.test": install.pin})
    );
    assert_eq!(
        security["certificate_expiry_monitor"],
        json!({"warning_threshold_days": 14, "check_cooldown_seconds": 600, "event_cooldown_seconds": 86400})
    );
    // Left out: the encoding secret, the Dashboard's and MDCB's certificates.
    assert_eq!(security.get("private_certificate_encoding_secret"), None);
    assert_eq!(security["certificates"].get("dashboard_api"), None);
    // The server certificate keeps its key: render serves it.
    assert_eq!(
        gate["http_server_options"],
        json!({"ssl_certificates": [install.server.bundle()]})
    );
    assert_eq!(
        gate["store"],
        json!({"cluster": "mtls-gate-shim", "authority": "mtls-gate-shim"})
    );

    let config = compiled(&gate);
    let partners_ca = Fingerprint::of_der(&install.partners_ca.ca_der);
    assert!(config.global_allow_list.get(&partners_ca).is_some());
    assert!(!config.allow_unsafe_dynamic_mtls_token);
    assert!(!config.global_upstream.is_empty());
    assert_eq!(config.server_certificates.len(), 1);
}

#[test]
fn every_definition_arrives_classic_as_classic_and_oas_as_oas() {
    let install = Install::new();
    let (result, lines) = install.import();
    let gate = result
        .unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")))
        .gate;
    let apis = gate["apis"].as_array().unwrap();
    // Name order, as Tyk lists app_path; an OAS API is its document, its Classic file is not
    // an entry of its own.
    let ids: Vec<&str> = apis
        .iter()
        .map(|api| {
            api["api_id"]
                .as_str()
                .or(api["x-tyk-api-gateway"]["info"]["id"].as_str())
                .unwrap()
        })
        .collect();
    assert_eq!(ids, ["billing", "ledger", "orders", "partners", "reports"]);
    let (billing, ledger, partners) = (&apis[0], &apis[1], &apis[3]);
    assert_eq!(billing["openapi"], "3.0.3");
    let server = &billing["x-tyk-api-gateway"]["server"];
    assert_eq!(
        server["clientCertificates"]["allowlist"][0],
        install.billing_client.cert_pem
    );
    assert_eq!(
        server["customDomain"]["certificates"][0],
        install.billing_server.bundle()
    );
    let upstream = &ledger["x-tyk-api-gateway"]["upstream"];
    assert_eq!(
        upstream["mutualTLS"]["domainToCertificateMapping"][0]["certificate"],
        install.ledger_upstream.cert_pem
    );
    assert_eq!(
        upstream["certificatePinning"]["domainToPublicKeysMapping"][0]["publicKeys"][0],
        install.pin
    );
    // Classic definitions whole: fields the gate does not read stay as Tyk had them.
    assert_eq!(
        partners["version_data"]["versions"]["Default"]["use_extended_paths"],
        true
    );
    assert_eq!(
        partners["client_certificates"][0],
        install.partner_a.cert_pem
    );
    assert_eq!(
        partners["certificates"][0],
        install.partners_server.bundle()
    );

    let config = compiled(&gate);
    let api = |id: &str| config.apis.iter().find(|a| a.api_id == id).unwrap();
    let partners = api("partners");
    assert!(partners.use_mutual_tls_auth);
    assert!(
        partners
            .client_certificates
            .get(&fingerprint(&install.partner_a))
            .is_some()
    );
    assert_eq!(partners.client_certificates.len(), 2);
    assert_eq!(partners.org_id, "acme");
    assert_eq!(partners.server_certificates.len(), 1);
    assert_eq!(
        partners.pinned_public_keys.keys().collect::<Vec<_>>(),
        ["partners.internal.example.test"]
    );
    assert_eq!(partners.upstream_transport.min_version, Some(771));
    let orders = api("orders");
    assert!(orders.use_certificate_auth && orders.strip_auth_data && !orders.use_mutual_tls_auth);
    assert!(!orders.upstream_certificates.is_empty());
    let billing = api("billing");
    assert!(billing.use_mutual_tls_auth);
    assert!(
        billing
            .client_certificates
            .get(&fingerprint(&install.billing_client))
            .is_some()
    );
    // What the filter gets: the certificate without its key (render serves it with the key).
    assert_eq!(
        billing.server_certificates,
        std::slice::from_ref(&install.billing_server.cert_pem)
    );
    let ledger = api("ledger");
    assert!(ledger.use_certificate_auth && !ledger.upstream_certificates_disabled);
    assert!(ledger.pinned_public_keys["ledger.internal.example.test"].contains(&install.pin));
    // Tyk's common-name check cannot be rendered (render refuses it): left out, reported.
    assert!(!ledger.upstream_transport.force_common_name_check);
    assert!(!api("reports").requires_client_certificate());
}

#[test]
fn the_report_names_each_setting_left_out_by_file_and_path() {
    let install = Install::new();
    let (result, lines) = install.import();
    let imported = result.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
    assert!(imported.holds_private_keys);
    let conf = install.file("tyk.conf");
    let app = |name: &str| install.file(&format!("apps/{name}"));
    for start in [
        format!("{conf}: http_server_options.min_version: not carried ("),
        format!("{conf}: http_server_options.ssl_ciphers: not carried ("),
        format!("{conf}: http_server_options.skip_client_ca_announcement: not carried ("),
        format!("{conf}: security.private_certificate_encoding_secret: not carried (a secret"),
        format!("{conf}: security.certificates.dashboard_api: not carried ("),
        format!("{conf}: proxy_ssl_min_version: not carried ("),
        format!("{conf}: proxy_ssl_disable_renegotiation: not carried ("),
        format!("{conf}: security.control_api_use_mutual_tls: kept in the gate, not applied yet ("),
        format!("{conf}: security.certificates.control_api: kept in the gate, not applied yet ("),
        format!("{conf}: security.pinned_public_keys: carried"),
        format!("{conf}: security.certificate_expiry_monitor: carried"),
        format!("{}: pinned_public_keys: carried (", app("partners.json")),
        format!(
            "{}: proxy.transport.ssl_min_version: carried (",
            app("partners.json")
        ),
        format!(
            "{}: x-tyk-api-gateway.upstream.certificatePinning.domainToPublicKeysMapping: carried (",
            app("ledger-oas.json")
        ),
        format!(
            "{}: x-tyk-api-gateway.upstream.tlsTransport.forceCommonNameCheck: not carried (Envoy cannot check",
            app("ledger-oas.json")
        ),
        format!(
            "{}: use_keyless: not carried (Tyk authenticates this API's requests (use_standard_auth)",
            app("reports.json")
        ),
    ] {
        assert_line(&lines, &start);
    }
    // Each inlined file, where the Tyk files name it.
    for (location, file) in [
        (
            format!("{conf}: security.certificates.apis[0]"),
            "certs/partners-ca.pem",
        ),
        (
            format!("{conf}: security.certificates.control_api[0]"),
            "certs/ops-ca.pem",
        ),
        (
            format!("{}: client_certificates[0]", app("partners.json")),
            "certs/partner-a.pem",
        ),
        (
            format!(
                "{}: x-tyk-api-gateway.server.clientCertificates.allowlist[0]",
                app("billing-oas.json")
            ),
            "certs/billing-client.pem",
        ),
        (
            format!(
                "{}: x-tyk-api-gateway.upstream.mutualTLS.domainToCertificateMapping[0].certificate",
                app("ledger-oas.json")
            ),
            "certs/ledger-upstream.crt",
        ),
    ] {
        assert_line(
            &lines,
            &format!("{location}: inlined {}", install.file(file)),
        );
    }
    // Settings Tyk leaves at their zero value, and the gate's own, are not reported.
    assert!(!has_line(
        &lines,
        &format!("{conf}: ssl_force_common_name_check")
    ));
    assert!(!has_line(
        &lines,
        &format!("{conf}: http_server_options.use_ssl")
    ));
    assert!(!has_line(
        &lines,
        &format!("{}: use_keyless", app("orders.json"))
    ));
    // The fixture is consistent: no warning, so --strict accepts it.
    assert!(
        !lines.iter().any(|l| l.starts_with("warning:")),
        "{lines:#?}"
    );
    assert!(
        !lines.concat().contains("fixture-encoding-secret"),
        "the encoding secret is never printed"
    );
}

#[test]
fn typos_are_warned_with_file_and_path_and_strict_refuses_to_write() {
    let install = Install::new();
    install.edit("apps/partners.json", |api| {
        api["use_mutal_tls_auth"] = json!(true);
    });
    install.edit("tyk.conf", |conf| {
        conf["security"]["certificates"]["api"] = json!([]);
    });
    install.edit("apps/ledger-oas.json", |doc| {
        doc["x-tyk-api-gateway"]["server"]["clientCertficates"] = json!({});
    });
    let (result, lines) = install.import();
    assert!(result.is_ok());
    let warnings: Vec<&String> = lines.iter().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 3, "{lines:#?}");
    assert_line(
        &lines,
        &format!(
            "warning: {}: use_mutal_tls_auth: unknown field; did you mean `use_mutual_tls_auth`?",
            install.file("apps/partners.json")
        ),
    );
    assert_line(
        &lines,
        &format!(
            "warning: {}: security.certificates.api: unknown field; did you mean `apis`?",
            install.file("tyk.conf")
        ),
    );
    assert_line(
        &lines,
        &format!(
            "warning: {}: x-tyk-api-gateway.server.clientCertficates: unknown field; did you mean `clientCertificates`?",
            install.file("apps/ledger-oas.json")
        ),
    );

    let out = install.root().join("gate.json");
    let strict = install.run(
        install.root(),
        &[
            "--tyk-conf",
            "tyk.conf",
            "--apps",
            "apps",
            "--out",
            "gate.json",
            "--strict",
        ],
    );
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert!(!strict.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: apps/partners.json: use_mutal_tls_auth: unknown field"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: refusing to write the gate: 3 warnings (--strict)"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing is written");

    let lenient = install.run(
        install.root(),
        &[
            "--tyk-conf",
            "tyk.conf",
            "--apps",
            "apps",
            "--out",
            "gate.json",
        ],
    );
    assert!(
        lenient.status.success(),
        "{}",
        String::from_utf8_lossy(&lenient.stderr)
    );
    assert!(lenient.stdout.is_empty(), "the gate goes to --out only");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the gate holds private keys");
    let written: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(written["apis"].as_array().unwrap().len(), 5);
}

#[test]
fn a_bad_reference_is_refused_naming_the_definition_file_and_path() {
    let cases: [(&str, Edit, &str); 4] = [
        (
            "apps/partners.json",
            |api| api["client_certificates"][0] = json!("certs/missing.pem"),
            "client_certificates[0]: certificate file ",
        ),
        (
            "apps/billing-oas.json",
            |doc| {
                doc["x-tyk-api-gateway"]["server"]["clientCertificates"]["allowlist"][1] =
                    json!("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
            },
            "x-tyk-api-gateway.server.clientCertificates.allowlist[1]: inline PEM",
        ),
        (
            "apps/ledger-oas.json",
            |doc| doc["x-tyk-api-gateway"]["upstream"]["tlsTransport"]["minVersion"] = json!("1.5"),
            "x-tyk-api-gateway.upstream.tlsTransport.minVersion: \"1.5\" is not a TLS version",
        ),
        (
            "apps/orders.json",
            |api| api["proxy"]["target_url"] = json!("ftp://orders.internal.example.test/"),
            "proxy.target_url: ",
        ),
    ];
    for (file, change, expected) in cases {
        let install = Install::new();
        install.edit(file, change);
        let (result, lines) = install.import();
        let err = result.expect_err(file).to_string();
        let start = format!("{}: {expected}", install.file(file));
        assert!(
            err.starts_with(&start),
            "{err}\nshould start with {start}\n{}",
            lines.join("\n")
        );
        if file == "apps/partners.json" {
            assert!(err.contains(&install.file("certs/missing.pem")), "{err}");
        }
    }
    // Through the binary: exit 1, the file named as the user named it, nothing written.
    let install = Install::new();
    install.edit("apps/partners.json", |api| {
        api["client_certificates"][0] = json!("certs/missing.pem")
    });
    let output = install.run(
        install.root(),
        &[
            "--tyk-conf",
            "tyk.conf",
            "--apps",
            "apps",
            "--out",
            "gate.json",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: apps/partners.json: client_certificates[0]: certificate file ./certs/missing.pem: No such file"),
        "{stderr}"
    );
    assert!(!install.root().join("gate.json").exists());
}

#[test]
fn relative_paths_are_read_under_tyk_conf_s_directory_or_base_dir() {
    let install = Install::new();
    let conf = install.file("tyk.conf");
    let apps = install.file("apps");
    // From elsewhere, tyk.conf's directory (Tyk's working directory) still anchors them.
    let elsewhere = tempfile::tempdir().unwrap();
    let output = install.run(elsewhere.path(), &["--tyk-conf", &conf, "--apps", &apps]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let gate: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        gate["security"]["certificates"]["apis"][0],
        install.partners_ca.ca_pem
    );

    // --base-dir replaces it.
    let base = elsewhere.path().display().to_string();
    let output = install.run(
        elsewhere.path(),
        &["--tyk-conf", &conf, "--apps", &apps, "--base-dir", &base],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    let expected = format!(
        "certificate file {}",
        elsewhere.path().join("certs/").display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn an_oas_document_that_disagrees_with_its_classic_file_is_a_warning() {
    let install = Install::new();
    install.edit("apps/billing.json", |api| {
        api["use_mutual_tls_auth"] = json!(false);
        api["domain"] = json!("other.example.test");
    });
    let (result, lines) = install.import();
    assert!(result.is_ok());
    let oas = install.file("apps/billing-oas.json");
    let classic = install.file("apps/billing.json");
    assert_line(
        &lines,
        &format!(
            "warning: {oas}: x-tyk-api-gateway.server.clientCertificates.enabled: disagrees with use_mutual_tls_auth in {classic}"
        ),
    );
    assert_line(
        &lines,
        &format!(
            "warning: {oas}: x-tyk-api-gateway.server.customDomain.name: disagrees with domain in {classic}"
        ),
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("warning:")).count(),
        2,
        "{lines:#?}"
    );
}

#[test]
fn an_upstream_key_from_a_file_is_inlined_with_a_note() {
    let install = Install::new();
    let client = TestCa::new().leaf("upstream");
    std::fs::write(install.root().join("certs/upstream.pem"), client.bundle()).unwrap();
    install.edit("tyk.conf", |conf| {
        conf["security"]["certificates"]["upstream"]["*"] = json!("certs/upstream.pem");
    });
    let (result, lines) = install.import();
    let gate = result.unwrap().gate;
    assert_eq!(
        gate["security"]["certificates"]["upstream"]["*"],
        client.bundle()
    );
    assert_line(
        &lines,
        &format!(
            "{}: security.certificates.upstream[\"*\"]: an upstream certificate with its private key",
            install.file("tyk.conf")
        ),
    );
}

#[test]
fn custom_domains_off_in_tyk_is_reported_with_the_apis_it_concerns() {
    let install = Install::new();
    install.edit("tyk.conf", |conf| {
        conf["enable_custom_domains"] = json!(false)
    });
    let (result, lines) = install.import();
    assert!(result.is_ok());
    let line = lines
        .iter()
        .find(|l| {
            l.starts_with(&format!(
                "{}: enable_custom_domains: not carried (",
                install.file("tyk.conf")
            ))
        })
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(
        line.contains(&install.file("apps/billing-oas.json")),
        "{line}"
    );
    assert!(line.contains(&install.file("apps/partners.json")), "{line}");
    assert!(!line.contains("orders.json"), "{line}");
}

#[test]
fn the_gate_goes_to_stdout_and_the_report_to_stderr() {
    let install = Install::new();
    let output = install.run(
        install.root(),
        &["--tyk-conf", "tyk.conf", "--apps", "apps"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let gate: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(gate["apis"].as_array().unwrap().len(), 5);
    assert!(
        GateConfig::from_json(&serde_json::to_vec(&json!({"apis": gate["apis"]})).unwrap())
            .is_err(),
        "certificate auth needs the store block import adds"
    );
    assert!(
        stderr.contains("import: 5 API definitions from apps (3 Classic, 2 OAS)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("tyk.conf: http_server_options.min_version: not carried ("),
        "{stderr}"
    );
    assert!(!stderr.contains("BEGIN"), "no PEM in the report");
}

/// A lone OAS document (an export) is read; Tyk's `-oas.json` naming pairs the two files.
#[test]
fn a_lone_oas_document_is_imported_with_a_note() {
    let install = Install::new();
    let lone: Value = serde_json::from_slice(
        &std::fs::read(install.root().join("apps/billing-oas.json")).unwrap(),
    )
    .unwrap();
    std::fs::remove_file(install.root().join("apps/billing.json")).unwrap();
    std::fs::remove_file(install.root().join("apps/billing-oas.json")).unwrap();
    std::fs::write(
        install.root().join("apps/billing.oas.json"),
        lone.to_string(),
    )
    .unwrap();
    let (result, lines) = install.import();
    let gate = result.unwrap().gate;
    assert_eq!(
        gate["apis"][0]["x-tyk-api-gateway"]["info"]["id"],
        "billing"
    );
    assert_line(
        &lines,
        &format!(
            "{}: an OAS document without its Classic file",
            install.file("apps/billing.oas.json")
        ),
    );
}

/// Issue 11: with `--store`, import warns about every certificate ID the gate names that the
/// store lacks, in `render`'s words; without a store there, it says so.
#[test]
fn with_a_store_every_id_it_lacks_is_warned_about() {
    let install = Install::new();
    let store = install.root().join("store.db");
    let secret = mtls_gate_shim::secret::Secret::new("import-store-secret", "test").unwrap();
    mtls_gate_shim::store::open::StoreSpec::parse(&store)
        .unwrap()
        .open(&secret)
        .unwrap();
    let run = |store: &Path| {
        Command::new(env!("CARGO_BIN_EXE_mtls-gate-shim"))
            .args([
                "import",
                "--tyk-conf",
                "tyk.conf",
                "--apps",
                "apps",
                "--store",
            ])
            .arg(store)
            .env("MTLS_GATE_SECRET", "import-store-secret")
            .env_remove("MTLS_GATE_ENCODING_SECRET")
            .current_dir(install.root())
            .output()
            .unwrap()
    };
    let output = run(&store);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let missing: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("in the store (org \"acme\"); upload it"))
        .collect();
    assert!(!missing.is_empty(), "{stderr}");
    assert!(
        missing
            .iter()
            .any(|l| l.contains("client_certificates[") && l.contains("no certificate acme")),
        "{stderr}"
    );

    let output = run(&install.root().join("absent.db"));
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--store: no store at"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
