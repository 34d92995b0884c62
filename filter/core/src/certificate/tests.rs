//! Differential tests of certificate reading against x509-parser. Test-only: included under
//! `#[cfg(test)]`, so unwraps here cannot trap a VM.

use super::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

fn self_signed(cn: &str, ca: bool) -> (String, String) {
    let mut params = CertificateParams::new(vec![format!("{cn}.example.test")]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn leaf_facts_match_the_der() {
    let (pem, _) = self_signed("client-a", false);
    let bundle = parse_bundle(&pem).unwrap();
    let (block, leaf) = &bundle.certificates[0];
    assert_eq!(leaf.fingerprint, Fingerprint::of_der(&block.der));
    assert_eq!(leaf.subject_cn, "client-a");
    assert_eq!(leaf.issuer_cn, "client-a");
    assert_eq!(leaf.dns_names, ["client-a.example.test"]);
    assert!(!leaf.is_ca);
    assert!(leaf.not_after > leaf.not_before);
}

#[test]
fn ca_flag_is_read_from_basic_constraints() {
    let (pem, _) = self_signed("root", true);
    assert!(parse_bundle(&pem).unwrap().leaf().unwrap().is_ca);
}

#[test]
fn the_first_certificate_of_a_chain_is_the_identity() {
    let (leaf, _) = self_signed("leaf", false);
    let (ca, _) = self_signed("ca", true);
    let chain = parse_bundle(&format!("{leaf}{ca}")).unwrap();
    let leaf_only = parse_bundle(&leaf).unwrap();
    assert_eq!(chain.certificates.len(), 2);
    assert_eq!(chain.fingerprint(), leaf_only.fingerprint());
    assert_eq!(
        chain.certificate_id("org7"),
        Some(format!("org7{}", leaf_only.fingerprint().unwrap()))
    );
}

#[test]
fn cert_and_key_bundle_separates_the_key() {
    let (cert, key) = self_signed("with-key", false);
    let bundle = parse_bundle(&format!("{cert}{key}")).unwrap();
    assert_eq!(bundle.certificates.len(), 1);
    assert_eq!(bundle.private_keys.len(), 1);
    assert!(bundle.public_keys.is_empty());
}

#[test]
fn public_key_bundle_is_identified_by_spki_digest() {
    let key = KeyPair::generate().unwrap();
    let public_pem = key.public_key_pem();
    let spki_der = crate::pem::parse_blocks(&public_pem).unwrap()[0]
        .der
        .clone();
    let bundle = parse_bundle(&public_pem).unwrap();
    assert!(bundle.certificates.is_empty());
    assert_eq!(bundle.fingerprint(), Some(Fingerprint::of_der(&spki_der)));
    // The SPKI in a certificate for the same key is the same bytes.
    let cert = CertificateParams::new(vec!["pk.example.test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    assert_eq!(
        parse_bundle(&cert.pem()).unwrap().leaf().unwrap().spki_der,
        spki_der
    );
}

#[test]
fn garbage_inside_a_certificate_block_is_an_asn1_error() {
    let pem = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        parse_bundle(pem),
        Err(BundleError::Certificate { index: 0, .. })
    ));
}

/// What a parser read of a certificate, as this module and `trust/` use it: the facts, the
/// basic constraints and the validity.
#[derive(Debug, PartialEq, Eq)]
struct Reading {
    facts: Result<CertificateFacts, ()>,
    /// `Err`: no certificate; `Ok(Err)`: unreadable (x509-cert) or present twice;
    /// `Ok(Ok(Some((CA, pathlen))))`.
    basic_constraints: Result<BasicConstraintsReading, ()>,
    validity: Result<(i64, i64), ()>,
}

type BasicConstraintsReading = Result<Option<(bool, Option<u32>)>, ()>;

/// x509-parser's reading (the parser the filter used before, still the shim's).
fn x509_parser_reading(der: &[u8]) -> Reading {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let parsed = X509Certificate::from_der(der);
    let facts = match &parsed {
        Ok(([], cert)) => {
            let first_cn = |name: &x509_parser::x509::X509Name<'_>| {
                name.iter_common_name()
                    .next()
                    .and_then(|cn| cn.as_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let dns_names = match cert.subject_alternative_name() {
                Ok(Some(san)) => san
                    .value
                    .general_names
                    .iter()
                    .filter_map(|name| match name {
                        GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Ok(CertificateFacts {
                fingerprint: Fingerprint::of_der(der),
                not_before: cert.validity().not_before.timestamp(),
                not_after: cert.validity().not_after.timestamp(),
                is_ca: cert.is_ca(),
                subject_cn: first_cn(cert.subject()),
                issuer_cn: first_cn(cert.issuer()),
                dns_names,
                spki_der: cert.public_key().raw.to_vec(),
            })
        }
        _ => Err(()),
    };
    let basic_constraints = match &parsed {
        Ok(([], cert)) => Ok(cert
            .basic_constraints()
            .map(|bc| bc.map(|bc| (bc.value.ca, bc.value.path_len_constraint)))
            .map_err(|_| ())),
        _ => Err(()),
    };
    let validity = match &parsed {
        Ok((_, cert)) => Ok((
            cert.validity().not_before.timestamp(),
            cert.validity().not_after.timestamp(),
        )),
        Err(_) => Err(()),
    };
    Reading {
        facts,
        basic_constraints,
        validity,
    }
}

/// This module's reading (x509-cert's), as `trust/` uses it too.
fn our_reading(der: &[u8]) -> Reading {
    let parsed = decode_certificate(der);
    let basic_constraints = match &parsed {
        Ok((cert, 0)) => Ok(super::basic_constraints(cert)
            .map(|bc| bc.map(|bc| (bc.ca, bc.path_len_constraint.map(u32::from))))
            .map_err(|_| ())),
        _ => Err(()),
    };
    Reading {
        facts: parse_certificate(der).map_err(|_| ()),
        basic_constraints,
        validity: parsed
            .map_err(|_| ())
            .and_then(|(cert, _)| validity(&cert).map_err(|_| ())),
    }
}

/// Whether `ours` agrees with `theirs` where it reads anything: x509-cert (strict DER, no
/// time before 1970) refuses more than x509-parser did, and reads less of some fields
/// x509-parser read leniently, but never reads anything differently. Allowed:
/// - a refusal (fail closed) where x509-parser read the certificate;
/// - an empty common name, no DNS names, or not a CA, where x509-parser read them from an
///   element of the wrong class (e.g. a context-specific `[12]` where a UTF8String belongs:
///   x509-parser checked only tag numbers);
/// - reading a certificate x509-parser refused only because a BIT STRING (the key or the
///   signature) declares unused bits: x509-cert reads those as DER allows (unused bits
///   zero); webpki then refuses the key or signature.
fn agrees(ours: &Reading, theirs: &Reading, der: &[u8]) -> bool {
    let less = |ours: &str, theirs: &str| ours == theirs || ours.is_empty();
    let facts = match (&ours.facts, &theirs.facts) {
        (Err(()), _) => true,
        (Ok(ours), Ok(theirs)) => {
            ours.fingerprint == theirs.fingerprint
                && (ours.not_before, ours.not_after) == (theirs.not_before, theirs.not_after)
                && ours.spki_der == theirs.spki_der
                && (ours.is_ca == theirs.is_ca || !ours.is_ca)
                && less(&ours.subject_cn, &theirs.subject_cn)
                && less(&ours.issuer_cn, &theirs.issuer_cn)
                && (ours.dns_names == theirs.dns_names || ours.dns_names.is_empty())
        }
        (Ok(_), Err(())) => bit_string_with_unused_bits(der),
    };
    let basic_constraints = match (&ours.basic_constraints, &theirs.basic_constraints) {
        (Err(()) | Ok(Err(())), _) => true,
        (Ok(Ok(ours)), Ok(Ok(theirs))) => ours == theirs,
        (Ok(Ok(_)), _) => theirs.facts.is_err() && bit_string_with_unused_bits(der),
    };
    let validity = match (&ours.validity, &theirs.validity) {
        (Err(()), _) => true,
        (Ok(ours), Ok(theirs)) => ours == theirs,
        (Ok(_), Err(())) => bit_string_with_unused_bits(der),
    };
    facts && basic_constraints && validity
}

/// Whether x509-cert reads a BIT STRING in the certificate (the last two elements of the
/// SubjectPublicKeyInfo or of the certificate) with unused bits declared.
fn bit_string_with_unused_bits(der: &[u8]) -> bool {
    let Ok((cert, _)) = decode_certificate(der) else {
        return false;
    };
    let key = cert
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .unused_bits();
    key != 0 || cert.signature().unused_bits() != 0
}

fn unix(time: time::OffsetDateTime) -> i64 {
    time.unix_timestamp()
}

/// Certificates of many shapes: CA or not, path lengths, SAN kinds, name string types,
/// times from 1950 to 9999 (UTCTime and GeneralizedTime).
fn varied_certificates() -> Vec<Vec<u8>> {
    use rcgen::{DnType, DnValue, SanType, date_time_ymd};
    let key = KeyPair::generate().unwrap();
    let mut out = Vec::new();
    let times = [
        (date_time_ymd(1950, 1, 1), date_time_ymd(1969, 12, 31)),
        (date_time_ymd(1970, 1, 1), date_time_ymd(2049, 12, 31)),
        (date_time_ymd(1975, 1, 1), date_time_ymd(2050, 1, 1)),
        (date_time_ymd(2000, 2, 29), date_time_ymd(2038, 1, 20)),
        (date_time_ymd(1, 1, 1), date_time_ymd(9999, 12, 31)),
    ];
    let constraints = [
        IsCa::NoCa,
        IsCa::ExplicitNoCa,
        IsCa::Ca(BasicConstraints::Unconstrained),
        IsCa::Ca(BasicConstraints::Constrained(0)),
        IsCa::Ca(BasicConstraints::Constrained(7)),
    ];
    let names: [Vec<(DnType, DnValue)>; 5] = [
        vec![(DnType::CommonName, DnValue::Utf8String("utf8 é".into()))],
        vec![
            (DnType::OrganizationName, "org".into()),
            (
                DnType::CommonName,
                DnValue::PrintableString("printable".try_into().unwrap()),
            ),
            (DnType::CommonName, "second".into()),
        ],
        vec![(
            DnType::CommonName,
            DnValue::Ia5String("ia5".try_into().unwrap()),
        )],
        vec![(
            DnType::CommonName,
            DnValue::BmpString("bmp".try_into().unwrap()),
        )],
        vec![(DnType::CountryName, "NL".into())],
    ];
    for (index, ((not_before, not_after), is_ca)) in times.into_iter().zip(constraints).enumerate()
    {
        for (name_index, name) in names.iter().enumerate() {
            let mut params = CertificateParams::default();
            params.not_before = not_before;
            params.not_after = not_after;
            params.is_ca = is_ca;
            for (kind, value) in name {
                params.distinguished_name.push(kind.clone(), value.clone());
            }
            params.subject_alt_names = match (index + name_index) % 3 {
                0 => vec![],
                1 => vec![
                    SanType::DnsName("a.example.test".try_into().unwrap()),
                    SanType::IpAddress("192.0.2.1".parse().unwrap()),
                    SanType::DnsName("*.b.example.test".try_into().unwrap()),
                ],
                _ => vec![
                    SanType::Rfc822Name("x@example.test".try_into().unwrap()),
                    SanType::URI("spiffe://example.test/x".try_into().unwrap()),
                    SanType::DnsName("c.example.test".try_into().unwrap()),
                ],
            };
            out.push(params.self_signed(&key).unwrap().der().to_vec());
        }
    }
    out
}

/// Every certificate x509-cert can represent is read exactly as x509-parser read it; the
/// others (a time before 1970) are refused.
#[test]
fn facts_agree_with_x509_parser() {
    let mut read = 0;
    for der in varied_certificates() {
        let (ours, theirs) = (our_reading(&der), x509_parser_reading(&der));
        let (not_before, _) = theirs.validity.unwrap();
        if not_before < 0 {
            // Known difference: der 0.8 has no time before 1970 (fail closed).
            assert!(ours.facts.is_err() && ours.validity.is_err(), "{ours:?}");
            assert!(dns_names(&der).is_empty());
            continue;
        }
        read += 1;
        assert_eq!(ours, theirs);
        assert_eq!(dns_names(&der), ours.facts.unwrap().dns_names);
    }
    assert_eq!(read, 15);
}

#[test]
fn times_from_1970_to_9999_are_read_and_earlier_ones_refused() {
    use rcgen::date_time_ymd;
    let key = KeyPair::generate().unwrap();
    let der = |not_before, not_after| {
        let mut params = CertificateParams::default();
        params.not_before = not_before;
        params.not_after = not_after;
        params.self_signed(&key).unwrap().der().to_vec()
    };
    let read = [
        (date_time_ymd(1970, 1, 1), date_time_ymd(2049, 12, 31)),
        (date_time_ymd(2038, 1, 20), date_time_ymd(2050, 1, 1)),
        (date_time_ymd(2000, 2, 29), date_time_ymd(9999, 12, 31)),
    ];
    for (not_before, not_after) in read {
        let facts = parse_certificate(&der(not_before, not_after)).unwrap();
        assert_eq!(
            (facts.not_before, facts.not_after),
            (unix(not_before), unix(not_after))
        );
    }
    // Known difference with x509-parser: der 0.8's times start at 1970 (UTCTime 50-69 and
    // GeneralizedTime before 1970 are unrepresentable); such certificates are refused.
    let refused = [
        (date_time_ymd(1950, 1, 1), date_time_ymd(2030, 1, 1)),
        (date_time_ymd(1969, 12, 31), date_time_ymd(2030, 1, 1)),
        (date_time_ymd(1, 1, 1), date_time_ymd(9999, 12, 31)),
    ];
    for (not_before, not_after) in refused {
        let der = der(not_before, not_after);
        assert!(matches!(
            parse_certificate(&der),
            Err(CertificateError::Asn1(_))
        ));
        assert!(decode_certificate(&der).is_err());
    }
}

/// Time strings, as either type: x509-cert reads the DER forms from 1970 on exactly as
/// x509-parser read them, and refuses everything else (x509-parser also read UTCTime
/// without seconds or with an offset, GeneralizedTime with a fraction, and years before
/// 1970).
#[test]
fn times_are_read_as_x509_parser_read_them_or_refused() {
    use x509_cert::time::Time;
    use x509_parser::prelude::FromDer;
    let ours = |tag: u8, text: &str| {
        let mut der = vec![tag, u8::try_from(text.len()).unwrap()];
        der.extend_from_slice(text.as_bytes());
        let time = Time::from_der(&der).ok()?;
        Some(i64::try_from(time.to_unix_duration().as_secs()).unwrap())
    };
    let theirs = |tag: u8, text: &str| {
        let mut der = vec![tag, u8::try_from(text.len()).unwrap()];
        der.extend_from_slice(text.as_bytes());
        x509_parser::time::ASN1Time::from_der(&der)
            .ok()
            .map(|(_, time)| time.timestamp())
    };
    let (utc, generalized) = (0x17u8, 0x18u8);
    let read = [
        (utc, "700101000000Z", 0),
        (utc, "491231235959Z", 2_524_607_999),
        (utc, "380119031408Z", i64::from(i32::MAX) + 1),
        (utc, "000229120000Z", 951_825_600),
        (generalized, "20500101000000Z", 2_524_608_000),
        (generalized, "99991231235959Z", 253_402_300_799),
    ];
    for (tag, text, seconds) in read {
        assert_eq!(ours(tag, text), Some(seconds), "{text}");
        assert_eq!(theirs(tag, text), Some(seconds), "{text}");
    }
    let refused_here_read_there = [
        (utc, "691231235959Z"),
        (utc, "500101000000Z"),
        (utc, "9912312359Z"),
        (utc, "700101010000+0100"),
        (generalized, "19691231235959Z"),
        (generalized, "00000101000000Z"),
        (generalized, "20200101000000.123Z"),
        (generalized, "202001010000Z"),
    ];
    for (tag, text) in refused_here_read_there {
        assert_eq!(ours(tag, text), None, "{text}");
        assert!(theirs(tag, text).is_some(), "{text}");
    }
    let strings = [
        "700101000000Z",
        "691231235959Z",
        "500101000000Z",
        "491231235959Z",
        "380119031408Z",
        "000229120000Z",
        "9912312359Z",
        "700101010000+0100",
        "691231230000-0100",
        "010229000000Z",
        "000230000000Z",
        "001301000000Z",
        "000101240000Z",
        "000101000060Z",
        "000101000000",
        "0001010000+0100",
        "000101000000+2600",
        "000101000000+2500",
        "000101000000+0060",
        "000101000000.1Z",
        "19691231235959Z",
        "00000101000000Z",
        "99991231235959Z",
        "21000229000000Z",
        "24000229000000Z",
        "20200101000000.123Z",
        "20200101000000.Z",
        "202001010000Z",
        "20200101000000",
        "20200101000000+0100",
        "20200101000000,1Z",
        "20200101000000.1234Z",
        "2020010100Z",
        "2020\u{7f}101000000Z",
    ];
    for text in strings {
        for tag in [utc, generalized] {
            if let Some(seconds) = ours(tag, text) {
                assert_eq!(Some(seconds), theirs(tag, text), "{text} as {tag:#x}");
            }
        }
    }
}

/// Every single-byte change and truncation of real certificates is either refused or read
/// as x509-parser read it (see [`agrees`]).
#[test]
fn damaged_certificates_are_refused_or_read_as_x509_parser_read_them() {
    let mut differences = Vec::new();
    let (mut read, mut refused) = (0usize, 0usize);
    for der in varied_certificates() {
        let mut variants: Vec<Vec<u8>> = (0..der.len()).map(|n| der[..n].to_vec()).collect();
        for index in 0..der.len() {
            for change in [0x00, 0xff, 0x01, 0x80, 0x20] {
                let mut damaged = der.clone();
                damaged[index] = if change == 0x00 || change == 0xff {
                    change
                } else {
                    damaged[index] ^ change
                };
                variants.push(damaged);
            }
        }
        for variant in variants {
            let (ours, theirs) = (our_reading(&variant), x509_parser_reading(&variant));
            if ours.facts.is_ok() {
                read += 1;
            } else if theirs.facts.is_ok() {
                refused += 1;
            }
            if !agrees(&ours, &theirs, &variant) {
                differences.push((const_hex::encode(&variant), ours, theirs));
            }
        }
    }
    for (der, ours, theirs) in differences.iter().take(5) {
        eprintln!("{der}\n  ours:   {ours:?}\n  theirs: {theirs:?}");
    }
    eprintln!("{read} damaged variants read, {refused} refused that x509-parser read");
    assert!(read > 0);
    assert!(differences.is_empty(), "{} differences", differences.len());
}

#[test]
fn unknown_block_types_are_refused() {
    let pem = "-----BEGIN X509 CRL-----\naGVsbG8=\n-----END X509 CRL-----\n";
    assert_eq!(
        parse_bundle(pem).unwrap_err(),
        BundleError::UnsupportedBlock("X509 CRL".into())
    );
}
