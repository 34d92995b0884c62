//! The listener's server certificates (SPEC §8): `http_server_options.ssl_certificates`
//! (global) and each API's `certificates`, as store IDs, inline PEM or file paths (already
//! inlined by [`super::resolve`]).
//!
//! - A store ID: the store's certificate and its private key, decrypted, written as a
//!   file-based SDS secret (`0600`, [`super::plan::stored_secret`]). An ID the store does not
//!   hold (yet) is skipped with a warning, as Tyk skips it; a re-render after the upload
//!   serves it.
//! - Inline PEM: must hold the certificate and its matching key (Tyk's upload rules,
//!   [`crate::certificates::upload::admit`]); written as an SDS secret the same way.
//! - Refused, naming the field and the reference: no private key, expired, a public key, or
//!   a key that does not match.
//!
//! Envoy picks a certificate by SNI: a certificate serves its DNS names, and for an API's
//! `certificates` also the API's `domain` when that is a plain host.

use super::RenderError;
use super::plan::{PlannedSecret, SecretRole, pem_secret, stored_secret};
use super::resolve::ResolvedFile;
use crate::certificates::upload::{MaterialKind, UploadError, admit};
use crate::store::Store;
use mtls_gate_core::certificate::parse_bundle;
use mtls_gate_core::config::GateConfig;
use mtls_gate_core::domain::DomainPattern;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::pem::looks_like_pem;
use std::collections::HashMap;
use std::path::Path;

/// One server certificate `render` serves.
pub struct ServerCert {
    /// Bare 64 lowercase hex.
    pub fingerprint: String,
    /// The SNI names it serves, lowercase, in order, without repeats: its DNS SANs, then the
    /// domains of the APIs that name it.
    pub names: Vec<String>,
    /// The first config entry that named it (`http_server_options.ssl_certificates[0]`).
    pub field: String,
    pub secret: PlannedSecret,
}

impl ServerCert {
    /// Is `host` (lowercase) one of its names, or under one of its wildcards (one label, as
    /// TLS clients match `*.example.com`)?
    pub fn covers(&self, host: &str) -> bool {
        self.names.iter().any(|name| name_covers(name, host))
    }
}

/// Does certificate name `name` (maybe `*.suffix`) cover `host`?
pub fn name_covers(name: &str, host: &str) -> bool {
    match name.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .and_then(|label| label.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        None => name == host,
    }
}

/// The server certificates of a gate, in config order (global list first, then each API's).
pub struct ServerCerts {
    pub certs: Vec<ServerCert>,
    pub warnings: Vec<String>,
}

/// Plans the server certificates of `config` (compiled from the gate with file references
/// inlined and private keys kept). `api_index` maps an `api_id` to its index in the gate's
/// `apis`, for error messages; `files` says which entries came from which file.
pub fn plan_server_certificates(
    config: &GateConfig,
    api_index: &HashMap<String, usize>,
    files: &[ResolvedFile],
    store: &Store,
    secrets_dir: &Path,
    now: i64,
) -> Result<ServerCerts, RenderError> {
    let mut planned = ServerCerts {
        certs: Vec::new(),
        warnings: Vec::new(),
    };
    let global = config
        .server_certificates
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            (
                format!("http_server_options.ssl_certificates[{i}]"),
                entry,
                None,
            )
        });
    let per_api = config.apis.iter().flat_map(|api| {
        let index = api_index.get(&api.api_id).copied().unwrap_or_default();
        let domain = match &api.domain {
            DomainPattern::Exact(host) if host.parse::<std::net::IpAddr>().is_err() => {
                Some(host.clone())
            }
            _ => None,
        };
        api.server_certificates
            .iter()
            .enumerate()
            .map(move |(i, entry)| {
                (
                    format!("apis[{index}].certificates[{i}]"),
                    entry,
                    domain.clone(),
                )
            })
    });
    for (field, entry, domain) in global.chain(per_api) {
        let reference = describe(&field, entry, files);
        let refuse = |reason: String| RenderError::ServerCertificate {
            field: field.clone(),
            reference: reference.clone(),
            reason,
        };
        let Some(secret) = secret_of(entry, store, secrets_dir, now, &refuse)? else {
            planned.warnings.push(format!(
                "{field}: server certificate {reference} is not in the store (yet): skipped; render again once it is uploaded"
            ));
            continue;
        };
        let mut names = Vec::new();
        if let Some(leaf) = parse_bundle(&secret.cert_pem)
            .ok()
            .and_then(|b| b.leaf().cloned())
        {
            for name in leaf.dns_names {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if is_server_name(&name) {
                    names.push(name);
                } else {
                    planned.warnings.push(format!(
                        "{field}: server certificate {reference}: DNS name {name:?} cannot be matched by SNI; ignored"
                    ));
                }
            }
        }
        names.extend(domain);
        match planned
            .certs
            .iter_mut()
            .find(|c| c.fingerprint == secret.fingerprint)
        {
            Some(known) => known.names.extend(names),
            None => planned.certs.push(ServerCert {
                fingerprint: secret.fingerprint.clone(),
                names,
                field: field.clone(),
                secret,
            }),
        }
    }
    for cert in &mut planned.certs {
        let mut seen = std::collections::HashSet::new();
        cert.names.retain(|name| seen.insert(name.clone()));
    }
    Ok(planned)
}

