//! Secrets the shim holds: the admin secret (`X-Tyk-Authorization`), the feed token
//! (`Authorization: Bearer`), and the key-encryption secret.
//!
//! SPEC §2: the admin secret comparison is constant-time. Both sides are hashed with SHA-256
//! first, so neither the content nor the length of the expected value leaks through timing.

use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A non-empty secret string. Never printed.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("{0} is empty")]
    Empty(&'static str),
}

impl Secret {
    /// `what` names the secret in the error (e.g. "the admin secret (MTLS_GATE_SECRET)").
    pub fn new(value: impl Into<String>, what: &'static str) -> Result<Self, SecretError> {
        let value = Zeroizing::new(value.into());
        if value.trim().is_empty() {
            return Err(SecretError::Empty(what));
        }
        Ok(Secret(value))
    }

    /// Reads a secret file; trailing newlines (as `echo` writes) are not part of the secret.
    pub fn from_file_contents(contents: String, what: &'static str) -> Result<Self, SecretError> {
        let contents = Zeroizing::new(contents);
        let trimmed = contents.trim_end_matches(['\n', '\r']);
        Self::new(trimmed.to_owned(), what)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time equality with a presented credential.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let expected = Sha256::digest(self.0.as_bytes());
        let presented = Sha256::digest(presented);
        expected.ct_eq(&presented).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_blank_secret_is_refused() {
        assert!(Secret::new("", "x").is_err());
        assert!(Secret::new("  \n", "x").is_err());
        assert!(Secret::from_file_contents("\n".into(), "x").is_err());
    }

    #[test]
    fn matches_only_the_exact_value() {
        let secret = Secret::new("s3cret", "x").unwrap();
        assert!(secret.matches(b"s3cret"));
        assert!(!secret.matches(b"s3cret "));
        assert!(!secret.matches(b""));
        assert!(!secret.matches(b"s3cre"));
    }

    #[test]
    fn file_secret_drops_trailing_newlines() {
        let secret = Secret::from_file_contents("abc\n".into(), "x").unwrap();
        assert!(secret.matches(b"abc"));
    }

    #[test]
    fn debug_does_not_print_the_value() {
        let secret = Secret::new("s3cret", "x").unwrap();
        assert!(!format!("{secret:?}").contains("s3cret"));
    }
}
