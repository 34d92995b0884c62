//! What `render` leaves in the store so that the shims can redo it (SPEC §8 "The shim knows
//! the gate"): two named records, JSON documents the store keeps beside certificates and
//! sessions (`store::backend`, named records).
//!
//! - [`GATE_RECORD`]: the gate JSON as given, and the directory its relative certificate file
//!   references are read from. `render` writes it; `serve --gate FILE` replaces it at start.
//! - [`RENDER_RECORD`]: the options of the last render (out directory, listeners, wasm filter
//!   or native module, shim URL, upstream CA, `--resolve`s, default server certificate
//!   files), every path absolute.
//!
//! No secret is recorded: the feed token is read from `MTLS_GATE_FEED_TOKEN` again by whoever
//! renders, and private keys stay sealed in the store. `serve` re-renders from these records
//! whenever the store changes (`crate::live`).

use super::envoy::{Endpoint, GateModule};
use super::plan::{Resolve, UpstreamOptions};
use super::{RenderError, RenderOptions, resolve};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The name of the gate record.
pub const GATE_RECORD: &str = "gate";
/// The name of the render record.
pub const RENDER_RECORD: &str = "render";

/// The gate the shims serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateRecord {
    /// The gate JSON, as the operator wrote it.
    pub gate: String,
    /// Relative certificate file references in the gate are read under this directory (the
    /// one `render`, or `serve --gate`, ran in), as Tyk reads them relative to its own.
    pub base_dir: PathBuf,
    /// Where it came from, for logs: `render --gate /abs/gate.json` or `serve --gate ...`.
    pub source: String,
}

/// The options of the last render, enough to redo it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderRecord {
    pub out_dir: PathBuf,
    pub listen: SocketAddr,
    pub plain_listen: Option<SocketAddr>,
    pub admin: SocketAddr,
    pub server_cert: Option<PathBuf>,
    pub server_key: Option<PathBuf>,
    /// The wasm filter (`--wasm`); `null` when the render ran the native module.
    #[serde(default)]
    pub wasm: Option<PathBuf>,
    /// `--native-module`: the native module in place of the wasm filter. Records written
    /// before the option existed have no such field: the wasm filter.
    #[serde(default)]
    pub native_module: Option<PathBuf>,
    pub shim_host: String,
    pub shim_port: u16,
    pub upstream_ca: Option<PathBuf>,
    /// `HOST:PORT:ADDR`, as `--resolve` takes them.
    pub resolve: Vec<String>,
}

impl RenderRecord {
    pub fn from_options(options: &RenderOptions) -> Self {
        RenderRecord {
            out_dir: options.out_dir.clone(),
            listen: options.listen,
            plain_listen: options.plain_listen,
            admin: options.admin,
            server_cert: options.server_cert.as_ref().map(|(cert, _)| cert.clone()),
            server_key: options.server_cert.as_ref().map(|(_, key)| key.clone()),
            wasm: match &options.module {
                GateModule::Wasm(wasm) => Some(wasm.clone()),
                GateModule::Native(_) => None,
            },
            native_module: match &options.module {
                GateModule::Native(module) => Some(module.clone()),
                GateModule::Wasm(_) => None,
            },
            shim_host: options.shim.host.clone(),
            shim_port: options.shim.port,
            upstream_ca: options.upstreams.ca.clone(),
            resolve: options
                .upstreams
                .resolve
                .iter()
                .map(|r| format!("{}:{}:{}", r.host, r.port, r.addr))
                .collect(),
        }
    }

