//! `mtls-gate-shim serve`: secrets, store, listener, graceful shutdown.

use crate::api::{self, AppState};
use crate::cli::ServeArgs;
use crate::control_tls::listener::TlsListener;
use crate::control_tls::{ControlTls, Peer, TlsPlan, TlsSetupError};
use crate::dashboard::OrgKeys;
use crate::dashboard::org_keys::OrgKeysError;
use crate::secret::{Secret, SecretError};
use crate::sessions::KeyRules;
use crate::store::open::StoreSpec;
use crate::store::{Store, StoreError};
use axum::extract::Request;
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use axum::{Router, ServiceExt};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

pub const ENV_SECRET: &str = "MTLS_GATE_SECRET";
pub const ENV_FEED_TOKEN: &str = "MTLS_GATE_FEED_TOKEN";
pub const ENV_ENCODING_SECRET: &str = "MTLS_GATE_ENCODING_SECRET";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("refusing to start: {0} (set {ENV_SECRET} or pass --secret-file)")]
    Secret(SecretError),
    #[error("refusing to start: {ENV_FEED_TOKEN} must differ from the admin secret")]
    FeedTokenIsAdminSecret,
    #[error("refusing to start: {0}")]
    OtherSecret(SecretError),
    #[error("refusing to start: {0} is set and {1} is given too; use one")]
    SecretTwice(&'static str, &'static str),
    #[error("cannot read {path}: {source}")]
    SecretFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("refusing to start: {0}")]
    Tls(#[from] TlsSetupError),
    #[error("refusing to start: {0}")]
    Gate(#[from] crate::live::GateError),
    #[error("refusing to start: {0}")]
    OrgKeys(#[from] OrgKeysError),
    #[error("refusing to start: {0}")]
    Audit(#[from] crate::audit::AuditError),
    #[error(
        "refusing to start: a key in --org-keys is the {0}: each credential must open its own routes only"
    )]
    OrgKeyIsSecret(&'static str),
}

/// The resolved secrets.
pub struct Secrets {
    pub admin: Secret,
    pub feed_token: Option<Secret>,
    pub encoding: EncodingSecret,
}

/// The key-encryption secret, and whether it is the admin secret standing in for an unset
/// `MTLS_GATE_ENCODING_SECRET` (SPEC §2), so a refusal can name what was really used.
#[derive(Clone)]
pub struct EncodingSecret {
    pub secret: Secret,
    pub is_admin_fallback: bool,
}

/// The key-encryption secret: `--encoding-secret-file` (or `MTLS_GATE_ENCODING_SECRET_FILE`),
/// else `MTLS_GATE_ENCODING_SECRET`, else the admin secret.
pub fn encoding_secret(admin: &Secret, file: Option<&Path>) -> Result<EncodingSecret, StartError> {
    let given = env_or_file(
        ENV_ENCODING_SECRET,
        "--encoding-secret-file",
        file,
        "the encoding secret",
    )?;
    Ok(match given {
        Some(secret) => EncodingSecret {
            secret,
            is_admin_fallback: false,
        },
        None => EncodingSecret {
            secret: admin.clone(),
            is_admin_fallback: true,
        },
    })
}

/// The feed token: `--feed-token-file` (or `MTLS_GATE_FEED_TOKEN_FILE`), else
/// `MTLS_GATE_FEED_TOKEN`; `None` when neither is set.
pub fn feed_token(file: Option<&Path>) -> Result<Option<Secret>, StartError> {
    env_or_file(ENV_FEED_TOKEN, "--feed-token-file", file, "the feed token")
}

/// A secret from a file (so it need not sit in the environment, where `/proc/<pid>/environ`
/// and child processes see it) or from the variable `name`. Both given is refused rather than
/// guessed; an empty variable counts as unset, an empty file is an error.
fn env_or_file(
    name: &'static str,
    flag: &'static str,
    file: Option<&Path>,
    what: &'static str,
) -> Result<Option<Secret>, StartError> {
    let from_env = std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    match (file, from_env) {
        (Some(_), Some(_)) => Err(StartError::SecretTwice(name, flag)),
        (Some(path), None) => {
            let contents =
                std::fs::read_to_string(path).map_err(|source| StartError::SecretFile {
                    path: path.to_path_buf(),
                    source,
                })?;
            Secret::from_file_contents(contents, what)
                .map(Some)
                .map_err(StartError::OtherSecret)
        }
        (None, Some(value)) => Secret::new(value, what)
            .map(Some)
            .map_err(StartError::OtherSecret),
        (None, None) => Ok(None),
    }
}

/// Opens the store `spec` names; a wrong secret is explained in terms of what the user set.
pub fn open_store(spec: &StoreSpec, encoding: &EncodingSecret) -> Result<Store, StoreError> {
    spec.open(&encoding.secret).map_err(|error| match error {
        StoreError::WrongEncodingSecret { store } if encoding.is_admin_fallback => {
            StoreError::WrongFallbackEncodingSecret { store }
        }
        other => other,
    })
}

/// Reads the admin secret: `--secret-file` if given, else `MTLS_GATE_SECRET`.
pub fn admin_secret(secret_file: Option<&Path>) -> Result<Secret, StartError> {
    const WHAT: &str = "the admin secret";
    match secret_file {
        Some(path) => {
            let contents =
                std::fs::read_to_string(path).map_err(|source| StartError::SecretFile {
                    path: path.to_path_buf(),
                    source,
                })?;
            Secret::from_file_contents(contents, WHAT).map_err(StartError::Secret)
        }
        None => Secret::new(std::env::var(ENV_SECRET).unwrap_or_default(), WHAT)
            .map_err(StartError::Secret),
    }
}

fn secrets(args: &ServeArgs) -> Result<Secrets, StartError> {
    let admin = admin_secret(args.secret_file.as_deref())?;
    let feed_token = feed_token(args.feed_token_file.as_deref())?;
    if feed_token
        .as_ref()
        .is_some_and(|token| admin.matches(token.expose().as_bytes()))
    {
        return Err(StartError::FeedTokenIsAdminSecret);
    }
    let encoding = encoding_secret(&admin, args.encoding_secret_file.as_deref())?;
    Ok(Secrets {
        admin,
        feed_token,
        encoding,
    })
}

pub async fn run(args: ServeArgs) -> Result<(), StartError> {
    let secrets = secrets(&args)?;
    let tls_plan = TlsPlan::from_flags(
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
        args.control_api_certs.as_deref(),
    )?;
    if secrets.feed_token.is_none() {
        tracing::warn!("{ENV_FEED_TOKEN} is not set: the change feed refuses every request");
    }
    let spec = StoreSpec::parse(&args.store).map_err(StartError::Store)?;
    let store: Arc<Store> =
        Arc::from(open_store(&spec, &secrets.encoding).map_err(StartError::Store)?);
    let version = store.version().map_err(StartError::Store)?;
    tracing::info!(store = %spec.describe(), version, "store open");
    let tls = match &tls_plan {
        Some(plan) => Some(Arc::new(ControlTls::load(plan, Arc::clone(&store))?)),
        None => None,
    };
    let listener = bind(args.listen).await?;
    let feed_listener = match args.feed_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    if !args.listen.ip().is_loopback() {
        tracing::warn!(addr = %args.listen, "listening beyond loopback: /metrics and /hello are unauthenticated");
    }
    if args.allow_master_keys {
        tracing::warn!(
            "--allow-master-keys: keys without access rights are accepted and open every API"
        );
    }
    let org_keys = match &args.org_keys {
        Some(path) => Some(org_keys(path, &secrets)?),
        None => None,
    };
    let mut state =
        AppState::new(store, secrets.admin, secrets.feed_token)?.with_key_rules(KeyRules {
            allow_master_keys: args.allow_master_keys,
        });
    if let Some(org_keys) = org_keys {
        state = state.with_org_keys(org_keys);
    }
    if let Some(path) = &args.audit_log {
        let log = crate::audit::AuditLog::open(path)?;
        tracing::info!(path = %path.display(), "audit trail: one line per admin write");
        state = state.with_audit_log(log);
    }
    if args.console {
        tracing::info!(path = crate::console::PATH, "certificate console on");
        state = state.with_console();
    }
    let state = Arc::new(state);
    crate::live::spawn(&state, args.gate.as_deref())?; // SPEC §8: Envoy follows the store
    crate::expiry::spawn(&state); // SPEC §10: after the gate is recorded
    let stop = stop_signal(shutdown_signal());
    let feed = match feed_listener {
        Some(listener) => {
            if let Ok(addr) = listener.local_addr() {
                // Not "listening": launchers look for that word to find the main port.
                tracing::info!(feed_addr = %addr, "change feed (only) on plain HTTP, for the filters' Envoy cluster");
            }
            Some(serve_app(
                listener,
                api::feed_router(Arc::clone(&state)),
                stop.clone(),
            ))
        }
        None => None,
    };
    let app = api::router(state);
    let main = async {
        match tls {
            None => {
                log_listening(&listener, "http");
                serve_app(listener, app, stop).await
            }
            Some(tls) => {
                announce_tls(&tls, args.feed_listen.is_some());
                let listener =
                    TlsListener::new(listener, tls).map_err(|source| StartError::Listen {
                        addr: args.listen,
                        source,
                    })?;
                log_listening(&listener, "https");
                serve_app(listener, app, stop).await
            }
        }
    };
    match feed {
        Some(feed) => {
            tokio::try_join!(main, feed)?;
        }
        None => main.await?,
    }
    tracing::info!("mtls-gate-shim stopped");
    Ok(())
}

/// `--org-keys FILE` (SPEC §2b): the Dashboard API's keys, none of them a secret that opens
/// other routes.
fn org_keys(path: &Path, secrets: &Secrets) -> Result<OrgKeys, StartError> {
    let org_keys = OrgKeys::load(path)?;
    if org_keys.contains(&secrets.admin) {
        return Err(StartError::OrgKeyIsSecret("admin secret"));
    }
    if secrets
        .feed_token
        .as_ref()
        .is_some_and(|token| org_keys.contains(token))
    {
        return Err(StartError::OrgKeyIsSecret("feed token"));
    }
    tracing::info!(keys = org_keys.len(), orgs = ?org_keys.orgs(), "Dashboard API on /api");
    Ok(org_keys)
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })
}

