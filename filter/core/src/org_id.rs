//! What an `org_id` may contain: the one rule, used by the gate config, the admin API
//! (`?org_id=`, a session's `org_id`) and anything that builds an ID from an org.
//!
//! An org is a plain prefix of certificate IDs and session keys (SPEC §1), and those IDs
//! travel in URL paths (`/tyk/certs/<id>`), comma lists (`GET /tyk/certs/<a>,<b>`), log lines
//! and shared-data keys. Control characters and newlines would forge log lines, and a `,`,
//! `/`, `?`, `#`, `%`, quote, backslash or space would make an ID that one of those carriers
//! splits or rewrites. Tyk's own org IDs (24 hex characters, `default`, slugs) are untouched.

use std::fmt;

/// Longest org accepted: far above Tyk's 24-character IDs, far below anything abusive.
pub const MAX_LEN: usize = 128;

/// Why an `org_id` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgIdError {
    TooLong,
    /// The first character outside the allowed set.
    BadCharacter(char),
}

impl fmt::Display for OrgIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrgIdError::TooLong => write!(f, "org_id is longer than {MAX_LEN} characters"),
            OrgIdError::BadCharacter(c) => write!(
                f,
                "org_id may hold only letters, digits and - _ . : @ + ~ (found {c:?})"
            ),
        }
    }
}

impl std::error::Error for OrgIdError {}

/// Letters, digits and `- _ . : @ + ~`: printable, and safe in a URL path segment, a comma
/// list and a log line. The empty org (no org) is valid.
pub fn check(org_id: &str) -> Result<(), OrgIdError> {
    if org_id.len() > MAX_LEN {
        return Err(OrgIdError::TooLong);
    }
    match org_id.chars().find(|c| !is_allowed(*c)) {
        Some(c) => Err(OrgIdError::BadCharacter(c)),
        None => Ok(()),
    }
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@' | '+' | '~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tyk_org_ids_are_accepted() {
        for org in [
            "",
            "default",
            "5e9d9544a1dcd60001d0ed20",
            "acme-corp",
            "team_1.eu",
            "urn:org:7",
            "ops@acme",
        ] {
            assert_eq!(check(org), Ok(()), "{org:?}");
        }
    }

    #[test]
    fn characters_that_forge_logs_or_split_ids_are_refused() {
        for (org, bad) in [
            ("acme\nINFO admin logged in", '\n'),
            ("acme\r", '\r'),
            ("a\u{0}b", '\u{0}'),
            ("a,b", ','),
            ("a/b", '/'),
            ("a b", ' '),
            ("a\"b", '"'),
            ("a\\b", '\\'),
            ("a%2fb", '%'),
            ("a?b", '?'),
            ("a#b", '#'),
            ("ä", 'ä'),
        ] {
            assert_eq!(check(org), Err(OrgIdError::BadCharacter(bad)), "{org:?}");
        }
        assert_eq!(check(&"a".repeat(MAX_LEN + 1)), Err(OrgIdError::TooLong));
        assert_eq!(check(&"a".repeat(MAX_LEN)), Ok(()));
    }
}
