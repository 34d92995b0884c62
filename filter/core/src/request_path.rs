//! The request path API matching compares `listen_path` against: the path an upstream will
//! serve, not the bytes the client sent.
//!
//! `listen_path` is a prefix (SPEC §5), and Tyk matches it on the decoded path. An upstream
//! decodes percent-escapes (`/%73ecure/x` is `/secure/x`), and Java servlet containers and
//! others drop `;` path parameters (`/secure;x=1/orders` is `/secure/orders`). Matching the
//! raw bytes would let such a path miss an mTLS API's prefix and reach its upstream with no
//! certificate. So the filter decides on the canonical form:
//! - query and fragment dropped;
//! - every percent-escape decoded (either hex case), once, as the upstream does;
//! - `;` parameters removed from every segment.
//!
//! What still cannot be matched safely is refused rather than guessed
//! ([`AmbiguousPath`]): a dot segment (`..`, `.`, also as `%2e%2e` or `..;x`), an empty
//! segment (`//`), a backslash, or an encoded `/` or `\`, whose meaning depends on the
//! upstream. Envoy can resolve most of these before the filter (`normalize_path`,
//! `merge_slashes`, `path_with_escaped_slashes_action`; `render` sets all three), and then
//! they never reach it.

use percent_encoding::percent_decode_str;
use std::borrow::Cow;

/// A path whose meaning depends on how the upstream reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmbiguousPath;

/// The path without query or fragment, as sent.
pub fn without_query(path: &str) -> &str {
    path.bytes()
        .position(|b| b == b'?' || b == b'#')
        .and_then(|end| path.get(..end))
        .unwrap_or(path)
}

/// The canonical form of a request path (see the module doc), or [`AmbiguousPath`].
/// Borrows when the path has nothing to decode or strip (the usual case): no allocation,
/// and one pass over its bytes.
pub fn canonical(path: &str) -> Result<Cow<'_, str>, AmbiguousPath> {
    let path = without_query(path);
    match plain_path_is_canonical(path) {
        Some(true) => return Ok(Cow::Borrowed(path)),
        Some(false) => return Err(AmbiguousPath),
        None => {}
    }
    decoded_canonical(path)
}

/// [`canonical`]'s full reading of a path without query or fragment.
fn decoded_canonical(path: &str) -> Result<Cow<'_, str>, AmbiguousPath> {
    if path.contains('\\') || has_encoded_separator(path) {
        return Err(AmbiguousPath);
    }
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let canonical = match decoded.contains(';') {
        true => Cow::Owned(strip_parameters(&decoded)),
        false => decoded,
    };
    if canonical.contains("//") || canonical.split('/').any(|s| s == "." || s == "..") {
        return Err(AmbiguousPath);
    }
    Ok(canonical)
}

/// The form used to match when no API needs a certificate (nothing to dodge): canonical
/// where possible, else the decoded path as it is.
pub fn best_effort(path: &str) -> Cow<'_, str> {
    canonical(path).unwrap_or_else(|_| percent_decode_str(without_query(path)).decode_utf8_lossy())
}

/// For a path with nothing to decode or strip (no `%`, `;` or `\\`), in one pass: whether it
/// is canonical as it is (`false`: it has an empty segment or a dot segment, as
/// [`canonical`]'s full reading would find); `None` for any other path.
fn plain_path_is_canonical(path: &str) -> Option<bool> {
    let dot_segment = |len: usize, dots: usize| (len == 1 || len == 2) && dots == len;
    let (mut len, mut dots, mut after_slash) = (0usize, 0usize, false);
    for byte in path.bytes() {
        match byte {
            b'%' | b';' | b'\\' => return None,
            b'/' => {
                if after_slash || dot_segment(len, dots) {
                    return Some(false);
                }
                (len, dots, after_slash) = (0, 0, true);
            }
            _ => {
                len += 1;
                dots += usize::from(byte == b'.');
                after_slash = false;
            }
        }
    }
    Some(!dot_segment(len, dots))
}

/// `/a;x/b;y=1;z` → `/a/b`: each segment loses everything from its first `;`.
fn strip_parameters(path: &str) -> String {
    path.split('/')
        .map(|segment| segment.split(';').next().unwrap_or(segment))
        .collect::<Vec<_>>()
        .join("/")
}

