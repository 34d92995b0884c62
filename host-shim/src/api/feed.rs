//! The change feed for the filters (`mtls_gate_core::feed` defines the bodies).

use super::AppState;
use super::error::ApiError;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use mtls_gate_core::feed::ChangeSet;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// The longest a `wait_ms` long-poll is held.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// How often a held long-poll re-reads the store version: a write through another shim on a
/// shared store (Redis) does not notify this shim's `writes`.
const VERSION_POLL: Duration = Duration::from_millis(100);

#[derive(Deserialize, Default)]
pub struct ChangesQuery {
    since: Option<String>,
    wait_ms: Option<String>,
}

fn unsigned(value: Option<&str>, name: &str) -> Result<u64, ApiError> {
    match value {
        None | Some("") => Ok(0),
        Some(text) => text.parse().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{name} must be an unsigned integer"),
            )
        }),
    }
}

/// `GET /mtls-gate/v1/changes?since=V[&wait_ms=N]`. With `wait_ms`, an empty incremental
/// answer is held until the next write or the wait ends (at most 30 s).
pub async fn changes(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ChangesQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let since = unsigned(query.since.as_deref(), "since")?;
    let wait = Duration::from_millis(unsigned(query.wait_ms.as_deref(), "wait_ms")?).min(MAX_WAIT);

    let mut writes = state.writes.subscribe();
    writes.borrow_and_update();
    // Changes not yet released by the live render (`crate::live`) wait: Envoy does not have
    // what they need yet.
    let cap = || *state.feed_cap.borrow();
    let until = cap();
    let mut set = state
        .blocking(move |store| store.changes_until(since, until))
        .await??;
    if is_empty_increment(&set) && !wait.is_zero() {
        let mut seen = set.version;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            let slice = (deadline - now).min(VERSION_POLL);
            // A local write acknowledged after the read above has already notified `writes`.
            let notified = match tokio::time::timeout(slice, writes.changed()).await {
                Ok(Ok(())) => true,
                Ok(Err(_)) => {
                    tokio::time::sleep(slice).await; // no sender: only the version poll is left
                    false
                }
                Err(_) => false,
            };
            let until = cap();
            let visible = state.blocking(|store| store.version()).await??.min(until);
            if notified || visible != seen {
                set = state
                    .blocking(move |store| store.changes_until(since, until))
                    .await??;
                if !is_empty_increment(&set) {
                    break;
                }
                seen = visible;
            }
        }
    }
    let kind = if set.full { "full" } else { "incremental" };
    state
        .metrics
        .feed_responses
        .with_label_values(&[kind])
        .inc();
    state
        .metrics
        .store_version
        .set(i64::try_from(set.version).unwrap_or(i64::MAX));
    Ok(json(set.encode()))
}

fn is_empty_increment(set: &ChangeSet) -> bool {
    !set.full
        && set.certs.is_empty()
        && set.removed_certs.is_empty()
        && set.sessions.is_empty()
        && set.removed_sessions.is_empty()
}

/// `GET /mtls-gate/v1/lookup/<key>`: 200 whether or not the session exists.
pub async fn lookup(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let answer = state.blocking(move |store| store.lookup(&key)).await??;
    Ok(json(answer.encode()))
}

fn json(body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
