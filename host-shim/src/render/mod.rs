//! `mtls-gate-shim render`: the Envoy config for a gate, from the gate JSON and the store.
//!
//! - [`plan`]: which clusters and secrets a gate needs. Cluster names and the certificate
//!   choice come from `mtls_gate_core` (`decision::upstream_cluster`,
//!   `upstream::choose_upstream_certificate`), the very functions the filter routes with.
//! - [`upstream_tls`]: an API's pins, TLS versions and ciphers on its clusters (SPEC §6b).
//! - [`resolve`]: certificate references that are file paths, inlined (the filter reads no
//!   files), and private keys kept out of the filter's configuration.
//! - [`server_certs`], [`handshake`], [`chains`]: the TLS listener (SPEC §8): server
//!   certificates from the store or config, chosen by SNI, and per mTLS domain a chain that
//!   verifies client certificates at the handshake where Tyk would.
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
//! DIR/secrets/<sha256>.server.yaml SDS: one listener server certificate
//! DIR/secrets/<sha256>.crt.pem     their chain, and .key.pem the decrypted private key
//! ```
//! A re-render replaces only the files that changed, each by rename; Envoy reloads the
//! resources whose watched directory saw a rename. A rotated certificate has a new
//! fingerprint, hence new cluster and secret names, so nothing in use is ever rewritten in place.

pub mod chains;
pub mod command;
pub mod envoy;
pub mod files;
pub mod handshake;
pub mod plan;
pub mod record;
pub mod references;
pub mod resolve;
pub mod server_certs;
pub mod template;
#[cfg(test)]
mod tls_tests;
pub mod upstream_tls;

use crate::store::{Store, StoreError};
use envoy::{
    DefaultRoute, Endpoint, EnvoyLayout, GateModule, HttpFilter, Listener, ServerCertificate,
    TlsFilterChain, XdsPaths,
};
use mtls_gate_core::config::{ConfigError, ConfigErrorKind, GateConfig};
use std::collections::HashMap;
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
    /// The default server certificate and key (PEM files): for connections without SNI and
    /// names no store or config certificate covers. Optional when the gate names server
    /// certificates (`http_server_options.ssl_certificates`, an API's `certificates`).
    pub server_cert: Option<(PathBuf, PathBuf)>,
    /// The wasm filter (`--wasm`) or the native module (`--native-module`), absolute.
    pub module: GateModule,
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
    #[error("API {api_id}: {field}: {reason}")]
    UpstreamTls {
        api_id: String,
        field: String,
        reason: String,
    },
    #[error("certificate {id} is indexed with a private key, but the store returned none")]
    MissingPrivateKey { id: String },
    #[error("{field}: certificate file {path}: {reason}")]
    CertificateFile {
        field: String,
        path: PathBuf,
        reason: String,
    },
    #[error("{field}: server certificate {reference}: {reason}")]
    ServerCertificate {
        field: String,
        reference: String,
        reason: String,
    },
    #[error(
        "no server certificate: pass --server-cert and --server-key, or name a certificate with its key in http_server_options.ssl_certificates or an API's certificates"
    )]
    NoServerCertificate,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template: {0}")]
    Template(#[from] template::TemplateError),
}

/// Time Envoy is given to add (and warm) the clusters of a new CDS file before the LDS file
/// whose filter config may route to them is replaced.
const CLUSTERS_WARM: std::time::Duration = std::time::Duration::from_millis(150);

/// What a render produced.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub bootstrap: PathBuf,
    /// Per API with a target: its clusters, in gate order.
    pub upstreams: Vec<plan::ApiUpstream>,
    /// The TLS listener's filter chains, the default last.
    pub tls_chains: Vec<TlsFilterChain>,
    /// Per mTLS domain: handshake-level or HTTP-level, and why.
    pub domains: Vec<handshake::DomainPlan>,
    /// Files replaced by this run (unchanged ones are left alone).
    pub written: Vec<PathBuf>,
    /// Stale secret files removed.
    pub removed: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

/// A gate ready for Envoy: what the filter gets, and what `render` itself needs of it.
pub struct PreparedGate {
    /// The filter's JSON: file references inlined, private keys of allow-list and server
    /// certificate entries removed, `store` pointed at the shim.
    pub filter_json: String,
    /// `filter_json` compiled, as the filter compiles it.
    pub config: GateConfig,
    /// The gate compiled with its private keys: the server certificates' material.
    pub with_keys: GateConfig,
    /// Each `api_id`'s index in `apis` (for error messages).
    pub api_index: HashMap<String, usize>,
    /// The allow-list entries as the filter gets them.
    pub allow_entries: handshake::AllowEntries,
    /// The file references that were inlined.
    pub files: Vec<resolve::ResolvedFile>,
}

