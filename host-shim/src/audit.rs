//! The audit trail (`serve --audit-log FILE`, issue 15): one JSON line per admin write through
//! either API flavour (`/tyk`, `/api`), written and synced to disk before the answer leaves,
//! so every write a client saw acknowledged is in the file, also after `kill -9`.
//!
//! A line says when, what (method, route template, object ID), how it ended (status and
//! outcome) and who: the admin secret (and, on the mutual-TLS admin port, the client
//! certificate's SHA-256), or an org's Dashboard key (by org). Never a secret, a certificate
//! or a key: object IDs are certificate IDs and session keys, which are fingerprints.
//!
//! ```json
//! {"time":"2026-12-02T06:30:00.123Z","method":"POST","route":"/tyk/certs","object":"acme5d41…","status":200,"outcome":"ok","who":{"credential":"admin secret"}}
//! ```

use crate::api::AppState;
use crate::control_tls::Peer;
use crate::dashboard::OrgScope;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Admin answers are small JSON documents; a larger one is passed on without an object ID.
const ANSWER_LIMIT: usize = 64 * 1024;

/// The open audit file.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

#[derive(Debug, thiserror::Error)]
#[error("--audit-log {path}: {source}")]
pub struct AuditError {
    path: PathBuf,
    source: std::io::Error,
}

/// Who made a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Who {
    /// `admin secret` or `Dashboard key`.
    pub credential: &'static str,
    /// A Dashboard key's org.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// On the mutual-TLS admin port: the SHA-256 of the client certificate presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
}

/// One line of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub time: String,
    pub method: String,
    /// The route template (`/tyk/certs/{ids}`), never the raw path.
    pub route: String,
    /// The certificate ID or session key written, when the path or the answer names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    pub status: u16,
    /// `ok` (2xx), `refused` (4xx) or `error` (5xx).
    pub outcome: &'static str,
    pub who: Who,
}

impl AuditLog {
    /// Opens (creating, `0600`) `path` for appending.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        let error = |source| AuditError {
            path: path.to_path_buf(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path).map_err(error)?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Appends one line and syncs it to disk.
    pub fn append(&self, entry: &Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("audit log lock poisoned"))?;
        file.write_all(&line)?;
        file.sync_data()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Is this request an admin write? Previews validate without storing, so they are not.
fn is_admin_write(method: &Method, path: &str) -> bool {
    let write = [Method::POST, Method::PUT, Method::DELETE, Method::PATCH].contains(method);
    let admin = path.starts_with("/tyk/") || path.starts_with("/api/");
    write && admin && !path.ends_with("/preview")
}

/// The layer: records every admin write that reached a route (after the credential checks,
/// so `who` is known), once its answer is ready and before it is sent.
pub async fn record(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(log) = state.audit.clone() else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if !is_admin_write(&method, &path) {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |m| m.as_str().to_owned());
    let who = who(&request, &path);
    let object = object_in_path(&route, &path);
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let (body, object) = match object {
        Some(object) => (body, Some(object)),
        None => match to_bytes(body, ANSWER_LIMIT).await {
            Ok(bytes) => {
                let object = object_in_answer(&bytes);
                (Body::from(bytes), object)
            }
            // Too large to be an admin answer we name: pass nothing on rather than a cut body.
            Err(_) => (Body::empty(), None),
        },
    };
    let status = parts.status.as_u16();
    let entry = Entry {
        time: OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default(),
        method: method.to_string(),
        route,
        object,
        status,
        outcome: match status {
            200..=299 => "ok",
            400..=499 => "refused",
            _ => "error",
        },
        who,
    };
    let written = tokio::task::spawn_blocking(move || log.append(&entry)).await;
    if !matches!(written, Ok(Ok(()))) {
        // The write itself is done and cannot be taken back; say loudly that its trail is
        // missing (the path names the file, never the entry).
        tracing::error!(path = %state.audit.as_ref().map(|l| l.path().display().to_string()).unwrap_or_default(), "audit log: cannot append; this admin write is not in the trail");
    }
    Response::from_parts(parts, body)
}

fn who(request: &Request, path: &str) -> Who {
    if path.starts_with("/api/") {
        return Who {
            credential: "Dashboard key",
            org: request
                .extensions()
                .get::<crate::api::dashboard::auth::Caller>()
                .map(|caller| caller_org(&caller.0)),
            client_certificate: None,
        };
    }
    Who {
        credential: "admin secret",
        org: None,
        client_certificate: request
            .extensions()
            .get::<ConnectInfo<Peer>>()
            .and_then(|info| info.0.client_certificate.clone()),
    }
}

fn caller_org(scope: &OrgScope) -> String {
    scope.org_id().to_owned()
}

/// The `{ids}`/`{key}`/`{id}` segment of the path, when the route has one.
fn object_in_path(route: &str, path: &str) -> Option<String> {
    let position = route
        .split('/')
        .position(|segment| segment.starts_with('{') && segment.ends_with('}'))?;
    path.split('/')
        .nth(position)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// What a create names in its answer: Tyk's `id` (certificates), `key` (Gateway keys) or
/// Dashboard's `key_id`.
fn object_in_answer(answer: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(answer).ok()?;
    ["id", "key", "key_id"]
        .iter()
        .find_map(|field| value.get(field)?.as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admin_writes_are_recorded() {
        assert!(is_admin_write(&Method::POST, "/tyk/certs"));
        assert!(is_admin_write(&Method::DELETE, "/api/certs/x"));
        assert!(is_admin_write(&Method::PUT, "/tyk/keys/k"));
        assert!(!is_admin_write(&Method::GET, "/tyk/certs"));
        assert!(!is_admin_write(&Method::POST, "/tyk/keys/preview"));
        assert!(!is_admin_write(&Method::POST, "/api/keys/preview"));
        assert!(!is_admin_write(&Method::POST, "/mtls-gate/v1/changes"));
    }

    #[test]
    fn the_object_comes_from_the_path_or_the_answer() {
        assert_eq!(
            object_in_path("/tyk/certs/{ids}", "/tyk/certs/acme00ff").as_deref(),
            Some("acme00ff")
        );
        assert_eq!(object_in_path("/tyk/certs", "/tyk/certs"), None);
        assert_eq!(
            object_in_answer(br#"{"id":"acme00","status":"ok"}"#).as_deref(),
            Some("acme00")
        );
        assert_eq!(
            object_in_answer(br#"{"key_id":"k1","data":{}}"#).as_deref(),
            Some("k1")
        );
        assert_eq!(object_in_answer(b"not json"), None);
    }
}
