//! Request bodies as extractors, so that handlers get a body or never run: a body the
//! framework refuses is Tyk's JSON error (SPEC §2: 413 over [`super::BODY_LIMIT_BYTES`], 400
//! when it cannot be read), and a session body that is not a session is 400.
//!
//! A body extractor runs after every other extractor of its handler, so a bad body is
//! reported before anything the handler checks itself (a bad `?org_id=`, say).

use super::error::{ApiError, REQUEST_MALFORMED};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use mtls_gate_core::session::Session;

/// The raw body (`POST /tyk/certs`: PEM).
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Ok(Body(Bytes::from_request(request, state).await?))
    }
}

/// A Tyk session JSON body (`/tyk/keys`); bad JSON or a known field of the wrong type is 400.
pub struct SessionBody(pub Session);

impl<S: Send + Sync> FromRequest<S> for SessionBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let Body(body) = Body::from_request(request, state).await?;
        serde_json::from_slice(&body)
            .map(SessionBody)
            .map_err(|error| {
                tracing::info!(%error, "malformed session body");
                ApiError::new(StatusCode::BAD_REQUEST, REQUEST_MALFORMED)
            })
    }
}
