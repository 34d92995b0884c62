//! `--control-api-certs`: what each reference names, read once at start (files, fingerprints)
//! or looked up at every handshake (store IDs), and what they admit together ([`Admission`]).
//!
//! A reference is, in this order (Tyk's order, file before store):
//! - a bare 64-hex SHA-256 fingerprint (either case; openssl's colons accepted): admits the
//!   leaf with that fingerprint;
//! - the path of an existing PEM file: its FIRST certificate (SPEC §1), a leaf or, with
//!   basic constraints `CA:TRUE`, a CA;
//! - a store certificate ID (`org_id` + 64 lowercase hex): looked up at every handshake, so
//!   an upload admits and a delete revokes without a restart.
//!
//! SPEC §3's rules: a leaf reference admits exactly that fingerprint (even self-signed, as
//! Tyk), unless the certificate is expired; a CA reference admits every client whose leaf
//! chains to it (`mtls_gate_core::trust`). Public keys match no client.

use crate::store::Store;
use crate::store::StoredCertificate;
use mtls_gate_core::certificate::{parse_bundle, parse_certificate};
use mtls_gate_core::fingerprint::{Fingerprint, HEX_LEN};
use mtls_gate_core::trust::{ChainError, TrustAnchor, verify_client_chain};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// Why a reference list was refused at start.
#[derive(Debug, thiserror::Error)]
pub enum RefError {
    #[error("--control-api-certs is empty: name at least one certificate")]
    Empty,
    #[error("--control-api-certs {reference:?}: cannot read the file: {source}")]
    Unreadable {
        reference: String,
        source: std::io::Error,
    },
    #[error("--control-api-certs {reference:?}: {reason}")]
    Invalid { reference: String, reason: String },
    #[error(
        "--control-api-certs {reference:?}: not a store certificate ID (org_id + 64 hex), a 64-hex fingerprint or a PEM file"
    )]
    Unrecognised { reference: String },
}

/// One reference as parsed at start.
#[derive(Debug, Clone)]
enum Reference {
    /// Admits the leaf with this fingerprint.
    Leaf(Fingerprint),
    /// Admits the leaves that chain to it.
    Ca(Arc<TrustAnchor>),
    /// Resolved at each handshake.
    StoreId(String),
}

/// Where a reference came from, for log lines: the reference as written.
#[derive(Debug, Clone)]
struct Named<T> {
    what: T,
    source: String,
}

/// The references of `--control-api-certs`.
pub struct ControlApiRefs {
    refs: Vec<Named<Reference>>,
    /// Trust anchors made from stored CA certificates, by the stored certificate's
    /// fingerprint (content-addressed, so an entry never goes stale; whether the certificate
    /// is still in the store is asked at every handshake).
    store_anchors: Mutex<HashMap<Fingerprint, Arc<TrustAnchor>>>,
}

impl fmt::Debug for ControlApiRefs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.refs.iter().map(|r| &r.source))
            .finish()
    }
}

impl ControlApiRefs {
    /// Parses the references (each already split from the comma list). Files are read now;
    /// a reference that is neither a fingerprint, a readable PEM file nor a store ID is
    /// refused, naming it.
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<Self, RefError> {
        let mut refs = Vec::new();
        for reference in list.iter().map(|r| r.as_ref().trim()) {
            if reference.is_empty() {
                continue;
            }
            refs.push(Named {
                what: parse_one(reference)?,
                source: reference.to_owned(),
            });
        }
        if refs.is_empty() {
            return Err(RefError::Empty);
        }
        Ok(ControlApiRefs {
            refs,
            store_anchors: Mutex::new(HashMap::new()),
        })
    }

    /// The store IDs among the references.
    pub fn store_ids(&self) -> impl Iterator<Item = &str> {
        self.refs.iter().filter_map(|r| match &r.what {
            Reference::StoreId(id) => Some(id.as_str()),
            _ => None,
        })
    }

