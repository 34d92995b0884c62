//! Certificate references that are file paths (SPEC §1), resolved before the filter sees
//! the gate: the wasm filter cannot read files, so `render` (and `import`) reads each one and
//! puts its PEM where the path was.
//!
//! A reference is a path when it is not PEM, not a store ID and not a bare fingerprint
//! (Tyk's rule). Paths are read relative to the working directory `render` runs in, as Tyk
//! reads them relative to its own (`import` passes the Tyk installation's directory). A path
//! that cannot be read, or a file without PEM, is refused with the JSON path of the entry and
//! the file.
//!
//! The fields, one table row each ([`GLOBAL_FIELDS`], [`API_FIELDS`], [`OAS_FIELDS`]):
//! `security.certificates.apis[]`, `security.certificates.upstream{}`,
//! `security.pinned_public_keys{}`, `http_server_options.ssl_certificates[]`; per Classic API
//! `client_certificates[]`, `upstream_certificates{}`, `certificates[]` and
//! `pinned_public_keys{}` (comma-separated keys); per Tyk OAS API (SPEC §9) their twins under
//! `x-tyk-api-gateway`: `server.clientCertificates.allowlist[]`,
//! `server.customDomain.certificates[]`,
//! `upstream.mutualTLS.domainToCertificateMapping[].certificate` and
//! `upstream.certificatePinning.domainToPublicKeysMapping[].publicKeys[]`. Entries are named
//! by the path the core names them by in its refusals.
//!
//! [`strip_private_keys`] then removes private keys from what the filter gets: an allow list
//! and a pin need only the certificate or public key, the filter never reads server
//! certificates, and the filter's configuration is visible in Envoy's `/config_dump`.
//! Upstream maps keep theirs (render refuses an inline upstream key with a hint to upload it
//! instead).

use super::RenderError;
use crate::certificates::pem_text;
use mtls_gate_core::config::oas::{self, EXTENSION};
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::pem::{looks_like_pem, parse_blocks};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// How a field holds its references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `["ref", ...]`.
    List,
    /// `{"host": "ref"}`.
    Map,
    /// `{"host": "ref1,ref2"}`: Tyk's `pinned_public_keys`, several references comma-joined.
    CommaMap,
    /// `[{FIELD: "ref"}, ...]`: OAS `domainToCertificateMapping[].certificate`.
    ObjectList(&'static str),
    /// `[{FIELD: ["ref", ...]}, ...]`: OAS `domainToPublicKeysMapping[].publicKeys[]`.
    ObjectLists(&'static str),
}

/// What a field's references are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A static client allow list (certificates or CAs that admit clients).
    ClientAllowList,
    /// An upstream map: the client certificate presented to an upstream.
    Upstream,
    /// The listener's server certificates.
    Server,
    /// Public keys an upstream must present (`pinned_public_keys`).
    Pin,
}

type Field = (&'static [&'static str], Shape, Role);

const GLOBAL_FIELDS: [Field; 4] = [
    (
        &["security", "certificates", "apis"],
        Shape::List,
        Role::ClientAllowList,
    ),
    (
        &["security", "certificates", "upstream"],
        Shape::Map,
        Role::Upstream,
    ),
    (
        &["security", "pinned_public_keys"],
        Shape::CommaMap,
        Role::Pin,
    ),
    (
        &["http_server_options", "ssl_certificates"],
        Shape::List,
        Role::Server,
    ),
];

/// A Classic API definition's fields.
const API_FIELDS: [Field; 4] = [
    (&["client_certificates"], Shape::List, Role::ClientAllowList),
    (&["upstream_certificates"], Shape::Map, Role::Upstream),
    (&["certificates"], Shape::List, Role::Server),
    (&["pinned_public_keys"], Shape::CommaMap, Role::Pin),
];

