//! The Envoy config as data (listeners, clusters, secrets) and its rendering into the
//! `envoy-config/` templates: as one static bootstrap (tests, `--mode validate`) or as a
//! bootstrap plus file-based LDS/CDS/SDS resources (what `render` writes, so a re-render
//! reaches a running Envoy).

use super::template::{self, TemplateError, yaml_string};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

pub const LISTENER_TYPE: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
pub const CLUSTER_TYPE: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
pub const SECRET_TYPE: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/// Listener names; the e2e launcher reads their ports back from the admin API.
pub const TLS_LISTENER: &str = "mtls_gate_tls";
pub const PLAIN_LISTENER: &str = "mtls_gate_plain";

/// A listener; all share one HTTP connection manager (every filter chain runs the same
/// filter with the same configuration).
#[derive(Debug, Clone)]
pub struct Listener {
    pub name: String,
    pub address: SocketAddr,
    /// Empty: plain HTTP. Otherwise TLS, one filter chain each; Envoy picks one by SNI.
    pub tls_chains: Vec<TlsFilterChain>,
}

impl Listener {
    /// A TLS listener with these filter chains (exactly one without `server_names`).
    pub fn tls(name: &str, address: SocketAddr, chains: Vec<TlsFilterChain>) -> Self {
        Listener {
            name: name.to_owned(),
            address,
            tls_chains: chains,
        }
    }

    /// A TLS listener with one chain: this server certificate for every name, client
    /// certificates checked by the filter only.
    pub fn tls_files(name: &str, address: SocketAddr, cert: PathBuf, key: PathBuf) -> Self {
        Self::tls(
            name,
            address,
            vec![TlsFilterChain::default_chain(ServerCertificate::Files {
                cert,
                key,
            })],
        )
    }

    /// A plain-HTTP listener.
    pub fn plain(name: &str, address: SocketAddr) -> Self {
        Self::tls(name, address, Vec::new())
    }
}

/// One filter chain of the TLS listener (`filter-chain-tls.yaml.tmpl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFilterChain {
    /// Envoy's filter chain name (stats, logs).
    pub name: String,
    /// The SNI names this chain serves (`filter_chain_match.server_names`); empty for the
    /// default chain, which serves every other name and connections without SNI. Envoy
    /// refuses two chains whose matches overlap, so a name is in at most one chain.
    pub server_names: Vec<String>,
    pub server_certificate: ServerCertificate,
    pub client_validation: ClientValidation,
}

impl TlsFilterChain {
    /// The chain without `server_names`, client certificates checked by the filter only.
    pub fn default_chain(server_certificate: ServerCertificate) -> Self {
        TlsFilterChain {
            name: "default".to_owned(),
            server_names: Vec::new(),
            server_certificate,
            client_validation: ClientValidation::HttpLevel,
        }
    }
}

/// The certificate a listener's filter chain presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerCertificate {
    /// PEM files, read when the listener is created (`render --server-cert/--server-key`).
    Files { cert: PathBuf, key: PathBuf },
    /// A secret from a file-based SDS resource (a store or config certificate written by
    /// render, `0600`).
    Sds { secret: String, sds_path: PathBuf },
}

/// How a filter chain treats client certificates (SPEC §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientValidation {
    /// Requests one and accepts any (`ACCEPT_UNTRUSTED`, not required): the filter decides,
    /// with Tyk's HTTP-level 403s.
    HttpLevel,
    /// Requires one whose SHA-256 is in this list (64 lowercase hex each), at the handshake.
    LeafHashes(Vec<String>),
    /// Requires one that chains to one of these CA certificates (PEM), at the handshake.
    TrustedCa(String),
}

/// Where a request goes when the filter names no cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultRoute {
    /// This cluster (tests: a pass-through filter still reaches an upstream).
    Cluster(String),
    /// 404 `{"error": "No upstream for this request"}`: the filter names a cluster for
    /// every admitted request to an API with a `target_url`, so anything else has nowhere to go.
    NotFound,
}

/// What runs the gate in the HTTP connection manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateModule {
    /// The proxy-wasm filter, `mtls_gate_filter.wasm` (`http-filter-wasm.yaml.tmpl`).
    Wasm(PathBuf),
    /// The native Envoy dynamic module, `libmtls_gate_native.so`
    /// (`http-filter-native.yaml.tmpl`, `render --native-module`).
    Native(PathBuf),
}

