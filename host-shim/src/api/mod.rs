//! The shim's HTTP API: Tyk's certificate and key admin API (SPEC §2), its Dashboard flavour
//! under `/api` ([`dashboard`], SPEC §2b), the change feed for the filters (ARCHITECTURE
//! "Change feed"), `/hello` and `/metrics`.
//!
//! [`router`] is the one place routes are declared; it reads like the API table.
//! [`feed_router`] serves the feed's routes (declared once, in `feed_routes`) alone.
//! Handlers are thin: extract, call one domain function (on a blocking thread, since the
//! store blocks), map the result. Bodies are extractors ([`body`]); typed errors become Tyk
//! JSON in [`error`]; the JSON of successful admin answers is [`answers`], which the
//! [`crate::client`] reads.

pub mod answers;
mod auth;
pub mod body;
mod certs;
pub mod dashboard;
pub mod error;
mod feed;
mod gate_certificates;
mod health;
mod keys;
mod snapshot_pages;

use crate::dashboard::OrgKeys;
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::sessions::KeyRules;
use crate::store::Store;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use error::{ApiError, METHOD_NOT_SUPPORTED, NOT_FOUND};
use std::sync::Arc;
use tokio::sync::watch;

/// SPEC §2: a body over 1 MiB is answered with 413.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// What every handler shares.
pub struct AppState {
    pub store: Arc<Store>,
    pub admin_secret: Secret,
    /// `None`: the feed is closed (every feed request is refused).
    pub feed_token: Option<Secret>,
    pub metrics: Metrics,
    /// Bumped after every acknowledged write; long-polling feed readers wait on it.
    pub writes: watch::Sender<u64>,
    /// The newest store version the feed serves the filters (`u64::MAX`: all of it). While
    /// `serve` follows a render (`crate::live`), changes wait here until Envoy has them.
    pub feed_cap: watch::Sender<u64>,
    /// What a session must hold beyond its shape (`serve --allow-master-keys`).
    pub key_rules: KeyRules,
    /// The Dashboard API's keys (`serve --org-keys`); `None`: `/api` is off.
    pub org_keys: Option<Arc<OrgKeys>>,
    /// The audit trail (`serve --audit-log`); `None`: no trail.
    pub audit: Option<Arc<crate::audit::AuditLog>>,
    /// Serve the browser console at `/console` (`serve --console`).
    pub console: bool,
    /// The last snapshot read for the feed's pages.
    pub snapshot_pages: snapshot_pages::SnapshotPages,
}

impl AppState {
    pub fn new(
        store: Arc<Store>,
        admin_secret: Secret,
        feed_token: Option<Secret>,
    ) -> Result<Self, prometheus::Error> {
        Ok(AppState {
            store,
            admin_secret,
            feed_token,
            metrics: Metrics::new()?,
            writes: watch::Sender::new(0),
            feed_cap: watch::Sender::new(u64::MAX),
            key_rules: KeyRules::default(),
            org_keys: None,
            audit: None,
            console: false,
            snapshot_pages: snapshot_pages::SnapshotPages::default(),
        })
    }

    /// Replaces the default (Tyk's: no master keys) session rules.
    pub fn with_key_rules(mut self, key_rules: KeyRules) -> Self {
        self.key_rules = key_rules;
        self
    }

    /// Turns the Dashboard API (`/api`) on with these keys.
    pub fn with_org_keys(mut self, org_keys: OrgKeys) -> Self {
        self.org_keys = Some(Arc::new(org_keys));
        self
    }

    /// Records every admin write in this trail.
    pub fn with_audit_log(mut self, log: crate::audit::AuditLog) -> Self {
        self.audit = Some(Arc::new(log));
        self
    }

    /// Serves the browser console at `/console` ([`crate::console`]).
    pub fn with_console(mut self) -> Self {
        self.console = true;
        self
    }

    /// Called after a write was acknowledged by the store.
    fn wrote(&self) {
        self.writes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Runs a blocking store call off the async workers.
    async fn blocking<T, F>(self: &Arc<Self>, call: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> T + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || call(store.as_ref()))
            .await
            .map_err(|error| {
                tracing::error!(%error, "store task failed");
                ApiError::internal()
            })
    }
}

