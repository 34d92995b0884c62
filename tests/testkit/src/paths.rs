//! Where things are. Every path can be overridden by an environment variable, so CI and
//! developers with a custom `CARGO_TARGET_DIR` get the same behaviour.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

/// Where the release filter is read from instead of the default: read by the wasmtime harness
/// (`mtls_gate_harness::Host::load_filter`) and by the e2e Envoy launcher alike.
pub const FILTER_WASM_ENV: &str = "MTLS_GATE_FILTER_WASM";

/// The release filter's file under the target directory, as `make wasm` builds it.
const FILTER_WASM_IN_TARGET: &str = "wasm32-wasip1/release/mtls_gate_filter.wasm";

/// The workspace root (the directory holding the root `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    // This crate is tests/testkit, two levels below the root; fixed at compile time.
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest_dir.to_path_buf())
}

/// `envoy-config/` in the repo: the templates the tests and `make run` share.
pub fn envoy_config_dir() -> PathBuf {
    repo_root().join("envoy-config")
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the repo root) or `<repo>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => repo_root().join(dir),
        None => repo_root().join("target"),
    }
}

/// Where the release filter is, built or not: `$MTLS_GATE_FILTER_WASM` ([`FILTER_WASM_ENV`],
/// relative to the repo root), or `<target>/wasm32-wasip1/release/mtls_gate_filter.wasm` as
/// `make wasm` builds it.
pub fn filter_wasm_path() -> PathBuf {
    env_path(FILTER_WASM_ENV).unwrap_or_else(|| target_dir().join(FILTER_WASM_IN_TARGET))
}

/// The release filter, which must be built: [`filter_wasm_path`], or an error saying how to
/// build it.
pub fn filter_wasm() -> Result<PathBuf> {
    let path = filter_wasm_path();
    if !path.is_file() {
        bail!(
            "filter wasm not found at {}: run `make wasm` (or set {})",
            path.display(),
            FILTER_WASM_ENV
        );
    }
    Ok(path)
}

/// The Envoy binary. Override: `ENVOY_BIN`; default `<repo>/.venv/bin/envoy` from `make envoy`.
pub fn envoy_bin() -> Result<PathBuf> {
    let path = env_path("ENVOY_BIN").unwrap_or_else(|| repo_root().join(".venv/bin/envoy"));
    if !path.is_file() {
        bail!(
            "Envoy not found at {}: run `make envoy` (or set ENVOY_BIN)",
            path.display()
        );
    }
    Ok(path)
}

/// The host-shim binary, as `make shim` builds it. Override: `MTLS_GATE_SHIM_BIN`.
pub fn shim_bin() -> Result<PathBuf> {
    let path = env_path("MTLS_GATE_SHIM_BIN")
        .unwrap_or_else(|| target_dir().join("release/mtls-gate-shim"));
    if !path.is_file() {
        bail!(
            "shim not found at {}: run `make shim` (or set MTLS_GATE_SHIM_BIN)",
            path.display()
        );
    }
    Ok(path)
}

/// A binary of the tools crate (`tests/tools/src/bin/<name>.rs`), looked for next to the
/// running executable and one folder up (a test runs from `<profile>/deps/`). `make test-e2e`
/// builds `echo-upstream` first; the bench driver finds `loadgen` and `echo-upstream` beside
/// itself in `release/`.
pub fn tool_bin(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let candidates = exe
        .parent()
        .into_iter()
        .flat_map(|deps| [Some(deps.join(name)), deps.parent().map(|p| p.join(name))])
        .flatten();
    for candidate in candidates {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "tool binary `{name}` not found next to {}: build it with \
         `cargo build -p mtls-gate-tools --bin {name}` (`make test-e2e` does)",
        exe.display()
    )
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(|v| repo_root().join(v))
}
