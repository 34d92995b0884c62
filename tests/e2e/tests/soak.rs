//! Issue 13, point 2: a churn soak through real Envoy 1.40 (`--concurrency 2`), the real
//! filter and the real shim. Steady mTLS load from keep-alive connections, one per client
//! certificate, while the admin API changes what is allowed every [`CHURN_EVERY`]:
//! - **static allow list by store ID** (`/static/`): the gate lists pairs of IDs; a rotation
//!   uploads the absent certificate of a pair (which admits it) and deletes the present one
//!   (which revokes it);
//! - **certificate auth** (`/dyn/`): keys created, deactivated, reactivated and deleted,
//!   certificates deleted and uploaded again, and rotations to a freshly minted certificate
//!   (new certificate and key, then the old key and certificate deleted);
//! - **CA entries** (`/ca/`): CAs named by store ID, deleted (which revokes every leaf they
//!   signed) and uploaded again.
//!
//! Every certificate has a [`timeline::Timeline`]: the state it should be in, when the admin
//! call that changed it started and when the admin API acknowledged it. Each answer is
//! judged against the change that was in force when it was answered:
//! - **wrongly allowed**: a 200 for a request *sent* more than [`REVOCATION_BOUND`] after the
//!   revocation was acknowledged. Must be 0.
//! - **wrongly refused** (liveness): a refusal for a request sent more than
//!   [`LIVENESS_BOUND`] after an admission was acknowledged. Must be 0.
//! - **unexpected 5xx** (any: a 503 `Certificate store unavailable` too), other unexpected
//!   answers (a status or body outside the API's documented refusals, a 200 that is not the
//!   upstream's echo) and transport errors. Must be 0.
//!
//! Measured as well: the worst delay from a revocation's acknowledgement to the last answer
//! that still passed, and the RSS (`/proc/<pid>/status` VmRSS) of Envoy and the shim,
//! sampled throughout, which must stay within [`memory::rss_tolerance_kib`] of its value
//! after the warm-up.
//!
//! `make test` runs the short form ([`DEFAULT_SECONDS`]); `make soak` the long one
//! (`SOAK_SECONDS`, default 600, passed as [`SECONDS_ENV`]). Both print the figures; they are
//! also written to `target/soak/report.md`. [`SEED_ENV`] replays a run's choice of actions.

mod churn;
mod load;
mod memory;
mod report;
mod timeline;

use anyhow::{Context, Result};
use churn::Churn;
use load::{Tally, Target, roots, run_clients};
use memory::{CpuTimes, Flatness, sample_every, sample_memory, warmup};
use mtls_gate_core::metrics;
use mtls_gate_core::negative_cache::NegativeCache;
use mtls_gate_e2e::*;
use mtls_gate_testkit::*;
use report::{Figures, report};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use timeline::{Revocations, lock};
use tokio::sync::mpsc;

const ORG: &str = "acme";
/// The gate's `store.sync_interval_ms`: the default, what a deployment runs.
const SYNC_INTERVAL: Duration = Duration::from_millis(500);
/// README "Revocation": a deletion reaches every worker within one sync interval plus one
/// feed round trip. The margin covers that round trip, the write to shared data and the
/// timer lag of a 2-core machine that also runs the load, the shim and (in `make test`)
/// another e2e test.
const REVOCATION_MARGIN: Duration = Duration::from_millis(500);
const REVOCATION_BOUND: Duration = SYNC_INTERVAL.saturating_add(REVOCATION_MARGIN);
/// An admission can wait for a "no session" answer the worker cached just before the key
/// existed (1 s, SPEC §4) on top of the revocation bound; a liveness figure, so generous.
const LIVENESS_BOUND: Duration =
    REVOCATION_BOUND.saturating_add(Duration::from_millis(NegativeCache::TTL_MS.unsigned_abs()));
/// The rate of changes.
const CHURN_EVERY: Duration = Duration::from_millis(100);
/// Each connection sends one request this often (keep-alive, one at a time): 25 req/s per
/// certificate, about 550 req/s in all, a fraction of what the 2 cores serve (`make bench`),
/// so the load is steady and the machine keeps time.
const REQUEST_EVERY: Duration = Duration::from_millis(40);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const STATIC_PAIRS: usize = 4;
const SESSION_SLOTS: usize = 4;
const CAS: usize = 3;
const LEAVES_PER_CA: usize = 2;

const SECONDS_ENV: &str = "MTLS_GATE_SOAK_SECONDS";
const SEED_ENV: &str = "MTLS_GATE_SOAK_SEED";
/// The short form, in `make test`.
const DEFAULT_SECONDS: u64 = 40;
const MAX_SECONDS: u64 = 24 * 3600;
/// How many failures of each kind the assertion message spells out.
const EXAMPLES: usize = 12;

/// `/proc/<pid>/stat` counts CPU time in USER_HZ, which Linux fixes at 100 for user space.
const USER_HZ: f64 = 100.0;

