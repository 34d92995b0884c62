//! The real `mtls-gate-shim` binary as a managed process: the one launcher of the shim's own
//! binary tests, the e2e tests and the bench.
//!
//! The binary is the caller's (this crate cannot depend on the shim): the shim's tests pass
//! `env!("CARGO_BIN_EXE_mtls-gate-shim")`, e2e and the bench [`paths::shim_bin`] (what
//! [`Shim::start`] uses). [`Shim::builder`] starts from a fresh SQLite store in a temporary
//! directory, random admin secret and feed token, no inherited `MTLS_GATE_*` secret and
//! `--listen 127.0.0.1:0`; each of those can be changed, and arguments added. The shim is
//! ready when its log says `mtls-gate-shim listening addr=…` (the port it bound). A shim that
//! exits instead is [`StartError::Exited`], with its exit status and its log.
//!
//! A running [`Shim`] is killed on drop (its log is printed if the test is failing);
//! [`Shim::terminate`] stops it gracefully (SIGTERM) and returns its exit status,
//! [`Shim::kill`] simulates a crash (SIGKILL), [`Shim::restart`] starts it again on the same
//! store, secrets, arguments and address.
//!
//! The typed admin client is the shim's own (`mtls_gate_shim::client::AdminClient`, used
//! through `mtls_gate_e2e::admin` in e2e and the bench). [`Shim::admin`] and
//! [`Shim::request`] send raw HTTP/1.0, for the tests that send malformed or unauthenticated
//! requests on purpose.

use crate::paths;
use crate::process::Process;
use crate::wait;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::Duration;
use tempfile::TempDir;

/// The admin secret (`X-Tyk-Authorization`).
pub const SECRET_ENV: &str = "MTLS_GATE_SECRET";
/// The change feed's bearer token.
pub const FEED_TOKEN_ENV: &str = "MTLS_GATE_FEED_TOKEN";
/// What private keys are sealed with (the admin secret when unset).
pub const ENCODING_SECRET_ENV: &str = "MTLS_GATE_ENCODING_SECRET";
/// The secrets a shim reads from its environment: never inherited by a launched shim.
const SECRET_VARS: [&str; 3] = [SECRET_ENV, FEED_TOKEN_ENV, ENCODING_SECRET_ENV];

