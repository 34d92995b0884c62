//! Real Envoy, with the real filter, as a managed process.
//!
//! Every listener and the admin bind port 0; the real ports are read back from the admin API,
//! so parallel tests never race for ports. Hot restart is disabled (no shared memory, no
//! domain socket) and each instance still gets its own `--base-id`.

use crate::envoy_config::EnvoyConfig;
use anyhow::{Context, Result, bail};
use mtls_gate_core::denial::Denial;
use mtls_gate_core::metrics;
use mtls_gate_testkit::admin_http;
use mtls_gate_testkit::paths;
use mtls_gate_testkit::process::Process;
use mtls_gate_testkit::wait;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tempfile::TempDir;

/// V8 compiles the filter once per VM (main thread + each worker); allow for a busy machine.
/// How long Envoy may take to be ready; `ENVOY_START_TIMEOUT_S` overrides it (the bench's
/// instruction count runs Envoy under Valgrind, where V8 compiling the filter takes minutes).
fn start_timeout() -> Duration {
    let seconds = env_or("ENVOY_START_TIMEOUT_S", "60").parse().unwrap_or(60);
    Duration::from_secs(seconds)
}
const CONCURRENCY: usize = 2;
/// Listener names in `envoy-config/envoy.yaml.tmpl`.
const TLS_LISTENER: &str = "mtls_gate_tls";
const PLAIN_LISTENER: &str = "mtls_gate_plain";

static NEXT_INSTANCE: AtomicU32 = AtomicU32::new(0);

pub struct Envoy {
    process: Process,
    admin: SocketAddr,
    tls_port: u16,
    plain_port: u16,
    config_path: PathBuf,
    _dir: TempDir,
}

impl Envoy {
    /// Renders `config`, starts Envoy and waits until the admin API reports `/ready`.
    pub fn start(config: EnvoyConfig) -> Result<Self> {
        Self::start_yaml_with_env(&config.render()?, CONCURRENCY, &config.env)
    }

    /// Starts Envoy from a bootstrap already rendered (the bench edits one to drop the
    /// filter) with `concurrency` workers, and waits until the admin API reports `/ready`.
    pub fn start_yaml(bootstrap: &str, concurrency: usize) -> Result<Self> {
        Self::start_yaml_with_env(bootstrap, concurrency, &[])
    }

    /// [`Envoy::start_yaml`] with `env` added to Envoy's environment.
    pub fn start_yaml_with_env(
        bootstrap: &str,
        concurrency: usize,
        env: &[(String, String)],
    ) -> Result<Self> {
        let envoy = paths::envoy_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("mtls-gate-envoy-")
            .tempdir()?;
        let config_path = dir.path().join("envoy.yaml");
        std::fs::write(&config_path, bootstrap)?;
        let admin_path = dir.path().join("admin.addr");

        let mut cmd = Command::new(&envoy);
        cmd.arg("-c")
            .arg(&config_path)
            .args(["--concurrency", &concurrency.to_string()])
            .args(["--base-id", &unique_base_id().to_string()])
            .arg("--disable-hot-restart")
            .arg("--admin-address-path")
            .arg(&admin_path)
            .args(["--log-level", &env_or("ENVOY_LOG_LEVEL", "warning")])
            .args([
                "--component-log-level",
                // `dynamic_modules`: the native module's lines (MTLS_GATE_NATIVE_MODULE).
                &format!(
                    "wasm:{0},dynamic_modules:{0}",
                    env_or("ENVOY_WASM_LOG_LEVEL", "info")
                ),
            ]);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let mut process = Process::spawn("envoy", cmd, &dir.path().join("envoy.log"))?;

        let admin = wait::until("Envoy's admin address", start_timeout(), || {
            process.ensure_running()?;
            Ok(std::fs::read_to_string(&admin_path)
                .ok()
                .and_then(|s| s.trim().parse::<SocketAddr>().ok()))
        })?;
        wait::until("Envoy /ready", start_timeout(), || {
            process.ensure_running()?;
            Ok(admin_http::get(admin, "/ready")
                .ok()
                .filter(|r| r.status == 200)
                .map(|_| ()))
        })?;
        let ports = listener_ports(admin)?;
        let port = |name: &str| {
            ports
                .get(name)
                .copied()
                .with_context(|| format!("listener {name} not in {ports:?}"))
        };
        Ok(Self {
            tls_port: port(TLS_LISTENER)?,
            plain_port: port(PLAIN_LISTENER)?,
            process,
            admin,
            config_path,
            _dir: dir,
        })
    }

