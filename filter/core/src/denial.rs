//! Why a request is refused, and the status and Tyk message each reason maps to.
//! Reasons stay typed through the decision; text is made only here, at the edge.

use crate::fingerprint::Fingerprint;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    // Static allow lists (SPEC §3), all 403.
    TlsNotEnabled,
    ClientTlsCertificateRequired,
    CertificateNotAllowed(Fingerprint),
    CertificateExpired,
    // Certificate authentication (SPEC §4).
    ClientCertificateRequired,
    NoSession,
    KeyInactive,
    KeyExpired,
    ApiNotInAccessRights,
    /// A session whose certificate was deleted from the store: 403 (Tyk's
    /// `ErrAuthCertNotFound`); the key works again once the certificate is back.
    CertificateNotInStore,
    StoreUnavailable,
    // Matching (SPEC §5).
    DomainDoesNotMatchSni,
    NoMatchingApi,
    /// A path API matching cannot trust (dot segments, encoded separators): 400.
    PathNotNormalized,
    /// An `:authority` that is not `host[:port]`: 400.
    InvalidHost,
}

impl Denial {
    pub fn status(&self) -> u32 {
        match self {
            Denial::ClientCertificateRequired | Denial::NoSession | Denial::KeyExpired => 401,
            Denial::StoreUnavailable => 503,
            Denial::PathNotNormalized | Denial::InvalidHost => 400,
            _ => 403,
        }
    }

    /// Tyk's message for this reason, verbatim where Tyk has one.
    pub fn message(&self) -> String {
        match self {
            Denial::TlsNotEnabled => "TLS not enabled".into(),
            Denial::ClientTlsCertificateRequired => "Client TLS certificate is required".into(),
            Denial::CertificateNotAllowed(fp) => {
                format!("Certificate with SHA256 {fp} not allowed")
            }
            Denial::CertificateExpired => "Certificate has expired".into(),
            Denial::ClientCertificateRequired => "Client certificate required".into(),
            Denial::NoSession | Denial::ApiNotInAccessRights | Denial::CertificateNotInStore => {
                "Access to this API has been disallowed".into()
            }
            Denial::KeyInactive => "Key is inactive, please renew".into(),
            Denial::KeyExpired => "Key has expired, please renew".into(),
            Denial::StoreUnavailable => "Certificate store unavailable".into(),
            Denial::DomainDoesNotMatchSni => "Domain does not match SNI".into(),
            Denial::NoMatchingApi => "No API matches this request".into(),
            Denial::PathNotNormalized => "Path is not normalized".into(),
            Denial::InvalidHost => "Host is not a valid host[:port]".into(),
        }
    }

    /// Stable label for the per-reason denial counter.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Denial::TlsNotEnabled => "tls_not_enabled",
            Denial::ClientTlsCertificateRequired | Denial::ClientCertificateRequired => {
                "no_certificate"
            }
            Denial::CertificateNotAllowed(_) => "not_allowed",
            Denial::CertificateExpired => "certificate_expired",
            Denial::NoSession => "no_session",
            Denial::KeyInactive => "key_inactive",
            Denial::KeyExpired => "key_expired",
            Denial::ApiNotInAccessRights => "access_rights",
            Denial::CertificateNotInStore => "certificate_removed",
            Denial::StoreUnavailable => "store_unavailable",
            Denial::DomainDoesNotMatchSni => "sni_mismatch",
            Denial::NoMatchingApi => "no_api",
            Denial::PathNotNormalized => "path_not_normalized",
            Denial::InvalidHost => "invalid_host",
        }
    }

    pub const ALL_LABELS: [&'static str; 14] = [
        "tls_not_enabled",
        "no_certificate",
        "not_allowed",
        "certificate_expired",
        "no_session",
        "key_inactive",
        "key_expired",
        "access_rights",
        "certificate_removed",
        "store_unavailable",
        "sni_mismatch",
        "no_api",
        "path_not_normalized",
        "invalid_host",
    ];

    /// Tyk's error template body: `{"error": "<message>"}`.
    pub fn body(&self) -> String {
        error_body(&self.message())
    }
}

/// Tyk's default error template, `{"error": "<message>"}`, with the message JSON-escaped.
/// The space after the colon is Tyk's: its own tests match bodies as text (`"error": "…`),
/// and so may a user's scripts.
pub fn error_body(message: &str) -> String {
    let escaped = serde_json::Value::String(message.to_owned()).to_string();
    format!("{{\"error\": {escaped}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_tyks_template_byte_for_byte() {
        assert_eq!(
            Denial::TlsNotEnabled.body(),
            r#"{"error": "TLS not enabled"}"#
        );
        let tricky = error_body("a \"quoted\" \\ line\nbreak");
        assert_eq!(tricky, r#"{"error": "a \"quoted\" \\ line\nbreak"}"#);
        let parsed: serde_json::Value = serde_json::from_str(&tricky).unwrap();
        assert_eq!(parsed["error"], "a \"quoted\" \\ line\nbreak");
    }
}
