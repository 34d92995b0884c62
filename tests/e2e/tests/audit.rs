//! The outside audit's findings (issue 17), one test each, through real Envoy 1.40, the real
//! filter and the real shim: what used to fail open now fails closed, and the fixes hold on
//! the wire, not only in the unit tables.

use anyhow::{Context, Result, bail};
use mtls_gate_core::denial::Denial;
use mtls_gate_core::{headers, metrics};
use mtls_gate_e2e::envoy_config::PATH_NORMALISATION_KEYS;
use mtls_gate_e2e::*;
use mtls_gate_shim::client::ClientError;
use mtls_gate_testkit::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ORG: &str = "acme";
const SYNC_MS: u64 = 500;
const NO_CERTIFICATE: &str = "Client TLS certificate is required";
const DISALLOWED: &str = "Access to this API has been disallowed";
const NO_ACCESS_RIGHTS: &str =
    "Failed to create key, keys must have at least one Access Rights record set.";

fn not_allowed(cert: &CertFiles) -> String {
    format!("Certificate with SHA256 {} not allowed", cert.fingerprint)
}

/// Requests that reached the default upstream (the echo) so far.
fn upstream_requests(envoy: &Envoy) -> Result<u64> {
    Ok(envoy
        .stat("cluster.upstream-default.upstream_rq_total")?
        .unwrap_or(0))
}

fn wait_for_first_sync(envoy: &Envoy) -> Result<()> {
    wait::until("the filter's first sync", Duration::from_secs(10), || {
        Ok(envoy
            .stat(&metrics::envoy_stat(metrics::SYNC_SUCCESS))?
            .filter(|n| *n > 0)
            .map(|_| ()))
    })
}

/// A gate with one certificate-auth API (`/dyn/`, API ID `dyn`) on `shim`'s store, in front of
/// a TLS echo (the default route).
struct CertAuthEnv {
    pki: TestPki,
    shim: Shim,
    envoy: Envoy,
    _echo: EchoUpstream,
}

impl CertAuthEnv {
    fn start(shim: Shim) -> Result<Self> {
        let pki = TestPki::generate()?;
        let store: Value = serde_json::from_str(&shim.store_json(SYNC_MS, 300))?;
        let gate = json!({
            "org_id": ORG,
            "store": store,
            "apis": [{"api_id": "dyn", "proxy": {"listen_path": "/dyn/"},
                      "auth_configs": {"authToken": {"use_certificate": true}}}]
        })
        .to_string();
        let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
        let envoy = Envoy::start(
            EnvoyConfig::new(&gate, &pki)
                .default_upstream(&echo, &pki)
                .shim_port(shim.port()),
        )?;
        wait_for_first_sync(&envoy)?;
        Ok(Self {
            pki,
            shim,
            envoy,
            _echo: echo,
        })
    }

    fn get(&self, cert: &CertFiles, path: &str) -> Result<Response> {
        Client::new(&self.pki.ca)
            .cert(cert)
            .get(&self.envoy.https_url(path))
            .send()
    }

    /// Uploads `cert` under [`ORG`] and creates its key for API `dyn`: (certificate ID, key).
    fn register(&self, cert: &CertFiles) -> Result<(String, String)> {
        let id = self.shim.admin_client()?.add_cert(&cert.cert_pem, ORG)?;
        let key = self.shim.admin_client()?.create_key(&json!({
            "org_id": ORG, "certificate": id, "alias": cert.name,
            "access_rights": {"dyn": {"api_id": "dyn", "api_name": "Dynamic", "versions": ["Default"]}}
        }))?;
        Ok((id, key))
    }

    /// Polls `/dyn/x` with `cert` until `done` holds for the answer; the answer and the time
    /// since `since`.
    fn poll_until(
        &self,
        what: &str,
        cert: &CertFiles,
        since: Instant,
        done: impl Fn(&Response) -> bool,
    ) -> Result<(Response, Duration)> {
        let resp = wait::until(what, Duration::from_millis(SYNC_MS * 10), || {
            let resp = self.get(cert, "/dyn/x")?;
            Ok(done(&resp).then_some(resp))
        })?;
        Ok((resp, since.elapsed()))
    }
}