/// A Tyk OAS API definition's fields (the Classic ones' twins: `fixtures/tyk/oas/README.md`).
const OAS_FIELDS: [Field; 4] = [
    (
        &[EXTENSION, "server", "clientCertificates", "allowlist"],
        Shape::List,
        Role::ClientAllowList,
    ),
    (
        &[EXTENSION, "server", "customDomain", "certificates"],
        Shape::List,
        Role::Server,
    ),
    (
        &[
            EXTENSION,
            "upstream",
            "mutualTLS",
            "domainToCertificateMapping",
        ],
        Shape::ObjectList("certificate"),
        Role::Upstream,
    ),
    (
        &[
            EXTENSION,
            "upstream",
            "certificatePinning",
            "domainToPublicKeysMapping",
        ],
        Shape::ObjectLists("publicKeys"),
        Role::Pin,
    ),
];

/// A file reference that was replaced by its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedFile {
    /// The entry's JSON path, e.g. `apis[0].client_certificates[1]`.
    pub field: String,
    pub path: PathBuf,
}

/// One certificate reference of a gate, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The entry's JSON path (one comma-joined pin names all its keys).
    pub field: String,
    pub role: Role,
    pub entry: String,
}

/// Is this config entry a file path (not PEM, not an ID or fingerprint)? Empty entries are
/// left to the config's own validation.
pub fn is_file_reference(entry: &str) -> bool {
    let entry = entry.trim();
    !entry.is_empty()
        && !looks_like_pem(entry)
        && Fingerprint::split_certificate_id(entry).is_none()
}

/// Replaces every file reference in the certificate fields of `gate` by the file's text.
/// Returns what was replaced, in document order.
pub fn inline_files(gate: &mut Value) -> Result<Vec<ResolvedFile>, RenderError> {
    inline_files_in(gate, Path::new("."))
}

/// [`inline_files`] with relative paths read under `base`.
pub fn inline_files_in(gate: &mut Value, base: &Path) -> Result<Vec<ResolvedFile>, RenderError> {
    let mut resolved = Vec::new();
    for_each_entry(gate, &mut |field, _role, entry| {
        if let Some(file) = inline_entry(field, entry, base)? {
            resolved.push(file);
        }
        Ok(())
    })?;
    Ok(resolved)
}

/// Replaces `entry` (at JSON path `field`) by the PEM of the file it names, if it is a file
/// reference; relative paths are read under `base`. For fields outside the tables above
/// (`import` inlines `security.certificates.control_api` with it).
pub fn inline_entry(
    field: &str,
    entry: &mut String,
    base: &Path,
) -> Result<Option<ResolvedFile>, RenderError> {
    if !is_file_reference(entry) {
        return Ok(None);
    }
    let path = base.join(entry.trim());
    let refuse = |reason: String| RenderError::CertificateFile {
        field: field.to_owned(),
        path: path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| refuse(e.to_string()))?;
    // Text before the first block (openssl's "Bag Attributes", comments) is not PEM as the
    // config reads it.
    let Some(pem) = text.find("-----BEGIN ").and_then(|at| text.get(at..)) else {
        return Err(refuse("the file holds no PEM block".to_owned()));
    };
    *entry = pem.to_owned();
    Ok(Some(ResolvedFile {
        field: field.to_owned(),
        path,
    }))
}

/// Every string reference in the certificate fields of `gate`, in document order.
pub fn references(gate: &Value) -> Vec<Reference> {
    let mut found = Vec::new();
    // The walker edits in place; a copy keeps this read-only.
    let mut copy = gate.clone();
    let _ = for_each_field(&mut copy, &mut |field, role, entry| {
        found.push(Reference {
            field: field.to_owned(),
            role,
            entry: entry.clone(),
        });
        Ok(())
    });
    found
}

/// Removes every private-key block from the client allow lists, pins and server
/// certificates of `gate` (see the module docs). Entries that are not well-formed PEM are
/// left for the config's validation to name.
pub fn strip_private_keys(gate: &mut Value) {
    let _ = for_each_entry(gate, &mut |_field, role, entry| {
        if role == Role::Upstream || !looks_like_pem(entry) {
            return Ok(());
        }
        let Ok(blocks) = parse_blocks(entry) else {
            return Ok(());
        };
        if blocks.iter().any(|b| b.is_private_key()) {
            *entry = blocks
                .iter()
                .filter(|b| !b.is_private_key())
                .map(|b| pem_text::encode(&b.label, &b.der))
                .collect();
        }
        Ok(())
    });
}

