//! `mtls-gate-shim import`: a gate config from a Tyk installation (SPEC §9 "Import"): its
//! gateway config (tyk.conf) and the API definitions of its `app_path`, Classic and OAS.
//!
//! What the gate gets, and why:
//! - From tyk.conf, every mTLS setting under Tyk's own path ([`gateway`]: carried, kept
//!   without being applied yet, or left out with the reason).
//! - Every API definition whole, Classic as Classic and OAS as the OAS document ([`apps`]):
//!   the gate reads Tyk's field names and ignores the fields it does not use, so the least
//!   surprising gate is the definitions as the user wrote them (a diff against the Tyk files
//!   shows only inlined certificates), and a Tyk field mtls-gate learns later applies without
//!   importing again. What the gate does not apply is reported per API ([`api_settings`]).
//! - A `store` block: Tyk's certificate IDs name certificates in Tyk's store, whose
//!   replacement is the shim (`render` points the block at it and fills its token).
//! - Certificate file paths read and inlined as PEM (`render::resolve`, the walker `render`
//!   uses, SPEC §1): relative to `--base-dir`, by default tyk.conf's directory. Tyk reads every
//!   path relative to its working directory, which its packages and image set to the
//!   directory holding tyk.conf (`/opt/tyk-gateway`), for tyk.conf's paths and the
//!   definitions' alike.
//!
//! The gate is then validated as `render` validates it ([`crate::render::prepare_gate`]); a
//! refusal, an unreadable file or a typo is named by file and JSON path ([`sources`]). The
//! [`report`] lists everything that is not carried as Tyk applies it.

mod api_settings;
mod apps;
pub mod command;
mod companion;
mod gateway;
pub mod report;
mod sources;

use crate::render::resolve::{self, ResolvedFile, Role};
use crate::render::{self, RenderError, SHIM_CLUSTER};
use api_settings::ClassicView;
use mtls_gate_core::config::unknown_fields;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::pem::looks_like_pem;
use report::{Kind, Report};
use serde_json::{Map, Value, json};
use sources::Sources;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Tyk's gateway config file.
    pub tyk_conf: PathBuf,
    /// Tyk's `app_path`: the API definitions.
    pub apps: PathBuf,
    /// Where relative certificate paths are read from (default: tyk.conf's directory).
    pub base_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file or directory that cannot be read.
    #[error("{file}: {reason}")]
    Read { file: String, reason: String },
    /// What the Tyk installation says would make a gate the filter or `render` refuses,
    /// named where it says it.
    #[error("{location}: {reason}")]
    Refused { location: String, reason: String },
}

/// An imported gate, not yet written.
#[derive(Debug, Clone)]
pub struct Imported {
    pub gate: Value,
    /// Some entry holds a private key (a server certificate, an upstream certificate): the
    /// gate must be protected like a key.
    pub holds_private_keys: bool,
}

/// The feed token the validation stands in for (`render` fills the real one in).
const VALIDATION_TOKEN: &str = "filled-in-by-render";