    /// The options to render `gate_json` as this record says, with `feed_token` for an empty
    /// `store.token`.
    pub fn options(
        &self,
        gate_json: Vec<u8>,
        feed_token: Option<String>,
    ) -> Result<RenderOptions, String> {
        let resolve = self
            .resolve
            .iter()
            .map(|r| r.parse::<Resolve>())
            .collect::<Result<Vec<_>, _>>()?;
        let module = match (&self.native_module, &self.wasm) {
            (Some(module), _) => GateModule::Native(module.clone()),
            (None, Some(wasm)) => GateModule::Wasm(wasm.clone()),
            (None, None) => {
                return Err(
                    "the render record names neither a wasm filter nor a native module \
                            (run `mtls-gate-shim render` again)"
                        .to_owned(),
                );
            }
        };
        Ok(RenderOptions {
            gate_json,
            out_dir: self.out_dir.clone(),
            listen: self.listen,
            plain_listen: self.plain_listen,
            admin: self.admin,
            server_cert: self.server_cert.clone().zip(self.server_key.clone()),
            module,
            shim: Endpoint {
                host: self.shim_host.clone(),
                port: self.shim_port,
            },
            feed_token,
            upstreams: UpstreamOptions {
                ca: self.upstream_ca.clone(),
                resolve,
            },
        })
    }
}

impl GateRecord {
    /// The gate JSON to render from a process running in another directory: file references
    /// read under [`GateRecord::base_dir`] and inlined (what `render` itself does with them
    /// under its working directory, so the output is the same).
    pub fn gate_json_here(&self) -> Result<Vec<u8>, RenderError> {
        let here = std::env::current_dir().and_then(std::fs::canonicalize).ok();
        if here.as_deref() == Some(self.base_dir.as_path()) {
            return Ok(self.gate.clone().into_bytes());
        }
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&self.gate) else {
            // Not JSON: the renderer names the error.
            return Ok(self.gate.clone().into_bytes());
        };
        resolve::inline_files_in(&mut value, &self.base_dir)?;
        Ok(value.to_string().into_bytes())
    }
}

/// Records a successful render: its gate (`gate_path`, for logs) and options.
pub fn save(store: &Store, options: &RenderOptions, gate_path: &Path) -> Result<(), StoreError> {
    let gate_path = std::fs::canonicalize(gate_path).unwrap_or_else(|_| gate_path.to_path_buf());
    let gate = GateRecord {
        gate: String::from_utf8_lossy(&options.gate_json).into_owned(),
        base_dir: working_dir(),
        source: format!("render --gate {}", gate_path.display()),
    };
    save_gate(store, &gate)?;
    store.put_named_record(
        RENDER_RECORD,
        &to_json(&RenderRecord::from_options(options))?,
    )
}

/// Replaces the gate record.
pub fn save_gate(store: &Store, gate: &GateRecord) -> Result<(), StoreError> {
    store.put_named_record(GATE_RECORD, &to_json(gate)?)
}

/// The gate record, if any.
pub fn load_gate(store: &Store) -> Result<Option<GateRecord>, StoreError> {
    load(store, GATE_RECORD)
}

/// The render record, if any.
pub fn load_render(store: &Store) -> Result<Option<RenderRecord>, StoreError> {
    load(store, RENDER_RECORD)
}

/// The directory relative paths are read under, absolute.
pub fn working_dir() -> PathBuf {
    std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .unwrap_or_else(|_| PathBuf::from("."))
}

