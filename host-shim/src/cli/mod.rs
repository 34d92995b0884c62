//! The command line. Secrets never come from flags (they would show in `ps`): the admin
//! secret is `MTLS_GATE_SECRET` or `--secret-file`, the feed token `MTLS_GATE_FEED_TOKEN`,
//! the key-encryption secret `MTLS_GATE_ENCODING_SECRET` (default: the admin secret).
//!
//! Each subcommand runs elsewhere: `serve` in [`crate::serve`], `certs` and `keys` in
//! [`admin`], `render` in `crate::render::command`, `import` in `crate::import::command`.

pub mod admin;

use crate::render::plan::Resolve;
use clap::{ArgGroup, Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "mtls-gate-shim",
    version,
    about = "mtls-gate host shim: Tyk-compatible certificate admin API, durable store and change feed for the mtls-gate Envoy filter."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the admin API (/tyk/certs, /tyk/keys), the change feed, /hello and /metrics.
    Serve(ServeArgs),
    /// Manage certificates on a running shim.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Manage certificate keys (Tyk sessions) on a running shim.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write the Envoy config for a gate: bootstrap, file-based LDS/CDS, and SDS files with
    /// the upstream client certificates' keys (0600). Run it again after a change; a running
    /// Envoy picks the new files up without a restart.
    Render(RenderArgs),
    /// Write a gate config from a Tyk installation: tyk.conf's mTLS settings and the API
    /// definitions of its app_path (Classic and OAS), certificate files inlined; the report
    /// (stderr) names every setting not carried over.
    Import(crate::import::command::ImportArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Writes into --out (0700): envoy.yaml (start Envoy with `envoy -c DIR/envoy.yaml`),
xds/lds.yaml and xds/cds.yaml (listeners, clusters), secrets/<sha256>.{yaml,server.yaml,crt.pem,key.pem}
(upstream client and server certificates, keys decrypted from the store), and envoy-validate.yaml: the same
resources in one static file, for `envoy --mode validate -c DIR/envoy-validate.yaml` (validate
mode reads no LDS/CDS file). Every file is replaced atomically
(temp file, fsync, rename), so a running Envoy reloads it.

Routing: the filter names the cluster in x-mtls-gate-cluster (removed before the upstream).
Per API with a target_url: cluster `mtls-gate_<api>_<tag>` without client certificate, and
`..._cert_<sha256 prefix>` when the chosen upstream certificate has a key in the store.
A request for which the filter names no cluster gets 404 {\"error\": \"No upstream for this request\"}.

TLS listener (SPEC §8): one filter chain per server certificate (http_server_options.ssl_certificates,
an API's certificates; chosen by SNI: its DNS names and the API's domain), one per domain whose APIs
all use use_mutual_tls_auth (client certificate verified at the handshake: leaf-only lists by hash,
CA-only lists as trust; mixed lists stay at the HTTP level), and the default chain (--server-cert).
Certificate references that are file paths are read here and inlined for the filter.
The gate's `store.cluster`/`store.authority` are pointed at the shim (--shim-url); an empty
`store.token` is filled from MTLS_GATE_FEED_TOKEN.

Environment:
  MTLS_GATE_SECRET           admin secret (or --secret-file): opens the store when
  MTLS_GATE_ENCODING_SECRET  (the key-encryption secret, default the admin secret) is unset
  MTLS_GATE_FEED_TOKEN       filled into the gate's empty store.token
  MTLS_GATE_FILTER_WASM      default for --wasm (not read with --native-module)"
)]
pub struct RenderArgs {
    /// The gate JSON (the filter's configuration).
    #[arg(long, value_name = "FILE")]
    pub gate: PathBuf,
    /// Refuse fields neither the gate nor Tyk knows (likely typos) instead of warning, as
    /// `"strict": true` in the gate does.
    #[arg(long)]
    pub strict: bool,
    /// Output directory (created 0700).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The store the shim serves (read for certificates and their keys): its SQLite file, or
    /// its redis://[user:pass@]host:port[/db][?prefix=P] URL.
    #[arg(long, default_value = "./mtls-gate.db", value_name = "PATH|URL")]
    pub store: PathBuf,
    /// The TLS listener (requests client certificates).
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Also a plain-HTTP listener into the same filter chain (answers "TLS not enabled" for mTLS APIs).
    #[arg(long, value_name = "ADDR")]
    pub plain_listen: Option<SocketAddr>,
    /// Envoy's admin listener.
    #[arg(long, default_value = "127.0.0.1:9901", value_name = "ADDR")]
    pub admin: SocketAddr,
    /// The TLS listener's default certificate chain (PEM): served to connections without
    /// SNI and to names no certificate of the gate covers. Optional when the gate names
    /// server certificates (`http_server_options.ssl_certificates`, an API's `certificates`);
    /// then the first of those is the default.
    #[arg(long, value_name = "FILE", requires = "server_key")]
    pub server_cert: Option<PathBuf>,
    /// The private key of --server-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "server_cert")]
    pub server_key: Option<PathBuf>,
    /// The filter, mtls_gate_filter.wasm. Not needed with --native-module (and ignored then,
    /// also when MTLS_GATE_FILTER_WASM sets it).
    #[arg(
        long,
        env = "MTLS_GATE_FILTER_WASM",
        value_name = "FILE",
        required_unless_present = "native_module"
    )]
    pub wasm: Option<PathBuf>,
    /// Run the gate as the native Envoy dynamic module (libmtls_gate_native.so, `make native`)
    /// instead of the wasm filter: the HTTP connection manager gets Envoy 1.40's
    /// envoy.filters.http.dynamic_modules filter with the same gate JSON, counters under
    /// wasmcustom.mtls_gate.* as the wasm filter's. The module must match Envoy's
    /// dynamic-module ABI (v0.2.0, Envoy 1.40). `serve` re-renders the same way.
    #[arg(long, value_name = "FILE")]
    pub native_module: Option<PathBuf>,
    /// The shim, as Envoy reaches it (the filter's change feed and look-ups).
    #[arg(long, default_value = "http://127.0.0.1:8181", value_name = "URL")]
    pub shim_url: String,
    /// CA bundle that https upstreams must chain to (default: the system bundle).
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<PathBuf>,
    /// Connect to ADDR for target HOST:PORT (like curl --resolve); SNI and certificate
    /// matching still use HOST. Repeatable.
    #[arg(long = "resolve", value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<Resolve>,
    /// Read the admin secret from this file instead of MTLS_GATE_SECRET.
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
    /// Read the feed token from this file instead of MTLS_GATE_FEED_TOKEN.
    #[arg(long, env = "MTLS_GATE_FEED_TOKEN_FILE", value_name = "PATH")]
    pub feed_token_file: Option<PathBuf>,
    /// Read the key-encryption secret from this file instead of MTLS_GATE_ENCODING_SECRET.
    #[arg(long, env = "MTLS_GATE_ENCODING_SECRET_FILE", value_name = "PATH")]
    pub encoding_secret_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "Environment:
  MTLS_GATE_SECRET           admin secret for X-Tyk-Authorization (or --secret-file); required
  MTLS_GATE_FEED_TOKEN       bearer token for the change feed; the feed is closed without it
                             (or MTLS_GATE_FEED_TOKEN_FILE / --feed-token-file)
  MTLS_GATE_ENCODING_SECRET  secret that encrypts private keys at rest (default: the admin secret)
                             (or MTLS_GATE_ENCODING_SECRET_FILE / --encoding-secret-file)
  RUST_LOG                   log filter (default: info)")]
