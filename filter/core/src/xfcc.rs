//! Envoy's `x-forwarded-client-cert` (XFCC): used to learn the expiry of a presented
//! certificate that neither config nor store describes, and the certificates a client
//! presented, for CA entries (ENVOY-FACTS: no 1.40 property carries the peer's chain).
//! Never used for identity: the identity is the connection's digest, and a PEM counts
//! only if it hashes to it. Intermediates need no such check: a forged one cannot make a
//! signature verify.
//!
//! Format (Envoy docs): elements split by `,`, pairs by `;`, `key=value`, values optionally
//! double-quoted; `Cert`/`Chain` are URL-encoded PEM. Separators inside quotes don't split.
//!
//! Envoy 1.40 writes `URI=` and `DNS=` values unquoted and unescaped (ENVOY-FACTS "XFCC"), so
//! a client certificate whose SAN holds `,` splits Envoy's own element in two, the second
//! carrying whatever `Hash=`/`Cert=` the SAN spelled. Envoy writes `Cert` and `Chain` before
//! `Subject`, `URI` and `DNS`, so they stay in the first piece. The certificate and chain
//! readers therefore look at every piece, last first, for the one whose certificate hashes
//! to the connection's digest; reading only the last piece refused such a client's chain and
//! lost its expiry (a listed, expired certificate passed).

use crate::certificate::{CertificateFacts, parse_certificate};
use crate::client_trust::PresentedChain;
use crate::fingerprint::Fingerprint;
use crate::pem::parse_blocks;
use percent_encoding::percent_decode_str;

/// Splits on `separator` outside double quotes.
fn split_unquoted(text: &str, separator: char) -> impl DoubleEndedIterator<Item = &str> {
    let mut pieces = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            c if c == separator && !in_quotes => {
                pieces.push(text.get(start..i).unwrap_or(""));
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    pieces.push(text.get(start..).unwrap_or(""));
    pieces.into_iter()
}

/// The value of `key` in the LAST element (the one Envoy appended for this hop).
pub fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    field_of(split_unquoted(header, ',').last()?, key)
}

/// The value of `key` in one element.
fn field_of<'a>(element: &'a str, key: &str) -> Option<&'a str> {
    split_unquoted(element, ';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"'))
    })
}

/// Facts of the certificate in a `Cert` field of the header, only if it is the certificate
/// with `expected` fingerprint (so a forged header can't lend a different expiry). Every
/// element is looked at, last first (see the module doc: a SAN can split Envoy's element).
pub fn verified_certificate(header: &str, expected: &Fingerprint) -> Option<CertificateFacts> {
    let der = split_unquoted(header, ',')
        .rev()
        .filter_map(|element| leaf_der(field_of(element, "Cert")?))
        .find(|der| Fingerprint::of_der(der) == *expected)?;
    parse_certificate(&der).ok()
}

/// The certificates the client presented: the `Chain` field (leaf first, as Envoy writes
/// it), or the `Cert` field alone; only if its first certificate is the one with the
/// `expected` fingerprint. Every element is looked at, last first (see the module doc).
/// Whatever element it comes from, only the leaf is trusted to be the client's: the
/// intermediates are what the client chose to send in any case.
pub fn presented_chain(header: &str, expected: &Fingerprint) -> Option<PresentedChain> {
    split_unquoted(header, ',')
        .rev()
        .find_map(|element| presented_in(element, expected))
}

/// [`presented_chain`] for one element.
fn presented_in(element: &str, expected: &Fingerprint) -> Option<PresentedChain> {
    let from_field = |key: &str| -> Option<PresentedChain> {
        let pem = percent_decode_str(field_of(element, key)?)
            .decode_utf8()
            .ok()?;
        let mut certificates = parse_blocks(&pem)
            .ok()?
            .into_iter()
            .filter(|b| b.is_certificate())
            .map(|block| block.der);
        let leaf = certificates.next()?;
        (Fingerprint::of_der(&leaf) == *expected).then(|| PresentedChain {
            leaf,
            intermediates: certificates.collect(),
        })
    };
    from_field("Chain").or_else(|| from_field("Cert"))
}

/// May this XFCC go upstream (`forward_client_cert`)? Only when it is exactly one element,
/// with no key given twice, whose `Cert` hashes to the connection's digest and whose `Hash`,
/// if any, says the same: Envoy's own element for this connection. Whatever Envoy's
/// forwarding mode, a client's element then never travels (APPEND_FORWARD makes two
/// elements; a forged one has no PEM of the client's own certificate, or a `Hash` that
/// disagrees). What this cannot check is the element's other fields: under FORWARD_ONLY a
/// client could add a `Subject` to its own real certificate. Envoy's SANITIZE_SET (what
/// `render` sets) builds every field itself.
pub fn is_forwardable(header: &str, digest: &Fingerprint) -> bool {
    let mut elements = split_unquoted(header, ',');
    let (Some(element), None) = (elements.next(), elements.next()) else {
        return false;
    };
    let mut keys: Vec<String> = Vec::new();
    for pair in split_unquoted(element, ';').filter(|p| !p.trim().is_empty()) {
        let Some((key, _)) = pair.trim().split_once('=') else {
            return false;
        };
        let key = key.trim().to_ascii_lowercase();
        if keys.contains(&key) {
            return false;
        }
        keys.push(key);
    }
    let hash_agrees =
        field_of(element, "Hash").is_none_or(|hash| hash.eq_ignore_ascii_case(&digest.to_hex()));
    hash_agrees
        && field_of(element, "Cert")
            .and_then(leaf_der)
            .is_some_and(|der| Fingerprint::of_der(&der) == *digest)
}

