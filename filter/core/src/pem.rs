//! PEM framing, tolerant of the ways PEM reaches us in config and admin bodies.
//!
//! SPEC §1: accept CRLF line ends, and PEM collapsed onto one line with its newlines turned
//! into spaces (what happens when PEM is pasted into a JSON string or a YAML scalar).
//! Framing is split on whitespace, so both forms reduce to the same tokens; the body is
//! decoded with the `base64` crate.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use thiserror::Error;

/// One `-----BEGIN <label>-----` … `-----END <label>-----` block.
#[derive(Clone, PartialEq, Eq)]
pub struct PemBlock {
    pub label: String,
    pub der: Vec<u8>,
}

impl PemBlock {
    /// SPEC §1: any block whose type ends in `PRIVATE KEY` is a private key
    /// (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`).
    pub fn is_private_key(&self) -> bool {
        self.label.ends_with("PRIVATE KEY")
    }

    pub fn is_certificate(&self) -> bool {
        self.label == "CERTIFICATE"
    }

    pub fn is_public_key(&self) -> bool {
        self.label == "PUBLIC KEY"
    }
}

// Never print key material, even in debug logs.
impl std::fmt::Debug for PemBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PemBlock({}, {} bytes)", self.label, self.der.len())
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PemError {
    #[error("no PEM block found")]
    NoBlocks,
    #[error("PEM block `{0}` has no END line")]
    Unterminated(String),
    #[error("PEM END line `{found}` does not match BEGIN `{expected}`")]
    MismatchedEnd { expected: String, found: String },
    #[error("PEM block `{0}` has an invalid base64 body")]
    BadBase64(String),
    #[error("PEM block `{0}` carries headers (encrypted PEM is not supported)")]
    Headers(String),
    #[error("malformed PEM boundary line")]
    MalformedBoundary,
}

/// True when a config string is inline PEM rather than an ID or a fingerprint.
pub fn looks_like_pem(text: &str) -> bool {
    text.trim_start().starts_with("-----BEGIN ")
}

/// Parses every PEM block in `text`, in order. Text between blocks is ignored, as openssl does.
pub fn parse_blocks(text: &str) -> Result<Vec<PemBlock>, PemError> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(begin_at) = rest.find("-----BEGIN ") {
        let after_begin = rest.get(begin_at + "-----BEGIN ".len()..).unwrap_or("");
        let (label, body_and_rest) = split_boundary_label(after_begin)?;
        let end_marker = format!("-----END {label}-----");
        let Some(end_at) = body_and_rest.find("-----END ") else {
            return Err(PemError::Unterminated(label.to_owned()));
        };
        let body = body_and_rest.get(..end_at).unwrap_or("");
        let tail = body_and_rest.get(end_at..).unwrap_or("");
        if !tail.starts_with(&end_marker) {
            let found = tail
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            return Err(PemError::MismatchedEnd {
                expected: label.to_owned(),
                found,
            });
        }
        if body.contains(':') {
            return Err(PemError::Headers(label.to_owned()));
        }
        let compact: String = body.split_whitespace().collect();
        let der = STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| PemError::BadBase64(label.to_owned()))?;
        blocks.push(PemBlock {
            label: label.to_owned(),
            der,
        });
        rest = tail.get(end_marker.len()..).unwrap_or("");
    }
    if blocks.is_empty() {
        return Err(PemError::NoBlocks);
    }
    Ok(blocks)
}

/// From just after `-----BEGIN `, returns the label and the text after its closing `-----`.
fn split_boundary_label(text: &str) -> Result<(&str, &str), PemError> {
    let close = text.find("-----").ok_or(PemError::MalformedBoundary)?;
    let label = text.get(..close).ok_or(PemError::MalformedBoundary)?;
    // A label is one line of printable characters; a newline means a broken boundary.
    if label.is_empty() || label.contains(['\n', '\r', '-']) {
        return Err(PemError::MalformedBoundary);
    }
    Ok((label, text.get(close + 5..).unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_BLOCK: &str =
        "-----BEGIN CERTIFICATE-----\naGVsbG8g\nd29ybGQ=\n-----END CERTIFICATE-----\n";

    #[test]
    fn parses_a_plain_block() {
        let blocks = parse_blocks(HELLO_BLOCK).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "CERTIFICATE");
        assert_eq!(blocks[0].der, b"hello world");
    }

    #[test]
    fn crlf_and_one_line_forms_parse_the_same() {
        let crlf = HELLO_BLOCK.replace('\n', "\r\n");
        let one_line = HELLO_BLOCK.trim_end().replace('\n', " ");
        let want = parse_blocks(HELLO_BLOCK).unwrap();
        assert_eq!(parse_blocks(&crlf).unwrap(), want);
        assert_eq!(parse_blocks(&one_line).unwrap(), want);
    }

    #[test]
    fn keeps_block_order_and_classifies_labels() {
        let text = format!(
            "junk before\n{HELLO_BLOCK}-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
        );
        let blocks = parse_blocks(&text).unwrap();
        let labels: Vec<_> = blocks.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["CERTIFICATE", "RSA PRIVATE KEY", "PUBLIC KEY"]);
        assert!(blocks[0].is_certificate());
        assert!(blocks[1].is_private_key());
        assert!(blocks[2].is_public_key());
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let cases = [
            ("", PemError::NoBlocks),
            ("not pem at all", PemError::NoBlocks),
            (
                "-----BEGIN CERTIFICATE-----\naGVsbG8=\n",
                PemError::Unterminated("CERTIFICATE".into()),
            ),
            (
                "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----",
                PemError::BadBase64("CERTIFICATE".into()),
            ),
            ("-----BEGIN ", PemError::MalformedBoundary),
            ("-----BEGIN CERT\nIFICATE-----", PemError::MalformedBoundary),
        ];
        for (input, want) in cases {
            assert_eq!(parse_blocks(input), Err(want), "input {input:?}");
        }
        assert!(matches!(
            parse_blocks("-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END PUBLIC KEY-----"),
            Err(PemError::MismatchedEnd { .. })
        ));
        assert!(matches!(
            parse_blocks(
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----"
            ),
            Err(PemError::Headers(_))
        ));
    }

    #[test]
    fn looks_like_pem_only_for_begin_marker() {
        assert!(looks_like_pem(HELLO_BLOCK));
        assert!(looks_like_pem("  -----BEGIN CERTIFICATE----- x"));
        assert!(!looks_like_pem(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ));
    }
}