/// The log line a shim writes once its main port listens (`serve.rs`, `log_listening`).
const LISTENING: &str = "mtls-gate-shim listening";
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long [`Shim::terminate`] waits for the exit after SIGTERM.
const TERMINATE_TIMEOUT: Duration = Duration::from_secs(20);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// The shim binary at `bin` for a CLI call (`certs`, `keys`, `render`, `--help`): none of the
/// shim's secrets inherited from the test's environment, `RUST_LOG` from `SHIM_LOG` or `info`.
/// The launcher builds its `serve` command on this too.
pub fn command(bin: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(bin);
    for var in SECRET_VARS {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", log_filter());
    cmd
}

fn log_filter() -> String {
    std::env::var("SHIM_LOG").unwrap_or_else(|_| "info".to_string())
}

/// How to launch a shim: [`Shim::builder`], then [`ShimBuilder::start`].
#[derive(Debug, Clone)]
pub struct ShimBuilder {
    bin: PathBuf,
    /// A file path or a `redis://` URL; `None` for `store.db` in the shim's temporary directory.
    store: Option<OsString>,
    listen: SocketAddr,
    args: Vec<OsString>,
    /// Set (`Some`) or removed (`None`), applied after [`command`]'s defaults.
    env: BTreeMap<String, Option<OsString>>,
    start_timeout: Duration,
}

impl ShimBuilder {
    /// The store: a SQLite file path or a `redis://` URL (default: a fresh SQLite file in the
    /// shim's temporary directory, removed with it).
    pub fn store(mut self, path_or_url: impl AsRef<OsStr>) -> Self {
        self.store = Some(path_or_url.as_ref().to_owned());
        self
    }

    /// `--listen` (default `127.0.0.1:0`: a port the shim picks, read back from its log).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// One more argument after `serve --listen … --store …`.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// More arguments after `serve --listen … --store …`.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// `--allow-master-keys` (keys with empty `access_rights` accepted).
    pub fn allow_master_keys(self) -> Self {
        self.arg("--allow-master-keys")
    }

    /// The admin secret, `MTLS_GATE_SECRET` (default: random).
    pub fn admin_secret(self, secret: &str) -> Self {
        self.env(SECRET_ENV, secret)
    }

    /// No `MTLS_GATE_SECRET` (with `--secret-file`, or to see the shim refuse to start).
    pub fn no_admin_secret(self) -> Self {
        self.env_remove(SECRET_ENV)
    }

    /// The feed token, `MTLS_GATE_FEED_TOKEN` (default: random).
    pub fn feed_token(self, token: &str) -> Self {
        self.env(FEED_TOKEN_ENV, token)
    }

    /// No `MTLS_GATE_FEED_TOKEN`: the feed is refused to everyone.
    pub fn no_feed_token(self) -> Self {
        self.env_remove(FEED_TOKEN_ENV)
    }

    /// `MTLS_GATE_ENCODING_SECRET` (default: unset, so the admin secret seals private keys).
    pub fn encoding_secret(self, secret: &str) -> Self {
        self.env(ENCODING_SECRET_ENV, secret)
    }

    /// Any other variable of the shim's environment (`RUST_LOG`, …).
    pub fn env(mut self, name: &str, value: impl AsRef<OsStr>) -> Self {
        self.env
            .insert(name.to_string(), Some(value.as_ref().to_owned()));
        self
    }

    /// A variable the shim must not see.
    pub fn env_remove(mut self, name: &str) -> Self {
        self.env.insert(name.to_string(), None);
        self
    }

    /// How long the shim gets to listen (default 20 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Starts `serve` and waits until it listens. An exit before that is
    /// [`StartError::Exited`] with the status and the log.
    pub fn start(self) -> Result<Shim, StartError> {
        let dir = tempfile::Builder::new()
            .prefix("mtls-gate-shim-")
            .tempdir()
            .context("creating the shim's temporary directory")?;
        let mut shim = Shim {
            process: None,
            addr: self.listen,
            scheme: String::new(),
            feed_addr: None,
            launches: 0,
            config: self,
            dir,
        };
        shim.launch()?;
        Ok(shim)
    }

    fn var(&self, name: &str) -> Option<&OsStr> {
        self.env.get(name).and_then(|v| v.as_deref())
    }
}

/// Why a shim did not start.
#[derive(Debug)]
pub enum StartError {
    /// It exited before listening: its status and everything it logged.
    Exited { status: ExitStatus, log: String },
    /// It could not be spawned, or did not listen in time (then it was killed).
    Failed(anyhow::Error),
}

impl StartError {
    /// The exit status and the log, when the shim exited.
    pub fn exited(self) -> Option<(ExitStatus, String)> {
        match self {
            StartError::Exited { status, log } => Some((status, log)),
            StartError::Failed(_) => None,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Exited { status, log } => {
                write!(
                    f,
                    "mtls-gate-shim exited at start-up ({status}); log:\n{log}"
                )
            }
            StartError::Failed(e) => write!(f, "mtls-gate-shim did not start: {e:#}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<anyhow::Error> for StartError {
    fn from(e: anyhow::Error) -> Self {
        StartError::Failed(e)
    }
}

pub struct Shim {
    /// `None` only between a stop and a restart that failed.
    process: Option<Process>,
    addr: SocketAddr,
    /// `http`, or `https` when the admin API is on TLS.
    scheme: String,
    feed_addr: Option<SocketAddr>,
    launches: usize,
    config: ShimBuilder,
    /// The logs and the default store; dropped after the process.
    dir: TempDir,
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
    /// A launcher of the shim binary at `bin`: fresh store, random secrets, a port it picks.
    pub fn builder(bin: impl Into<PathBuf>) -> ShimBuilder {
        let mut env = BTreeMap::new();
        env.insert(SECRET_ENV.to_string(), Some(random_hex().into()));
        env.insert(FEED_TOKEN_ENV.to_string(), Some(random_hex().into()));
        ShimBuilder {
            bin: bin.into(),
            store: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            args: Vec::new(),
            env,
            start_timeout: START_TIMEOUT,
        }
    }

    /// The release shim ([`paths::shim_bin`]) with a fresh store and fresh random secrets.
    pub fn start() -> Result<Self> {
        Ok(Self::builder(paths::shim_bin()?).start()?)
    }

    /// [`Shim::start`] with `--allow-master-keys` (keys with empty `access_rights` accepted).
    pub fn start_allowing_master_keys() -> Result<Self> {
        Ok(Self::builder(paths::shim_bin()?)
            .allow_master_keys()
            .start()?)
    }

    /// Spawns the configured command and waits for the listening line.
    fn launch(&mut self) -> Result<(), StartError> {
        self.launches += 1;
        let log_path = self.dir.path().join(match self.launches {
            1 => "shim.log".to_string(),
            n => format!("shim-{n}.log"),
        });
        let store = self.store();
        let mut cmd = command(&self.config.bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--store")
            .arg(store)
            .args(&self.config.args);
        for (name, value) in &self.config.env {
            if let Some(secret) = value.as_ref().and_then(|v| v.to_str())
                && SECRET_VARS.contains(&name.as_str())
            {
                crate::log_audit::register(name, secret);
            }
            match value {
                Some(value) => cmd.env(name, value),
                None => cmd.env_remove(name),
            };
        }
        let mut process = Process::spawn("mtls-gate-shim", cmd, &log_path)?;
        let what = format!("`{LISTENING}` in {}", log_path.display());
        let listening = wait::until(&what, self.config.start_timeout, || {
            let log = process.log();
            if let Some(found) = listening(&log) {
                return Ok(Some(Ok(found)));
            }
            match process.try_status()? {
                // Everything the shim wrote is in the file once it has exited.
                Some(status) => Ok(Some(Err(StartError::Exited {
                    status,
                    log: process.log(),
                }))),
                None => Ok(None),
            }
        });
        let (addr, scheme, feed_addr) = match listening {
            Ok(Ok(found)) => found,
            Ok(Err(exited)) => return Err(exited),
            Err(timeout) => {
                process.kill();
                return Err(StartError::Failed(
                    timeout.context(format!("log so far:\n{}", process.log())),
                ));
            }
        };
        self.addr = addr;
        self.scheme = scheme;
        self.feed_addr = feed_addr;
        self.process = Some(process);
        Ok(())
    }

    /// Stops the shim if it runs (SIGTERM, SIGKILL after a grace period) and starts it again
    /// with the same binary, store, secrets and arguments, on the same address (so an Envoy
    /// cluster pointing at it stays valid).
    pub fn restart(&mut self) -> Result<(), StartError> {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
        self.launch()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT` (`https://` when the admin API is on TLS).
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// [`Shim::base_url`] + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// The plain-HTTP feed-only port, when started with `--feed-listen`.
    pub fn feed_addr(&self) -> Option<SocketAddr> {
        self.feed_addr
    }

    /// The admin secret (`X-Tyk-Authorization`) given as `MTLS_GATE_SECRET`; "" when none was.
    pub fn secret(&self) -> &str {
        self.config
            .var(SECRET_ENV)
            .and_then(OsStr::to_str)
            .unwrap_or_default()
    }

    /// The feed token, for the gate's `store.token`; "" when none was given.
    pub fn feed_token(&self) -> &str {
        self.config
            .var(FEED_TOKEN_ENV)
            .and_then(OsStr::to_str)
            .unwrap_or_default()
    }

    /// The store as passed to `--store`: a file path or a `redis://` URL.
    pub fn store(&self) -> PathBuf {
        match &self.config.store {
            Some(store) => PathBuf::from(store),
            None => self.dir.path().join("store.db"),
        }
    }

    /// [`Shim::store`], for the SQLite file the default store is.
    pub fn store_path(&self) -> PathBuf {
        self.store()
    }

    /// The gate's `store` block for this shim (cluster `mtls-gate-shim` of the template).
    pub fn store_json(&self, sync_interval_ms: u64, max_stale_s: u64) -> String {
        serde_json::json!({
            "cluster": "mtls-gate-shim",
            "authority": "mtls-gate-shim",
            "token": self.feed_token(),
            "sync_interval_ms": sync_interval_ms,
            "max_stale_s": max_stale_s,
        })
        .to_string()
    }

    /// An admin call with `X-Tyk-Authorization` (raw HTTP/1.0, for malformed requests; the
    /// typed client is `mtls_gate_shim::client::AdminClient`).
    pub fn admin(&self, method: &str, path: &str, body: Option<&str>) -> Result<ShimResponse> {
        raw_request(
            self.addr,
            method,
            path,
            &[("X-Tyk-Authorization", self.secret())],
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

    /// Stops the shim at once with SIGKILL (no graceful shutdown): a crash, or an outage as
    /// the filter sees it. Returns once the process is gone.
    pub fn kill(&mut self) {
        if let Some(process) = &mut self.process {
            process.kill();
        }
    }

    /// SIGTERM, then the exit status once it exited; an error (and SIGKILL) if it is still
    /// running after 20 s.
    pub fn terminate(&mut self) -> Result<ExitStatus> {
        let process = self.process.as_mut().context("the shim is not running")?;
        process.terminate(TERMINATE_TIMEOUT)
    }

    /// False once the shim has exited (or was stopped).
    pub fn is_running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(|p| matches!(p.try_status(), Ok(None)))
    }

    /// Everything the current run of the shim logged.
    pub fn log(&self) -> String {
        self.process.as_ref().map(Process::log).unwrap_or_default()
    }

    /// The process ID of the current run (for its RSS, [`crate::process::rss_kib`]); `None`
    /// between a stop and a restart that failed.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Process::pid)
    }
}

/// The main address, its scheme and the feed-only address, once the log has the listening line.
fn listening(log: &str) -> Option<(SocketAddr, String, Option<SocketAddr>)> {
    let line = log.lines().find(|l| l.contains(LISTENING))?;
    let addr = field(line, "addr")?.parse().ok()?;
    let scheme = field(line, "scheme").unwrap_or("http").to_string();
    let feed_addr = log
        .lines()
        .find_map(|l| field(l, "feed_addr"))
        .and_then(|a| a.parse().ok());
    Some((addr, scheme, feed_addr))
}

/// The value of `name=value` in a tracing line (quotes removed).
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
        .map(|v| v.trim_matches('"'))
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

/// 32 hex digits, different in every call (test secrets: unguessable enough, not a key).
fn random_hex() -> String {
    let state = std::collections::hash_map::RandomState::new();
    let word = |salt: u64| {
        let mut h = state.build_hasher();
        h.write_u64(salt);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.finish()
    };
    format!("{:016x}{:016x}", word(1), word(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// A stand-in for the shim: a shell script at `dir/name` running `body`.
    fn fake_shim(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn parses_the_listening_line_with_scheme_and_feed_address() {
        let log = "2026 INFO x: change feed (only) on plain HTTP feed_addr=127.0.0.1:7001\n\
                   2026 WARN x: listening beyond loopback addr=0.0.0.0:0\n\
                   2026 INFO mtls_gate_shim::serve: mtls-gate-shim listening addr=127.0.0.1:7000 scheme=\"https\"\n";
        let (addr, scheme, feed) = listening(log).unwrap();
        assert_eq!(addr, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(scheme, "https");
        assert_eq!(feed, Some("127.0.0.1:7001".parse().unwrap()));
        let plain = listening("INFO mtls-gate-shim listening addr=127.0.0.1:9\n").unwrap();
        assert_eq!((plain.1.as_str(), plain.2), ("http", None));
        assert!(listening("INFO store open store=/x version=1\n").is_none());
    }

    #[test]
    fn an_exit_before_listening_is_the_status_and_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_shim(
            dir.path(),
            "refuses",
            "echo \"refusing: $MTLS_GATE_SECRET\" >&2; exit 3",
        );
        let err = Shim::builder(bin)
            .admin_secret("s3cr3t")
            .start()
            .err()
            .unwrap();
        let (status, log) = err.exited().unwrap();
        assert_eq!(status.code(), Some(3));
        assert!(log.contains("refusing: s3cr3t"), "{log}");
    }

    #[test]
    fn arguments_environment_and_restart_reach_the_binary() {
        let dir = tempfile::tempdir().unwrap();
        // Prints its arguments and the variables (of the admin secret only its length and
        // first 8 characters: the whole value in a log is what the log audit flags), then
        // "listens" on the --listen address.
        let bin = fake_shim(
            dir.path(),
            "fake",
            "echo \"args: $*\"; echo \"secret=$(printf %s \"${MTLS_GATE_SECRET-unset}\" | cut -c1-8)/${#MTLS_GATE_SECRET} token=${MTLS_GATE_FEED_TOKEN-unset} enc=${MTLS_GATE_ENCODING_SECRET-unset} extra=$EXTRA\"\n\
             echo \"INFO mtls-gate-shim listening addr=${3%:*}:4321\"; exec sleep 600",
        );
        let mut shim = Shim::builder(&bin)
            .store("redis://127.0.0.1:1/0")
            .no_feed_token()
            .encoding_secret("enc")
            .env("EXTRA", "x")
            .allow_master_keys()
            .start()
            .unwrap();
        let log = shim.log();
        assert!(
            log.contains(
                "args: serve --listen 127.0.0.1:0 --store redis://127.0.0.1:1/0 --allow-master-keys"
            ),
            "{log}"
        );
        assert!(
            log.contains(&format!(
                "secret={}/32 token=unset enc=enc extra=x",
                shim.secret().get(..8).unwrap_or_default()
            )),
            "{log}"
        );
        assert_eq!(shim.secret().len(), 32);
        assert_eq!(shim.base_url(), "http://127.0.0.1:4321");
        assert!(shim.is_running());
        // Restarted on the address it bound, with everything else the same.
        shim.restart().unwrap();
        assert!(
            shim.log()
                .contains("--listen 127.0.0.1:4321 --store redis://"),
            "{}",
            shim.log()
        );
        assert!(shim.log().contains("enc=enc extra=x"), "{}", shim.log());
        // `sleep` dies of SIGTERM: a status, not a timeout.
        assert!(!shim.terminate().unwrap().success());
        assert!(!shim.is_running());
    }

    #[test]
    fn random_secrets_differ() {
        let a = Shim::builder("x");
        let b = Shim::builder("x");
        assert_ne!(a.var(SECRET_ENV), b.var(SECRET_ENV));
        assert_ne!(a.var(SECRET_ENV), a.var(FEED_TOKEN_ENV));
    }
}
