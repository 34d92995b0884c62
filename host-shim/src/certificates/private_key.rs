//! Private key ↔ certificate matching (SPEC §1: at most one private key per upload, and it
//! must match the certificate).
//!
//! Like Go's `tls.X509KeyPair`, which Tyk uses, the key's encoding is found from its DER, not
//! its PEM label: PKCS#1 (`RSA PRIVATE KEY`), then PKCS#8 (`PRIVATE KEY`), then SEC1
//! (`EC PRIVATE KEY`). Supported algorithms: RSA, ECDSA P-256 and P-384, Ed25519. Keys are
//! compared as public keys (RSA modulus and exponent, EC point, Ed25519 bytes), so an EC
//! certificate with a compressed point still matches its key.

use pkcs8::ObjectIdentifier;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A public key, in a form that compares by value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeyMaterial {
    Rsa(rsa::RsaPublicKey),
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    Ed25519([u8; 32]),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the private key is not PKCS#1, PKCS#8 or SEC1 DER")]
    UnparsablePrivateKey,
    #[error("the private key's algorithm is not RSA, ECDSA P-256/P-384 or Ed25519")]
    UnsupportedAlgorithm,
    #[error("the certificate's public key cannot be read")]
    UnreadableCertificateKey,
    #[error("private key does not match public key")]
    Mismatch,
}

/// Checks that `private_key_der` is the private half of the SubjectPublicKeyInfo `spki_der`.
pub fn check_key_pair(private_key_der: &[u8], spki_der: &[u8]) -> Result<(), KeyError> {
    let from_private = public_key_of_private(private_key_der)?;
    let from_certificate = public_key_of_spki(spki_der)?;
    if from_private == from_certificate {
        Ok(())
    } else {
        Err(KeyError::Mismatch)
    }
}

/// The public key of a private key, whichever of the three encodings it is in.
pub fn public_key_of_private(der: &[u8]) -> Result<PublicKeyMaterial, KeyError> {
    if let Ok(key) = rsa::RsaPrivateKey::from_pkcs1_der(der) {
        return Ok(PublicKeyMaterial::Rsa(key.to_public_key()));
    }
    if let Ok(info) = pkcs8::PrivateKeyInfo::try_from(der) {
        return public_key_of_pkcs8(&info, der);
    }
    if let Ok(ec) = sec1::EcPrivateKey::try_from(der) {
        // OpenSSL always writes the curve; without it, the scalar's length tells.
        let curve = ec
            .parameters
            .and_then(|p| p.named_curve())
            .or(match ec.private_key.len() {
                32 => Some(SECP256R1),
                48 => Some(SECP384R1),
                _ => None,
            });
        return match curve {
            Some(oid) if oid == SECP256R1 => p256::SecretKey::from_sec1_der(der)
                .map(|k| PublicKeyMaterial::P256(k.public_key()))
                .map_err(|_| KeyError::UnparsablePrivateKey),
            Some(oid) if oid == SECP384R1 => p384::SecretKey::from_sec1_der(der)
                .map(|k| PublicKeyMaterial::P384(k.public_key()))
                .map_err(|_| KeyError::UnparsablePrivateKey),
            _ => Err(KeyError::UnsupportedAlgorithm),
        };
    }
    Err(KeyError::UnparsablePrivateKey)
}

fn public_key_of_pkcs8(
    info: &pkcs8::PrivateKeyInfo<'_>,
    der: &[u8],
) -> Result<PublicKeyMaterial, KeyError> {
    let algorithm = info.algorithm.oid;
    let unparsable = |_| KeyError::UnparsablePrivateKey;
    if algorithm == RSA_ENCRYPTION {
        let key = rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(unparsable)?;
        return Ok(PublicKeyMaterial::Rsa(key.to_public_key()));
    }
    if algorithm == EC_PUBLIC_KEY {
        let curve = info.algorithm.parameters_oid().ok();
        return match curve {
            Some(oid) if oid == SECP256R1 => {
                let key = p256::SecretKey::from_pkcs8_der(der).map_err(unparsable)?;
                Ok(PublicKeyMaterial::P256(key.public_key()))
            }
            Some(oid) if oid == SECP384R1 => {
                let key = p384::SecretKey::from_pkcs8_der(der).map_err(unparsable)?;
                Ok(PublicKeyMaterial::P384(key.public_key()))
            }
            _ => Err(KeyError::UnsupportedAlgorithm),
        };
    }
    if algorithm == ED25519 {
        let key = ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(unparsable)?;
        return Ok(PublicKeyMaterial::Ed25519(key.verifying_key().to_bytes()));
    }
    Err(KeyError::UnsupportedAlgorithm)
}

