//! bench: what mtls-gate costs through real Envoy, beside every anchor a user would compare it
//! with, measured in one run (`make bench` → `scripts/bench.sh` → this; issue 14).
//!
//! One echo upstream (plain HTTP, loopback) and one Envoy per configuration, all started up
//! front with identical flags (`--concurrency 1` by default) and kept up; they differ only in
//! their bootstrap's HTTP filter or TLS validation (`bench/envoy_raw.rs`, `bench/anchors.rs`):
//! no filter; TLS-level `verify_certificate_hash`; Envoy's RBAC with a CEL `in` over the
//! client digests (1 and N entries); an empty proxy-wasm filter (`tests/tools/empty-filter`,
//! the floor of any wasm filter); mtls-gate static (1 and N entries, allow and deny paths, and
//! the client's CA listed); certificate auth with N sessions synced from the real shim; the
//! native dynamic module when one is given; and any extra `.wasm` (`--extra-wasm`) on the
//! static allow path, to compare a filter before and after an optimisation.
//!
//! Cost is Envoy's CPU per request: the on-CPU time of all of Envoy's threads
//! (`/proc/<pid>/task/*/schedstat`, `bench/schedstat.rs`) over the load window, divided by the
//! requests served in it. Envoy is pinned to CPU 1 and the load generator to CPU 0
//! (`taskset`), as in the issue's outside run. CPU per request stays steady on a shared
//! machine where requests/s does not. A cost ratio "x vs y" is cpu(y) / cpu(x): the share of
//! y's throughput x keeps at equal CPU (1.00 = as cheap as y).
//!
//! Each round runs every scenario once, in an order rotated per round, so a slow phase of the
//! shared machine does not always hit the same scenario: a loaded run (`--connections`
//! keep-alive TLS connections, warm-up then `--duration` s) and an unloaded run (one
//! connection) whose p50 is the cleanest latency. Ratios are taken per round, then the median
//! and the min–max over rounds are reported.
//!
//! Before measuring, every scenario is checked: the listed client gets 200 and a certificate
//! the scenario does not allow is refused (403, 401 or a failed handshake), so each scenario
//! measures the path it claims to. After the rounds: revocation latency through Envoy
//! (`bench/revocation.rs`). `--scale` runs the shim-side scale figures instead
//! (`bench/scale.rs`).
//!
//! Output: a Markdown report on stdout, in `<out-dir>/report.md` and (`--report`) in
//! `bench/REPORT.md`; raw figures in `<out-dir>/results.json`.

#[path = "bench/anchors.rs"]
mod anchors;
#[path = "bench/envoy_raw.rs"]
mod envoy_raw;
#[path = "bench/instructions.rs"]
mod instructions;
#[path = "bench/populate.rs"]
mod populate;
#[path = "bench/probe.rs"]
mod probe;
#[path = "bench/report.rs"]
mod report;
#[path = "bench/revocation.rs"]
mod revocation;
#[path = "bench/scale.rs"]
mod scale;
// The load generator samples Envoy's CPU; the bench tests the reader.
#[cfg(test)]
#[path = "bench/schedstat.rs"]
mod schedstat;

use anyhow::{Context, Result, bail};
use mtls_gate_e2e::{EchoUpstream, Envoy, EnvoyConfig};
use mtls_gate_testkit::{CertFiles, Shim, TestPki, paths};
use report::{EnvoyFacts, Run, ScenarioResult};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The CPU Envoy is pinned to, and the one the load generator (and this driver) use.
const ENVOY_CPU: usize = 1;
const LOAD_CPU: usize = 0;