// ---- 1. Encoded paths vs listen_path ----------------------------------------------------

/// Envoy with no path normalisation at all: what the client writes reaches the filter
/// (and the upstream) byte for byte, so the filter alone must read `%73ecure` and
/// `secure;x=1` as `secure`, and refuse dot segments it cannot resolve.
#[test]
fn encoded_paths_cannot_dodge_an_mtls_listen_path_without_envoy_normalisation() -> Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_plain("echo")?;
    let mtls = |id: &str, listen_path: &str| {
        json!({"api_id": id, "domain": "", "proxy": {"listen_path": listen_path},
               "use_mutual_tls_auth": true, "client_certificates": [pki.client.fingerprint]})
    };
    let gate = json!({"apis": [
        mtls("secure", "/secure/"),
        mtls("anysecure", "/anysecure/"),
        // Letters whose escapes have hex letters: `o` = %6f / %6F, `n` = %6e / %6E.
        mtls("only", "/only/"),
        {"api_id": "open", "proxy": {"listen_path": "/"}}
    ]})
    .to_string();
    let config = EnvoyConfig::new(&gate, &pki)
        .default_upstream(&echo, &pki)
        .without_path_normalisation();
    let yaml = config.render()?;
    for key in PATH_NORMALISATION_KEYS {
        assert!(!yaml.contains(key), "{key} is still in the bootstrap");
    }
    let envoy = Envoy::start(config)?;
    let stranger = Client::new(&pki.ca);
    let get = |client: &Client, path: &str| {
        client
            .get(&envoy.https_url(path))
            .path_as_is()
            .send()
            .with_context(|| path.to_string())
    };

    // The baseline: the open API passes, the mTLS prefix as written is closed.
    let open = get(&stranger, "/open/x")?;
    assert_eq!(open.status, 200, "{}", open.body);
    assert_eq!(open.echo()?.path, "/open/x");
    assert_denied(&get(&stranger, "/secure/x")?, 403, NO_CERTIFICATE);

    // No client certificate: every spelling of an mTLS prefix is that API.
    for dodge in [
        "/%73ecure/x",
        "/%73%65%63%75%72%65/x",
        "/secure;jsessionid=1/x",
        "/%61nysecure/x",
        "/%6fnly/x",
        "/%6Fnly/x",
        "/o%6Ely/x",
    ] {
        let resp = get(&stranger, dodge)?;
        println!("no certificate {dodge} -> {} {}", resp.status, resp.body);
        assert_denied(&resp, 403, NO_CERTIFICATE);
    }
    // A certificate no list names: refused by fingerprint.
    let rogue = Client::new(&pki.ca).cert(&pki.rogue);
    for dodge in ["/%73ecure/x", "/secure;jsessionid=1/x"] {
        assert_denied(&get(&rogue, dodge)?, 403, &not_allowed(&pki.rogue));
    }
    // Dot segments and empty segments the filter cannot resolve for the upstream.
    for dodge in [
        "/open/..;/secure/x",
        "/open/%2e%2e/secure/x",
        "/open/../secure/x",
        "//secure/x",
    ] {
        let resp = get(&stranger, dodge)?;
        println!("no certificate {dodge} -> {} {}", resp.status, resp.body);
        assert_denied(&resp, 400, "Path is not normalized");
    }
    assert_eq!(
        upstream_requests(&envoy)?,
        1,
        "only the /open/x baseline may have reached the upstream"
    );

    // The listed certificate passes on the encoded spelling, which the upstream gets as sent.
    let listed = Client::new(&pki.ca).cert(&pki.client);
    let resp = get(&listed, "/%73ecure/x")?;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let seen = resp.echo()?;
    println!(
        "listed certificate /%73ecure/x reached the upstream as {}",
        seen.path
    );
    assert_eq!(seen.path, "/%73ecure/x");
    assert_eq!(seen.header(headers::API_ID), Some("secure"));
    Ok(())
}

// ---- 2. API settings that used to fail open ----------------------------------------------