/// The HTTP connection manager: the filter and its config, and the default route.
#[derive(Debug, Clone)]
pub struct HttpFilter {
    /// The filter's JSON configuration, verbatim.
    pub gate_json: String,
    pub module: GateModule,
    /// Envoy environment variables the wasm VM may read (`store.token_env`); the native
    /// module reads Envoy's own environment, so it needs none.
    pub vm_env_keys: Vec<String>,
    pub default_route: DefaultRoute,
}

/// Where a cluster connects. A host name is resolved by Envoy (`STRICT_DNS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Endpoint {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

/// The client certificate a TLS cluster presents upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCertificate {
    None,
    /// PEM files, read when the cluster is created.
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// A secret from a file-based SDS resource (reloaded when the file is replaced).
    Sds {
        secret: String,
        sds_path: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    pub sni: String,
    /// Verify the upstream against this CA; `None` does not verify it. Ignored when
    /// `settings.pinned_spki` is set: pinning replaces chain verification.
    pub ca: Option<PathBuf>,
    pub client_certificate: ClientCertificate,
    /// The API's pins, versions and ciphers (SPEC §6b).
    pub settings: UpstreamTlsSettings,
}

/// Envoy's client default stops at TLS 1.2; Tyk's Go client offers TLS 1.3 (SPEC §6b).
pub const DEFAULT_MAX_TLS_VERSION: &str = "TLSv1_3";

/// An API's upstream TLS settings as Envoy takes them (SPEC §6b).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTlsSettings {
    /// Base64 SHA-256 of each SPKI the upstream may present (`verify_certificate_spki`).
    /// `Some`: the target is pinned, and no chain is verified.
    pub pinned_spki: Option<Vec<String>>,
    /// `tls_minimum_protocol_version` (`TLSv1_2` …); `None`: Envoy's default.
    pub min_version: Option<&'static str>,
    /// `tls_maximum_protocol_version`.
    pub max_version: &'static str,
    /// BoringSSL names; empty: BoringSSL's defaults.
    pub cipher_suites: Vec<&'static str>,
}

