//! The certificate console (issue 15): a browser page at `/console` for the admin API and the
//! Dashboard API, served only with `serve --console`.
//!
//! The assets are hand-written and built into the binary (`include_str!`), so the console
//! works offline and needs no CDN or build step. The page talks to the same `/tyk`, `/api`
//! and `/gate` routes any client uses, sending the credential as the API header from the
//! tab's `sessionStorage`: no cookie, so no cross-site request can carry it (no CSRF).
//!
//! Every answer here carries a strict Content-Security-Policy: scripts and styles only from
//! this origin, no inline script or style, no frames, no forms posting elsewhere. The script
//! builds every node with `textContent`/`createElement`; the test below keeps HTML sinks out
//! of it, so a certificate's CN such as `<img src=x onerror=…>` can only ever show as text.

use crate::api::AppState;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

/// The console's path; its assets live under it.
pub const PATH: &str = "/console";

const INDEX_HTML: &str = include_str!("../../console/index.html");
const CONSOLE_JS: &str = include_str!("../../console/console.js");
const CONSOLE_CSS: &str = include_str!("../../console/console.css");

/// Same-origin scripts, styles, images (and `data:` images) and API calls; nothing inline,
/// nothing framed, no `<base>` and no form posting anywhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; \
    frame-ancestors 'none'; base-uri 'none'";

/// `GET /console` and `GET /console/<asset>`. The router merges these only when `serve
/// --console` is given; otherwise `/console` is the API's plain 404.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(PATH, get(index))
        .route(&format!("{PATH}/{{asset}}"), get(asset))
}

async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX_HTML)
}

async fn asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "index.html" => page("text/html; charset=utf-8", INDEX_HTML),
        "console.js" => page("text/javascript; charset=utf-8", CONSOLE_JS),
        "console.css" => page("text/css; charset=utf-8", CONSOLE_CSS),
        _ => crate::api::error::ApiError::new(StatusCode::NOT_FOUND, crate::api::error::NOT_FOUND)
            .into_response(),
    }
}

/// One asset with the console's security headers.
fn page(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        // The page holds no secret, but a cached copy could outlive an upgrade of the shim.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ),
    ];
    (headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls that turn a string into markup or code. None may appear in the console's script:
    /// with them, a certificate field could become HTML (or script) in the page.
    const SINKS: &[&str] = &[
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "Function(",
        "setTimeout(\"",
        "setTimeout('",
        "setInterval(\"",
        "setInterval('",
        "createContextualFragment",
        "srcdoc",
        "DOMParser",
    ];

    #[test]
    fn console_script_uses_no_html_or_code_sinks() {
        for sink in SINKS {
            assert!(
                !CONSOLE_JS.contains(sink),
                "console.js uses `{sink}`: build nodes with createElement/textContent instead"
            );
        }
    }

    #[test]
    fn console_page_has_no_inline_script_or_style() {
        // The CSP forbids inline code; a `<script>` with a body or a `style=` attribute
        // would silently not run, so neither may be written.
        let lower = INDEX_HTML.to_ascii_lowercase();
        assert!(!lower.contains("<style"), "inline <style> in index.html");
        assert!(!lower.contains(" style="), "style attribute in index.html");
        for (at, _) in lower.match_indices(" on") {
            let name: String = lower[at + 3..]
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            let after = lower[at + 3 + name.len()..].trim_start();
            assert!(
                name.is_empty() || !after.starts_with('='),
                "an on{name}= handler attribute in index.html"
            );
        }
        for (at, _) in lower.match_indices("<script") {
            let tag_end = lower[at..].find('>').map_or(lower.len(), |end| at + end);
            assert!(
                lower[at..tag_end].contains("src=\"/console/console.js\""),
                "a <script> without src in index.html"
            );
            assert!(
                lower[tag_end..].starts_with("></script>"),
                "a <script> with a body in index.html"
            );
        }
    }

    #[test]
    fn policy_forbids_inline_and_foreign_code() {
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        ] {
            assert!(CONTENT_SECURITY_POLICY.contains(directive), "{directive}");
        }
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    }
}