/// Reads the installation `options` names into a gate, reporting into `report` as it goes
/// (so that a refusal still comes with what was found before it).
pub fn import(options: &ImportOptions, report: &mut Report) -> Result<Imported, ImportError> {
    let conf_name = options.tyk_conf.display().to_string();
    let conf = read_conf(&options.tyk_conf, &conf_name)?;
    let base = match &options.base_dir {
        Some(dir) => dir.clone(),
        None => match options.tyk_conf.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        },
    };
    let apps = apps::read(&options.apps, &options.apps, report)?;

    let mut gate = Map::new();
    gate.insert(
        "store".to_owned(),
        json!({"cluster": SHIM_CLUSTER, "authority": SHIM_CLUSTER}),
    );
    gate.extend(gateway::carry(&conf, &conf_name, report));
    let mut sources = Sources {
        tyk_conf: conf_name.clone(),
        apis: Vec::new(),
    };
    let mut definitions = Vec::new();
    let mut with_domain = Vec::new();
    for app in &apps {
        if let Some((classic_file, classic)) = &app.classic_companion {
            companion::compare(&app.file, &app.definition, classic_file, classic, report);
        }
        if let Some(view) = ClassicView::of(&app.definition) {
            api_settings::report_api(&app.file, &view, report);
            if view.is_active() && view.bound_domain().is_some() {
                with_domain.push(app.file.clone());
            }
        }
        sources.apis.push(app.file.clone());
        let mut definition = app.definition.clone();
        api_settings::drop_common_name_check(&mut definition);
        definitions.push(definition);
    }
    custom_domains(&conf, &conf_name, &with_domain, report);
    gate.insert("apis".to_owned(), Value::Array(definitions));
    let mut gate = Value::Object(gate);
    let oas_count = apps.iter().filter(|a| a.is_oas()).count();
    report.push(
        Kind::Summary,
        "import",
        format!(
            "{} API definitions from {} ({} Classic, {oas_count} OAS); relative certificate paths read under {}",
            apps.len(),
            options.apps.display(),
            apps.len() - oas_count,
            base.display()
        ),
    );
    report.push(
        Kind::Note,
        sources.locate("store"),
        "added: Tyk's certificate IDs name certificates in Tyk's store, which the shim \
         replaces (render points this block at the shim and fills store.token from \
         MTLS_GATE_FEED_TOKEN)",
    );

    let mut inlined =
        resolve::inline_files_in(&mut gate, &base).map_err(|e| refused(&sources, e))?;
    inlined.extend(inline_control_api(&mut gate, &base, &conf_name, report)?);
    for file in &inlined {
        report.push(
            Kind::Inlined,
            sources.locate(&file.field),
            file.path.display().to_string(),
        );
    }

    let prepared = render::prepare_gate(
        gate.to_string().as_bytes(),
        SHIM_CLUSTER,
        Some(VALIDATION_TOKEN),
    )
    .map_err(|e| refused(&sources, e))?;
    // Typos: those the gate would warn about, and those in tyk.conf's `security` (which the
    // gate holds only the carried part of).
    let security_probe = json!({"security": conf.get("security").cloned().unwrap_or_default()});
    for unknown in prepared
        .config
        .unknown_fields
        .iter()
        .chain(&unknown_fields::find(&security_probe))
    {
        let text = unknown.to_string();
        let reason = text
            .strip_prefix(&format!("{}: ", unknown.path))
            .unwrap_or(&text);
        report.push(Kind::Warning, sources.locate(&unknown.path), reason);
    }
    let holds_private_keys = report_references(&gate, &sources, report);
    Ok(Imported {
        gate,
        holds_private_keys,
    })
}

fn read_conf(path: &Path, name: &str) -> Result<Value, ImportError> {
    let text = std::fs::read(path).map_err(|e| ImportError::Read {
        file: name.to_owned(),
        reason: e.to_string(),
    })?;
    let conf: Value = serde_json::from_slice(&text).map_err(|e| ImportError::Refused {
        location: format!("{name}: $"),
        reason: format!("not a JSON gateway config: {e}"),
    })?;
    match conf.is_object() {
        true => Ok(conf),
        false => Err(ImportError::Refused {
            location: format!("{name}: $"),
            reason: "not a JSON object: Tyk's gateway config is one".to_owned(),
        }),
    }
}

/// Tyk's router binds an API to its `domain` only with `enable_custom_domains: true`
/// (`gateway/api_loader.go`); the gate always does.
fn custom_domains(conf: &Value, conf_name: &str, with_domain: &[String], report: &mut Report) {
    let enabled = gateway::lookup(conf, "enable_custom_domains") == Some(&Value::Bool(true));
    if enabled || with_domain.is_empty() {
        return;
    }
    report.push(
        Kind::NotCarried,
        format!("{conf_name}: enable_custom_domains"),
        format!(
            "it is not true, so Tyk ignores the domain of {} and serves each on every host; the \
             gate binds each to its domain: set domain_disabled: true (OAS: \
             server.customDomain.enabled: false) where Tyk's routing is wanted",
            with_domain.join(", ")
        ),
    );
}

