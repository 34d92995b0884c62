//! Things a client must not be able to do through real Envoy: forge
//! `x-forwarded-client-cert` or the routing header, front one domain with another's SNI
//! (SPEC §5, §6, §7); and the filter's counters in Envoy's stats.

use mtls_gate_core::denial::Denial;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::upstream::cluster_name;
use mtls_gate_core::{headers, metrics};
use mtls_gate_e2e::*;
use mtls_gate_testkit::*;
use serde_json::json;

const FORGED_XFCC: &str = "Hash=0000000000000000000000000000000000000000000000000000000000000000;Subject=\"CN=admin\";URI=spiffe://forged";

/// Three upstreams: the default route (`default`), the API's own cluster (`api`), and a
/// cluster a forger would like to reach (`evil`).
struct Env {
    pki: TestPki,
    envoy: Envoy,
    _echos: Vec<EchoUpstream>,
}

const EVIL_CLUSTER: &str = "evil";

impl Env {
    /// - `routed` (`/routed/`, domain-less): mTLS (`client`), `target_url` → cluster
    ///   `cluster_name("routed", None)` → echo `api`;
    /// - `secure` (domain `secure.example.test`): mTLS (`client`), default route;
    /// - `/open/`: no mTLS; anything else: no API (default allow).
    fn start() -> anyhow::Result<Self> {
        let pki = TestPki::generate()?;
        let default = EchoUpstream::start_plain("default")?;
        let api = EchoUpstream::start_plain("api")?;
        let evil = EchoUpstream::start_plain("evil")?;
        let gate = json!({
            "apis": [
                {"api_id": "routed",
                 "proxy": {"listen_path": "/routed/", "target_url": format!("http://{}", api.addr)},
                 "use_mutual_tls_auth": true, "client_certificates": [pki.client.fingerprint]},
                {"api_id": "secure", "domain": "secure.example.test",
                 "proxy": {"listen_path": "/"},
                 "use_mutual_tls_auth": true, "client_certificates": [pki.client.fingerprint]},
                {"api_id": "open", "proxy": {"listen_path": "/open/"}}
            ]
        })
        .to_string();
        let envoy = Envoy::start(
            EnvoyConfig::new(&gate, &pki)
                .default_upstream(&default, &pki)
                .cluster(api.cluster(&cluster_name("routed", None), &pki))
                .cluster(evil.cluster(EVIL_CLUSTER, &pki)),
        )?;
        Ok(Self {
            pki,
            envoy,
            _echos: vec![default, api, evil],
        })
    }

    fn client(&self) -> Client {
        Client::new(&self.pki.ca).cert(&self.pki.client)
    }
}

#[test]
fn forged_xfcc_never_reaches_the_upstream() -> anyhow::Result<()> {
    let env = Env::start()?;
    let cases = [
        // An mTLS API, with a client certificate.
        env.client().get(&env.envoy.https_url("/routed/x")),
        // An API without mTLS, over TLS with and without a client certificate, and plain HTTP.
        env.client().get(&env.envoy.https_url("/open/x")),
        Client::new(&env.pki.ca).get(&env.envoy.https_url("/open/x")),
        Client::default().get(&env.envoy.plain_url("/open/x")),
        // No API at all.
        env.client().get(&env.envoy.https_url("/nowhere")),
    ];
    for req in cases {
        let req = req.header(headers::XFCC, FORGED_XFCC);
        let resp = req.send()?;
        assert_eq!(resp.status, 200, "{:?}: {}", req.curl_args()?, resp.body);
        let seen = resp.echo()?;
        // Envoy's own XFCC (if any) must describe the real connection, never the forgery.
        if let Some(xfcc) = seen.header(headers::XFCC) {
            assert!(
                !xfcc.contains("spiffe://forged") && !xfcc.contains("CN=admin"),
                "{:?}: forged XFCC reached the upstream: {xfcc}",
                req.curl_args()?
            );
            assert!(
                xfcc.contains(&format!("Hash={}", env.pki.client.fingerprint)),
                "{:?}: unexpected XFCC {xfcc}",
                req.curl_args()?
            );
        }
        // For a matched API the filter removes XFCC (forward_client_cert is off).
        if seen.path.starts_with("/routed/") || seen.path.starts_with("/open/") {
            assert_eq!(seen.header(headers::XFCC), None, "{:?}", req.curl_args()?);
        }
    }
    Ok(())
}

