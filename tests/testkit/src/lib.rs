//! Dev-only test kit: what the harness, the e2e tests and the bench tools share.
//!
//! One job per module:
//! - [`paths`]: where the repo, the filter `.wasm`, Envoy, the shim and the tools are.
//! - [`pki`]: test certificates made at test time (a CA-signed set on disk, minted clients,
//!   self-signed certificates in memory).
//! - [`ca`]: an in-memory test CA issuing leaves on demand (ECDSA, expired, RSA PKCS#1), for
//!   the shim's upload tests.
//! - [`ports`]: free loopback ports.
//! - [`process`]: a child process that is killed on drop and whose log is shown on failure.
//! - [`wait`]: readiness by polling with a deadline (never a fixed sleep).
//! - [`admin_http`]: a tiny plain-HTTP/1.1 client for loopback endpoints (Envoy's admin).
//! - [`redis`]: a real `redis-server` on a free port with its own data directory.
//! - [`weird_certs`]: client certificates no sane CA issues (huge, malformed and duplicated
//!   extensions, odd serials, control bytes in names, long chains), for hostile-input tests.
//! - [`shim`]: the one launcher of the real `mtls-gate-shim` binary (a builder: store, secrets,
//!   arguments; graceful stop, kill, restart; a failed start is its exit status and log).
//!
//! No wasmtime and no product crate: the Envoy launchers live in `mtls-gate-e2e` (they render
//! through the shim's renderer), the wasmtime host in `mtls-gate-harness`.

pub mod admin_http;
pub mod ca;
pub mod chains;
pub mod log_audit;
pub mod paths;
pub mod pki;
pub mod ports;
pub mod process;
pub mod redis;
pub mod shim;
pub mod wait;
pub mod weird_certs;

pub use pki::{CertFiles, ClientMint, TestCert, TestPki};
pub use ports::free_port;
pub use process::Process;
pub use shim::{Shim, ShimBuilder, StartError};
