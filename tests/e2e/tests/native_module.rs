//! The native build of the core (`native/`, an Envoy dynamic module) through real Envoy
//! 1.40: it loads at the ABI version it targets, and a representative subset of the suites
//! answers as the wasm filter does (static allow and deny with Tyk's bodies, no certificate,
//! certificate auth synced from the shim and revoked, a session lookup on a miss, the
//! upstream cluster). The whole static and certificate-auth suites run against it with
//! `MTLS_GATE_NATIVE_MODULE=<path> cargo test -p mtls-gate-e2e --test e2e static_mtls`.
//!
//! Needs `target/debug/libmtls_gate_native.so` (`cargo build -p mtls-gate-native`, as
//! `make test-e2e` does: the suites test behaviour, and a debug build unwinds a panic to the
//! `catch_unwind` at the ABI as `make native`'s profile does), or a path in
//! `MTLS_GATE_NATIVE_MODULE`.

use anyhow::{Result, bail};
use mtls_gate_core::upstream::cluster_name;
use mtls_gate_core::{headers, metrics};
use mtls_gate_e2e::envoy_config::{NATIVE_MODULE_ENV, ShimRender};
use mtls_gate_e2e::*;
use mtls_gate_testkit::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const ORG: &str = "acme";
const SYNC_MS: u64 = 500;

/// The module these tests run: `$MTLS_GATE_NATIVE_MODULE` (relative to the repo root) or
/// the debug build.
fn native_module() -> Result<PathBuf> {
    let path = match std::env::var_os(NATIVE_MODULE_ENV).filter(|v| !v.is_empty()) {
        Some(path) => paths::repo_root().join(path),
        None => paths::target_dir().join("debug/libmtls_gate_native.so"),
    };
    if !path.is_file() {
        bail!(
            "native module not found at {}: run `cargo build -p mtls-gate-native` (or set {NATIVE_MODULE_ENV})",
            path.display()
        );
    }
    Ok(path)
}

fn native(gate: &str, pki: &TestPki) -> Result<EnvoyConfig> {
    Ok(EnvoyConfig::new(gate, pki).native_module(&native_module()?))
}

fn not_allowed(cert: &CertFiles) -> String {
    format!("Certificate with SHA256 {} not allowed", cert.fingerprint)
}

fn static_gate(pki: &TestPki) -> String {
    json!({
        "apis": [
            {"api_id": "static", "proxy": {"listen_path": "/static/"},
             "use_mutual_tls_auth": true,
             "client_certificates": [pki.client.fingerprint]},
            {"api_id": "open", "proxy": {"listen_path": "/open/"}}
        ]
    })
    .to_string()
}

#[test]
fn the_module_loads_at_the_abi_version_it_targets_in_place_of_the_wasm_filter() -> Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let mut envoy = Envoy::start(native(&static_gate(&pki), &pki)?.default_upstream(&echo, &pki))?;
    // Envoy logs "deprecated" instead when the module reports another ABI version.
    envoy.wait_for_log(
        "Dynamic module ABI version v0.2.0 matched",
        Duration::from_secs(5),
    )?;
    envoy.wait_for_log(
        "mtls-gate: configured 2 API(s), 0 global allow-list entries, store off",
        Duration::from_secs(5),
    )?;
    let dump = envoy.config_dump()?;
    // The HCM runs the module, and no wasm VM (the dump also lists every compiled-in
    // extension, the wasm filter among them, so look for the files).
    assert!(dump.contains("libmtls_gate_native.so"));
    assert!(!dump.contains("mtls_gate_filter.wasm"));
    Ok(())
}

#[test]
fn a_configuration_the_core_refuses_is_refused_by_envoy_naming_the_field() -> Result<()> {
    let pki = TestPki::generate()?;
    let bad = native(r#"{"apis": [{"api_id": ""}]}"#, &pki)?.cluster(UpstreamCluster::plain(
        envoy_config::DEFAULT_CLUSTER,
        "127.0.0.1:9".parse()?,
    ));
    let err = envoy::validate(&bad).unwrap_err().to_string();
    assert!(err.contains("Failed to initialize dynamic module"), "{err}");
    let good = native(&static_gate(&pki), &pki)?.cluster(UpstreamCluster::plain(
        envoy_config::DEFAULT_CLUSTER,
        "127.0.0.1:9".parse()?,
    ));
    envoy::validate(&good)?;
    Ok(())
}

