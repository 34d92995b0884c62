//! `mtls-gate-shim import`: the command-line edge. The report goes to stderr, the gate to
//! stdout or `--out` (atomically, `0600`: it may hold private keys). A refusal, or with
//! `--strict` any warning, writes nothing and exits non-zero.

use super::report::Report;
use super::{ImportError, ImportOptions, import};
use crate::render::files;
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
}

#[derive(Debug, thiserror::Error)]
pub enum ImportCommandError {
    #[error("{0}")]
    Import(#[from] ImportError),
    #[error("refusing to write the gate: {0} warnings (--strict)")]
    Strict(usize),
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
