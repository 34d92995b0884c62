//! The shim over real HTTP on loopback: the router in-process (`common::TestShim`) for the API
//! rules, and the real binary (`common::ShimProcess`) for start-up, durability and the CLI.
//! Certificates are generated at test time (`mtls_gate_testkit::ca`); no private key is committed.

mod common;

mod admin_auth;
mod binary;
mod certs;
mod client;
mod feed;
mod keys;
mod redis_store;
