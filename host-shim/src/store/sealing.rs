//! Private keys at rest (SPEC §2 "Keys at rest"; deviation: Tyk uses RFC 1423 AES-CBC with an
//! MD5 KDF).
//!
//! - Key: HKDF-SHA256 over the encoding secret, with a random 32-byte salt stored once per
//!   store, so two stores with one secret use different keys.
//! - Cipher: AES-256-GCM, a random 96-bit nonce per record, AAD = the certificate ID, so a
//!   sealed key moved to another certificate's row does not open.
//! - Record: `0x01 || nonce (12) || ciphertext+tag`.
//! - Key check: a known plaintext sealed at store creation. Opening a store with another
//!   secret fails at start-up, instead of as silent 404s later.

use crate::secret::Secret;
use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

const RECORD_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
pub const SALT_LEN: usize = 32;
const HKDF_INFO: &[u8] = b"mtls-gate/private-key-sealing/v1";
const KEY_CHECK_PLAINTEXT: &[u8] = b"mtls-gate key check v1";
const KEY_CHECK_AAD: &str = "mtls-gate/key-check";

/// Seals and opens private keys for one store.
pub struct KeySealer {
    cipher: Aes256Gcm,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("sealed record is malformed")]
    Malformed,
    #[error("sealed record does not open with this key")]
    Undecryptable,
}

/// What a new store persists so that it can be opened again.
pub struct SealingParameters {
    pub salt: Vec<u8>,
    pub key_check: Vec<u8>,
}

impl KeySealer {
    /// For a new store: a fresh salt, and the key check to store beside it.
    pub fn create(secret: &Secret) -> Result<(Self, SealingParameters), SealError> {
        let mut salt = vec![0u8; SALT_LEN];
        OsRng.fill_bytes(&mut salt);
        let sealer = Self::derive(secret, &salt);
        let key_check = sealer.seal(KEY_CHECK_AAD, KEY_CHECK_PLAINTEXT)?;
        Ok((sealer, SealingParameters { salt, key_check }))
    }

    /// For an existing store: fails with [`SealError::Undecryptable`] on the wrong secret.
    pub fn open(secret: &Secret, parameters: &SealingParameters) -> Result<Self, SealError> {
        let sealer = Self::derive(secret, &parameters.salt);
        let check = sealer.open_record(KEY_CHECK_AAD, &parameters.key_check)?;
        if check.as_slice() != KEY_CHECK_PLAINTEXT {
            return Err(SealError::Undecryptable);
        }
        Ok(sealer)
    }

    fn derive(secret: &Secret, salt: &[u8]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(salt), secret.expose().as_bytes());
        let mut key = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's 8160-byte output limit, so expand cannot fail.
        let _ = hkdf.expand(HKDF_INFO, key.as_mut());
        KeySealer {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.as_ref())),
        }
    }

    /// Seals `plaintext` bound to `certificate_id`.
    pub fn seal(&self, certificate_id: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: certificate_id.as_bytes(),
                },
            )
            .map_err(|_| SealError::Malformed)?;
        let mut record = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        record.push(RECORD_VERSION);
        record.extend_from_slice(&nonce);
        record.extend_from_slice(&ciphertext);
        Ok(record)
    }

    /// Opens a record sealed for `certificate_id`.
    pub fn open_record(
        &self,
        certificate_id: &str,
        record: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let (&version, rest) = record.split_first().ok_or(SealError::Malformed)?;
        if version != RECORD_VERSION || rest.len() < NONCE_LEN + 16 {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: certificate_id.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> Secret {
        Secret::new(value, "test").unwrap()
    }

    #[test]
    fn sealed_key_opens_only_for_its_certificate_id() {
        let (sealer, _) = KeySealer::create(&secret("s")).unwrap();
        let record = sealer.seal("cert-a", b"private key der").unwrap();
        assert_eq!(
            sealer.open_record("cert-a", &record).unwrap().as_slice(),
            b"private key der"
        );
        assert_eq!(
            sealer.open_record("cert-b", &record),
            Err(SealError::Undecryptable)
        );
    }

    #[test]
    fn each_record_has_a_fresh_nonce_and_hides_the_plaintext() {
        let (sealer, _) = KeySealer::create(&secret("s")).unwrap();
        let a = sealer.seal("id", b"same plaintext here").unwrap();
        let b = sealer.seal("id", b"same plaintext here").unwrap();
        assert_ne!(a, b);
        assert!(!a.windows(5).any(|w| w == b"plain"));
    }

    #[test]
    fn reopening_with_the_same_secret_works_and_another_secret_fails() {
        let (sealer, params) = KeySealer::create(&secret("right")).unwrap();
        let record = sealer.seal("id", b"k").unwrap();
        let reopened = KeySealer::open(&secret("right"), &params).unwrap();
        assert_eq!(
            reopened.open_record("id", &record).unwrap().as_slice(),
            b"k"
        );
        assert!(matches!(
            KeySealer::open(&secret("wrong"), &params),
            Err(SealError::Undecryptable)
        ));
    }

    #[test]
    fn tampered_or_truncated_records_are_refused() {
        let (sealer, _) = KeySealer::create(&secret("s")).unwrap();
        let mut record = sealer.seal("id", b"key").unwrap();
        assert_eq!(
            sealer.open_record("id", &record[..10]),
            Err(SealError::Malformed)
        );
        assert_eq!(sealer.open_record("id", &[]), Err(SealError::Malformed));
        let last = record.len() - 1;
        record[last] ^= 1;
        assert_eq!(
            sealer.open_record("id", &record),
            Err(SealError::Undecryptable)
        );
    }
}
