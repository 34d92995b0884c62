//! The shim over real HTTP on loopback: the router in-process (`common::TestShim`) for the API
//! rules, and the real binary (`common::ShimProcess`) for start-up, durability and the CLI.
//! Certificates are generated at test time (`test_pki`); no private key is committed.

mod common;
#[path = "../../src/store/redis_test_server.rs"]
mod redis_server;
#[path = "../../src/test_pki.rs"]
mod test_pki;

mod admin_auth;
mod binary;
mod certs;
mod client;
mod feed;
mod keys;
mod redis_store;
