//! mtls-gate host shim: Tyk's certificate and key admin API over a durable store, and the
//! change feed the mtls-gate Envoy filter syncs from.
//!
//! Where things are decided:
//! - [`api`]: the HTTP surface; `api::router` is the route table, `api::error` the only place
//!   Tyk's status codes and messages are chosen.
//! - [`certificates`]: the operations behind `/tyk/certs`, and under it what an upload must be
//!   (`certificates::upload`, in Tyk's order), whether a key matches its certificate
//!   (`certificates::private_key`) and Tyk's certificate JSON (`certificates::meta`).
//! - [`sessions`]: the operations behind `/tyk/keys`: a key is the session of one certificate.
//! - [`dashboard`]: the Dashboard flavour (`/api/certs`, `/api/keys`, SPEC §2b): the API keys
//!   of `serve --org-keys` and what each org sees.
//! - [`store`]: the [`store::Store`] and its rules (sealing of private keys, the change log,
//!   snapshots, lookup) over a backend of records: SQLite or Redis (`store::open` picks one
//!   from `--store`).
//! - [`render`]: the Envoy config for a gate (`mtls-gate-shim render`).
//! - [`import`]: a gate from a Tyk installation (`mtls-gate-shim import`).
//! - [`client`]: a typed client of a running shim's admin API.
//! - [`console`]: the browser console at `/console` (`serve --console`).
//! - [`control_tls`]: the admin API over TLS and mutual TLS (`serve --tls-cert`,
//!   `--control-api-certs`).
//! - [`expiry`]: `serve` watches the gate's certificates for expiry (SPEC §10).
//! - [`live`]: `serve` re-renders Envoy's config when the store changes (SPEC §8 "Live").
//! - [`cli`], [`serve`]: the binary.

pub mod api;
pub mod audit;
pub mod certificates;
pub mod cli;
pub mod client;
pub mod console;
pub mod control_tls;
pub mod dashboard;
pub mod expiry;
pub mod import;
pub mod live;
pub mod metrics;
pub mod render;
pub mod secret;
pub mod serve;
pub mod sessions;
pub mod store;

use cli::{Cli, Command};

/// Runs one command line.
pub async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await?,
        Command::Certs(command) => cli::admin::certs(command).await?,
        Command::Keys(command) => cli::admin::keys(command).await?,
        Command::Render(args) => render::command::run(args)?,
        Command::Import(args) => import::command::run(args)?,
    }
    Ok(())
}
