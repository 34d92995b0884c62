#![allow(dead_code)]

use mtls_gate_shim::api::AppState;
use mtls_gate_shim::client::AdminClient;
use mtls_gate_shim::secret::Secret;
use mtls_gate_shim::serve;
use mtls_gate_shim::sessions::KeyRules;
use mtls_gate_shim::store::Store;
use mtls_gate_shim::store::sqlite::SqliteBackend;
use mtls_gate_testkit::shim::{Shim, ShimBuilder, StartError};
use reqwest::Method;
use serde_json::Value;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const ADMIN_SECRET: &str = "admin-secret-for-tests";
pub const FEED_TOKEN: &str = "feed-token-for-tests";
pub const ADMIN_HEADER: &str = "X-Tyk-Authorization";
pub const FORBIDDEN_BODY: &str = r#"{"status":"error","message":"Attempted administrative access with invalid or missing key!"}"#;

/// The environment the CLI needs to reach a [`shim`]: the admin secret and the feed token.
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

/// The real binary under test, for [`Shim::builder`] and the CLI.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_mtls-gate-shim")
}

/// `serve` of the real binary (testkit's launcher) with the tests' admin secret and feed
/// token; a fresh SQLite store unless [`ShimBuilder::store`] says otherwise.
pub fn shim() -> ShimBuilder {
    Shim::builder(binary())
        .admin_secret(ADMIN_SECRET)
        .feed_token(FEED_TOKEN)
}

/// [`shim`] on `store` (a file path or a `redis://` URL); panics with its log if it exits
/// instead of listening.
pub fn start_shim(store: impl AsRef<OsStr>) -> Shim {
    started(shim().store(store))
}

/// Starts `builder`; panics with the shim's exit status and log if it does not start.
pub fn started(builder: ShimBuilder) -> Shim {
    builder.start().unwrap_or_else(|e| panic!("{e}"))
}

/// Starts `builder`, which must fail: the shim's exit status and log.
pub fn refused(builder: ShimBuilder) -> (ExitStatus, String) {
    match builder.start() {
        Ok(shim) => panic!("the shim started on {}: {}", shim.addr(), shim.log()),
        Err(StartError::Exited { status, log }) => (status, log),
        Err(other) => panic!("{other}"),
    }
}

/// The binary for a CLI call (`certs`, `keys`, `render`): no secret inherited, `env` set.
pub fn shim_command(env: &[(&str, &str)]) -> Command {
    let mut command = mtls_gate_testkit::shim::command(binary());
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// An admin call with the right secret to a running shim binary.
pub async fn admin(shim: &Shim, method: Method, path: &str, body: Option<&str>) -> Answer {
    send(
        method,
        &shim.url(path),
        &[(ADMIN_HEADER, ADMIN_SECRET)],
        body.map(|b| b.as_bytes().to_vec()),
    )
    .await
}