    /// One line per reference, for the start-up log.
    pub fn describe(&self) -> Vec<String> {
        self.refs
            .iter()
            .map(|r| match &r.what {
                Reference::Leaf(fp) => format!("{} (leaf {fp})", r.source),
                Reference::Ca(_) => format!("{} (CA)", r.source),
                Reference::StoreId(_) => format!("{} (store certificate)", r.source),
            })
            .collect()
    }

    /// What the references admit now: store IDs looked up in `store` (blocking). A store
    /// that cannot be read admits nothing through its IDs (fail closed); the others still
    /// count.
    pub fn resolve(&self, store: &Store) -> Admission {
        let mut admission = Admission::default();
        for reference in &self.refs {
            match &reference.what {
                Reference::Leaf(fingerprint) => admission.leaves.push(Named {
                    what: *fingerprint,
                    source: reference.source.clone(),
                }),
                Reference::Ca(anchor) => admission.anchors.push(Named {
                    what: Arc::clone(anchor),
                    source: reference.source.clone(),
                }),
                Reference::StoreId(id) => match store.certificate(id) {
                    Ok(Some(stored)) => self.admit_stored(&mut admission, &stored),
                    Ok(None) => {}
                    Err(error) => {
                        tracing::error!(%error, id, "control API certificate: store lookup failed; it admits no client now");
                    }
                },
            }
        }
        admission
    }

    fn admit_stored(&self, admission: &mut Admission, stored: &StoredCertificate) {
        let source = stored.id.to_string();
        let Some(der) = first_certificate_der(&stored.material_pem) else {
            // A public key: matches no client (SPEC §3, as Tyk).
            return;
        };
        let fingerprint = Fingerprint::of_der(&der);
        if !stored.is_ca {
            admission.leaves.push(Named {
                what: fingerprint,
                source,
            });
            return;
        }
        let mut cache = self
            .store_anchors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let anchor = match cache.get(&fingerprint) {
            Some(anchor) => Arc::clone(anchor),
            None => match TrustAnchor::from_ca_der(&der) {
                Ok(anchor) => {
                    let anchor = Arc::new(anchor);
                    cache.insert(fingerprint, Arc::clone(&anchor));
                    anchor
                }
                Err(error) => {
                    tracing::warn!(id = %stored.id, error = %error, "control API certificate: stored CA cannot be a trust anchor; it admits no client");
                    return;
                }
            },
        };
        admission.anchors.push(Named {
            what: anchor,
            source,
        });
    }
}

/// What a stored certificate reference is at start, for the start-up log.
pub enum StoredState {
    Missing,
    PublicKey,
    Leaf,
    Ca,
}

/// Looks a store ID up once (at start), to warn about references that admit nobody yet.
pub fn stored_state(store: &Store, id: &str) -> Result<StoredState, crate::store::StoreError> {
    Ok(match store.certificate(id)? {
        None => StoredState::Missing,
        Some(stored) if first_certificate_der(&stored.material_pem).is_none() => {
            StoredState::PublicKey
        }
        Some(stored) if stored.is_ca => StoredState::Ca,
        Some(_) => StoredState::Leaf,
    })
}

fn first_certificate_der(pem: &str) -> Option<Vec<u8>> {
    let bundle = parse_bundle(pem).ok()?;
    bundle
        .certificates
        .into_iter()
        .next()
        .map(|(block, _)| block.der)
}

fn parse_one(reference: &str) -> Result<Reference, RefError> {
    if let Some(fingerprint) = bare_fingerprint(reference) {
        return Ok(Reference::Leaf(fingerprint));
    }
    let path = Path::new(reference);
    if path.is_file() {
        return file_reference(reference, path);
    }
    if let Some(id) = store_id(reference) {
        return Ok(Reference::StoreId(id));
    }
    if looks_like_path(reference) {
        // Names a file that is not there: say so rather than "unrecognised".
        return Err(RefError::Unreadable {
            reference: reference.to_owned(),
            source: std::fs::metadata(path)
                .err()
                .unwrap_or_else(|| std::io::Error::other("not a regular file")),
        });
    }
    Err(RefError::Unrecognised {
        reference: reference.to_owned(),
    })
}