/// `domain_disabled`, a host template and a path template on mTLS APIs each bind the API
/// (they used to leave it unmatched, so the open API behind it served its paths).
#[test]
fn disabled_domains_and_templates_bind_their_mtls_apis() -> Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_plain("echo")?;
    let listed = [&pki.client.fingerprint];
    let gate = json!({"apis": [
        {"api_id": "disabled", "domain": "secure.test", "domain_disabled": true,
         "proxy": {"listen_path": "/disabled/"},
         "use_mutual_tls_auth": true, "client_certificates": listed},
        {"api_id": "tenant", "domain": "{tenant:[a-z]+}.secure.test",
         "proxy": {"listen_path": "/tenant/"},
         "use_mutual_tls_auth": true, "client_certificates": listed},
        {"api_id": "orders", "proxy": {"listen_path": "/api/{version}/orders/"},
         "use_mutual_tls_auth": true, "client_certificates": listed},
        {"api_id": "open", "proxy": {"listen_path": "/"}}
    ]})
    .to_string();
    let envoy = Envoy::start(EnvoyConfig::new(&gate, &pki).default_upstream(&echo, &pki))?;
    let stranger = Client::new(&pki.ca);
    let member = Client::new(&pki.ca).cert(&pki.client);
    let get = |client: &Client, host: &str, path: &str| {
        client
            .get(&envoy.https_url(path))
            .sni(host)
            .send()
            .with_context(|| format!("{host}{path}"))
    };
    let passes = |resp: Response, api: &str, path: &str| -> Result<()> {
        assert_eq!(resp.status, 200, "{path}: {}", resp.body);
        let seen = resp.echo()?;
        assert_eq!(
            (seen.path.as_str(), seen.header(headers::API_ID)),
            (path, Some(api))
        );
        Ok(())
    };

    // (a) domain_disabled: the API listens on every host, not only (nor never) secure.test.
    for host in ["other.test", "secure.test"] {
        assert_denied(&get(&stranger, host, "/disabled/x")?, 403, NO_CERTIFICATE);
    }
    passes(
        get(&member, "other.test", "/disabled/x")?,
        "disabled",
        "/disabled/x",
    )?;

    // (b) A host template matches the hosts it describes.
    assert_denied(
        &get(&stranger, "acme.secure.test", "/tenant/x")?,
        403,
        NO_CERTIFICATE,
    );
    passes(
        get(&member, "acme.secure.test", "/tenant/x")?,
        "tenant",
        "/tenant/x",
    )?;

    // (c) A path template is a prefix with a variable segment.
    assert_denied(
        &get(&stranger, "open.test", "/api/v2/orders/1")?,
        403,
        NO_CERTIFICATE,
    );
    passes(
        get(&member, "open.test", "/api/v2/orders/1")?,
        "orders",
        "/api/v2/orders/1",
    )?;
    // Neither template is broader than written: these are the open API's.
    passes(
        get(&stranger, "open.test", "/api/v2/other")?,
        "open",
        "/api/v2/other",
    )?;
    passes(get(&stranger, "acme.secure.test", "/x")?, "open", "/x")?;

    // Exactly the five 200s above reached the upstream.
    assert_eq!(upstream_requests(&envoy)?, 5);
    Ok(())
}

/// `*.example.com` is not a Tyk domain (a template is): it would never match, so the filter
/// refuses the whole config and Envoy does not start with it.
#[test]
fn a_star_domain_makes_envoy_refuse_the_filter_config() -> Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_plain("echo")?;
    let gate = json!({"apis": [
        {"api_id": "wild", "domain": "*.example.com", "proxy": {"listen_path": "/"},
         "use_mutual_tls_auth": true, "client_certificates": [pki.client.fingerprint]}
    ]})
    .to_string();
    let config = EnvoyConfig::new(&gate, &pki).default_upstream(&echo, &pki);
    let err = match envoy::validate(&config) {
        Ok(()) => bail!("envoy --mode validate accepted domain *.example.com"),
        Err(e) => format!("{e:#}"),
    };
    println!("{err}");
    assert!(err.contains("apis[0].domain"), "{err}");
    assert!(err.contains("Unable to create Wasm plugin"), "{err}");
    Ok(())
}

