//! The shim over real HTTP on loopback: the router in-process (`common::TestShim`) for the API
//! rules, and the real binary (`common::shim`, testkit's launcher) for start-up, durability
//! and the CLI.
//! Certificates are generated at test time (`mtls_gate_testkit::ca`); no private key is committed.

mod common;

mod admin_auth;
mod audit_trail;
mod binary;
mod certs;
mod cli_daily;
mod client;
mod control_api_mtls;
mod crash_safety;
mod dashboard;
mod expiry;
mod feed;
mod keys;
mod keys_custom;
mod live_render;
mod redis_store;