#[test]
fn static_allow_list_passes_the_listed_certificate_and_refuses_the_rest() -> Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let envoy = Envoy::start(native(&static_gate(&pki), &pki)?.default_upstream(&echo, &pki))?;
    let get = |cert: Option<&CertFiles>, path: &str| {
        let mut client = Client::new(&pki.ca);
        if let Some(cert) = cert {
            client = client.cert(cert);
        }
        client
            .get(&envoy.https_url(path))
            .header(headers::API_ID, "forged")
            .send()
    };

    let allowed = get(Some(&pki.client), "/static/orders?id=7")?;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    let seen = allowed.echo()?;
    assert_eq!(seen.path, "/static/orders?id=7");
    assert_eq!(
        seen.header(headers::API_ID),
        Some("static"),
        "set, not forged"
    );
    assert_eq!(
        seen.header(headers::CERT_SHA256),
        Some(&*pki.client.fingerprint)
    );

    let rogue = get(Some(&pki.rogue), "/static/x")?;
    assert_denied(&rogue, 403, &not_allowed(&pki.rogue));
    let none = get(None, "/static/x")?;
    assert_denied(&none, 403, "Client TLS certificate is required");
    let plain = Client::default()
        .get(&envoy.plain_url("/static/x"))
        .send()?;
    assert_denied(&plain, 403, "TLS not enabled");
    let open = get(None, "/open/x")?;
    assert_eq!(open.status, 200, "{}", open.body);
    assert_eq!(open.echo()?.header(headers::API_ID), Some("open"));

    // The counters keep the wasm filter's names (metrics_namespace `wasmcustom`).
    assert_eq!(
        envoy.stat(&metrics::envoy_stat(metrics::ALLOWED))?,
        Some(2),
        "{:?}",
        envoy.filter_stats()?
    );
    let denied: u64 = envoy
        .filter_stats()?
        .iter()
        .filter(|(name, _)| name.contains(metrics::DENIED_PREFIX))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(denied, 3);
    Ok(())
}

#[test]
fn an_apis_target_routes_to_its_cluster_and_a_forged_routing_header_to_none() -> Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let target = EchoUpstream::start_tls(&pki.upstream_server, "target")?;
    let evil = EchoUpstream::start_tls(&pki.upstream_server, "evil")?;
    let gate = json!({
        "apis": [
            {"api_id": "routed", "proxy": {"listen_path": "/routed/",
             "target_url": format!("https://localhost:{}", target.addr.port())},
             "use_mutual_tls_auth": true, "client_certificates": [pki.client.fingerprint]},
            {"api_id": "open", "proxy": {"listen_path": "/open/"}}
        ]
    })
    .to_string();
    let envoy = Envoy::start(
        native(&gate, &pki)?
            .default_upstream(&echo, &pki)
            .cluster(target.cluster(&cluster_name("routed", None), &pki))
            .cluster(evil.cluster("evil", &pki)),
    )?;
    // (path, the upstream it must reach) with the client naming the "evil" cluster: Envoy
    // chose a route by that header before the filter ran, so removing it must also clear
    // the route (this ABI, unlike proxy-wasm's, never does so on a header write).
    for (path, upstream) in [
        ("/routed/x", "target"),
        ("/open/x", "echo"),
        ("/nowhere", "echo"),
    ] {
        let resp = Client::new(&pki.ca)
            .cert(&pki.client)
            .get(&envoy.https_url(path))
            .header(headers::ROUTING, "evil")
            .send()?;
        assert_eq!(resp.status, 200, "{path}: {}", resp.body);
        let seen = resp.echo()?;
        assert_eq!(seen.name, upstream, "{path}");
        assert_eq!(seen.header(headers::ROUTING), None, "{path}");
    }
    Ok(())
}

