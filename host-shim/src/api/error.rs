//! The HTTP edge of every failure: typed domain errors become Tyk's status codes and exact
//! messages here, and nowhere else. Every error body is `{"status":"error","message":…}`
//! with `Content-Type: application/json` (SPEC §2).

use crate::certificates::CertificateError;
use crate::certificates::private_key::KeyError;
use crate::certificates::upload::UploadError;
use crate::sessions::SessionError;
use crate::store::StoreError;
use axum::Json;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const INVALID_ADMIN_KEY: &str = "Attempted administrative access with invalid or missing key!";
pub const INVALID_FEED_TOKEN: &str = "Invalid or missing feed token";
pub const METHOD_NOT_SUPPORTED: &str = "Method not supported";
pub const NOT_FOUND: &str = "Not found";
pub const BODY_TOO_LARGE: &str = "Request body too large";
pub const MALFORMED_BODY: &str = "Malformed request body";
pub const REQUEST_MALFORMED: &str = "Request malformed";
pub const MALFORMED_QUERY: &str = "Malformed query string";
pub const CERTIFICATE_NOT_FOUND: &str = "Certificate with given SHA256 fingerprint not found";
pub const KEY_NOT_FOUND: &str = "Key not found";
pub const STORE_FAILURE: &str = "Certificate store error";
/// SPEC §2 "Keys need access rights": Tyk's wording, for create and update alike. The CLI
/// recognises it to say what to do.
pub const NO_ACCESS_RIGHTS: &str =
    "Failed to create key, keys must have at least one Access Rights record set.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    status: &'static str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, STORE_FAILURE)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            status: "error",
            message: &self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, BODY_TOO_LARGE)
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, MALFORMED_BODY)
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(_: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, MALFORMED_QUERY)
    }
}

fn store_failure(error: &StoreError) -> ApiError {
    tracing::error!(%error, "store call failed");
    ApiError::internal()
}

/// `POST /tyk/certs` answers every refusal of the PEM with 403, as Tyk does. A bad
/// `?org_id=` (on any `/tyk/certs` call) is bad input, 400, with the rule's own words.
impl From<CertificateError> for ApiError {
    fn from(error: CertificateError) -> Self {
        let forbidden = |message: &str| ApiError::new(StatusCode::FORBIDDEN, message);
        match error {
            CertificateError::OrgId(invalid) => {
                ApiError::new(StatusCode::BAD_REQUEST, invalid.to_string())
            }
            CertificateError::Upload(upload) => {
                tracing::info!(%upload, "certificate upload refused");
                // Tyk's message first, then what is wrong (issue 11): scripts matching
                // Tyk's text by prefix keep working.
                match upload.hint() {
                    Some(hint) => forbidden(&format!("{} ({hint})", upload_message(&upload))),
                    None => forbidden(upload_message(&upload)),
                }
            }
            CertificateError::Exists(id) => {
                forbidden(&format!("Certificate with {id} id already exists"))
            }
            CertificateError::Unreadable(unreadable) => {
                tracing::error!(%unreadable, "stored certificate unreadable");
                ApiError::internal()
            }
            CertificateError::Store(store) => store_failure(&store),
        }
    }
}

/// Tyk's (Go's) wording for each upload refusal.
fn upload_message(error: &UploadError) -> &'static str {
    match error {
        UploadError::NotPem
        | UploadError::EmptyBody
        | UploadError::Der
        | UploadError::Binary
        | UploadError::PrivateKeyOnly
        | UploadError::CertificateRequest => {
            "Failed to decode certificate. It should be PEM encoded."
        }
        UploadError::MultiplePrivateKeys => "Found multiple private keys",
        UploadError::MalformedCertificate { .. } => "x509: malformed certificate",
        UploadError::Expired { .. } => "certificate is expired",
        UploadError::PublicKeyWithCertificates => "Public keys can't be combined with certificates",
        UploadError::MalformedPublicKey => "x509: malformed public key",
        UploadError::PrivateKeyWithoutCertificate => {
            "tls: failed to find \"CERTIFICATE\" PEM block in certificate input after skipping PEM blocks of the following types: [PUBLIC KEY]"
        }
        UploadError::Key(KeyError::Mismatch) => "private key does not match public key",
        UploadError::Key(KeyError::UnparsablePrivateKey) | UploadError::EncryptedPrivateKey => {
            "tls: failed to parse private key"
        }
        UploadError::Key(KeyError::UnsupportedAlgorithm) => {
            "tls: found unknown private key type in PKCS#8 wrapping"
        }
        UploadError::Key(KeyError::UnreadableCertificateKey) => "tls: unknown public key algorithm",
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::NoAccessRights => {
                ApiError::new(StatusCode::BAD_REQUEST, NO_ACCESS_RIGHTS)
            }
            SessionError::OrgId(invalid) => {
                ApiError::new(StatusCode::BAD_REQUEST, invalid.to_string())
            }
            SessionError::NoCertificate => ApiError::new(
                StatusCode::BAD_REQUEST,
                "Key cannot be used without a certificate",
            ),
            // Deviation (SPEC §2): Tyk creates such a key; we refuse it.
            SessionError::UnknownCertificate(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "Key must be used with an existent certificate",
            ),
            // The key is the certificate ID, so the org is the certificate's (SPEC §2 "Sessions").
            SessionError::OrgMismatch {
                org_id,
                certificate_org,
            } => ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "org_id {org_id:?} does not match the certificate's org {certificate_org:?}"
                ),
            ),
            SessionError::Exists(key) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Failed to create key - Key with given certificate already found:{key}"),
            ),
            SessionError::NotFound => ApiError::new(StatusCode::NOT_FOUND, KEY_NOT_FOUND),
            SessionError::KeyWouldChange { .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "Key cannot be moved to another certificate: delete it and create a new one",
            ),
            // Deviation (SPEC §2): Tyk stores a session under any chosen key, where the
            // filter would never find it by the certificate.
            SessionError::ChosenKeyIsNotCertificateId { derived, .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "Key must be its certificate's ID {derived} (or, with an org, the certificate's fingerprint): certificate sessions are found by certificate ID"
                ),
            ),
            SessionError::Store(store) => store_failure(&store),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        store_failure(&error)
    }
}
