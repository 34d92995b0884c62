//! Client chain verification up to the configured trust anchors (SPEC §3, CA entries).

use core::cell::RefCell;
use core::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{EndEntityCert, KeyUsage, VerifiedPath};

use super::TrustAnchor;
use super::algorithms;
use crate::certificate::{decode_certificate, validity};

/// At most this many intermediates are considered; a client presenting more is refused
/// ([`ChainError::TooLong`]) before any signature work. webpki's own limit on a path is 6
/// intermediates, and its budget bounds the signatures it checks while building one.
pub const MAX_INTERMEDIATES: usize = 4;

/// A chain that verified: which anchor, and until when that stays true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedChain {
    /// Index into `anchors` of the anchor the chain verified to.
    pub anchor: usize,
    /// The path's validity window: max not_before and min not_after over leaf,
    /// intermediates used and the anchor (unix seconds). A cache may keep the result until
    /// `valid_until`.
    pub valid_from: i64,
    pub valid_until: i64,
}

/// Why a client chain did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("{presented} intermediate certificates presented; at most {max} are considered")]
    TooLong { presented: usize, max: usize },
    #[error("no trust anchors to verify against")]
    NoAnchors,
    /// The leaf is not a certificate webpki or [`crate::certificate`] can read.
    #[error("client certificate unreadable: {0}")]
    BadLeaf(String),
    /// An intermediate webpki used in the verified path, which [`crate::certificate`] cannot
    /// read (for its validity period). Should not happen; refused rather than guessed.
    #[error("intermediate certificate unreadable: {0}")]
    BadIntermediate(String),
    /// webpki refused every path; its `Display` is kept (`UnknownIssuer`,
    /// `CertExpired { .. }`, `CaUsedAsEndEntity`, `RequiredEkuNotFound`,
    /// `PathLenConstraintViolated`, `InvalidSignatureForPublicKey`, ...).
    #[error("{0}")]
    Webpki(webpki::Error),
    /// The only path(s) found end at an anchor outside its own validity period (webpki does
    /// not check anchors' validity; we do).
    #[error("trust anchor {anchor} is not valid at {now} (valid from {not_before} to {not_after})")]
    AnchorNotValid {
        anchor: usize,
        now: i64,
        not_before: i64,
        not_after: i64,
    },
    /// The only path(s) found have more intermediates than the anchor's own
    /// `pathLenConstraint` allows (webpki ignores the anchor's constraint; we do not).
    #[error("trust anchor {anchor} allows {path_len} intermediates, the path has {intermediates}")]
    AnchorPathLen {
        anchor: usize,
        path_len: u8,
        intermediates: usize,
    },
}

