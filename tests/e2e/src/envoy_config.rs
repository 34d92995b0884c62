//! The Envoy bootstrap for one test: the same `envoy-config/` templates and the same
//! renderer as `mtls-gate-shim render` (`mtls_gate_shim::render`), with the clusters a test
//! names instead of the ones a gate implies. A test of the rendered output itself uses
//! [`EnvoyConfig::from_bootstrap`] on what `mtls-gate-shim render` wrote.

use crate::upstream::EchoUpstream;
use anyhow::{Context, Result};
use mtls_gate_shim::render::envoy::{
    self as layout, ClientCertificate, DefaultRoute, Endpoint, EnvoyLayout, GateModule, HttpFilter,
    Listener,
};
use mtls_gate_shim::render::{SHIM_CLUSTER, template};
use mtls_gate_testkit::pki::{CertFiles, TestPki};
use mtls_gate_testkit::{Shim, free_port, paths};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const BOOTSTRAP_TEMPLATE: &str = template::BOOTSTRAP.name;
pub const TLS_CLUSTER_TEMPLATE: &str = template::CLUSTER_TLS.name;
pub const PLAIN_CLUSTER_TEMPLATE: &str = template::CLUSTER_PLAIN.name;

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

    fn to_layout(&self) -> layout::Cluster {
        layout::Cluster {
            name: self.name.clone(),
            endpoint: Endpoint::from(self.addr),
            tls: self.tls.as_ref().map(|tls| layout::UpstreamTls {
                sni: tls.sni.clone(),
                ca: Some(tls.ca.clone()),
                settings: Default::default(),
                client_certificate: match &tls.client_cert {
                    None => ClientCertificate::None,
                    Some((cert, key)) => ClientCertificate::Files {
                        cert: cert.clone(),
                        key: key.clone(),
                    },
                },
            }),
        }
    }
}

/// Everything that varies between Envoy instances. Ports default to 0 (the kernel picks;
/// [`crate::Envoy`] reads the real ones back from the admin API).
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
    /// A finished bootstrap (from `mtls-gate-shim render`); overrides everything above.
    pub bootstrap: Option<String>,
    /// `false`: the HTTP connection manager has none of `normalize_path`, `merge_slashes`
    /// and `path_with_escaped_slashes_action` (Envoy's defaults: the path reaches the filter
    /// as the client sent it). Not applied to a finished [`EnvoyConfig::bootstrap`].
    pub path_normalisation: bool,
    /// Replaces the template's `forward_client_cert_details: SANITIZE_SET` (for example with
    /// `APPEND_FORWARD`, an Envoy that passes a client's XFCC on). Not applied to a finished
    /// [`EnvoyConfig::bootstrap`].
    pub forward_client_cert_details: Option<String>,
    /// Environment variables set for the Envoy process (for example what a VM's
    /// `environment_variables.host_env_keys` names).
    pub env: Vec<(String, String)>,
    /// The native module (`libmtls_gate_native.so`) in place of the wasm filter; `None`:
    /// [`NATIVE_MODULE_ENV`] decides. Not applied to a finished [`EnvoyConfig::bootstrap`].
    pub native_module: Option<PathBuf>,
}