/// 64 hex characters, either case, colons ignored (openssl's `AB:CD:…`).
fn bare_fingerprint(reference: &str) -> Option<Fingerprint> {
    let compact: String = reference.chars().filter(|c| *c != ':').collect();
    if compact.len() != HEX_LEN {
        return None;
    }
    Fingerprint::parse_hex(&compact)
}

/// `org_id` + 64 lowercase hex, with a valid, non-empty org (an empty org is a bare
/// fingerprint, taken above).
fn store_id(reference: &str) -> Option<String> {
    let (org, _) = Fingerprint::split_certificate_id(reference)?;
    let hex_part = reference.get(reference.len() - HEX_LEN..)?;
    let lowercase = hex_part
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (lowercase && !org.is_empty() && mtls_gate_core::org_id::check(org).is_ok())
        .then(|| reference.to_owned())
}

fn looks_like_path(reference: &str) -> bool {
    reference.contains('/')
        || reference.contains('\\')
        || [".pem", ".crt", ".cer"]
            .iter()
            .any(|ext| reference.to_ascii_lowercase().ends_with(ext))
}

fn file_reference(reference: &str, path: &Path) -> Result<Reference, RefError> {
    let invalid = |reason: String| RefError::Invalid {
        reference: reference.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|source| RefError::Unreadable {
        reference: reference.to_owned(),
        source,
    })?;
    let bundle = parse_bundle(&text).map_err(|e| invalid(format!("not a PEM file: {e}")))?;
    let Some((block, facts)) = bundle.certificates.first() else {
        return Err(invalid(
            "holds no certificate (a public key matches no client)".to_owned(),
        ));
    };
    if !facts.is_ca {
        return Ok(Reference::Leaf(facts.fingerprint));
    }
    TrustAnchor::from_ca_der(&block.der)
        .map(|anchor| Reference::Ca(Arc::new(anchor)))
        .map_err(|e| invalid(format!("CA certificate cannot be a trust anchor: {e}")))
}

/// The leaves and CAs the references admit at one handshake.
#[derive(Debug, Default)]
pub struct Admission {
    leaves: Vec<Named<Fingerprint>>,
    anchors: Vec<Named<Arc<TrustAnchor>>>,
}

/// The verdict on one client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted by the reference written as this.
    Admitted {
        by: String,
    },
    Refused(Refusal),
}

/// Why a client certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The leaf is not DER X.509.
    BadEncoding(String),
    /// A listed leaf, expired.
    ListedButExpired,
    /// Not listed, and no CA reference at all.
    NotListed,
    /// Not listed, and no path to a listed CA.
    NoChain {
        /// The chain error, as text.
        reason: String,
        /// What the alert says.
        cause: ChainCause,
    },
}

/// The gist of a failed chain, for the TLS alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainCause {
    Expired,
    NotValidYet,
    /// No path to a listed CA, a bad signature, a constraint broken, ...
    Untrusted,
    /// The leaf or an intermediate does not allow client auth.
    WrongPurpose,
}

impl ChainCause {
    fn of(error: &ChainError) -> ChainCause {
        match error {
            ChainError::AnchorNotValid {
                now, not_before, ..
            } if now < not_before => ChainCause::NotValidYet,
            ChainError::AnchorNotValid { .. } => ChainCause::Expired,
            ChainError::Webpki(webpki::Error::CertExpired { .. }) => ChainCause::Expired,
            ChainError::Webpki(webpki::Error::CertNotValidYet { .. }) => ChainCause::NotValidYet,
            ChainError::Webpki(webpki::Error::RequiredEkuNotFoundContext(_)) => {
                ChainCause::WrongPurpose
            }
            _ => ChainCause::Untrusted,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::BadEncoding(e) => write!(f, "not a certificate: {e}"),
            Refusal::ListedButExpired => f.write_str("listed, but expired"),
            Refusal::NotListed => f.write_str("not listed"),
            Refusal::NoChain { reason, .. } => {
                write!(f, "not listed, and no chain to a listed CA: {reason}")
            }
        }
    }
}

