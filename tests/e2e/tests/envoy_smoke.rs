//! The whole pipeline: curl → Envoy (TLS, client cert) → real filter (pass-through config)
//! → router → echo upstream over TLS.

use mtls_gate_e2e::*;
use mtls_gate_testkit::*;

#[test]
fn pass_through_config_forwards_a_client_cert_request_to_the_upstream() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let envoy =
        Envoy::start(EnvoyConfig::new(r#"{"apis": []}"#, &pki).default_upstream(&echo, &pki))?;

    let resp = Client::new(&pki.ca)
        .cert(&pki.client)
        .get(&envoy.https_url("/smoke/path?x=1"))
        .sni("a.example.test")
        .header("x-smoke-marker", "from-the-test")
        .send()?;

    assert_eq!(resp.status, 200, "body: {}", resp.body);
    let seen = resp.echo()?;
    assert_eq!(seen.name, "echo");
    assert_eq!(seen.path, "/smoke/path?x=1");
    assert_eq!(seen.header("x-smoke-marker"), Some("from-the-test"));
    assert_eq!(
        seen.host.as_deref(),
        Some(&*format!("a.example.test:{}", envoy.tls_port()))
    );
    // The default cluster presents no upstream client certificate.
    assert_eq!(seen.client_cert_sha256, None);
    assert_eq!(
        envoy.stat("cluster.upstream-default.upstream_rq_200")?,
        Some(1),
        "exactly one request reached the default cluster"
    );
    Ok(())
}

#[test]
fn a_config_the_filter_refuses_keeps_envoy_from_starting() -> anyhow::Result<()> {
    // SPEC §7: bad plugin config makes on_configure return false; Envoy's wasm plugin is
    // fail-closed, so the listener never serves with a half-configured filter.
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_plain("echo")?;
    let config = EnvoyConfig::new(r#"{"apis": "not a list"}"#, &pki).default_upstream(&echo, &pki);
    let err = match Envoy::start(config.clone()) {
        Ok(_) => anyhow::bail!("Envoy started with a config the filter must refuse"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("Unable to create Wasm plugin"), "{err}");
    let validate_err = envoy::validate(&config).unwrap_err().to_string();
    assert!(
        validate_err.contains("Unable to create Wasm plugin"),
        "{validate_err}"
    );
    Ok(())
}
