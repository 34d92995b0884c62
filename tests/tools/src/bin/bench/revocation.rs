//! Revocation through real Envoy (issue 14 point 3): from the admin API's answer to a DELETE to
//! the first request Envoy denies, at the default sync interval, for a key, a certificate
//! listed by store ID, and a CA listed by store ID. The store is the bench's (the
//! certificate-auth scenario's sessions included), so the sync carries a full-size index.
//!
//! One Envoy with three APIs: `/key/` (certificate auth), `/cert/` (static list: a certificate
//! by store ID) and `/ca/` (static list: the test CA by store ID, the client chaining to it).
//! A trial re-creates what the previous one deleted, waits until a request passes, sleeps a
//! random fraction of the sync interval (so the DELETE lands at every phase of the sync timer,
//! not always just after a sync), deletes it, and sends requests back to back on one
//! keep-alive connection until one is denied (`probe.rs`). The kinds are interleaved per trial.

use super::probe::Probe;
use super::report::Spread;
use super::store_block;
use anyhow::{Context, Result};
use mtls_gate_core::config::shape::DEFAULT_SYNC_INTERVAL_MS;
use mtls_gate_e2e::{Envoy, EnvoyConfig, ShimAdmin};
use mtls_gate_testkit::pki::ClientMint;
use mtls_gate_testkit::{Shim, TestPki};
use serde_json::{Value, json};
use std::fmt::Write;
use std::time::{Duration, Instant};

/// Long enough for the first full sync of a large store.
const FIRST_ALLOW_TIMEOUT: Duration = Duration::from_secs(120);
const TRIAL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Env<'a> {
    pub pki: &'a TestPki,
    pub shim: &'a Shim,
    pub config: &'a dyn Fn(&str) -> EnvoyConfig,
    pub concurrency: usize,
    pub pin_cpu: Option<usize>,
}

pub struct Revocation {
    /// (what was deleted, milliseconds per trial)
    pub kinds: Vec<(String, Vec<f64>)>,
    pub sync_interval_ms: u64,
    /// One key deleted while the first sync's snapshot was still paging in: milliseconds to
    /// the first refusal, and whether the paging was still under way then (on a fast host it
    /// can be over before the key has passed once).
    pub during_first_sync: Option<(f64, bool)>,
}

impl Revocation {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "## Revocation through Envoy (default `sync_interval_ms` {})\n\n\
             From the admin API's answer to the DELETE to the first denied request, on one \
             keep-alive connection sending requests back to back.\n",
            self.sync_interval_ms
        );
        let _ = writeln!(out, "| deleted | trials | p50 ms | max ms | min ms |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        for (what, ms) in &self.kinds {
            let s = Spread::of(ms);
            let _ = writeln!(
                out,
                "| {what} | {} | {:.0} | {:.0} | {:.0} |",
                ms.len(),
                s.median,
                s.max,
                s.min
            );
        }
        if let Some((ms, paging)) = self.during_first_sync {
            let when = if paging {
                "the snapshot was still paging in when it was refused"
            } else {
                "the paging had ended before the key first passed: not a paging measurement"
            };
            let _ = writeln!(
                out,
                "\nA key deleted during the first sync (its snapshot in pages), before the \
                 trials: refused after **{ms:.0} ms** ({when})."
            );
        }
        out
    }

    pub fn to_json(&self) -> Value {
        json!({
            "sync_interval_ms": self.sync_interval_ms,
            "kinds": self.kinds.iter().map(|(what, ms)| json!({"deleted": what, "ms": ms}))
                .collect::<Vec<_>>(),
            "during_first_sync": self.during_first_sync
                .map(|(ms, paging)| json!({"ms": ms, "while_paging": paging})),
        })
    }
}

/// A fraction in [0, 1) that differs per call, for the pre-DELETE sleep (not cryptographic).
fn jitter(i: usize) -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let mixed = (u64::from(nanos) ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (mixed >> 11) as f64 / (1u64 << 53) as f64
}