/// Validates `gate_json`, inlines its file references, and points its `store` block at the
/// shim cluster.
pub fn prepare_gate(
    gate_json: &[u8],
    shim_authority: &str,
    feed_token: Option<&str>,
) -> Result<PreparedGate, RenderError> {
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
    let files = resolve::inline_files(&mut value)?;
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
    // Envoy's environment is not ours to read: any `token_env` stands as set here, and the
    // filter checks it for real in on_configure.
    let env = |_: &str| Some("set-in-envoy".to_owned());
    let with_keys = GateConfig::from_json_with_env(value.to_string().as_bytes(), &env)
        .map_err(RenderError::Gate)?;
    resolve::strip_private_keys(&mut value);
    // The shim's web hooks (SPEC §10, `crate::expiry`) are not the filter's, and their URLs
    // and headers often carry tokens: the filter's config is visible in `/config_dump`.
    if let Some(gate) = value.as_object_mut() {
        gate.remove("event_handlers");
    }
    let filter_json = value.to_string();
    let config =
        GateConfig::from_json_with_env(filter_json.as_bytes(), &env).map_err(RenderError::Gate)?;
    let api_index = value
        .get("apis")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, api)| Some((classic_api(api).get("api_id")?.as_str()?.to_owned(), i)))
        .collect();
    Ok(PreparedGate {
        allow_entries: handshake::AllowEntries::from_gate(&value),
        filter_json,
        config,
        with_keys,
        api_index,
        files,
    })
}

/// An `apis[]` entry as Classic fields: a Tyk OAS definition (SPEC §9) read into its Classic
/// twin by the core, the very reading the filter compiles; a Classic one as it is. For what
/// render reads from the gate JSON itself (`api_id`, allow-list entries as written).
pub fn classic_api(api: &serde_json::Value) -> std::borrow::Cow<'_, serde_json::Value> {
    use mtls_gate_core::config::oas;
    match oas::is_oas(api) {
        // A definition the core cannot read has been refused before render reads it.
        true => oas::to_classic(api, "")
            .map(|twin| std::borrow::Cow::Owned(twin.api))
            .unwrap_or(std::borrow::Cow::Borrowed(api)),
        false => std::borrow::Cow::Borrowed(api),
    }
}

/// The TLS listener of a prepared gate: its server certificates (secrets to write), the
/// handshake plan per domain, and the filter chains.
pub struct TlsPlan {
    pub server_certs: server_certs::ServerCerts,
    pub domains: Vec<handshake::DomainPlan>,
    pub chains: Vec<TlsFilterChain>,
}

