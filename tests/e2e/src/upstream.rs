//! The `echo-upstream` tool (tests/tools/src/bin/echo-upstream.rs) as a managed process.
//! It is found with [`paths::tool_bin`]: built beforehand, in the same profile.

use crate::envoy_config::UpstreamCluster;
use anyhow::{Context, Result};
use mtls_gate_testkit::paths;
use mtls_gate_testkit::pki::{CertFiles, TestPki};
use mtls_gate_testkit::process::Process;
use mtls_gate_testkit::wait;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

const START_TIMEOUT: Duration = Duration::from_secs(10);

pub struct EchoUpstream {
    pub addr: SocketAddr,
    pub name: String,
    pub tls: bool,
    process: Process,
    _dir: TempDir,
}

/// What the echo upstream saw (its JSON reply).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct EchoReply {
    pub name: String,
    /// The client certificate Envoy presented upstream: lowercase hex SHA-256 of its DER.
    pub client_cert_sha256: Option<String>,
    pub client_subject: Option<String>,
    pub sni: Option<String>,
    pub method: String,
    pub host: Option<String>,
    pub path: String,
    /// Lowercase names; repeated headers joined with `,`.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl EchoReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

impl EchoUpstream {
    /// An HTTPS echo upstream with `server` as its certificate.
    pub fn start_tls(server: &CertFiles, name: &str) -> Result<Self> {
        let mut cmd = Command::new(paths::tool_bin("echo-upstream")?);
        cmd.args(["--name", name, "--cert"])
            .arg(&server.cert_path)
            .arg("--key")
            .arg(&server.key_path);
        Self::start(cmd, name, true)
    }

    /// [`Self::start_tls`] with more `echo-upstream` flags (`--tls-version 1.2`, `--cipher …`).
    pub fn start_tls_with(server: &CertFiles, name: &str, flags: &[&str]) -> Result<Self> {
        let mut cmd = Command::new(paths::tool_bin("echo-upstream")?);
        cmd.args(["--name", name, "--cert"])
            .arg(&server.cert_path)
            .arg("--key")
            .arg(&server.key_path)
            .args(flags);
        Self::start(cmd, name, true)
    }

    /// A plain-HTTP echo upstream.
    pub fn start_plain(name: &str) -> Result<Self> {
        let mut cmd = Command::new(paths::tool_bin("echo-upstream")?);
        cmd.args(["--name", name, "--plain"]);
        Self::start(cmd, name, false)
    }

    fn start(mut cmd: Command, name: &str, tls: bool) -> Result<Self> {
        cmd.args(["--listen", "127.0.0.1:0"]);
        let dir = tempfile::Builder::new()
            .prefix("mtls-gate-echo-")
            .tempdir()?;
        let mut process = Process::spawn(
            &format!("echo-upstream {name}"),
            cmd,
            &dir.path().join("echo.log"),
        )?;
        // The helper prints its address only once it is listening.
        let addr = wait::until(
            &format!("echo-upstream {name} to listen"),
            START_TIMEOUT,
            || {
                process.ensure_running()?;
                Ok(process
                    .log()
                    .lines()
                    .find_map(|l| l.strip_prefix("LISTENING "))
                    .and_then(|a| a.trim().parse::<SocketAddr>().ok()))
            },
        )?;
        Ok(Self {
            addr,
            name: name.to_string(),
            tls,
            process,
            _dir: dir,
        })
    }

    /// An Envoy cluster that reaches this upstream (TLS verified with `pki.ca`, SNI
    /// `localhost`, no client certificate unless added with [`UpstreamCluster::client_cert`]).
    pub fn cluster(&self, cluster_name: &str, pki: &TestPki) -> UpstreamCluster {
        if self.tls {
            UpstreamCluster::tls(cluster_name, self.addr, &pki.ca)
        } else {
            UpstreamCluster::plain(cluster_name, self.addr)
        }
    }

    pub fn process(&self) -> &Process {
        &self.process
    }
}

impl EchoReply {
    /// Parses a response body from the echo upstream.
    pub fn parse(body: &str) -> Result<Self> {
        serde_json::from_str(body).with_context(|| format!("not an echo-upstream reply: {body}"))
    }
}
