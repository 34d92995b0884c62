//! Which clusters and secrets a gate needs, decided with the filter's own functions.
//!
//! Per API with a `proxy.target_url`:
//! - the plain cluster `cluster_name(api_id, None)`: TLS without a client certificate for an
//!   `https` target (SNI = the target host), plain HTTP for an `http` one;
//! - when the certificate chosen for the target (`choose_upstream_certificate`: API map
//!   beats global map, Tyk host precedence) has a private key (in the store index, or inline
//!   PEM with its key), the cluster `cluster_name(api_id, Some(fingerprint))`, presenting it
//!   through file-based SDS.
//!
//! Both clusters of an `https` target carry the API's pins, TLS versions and ciphers
//! ([`super::upstream_tls`], SPEC §6b).
//!
//! The routed name comes from `decision::upstream_cluster` over the same store index, so
//! every name the filter can route to is rendered, and nothing else.
//!
//! An inline upstream certificate with its private key (Tyk accepts one) is written like a
//! stored one; [`hold_inline_keys`] takes the key out of the filter's configuration first,
//! leaving the core's [`HELD_KEY_LABEL`] marker, so the filter still routes to the cluster
//! that presents it while no key shows in Envoy's `/config_dump`.

use super::RenderError;
use super::envoy::{ClientCertificate, Cluster, Endpoint, Secret, UpstreamTls};
use super::resolve::{self, Role};
use super::upstream_tls;
use crate::certificates::{pem_text, private_key};
use crate::store::Store;
use mtls_gate_core::cert_ref::{CertRef, HELD_KEY_LABEL};
use mtls_gate_core::certificate::parse_bundle;
use mtls_gate_core::config::{ApiSpec, ConfigError, GateConfig};
use mtls_gate_core::decision::{SessionLookup, StoreView, upstream_cluster};
use mtls_gate_core::feed::CertIndexEntry;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::ids::CertificateId;
use mtls_gate_core::pem::{looks_like_pem, parse_blocks};
use mtls_gate_core::upstream::{choose_upstream_certificate, cluster_name};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use zeroize::Zeroizing;

/// How upstream clusters connect.
#[derive(Debug, Clone, Default)]
pub struct UpstreamOptions {
    /// Verify `https` upstreams against this CA bundle; `None` does not verify them.
    pub ca: Option<PathBuf>,
    /// Connect to these addresses instead of resolving the target host (curl's `--resolve`).
    pub resolve: Vec<Resolve>,
}

/// `HOST:PORT:ADDR`: connect to ADDR for target HOST:PORT; SNI and certificate matching
/// still use HOST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    pub host: String,
    pub port: u16,
    pub addr: IpAddr,
}

