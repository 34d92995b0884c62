//! mtls-gate host shim: Tyk's certificate and key admin API over a durable store, and the
//! change feed the mtls-gate Envoy filter syncs from.
//!
//! Where things are decided:
//! - [`api`]: the HTTP surface; `api::router` is the route table, `api::error` the only place
//!   Tyk's status codes and messages are chosen.
//! - [`upload`]: what `POST /tyk/certs` accepts, in Tyk's order; [`private_key`] checks a key
//!   against its certificate; [`cert_meta`] renders Tyk's certificate JSON.
//! - [`certificates`], [`keys`]: the operations behind `/tyk/certs` and `/tyk/keys`.
//! - [`store`]: the `Store` trait, its SQLite and Redis backends (`store::open` picks one from
//!   `--store`), sealing of private keys, the change log.
//! - [`render`]: the Envoy config for a gate (`mtls-gate-shim render`).
//! - [`serve`], [`client`], [`cli`]: the binary.

pub mod api;
pub mod cert_meta;
pub mod certificates;
pub mod cli;
pub mod client;
pub mod keys;
pub mod metrics;
pub mod pem_text;
pub mod private_key;
pub mod render;
pub mod secret;
pub mod serve;
pub mod store;
pub mod upload;

#[cfg(test)]
mod test_pki;

use cli::{Cli, Command};

/// Runs one command line.
pub async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await?,
        Command::Certs(command) => client::certs(command).await?,
        Command::Keys(command) => client::keys(command).await?,
        Command::Render(args) => render::command::run(args)?,
    }
    Ok(())
}