pub struct Args {
    pub connections: usize,
    pub threads: usize,
    pub warmup: f64,
    pub duration: f64,
    pub latency_duration: f64,
    pub rounds: usize,
    pub concurrency: usize,
    pub allow_list_size: usize,
    pub sessions: usize,
    pub shim: bool,
    /// Scenarios to measure besides the anchors (all when empty).
    pub only: Vec<String>,
    pub out_dir: PathBuf,
    /// Where the report is also written (the committed `bench/REPORT.md`).
    pub report: Option<PathBuf>,
    pub empty_wasm: PathBuf,
    /// The floor gate (`tests/tools/floor-gate`): only the host calls any certificate gate makes.
    pub floor_wasm: PathBuf,
    pub extra_wasm: Vec<(String, PathBuf)>,
    pub native_module: Option<PathBuf>,
    pub revocation_trials: usize,
    pub pin: bool,
    pub smoke: bool,
    pub scale: bool,
    /// Count Envoy's instructions per request under callgrind instead of timing its CPU
    /// (`bench/instructions.rs`; Envoy must run under `scripts/envoy-callgrind.sh`).
    pub instructions: bool,
    /// Where the pre-filled stores live (tmpfs by default: filling is not what is measured).
    pub fill_dir: PathBuf,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        connections: 16,
        threads: 1,
        warmup: 1.0,
        duration: 4.0,
        latency_duration: 1.5,
        rounds: 5,
        concurrency: 1,
        allow_list_size: 100_000,
        sessions: 100_000,
        shim: true,
        only: Vec::new(),
        out_dir: paths::repo_root().join("target/bench"),
        report: None,
        empty_wasm: paths::target_dir()
            .join("wasm32-wasip1/release/mtls_gate_bench_empty_filter.wasm"),
        floor_wasm: paths::target_dir()
            .join("wasm32-wasip1/release/mtls_gate_bench_floor_gate.wasm"),
        extra_wasm: Vec::new(),
        native_module: None,
        revocation_trials: 20,
        pin: true,
        smoke: false,
        scale: false,
        instructions: false,
        fill_dir: PathBuf::from("/dev/shm"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--connections" => a.connections = value()?.parse()?,
            "--threads" => a.threads = value()?.parse()?,
            "--warmup" => a.warmup = value()?.parse()?,
            "--duration" => a.duration = value()?.parse()?,
            "--latency-duration" => a.latency_duration = value()?.parse()?,
            "--rounds" => a.rounds = value()?.parse()?,
            "--concurrency" => a.concurrency = value()?.parse()?,
            "--allow-list-size" => a.allow_list_size = value()?.parse()?,
            "--sessions" => a.sessions = value()?.parse()?,
            "--no-shim" => a.shim = false,
            "--only" => a.only = value()?.split(',').map(str::to_owned).collect(),
            "--out-dir" => a.out_dir = value()?.into(),
            "--report" => a.report = Some(value()?.into()),
            "--empty-wasm" => a.empty_wasm = value()?.into(),
            "--floor-wasm" => a.floor_wasm = value()?.into(),
            "--extra-wasm" => a.extra_wasm = parse_extra_wasm(&value()?)?,
            "--native-module" => a.native_module = Some(value()?.into()),
            "--revocation-trials" => a.revocation_trials = value()?.parse()?,
            "--fill-dir" => a.fill_dir = value()?.into(),
            "--no-pin" => a.pin = false,
            "--scale" => a.scale = true,
            "--instructions" => a.instructions = true,
            // Every anchor's config, started, checked and measured once, briefly: a broken
            // anchor fails here in seconds. The figures mean nothing.
            "--smoke" => {
                a.smoke = true;
                a.rounds = 1;
                a.warmup = 0.1;
                a.duration = 0.3;
                a.latency_duration = 0.2;
                a.allow_list_size = 1_000;
                a.sessions = 200;
                a.revocation_trials = 1;
            }
            other => bail!(
                "unknown argument {other}; flags: --connections N --threads N --warmup S \
                 --duration S --latency-duration S --rounds N --concurrency N \
                 --allow-list-size N --sessions N --no-shim --only NAME[,NAME...] \
                 --out-dir DIR --report FILE --empty-wasm FILE --floor-wasm FILE --extra-wasm NAME=FILE[,...] \
                 --native-module FILE --revocation-trials N \
                 --fill-dir DIR --no-pin --scale --smoke --instructions"
            ),
        }
    }
    if !(1..=50).contains(&a.rounds) || a.allow_list_size < 2 || a.sessions == 0 {
        bail!("--rounds must be 1..=50, --allow-list-size at least 2, --sessions at least 1");
    }
    if !a.fill_dir.is_dir() {
        a.fill_dir = std::env::temp_dir();
    }
    Ok(a)
}

