//! Store IDs the gate names but the store does not hold. With a store configured, a
//! 64-hex entry is a store ID (SPEC §1, Tyk's rule), so a fingerprint meant to pin a
//! certificate passes nothing until that certificate is uploaded: `render` says so, entry
//! by entry, with what to do instead.

use super::resolve::Role;
use crate::store::{Store, StoreError};
use mtls_gate_core::cert_ref::CertRef;
use serde_json::Value;

/// One warning per referenced ID missing from `store`, named by its JSON path. Only with a
/// `store` block in the gate: without one, entries are self-contained.
pub fn missing_store_ids(gate: &Value, store: &Store) -> Result<Vec<String>, StoreError> {
    if gate.get("store").is_none_or(Value::is_null) {
        return Ok(Vec::new());
    }
    let mut warnings = Vec::new();
    for (path, entry) in references(gate) {
        let Ok(CertRef::StoreId { id, fingerprint }) = CertRef::parse(&entry, true) else {
            continue;
        };
        if store.certificate(&id)?.is_none() {
            let org = id.strip_suffix(&fingerprint.to_hex()).unwrap_or_default();
            warnings.push(format!(
                "{path}: no certificate {id} in the store (org {org:?}); upload it, or list it \
                 as inline PEM to pin it without the store"
            ));
        }
    }
    Ok(warnings)
}

/// Every certificate reference in the allow lists and upstream maps (Classic or OAS), with
/// its JSON path.
fn references(gate: &Value) -> Vec<(String, String)> {
    super::resolve::references(gate)
        .into_iter()
        .filter(|r| matches!(r.role, Role::ClientAllowList | Role::Upstream))
        .map(|r| (r.field, r.entry))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates;
    use crate::secret::Secret;
    use crate::store::sqlite::SqliteBackend;
    use mtls_gate_testkit::ca::TestCa;
    use serde_json::json;

    #[test]
    fn every_listed_id_missing_from_the_store_is_named_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let secret = Secret::new("references-secret", "secret").unwrap();
        let backend = SqliteBackend::open(&dir.path().join("store.db")).unwrap();
        let store = Store::open(backend, &secret).unwrap();
        let present = TestCa::new().leaf("present");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let present_id = certificates::add(&store, present.cert_pem.as_bytes(), "", now).unwrap();
        let missing = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let hint = "upload it, or list it as inline PEM to pin it without the store";
        let gate = json!({
            "store": {"cluster": "c"},
            "security": {"certificates": {"apis": [present_id, missing.to_uppercase()]}},
            "apis": [{"api_id": "a", "client_certificates": [format!("acme{missing}")],
                      "upstream_certificates": {"*": missing}},
                     {"x-tyk-api-gateway": {"server": {"clientCertificates": {"allowlist": [missing]}}}}]
        });
        assert_eq!(
            missing_store_ids(&gate, &store).unwrap(),
            vec![
                format!(
                    "security.certificates.apis[1]: no certificate {missing} in the store (org \"\"); {hint}"
                ),
                format!(
                    "apis[0].client_certificates[0]: no certificate acme{missing} in the store (org \"acme\"); {hint}"
                ),
                format!(
                    "apis[0].upstream_certificates[\"*\"]: no certificate {missing} in the store (org \"\"); {hint}"
                ),
                format!(
                    "apis[1].x-tyk-api-gateway.server.clientCertificates.allowlist[0]: no certificate {missing} in the store (org \"\"); {hint}"
                ),
            ]
        );
        let no_store = json!({"security": {"certificates": {"apis": [missing]}}});
        assert!(missing_store_ids(&no_store, &store).unwrap().is_empty());
    }
}