/// SPEC §6b: a pinned upstream whose handshake fails verification answers Tyk's pinning
/// error (the response hook reads `response.code_details` and replaces Envoy's 503); an
/// unpinned API keeps Envoy's 503. The clusters trust the wrong CA, so both handshakes fail.
#[test]
fn a_pinned_upstreams_failed_handshake_is_tyks_pinning_error() -> Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let upstream = EchoUpstream::start_tls(&pki.upstream_server, "unverifiable")?;
    let port = upstream.addr.port();
    let spki = mtls_gate_core::certificate::parse_certificate(&pki.client2.der)?.spki_der;
    let wrong_key = mtls_gate_shim::certificates::pem_text::encode("PUBLIC KEY", &spki);
    let target = format!("https://localhost:{port}");
    let gate = json!({
        "apis": [
            {"api_id": "pinned", "use_keyless": true,
             "proxy": {"listen_path": "/pinned/", "target_url": target},
             "pinned_public_keys": {"localhost": wrong_key}},
            {"api_id": "unpinned", "use_keyless": true,
             "proxy": {"listen_path": "/unpinned/", "target_url": target}}
        ]
    })
    .to_string();
    let envoy = Envoy::start(
        native(&gate, &pki)?
            .default_upstream(&echo, &pki)
            .cluster(UpstreamCluster::tls(
                &cluster_name("pinned", None),
                upstream.addr,
                &pki.rogue,
            ))
            .cluster(UpstreamCluster::tls(
                &cluster_name("unpinned", None),
                upstream.addr,
                &pki.rogue,
            )),
    )?;
    let get = |path: &str| Client::new(&pki.ca).get(&envoy.https_url(path)).send();
    assert_denied(
        &get("/pinned/x")?,
        500,
        "https://localhost certificate public key pinning error. Public keys do not match.",
    );
    let unpinned = get("/unpinned/x")?;
    assert_eq!(unpinned.status, 503, "{}", unpinned.body);
    Ok(())
}

/// `mtls-gate-shim render --native-module`: the bootstrap render writes (no `--wasm`, no
/// `MTLS_GATE_FILTER_WASM`) runs the module, which answers as the wasm filter would.
#[test]
fn a_render_with_native_module_runs_the_module_without_a_wasm_filter() -> Result<()> {
    let pki = TestPki::generate()?;
    let shim = Shim::start()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let port = echo.addr.port();
    let dir = tempfile::tempdir()?;
    let gate = json!({
        "apis": [{"api_id": "static",
                  "proxy": {"listen_path": "/static/", "target_url": format!("https://localhost:{port}")},
                  "use_mutual_tls_auth": true,
                  "client_certificates": [pki.client.fingerprint]}]
    })
    .to_string();
    let render = ShimRender::new(dir.path(), &shim)?
        .native_module(&native_module()?)
        .server_cert(&pki.server)
        .upstreams(&pki.ca, &[("localhost", port)]);
    render.run(&gate)?;
    let lds = std::fs::read_to_string(render.out_dir().join("xds/lds.yaml"))?;
    assert!(
        lds.contains("- name: envoy.filters.http.dynamic_modules"),
        "{lds}"
    );
    assert!(!lds.contains("envoy.filters.http.wasm"), "{lds}");

    let envoy = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;
    let dump = envoy.config_dump()?;
    assert!(dump.contains("libmtls_gate_native.so"));
    assert!(!dump.contains("mtls_gate_filter.wasm"));
    let get = |cert: &CertFiles| {
        Client::new(&pki.ca)
            .cert(cert)
            .get(&envoy.https_url("/static/orders"))
            .send()
    };
    let allowed = get(&pki.client)?;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(allowed.echo()?.header(headers::API_ID), Some("static"));
    assert_denied(&get(&pki.rogue)?, 403, &not_allowed(&pki.rogue));
    assert_eq!(
        envoy.stat(&metrics::envoy_stat(metrics::ALLOWED))?,
        Some(1),
        "{:?}",
        envoy.filter_stats()?
    );
    Ok(())
}

struct DynEnv {
    pki: TestPki,
    shim: Shim,
    envoy: Envoy,
    _echo: EchoUpstream,
}