/// The HCM settings that normalise the path before any filter (http-connection-manager.yaml.tmpl).
pub const PATH_NORMALISATION_KEYS: [&str; 3] = [
    "normalize_path",
    "merge_slashes",
    "path_with_escaped_slashes_action",
];

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
            bootstrap: None,
            path_normalisation: true,
            forward_client_cert_details: None,
            env: Vec::new(),
            native_module: None,
        }
    }

    /// The bootstrap `mtls-gate-shim render --out DIR` wrote (`DIR/envoy.yaml`). Its LDS/CDS
    /// paths are absolute, so Envoy may run it from anywhere, and re-rendering `DIR`
    /// reconfigures that Envoy live. Render with `--admin 127.0.0.1:0` and a
    /// `--plain-listen`: [`crate::Envoy`] reads both listeners' ports back.
    pub fn from_bootstrap(path: &Path) -> Result<Self> {
        let bootstrap =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Self {
            gate_config: String::new(),
            wasm: None,
            server_cert: PathBuf::new(),
            server_key: PathBuf::new(),
            admin_port: 0,
            tls_port: 0,
            plain_port: 0,
            shim_port: 0,
            default_cluster: DEFAULT_CLUSTER.to_string(),
            clusters: Vec::new(),
            bootstrap: Some(bootstrap),
            path_normalisation: true,
            forward_client_cert_details: None,
            env: Vec::new(),
            native_module: None,
        })
    }

    /// A minimal HTTP connection manager: no path normalisation of any kind (see
    /// [`EnvoyConfig::path_normalisation`]).
    pub fn without_path_normalisation(mut self) -> Self {
        self.path_normalisation = false;
        self
    }

    /// The HCM's `forward_client_cert_details` mode instead of the template's `SANITIZE_SET`.
    pub fn forward_client_cert_details(mut self, mode: &str) -> Self {
        self.forward_client_cert_details = Some(mode.to_string());
        self
    }

    /// Sets `key=value` in Envoy's environment.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
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

    /// Runs the native module at `module` instead of the wasm filter.
    pub fn native_module(mut self, module: &Path) -> Self {
        self.native_module = Some(module.to_path_buf());
        self
    }

    /// Uses this `.wasm` instead of [`paths::filter_wasm`].
    pub fn wasm(mut self, wasm: &Path) -> Self {
        self.wasm = Some(wasm.to_path_buf());
        self
    }

    /// The bootstrap YAML: everything in `static_resources`, one file.
    pub fn render(&self) -> Result<String> {
        if let Some(bootstrap) = &self.bootstrap {
            return Ok(bootstrap.clone());
        }
        // The native module needs no wasm filter built.
        let module = match (
            self.native_module.clone().or_else(native_module),
            &self.wasm,
        ) {
            (Some(native), _) => GateModule::Native(native),
            (None, Some(wasm)) => GateModule::Wasm(wasm.clone()),
            (None, None) => GateModule::Wasm(paths::filter_wasm()?),
        };
        let loopback = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let mut clusters = vec![layout::Cluster {
            name: SHIM_CLUSTER.to_string(),
            endpoint: Endpoint::from(loopback(self.shim_port)),
            tls: None,
        }];
        clusters.extend(self.clusters.iter().map(UpstreamCluster::to_layout));
        let envoy = EnvoyLayout {
            admin: loopback(self.admin_port),
            listeners: vec![
                Listener::tls_files(
                    layout::TLS_LISTENER,
                    loopback(self.tls_port),
                    self.server_cert.clone(),
                    self.server_key.clone(),
                ),
                Listener::plain(layout::PLAIN_LISTENER, loopback(self.plain_port)),
            ],
            http: HttpFilter {
                gate_json: self.gate_config.clone(),
                module,
                vm_env_keys: vec![],
                default_route: DefaultRoute::Cluster(self.default_cluster.clone()),
            },
            clusters,
        };
        let mut yaml = envoy.render_static()?;
        if let Some(mode) = &self.forward_client_cert_details {
            let template = format!("{XFCC_SETTING} SANITIZE_SET");
            anyhow::ensure!(
                yaml.contains(&template),
                "the HCM template no longer says {template:?}"
            );
            yaml = yaml.replace(&template, &format!("{XFCC_SETTING} {mode}"));
        }
        match self.path_normalisation {
            true => Ok(yaml),
            false => strip_path_normalisation(&yaml),
        }
    }
}

/// `mtls-gate-shim render` as a test runs it: the real binary over a testkit [`Shim`]'s
/// store, into `DIR/envoy`, with every listener on a free loopback port and the admin on
/// port 0 (so [`crate::Envoy`] reads the ports back). Start Envoy with
/// `EnvoyConfig::from_bootstrap(&render.bootstrap())`; run it again to reconfigure that
/// Envoy live.
pub struct ShimRender {
    gate_path: PathBuf,
    out: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// `--native-module`; `None`: `--wasm` with the release filter.
    native_module: Option<PathBuf>,
}

/// What a successful render printed.
#[derive(Debug, Clone)]
pub struct RenderOutput {
    pub stdout: String,
    pub stderr: String,
}

impl ShimRender {
    /// Renders into `dir/envoy`, reading `shim`'s store and pointing the filter at `shim`.
    pub fn new(dir: &Path, shim: &Shim) -> Result<Self> {
        let args = vec![
            "render".to_string(),
            "--store".to_string(),
            shim.store_path().display().to_string(),
            "--listen".to_string(),
            format!("127.0.0.1:{}", free_port()?),
            "--plain-listen".to_string(),
            format!("127.0.0.1:{}", free_port()?),
            "--admin".to_string(),
            "127.0.0.1:0".to_string(),
            "--shim-url".to_string(),
            format!("http://{}", shim.addr()),
        ];
        Ok(ShimRender {
            gate_path: dir.join("gate.json"),
            out: dir.join("envoy"),
            args,
            env: vec![
                ("MTLS_GATE_SECRET".to_string(), shim.secret().to_string()),
                (
                    "MTLS_GATE_FEED_TOKEN".to_string(),
                    shim.feed_token().to_string(),
                ),
            ],
            native_module: None,
        })
    }

