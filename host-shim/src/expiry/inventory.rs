//! Every certificate the gate uses, by role (SPEC §10), read from the gate the shim knows (the
//! gate record `render` or `serve --gate` left in the store) and the store.
//!
//! | role          | where                                                                 | `api_id` |
//! |---------------|-----------------------------------------------------------------------|----------|
//! | `client`      | `security.certificates.apis`                                          | empty    |
//! | `client`      | an mTLS API's `client_certificates` (OAS `server.clientCertificates`) | the API  |
//! | `client`      | a certificate a key in the store is bound to (certificate auth)       | empty    |
//! | `upstream`    | `security.certificates.upstream`                                      | empty    |
//! | `upstream`    | an API's `upstream_certificates` (OAS `upstream.mutualTLS`)           | the API  |
//! | `server`      | `http_server_options.ssl_certificates`                                | empty    |
//! | `server`      | an API's `certificates` (OAS `server.customDomain.certificates`)      | the API  |
//! | `control_api` | `security.certificates.control_api`                                   | empty    |
//!
//! The fields are render's own table (`render::resolve`), so a field render reads is a field
//! watched here. An API's allow list counts only while the API uses mutual TLS (Tyk checks
//! it in `CertificateCheckMW`, which runs only then); its upstream map only unless
//! `upstream_certificates_disabled`. Public keys (pins) never expire and are not listed.
//!
//! IDs: a store reference is its store ID; inline PEM and file references (read as `render`
//! reads them) are the SHA-256 of the leaf, which is the ID Tyk gives them. A store ID the
//! store does not hold is skipped, as Tyk skips it; it is listed once uploaded. Certificates
//! are read with the core's parser (`mtls_gate_core::certificate`), as everywhere else.

use crate::render::record::GateRecord;
use crate::render::resolve::{self, Role as FieldRole};
use crate::store::{Store, StoreError, StoredCertificate};
use mtls_gate_core::cert_ref::CertRef;
use mtls_gate_core::certificate::parse_bundle;
use mtls_gate_core::pem::looks_like_pem;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// What a certificate is used for (Tyk's `cert_role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Client,
    Upstream,
    Server,
    ControlApi,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Upstream => "upstream",
            Role::Server => "server",
            Role::ControlApi => "control_api",
        }
    }
}

/// One use of one certificate: a row of the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateUse {
    /// The store ID, or for inline PEM and files the leaf's SHA-256 (Tyk's ID for them).
    pub id: String,
    /// The leaf's subject common name.
    pub cn: String,
    pub role: Role,
    /// Empty for a global use.
    pub api_id: String,
    /// Unix seconds.
    pub not_after: i64,
    /// Read from the store (a store ID, or a key's certificate), not from the gate.
    pub in_store: bool,
}

impl CertificateUse {
    /// The name its cool-downs are kept under: one per use, so each role and API a
    /// certificate serves raises its own event.
    pub fn cooldown_key(&self) -> String {
        format!("{}|{}|{}", self.role.as_str(), self.api_id, self.id)
    }
}

/// The inventory, and what could not be read (for the log).
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub uses: Vec<CertificateUse>,
    pub warnings: Vec<String>,
}

