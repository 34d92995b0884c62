//! PEM as text: writing it (64-column base64 lines, as openssl writes them; the core crate
//! reads it), and telling what an upload that is not PEM looks like instead, so a refusal can
//! say what to do (`upload`'s hints).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub fn encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// What an upload body is, before any PEM is read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyShape {
    /// Nothing, or only whitespace.
    Empty,
    /// Binary that starts like DER (an ASN.1 SEQUENCE, `0x30`): a `.der`/`.cer` file.
    Der,
    /// Other binary: not UTF-8, or control characters a PEM file never holds.
    Binary,
    /// Text: may hold PEM blocks.
    Text,
}

/// The shape of `body`. Binary is told from text by UTF-8 validity and by control characters
/// other than tab, CR and LF, unless the body holds a PEM boundary (text around PEM blocks is
/// ignored, as openssl does).
pub fn shape(body: &[u8]) -> BodyShape {
    if body.iter().all(u8::is_ascii_whitespace) {
        return BodyShape::Empty;
    }
    let text = std::str::from_utf8(body).ok();
    let has_boundary = text.is_some_and(|t| t.contains("-----BEGIN "));
    let has_control = body
        .iter()
        .any(|b| b.is_ascii_control() && !matches!(b, b'\t' | b'\r' | b'\n'));
    if has_boundary || (text.is_some() && !has_control) {
        return BodyShape::Text;
    }
    // DER: a SEQUENCE tag, then a length (short form, or 0x81/0x82/0x83 long form).
    match body {
        [0x30, len, ..] if *len < 0x80 || (0x81..=0x84).contains(len) => BodyShape::Der,
        _ => BodyShape::Binary,
    }
}

/// `CERTIFICATE REQUEST` (openssl req) and `NEW CERTIFICATE REQUEST` (older tools, Windows).
pub fn is_certificate_request(label: &str) -> bool {
    matches!(label, "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST")
}

/// A PKCS#8 `ENCRYPTED PRIVATE KEY` block (`openssl pkey -aes256`, `genpkey -aes256`).
pub fn is_encrypted_private_key(label: &str) -> bool {
    label == "ENCRYPTED PRIVATE KEY"
}

/// Legacy (RFC 1421) encryption: a `… PRIVATE KEY` block with `Proc-Type: 4,ENCRYPTED`
/// headers (`openssl genrsa -aes256`, `openssl rsa -des3`).
pub fn has_legacy_encrypted_key(text: &str) -> bool {
    text.contains("PRIVATE KEY-----") && text.contains("Proc-Type: 4,ENCRYPTED")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_pem_parses_back_to_the_same_der() {
        let der: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let pem = super::encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|line| line.len() <= 64));
        let blocks = mtls_gate_core::pem::parse_blocks(&pem).unwrap();
        assert_eq!(blocks[0].der, der);
    }

    #[test]
    fn shapes_of_bodies() {
        let cases: &[(&[u8], BodyShape)] = &[
            (b"", BodyShape::Empty),
            (b" \n\r\n\t", BodyShape::Empty),
            (b"\x30\x82\x01\x0a\x02\x82", BodyShape::Der),
            (b"\x30\x2a\x02\x01\x00", BodyShape::Der),
            (b"\xff\xfe\x00", BodyShape::Binary),
            (b"\x30\xff", BodyShape::Binary),
            (b"PK\x03\x04zip", BodyShape::Binary),
            (b"hello", BodyShape::Text),
            ("\u{fffd}\u{fffd}".as_bytes(), BodyShape::Text),
            (
                b"junk \x01 -----BEGIN CERTIFICATE-----\nYQ==\n-----END CERTIFICATE-----",
                BodyShape::Text,
            ),
        ];
        for (body, want) in cases {
            assert_eq!(shape(body), *want, "{body:?}");
        }
    }

    #[test]
    fn labels_and_headers() {
        assert!(is_certificate_request("CERTIFICATE REQUEST"));
        assert!(is_certificate_request("NEW CERTIFICATE REQUEST"));
        assert!(!is_certificate_request("CERTIFICATE"));
        assert!(is_encrypted_private_key("ENCRYPTED PRIVATE KEY"));
        assert!(!is_encrypted_private_key("PRIVATE KEY"));
        assert!(has_legacy_encrypted_key(
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----"
        ));
        assert!(!has_legacy_encrypted_key(
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----"
        ));
    }
}