    /// `--native-module MODULE` instead of `--wasm`: render emits the native module's
    /// filter. Neither `--wasm` nor `MTLS_GATE_FILTER_WASM` reaches render then.
    pub fn native_module(mut self, module: &Path) -> Self {
        self.native_module = Some(module.to_path_buf());
        self
    }

    /// Adds command-line arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// `--shim-url`: where Envoy reaches the shim's feed (by default the shim's own address),
    /// e.g. its `--feed-listen` port when the admin API requires client certificates.
    pub fn shim_url(mut self, url: &str) -> Self {
        if let Some(i) = self.args.iter().position(|a| a == "--shim-url")
            && let Some(value) = self.args.get_mut(i + 1)
        {
            *value = url.to_owned();
        }
        self
    }

    /// `--server-cert`/`--server-key`: the default server certificate.
    pub fn server_cert(self, cert: &CertFiles) -> Self {
        self.args([
            "--server-cert".to_string(),
            cert.cert_path.display().to_string(),
            "--server-key".to_string(),
            cert.key_path.display().to_string(),
        ])
    }

    /// `--upstream-ca` and `--resolve HOST:PORT:127.0.0.1` for each upstream host.
    pub fn upstreams(self, ca: &CertFiles, hosts: &[(&str, u16)]) -> Self {
        let mut args = vec![
            "--upstream-ca".to_string(),
            ca.cert_path.display().to_string(),
        ];
        for (host, port) in hosts {
            args.push("--resolve".to_string());
            args.push(format!("{host}:{port}:127.0.0.1"));
        }
        self.args(args)
    }

    /// The bootstrap to start Envoy with.
    pub fn bootstrap(&self) -> PathBuf {
        self.out.join("envoy.yaml")
    }

    /// The output directory.
    pub fn out_dir(&self) -> &Path {
        &self.out
    }

    /// Writes `gate` and renders it; fails with render's output if render fails.
    pub fn run(&self, gate: &str) -> Result<RenderOutput> {
        let (ok, output) = self.exec(gate)?;
        anyhow::ensure!(ok, "render failed: {}{}", output.stdout, output.stderr);
        Ok(output)
    }

    /// Writes `gate` and renders it, expecting a refusal; render's stderr.
    pub fn refused(&self, gate: &str) -> Result<String> {
        let (ok, output) = self.exec(gate)?;
        anyhow::ensure!(!ok, "render succeeded: {}", output.stdout);
        Ok(output.stderr)
    }

    fn exec(&self, gate: &str) -> Result<(bool, RenderOutput)> {
        std::fs::write(&self.gate_path, gate)?;
        let mut command = std::process::Command::new(paths::shim_bin()?);
        command.args(&self.args);
        match &self.native_module {
            Some(module) => command
                .arg("--native-module")
                .arg(module)
                .env_remove(paths::FILTER_WASM_ENV),
            None => command.arg("--wasm").arg(paths::filter_wasm()?),
        };
        let out = command
            .arg("--gate")
            .arg(&self.gate_path)
            .arg("--out")
            .arg(&self.out)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env_remove("MTLS_GATE_ENCODING_SECRET")
            .output()
            .context("running mtls-gate-shim render")?;
        Ok((
            out.status.success(),
            RenderOutput {
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            },
        ))
    }
}

const XFCC_SETTING: &str = "forward_client_cert_details:";

/// Set to the native module (`target/release/libmtls_gate_native.so`, `make native`) to run
/// every [`EnvoyConfig`] with it in place of the wasm filter.
pub const NATIVE_MODULE_ENV: &str = "MTLS_GATE_NATIVE_MODULE";

/// [`NATIVE_MODULE_ENV`]'s path (relative to the repo root), if set and non-empty.
pub fn native_module() -> Option<PathBuf> {
    std::env::var_os(NATIVE_MODULE_ENV)
        .filter(|v| !v.is_empty())
        .map(|path| paths::repo_root().join(path))
}