impl DynEnv {
    /// With the shim's store synced every `sync_ms`; waits for the first sync if asked.
    fn start(sync_ms: u64, first_sync: bool) -> Result<Self> {
        let pki = TestPki::generate()?;
        let shim = Shim::start()?;
        let store: Value = serde_json::from_str(&shim.store_json(sync_ms, 300))?;
        let gate = json!({
            "org_id": ORG,
            "store": store,
            "apis": [{"api_id": "dyn", "proxy": {"listen_path": "/dyn/"},
                      "auth_configs": {"authToken": {"use_certificate": true}}}]
        })
        .to_string();
        let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
        let envoy = Envoy::start(
            native(&gate, &pki)?
                .default_upstream(&echo, &pki)
                .shim_port(shim.port()),
        )?;
        if first_sync {
            wait::until("the module's first sync", Duration::from_secs(10), || {
                Ok(envoy
                    .stat(&metrics::envoy_stat(metrics::SYNC_SUCCESS))?
                    .filter(|n| *n > 0)
                    .map(|_| ()))
            })?;
        }
        Ok(Self {
            pki,
            shim,
            envoy,
            _echo: echo,
        })
    }

    fn register(&self, cert: &CertFiles) -> Result<String> {
        let id = self.shim.admin_client()?.add_cert(&cert.cert_pem, ORG)?;
        let session = json!({
            "org_id": ORG,
            "certificate": id,
            "alias": format!("alias-{}", cert.name),
            "access_rights": {"dyn": {"api_id": "dyn", "versions": ["Default"]}}
        });
        self.shim.admin_client()?.create_key(&session)
    }

    fn get(&self, cert: &CertFiles) -> Result<Response> {
        Client::new(&self.pki.ca)
            .cert(cert)
            .get(&self.envoy.https_url("/dyn/x"))
            .send()
    }

    fn syncs(&self) -> Result<u64> {
        Ok(self
            .envoy
            .stat(&metrics::envoy_stat(metrics::SYNC_SUCCESS))?
            .unwrap_or(0))
    }
}

#[test]
fn a_synced_key_passes_and_is_refused_within_two_sync_intervals_of_its_deletion() -> Result<()> {
    let env = DynEnv::start(SYNC_MS, true)?;
    let key = env.register(&env.pki.client)?;
    // Carried by the feed (the sync's tick and callout on Envoy's main thread).
    let synced = env.syncs()?;
    wait::until("one more sync", Duration::from_secs(5), || {
        Ok((env.syncs()? > synced).then_some(()))
    })?;
    let resp = env.get(&env.pki.client)?;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(
        resp.echo()?.header(headers::KEY_ALIAS),
        Some("alias-client")
    );
    assert_denied(
        &env.get(&env.pki.rogue)?,
        401,
        "Access to this API has been disallowed",
    );

    env.shim.admin_client()?.delete_key(&key)?;
    let deleted = Instant::now();
    let resp = wait::until(
        "the deleted key to be refused",
        Duration::from_millis(SYNC_MS * 10),
        || {
            let resp = env.get(&env.pki.client)?;
            Ok((resp.status != 200).then_some(resp))
        },
    )?;
    let elapsed = deleted.elapsed();
    println!("native_revocation_ms={}", elapsed.as_millis());
    assert_denied(&resp, 401, "Access to this API has been disallowed");
    assert!(
        elapsed <= Duration::from_millis(2 * SYNC_MS),
        "still allowed {elapsed:?} after the deletion"
    );

    // A clean exit with the tick thread running: Envoy destroys the configuration, which
    // stops and joins the thread before its scheduler goes.
    let mut env = env;
    let status = env.envoy.process().terminate(Duration::from_secs(10))?;
    assert!(status.success(), "{status}: {}", env.envoy.log());
    Ok(())
}

#[test]
fn a_key_the_last_sync_has_not_carried_passes_through_a_lookup() -> Result<()> {
    // The first tick is a minute away: the key can only arrive by lookup (a stream callout
    // answered on the worker, which resumes the paused request).
    let env = DynEnv::start(60_000, false)?;
    env.register(&env.pki.client2)?;
    // With a body: held while the request waits, then sent on (Envoy replays it from
    // inside the resume).
    let resp = Client::new(&env.pki.ca)
        .cert(&env.pki.client2)
        .post(&env.envoy.https_url("/dyn/orders"), "held-until-decided")
        .send()?;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let seen = resp.echo()?;
    assert_eq!(seen.header(headers::KEY_ALIAS), Some("alias-client2"));
    assert_eq!(seen.body, "held-until-decided");
    assert!(
        env.envoy
            .stat(&metrics::envoy_stat(metrics::LOOKUP_CALLOUTS))?
            .unwrap_or(0)
            >= 1
    );
    assert_eq!(env.syncs()?, 0, "no sync carried it");
    Ok(())
}