/// `security.certificates.control_api` is outside render's tables (nothing in the gate
/// applies it): its files are inlined here, and the report gives the `serve` flag that
/// applies it, with the references as files `serve` can read.
fn inline_control_api(
    gate: &mut Value,
    base: &Path,
    conf_name: &str,
    report: &mut Report,
) -> Result<Vec<ResolvedFile>, ImportError> {
    let field = "security.certificates.control_api";
    let Some(entries) = gate
        .pointer_mut("/security/certificates/control_api")
        .and_then(Value::as_array_mut)
    else {
        return Ok(Vec::new());
    };
    let mut resolved = Vec::new();
    let mut flag = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        let Value::String(text) = entry else {
            continue;
        };
        let at = format!("{field}[{i}]");
        flag.push(match resolve::is_file_reference(text) {
            true => {
                let path = base.join(text.trim());
                std::fs::canonicalize(&path)
                    .unwrap_or(path)
                    .display()
                    .to_string()
            }
            false if looks_like_pem(text) => "<inline PEM: write it to a file>".to_owned(),
            false => text.trim().to_owned(),
        });
        let file = resolve::inline_entry(&at, text, base).map_err(|e| ImportError::Refused {
            location: format!("{conf_name}: {at}"),
            reason: match e {
                RenderError::CertificateFile { path, reason, .. } => {
                    format!("certificate file {}: {reason}", path.display())
                }
                other => other.to_string(),
            },
        })?;
        resolved.extend(file);
    }
    if !flag.is_empty() {
        report.push(
            Kind::Note,
            format!("{conf_name}: {field}"),
            format!(
                "for the shim's admin API: mtls-gate-shim serve --tls-cert FILE --tls-key FILE --control-api-certs {}",
                flag.join(",")
            ),
        );
    }
    Ok(resolved)
}

/// Warnings and notes about the gate's certificate references: inline upstream keys (render
/// takes upstream keys only from the store), store IDs to upload, private keys in the file.
/// Whether the gate holds a private key.
fn report_references(gate: &Value, sources: &Sources, report: &mut Report) -> bool {
    let mut ids = BTreeSet::new();
    let mut keys = 0;
    for reference in resolve::references(gate) {
        // Only a pin joins several references with commas.
        let entries: Vec<&str> = match reference.role {
            Role::Pin => reference.entry.split(',').map(str::trim).collect(),
            _ => vec![reference.entry.trim()],
        };
        for entry in entries {
            if looks_like_pem(entry) {
                if entry.contains("PRIVATE KEY") {
                    keys += 1;
                    if reference.role == Role::Upstream {
                        report.push(
                            Kind::Note,
                            sources.locate(&reference.field),
                            "an upstream certificate with its private key, now inline in the \
                             gate: render writes the key to a 0600 secret file for Envoy and \
                             keeps it out of the filter's config; protect the gate file like \
                             the key, or upload it (mtls-gate-shim certs add) and name it by ID",
                        );
                    }
                }
            } else if Fingerprint::split_certificate_id(entry).is_some() {
                ids.insert(entry.to_owned());
            }
        }
    }
    if !ids.is_empty() {
        report.push(
            Kind::Note,
            "gate",
            format!(
                "{} certificates are named by ID or fingerprint (Tyk certificate store IDs): \
                 upload each to the shim with its org and, where Tyk had it, its key \
                 (mtls-gate-shim certs add FILE --org ORG); render warns about each one the \
                 store lacks",
                ids.len()
            ),
        );
    }
    if keys > 0 {
        report.push(
            Kind::Note,
            "gate",
            format!(
                "{keys} entries hold a private key: protect the gate like a key (--out writes it 0600)"
            ),
        );
    }
    keys > 0
}

/// A refusal, named where the installation says it.
fn refused(sources: &Sources, error: RenderError) -> ImportError {
    match error {
        RenderError::Gate(e) => ImportError::Refused {
            location: sources.locate(&e.path),
            reason: e.reason(),
        },
        RenderError::CertificateFile {
            field,
            path,
            reason,
        } => ImportError::Refused {
            location: sources.locate(&field),
            reason: format!("certificate file {}: {reason}", path.display()),
        },
        other => ImportError::Refused {
            location: "gate".to_owned(),
            reason: other.to_string(),
        },
    }
}