/// The DER of the first certificate in a percent-encoded PEM field.
fn leaf_der(encoded: &str) -> Option<Vec<u8>> {
    let pem = percent_decode_str(encoded).decode_utf8().ok()?;
    parse_blocks(&pem)
        .ok()?
        .into_iter()
        .find(|b| b.is_certificate())
        .map(|block| block.der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_from_the_last_element_and_quotes_protect_separators() {
        let header = r#"By=spiffe://a;Hash=aaa,By=spiffe://b;Hash=bbb;Subject="CN=x,O=y;z";URI="#;
        assert_eq!(field(header, "Hash"), Some("bbb"));
        assert_eq!(field(header, "subject"), Some("CN=x,O=y;z"));
        assert_eq!(field(header, "URI"), Some(""));
        assert_eq!(field(header, "Cert"), None);
        assert_eq!(field("", "Hash"), None);
    }

    #[test]
    fn garbage_cert_fields_yield_nothing() {
        let fp = Fingerprint::of_der(b"x");
        for header in [
            "Cert=\"%ZZ\"",
            "Cert=\"not pem\"",
            "Cert=",
            "Hash=abc",
            "\"\"\"",
            ";;,,",
        ] {
            assert!(verified_certificate(header, &fp).is_none(), "{header}");
        }
    }
}

#[cfg(test)]
#[cfg(not(target_arch = "wasm32"))]
mod native_tests {
    use super::*;
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

    fn envoy_style_header(pem: &str, hash: &str) -> String {
        let cert = utf8_percent_encode(pem, NON_ALPHANUMERIC);
        format!(r#"Hash={hash};Cert="{cert}";Subject="CN=client";URI=;DNS=client.test"#)
    }

    #[test]
    fn certificate_counts_only_when_it_hashes_to_the_connection_digest() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client.test".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let fp = Fingerprint::of_der(cert.der());
        let header = envoy_style_header(&cert.pem(), &fp.to_hex());
        let facts = verified_certificate(&header, &fp).expect("matching certificate");
        assert_eq!(facts.fingerprint, fp);
        assert!(verified_certificate(&header, &Fingerprint::of_der(b"other")).is_none());
    }

    /// Envoy writes SANs unquoted: a client's `URI`/`DNS` SAN holding `,` splits Envoy's own
    /// element, and the piece after the split may carry a forged `Hash`/`Cert`/`Chain`. The
    /// real certificate and chain are still found (they come before the SANs), and a forged
    /// one still counts for nothing.
    #[test]
    fn a_san_that_splits_envoys_element_hides_neither_certificate_nor_chain() {
        let make = |name: &str| {
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec![name.into()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            (Fingerprint::of_der(cert.der()), cert.pem())
        };
        let (fp, pem) = make("client.test");
        let (other_fp, other_pem) = make("other.test");
        let encode = |pem: &str| utf8_percent_encode(pem, NON_ALPHANUMERIC).to_string();
        let forged = format!(
            "Hash={other_fp};Cert=\"{}\";Chain=\"{}\"",
            encode(&other_pem),
            encode(&other_pem)
        );
        let header = format!(
            "Hash={fp};Cert=\"{}\";Chain=\"{}\";Subject=\"CN=client\";URI=spiffe://x,{forged};DNS=a,b\"",
            encode(&pem),
            encode(&pem)
        );
        assert_eq!(
            verified_certificate(&header, &fp).map(|f| f.fingerprint),
            Some(fp)
        );
        let chain = presented_chain(&header, &fp).expect("Envoy's own chain");
        assert_eq!(Fingerprint::of_der(&chain.leaf), fp);
        assert!(chain.intermediates.is_empty());
        // The forged piece is the other certificate's own: it is that one's, never `fp`'s.
        assert_eq!(
            verified_certificate(&header, &other_fp).map(|f| f.fingerprint),
            Some(other_fp)
        );
        assert!(
            !is_forwardable(&header, &fp),
            "two elements never go upstream"
        );
        // Last first: of two elements for the same certificate, Envoy's (the last) wins.
        let (_, third_pem) = make("third.test");
        let client_first = format!(
            "Hash={fp};Cert=\"{}\";Chain=\"{}\",{}",
            encode(&pem),
            encode(&format!("{pem}{third_pem}")),
            envoy_style_header(&pem, &fp.to_hex())
        );
        let chain = presented_chain(&client_first, &fp).expect("a chain");
        assert!(
            chain.intermediates.is_empty(),
            "Envoy's element, not the client's"
        );
    }

    /// Audit hardening: XFCC goes upstream only as Envoy's one element for this connection.
    #[test]
    fn only_one_element_with_the_connections_own_certificate_is_forwardable() {
        let make = |name: &str| {
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec![name.into()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            (Fingerprint::of_der(cert.der()), cert.pem())
        };
        let (fp, pem) = make("client.test");
        let (other_fp, other_pem) = make("other.test");
        let own = envoy_style_header(&pem, &fp.to_hex());
        assert!(is_forwardable(&own, &fp));
        let upper_hash = envoy_style_header(&pem, &fp.to_hex().to_uppercase());
        assert!(is_forwardable(&upper_hash, &fp));
        let cases = [
            (
                "another certificate",
                envoy_style_header(&other_pem, &fp.to_hex()),
            ),
            (
                "hash of another",
                envoy_style_header(&pem, &other_fp.to_hex()),
            ),
            (
                "a client's element first",
                format!(
                    "{},{own}",
                    envoy_style_header(&other_pem, &other_fp.to_hex())
                ),
            ),
            ("own element twice", format!("{own},{own}")),
            (
                "hash only, no certificate",
                format!("Hash={fp};Subject=\"CN=admin\""),
            ),
            ("empty", String::new()),
        ];
        for (name, header) in cases {
            assert!(!is_forwardable(&header, &fp), "{name}");
        }
    }
}
