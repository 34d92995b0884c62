//! Upstream client certificates over real Envoy, from what `mtls-gate-shim render` writes
//! (SPEC §6): per target host the right certificate reaches a TLS upstream that reports the
//! client certificate it saw; a key-less certificate means none; a certificate rotated in
//! the store reaches the upstream after a re-render, with the same Envoy process.

use anyhow::{Context, Result, bail};
use mtls_gate_e2e::*;
use mtls_gate_testkit::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Re-rendered files reach Envoy through its file watches; allow for a busy 2-core machine
/// (a new listener recompiles the filter in every worker).
const ROTATION_TIMEOUT: Duration = Duration::from_secs(60);

/// The gate: three APIs whose targets hit the global map's exact `host:port`, its
/// `*.example.test` and its `*`, and one whose own map names a key-less certificate.
fn gate(
    shim: &Shim,
    echo_port: u16,
    exact: &str,
    wildcard: &str,
    any: &str,
    keyless: &str,
) -> String {
    let store: serde_json::Value =
        serde_json::from_str(&shim.store_json(200, 300)).unwrap_or_default();
    serde_json::json!({
        "org_id": "acme",
        "store": store,
        "security": {"certificates": {"upstream": {
            format!("exact.example.test:{echo_port}"): exact,
            "*.example.test": wildcard,
            "*": any,
        }}},
        "apis": [
            {"api_id": "exact", "proxy": {"listen_path": "/exact/", "target_url": format!("https://exact.example.test:{echo_port}")}},
            {"api_id": "wild", "proxy": {"listen_path": "/wild/", "target_url": format!("https://svc.example.test:{echo_port}")}},
            {"api_id": "any", "proxy": {"listen_path": "/any/", "target_url": format!("https://localhost:{echo_port}")}},
            {"api_id": "keyless", "proxy": {"listen_path": "/keyless/", "target_url": format!("https://other.example.test:{echo_port}")},
             "upstream_certificates": {"other.example.test": keyless}},
        ]
    })
    .to_string()
}

struct Render {
    gate_path: PathBuf,
    out: PathBuf,
    args: Vec<String>,
}

impl Render {
    fn new(dir: &Path, shim: &Shim, pki: &TestPki, echo_port: u16) -> Result<Self> {
        let wasm = paths::filter_wasm()?;
        let mut args: Vec<String> = vec![
            "render".into(),
            "--store".into(),
            shim.store_path().display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{}", free_port()?),
            "--plain-listen".into(),
            format!("127.0.0.1:{}", free_port()?),
            "--admin".into(),
            "127.0.0.1:0".into(),
            "--server-cert".into(),
            pki.server.cert_path.display().to_string(),
            "--server-key".into(),
            pki.server.key_path.display().to_string(),
            "--wasm".into(),
            wasm.display().to_string(),
            "--shim-url".into(),
            format!("http://{}", shim.addr()),
            "--upstream-ca".into(),
            pki.ca.cert_path.display().to_string(),
        ];
        // Every target host is this loopback echo; SNI and matching still use the names.
        for host in [
            "exact.example.test",
            "svc.example.test",
            "localhost",
            "other.example.test",
        ] {
            args.push("--resolve".into());
            args.push(format!("{host}:{echo_port}:127.0.0.1"));
        }
        Ok(Render {
            gate_path: dir.join("gate.json"),
            out: dir.join("envoy"),
            args,
        })
    }