/// Verifies a client's certificate chain up to one of `anchors`.
///
/// `leaf_der` first, `intermediates` as the client presented them (any order, may include
/// junk or the anchor itself), `now` unix seconds. Every signature is verified up to the
/// anchor; every certificate in the path, the anchor included, must be valid at `now`; CA
/// basic constraints and path lengths (the anchor's too) are respected; an
/// `extendedKeyUsage`, where present, must allow client auth (webpki applies that to the
/// intermediates as well). No revocation checks.
///
/// On success, [`VerifiedChain::anchor`] is the index of the first anchor (in webpki's
/// search order) with a path satisfying all of this.
pub fn verify_client_chain(
    leaf_der: &[u8],
    intermediates: &[Vec<u8>],
    anchors: &[&TrustAnchor],
    now: i64,
) -> Result<VerifiedChain, ChainError> {
    if intermediates.len() > MAX_INTERMEDIATES {
        return Err(ChainError::TooLong {
            presented: intermediates.len(),
            max: MAX_INTERMEDIATES,
        });
    }
    if anchors.is_empty() {
        return Err(ChainError::NoAnchors);
    }
    let (leaf_not_before, leaf_not_after) = validity_of(leaf_der).map_err(ChainError::BadLeaf)?;
    let leaf = CertificateDer::from(leaf_der);
    let end_entity =
        EndEntityCert::try_from(&leaf).map_err(|err| ChainError::BadLeaf(err.to_string()))?;
    let presented: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .collect();
    let webpki_anchors: Vec<rustls_pki_types::TrustAnchor<'_>> =
        anchors.iter().map(|anchor| anchor.as_webpki()).collect();
    // Before 1970 is not a time this filter runs at.
    let time = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(now).unwrap_or(0)));

    // webpki asks this about every path it completes; refusing one makes it search on. What
    // we refused and why, so that webpki's final error can be told apart as ours.
    let refusals: RefCell<Vec<(webpki::Error, ChainError)>> = RefCell::new(Vec::new());
    let anchor_checks = |path: &VerifiedPath<'_>| -> Result<(), webpki::Error> {
        let Some(index) = anchor_index(anchors, &webpki_anchors, path.anchor()) else {
            return Err(webpki::Error::UnknownIssuer);
        };
        let Some(anchor) = anchors.get(index) else {
            return Err(webpki::Error::UnknownIssuer);
        };
        if let Some((webpki_error, ours)) = check_anchor(anchor, index, path, time, now) {
            refusals.borrow_mut().push((webpki_error.clone(), ours));
            return Err(webpki_error);
        }
        Ok(())
    };

    let path = end_entity
        .verify_for_usage(
            algorithms::ALL,
            &webpki_anchors,
            &presented,
            time,
            KeyUsage::client_auth(),
            None,
            Some(&anchor_checks),
        )
        .map_err(|err| {
            let ours = refusals
                .borrow()
                .iter()
                .find(|(webpki_error, _)| *webpki_error == err)
                .map(|(_, ours)| ours.clone());
            ours.unwrap_or(ChainError::Webpki(err))
        })?;

    let index = anchor_index(anchors, &webpki_anchors, path.anchor())
        .ok_or(ChainError::Webpki(webpki::Error::UnknownIssuer))?;
    let anchor = anchors
        .get(index)
        .ok_or(ChainError::Webpki(webpki::Error::UnknownIssuer))?;
    let mut valid_from = leaf_not_before.max(anchor.not_before());
    let mut valid_until = leaf_not_after.min(anchor.not_after());
    for cert in path.intermediate_certificates() {
        let (not_before, not_after) =
            validity_of(cert.der().as_ref()).map_err(ChainError::BadIntermediate)?;
        valid_from = valid_from.max(not_before);
        valid_until = valid_until.min(not_after);
    }
    Ok(VerifiedChain {
        anchor: index,
        valid_from,
        valid_until,
    })
}

/// What webpki leaves to us about an anchor: its validity period and its own
/// `pathLenConstraint`. `Some((error for webpki, error for the caller))` refuses the path.
fn check_anchor(
    anchor: &TrustAnchor,
    index: usize,
    path: &VerifiedPath<'_>,
    time: UnixTime,
    now: i64,
) -> Option<(webpki::Error, ChainError)> {
    if !anchor.is_valid_at(now) {
        let ours = ChainError::AnchorNotValid {
            anchor: index,
            now,
            not_before: anchor.not_before(),
            not_after: anchor.not_after(),
        };
        // webpki's validity errors, so that it ranks this refusal as it ranks an expired
        // intermediate (above "unknown issuer").
        let webpki_error = if now < anchor.not_before() {
            webpki::Error::CertNotValidYet {
                time,
                not_before: unix_time(anchor.not_before()),
            }
        } else {
            webpki::Error::CertExpired {
                time,
                not_after: unix_time(anchor.not_after()),
            }
        };
        return Some((webpki_error, ours));
    }
    if let Some(path_len) = anchor.path_len() {
        let intermediates = path.intermediate_certificates().count();
        if intermediates > usize::from(path_len) {
            let ours = ChainError::AnchorPathLen {
                anchor: index,
                path_len,
                intermediates,
            };
            return Some((webpki::Error::PathLenConstraintViolated, ours));
        }
    }
    None
}

/// The index of the anchor webpki chose. webpki hands back a reference into the slice it
/// was given, so identity finds it exactly (even among anchors sharing a subject and key);
/// subject and key are the fallback.
fn anchor_index(
    anchors: &[&TrustAnchor],
    webpki_anchors: &[rustls_pki_types::TrustAnchor<'_>],
    chosen: &rustls_pki_types::TrustAnchor<'_>,
) -> Option<usize> {
    webpki_anchors
        .iter()
        .position(|candidate| core::ptr::eq(candidate, chosen))
        .or_else(|| anchors.iter().position(|anchor| anchor.matches(chosen)))
}

fn unix_time(seconds: i64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
}

/// A certificate's validity period, unix seconds.
fn validity_of(der: &[u8]) -> Result<(i64, i64), String> {
    // Bytes after the certificate are webpki's concern (it refuses them in a leaf).
    let (cert, _) = decode_certificate(der).map_err(|err| err.to_string())?;
    validity(&cert).map_err(|err| err.to_string())
}
