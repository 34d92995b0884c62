//! Renders the Envoy bootstrap from the templates in `envoy-config/` (shared with `make run`).
//!
//! Templates use `{{NAME}}` placeholders; rendering fails if one is left unfilled, so a new
//! placeholder in a template cannot silently reach Envoy.

use crate::e2e::paths;
use crate::e2e::pki::{CertFiles, TestPki};
use crate::e2e::upstream::EchoUpstream;
use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const BOOTSTRAP_TEMPLATE: &str = "envoy.yaml.tmpl";
pub const TLS_CLUSTER_TEMPLATE: &str = "cluster-tls.yaml.tmpl";
pub const PLAIN_CLUSTER_TEMPLATE: &str = "cluster-plain.yaml.tmpl";

/// The header the filter sets and the route reads with `cluster_header`.
pub const ROUTING_HEADER: &str = "x-mtls-gate-cluster";
/// The cluster that routes reach when the filter sets no routing header.
pub const DEFAULT_CLUSTER: &str = "upstream-default";

/// One upstream cluster.
#[derive(Debug, Clone)]
pub struct UpstreamCluster {
    pub name: String,
    pub addr: SocketAddr,
    /// `None`: plain HTTP. `Some`: TLS with this SNI, verified against `ca`.
    pub tls: Option<UpstreamTls>,
}

#[derive(Debug, Clone)]
pub struct UpstreamTls {
    pub sni: String,
    pub ca: PathBuf,
    /// The client certificate Envoy presents upstream, if any.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl UpstreamCluster {
    /// A TLS cluster to `addr`, verified with `ca`, SNI `localhost`, and no client certificate.
    pub fn tls(name: &str, addr: SocketAddr, ca: &CertFiles) -> Self {
        Self {
            name: name.to_string(),
            addr,
            tls: Some(UpstreamTls {
                sni: "localhost".to_string(),
                ca: ca.cert_path.clone(),
                client_cert: None,
            }),
        }
    }

    /// A plain-HTTP cluster to `addr`.
    pub fn plain(name: &str, addr: SocketAddr) -> Self {
        Self {
            name: name.to_string(),
            addr,
            tls: None,
        }
    }

    /// Present `cert` as the upstream client certificate (TLS clusters only).
    pub fn client_cert(mut self, cert: &CertFiles) -> Self {
        if let Some(tls) = self.tls.as_mut() {
            tls.client_cert = Some((cert.cert_path.clone(), cert.key_path.clone()));
        }
        self
    }

    pub fn sni(mut self, sni: &str) -> Self {
        if let Some(tls) = self.tls.as_mut() {
            tls.sni = sni.to_string();
        }
        self
    }

    fn render(&self) -> Result<String> {
        let host = self.addr.ip().to_string();
        let port = self.addr.port().to_string();
        match &self.tls {
            None => render(
                &template(PLAIN_CLUSTER_TEMPLATE)?,
                &[("NAME", &self.name), ("HOST", &host), ("PORT", &port)],
            ),
            Some(tls) => {
                let certificates = match &tls.client_cert {
                    None => "[]".to_string(),
                    Some((cert, key)) => format!(
                        "[{{certificate_chain: {{filename: {}}}, private_key: {{filename: {}}}}}]",
                        yaml_string(cert),
                        yaml_string(key)
                    ),
                };
                render(
                    &template(TLS_CLUSTER_TEMPLATE)?,
                    &[
                        ("NAME", &self.name),
                        ("HOST", &host),
                        ("PORT", &port),
                        ("SNI", &tls.sni),
                        ("CA", &tls.ca.display().to_string()),
                        ("TLS_CERTIFICATES", &certificates),
                    ],
                )
            }
        }
    }
}

/// Everything that varies between Envoy instances. Ports default to 0 (the kernel picks;
/// [`crate::e2e::Envoy`] reads the real ones back from the admin API).
#[derive(Debug, Clone)]
pub struct EnvoyConfig {
    /// The filter's JSON configuration, verbatim.
    pub gate_config: String,
    pub wasm: Option<PathBuf>,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub admin_port: u16,
    pub tls_port: u16,
    pub plain_port: u16,
    /// The shim's port; 0 when no shim runs (the cluster then has no reachable endpoint).
    pub shim_port: u16,
    pub default_cluster: String,
    pub clusters: Vec<UpstreamCluster>,
}

impl EnvoyConfig {
    /// A config with the filter configured by `gate_config` and `pki.server` on the listener.
    pub fn new(gate_config: &str, pki: &TestPki) -> Self {
        Self {
            gate_config: gate_config.to_string(),
            wasm: None,
            server_cert: pki.server.cert_path.clone(),
            server_key: pki.server.key_path.clone(),
            admin_port: 0,
            tls_port: 0,
            plain_port: 0,
            shim_port: 0,
            default_cluster: DEFAULT_CLUSTER.to_string(),
            clusters: Vec::new(),
        }
    }

