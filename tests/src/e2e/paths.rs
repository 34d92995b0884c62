//! Where things are. Every path can be overridden by an environment variable, so CI and
//! developers with a custom `CARGO_TARGET_DIR` get the same behaviour.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

/// The workspace root (the directory holding the root `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    // tests/ is one level below the root; this is fixed at compile time.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
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

/// The release filter, as `make wasm` builds it. Override: `MTLS_GATE_FILTER_WASM` (the
/// same variable the wasmtime harness reads).
pub fn filter_wasm() -> Result<PathBuf> {
    let path = env_path(crate::host::FILTER_WASM_ENV)
        .unwrap_or_else(|| target_dir().join("wasm32-wasip1/release/mtls_gate_filter.wasm"));
    if !path.is_file() {
        bail!(
            "filter wasm not found at {}: run `make wasm` (or set {})",
            path.display(),
            crate::host::FILTER_WASM_ENV
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

/// A binary of this crate (`tests/src/bin/<name>.rs`). Cargo builds them before it runs the
/// integration tests and puts them next to the test executables' `deps/` folder.
pub fn own_bin(name: &str) -> Result<PathBuf> {
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
        "helper binary `{name}` not found next to {}: run the tests with `cargo test -p mtls-gate-tests`",
        exe.display()
    )
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(|v| repo_root().join(v))
}