/// The public key in a SubjectPublicKeyInfo (a certificate's, or an uploaded `PUBLIC KEY`).
pub fn public_key_of_spki(der: &[u8]) -> Result<PublicKeyMaterial, KeyError> {
    let unreadable = |_| KeyError::UnreadableCertificateKey;
    let spki = spki::SubjectPublicKeyInfoRef::try_from(der).map_err(unreadable)?;
    let algorithm = spki.algorithm.oid;
    if algorithm == RSA_ENCRYPTION {
        return rsa::RsaPublicKey::from_public_key_der(der)
            .map(PublicKeyMaterial::Rsa)
            .map_err(unreadable);
    }
    if algorithm == EC_PUBLIC_KEY {
        return match spki.algorithm.parameters_oid().ok() {
            Some(oid) if oid == SECP256R1 => p256::PublicKey::from_public_key_der(der)
                .map(PublicKeyMaterial::P256)
                .map_err(unreadable),
            Some(oid) if oid == SECP384R1 => p384::PublicKey::from_public_key_der(der)
                .map(PublicKeyMaterial::P384)
                .map_err(unreadable),
            _ => Err(KeyError::UnsupportedAlgorithm),
        };
    }
    if algorithm == ED25519 {
        let bytes: [u8; 32] = spki
            .subject_public_key
            .as_bytes()
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::UnreadableCertificateKey)?;
        return Ok(PublicKeyMaterial::Ed25519(bytes));
    }
    Err(KeyError::UnsupportedAlgorithm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P384_SHA384, PKCS_ED25519};

    fn spki_of(key: &KeyPair) -> Vec<u8> {
        use rcgen::PublicKeyData;
        key.subject_public_key_info()
    }

    #[test]
    fn pkcs8_keys_of_every_supported_algorithm_match_their_certificate() {
        for key in [
            KeyPair::generate().unwrap(),
            KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap(),
            KeyPair::generate_for(&PKCS_ED25519).unwrap(),
        ] {
            let cert = CertificateParams::new(vec!["a.test".into()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            let facts = mtls_gate_core::certificate::parse_certificate(cert.der()).unwrap();
            assert_eq!(
                check_key_pair(&key.serialize_der(), &facts.spki_der),
                Ok(())
            );
            assert_eq!(check_key_pair(&key.serialize_der(), &spki_of(&key)), Ok(()));
        }
    }

    #[test]
    fn sec1_ec_private_key_matches() {
        use p256::pkcs8::DecodePrivateKey as _;
        let key = KeyPair::generate().unwrap();
        let secret = p256::SecretKey::from_pkcs8_der(&key.serialize_der()).unwrap();
        let sec1 = secret.to_sec1_der().unwrap();
        assert_eq!(check_key_pair(&sec1, &spki_of(&key)), Ok(()));
    }

    #[test]
    fn pkcs1_rsa_private_key_matches_its_public_key_only() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::EncodePublicKey;
        let mut rng = rsa::rand_core::OsRng;
        let key = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
        let other = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
        let pkcs1 = key.to_pkcs1_der().unwrap();
        let spki = key.to_public_key().to_public_key_der().unwrap();
        let other_spki = other.to_public_key().to_public_key_der().unwrap();
        assert_eq!(check_key_pair(pkcs1.as_bytes(), spki.as_bytes()), Ok(()));
        assert_eq!(
            check_key_pair(pkcs1.as_bytes(), other_spki.as_bytes()),
            Err(KeyError::Mismatch)
        );
    }

    #[test]
    fn another_key_is_a_mismatch() {
        let key = KeyPair::generate().unwrap();
        let other = KeyPair::generate().unwrap();
        assert_eq!(
            check_key_pair(&key.serialize_der(), &spki_of(&other)),
            Err(KeyError::Mismatch)
        );
        // Different algorithms never match.
        let ed = KeyPair::generate_for(&PKCS_ED25519).unwrap();
        assert_eq!(
            check_key_pair(&ed.serialize_der(), &spki_of(&key)),
            Err(KeyError::Mismatch)
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let key = KeyPair::generate().unwrap();
        for junk in [&b""[..], b"a", b"\x30\x03\x02\x01\x00", &[0x30; 64]] {
            assert!(public_key_of_private(junk).is_err());
            assert!(check_key_pair(junk, &spki_of(&key)).is_err());
            assert!(public_key_of_spki(junk).is_err());
        }
    }
}