/// `%2f` / `%2F` (`/`) and `%5c` / `%5C` (`\`): a separator or not, by upstream.
fn has_encoded_separator(path: &str) -> bool {
    path.as_bytes()
        .windows(3)
        .any(|w| matches!(w, [b'%', b'2', b'f' | b'F'] | [b'%', b'5', b'c' | b'C']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_table() {
        let cases = [
            ("/", "/"),
            ("/secure/orders", "/secure/orders"),
            ("/a/b.c/d..e/", "/a/b.c/d..e/"),
            ("/files/.hidden", "/files/.hidden"),
            ("/.../x", "/.../x"),
            ("/x/", "/x/"),
            ("x", "x"),
            ("/q?next=/../x&p=%2e%2f", "/q"),
            ("/x#/../y", "/x"),
            ("", ""),
            // Percent-escapes decoded, either hex case (audit finding: /%73ecure dodged /secure/).
            ("/%73ecure/x", "/secure/x"),
            ("/%73%65%63%75%72%65/x", "/secure/x"),
            ("/%61nysecure/x", "/anysecure/x"),
            ("/%41%20b", "/A b"),
            ("/caf%C3%A9/", "/café/"),
            ("/caf%c3%a9/", "/café/"),
            // Decoded once, as an upstream does: a double escape stays an escape.
            ("/%2573ecure/", "/%73ecure/"),
            // A stray `%` is kept as it is.
            ("/100%/x", "/100%/x"),
            // Path parameters dropped from every segment.
            ("/secure;jsessionid=1/orders", "/secure/orders"),
            ("/secure/orders;v=2", "/secure/orders"),
            ("/a;x;y/b;z", "/a/b"),
            ("/secure%3bx/orders", "/secure/orders"),
        ];
        for (raw, want) in cases {
            assert_eq!(canonical(raw).as_deref(), Ok(want), "{raw:?}");
        }
    }

    #[test]
    fn canonical_form_borrows_when_there_is_nothing_to_change() {
        assert!(matches!(
            canonical("/secure/orders?x=1"),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn paths_an_upstream_could_read_differently_are_ambiguous() {
        for path in [
            "/open/../secure/x",
            "/open/..",
            "/./secure",
            "/open/%2e%2e/secure",
            "/open/%2E%2e/secure",
            "/open/%2e./secure",
            "/%2e/secure",
            "/open/..%2fsecure",
            "/open/..%2Fsecure",
            "/open/x%2Fy",
            "/open/..%5csecure",
            "/open/..%5Csecure",
            "/open/..\\secure",
            "//secure/x",
            "/open//x",
            "/open/%2f/x",
            // Tomcat reads `..;` as `..`.
            "/open/..;/secure/x",
            "/open/.;x/secure",
            "/open/%2e%2e;x/secure",
            // An emptied segment is an empty segment.
            "/open/;x/secure",
            // Read in one pass (nothing to decode): the same answers.
            ".",
            "..",
            "./x",
            "/x/.",
            "/x/..",
            "/x//",
            "x//y",
        ] {
            assert_eq!(canonical(path), Err(AmbiguousPath), "{path:?}");
        }
    }

    #[test]
    fn the_one_pass_reading_agrees_with_the_full_one() {
        // Every path of up to 7 characters over the bytes that matter.
        let alphabet = ['/', '.', 'a'];
        let mut paths = vec![String::new()];
        for _ in 0..7 {
            let longer: Vec<String> = paths
                .iter()
                .flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}")))
                .collect();
            for path in &longer {
                let fast = plain_path_is_canonical(path);
                assert_eq!(fast, Some(decoded_canonical(path).is_ok()), "{path:?}");
            }
            paths = longer;
        }
        assert_eq!(plain_path_is_canonical("/a%41"), None);
        assert_eq!(plain_path_is_canonical("/a;x"), None);
        assert_eq!(plain_path_is_canonical("/a\\b"), None);
    }

    #[test]
    fn best_effort_decodes_what_it_cannot_canonicalise() {
        assert_eq!(best_effort("/a/../b%41?q"), "/a/../bA");
        assert_eq!(best_effort("/%73ecure"), "/secure");
    }
}
