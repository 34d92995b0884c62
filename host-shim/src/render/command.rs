//! `mtls-gate-shim render`: the command-line edge of the renderer.

use super::envoy::{ClientValidation, Endpoint, GateModule, ServerCertificate};
use super::handshake::Enforcement;
use super::plan::UpstreamOptions;
use super::{RenderError, RenderOptions, render_dir};
use crate::cli::RenderArgs;
use crate::serve::{self, StartError};
use crate::store::open::StoreSpec;
use std::path::{Path, PathBuf};

/// Where Debian/Ubuntu keep the system CA bundle, used when `--upstream-ca` is not given.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

#[derive(Debug, thiserror::Error)]
pub enum RenderCommandError {
    #[error("{0}")]
    Secret(#[from] StartError),
    #[error("{what} {path}: {source}")]
    File {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "store {0} does not exist (start `mtls-gate-shim serve --store ...` once, or fix --store)"
    )]
    NoStore(String),
    #[error("--shim-url {0}: expected http://HOST:PORT")]
    ShimUrl(String),
    #[error(
        "no CA to verify https upstreams: pass --upstream-ca FILE ({SYSTEM_CA_BUNDLE} does not exist)"
    )]
    NoUpstreamCa,
    #[error(
        "no filter to run: pass --wasm FILE (or set MTLS_GATE_FILTER_WASM) or --native-module FILE"
    )]
    NoGateModule,
    #[error("{0}")]
    Render(#[from] RenderError),
}

pub fn run(args: RenderArgs) -> Result<(), RenderCommandError> {
    let admin = serve::admin_secret(args.secret_file.as_deref())?;
    let encoding = serve::encoding_secret(&admin, args.encoding_secret_file.as_deref())?;
    let feed_token = serve::feed_token(args.feed_token_file.as_deref())?;
    let store_error = |e| RenderCommandError::Render(RenderError::Store(e));
    let spec = StoreSpec::parse(&args.store).map_err(store_error)?;
    if !spec.exists().map_err(store_error)? {
        return Err(RenderCommandError::NoStore(spec.describe()));
    }
    let store = serve::open_store(&spec, &encoding).map_err(store_error)?;
    let gate_json = std::fs::read(&args.gate).map_err(|source| RenderCommandError::File {
        what: "gate config",
        path: args.gate.clone(),
        source,
    })?;
    if args.strict {
        refuse_unknown_fields(&gate_json)?;
    }
    let upstream_ca = match args.upstream_ca {
        Some(ca) => Some(absolute("--upstream-ca", &ca)?),
        None if Path::new(SYSTEM_CA_BUNDLE).is_file() => Some(PathBuf::from(SYSTEM_CA_BUNDLE)),
        None => return Err(RenderCommandError::NoUpstreamCa),
    };
    let options = RenderOptions {
        gate_json,
        out_dir: args.out.clone(),
        listen: args.listen,
        plain_listen: args.plain_listen,
        admin: args.admin,
        server_cert: match (&args.server_cert, &args.server_key) {
            (Some(cert), Some(key)) => Some((
                absolute("--server-cert", cert)?,
                absolute("--server-key", key)?,
            )),
            _ => None,
        },
        // The native module replaces the wasm filter: --wasm (perhaps only set by
        // MTLS_GATE_FILTER_WASM) is then not read at all.
        module: match (&args.native_module, &args.wasm) {
            (Some(module), _) => GateModule::Native(absolute("--native-module", module)?),
            (None, Some(wasm)) => GateModule::Wasm(absolute("--wasm", wasm)?),
            (None, None) => return Err(RenderCommandError::NoGateModule),
        },
        shim: shim_endpoint(&args.shim_url)?,
        feed_token: feed_token.map(|t| t.expose().to_owned()),
        upstreams: UpstreamOptions {
            ca: upstream_ca,
            resolve: args.resolve,
        },
    };
    // Envoy may run from another directory: every path it reads must be absolute.
    let options = RenderOptions {
        out_dir: absolute_dir(&options.out_dir)?,
        ..options
    };
    // Under the directory's lock, render and record together: a shim following this
    // directory renders only while it holds the lock, and only the gate recorded then.
    let lock = super::files::lock_out_dir(&options.out_dir).map_err(|source| RenderError::Io {
        path: options.out_dir.clone(),
        source,
    })?;
    let rendered = render_dir(&options, &store)?;
    // The shim re-renders from this whenever the store changes (SPEC §8, `crate::live`).
    super::record::save(&store, &options, &args.gate).map_err(store_error)?;
    drop(lock);
    for warning in &rendered.warnings {
        eprintln!("warning: {warning}");
    }
    for plan in &rendered.domains {
        match &plan.enforcement {
            Enforcement::Handshake(ClientValidation::LeafHashes(hashes)) => println!(
                "domain {}: client certificate verified at the handshake ({} listed leaf fingerprints)",
                plan.domain,
                hashes.len()
            ),
            Enforcement::Handshake(ClientValidation::TrustedCa(_)) => println!(
                "domain {}: client certificate verified at the handshake (chain to a listed CA)",
                plan.domain
            ),
            Enforcement::Handshake(ClientValidation::HttpLevel) => {}
            Enforcement::HttpLevel(reason) => println!(
                "domain {}: client certificate checked per request only ({reason})",
                plan.domain
            ),
        }
    }
    for chain in &rendered.tls_chains {
        if !chain.server_names.is_empty() {
            println!(
                "tls {}: {}",
                chain.server_names.join(","),
                describe_certificate(&chain.server_certificate)
            );
        }
    }
    for api in &rendered.upstreams {
        let certificate = api
            .certificate_cluster
            .as_ref()
            .map(|c| format!(" (client certificate {})", c.certificate_id))
            .unwrap_or_default();
        println!(
            "api {} -> {}: {}{certificate}",
            api.api_id, api.target, api.routed_cluster
        );
    }
    println!(
        "rendered {} ({} files changed, {} stale removed); start Envoy with: envoy -c {}",
        options.out_dir.display(),
        rendered.written.len(),
        rendered.removed.len(),
        rendered.bootstrap.display()
    );
    Ok(())
}

