//! Tyk's JSON views of a stored certificate: `CertificateMeta` (`GET /tyk/certs/<id>`) and
//! `CertificateBasics` (`GET /tyk/certs?mode=detailed`), field for field and in Tyk's order.
//!
//! `issuer` and `subject` are Go's `pkix.Name` as `encoding/json` writes it: PascalCase
//! fields, `null` for an empty list, `Names` with each attribute's OID as an integer array.
//! Times are RFC 3339 in UTC, as Go writes a `time.Time`.
//!
//! A public-key entry has no certificate: as in Tyk, its subject CN is
//! `Public Key: <sha256 of the SPKI>` and its times are Go's zero time.
//! Deviation: `dns_names` is always a list (`[]` when empty), never `null` or missing.

use super::upload::MaterialKind;
use crate::store::StoredCertificate;
use mtls_gate_core::certificate::dns_names;
use mtls_gate_core::pem::parse_blocks;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::X509Name;

/// Go's zero `time.Time`, as `encoding/json` writes it.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `GET /tyk/certs/<id>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CertificateMeta {
    pub id: String,
    pub fingerprint: String,
    pub has_private: bool,
    pub issuer: Name,
    pub subject: Name,
    pub not_before: String,
    pub not_after: String,
    pub dns_names: Vec<String>,
    pub is_ca: bool,
}

/// One entry of `GET /tyk/certs?mode=detailed`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CertificateBasics {
    pub id: String,
    pub issuer_cn: String,
    pub subject_cn: String,
    pub dns_names: Vec<String>,
    pub has_private: bool,
    pub not_before: String,
    pub not_after: String,
    pub is_ca: bool,
}

/// Go's `crypto/x509/pkix.Name`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Name {
    pub country: Option<Vec<String>>,
    pub organization: Option<Vec<String>>,
    pub organizational_unit: Option<Vec<String>>,
    pub locality: Option<Vec<String>>,
    pub province: Option<Vec<String>>,
    pub street_address: Option<Vec<String>>,
    pub postal_code: Option<Vec<String>>,
    pub serial_number: String,
    pub common_name: String,
    pub names: Option<Vec<AttributeTypeAndValue>>,
    pub extra_names: Option<Vec<AttributeTypeAndValue>>,
}

/// Go's `pkix.AttributeTypeAndValue`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeTypeAndValue {
    #[serde(rename = "Type")]
    pub oid: Vec<u64>,
    pub value: Value,
}

#[derive(Debug, thiserror::Error)]
#[error("stored certificate {id:?} cannot be read: {detail}")]
pub struct UnreadableCertificate {
    pub id: String,
    pub detail: String,
}

/// Everything both views need, read once from the stored material.
struct Described {
    issuer: Name,
    subject: Name,
    not_before: String,
    not_after: String,
    dns_names: Vec<String>,
    is_ca: bool,
}

fn describe(stored: &StoredCertificate) -> Result<Described, UnreadableCertificate> {
    let unreadable = |detail: String| UnreadableCertificate {
        id: stored.id.to_string(),
        detail,
    };
    match stored.kind {
        MaterialKind::PublicKey => Ok(Described {
            issuer: Name::default(),
            subject: Name {
                common_name: format!("Public Key: {}", stored.fingerprint),
                ..Name::default()
            },
            not_before: GO_ZERO_TIME.into(),
            not_after: GO_ZERO_TIME.into(),
            dns_names: Vec::new(),
            is_ca: false,
        }),
        MaterialKind::Certificate => {
            let blocks =
                parse_blocks(&stored.material_pem).map_err(|e| unreadable(e.to_string()))?;
            let leaf = blocks
                .first()
                .ok_or_else(|| unreadable("no certificate".into()))?;
            let (_, cert) =
                X509Certificate::from_der(&leaf.der).map_err(|e| unreadable(e.to_string()))?;
            let validity = cert.validity();
            Ok(Described {
                issuer: pkix_name(cert.issuer()),
                subject: pkix_name(cert.subject()),
                not_before: rfc3339(validity.not_before.to_datetime()),
                not_after: rfc3339(validity.not_after.to_datetime()),
                dns_names: dns_names(&cert),
                is_ca: cert.is_ca(),
            })
        }
    }
}

pub fn meta(stored: &StoredCertificate) -> Result<CertificateMeta, UnreadableCertificate> {
    let d = describe(stored)?;
    Ok(CertificateMeta {
        id: stored.id.to_string(),
        fingerprint: stored.fingerprint.to_hex(),
        has_private: stored.has_private,
        issuer: d.issuer,
        subject: d.subject,
        not_before: d.not_before,
        not_after: d.not_after,
        dns_names: d.dns_names,
        is_ca: d.is_ca,
    })
}

