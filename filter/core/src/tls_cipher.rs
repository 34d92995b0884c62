//! Tyk's `proxy.transport.ssl_ciphers` names (Go's `crypto/tls` names, matched as Tyk's
//! `crypto.ResolveCipher` matches them) and what Envoy's TLS library (BoringSSL) calls each
//! (SPEC §6b). Validated here, so a refusal names its JSON path; rendered by the shim.
//!
//! Go ignores its cipher list for TLS 1.3, and BoringSSL's TLS 1.3 suites cannot be
//! configured at all, so a TLS 1.3 name is accepted and has no BoringSSL name: it never
//! narrows anything. A list of TLS 1.3 names only leaves TLS ≤ 1.2 without a cipher, which is
//! what Tyk then gets too (the shim renders it as a TLS 1.3 minimum).

/// One cipher suite Tyk (Go) knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipherSuite {
    /// Go's name (`tls.CipherSuiteName`).
    pub go_name: &'static str,
    /// BoringSSL's (OpenSSL-style) name, as Envoy's `cipher_suites` takes it; `None` for a
    /// TLS 1.3 suite.
    pub boringssl_name: Option<&'static str>,
}

const fn suite(go_name: &'static str, boringssl_name: &'static str) -> CipherSuite {
    CipherSuite {
        go_name,
        boringssl_name: Some(boringssl_name),
    }
}

const fn tls13(go_name: &'static str) -> CipherSuite {
    CipherSuite {
        go_name,
        boringssl_name: None,
    }
}

/// `tls.CipherSuites()` and `tls.InsecureCipherSuites()` that Envoy 1.40 accepts
/// (each checked with `envoy --mode validate`; see `envoy-config/ENVOY-FACTS.md`).
const SUITES: [CipherSuite; 22] = [
    tls13("TLS_AES_128_GCM_SHA256"),
    tls13("TLS_AES_256_GCM_SHA384"),
    tls13("TLS_CHACHA20_POLY1305_SHA256"),
    suite(
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    ),
    suite(
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    ),
    suite(
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ),
    suite(
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
    ),
    suite(
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ),
    suite(
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ),
    suite(
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        "ECDHE-ECDSA-AES128-SHA",
    ),
    suite(
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        "ECDHE-ECDSA-AES256-SHA",
    ),
    suite("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"),
    suite("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"),
    suite(
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        "ECDHE-ECDSA-AES128-SHA256",
    ),
    suite(
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        "ECDHE-RSA-AES128-SHA256",
    ),
    suite("TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"),
    suite("TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"),
    suite("TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"),
    suite("TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"),
    suite("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"),
    // Go's legacy spellings without `_SHA256` (Tyk's `cipherNamesEqual` aliases).
    suite(
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ),
    suite(
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ),
];

/// Go names Tyk accepts that BoringSSL (so Envoy) refuses to configure.
const UNSUPPORTED: [&str; 5] = [
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
];

/// Looks a cipher name up as Tyk does (case-insensitive). Refuses, with the reason, a name
/// Tyk would skip as unknown (Tyk logs it at debug level and goes on without it: a typo then
/// silently widens or empties the list) and one Envoy cannot use.
pub fn resolve(name: &str) -> Result<&'static CipherSuite, String> {
    let name = name.trim();
    if let Some(found) = SUITES.iter().find(|s| s.go_name.eq_ignore_ascii_case(name)) {
        return Ok(found);
    }
    if UNSUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(name)) {
        return Err(format!(
            "{name}: Envoy's TLS library (BoringSSL) does not offer this cipher suite"
        ));
    }
    Err(format!(
        "{name}: not a cipher suite name Tyk knows (Go's names, e.g. \
         TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)"
    ))
}

/// Envoy's `tls_minimum_protocol_version` / `tls_maximum_protocol_version` value for one of
/// Tyk's version numbers (769 = TLS 1.0 … 772 = TLS 1.3).
pub fn envoy_version(tyk_number: u16) -> Option<&'static str> {
    match tyk_number {
        0x0301 => Some("TLSv1_0"),
        0x0302 => Some("TLSv1_1"),
        0x0303 => Some("TLSv1_2"),
        0x0304 => Some("TLSv1_3"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_names_map_to_boringssl_names_case_insensitively() {
        let found = resolve("tls_ecdhe_rsa_with_aes_128_gcm_sha256").unwrap();
        assert_eq!(found.boringssl_name, Some("ECDHE-RSA-AES128-GCM-SHA256"));
        assert_eq!(
            resolve("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305")
                .unwrap()
                .boringssl_name,
            Some("ECDHE-RSA-CHACHA20-POLY1305")
        );
        assert_eq!(
            resolve("TLS_AES_256_GCM_SHA384").unwrap().boringssl_name,
            None
        );
    }

    #[test]
    fn unknown_and_unsupported_names_are_refused_with_why() {
        assert!(
            resolve("TLS_RSA_WITH_RC4_128_SHA")
                .unwrap_err()
                .contains("BoringSSL")
        );
        assert!(
            resolve("ECDHE-RSA-AES128-GCM-SHA256")
                .unwrap_err()
                .contains("not a cipher suite name Tyk knows")
        );
    }

    #[test]
    fn every_name_is_listed_once() {
        let mut names: Vec<String> = SUITES
            .iter()
            .map(|s| s.go_name)
            .chain(UNSUPPORTED)
            .map(str::to_ascii_uppercase)
            .collect();
        names.sort();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
    }

    #[test]
    fn versions_are_tyks_numbers() {
        assert_eq!(envoy_version(771), Some("TLSv1_2"));
        assert_eq!(envoy_version(772), Some("TLSv1_3"));
        assert_eq!(envoy_version(0), None);
    }
}
