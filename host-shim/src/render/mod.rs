//! `mtls-gate-shim render`: the Envoy config for a gate, from the gate JSON and the store.
//!
//! - [`plan`]: which clusters and secrets a gate needs. Cluster names and the certificate
//!   choice come from `mtls_gate_core` (`decision::upstream_cluster`,
//!   `upstream::choose_upstream_certificate`), the very functions the filter routes with.
//! - [`envoy`]: that config as data, rendered into the `envoy-config/` templates ([`template`]).
//! - [`files`]: atomic, owner-only writes.
//!
//! Output layout (`--out DIR`, all `0700` directories and `0600` files):
//! ```text
//! DIR/envoy.yaml                   bootstrap: admin + file-based LDS/CDS (start Envoy with -c this)
//! DIR/envoy-validate.yaml          the same resources in one static file: `envoy --mode validate`
//!                                  reads no LDS/CDS file, so this is the file to validate
//! DIR/xds/lds.yaml, cds.yaml       listeners (filter config inlined), clusters
//! DIR/secrets/<sha256>.yaml        SDS: one upstream client certificate
//! DIR/secrets/<sha256>.crt.pem     its chain, and .key.pem its decrypted private key
//! ```
//! A re-render replaces only the files that changed, each by rename; Envoy reloads the
//! resources whose watched directory saw a rename. A rotated certificate has a new
//! fingerprint, hence new cluster and secret names, so nothing in use is ever rewritten in place.

pub mod command;
pub mod envoy;
pub mod files;
pub mod plan;
pub mod template;

