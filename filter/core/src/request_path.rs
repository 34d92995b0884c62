//! Whether a request path is in the form API matching assumes.
//!
//! `listen_path` is a plain prefix (SPEC §5), so `/open/../secure/x` would match an open
//! `/open/` API while an upstream that resolves dot segments serves `/secure/x`. Envoy can
//! normalise first (`normalize_path`, `merge_slashes`, `path_with_escaped_slashes_action`;
//! `render` sets all three), and then every path reaches the filter in normal form. Where an
//! Envoy is not set up so, the filter refuses what it cannot match safely instead of guessing
//! how the upstream will read it.

/// True when `path` (query and fragment ignored) has no dot segment, no empty segment, no
/// backslash, and no percent-encoded `.`, `/` or `\`.
pub fn is_normalized(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    if path.contains('\\') || path.contains("//") || has_encoded_separator(path) {
        return false;
    }
    !path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
}

fn has_encoded_separator(path: &str) -> bool {
    path.as_bytes().windows(3).any(|w| {
        matches!(
            w,
            [b'%', b'2', b'e' | b'E' | b'f' | b'F'] | [b'%', b'5', b'c' | b'C']
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn normal_paths_pass() {
        for path in [
            "/",
            "/secure/orders",
            "/a/b.c/d..e/",
            "/files/.hidden",
            "/q?next=/../x&p=%2e%2f",
            "/x#/../y",
            "/%41%20b",
            "",
        ] {
            assert!(is_normalized(path), "{path:?}");
        }
    }

    #[test]
    fn paths_an_upstream_could_read_differently_are_refused() {
        for path in [
            "/open/../secure/x",
            "/open/..",
            "/./secure",
            "/open/%2e%2e/secure",
            "/open/%2E%2e/secure",
            "/open/..%2fsecure",
            "/open/..%2Fsecure",
            "/open/..%5csecure",
            "/open/..\\secure",
            "//secure/x",
            "/open//x",
        ] {
            assert!(!is_normalized(path), "{path:?}");
        }
    }
}
