//! Dashboard's error answers: `{"Status":"Error","Message":…,"Meta":null}` (its `ApiResponse`),
//! with its messages where its published API gives one, the Gateway API's (`crate::api::error`)
//! where it is silent (SPEC §2b).

use crate::api::error::{self as gateway, ApiError};
use crate::certificates::CertificateError;
use crate::dashboard::usage::UsageError;
use crate::sessions::SessionError;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const NOT_AUTHORISED: &str = "Not authorised";
pub const DISABLED: &str =
    "The Dashboard API (/api) is off: start mtls-gate-shim serve with --org-keys FILE";
pub const CERTIFICATE_NOT_FOUND: &str =
    "Could not retrieve certificate details. Certificate with given SHA256 fingerprint not found.";
pub const CERTIFICATE_NOT_DELETED: &str = "Could not delete certificate.";
pub const CERTIFICATE_NOT_ADDED: &str = "Could not create certificate.";
pub const CERTIFICATE_APIS_NOT_FOUND: &str = "Certificate not found or access denied";
pub const KEY_NOT_FOUND: &str = "Could not retrieve key detail.";
pub const BODY_MALFORMED: &str = "Request body malformed.";
pub const GATE_UNREADABLE: &str = "Could not retrieve the APIs: the gate cannot be read";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardError {
    pub status: StatusCode,
    pub message: String,
}

/// Dashboard's `ApiResponse`, for errors and for its plain "done" answers.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiResponse<'a> {
    pub status: &'a str,
    pub message: &'a str,
    pub meta: Option<()>,
}

impl DashboardError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        DashboardError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let body = ApiResponse {
            status: "Error",
            message: &self.message,
            meta: None,
        };
        (self.status, Json(body)).into_response()
    }
}

/// The Gateway API's status and message, in Dashboard's shape.
impl From<ApiError> for DashboardError {
    fn from(error: ApiError) -> Self {
        DashboardError::new(error.status, error.message)
    }
}

impl From<QueryRejection> for DashboardError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::from(rejection).into()
    }
}

impl From<CertificateError> for DashboardError {
    fn from(error: CertificateError) -> Self {
        ApiError::from(error).into()
    }
}

/// A key that is missing, or another org's, is Dashboard's 404; the rest as the Gateway API.
impl From<SessionError> for DashboardError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::NotFound => DashboardError::new(StatusCode::NOT_FOUND, KEY_NOT_FOUND),
            other => ApiError::from(other).into(),
        }
    }
}

impl From<UsageError> for DashboardError {
    fn from(error: UsageError) -> Self {
        match error {
            UsageError::Store(store) => ApiError::from(store).into(),
            gate @ UsageError::Gate { .. } => {
                tracing::error!(error = %gate, "GET /api/certs/<id>/apis");
                DashboardError::new(StatusCode::INTERNAL_SERVER_ERROR, GATE_UNREADABLE)
            }
        }
    }
}

/// `POST /api/certs`: Dashboard answers a refused upload with 404 and its own prefix before
/// the reason (`Could not create certificate.Certificate with … id already exists`).
pub fn upload_refused(error: CertificateError) -> DashboardError {
    let gateway = ApiError::from(error);
    if gateway.status == StatusCode::FORBIDDEN {
        DashboardError::new(
            StatusCode::NOT_FOUND,
            format!("{CERTIFICATE_NOT_ADDED}{}", gateway.message),
        )
    } else {
        gateway.into()
    }
}

pub async fn method_not_supported() -> DashboardError {
    DashboardError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        gateway::METHOD_NOT_SUPPORTED,
    )
}

pub async fn not_found() -> DashboardError {
    DashboardError::new(StatusCode::NOT_FOUND, gateway::NOT_FOUND)
}
