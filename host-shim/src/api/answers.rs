//! The JSON bodies of the admin API's successful answers (SPEC §2), in Tyk's field order:
//! written by the handlers, read by [`crate::client`]. Error bodies are [`super::error`]'s.

use crate::certificates::meta::CertificateBasics;
use serde::{Deserialize, Serialize};

/// `POST /tyk/certs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateAdded {
    pub id: String,
    pub status: String,
    pub message: String,
}

impl CertificateAdded {
    pub fn new(id: String) -> Self {
        CertificateAdded {
            id,
            status: "ok".into(),
            message: "Certificate added".into(),
        }
    }
}

/// `DELETE /tyk/certs/<id>`, whether or not it existed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRemoved {
    pub status: String,
    pub message: String,
}

impl Default for CertificateRemoved {
    fn default() -> Self {
        CertificateRemoved {
            status: "ok".into(),
            message: "removed".into(),
        }
    }
}

/// `GET /tyk/certs`. Deviation: an empty list is `[]`, not `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateIds {
    pub certs: Vec<String>,
}

/// `GET /tyk/certs?mode=detailed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateDetails {
    pub certs: Vec<CertificateBasics>,
}

/// `GET /tyk/keys` (Tyk's `apiAllKeys`). An empty list is `[]`, as for certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyList {
    pub keys: Vec<String>,
}

/// `POST /tyk/keys/create`, `PUT` and `DELETE /tyk/keys/<key>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAction {
    pub key: String,
    pub status: String,
    /// `added`, `modified` or `deleted`.
    pub action: String,
}

impl KeyAction {
    pub fn added(key: String) -> Self {
        Self::ok(key, "added")
    }

    pub fn modified(key: String) -> Self {
        Self::ok(key, "modified")
    }

    pub fn deleted(key: String) -> Self {
        Self::ok(key, "deleted")
    }

    fn ok(key: String, action: &str) -> Self {
        KeyAction {
            key,
            status: "ok".into(),
            action: action.into(),
        }
    }
}