impl Default for UpstreamTlsSettings {
    fn default() -> Self {
        UpstreamTlsSettings {
            pinned_spki: None,
            min_version: None,
            max_version: DEFAULT_MAX_TLS_VERSION,
            cipher_suites: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub name: String,
    pub endpoint: Endpoint,
    /// `None`: plain HTTP.
    pub tls: Option<UpstreamTls>,
}

/// A file-based SDS secret: an upstream client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub name: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A whole Envoy config.
#[derive(Debug, Clone)]
pub struct EnvoyLayout {
    pub admin: SocketAddr,
    pub listeners: Vec<Listener>,
    pub http: HttpFilter,
    pub clusters: Vec<Cluster>,
}

/// Paths of the file-based xDS resources, as the bootstrap names them.
#[derive(Debug, Clone)]
pub struct XdsPaths {
    pub lds: PathBuf,
    pub cds: PathBuf,
}

impl XdsPaths {
    fn watched_directory(path: &Path) -> String {
        path.parent()
            .unwrap_or_else(|| Path::new("."))
            .display()
            .to_string()
    }
}

impl EnvoyLayout {
    /// One self-contained bootstrap (`static_resources`).
    pub fn render_static(&self) -> Result<String, TemplateError> {
        let resources = template::STATIC_RESOURCES.fill(&[
            ("LISTENERS", &yaml_list(self.listeners_yaml()?.concat())),
            ("CLUSTERS", &yaml_list(self.clusters_yaml()?.concat())),
        ])?;
        self.bootstrap(&resources)
    }

    /// A bootstrap that reads listeners and clusters from `paths`.
    pub fn render_dynamic_bootstrap(&self, paths: &XdsPaths) -> Result<String, TemplateError> {
        let resources = template::DYNAMIC_RESOURCES.fill(&[
            ("LDS_PATH", &paths.lds.display().to_string()),
            ("CDS_PATH", &paths.cds.display().to_string()),
            ("XDS_DIR", &XdsPaths::watched_directory(&paths.lds)),
        ])?;
        self.bootstrap(&resources)
    }

    /// The LDS file: every listener.
    pub fn render_lds(&self) -> Result<String, TemplateError> {
        xds_file(&self.listeners_yaml()?, LISTENER_TYPE)
    }

    /// The CDS file: every cluster.
    pub fn render_cds(&self) -> Result<String, TemplateError> {
        xds_file(&self.clusters_yaml()?, CLUSTER_TYPE)
    }

    fn bootstrap(&self, resources: &str) -> Result<String, TemplateError> {
        template::BOOTSTRAP.fill(&[
            ("ADMIN_ADDRESS", &self.admin.ip().to_string()),
            ("ADMIN_PORT", &self.admin.port().to_string()),
            ("RESOURCES", resources),
        ])
    }

    fn listeners_yaml(&self) -> Result<Vec<String>, TemplateError> {
        let default_route = match &self.http.default_route {
            DefaultRoute::Cluster(cluster) => {
                template::ROUTE_DEFAULT_CLUSTER.fill(&[("CLUSTER", cluster)])?
            }
            DefaultRoute::NotFound => template::ROUTE_DEFAULT_404.fill(&[])?,
        };
        let hcm = template::HTTP_CONNECTION_MANAGER.fill(&[
            ("GATE_FILTER", &self.http.render()?),
            ("ROUTING_HEADER", mtls_gate_core::headers::ROUTING),
            ("DEFAULT_ROUTE", &default_route),
        ])?;
        self.listeners
            .iter()
            .map(|listener| {
                let name = listener.name.as_str();
                let address = listener.address.ip().to_string();
                let port = listener.address.port().to_string();
                if listener.tls_chains.is_empty() {
                    return template::LISTENER_PLAIN.fill(&[
                        ("NAME", name),
                        ("ADDRESS", &address),
                        ("PORT", &port),
                        ("HTTP_CONNECTION_MANAGER", &hcm),
                    ]);
                }
                let chains = listener
                    .tls_chains
                    .iter()
                    .map(|chain| chain.render(&hcm))
                    .collect::<Result<String, _>>()?;
                template::LISTENER_TLS.fill(&[
                    ("NAME", name),
                    ("ADDRESS", &address),
                    ("PORT", &port),
                    ("FILTER_CHAINS", &chains),
                ])
            })
            .collect()
    }

    fn clusters_yaml(&self) -> Result<Vec<String>, TemplateError> {
        self.clusters.iter().map(Cluster::render).collect()
    }
}

impl HttpFilter {
    /// The gate's entry of `http_filters`: the wasm filter or the native module, both given
    /// the gate JSON as a `StringValue` (a JSON string literal, which YAML reads as a
    /// double-quoted scalar).
    pub fn render(&self) -> Result<String, TemplateError> {
        let gate_config = yaml_string(&self.gate_json);
        match &self.module {
            GateModule::Wasm(wasm) => template::HTTP_FILTER_WASM.fill(&[
                ("GATE_CONFIG", &gate_config),
                ("WASM", &wasm.display().to_string()),
                (
                    "VM_ENV_KEYS",
                    &serde_json::to_string(&self.vm_env_keys).unwrap_or_else(|_| "[]".into()),
                ),
            ]),
            GateModule::Native(module) => template::HTTP_FILTER_NATIVE.fill(&[
                ("GATE_CONFIG", &gate_config),
                ("NATIVE_MODULE", &yaml_string(&module.display().to_string())),
            ]),
        }
    }
}

impl TlsFilterChain {
    /// This chain, with `hcm` as its only network filter.
    pub fn render(&self, hcm: &str) -> Result<String, TemplateError> {
        let filter_chain_match = match self.server_names.is_empty() {
            true => String::new(),
            false => format!(
                "filter_chain_match: {{server_names: {}}}",
                serde_json::to_string(&self.server_names).unwrap_or_else(|_| "[]".into())
            ),
        };
        let server_certificate = match &self.server_certificate {
            ServerCertificate::Files { cert, key } => template::CLIENT_CERT_FILES.fill(&[
                ("CERT", &cert.display().to_string()),
                ("KEY", &key.display().to_string()),
            ])?,
            ServerCertificate::Sds { secret, sds_path } => template::CLIENT_CERT_SDS.fill(&[
                ("SECRET", secret),
                ("SDS_PATH", &sds_path.display().to_string()),
                ("SDS_DIR", &XdsPaths::watched_directory(sds_path)),
            ])?,
        };
        let (require, validation) = match &self.client_validation {
            ClientValidation::HttpLevel => ("false", template::CLIENT_VALIDATION_HTTP.fill(&[])?),
            ClientValidation::LeafHashes(hashes) => (
                "true",
                template::CLIENT_VALIDATION_HASHES.fill(&[(
                    "HASHES",
                    &serde_json::to_string(hashes).unwrap_or_else(|_| "[]".into()),
                )])?,
            ),
            ClientValidation::TrustedCa(pem) => (
                "true",
                template::CLIENT_VALIDATION_CA.fill(&[("CA_PEM", &yaml_string(pem))])?,
            ),
        };
        template::FILTER_CHAIN_TLS.fill(&[
            ("CHAIN_NAME", &self.name),
            ("FILTER_CHAIN_MATCH", &filter_chain_match),
            ("REQUIRE_CLIENT_CERTIFICATE", require),
            ("SERVER_CERTIFICATE", &server_certificate),
            ("CLIENT_VALIDATION", &validation),
            ("HTTP_CONNECTION_MANAGER", hcm),
        ])
    }
}

impl Cluster {
    pub fn render(&self) -> Result<String, TemplateError> {
        let port = self.endpoint.port.to_string();
        let host = self.endpoint.host.as_str();
        let kind = if host.parse::<IpAddr>().is_ok() {
            "STATIC"
        } else {
            "STRICT_DNS"
        };
        let common = [
            ("NAME", self.name.as_str()),
            ("TYPE", kind),
            ("HOST", host),
            ("PORT", port.as_str()),
        ];
        let Some(tls) = &self.tls else {
            return template::CLUSTER_PLAIN.fill(&common);
        };
        let client_certificate = match &tls.client_certificate {
            ClientCertificate::None => template::CLIENT_CERT_NONE.fill(&[])?,
            ClientCertificate::Files { cert, key } => template::CLIENT_CERT_FILES.fill(&[
                ("CERT", &cert.display().to_string()),
                ("KEY", &key.display().to_string()),
            ])?,
            ClientCertificate::Sds { secret, sds_path } => template::CLIENT_CERT_SDS.fill(&[
                ("SECRET", secret),
                ("SDS_PATH", &sds_path.display().to_string()),
                ("SDS_DIR", &XdsPaths::watched_directory(sds_path)),
            ])?,
        };
        let settings = &tls.settings;
        let ciphers = match settings.cipher_suites.is_empty() {
            true => String::new(),
            false => format!(
                "cipher_suites: {}",
                serde_json::to_string(&settings.cipher_suites).unwrap_or_else(|_| "[]".into())
            ),
        };
        let tls_params = template::UPSTREAM_TLS_PARAMS.fill(&[
            ("MIN", settings.min_version.unwrap_or("TLS_AUTO")),
            ("MAX", settings.max_version),
            ("CIPHERS", &ciphers),
        ])?;
        let validation = match (&settings.pinned_spki, &tls.ca) {
            (Some(spki), _) => template::UPSTREAM_VALIDATION_SPKI.fill(&[(
                "SPKI",
                &serde_json::to_string(spki).unwrap_or_else(|_| "[]".into()),
            )])?,
            (None, Some(ca)) => {
                let san_type = if tls.sni.parse::<IpAddr>().is_ok() {
                    "IP_ADDRESS"
                } else {
                    "DNS"
                };
                template::UPSTREAM_VALIDATION.fill(&[
                    ("CA", &ca.display().to_string()),
                    ("SNI", &tls.sni),
                    ("SAN_TYPE", san_type),
                ])?
            }
            (None, None) => String::new(),
        };
        let mut values = common.to_vec();
        values.extend([
            ("SNI", tls.sni.as_str()),
            ("CLIENT_CERTIFICATE", client_certificate.as_str()),
            ("TLS_PARAMS", tls_params.as_str()),
            ("VALIDATION", validation.as_str()),
        ]);
        template::CLUSTER_TLS.fill(&values)
    }
}

impl Secret {
    /// The SDS file holding this one secret.
    pub fn render_sds(&self) -> Result<String, TemplateError> {
        let secret = template::SECRET.fill(&[
            ("SECRET", &self.name),
            ("CERT", &self.cert.display().to_string()),
            ("KEY", &self.key.display().to_string()),
        ])?;
        xds_file(&[secret], SECRET_TYPE)
    }
}

fn xds_file(resources: &[String], type_url: &str) -> Result<String, TemplateError> {
    let items: String = resources
        .iter()
        .map(|r| template::with_type_url(r, type_url))
        .collect();
    template::XDS_RESOURCES.fill(&[("RESOURCES", &yaml_list(items))])
}

/// Concatenated list items, or `[]`: an empty list must still be a YAML list.
fn yaml_list(items: String) -> String {
    if items.trim().is_empty() {
        "[]".to_owned()
    } else {
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(default_route: DefaultRoute, client_certificate: ClientCertificate) -> EnvoyLayout {
        EnvoyLayout {
            admin: "127.0.0.1:0".parse().unwrap(),
            listeners: vec![
                Listener::tls_files(
                    TLS_LISTENER,
                    "127.0.0.1:8443".parse().unwrap(),
                    "/s.pem".into(),
                    "/s.key".into(),
                ),
                Listener::plain(PLAIN_LISTENER, "127.0.0.1:8080".parse().unwrap()),
            ],
            http: HttpFilter {
                gate_json: r#"{"apis": []}"#.into(),
                vm_env_keys: vec![],
                module: GateModule::Wasm("/f.wasm".into()),
                default_route,
            },
            clusters: vec![
                Cluster {
                    name: "up".into(),
                    endpoint: Endpoint {
                        host: "::1".into(),
                        port: 9443,
                    },
                    tls: Some(UpstreamTls {
                        sni: "::1".into(),
                        ca: Some("/ca.pem".into()),
                        client_certificate,
                        settings: UpstreamTlsSettings::default(),
                    }),
                },
                Cluster {
                    name: "named".into(),
                    endpoint: Endpoint {
                        host: "api.example.test".into(),
                        port: 80,
                    },
                    tls: None,
                },
            ],
        }
    }

    #[test]
    fn every_variant_fills_every_template() {
        let files = ClientCertificate::Files {
            cert: "/c.pem".into(),
            key: "/c.key".into(),
        };
        let sds = ClientCertificate::Sds {
            secret: "s".into(),
            sds_path: "/out/secrets/s.yaml".into(),
        };
        let static_yaml = layout(DefaultRoute::Cluster("up".into()), files)
            .render_static()
            .unwrap();
        assert!(static_yaml.contains(r#"private_key: {filename: "/c.key"}"#));
        assert!(static_yaml.contains(r#"route: {cluster: "up", timeout: 15s}"#));
        // An IP upstream: STATIC, its SAN checked as an IP address.
        assert!(static_yaml.contains("san_type: IP_ADDRESS"));
        assert!(static_yaml.contains("type: STRICT_DNS"));

        let dynamic = layout(DefaultRoute::NotFound, sds);
        let cds = dynamic.render_cds().unwrap();
        assert!(
            cds.contains(r#"watched_directory: {path: "/out/secrets"}"#),
            "{cds}"
        );
        assert_eq!(cds.matches(CLUSTER_TYPE).count(), 2);
        let lds = dynamic.render_lds().unwrap();
        assert_eq!(lds.matches(LISTENER_TYPE).count(), 2);
        assert!(lds.contains("status: 404"));
        let bootstrap = dynamic
            .render_dynamic_bootstrap(&XdsPaths {
                lds: "/out/xds/lds.yaml".into(),
                cds: "/out/xds/cds.yaml".into(),
            })
            .unwrap();
        assert!(bootstrap.contains(r#"watched_directory: {path: "/out/xds"}"#));
        assert!(!bootstrap.contains("static_resources"));
    }

    #[test]
    fn an_empty_resource_list_is_still_a_list() {
        let mut empty = layout(DefaultRoute::NotFound, ClientCertificate::None);
        empty.clusters.clear();
        assert!(empty.render_cds().unwrap().ends_with("resources:\n  []\n"));
    }

    /// A gate JSON with every character YAML or JSON escaping could get wrong.
    const TRICKY_GATE: &str = "{\"apis\": [], \"note\": \"q\\\" b\\\\ #: {x} \u{e9}\\n\"}";

    /// Each HCM's `http_filters`, read by indentation: every entry's name and lines.
    fn http_filters(yaml: &str) -> Vec<Vec<(String, Vec<String>)>> {
        let mut hcms = Vec::new();
        let mut lines = yaml.lines().peekable();
        while let Some(line) = lines.next() {
            let key = line.trim_start();
            if key != "http_filters:" {
                continue;
            }
            let indent = line.len() - key.len();
            let mut filters: Vec<(String, Vec<String>)> = Vec::new();
            while let Some(next) = lines.next_if(|l| {
                let t = l.trim_start();
                let i = l.len() - t.len();
                i > indent || (i == indent && (t.starts_with("- ") || t.starts_with('#')))
            }) {
                let t = next.trim_start();
                let at_item = next.len() - t.len() == indent;
                match t.strip_prefix("- name: ") {
                    Some(name) if at_item => filters.push((name.to_owned(), Vec::new())),
                    _ if t.starts_with('#') => {}
                    _ => {
                        let (_, entry) = filters.last_mut().expect("a line before any entry");
                        entry.push(t.to_owned());
                    }
                }
            }
            hcms.push(filters);
        }
        hcms
    }

    /// The gate JSON an entry carries (its `value:`, a YAML double-quoted scalar that is a
    /// JSON string literal), parsed.
    fn carried_gate(entry: &[String]) -> serde_json::Value {
        let values: Vec<&String> = entry.iter().filter(|l| l.starts_with("value: ")).collect();
        assert_eq!(values.len(), 1, "{entry:?}");
        let literal = values[0].trim_start_matches("value: ");
        let json: String = serde_json::from_str(literal).unwrap();
        serde_json::from_str(&json).unwrap()
    }

    fn with_module(module: GateModule) -> EnvoyLayout {
        let mut layout = layout(DefaultRoute::NotFound, ClientCertificate::None);
        layout.http.gate_json = TRICKY_GATE.into();
        layout.http.vm_env_keys = vec!["MTLS_GATE_TOKEN".into()];
        layout.http.module = module;
        layout
    }

    #[test]
    fn the_native_module_replaces_the_wasm_filter_before_the_router_with_the_same_gate_json() {
        let gate: serde_json::Value = serde_json::from_str(TRICKY_GATE).unwrap();
        let native = with_module(GateModule::Native("/opt/lib/libmtls_gate_native.so".into()));
        for yaml in [
            native.render_static().unwrap(),
            native.render_lds().unwrap(),
        ] {
            assert!(!yaml.contains("envoy.filters.http.wasm"), "{yaml}");
            assert!(!yaml.contains("vm_config"), "{yaml}");
            let hcms = http_filters(&yaml);
            assert_eq!(hcms.len(), 2, "one HCM per listener");
            for filters in hcms {
                let names: Vec<&str> = filters.iter().map(|(n, _)| n.as_str()).collect();
                assert_eq!(
                    names,
                    [
                        "envoy.filters.http.dynamic_modules",
                        "envoy.filters.http.router"
                    ]
                );
                let entry = &filters[0].1;
                for line in [
                    "\"@type\": type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
                    r#"module: {local: {filename: "/opt/lib/libmtls_gate_native.so"}}"#,
                    "do_not_close: true",
                    "metrics_namespace: wasmcustom",
                    "filter_name: mtls_gate",
                    "\"@type\": type.googleapis.com/google.protobuf.StringValue",
                ] {
                    assert!(entry.iter().any(|l| l == line), "{line} in {entry:?}");
                }
                assert_eq!(carried_gate(entry), gate);
            }
        }
    }

    #[test]
    fn without_the_native_module_the_wasm_filter_carries_the_gate_json_as_before() {
        let gate: serde_json::Value = serde_json::from_str(TRICKY_GATE).unwrap();
        let wasm = with_module(GateModule::Wasm("/opt/mtls_gate_filter.wasm".into()));
        let yaml = wasm.render_lds().unwrap();
        assert!(!yaml.contains("dynamic_modules"), "{yaml}");
        for filters in http_filters(&yaml) {
            let names: Vec<&str> = filters.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(
                names,
                ["envoy.filters.http.wasm", "envoy.filters.http.router"]
            );
            assert_eq!(carried_gate(&filters[0].1), gate);
        }
        // The block itself, as the HCM template had it inline before it moved to its own
        // template: a wasm render must stay byte-for-byte the same.
        let value = yaml_string(TRICKY_GATE);
        assert_eq!(
            wasm.http.render().unwrap(),
            format!(
                r#"- name: envoy.filters.http.wasm
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
    config:
      name: mtls_gate
      root_id: ""
      configuration:
        "@type": type.googleapis.com/google.protobuf.StringValue
        value: {value}
      vm_config:
        vm_id: mtls_gate
        runtime: envoy.wasm.runtime.v8
        code: {{local: {{filename: "/opt/mtls_gate_filter.wasm"}}}}
        environment_variables: {{host_env_keys: ["MTLS_GATE_TOKEN"]}}
"#
            )
        );
        // Both carry the gate JSON in the same escaped literal.
        let native = with_module(GateModule::Native("/m.so".into()));
        let native_value = format!("value: {value}");
        assert!(native.http.render().unwrap().contains(&native_value));
    }
}