    /// `https://127.0.0.1:<tls port><path>`; combine with `Request::sni` for a host name.
    pub fn https_url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.tls_port)
    }

    /// `http://127.0.0.1:<plain port><path>`: the same filter chain without TLS.
    pub fn plain_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.plain_port)
    }

    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    pub fn plain_port(&self) -> u16 {
        self.plain_port
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Counters and gauges whose name matches the regex `filter` (Envoy's `/stats?filter=`).
    pub fn stats(&self, filter: &str) -> Result<BTreeMap<String, u64>> {
        let path = format!("/stats?format=json&filter={}", url_escape(filter));
        let resp = admin_http::get(self.admin, &path)?;
        if resp.status != 200 {
            bail!("GET {path}: {} {}", resp.status, resp.body);
        }
        let json: serde_json::Value = serde_json::from_str(&resp.body)?;
        Ok(json["stats"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| Some((s["name"].as_str()?.to_string(), s["value"].as_u64()?)))
            .collect())
    }

    /// One counter or gauge by exact name.
    pub fn stat(&self, name: &str) -> Result<Option<u64>> {
        Ok(self
            .stats(&format!("^{}$", regex_escape(name)))?
            .remove(name))
    }

    /// The filter's counters ([`filter_counters`]) as Envoy shows them now, by Envoy's name.
    pub fn filter_stats(&self) -> Result<BTreeMap<String, u64>> {
        let counters = filter_counters();
        let mut stats = self.stats(&format!("^{}", regex_escape(metrics::ENVOY_STAT_PREFIX)))?;
        stats.retain(|name, _| counters.contains(name));
        Ok(stats)
    }

    /// Bytes allocated by Envoy's heap right now (admin `/memory`, `allocated`).
    pub fn memory_allocated(&self) -> Result<u64> {
        let resp = admin_http::get(self.admin, "/memory")?;
        if resp.status != 200 {
            bail!("GET /memory: {} {}", resp.status, resp.body);
        }
        let json: serde_json::Value = serde_json::from_str(&resp.body)?;
        // Envoy prints uint64 fields as JSON strings.
        let allocated = &json["allocated"];
        allocated
            .as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| allocated.as_u64())
            .with_context(|| format!("no allocated bytes in /memory: {}", resp.body))
    }

    /// The admin `/config_dump`, as Envoy sends it.
    pub fn config_dump(&self) -> Result<String> {
        let resp = admin_http::get(self.admin, "/config_dump")?;
        if resp.status != 200 {
            bail!("GET /config_dump: {} {}", resp.status, resp.body);
        }
        Ok(resp.body)
    }

    /// Envoy's log so far (stderr and the `ACCESS ...` lines of the access log).
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Waits until the log contains `needle` (for example a line the filter logs).
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        let process = &mut self.process;
        wait::until(&format!("Envoy log line {needle:?}"), timeout, || {
            process.ensure_running()?;
            Ok(process.log().contains(needle).then_some(()))
        })
    }

    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}

/// Runs `envoy --mode validate` on the rendered config (with [`EnvoyConfig::env`]). This also
/// loads the filter and runs its `on_configure`, so a config the filter rejects fails here
/// (see ENVOY-FACTS.md).
pub fn validate(config: &EnvoyConfig) -> Result<()> {
    let envoy = paths::envoy_bin()?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("envoy.yaml");
    std::fs::write(&path, config.render()?)?;
    let out = Command::new(envoy)
        .args(["--mode", "validate", "-c"])
        .arg(&path)
        .args(["--log-level", "warning", "--disable-hot-restart"])
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .output()?;
    if !out.status.success() {
        bail!(
            "envoy --mode validate failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn listener_ports(admin: SocketAddr) -> Result<BTreeMap<String, u16>> {
    let resp = admin_http::get(admin, "/listeners?format=json")?;
    let json: serde_json::Value = serde_json::from_str(&resp.body)
        .with_context(|| format!("/listeners answered {}", resp.body))?;
    Ok(json["listener_statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let port = l["local_address"]["socket_address"]["port_value"].as_u64()?;
            Some((l["name"].as_str()?.to_string(), u16::try_from(port).ok()?))
        })
        .collect())
}

/// Unique per process and per instance, so concurrent Envoys never share a base id.
fn unique_base_id() -> u32 {
    let instance = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed) % 100;
    (std::process::id() % 1_000_000) * 100 + instance
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

/// Every counter the filter defines (`mtls_gate_core::metrics`), as Envoy's stats name it.
pub fn filter_counters() -> Vec<String> {
    let plain = [
        metrics::ALLOWED,
        metrics::SYNC_SUCCESS,
        metrics::SYNC_FAILURE,
        metrics::LOOKUP_CALLOUTS,
        metrics::LOOKUP_SHED,
        metrics::STORE_STALE,
    ];
    let denied = Denial::ALL_LABELS
        .iter()
        .map(|label| metrics::denied(label));
    plain
        .into_iter()
        .map(str::to_owned)
        .chain(denied)
        .map(|name| metrics::envoy_stat(&name))
        .collect()
}

/// The counter of `denial` as Envoy's stats name it: `wasmcustom.mtls_gate.denied.<label>`.
pub fn denied_stat(denial: &Denial) -> String {
    metrics::envoy_stat(&metrics::denied(denial.metric_label()))
}

/// `s` as a regex matching exactly `s` (Envoy's `/stats?filter=` is a regex).
fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = ".^$*+?()[]{}|\\".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