/// What the TLS port asks of clients, and where the filters find the feed.
fn announce_tls(tls: &ControlTls, feed_listen: bool) {
    if !tls.requires_client_certs() {
        tracing::warn!(
            "admin API on TLS without client certificates (no --control-api-certs): anyone who reaches the port may try the admin secret"
        );
        return;
    }
    for reference in tls.describe_refs() {
        tracing::info!(reference, "control API client certificate");
    }
    if !feed_listen {
        tracing::warn!(
            "the change feed is served only on the TLS port, which requires a client certificate: the filters' Envoy cluster must present one the references allow, or pass --feed-listen ADDR (plain HTTP, feed routes only)"
        );
    }
}

fn log_listening<L: Listener<Addr = SocketAddr>>(listener: &L, scheme: &str) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, scheme, "mtls-gate-shim listening");
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    log_listening(&listener, "http");
    serve_app(listener, api::router(state), stop_signal(shutdown)).await?;
    tracing::info!("mtls-gate-shim stopped");
    Ok(())
}

/// Serves `app` on `listener` until `stop` turns true, then drains in-flight requests.
async fn serve_app<L>(
    listener: L,
    app: Router,
    mut stop: watch::Receiver<bool>,
) -> Result<(), StartError>
where
    L: Listener<Addr = SocketAddr>,
    for<'a> Peer: Connected<IncomingStream<'a, L>>,
{
    // SPEC §2: trailing slashes are ignored; trimmed before routing.
    let app = NormalizePathLayer::trim_trailing_slash().layer(app);
    // Each request gets `ConnectInfo<Peer>` (the audit trail's client certificate).
    axum::serve(
        listener,
        ServiceExt::<Request>::into_make_service_with_connect_info::<Peer>(app),
    )
    .with_graceful_shutdown(async move {
        // Err: the sender is gone, which only happens once it has said stop.
        let _ = stop.wait_for(|stopped| *stopped).await;
    })
    .await
    .map_err(StartError::Serve)
}

/// One shutdown future shared by every listener.
fn stop_signal(
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = sender.send(true);
    });
    receiver
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed now, before the listener is
/// announced, so a signal sent right after start-up is never lost to the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {},
                        _ = terminate.recv() => {},
                    }
                }
                (Err(error), _) | (_, Err(error)) => {
                    tracing::error!(%error, "cannot install signal handlers; stop with SIGKILL");
                    std::future::pending::<()>().await;
                }
            }
            tracing::info!("shutdown signal received");
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received");
    }
}