/// The inventory of `gate` over `store`, at unix time `now` (keys that have expired bind
/// nothing).
pub fn of_gate(gate: &GateRecord, store: &Store, now: i64) -> Result<Inventory, StoreError> {
    let mut warnings = Vec::new();
    let mut value: Value = match serde_json::from_str(&gate.gate) {
        Ok(value) => value,
        Err(error) => {
            warnings.push(format!("gate {}: not JSON: {error}", gate.source));
            return Ok(Inventory {
                uses: Vec::new(),
                warnings,
            });
        }
    };
    // File references read where they were recorded, as `serve` renders them. A file that
    // cannot be read is named; its entry (and those after it) stay paths, and are skipped.
    if let Err(error) = resolve::inline_files_in(&mut value, &gate.base_dir) {
        warnings.push(format!("gate {}: {error}", gate.source));
    }
    let mut reader = Reader {
        store,
        found: HashMap::new(),
        seen: BTreeSet::new(),
        uses: Vec::new(),
    };
    for reference in resolve::references(&value) {
        let role = match reference.role {
            FieldRole::ClientAllowList => Role::Client,
            FieldRole::Upstream => Role::Upstream,
            FieldRole::Server => Role::Server,
            FieldRole::Pin => continue,
        };
        let api_id = match api_of(&value, &reference.field) {
            None => String::new(),
            Some(api) => {
                if !api_uses(&api, role) {
                    continue;
                }
                api.get("api_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            }
        };
        reader.add(&reference.entry, role, &api_id)?;
    }
    let control_api = value
        .pointer("/security/certificates/control_api")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .enumerate();
    for (index, entry) in control_api {
        let mut entry = entry.to_owned();
        let field = format!("security.certificates.control_api[{index}]");
        if let Err(error) = resolve::inline_entry(&field, &mut entry, &gate.base_dir) {
            warnings.push(error.to_string());
            continue;
        }
        reader.add(&entry, Role::ControlApi, "")?;
    }
    for key in store.session_keys()? {
        let Some(session) = store.session(&key)? else {
            continue;
        };
        if session.expires > 0 && session.expires < now {
            continue;
        }
        reader.add_stored(&session.certificate, Role::Client, "")?;
    }
    Ok(Inventory {
        uses: reader.uses,
        warnings,
    })
}

/// The Classic form of the API a field path (`apis[N]....`) is in; `None` for a global field.
fn api_of(gate: &Value, field: &str) -> Option<Value> {
    let index: usize = field
        .strip_prefix("apis[")?
        .split(']')
        .next()?
        .parse()
        .ok()?;
    let api = gate.get("apis")?.get(index)?;
    Some(crate::render::classic_api(api).into_owned())
}

/// Whether an API uses the certificates of a field of `role` (see the module docs).
fn api_uses(api: &Value, role: Role) -> bool {
    let flag = |name: &str| api.get(name).and_then(Value::as_bool).unwrap_or(false);
    match role {
        Role::Client => flag("use_mutual_tls_auth"),
        Role::Upstream => !flag("upstream_certificates_disabled"),
        Role::Server | Role::ControlApi => true,
    }
}

/// What an entry names: the certificate's facts.
#[derive(Debug, Clone)]
struct Found {
    id: String,
    cn: String,
    not_after: i64,
    in_store: bool,
}

struct Reader<'a> {
    store: &'a Store,
    /// Store lookups, by ID (`None`: not in the store, or no expiry).
    found: HashMap<String, Option<Found>>,
    seen: BTreeSet<(String, Role, String)>,
    uses: Vec<CertificateUse>,
}

impl Reader<'_> {
    /// One gate entry: inline PEM or a store ID (file references were read into PEM).
    fn add(&mut self, entry: &str, role: Role, api_id: &str) -> Result<(), StoreError> {
        let entry = entry.trim();
        if looks_like_pem(entry) {
            if let Some(found) = from_pem(entry, None) {
                self.push(found, role, api_id);
            }
            return Ok(());
        }
        match CertRef::parse(entry, true) {
            Ok(CertRef::StoreId { id, .. }) => self.add_stored(&id, role, api_id),
            // Not a reference: the config's own validation names it.
            _ => Ok(()),
        }
    }

    fn add_stored(&mut self, id: &str, role: Role, api_id: &str) -> Result<(), StoreError> {
        let found = match self.found.get(id) {
            Some(found) => found.clone(),
            None => {
                let found = self.store.certificate(id)?.and_then(|c| from_store(&c));
                self.found.insert(id.to_owned(), found.clone());
                found
            }
        };
        if let Some(found) = found {
            self.push(found, role, api_id);
        }
        Ok(())
    }

    fn push(&mut self, found: Found, role: Role, api_id: &str) {
        if !self
            .seen
            .insert((found.id.clone(), role, api_id.to_owned()))
        {
            return;
        }
        self.uses.push(CertificateUse {
            id: found.id,
            cn: found.cn,
            role,
            api_id: api_id.to_owned(),
            not_after: found.not_after,
            in_store: found.in_store,
        });
    }
}

/// A stored certificate's facts; `None` for a public key (it never expires).
fn from_store(certificate: &StoredCertificate) -> Option<Found> {
    let not_after = certificate.expiry()?;
    let cn = from_pem(&certificate.material_pem, Some(certificate.id.as_str()))
        .map(|found| found.cn)
        .unwrap_or_default();
    Some(Found {
        id: certificate.id.as_str().to_owned(),
        cn,
        not_after,
        in_store: true,
    })
}