#[test]
fn churn_soak_never_allows_a_revoked_certificate_past_the_sync_bound() -> Result<()> {
    let run_for = soak_duration()?;
    let seed = soak_seed()?;
    let pki = TestPki::generate()?;
    let mut shim = Shim::start()?;
    let (probe_tx, probe_rx) = mpsc::unbounded_channel();
    let mut churn = Churn::populate(
        shim.admin_client()?,
        Arc::new(roots(&pki.ca)?),
        probe_tx,
        seed,
    )?;

    let store: Value =
        serde_json::from_str(&shim.store_json(u64::try_from(SYNC_INTERVAL.as_millis())?, 300))?;
    let gate = json!({
        "org_id": ORG,
        "store": store,
        "apis": [
            {"api_id": "static", "proxy": {"listen_path": "/static/"},
             "use_mutual_tls_auth": true, "client_certificates": churn.static_ids()},
            {"api_id": "dyn", "proxy": {"listen_path": "/dyn/"},
             "auth_configs": {"authToken": {"use_certificate": true}}},
            {"api_id": "ca", "proxy": {"listen_path": "/ca/"},
             "use_mutual_tls_auth": true, "client_certificates": churn.ca_ids()}
        ]
    })
    .to_string();
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
    let mut envoy = Envoy::start(
        EnvoyConfig::new(&gate, &pki)
            .default_upstream(&echo, &pki)
            .shim_port(shim.port()),
    )?;
    wait::until("the filter's first sync", Duration::from_secs(20), || {
        Ok(envoy
            .stat(&metrics::envoy_stat(metrics::SYNC_SUCCESS))?
            .filter(|n| *n > 0)
            .map(|_| ()))
    })?;
    let envoy_pid = envoy.process().pid();
    let shim_pid = shim.pid().context("the shim is not running")?;
    let target = Target {
        addr: SocketAddr::from(([127, 0, 0, 1], envoy.tls_port())),
        authority: format!("localhost:{}", envoy.tls_port()),
    };
    println!(
        "soak: {} s, seed {seed} ({SEED_ENV}), {} certificates under load, a change every {} ms",
        run_for.as_secs(),
        churn.probes.len(),
        CHURN_EVERY.as_millis()
    );

    let started = Instant::now();
    let deadline = started + run_for;
    let cpu_before = CpuTimes::read(envoy_pid, shim_pid)?;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let clients = {
        let probes = std::mem::take(&mut churn.probes);
        let tally = Arc::clone(&tally);
        let target = target.clone();
        std::thread::spawn(move || run_clients(probes, probe_rx, target, deadline, tally))
    };
    let memory = std::thread::spawn(move || {
        sample_memory(
            envoy_pid,
            shim_pid,
            started,
            deadline,
            sample_every(run_for),
        )
    });
    // A short settle so the first changes meet connections that are already open.
    std::thread::sleep(Duration::from_millis(500));
    let churned = churn.run(deadline);
    let clients = clients
        .join()
        .map_err(|_| anyhow::anyhow!("the client thread panicked"))?;
    let memory = memory
        .join()
        .map_err(|_| anyhow::anyhow!("the memory sampler panicked"))??;
    let elapsed = started.elapsed();
    let cpu = CpuTimes::read(envoy_pid, shim_pid)?.since(&cpu_before, elapsed);
    let filter_stats = envoy.filter_stats()?;
    envoy.process().ensure_running()?;
    assert!(shim.is_running(), "the shim exited:\n{}", shim.log());

    let tally = lock(&tally).clone();
    let revocations = Revocations::of(&lock(&churn.timelines));
    let warmup = warmup(run_for);
    let envoy_rss = Flatness::of(&memory, warmup, |s| s.envoy_kib);
    let shim_rss = Flatness::of(&memory, warmup, |s| s.shim_kib);
    let report = report(&Figures {
        run_for,
        elapsed,
        seed,
        tally: &tally,
        revocations: &revocations,
        changes: &churn.counts,
        envoy_rss: envoy_rss.as_ref(),
        shim_rss: shim_rss.as_ref(),
        memory: &memory,
        cpu: &cpu,
        filter_stats: &filter_stats,
    });
    println!("{report}");
    let report_dir = paths::target_dir().join("soak");
    std::fs::create_dir_all(&report_dir)?;
    std::fs::write(report_dir.join("report.md"), &report)?;

    churned.context("the churn's admin calls")?;
    clients.context("the load")?;
    let examples = tally.examples.join("\n  ");
    assert_eq!(
        tally.wrongly_allowed, 0,
        "revoked certificates passed past the bound:\n  {examples}"
    );
    assert_eq!(tally.server_errors, 0, "5xx answers:\n  {examples}");
    assert_eq!(tally.unexpected, 0, "unexpected answers:\n  {examples}");
    assert_eq!(tally.transport_errors, 0, "transport errors:\n  {examples}");
    assert_eq!(
        tally.wrongly_refused, 0,
        "admitted certificates refused past the bound:\n  {examples}"
    );
    // The soak measured something: load flowed both ways and revocations were watched.
    assert!(
        tally.passed > 0 && tally.refused > 0,
        "passed {} refused {}",
        tally.passed,
        tally.refused
    );
    assert!(
        revocations.observed.len() * 4 >= revocations.total,
        "only {} of {} revocations had a refusal observed after their acknowledgement",
        revocations.observed.len(),
        revocations.total
    );
    for (name, rss) in [("Envoy", &envoy_rss), ("shim", &shim_rss)] {
        let rss = rss
            .as_ref()
            .with_context(|| format!("no {name} RSS samples after the warm-up"))?;
        assert!(
            rss.is_flat(),
            "{name} RSS grew from {} KiB to {} KiB after the warm-up (tolerance {} KiB)",
            rss.baseline_kib,
            rss.max_kib,
            rss.tolerance_kib
        );
    }
    Ok(())
}

fn soak_duration() -> Result<Duration> {
    let seconds = match std::env::var(SECONDS_ENV) {
        Ok(value) => value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|s| (10..=MAX_SECONDS).contains(s))
            .with_context(|| {
                format!("{SECONDS_ENV}={value:?}: expected whole seconds, 10 to {MAX_SECONDS}")
            })?,
        Err(_) => DEFAULT_SECONDS,
    };
    Ok(Duration::from_secs(seconds))
}

fn soak_seed() -> Result<u64> {
    match std::env::var(SEED_ENV) {
        Ok(value) => value
            .trim()
            .parse()
            .with_context(|| format!("{SEED_ENV}={value:?}: expected an unsigned integer")),
        Err(_) => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos() as u64),
    }
}