pub fn run(env: &Env, trials: usize) -> Result<Revocation> {
    let admin = env.shim.admin_client()?;
    let pki = env.pki;
    let mut mint = ClientMint::new()?;
    let key_client = mint.mint("bench-revocation-key")?;
    let key_cert_id = admin.add_cert(&key_client.cert_pem, "")?;
    let cert_id = admin.add_cert(&pki.client2.cert_pem, "bench")?;
    let ca_id = admin.add_cert(&pki.ca.cert_pem, "bench")?;
    let gate = json!({
        "store": store_block(env.shim),
        "apis": [
            {"api_id": "rev-key", "name": "rev-key", "proxy": {"listen_path": "/key/"},
             "auth_configs": {"authToken": {"use_certificate": true}}},
            {"api_id": "rev-cert", "name": "rev-cert", "proxy": {"listen_path": "/cert/"},
             "use_mutual_tls_auth": true, "client_certificates": [cert_id]},
            {"api_id": "rev-ca", "name": "rev-ca", "proxy": {"listen_path": "/ca/"},
             "use_mutual_tls_auth": true, "client_certificates": [ca_id]},
        ],
    })
    .to_string();
    let yaml = (env.config)(&gate).shim_port(env.shim.port()).render()?;
    let mut envoy = Envoy::start_yaml(&yaml, env.concurrency)?;
    if let Some(cpu) = env.pin_cpu {
        super::pin(envoy.process().pid(), cpu)?;
    }
    let port = envoy.tls_port();
    let ca = &pki.ca.cert_path;
    let mut key_probe = Probe::new(port, ca, &key_client.cert_path, &key_client.key_path)?;
    let session = json!({
        "certificate": key_cert_id,
        "access_rights": {"rev-key": {"api_id": "rev-key", "api_name": "rev-key", "versions": []}},
    });
    // A key deleted while the first sync's snapshot pages in: the key passes through a
    // lookup, and its deletion reaches the served sessions with the changes asked between
    // pages. Before those (session 8's run of 2026-12-02 13:25), such a deletion waited for
    // the last page: 3,381 ms.
    let synced = mtls_gate_core::metrics::envoy_stat(mtls_gate_core::metrics::SYNC_SUCCESS);
    let during_first_sync = {
        let key = admin.create_key(&session)?;
        key_probe.wait_for("/key/", 200, FIRST_ALLOW_TIMEOUT)?;
        let paging_before = envoy.stat(&synced)?.unwrap_or(0) == 0;
        admin.delete_key(&key)?;
        let t0 = Instant::now();
        let (t1, _) = key_probe
            .until_not("/key/", 200, TRIAL_TIMEOUT)
            .context("key deletion during the first sync")?;
        let paging_after = envoy.stat(&synced)?.unwrap_or(0) == 0;
        eprintln!(
            "bench: revocation during the first sync: {:.0} ms (paging when the key passed: \
             {paging_before}; when it was refused: {paging_after})",
            ms(t1 - t0),
        );
        Some((ms(t1 - t0), paging_before && paging_after))
    };
    // The trials measure the steady state, after the first sync.
    let started = Instant::now();
    while envoy.stat(&synced)?.unwrap_or(0) == 0 {
        if started.elapsed() > FIRST_ALLOW_TIMEOUT {
            anyhow::bail!("revocation: no first sync within {FIRST_ALLOW_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut cert_probe = Probe::new(port, ca, &pki.client2.cert_path, &pki.client2.key_path)?;
    let mut ca_probe = Probe::new(port, ca, &pki.client.cert_path, &pki.client.key_path)?;
    let interval = Duration::from_millis(DEFAULT_SYNC_INTERVAL_MS);
    let (mut keys, mut certs, mut cas) = (Vec::new(), Vec::new(), Vec::new());
    eprintln!("bench: revocation, {trials} trials per kind");
    for i in 0..trials {
        let first = i == 0;
        let allow_timeout = if first {
            FIRST_ALLOW_TIMEOUT
        } else {
            TRIAL_TIMEOUT
        };
        // Key deletion.
        let key = admin.create_key(&session)?;
        key_probe.wait_for("/key/", 200, allow_timeout)?;
        std::thread::sleep(interval.mul_f64(jitter(i)));
        admin.delete_key(&key)?;
        let t0 = Instant::now();
        let (t1, _) = key_probe
            .until_not("/key/", 200, TRIAL_TIMEOUT)
            .context("key deletion")?;
        keys.push(ms(t1 - t0));

        // Certificate deletion (a static list names it by store ID).
        if !first {
            admin.add_cert(&pki.client2.cert_pem, "bench")?;
        }
        cert_probe.wait_for("/cert/", 200, allow_timeout)?;
        std::thread::sleep(interval.mul_f64(jitter(i + 1)));
        admin.delete_cert(&cert_id)?;
        let t0 = Instant::now();
        let (t1, _) = cert_probe
            .until_not("/cert/", 200, TRIAL_TIMEOUT)
            .context("certificate deletion")?;
        certs.push(ms(t1 - t0));

        // CA deletion (a static list names the CA by store ID; the client chains to it).
        if !first {
            admin.add_cert(&pki.ca.cert_pem, "bench")?;
        }
        ca_probe.wait_for("/ca/", 200, allow_timeout)?;
        std::thread::sleep(interval.mul_f64(jitter(i + 2)));
        admin.delete_cert(&ca_id)?;
        let t0 = Instant::now();
        let (t1, _) = ca_probe
            .until_not("/ca/", 200, TRIAL_TIMEOUT)
            .context("CA deletion")?;
        cas.push(ms(t1 - t0));
        eprintln!(
            "bench: revocation trial {}: key {:.0} ms, certificate {:.0} ms, CA {:.0} ms",
            i + 1,
            keys[i],
            certs[i],
            cas[i]
        );
    }
    drop(envoy);
    Ok(Revocation {
        kinds: vec![
            (
                "key (`DELETE /tyk/keys/<key>`, certificate auth)".into(),
                keys,
            ),
            (
                "certificate (`DELETE /tyk/certs/<id>`, static list by store ID)".into(),
                certs,
            ),
            (
                "CA (`DELETE /tyk/certs/<ca id>`, static list by store ID)".into(),
                cas,
            ),
        ],
        sync_interval_ms: DEFAULT_SYNC_INTERVAL_MS,
        during_first_sync,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
