//! `/tyk/certs` handlers (SPEC §2 table).

use super::AppState;
use super::answers::{CertificateAdded, CertificateDetails, CertificateIds, CertificateRemoved};
use super::body::Body;
use super::error::{ApiError, CERTIFICATE_NOT_FOUND};
use crate::certificates;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize, Default)]
pub struct CertQuery {
    #[serde(default)]
    org_id: String,
    #[serde(default)]
    mode: String,
}

/// `POST /tyk/certs[?org_id=O]`, body = PEM.
pub async fn add(
    State(state): State<Arc<AppState>>,
    query: Result<Query<CertQuery>, QueryRejection>,
    Body(body): Body,
) -> Result<Json<CertificateAdded>, ApiError> {
    let Query(CertQuery { org_id, .. }) = query?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let id = state
        .blocking(move |store| certificates::add(store, &body, &org_id, now))
        .await??;
    state.wrote();
    Ok(Json(CertificateAdded::new(id)))
}

/// `GET /tyk/certs[?org_id=O][&mode=detailed]`. Deviation: an empty list is `[]`, not `null`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<CertQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(CertQuery { org_id, mode }) = query?;
    if mode == "detailed" {
        let certs = state
            .blocking(move |store| certificates::list_detailed(store, &org_id))
            .await??;
        Ok(Json(CertificateDetails { certs }).into_response())
    } else {
        let certs = state
            .blocking(move |store| certificates::list_ids(store, &org_id))
            .await??;
        Ok(Json(CertificateIds { certs }).into_response())
    }
}

/// `GET /tyk/certs/<id>` → one object or 404; `GET /tyk/certs/<id1>,<id2>` → an array in
/// request order with `null` for each missing ID.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(ids): Path<String>,
) -> Result<Response, ApiError> {
    let many = ids.contains(',');
    let metas = state
        .blocking(move |store| {
            let ids: Vec<&str> = ids.split(',').collect();
            certificates::show(store, &ids)
        })
        .await??;
    if many {
        return Ok(Json(metas).into_response());
    }
    match metas.into_iter().next().flatten() {
        Some(meta) => Ok(Json(meta).into_response()),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, CERTIFICATE_NOT_FOUND)),
    }
}

/// `DELETE /tyk/certs/<id>[?org_id=O]`: 200 whether or not it existed, as Tyk. The keys
/// bound to it stay (SPEC §2 "Revocation by deletion").
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<CertQuery>, QueryRejection>,
) -> Result<Json<CertificateRemoved>, ApiError> {
    let Query(CertQuery { org_id, .. }) = query?;
    state
        .blocking(move |store| certificates::delete(store, &id, &org_id))
        .await??;
    state.wrote();
    Ok(Json(CertificateRemoved::default()))
}
