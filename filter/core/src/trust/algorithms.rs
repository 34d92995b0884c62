//! The signature algorithms webpki may call back into, over pure-Rust RustCrypto crates.
//!
//! webpki does the X.509 work (path building, names, constraints, validity) and asks a
//! [`SignatureVerificationAlgorithm`] to check each signature. Its own implementations use
//! *ring* or aws-lc-rs, which need a C toolchain for wasm32; these are the same algorithms,
//! with the same algorithm identifiers and key-size rules as `webpki::ring::*` (whose
//! `ALL_VERIFICATION_ALGS` this list mirrors), implemented by `rsa`, `p256`, `p384` and
//! `ed25519-dalek`. Nothing here is cryptography written by hand: each `verify_signature`
//! only decodes the key and signature and calls the crate's verifier.

use core::fmt;

use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::sha2::{Digest as _, Sha256, Sha384, Sha512};
use rsa::signature::Verifier as _;
use rsa::traits::PublicKeyParts as _;
use rustls_pki_types::{
    AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm, alg_id,
};

/// Every algorithm webpki may use to verify a client chain, in `webpki::ALL_VERIFICATION_ALGS`
/// order (ring's set: ECDSA P-256/P-384 with SHA-256/384, Ed25519, RSA PKCS#1 v1.5 and PSS
/// with SHA-256/384/512 for 2048 to 8192-bit keys).
pub(crate) static ALL: &[&dyn SignatureVerificationAlgorithm] = &[
    &ECDSA_P256_SHA256,
    &ECDSA_P256_SHA384,
    &ECDSA_P384_SHA256,
    &ECDSA_P384_SHA384,
    &ED25519,
    &RSA_PKCS1_SHA256,
    &RSA_PKCS1_SHA384,
    &RSA_PKCS1_SHA512,
    &RSA_PKCS1_SHA256_ABSENT_PARAMS,
    &RSA_PKCS1_SHA384_ABSENT_PARAMS,
    &RSA_PKCS1_SHA512_ABSENT_PARAMS,
    &RSA_PSS_SHA256,
    &RSA_PSS_SHA384,
    &RSA_PSS_SHA512,
];

#[derive(Debug, Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(message).to_vec(),
            Hash::Sha384 => Sha384::digest(message).to_vec(),
            Hash::Sha512 => Sha512::digest(message).to_vec(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// ECDSA (ASN.1 DER signatures, uncompressed SEC1 public keys, as ring accepts them)

#[derive(Clone, Copy)]
enum Curve {
    P256,
    P384,
}

struct Ecdsa {
    curve: Curve,
    hash: Hash,
    public_key_alg_id: AlgorithmIdentifier,
    signature_alg_id: AlgorithmIdentifier,
}

/// SEC1 tag of an uncompressed point: ring accepts no other encoding in a certificate.
const UNCOMPRESSED_POINT: u8 = 0x04;

impl SignatureVerificationAlgorithm for Ecdsa {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        if public_key.first() != Some(&UNCOMPRESSED_POINT) {
            return Err(InvalidSignature);
        }
        let prehash = self.hash.digest(message);
        match self.curve {
            Curve::P256 => {
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(public_key)
                    .map_err(|_| InvalidSignature)?;
                let signature =
                    p256::ecdsa::Signature::from_der(signature).map_err(|_| InvalidSignature)?;
                key.verify_prehash(&prehash, &signature)
            }
            Curve::P384 => {
                let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(public_key)
                    .map_err(|_| InvalidSignature)?;
                let signature =
                    p384::ecdsa::Signature::from_der(signature).map_err(|_| InvalidSignature)?;
                key.verify_prehash(&prehash, &signature)
            }
        }
        .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.public_key_alg_id
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg_id
    }
}

impl fmt::Debug for Ecdsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let curve = match self.curve {
            Curve::P256 => "P256",
            Curve::P384 => "P384",
        };
        write!(f, "ECDSA_{curve}_{:?}", self.hash)
    }
}

static ECDSA_P256_SHA256: Ecdsa = Ecdsa {
    curve: Curve::P256,
    hash: Hash::Sha256,
    public_key_alg_id: alg_id::ECDSA_P256,
    signature_alg_id: alg_id::ECDSA_SHA256,
};
static ECDSA_P256_SHA384: Ecdsa = Ecdsa {
    curve: Curve::P256,
    hash: Hash::Sha384,
    public_key_alg_id: alg_id::ECDSA_P256,
    signature_alg_id: alg_id::ECDSA_SHA384,
};
static ECDSA_P384_SHA256: Ecdsa = Ecdsa {
    curve: Curve::P384,
    hash: Hash::Sha256,
    public_key_alg_id: alg_id::ECDSA_P384,
    signature_alg_id: alg_id::ECDSA_SHA256,
};
static ECDSA_P384_SHA384: Ecdsa = Ecdsa {
    curve: Curve::P384,
    hash: Hash::Sha384,
    public_key_alg_id: alg_id::ECDSA_P384,
    signature_alg_id: alg_id::ECDSA_SHA384,
};

// ---------------------------------------------------------------------------------------
// Ed25519

#[derive(Debug)]
struct Ed25519;

