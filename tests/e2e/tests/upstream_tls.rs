//! Upstream TLS as Tyk does it (SPEC §6b), through real Envoy from `mtls-gate-shim render`
//! against real TLS upstreams (the echo upstream, restricted with `--tls-version` and
//! `--cipher` where a test needs an upstream that only offers what a setting allows):
//!
//! - public-key pinning: Tyk's `TestPublicKeyPinning` cases (match, mismatch, disabled,
//!   global, two keys) and an inline `PUBLIC KEY` pin, with Tyk's 500 and message on a
//!   mismatch; a pinned key uploaded to the store reaches Envoy live;
//! - `proxy.transport`: each setting against an upstream that only accepts (or offers) what
//!   the setting allows, and `ssl_force_common_name_check` refused at render;
//! - an inline upstream certificate with its key, presented upstream and absent from the
//!   filter's config;
//! - a pin changed in the gate `serve --gate` follows: the time until Envoy enforces it.

use anyhow::{Context, Result};
use mtls_gate_e2e::envoy_config::ShimRender;
use mtls_gate_e2e::*;
use mtls_gate_testkit::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Envoy's start and the filter's first configuration, on a busy 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// SPEC §8: the running Envoy has a new TLS config within 1 s.
const LIVE_BOUND: Duration = Duration::from_secs(1);

/// Tyk's message for a pin mismatch on `host`.
fn pin_error(host: &str) -> String {
    format!("https://{host} certificate public key pinning error. Public keys do not match.")
}

/// The `PUBLIC KEY` PEM of a certificate's key, as Tyk's tests upload it.
fn public_key_pem(cert: &CertFiles) -> Result<String> {
    let spki = mtls_gate_core::certificate::parse_certificate(&cert.der)?.spki_der;
    Ok(mtls_gate_shim::certificates::pem_text::encode(
        "PUBLIC KEY",
        &spki,
    ))
}