fn load<T: for<'de> Deserialize<'de>>(store: &Store, name: &str) -> Result<Option<T>, StoreError> {
    store
        .named_record(name)?
        .map(|json| {
            serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                store: store.describe(),
                detail: format!("record {name}: {e}"),
            })
        })
        .transpose()
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> RenderOptions {
        RenderOptions {
            gate_json: br#"{"apis": []}"#.to_vec(),
            out_dir: "/srv/envoy".into(),
            listen: "127.0.0.1:8443".parse().unwrap(),
            plain_listen: Some("127.0.0.1:8080".parse().unwrap()),
            admin: "127.0.0.1:9901".parse().unwrap(),
            server_cert: Some(("/pki/s.pem".into(), "/pki/s.key".into())),
            module: GateModule::Wasm("/opt/f.wasm".into()),
            shim: Endpoint {
                host: "127.0.0.1".into(),
                port: 8181,
            },
            feed_token: Some("secret-token".into()),
            upstreams: UpstreamOptions {
                ca: Some("/pki/ca.pem".into()),
                resolve: vec![
                    "api.example.test:443:127.0.0.1".parse().unwrap(),
                    "v6.example.test:8443:[::1]".parse().unwrap(),
                ],
            },
        }
    }

    #[test]
    fn a_render_record_gives_back_the_same_options_without_the_token() {
        let options = options();
        let record = RenderRecord::from_options(&options);
        let json = serde_json::to_string(&record).unwrap();
        assert!(!json.contains("secret-token"), "{json}");
        let back: RenderRecord = serde_json::from_str(&json).unwrap();
        let again = back
            .options(options.gate_json.clone(), Some("t".into()))
            .unwrap();
        assert_eq!(again.out_dir, options.out_dir);
        assert_eq!(again.listen, options.listen);
        assert_eq!(again.plain_listen, options.plain_listen);
        assert_eq!(again.admin, options.admin);
        assert_eq!(again.server_cert, options.server_cert);
        assert_eq!(again.module, options.module);
        assert_eq!(again.shim, options.shim);
        assert_eq!(again.upstreams.ca, options.upstreams.ca);
        assert_eq!(again.upstreams.resolve, options.upstreams.resolve);
        assert_eq!(again.feed_token.as_deref(), Some("t"));
    }

    #[test]
    fn a_native_module_render_is_recorded_and_rendered_again_as_such() {
        let options = RenderOptions {
            module: GateModule::Native("/opt/libmtls_gate_native.so".into()),
            ..options()
        };
        let json = serde_json::to_string(&RenderRecord::from_options(&options)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["native_module"], "/opt/libmtls_gate_native.so");
        assert_eq!(value["wasm"], serde_json::Value::Null);
        let back: RenderRecord = serde_json::from_str(&json).unwrap();
        let again = back.options(options.gate_json.clone(), None).unwrap();
        assert_eq!(
            again.module,
            GateModule::Native("/opt/libmtls_gate_native.so".into())
        );

        // A wasm render records no module.
        let wasm = serde_json::to_value(RenderRecord::from_options(&self::options())).unwrap();
        assert_eq!(wasm["wasm"], "/opt/f.wasm");
        assert_eq!(wasm["native_module"], serde_json::Value::Null);

        // Neither: refused with a reason, not a panic.
        let neither = RenderRecord {
            wasm: None,
            native_module: None,
            ..back
        };
        let err = neither.options(Vec::new(), None).unwrap_err();
        assert!(err.contains("neither"), "{err}");
    }

    /// A record an older shim wrote (no `native_module` field) still loads, as the wasm filter.
    #[test]
    fn a_record_written_before_native_module_existed_loads_as_the_wasm_filter() {
        let old = r#"{"out_dir":"/srv/envoy","listen":"127.0.0.1:8443","plain_listen":null,
            "admin":"127.0.0.1:9901","server_cert":"/pki/s.pem","server_key":"/pki/s.key",
            "wasm":"/opt/f.wasm","shim_host":"127.0.0.1","shim_port":8181,
            "upstream_ca":null,"resolve":[]}"#;
        let record: RenderRecord = serde_json::from_str(old).unwrap();
        assert_eq!(record.native_module, None);
        let options = record.options(Vec::new(), None).unwrap();
        assert_eq!(options.module, GateModule::Wasm("/opt/f.wasm".into()));
    }

    #[test]
    fn relative_file_references_are_read_under_the_recorded_directory() {
        let dir = tempfile::tempdir().unwrap();
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        std::fs::write(dir.path().join("client.pem"), pem).unwrap();
        let record = GateRecord {
            gate: r#"{"apis": [{"api_id": "a", "client_certificates": ["client.pem"]}]}"#.into(),
            base_dir: std::fs::canonicalize(dir.path()).unwrap(),
            source: "test".into(),
        };
        let json = record.gate_json_here().unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["apis"][0]["client_certificates"][0], pem);
    }
}
