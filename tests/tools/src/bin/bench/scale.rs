//! `bench --scale` (`make bench-scale`): the shim at `--sessions` certificates and sessions
//! (100,000 by default), for the SQLite store (a file under the system temp dir, on disk, with
//! the shim's `synchronous=FULL`) and for Redis (a `redis-server` the bench starts on
//! loopback): certificates added per second through the admin API into the full store,
//! listing them, and a full snapshot of the change feed (what a filter's first sync fetches),
//! with its size. Over SQLite it also starts Envoy with certificate auth on that store: the
//! first sync's time, and the time from creating a key to its certificate's first request
//! passing.
//!
//! The store is first filled in-process through the shim's own store rules (`populate.rs`);
//! that rate is reported too, but it is not the admin API's.

use super::probe::Probe;
use super::report::Spread;
use super::{Args, populate, store_block};
use anyhow::{Context, Result, bail};
use mtls_gate_e2e::{EchoUpstream, Envoy, EnvoyConfig, ShimAdmin};
use mtls_gate_testkit::redis::RedisServer;
use mtls_gate_testkit::{ClientMint, Shim, TestPki, paths};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::fmt::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Certificates added through the admin API per backend, by this many concurrent clients.
const ADMIN_ADDS: usize = 2_000;
const ADMIN_CLIENTS: usize = 4;

struct BackendFigures {
    backend: String,
    filled: usize,
    fill_s: f64,
    admin_adds_per_s: f64,
    list_s: f64,
    list_count: usize,
    list_bytes: usize,
    snapshot_s: f64,
    snapshot_bytes: usize,
    /// Seconds, or why there is no figure.
    first_sync_s: Result<f64, String>,
    new_key_first_pass_ms: Option<Vec<f64>>,
}

pub fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let n = args.sessions;
    let adds = ADMIN_ADDS.min(n.max(10));
    let mut figures = Vec::new();

    let dir = tempfile::Builder::new()
        .prefix("mtls-gate-bench-scale-")
        .tempdir()?;
    figures.push(backend(
        args,
        "SQLite (file on disk)",
        dir.path().join("store.db"),
        adds,
        true,
    )?);
    let redis = RedisServer::start();
    figures.push(backend(
        args,
        "Redis (loopback)",
        PathBuf::from(redis.url()),
        adds,
        false,
    )?);
    drop(redis);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# mtls-gate scale figures{}\n\n{}. {} certificates, each with a session, per store; \
         then {adds} more certificates through the admin API by {ADMIN_CLIENTS} concurrent \
         clients. Total {:.0} s.\n",
        if args.smoke { " (smoke)" } else { "" },
        std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default(),
        n,
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| store | filled in-process (cert + session /s) | admin API adds /s | list all IDs s (count, MiB) | full feed snapshot s (MiB) | Envoy first sync s | new key → first pass ms (p50, max) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for f in &figures {
        let first_pass = f.new_key_first_pass_ms.as_ref().map_or("—".into(), |ms| {
            let s = Spread::of(ms);
            format!("{:.0}, {:.0}", s.median, s.max)
        });
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.2} ({}, {:.1}) | {:.2} ({:.1}) | {} | {} |",
            f.backend,
            f.filled as f64 / f.fill_s,
            f.admin_adds_per_s,
            f.list_s,
            f.list_count,
            f.list_bytes as f64 / 1_048_576.0,
            f.snapshot_s,
            f.snapshot_bytes as f64 / 1_048_576.0,
            match &f.first_sync_s {
                Ok(s) => format!("{s:.2}"),
                Err(why) if why == "—" => why.clone(),
                Err(_) => "failed (below)".to_owned(),
            },
            first_pass,
        );
    }
    for f in &figures {
        if let Err(why) = &f.first_sync_s
            && why != "—"
        {
            let _ = writeln!(
                out,
                "\n**{}: the filter's first sync failed**: {why}",
                f.backend
            );
        }
    }
    let _ = writeln!(
        out,
        "\n- Admin API adds: `POST /tyk/certs` into the full store, each a transaction of its \
         own (SQLite `synchronous=FULL`: one fsync per certificate).\n\
         - Full feed snapshot: `GET /mtls-gate/v1/changes?since=0` with the feed token, the \
         answer a filter's first sync fetches (every certificate's index entry and every \
         session grant).\n\
         - Envoy first sync: from Envoy ready (certificate auth, `--concurrency {}`) to the \
         filter's first `sync.success`. New key → first pass: a new certificate and key created \
         through the admin API, then requests until one passes (the filter looks a missed \
         certificate up at once, so this does not wait for a sync).",
        args.concurrency
    );
    let json = json!(figures.iter().map(|f| json!({
        "backend": f.backend, "filled": f.filled, "fill_s": f.fill_s,
        "admin_adds_per_s": f.admin_adds_per_s, "list_s": f.list_s, "list_count": f.list_count,
        "list_bytes": f.list_bytes, "snapshot_s": f.snapshot_s,
        "snapshot_bytes": f.snapshot_bytes,
        "first_sync_s": f.first_sync_s.as_ref().ok(),
        "first_sync_error": f.first_sync_s.as_ref().err(),
        "new_key_first_pass_ms": f.new_key_first_pass_ms,
    })).collect::<Vec<_>>());
    std::fs::create_dir_all(&args.out_dir)?;
    std::fs::write(args.out_dir.join("scale.md"), &out)?;
    std::fs::write(
        args.out_dir.join("scale.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    if let Some(path) = &args.report {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &out)?;
        eprintln!("bench: wrote {}", path.display());
    }
    println!("{out}");
    Ok(())
}

