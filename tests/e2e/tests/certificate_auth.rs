//! SPEC §4 through real Envoy with the real shim: certificate authentication
//! (`auth_configs.authToken.use_certificate`), sessions created, changed and revoked through
//! the Tyk admin API and synced into the filter. Each test starts its own shim and Envoy.

use mtls_gate_core::{headers, metrics};
use mtls_gate_e2e::*;
use mtls_gate_testkit::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ORG: &str = "acme";
const SYNC_MS: u64 = 500;
const API: &str = "dyn";

struct DynEnv {
    pki: TestPki,
    shim: Shim,
    envoy: Envoy,
    _echo: EchoUpstream,
}

impl DynEnv {
    /// `/dyn/`: certificate auth (strip_auth_data). `/other/`: certificate auth, another API ID.
    /// The echo is the default route (no `target_url`).
    fn start() -> anyhow::Result<Self> {
        Self::start_with(Shim::start()?)
    }

    /// [`DynEnv::start`] with a shim the test started (for example with `--allow-master-keys`).
    fn start_with(shim: Shim) -> anyhow::Result<Self> {
        let pki = TestPki::generate()?;
        let store: Value = serde_json::from_str(&shim.store_json(SYNC_MS, 300))?;
        let gate = json!({
            "org_id": ORG,
            "store": store,
            "apis": [
                {"api_id": API, "proxy": {"listen_path": "/dyn/"}, "strip_auth_data": true,
                 "auth_configs": {"authToken": {"use_certificate": true}}},
                {"api_id": "other", "proxy": {"listen_path": "/other/"},
                 "auth_configs": {"authToken": {"useCertificate": true}}}
            ]
        })
        .to_string();
        let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
        let envoy = Envoy::start(
            EnvoyConfig::new(&gate, &pki)
                .default_upstream(&echo, &pki)
                .shim_port(shim.port()),
        )?;
        let env = Self {
            pki,
            shim,
            envoy,
            _echo: echo,
        };
        env.wait_for_first_sync()?;
        Ok(env)
    }

    fn wait_for_first_sync(&self) -> anyhow::Result<()> {
        wait::until("the filter's first sync", Duration::from_secs(10), || {
            Ok(self
                .envoy
                .stat(&metrics::envoy_stat(metrics::SYNC_SUCCESS))?
                .filter(|n| *n > 0)
                .map(|_| ()))
        })
    }

    fn get(&self, cert: &CertFiles, path: &str) -> anyhow::Result<Response> {
        Client::new(&self.pki.ca)
            .cert(cert)
            .get(&self.envoy.https_url(path))
            .send()
    }

    /// Uploads `cert` and creates its key with `extra` session fields; returns (cert ID, key).
    fn register(&self, cert: &CertFiles, extra: Value) -> anyhow::Result<(String, String)> {
        let id = self.shim.admin_client()?.add_cert(&cert.cert_pem, ORG)?;
        let mut session = json!({
            "org_id": ORG,
            "certificate": id,
            "alias": format!("alias-{}", cert.name),
            "access_rights": {API: {"api_id": API, "api_name": "Dynamic", "versions": ["Default"]}}
        });
        if let (Some(s), Some(e)) = (session.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        let key = self.shim.admin_client()?.create_key(&session)?;
        Ok((id, key))
    }

    /// Polls `path` with `cert` every 20 ms until the answer is not 200; returns it and the
    /// time since `since`.
    fn until_denied(
        &self,
        cert: &CertFiles,
        path: &str,
        since: Instant,
    ) -> anyhow::Result<(Response, Duration)> {
        let resp = wait::until(
            "the revoked certificate to be refused",
            Duration::from_millis(SYNC_MS * 10),
            || {
                let resp = self.get(cert, path)?;
                Ok((resp.status != 200).then_some(resp))
            },
        )?;
        Ok((resp, since.elapsed()))
    }
}

fn within_two_sync_intervals(elapsed: Duration, what: &str) {
    assert!(
        elapsed <= Duration::from_millis(2 * SYNC_MS),
        "{what}: still allowed {elapsed:?} after the admin call (> 2 × {SYNC_MS} ms)"
    );
}

#[test]
fn registered_key_passes_with_its_alias_and_unknown_certificate_is_401() -> anyhow::Result<()> {
    let env = DynEnv::start()?;
    let (_, key) = env.register(&env.pki.client, json!({}))?;
    assert_eq!(key, format!("{ORG}{}", env.pki.client.fingerprint));

    let resp = Client::new(&env.pki.ca)
        .cert(&env.pki.client)
        .get(&env.envoy.https_url("/dyn/orders"))
        .header("authorization", "Bearer should-be-stripped")
        .send()?;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let seen = resp.echo()?;
    assert_eq!(seen.path, "/dyn/orders");
    assert_eq!(seen.header(headers::KEY_ALIAS), Some("alias-client"));
    assert_eq!(seen.header(headers::SESSION_KEY), Some(&*key));
    assert_eq!(seen.header(headers::API_ID), Some(API));
    assert_eq!(seen.header("authorization"), None, "strip_auth_data");

    for unknown in [&env.pki.client2, &env.pki.rogue] {
        let resp = env.get(unknown, "/dyn/orders")?;
        assert_denied(&resp, 401, "Access to this API has been disallowed");
    }
    Ok(())
}

#[test]
fn a_new_key_works_on_the_very_next_request() -> anyhow::Result<()> {
    let env = DynEnv::start()?;
    // Never looked up before: no negative cache entry, no sync has carried it yet.
    env.register(&env.pki.client2, json!({"alias": "fresh"}))?;
    let resp = env.get(&env.pki.client2, "/dyn/first")?;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.echo()?.header(headers::KEY_ALIAS), Some("fresh"));