/// Drops every [`PATH_NORMALISATION_KEYS`] line of the rendered HCMs; fails if the template
/// no longer has all three in each HCM (the test would then not test what it says).
fn strip_path_normalisation(yaml: &str) -> Result<String> {
    let is_setting = |line: &str| {
        let line = line.trim_start();
        PATH_NORMALISATION_KEYS
            .iter()
            .any(|key| line.strip_prefix(key).is_some_and(|r| r.starts_with(':')))
    };
    let hcms = yaml
        .matches("envoy.filters.network.http_connection_manager")
        .count();
    let removed = yaml.lines().filter(|l| is_setting(l)).count();
    anyhow::ensure!(
        hcms > 0 && removed == hcms * PATH_NORMALISATION_KEYS.len(),
        "expected {PATH_NORMALISATION_KEYS:?} once in each of {hcms} HCMs, found {removed} lines"
    );
    let mut out: String = yaml
        .lines()
        .filter(|l| !is_setting(l))
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    Ok(out)
}

/// Reads a template from `envoy-config/` (the renderer compiles the same files in).
pub fn template(name: &str) -> Result<String> {
    let path = paths::envoy_config_dir().join(name);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// Replaces each `{{KEY}}`; fails on an unknown key or on a placeholder left unfilled
/// (`mtls_gate_shim::render::template`'s rule).
pub fn render(template: &str, values: &[(&str, &str)]) -> Result<String> {
    Ok(template::fill_text("template", template, values)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_placeholders_and_rejects_leftovers() {
        assert_eq!(render("a {{X}} b", &[("X", "1")]).unwrap(), "a 1 b\n");
        assert!(render("a {{X}} {{Y}}", &[("X", "1")]).is_err());
        assert!(render("a", &[("X", "1")]).is_err());
        // Placeholders named in comments are documentation, not holes.
        assert_eq!(
            render("# {{Y}}\n{{X}}", &[("X", "1")]).unwrap(),
            "# {{Y}}\n1\n"
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
        assert!(yaml.contains(&format!(
            "request_headers_to_remove: [{}]",
            mtls_gate_core::headers::ROUTING
        )));
        assert!(yaml.contains(r#"route: {cluster: "upstream-default", timeout: 15s}"#));
        for key in PATH_NORMALISATION_KEYS {
            assert!(yaml.contains(&format!("{key}:")), "{key} in {yaml}");
        }
        let minimal = cfg.clone().without_path_normalisation().render().unwrap();
        for key in PATH_NORMALISATION_KEYS {
            assert!(!minimal.contains(&format!("{key}:")), "{key} in {minimal}");
        }
        assert!(minimal.contains("forward_client_cert_details: SANITIZE_SET"));
        let appending = cfg
            .forward_client_cert_details("APPEND_FORWARD")
            .render()
            .unwrap();
        assert!(appending.contains("forward_client_cert_details: APPEND_FORWARD"));
        assert!(!appending.contains("SANITIZE_SET"));
    }

    #[test]
    fn the_native_module_replaces_every_wasm_filter_with_the_same_gate_json() {
        if native_module().is_some() {
            // Every render is native then: there is no wasm bootstrap to compare with.
            eprintln!("skipped: {NATIVE_MODULE_ENV} is set");
            return;
        }
        let pki = TestPki::generate().unwrap();
        let module = Path::new("/opt/lib/libmtls_gate_native.so");
        let cfg = EnvoyConfig::new(r#"{"apis": [], "note": "quote\" here"}"#, &pki)
            .wasm(Path::new("/nonexistent/filter.wasm"));
        let wasm = cfg.render().unwrap();
        let native = cfg.native_module(module).render().unwrap();
        let hcms = wasm.matches("- name: envoy.filters.http.wasm").count();
        assert_eq!(hcms, 2, "both listeners");
        assert_eq!(
            native
                .matches("- name: envoy.filters.http.dynamic_modules")
                .count(),
            hcms
        );
        assert!(!native.contains("envoy.filters.http.wasm"), "{native}");
        assert!(!native.contains("vm_config"), "{native}");
        assert!(
            native.contains(r#"module: {local: {filename: "/opt/lib/libmtls_gate_native.so"}}"#)
        );
        assert!(native.contains("filter_name: mtls_gate"));
        assert!(native.contains("metrics_namespace: wasmcustom"));
        assert!(native.contains(r#"value: "{\"apis\": [], \"note\": \"quote\\\" here\"}""#));
        // Everything else (listeners, routes, the router) is untouched.
        assert_eq!(
            native.matches("envoy.filters.http.router").count(),
            wasm.matches("envoy.filters.http.router").count()
        );
    }
}
