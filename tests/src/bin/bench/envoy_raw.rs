//! Envoy started from a bootstrap YAML string, with the same flags as
//! `mtls_gate_harness::e2e::Envoy::start` (which only takes an `EnvoyConfig`, and so cannot
//! start the no-filter baseline). Every scenario uses this launcher, so they differ only in
//! their YAML.

use anyhow::{Context, Result, bail};
use mtls_gate_harness::e2e::{admin_http, paths, process::Process, wait};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tempfile::TempDir;

const START_TIMEOUT: Duration = Duration::from_secs(90);
const TLS_LISTENER: &str = "mtls_gate_tls";

static NEXT_INSTANCE: AtomicU32 = AtomicU32::new(0);

pub struct RawEnvoy {
    _process: Process,
    pub tls_port: u16,
    _dir: TempDir,
}

impl RawEnvoy {
    pub fn start(name: &str, yaml: &str, concurrency: usize) -> Result<Self> {
        let envoy = paths::envoy_bin()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("mtls-gate-bench-{name}-"))
            .tempdir()?;
        let config_path = dir.path().join("envoy.yaml");
        std::fs::write(&config_path, yaml)?;
        let admin_path = dir.path().join("admin.addr");
        let instance = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed) % 50;
        let base_id = (std::process::id() % 1_000_000) * 100 + 50 + instance;
        let mut cmd = Command::new(&envoy);
        cmd.arg("-c")
            .arg(&config_path)
            .args(["--concurrency", &concurrency.to_string()])
            .args(["--base-id", &base_id.to_string()])
            .arg("--disable-hot-restart")
            .arg("--admin-address-path")
            .arg(&admin_path)
            .args(["--log-level", "warning"]);
        let mut process =
            Process::spawn(&format!("envoy {name}"), cmd, &dir.path().join("envoy.log"))?;
        let admin = wait::until("Envoy's admin address", START_TIMEOUT, || {
            process.ensure_running()?;
            Ok(std::fs::read_to_string(&admin_path)
                .ok()
                .and_then(|s| s.trim().parse::<SocketAddr>().ok()))
        })?;
        wait::until("Envoy /ready", START_TIMEOUT, || {
            process.ensure_running()?;
            Ok(admin_http::get(admin, "/ready")
                .ok()
                .filter(|r| r.status == 200)
                .map(|_| ()))
        })?;
        let resp = admin_http::get(admin, "/listeners?format=json")?;
        let json: serde_json::Value = serde_json::from_str(&resp.body)
            .with_context(|| format!("/listeners answered {}", resp.body))?;
        let tls_port = json["listener_statuses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["name"] == TLS_LISTENER)
            .and_then(|l| l["local_address"]["socket_address"]["port_value"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
            .with_context(|| format!("listener {TLS_LISTENER} not in {}", resp.body))?;
        Ok(Self {
            _process: process,
            tls_port,
            _dir: dir,
        })
    }
}

/// The rendered bootstrap without the wasm HTTP filter: in every filter chain, the lines from
/// `- name: envoy.filters.http.wasm` up to the next filter (which must be the router) are
/// dropped. Fails loudly if the rendered bootstrap no longer has that shape.
pub fn without_wasm_filter(yaml: &str) -> Result<String> {
    let mut lines: Vec<&str> = yaml.lines().collect();
    let mut removed = 0;
    while let Some(start) = lines
        .iter()
        .position(|l| l.trim() == "- name: envoy.filters.http.wasm")
    {
        let indent = lines[start].len() - lines[start].trim_start().len();
        let end = lines[start + 1..]
            .iter()
            .position(|l| {
                let i = l.len() - l.trim_start().len();
                !l.trim().is_empty() && i <= indent
            })
            .map(|p| p + start + 1)
            .context("the wasm filter is the last thing in the bootstrap")?;
        if lines[end].trim() != "- name: envoy.filters.http.router" {
            bail!(
                "expected the router right after the wasm filter, found {:?}",
                lines[end]
            );
        }
        lines.drain(start..end);
        removed += 1;
    }
    if removed == 0 {
        bail!("no `- name: envoy.filters.http.wasm` line in the rendered bootstrap");
    }
    let out = lines.join("\n") + "\n";
    if out.contains("envoy.filters.http.wasm") {
        bail!("a wasm filter is left in the bootstrap in a shape this does not recognise");
    }
    Ok(out)
}
