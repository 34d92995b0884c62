//! The host-shim for the certificate-auth scenario: start it, register the client
//! certificate, and create its session (key).

use anyhow::{Context, Result, bail};
use mtls_gate_harness::e2e::{CertFiles, free_port, paths, process::Process, wait};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

pub const SECRET: &str = "bench-admin-secret";
pub const FEED_TOKEN: &str = "bench-feed-token";

pub struct Shim {
    pub port: u16,
    addr: SocketAddr,
    _process: Process,
    _dir: TempDir,
}

impl Shim {
    pub fn start() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("mtls-gate-bench-shim-")
            .tempdir()?;
        let port = free_port()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let mut cmd = Command::new(paths::shim_bin()?);
        cmd.args(["serve", "--listen", &addr.to_string(), "--store"])
            .arg(dir.path().join("store.db"))
            .env("MTLS_GATE_SECRET", SECRET)
            .env("MTLS_GATE_FEED_TOKEN", FEED_TOKEN);
        let mut process = Process::spawn("mtls-gate-shim", cmd, &dir.path().join("shim.log"))?;
        wait::until("the shim's /hello", Duration::from_secs(30), || {
            process.ensure_running()?;
            Ok(request(addr, "GET", "/hello", "")
                .ok()
                .filter(|(s, _)| *s == 200)
                .map(|_| ()))
        })?;
        Ok(Self {
            port,
            addr,
            _process: process,
            _dir: dir,
        })
    }

    /// Uploads `cert` (public part) and creates a session for it; returns the certificate ID.
    pub fn register(&self, cert: &CertFiles) -> Result<String> {
        let (status, body) = request(self.addr, "POST", "/tyk/certs", &cert.cert_pem)?;
        if status != 200 {
            bail!("POST /tyk/certs: {status} {body}");
        }
        let json: serde_json::Value = serde_json::from_str(&body)?;
        let id = json["id"].as_str().context("no id")?.to_string();
        let key = serde_json::json!({ "certificate": id }).to_string();
        let (status, body) = request(self.addr, "POST", "/tyk/keys/create", &key)?;
        if status != 200 {
            bail!("POST /tyk/keys/create: {status} {body}");
        }
        Ok(id)
    }
}

/// One admin request with the secret; returns (status, body). Connection: close.
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Result<(u16, String)> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nX-Tyk-Authorization: {SECRET}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").context("no end of headers")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status")?;
    Ok((status, body.to_string()))
}
