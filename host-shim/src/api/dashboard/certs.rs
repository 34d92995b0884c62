//! `/api/certs` handlers (SPEC §2b): Dashboard's certificate routes, in the caller's org.

use super::auth::Caller;
use super::body::PemUpload;
use super::error::{
    CERTIFICATE_APIS_NOT_FOUND, CERTIFICATE_NOT_DELETED, CERTIFICATE_NOT_FOUND, DashboardError,
    upload_refused,
};
use super::pages::Page;
use crate::api::AppState;
use crate::api::answers::{CertificateAdded, CertificateRemoved};
use crate::certificates::meta::{CertificateBasics, CertificateMeta};
use crate::dashboard::usage::ApiUsage;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    p: Option<String>,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    filter: String,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    p: Option<String>,
}

/// `GET /api/certs` (Dashboard's `CertificateList`).
#[derive(Serialize)]
pub struct CertificateIdPage {
    pub certs: Vec<String>,
    pub pages: usize,
}

/// `GET /api/certs?mode=detailed` (Dashboard's `CertificateBasics`).
#[derive(Serialize)]
pub struct CertificateBasicsPage {
    pub cert_basics: Vec<CertificateBasics>,
    pub pages: usize,
}

/// `GET /api/certs/details` (Dashboard's `CertificateDetailedList`).
#[derive(Serialize)]
pub struct CertificateDetailsPage {
    pub certificates: Vec<CertificateMeta>,
    pub pages: usize,
}

/// `GET /api/certs/<id>/apis` (Dashboard's `APIsUsingCertificate`).
#[derive(Serialize)]
pub struct CertificateApis {
    pub cert_id: String,
    pub apis: Vec<ApiUsage>,
    pub pages: usize,
}

/// Dashboard's `filter` of `mode=detailed`: by whether a certificate has its private key.
#[derive(Clone, Copy)]
enum PrivateKeyFilter {
    Omit,
    WithKey,
    WithoutKey,
}

impl PrivateKeyFilter {
    fn parse(filter: &str) -> Result<Self, DashboardError> {
        match filter {
            "" | "omit" => Ok(PrivateKeyFilter::Omit),
            "with_pk" => Ok(PrivateKeyFilter::WithKey),
            "without_pk" => Ok(PrivateKeyFilter::WithoutKey),
            other => Err(DashboardError::bad_request(format!(
                "filter must be omit, with_pk or without_pk, not {other:?}"
            ))),
        }
    }

    fn keeps(self, has_private: bool) -> bool {
        match self {
            PrivateKeyFilter::Omit => true,
            PrivateKeyFilter::WithKey => has_private,
            PrivateKeyFilter::WithoutKey => !has_private,
        }
    }
}

/// `POST /api/certs`: a multipart `file` or a raw PEM body. The ID is the caller's org + the
/// fingerprint.
pub async fn add(
    State(state): State<Arc<AppState>>,
    Caller(scope): Caller,
    PemUpload(pem): PemUpload,
) -> Result<Json<CertificateAdded>, DashboardError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let id = state
        .blocking(move |store| scope.add_certificate(store, &pem, now))
        .await?
        .map_err(upload_refused)?;
    state.wrote();
    Ok(Json(CertificateAdded::new(id)))
}

/// `GET /api/certs[?p=N][&mode=detailed[&filter=with_pk|without_pk]]`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Caller(scope): Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, DashboardError> {
    let Query(query) = query?;
    let page = Page::parse(query.p.as_deref())?;
    if query.mode != "detailed" {
        let ids = state
            .blocking(move |store| scope.certificate_ids(store))
            .await??;
        let (certs, pages) = page.of(ids);
        return Ok(Json(CertificateIdPage { certs, pages }).into_response());
    }
    let filter = PrivateKeyFilter::parse(&query.filter)?;
    let mut basics = state
        .blocking(move |store| scope.certificate_basics(store))
        .await??;
    basics.retain(|c| filter.keeps(c.has_private));
    let (cert_basics, pages) = page.of(basics);
    Ok(Json(CertificateBasicsPage { cert_basics, pages }).into_response())
}

/// `GET /api/certs/details[?p=N]`: every certificate as `GET /api/certs/<id>` shows it.
pub async fn details(
    State(state): State<Arc<AppState>>,
    Caller(scope): Caller,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<CertificateDetailsPage>, DashboardError> {
    let page = Page::parse(query?.0.p.as_deref())?;
    let details = state
        .blocking(move |store| scope.certificate_details(store))
        .await??;
    let (certificates, pages) = page.of(details);
    Ok(Json(CertificateDetailsPage {
        certificates,
        pages,
    }))
}

/// `GET /api/certs/<id>`: 404 for a missing certificate and for another org's alike.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Caller(scope): Caller,
    Path(id): Path<String>,
) -> Result<Json<CertificateMeta>, DashboardError> {
    state
        .blocking(move |store| scope.certificate(store, &id))
        .await??
        .map(Json)
        .ok_or_else(|| DashboardError::new(StatusCode::NOT_FOUND, CERTIFICATE_NOT_FOUND))
}

/// `DELETE /api/certs/<id>`: the certificate only, its keys stay (SPEC §2 "Revocation by
/// deletion"). 404 for a missing certificate and for another org's alike.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Caller(scope): Caller,
    Path(id): Path<String>,
) -> Result<Json<CertificateRemoved>, DashboardError> {
    let deleted = state
        .blocking(move |store| scope.delete_certificate(store, &id))
        .await??;
    if !deleted {
        return Err(DashboardError::new(
            StatusCode::NOT_FOUND,
            CERTIFICATE_NOT_DELETED,
        ));
    }
    state.wrote();
    Ok(Json(CertificateRemoved::default()))
}

/// `GET /api/certs/<id>/apis[?p=N]`: the gate's APIs of the caller's org naming the
/// certificate (`crate::dashboard::usage`); none without a recorded gate.
pub async fn apis(
    State(state): State<Arc<AppState>>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<CertificateApis>, DashboardError> {
    let page = Page::parse(query?.0.p.as_deref())?;
    let cert_id = id.clone();
    let apis = state
        .blocking(move |store| scope.apis_naming(store, &id))
        .await??
        .ok_or_else(|| DashboardError::new(StatusCode::NOT_FOUND, CERTIFICATE_APIS_NOT_FOUND))?;
    let (apis, pages) = page.of(apis);
    Ok(Json(CertificateApis {
        cert_id,
        apis,
        pages,
    }))
}