#[test]
fn forged_routing_and_identity_headers_have_no_effect() -> anyhow::Result<()> {
    let env = Env::start()?;
    let forged = |req: client::Request| {
        req.header(headers::ROUTING, EVIL_CLUSTER)
            .header(headers::API_ID, "forged-api")
            .header(headers::KEY_ALIAS, "forged-alias")
            .header(headers::CERT_SHA256, "forged-fp")
    };
    // (request, the upstream it must reach)
    let cases = [
        (env.client().get(&env.envoy.https_url("/routed/x")), "api"),
        (env.client().get(&env.envoy.https_url("/open/x")), "default"),
        (
            env.client().get(&env.envoy.https_url("/nowhere")),
            "default",
        ),
        (
            Client::default().get(&env.envoy.plain_url("/nowhere")),
            "default",
        ),
    ];
    for (req, upstream) in cases {
        let req = forged(req);
        let resp = req.send()?;
        assert_eq!(resp.status, 200, "{:?}: {}", req.curl_args()?, resp.body);
        let seen = resp.echo()?;
        assert_eq!(seen.name, upstream, "{:?}", req.curl_args()?);
        assert_ne!(
            seen.header(headers::ROUTING),
            Some(EVIL_CLUSTER),
            "the forged routing header reached the upstream"
        );
        // Not even the filter's own value: the route removes it (README, Envoy integration:
        // `request_headers_to_remove: [x-mtls-gate-cluster]`).
        assert_eq!(
            seen.header(headers::ROUTING),
            None,
            "{:?}: the routing header leaked upstream",
            req.curl_args()?
        );
        assert_eq!(seen.header(headers::KEY_ALIAS), None);
        if seen.path.starts_with("/routed/") {
            assert_eq!(seen.header(headers::API_ID), Some("routed"));
            assert_eq!(
                seen.header(headers::CERT_SHA256),
                Some(&*env.pki.client.fingerprint)
            );
        } else if seen.path.starts_with("/open/") {
            assert_eq!(seen.header(headers::API_ID), Some("open"));
        } else {
            assert_eq!(seen.header(headers::API_ID), None);
            assert_eq!(seen.header(headers::CERT_SHA256), None);
        }
    }
    assert_eq!(
        env.envoy
            .stat(&format!("cluster.{EVIL_CLUSTER}.upstream_rq_total"))?,
        Some(0),
        "a forged routing header reached the evil cluster"
    );
    // A denied request with a forged routing header is still denied, not routed.
    let rogue = forged(
        Client::new(&env.pki.ca)
            .cert(&env.pki.rogue)
            .get(&env.envoy.https_url("/routed/x")),
    )
    .send()?;
    assert_denied(
        &rogue,
        403,
        &format!(
            "Certificate with SHA256 {} not allowed",
            env.pki.rogue.fingerprint
        ),
    );
    Ok(())
}

#[test]
fn sni_and_host_mismatch_on_an_mtls_api_is_refused() -> anyhow::Result<()> {
    let env = Env::start()?;
    // Matching SNI and Host (curl sends `Host: name:port`): allowed.
    let ok = env
        .client()
        .get(&env.envoy.https_url("/x"))
        .sni("secure.example.test")
        .send()?;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.echo()?.header(headers::API_ID), Some("secure"));

    // The mTLS domain as SNI, another Host.
    let fronted = env
        .client()
        .get(&env.envoy.https_url("/x"))
        .sni("secure.example.test")
        .host("other.example.test")
        .send()?;
    assert_denied(&fronted, 403, "Domain does not match SNI");
    // Another SNI (with a valid certificate for it), the mTLS domain as Host.
    let reverse = env
        .client()
        .get(&env.envoy.https_url("/x"))
        .sni("other.example.test")
        .host("secure.example.test")
        .send()?;
    assert_denied(&reverse, 403, "Domain does not match SNI");
    // Neither names an mTLS API: no SNI check.
    let unrelated = env
        .client()
        .get(&env.envoy.https_url("/open/x"))
        .sni("a.example.test")
        .host("b.example.test")
        .send()?;
    assert_eq!(unrelated.status, 200, "{}", unrelated.body);
    Ok(())
}