    /// Writes `gate` and runs `mtls-gate-shim render`; its stdout.
    fn run(&self, shim: &Shim, gate: &str) -> Result<String> {
        std::fs::write(&self.gate_path, gate)?;
        let out = Command::new(paths::shim_bin()?)
            .args(&self.args)
            .arg("--gate")
            .arg(&self.gate_path)
            .arg("--out")
            .arg(&self.out)
            .env("MTLS_GATE_SECRET", shim.secret())
            .env("MTLS_GATE_FEED_TOKEN", shim.feed_token())
            .env_remove("MTLS_GATE_ENCODING_SECRET")
            .output()?;
        if !out.status.success() {
            bail!(
                "render failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn bootstrap(&self) -> PathBuf {
        self.out.join("envoy.yaml")
    }
}

fn upstream_cert_seen(envoy: &Envoy, pki: &TestPki, path: &str) -> Result<Option<String>> {
    let resp = Client::new(&pki.ca).get(&envoy.https_url(path)).send()?;
    if resp.status != 200 {
        bail!("GET {path}: {} {}", resp.status, resp.body);
    }
    Ok(resp.echo()?.client_cert_sha256)
}

fn validate(bootstrap: &Path) -> Result<()> {
    let out = Command::new(paths::envoy_bin()?)
        .args([
            "--mode",
            "validate",
            "--disable-hot-restart",
            "--log-level",
            "warning",
            "-c",
        ])
        .arg(bootstrap)
        .output()?;
    if !out.status.success() {
        bail!(
            "envoy --mode validate failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

#[test]
fn a_gate_the_filter_refuses_fails_envoy_validate() -> Result<()> {
    // The start-up check is real: the static twin runs the filter's on_configure.
    let pki = TestPki::generate()?;
    let shim = Shim::start()?;
    let dir = tempfile::tempdir()?;
    let render = Render::new(dir.path(), &shim, &pki, 9)?;
    render.run(&shim, r#"{"apis": []}"#)?;
    validate(&render.out.join("envoy-validate.yaml"))?;
    let validate_yaml = render.out.join("envoy-validate.yaml");
    let text = std::fs::read_to_string(&validate_yaml)?;
    // A config the render-side parser accepts but the filter must refuse cannot exist, so
    // break the inlined JSON by hand.
    std::fs::write(
        &validate_yaml,
        text.replace(r#"{\"apis\":[]}"#, r#"{\"apis\":7}"#),
    )?;
    assert!(
        validate(&validate_yaml).is_err(),
        "the filter accepted apis: 7"
    );
    Ok(())
}

#[test]
fn each_target_host_gets_its_certificate_and_a_rotation_reaches_the_upstream_without_restart()
-> Result<()> {
    let pki = TestPki::generate()?;
    let shim = Shim::start()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "upstream")?;
    let port = echo.addr.port();
    let dir = tempfile::tempdir()?;

    let exact = shim
        .admin_client()?
        .add_cert(&pki.upstream_client_a.cert_and_key_pem(), "acme")?;
    let wildcard = shim
        .admin_client()?
        .add_cert(&pki.upstream_client_b.cert_and_key_pem(), "acme")?;
    let any = shim
        .admin_client()?
        .add_cert(&pki.client.cert_and_key_pem(), "acme")?;
    let keyless = shim
        .admin_client()?
        .add_cert(&pki.client2.cert_pem, "acme")?;

    let render = Render::new(dir.path(), &shim, &pki, port)?;
    let summary = render.run(&shim, &gate(&shim, port, &exact, &wildcard, &any, &keyless))?;
    assert!(
        summary.contains(&format!("(client certificate {exact})")),
        "{summary}"
    );
    validate(&render.bootstrap())?;
    // `--mode validate` reads no LDS/CDS file; the static twin loads the filter and its config.
    validate(&render.out.join("envoy-validate.yaml"))?;

    let mut envoy = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;
    let pid = envoy.process().pid();
    // Until the filter's first sync it knows no store certificate has a key (plain clusters).
    wait::until("the filter's first store sync", ROTATION_TIMEOUT, || {
        envoy.process().ensure_running()?;
        Ok(upstream_cert_seen(&envoy, &pki, "/exact/hello")
            .ok()
            .flatten()
            .filter(|seen| *seen == pki.upstream_client_a.fingerprint))
    })
    .with_context(|| envoy.log())?;
    let cases = [
        ("/exact/hello", Some(&pki.upstream_client_a)),
        ("/wild/hello", Some(&pki.upstream_client_b)),
        ("/any/hello", Some(&pki.client)),
        // The API map wins over the global `*`, and that certificate has no key: none at all.
        ("/keyless/hello", None),
    ];
    for (path, expected) in cases {
        assert_eq!(
            upstream_cert_seen(&envoy, &pki, path).with_context(|| envoy.log())?,
            expected.map(|c| c.fingerprint.clone()),
            "{path}"
        );
    }

    // Rotation: a new certificate and key in the store, the gate pointed at it, re-render.
    let new_cert = &pki.rogue;
    let new_id = shim
        .admin_client()?
        .add_cert(&new_cert.cert_and_key_pem(), "acme")?;
    render.run(
        &shim,
        &gate(&shim, port, &new_id, &wildcard, &any, &keyless),
    )?;
    wait::until(
        "the upstream to see the rotated certificate",
        ROTATION_TIMEOUT,
        || {
            envoy.process().ensure_running()?;
            Ok(upstream_cert_seen(&envoy, &pki, "/exact/hello")
                .ok()
                .flatten()
                .filter(|seen| *seen == new_cert.fingerprint))
        },
    )
    .with_context(|| envoy.log())?;
    assert_eq!(envoy.process().pid(), pid, "Envoy was restarted");
    // The other hosts are unaffected, and the old key file is gone from disk.
    assert_eq!(
        upstream_cert_seen(&envoy, &pki, "/wild/hello")?,
        Some(pki.upstream_client_b.fingerprint.clone())
    );
    let old_key = render.out.join(format!(
        "secrets/{}.key.pem",
        pki.upstream_client_a.fingerprint
    ));
    assert!(!old_key.exists(), "{}", old_key.display());
    Ok(())
}
