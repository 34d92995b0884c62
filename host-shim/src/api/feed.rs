//! The change feed for the filters (`mtls_gate_core::feed` defines the bodies).

use super::AppState;
use super::error::ApiError;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use mtls_gate_core::feed::{ChangeSet, PageCursor, PagedSnapshot};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// The longest a `wait_ms` long-poll is held.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// How often a held long-poll re-reads the store version: a write through another shim on a
/// shared store (Redis) does not notify this shim's `writes`.
const VERSION_POLL: Duration = Duration::from_millis(100);

/// The largest `page_size` honoured; a larger one is cut to it.
const MAX_PAGE_SIZE: u64 = 50_000;

#[derive(Deserialize, Default)]
pub struct ChangesQuery {
    since: Option<String>,
    wait_ms: Option<String>,
    page_size: Option<String>,
    after: Option<String>,
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

/// `GET /mtls-gate/v1/changes?since=V[&wait_ms=N][&page_size=N[&after=CURSOR]]`. With
/// `wait_ms`, an empty incremental answer is held until the next write or the wait ends (at
/// most 30 s). With `page_size`, a snapshot comes in pages (`after`: the page after a
/// cursor the last page gave as `next`).
pub async fn changes(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ChangesQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let since = unsigned(query.since.as_deref(), "since")?;
    let wait = Duration::from_millis(unsigned(query.wait_ms.as_deref(), "wait_ms")?).min(MAX_WAIT);
    let page_size = match query.page_size.as_deref() {
        None => None,
        Some(text) => match unsigned(Some(text), "page_size")? {
            0 => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "page_size must be at least 1",
                ));
            }
            n => Some(usize::try_from(n.min(MAX_PAGE_SIZE)).unwrap_or(usize::MAX)),
        },
    };
    let after = match query.after.as_deref() {
        None => None,
        Some(_) if page_size.is_none() => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "after needs page_size",
            ));
        }
        Some(text) => Some(PageCursor::parse(text).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "after must be a cursor the feed gave as next",
            )
        })?),
    };
    state.snapshot_pages.expire();
    if let Some(page_size) = page_size {
        let snapshot = after.is_some()
            || state
                .blocking(move |store| store.answers_with_snapshot(since))
                .await??;
        if snapshot {
            let paged = paged_snapshot(&state, after.as_ref()).await?;
            let page = paged.page(after.as_ref(), page_size);
            return Ok(answer(&state, &page));
        }
    }

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
    Ok(answer(&state, &set))
}

/// A snapshot to cut the page after `after` from: the copy kept, if it will do, or the
/// store's current state, read once and kept (kept from inside the blocking task, so a
/// request given up meanwhile still leaves it for the next try).
async fn paged_snapshot(
    state: &Arc<AppState>,
    after: Option<&PageCursor>,
) -> Result<Arc<PagedSnapshot>, ApiError> {
    if let Some(kept) = state.snapshot_pages.reusable(after) {
        return Ok(kept);
    }
    let keeper = Arc::clone(state);
    let paged = state
        .blocking(move |store| {
            let set = store.changes_until(0, u64::MAX)?;
            Ok::<_, crate::store::StoreError>(keeper.snapshot_pages.keep(PagedSnapshot::new(set)))
        })
        .await??;
    Ok(paged)
}

fn answer(state: &AppState, set: &ChangeSet) -> Response {
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
    json(set.encode())
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
