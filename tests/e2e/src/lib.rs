//! End-to-end support: real Envoy with the real filter, echo upstreams, real TLS.
//!
//! One job per module:
//! - [`envoy_config`]: renders the templates in `envoy-config/` (through the shim's renderer).
//! - [`envoy`]: launches Envoy with the real filter and reads its stats.
//! - [`upstream`]: launches the `echo-upstream` tool and parses what it saw.
//! - [`admin`]: the shim's typed admin client for a running testkit shim.
//! - [`client`]: an HTTPS client (real curl) with client certs and SNI independent of Host.
//! - [`raw_http`]: hand-written HTTP/1.1 (over `openssl s_client`) and HTTP/2 (h2c) requests
//!   that curl would normalise, for hostile-input tests.
//! - [`demo`]: `make run` (scripts/run.sh) itself, started in a temporary directory.
//!
//! The test PKI, the shim launcher, processes, ports and paths come from
//! [`mtls_gate_testkit`]. A test reads like this:
//! ```no_run
//! use mtls_gate_e2e::*;
//! use mtls_gate_testkit::*;
//! let pki = TestPki::generate()?;
//! let echo = EchoUpstream::start_tls(&pki.upstream_server, "echo")?;
//! let envoy = Envoy::start(EnvoyConfig::new(r#"{"apis": []}"#, &pki).default_upstream(&echo, &pki))?;
//! let resp = Client::new(&pki.ca).cert(&pki.client).get(&envoy.https_url("/hello")).sni("a.example.test").send()?;
//! assert_eq!(resp.status, 200);
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod admin;
pub mod client;
pub mod demo;
pub mod envoy;
pub mod envoy_config;
pub mod raw_http;
pub mod upstream;

pub use admin::{Admin, ShimAdmin};
pub use client::{Client, Response, assert_denied};
pub use envoy::{Envoy, denied_stat, filter_counters};
pub use envoy_config::{EnvoyConfig, UpstreamCluster};
pub use upstream::{EchoReply, EchoUpstream};
