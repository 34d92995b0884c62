//! An API's upstream TLS as Tyk sets it (SPEC §6b), for that API's clusters:
//!
//! - **pins**: `pinned_public_keys` (unless `certificate_pinning_disabled`) and
//!   `security.pinned_public_keys`, matched to the target host by the core's
//!   `pinning::pins_for_host` (the filter decides with the same function that the target is
//!   pinned). Each key becomes Envoy's `verify_certificate_spki` entry, the base64 SHA-256 of
//!   the SPKI: an inline `PUBLIC KEY` or a bare hash carries it; a store ID is the store's
//!   public-key entry, whose ID is that hash. A key the store lacks (or holds as a
//!   certificate) matches nothing, as in Tyk, and is warned about; a pinned host with no
//!   usable key fails closed.
//! - **versions and ciphers**: `proxy.transport.ssl_min_version` / `ssl_max_version` (TLS 1.3
//!   at most when unset, as Tyk's Go client) and `ssl_ciphers` (the core's
//!   `tls_cipher` table: Go names to BoringSSL names).
//! - **`ssl_insecure_skip_verify`**: no chain verification (pins still apply, as in Tyk).
//! - **`ssl_force_common_name_check`**: refused, see [`COMMON_NAME_CHECK`].

use super::RenderError;
use super::envoy::{DEFAULT_MAX_TLS_VERSION, UpstreamTlsSettings};
use crate::certificates::upload::MaterialKind;
use crate::store::Store;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mtls_gate_core::cert_ref::CertRef;
use mtls_gate_core::config::{ApiSpec, GateConfig};
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::pinning::pins_for_host;
use mtls_gate_core::tls_cipher;

/// Why `ssl_force_common_name_check` is refused rather than rendered.
pub const COMMON_NAME_CHECK: &str = "Envoy cannot check an upstream certificate's common \
    name (its validation matches subject alternative names only, and no filter sees the \
    upstream's certificate before the request is sent), so the check Tyk makes cannot be \
    rendered; remove the setting and give the upstream a certificate whose SAN names the host \
    (checked with render's --upstream-ca), or pin its key with pinned_public_keys";

/// An SPKI hash no key has (SHA-256 preimages are unknown): what a pinned host whose keys
/// are all missing from the store gets, so that it fails closed.
const NO_KEY_SPKI: [u8; 32] = [0; 32];

/// What the API's clusters get, and whether their chain is verified at all.
pub struct ApiTls {
    pub settings: UpstreamTlsSettings,
    /// `ssl_insecure_skip_verify`: render's `--upstream-ca` does not apply to this API.
    pub skip_verify: bool,
}

/// The TLS settings of `api`'s `https` target. Warnings (pins that match nothing) are pushed
/// onto `warnings`.
pub fn api_tls(
    config: &GateConfig,
    api: &ApiSpec,
    target_authority: &str,
    store: &Store,
    warnings: &mut Vec<String>,
) -> Result<ApiTls, RenderError> {
    let refuse = |field: String, reason: String| RenderError::UpstreamTls {
        api_id: api.api_id.clone(),
        field,
        reason,
    };
    let transport = &api.upstream_transport;
    if transport.force_common_name_check {
        return Err(refuse(
            "proxy.transport.ssl_force_common_name_check".into(),
            COMMON_NAME_CHECK.into(),
        ));
    }
    let mut settings = UpstreamTlsSettings::default();
    let version = |number: Option<u16>, field: &str| match number {
        None => Ok(None),
        Some(number) => tls_cipher::envoy_version(number).map(Some).ok_or_else(|| {
            refuse(
                format!("proxy.transport.{field}"),
                format!("{number} is not a TLS version"),
            )
        }),
    };
    settings.min_version = version(transport.min_version, "ssl_min_version")?;
    if let Some(max) = version(transport.max_version, "ssl_max_version")? {
        settings.max_version = max;
    }
    let mut tls13_only = !transport.ciphers.is_empty();
    for (i, name) in transport.ciphers.iter().enumerate() {
        let suite = tls_cipher::resolve(name)
            .map_err(|reason| refuse(format!("proxy.transport.ssl_ciphers[{i}]"), reason))?;
        if let Some(boringssl) = suite.boringssl_name {
            tls13_only = false;
            if !settings.cipher_suites.contains(&boringssl) {
                settings.cipher_suites.push(boringssl);
            }
        }
    }
    if tls13_only {
        // Only TLS 1.3 suites listed: Tyk's (Go's) list then holds no cipher for TLS 1.2 and
        // below, and BoringSSL cannot be given an empty one, so the floor says the same.
        if settings.max_version != DEFAULT_MAX_TLS_VERSION {
            return Err(refuse(
                "proxy.transport.ssl_ciphers".into(),
                "only TLS 1.3 suites are listed, which leave no cipher below TLS 1.3, and \
                 ssl_max_version is below TLS 1.3: no handshake could succeed"
                    .into(),
            ));
        }
        settings.min_version = Some(DEFAULT_MAX_TLS_VERSION);
    }
    let own_pins = (!api.certificate_pinning_disabled).then_some(&api.pins);
    if let Some(keys) = pins_for_host(target_authority, own_pins, &config.global_pins) {
        settings.pinned_spki = Some(pinned_spki(api, target_authority, keys, store, warnings)?);
    }
    Ok(ApiTls {
        settings,
        skip_verify: transport.insecure_skip_verify,
    })
}

