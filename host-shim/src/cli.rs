//! The command line. Secrets never come from flags (they would show in `ps`): the admin
//! secret is `MTLS_GATE_SECRET` or `--secret-file`, the feed token `MTLS_GATE_FEED_TOKEN`,
//! the key-encryption secret `MTLS_GATE_ENCODING_SECRET` (default: the admin secret).

use clap::{Args, Parser, Subcommand};
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
}

#[derive(Debug, Args)]
#[command(after_help = "Environment:
  MTLS_GATE_SECRET           admin secret for X-Tyk-Authorization (or --secret-file); required
  MTLS_GATE_FEED_TOKEN       bearer token for the change feed; the feed is closed without it
  MTLS_GATE_ENCODING_SECRET  secret that encrypts private keys at rest (default: the admin secret)
  RUST_LOG                   log filter (default: info)")]
pub struct ServeArgs {
    /// Address to listen on. Loopback unless you say otherwise.
    #[arg(long, default_value = "127.0.0.1:8181", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The store file (SQLite; created if missing, with a `-wal` file beside it).
    #[arg(long, default_value = "./mtls-gate.db", value_name = "PATH")]
    pub store: PathBuf,
    /// Read the admin secret from this file instead of MTLS_GATE_SECRET.
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
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
    /// Delete a certificate and every key bound to it.
    Rm {
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
        /// Org ID of the session. Default: the certificate ID's org prefix.
        #[arg(long)]
        org: Option<String>,
        /// Alias, forwarded upstream as the caller's identity.
        #[arg(long, default_value = "")]
        alias: String,
        /// Expiry: unix seconds, RFC 3339 (2030-01-01T00:00:00Z), or relative (+30d, +12h, +90m). Default: never.
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
        /// Restrict the key to this API ID; repeat for several. Default: every API.
        #[arg(long = "api", value_name = "API_ID")]
        apis: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a key's session (JSON).
    Show {
        key: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a key.
    Rm {
        key: String,
        #[command(flatten)]
        client: ClientArgs,
    },
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
}
