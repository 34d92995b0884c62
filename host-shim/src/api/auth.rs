//! Credentials. SPEC §2: every admin route needs `X-Tyk-Authorization: <secret>`; the change
//! feed needs `Authorization: Bearer <feed token>`. Neither credential opens the other's
//! routes. Both comparisons are constant-time ([`crate::secret::Secret::matches`]).

use super::AppState;
use super::error::{ApiError, INVALID_ADMIN_KEY, INVALID_FEED_TOKEN};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub const ADMIN_HEADER: &str = "x-tyk-authorization";

/// The admin API's namespace: `/tyk` and everything under it.
const ADMIN_PREFIX: &str = "/tyk";

/// A layer on the whole router: every route, every method-not-allowed answer and the
/// fallback run through it, so it decides before any handler does (SPEC §2, Tyk's order: the
/// secret before routing). A request for any admin path needs the secret, whether or not a
/// route or method matches it, so an unauthenticated caller cannot tell routes that exist
/// (405, 400) from ones that do not (404). Other paths pass untouched.
pub async fn guard_admin_paths(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if !is_admin_path(request.uri().path()) {
        return next.run(request).await;
    }
    let presented = request.headers().get(ADMIN_HEADER);
    if presented.is_some_and(|value| state.admin_secret.matches(value.as_bytes())) {
        return next.run(request).await;
    }
    state
        .metrics
        .auth_failures
        .with_label_values(&["admin"])
        .inc();
    tracing::warn!(path = ?request.uri().path(), "admin request with invalid or missing secret");
    ApiError::new(StatusCode::FORBIDDEN, INVALID_ADMIN_KEY).into_response()
}

/// `/tyk`, `/tyk/…` (and `/tyk//…`), but not `/tykfoo`. The path is the raw one the router
/// matches on, so a percent-encoded spelling of `/tyk` reaches no admin route either.
fn is_admin_path(path: &str) -> bool {
    path.strip_prefix(ADMIN_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

pub async fn require_feed_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(bearer_token);
    let accepted = match (&state.feed_token, token) {
        (Some(expected), Some(token)) => expected.matches(token),
        _ => false,
    };
    if accepted {
        return next.run(request).await;
    }
    state
        .metrics
        .auth_failures
        .with_label_values(&["feed"])
        .inc();
    tracing::warn!(path = ?request.uri().path(), "feed request with invalid or missing token");
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, INVALID_FEED_TOKEN).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// The token of `Bearer <token>` (scheme case-insensitive, RFC 6750).
fn bearer_token(value: &HeaderValue) -> Option<&[u8]> {
    let bytes = value.as_bytes();
    let scheme = bytes.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = bytes.get(7..)?.trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::{bearer_token, is_admin_path};
    use axum::http::HeaderValue;

    #[test]
    fn admin_paths_are_tyk_and_everything_under_it() {
        for path in [
            "/tyk",
            "/tyk/",
            "/tyk/certs",
            "/tyk/nothing/at/all",
            "/tyk//x",
        ] {
            assert!(is_admin_path(path), "{path}");
        }
        for path in [
            "/",
            "/tykfoo",
            "/hello",
            "/mtls-gate/v1/changes",
            "/TYK/certs",
        ] {
            assert!(!is_admin_path(path), "{path}");
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_token_required() {
        let token =
            |v: &'static str| bearer_token(&HeaderValue::from_static(v)).map(<[u8]>::to_vec);
        assert_eq!(token("Bearer abc"), Some(b"abc".to_vec()));
        assert_eq!(token("bearer abc"), Some(b"abc".to_vec()));
        assert_eq!(token("Bearer "), None);
        assert_eq!(token("Basic abc"), None);
        assert_eq!(token("abc"), None);
    }
}