/// Envoy's `verify_certificate_spki` list for `keys`, never empty.
fn pinned_spki(
    api: &ApiSpec,
    target: &str,
    keys: &[CertRef],
    store: &Store,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, RenderError> {
    let spki = |fingerprint: &Fingerprint| STANDARD.encode(fingerprint.as_bytes());
    let mut pinned = Vec::new();
    for key in keys {
        let hash = match key {
            CertRef::Pinned { fingerprint, .. } => Some(spki(fingerprint)),
            CertRef::StoreId { id, .. } => match store.certificate(id)? {
                Some(stored) if stored.kind == MaterialKind::PublicKey => {
                    Some(spki(&stored.fingerprint))
                }
                Some(_) => {
                    warnings.push(format!(
                        "API {}: pin {id} for {target} is a certificate, not a public key, so \
                         it matches no upstream key (as in Tyk); upload the key instead \
                         (`openssl x509 -pubkey -noout`)",
                        api.api_id
                    ));
                    None
                }
                None => {
                    warnings.push(format!(
                        "API {}: pinned public key {id} for {target} is not in the store; it \
                         matches nothing until it is uploaded",
                        api.api_id
                    ));
                    None
                }
            },
        };
        if let Some(hash) = hash
            && !pinned.contains(&hash)
        {
            pinned.push(hash);
        }
    }
    if pinned.is_empty() {
        warnings.push(format!(
            "API {}: {target} is pinned but none of its keys is usable: every connection to it \
             fails (Tyk's pinning error) until one is",
            api.api_id
        ));
        pinned.push(STANDARD.encode(NO_KEY_SPKI));
    }
    Ok(pinned)
}

#[cfg(test)]
mod tests {
    use super::super::envoy::{Cluster, Endpoint, GateModule};
    use super::super::plan::{self, Plan, UpstreamOptions};
    use super::super::{RenderOptions, prepare_gate, render_dir};
    use super::*;
    use crate::certificates::{self, pem_text};
    use crate::secret::Secret;
    use crate::store::sqlite::SqliteBackend;
    use mtls_gate_core::certificate::parse_certificate;
    use mtls_gate_testkit::ca::{Leaf, TestCa};
    use serde_json::{Value, json};
    use std::path::PathBuf;

    struct Fixture {
        dir: tempfile::TempDir,
        store: Store,
        ca: TestCa,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let secret = Secret::new("upstream-tls-secret", "secret").unwrap();
            let backend = SqliteBackend::open(&dir.path().join("store.db")).unwrap();
            Fixture {
                store: Store::open(backend, &secret).unwrap(),
                dir,
                ca: TestCa::new(),
            }
        }

        fn add(&self, pem: &str) -> String {
            certificates::add(&self.store, pem.as_bytes(), "acme", now()).unwrap()
        }

        fn plan(&self, gate: &Value) -> Result<Plan, RenderError> {
            let prepared = prepare_gate(gate.to_string().as_bytes(), "127.0.0.1:8181", None)?;
            let options = UpstreamOptions {
                ca: Some(PathBuf::from("/etc/upstream-ca.pem")),
                resolve: Vec::new(),
            };
            plan::plan(
                &prepared.config,
                &self.store,
                &options,
                &self.dir.path().join("secrets"),
            )
        }
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    /// The `PUBLIC KEY` PEM of a leaf, and the base64 SHA-256 Envoy pins it by.
    fn public_key(leaf: &Leaf) -> (String, String) {
        let spki = parse_certificate(&leaf.cert_der).unwrap().spki_der;
        (
            pem_text::encode("PUBLIC KEY", &spki),
            STANDARD.encode(Fingerprint::of_der(&spki).as_bytes()),
        )
    }

    fn api(id: &str, target: &str, extra: Value) -> Value {
        let mut api = json!({"api_id": id, "proxy": {"listen_path": format!("/{id}/"),
                             "target_url": target}});
        if let (Some(api), Value::Object(extra)) = (api.as_object_mut(), extra) {
            api.extend(extra);
        }
        api
    }

    /// A rendered cluster without its comment lines (the templates explain what they hold).
    fn yaml(cluster: &Cluster) -> String {
        cluster
            .render()
            .unwrap()
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn clusters(plan: &Plan) -> Vec<Cluster> {
        plan.clusters().collect()
    }

    fn settings<'a>(plan: &'a Plan, api_id: &str) -> &'a UpstreamTlsSettings {
        let api = plan.apis.iter().find(|a| a.api_id == api_id).unwrap();
        &api.plain_cluster.tls.as_ref().unwrap().settings
    }

    #[test]
    fn pins_become_spki_hashes_on_both_clusters_of_the_pinned_api_only() {
        let f = Fixture::new();
        let (stored, inline, upstream) =
            (f.ca.leaf("stored"), f.ca.leaf("inline"), f.ca.leaf("up"));
        let (stored_pem, stored_spki) = public_key(&stored);
        let (inline_pem, inline_spki) = public_key(&inline);
        let stored_id = f.add(&stored_pem);
        let client_id = f.add(&upstream.bundle());
        let missing = format!("acme{}", "ab".repeat(32));
        let gate = json!({"org_id": "acme", "store": {"cluster": "c", "authority": "a", "token": "t"},
            "apis": [
                api("pinned", "https://up.test:8443", json!({
                    "pinned_public_keys": {"up.test": format!("{stored_id},{inline_pem},{missing}")},
                    "upstream_certificates": {"up.test": client_id}})),
                api("other", "https://other.test", json!({}))]});
        let plan = f.plan(&gate).unwrap();
        let pinned: Vec<Cluster> = clusters(&plan)
            .into_iter()
            .filter(|c| {
                c.tls
                    .as_ref()
                    .is_some_and(|t| t.settings.pinned_spki.is_some())
            })
            .collect();
        assert_eq!(pinned.len(), 2, "the plain and the certificate cluster");
        assert_eq!(
            settings(&plan, "pinned").pinned_spki,
            Some(vec![stored_spki, inline_spki])
        );
        assert_eq!(settings(&plan, "other").pinned_spki, None);
        assert!(
            plan.warnings
                .iter()
                .any(|w| w.contains(&missing) && w.contains("not in the store")),
            "{:?}",
            plan.warnings
        );
        // Pinning replaces chain verification: the cluster YAML has the hashes, no CA.
        let pinned_yaml = yaml(&pinned[0]);
        assert!(
            pinned_yaml.contains("verify_certificate_spki: ["),
            "{pinned_yaml}"
        );
        assert!(!pinned_yaml.contains("trusted_ca"), "{pinned_yaml}");
        assert!(!pinned_yaml.contains("ACCEPT_UNTRUSTED"), "{pinned_yaml}");
        let other = &yaml(&plan.apis[1].plain_cluster);
        assert!(
            other.contains("trusted_ca: {filename: \"/etc/upstream-ca.pem\"}"),
            "{other}"
        );
    }

    #[test]
    fn a_disabled_api_keeps_the_global_pins_and_a_host_without_usable_keys_fails_closed() {
        let f = Fixture::new();
        let (global_pem, global_spki) = public_key(&f.ca.leaf("global"));
        let certificate = f.add(&f.ca.leaf("a-certificate").cert_pem);
        let gate = json!({"org_id": "acme", "store": {"cluster": "c", "authority": "a", "token": "t"},
            "security": {"pinned_public_keys": {"*.global.test": global_pem, "certs.test": certificate}},
            "apis": [
                api("disabled", "https://svc.global.test", json!({
                    "certificate_pinning_disabled": true,
                    "pinned_public_keys": {"*": "ab".repeat(32)}})),
                api("certs", "https://certs.test", json!({})),
                api("plain", "http://svc.global.test", json!({}))]});
        let plan = f.plan(&gate).unwrap();
        assert_eq!(
            settings(&plan, "disabled").pinned_spki,
            Some(vec![global_spki])
        );
        assert_eq!(
            settings(&plan, "certs").pinned_spki,
            Some(vec![STANDARD.encode(NO_KEY_SPKI)])
        );
        assert!(
            plan.warnings
                .iter()
                .any(|w| w.contains("is a certificate, not a public key"))
        );
        assert!(
            plan.warnings
                .iter()
                .any(|w| w.contains("every connection to it fails"))
        );
        let plain = plan.apis.iter().find(|a| a.api_id == "plain").unwrap();
        assert_eq!(
            plain.plain_cluster.tls, None,
            "nothing to pin over plain http"
        );
    }

    #[test]
    fn transport_settings_reach_tls_params() {
        let f = Fixture::new();
        let gate = json!({"apis": [
            api("tuned", "https://a.test", json!({"proxy": {"listen_path": "/tuned/",
                "target_url": "https://a.test", "transport": {
                "ssl_min_version": 771, "ssl_max_version": 771, "ssl_insecure_skip_verify": true,
                "ssl_ciphers": ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "tls_aes_128_gcm_sha256",
                                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"]}}})),
            api("tls13", "https://b.test", json!({"proxy": {"listen_path": "/tls13/",
                "target_url": "https://b.test", "transport": {"ssl_ciphers": ["TLS_AES_256_GCM_SHA384"]}}})),
            api("default", "https://c.test", json!({}))]});
        let plan = f.plan(&gate).unwrap();
        let tuned = &plan.apis[0].plain_cluster;
        assert_eq!(
            tuned.tls.as_ref().unwrap().settings,
            UpstreamTlsSettings {
                pinned_spki: None,
                min_version: Some("TLSv1_2"),
                max_version: "TLSv1_2",
                cipher_suites: vec![
                    "ECDHE-ECDSA-AES256-GCM-SHA384",
                    "ECDHE-RSA-CHACHA20-POLY1305"
                ],
            }
        );
        let tuned_yaml = yaml(tuned);
        assert!(
            tuned_yaml.contains("tls_minimum_protocol_version: TLSv1_2"),
            "{tuned_yaml}"
        );
        assert!(
            tuned_yaml.contains("tls_maximum_protocol_version: TLSv1_2"),
            "{tuned_yaml}"
        );
        assert!(
            tuned_yaml.contains(
                r#"cipher_suites: ["ECDHE-ECDSA-AES256-GCM-SHA384","ECDHE-RSA-CHACHA20-POLY1305"]"#
            ),
            "{tuned_yaml}"
        );
        assert!(
            !tuned_yaml.contains("validation_context"),
            "skip verify: {tuned_yaml}"
        );
        // Only TLS 1.3 suites: nothing below TLS 1.3 is left, as in Tyk.
        assert_eq!(settings(&plan, "tls13").min_version, Some("TLSv1_3"));
        assert!(settings(&plan, "tls13").cipher_suites.is_empty());
        let default = yaml(&plan.apis[2].plain_cluster);
        assert!(
            default.contains("tls_minimum_protocol_version: TLS_AUTO"),
            "{default}"
        );
        assert!(
            default.contains("tls_maximum_protocol_version: TLSv1_3"),
            "{default}"
        );
        assert!(!default.contains("cipher_suites"), "{default}");
        assert!(default.contains("trusted_ca"), "{default}");
    }

    #[test]
    fn the_common_name_check_and_impossible_cipher_lists_are_refused_with_why() {
        let f = Fixture::new();
        let cn = json!({"apis": [api("cn", "https://a.test", json!({"proxy": {"listen_path": "/cn/",
            "target_url": "https://a.test", "transport": {"ssl_force_common_name_check": true}}}))]});
        let error = f.plan(&cn).err().unwrap().to_string();
        assert!(
            error.starts_with(
                "API cn: proxy.transport.ssl_force_common_name_check: Envoy cannot check"
            ),
            "{error}"
        );
        let impossible = json!({"apis": [api("x", "https://a.test", json!({"proxy": {"listen_path": "/x/",
            "target_url": "https://a.test", "transport": {"ssl_max_version": 771,
            "ssl_ciphers": ["TLS_AES_128_GCM_SHA256"]}}}))]});
        let error = f.plan(&impossible).err().unwrap().to_string();
        assert!(error.contains("no handshake could succeed"), "{error}");
        // Over plain http Tyk dials no TLS, so there is nothing to refuse.
        let plain = json!({"apis": [api("p", "http://a.test", json!({"proxy": {"listen_path": "/p/",
            "target_url": "http://a.test", "transport": {"ssl_force_common_name_check": true}}}))]});
        assert!(f.plan(&plain).is_ok());
    }

    /// SPEC §6b: an inline upstream certificate with its key is presented like a stored one;
    /// the key goes to an owner-only secret file and never into the filter's configuration.
    #[test]
    fn an_inline_upstream_key_is_written_as_a_secret_and_kept_out_of_the_filter_config() {
        let f = Fixture::new();
        let client = f.ca.leaf("inline-client");
        let gate = json!({"apis": [api("a", "https://up.test", json!({
            "upstream_certificates": {"up.test": client.bundle()}}))]});
        let out = f.dir.path().join("out");
        let options = RenderOptions {
            gate_json: gate.to_string().into_bytes(),
            out_dir: out.clone(),
            listen: "127.0.0.1:8443".parse().unwrap(),
            plain_listen: None,
            admin: "127.0.0.1:9901".parse().unwrap(),
            server_cert: Some(("/srv.pem".into(), "/srv.key".into())),
            module: GateModule::Wasm("/f.wasm".into()),
            shim: Endpoint {
                host: "127.0.0.1".into(),
                port: 8181,
            },
            feed_token: None,
            upstreams: UpstreamOptions::default(),
        };
        let rendered = render_dir(&options, &f.store).unwrap();
        let fp = client.fingerprint();
        let cluster = rendered.upstreams[0].certificate_cluster.as_ref().unwrap();
        assert_eq!(cluster.fingerprint, fp);
        assert_eq!(cluster.certificate_id, format!("inline PEM {fp}"));
        let key_file = out.join(format!("secrets/{fp}.key.pem"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let key_body: String = client
            .key_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let written = std::fs::read_to_string(&key_file).unwrap();
        assert_eq!(
            written
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
            key_body
        );
        let lds = std::fs::read_to_string(out.join("xds/lds.yaml")).unwrap();
        let first_key_line = key_body.get(..40).unwrap();
        assert!(
            !lds.contains(first_key_line),
            "the key reached the filter config"
        );
        assert!(lds.contains(mtls_gate_core::cert_ref::HELD_KEY_LABEL));
        let cds = std::fs::read_to_string(out.join("xds/cds.yaml")).unwrap();
        assert!(cds.contains(&cluster.cluster.name), "{cds}");

        // A key that is not the certificate's is refused, naming the entry.
        let other = f.ca.leaf("other");
        let wrong = json!({"apis": [api("a", "https://up.test", json!({
            "upstream_certificates": {"up.test": format!("{}{}", client.cert_pem, other.key_pem)}}))]});
        let options = RenderOptions {
            gate_json: wrong.to_string().into_bytes(),
            ..options
        };
        let error = render_dir(&options, &f.store).unwrap_err().to_string();
        assert!(
            error.contains(r#"apis[0].upstream_certificates["up.test"]: its private key"#),
            "{error}"
        );
    }
}
