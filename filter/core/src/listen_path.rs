//! An API's `proxy.listen_path` (SPEC §5): a prefix of the canonical request path
//! ([`crate::request_path`]), or a Tyk path template (`/api/{version}/`, `/orders/{id:[0-9]+}`)
//! matched as Tyk's router (gorilla/mux `PathPrefix`) matches it.
//!
//! Requests are matched decoded, so the listen path is decoded once too: `/caf%C3%A9/` and
//! `/café/` are one listen path. One that no canonical request path can start with (a `;`,
//! `?`, `#`, backslash, `//` or dot segment) would leave its API unreachable, and an mTLS
//! API's upstream reachable through another: it is refused.

use crate::bytes_eq::starts_with;
use crate::mux_template;
use percent_encoding::percent_decode_str;
use regex_lite::Regex;

#[derive(Debug, Clone)]
pub enum ListenPath {
    Prefix(String),
    /// A template compiled to a regex anchored at the start only (a prefix), with Tyk's
    /// length for ordering: variables count as nothing.
    Template {
        source: String,
        regex: Regex,
        tyk_length: usize,
    },
}

impl ListenPath {
    /// Reads `proxy.listen_path`; empty means `/`.
    pub fn parse(raw: &str) -> Result<ListenPath, String> {
        let raw = if raw.is_empty() { "/" } else { raw };
        if !raw.starts_with('/') {
            return Err("must start with `/`".into());
        }
        let decoded = percent_decode_str(raw).decode_utf8_lossy();
        if decoded.contains([';', '?', '#', '\\'])
            || decoded.contains("//")
            || decoded.split('/').any(|s| s == "." || s == "..")
        {
            return Err(
                "no request path can match it (a `;`, `?`, `#`, backslash, `//` or dot segment)"
                    .into(),
            );
        }
        if !mux_template::is_template(&decoded) {
            return Ok(ListenPath::Prefix(decoded.into_owned()));
        }
        let parts = mux_template::parse(&decoded).map_err(|e| e.to_string())?;
        // mux: a path variable without a pattern is one segment.
        let regex =
            mux_template::compile(&parts, "[^/]+", false, false).map_err(|e| e.to_string())?;
        Ok(ListenPath::Template {
            tyk_length: tyk_length(&decoded),
            source: decoded.into_owned(),
            regex,
        })
    }

    /// `path` is canonical (see [`crate::request_path::canonical`]).
    pub fn matches(&self, path: &str) -> bool {
        match self {
            ListenPath::Prefix(prefix) => starts_with(path.as_bytes(), prefix.as_bytes()),
            ListenPath::Template { regex, .. } => regex.is_match(path),
        }
    }

    /// The length Tyk sorts APIs by, longest first (`listenPathLength` in Tyk's loader):
    /// a template's variables count as nothing, its slashes and literals as themselves.
    pub fn tyk_length(&self) -> usize {
        match self {
            ListenPath::Prefix(prefix) => prefix.len(),
            ListenPath::Template { tyk_length, .. } => *tyk_length,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ListenPath::Prefix(prefix) => prefix,
            ListenPath::Template { source, .. } => source,
        }
    }
}

/// Tyk's `listenPathLength`: the slashes, plus every segment that is not wholly `{…}`.
fn tyk_length(template: &str) -> usize {
    let slashes = template.matches('/').count();
    let literal: usize = template
        .split('/')
        .filter(|s| !(s.len() > 2 && s.starts_with('{') && s.ends_with('}')))
        .map(str::len)
        .sum();
    slashes + literal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_path_matching_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("", "/anything", true),
            ("/secure/", "/secure/x", true),
            ("/secure/", "/secure", false),
            ("/secure", "/securex", true),
            ("/caf%C3%A9/", "/café/menu", true),
            ("/api/{version}/", "/api/v1/users", true),
            ("/api/{version}/", "/api/v1", false),
            ("/api/{version}/", "/api//users", false),
            ("/api/{version}/", "/api/a/b/users", true),
            ("/orders/{id:[0-9]+}", "/orders/42/lines", true),
            ("/orders/{id:[0-9]+}", "/orders/abc", false),
            ("/{tenant}/admin/", "/acme/admin/x", true),
            ("/{tenant}/admin/", "/acme/public/admin/x", false),
        ];
        for (listen_path, path, want) in cases {
            let parsed = ListenPath::parse(listen_path).unwrap();
            assert_eq!(parsed.matches(path), *want, "{listen_path} vs {path}");
        }
    }

    #[test]
    fn tyk_length_ignores_variables() {
        assert_eq!(ListenPath::parse("/abc/").unwrap().tyk_length(), 5);
        assert_eq!(
            ListenPath::parse("/api/{version}/x").unwrap().tyk_length(),
            "/api//x".len()
        );
    }

    #[test]
    fn listen_paths_no_request_can_match_are_refused() {
        for raw in [
            "secure/",
            "/a;b/",
            "/a?b",
            "/a#b",
            "/a//b",
            "/a/../b",
            "/a/%2e%2e/b",
            "/a\\b",
            "/api/{version",
            "/api/{v:(}/",
        ] {
            assert!(ListenPath::parse(raw).is_err(), "{raw}");
        }
    }
}
