//! `serve --org-keys FILE` (SPEC §2b): the Dashboard API keys the shim accepts, each opening
//! one organisation. The file is a JSON object, `{"<api key>": "<org_id>", ...}`.
//!
//! A caller sends its key as Dashboard's `Authorization: <key>` (the form Tyk's docs show)
//! or `Authorization: Bearer <key>` (the scheme Dashboard's OpenAPI declares). Every
//! configured key is compared with what was presented, each in constant time
//! ([`Secret::matches`]) and all of them every time, so neither a key nor how many keys there
//! are, nor which one matched, shows in the timing.

use crate::secret::Secret;
use mtls_gate_core::org_id;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Shorter keys are refused: Tyk Dashboard's own keys are 32 hex characters.
pub const MIN_KEY_LEN: usize = 16;

/// The accepted keys, each with its org. Never printed.
pub struct OrgKeys {
    entries: Vec<OrgKey>,
}

struct OrgKey {
    key: Secret,
    org_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OrgKeysError {
    #[error("--org-keys {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--org-keys {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl OrgKeys {
    /// Reads and checks the file `--org-keys` names.
    pub fn load(path: &Path) -> Result<Self, OrgKeysError> {
        let json = std::fs::read(path).map_err(|source| OrgKeysError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&json).map_err(|reason| OrgKeysError::Invalid {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses `{"<api key>": "<org_id>", ...}`. The error says which entry is wrong and why,
    /// without the key itself.
    pub fn from_json(json: &[u8]) -> Result<Self, String> {
        const SHAPE: &str = r#"a JSON object {"<api key>": "<org_id>", ...}"#;
        let object: Map<String, Value> =
            serde_json::from_slice(json).map_err(|error| format!("not {SHAPE}: {error}"))?;
        if object.is_empty() {
            return Err(format!("holds no key: write {SHAPE}"));
        }
        let mut entries = Vec::with_capacity(object.len());
        for (index, (key, org)) in object.into_iter().enumerate() {
            let at = format!("entry {} (in file order)", index + 1);
            check_key(&key).map_err(|reason| format!("{at}: the API key {reason}"))?;
            let Value::String(org_id) = org else {
                return Err(format!("{at}: the org_id is not a string"));
            };
            // The empty org is no org: its IDs are bare fingerprints, which `/tyk` lists
            // for every org, so it cannot scope anything.
            if org_id.is_empty() {
                return Err(format!("{at}: the org_id is empty"));
            }
            org_id::check(&org_id).map_err(|error| format!("{at}: {error}"))?;
            let key = Secret::new(key, "a Dashboard API key").map_err(|e| format!("{at}: {e}"))?;
            entries.push(OrgKey { key, org_id });
        }
        Ok(OrgKeys { entries })
    }

    /// The org of the key presented in an `Authorization` header value, if it is one of
    /// ours. Every key is compared, whatever matched first.
    pub fn org_of(&self, presented: &[u8]) -> Option<&str> {
        let mut found = None;
        for entry in &self.entries {
            if entry.key.matches(presented) && found.is_none() {
                found = Some(entry.org_id.as_str());
            }
        }
        found
    }

    /// Whether `secret` is one of the keys (start-up refuses a key that is also the admin
    /// secret or the feed token: each credential opens its own routes only).
    pub fn contains(&self, secret: &Secret) -> bool {
        self.org_of(secret.expose().as_bytes()).is_some()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The orgs, in file order, each once (for the start-up log).
    pub fn orgs(&self) -> Vec<&str> {
        let mut orgs: Vec<&str> = Vec::new();
        for entry in &self.entries {
            if !orgs.contains(&entry.org_id.as_str()) {
                orgs.push(&entry.org_id);
            }
        }
        orgs
    }
}

impl std::fmt::Debug for OrgKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgKeys")
            .field("keys", &self.entries.len())
            .field("orgs", &self.orgs())
            .finish()
    }
}

/// A key travels as an HTTP header value, which loses surrounding whitespace: only visible
/// ASCII can be presented exactly as configured.
fn check_key(key: &str) -> Result<(), String> {
    if key.len() < MIN_KEY_LEN {
        return Err(format!(
            "is shorter than {MIN_KEY_LEN} characters (Dashboard's own keys have 32)"
        ));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("may hold only visible ASCII characters (no spaces)".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn each_key_opens_its_own_org_only() {
        let keys = OrgKeys::from_json(format!(r#"{{"{A}": "acme", "{B}": "globex"}}"#).as_bytes())
            .unwrap();
        assert_eq!(keys.org_of(A.as_bytes()), Some("acme"));
        assert_eq!(keys.org_of(B.as_bytes()), Some("globex"));
        for wrong in ["", "aaaa", &A[1..], &format!("{A} "), "acme"] {
            assert_eq!(keys.org_of(wrong.as_bytes()), None, "{wrong:?}");
        }
        assert_eq!(keys.orgs(), vec!["acme", "globex"]);
        assert!(!format!("{keys:?}").contains(A), "keys are never printed");
    }

    #[test]
    fn a_bad_file_is_refused_naming_the_entry_not_the_key() {
        let cases = [
            ("[]".to_owned(), "not a JSON object"),
            ("{}".to_owned(), "holds no key"),
            (r#"{"short": "acme"}"#.to_owned(), "shorter than 16"),
            (
                format!(r#"{{"{A}": "acme", "with a space in it!": "x"}}"#),
                "entry 2 (in file order): the API key may hold only visible ASCII",
            ),
            (format!(r#"{{"{A}": 5}}"#), "org_id is not a string"),
            (format!(r#"{{"{A}": ""}}"#), "org_id is empty"),
            (format!(r#"{{"{A}": "ac/me"}}"#), "org_id may hold only"),
        ];
        for (json, want) in cases {
            let error = OrgKeys::from_json(json.as_bytes())
                .err()
                .unwrap_or_default();
            assert!(error.contains(want), "{json}: {error}");
            assert!(!error.contains(A), "{error}");
        }
    }
}
