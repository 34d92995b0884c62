//! The e2e building blocks themselves: certificates, the echo upstream, the curl client, the
//! Envoy templates. When these fail, the product tests' failures mean nothing.

use mtls_gate_e2e::envoy_config::{EnvoyConfig, UpstreamCluster};
use mtls_gate_e2e::*;
use mtls_gate_testkit::*;
use std::process::Command;

#[test]
fn fingerprints_match_openssl_sha256_fingerprint() -> anyhow::Result<()> {
    // SPEC §1: the certificate ID equals `openssl x509 -noout -fingerprint -sha256`,
    // lowercased, without colons.
    let pki = TestPki::generate()?;
    for cert in [&pki.client, &pki.rogue, &pki.expired] {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(&cert.cert_path)
            .output()?;
        let text = String::from_utf8(out.stdout)?;
        let openssl = text
            .trim()
            .rsplit('=')
            .next()
            .unwrap_or("")
            .replace(':', "")
            .to_lowercase();
        assert_eq!(openssl, cert.fingerprint, "{}", cert.name);
    }
    Ok(())
}

#[test]
fn echo_upstream_reports_the_client_certificate_it_was_shown() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "direct")?;
    let url = format!("https://127.0.0.1:{}/direct", echo.addr.port());

    let with_cert = Client::new(&pki.ca)
        .cert(&pki.upstream_client_a)
        .post(&url, "payload")
        .sni("svc.example.test")
        .host("other.example.test")
        .send()?
        .echo()?;
    assert_eq!(
        with_cert.client_cert_sha256.as_deref(),
        Some(&*pki.upstream_client_a.fingerprint)
    );
    assert!(
        with_cert
            .client_subject
            .as_deref()
            .unwrap_or("")
            .contains("CN=upstream-client-a"),
        "{:?}",
        with_cert.client_subject
    );
    // SNI and Host are independent: what domain-fronting tests need.
    assert_eq!(with_cert.sni.as_deref(), Some("svc.example.test"));
    assert_eq!(with_cert.host.as_deref(), Some("other.example.test"));
    assert_eq!(
        (with_cert.method.as_str(), with_cert.body.as_str()),
        ("POST", "payload")
    );

    let without = Client::new(&pki.ca).get(&url).send()?.echo()?;
    assert_eq!(without.client_cert_sha256, None);
    assert_eq!(without.sni, None, "no SNI for an IP address");
    Ok(())
}

#[test]
fn client_reports_a_failed_handshake_as_an_error() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "direct")?;
    // The rogue certificate is self-signed: trusting it as a CA cannot verify the server.
    let err = Client::new(&pki.rogue)
        .get(&format!("https://127.0.0.1:{}/", echo.addr.port()))
        .send()
        .unwrap_err();
    assert!(err.to_string().contains("curl failed"), "{err:#}");
    Ok(())
}

#[test]
fn plain_echo_upstream_answers_over_http() -> anyhow::Result<()> {
    let echo = EchoUpstream::start_plain("plain")?;
    let resp = Client::default()
        .get(&format!("http://127.0.0.1:{}/p", echo.addr.port()))
        .header("x-a", "1")
        .send()?;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-echo-name"), Some("plain"));
    let seen = resp.echo()?;
    assert_eq!((seen.path.as_str(), seen.header("x-a")), ("/p", Some("1")));
    Ok(())
}

#[test]
fn envoy_validates_the_rendered_templates() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let config = EnvoyConfig::new(r#"{"apis": []}"#, &pki)
        .cluster(UpstreamCluster::tls(
            "upstream-default",
            "127.0.0.1:9".parse()?,
            &pki.ca,
        ))
        .cluster(
            UpstreamCluster::tls("upstream-cert-a", "127.0.0.1:9".parse()?, &pki.ca)
                .client_cert(&pki.upstream_client_a),
        )
        .cluster(UpstreamCluster::plain(
            "upstream-plain",
            "127.0.0.1:10".parse()?,
        ));
    envoy::validate(&config)?;
    Ok(())
}

#[test]
fn envoy_validate_rejects_a_route_to_an_undefined_default_cluster() -> anyhow::Result<()> {
    // Proves `validate` can fail: the template's fallback route names a cluster nobody defined.
    let pki = TestPki::generate()?;
    let err = envoy::validate(&EnvoyConfig::new(r#"{"apis": []}"#, &pki)).unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown cluster 'upstream-default'"),
        "{err:#}"
    );
    Ok(())
}

#[test]
fn envoy_presents_the_clusters_upstream_client_certificate() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let envoy = Envoy::start(
        EnvoyConfig::new(r#"{"apis": []}"#, &pki).cluster(
            echo.cluster("upstream-default", &pki)
                .client_cert(&pki.upstream_client_b)
                .sni("upstream.example.test"),
        ),
    )?;
    let seen = Client::new(&pki.ca)
        .cert(&pki.client)
        .get(&envoy.https_url("/"))
        .send()?
        .echo()?;
    assert_eq!(
        seen.client_cert_sha256.as_deref(),
        Some(&*pki.upstream_client_b.fingerprint)
    );
    assert_eq!(seen.sni.as_deref(), Some("upstream.example.test"));
    Ok(())
}

#[test]
fn envoy_stats_read_counters_by_exact_name() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_plain("plain")?;
    let envoy =
        Envoy::start(EnvoyConfig::new(r#"{"apis": []}"#, &pki).default_upstream(&echo, &pki))?;
    assert_eq!(
        envoy.stat("http.mtls_gate.downstream_rq_completed")?,
        Some(0)
    );
    for _ in 0..3 {
        let resp = Client::default().get(&envoy.plain_url("/count")).send()?;
        assert_eq!(resp.status, 200);
    }
    // Both listeners share the HCM stat prefix; counters are flushed per request.
    assert_eq!(
        envoy.stat("http.mtls_gate.downstream_rq_completed")?,
        Some(3)
    );
    assert_eq!(envoy.stat("no.such.stat")?, None);
    let cluster = envoy.stats(r"^cluster\.upstream-default\.upstream_rq_2xx$")?;
    assert_eq!(
        cluster.get("cluster.upstream-default.upstream_rq_2xx"),
        Some(&3)
    );
    Ok(())
}