    // Denied just before its key exists: the negative answer is cached for at most 1 s.
    let denied = env.get(&env.pki.rogue, "/dyn/x")?;
    assert_denied(&denied, 401, "Access to this API has been disallowed");
    env.register(&env.pki.rogue, json!({"alias": "late"}))?;
    let created = Instant::now();
    let passed = wait::until("the late key to pass", Duration::from_secs(5), || {
        let resp = env.get(&env.pki.rogue, "/dyn/x")?;
        Ok((resp.status == 200).then_some(resp))
    })?;
    let elapsed = created.elapsed();
    assert_eq!(passed.echo()?.header(headers::KEY_ALIAS), Some("late"));
    assert!(
        elapsed <= Duration::from_secs(1),
        "a certificate denied before its key was created passed only after {elapsed:?} (> 1 s)"
    );
    Ok(())
}

#[test]
fn deleting_the_key_revokes_within_two_sync_intervals() -> anyhow::Result<()> {
    let env = DynEnv::start()?;
    let (_, key) = env.register(&env.pki.client, json!({}))?;
    // Let the session arrive through the feed (not only the lookup on miss), so the
    // measurement is the sync path a real deployment sees.
    wait::until("the key to pass", Duration::from_secs(10), || {
        Ok((env.get(&env.pki.client, "/dyn/x")?.status == 200).then_some(()))
    })?;
    let synced = env
        .envoy
        .stat(&metrics::envoy_stat(metrics::SYNC_SUCCESS))?
        .unwrap_or(0);
    wait::until("one more sync", Duration::from_secs(5), || {
        Ok(env
            .envoy
            .stat(&metrics::envoy_stat(metrics::SYNC_SUCCESS))?
            .filter(|n| *n > synced)
            .map(|_| ()))
    })?;
    assert_eq!(env.get(&env.pki.client, "/dyn/x")?.status, 200);

    env.shim.admin_client()?.delete_key(&key)?;
    let (resp, elapsed) = env.until_denied(&env.pki.client, "/dyn/x", Instant::now())?;
    println!("revocation_ms={}", elapsed.as_millis());
    assert_denied(&resp, 401, "Access to this API has been disallowed");
    within_two_sync_intervals(elapsed, "DELETE /tyk/keys");
    // It stays revoked.
    let again = env.get(&env.pki.client, "/dyn/y")?;
    assert_denied(&again, 401, "Access to this API has been disallowed");
    Ok(())
}

#[test]
fn deleting_the_certificate_revokes_its_key() -> anyhow::Result<()> {
    let env = DynEnv::start()?;
    let (id, key) = env.register(&env.pki.client, json!({}))?;
    assert_eq!(env.get(&env.pki.client, "/dyn/x")?.status, 200);

    env.shim.admin_client()?.delete_cert(&id)?;
    let (resp, elapsed) = env.until_denied(&env.pki.client, "/dyn/x", Instant::now())?;
    println!("cert_revocation_ms={}", elapsed.as_millis());
    // SPEC §2 "Revocation by deletion (as Tyk)": the key stays, its certificate is gone: 403.
    assert_denied(&resp, 403, "Access to this API has been disallowed");
    within_two_sync_intervals(elapsed, "DELETE /tyk/certs");
    assert_eq!(
        env.shim.admin_client()?.key(&key)?.certificate,
        id,
        "the certificate's key stays"
    );
    Ok(())
}

#[test]
fn inactive_key_is_403() -> anyhow::Result<()> {
    let env = DynEnv::start()?;
    // Created inactive.
    env.register(&env.pki.client2, json!({"is_inactive": true}))?;
    let resp = env.get(&env.pki.client2, "/dyn/x")?;
    assert_denied(&resp, 403, "Key is inactive, please renew");

    // Made inactive with PUT: refused within two sync intervals.
    let (id, key) = env.register(&env.pki.client, json!({}))?;
    assert_eq!(env.get(&env.pki.client, "/dyn/x")?.status, 200);
    env.shim.admin_client()?.update_key(
        &key,
        &json!({"org_id": ORG, "certificate": id, "alias": "alias-client", "is_inactive": true,
                "access_rights": {API: {"api_id": API}}}),
    )?;
    let (resp, elapsed) = env.until_denied(&env.pki.client, "/dyn/x", Instant::now())?;
    assert_denied(&resp, 403, "Key is inactive, please renew");
    within_two_sync_intervals(elapsed, "PUT /tyk/keys is_inactive");
    Ok(())
}