type Visit<'a> = dyn FnMut(&str, Role, &mut String) -> Result<(), RenderError> + 'a;

/// Calls `visit` with the JSON path, role and text of every single reference of every
/// certificate field: each key of a comma-joined pin on its own (the pin is joined again
/// afterwards). Entries of the wrong type are skipped (the config refuses them).
fn for_each_entry(gate: &mut Value, visit: &mut Visit<'_>) -> Result<(), RenderError> {
    for_each_field(gate, &mut |field, role, text| {
        if role != Role::Pin || !text.contains(',') {
            return visit(field, role, text);
        }
        let mut keys: Vec<String> = text.split(',').map(str::to_owned).collect();
        for key in &mut keys {
            visit(field, role, key)?;
        }
        *text = keys.join(",");
        Ok(())
    })
}

/// Calls `visit` with every string value of every certificate field, as written.
fn for_each_field(gate: &mut Value, visit: &mut Visit<'_>) -> Result<(), RenderError> {
    for (keys, shape, role) in GLOBAL_FIELDS {
        visit_at(gate, keys, "", shape, role, visit)?;
    }
    if let Some(apis) = gate.get_mut("apis").and_then(Value::as_array_mut) {
        for (index, api) in apis.iter_mut().enumerate() {
            let fields = match oas::is_oas(api) {
                true => &OAS_FIELDS,
                false => &API_FIELDS,
            };
            let at = format!("apis[{index}].");
            for &(keys, shape, role) in fields {
                visit_at(api, keys, &at, shape, role, visit)?;
            }
        }
    }
    Ok(())
}

fn visit_at(
    root: &mut Value,
    keys: &[&str],
    prefix: &str,
    shape: Shape,
    role: Role,
    visit: &mut Visit<'_>,
) -> Result<(), RenderError> {
    let mut node = Some(root);
    for key in keys {
        node = node.and_then(|n| n.get_mut(*key));
    }
    match node {
        Some(node) => visit_field(
            node,
            &format!("{prefix}{}", keys.join(".")),
            shape,
            role,
            visit,
        ),
        None => Ok(()),
    }
}