fn backend(
    args: &Args,
    label: &str,
    store: PathBuf,
    adds: usize,
    envoy: bool,
) -> Result<BackendFigures> {
    let n = args.sessions;
    let encoding = hex::encode(Sha256::digest(format!("bench-scale-{:?}", Instant::now())));
    eprintln!("bench: {label}: filling {n} certificates + sessions");
    let filled = {
        let store = populate::open_store(&store, &encoding)?;
        populate::fill(&store, n, "", Some("bench"))?
    };
    eprintln!(
        "bench: {label}: filled in {:.1} s",
        filled.took.as_secs_f64()
    );
    let shim = Shim::builder(paths::shim_bin()?)
        .store(&store)
        .encoding_secret(&encoding)
        .start()?;

    // Admin API adds into the full store, by concurrent clients (each its own connection).
    let mut mint = populate::Mint::new("bench-admin-add")?;
    let pems: Vec<String> = (0..adds).map(|_| mint.next_pem()).collect::<Result<_>>()?;
    let t = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = pems
            .chunks(adds.div_ceil(ADMIN_CLIENTS))
            .map(|chunk| {
                let shim = &shim;
                scope.spawn(move || -> Result<()> {
                    let admin = shim.admin_client()?;
                    for pem in chunk {
                        admin.add_cert(pem, "")?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("admin client panicked"))??;
        }
        Ok(())
    })?;
    let admin_adds_per_s = adds as f64 / t.elapsed().as_secs_f64();
    eprintln!("bench: {label}: {admin_adds_per_s:.0} admin adds/s");

    let t = Instant::now();
    let list = shim.admin("GET", "/tyk/certs", None)?;
    let list_s = t.elapsed().as_secs_f64();
    if list.status != 200 {
        bail!("GET /tyk/certs: {} {}", list.status, list.body);
    }
    let list_count = list.json()?["certs"].as_array().map_or(0, Vec::len);

    let bearer = format!("Bearer {}", shim.feed_token());
    // The shim runs without `--feed-listen`: the feed shares the admin listener.
    let feed = |path: &str| {
        shim.request("GET", path, &[("Authorization", bearer.as_str())], None)
            .map(|r| (r.status, r.body.len()))
    };
    let t = Instant::now();
    let (status, snapshot_bytes) = feed(&mtls_gate_core::feed::changes_path(0))?;
    let snapshot_s = t.elapsed().as_secs_f64();
    if status != 200 {
        bail!("the feed snapshot answered {status}");
    }

    // A first sync that never completes is a finding, not a reason to drop the other figures.
    let (first_sync_s, new_key_first_pass_ms) = if envoy {
        match envoy_side(args, &shim) {
            Ok((s, ms)) => (Ok(s), Some(ms)),
            Err(e) => {
                eprintln!("bench: {label}: Envoy side failed: {e:#}");
                (Err(format!("{e:#}")), None)
            }
        }
    } else {
        (Err("—".to_owned()), None)
    };
    Ok(BackendFigures {
        backend: label.to_owned(),
        filled: filled.certificates,
        fill_s: filled.took.as_secs_f64(),
        admin_adds_per_s,
        list_s,
        list_count,
        list_bytes: list.body.len(),
        snapshot_s,
        snapshot_bytes,
        first_sync_s,
        new_key_first_pass_ms,
    })
}

/// Envoy with certificate auth over `shim`'s full store: first sync, then new keys' first pass.
fn envoy_side(args: &Args, shim: &Shim) -> Result<(f64, Vec<f64>)> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_plain("bench-scale-echo")?;
    let gate = json!({
        "store": store_block(shim),
        "apis": [{"api_id": "bench", "name": "bench", "proxy": {"listen_path": "/"},
                  "auth_configs": {"authToken": {"use_certificate": true}}}],
    })
    .to_string();
    let yaml = EnvoyConfig::new(&gate, &pki)
        .default_upstream(&echo, &pki)
        .shim_port(shim.port())
        .render()?;
    let envoy = Envoy::start_yaml(&yaml, args.concurrency)?;
    let stat = mtls_gate_core::metrics::envoy_stat(mtls_gate_core::metrics::SYNC_SUCCESS);
    let t = Instant::now();
    while envoy.stat(&stat)?.unwrap_or(0) == 0 {
        if t.elapsed() > Duration::from_secs(120) {
            let log = envoy.log();
            let last = log.lines().last().unwrap_or_default().to_owned();
            bail!("no successful sync within 120 s (Envoy's last log line: {last})");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let first_sync_s = t.elapsed().as_secs_f64();
    let admin = shim.admin_client()?;
    let mut mint = ClientMint::new()?;
    let mut first_pass = Vec::new();
    for i in 0..if args.smoke { 1 } else { 10 } {
        let client = mint.mint("bench-scale-new")?;
        let id = admin.add_cert(&client.cert_pem, "")?;
        let mut probe = Probe::new(
            envoy.tls_port(),
            &pki.ca.cert_path,
            &client.cert_path,
            &client.key_path,
        )?;
        admin
            .create_key(&json!({"certificate": id, "access_rights":
                {"bench": {"api_id": "bench", "api_name": "bench", "versions": []}}}))
            .with_context(|| format!("key {i}"))?;
        let t = Instant::now();
        probe.wait_for("/", 200, Duration::from_secs(30))?;
        first_pass.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((first_sync_s, first_pass))
}