/// The whole API. Trailing slashes are trimmed before routing (see `serve`).
pub fn router(state: Arc<AppState>) -> Router {
    // SPEC §2, the admin API table. The secret is checked by `auth::guard_admin_paths`
    // around the whole router, not here: a layer on these routes would miss `/tyk/*` paths
    // that match none of them.
    let admin = Router::new()
        .route("/tyk/certs", get(certs::list).post(certs::add))
        .route("/tyk/certs/{ids}", get(certs::show).delete(certs::delete))
        .route("/tyk/keys/create", post(keys::create))
        // Tyk also creates a key on `POST /tyk/keys`; scripts use either.
        .route("/tyk/keys", get(keys::list).post(keys::create))
        .route(
            "/tyk/keys/preview",
            post(keys::preview)
                .get(keys::preview_is_no_key)
                .put(keys::preview_is_no_key)
                .delete(keys::preview_is_no_key),
        )
        .route(
            "/tyk/keys/{key}",
            get(keys::show)
                .post(keys::create_at)
                .put(keys::update)
                .delete(keys::delete),
        )
        // SPEC §10: the gate's certificates and their expiry (admin secret, checked inside).
        .route("/gate/certificates", get(gate_certificates::list))
        .method_not_allowed_fallback(method_not_supported);

    let open = Router::new()
        .route("/hello", get(health::hello))
        .route("/metrics", get(health::metrics))
        .method_not_allowed_fallback(method_not_supported);

    // Off unless `serve --console`: without it `/console` is the fallback's 404.
    let console = if state.console {
        crate::console::routes()
    } else {
        Router::new()
    };
    let routes = Router::new()
        .merge(admin)
        .merge(console)
        .merge(dashboard::routes())
        .merge(feed_routes(&state))
        .merge(open)
        .fallback(not_found)
        // Innermost of the layers below: it runs once the credential is known (the org of a
        // Dashboard key is in the request), and writes its line before the answer leaves.
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::audit::record,
        ))
        // SPEC §2: the secret is checked before routing, so every `/tyk` path without it is
        // 403, whether or not a route (or the method) exists. SPEC §2b: the same for `/api`
        // and its keys.
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::guard_admin_paths,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            dashboard::auth::guard,
        ));
    with_common_layers(routes, state)
}

/// The change feed and nothing else (`serve --feed-listen`): the plain-HTTP port the
/// filters' Envoy cluster uses when the main port requires client certificates. Every other
/// path, `/tyk/...` included, is 404.
pub fn feed_router(state: Arc<AppState>) -> Router {
    with_common_layers(feed_routes(&state).fallback(not_found), state)
}

/// ARCHITECTURE "Change feed": read-only, its own token.
fn feed_routes(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route(mtls_gate_core::feed::CHANGES_PATH, get(feed::changes))
        .route(
            &format!("{}{{key}}", mtls_gate_core::feed::LOOKUP_PATH_PREFIX),
            get(feed::lookup),
        )
        .method_not_allowed_fallback(method_not_supported)
        .layer(middleware::from_fn_with_state(
            Arc::clone(state),
            auth::require_feed_token,
        ))
}

/// What every listener's routes run through: the body limit, metrics, JSON errors.
fn with_common_layers(routes: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    routes
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        .layer(middleware::map_response(json_errors))
        .with_state(state)
}

async fn method_not_supported() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_SUPPORTED)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, NOT_FOUND)
}

/// Counts every request by route template (never by raw path: keys and IDs stay out of labels).
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    state
        .metrics
        .http_requests
        .with_label_values(&[route.as_str(), method.as_str(), response.status().as_str()])
        .inc();
    response
}

/// Safety net for SPEC §2 "error bodies are JSON": any error response not already JSON
/// (a framework rejection, say) is rewritten as `{"status":"error","message":…}`.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => error::BODY_TOO_LARGE,
        StatusCode::METHOD_NOT_ALLOWED => METHOD_NOT_SUPPORTED,
        StatusCode::NOT_FOUND => NOT_FOUND,
        other => other.canonical_reason().unwrap_or("Error"),
    };
    let mut rewritten = ApiError::new(status, message).into_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    rewritten
}