// ---- 3. Keys without access rights -------------------------------------------------------

/// Tyk's `allow_master_keys: false`: a key must name an API, unless the shim runs with
/// `--allow-master-keys`; then such a key opens a certificate-auth API through Envoy.
#[test]
fn keys_without_access_rights_need_allow_master_keys() -> Result<()> {
    let pki = TestPki::generate()?;
    let shim = Shim::start()?;
    let id = shim.admin_client()?.add_cert(&pki.client.cert_pem, ORG)?;
    let refused = json!({"status": "error", "message": NO_ACCESS_RIGHTS});
    for session in [
        json!({"org_id": ORG, "certificate": id, "access_rights": {}}),
        json!({"org_id": ORG, "certificate": id}),
    ] {
        let resp = shim.admin("POST", "/tyk/keys/create", Some(&session.to_string()))?;
        assert_eq!(resp.status, 400, "{session}: {}", resp.body);
        assert_eq!(resp.json()?, refused, "{session}");
        assert_eq!(resp.header("content-type"), Some("application/json"));
    }
    // Nothing was written.
    match shim.admin_client()?.key(&id) {
        Err(ClientError::Refused { status: 404, .. }) => {}
        other => panic!("a key was written: {other:?}"),
    }

    // With access rights the key is made; an update that empties them is refused the same way.
    let rights = json!({"dyn": {"api_id": "dyn"}});
    let key = shim
        .admin_client()?
        .create_key(&json!({"org_id": ORG, "certificate": id, "access_rights": rights}))?;
    let emptied = json!({"org_id": ORG, "certificate": id, "access_rights": {}});
    let resp = shim.admin(
        "PUT",
        &format!("/tyk/keys/{key}"),
        Some(&emptied.to_string()),
    )?;
    assert_eq!(resp.status, 400, "{}", resp.body);
    assert_eq!(resp.json()?, refused);

    // A session's org is its certificate's: another is refused, an empty one is filled in.
    let id2 = shim.admin_client()?.add_cert(&pki.client2.cert_pem, ORG)?;
    let other_org = json!({"org_id": "other", "certificate": id2, "access_rights": rights});
    let resp = shim.admin("POST", "/tyk/keys/create", Some(&other_org.to_string()))?;
    assert_eq!(resp.status, 400, "{}", resp.body);
    println!("org_id mismatch -> {} {}", resp.status, resp.body);
    let key2 = shim
        .admin_client()?
        .create_key(&json!({"org_id": "", "certificate": id2, "access_rights": rights}))?;
    assert_eq!(key2, id2);
    let session = shim.admin_client()?.key(&key2)?;
    assert_eq!(session.org_id, ORG, "{session:?}");
    drop(shim);

    // --allow-master-keys: the same session is accepted, and opens the API through Envoy.
    let env = CertAuthEnv::start(Shim::start_allowing_master_keys()?)?;
    let id = env
        .shim
        .admin_client()?
        .add_cert(&env.pki.client.cert_pem, ORG)?;
    let key = env.shim.admin_client()?.create_key(&json!({
        "org_id": ORG, "certificate": id, "alias": "master", "access_rights": {}
    }))?;
    let resp = env.get(&env.pki.client, "/dyn/x")?;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let seen = resp.echo()?;
    assert_eq!(seen.header(headers::SESSION_KEY), Some(&*key));
    assert_eq!(seen.header(headers::KEY_ALIAS), Some("master"));
    Ok(())
}

// ---- 4. Negative answers stay out of shared data ------------------------------------------

const FLOOD: usize = 200;
const FLOOD_THREADS: usize = 4;