#[test]
fn filter_counters_appear_in_envoy_stats() -> anyhow::Result<()> {
    let env = Env::start()?;
    let all = env.envoy.filter_stats()?;
    // The rogue's refusal; the counter's label does not depend on the fingerprint.
    let rogue_fp = Fingerprint::parse_hex(&env.pki.rogue.fingerprint).expect("hex fingerprint");
    for name in [
        metrics::envoy_stat(metrics::ALLOWED),
        denied_stat(&Denial::CertificateNotAllowed(rogue_fp)),
        denied_stat(&Denial::ClientTlsCertificateRequired),
        denied_stat(&Denial::TlsNotEnabled),
        denied_stat(&Denial::DomainDoesNotMatchSni),
    ] {
        assert_eq!(all.get(&name), Some(&0), "{name} in {all:?}");
    }

    for _ in 0..2 {
        let resp = env.client().get(&env.envoy.https_url("/routed/x")).send()?;
        assert_eq!(resp.status, 200, "{}", resp.body);
    }
    let rogue = Client::new(&env.pki.ca)
        .cert(&env.pki.rogue)
        .get(&env.envoy.https_url("/routed/x"))
        .send()?;
    assert_eq!(rogue.status, 403, "{}", rogue.body);
    let no_cert = Client::new(&env.pki.ca)
        .get(&env.envoy.https_url("/routed/x"))
        .send()?;
    assert_eq!(no_cert.status, 403, "{}", no_cert.body);
    let plain = Client::default()
        .get(&env.envoy.plain_url("/routed/x"))
        .send()?;
    assert_eq!(plain.status, 403, "{}", plain.body);

    // Each request counts once, whichever worker served it.
    let after = env.envoy.filter_stats()?;
    let expect = [
        (metrics::envoy_stat(metrics::ALLOWED), 2),
        (denied_stat(&Denial::CertificateNotAllowed(rogue_fp)), 1),
        (denied_stat(&Denial::ClientTlsCertificateRequired), 1),
        (denied_stat(&Denial::TlsNotEnabled), 1),
        (denied_stat(&Denial::DomainDoesNotMatchSni), 0),
    ];
    for (name, value) in expect {
        assert_eq!(after.get(&name), Some(&value), "{name} in {after:?}");
    }
    Ok(())
}

#[test]
fn a_path_cannot_dodge_an_mtls_listen_path() -> anyhow::Result<()> {
    let env = Env::start()?;
    // No client certificate: `/routed/` is closed to this client, `/open/` is not.
    let stranger = Client::new(&env.pki.ca);
    let closed = |resp: &client::Response, path: &str| {
        assert_denied(resp, 403, "Client TLS certificate is required");
        assert!(
            !resp.body.contains("\"path\""),
            "{path}: reached an upstream"
        );
    };
    closed(
        &stranger.get(&env.envoy.https_url("/routed/x")).send()?,
        "/routed/x",
    );
    // Envoy resolves these to `/routed/x` before the filter sees them (render's HCM:
    // normalize_path, merge_slashes).
    for dodge in [
        "/open/../routed/x",
        "/open/./../routed/x",
        "//routed/x",
        "/open/%2e%2e/routed/x",
    ] {
        let resp = stranger
            .get(&env.envoy.https_url(dodge))
            .path_as_is()
            .send()?;
        closed(&resp, dodge);
    }
    // An escaped slash is unescaped and the client redirected to the plain path
    // (path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT); nothing is proxied.
    let resp = stranger
        .get(&env.envoy.https_url("/open/..%2frouted/x"))
        .path_as_is()
        .send()?;
    assert_eq!(resp.status, 307, "{}", resp.body);
    assert_eq!(resp.header("location"), Some("/routed/x"));
    Ok(())
}