/// Plans the TLS listener of `gate` at unix time `now`; secrets go in `secrets_dir`.
pub fn plan_tls(
    gate: &PreparedGate,
    store: &Store,
    default_cert: Option<(PathBuf, PathBuf)>,
    secrets_dir: &Path,
    now: i64,
) -> Result<TlsPlan, RenderError> {
    let mut server_certs = server_certs::plan_server_certificates(
        &gate.with_keys,
        &gate.api_index,
        &gate.files,
        store,
        secrets_dir,
        now,
    )?;
    let domains = handshake::plan_domains(
        &gate.config,
        &gate.allow_entries,
        store,
        &mut server_certs.warnings,
    )?;
    let default = default_cert.map(|(cert, key)| ServerCertificate::Files { cert, key });
    let chains = chains::filter_chains(&domains, &server_certs.certs, default)?;
    Ok(TlsPlan {
        server_certs,
        domains,
        chains,
    })
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Renders the gate into `options.out_dir` (see the module docs for the layout).
pub fn render_dir(options: &RenderOptions, store: &Store) -> Result<Rendered, RenderError> {
    render_dir_retaining(options, store, &[])
}

/// [`render_dir`], keeping `retained` (certificate clusters of an earlier render) in the
/// CDS, with their secret files, even where the store no longer has them: `serve` renders
/// such a superset while the filters still route to a cluster the store change retires
/// (`crate::live`), then renders again without it once they have moved off.
pub fn render_dir_retaining(
    options: &RenderOptions,
    store: &Store,
    retained: &[plan::CertificateCluster],
) -> Result<Rendered, RenderError> {
    let out = &options.out_dir;
    let xds_dir = out.join("xds");
    let secrets_dir = out.join("secrets");
    for dir in [out, &xds_dir, &secrets_dir] {
        files::private_dir(dir).map_err(io_at(dir))?;
    }
    let authority = format!("{}:{}", options.shim.host, options.shim.port);
    let gate = prepare_gate(
        &options.gate_json,
        &authority,
        options.feed_token.as_deref(),
    )?;
    let config = &gate.config;
    // Inline upstream keys go to secret files, never into the filter's config (SPEC §6b).
    let held = plan::hold_inline_keys(&gate.filter_json)?;
    let mut planned = plan::plan_with_keys(
        config,
        store,
        &options.upstreams,
        &secrets_dir,
        Some(&held.keys),
    )?;
    let tls = plan_tls(
        &gate,
        store,
        options.server_cert.clone(),
        &secrets_dir,
        unix_now(),
    )?;
    planned
        .warnings
        .extend(tls.server_certs.warnings.iter().cloned());

    let mut listeners = vec![Listener::tls(
        envoy::TLS_LISTENER,
        options.listen,
        tls.chains.clone(),
    )];
    if let Some(plain) = options.plain_listen {
        listeners.push(Listener::plain(envoy::PLAIN_LISTENER, plain));
    }
    let mut clusters = vec![envoy::Cluster {
        name: SHIM_CLUSTER.to_owned(),
        endpoint: options.shim.clone(),
        tls: None,
    }];
    clusters.extend(planned.clusters());
    let retained: Vec<&plan::CertificateCluster> = retained
        .iter()
        .filter(|kept| !clusters.iter().any(|c| c.name == kept.cluster.name))
        // A cluster whose files are gone (a `render` run by hand removed them) would only
        // sit warming in Envoy.
        .filter(|kept| {
            plan::secret_files(
                &secrets_dir,
                &kept.fingerprint,
                plan::SecretRole::UpstreamClient,
            )
            .iter()
            .all(|f| f.is_file())
        })
        .collect();
    clusters.extend(retained.iter().map(|kept| kept.cluster.clone()));
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
            gate_json: held.filter_json.clone(),
            module: options.module.clone(),
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
    let server_secrets = tls.server_certs.certs.iter().map(|c| &c.secret);
    for secret in planned.secrets.iter().chain(server_secrets) {
        // A certificate both presented upstream and served shares its PEM files.
        for (path, contents) in [
            (&secret.secret.key, secret.key_pem.as_bytes()),
            (&secret.secret.cert, secret.cert_pem.as_bytes()),
        ] {
            if !outputs.iter().any(|(p, _)| p == path) {
                outputs.push((path.clone(), contents.to_vec()));
            }
        }
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
    let gate_value: serde_json::Value = serde_json::from_str(&gate.filter_json).unwrap_or_default();
    let missing_ids =
        references::missing_store_ids(&gate_value, store).map_err(RenderError::Store)?;
    let mut written = Vec::new();
    for (path, contents) in &outputs {
        if *path == paths.lds && written.contains(&paths.cds) {
            // Envoy applies LDS and CDS files independently, and a new cluster warms (reads
            // its SDS file) before it can take requests: a listener whose filter config
            // routes to it must not arrive first (measured: an occasional 503 otherwise).
            std::thread::sleep(CLUSTERS_WARM);
        }
        if files::write_atomic(path, contents).map_err(io_at(path))? {
            written.push(path.clone());
        }
    }
    let retained_files: Vec<PathBuf> = retained
        .iter()
        .flat_map(|kept| {
            plan::secret_files(
                &secrets_dir,
                &kept.fingerprint,
                plan::SecretRole::UpstreamClient,
            )
        })
        .collect();
    let keep: Vec<&Path> = outputs
        .iter()
        .map(|(p, _)| p.as_path())
        .chain(retained_files.iter().map(PathBuf::as_path))
        .collect();
    let removed = remove_stale_secrets(&secrets_dir, &keep)?;
    Ok(Rendered {
        bootstrap,
        upstreams: planned.apis,
        tls_chains: tls.chains,
        domains: tls.domains,
        written,
        removed,
        // Typos first: one can switch a check off (`"strict": true` or --strict refuses).
        warnings: config
            .unknown_fields
            .iter()
            .map(ToString::to_string)
            .chain(missing_ids)
            .chain(planned.warnings)
            .collect(),
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