impl SignatureVerificationAlgorithm for Ed25519 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let public_key = <&[u8; ed25519_dalek::PUBLIC_KEY_LENGTH]>::try_from(public_key)
            .map_err(|_| InvalidSignature)?;
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(public_key).map_err(|_| InvalidSignature)?;
        let signature =
            ed25519_dalek::Signature::from_slice(signature).map_err(|_| InvalidSignature)?;
        key.verify(message, &signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ED25519
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ED25519
    }
}

static ED25519: Ed25519 = Ed25519;

// ---------------------------------------------------------------------------------------
// RSA (PKCS#1 RSAPublicKey keys of 2048 to 8192 bits, as ring's `*_2048_8192_*`)

#[derive(Debug, Clone, Copy)]
enum Padding {
    Pkcs1,
    /// RSASSA-PSS with MGF1 over the same hash and a salt as long as the hash: the only
    /// parameters webpki's PSS algorithm identifiers (RFC 8446 4.2.3) accept.
    Pss,
}

#[derive(Debug)]
struct Rsa {
    padding: Padding,
    hash: Hash,
    signature_alg_id: AlgorithmIdentifier,
}

/// ring's bounds on the modulus (`RSA_*_2048_8192_*`).
const RSA_MIN_BITS: u32 = 2048;
const RSA_MAX_BITS: u32 = 8192;

impl SignatureVerificationAlgorithm for Rsa {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let key = rsa::PublicKey::from_pkcs1_der(public_key).map_err(|_| InvalidSignature)?;
        let bits = key.n().bit_width();
        if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
            return Err(InvalidSignature);
        }
        match self.padding {
            Padding::Pkcs1 => {
                let signature =
                    rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| InvalidSignature)?;
                match self.hash {
                    Hash::Sha256 => {
                        rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key).verify(message, &signature)
                    }
                    Hash::Sha384 => {
                        rsa::pkcs1v15::VerifyingKey::<Sha384>::new(key).verify(message, &signature)
                    }
                    Hash::Sha512 => {
                        rsa::pkcs1v15::VerifyingKey::<Sha512>::new(key).verify(message, &signature)
                    }
                }
            }
            Padding::Pss => {
                let signature =
                    rsa::pss::Signature::try_from(signature).map_err(|_| InvalidSignature)?;
                match self.hash {
                    Hash::Sha256 => {
                        rsa::pss::VerifyingKey::<Sha256>::new(key).verify(message, &signature)
                    }
                    Hash::Sha384 => {
                        rsa::pss::VerifyingKey::<Sha384>::new(key).verify(message, &signature)
                    }
                    Hash::Sha512 => {
                        rsa::pss::VerifyingKey::<Sha512>::new(key).verify(message, &signature)
                    }
                }
            }
        }
        .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg_id
    }
}

static RSA_PKCS1_SHA256: Rsa = Rsa {
    padding: Padding::Pkcs1,
    hash: Hash::Sha256,
    signature_alg_id: alg_id::RSA_PKCS1_SHA256,
};
static RSA_PKCS1_SHA384: Rsa = Rsa {
    padding: Padding::Pkcs1,
    hash: Hash::Sha384,
    signature_alg_id: alg_id::RSA_PKCS1_SHA384,
};
static RSA_PKCS1_SHA512: Rsa = Rsa {
    padding: Padding::Pkcs1,
    hash: Hash::Sha512,
    signature_alg_id: alg_id::RSA_PKCS1_SHA512,
};

// The same, for certificates whose AlgorithmIdentifier omits the NULL parameters (RFC 4055
// says they must be NULL; webpki accepts both). The bytes are webpki's own
// `src/data/alg-rsa-pkcs1-sha*-absent-params.der`: the OID alone.
static RSA_PKCS1_SHA256_ABSENT_PARAMS: Rsa = Rsa {
    padding: Padding::Pkcs1,
    hash: Hash::Sha256,
    signature_alg_id: AlgorithmIdentifier::from_slice(&[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
    ]),
};
static RSA_PKCS1_SHA384_ABSENT_PARAMS: Rsa = Rsa {
    padding: Padding::Pkcs1,
    hash: Hash::Sha384,
    signature_alg_id: AlgorithmIdentifier::from_slice(&[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c,
    ]),
};
static RSA_PKCS1_SHA512_ABSENT_PARAMS: Rsa = Rsa {
    padding: Padding::Pkcs1,
    hash: Hash::Sha512,
    signature_alg_id: AlgorithmIdentifier::from_slice(&[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d,
    ]),
};

static RSA_PSS_SHA256: Rsa = Rsa {
    padding: Padding::Pss,
    hash: Hash::Sha256,
    signature_alg_id: alg_id::RSA_PSS_SHA256,
};
static RSA_PSS_SHA384: Rsa = Rsa {
    padding: Padding::Pss,
    hash: Hash::Sha384,
    signature_alg_id: alg_id::RSA_PSS_SHA384,
};
static RSA_PSS_SHA512: Rsa = Rsa {
    padding: Padding::Pss,
    hash: Hash::Sha512,
    signature_alg_id: alg_id::RSA_PSS_SHA512,
};
