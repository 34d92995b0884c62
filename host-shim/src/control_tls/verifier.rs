//! The client-certificate check of the admin API's TLS handshake (Tyk's
//! `security.control_api_use_mutual_tls`): a [`ClientCertVerifier`] over one handshake's
//! [`Admission`]. A client without a certificate, or with one no reference admits, gets a
//! TLS alert and never reaches HTTP.

use super::refs::{Admission, ChainCause, Refusal, Verdict};
use mtls_gate_core::fingerprint::Fingerprint;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

/// Verifies client certificates against what the references admit for this handshake.
#[derive(Debug)]
pub struct ControlApiVerifier {
    admission: Admission,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ControlApiVerifier {
    /// `algorithms`: the crypto provider's `signature_verification_algorithms`.
    pub fn new(admission: Admission, algorithms: WebPkiSupportedAlgorithms) -> Self {
        ControlApiVerifier {
            admission,
            algorithms,
        }
    }
}

impl ClientCertVerifier for ControlApiVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let fingerprint = Fingerprint::of_der(end_entity.as_ref());
        let intermediates: Vec<Vec<u8>> = intermediates.iter().map(|c| c.to_vec()).collect();
        let now_unix = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        match self
            .admission
            .decide(end_entity.as_ref(), &intermediates, now_unix)
        {
            Verdict::Admitted { by } => {
                tracing::debug!(%fingerprint, by, "control API client certificate admitted");
                Ok(ClientCertVerified::assertion())
            }
            Verdict::Refused(refusal) => {
                tracing::warn!(%fingerprint, reason = %refusal, "control API client certificate refused");
                Err(Error::InvalidCertificate(alert_for(&refusal)))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The TLS alert a refusal is sent as: `certificate_expired` for an expired certificate
/// (listed, or in a path to a listed CA), `unsupported_certificate` for a purpose other than
/// client auth, `bad_certificate` for garbage, `unknown_ca` otherwise (the client is not known).
fn alert_for(refusal: &Refusal) -> CertificateError {
    match refusal {
        Refusal::BadEncoding(_) => CertificateError::BadEncoding,
        Refusal::ListedButExpired
        | Refusal::NoChain {
            cause: ChainCause::Expired,
            ..
        } => CertificateError::Expired,
        Refusal::NoChain {
            cause: ChainCause::NotValidYet,
            ..
        } => CertificateError::NotValidYet,
        Refusal::NoChain {
            cause: ChainCause::WrongPurpose,
            ..
        } => CertificateError::InvalidPurpose,
        Refusal::NotListed
        | Refusal::NoChain {
            cause: ChainCause::Untrusted,
            ..
        } => CertificateError::UnknownIssuer,
    }
}
