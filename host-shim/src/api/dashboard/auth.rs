//! Who calls `/api`: Dashboard's `Authorization: <API key>` (or `Bearer <API key>`), one of
//! `serve --org-keys`'s keys ([`crate::dashboard::OrgKeys`], compared in constant time). The
//! key's org is the caller's [`OrgScope`] for the whole request.

use super::error::{DISABLED, DashboardError, NOT_AUTHORISED};
use crate::api::AppState;
use crate::dashboard::{OrgKeys, OrgScope};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The Dashboard API's namespace: `/api` and everything under it.
const PREFIX: &str = "/api";

/// The caller's org, as its key says. Handlers take it as an extractor.
#[derive(Debug, Clone)]
pub struct Caller(pub OrgScope);

/// A layer on the whole router (as the admin secret's, `crate::api::auth`): every `/api`
/// path needs a known key before any route, method or 404 is decided, so an unauthenticated
/// caller learns nothing of the routes. Without `--org-keys` every `/api` path is 404, saying
/// how to turn the API on.
pub async fn guard(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    if !is_dashboard_path(request.uri().path()) {
        return next.run(request).await;
    }
    let Some(org_keys) = state.org_keys.as_deref() else {
        return DashboardError::new(StatusCode::NOT_FOUND, DISABLED).into_response();
    };
    let org = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| org_of(org_keys, value));
    match org {
        Some(org) => {
            let caller = Caller(OrgScope::new(org));
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        None => {
            state
                .metrics
                .auth_failures
                .with_label_values(&["dashboard"])
                .inc();
            tracing::warn!(path = ?request.uri().path(), "Dashboard API request with invalid or missing key");
            DashboardError::new(StatusCode::UNAUTHORIZED, NOT_AUTHORISED).into_response()
        }
    }
}

/// The org of the key in an `Authorization` value: the whole value (Tyk's docs), else what
/// follows `Bearer ` (Dashboard's OpenAPI declares bearer auth).
fn org_of<'k>(org_keys: &'k OrgKeys, value: &HeaderValue) -> Option<&'k str> {
    let bytes = value.as_bytes();
    org_keys.org_of(bytes).or_else(|| {
        let scheme = bytes.get(..7)?;
        scheme
            .eq_ignore_ascii_case(b"bearer ")
            .then(|| org_keys.org_of(bytes.get(7..)?.trim_ascii()))
            .flatten()
    })
}

/// `/api`, `/api/…`, not `/apis` nor `/api-docs`.
fn is_dashboard_path(path: &str) -> bool {
    path.strip_prefix(PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = DashboardError;

    /// Set by [`guard`]; a route it did not guard has no caller.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, DashboardError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| DashboardError::new(StatusCode::UNAUTHORIZED, NOT_AUTHORISED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboard_paths_are_api_and_everything_under_it() {
        for path in ["/api", "/api/certs", "/api/keys/x", "/api//x"] {
            assert!(is_dashboard_path(path), "{path}");
        }
        for path in ["/apis", "/api-docs", "/tyk/certs", "/", "/API/certs"] {
            assert!(!is_dashboard_path(path), "{path}");
        }
    }

    #[test]
    fn the_key_is_read_bare_or_after_bearer() {
        let key = "0123456789abcdef0123456789abcdef";
        let keys = OrgKeys::from_json(format!(r#"{{"{key}": "acme"}}"#).as_bytes()).unwrap();
        let org = |value: String| org_of(&keys, &HeaderValue::from_str(&value).unwrap());
        assert_eq!(org(key.to_owned()), Some("acme"));
        assert_eq!(org(format!("Bearer {key}")), Some("acme"));
        assert_eq!(org(format!("bearer {key}")), Some("acme"));
        assert_eq!(org(format!("Basic {key}")), None);
        assert_eq!(org(format!("Bearer {key}x")), None);
        assert_eq!(org("Bearer ".to_owned()), None);
    }
}