/// A client cycling fresh certificates gets 401 for each; "no session" is remembered per
/// worker and briefly (SPEC §4), so a certificate denied a moment ago passes within 1 s of
/// its key being created.
#[test]
fn a_flood_of_unknown_certificates_is_denied_and_forgotten() -> Result<()> {
    let env = CertAuthEnv::start(Shim::start()?)?;
    let mut mint = ClientMint::new()?;
    let flood: Vec<CertFiles> = (0..FLOOD)
        .map(|_| mint.mint("flood"))
        .collect::<Result<_>>()?;

    let before = env.envoy.memory_allocated()?;
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = flood
            .chunks(FLOOD.div_ceil(FLOOD_THREADS))
            .map(|chunk| {
                let env = &env;
                scope.spawn(move || -> Result<()> {
                    for cert in chunk {
                        let resp = env.get(cert, "/dyn/x")?;
                        assert_denied(&resp, 401, DISALLOWED);
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a flood worker panicked"))??;
        }
        Ok(())
    })?;
    let flood_time = started.elapsed();
    let after = env.envoy.memory_allocated()?;
    let stats = env.envoy.filter_stats()?;
    println!(
        "flood: {FLOOD} fresh certificates in {flood_time:?}; Envoy /memory allocated {before} -> {after} bytes ({:+} bytes, {:+.0} bytes per certificate); lookups {:?}, shed {:?}",
        after as i64 - before as i64,
        (after as f64 - before as f64) / FLOOD as f64,
        stats.get(&metrics::envoy_stat(metrics::LOOKUP_CALLOUTS)),
        stats.get(&metrics::envoy_stat(metrics::LOOKUP_SHED)),
    );
    assert_eq!(
        stats.get(&denied_stat(&Denial::NoSession)),
        Some(&(FLOOD as u64)),
        "{stats:?}"
    );

    // Denied a moment ago (negative answer cached), then given a key: passes within 1 s.
    let late = mint.mint("late")?;
    assert_denied(&env.get(&late, "/dyn/x")?, 401, DISALLOWED);
    let (_, key) = env.register(&late)?;
    let created = Instant::now();
    let (resp, elapsed) =
        env.poll_until("the late key to pass", &late, created, |r| r.status == 200)?;
    println!("late_key_pass_ms={}", elapsed.as_millis());
    assert_eq!(resp.echo()?.header(headers::SESSION_KEY), Some(&*key));
    assert!(
        elapsed <= Duration::from_secs(1),
        "a certificate denied before its key was created passed only after {elapsed:?} (> 1 s)"
    );
    // The flood's last certificate too.
    let last = flood.last().context("empty flood")?;
    env.register(last)?;
    let created = Instant::now();
    let (_, elapsed) = env.poll_until("the flood's last key to pass", last, created, |r| {
        r.status == 200
    })?;
    assert!(elapsed <= Duration::from_secs(1), "{elapsed:?}");
    Ok(())
}

// ---- 5. Unknown admin routes -------------------------------------------------------------

/// The secret is checked before routing: an unknown `/tyk/*` route says nothing without it.
#[test]
fn an_unknown_admin_route_needs_the_secret_before_it_is_404() -> Result<()> {
    let shim = Shim::start()?;
    for headers in [&[][..], &[("X-Tyk-Authorization", "wrong")][..]] {
        let resp = shim.request("GET", "/tyk/nonexistent", headers, None)?;
        assert_eq!(resp.status, 403, "{headers:?}: {}", resp.body);
        assert_eq!(
            resp.json()?,
            json!({"status": "error",
                   "message": "Attempted administrative access with invalid or missing key!"})
        );
        assert_eq!(resp.header("content-type"), Some("application/json"));
    }
    let resp = shim.admin("GET", "/tyk/nonexistent", None)?;
    println!("with the secret: {} {}", resp.status, resp.body);
    assert_eq!(resp.status, 404, "{}", resp.body);
    Ok(())
}

// ---- 6. Deleting a certificate keeps its keys ---------------------------------------------

/// SPEC §2 "Revocation by deletion (as Tyk)": the key stays, requests are refused while the
/// certificate is gone, and uploading it again restores access; each within the sync bound.
#[test]
fn deleting_a_certificate_keeps_its_key_and_uploading_it_again_restores_access() -> Result<()> {
    let env = CertAuthEnv::start(Shim::start()?)?;
    let cert = &env.pki.client;
    let (id, key) = env.register(cert)?;
    assert_eq!(env.get(cert, "/dyn/x")?.status, 200);

    env.shim.admin_client()?.delete_cert(&id)?;
    let (resp, elapsed) = env.poll_until(
        "the deleted certificate to be refused",
        cert,
        Instant::now(),
        |r| r.status != 200,
    )?;
    println!("delete_cert_refused_ms={}", elapsed.as_millis());
    assert_denied(&resp, 403, DISALLOWED);
    assert!(
        elapsed <= Duration::from_millis(2 * SYNC_MS),
        "still allowed {elapsed:?} after DELETE /tyk/certs (> 2 × {SYNC_MS} ms)"
    );
    let kept = env.shim.admin_client()?.key(&key)?;
    assert_eq!(kept.certificate, id);
    // It stays refused while the certificate is gone.
    assert_denied(&env.get(cert, "/dyn/y")?, 403, DISALLOWED);

    assert_eq!(env.shim.admin_client()?.add_cert(&cert.cert_pem, ORG)?, id);
    let (resp, elapsed) = env.poll_until(
        "the re-uploaded certificate to pass",
        cert,
        Instant::now(),
        |r| r.status == 200,
    )?;
    println!("reupload_cert_passes_ms={}", elapsed.as_millis());
    assert_eq!(resp.echo()?.header(headers::SESSION_KEY), Some(&*key));
    assert!(
        elapsed <= Duration::from_millis(2 * SYNC_MS),
        "still refused {elapsed:?} after the upload (> 2 × {SYNC_MS} ms)"
    );
    Ok(())
}

// ---- 7. Hardening --------------------------------------------------------------------------

const FORGED_XFCC: &str = "Hash=0000000000000000000000000000000000000000000000000000000000000000;Subject=\"CN=admin\";URI=spiffe://forged";

/// (a) `forward_client_cert: true`: Envoy's own XFCC element for the connection goes
/// upstream; a client's never does. Also under `APPEND_FORWARD`, an Envoy that passes the
/// client's header on and appends its own: the filter then forwards nothing it cannot prove
/// is Envoy's alone.
#[test]
fn forwarded_xfcc_is_envoys_own_and_never_the_clients() -> Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_plain("echo")?;
    let gate = json!({
        "forward_client_cert": true,
        "apis": [
            {"api_id": "secure", "proxy": {"listen_path": "/secure/"},
             "use_mutual_tls_auth": true, "client_certificates": [pki.client.fingerprint]},
            {"api_id": "open", "proxy": {"listen_path": "/open/"}}
        ]
    })
    .to_string();
    let own_element = format!("Hash={};Cert=\"", pki.client.fingerprint);
    for mode in ["SANITIZE_SET", "APPEND_FORWARD"] {
        let envoy = Envoy::start(
            EnvoyConfig::new(&gate, &pki)
                .default_upstream(&echo, &pki)
                .forward_client_cert_details(mode),
        )?;
        let member = Client::new(&pki.ca).cert(&pki.client);
        // (request, whether Envoy has a client certificate to describe)
        let cases = [
            (member.get(&envoy.https_url("/secure/x")), true),
            (member.get(&envoy.https_url("/open/x")), true),
            (member.get(&envoy.https_url("/nowhere")), true),
            (Client::new(&pki.ca).get(&envoy.https_url("/open/x")), false),
            (Client::default().get(&envoy.plain_url("/open/x")), false),
            (Client::default().get(&envoy.plain_url("/nowhere")), false),
        ];
        for (req, has_cert) in cases {
            for forged in [false, true] {
                let req = match forged {
                    true => req.clone().header(headers::XFCC, FORGED_XFCC),
                    false => req.clone(),
                };
                let resp = req.send()?;
                assert_eq!(resp.status, 200, "{:?}: {}", req.curl_args()?, resp.body);
                let seen = resp.echo()?;
                let xfcc = seen.header(headers::XFCC);
                let case = format!(
                    "{mode} {} (client cert: {has_cert}, forged XFCC sent: {forged})",
                    seen.path
                );
                let shown = xfcc.map(|x| x.split(";Cert=").next().unwrap_or(x));
                println!("{case}: upstream XFCC {shown:?}");
                if let Some(xfcc) = xfcc {
                    assert!(
                        !xfcc.contains("spiffe://forged")
                            && !xfcc.contains("CN=admin")
                            && !xfcc.contains("Hash=0000"),
                        "{case}: the forged XFCC reached the upstream: {xfcc}"
                    );
                    assert!(xfcc.starts_with(&own_element), "{case}: {xfcc}");
                    assert_eq!(xfcc.matches("Hash=").count(), 1, "{case}: {xfcc}");
                    assert!(xfcc.contains("Subject=\"CN=client,"), "{case}: {xfcc}");
                }
                // Envoy's own element goes upstream whenever it is all there is.
                let expect_own = has_cert && !(forged && mode == "APPEND_FORWARD");
                assert_eq!(xfcc.is_some(), expect_own, "{case}: {xfcc:?}");
            }
        }
    }
    Ok(())
}

/// (b) With no SNI to compare against, a Host that is not `host[:port]` could be read as
/// `secure.test` upstream while matching no domain here: refused.
#[test]
fn a_malformed_host_without_sni_is_refused() -> Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_plain("echo")?;
    let gate = json!({"apis": [
        {"api_id": "secure", "domain": "secure.test", "proxy": {"listen_path": "/"},
         "use_mutual_tls_auth": true, "client_certificates": [pki.client.fingerprint]},
        {"api_id": "open", "proxy": {"listen_path": "/"}}
    ]})
    .to_string();
    let envoy = Envoy::start(EnvoyConfig::new(&gate, &pki).default_upstream(&echo, &pki))?;
    // https://127.0.0.1:PORT: curl sends no SNI for an IP address.
    let get = |host: &str| {
        Client::new(&pki.ca)
            .get(&envoy.https_url("/x"))
            .host(host)
            .send()
            .with_context(|| format!("Host: {host}"))
    };
    // The baseline: a well-formed Host is matched by its domain.
    assert_denied(&get("secure.test")?, 403, NO_CERTIFICATE);
    let open = get("open.test")?;
    assert_eq!(open.status, 200, "{}", open.body);
    let baseline = upstream_requests(&envoy)?;

    for host in [
        "secure.test:1:2",
        "x@secure.test",
        "secure.test,open.test",
        "x@secure.test:443",
    ] {
        let resp = get(host)?;
        println!("Host: {host} -> {} {:?}", resp.status, resp.body);
        assert_denied(&resp, 400, "Host is not a valid host[:port]");
    }
    assert_eq!(
        upstream_requests(&envoy)?,
        baseline,
        "a malformed Host reached the upstream"
    );
    Ok(())
}