pub fn basics(stored: &StoredCertificate) -> Result<CertificateBasics, UnreadableCertificate> {
    let d = describe(stored)?;
    Ok(CertificateBasics {
        id: stored.id.to_string(),
        issuer_cn: d.issuer.common_name,
        subject_cn: d.subject.common_name,
        dns_names: d.dns_names,
        has_private: stored.has_private,
        not_before: d.not_before,
        not_after: d.not_after,
        is_ca: d.is_ca,
    })
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| GO_ZERO_TIME.into())
}

/// Go's `pkix.Name.FillFromRDNSequence`: every attribute goes to `Names`; the well-known
/// string attributes also fill their field (lists append, `CommonName` and `SerialNumber`
/// keep the last value).
fn pkix_name(name: &X509Name<'_>) -> Name {
    fn push(list: &mut Option<Vec<String>>, value: &str) {
        list.get_or_insert_with(Vec::new).push(value.to_owned());
    }
    let mut out = Name::default();
    for rdn in name.iter() {
        for attribute in rdn.iter() {
            let oid: Vec<u64> = attribute
                .attr_type()
                .iter()
                .map(|arcs| arcs.collect())
                .unwrap_or_default();
            let text = attribute.as_str().ok();
            out.names
                .get_or_insert_with(Vec::new)
                .push(AttributeTypeAndValue {
                    oid: oid.clone(),
                    value: text.map_or(Value::Null, |t| Value::String(t.to_owned())),
                });
            let Some(text) = text else { continue };
            match oid.as_slice() {
                [2, 5, 4, 3] => out.common_name = text.to_owned(),
                [2, 5, 4, 5] => out.serial_number = text.to_owned(),
                [2, 5, 4, 6] => push(&mut out.country, text),
                [2, 5, 4, 7] => push(&mut out.locality, text),
                [2, 5, 4, 8] => push(&mut out.province, text),
                [2, 5, 4, 9] => push(&mut out.street_address, text),
                [2, 5, 4, 10] => push(&mut out.organization, text),
                [2, 5, 4, 11] => push(&mut out.organizational_unit, text),
                [2, 5, 4, 17] => push(&mut out.postal_code, text),
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::upload::admit;
    use crate::store::NewCertificate;
    use mtls_gate_testkit::ca::{TestCa, public_key_pem, root_ca_pem};

    fn stored(pem: &str) -> StoredCertificate {
        let upload = admit(pem, "org1", OffsetDateTime::now_utc().unix_timestamp()).unwrap();
        NewCertificate::from(upload).certificate
    }

    #[test]
    fn meta_has_tyk_fields_in_tyk_order() {
        let pki = TestCa::new();
        let leaf = pki.leaf("client");
        let meta = meta(&stored(&leaf.bundle())).unwrap();
        let json = serde_json::to_string(&meta).unwrap();
        let prefix = format!(
            r#"{{"id":"org1{fp}","fingerprint":"{fp}","has_private":true,"issuer":{{"Country":["GB"],"Organization":null,"#,
            fp = leaf.fingerprint()
        );
        assert!(json.starts_with(&prefix), "{json}");
        assert_eq!(meta.subject.common_name, "client");
        assert_eq!(
            meta.subject.organization,
            Some(vec!["mtls-gate tests".into()])
        );
        assert_eq!(meta.issuer.common_name, "mtls-gate test CA");
        assert_eq!(meta.dns_names, ["client.example.test"]);
        assert!(!meta.is_ca);
        let value: Value = serde_json::from_str(&json).unwrap();
        let keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "id",
                "fingerprint",
                "has_private",
                "issuer",
                "subject",
                "not_before",
                "not_after",
                "dns_names",
                "is_ca"
            ]
        );
        assert_eq!(
            value["subject"]["Names"][0]["Type"],
            serde_json::json!([2, 5, 4, 3])
        );
        assert_eq!(value["subject"]["ExtraNames"], Value::Null);
        assert!(
            meta.not_after.ends_with('Z') && meta.not_after.len() == 20,
            "{}",
            meta.not_after
        );
    }

    #[test]
    fn basics_have_tyk_fields_in_tyk_order_and_ca_flag() {
        let ca = root_ca_pem("root");
        let basics = basics(&stored(&ca)).unwrap();
        assert!(basics.is_ca);
        assert!(!basics.has_private);
        assert_eq!(basics.subject_cn, "root");
        assert_eq!(basics.issuer_cn, "root");
        assert!(basics.dns_names.is_empty());
        let value: Value = serde_json::to_value(&basics).unwrap();
        let keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "id",
                "issuer_cn",
                "subject_cn",
                "dns_names",
                "has_private",
                "not_before",
                "not_after",
                "is_ca"
            ]
        );
        assert_eq!(value["dns_names"], serde_json::json!([]));
    }

    #[test]
    fn public_key_entry_is_described_like_tyk() {
        let entry = stored(&public_key_pem());
        let meta = meta(&entry).unwrap();
        assert_eq!(
            meta.subject.common_name,
            format!("Public Key: {}", entry.fingerprint)
        );
        assert_eq!(meta.not_after, GO_ZERO_TIME);
        assert_eq!(meta.fingerprint, entry.fingerprint.to_hex());
    }
}
