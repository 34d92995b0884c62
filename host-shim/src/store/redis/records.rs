//! The Redis key layout and how records are spelled in it.
//!
//! Under the prefix `P`:
//! - `P meta` (hash): `schema`, `version`, `floor` (newest version pruned from the log),
//!   `salt` and `key_check` (sealing).
//! - `P certs` (sorted set): certificate IDs scored by the version that added them, so the
//!   order is the upload order.
//! - `P cert:<id>` (hash): the certificate's fields; `sealed` holds the sealed private key.
//! - `P sessions` (sorted set, all scores 0): session keys, listed in byte order.
//! - `P session:<key>` (hash): `certificate` and `body` (the Tyk session JSON).
//! - `P changes` (sorted set): the change log, scored by version; see [`change_member`].
//! - `P records` (hash): named records, field = the name, value = its JSON document.
//!
//! Stores written before deleting a certificate stopped deleting its sessions (SPEC §2
//! "Revocation by deletion") may also hold `P cert-sessions:<id>` sets, the index that
//! deletion read; nothing reads or writes them any more.

use super::super::backend::{kind_from_text, kind_text};
use super::super::changelog::{ChangeKind, ChangeRow};
use super::super::{StoredCertificate, fingerprint_from_record};
use mtls_gate_core::ids::CertificateId;
use std::collections::HashMap;

pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    pub fn meta(&self) -> String {
        format!("{}meta", self.prefix)
    }

    pub fn certs(&self) -> String {
        format!("{}certs", self.prefix)
    }

    pub fn cert(&self, id: &str) -> String {
        format!("{}cert:{id}", self.prefix)
    }

    pub fn sessions(&self) -> String {
        format!("{}sessions", self.prefix)
    }

    pub fn session(&self, key: &str) -> String {
        format!("{}session:{key}", self.prefix)
    }

    pub fn changes(&self) -> String {
        format!("{}changes", self.prefix)
    }

    pub fn named_records(&self) -> String {
        format!("{}records", self.prefix)
    }
}

pub const SEALED_FIELD: &str = "sealed";

/// The hash fields of a certificate (without the sealed key).
pub fn cert_fields(cert: &StoredCertificate) -> Vec<(&'static str, String)> {
    vec![
        ("org_id", cert.org_id.clone()),
        ("kind", kind_text(cert.kind).to_owned()),
        ("fingerprint", cert.fingerprint.to_hex()),
        ("not_before", cert.not_before.to_string()),
        ("not_after", cert.not_after.to_string()),
        ("is_ca", u8::from(cert.is_ca).to_string()),
        ("material", cert.material_pem.clone()),
    ]
}

/// A certificate from its hash; `None` for an empty hash (no such certificate).
pub fn cert_from_fields(
    id: &str,
    fields: &HashMap<String, Vec<u8>>,
) -> Result<Option<StoredCertificate>, String> {
    if fields.is_empty() {
        return Ok(None);
    }
    let text = |name: &str| -> Result<String, String> {
        let bytes = fields
            .get(name)
            .ok_or_else(|| format!("certificate {id} has no {name}"))?;
        String::from_utf8(bytes.clone())
            .map_err(|_| format!("certificate {id}: {name} is not UTF-8"))
    };
    let number = |name: &str| -> Result<i64, String> {
        text(name)?
            .parse()
            .map_err(|_| format!("certificate {id}: {name} is not a number"))
    };
    let kind = text("kind")?;
    Ok(Some(StoredCertificate {
        id: CertificateId::verbatim(id),
        org_id: text("org_id")?,
        kind: kind_from_text(&kind)
            .ok_or_else(|| format!("certificate {id} has unknown kind {kind}"))?,
        fingerprint: fingerprint_from_record(id, &text("fingerprint")?)?,
        not_before: number("not_before")?,
        not_after: number("not_after")?,
        is_ca: number("is_ca")? != 0,
        has_private: fields.contains_key(SEALED_FIELD),
        material_pem: text("material")?,
    }))
}

/// A log row as a sorted-set member: `<index in its write, 4 digits> <JSON>`. The score is
/// the version; the index keeps a write's rows in order (members of one score sort by bytes)
/// and makes every member unique.
pub fn change_member(index: usize, row: &ChangeRow) -> String {
    let body = (row.version, row.kind.as_str(), &row.key, &row.payload);
    // A tuple of integers and strings always serializes.
    let json = serde_json::to_string(&body).unwrap_or_default();
    format!("{index:04} {json}")
}

pub fn change_from_member(member: &str) -> Result<ChangeRow, String> {
    let bad = || format!("malformed change log entry {member:?}");
    let (_, json) = member.split_once(' ').ok_or_else(bad)?;
    let (version, kind, key, payload): (u64, String, String, Option<String>) =
        serde_json::from_str(json).map_err(|_| bad())?;
    Ok(ChangeRow {
        version,
        kind: ChangeKind::parse(&kind).ok_or_else(|| format!("unknown change kind {kind}"))?,
        key,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::upload::MaterialKind;

    use mtls_gate_core::fingerprint::Fingerprint;

    #[test]
    fn certificates_and_change_rows_round_trip() {
        let fingerprint = Fingerprint::of_der(b"key");
        let cert = StoredCertificate {
            id: CertificateId::new("o1", &fingerprint),
            org_id: "o1".into(),
            kind: MaterialKind::PublicKey,
            fingerprint,
            not_before: -5,
            not_after: 1 << 40,
            is_ca: true,
            has_private: true,
            material_pem: "pem".into(),
        };
        let mut fields: HashMap<String, Vec<u8>> = cert_fields(&cert)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_bytes()))
            .collect();
        fields.insert(SEALED_FIELD.into(), vec![1, 2]);
        assert_eq!(
            fields.get("fingerprint"),
            Some(&fingerprint.to_hex().into_bytes()),
            "stored as 64 lowercase hex"
        );
        assert_eq!(
            cert_from_fields(cert.id.as_str(), &fields),
            Ok(Some(cert.clone()))
        );
        assert_eq!(cert_from_fields("x", &HashMap::new()), Ok(None));

        // A damaged fingerprint is a corrupt record, not a panic and not a certificate.
        for bad in ["abc", "", &fingerprint.to_hex().replace('a', "z")] {
            fields.insert("fingerprint".into(), bad.as_bytes().to_vec());
            let error = cert_from_fields(cert.id.as_str(), &fields).unwrap_err();
            assert!(error.contains("unreadable fingerprint"), "{error}");
        }

        let row = ChangeRow::removal(1 << 52, ChangeKind::SessionRemove, "k 1\t\"");
        let member = change_member(3, &row);
        assert!(member.starts_with("0003 "));
        assert_eq!(change_from_member(&member), Ok(row));
        assert!(change_from_member("garbage").is_err());
    }
}
