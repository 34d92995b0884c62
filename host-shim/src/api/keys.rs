//! `/tyk/keys` handlers (SPEC §2 table).

use super::AppState;
use super::answers::{KeyAction, KeyList};
use super::body::SessionBody;
use super::error::{ApiError, KEY_NOT_FOUND};
use crate::sessions;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mtls_gate_core::session::Session;
use std::sync::Arc;

/// `POST /tyk/keys/create` and `POST /tyk/keys`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    SessionBody(session): SessionBody,
) -> Result<Json<KeyAction>, ApiError> {
    let now = time::OffsetDateTime::now_utc();
    let rules = state.key_rules;
    let key = state
        .blocking(move |store| sessions::create(store, rules, session, now))
        .await??;
    state.wrote();
    Ok(Json(KeyAction::added(key)))
}

/// `POST /tyk/keys/<key>`: a session under a chosen key, which must be its certificate's ID
/// ([`sessions::create_at`]); an existing key is replaced, as Tyk does.
pub async fn create_at(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    SessionBody(session): SessionBody,
) -> Result<Json<KeyAction>, ApiError> {
    let now = time::OffsetDateTime::now_utc();
    let rules = state.key_rules;
    let key = state
        .blocking(move |store| sessions::create_at(store, rules, &key, session, now))
        .await??;
    state.wrote();
    Ok(Json(KeyAction::added(key)))
}

/// `POST /tyk/keys/preview`: the session as it would be stored (Tyk's answer), nothing
/// written.
pub async fn preview(
    State(state): State<Arc<AppState>>,
    SessionBody(session): SessionBody,
) -> Result<Json<Session>, ApiError> {
    let now = time::OffsetDateTime::now_utc();
    let rules = state.key_rules;
    let (_, session) = state
        .blocking(move |store| sessions::preview(store, rules, session, now))
        .await??;
    Ok(Json(session))
}

/// `GET`, `PUT`, `DELETE /tyk/keys/preview`: Tyk routes only `POST` there and lets the other
/// methods fall through to the key `preview`, which no certificate session can be.
pub async fn preview_is_no_key() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, KEY_NOT_FOUND)
}

/// `GET /tyk/keys`.
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<KeyList>, ApiError> {
    let keys = state.blocking(sessions::list).await??;
    Ok(Json(KeyList { keys }))
}

/// `GET /tyk/keys/<key>`: the session as stored, every Tyk field included.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> Result<Json<Session>, ApiError> {
    let session = state
        .blocking(move |store| sessions::get(store, &key))
        .await??;
    Ok(Json(session))
}

/// `PUT /tyk/keys/<key>`.
pub async fn update(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    SessionBody(session): SessionBody,
) -> Result<Json<KeyAction>, ApiError> {
    let now = time::OffsetDateTime::now_utc();
    let updated_key = key.clone();
    let rules = state.key_rules;
    state
        .blocking(move |store| sessions::update(store, rules, &updated_key, session, now))
        .await??;
    state.wrote();
    Ok(Json(KeyAction::modified(key)))
}

/// `DELETE /tyk/keys/<key>`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> Result<Json<KeyAction>, ApiError> {
    let deleted_key = key.clone();
    state
        .blocking(move |store| sessions::delete(store, &deleted_key))
        .await??;
    state.wrote();
    Ok(Json(KeyAction::deleted(key)))
}
