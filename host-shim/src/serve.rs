//! `mtls-gate-shim serve`: secrets, store, listener, graceful shutdown.

use crate::api::{self, AppState};
use crate::cli::ServeArgs;
use crate::secret::{Secret, SecretError};
use crate::sessions::KeyRules;
use crate::store::open::StoreSpec;
use crate::store::{Store, StoreError};
use axum::ServiceExt;
use axum::extract::Request;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
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

pub fn encoding_secret(admin: &Secret) -> EncodingSecret {
    match Secret::new(
        std::env::var(ENV_ENCODING_SECRET).unwrap_or_default(),
        "encoding secret",
    ) {
        Ok(secret) => EncodingSecret {
            secret,
            is_admin_fallback: false,
        },
        Err(_) => EncodingSecret {
            secret: admin.clone(),
            is_admin_fallback: true,
        },
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
    let feed_token = Secret::new(
        std::env::var(ENV_FEED_TOKEN).unwrap_or_default(),
        "feed token",
    )
    .ok();
    if feed_token
        .as_ref()
        .is_some_and(|token| admin.matches(token.expose().as_bytes()))
    {
        return Err(StartError::FeedTokenIsAdminSecret);
    }
    let encoding = encoding_secret(&admin);
    Ok(Secrets {
        admin,
        feed_token,
        encoding,
    })
}

pub async fn run(args: ServeArgs) -> Result<(), StartError> {
    let secrets = secrets(&args)?;
    if secrets.feed_token.is_none() {
        tracing::warn!("{ENV_FEED_TOKEN} is not set: the change feed refuses every request");
    }
    let spec = StoreSpec::parse(&args.store).map_err(StartError::Store)?;
    let store = open_store(&spec, &secrets.encoding).map_err(StartError::Store)?;
    let version = store.version().map_err(StartError::Store)?;
    tracing::info!(store = %spec.describe(), version, "store open");
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: args.listen,
            source,
        })?;
    if !args.listen.ip().is_loopback() {
        tracing::warn!(addr = %args.listen, "listening beyond loopback: /metrics and /hello are unauthenticated");
    }
    if args.allow_master_keys {
        tracing::warn!(
            "--allow-master-keys: keys without access rights are accepted and open every API"
        );
    }
    let state = AppState::new(Arc::from(store), secrets.admin, secrets.feed_token)?.with_key_rules(
        KeyRules {
            allow_master_keys: args.allow_master_keys,
        },
    );
    let shutdown = shutdown_signal();
    serve(listener, Arc::new(state), shutdown).await
}

/// Serves the API on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "mtls-gate-shim listening");
    }
    // SPEC §2: trailing slashes are ignored; trimmed before routing.
    let app = NormalizePathLayer::trim_trailing_slash().layer(api::router(state));
    axum::serve(listener, ServiceExt::<Request>::into_make_service(app))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(StartError::Serve)?;
    tracing::info!("mtls-gate-shim stopped");
    Ok(())
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
