//! loadgen: a small keep-alive HTTPS load generator that presents a client certificate.
//!
//! Why not `oha`? oha 1.16 (`cargo info oha`) does have `--cert`/`--key` and builds on Rust
//! 1.95, but installing it compiles a few hundred extra crates (TUI, DNS resolver, ...) on a
//! 2-core machine, while this tool reuses the hyper/rustls/tokio already in the workspace and
//! gives us exactly what the bench needs: a warm-up phase that is not recorded, an HDR
//! histogram of per-request latency, hard bounds on time and count, loopback only, and one
//! line of JSON on stdout.
//!
//! Each of `--connections` tasks opens one TLS connection (client certificate, SNI) and sends
//! GET requests back to back on it (HTTP/1.1 keep-alive); a failed connection is counted and
//! reopened. Only requests that *start* after the warm-up are recorded.
//!
//! Usage:
//! `loadgen --addr 127.0.0.1:PORT --ca CA.pem --cert C.pem --key K.pem [--sni localhost]
//!  [--path /] [--connections 16] [--threads 1] [--warmup 2] [--duration 10]
//!  [--max-requests 5000000] [--expect-status 200]`
//!
//! Output (stdout, one line): `{"requests", "errors", "unexpected_status", "elapsed_s", "rps",
//! "latency_us": {"p50", "p90", "p99", "max", "mean"}, "server_cpu_ns", ...}`.
//!
//! `--cpu-pid PID` (the bench passes Envoy's) samples that process's CPU time
//! (`bench/schedstat.rs`) when the warm-up ends and when the run ends, so `server_cpu_ns` covers
//! the same window as `requests` (null without the flag).

#[path = "bench/schedstat.rs"]
mod schedstat;

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Per-request timeout: a stuck request ends the connection instead of the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Histogram range: 1 µs .. 60 s, 3 significant digits.
const HIST_MAX_US: u64 = 60_000_000;

#[derive(Clone)]
struct Args {
    addr: SocketAddr,
    sni: String,
    path: String,
    ca: String,
    cert: String,
    key: String,
    connections: usize,
    threads: usize,
    warmup: Duration,
    duration: Duration,
    max_requests: u64,
    expect_status: u16,
    cpu_pid: Option<u32>,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        addr: "127.0.0.1:0".parse()?,
        sni: "localhost".into(),
        path: "/".into(),
        ca: String::new(),
        cert: String::new(),
        key: String::new(),
        connections: 16,
        threads: 1,
        warmup: Duration::from_secs(2),
        duration: Duration::from_secs(10),
        max_requests: 5_000_000,
        expect_status: 200,
        cpu_pid: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => a.addr = value()?.parse()?,
            "--sni" => a.sni = value()?,
            "--path" => a.path = value()?,
            "--ca" => a.ca = value()?,
            "--cert" => a.cert = value()?,
            "--key" => a.key = value()?,
            "--connections" => a.connections = value()?.parse()?,
            "--threads" => a.threads = value()?.parse()?,
            "--warmup" => a.warmup = Duration::from_secs_f64(value()?.parse()?),
            "--duration" => a.duration = Duration::from_secs_f64(value()?.parse()?),
            "--max-requests" => a.max_requests = value()?.parse()?,
            "--expect-status" => a.expect_status = value()?.parse()?,
            "--cpu-pid" => a.cpu_pid = Some(value()?.parse()?),
            other => bail!("unknown argument {other}"),
        }
    }
    if !a.addr.ip().is_loopback() || a.addr.port() == 0 {
        bail!(
            "--addr must be a loopback address with a port, got {}",
            a.addr
        );
    }
    if a.ca.is_empty() || a.cert.is_empty() || a.key.is_empty() {
        bail!("--ca, --cert and --key are required");
    }
    if !(1..=1024).contains(&a.connections) || !(1..=64).contains(&a.threads) {
        bail!("--connections must be 1..=1024 and --threads 1..=64");
    }
    if a.duration.is_zero() || a.duration > Duration::from_secs(600) {
        bail!("--duration must be in (0, 600] seconds");
    }
    if a.warmup > Duration::from_secs(120) {
        bail!("--warmup must be at most 120 seconds");
    }
    Ok(a)
}

fn tls_config(a: &Args) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&a.ca).with_context(|| a.ca.clone())? {
        roots.add(cert?)?;
    }
    let chain = CertificateDer::pem_file_iter(&a.cert)
        .with_context(|| a.cert.clone())?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&a.key).with_context(|| a.key.clone())?;
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// What one worker thread measured.
struct Tally {
    hist: Histogram<u64>,
    errors: u64,
    unexpected_status: u64,
    connects: u64,
}

impl Tally {
    fn new() -> Result<Self> {
        Ok(Self {
            hist: Histogram::new_with_bounds(1, HIST_MAX_US, 3)?,
            errors: 0,
            unexpected_status: 0,
            connects: 0,
        })
    }

    fn merge(&mut self, other: &Tally) -> Result<()> {
        self.hist.add(&other.hist)?;
        self.errors += other.errors;
        self.unexpected_status += other.unexpected_status;
        self.connects += other.connects;
        Ok(())
    }
}

