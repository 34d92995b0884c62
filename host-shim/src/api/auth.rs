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

pub async fn require_admin_secret(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request.headers().get(ADMIN_HEADER);
    if presented.is_some_and(|value| state.admin_secret.matches(value.as_bytes())) {
        return next.run(request).await;
    }
    state
        .metrics
        .auth_failures
        .with_label_values(&["admin"])
        .inc();
    tracing::warn!(path = %request.uri().path(), "admin request with invalid or missing secret");
    ApiError::new(StatusCode::FORBIDDEN, INVALID_ADMIN_KEY).into_response()
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
    tracing::warn!(path = %request.uri().path(), "feed request with invalid or missing token");
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
    use super::bearer_token;
    use axum::http::HeaderValue;

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
