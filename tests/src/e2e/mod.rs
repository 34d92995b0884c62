//! End-to-end support: real Envoy, real shim, real TLS.
//!
//! One job per module:
//! - [`paths`]: where the repo, the filter `.wasm`, Envoy and helper binaries are.
//! - [`ports`]: free loopback ports.
//! - [`process`]: a child process that is killed on drop and whose log is shown on failure.
//! - [`wait`]: readiness by polling with a deadline (never a fixed sleep).
//! - [`admin_http`]: a tiny plain-HTTP/1.1 client for loopback admin endpoints.
//! - [`pki`]: test certificates made at test time (CA, server, clients, upstream clients).
//! - [`envoy_config`]: renders the templates in `envoy-config/`.
//! - [`envoy`]: launches Envoy with the real filter and reads its stats.
//! - [`shim`]: launches the real `mtls-gate-shim` (temp store, random secrets) with admin helpers.
//! - [`upstream`]: launches the `echo-upstream` helper and parses what it saw.
//! - [`client`]: an HTTPS client (real curl) with client certs and SNI independent of Host.
//!
//! A test reads like this:
//! ```no_run
//! use mtls_gate_harness::e2e::*;
//! let pki = TestPki::generate()?;
//! let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
//! let envoy = Envoy::start(EnvoyConfig::new(r#"{"apis": []}"#, &pki).default_upstream(&echo, &pki))?;
//! let resp = Client::new(&pki.ca).cert(&pki.client).get(&envoy.https_url("/hello")).sni("a.example.test").send()?;
//! assert_eq!(resp.status, 200);
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod admin_http;
pub mod client;
pub mod envoy;
pub mod envoy_config;
pub mod paths;
pub mod pki;
pub mod ports;
pub mod process;
pub mod shim;
pub mod upstream;
pub mod wait;

pub use client::{Client, Response, assert_denied};
pub use envoy::Envoy;
pub use envoy_config::{EnvoyConfig, UpstreamCluster};
pub use pki::{CertFiles, ClientMint, TestPki};
pub use ports::free_port;
pub use process::Process;
pub use shim::Shim;
pub use upstream::{EchoReply, EchoUpstream};