struct Shared {
    args: Args,
    tls: Arc<ClientConfig>,
    measure_from: Instant,
    end: Instant,
    /// Requests started (warm-up included), for `--max-requests`.
    started: AtomicU64,
    /// The first error or unexpected status seen, so a misconfigured scenario explains itself.
    first_error: std::sync::Mutex<Option<String>>,
}

async fn connection(shared: Arc<Shared>) -> Tally {
    let mut tally = Tally::new().expect("static histogram bounds are valid");
    let a = &shared.args;
    let host = format!("{}:{}", a.sni, a.addr.port());
    while Instant::now() < shared.end {
        let result = async {
            let tcp = TcpStream::connect(a.addr).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::try_from(a.sni.clone())?;
            let tls = TlsConnector::from(shared.tls.clone())
                .connect(name, tcp)
                .await?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
            tokio::task::spawn_local(async move {
                let _ = conn.await;
            });
            tally.connects += 1;
            loop {
                let now = Instant::now();
                if now >= shared.end
                    || shared.started.fetch_add(1, Ordering::Relaxed) >= a.max_requests
                {
                    return Ok::<_, anyhow::Error>(());
                }
                sender.ready().await?;
                let req = Request::get(&a.path)
                    .header(hyper::header::HOST, &host)
                    .body(Empty::<Bytes>::new())?;
                let start = Instant::now();
                let resp = tokio::time::timeout(REQUEST_TIMEOUT, async {
                    let resp = sender.send_request(req).await?;
                    let status = resp.status().as_u16();
                    resp.into_body().collect().await?;
                    Ok::<_, anyhow::Error>(status)
                })
                .await
                .context("request timed out")??;
                if start >= shared.measure_from && start < shared.end {
                    let us = u64::try_from(start.elapsed().as_micros()).unwrap_or(HIST_MAX_US);
                    tally.hist.saturating_record(us.max(1));
                    if resp != a.expect_status {
                        tally.unexpected_status += 1;
                    }
                }
                if resp != a.expect_status {
                    let mut first = shared.first_error.lock().expect("not poisoned");
                    first.get_or_insert_with(|| format!("status {resp}"));
                }
            }
        }
        .await;
        match result {
            Ok(()) => break,
            Err(e) => {
                tally.errors += 1;
                shared
                    .first_error
                    .lock()
                    .expect("not poisoned")
                    .get_or_insert_with(|| format!("{e:#}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    tally
}

fn run_thread(shared: Arc<Shared>, connections: usize) -> Result<Tally> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::task::spawn_local(connection(shared.clone())))
            .collect();
        let mut total = Tally::new()?;
        for t in tasks {
            total.merge(&t.await?)?;
        }
        Ok(total)
    })
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let tls = tls_config(&args)?;
    let start = Instant::now();
    let shared = Arc::new(Shared {
        measure_from: start + args.warmup,
        end: start + args.warmup + args.duration,
        tls,
        started: AtomicU64::new(0),
        first_error: std::sync::Mutex::new(None),
        args: args.clone(),
    });
    // The server's CPU over the measured window: sampled when the warm-up ends and at the end.
    let cpu = args.cpu_pid.map(|pid| {
        let (from, end) = (shared.measure_from, shared.end);
        std::thread::spawn(move || {
            std::thread::sleep(from.saturating_duration_since(Instant::now()));
            let before = schedstat::process_cpu_ns(pid)?;
            std::thread::sleep(end.saturating_duration_since(Instant::now()));
            let after = schedstat::process_cpu_ns(pid)?;
            Some(after.saturating_sub(before))
        })
    });
    // Spread connections over threads as evenly as possible.
    let handles: Vec<_> = (0..args.threads)
        .map(|i| {
            let n =
                args.connections / args.threads + usize::from(i < args.connections % args.threads);
            let shared = shared.clone();
            std::thread::spawn(move || run_thread(shared, n))
        })
        .collect();
    let mut total = Tally::new()?;
    for h in handles {
        let tally = h.join().map_err(|_| anyhow::anyhow!("worker panicked"))??;
        total.merge(&tally)?;
    }
    // The measured window: from the end of the warm-up to the end (or earlier, if the
    // request bound stopped the run).
    let elapsed = shared
        .end
        .min(Instant::now())
        .saturating_duration_since(shared.measure_from)
        .as_secs_f64();
    let server_cpu_ns = match cpu {
        Some(sampler) => sampler
            .join()
            .map_err(|_| anyhow::anyhow!("CPU sampler panicked"))?,
        None => None,
    };
    let h = &total.hist;
    let requests = h.len();
    let out = serde_json::json!({
        "addr": args.addr.to_string(),
        "connections": args.connections,
        "threads": args.threads,
        "warmup_s": args.warmup.as_secs_f64(),
        "elapsed_s": elapsed,
        "requests": requests,
        "errors": total.errors,
        "unexpected_status": total.unexpected_status,
        "connects": total.connects,
        "first_error": *shared.first_error.lock().expect("not poisoned"),
        "rps": if elapsed > 0.0 { requests as f64 / elapsed } else { 0.0 },
        "server_cpu_ns": server_cpu_ns,
        "latency_us": {
            "p50": h.value_at_quantile(0.50),
            "p90": h.value_at_quantile(0.90),
            "p99": h.value_at_quantile(0.99),
            "max": h.max(),
            "mean": h.mean(),
        },
    });
    println!("{out}");
    Ok(())
}