/// A keyless API at `/{id}/` whose target is `https://{host}:{port}`, with `extra` fields.
fn api(id: &str, host: &str, port: u16, extra: Value) -> Value {
    let mut api = json!({"api_id": id, "use_keyless": true,
        "proxy": {"listen_path": format!("/{id}/"), "target_url": format!("https://{host}:{port}")}});
    if let (Some(fields), Value::Object(extra)) = (api.as_object_mut(), extra) {
        for (key, value) in extra {
            match (fields.get_mut(&key), value) {
                // `proxy.transport` and friends merge into the proxy block.
                (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
                (_, value) => {
                    fields.insert(key, value);
                }
            }
        }
    }
    api
}

fn get(envoy: &Envoy, pki: &TestPki, path: &str) -> Result<Response> {
    Client::new(&pki.ca).get(&envoy.https_url(path)).send()
}

/// Waits until `path` answers `status` (Envoy's start, a live change), then returns it.
fn until_status(
    envoy: &mut Envoy,
    pki: &TestPki,
    path: &str,
    status: u16,
    timeout: Duration,
) -> Result<Response> {
    wait::until(&format!("GET {path} to answer {status}"), timeout, || {
        envoy.process().ensure_running()?;
        Ok(get(envoy, pki, path).ok().filter(|r| r.status == status))
    })
    .with_context(|| envoy.log())
}

/// Tyk's `TestPublicKeyPinning` (gateway/cert_old_test.go), each case an API of one gate.
/// The upstream presents a self-signed certificate (Tyk's `GenServerCertificate`), which
/// render's `--upstream-ca` does not sign: a pinned key that matches is all that lets a
/// request through, because pinning replaces chain verification.
#[test]
fn tyks_public_key_pinning_cases_through_envoy() -> Result<()> {
    let pki = TestPki::generate()?;
    let shim = Shim::start()?;
    let admin = shim.admin_client()?;
    let upstream = EchoUpstream::start_tls(&pki.rogue, "self-signed")?;
    let port = upstream.addr.port();
    // Tyk's `uploadCertPublicKey`: the upstream's key, and another one, in the store.
    let right = admin.add_cert(&public_key_pem(&pki.rogue)?, "acme")?;
    let wrong = admin.add_cert(&public_key_pem(&pki.client)?, "acme")?;
    let inline_right = public_key_pem(&pki.rogue)?;
    let inline_wrong = public_key_pem(&pki.client2)?;
    let hosts = [
        "match.example.test",
        "mismatch.example.test",
        "disabled.example.test",
        "global.example.test",
        "two.example.test",
        "inline.example.test",
        "inline-wrong.example.test",
    ];
    let store: Value = serde_json::from_str(&shim.store_json(200, 300))?;
    let gate = json!({
        "org_id": "acme",
        "store": store,
        "security": {"pinned_public_keys": {"global.example.test": wrong}},
        "apis": [
            api("match", hosts[0], port, json!({"pinned_public_keys": {hosts[0]: right}})),
            api("mismatch", hosts[1], port, json!({"pinned_public_keys": {hosts[1]: wrong}})),
            api("disabled", hosts[2], port, json!({"pinned_public_keys": {hosts[2]: right},
                                                   "certificate_pinning_disabled": true})),
            api("global", hosts[3], port, json!({})),
            api("two", hosts[4], port, json!({"pinned_public_keys": {"*": format!("{wrong},{right}")}})),
            api("inline", hosts[5], port, json!({"pinned_public_keys": {hosts[5]: inline_right}})),
            api("inline-wrong", hosts[6], port, json!({"pinned_public_keys": {hosts[6]: inline_wrong}})),
        ]
    });
    let dir = tempfile::tempdir()?;
    let resolve: Vec<(&str, u16)> = hosts.iter().map(|h| (*h, port)).collect();
    let render = ShimRender::new(dir.path(), &shim)?
        .server_cert(&pki.server)
        .upstreams(&pki.ca, &resolve);
    render.run(&gate.to_string())?;
    let mut envoy = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;

    // Pub key match: 200 although the chain would not verify.
    let matched = until_status(&mut envoy, &pki, "/match/hello", 200, START_TIMEOUT)?;
    assert_eq!(matched.echo()?.sni.as_deref(), Some(hosts[0]));
    // Pub key not match: Tyk's 500 and message, in its error template.
    assert_denied(
        &get(&envoy, &pki, "/mismatch/hello")?,
        500,
        &pin_error(hosts[1]),
    );
    // Pinning disabled: the right pin is off, so the chain is verified again, and this
    // self-signed upstream fails it (Tyk: 500; here Envoy's own 503, see the README).
    let disabled = get(&envoy, &pki, "/disabled/hello")?;
    assert_eq!(disabled.status, 503, "{}", disabled.body);
    assert!(
        !disabled.body.contains("pinning"),
        "no pin applies: {}",
        disabled.body
    );
    // Global setting: the gate's pins apply to an API without its own.
    assert_denied(
        &get(&envoy, &pki, "/global/hello")?,
        500,
        &pin_error(hosts[3]),
    );
    // Two keys for `*`, one of them the upstream's.
    assert_eq!(get(&envoy, &pki, "/two/hello")?.status, 200);
    // Inline PEM pins, either way.
    assert_eq!(get(&envoy, &pki, "/inline/hello")?.status, 200);
    assert_denied(
        &get(&envoy, &pki, "/inline-wrong/hello")?,
        500,
        &pin_error(hosts[6]),
    );
    Ok(())
}

/// SPEC §8 for pins: a pinned key the store lacks matches nothing (every request gets the
/// pinning error); uploading it is a store change that `serve` renders into the running
/// Envoy, and deleting it takes it away again. Nothing is run by hand.
#[test]
fn a_pinned_key_uploaded_or_deleted_in_the_store_reaches_envoy_live() -> Result<()> {
    let pki = TestPki::generate()?;
    let shim = Shim::start()?;
    let admin = shim.admin_client()?;
    let upstream = EchoUpstream::start_tls(&pki.rogue, "self-signed")?;
    let port = upstream.addr.port();
    let host = "store-pin.example.test";
    let key_pem = public_key_pem(&pki.rogue)?;
    let spki = mtls_gate_core::certificate::parse_certificate(&pki.rogue.der)?.spki_der;
    let id = format!(
        "acme{}",
        mtls_gate_core::fingerprint::Fingerprint::of_der(&spki).to_hex()
    );
    let store: Value = serde_json::from_str(&shim.store_json(200, 300))?;
    let gate = json!({"org_id": "acme", "store": store,
        "apis": [api("pinned", host, port, json!({"pinned_public_keys": {host: id}}))]});
    let dir = tempfile::tempdir()?;
    let render = ShimRender::new(dir.path(), &shim)?
        .server_cert(&pki.server)
        .upstreams(&pki.ca, &[(host, port)]);
    let output = render.run(&gate.to_string())?;
    assert!(
        output.stdout.contains("not in the store") || output.stderr.contains("not in the store"),
        "render warns about the missing key: {output:?}"
    );
    let mut envoy = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;
    let failed = until_status(&mut envoy, &pki, "/pinned/x", 500, START_TIMEOUT)?;
    assert_denied(&failed, 500, &pin_error(host));

    assert_eq!(admin.add_cert(&key_pem, "acme")?, id);
    let uploaded = Instant::now();
    until_status(&mut envoy, &pki, "/pinned/x", 200, LIVE_BOUND * 5)?;
    println!(
        "pinned key uploaded: enforced by Envoy {:?} later",
        uploaded.elapsed()
    );
    admin.delete_cert(&id)?;
    until_status(&mut envoy, &pki, "/pinned/x", 500, LIVE_BOUND * 5)?;
    Ok(())
}

/// Tyk's `proxy.transport` (SPEC §6b, `TestProxyTransport`), each setting against an upstream
/// that only offers what the setting allows or refuses. Without settings an upstream may
/// negotiate TLS 1.3 (Envoy's own client default stops at 1.2).
#[test]
fn transport_settings_narrow_what_envoy_offers_the_upstream() -> Result<()> {
    let pki = TestPki::generate()?;
    let shim = Shim::start()?;
    let server = &pki.upstream_server;
    let tls12 = EchoUpstream::start_tls_with(server, "tls12", &["--tls-version", "1.2"])?;
    let tls13 = EchoUpstream::start_tls_with(server, "tls13", &["--tls-version", "1.3"])?;
    let one_cipher = EchoUpstream::start_tls_with(
        server,
        "one-cipher",
        &[
            "--tls-version",
            "1.2",
            "--cipher",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ],
    )?;
    let untrusted = EchoUpstream::start_tls(&pki.rogue, "untrusted")?;
    let transport = |settings: Value| json!({"proxy": {"transport": settings}});
    // (API, host, upstream port, settings, expected status)
    let cases: Vec<(&str, &str, u16, Value, u16)> = vec![
        (
            "default13",
            "default13.example.test",
            tls13.addr.port(),
            json!({}),
            200,
        ),
        (
            "max12-vs-13",
            "max12-vs-13.example.test",
            tls13.addr.port(),
            transport(json!({"ssl_max_version": 771})),
            503,
        ),
        (
            "max12",
            "max12.example.test",
            tls12.addr.port(),
            transport(json!({"ssl_max_version": 771})),
            200,
        ),
        (
            "min13-vs-12",
            "min13-vs-12.example.test",
            tls12.addr.port(),
            transport(json!({"ssl_min_version": 772})),
            503,
        ),
        (
            "min13",
            "min13.example.test",
            tls13.addr.port(),
            transport(json!({"ssl_min_version": 772})),
            200,
        ),
        (
            "cipher",
            "cipher.example.test",
            one_cipher.addr.port(),
            transport(json!({"ssl_ciphers": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]})),
            200,
        ),
        (
            "cipher-other",
            "cipher-other.example.test",
            one_cipher.addr.port(),
            transport(json!({"ssl_ciphers": ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]})),
            503,
        ),
        // Tyk's "Cipher not match": a TLS 1.3 suite only, against a TLS 1.2 upstream.
        (
            "tls13-suite",
            "tls13-suite.example.test",
            tls12.addr.port(),
            transport(json!({"ssl_ciphers": ["TLS_AES_256_GCM_SHA384"]})),
            503,
        ),
        (
            "verify",
            "verify.example.test",
            untrusted.addr.port(),
            json!({}),
            503,
        ),
        (
            "skip",
            "skip.example.test",
            untrusted.addr.port(),
            transport(json!({"ssl_insecure_skip_verify": true})),
            200,
        ),
    ];
    let gate = json!({"apis": cases
        .iter()
        .map(|(id, host, port, extra, _)| api(id, host, *port, extra.clone()))
        .collect::<Vec<_>>()});
    let dir = tempfile::tempdir()?;
    let resolve: Vec<(&str, u16)> = cases.iter().map(|(_, h, p, _, _)| (*h, *p)).collect();
    let render = ShimRender::new(dir.path(), &shim)?
        .server_cert(&pki.server)
        .upstreams(&pki.ca, &resolve);
    render.run(&gate.to_string())?;
    let mut envoy = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;
    until_status(&mut envoy, &pki, "/default13/x", 200, START_TIMEOUT)?;

    let mut seen = Vec::new();
    for (id, _, _, _, status) in &cases {
        let resp = get(&envoy, &pki, &format!("/{id}/x"))?;
        assert_eq!(resp.status, *status, "{id}: {}", resp.body);
        if resp.status == 200 {
            let echo = resp.json()?;
            seen.push((
                *id,
                echo["tls_version"].as_str().unwrap_or_default().to_owned(),
                echo["cipher_suite"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    let version = |id: &str| seen.iter().find(|s| s.0 == id).map(|s| s.1.clone());
    assert_eq!(version("default13").as_deref(), Some("TLSv1_3"));
    assert_eq!(version("max12").as_deref(), Some("TLSv1_2"));
    assert_eq!(version("min13").as_deref(), Some("TLSv1_3"));
    assert_eq!(
        seen.iter().find(|s| s.0 == "cipher").map(|s| s.2.as_str()),
        Some("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
    );
    Ok(())
}

/// `ssl_force_common_name_check` cannot be rendered (Envoy has no common-name check):
/// render refuses it and says why, instead of connecting without the check.
#[test]
fn the_common_name_check_is_refused_at_render_with_the_reason() -> Result<()> {
    let pki = TestPki::generate()?;
    let shim = Shim::start()?;
    let gate = json!({"apis": [api("cn", "localhost", 9443,
        json!({"proxy": {"transport": {"ssl_force_common_name_check": true}}}))]});
    let dir = tempfile::tempdir()?;
    let render = ShimRender::new(dir.path(), &shim)?.server_cert(&pki.server);
    let refused = render.refused(&gate.to_string())?;
    assert!(
        refused.contains("API cn: proxy.transport.ssl_force_common_name_check: Envoy cannot check an upstream certificate's common name"),
        "{refused}"
    );
    Ok(())
}

/// SPEC §6b: an inline upstream certificate with its key (Tyk accepts one) is presented
/// upstream like a stored one, and its key is nowhere in Envoy's `/config_dump`.
#[test]
fn an_inline_upstream_certificate_with_its_key_is_presented_and_its_key_kept_out_of_the_filter()
-> Result<()> {
    let pki = TestPki::generate()?;
    let shim = Shim::start()?;
    let upstream = EchoUpstream::start_tls(&pki.upstream_server, "upstream")?;
    let port = upstream.addr.port();
    let host = "inline-cert.example.test";
    let client = &pki.upstream_client_a;
    let gate = json!({"apis": [api("inline", host, port,
        json!({"upstream_certificates": {host: client.cert_and_key_pem()}}))]});
    let dir = tempfile::tempdir()?;
    let render = ShimRender::new(dir.path(), &shim)?
        .server_cert(&pki.server)
        .upstreams(&pki.ca, &[(host, port)]);
    render.run(&gate.to_string())?;
    let mut envoy = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;
    let resp = until_status(&mut envoy, &pki, "/inline/x", 200, START_TIMEOUT)?;
    assert_eq!(
        resp.echo()?.client_cert_sha256.as_deref(),
        Some(client.fingerprint.as_str())
    );
    let dump = envoy.config_dump()?;
    let key_line = client
        .key_pem
        .lines()
        .find(|l| !l.starts_with("-----"))
        .context("key body")?;
    assert!(
        !dump.contains(key_line),
        "the private key is in /config_dump"
    );
    assert!(dump.contains(mtls_gate_core::cert_ref::HELD_KEY_LABEL));
    Ok(())
}

/// Writes `contents` to `path` as an editor that saves by rename does.
fn replace_file(path: &std::path::Path, contents: &str) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// SPEC §8 for a pin: an edit of the gate `serve --gate` follows reaches the running Envoy
/// with no command. Measured: the time from the save to the first request Envoy answers under
/// the new pin, each way. Adding a second key to a pin that holds fails no request.
#[test]
fn a_pin_changed_in_the_served_gate_is_enforced_within_a_second() -> Result<()> {
    let pki = TestPki::generate()?;
    let upstream = EchoUpstream::start_tls(&pki.rogue, "self-signed")?;
    let port = upstream.addr.port();
    let host = "live-pin.example.test";
    let right = public_key_pem(&pki.rogue)?;
    let wrong = public_key_pem(&pki.client)?;
    let dir = tempfile::tempdir()?;
    let gate_path = dir.path().join("gate.json");
    let token = "live-pin-feed-token-0123456789";
    let gate_for = |keys: &str| {
        json!({"org_id": "acme",
            "store": {"cluster": "mtls-gate-shim", "authority": "mtls-gate-shim",
                      "token": token, "sync_interval_ms": 200, "max_stale_s": 300},
            "apis": [api("pinned", host, port, json!({"pinned_public_keys": {host: keys}}))]})
        .to_string()
    };
    std::fs::write(&gate_path, gate_for(&right))?;
    let shim = Shim::builder(paths::shim_bin()?)
        .feed_token(token)
        .arg("--gate")
        .arg(&gate_path)
        .start()?;
    let render = ShimRender::new(dir.path(), &shim)?
        .server_cert(&pki.server)
        .upstreams(&pki.ca, &[(host, port)]);
    render.run(&gate_for(&right))?;
    let mut envoy = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;
    until_status(&mut envoy, &pki, "/pinned/x", 200, START_TIMEOUT)?;

    // A second key next to the right one: every request keeps passing across the change.
    replace_file(&gate_path, &gate_for(&format!("{right},{wrong}")))?;
    let start = Instant::now();
    while start.elapsed() < LIVE_BOUND * 2 {
        let resp = get(&envoy, &pki, "/pinned/x")?;
        assert_eq!(
            resp.status, 200,
            "during a change that keeps the pin: {}",
            resp.body
        );
    }

    let mut took = Vec::new();
    for (keys, status) in [(&wrong, 500), (&right, 200)] {
        replace_file(&gate_path, &gate_for(keys))?;
        let saved = Instant::now();
        let resp = wait::until("Envoy to enforce the edited pin", LIVE_BOUND * 5, || {
            Ok(Some(get(&envoy, &pki, "/pinned/x")?).filter(|r| r.status == status))
        })
        .with_context(|| format!("{}\n{}", envoy.log(), shim.log()))?;
        let elapsed = saved.elapsed();
        if status == 500 {
            assert_denied(&resp, 500, &pin_error(host));
        }
        println!(
            "pin edited in the served gate: Envoy answered {status} {elapsed:?} after the save"
        );
        took.push(elapsed);
    }
    for elapsed in took {
        assert!(elapsed <= LIVE_BOUND, "the pin change took {elapsed:?}");
    }
    Ok(())
}