#[test]
fn expired_key_is_401() -> anyhow::Result<()> {
    let env = DynEnv::start()?;
    let past = time::OffsetDateTime::now_utc().unix_timestamp() - 60;
    env.register(&env.pki.client, json!({"expires": past}))?;
    let resp = env.get(&env.pki.client, "/dyn/x")?;
    assert_denied(&resp, 401, "Key has expired, please renew");
    // A key expiring in the future passes.
    let future = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    env.register(&env.pki.client2, json!({"expires": future}))?;
    assert_eq!(env.get(&env.pki.client2, "/dyn/x")?.status, 200);
    Ok(())
}

#[test]
fn access_rights_not_naming_the_api_is_403() -> anyhow::Result<()> {
    // `client2`'s key is a master key, which only a shim with --allow-master-keys accepts.
    let env = DynEnv::start_with(Shim::start_allowing_master_keys()?)?;
    // `client`: only API "dyn". `client2`: empty access rights, so every API.
    env.register(&env.pki.client, json!({}))?;
    env.register(&env.pki.client2, json!({"access_rights": {}}))?;
    assert_eq!(env.get(&env.pki.client, "/dyn/x")?.status, 200);
    let resp = env.get(&env.pki.client, "/other/x")?;
    assert_denied(&resp, 403, "Access to this API has been disallowed");
    for path in ["/dyn/x", "/other/x"] {
        let resp = env.get(&env.pki.client2, path)?;
        assert_eq!(resp.status, 200, "{path}: {}", resp.body);
    }
    Ok(())
}

#[test]
fn a_token_without_a_client_certificate_is_refused() -> anyhow::Result<()> {
    let env = DynEnv::start()?;
    let (_, key) = env.register(&env.pki.client, json!({}))?;
    for auth in [key.clone(), format!("Bearer {key}")] {
        // TLS without a client certificate.
        let tls = Client::new(&env.pki.ca)
            .get(&env.envoy.https_url("/dyn/x"))
            .header("authorization", &auth)
            .send()?;
        assert_denied(&tls, 401, "Client certificate required");
        // Plain HTTP (deviation: a token alone never passes).
        let plain = Client::default()
            .get(&env.envoy.plain_url("/dyn/x"))
            .header("authorization", &auth)
            .send()?;
        assert_denied(&plain, 401, "Client certificate required");
    }
    // Another certificate with the valid key's token is not that session.
    let other = Client::new(&env.pki.ca)
        .cert(&env.pki.client2)
        .get(&env.envoy.https_url("/dyn/x"))
        .header("authorization", &key)
        .send()?;
    assert_denied(&other, 401, "Access to this API has been disallowed");
    Ok(())
}

/// Issue 14: a store bigger than one snapshot page (2,000 entries) syncs through Envoy in
/// pages. The shim holds 2,100 entries before Envoy starts; the first sync completes, the feed
/// answered it in more than one snapshot answer, and a key in the store from the start is
/// served from the synced cache (no lookup callout).
#[test]
fn a_store_bigger_than_one_snapshot_page_syncs_in_pages_through_envoy() -> anyhow::Result<()> {
    let shim = Shim::start()?;
    let admin = shim.admin_client()?;
    let mut mint = ClientMint::new()?;
    for _ in 0..2_098 {
        admin.add_cert(&mint.mint("filler")?.cert_pem, ORG)?;
    }
    let alice = mint.mint("alice")?;
    let id = admin.add_cert(&alice.cert_pem, ORG)?;
    admin.create_key(&json!({
        "org_id": ORG, "certificate": id, "alias": "alice-paged",
        "access_rights": {API: {"api_id": API, "api_name": "Dynamic", "versions": ["Default"]}}
    }))?;
    let full_answers = |shim: &Shim| -> anyhow::Result<u64> {
        let metrics = shim.admin("GET", "/metrics", None)?.body;
        Ok(metrics
            .lines()
            .find(|l| l.starts_with("mtls_gate_shim_feed_responses_total{kind=\"full\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0))
    };
    let env = DynEnv::start_with(shim)?;
    let pages = full_answers(&env.shim)?;
    assert!(pages >= 2, "the first sync took {pages} snapshot answer(s)");
    let resp = Client::new(&env.pki.ca)
        .cert(&alice)
        .get(&env.envoy.https_url("/dyn/paged"))
        .send()?;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.echo()?.header(headers::KEY_ALIAS), Some("alice-paged"));
    assert_eq!(
        env.envoy
            .stat(&metrics::envoy_stat(metrics::LOOKUP_CALLOUTS))?
            .unwrap_or(0),
        0,
        "served from the synced pages, not looked up"
    );
    Ok(())
}
