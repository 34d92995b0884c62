//! `mtls-gate-shim render`: the command-line edge of the renderer.

use super::envoy::Endpoint;
use super::plan::UpstreamOptions;
use super::{RenderError, RenderOptions, render_dir};
use crate::cli::RenderArgs;
use crate::serve::{self, ENV_FEED_TOKEN, StartError};
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
    #[error("{0}")]
    Render(#[from] RenderError),
}

pub fn run(args: RenderArgs) -> Result<(), RenderCommandError> {
    let admin = serve::admin_secret(args.secret_file.as_deref())?;
    let encoding = serve::encoding_secret(&admin);
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
        server_cert: absolute("--server-cert", &args.server_cert)?,
        server_key: absolute("--server-key", &args.server_key)?,
        wasm: absolute("--wasm", &args.wasm)?,
        shim: shim_endpoint(&args.shim_url)?,
        feed_token: std::env::var(ENV_FEED_TOKEN).ok().filter(|t| !t.is_empty()),
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
    let rendered = render_dir(&options, &store)?;
    for warning in &rendered.warnings {
        eprintln!("warning: {warning}");
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