use crate::store::{Store, StoreError};
use envoy::{DefaultRoute, Endpoint, EnvoyLayout, HttpFilter, Listener, XdsPaths};
use mtls_gate_core::config::{ConfigError, ConfigErrorKind, GateConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The same config in one static file, for `envoy --mode validate -c DIR/envoy-validate.yaml`.
pub const VALIDATE_FILE: &str = "envoy-validate.yaml";

/// The Envoy cluster of the shim (the gate's `store.cluster` is pointed at it).
pub const SHIM_CLUSTER: &str = "mtls-gate-shim";

/// Everything `render` needs besides the store.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// The gate JSON as the operator wrote it.
    pub gate_json: Vec<u8>,
    pub out_dir: PathBuf,
    pub listen: SocketAddr,
    pub plain_listen: Option<SocketAddr>,
    pub admin: SocketAddr,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub wasm: PathBuf,
    /// The shim's address, for the shim cluster and the gate's `store.authority`.
    pub shim: Endpoint,
    /// Filled into `store.token` when the gate JSON leaves it empty.
    pub feed_token: Option<String>,
    pub upstreams: plan::UpstreamOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("refusing gate config: {0}")]
    Gate(ConfigError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error(
        "API {api_id}: its upstream certificate is inline PEM with a private key; upload it to the store (mtls-gate-shim certs add) and name it by ID"
    )]
    InlinePrivateKey { api_id: String },
    #[error("certificate {id} is indexed with a private key, but the store returned none")]
    MissingPrivateKey { id: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template: {0}")]
    Template(#[from] template::TemplateError),
}

/// What a render produced.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub bootstrap: PathBuf,
    /// Per API with a target: its clusters, in gate order.
    pub upstreams: Vec<plan::ApiUpstream>,
    /// Files replaced by this run (unchanged ones are left alone).
    pub written: Vec<PathBuf>,
    /// Stale secret files removed.
    pub removed: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

/// Validates `gate_json` and points its `store` block at the shim cluster. Returns the JSON
/// the filter gets and its compiled form.
pub fn prepare_gate(
    gate_json: &[u8],
    shim_authority: &str,
    feed_token: Option<&str>,
) -> Result<(String, GateConfig), RenderError> {
    // Not JSON at all: the core's parser gives the line and column.
    let mut value: serde_json::Value = match serde_json::from_slice(gate_json) {
        Ok(value) => value,
        Err(e) => {
            return Err(RenderError::Gate(
                GateConfig::from_json(gate_json)
                    .err()
                    .unwrap_or(ConfigError::new(
                        "$",
                        ConfigErrorKind::Malformed(e.to_string()),
                    )),
            ));
        }
    };
    if let Some(store) = value.get_mut("store").and_then(|s| s.as_object_mut()) {
        store.insert("cluster".to_owned(), SHIM_CLUSTER.into());
        store.insert("authority".to_owned(), shim_authority.into());
        let token_empty = store
            .get("token")
            .and_then(|t| t.as_str())
            .is_none_or(str::is_empty);
        // With `token_env` the token reaches the VM from Envoy's environment, never the
        // rendered files (nor `/config_dump`).
        let token_from_env = store
            .get("token_env")
            .and_then(|t| t.as_str())
            .is_some_and(|t| !t.trim().is_empty());
        if let (true, false, Some(token)) = (token_empty, token_from_env, feed_token) {
            store.insert("token".to_owned(), token.into());
        }
    }
    let json = value.to_string();
    // Envoy's environment is not ours to read: any `token_env` stands as set here, and the
    // filter checks it for real in on_configure.
    let config = GateConfig::from_json_with_env(json.as_bytes(), &|_| Some("set-in-envoy".into()))
        .map_err(RenderError::Gate)?;
    Ok((json, config))
}

/// Renders the gate into `options.out_dir` (see the module docs for the layout).
pub fn render_dir(options: &RenderOptions, store: &Store) -> Result<Rendered, RenderError> {
    let out = &options.out_dir;
    let xds_dir = out.join("xds");
    let secrets_dir = out.join("secrets");
    for dir in [out, &xds_dir, &secrets_dir] {
        files::private_dir(dir).map_err(io_at(dir))?;
    }
    let authority = format!("{}:{}", options.shim.host, options.shim.port);
    let (gate_json, config) = prepare_gate(
        &options.gate_json,
        &authority,
        options.feed_token.as_deref(),
    )?;
    let planned = plan::plan(&config, store, &options.upstreams, &secrets_dir)?;

    let mut listeners = vec![Listener {
        name: envoy::TLS_LISTENER.to_owned(),
        address: options.listen,
        server_tls: Some((options.server_cert.clone(), options.server_key.clone())),
    }];
    if let Some(plain) = options.plain_listen {
        listeners.push(Listener {
            name: envoy::PLAIN_LISTENER.to_owned(),
            address: plain,
            server_tls: None,
        });
    }
    let mut clusters = vec![envoy::Cluster {
        name: SHIM_CLUSTER.to_owned(),
        endpoint: options.shim.clone(),
        tls: None,
    }];
    clusters.extend(planned.clusters());
    let layout = EnvoyLayout {
        admin: options.admin,
        listeners,
        http: HttpFilter {
            vm_env_keys: config
                .store
                .as_ref()
                .and_then(|s| s.token_env.clone())
                .into_iter()
                .collect(),
            gate_json,
            wasm: options.wasm.clone(),
            default_route: DefaultRoute::NotFound,
        },
        clusters,
    };
    let paths = XdsPaths {
        lds: xds_dir.join("lds.yaml"),
        cds: xds_dir.join("cds.yaml"),
    };

    // Order matters for a running Envoy: secrets before the clusters that name them,
    // clusters before the listener whose filter routes to them.
    let mut outputs: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for secret in &planned.secrets {
        outputs.push((
            secret.secret.key.clone(),
            secret.key_pem.as_bytes().to_vec(),
        ));
        outputs.push((
            secret.secret.cert.clone(),
            secret.cert_pem.as_bytes().to_vec(),
        ));
        outputs.push((
            secret.sds_path.clone(),
            secret.secret.render_sds()?.into_bytes(),
        ));
    }
    outputs.push((paths.cds.clone(), layout.render_cds()?.into_bytes()));
    outputs.push((paths.lds.clone(), layout.render_lds()?.into_bytes()));
    // `envoy --mode validate` does not read LDS/CDS files: the same resources in one file
    // let it check everything, including the filter's on_configure.
    outputs.push((
        out.join(VALIDATE_FILE),
        layout.render_static()?.into_bytes(),
    ));
    let bootstrap = out.join("envoy.yaml");
    outputs.push((
        bootstrap.clone(),
        layout.render_dynamic_bootstrap(&paths)?.into_bytes(),
    ));
    let mut written = Vec::new();
    for (path, contents) in &outputs {
        if files::write_atomic(path, contents).map_err(io_at(path))? {
            written.push(path.clone());
        }
    }
    let keep: Vec<&Path> = outputs.iter().map(|(p, _)| p.as_path()).collect();
    let removed = remove_stale_secrets(&secrets_dir, &keep)?;
    Ok(Rendered {
        bootstrap,
        upstreams: planned.apis,
        written,
        removed,
        warnings: planned.warnings,
    })
}

/// Removes secret files of certificates no longer used: an old private key should not
/// outlive its last cluster on disk.
fn remove_stale_secrets(dir: &Path, keep: &[&Path]) -> Result<Vec<PathBuf>, RenderError> {
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_at(dir))? {
        let path = entry.map_err(io_at(dir))?.path();
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(plan::is_secret_file_name);
        if ours && !keep.contains(&path.as_path()) {
            std::fs::remove_file(&path).map_err(io_at(&path))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> RenderError + '_ {
    move |source| RenderError::Io {
        path: path.to_path_buf(),
        source,
    }
}