/// The secret of one entry; `None` for a store ID the store does not hold.
fn secret_of(
    entry: &str,
    store: &Store,
    secrets_dir: &Path,
    now: i64,
    refuse: &dyn Fn(String) -> RenderError,
) -> Result<Option<PlannedSecret>, RenderError> {
    let entry = entry.trim();
    if looks_like_pem(entry) {
        let upload = admit(entry, "", now).map_err(|e| {
            refuse(match e {
                UploadError::Expired { index: 0 } => "expired".to_owned(),
                UploadError::Expired { index } => {
                    format!("certificate #{index} of its chain is expired")
                }
                other => other.to_string(),
            })
        })?;
        if upload.kind == MaterialKind::PublicKey {
            return Err(refuse("a public key, not a certificate".to_owned()));
        }
        let Some(key_der) = upload.private_key_der.as_ref() else {
            return Err(refuse("no private key".to_owned()));
        };
        return Ok(Some(pem_secret(
            &upload.fingerprint.to_hex(),
            &upload.material_pem,
            key_der,
            secrets_dir,
            SecretRole::Server,
        )));
    }
    if Fingerprint::split_certificate_id(entry).is_none() {
        // Every other entry was a file, and render inlined it.
        return Err(refuse("not a PEM, ID or readable file".to_owned()));
    }
    let Some(stored) = store.certificate(entry)? else {
        return Ok(None);
    };
    if stored.kind == MaterialKind::PublicKey {
        return Err(refuse("a public key, not a certificate".to_owned()));
    }
    if !stored.has_private {
        return Err(refuse(
            "no private key in the store (upload the certificate with its key)".to_owned(),
        ));
    }
    if stored.expiry().is_some_and(|not_after| not_after < now) {
        return Err(refuse("expired".to_owned()));
    }
    stored_secret(store, entry, secrets_dir, SecretRole::Server).map(Some)
}

/// How an error names an entry: the store ID, the file it came from, or the inline PEM's
/// fingerprint.
fn describe(field: &str, entry: &str, files: &[ResolvedFile]) -> String {
    if let Some(file) = files.iter().find(|f| f.field == field) {
        return format!("file {}", file.path.display());
    }
    if looks_like_pem(entry) {
        return match parse_bundle(entry).ok().and_then(|b| b.fingerprint()) {
            Some(fp) => format!("inline PEM (SHA256 {fp})"),
            None => "inline PEM".to_owned(),
        };
    }
    entry.trim().to_owned()
}

/// A name Envoy's `server_names` can hold: a host name, or `*.` and a host name.
pub fn is_server_name(name: &str) -> bool {
    let host = name.strip_prefix("*.").unwrap_or(name);
    !host.is_empty()
        && host.parse::<std::net::IpAddr>().is_err()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_covers("a.test", "a.test"));
        assert!(!name_covers("a.test", "b.test"));
        assert!(name_covers("*.example.test", "x.example.test"));
        assert!(!name_covers("*.example.test", "a.b.example.test"));
        assert!(!name_covers("*.example.test", "example.test"));
        assert!(!name_covers("*.example.test", "xexample.test"));
    }

    #[test]
    fn server_names_are_host_names() {
        for good in ["a.test", "*.example.test", "localhost", "a_b.test"] {
            assert!(is_server_name(good), "{good}");
        }
        for bad in [
            "",
            "*",
            "127.0.0.1",
            "a..test",
            "*w.test",
            "a b.test",
            "*.*.test",
        ] {
            assert!(!is_server_name(bad), "{bad}");
        }
    }
}
