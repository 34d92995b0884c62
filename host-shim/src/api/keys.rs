//! `/tyk/keys` handlers (SPEC §2 table).

use super::AppState;
use super::error::{ApiError, REQUEST_MALFORMED};
use crate::keys;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mtls_gate_core::session::Session;
use serde::Serialize;
use std::sync::Arc;

#[derive(Serialize)]
struct KeyAction {
    key: String,
    status: &'static str,
    action: &'static str,
}

fn action(key: String, action: &'static str) -> Json<KeyAction> {
    Json(KeyAction {
        key,
        status: "ok",
        action,
    })
}

/// A session JSON body; anything else (bad JSON, wrong field types) is 400.
fn session_body(body: Result<Bytes, BytesRejection>) -> Result<Session, ApiError> {
    let body = body?;
    serde_json::from_slice(&body).map_err(|error| {
        tracing::info!(%error, "malformed session body");
        ApiError::new(StatusCode::BAD_REQUEST, REQUEST_MALFORMED)
    })
}

/// `POST /tyk/keys/create` and `POST /tyk/keys`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<impl Serialize>, ApiError> {
    let session = session_body(body)?;
    let now = time::OffsetDateTime::now_utc();
    let rules = state.key_rules;
    let key = state
        .blocking(move |store| keys::create(store, rules, session, now))
        .await??;
    state.wrote();
    Ok(action(key, "added"))
}

/// `GET /tyk/keys/<key>`: the session as stored, every Tyk field included.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> Result<Json<Session>, ApiError> {
    let session = state
        .blocking(move |store| keys::get(store, &key))
        .await??;
    Ok(Json(session))
}

/// `PUT /tyk/keys/<key>`.
pub async fn update(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<impl Serialize>, ApiError> {
    let session = session_body(body)?;
    let now = time::OffsetDateTime::now_utc();
    let updated_key = key.clone();
    let rules = state.key_rules;
    state
        .blocking(move |store| keys::update(store, rules, &updated_key, session, now))
        .await??;
    state.wrote();
    Ok(action(key, "modified"))
}

/// `DELETE /tyk/keys/<key>`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> Result<Json<impl Serialize>, ApiError> {
    let deleted_key = key.clone();
    state
        .blocking(move |store| keys::delete(store, &deleted_key))
        .await??;
    state.wrote();
    Ok(action(key, "deleted"))
}