fn visit_field(
    node: &mut Value,
    path: &str,
    shape: Shape,
    role: Role,
    visit: &mut Visit<'_>,
) -> Result<(), RenderError> {
    let mut each = |field: String, value: &mut Value| {
        if let Value::String(text) = value {
            visit(&field, role, text)?;
        }
        Ok::<(), RenderError>(())
    };
    match (shape, node) {
        (Shape::List, Value::Array(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                each(format!("{path}[{i}]"), item)?;
            }
        }
        (Shape::Map | Shape::CommaMap, Value::Object(map)) => {
            for (key, item) in map.iter_mut() {
                // The core's spelling of a map entry's path: `field["key"]`.
                each(format!("{path}[{}]", Value::String(key.clone())), item)?;
            }
        }
        (Shape::ObjectList(name), Value::Array(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                if let Some(value) = item.get_mut(name) {
                    each(format!("{path}[{i}].{name}"), value)?;
                }
            }
        }
        (Shape::ObjectLists(name), Value::Array(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                let list = item.get_mut(name).and_then(Value::as_array_mut);
                for (j, value) in list.into_iter().flatten().enumerate() {
                    each(format!("{path}[{i}].{name}[{j}]"), value)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mtls_gate_testkit::ca::TestCa;
    use serde_json::json;

    const FP: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn paths_are_whatever_is_not_pem_id_or_fingerprint() {
        assert!(!is_file_reference(FP));
        assert!(!is_file_reference(&format!("acme{FP}")));
        assert!(!is_file_reference("-----BEGIN CERTIFICATE----- AAAA"));
        assert!(!is_file_reference("  "));
        assert!(is_file_reference("/etc/tyk/certs/client.pem"));
        assert!(is_file_reference("certs/client.pem"));
        assert!(is_file_reference("abc"));
    }

    #[test]
    fn every_certificate_field_is_resolved_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new();
        let leaf = ca.leaf("srv");
        std::fs::write(dir.path().join("ca.pem"), &ca.ca_pem).unwrap();
        std::fs::write(
            dir.path().join("srv.pem"),
            format!("Bag Attributes: x\n{}", leaf.bundle()),
        )
        .unwrap();
        let mut gate = json!({
            "security": {"certificates": {"apis": ["ca.pem", FP], "upstream": {"*": "srv.pem"}}},
            "http_server_options": {"ssl_certificates": ["srv.pem"]},
            "apis": [{"api_id": "a", "client_certificates": ["ca.pem"],
                      "upstream_certificates": {"up.test": "srv.pem"},
                      "certificates": [dir.path().join("srv.pem").display().to_string()]}]
        });
        let resolved = inline_files_in(&mut gate, dir.path()).unwrap();
        let fields: Vec<&str> = resolved.iter().map(|r| r.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "security.certificates.apis[0]",
                "security.certificates.upstream[\"*\"]",
                "http_server_options.ssl_certificates[0]",
                "apis[0].client_certificates[0]",
                "apis[0].upstream_certificates[\"up.test\"]",
                "apis[0].certificates[0]",
            ]
        );
        assert_eq!(gate["security"]["certificates"]["apis"][0], ca.ca_pem);
        assert_eq!(gate["security"]["certificates"]["apis"][1], FP);
        assert_eq!(gate["apis"][0]["certificates"][0], leaf.bundle());

        strip_private_keys(&mut gate);
        let server = gate["http_server_options"]["ssl_certificates"][0]
            .as_str()
            .unwrap();
        assert!(!server.contains("PRIVATE KEY"), "{server}");
        assert_eq!(
            parse_blocks(server).unwrap()[0].der,
            leaf.cert_der,
            "the certificate stays"
        );
        // The upstream map keeps its key (render refuses it there, with a hint).
        assert!(
            gate["security"]["certificates"]["upstream"]["*"]
                .as_str()
                .unwrap()
                .contains("PRIVATE KEY")
        );
    }

    #[test]
    fn a_missing_or_non_pem_file_is_refused_naming_field_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("junk.txt"), "hello").unwrap();
        for (entry, reason) in [("nope.pem", "No such file"), ("junk.txt", "no PEM")] {
            let mut gate = json!({"apis": [{"api_id": "a"}, {"api_id": "b", "client_certificates": [FP, entry]}]});
            let err = inline_files_in(&mut gate, dir.path())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("apis[1].client_certificates[1]: "), "{err}");
            assert!(err.contains(entry) && err.contains(reason), "{err}");
        }
    }

    #[test]
    fn oas_fields_and_pins_are_resolved_and_named_by_their_own_paths() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new();
        let leaf = ca.leaf("srv");
        let public_key = mtls_gate_testkit::ca::public_key_pem();
        std::fs::write(dir.path().join("ca.pem"), &ca.ca_pem).unwrap();
        std::fs::write(dir.path().join("srv.pem"), leaf.bundle()).unwrap();
        std::fs::write(dir.path().join("pin.pub"), &public_key).unwrap();
        let mut gate = json!({
            "security": {"pinned_public_keys": {"*": format!("{FP}, pin.pub")}},
            "apis": [
                {"api_id": "classic", "pinned_public_keys": {"up.test": "pin.pub"}},
                {"openapi": "3.0.3", "x-tyk-api-gateway": {
                    "server": {
                        "clientCertificates": {"enabled": true, "allowlist": [FP, "ca.pem"]},
                        "customDomain": {"enabled": true, "name": "a.test", "certificates": ["srv.pem"]}
                    },
                    "upstream": {
                        "mutualTLS": {"enabled": true, "domainToCertificateMapping": [
                            {"domain": "*", "certificate": "srv.pem"}]},
                        "certificatePinning": {"enabled": true, "domainToPublicKeysMapping": [
                            {"domain": "*", "publicKeys": [FP, "pin.pub"]}]}
                    }
                }}
            ]
        });
        let resolved = inline_files_in(&mut gate, dir.path()).unwrap();
        let fields: Vec<&str> = resolved.iter().map(|r| r.field.as_str()).collect();
        let tyk = "apis[1].x-tyk-api-gateway";
        assert_eq!(
            fields,
            [
                "security.pinned_public_keys[\"*\"]".to_owned(),
                "apis[0].pinned_public_keys[\"up.test\"]".to_owned(),
                format!("{tyk}.server.clientCertificates.allowlist[1]"),
                format!("{tyk}.server.customDomain.certificates[0]"),
                format!("{tyk}.upstream.mutualTLS.domainToCertificateMapping[0].certificate"),
                format!(
                    "{tyk}.upstream.certificatePinning.domainToPublicKeysMapping[0].publicKeys[1]"
                ),
            ]
        );
        // A comma-joined pin keeps its other keys, and each key stays one PEM.
        assert_eq!(
            gate["security"]["pinned_public_keys"]["*"],
            format!("{FP},{public_key}")
        );
        let oas = &gate["apis"][1]["x-tyk-api-gateway"];
        assert_eq!(oas["server"]["clientCertificates"]["allowlist"][0], FP);
        assert_eq!(
            oas["server"]["clientCertificates"]["allowlist"][1],
            ca.ca_pem
        );
        assert_eq!(
            oas["upstream"]["mutualTLS"]["domainToCertificateMapping"][0]["certificate"],
            leaf.bundle()
        );

        strip_private_keys(&mut gate);
        let oas = &gate["apis"][1]["x-tyk-api-gateway"];
        let server = oas["server"]["customDomain"]["certificates"][0]
            .as_str()
            .unwrap();
        assert!(!server.contains("PRIVATE KEY"), "{server}");
        let upstream = oas["upstream"]["mutualTLS"]["domainToCertificateMapping"][0]["certificate"]
            .as_str()
            .unwrap();
        assert!(
            upstream.contains("PRIVATE KEY"),
            "upstream entries keep their key"
        );
    }

    #[test]
    fn a_bad_oas_reference_is_refused_at_its_oas_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut gate = json!({"apis": [{"x-tyk-api-gateway": {"upstream": {
            "certificatePinning": {"enabled": true, "domainToPublicKeysMapping": [
                {"domain": "a", "publicKeys": ["k.pub"]}]}}}}]});
        let err = inline_files_in(&mut gate, dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "apis[0].x-tyk-api-gateway.upstream.certificatePinning.domainToPublicKeysMapping[0].publicKeys[0]: certificate file "
            ),
            "{err}"
        );
        assert!(err.contains("k.pub"), "{err}");
    }

    #[test]
    fn references_lists_every_entry_with_its_role_and_leaves_the_gate_alone() {
        let gate = json!({
            "security": {"certificates": {"apis": ["a.pem"], "upstream": {"*": FP}}},
            "apis": [{"api_id": "x", "certificates": ["s.pem"]},
                     {"x-tyk-api-gateway": {"server": {"clientCertificates": {"allowlist": [FP]}}}}]
        });
        let before = gate.clone();
        let found: Vec<(String, Role)> = references(&gate)
            .into_iter()
            .map(|r| (r.field, r.role))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "security.certificates.apis[0]".to_owned(),
                    Role::ClientAllowList
                ),
                (
                    "security.certificates.upstream[\"*\"]".to_owned(),
                    Role::Upstream
                ),
                ("apis[0].certificates[0]".to_owned(), Role::Server),
                (
                    "apis[1].x-tyk-api-gateway.server.clientCertificates.allowlist[0]".to_owned(),
                    Role::ClientAllowList
                ),
            ]
        );
        assert_eq!(gate, before);
    }
}
