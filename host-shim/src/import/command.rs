//! `mtls-gate-shim import`: the command-line edge. The report goes to stderr, the gate to
//! stdout or `--out` (atomically, `0600`: it may hold private keys). A refusal, or with
//! `--strict` any warning, writes nothing and exits non-zero.

use super::report::{Kind, Report};
use super::{ImportError, ImportOptions, import};
use crate::render::files;
use crate::render::references;
use crate::serve;
use crate::store::open::StoreSpec;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
#[command(
    after_help = "Reads Tyk's gateway config (tyk.conf) and every API definition in --apps (Tyk's
app_path: Classic *.json; an OAS API as <name>.json with \"is_oas\": true beside <name>-oas.json; a lone
OAS document is read too) and writes a gate config: tyk.conf's mTLS settings under Tyk's names
(security.certificates.apis/.upstream/.control_api, security.pinned_public_keys,
security.allow_unsafe_dynamic_mtls_token, security.control_api_use_mutual_tls,
security.certificate_expiry_monitor, http_server_options.ssl_certificates), each definition whole
(OAS kept as OAS), and a store block for the shim. Certificate references that are file paths are
read and inlined as PEM. The gate is validated as render validates it.

The report (stderr) names, by file and JSON path, every setting carried, inlined, kept but not
applied yet, or not carried (with the reason), and the warnings: unknown fields (likely typos),
an OAS document that disagrees with its Classic file, an upstream key render will not take.

Next: upload the certificates the gate names by ID (mtls-gate-shim certs add FILE --org ORG),
then mtls-gate-shim render --gate FILE ..."
)]
pub struct ImportArgs {
    /// Tyk's gateway config file.
    #[arg(long, value_name = "FILE")]
    pub tyk_conf: PathBuf,
    /// The directory of API definitions (Tyk's app_path).
    #[arg(long, value_name = "DIR")]
    pub apps: PathBuf,
    /// Write the gate here (atomically, mode 0600) instead of to stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Read relative certificate paths under this directory (default: tyk.conf's directory,
    /// which is Tyk's working directory in its packages and image).
    #[arg(long, value_name = "DIR")]
    pub base_dir: Option<PathBuf>,
    /// Refuse (write nothing, exit 1) if there is any warning.
    #[arg(long)]
    pub strict: bool,
    /// Also warn about every certificate ID the gate names that this store lacks (as
    /// `render` does). Opens the store with MTLS_GATE_SECRET / --secret-file and
    /// MTLS_GATE_ENCODING_SECRET, as `render` does.
    #[arg(long, value_name = "PATH|URL")]
    pub store: Option<PathBuf>,
    /// Read the admin secret from this file instead of MTLS_GATE_SECRET (with --store).
    #[arg(long, value_name = "PATH", requires = "store")]
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportCommandError {
    #[error("{0}")]
    Import(#[from] ImportError),
    #[error("refusing to write the gate: {0} warnings (--strict)")]
    Strict(usize),
    #[error("--store: {0}")]
    Store(String),
    #[error("{path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub fn run(args: ImportArgs) -> Result<(), ImportCommandError> {
    let options = ImportOptions {
        tyk_conf: args.tyk_conf,
        apps: args.apps,
        base_dir: args.base_dir,
    };
    let mut report = Report::default();
    let result = import(&options, &mut report);
    if let (Ok(imported), Some(store)) = (&result, &args.store) {
        for warning in missing_in_store(store, args.secret_file.as_deref(), &imported.gate)? {
            report.push(Kind::Warning, "gate", warning);
        }
    }
    for line in report.lines() {
        eprintln!("{line}");
    }
    let imported = result?;
    let warnings = report.warnings().count();
    if args.strict && warnings > 0 {
        return Err(ImportCommandError::Strict(warnings));
    }
    let mut json = serde_json::to_string_pretty(&imported.gate).unwrap_or_default();
    json.push('\n');
    match args.out {
        Some(out) => {
            write_private(&out, json.as_bytes()).map_err(|source| ImportCommandError::Write {
                path: out.clone(),
                source,
            })?;
            eprintln!("wrote {}", out.display());
        }
        None => print!("{json}"),
    }
    Ok(())
}

/// The certificate IDs `gate` names that the store at `spec` lacks, as `render` words them.
fn missing_in_store(
    spec: &Path,
    secret_file: Option<&Path>,
    gate: &serde_json::Value,
) -> Result<Vec<String>, ImportCommandError> {
    let store_error = |e: String| ImportCommandError::Store(e);
    let admin = serve::admin_secret(secret_file).map_err(|e| store_error(e.to_string()))?;
    let encoding = serve::encoding_secret(&admin, None).map_err(|e| store_error(e.to_string()))?;
    let spec = StoreSpec::parse(spec).map_err(|e| store_error(e.to_string()))?;
    if !spec.exists().map_err(|e| store_error(e.to_string()))? {
        return Err(store_error(format!("no store at {}", spec.describe())));
    }
    let store = serve::open_store(&spec, &encoding).map_err(|e| store_error(e.to_string()))?;
    references::missing_store_ids(gate, &store).map_err(|e| store_error(e.to_string()))
}

/// Replaces `path` atomically with an owner-only file, also when it held the same bytes
/// under a looser mode.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    // `gate.json` has the parent "", which the atomic write cannot sync.
    let path = match path.parent() {
        Some(dir) if dir.as_os_str().is_empty() => Path::new(".").join(path),
        _ => path.to_path_buf(),
    };
    files::write_atomic(&path, contents)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
