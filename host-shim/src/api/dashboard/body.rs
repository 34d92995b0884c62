//! Request bodies as Dashboard takes them, as extractors (see `crate::api::body`):
//! - [`PemUpload`]: `POST /api/certs`, a multipart form with the PEM file in the field
//!   `file` (Dashboard's `FormDataFile`, `curl -F file=@cert.pem`), or the PEM as the raw
//!   body (`curl --data-binary @cert.pem`, as the Gateway API takes it);
//! - [`DashboardSession`]: a Tyk session JSON; one that does not read is Dashboard's 403
//!   `Request body malformed.`.
//!
//! The body limit (413) is the router's, for both.

use super::error::{BODY_MALFORMED, DashboardError};
use crate::api::body::Body;
use crate::api::error::BODY_TOO_LARGE;
use axum::body::Bytes;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use mtls_gate_core::session::Session;

/// Dashboard's form field for the certificate file.
pub const FILE_FIELD: &str = "file";

/// The uploaded PEM.
pub struct PemUpload(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for PemUpload {
    type Rejection = DashboardError;

    async fn from_request(request: Request, state: &S) -> Result<Self, DashboardError> {
        let multipart = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                value
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("multipart/form-data")
            });
        if !multipart {
            let Body(body) = Body::from_request(request, state).await?;
            return Ok(PemUpload(body));
        }
        let mut form = Multipart::from_request(request, state)
            .await
            .map_err(form_refused)?;
        let mut file = None;
        // Other fields are read past; Dashboard takes one certificate per upload.
        while let Some(field) = form.next_field().await.map_err(form_unreadable)? {
            if field.name() != Some(FILE_FIELD) {
                continue;
            }
            if file.is_some() {
                return Err(DashboardError::bad_request(format!(
                    "Could not create certificate. The form has more than one {FILE_FIELD:?} field: upload one certificate at a time"
                )));
            }
            file = Some(field.bytes().await.map_err(form_unreadable)?);
        }
        file.map(PemUpload).ok_or_else(|| {
            DashboardError::bad_request(format!(
                "Could not create certificate. The form has no {FILE_FIELD:?} field: send the PEM file as it, e.g. curl -F {FILE_FIELD}=@cert.pem"
            ))
        })
    }
}

fn form_refused(rejection: MultipartRejection) -> DashboardError {
    DashboardError::bad_request(format!(
        "Malformed multipart body: {}",
        rejection.body_text()
    ))
}

fn form_unreadable(error: MultipartError) -> DashboardError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        DashboardError::new(StatusCode::PAYLOAD_TOO_LARGE, BODY_TOO_LARGE)
    } else {
        DashboardError::bad_request(format!("Malformed multipart body: {}", error.body_text()))
    }
}

/// A Tyk session JSON body (`/api/keys`).
pub struct DashboardSession(pub Session);

impl<S: Send + Sync> FromRequest<S> for DashboardSession {
    type Rejection = DashboardError;

    async fn from_request(request: Request, state: &S) -> Result<Self, DashboardError> {
        let Body(body) = Body::from_request(request, state).await?;
        serde_json::from_slice(&body)
            .map(DashboardSession)
            .map_err(|error| {
                tracing::info!(%error, "malformed session body");
                DashboardError::new(StatusCode::FORBIDDEN, BODY_MALFORMED)
            })
    }
}
