//! `/api/keys` handlers (SPEC §2b): Dashboard's key routes, creating and changing Tyk
//! sessions in the caller's org. They write the same session records as `/tyk/keys`, so the
//! filter sees them through the same feed.

use super::auth::Caller;
use super::body::DashboardSession;
use super::error::{ApiResponse, DashboardError};
use super::pages::Page;
use crate::api::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use mtls_gate_core::session::Session;
use serde::{Deserialize, Serialize};
use serde_json::Map;
use std::sync::Arc;

/// Dashboard's `KeyData`: the key and its session. Tyk hashes keys when `hash_keys` is on and
/// adds `key_hash`; the shim does not hash keys (a key is its certificate's ID), so there is
/// none.
#[derive(Serialize)]
pub struct KeyData {
    /// Dashboard's `ApiModel`; always `{}`.
    pub api_model: Map<String, serde_json::Value>,
    pub key_id: String,
    pub data: Session,
}

impl KeyData {
    fn new(key_id: String, data: Session) -> Self {
        KeyData {
            api_model: Map::new(),
            key_id,
            data,
        }
    }
}

/// `GET /api/apis/keys` (Dashboard's `Keys`).
#[derive(Serialize)]
pub struct KeyPage {
    pub data: KeyIds,
    pub pages: usize,
}

#[derive(Serialize)]
pub struct KeyIds {
    pub keys: Vec<String>,
}

/// `GET /api/keys/detailed` (Dashboard's `KeysDetailed`).
#[derive(Serialize)]
pub struct KeysDetailed {
    pub keys: Vec<KeyData>,
    pub pages: usize,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    p: Option<String>,
    /// `detailed`: only keys containing this text.
    #[serde(default)]
    q: String,
}

/// `POST /api/keys` and `POST /api/keys/create`: a session for one of the caller's
/// certificates; its `org_id` is the caller's.
pub async fn create(
    State(state): State<Arc<AppState>>,
    Caller(scope): Caller,
    DashboardSession(session): DashboardSession,
) -> Result<Json<KeyData>, DashboardError> {
    let now = time::OffsetDateTime::now_utc();
    let rules = state.key_rules;
    let (key, session) = state
        .blocking(move |store| scope.create_session(store, rules, session, now))
        .await??;
    state.wrote();
    Ok(Json(KeyData::new(key, session)))
}

/// `POST /api/keys/<key>` (Dashboard's "create custom key"): as `POST /tyk/keys/<key>`, the
/// key must be the certificate's ID, or its fingerprint (the org is put before it).
pub async fn create_at(
    State(state): State<Arc<AppState>>,
    Caller(scope): Caller,
    Path(key): Path<String>,
    DashboardSession(session): DashboardSession,
) -> Result<Json<KeyData>, DashboardError> {
    let now = time::OffsetDateTime::now_utc();
    let rules = state.key_rules;
    let (key, session) = state
        .blocking(move |store| scope.create_session_at(store, rules, &key, session, now))
        .await??;
    state.wrote();
    Ok(Json(KeyData::new(key, session)))
}

/// `POST /api/keys/preview`: the key and session a create would make; nothing is written.
pub async fn preview(
    State(state): State<Arc<AppState>>,
    Caller(scope): Caller,
    DashboardSession(session): DashboardSession,
) -> Result<Json<KeyData>, DashboardError> {
    let now = time::OffsetDateTime::now_utc();
    let rules = state.key_rules;
    let (key, session) = state
        .blocking(move |store| scope.preview_session(store, rules, session, now))
        .await??;
    Ok(Json(KeyData::new(key, session)))
}

/// `GET /api/apis/keys[?p=N]`: the caller's keys.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Caller(scope): Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<KeyPage>, DashboardError> {
    let page = Page::parse(query?.0.p.as_deref())?;
    let keys = state.blocking(move |store| scope.keys(store)).await??;
    let (keys, pages) = page.of(keys);
    Ok(Json(KeyPage {
        data: KeyIds { keys },
        pages,
    }))
}

/// `GET /api/keys/detailed[?q=TEXT][&p=N]`: the caller's keys with their sessions.
pub async fn detailed(
    State(state): State<Arc<AppState>>,
    Caller(scope): Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<KeysDetailed>, DashboardError> {
    let Query(query) = query?;
    let page = Page::parse(query.p.as_deref())?;
    let mut sessions = state.blocking(move |store| scope.sessions(store)).await??;
    sessions.retain(|(key, _)| key.contains(&query.q));
    let keys = sessions
        .into_iter()
        .map(|(key, session)| KeyData::new(key, session))
        .collect();
    let (keys, pages) = page.of(keys);
    Ok(Json(KeysDetailed { keys, pages }))
}

/// `GET /api/keys/<key>`: 404 for a missing key and for another org's alike.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Caller(scope): Caller,
    Path(key): Path<String>,
) -> Result<Json<KeyData>, DashboardError> {
    let (key, session) = state
        .blocking(move |store| scope.session(store, &key).map(|s| (key, s)))
        .await??;
    Ok(Json(KeyData::new(key, session)))
}

/// `PUT /api/keys/<key>`: replaces one of the caller's sessions.
pub async fn update(
    State(state): State<Arc<AppState>>,
    Caller(scope): Caller,
    Path(key): Path<String>,
    DashboardSession(session): DashboardSession,
) -> Result<Json<KeyData>, DashboardError> {
    let now = time::OffsetDateTime::now_utc();
    let rules = state.key_rules;
    let (key, session) = state
        .blocking(move |store| {
            scope
                .update_session(store, rules, &key, session, now)
                .map(|s| (key, s))
        })
        .await??;
    state.wrote();
    Ok(Json(KeyData::new(key, session)))
}

/// `DELETE /api/keys/<key>`: Dashboard's `{"Status":"OK","Message":"Key deleted
/// successfully.","Meta":null}`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Caller(scope): Caller,
    Path(key): Path<String>,
) -> Result<Response, DashboardError> {
    state
        .blocking(move |store| scope.delete_session(store, &key))
        .await??;
    state.wrote();
    Ok(Json(ApiResponse {
        status: "OK",
        message: "Key deleted successfully.",
        meta: None,
    })
    .into_response())
}