    /// Adds a cluster.
    pub fn cluster(mut self, cluster: UpstreamCluster) -> Self {
        self.clusters.push(cluster);
        self
    }

    /// Makes `echo` the default upstream (cluster [`DEFAULT_CLUSTER`], no client certificate).
    pub fn default_upstream(self, echo: &EchoUpstream, pki: &TestPki) -> Self {
        let cluster = echo.cluster(DEFAULT_CLUSTER, pki);
        self.cluster(cluster)
    }

    pub fn shim_port(mut self, port: u16) -> Self {
        self.shim_port = port;
        self
    }

    /// Uses this `.wasm` instead of [`paths::filter_wasm`].
    pub fn wasm(mut self, wasm: &Path) -> Self {
        self.wasm = Some(wasm.to_path_buf());
        self
    }

    /// The bootstrap YAML.
    pub fn render(&self) -> Result<String> {
        let wasm = match &self.wasm {
            Some(w) => w.clone(),
            None => paths::filter_wasm()?,
        };
        let mut clusters = String::new();
        for c in &self.clusters {
            clusters.push_str(&c.render()?);
        }
        render(
            &template(BOOTSTRAP_TEMPLATE)?,
            &[
                ("ADMIN_PORT", &self.admin_port.to_string()),
                ("TLS_PORT", &self.tls_port.to_string()),
                ("PLAIN_PORT", &self.plain_port.to_string()),
                ("SHIM_PORT", &self.shim_port.to_string()),
                ("SERVER_CERT", &self.server_cert.display().to_string()),
                ("SERVER_KEY", &self.server_key.display().to_string()),
                ("WASM", &wasm.display().to_string()),
                ("GATE_CONFIG", &serde_json::to_string(&self.gate_config)?),
                ("DEFAULT_CLUSTER", &self.default_cluster),
                ("CLUSTERS", &clusters),
            ],
        )
    }
}

/// Reads a template from `envoy-config/`.
pub fn template(name: &str) -> Result<String> {
    let path = paths::envoy_config_dir().join(name);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// Replaces each `{{KEY}}`; fails on an unknown key or on a placeholder left unfilled.
pub fn render(template: &str, values: &[(&str, &str)]) -> Result<String> {
    let mut out = template.to_string();
    for (key, value) in values {
        let placeholder = format!("{{{{{key}}}}}");
        if !out.contains(&placeholder) {
            bail!("template has no placeholder {placeholder}");
        }
        out = out.replace(&placeholder, value);
    }
    // Only look outside comments: the header of a template documents its placeholders.
    for line in out.lines() {
        let code = line.split('#').next().unwrap_or("");
        if let Some(start) = code.find("{{") {
            bail!(
                "unfilled placeholder in line: {}",
                line.get(start..).unwrap_or(line)
            );
        }
    }
    Ok(out)
}

/// A path as a YAML double-quoted scalar (JSON string syntax is valid YAML).
fn yaml_string(path: &Path) -> String {
    serde_json::to_string(&path.display().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_placeholders_and_rejects_leftovers() {
        assert_eq!(render("a {{X}} b", &[("X", "1")]).unwrap(), "a 1 b");
        assert!(render("a {{X}} {{Y}}", &[("X", "1")]).is_err());
        assert!(render("a", &[("X", "1")]).is_err());
        // Placeholders named in comments are documentation, not holes.
        assert_eq!(
            render("# {{Y}}\n{{X}}", &[("X", "1")]).unwrap(),
            "# {{Y}}\n1"
        );
    }

    #[test]
    fn bootstrap_renders_with_every_placeholder_filled() {
        let pki = TestPki::generate().unwrap();
        let cfg = EnvoyConfig::new(r#"{"apis": [], "note": "quote\" and 'single'"}"#, &pki)
            .wasm(Path::new("/nonexistent/filter.wasm"))
            .cluster(
                UpstreamCluster::tls("up-a", "127.0.0.1:9".parse().unwrap(), &pki.ca)
                    .client_cert(&pki.upstream_client_a),
            )
            .cluster(UpstreamCluster::plain(
                "up-plain",
                "127.0.0.1:10".parse().unwrap(),
            ));
        let yaml = cfg.render().unwrap();
        assert!(
            yaml.contains(r#"value: "{\"apis\": [], \"note\": \"quote\\\" and 'single'\"}""#),
            "{yaml}"
        );
        assert!(yaml.contains(&pki.upstream_client_a.cert_path.display().to_string()));
        assert!(yaml.contains(r#"- name: "up-plain""#));
    }
}