/// `BENCH_EXTRA_WASM`'s form: `name=path[,name2=path2...]`; names are `[a-z0-9_.-]`.
/// Seconds from now until the filter in `setup.envoys[e]` reports its first successful sync.
fn wait_for_first_sync(setup: &Setup, e: usize, name: &str) -> Result<f64> {
    let t = Instant::now();
    let stat = mtls_gate_core::metrics::envoy_stat(mtls_gate_core::metrics::SYNC_SUCCESS);
    loop {
        if setup.envoys[e].envoy.stat(&stat)?.unwrap_or(0) > 0 {
            return Ok(t.elapsed().as_secs_f64());
        }
        if t.elapsed() > Duration::from_secs(120) {
            let log = setup.envoys[e].envoy.log();
            let tail: String = log.lines().rev().take(8).collect::<Vec<_>>().join("\n");
            bail!("{name}: no successful sync within 120 s; Envoy's log ends:\n{tail}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn parse_extra_wasm(spec: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, path) = item
            .split_once('=')
            .with_context(|| format!("extra wasm {item:?}: expected NAME=PATH"))?;
        let valid = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
        if name.is_empty() || !name.chars().all(valid) {
            bail!("extra wasm name {name:?}: use letters, digits, '_', '.', '-'");
        }
        if out.iter().any(|(n, _)| n == name) {
            bail!("extra wasm name {name:?} given twice");
        }
        out.push((name.to_owned(), PathBuf::from(path)));
    }
    Ok(out)
}

/// Pins every thread of `pid` (and so the threads it starts later) to `cpu`.
fn pin(pid: u32, cpu: usize) -> Result<()> {
    let out = Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .output()
        .context("running taskset (util-linux)")?;
    if !out.status.success() {
        bail!(
            "taskset -a -p -c {cpu} {pid}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// How a scenario refuses a certificate it does not allow (checked before measuring).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// Nothing is enforced (no filter, the empty filter).
    None,
    Status(u16),
    /// The TLS handshake fails (Envoy's `verify_certificate_hash`).
    Handshake,
}

/// One Envoy the scenarios run against.
pub struct StartedEnvoy {
    envoy: Envoy,
    pid: u32,
    facts: EnvoyFacts,
}

pub struct Scenario {
    pub name: String,
    pub what: String,
    envoy: usize,
    /// Which certificate the load presents: the listed client, or one nothing lists.
    rogue: bool,
    expect: u16,
    refusal: Refusal,
}

/// The Envoys and the scenarios that run against them, built up before measuring.
struct Setup {
    envoys: Vec<StartedEnvoy>,
    scenarios: Vec<Scenario>,
    concurrency: usize,
    pin: bool,
}

impl Setup {
    /// Starts an Envoy on `yaml` (timed from spawn to `/ready`), pins it, and returns its index.
    fn start(&mut self, label: &str, yaml: &str, env: &[(String, String)]) -> Result<usize> {
        let t = Instant::now();
        let mut envoy = Envoy::start_yaml_with_env(yaml, self.concurrency, env)
            .with_context(|| format!("starting Envoy for {label}"))?;
        let start_s = t.elapsed().as_secs_f64();
        let pid = envoy.process().pid();
        if self.pin {
            pin(pid, ENVOY_CPU)?;
        }
        let filter_configure_ms = report::filter_configure_ms(&envoy.log());
        eprintln!(
            "bench: Envoy {label} ready in {start_s:.2} s (pid {pid}; filter configure {} ms)",
            filter_configure_ms.map_or("—".into(), |ms| ms.to_string())
        );
        self.envoys.push(StartedEnvoy {
            envoy,
            pid,
            facts: EnvoyFacts {
                label: label.to_owned(),
                start_s,
                rss_kib: None,
                bootstrap_bytes: yaml.len(),
                filter_configure_ms,
            },
        });
        Ok(self.envoys.len() - 1)
    }

    /// A scenario on Envoy `envoy`: the listed client (expects 200) or, `rogue`, a client
    /// nothing lists (expects the refusal's status).
    fn add(&mut self, name: &str, what: String, envoy: usize, rogue: bool, refusal: Refusal) {
        let expect = match (rogue, refusal) {
            (true, Refusal::Status(s)) => s,
            _ => 200,
        };
        self.scenarios.push(Scenario {
            name: name.to_owned(),
            what,
            envoy,
            rogue,
            expect,
            refusal,
        });
    }
}

pub struct Loadgen<'a> {
    bin: PathBuf,
    pki: &'a TestPki,
    threads: usize,
    pin: bool,
}

impl Loadgen<'_> {
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        port: u16,
        cert: &CertFiles,
        connections: usize,
        warmup: f64,
        duration: f64,
        expect: u16,
        cpu_pid: Option<u32>,
        max_requests: Option<u64>,
    ) -> Result<(Run, Value)> {
        let mut cmd = if self.pin {
            let mut c = Command::new("taskset");
            c.args(["-c", &LOAD_CPU.to_string()]).arg(&self.bin);
            c
        } else {
            Command::new(&self.bin)
        };
        cmd.args(["--addr", &format!("127.0.0.1:{port}"), "--sni", "localhost"])
            .arg("--ca")
            .arg(&self.pki.ca.cert_path)
            .arg("--cert")
            .arg(&cert.cert_path)
            .arg("--key")
            .arg(&cert.key_path)
            .args(["--connections", &connections.to_string()])
            .args(["--threads", &self.threads.to_string()])
            .args(["--warmup", &warmup.to_string()])
            .args(["--duration", &duration.to_string()])
            .args(["--expect-status", &expect.to_string()]);
        if let Some(pid) = cpu_pid {
            cmd.args(["--cpu-pid", &pid.to_string()]);
        }
        if let Some(n) = max_requests {
            cmd.args(["--max-requests", &n.to_string()]);
        }
        let out = cmd.output().context("running loadgen")?;
        if !out.status.success() {
            bail!(
                "loadgen failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let v: Value = serde_json::from_slice(&out.stdout)
            .with_context(|| String::from_utf8_lossy(&out.stdout).into_owned())?;
        Ok((Run::from_loadgen(&v), v))
    }

    /// A short single-connection run that must see only `expect`.
    fn check(&self, port: u16, cert: &CertFiles, expect: u16) -> Result<()> {
        let (run, raw) = self.run(port, cert, 1, 0.0, 0.3, expect, None, None)?;
        if run.bad > 0 || run.requests == 0 {
            bail!("expected only {expect} for {}: {raw}", cert.name);
        }
        Ok(())
    }

    /// The handshake fails: no request completes, and the run counts errors.
    fn check_handshake_refused(&self, port: u16, cert: &CertFiles) -> Result<()> {
        let (run, raw) = self.run(port, cert, 1, 0.0, 0.3, 200, None, None)?;
        if run.requests > 0 || run.errors == 0 {
            bail!("expected {}'s handshake to fail: {raw}", cert.name);
        }
        Ok(())
    }
}

fn loadgen_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("MTLS_GATE_LOADGEN") {
        return Ok(p.into());
    }
    let exe = std::env::current_exe()?;
    let p = exe.with_file_name("loadgen");
    if !p.is_file() {
        bail!("{} not found: build the `loadgen` bin too", p.display());
    }
    Ok(p)
}

pub fn random_fingerprints(n: usize) -> Vec<String> {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    (0..n)
        .map(|i| hex::encode(Sha256::digest(format!("bench-{seed}-{i}"))))
        .collect()
}

/// `n` entries: `n - 1` random fingerprints with `fingerprint` in the middle.
fn list_with(fingerprint: &str, n: usize) -> Vec<String> {
    let mut list = random_fingerprints(n.saturating_sub(1));
    list.insert(list.len() / 2, fingerprint.to_owned());
    list
}

pub fn static_api(list: &[String]) -> String {
    json!({"apis": [{
        "api_id": "bench",
        "name": "bench",
        "proxy": {"listen_path": "/"},
        "use_mutual_tls_auth": true,
        "client_certificates": list,
    }]})
    .to_string()
}

/// The feed call timeout the bench's gates use: the first snapshot page waits for the shim to
/// read all 100,000 sessions once, which can take longer than the default `timeout_ms` (2 s)
/// on a busy machine. With the default the filter retries and the shim answers from the copy
/// it kept; the longer timeout keeps that retry out of the measured first-sync time.
pub const FEED_TIMEOUT_MS: u64 = 30_000;

/// The gate's `store` block for `shim`: the default sync interval, [`FEED_TIMEOUT_MS`].
pub fn store_block(shim: &Shim) -> Value {
    json!({
        "cluster": "mtls-gate-shim",
        "authority": "mtls-gate-shim",
        "token": shim.feed_token(),
        "timeout_ms": FEED_TIMEOUT_MS,
    })
}

fn main() -> Result<()> {
    let args = parse_args()?;
    if args.scale {
        return scale::run(&args);
    }
    let started = Instant::now();
    let load_at_start = report::loadavg();
    let pin_ok = args.pin && std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    if args.pin && !pin_ok {
        eprintln!("bench: fewer than 2 CPUs; Envoy and the load are not pinned");
    }
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_plain("bench-echo")?;
    let lg = Loadgen {
        bin: loadgen_bin()?,
        pki: &pki,
        threads: args.threads,
        pin: pin_ok,
    };
    let config = |gate: &str| EnvoyConfig::new(gate, &pki).default_upstream(&echo, &pki);
    // Every bootstrap of the run, without the per-request access log (envoy_raw.rs says why).
    let render =
        |cfg: EnvoyConfig| -> Result<String> { envoy_raw::without_access_log(&cfg.render()?) };
    let fp = pki.client.fingerprint.clone();
    let big = list_with(&fp, args.allow_list_size);
    let n_label = report::count_label(args.allow_list_size);

    let mut setup = Setup {
        envoys: Vec::new(),
        scenarios: Vec::new(),
        concurrency: args.concurrency,
        pin: pin_ok,
    };
    eprintln!(
        "bench: starting Envoys (--concurrency {}, pinned: {pin_ok})",
        args.concurrency
    );
    let empty_gate = r#"{"apis": []}"#;
    let plain = render(config(empty_gate))?;
    let e = setup.start("no-filter", &envoy_raw::without_wasm_filter(&plain)?, &[])?;
    setup.add(
        "no-filter",
        "TLS listener requesting client certs, no HTTP filter but the router".into(),
        e,
        false,
        Refusal::None,
    );
    let hashed = envoy_raw::with_client_cert_hashes(
        &envoy_raw::without_wasm_filter(&plain)?,
        std::slice::from_ref(&fp),
    )?;
    let e = setup.start("tls-hash", &hashed, &[])?;
    setup.add(
        "tls-hash",
        "TLS-level `verify_certificate_hash` (1 entry), no HTTP filter".into(),
        e,
        false,
        Refusal::Handshake,
    );
    let rbac = |list: &[String]| -> Result<String> {
        envoy_raw::replace_wasm_filter(&plain, Some(&anchors::rbac_cel_filter(list)))
    };
    let e = setup.start("rbac-cel", &rbac(std::slice::from_ref(&fp))?, &[])?;
    setup.add(
        "rbac-cel",
        "Envoy RBAC, CEL `connection.sha256_peer_certificate_digest in [1 entry]`".into(),
        e,
        false,
        Refusal::Status(403),
    );
    let e = setup.start("rbac-cel-big", &rbac(&big)?, &[])?;
    setup.add(
        &format!("rbac-cel-{n_label}"),
        format!("Envoy RBAC, CEL `in` over {} entries", big.len()),
        e,
        false,
        Refusal::Status(403),
    );
    if !args.empty_wasm.is_file() {
        bail!(
            "{} not found: cargo build -p mtls-gate-bench-empty-filter --target wasm32-wasip1 --release",
            args.empty_wasm.display()
        );
    }
    let e = setup.start(
        "empty-wasm",
        &render(config(empty_gate).wasm(&args.empty_wasm))?,
        &[],
    )?;
    setup.add(
        "empty-wasm",
        "empty proxy-wasm filter (root + HTTP context that do nothing)".into(),
        e,
        false,
        Refusal::None,
    );
    // The floor gate: the digest read and compared; then with the header work any gate does
    // around it (tests/tools/floor-gate says what, and why it is no gate to deploy).
    if !args.floor_wasm.is_file() {
        bail!(
            "{} not found: cargo build -p mtls-gate-bench-floor-gate --target wasm32-wasip1 --release",
            args.floor_wasm.display()
        );
    }
    for (name, admits, what) in [
        (
            "floor-digest",
            fp.clone(),
            "the floor of a proxy-wasm certificate gate: the digest property read and compared \
             with one fingerprint, nothing else",
        ),
        (
            "floor-gate",
            format!("{fp} headers"),
            "the floor gate, plus what a gate does around the check: `:authority` and `:path` \
             read, the client's XFCC removed, the digest written upstream",
        ),
    ] {
        let e = setup.start(name, &render(config(&admits).wasm(&args.floor_wasm))?, &[])?;
        setup.add(name, what.into(), e, false, Refusal::Status(403));
    }
    let static_1 = static_api(std::slice::from_ref(&fp));
    let e = setup.start("static-1", &render(config(&static_1))?, &[])?;
    setup.add(
        "static-1",
        "mtls-gate static, 1-entry allow list, allow path".into(),
        e,
        false,
        Refusal::Status(403),
    );
    setup.add(
        "static-1-deny",
        "mtls-gate static, 1-entry allow list, deny path (client not listed: 403)".into(),
        e,
        true,
        Refusal::Status(403),
    );
    let e = setup.start("static-big", &render(config(&static_api(&big)))?, &[])?;
    setup.add(
        &format!("static-{n_label}"),
        format!(
            "mtls-gate static, {}-entry allow list, allow path",
            big.len()
        ),
        e,
        false,
        Refusal::Status(403),
    );
    setup.add(
        &format!("static-{n_label}-deny"),
        format!(
            "mtls-gate static, {}-entry allow list, deny path",
            big.len()
        ),
        e,
        true,
        Refusal::Status(403),
    );
    let e = setup.start(
        "static-ca",
        &render(config(&static_api(std::slice::from_ref(&pki.ca.cert_pem))))?,
        &[],
    )?;
    setup.add(
        "static-ca",
        "mtls-gate static, the client's CA listed (CA-admitted client)".into(),
        e,
        false,
        Refusal::Status(403),
    );

    // Certificate auth: `--sessions` sessions (the bench client's among them) written into a
    // store before the shim starts on it, then synced by the filter from the real shim.
    let mut fill_report = None;
    let mut first_sync_s = None;
    let mut snapshot = None;
    let mut cert_auth_gate = None;
    let shim = if args.shim {
        let encoding = hex::encode(Sha256::digest(format!("bench-{:?}", Instant::now())));
        let fill_dir = tempfile::Builder::new()
            .prefix("mtls-gate-bench-store-")
            .tempdir_in(&args.fill_dir)?;
        let store_path = fill_dir.path().join("store.db");
        {
            let store = populate::open_store(&store_path, &encoding)?;
            let filled = populate::fill(&store, args.sessions - 1, "", Some("bench"))?;
            let upload = mtls_gate_shim::certificates::upload::admit(
                &pki.client.cert_pem,
                "",
                time::OffsetDateTime::now_utc().unix_timestamp(),
            )
            .map_err(|e| anyhow::anyhow!("the bench client certificate: {e}"))?;
            let id = upload.id.to_string();
            store.add_certificate(upload.into())?;
            mtls_gate_shim::sessions::create(
                &store,
                Default::default(),
                populate::session_for(&id, "", "bench")?,
                time::OffsetDateTime::now_utc(),
            )
            .map_err(|e| anyhow::anyhow!("the bench client's session: {e}"))?;
            eprintln!(
                "bench: {} certificates + sessions written in {:.1} s ({})",
                filled.sessions + 1,
                filled.took.as_secs_f64(),
                store_path.display()
            );
            fill_report = Some(json!({
                "sessions": filled.sessions + 1,
                "seconds": filled.took.as_secs_f64(),
                "store": store_path.display().to_string(),
            }));
        }
        let shim = Shim::builder(paths::shim_bin()?)
            .store(&store_path)
            .encoding_secret(&encoding)
            .start()?;
        // The full snapshot a filter's first sync fetches, timed as the shim serves it.
        let bearer = format!("Bearer {}", shim.feed_token());
        let t = Instant::now();
        let answer = shim.request(
            "GET",
            &mtls_gate_core::feed::changes_path(0),
            &[("Authorization", bearer.as_str())],
            None,
        )?;
        if answer.status != 200 {
            bail!("the feed snapshot answered {}", answer.status);
        }
        snapshot = Some((t.elapsed().as_secs_f64(), answer.body.len()));
        eprintln!(
            "bench: the shim serves the full feed snapshot in {:.2} s ({} bytes)",
            t.elapsed().as_secs_f64(),
            answer.body.len()
        );
        let gate = json!({
            "store": store_block(&shim),
            "apis": [{
                "api_id": "bench",
                "name": "bench",
                "proxy": {"listen_path": "/"},
                "auth_configs": {"authToken": {"use_certificate": true}},
            }],
        })
        .to_string();
        let e = setup.start(
            "cert-auth",
            &render(config(&gate).shim_port(shim.port()))?,
            &[],
        )?;
        // The first full sync: from Envoy ready to the filter's first successful sync.
        first_sync_s = Some(wait_for_first_sync(&setup, e, "cert-auth")?);
        cert_auth_gate = Some((gate, shim.port()));
        setup.add(
            &format!("cert-auth-{}", report::count_label(args.sessions)),
            format!(
                "mtls-gate certificate auth, {} sessions synced from the shim",
                args.sessions
            ),
            e,
            false,
            Refusal::Status(401),
        );
        Some((shim, fill_dir))
    } else {
        None
    };

    match &args.native_module {
        // The e2e launcher's own rendering of the module (`EnvoyConfig::native_module`: the
        // dynamic-modules filter, `filter_name` mtls_gate, the same gate JSON), so the bench
        // runs the module exactly as its e2e suite does.
        Some(path) => {
            if !path.is_file() {
                bail!("native module {} not found", path.display());
            }
            let e = setup.start(
                "native",
                &render(config(&static_1).native_module(path))?,
                &[],
            )?;
            setup.add(
                "native-static-1",
                format!(
                    "native dynamic module `{}` (same core), static 1-entry, allow path",
                    path.file_name()
                        .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
                ),
                e,
                false,
                Refusal::Status(403),
            );
        }
        None => eprintln!("bench: native module not built (MTLS_GATE_NATIVE_MODULE unset)"),
    }
    for (name, wasm) in &args.extra_wasm {
        if !wasm.is_file() {
            bail!("extra wasm {name}: {} not found", wasm.display());
        }
        let e = setup.start(
            &format!("extra:{name}"),
            &render(config(&static_1).wasm(wasm))?,
            &[],
        )?;
        setup.add(
            &format!("extra:{name}"),
            format!(
                "`{}` as the filter, static 1-entry, allow path",
                wasm.display()
            ),
            e,
            false,
            Refusal::Status(403),
        );
        // And on the certificate-auth path, synced from the same shim.
        if let Some((gate, shim_port)) = &cert_auth_gate {
            let scenario = format!("extra-cert-auth:{name}");
            let e = setup.start(
                &scenario,
                &render(config(gate).shim_port(*shim_port).wasm(wasm))?,
                &[],
            )?;
            wait_for_first_sync(&setup, e, &scenario)?;
            setup.add(
                &scenario,
                format!(
                    "`{}` as the filter, certificate auth, {} sessions synced",
                    wasm.display(),
                    args.sessions
                ),
                e,
                false,
                Refusal::Status(401),
            );
        }
    }
    let Setup {
        mut envoys,
        mut scenarios,
        ..
    } = setup;

    if !args.only.is_empty() {
        scenarios.retain(|s| {
            report::ANCHORS.contains(&s.name.as_str())
                || args.only.iter().any(|o| s.name.starts_with(o.as_str()))
        });
    }

    // Check every scenario before measuring.
    for s in &scenarios {
        let port = envoys[s.envoy].envoy.tls_port();
        let cert = if s.rogue { &pki.rogue } else { &pki.client };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match lg.check(port, cert, s.expect) {
                Ok(()) => break,
                Err(e) if Instant::now() > deadline => {
                    bail!(
                        "scenario {}: {} not answered {}: {e:#}",
                        s.name,
                        cert.name,
                        s.expect
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        if !s.rogue {
            match s.refusal {
                Refusal::None => {}
                Refusal::Status(status) => lg
                    .check(port, &pki.rogue, status)
                    .with_context(|| format!("scenario {}: rogue cert not refused", s.name))?,
                Refusal::Handshake => lg
                    .check_handshake_refused(port, &pki.rogue)
                    .with_context(|| format!("scenario {}: rogue handshake not refused", s.name))?,
            }
        }
        eprintln!("bench: {} checked (port {port})", s.name);
    }
    for started in &mut envoys {
        started.facts.rss_kib = mtls_gate_testkit::process::rss_kib(started.pid).ok();
    }

    let n = scenarios.len();
    let mut results: Vec<ScenarioResult> = scenarios
        .iter()
        .map(|s| ScenarioResult {
            name: s.name.clone(),
            what: s.what.clone(),
            loaded: Vec::new(),
            one_connection: Vec::new(),
        })
        .collect();
    let mut raw = Vec::new();
    let callgrind = match args.instructions {
        true => Some(instructions::Callgrind::from_env()?),
        false => None,
    };
    if callgrind.is_some() {
        for s in &scenarios {
            let port = envoys[s.envoy].envoy.tls_port();
            let cert = if s.rogue { &pki.rogue } else { &pki.client };
            let count = Some(instructions::WARM_UP);
            lg.run(port, cert, 4, 0.0, 300.0, s.expect, None, count)?;
        }
    }
    for round in 0..args.rounds {
        for k in 0..n {
            let i = (k + round) % n;
            let s = &scenarios[i];
            let started = &envoys[s.envoy];
            let port = started.envoy.tls_port();
            let cert = if s.rogue { &pki.rogue } else { &pki.client };
            if let Some(callgrind) = &callgrind {
                let count = |requests: u64| -> Result<(u64, Run)> {
                    callgrind.zero(started.pid)?;
                    let (run, _) =
                        lg.run(port, cert, 4, 0.0, 300.0, s.expect, None, Some(requests))?;
                    Ok((callgrind.dump(started.pid)?, run))
                };
                let (short, short_run) = count(instructions::SHORT)?;
                let (long, mut run) = count(instructions::LONG)?;
                let per_request =
                    instructions::per_request((short, short_run.requests), (long, run.requests));
                // The report's cost column: thousands of instructions per request.
                run.cpu_us = per_request / 1000.0;
                run.bad += short_run.bad;
                eprintln!(
                    "bench: round {} {:<22} {:>9.0} instructions/request{}",
                    round + 1,
                    s.name,
                    per_request,
                    if run.bad > 0 {
                        format!("  ({} errors/unexpected)", run.bad)
                    } else {
                        String::new()
                    }
                );
                raw.push(json!({"round": round + 1, "scenario": s.name,
                    "instructions": {"short": [short, short_run.requests],
                                     "long": [long, run.requests],
                                     "per_request": per_request}}));
                results[i].loaded.push(run);
                continue;
            }
            let (run, v) = lg.run(
                port,
                cert,
                args.connections,
                args.warmup,
                args.duration,
                s.expect,
                Some(started.pid),
                None,
            )?;
            let (run1, v1) = lg.run(
                port,
                cert,
                1,
                args.warmup.min(0.5),
                args.latency_duration,
                s.expect,
                None,
                None,
            )?;
            eprintln!(
                "bench: round {} {:<22} {:>7.0} req/s  cpu {:>6.1} µs/req  p50 {:>5.0} µs p99 {:>6.0} µs | 1 conn p50 {:>4.0} µs{}",
                round + 1,
                s.name,
                run.rps,
                run.cpu_us,
                run.p50,
                run.p99,
                run1.p50,
                if run.bad + run1.bad > 0 {
                    format!("  ({} errors/unexpected)", run.bad + run1.bad)
                } else {
                    String::new()
                }
            );
            raw.push(
                json!({"round": round + 1, "scenario": s.name, "loaded": v, "one_connection": v1}),
            );
            results[i].loaded.push(run);
            results[i].one_connection.push(run1);
        }
    }

    let revocation = match (&shim, args.revocation_trials) {
        (Some((shim, _)), trials) if trials > 0 => {
            let env = revocation::Env {
                pki: &pki,
                shim,
                config: &config,
                concurrency: args.concurrency,
                pin_cpu: pin_ok.then_some(ENVOY_CPU),
            };
            Some(revocation::run(&env, trials)?)
        }
        _ => None,
    };

    let facts = report::Facts {
        args: &args,
        took: started.elapsed(),
        load_at_start,
        load_at_end: report::loadavg(),
        pinned: pin_ok,
        envoys: envoys.iter().map(|e| e.facts.clone()).collect(),
        fill: fill_report,
        first_sync_s,
        snapshot,
    };
    let rendered = report::render(&facts, &results, revocation.as_ref());
    std::fs::create_dir_all(&args.out_dir)?;
    std::fs::write(args.out_dir.join("report.md"), &rendered.markdown)?;
    std::fs::write(
        args.out_dir.join("results.json"),
        serde_json::to_string_pretty(&json!({
            "summary": rendered.json,
            "runs": raw,
        }))?,
    )?;
    if let Some(path) = &args.report {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &rendered.markdown)?;
        eprintln!("bench: wrote {}", path.display());
    }
    println!("{}", rendered.markdown);
    eprintln!(
        "bench: wrote {} and results.json",
        args.out_dir.join("report.md").display()
    );
    drop(shim);
    Ok(())
}

/// Whether `path` is a file (for the report's wasm sizes).
pub fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_exactly_the_wasm_filter() {
        let yaml = "a:\n  http_filters:\n  - name: envoy.filters.http.wasm\n    typed_config:\n      x: 1\n  - name: envoy.filters.http.router\n    typed_config: {}\nb: 2\n";
        let out = envoy_raw::without_wasm_filter(yaml).unwrap();
        assert_eq!(
            out,
            "a:\n  http_filters:\n  - name: envoy.filters.http.router\n    typed_config: {}\nb: 2\n"
        );
        assert!(envoy_raw::without_wasm_filter("a: 1\n").is_err());
    }

    #[test]
    fn replaces_the_wasm_filter_at_its_indent_in_every_chain() {
        let chain = "  http_filters:\n  - name: envoy.filters.http.wasm\n    typed_config:\n      x: 1\n  - name: envoy.filters.http.router\n";
        let yaml = format!("a:\n{chain}b:\n{chain}");
        let filter = json!({"name": "envoy.filters.http.rbac"});
        let out = envoy_raw::replace_wasm_filter(&yaml, Some(&filter)).unwrap();
        let line =
            "  - {\"name\":\"envoy.filters.http.rbac\"}\n  - name: envoy.filters.http.router";
        assert_eq!(out.matches(line).count(), 2, "{out}");
        assert!(!out.contains("http.wasm"));
    }

    #[test]
    fn drops_every_access_log_block_and_nothing_else() {
        let yaml = "hcm:\n  stat_prefix: x\n  access_log:\n  - name: stdout\n    typed_config:\n      f: 1\n  route_config:\n    name: r\nother:\n  access_log:\n  - name: b\n  http_filters: []\n";
        let out = envoy_raw::without_access_log(yaml).unwrap();
        assert_eq!(
            out,
            "hcm:\n  stat_prefix: x\n  route_config:\n    name: r\nother:\n  http_filters: []\n"
        );
        assert!(envoy_raw::without_access_log("a: 1\n").is_err());
    }

    #[test]
    fn hash_anchor_requires_the_listed_certificate() {
        let yaml = "require_client_certificate: false\nvalidation_context:\n  trust_chain_verification: ACCEPT_UNTRUSTED\n";
        let out = envoy_raw::with_client_cert_hashes(yaml, &["ab".repeat(32)]).unwrap();
        assert!(out.contains("require_client_certificate: true"));
        assert!(out.contains(&format!(
            "verify_certificate_hash: [\"{}\"]",
            "ab".repeat(32)
        )));
        assert!(!out.contains("ACCEPT_UNTRUSTED"));
        assert!(envoy_raw::with_client_cert_hashes("a: 1\n", &[]).is_err());
    }

    #[test]
    fn rbac_condition_is_cel_in_over_the_list() {
        let f = anchors::rbac_cel_filter(&["aa".into(), "bb".into()]);
        let condition =
            &f["typed_config"]["rules"]["policies"]["listed-client-certificate"]["condition"];
        assert_eq!(condition["call_expr"]["function"], "@in");
        let args = &condition["call_expr"]["args"];
        assert_eq!(
            args[0]["select_expr"]["field"],
            "sha256_peer_certificate_digest"
        );
        assert_eq!(
            args[1]["list_expr"]["elements"][1]["const_expr"]["string_value"],
            "bb"
        );
    }

    #[test]
    fn extra_wasm_spec_is_named_paths() {
        let v = parse_extra_wasm("baseline=/tmp/a.wasm, o3=/tmp/b.wasm").unwrap();
        assert_eq!(v[0], ("baseline".into(), PathBuf::from("/tmp/a.wasm")));
        assert_eq!(v[1].0, "o3");
        assert!(parse_extra_wasm("").unwrap().is_empty());
        assert!(parse_extra_wasm("nopath").is_err());
        assert!(parse_extra_wasm("a b=/x").is_err());
        assert!(parse_extra_wasm("a=/x,a=/y").is_err());
    }

    #[test]
    fn big_list_holds_the_client_once() {
        let l = list_with("ff", 5);
        assert_eq!(l.len(), 5);
        assert_eq!(l.iter().filter(|x| *x == "ff").count(), 1);
    }

    #[test]
    fn schedstat_first_field_is_on_cpu_ns() {
        assert_eq!(schedstat::on_cpu_ns("123456 789 10\n"), Some(123456));
        assert_eq!(schedstat::on_cpu_ns(""), None);
        let me = schedstat::process_cpu_ns(std::process::id()).unwrap();
        assert!(me > 0);
    }
}
