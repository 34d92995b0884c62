//! The real `mtls-gate-shim` binary as a managed process: a temporary SQLite store, random
//! admin secret and feed token, a free loopback port, readiness by polling `/hello`, and
//! admin helpers for `/tyk/certs` and `/tyk/keys`. Killed on drop; [`Shim::kill`] simulates
//! an outage.

use crate::paths;
use crate::ports::free_port;
use crate::process::Process;
use crate::wait;
use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

const START_TIMEOUT: Duration = Duration::from_secs(20);
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How often [`Shim::start`] retries on a port another process grabbed meanwhile.
const START_ATTEMPTS: usize = 3;

pub struct Shim {
    process: Process,
    addr: SocketAddr,
    secret: String,
    feed_token: String,
    store_path: PathBuf,
    _dir: TempDir,
}

/// A plain HTTP/1.0 answer from the shim.
#[derive(Debug, Clone)]
pub struct ShimResponse {
    pub status: u16,
    /// Lowercase names, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl ShimResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body)
            .with_context(|| format!("shim answered non-JSON ({}): {}", self.status, self.body))
    }
}

impl Shim {
    /// Starts the shim with a fresh store and fresh random secrets, and waits for `/hello`.
    pub fn start() -> Result<Self> {
        Self::start_with(&[])
    }

    /// [`Shim::start`] with `--allow-master-keys` (keys with empty `access_rights` accepted).
    pub fn start_allowing_master_keys() -> Result<Self> {
        Self::start_with(&["--allow-master-keys"])
    }

    /// [`Shim::start`] with `extra_args` after `serve`'s own.
    pub fn start_with(extra_args: &[&str]) -> Result<Self> {
        let mut last_err = None;
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(extra_args) {
                Ok(shim) => return Ok(shim),
                // A port that was free a moment ago may have been taken by another process.
                Err(e) if format!("{e:#}").contains("cannot listen on") => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("shim did not start")))
    }

    fn start_once(extra_args: &[&str]) -> Result<Self> {
        let bin = paths::shim_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("mtls-gate-shim-")
            .tempdir()?;
        let store_path = dir.path().join("store.db");
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let secret = random_hex(16)?;
        let feed_token = random_hex(16)?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--store")
            .arg(&store_path)
            .args(extra_args)
            .env("MTLS_GATE_SECRET", &secret)
            .env("MTLS_GATE_FEED_TOKEN", &feed_token)
            .env_remove("MTLS_GATE_ENCODING_SECRET")
            .env(
                "RUST_LOG",
                std::env::var("SHIM_LOG").unwrap_or_else(|_| "info".to_string()),
            );
        let mut process = Process::spawn("mtls-gate-shim", cmd, &dir.path().join("shim.log"))?;
        wait::until(&format!("shim /hello on {addr}"), START_TIMEOUT, || {
            process.ensure_running()?;
            Ok(raw_request(addr, "GET", "/hello", &[], None)
                .ok()
                .filter(|r| r.status == 200)
                .map(|_| ()))
        })?;
        Ok(Self {
            process,
            addr,
            secret,
            feed_token,
            store_path,
            _dir: dir,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The admin secret (`X-Tyk-Authorization`).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The feed token, for the gate's `store.token`.
    pub fn feed_token(&self) -> &str {
        &self.feed_token
    }

    pub fn store_path(&self) -> &Path {
        &self.store_path
    }

    /// The gate's `store` block for this shim (cluster `mtls-gate-shim` of the template).
    pub fn store_json(&self, sync_interval_ms: u64, max_stale_s: u64) -> String {
        serde_json::json!({
            "cluster": "mtls-gate-shim",
            "authority": "mtls-gate-shim",
            "token": self.feed_token,
            "sync_interval_ms": sync_interval_ms,
            "max_stale_s": max_stale_s,
        })
        .to_string()
    }

    /// An admin call with `X-Tyk-Authorization`.
    pub fn admin(&self, method: &str, path: &str, body: Option<&str>) -> Result<ShimResponse> {
        raw_request(
            self.addr,
            method,
            path,
            &[("X-Tyk-Authorization", &self.secret)],
            body,
        )
    }

    /// A call with only the headers given (no `X-Tyk-Authorization` unless among them).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<ShimResponse> {
        raw_request(self.addr, method, path, headers, body)
    }

    /// `POST /tyk/certs?org_id=O` with `pem`; the new certificate ID.
    pub fn add_cert(&self, pem: &str, org: &str) -> Result<String> {
        let resp = self.admin("POST", &format!("/tyk/certs?org_id={org}"), Some(pem))?;
        let json = expect_ok(&resp, "POST /tyk/certs")?;
        json["id"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no id in {}", resp.body))
    }

    /// `POST /tyk/keys/create` with a session; the new key.
    pub fn create_key(&self, session: &serde_json::Value) -> Result<String> {
        let resp = self.admin("POST", "/tyk/keys/create", Some(&session.to_string()))?;
        let json = expect_ok(&resp, "POST /tyk/keys/create")?;
        json["key"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no key in {}", resp.body))
    }

    /// `PUT /tyk/keys/<key>` with a session.
    pub fn update_key(&self, key: &str, session: &serde_json::Value) -> Result<()> {
        let resp = self.admin(
            "PUT",
            &format!("/tyk/keys/{key}"),
            Some(&session.to_string()),
        )?;
        expect_ok(&resp, "PUT /tyk/keys").map(|_| ())
    }

    /// `DELETE /tyk/keys/<key>`; returns once the shim answered 200.
    pub fn delete_key(&self, key: &str) -> Result<()> {
        let resp = self.admin("DELETE", &format!("/tyk/keys/{key}"), None)?;
        expect_ok(&resp, "DELETE /tyk/keys").map(|_| ())
    }

    /// `DELETE /tyk/certs/<id>`; returns once the shim answered 200.
    pub fn delete_cert(&self, id: &str) -> Result<()> {
        let resp = self.admin("DELETE", &format!("/tyk/certs/{id}"), None)?;
        expect_ok(&resp, "DELETE /tyk/certs").map(|_| ())
    }

    /// Stops the shim at once with SIGKILL (no graceful shutdown): an outage as the filter
    /// sees it. Returns once the process is gone.
    pub fn kill(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.process.pid().to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        // Reaps the child (it is already dead, so no grace period is spent).
        self.process.stop();
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}

fn expect_ok(resp: &ShimResponse, what: &str) -> Result<serde_json::Value> {
    if resp.status != 200 {
        bail!("{what}: {} {}", resp.status, resp.body);
    }
    resp.json()
}

/// One HTTP/1.0 request (close-delimited answer, so no chunked decoding is needed).
fn raw_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<ShimResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .with_context(|| format!("connecting to the shim at {addr}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let body = body.unwrap_or("");
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("{method} {path}: no end of headers in {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{method} {path}: no status in {head:?}"))?;
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(ShimResponse {
        status,
        headers,
        body: body.to_string(),
    })
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom")?;
    Ok(hex::encode(buf))
}
