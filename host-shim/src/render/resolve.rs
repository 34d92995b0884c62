//! Certificate references that are file paths (SPEC §1), resolved before the filter sees
//! the gate: the wasm filter cannot read files, so `render` reads each one and puts its PEM
//! where the path was.
//!
//! A reference is a path when it is not PEM, not a store ID and not a bare fingerprint
//! (Tyk's rule). Paths are read relative to the working directory `render` runs in, as Tyk
//! reads them relative to its own. A path that cannot be read, or a file without PEM, is
//! refused with the JSON path of the entry and the file.
//!
//! The fields: `security.certificates.apis[]`, `security.certificates.upstream{}`,
//! `http_server_options.ssl_certificates[]`, and per API `client_certificates[]`,
//! `upstream_certificates{}` and `certificates[]`.
//!
//! [`strip_private_keys`] then removes private keys from what the filter gets: an allow list
//! needs only the certificate, the filter never reads server certificates, and the filter's
//! configuration is visible in Envoy's `/config_dump`. Upstream maps keep theirs (render
//! refuses an inline upstream key with a hint to upload it instead).

use super::RenderError;
use crate::certificates::pem_text;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::pem::{looks_like_pem, parse_blocks};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where a field sits in the gate JSON, and whether its entries are a list or a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    List,
    Map,
}

/// What a field's certificates are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    ClientAllowList,
    Upstream,
    Server,
}

const GLOBAL_FIELDS: [(&[&str], Shape, Role); 3] = [
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
        &["http_server_options", "ssl_certificates"],
        Shape::List,
        Role::Server,
    ),
];

const API_FIELDS: [(&str, Shape, Role); 3] = [
    ("client_certificates", Shape::List, Role::ClientAllowList),
    ("upstream_certificates", Shape::Map, Role::Upstream),
    ("certificates", Shape::List, Role::Server),
];

/// A file reference that was replaced by its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedFile {
    /// The entry's JSON path, e.g. `apis[0].client_certificates[1]`.
    pub field: String,
    pub path: PathBuf,
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
        if !is_file_reference(entry) {
            return Ok(());
        }
        let path = base.join(entry.trim());
        let text = std::fs::read_to_string(&path).map_err(|e| RenderError::CertificateFile {
            field: field.to_owned(),
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if !text.contains("-----BEGIN ") {
            return Err(RenderError::CertificateFile {
                field: field.to_owned(),
                path,
                reason: "the file holds no PEM block".to_owned(),
            });
        }
        // Text before the first block (openssl's "Bag Attributes", comments) is not PEM
        // as the config reads it.
        let pem = text
            .find("-----BEGIN ")
            .and_then(|at| text.get(at..))
            .unwrap_or(&text)
            .to_owned();
        *entry = pem;
        resolved.push(ResolvedFile {
            field: field.to_owned(),
            path,
        });
        Ok(())
    })?;
    Ok(resolved)
}

/// Removes every private-key block from the client allow lists and server certificates of
/// `gate` (see the module docs). Entries that are not well-formed PEM are left for the
/// config's validation to name.
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

/// Calls `visit` with the JSON path, role and text of every string entry of every
/// certificate field. Entries of the wrong type are skipped (the config refuses them).
fn for_each_entry(gate: &mut Value, visit: &mut Visit<'_>) -> Result<(), RenderError> {
    for (keys, shape, role) in GLOBAL_FIELDS {
        let mut node = Some(&mut *gate);
        for key in keys {
            node = node.and_then(|n| n.get_mut(*key));
        }
        if let Some(node) = node {
            visit_field(node, &keys.join("."), shape, role, visit)?;
        }
    }
    if let Some(apis) = gate.get_mut("apis").and_then(Value::as_array_mut) {
        for (index, api) in apis.iter_mut().enumerate() {
            for (key, shape, role) in API_FIELDS {
                if let Some(node) = api.get_mut(key) {
                    visit_field(node, &format!("apis[{index}].{key}"), shape, role, visit)?;
                }
            }
        }
    }
    Ok(())
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
        (Shape::Map, Value::Object(map)) => {
            for (key, item) in map.iter_mut() {
                // The core's spelling of a map entry's path: `field["key"]`.
                each(format!("{path}[{}]", Value::String(key.clone())), item)?;
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
}