impl Admission {
    /// Decides a client certificate: a listed leaf (not expired) is admitted by fingerprint;
    /// otherwise the chain it presented must lead to a listed CA (SPEC §3).
    pub fn decide(&self, leaf_der: &[u8], intermediates: &[Vec<u8>], now_unix: i64) -> Verdict {
        let fingerprint = Fingerprint::of_der(leaf_der);
        if let Some(listed) = self.leaves.iter().find(|l| l.what == fingerprint) {
            return match parse_certificate(leaf_der) {
                Err(e) => Verdict::Refused(Refusal::BadEncoding(e.to_string())),
                Ok(facts) if facts.is_expired_at(now_unix) => {
                    Verdict::Refused(Refusal::ListedButExpired)
                }
                Ok(_) => Verdict::Admitted {
                    by: listed.source.clone(),
                },
            };
        }
        if self.anchors.is_empty() {
            return Verdict::Refused(Refusal::NotListed);
        }
        let anchors: Vec<&TrustAnchor> = self.anchors.iter().map(|a| a.what.as_ref()).collect();
        match verify_client_chain(leaf_der, intermediates, &anchors, now_unix) {
            Ok(chain) => Verdict::Admitted {
                by: self
                    .anchors
                    .get(chain.anchor)
                    .map_or_else(String::new, |a| a.source.clone()),
            },
            Err(error) => Verdict::Refused(Refusal::NoChain {
                reason: error.to_string(),
                cause: ChainCause::of(&error),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    use time::{Duration, OffsetDateTime};

    const NOW_SLACK: Duration = Duration::days(1);

    fn now() -> i64 {
        OffsetDateTime::now_utc().unix_timestamp()
    }

    fn key() -> KeyPair {
        KeyPair::generate().unwrap()
    }

    fn new_ca() -> CertifiedIssuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        params.not_before = OffsetDateTime::now_utc() - NOW_SLACK;
        params.not_after = OffsetDateTime::now_utc() + NOW_SLACK * 30;
        CertifiedIssuer::self_signed(params, key()).unwrap()
    }

    fn leaf_params(until: OffsetDateTime) -> CertificateParams {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "client");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = OffsetDateTime::now_utc() - NOW_SLACK * 10;
        params.not_after = until;
        params
    }

    fn file(dir: &Path, name: &str, contents: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn references_are_fingerprints_files_or_store_ids() {
        let dir = tempfile::tempdir().unwrap();
        let ca = new_ca();
        let leaf = leaf_params(OffsetDateTime::now_utc() + NOW_SLACK)
            .self_signed(&key())
            .unwrap();
        let fp = Fingerprint::of_der(leaf.der());
        let colons = fp
            .to_hex()
            .to_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).into_owned())
            .collect::<Vec<_>>()
            .join(":");
        let ca_file = file(dir.path(), "ca.pem", &ca.pem());
        let leaf_file = file(dir.path(), "leaf.pem", &leaf.pem());
        let refs = ControlApiRefs::parse(&[
            fp.to_hex(),
            colons,
            ca_file.clone(),
            leaf_file.clone(),
            format!("acme{}", fp.to_hex()),
            String::new(),
        ])
        .unwrap();
        let kinds: Vec<&str> = refs
            .refs
            .iter()
            .map(|r| match r.what {
                Reference::Leaf(got) => {
                    assert_eq!(got, fp);
                    "leaf"
                }
                Reference::Ca(_) => "ca",
                Reference::StoreId(_) => "store",
            })
            .collect();
        assert_eq!(kinds, ["leaf", "leaf", "ca", "leaf", "store"]);
        assert_eq!(
            refs.store_ids().collect::<Vec<_>>(),
            [format!("acme{}", fp.to_hex())]
        );

        for (bad, needle) in [
            ("nonsense", "not a store certificate ID"),
            ("/no/such/file.pem", "cannot read"),
            ("ca.crt", "cannot read"),
            (
                "acmeAB00000000000000000000000000000000000000000000000000000000FF",
                "not a store certificate ID",
            ),
            (
                "ac/me0000000000000000000000000000000000000000000000000000000000000000",
                "cannot read",
            ),
        ] {
            let error = ControlApiRefs::parse(&[bad]).unwrap_err().to_string();
            assert!(
                error.contains(bad) && error.contains(needle),
                "{bad}: {error}"
            );
        }
        assert!(matches!(
            ControlApiRefs::parse(&["", " "]),
            Err(RefError::Empty)
        ));
        let no_cert = file(dir.path(), "key.pem", &key().public_key_pem());
        let error = ControlApiRefs::parse(&[no_cert]).unwrap_err().to_string();
        assert!(error.contains("holds no certificate"), "{error}");
    }

    #[test]
    fn a_listed_leaf_passes_unless_expired_and_a_listed_ca_admits_its_leaves() {
        let ca = new_ca();
        let other_ca = new_ca();
        let valid = leaf_params(OffsetDateTime::now_utc() + NOW_SLACK)
            .signed_by(&key(), &*ca)
            .unwrap();
        let expired = leaf_params(OffsetDateTime::now_utc() - NOW_SLACK)
            .signed_by(&key(), &*ca)
            .unwrap();
        let foreign = leaf_params(OffsetDateTime::now_utc() + NOW_SLACK)
            .signed_by(&key(), &*other_ca)
            .unwrap();
        let pinned_expired = leaf_params(OffsetDateTime::now_utc() - NOW_SLACK)
            .self_signed(&key())
            .unwrap();
        let pinned = leaf_params(OffsetDateTime::now_utc() + NOW_SLACK)
            .self_signed(&key())
            .unwrap();

        let only_leaves = Admission {
            leaves: vec![
                Named {
                    what: Fingerprint::of_der(pinned.der()),
                    source: "pinned".into(),
                },
                Named {
                    what: Fingerprint::of_der(pinned_expired.der()),
                    source: "lapsed".into(),
                },
            ],
            anchors: Vec::new(),
        };
        assert_eq!(
            only_leaves.decide(pinned.der(), &[], now()),
            Verdict::Admitted {
                by: "pinned".into()
            }
        );
        assert_eq!(
            only_leaves.decide(pinned_expired.der(), &[], now()),
            Verdict::Refused(Refusal::ListedButExpired)
        );
        assert_eq!(
            only_leaves.decide(valid.der(), &[], now()),
            Verdict::Refused(Refusal::NotListed)
        );

        let with_ca = Admission {
            leaves: Vec::new(),
            anchors: vec![Named {
                what: Arc::new(TrustAnchor::from_ca_der(ca.der()).unwrap()),
                source: "ca.pem".into(),
            }],
        };
        assert_eq!(
            with_ca.decide(valid.der(), &[], now()),
            Verdict::Admitted {
                by: "ca.pem".into()
            }
        );
        assert!(matches!(
            with_ca.decide(expired.der(), &[], now()),
            Verdict::Refused(Refusal::NoChain {
                cause: ChainCause::Expired,
                ..
            })
        ));
        assert!(matches!(
            with_ca.decide(foreign.der(), &[], now()),
            Verdict::Refused(Refusal::NoChain {
                cause: ChainCause::Untrusted,
                ..
            })
        ));
        assert!(matches!(
            with_ca.decide(b"not a certificate", &[], now()),
            Verdict::Refused(Refusal::NoChain { .. })
        ));
    }
}