/// The leaf of a PEM bundle; `id` replaces the leaf's SHA-256 when given (a store ID).
fn from_pem(pem: &str, id: Option<&str>) -> Option<Found> {
    let bundle = parse_bundle(pem).ok()?;
    let leaf = bundle.leaf()?;
    Some(Found {
        id: id.map_or_else(|| leaf.fingerprint.to_hex(), str::to_owned),
        cn: leaf.subject_cn.clone(),
        not_after: leaf.not_after,
        in_store: id.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates;
    use crate::secret::Secret;
    use crate::store::sqlite::SqliteBackend;
    use mtls_gate_testkit::ca::TestCa;
    use serde_json::json;

    fn store(dir: &std::path::Path) -> Store {
        let secret = Secret::new("inventory-secret", "secret").unwrap();
        Store::open(SqliteBackend::open(&dir.join("s.db")).unwrap(), &secret).unwrap()
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn record(gate: Value, dir: &std::path::Path) -> GateRecord {
        GateRecord {
            gate: gate.to_string(),
            base_dir: std::fs::canonicalize(dir).unwrap(),
            source: "test".into(),
        }
    }

    #[test]
    fn every_role_is_listed_with_its_api_and_missing_ids_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let ca = TestCa::new();
        let (client, upstream, server, control, bound, inline, file) = (
            ca.leaf("client"),
            ca.leaf("upstream"),
            ca.leaf("server"),
            ca.leaf("control"),
            ca.leaf("bound"),
            ca.leaf("inline"),
            ca.leaf("file"),
        );
        let add = |pem: &str| certificates::add(&store, pem.as_bytes(), "acme", now()).unwrap();
        let client_id = add(&client.cert_pem);
        let upstream_id = add(&upstream.bundle());
        let server_id = add(&server.bundle());
        let control_id = add(&control.cert_pem);
        let bound_id = add(&bound.cert_pem);
        let ca_id = add(&ca.ca_pem);
        let key = serde_json::from_value(json!({"certificate": bound_id,
            "access_rights": {"pay": {"api_id": "pay"}}}))
        .unwrap();
        store.create_session("k1", &key).unwrap();
        std::fs::write(dir.path().join("file.pem"), &file.cert_pem).unwrap();
        let missing = format!("acme{}", "ab".repeat(32));
        let gate = json!({
            "security": {"certificates": {
                "apis": [ca_id, missing],
                "upstream": {"*": upstream_id},
                "control_api": [control_id, "file.pem"]}},
            "http_server_options": {"ssl_certificates": [server_id]},
            "apis": [
                {"api_id": "pay", "use_mutual_tls_auth": true,
                 "client_certificates": [client_id, inline.cert_pem]},
                {"api_id": "off", "client_certificates": [client_id],
                 "upstream_certificates": {"*": upstream_id}, "certificates": ["file.pem"]}
            ]
        });
        let inventory = of_gate(&record(gate, dir.path()), &store, now()).unwrap();
        assert!(inventory.warnings.is_empty(), "{:?}", inventory.warnings);
        let rows: Vec<(String, &str, &str, &str, bool)> = inventory
            .uses
            .iter()
            .map(|u| {
                (
                    u.id.clone(),
                    u.cn.as_str(),
                    u.role.as_str(),
                    u.api_id.as_str(),
                    u.in_store,
                )
            })
            .collect();
        let file_fp = file.fingerprint();
        assert_eq!(
            rows,
            vec![
                (ca_id.clone(), "mtls-gate test CA", "client", "", true),
                (upstream_id.clone(), "upstream", "upstream", "", true),
                (server_id.clone(), "server", "server", "", true),
                (client_id.clone(), "client", "client", "pay", true),
                (inline.fingerprint(), "inline", "client", "pay", false),
                (upstream_id.clone(), "upstream", "upstream", "off", true),
                (file_fp.clone(), "file", "server", "off", false),
                (control_id.clone(), "control", "control_api", "", true),
                (file_fp, "file", "control_api", "", false),
                (bound_id.clone(), "bound", "client", "", true),
            ]
        );
        let stored = store.certificate(&client_id).unwrap().unwrap();
        assert_eq!(inventory.uses[3].not_after, stored.not_after);
    }

    #[test]
    fn an_expired_key_binds_nothing_and_duplicates_are_listed_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let ca = TestCa::new();
        let id = certificates::add(&store, ca.leaf("c").cert_pem.as_bytes(), "", now()).unwrap();
        let key = serde_json::from_value(json!({"certificate": id, "expires": 1})).unwrap();
        store.create_session("old", &key).unwrap();
        let gate = json!({"security": {"certificates": {"apis": [id, id.to_uppercase()]}}});
        let inventory = of_gate(&record(gate, dir.path()), &store, now()).unwrap();
        assert_eq!(inventory.uses.len(), 1, "{:?}", inventory.uses);
        assert_eq!(inventory.uses[0].role, Role::Client);
    }
}