fn describe_certificate(certificate: &ServerCertificate) -> String {
    match certificate {
        ServerCertificate::Files { cert, .. } => format!("server certificate {}", cert.display()),
        ServerCertificate::Sds { secret, .. } => format!("server certificate {secret}"),
    }
}

/// `--strict`: the first field neither the gate nor Tyk knows refuses the render, as
/// `"strict": true` in the gate would (the filter then refuses it too).
fn refuse_unknown_fields(gate_json: &[u8]) -> Result<(), RenderCommandError> {
    let Ok(gate) = serde_json::from_slice::<serde_json::Value>(gate_json) else {
        // Not JSON: render's own parse says where.
        return Ok(());
    };
    match mtls_gate_core::config::unknown_fields::find(&gate).first() {
        Some(unknown) => Err(RenderCommandError::Render(RenderError::Gate(
            mtls_gate_core::config::ConfigError::invalid(
                unknown.path.clone(),
                format!(
                    "{} (--strict)",
                    unknown
                        .to_string()
                        .trim_start_matches(&format!("{}: ", unknown.path))
                ),
            ),
        ))),
        None => Ok(()),
    }
}

fn absolute(what: &'static str, path: &Path) -> Result<PathBuf, RenderCommandError> {
    std::fs::canonicalize(path).map_err(|source| RenderCommandError::File {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn absolute_dir(path: &Path) -> Result<PathBuf, RenderCommandError> {
    super::files::private_dir(path).map_err(|source| RenderCommandError::File {
        what: "--out",
        path: path.to_path_buf(),
        source,
    })?;
    absolute("--out", path)
}

/// `http://HOST:PORT[/]` → the shim cluster's endpoint.
pub fn shim_endpoint(url: &str) -> Result<Endpoint, RenderCommandError> {
    let bad = || RenderCommandError::ShimUrl(url.to_owned());
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let authority = rest.trim_end_matches('/');
    let hp = mtls_gate_core::authority::split_host_port(authority);
    let port = hp.port.and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    if hp.host.is_empty() || authority.contains('/') {
        return Err(bad());
    }
    Ok(Endpoint {
        host: hp.host.to_owned(),
        port,
    })
}
