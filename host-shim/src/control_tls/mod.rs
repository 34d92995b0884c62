//! The admin API over TLS, and over mutual TLS (Tyk's `security.control_api_use_mutual_tls`
//! with `security.certificates.control_api`; SPEC §2 "Admin API over mutual TLS").
//!
//! - [`TlsPlan::from_flags`]: which of `--tls-cert`, `--tls-key`, `--control-api-certs` go
//!   together; anything else refuses to start.
//! - [`ControlTls::load`]: reads the server certificate and key and the references
//!   ([`refs`]), once, before the shim listens.
//! - [`listener::TlsListener`]: accepts TCP, runs the handshakes (each with a fresh look-up of
//!   the store references and the [`verifier::ControlApiVerifier`]), and hands finished TLS
//!   streams to `axum::serve`.
//!
//! Session resumption is off: a resumed session would skip the client-certificate check, so a
//! certificate deleted from the store would keep its access (the Pomerium #4438 class of bug).

pub mod listener;
mod peer;
pub mod refs;
pub mod verifier;

pub use peer::Peer;

use crate::store::Store;
use refs::{ControlApiRefs, RefError, StoredState};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, ResolvesServerCert};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ServerConfig, server::danger::ClientCertVerifier};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use verifier::ControlApiVerifier;

/// Why the TLS settings refuse to start the shim.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error(
        "--control-api-certs needs --tls-cert and --tls-key: client certificates are only asked for over TLS"
    )]
    ClientCertsWithoutTls,
    #[error("--tls-cert needs --tls-key (and --tls-key needs --tls-cert)")]
    HalfAKeyPair,
    #[error("--tls-cert {path}: {reason}")]
    ServerCert { path: PathBuf, reason: String },
    #[error("--tls-key {path}: {reason}")]
    ServerKey { path: PathBuf, reason: String },
    #[error(transparent)]
    Reference(#[from] RefError),
    #[error("--control-api-certs: cannot read the store: {0}")]
    Store(crate::store::StoreError),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// What the TLS flags ask for, checked for consistency but not yet read.
#[derive(Debug, Clone)]
pub struct TlsPlan {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `None`: TLS without client certificates.
    pub control_api_certs: Option<Vec<String>>,
}

impl TlsPlan {
    /// `None` when the admin API stays on plain HTTP. `control_api_certs`: the flag's
    /// values, `None` when it was not given.
    pub fn from_flags(
        cert: Option<&Path>,
        key: Option<&Path>,
        control_api_certs: Option<&[String]>,
    ) -> Result<Option<TlsPlan>, TlsSetupError> {
        match (cert, key) {
            (None, None) if control_api_certs.is_some() => {
                Err(TlsSetupError::ClientCertsWithoutTls)
            }
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(TlsPlan {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                control_api_certs: control_api_certs.map(<[String]>::to_vec),
            })),
            _ if control_api_certs.is_some() => Err(TlsSetupError::ClientCertsWithoutTls),
            _ => Err(TlsSetupError::HalfAKeyPair),
        }
    }
}

/// The admin listener's TLS: the server certificate, and the client-certificate rule.
pub struct ControlTls {
    provider: Arc<CryptoProvider>,
    server_cert: Arc<dyn ResolvesServerCert>,
    clients: ClientAuth,
}

enum ClientAuth {
    /// TLS only; one config for every connection.
    None(Arc<ServerConfig>),
    /// Mutual TLS: a config per handshake, over a fresh look-up of the references.
    Required {
        refs: Arc<ControlApiRefs>,
        store: Arc<Store>,
    },
}

impl ControlTls {
    /// Reads the files `plan` names and parses the references; logs what the listener will
    /// require (and references that admit nobody yet).
    pub fn load(plan: &TlsPlan, store: Arc<Store>) -> Result<ControlTls, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = load_server_cert(&plan.cert, &plan.key, &provider)?;
        let server_cert: Arc<dyn ResolvesServerCert> = Arc::new(SingleCertAndKey::from(certified));
        let clients = match &plan.control_api_certs {
            None => {
                let config = base_config(&provider)?
                    .with_no_client_auth()
                    .with_cert_resolver(Arc::clone(&server_cert));
                ClientAuth::None(Arc::new(finish(config)))
            }
            Some(list) => {
                let refs = ControlApiRefs::parse(list)?;
                for id in refs.store_ids() {
                    match refs::stored_state(&store, id).map_err(TlsSetupError::Store)? {
                        StoredState::Missing => tracing::warn!(
                            id,
                            "control API certificate is not in the store: it admits no client until it is uploaded"
                        ),
                        StoredState::PublicKey => tracing::warn!(
                            id,
                            "control API certificate is a public key: it matches no client"
                        ),
                        StoredState::Leaf | StoredState::Ca => {}
                    }
                }
                // Fails now, not at the first handshake, if the provider cannot make a config.
                base_config(&provider)?;
                ClientAuth::Required {
                    refs: Arc::new(refs),
                    store,
                }
            }
        };
        Ok(ControlTls {
            provider,
            server_cert,
            clients,
        })
    }

    /// Whether clients must present a certificate.
    pub fn requires_client_certs(&self) -> bool {
        matches!(self.clients, ClientAuth::Required { .. })
    }

    /// The references, one line each, for the start-up log.
    pub fn describe_refs(&self) -> Vec<String> {
        match &self.clients {
            ClientAuth::None(_) => Vec::new(),
            ClientAuth::Required { refs, .. } => refs.describe(),
        }
    }

    /// The config for one handshake. With client certificates, the store references are
    /// looked up now (on a blocking thread), so an upload or a delete counts from the next
    /// handshake on.
    pub async fn config_for_handshake(&self) -> Result<Arc<ServerConfig>, rustls::Error> {
        let (refs, store) = match &self.clients {
            ClientAuth::None(config) => return Ok(Arc::clone(config)),
            ClientAuth::Required { refs, store } => (Arc::clone(refs), Arc::clone(store)),
        };
        let admission = tokio::task::spawn_blocking(move || refs.resolve(&store))
            .await
            .map_err(|e| rustls::Error::General(format!("store look-up task failed: {e}")))?;
        let verifier: Arc<dyn ClientCertVerifier> = Arc::new(ControlApiVerifier::new(
            admission,
            self.provider.signature_verification_algorithms,
        ));
        let config = base_config(&self.provider)?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::clone(&self.server_cert));
        Ok(Arc::new(finish(config)))
    }
}

fn base_config(
    provider: &Arc<CryptoProvider>,
) -> Result<rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier>, rustls::Error> {
    ServerConfig::builder_with_provider(Arc::clone(provider)).with_safe_default_protocol_versions()
}

/// HTTP/1.1 only (what `axum::serve` speaks here), and no session resumption.
fn finish(mut config: ServerConfig) -> ServerConfig {
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config
}

fn load_server_cert(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsSetupError> {
    let cert_error = |reason: String| TlsSetupError::ServerCert {
        path: cert.to_path_buf(),
        reason,
    };
    let key_error = |reason: String| TlsSetupError::ServerKey {
        path: key.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_error(pem_error(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(pem_error(e)))?;
    if chain.is_empty() {
        return Err(cert_error("holds no CERTIFICATE block".to_owned()));
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| key_error(pem_error(e)))?;
    CertifiedKey::from_der(chain, private_key, provider).map_err(|e| key_error(e.to_string()))
}

fn pem_error(error: rustls::pki_types::pem::Error) -> String {
    match error {
        rustls::pki_types::pem::Error::Io(e) => format!("cannot read: {e}"),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of the right kind".to_owned(),
        other => format!("not valid PEM: {other:?}"),
    }
}
