//! Which of the gate's APIs name a certificate: Dashboard's `GET /api/certs/<id>/apis`
//! (SPEC §2b).
//!
//! The shim knows the gate from the store's gate record (`render` writes it, and so does
//! `serve --gate FILE`, `crate::render::record`); with none there is no API to list. The
//! record is compiled as `render` compiles it (`render::prepare_gate`: file references
//! inlined), so a reference counts however it is written. An API names a certificate when one
//! of its own references resolves to it:
//! - `client`: its `client_certificates` (static mTLS allow list);
//! - `upstream`: a value of its `upstream_certificates` map;
//! - `server`: its `certificates` (server certificates for its domain).
//!
//! A store ID names exactly that ID; a self-contained reference (inline PEM, or a bare
//! fingerprint in a gate without a store) names any certificate with its fingerprint. The
//! global lists (`security.certificates.*`) belong to no API and are not listed. Only the
//! caller's org's APIs are listed: another org's API definitions are not the caller's to see.

use crate::render::{self, record};
use crate::store::{Store, StoreError, StoredCertificate};
use mtls_gate_core::cert_ref::CertRef;
use mtls_gate_core::config::{ApiSpec, GateConfig};
use serde::Serialize;
use serde_json::Value;

/// How an API uses a certificate (Dashboard's `CertUsageType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Usage {
    Client,
    Upstream,
    Server,
}

/// One API naming the certificate (Dashboard's `APIUsageSummary`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiUsage {
    pub api_id: String,
    pub name: String,
    pub usage_type: Vec<Usage>,
    /// `Tyk OAS` or `Tyk Classic`, as the gate writes the API.
    pub tyk_api_type: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the gate recorded in the store ({source_of}) cannot be compiled: {error}")]
    Gate {
        source_of: String,
        error: render::RenderError,
    },
}

/// The recorded gate's APIs of `org_id` that name `certificate`, in gate order; none when no
/// gate is recorded.
pub fn apis_naming(
    store: &Store,
    org_id: &str,
    certificate: &StoredCertificate,
) -> Result<Vec<ApiUsage>, UsageError> {
    let Some(gate) = record::load_gate(store)? else {
        return Ok(Vec::new());
    };
    let compile_error = |error| UsageError::Gate {
        source_of: gate.source.clone(),
        error,
    };
    let json = gate.gate_json_here().map_err(compile_error)?;
    // Neither the shim's address nor the feed token matters to which APIs name what.
    let prepared = render::prepare_gate(&json, "127.0.0.1:1", None).map_err(compile_error)?;
    let raw_apis = serde_json::from_slice::<Value>(&json)
        .ok()
        .and_then(|gate| gate.get("apis").and_then(Value::as_array).cloned())
        .unwrap_or_default();
    Ok(usage_in(&prepared.config, &raw_apis, org_id, certificate))
}

/// [`apis_naming`] over a compiled gate; `raw_apis` is the gate's `apis` as written (in the
/// same order), to tell OAS from Classic.
pub fn usage_in(
    gate: &GateConfig,
    raw_apis: &[Value],
    org_id: &str,
    certificate: &StoredCertificate,
) -> Vec<ApiUsage> {
    let store_configured = gate.store.is_some();
    gate.apis
        .iter()
        .enumerate()
        .filter(|(_, api)| api.org_id == org_id)
        .filter_map(|(index, api)| {
            let usage_type = usages(api, store_configured, certificate);
            if usage_type.is_empty() {
                return None;
            }
            let oas = raw_apis
                .get(index)
                .is_some_and(|raw| raw.get("x-tyk-api-gateway").is_some());
            Some(ApiUsage {
                api_id: api.api_id.clone(),
                name: api.name.clone(),
                usage_type,
                tyk_api_type: if oas { "Tyk OAS" } else { "Tyk Classic" },
            })
        })
        .collect()
}

fn usages(api: &ApiSpec, store_configured: bool, certificate: &StoredCertificate) -> Vec<Usage> {
    let mut usages = Vec::new();
    if api
        .client_certificates
        .get(&certificate.fingerprint)
        .is_some_and(|reference| names(reference, certificate))
    {
        usages.push(Usage::Client);
    }
    if api
        .upstream_certificates
        .certificates()
        .any(|reference| names(reference, certificate))
    {
        usages.push(Usage::Upstream);
    }
    if api.server_certificates.iter().any(|entry| {
        CertRef::parse(entry, store_configured)
            .is_ok_and(|reference| names(&reference, certificate))
    }) {
        usages.push(Usage::Server);
    }
    usages
}

fn names(reference: &CertRef, certificate: &StoredCertificate) -> bool {
    match reference {
        CertRef::StoreId { id, .. } => *id == certificate.id,
        CertRef::Pinned { fingerprint, .. } => *fingerprint == certificate.fingerprint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::upload::MaterialKind;
    use mtls_gate_core::fingerprint::Fingerprint;
    use mtls_gate_core::ids::CertificateId;
    use serde_json::json;

    fn certificate(org: &str, der: &[u8]) -> StoredCertificate {
        let fingerprint = Fingerprint::of_der(der);
        StoredCertificate {
            id: CertificateId::new(org, &fingerprint),
            org_id: org.to_owned(),
            kind: MaterialKind::Certificate,
            fingerprint,
            not_before: 0,
            not_after: 0,
            is_ca: false,
            has_private: false,
            material_pem: String::new(),
        }
    }

    #[test]
    fn lists_the_callers_apis_that_name_the_certificate_and_how() {
        let mine = certificate("acme", b"mine");
        let other = certificate("acme", b"other");
        let fp = mine.fingerprint.to_hex();
        let gate = json!({
            "org_id": "acme",
            "store": {"cluster": "c", "authority": "a", "token": "t"},
            "apis": [
                {"api_id": "both", "name": "Both", "proxy": {"listen_path": "/both/"},
                 "use_mutual_tls_auth": true, "client_certificates": [mine.id.as_str()],
                 "upstream_certificates": {"*": mine.id.as_str()}},
                {"api_id": "server", "name": "Server", "proxy": {"listen_path": "/s/"},
                 "certificates": [mine.id.as_str()]},
                {"api_id": "unrelated", "proxy": {"listen_path": "/u/"},
                 "use_mutual_tls_auth": true, "client_certificates": [other.id.as_str()]},
                // The empty org's certificate with the same fingerprint is another one.
                {"api_id": "bare", "proxy": {"listen_path": "/b/"},
                 "use_mutual_tls_auth": true, "client_certificates": [fp]},
                {"api_id": "globex-api", "org_id": "globex", "proxy": {"listen_path": "/g/"},
                 "use_mutual_tls_auth": true, "client_certificates": [mine.id.as_str()]}
            ]
        });
        let config = GateConfig::from_json(gate.to_string().as_bytes()).unwrap();
        let raw = gate["apis"].as_array().unwrap();
        let found = usage_in(&config, raw, "acme", &mine);
        let summary: Vec<(&str, Vec<Usage>)> = found
            .iter()
            .map(|u| (u.api_id.as_str(), u.usage_type.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("both", vec![Usage::Client, Usage::Upstream]),
                ("server", vec![Usage::Server]),
            ]
        );
        assert_eq!(found[0].name, "Both");
        assert_eq!(found[0].tyk_api_type, "Tyk Classic");
        // Another org sees only its own APIs (the route only ever asks about the caller's
        // own certificates).
        let globex: Vec<String> = usage_in(&config, raw, "globex", &mine)
            .into_iter()
            .map(|u| u.api_id)
            .collect();
        assert_eq!(globex, vec!["globex-api"]);
    }
}