impl FromStr for Resolve {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}`: expected HOST:PORT:ADDR, e.g. api.example.com:443:127.0.0.1");
        let (host, rest) = s.split_once(':').ok_or_else(bad)?;
        let (port, addr) = rest.split_once(':').ok_or_else(bad)?;
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        Ok(Resolve {
            host: host.to_ascii_lowercase(),
            port: port.parse().map_err(|_| bad())?,
            addr: addr.parse().map_err(|_| bad())?,
        })
    }
}

/// The clusters of one API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUpstream {
    pub api_id: String,
    /// The target's `host[:port]`, which the certificate maps are matched against.
    pub target: String,
    pub plain_cluster: Cluster,
    /// The cluster with the chosen client certificate, when that certificate has a key.
    pub certificate_cluster: Option<CertificateCluster>,
    /// The cluster the filter routes this API's requests to.
    pub routed_cluster: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateCluster {
    pub cluster: Cluster,
    pub certificate_id: String,
    /// Bare 64 lowercase hex.
    pub fingerprint: String,
}

/// An upstream client certificate to write: the SDS file and the PEM files it names.
pub struct PlannedSecret {
    pub secret: Secret,
    /// Bare 64 lowercase hex.
    pub fingerprint: String,
    pub sds_path: PathBuf,
    pub cert_pem: String,
    pub key_pem: Zeroizing<String>,
}

pub struct Plan {
    pub apis: Vec<ApiUpstream>,
    pub secrets: Vec<PlannedSecret>,
    pub warnings: Vec<String>,
}

impl Plan {
    /// Every upstream cluster, plain ones first per API.
    pub fn clusters(&self) -> impl Iterator<Item = Cluster> + '_ {
        self.apis.iter().flat_map(|api| {
            std::iter::once(api.plain_cluster.clone())
                .chain(api.certificate_cluster.iter().map(|c| c.cluster.clone()))
        })
    }
}

/// The store index as the filter sees it after a sync.
struct StoreIndex(HashMap<CertificateId, CertIndexEntry>);

impl StoreView for StoreIndex {
    fn certificate(&self, id: &str) -> Option<CertIndexEntry> {
        self.0.get(id).cloned()
    }
    fn session(&self, _key: &str) -> SessionLookup {
        SessionLookup::Absent
    }
    fn is_stale(&self, _now: i64) -> bool {
        false
    }

    fn version(&self) -> u64 {
        0
    }
}

/// Plans the upstream clusters of `config`; secret files go in `secrets_dir`. Without the
/// gate's inline keys ([`hold_inline_keys`]), the clusters of inline certificates are planned
/// but their secrets are not: enough to know which clusters a render makes.
pub fn plan(
    config: &GateConfig,
    store: &Store,
    options: &UpstreamOptions,
    secrets_dir: &Path,
) -> Result<Plan, RenderError> {
    plan_with_keys(config, store, options, secrets_dir, None)
}

/// [`plan`], writing the secrets of inline upstream certificates from `inline`.
pub fn plan_with_keys(
    config: &GateConfig,
    store: &Store,
    options: &UpstreamOptions,
    secrets_dir: &Path,
    inline: Option<&InlineKeys>,
) -> Result<Plan, RenderError> {
    let index = StoreIndex(
        store
            .certificates(None)?
            .into_iter()
            .map(|c| (c.id.clone(), c.index_entry()))
            .collect(),
    );
    let mut plan = Plan {
        apis: Vec::new(),
        secrets: Vec::new(),
        warnings: Vec::new(),
    };
    for api in &config.apis {
        let Some(target) = &api.target else { continue };
        let Some(routed) = upstream_cluster(api, &index).map(str::to_owned) else {
            continue;
        };
        let host = target.host().to_owned();
        let port = target.port();
        let endpoint = options
            .resolve
            .iter()
            .find(|r| r.host == host && r.port == port)
            .map(|r| Endpoint {
                host: r.addr.to_string(),
                port,
            })
            .unwrap_or(Endpoint {
                host: host.clone(),
                port,
            });
        let https = target.scheme == "https";
        let api_tls = match https {
            true => Some(upstream_tls::api_tls(
                config,
                api,
                &target.authority,
                store,
                &mut plan.warnings,
            )?),
            false => None,
        };
        let cluster = |name: String, client_certificate: ClientCertificate| Cluster {
            name,
            endpoint: endpoint.clone(),
            tls: api_tls.as_ref().map(|tls| UpstreamTls {
                sni: host.clone(),
                ca: options.ca.clone().filter(|_| !tls.skip_verify),
                client_certificate,
                settings: tls.settings.clone(),
            }),
        };
        let plain_name = cluster_name(&api.api_id, None);
        let certificate_cluster = if routed == plain_name {
            None
        } else {
            let chosen = secret_for(config, api, store, secrets_dir, inline)?;
            let certificate_id = chosen.certificate_id;
            if !https {
                plan.warnings.push(format!(
                    "API {}: target {} is plain http, so its upstream certificate {certificate_id} is not presented",
                    api.api_id, target.authority
                ));
            }
            let fingerprint = chosen.fingerprint.to_hex();
            let [sds_path, _, _] =
                secret_files(secrets_dir, &fingerprint, SecretRole::UpstreamClient);
            let client_certificate = ClientCertificate::Sds {
                secret: secret_name(&fingerprint, SecretRole::UpstreamClient),
                sds_path,
            };
            if let Some(secret) = chosen.secret
                && !plan.secrets.iter().any(|s| s.secret == secret.secret)
            {
                plan.secrets.push(secret);
            }
            Some(CertificateCluster {
                cluster: cluster(routed.clone(), client_certificate),
                certificate_id,
                fingerprint,
            })
        };
        plan.apis.push(ApiUpstream {
            api_id: api.api_id.clone(),
            target: target.authority.clone(),
            plain_cluster: cluster(plain_name, ClientCertificate::None),
            certificate_cluster,
            routed_cluster: routed,
        });
    }
    Ok(plan)
}

/// The certificate the filter chose for `api`, and its key material when known.
struct ChosenCertificate {
    /// Its store ID, or `inline PEM <fingerprint>`.
    certificate_id: String,
    fingerprint: Fingerprint,
    /// `None` only for an inline certificate planned without the gate's keys.
    secret: Option<PlannedSecret>,
}

/// The certificate the filter chose for `api` (it has a key, or the filter would have
/// routed to the plain cluster): a stored one, or inline PEM with its key.
fn secret_for(
    config: &GateConfig,
    api: &ApiSpec,
    store: &Store,
    secrets_dir: &Path,
    inline: Option<&InlineKeys>,
) -> Result<ChosenCertificate, RenderError> {
    let target = api
        .target
        .as_ref()
        .map(|t| t.authority.as_str())
        .unwrap_or("");
    let api_map = (!api.upstream_certificates_disabled).then_some(&api.upstream_certificates);
    match choose_upstream_certificate(target, api_map, &config.global_upstream) {
        Some(CertRef::StoreId { id, fingerprint }) => Ok(ChosenCertificate {
            certificate_id: id.clone(),
            fingerprint: *fingerprint,
            secret: Some(stored_secret(
                store,
                id,
                secrets_dir,
                SecretRole::UpstreamClient,
            )?),
        }),
        Some(CertRef::Pinned { fingerprint, .. }) => {
            let hex = fingerprint.to_hex();
            let secret = match inline {
                None => None,
                Some(keys) => {
                    let key = keys.by_fingerprint.get(fingerprint).ok_or_else(|| {
                        RenderError::MissingPrivateKey {
                            id: format!("inline PEM {hex}"),
                        }
                    })?;
                    Some(pem_secret(
                        &hex,
                        &key.cert_pem,
                        &key.key_der,
                        secrets_dir,
                        SecretRole::UpstreamClient,
                    ))
                }
            };
            Ok(ChosenCertificate {
                certificate_id: format!("inline PEM {hex}"),
                fingerprint: *fingerprint,
                secret,
            })
        }
        // The filter routes to a certificate cluster only when a certificate was chosen.
        None => Err(RenderError::MissingPrivateKey {
            id: format!("for API {}", api.api_id),
        }),
    }
}

/// Private keys of inline upstream certificates, by certificate fingerprint
/// ([`hold_inline_keys`]).
#[derive(Default)]
pub struct InlineKeys {
    by_fingerprint: HashMap<Fingerprint, InlineKey>,
}

struct InlineKey {
    /// The certificate chain, leaf first.
    cert_pem: String,
    key_der: Zeroizing<Vec<u8>>,
}

/// The filter's configuration without the private keys of inline upstream certificates,
/// and those keys.
pub struct HeldKeys {
    pub filter_json: String,
    pub keys: InlineKeys,
}

/// Takes each private key of an inline upstream certificate (an upstream map entry, Classic
/// or OAS) out of `filter_json`, leaving the core's [`HELD_KEY_LABEL`] marker in its place
/// (SPEC §6b). A key that does not match its certificate is refused with the entry's path.
pub fn hold_inline_keys(filter_json: &str) -> Result<HeldKeys, RenderError> {
    let Ok(mut gate) = serde_json::from_str::<serde_json::Value>(filter_json) else {
        return Ok(HeldKeys {
            filter_json: filter_json.to_owned(),
            keys: InlineKeys::default(),
        });
    };
    let mut keys = InlineKeys::default();
    let mut replaced: Vec<(String, String)> = Vec::new();
    for reference in resolve::references(&gate) {
        if reference.role != Role::Upstream || !looks_like_pem(&reference.entry) {
            continue;
        }
        let refuse =
            |reason: String| RenderError::Gate(ConfigError::invalid(&reference.field, reason));
        let Ok(blocks) = parse_blocks(&reference.entry) else {
            continue; // the config's own validation names it
        };
        let Some(key) = blocks
            .iter()
            .find(|b| b.is_private_key() && b.label != HELD_KEY_LABEL)
        else {
            continue;
        };
        let bundle = parse_bundle(&reference.entry).map_err(|e| refuse(e.to_string()))?;
        let (Some(leaf), Some(fingerprint)) = (bundle.leaf(), bundle.fingerprint()) else {
            continue;
        };
        private_key::check_key_pair(&key.der, &leaf.spki_der)
            .map_err(|e| refuse(format!("its private key: {e}")))?;
        let cert_pem: String = blocks
            .iter()
            .filter(|b| b.is_certificate())
            .map(|b| pem_text::encode(&b.label, &b.der))
            .collect();
        let marker = format!("-----BEGIN {HELD_KEY_LABEL}-----\n-----END {HELD_KEY_LABEL}-----\n");
        replaced.push((reference.entry.clone(), format!("{cert_pem}{marker}")));
        keys.by_fingerprint.insert(
            fingerprint,
            InlineKey {
                cert_pem,
                key_der: Zeroizing::new(key.der.clone()),
            },
        );
    }
    if replaced.is_empty() {
        return Ok(HeldKeys {
            filter_json: filter_json.to_owned(),
            keys,
        });
    }
    replace_strings(&mut gate, &replaced);
    Ok(HeldKeys {
        filter_json: gate.to_string(),
        keys,
    })
}

/// Replaces every string value of `value` that equals a `from` of `pairs` by its `to`.
fn replace_strings(value: &mut serde_json::Value, pairs: &[(String, String)]) {
    match value {
        serde_json::Value::String(text) => {
            if let Some((_, to)) = pairs.iter().find(|(from, _)| from == text) {
                *text = to.clone();
            }
        }
        serde_json::Value::Array(items) => {
            items
                .iter_mut()
                .for_each(|item| replace_strings(item, pairs));
        }
        serde_json::Value::Object(fields) => {
            fields
                .values_mut()
                .for_each(|item| replace_strings(item, pairs));
        }
        _ => {}
    }
}

/// What Envoy does with a certificate and key `render` writes: it names the SDS secret and
/// its file. The PEM files (`<sha256>.crt.pem`, `.key.pem`) are shared by both roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretRole {
    /// Presented to an upstream (`upstream-client-<sha256>`, `<sha256>.yaml`).
    UpstreamClient,
    /// The listener's server certificate (`server-<sha256>`, `<sha256>.server.yaml`).
    Server,
}

/// The secret of store certificate `id`, with its key decrypted from the store.
pub fn stored_secret(
    store: &Store,
    id: &str,
    secrets_dir: &Path,
    role: SecretRole,
) -> Result<PlannedSecret, RenderError> {
    let missing = || RenderError::MissingPrivateKey { id: id.to_owned() };
    let stored = store.certificate(id)?.ok_or_else(missing)?;
    let key_der = store.private_key(id)?.ok_or_else(missing)?;
    Ok(pem_secret(
        &stored.fingerprint.to_hex(),
        &stored.material_pem,
        &key_der,
        secrets_dir,
        role,
    ))
}

/// The secret of a certificate chain (PEM) and its private key (DER).
pub fn pem_secret(
    fingerprint: &str,
    cert_pem: &str,
    key_der: &[u8],
    secrets_dir: &Path,
    role: SecretRole,
) -> PlannedSecret {
    let name = secret_name(fingerprint, role);
    let [sds_path, cert, key] = secret_files(secrets_dir, fingerprint, role);
    PlannedSecret {
        secret: Secret { name, cert, key },
        sds_path,
        fingerprint: fingerprint.to_owned(),
        cert_pem: cert_pem.to_owned(),
        key_pem: Zeroizing::new(pem_text::encode(private_key_label(key_der), key_der)),
    }
}

/// The SDS secret's name for a certificate in `role`.
pub fn secret_name(fingerprint: &str, role: SecretRole) -> String {
    match role {
        SecretRole::UpstreamClient => format!("upstream-client-{fingerprint}"),
        SecretRole::Server => format!("server-{fingerprint}"),
    }
}

/// The files of one secret: the SDS resource, the certificate PEM and the key PEM.
pub fn secret_files(secrets_dir: &Path, fingerprint: &str, role: SecretRole) -> [PathBuf; 3] {
    let sds_file = match role {
        SecretRole::UpstreamClient => format!("{fingerprint}.yaml"),
        SecretRole::Server => format!("{fingerprint}.server.yaml"),
    };
    [
        secrets_dir.join(sds_file),
        secrets_dir.join(format!("{fingerprint}.crt.pem")),
        secrets_dir.join(format!("{fingerprint}.key.pem")),
    ]
}

/// The PEM label of a stored private key (the store keeps the DER as uploaded).
fn private_key_label(der: &[u8]) -> &'static str {
    if pkcs8::PrivateKeyInfo::try_from(der).is_ok() {
        "PRIVATE KEY"
    } else if sec1::EcPrivateKey::try_from(der).is_ok() {
        "EC PRIVATE KEY"
    } else {
        "RSA PRIVATE KEY"
    }
}

/// Is this a file `render` writes into the secrets directory
/// (`<sha256>.{yaml,server.yaml,crt.pem,key.pem}`)?
pub fn is_secret_file_name(name: &str) -> bool {
    [".yaml", ".server.yaml", ".crt.pem", ".key.pem"]
        .iter()
        .any(|suffix| {
            name.strip_suffix(suffix).is_some_and(|fp| {
                fp.len() == 64
                    && fp
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
        })
}