pub struct ServeArgs {
    /// Address to listen on. Loopback unless you say otherwise.
    #[arg(long, default_value = "127.0.0.1:8181", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The store: a SQLite file (created if missing, with a `-wal` file beside it), or
    /// redis://[user:pass@]host:port[/db][?prefix=P] for several shims sharing one Redis
    /// (keys under P, default `mtls-gate:`; needs appendonly yes + appendfsync always to be
    /// crash-safe), or rediss://…[?prefix=P][&ca=FILE][&cert=FILE&key=FILE] for Redis over
    /// TLS (the server is verified against ca=, else the system roots; cert/key: a client
    /// certificate).
    #[arg(long, default_value = "./mtls-gate.db", value_name = "PATH|URL")]
    pub store: PathBuf,
    /// Read the admin secret from this file instead of MTLS_GATE_SECRET.
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
    /// Read the feed token from this file instead of MTLS_GATE_FEED_TOKEN.
    #[arg(long, env = "MTLS_GATE_FEED_TOKEN_FILE", value_name = "PATH")]
    pub feed_token_file: Option<PathBuf>,
    /// Read the key-encryption secret from this file instead of MTLS_GATE_ENCODING_SECRET.
    #[arg(long, env = "MTLS_GATE_ENCODING_SECRET_FILE", value_name = "PATH")]
    pub encoding_secret_file: Option<PathBuf>,
    /// Accept keys with no access rights (Tyk's `allow_master_keys`); such a key opens every
    /// API. Without it, creating or updating a key with an empty `access_rights` is refused.
    #[arg(long)]
    pub allow_master_keys: bool,
    /// Serve on TLS (HTTPS) with this certificate chain (PEM, leaf first). Needs --tls-key.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Require a client certificate on the TLS port (Tyk's control_api_use_mutual_tls +
    /// security.certificates.control_api), allowed by one of these references: a store
    /// certificate ID (looked up at every handshake), a 64-hex SHA-256 fingerprint, or a PEM
    /// file (a leaf, or a CA that admits the leaves it signed). Comma-separated, repeatable.
    /// The admin secret is still required.
    #[arg(long, value_name = "REF[,REF...]", value_delimiter = ',')]
    pub control_api_certs: Option<Vec<String>>,
    /// Also serve the change feed, and nothing else, on this plain-HTTP address (the Envoy
    /// cluster of the filters points here when the main port requires client certificates).
    #[arg(long, value_name = "ADDR")]
    pub feed_listen: Option<SocketAddr>,
    /// Record this gate (the file `render --gate` takes) in the store at start, and again
    /// whenever the file changes, for every shim of the store: the live Envoy config follows
    /// it (`render` records its gate too). A changed file `render` would refuse is logged and
    /// not recorded.
    #[arg(long, value_name = "FILE")]
    pub gate: Option<PathBuf>,
    /// Serve Tyk Dashboard's /api/certs and /api/keys, each caller in its own org: a JSON
    /// file {"<api key>": "<org_id>", ...}; callers send `Authorization: <api key>`. Without
    /// it, every /api path answers 404.
    #[arg(long, value_name = "FILE")]
    pub org_keys: Option<PathBuf>,
    /// Append one JSON line per admin write (either API flavour) to this file, synced
    /// before the answer is sent: time, route, object ID, outcome, who. Never a secret or
    /// key material.
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Serve the certificate console (a browser page for certificates, keys and the expiry
    /// timeline) at /console. Sign-in is the admin secret or a --org-keys key, kept in the
    /// tab's session storage. Off by default: /console answers 404.
    #[arg(long)]
    pub console: bool,
}

/// How client subcommands reach the shim.
#[derive(Debug, Args)]
#[command(after_help = "Environment:
  MTLS_GATE_SECRET  admin secret for X-Tyk-Authorization (or --secret-file)")]
pub struct ClientArgs {
    /// Base URL of the running shim.
    #[arg(long, default_value = "http://127.0.0.1:8181", value_name = "URL")]
    pub url: String,
    /// Read the admin secret from this file instead of MTLS_GATE_SECRET.
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Upload a PEM file: certificate, certificate + key, chain, or public key.
    Add {
        /// The PEM file.
        file: PathBuf,
        /// Org ID; it prefixes the certificate ID.
        #[arg(long, default_value = "")]
        org: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List certificate IDs (one per line), or their details as JSON.
    Ls {
        /// Show issuer, subject, validity and flags (JSON).
        #[arg(long)]
        detailed: bool,
        /// Only this org's certificates.
        #[arg(long, default_value = "")]
        org: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one certificate's metadata (JSON). Several IDs may be given comma-separated.
    Show {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a certificate. Keys bound to it stay, but the gate refuses them until the same
    /// certificate is uploaded again; `keys rm` deletes a key. An ID the shim does not hold is
    /// an error ("no such certificate"), although the API itself answers 200 for it, as Tyk.
    Rm {
        /// Certificate ID, as `certs ls` lists it.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create the key (session) of a stored certificate. Prints the key.
    Create {
        /// Certificate ID, as `certs add` printed it.
        #[arg(long)]
        certificate: String,
        /// Org ID of the session; it must be the certificate's org. Default: the
        /// certificate's org (the shim fills it in).
        #[arg(long)]
        org: Option<String>,
        /// Alias, forwarded upstream as the caller's identity.
        #[arg(long, default_value = "")]
        alias: String,
        /// Expiry: unix seconds, RFC 3339 (2030-01-01T00:00:00Z), or relative (+30d, +12h, +90m). Default: never.
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
        /// An API the key may use; repeat for several. At least one is needed, unless the
        /// shim runs with --allow-master-keys (then no --api means every API).
        #[arg(long = "api", value_name = "API_ID")]
        apis: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List keys (one per line), or each key's alias, state and APIs as JSON.
    Ls {
        /// Show each key's alias, certificate, expiry, inactive flag and APIs (JSON; one
        /// request per key).
        #[arg(long)]
        detailed: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a key's session (JSON).
    Show {
        /// The key, as `keys ls` lists it (a certificate key is its certificate's ID).
        key: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Change some fields of a key and keep the others.
    #[command(
        long_about = "Change some fields of a key and keep the others.

Tyk's PUT /tyk/keys/<key> replaces the whole session, so this is a read-modify-write: it \
reads the session (GET), changes the fields given here, and writes the whole session back \
(PUT). It is not atomic: a change another writer makes to the same key between the read \
and the write is lost.",
        group(ArgGroup::new("change").required(true).multiple(true)
            .args(["alias", "apis", "expires", "meta"]))
    )]
    Update {
        /// The key, as `keys ls` lists it (a certificate key is its certificate's ID).
        key: String,
        /// New alias.
        #[arg(long)]
        alias: Option<String>,
        /// The APIs the key may use, replacing the current list (an API that stays keeps its
        /// access settings). Repeat for several.
        #[arg(long = "api", value_name = "API_ID")]
        apis: Vec<String>,
        /// New expiry: unix seconds, RFC 3339, relative (+30d, +12h, +90m), or 0 / never.
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
        /// Set one meta_data entry (a string); other entries stay. Repeat for several.
        #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_meta)]
        meta: Vec<(String, String)>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Deactivate a key (`is_inactive: true`): the gate answers 403 "Key is inactive, please
    /// renew" until `keys activate`. Read-modify-write, as `keys update`.
    Deactivate {
        /// The key, as `keys ls` lists it (a certificate key is its certificate's ID).
        key: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Activate a deactivated key (`is_inactive: false`). Read-modify-write, as `keys update`.
    Activate {
        /// The key, as `keys ls` lists it (a certificate key is its certificate's ID).
        key: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a key.
    Rm {
        /// The key, as `keys ls` lists it (a certificate key is its certificate's ID).
        key: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `--meta KEY=VALUE`.
fn parse_meta(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?}: expected KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn keys_create_takes_repeated_apis() {
        let cli = Cli::try_parse_from([
            "mtls-gate-shim",
            "keys",
            "create",
            "--certificate",
            "abc",
            "--api",
            "a",
            "--api",
            "b",
        ])
        .unwrap();
        match cli.command {
            Command::Keys(KeysCommand::Create { apis, .. }) => assert_eq!(apis, ["a", "b"]),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn keys_update_needs_a_change_and_parses_meta() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["mtls-gate-shim", "keys", "update", "k"].iter().chain(args))
        };
        assert!(parse(&[]).is_err(), "nothing to change");
        assert!(parse(&["--meta", "novalue"]).is_err());
        assert!(parse(&["--meta", "=v"]).is_err());
        let cli = parse(&["--meta", "team=a=b", "--meta", "empty=", "--alias", "x"]).unwrap();
        match cli.command {
            Command::Keys(KeysCommand::Update { meta, alias, .. }) => {
                assert_eq!(
                    meta,
                    [
                        ("team".into(), "a=b".into()),
                        ("empty".into(), String::new())
                    ]
                );
                assert_eq!(alias.as_deref(), Some("x"));
            }
            other => panic!("parsed as {other:?}"),
        }
    }
}