/// (c) `store.token_env`: `render` names the variable in the VM's `host_env_keys` and writes
/// no token; Envoy started with it set syncs with the shim, and its `/config_dump` does not
/// hold the token.
#[test]
fn a_feed_token_from_the_environment_stays_out_of_config_dump() -> Result<()> {
    const TOKEN_ENV: &str = "MTLS_GATE_FEED_TOKEN";
    let pki = TestPki::generate()?;
    let shim = Shim::start()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let gate = json!({
        "org_id": ORG,
        "store": {"token_env": TOKEN_ENV, "sync_interval_ms": SYNC_MS, "max_stale_s": 300},
        "apis": [{"api_id": "dyn",
                  "proxy": {"listen_path": "/dyn/",
                            "target_url": format!("https://localhost:{}", echo.addr.port())},
                  "auth_configs": {"authToken": {"use_certificate": true}}}]
    })
    .to_string();
    let dir = tempfile::tempdir()?;
    let out = render(dir.path(), &shim, &pki, &echo, &gate)?;

    let token = shim.feed_token();
    for file in files_under(&out)? {
        let text = std::fs::read(&file)?;
        assert!(
            !String::from_utf8_lossy(&text).contains(token),
            "{} holds the feed token",
            file.display()
        );
    }
    let lds = std::fs::read_to_string(out.join("xds/lds.yaml"))?;
    assert!(
        lds.contains(&format!("host_env_keys: [\"{TOKEN_ENV}\"]")),
        "{lds}"
    );

    // The token really comes from Envoy's environment: without the variable the filter
    // refuses its config (with it, Envoy starts below).
    let validate_yaml = out.join("envoy-validate.yaml");
    let unset = Command::new(paths::envoy_bin()?)
        .args([
            "--mode",
            "validate",
            "--disable-hot-restart",
            "--log-level",
            "warning",
            "-c",
        ])
        .arg(&validate_yaml)
        .env_remove(TOKEN_ENV)
        .output()?;
    let unset_log = String::from_utf8_lossy(&unset.stderr).into_owned()
        + &String::from_utf8_lossy(&unset.stdout);
    assert!(!unset.status.success(), "validated without {TOKEN_ENV}");
    assert!(unset_log.contains("store.token_env"), "{unset_log}");
    for line in unset_log.lines().filter(|l| l.contains("token_env")) {
        println!("validate without {TOKEN_ENV}: {line}");
    }

    let config = EnvoyConfig::from_bootstrap(&out.join("envoy.yaml"))?.env(TOKEN_ENV, token);
    let envoy = Envoy::start(config)?;
    wait_for_first_sync(&envoy)?;
    let id = shim.admin_client()?.add_cert(&pki.client.cert_pem, ORG)?;
    let key = shim.admin_client()?.create_key(&json!({
        "org_id": ORG, "certificate": id, "alias": "from-env",
        "access_rights": {"dyn": {"api_id": "dyn"}}
    }))?;
    let resp = Client::new(&pki.ca)
        .cert(&pki.client)
        .get(&envoy.https_url("/dyn/x"))
        .send()?;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.echo()?.header(headers::SESSION_KEY), Some(&*key));
    // The feed accepted the token from the environment: no sync failed.
    let failures = envoy
        .stat(&metrics::envoy_stat(metrics::SYNC_FAILURE))?
        .unwrap_or(0);
    assert_eq!(failures, 0, "the filter's feed calls failed");

    let dump = envoy.config_dump()?;
    if let Some(at) = dump.find("\"environment_variables\"") {
        let shown: String = dump[at..].chars().take(120).collect();
        println!(
            "/config_dump: {}",
            shown.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    assert!(
        dump.contains(TOKEN_ENV),
        "host_env_keys missing from /config_dump"
    );
    assert!(!dump.contains(token), "/config_dump holds the feed token");
    Ok(())
}

/// Runs `mtls-gate-shim render` for `gate` (with the feed token in render's environment, as
/// an operator would have it) into `dir/envoy`; that directory.
fn render(
    dir: &Path,
    shim: &Shim,
    pki: &TestPki,
    echo: &EchoUpstream,
    gate: &str,
) -> Result<PathBuf> {
    let gate_path = dir.join("gate.json");
    let out = dir.join("envoy");
    std::fs::write(&gate_path, gate)?;
    let output = Command::new(paths::shim_bin()?)
        .arg("render")
        .arg("--gate")
        .arg(&gate_path)
        .arg("--out")
        .arg(&out)
        .arg("--store")
        .arg(shim.store_path())
        .args(["--listen", &format!("127.0.0.1:{}", free_port()?)])
        .args(["--plain-listen", &format!("127.0.0.1:{}", free_port()?)])
        .args(["--admin", "127.0.0.1:0"])
        .arg("--server-cert")
        .arg(&pki.server.cert_path)
        .arg("--server-key")
        .arg(&pki.server.key_path)
        .arg("--wasm")
        .arg(paths::filter_wasm()?)
        .args(["--shim-url", &format!("http://{}", shim.addr())])
        .arg("--upstream-ca")
        .arg(&pki.ca.cert_path)
        .args([
            "--resolve",
            &format!("localhost:{}:127.0.0.1", echo.addr.port()),
        ])
        .env("MTLS_GATE_SECRET", shim.secret())
        .env("MTLS_GATE_FEED_TOKEN", shim.feed_token())
        .env_remove("MTLS_GATE_ENCODING_SECRET")
        .output()?;
    if !output.status.success() {
        bail!(
            "render failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(out)
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(files_under(&path)?);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}
