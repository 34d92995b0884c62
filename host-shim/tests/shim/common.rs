#![allow(dead_code)]

use mtls_gate_shim::api::AppState;
use mtls_gate_shim::client::AdminClient;
use mtls_gate_shim::secret::Secret;
use mtls_gate_shim::serve;
use mtls_gate_shim::sessions::KeyRules;
use mtls_gate_shim::store::Store;
use mtls_gate_shim::store::sqlite::SqliteBackend;
use reqwest::Method;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const ADMIN_SECRET: &str = "admin-secret-for-tests";
pub const FEED_TOKEN: &str = "feed-token-for-tests";
pub const ADMIN_HEADER: &str = "X-Tyk-Authorization";
pub const FORBIDDEN_BODY: &str = r#"{"status":"error","message":"Attempted administrative access with invalid or missing key!"}"#;

/// The environment a real shim binary needs: the admin secret and the feed token.
pub const SHIM_ENV: [(&str, &str); 2] = [
    ("MTLS_GATE_SECRET", ADMIN_SECRET),
    ("MTLS_GATE_FEED_TOKEN", FEED_TOKEN),
];

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Asserts a Tyk error: status, JSON content type, exact body.
    #[track_caller]
    pub fn assert_error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert!(
            self.content_type.starts_with("application/json"),
            "{self:?}"
        );
        let expected = serde_json::json!({"status": "error", "message": message});
        assert_eq!(self.json(), expected);
        assert!(
            self.text.starts_with(r#"{"status":"error","message":"#),
            "{}",
            self.text
        );
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Answer {
    let mut request = http().request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("request to {url}: {e}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.unwrap_or_default();
    Answer {
        status,
        content_type,
        text,
    }
}

/// The API router on a real loopback socket, in this process, over a fresh store.
pub struct TestShim {
    pub base: String,
    pub store_path: PathBuf,
    _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestShim {
    pub async fn start() -> Self {
        Self::start_with(
            Some(FEED_TOKEN),
            mtls_gate_shim::store::DEFAULT_RETAINED_VERSIONS,
        )
        .await
    }

    /// A shim started with `--allow-master-keys`.
    pub async fn start_allowing_master_keys() -> Self {
        Self::launch(
            Some(FEED_TOKEN),
            mtls_gate_shim::store::DEFAULT_RETAINED_VERSIONS,
            KeyRules {
                allow_master_keys: true,
            },
        )
        .await
    }

    pub async fn start_with(feed_token: Option<&str>, retained_versions: u64) -> Self {
        Self::launch(feed_token, retained_versions, KeyRules::default()).await
    }

    async fn launch(feed_token: Option<&str>, retained_versions: u64, rules: KeyRules) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let store_path = dir.path().join("shim.db");
        let secret = |v: &str| Secret::new(v, "test").unwrap_or_else(|e| panic!("{e}"));
        let store = SqliteBackend::open(&store_path)
            .and_then(|backend| {
                Store::open_with_retention(backend, &secret("encoding"), retained_versions)
            })
            .unwrap_or_else(|e| panic!("store: {e}"));
        let state = AppState::new(
            Arc::new(store),
            secret(ADMIN_SECRET),
            feed_token.map(secret),
        )
        .unwrap_or_else(|e| panic!("state: {e}"))
        .with_key_rules(rules);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve::serve(listener, Arc::new(state), async {
            let _ = stopped.await;
        }));
        TestShim {
            base: format!("http://{addr}"),
            store_path,
            _dir: dir,
            shutdown: Some(shutdown),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The typed admin client, with the admin secret.
    pub fn client(&self) -> AdminClient {
        let base = self.base.parse().unwrap_or_else(|e| panic!("{e}"));
        let secret = Secret::new(ADMIN_SECRET, "admin secret").unwrap_or_else(|e| panic!("{e}"));
        AdminClient::new(base, secret).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A request with the admin secret.
    pub async fn admin(&self, method: Method, path: &str, body: Option<&str>) -> Answer {
        send(
            method,
            &self.url(path),
            &[(ADMIN_HEADER, ADMIN_SECRET)],
            body.map(|b| b.as_bytes().to_vec()),
        )
        .await
    }

    /// A request with the feed token.
    pub async fn feed(&self, path: &str) -> Answer {
        let bearer = format!("Bearer {FEED_TOKEN}");
        send(
            Method::GET,
            &self.url(path),
            &[("Authorization", &bearer)],
            None,
        )
        .await
    }

    /// Uploads PEM; asserts 200; returns the ID.
    pub async fn add_cert(&self, pem: &str, org: &str) -> String {
        let answer = self
            .admin(Method::POST, &format!("/tyk/certs?org_id={org}"), Some(pem))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()["id"].as_str().unwrap_or_default().to_owned()
    }

    /// Creates a key on `certificate` from `session` (with access to `api1` unless the body
    /// says otherwise); asserts 200; returns the key.
    pub async fn create_key(&self, certificate: &str, mut session: Value) -> String {
        session["certificate"] = Value::from(certificate);
        if session.get("access_rights").is_none() {
            session["access_rights"] = serde_json::json!({"api1": {"api_id": "api1"}});
        }
        let answer = self
            .admin(Method::POST, "/tyk/keys/create", Some(&session.to_string()))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()["key"].as_str().unwrap_or_default().to_owned()
    }

    pub async fn version(&self) -> u64 {
        self.feed("/mtls-gate/v1/changes?since=0").await.json()["version"]
            .as_u64()
            .unwrap_or_default()
    }
}

impl Drop for TestShim {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The real `mtls-gate-shim serve` binary.
pub struct ShimProcess {
    pub child: Child,
    pub base: String,
    pub stderr: Arc<Mutex<String>>,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_mtls-gate-shim")
}

/// Environment for the binary: secrets given, nothing inherited that could interfere.
pub fn shim_command(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary());
    command
        .env_remove("MTLS_GATE_SECRET")
        .env_remove("MTLS_GATE_FEED_TOKEN")
        .env_remove("MTLS_GATE_ENCODING_SECRET")
        .env("RUST_LOG", "info");
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

impl ShimProcess {
    /// Starts `serve` on an ephemeral loopback port; waits until it listens.
    pub fn start(store: &Path, env: &[(&str, &str)]) -> Result<Self, (ExitStatus, String)> {
        Self::start_with_args(store, env, &[])
    }

    pub fn start_with_args(
        store: &Path,
        env: &[(&str, &str)],
        args: &[&std::ffi::OsStr],
    ) -> Result<Self, (ExitStatus, String)> {
        let mut child = shim_command(env)
            .args(["serve", "--listen", "127.0.0.1:0", "--store"])
            .arg(store)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<String>();
        let pipe = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let log = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if line.contains("listening")
                    && let Some(at) = line.find("addr=")
                {
                    let addr = line[at + 5..].split_whitespace().next().unwrap_or_default();
                    let _ = addr_tx.send(addr.to_owned());
                }
                if let Ok(mut log) = log.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(addr) = addr_rx.recv_timeout(Duration::from_millis(50)) {
                return Ok(ShimProcess {
                    child,
                    base: format!("http://{addr}"),
                    stderr,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100)); // let the reader drain
                let log = stderr.lock().map(|l| l.clone()).unwrap_or_default();
                return Err((status, log));
            }
            assert!(Instant::now() < deadline, "shim did not start");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "shim ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        self.stderr.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for ShimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An admin call with the right secret to a running shim binary.
pub async fn admin(shim: &ShimProcess, method: Method, path: &str, body: Option<&str>) -> Answer {
    send(
        method,
        &shim.url(path),
        &[(ADMIN_HEADER, ADMIN_SECRET)],
        body.map(|b| b.as_bytes().to_vec()),
    )
    .await
}

/// Starts the shim binary on `store` (a file path or a `redis://` URL); panics with its log
/// if it exits instead.
pub fn start_shim(store: &Path, env: &[(&str, &str)]) -> ShimProcess {
    ShimProcess::start(store, env)
        .unwrap_or_else(|(status, log)| panic!("shim exited {status}: {log}"))
}
