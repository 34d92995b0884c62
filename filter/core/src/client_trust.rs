//! CA entries in client allow lists (SPEC §3): which trust anchors an API's lists name,
//! and each worker's cache of chain verdicts, so a CA-admitted client pays for one chain
//! verification per worker and then costs what a listed fingerprint costs.
//!
//! Only certificates the allow lists name are anchors: an inline PEM whose first
//! certificate is a CA, or a store ID whose synced index entry is a CA (the feed carries
//! its [`TrustAnchorParts`], never the certificate). A CA that is merely in the store
//! trusts nothing. The chain itself is verified by [`crate::trust`].

use crate::certificate::parse_bundle;
use crate::decision::StoreView;
use crate::fingerprint::Fingerprint;
use crate::pem::looks_like_pem;
use crate::trust::{TrustAnchor, TrustAnchorParts, verify_client_chain};
use std::collections::HashMap;

/// An inline PEM allow-list entry that is a CA certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineCa {
    pub anchor: TrustAnchor,
    /// The CA certificate's DER: `render` hands it to Envoy as handshake trust (SPEC §8).
    pub der: Vec<u8>,
}

impl InlineCa {
    /// `Some` when `entry` is inline PEM whose first certificate is a CA (basic
    /// constraints `CA:TRUE`); `None` for every other kind of entry.
    pub fn from_entry(entry: &str) -> Result<Option<InlineCa>, String> {
        let entry = entry.trim();
        if !looks_like_pem(entry) {
            return Ok(None);
        }
        let bundle = parse_bundle(entry).map_err(|e| format!("inline PEM: {e}"))?;
        let Some((block, facts)) = bundle.certificates.first() else {
            return Ok(None);
        };
        if !facts.is_ca {
            return Ok(None);
        }
        let anchor = TrustAnchor::from_ca_der(&block.der)
            .map_err(|e| format!("inline CA certificate: {e}"))?;
        Ok(Some(InlineCa {
            anchor,
            der: block.der.clone(),
        }))
    }
}

/// What one API trusts by CA: the anchors its own list and the global list name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTrust {
    /// Names this set in per-worker caches; APIs with equal sets share one.
    pub id: usize,
    pub inline: Vec<InlineCa>,
    /// Store IDs in the lists. Which of them are CAs the synced index says, per request.
    pub store_ids: Vec<String>,
}

impl ClientTrust {
    /// No entry could be a CA: the chain is never fetched.
    pub fn is_empty(&self) -> bool {
        self.inline.is_empty() && self.store_ids.is_empty()
    }

    /// Same anchors and store IDs, whatever the `id`.
    pub fn same_sources(&self, other: &ClientTrust) -> bool {
        self.inline == other.inline && self.store_ids == other.store_ids
    }
}

/// The certificates a client presented, as Envoy passed them on: the leaf (already known
/// to hash to the connection's digest) and whatever else it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedChain {
    pub leaf: Vec<u8>,
    pub intermediates: Vec<Vec<u8>>,
}

/// Where the anchor that verified a chain came from: what must still hold for the
/// cached verdict to stand.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AnchorSource {
    /// In the configuration, which lives as long as this cache.
    Inline,
    /// In the store: only while the synced index still holds it as a CA.
    Store(String),
}

#[derive(Debug, Clone)]
enum CachedVerdict {
    Trusted {
        anchor: AnchorSource,
        valid_from: i64,
        valid_until: i64,
    },
    /// Refused at this feed version: a CA uploaded since may change the answer.
    Refused { store_version: u64, checked_at: i64 },
}

/// One worker's chain verdicts by (leaf fingerprint, [`ClientTrust::id`]). Bounded:
/// cleared when full.
#[derive(Debug, Default)]
pub struct ChainCache {
    verdicts: HashMap<(Fingerprint, usize), CachedVerdict>,
    verifications: u64,
}

impl ChainCache {
    /// Entries kept before the cache starts over.
    pub const LIMIT: usize = 10_000;
    /// How long a refusal is believed without a store change (a not-yet-valid
    /// certificate becomes valid with time alone).
    pub const REFUSAL_TTL_S: i64 = 60;

    /// Does `fingerprint`'s chain lead to an anchor of `trust` at `now`? `chain` is
    /// called only when no cached verdict stands; `None` (nothing to verify) refuses
    /// without caching.
    pub fn admits(
        &mut self,
        fingerprint: &Fingerprint,
        trust: &ClientTrust,
        store: &dyn StoreView,
        now: i64,
        chain: impl FnOnce() -> Option<PresentedChain>,
    ) -> bool {
        let key = (*fingerprint, trust.id);
        match self.verdicts.get(&key) {
            Some(CachedVerdict::Trusted {
                anchor,
                valid_from,
                valid_until,
            }) if (*valid_from..=*valid_until).contains(&now) && anchor_present(anchor, store) => {
                return true;
            }
            Some(CachedVerdict::Refused {
                store_version,
                checked_at,
            }) if *store_version == store.version()
                && now.saturating_sub(*checked_at) < Self::REFUSAL_TTL_S =>
            {
                return false;
            }
            _ => {}
        }
        let (anchors, sources) = anchors_of(trust, store);
        let verdict = match anchors.is_empty() {
            true => None,
            false => {
                let Some(chain) = chain() else {
                    return false;
                };
                self.verifications = self.verifications.saturating_add(1);
                let refs: Vec<&TrustAnchor> = anchors.iter().map(|a| a.as_ref()).collect();
                verify_client_chain(&chain.leaf, &chain.intermediates, &refs, now).ok()
            }
        };
        let cached = match verdict.and_then(|v| Some((sources.get(v.anchor)?.clone(), v))) {
            Some((anchor, verified)) => CachedVerdict::Trusted {
                anchor,
                valid_from: verified.valid_from,
                valid_until: verified.valid_until,
            },
            None => CachedVerdict::Refused {
                store_version: store.version(),
                checked_at: now,
            },
        };
        let trusted = matches!(cached, CachedVerdict::Trusted { .. });
        if self.verdicts.len() >= Self::LIMIT {
            self.verdicts.clear();
        }
        self.verdicts.insert(key, cached);
        trusted
    }

    /// Chains verified so far (each one is real signature work).
    pub fn verifications(&self) -> u64 {
        self.verifications
    }

    pub fn len(&self) -> usize {
        self.verdicts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.verdicts.is_empty()
    }
}

/// An anchor borrowed from the config or rebuilt from the synced index.
enum AnchorRef<'a> {
    Borrowed(&'a TrustAnchor),
    Owned(TrustAnchor),
}

impl AnchorRef<'_> {
    fn as_ref(&self) -> &TrustAnchor {
        match self {
            AnchorRef::Borrowed(anchor) => anchor,
            AnchorRef::Owned(anchor) => anchor,
        }
    }
}

/// The anchors `trust` names that exist now, each with where it came from (same order).
fn anchors_of<'a>(
    trust: &'a ClientTrust,
    store: &dyn StoreView,
) -> (Vec<AnchorRef<'a>>, Vec<AnchorSource>) {
    let mut anchors = Vec::new();
    let mut sources = Vec::new();
    for inline in &trust.inline {
        anchors.push(AnchorRef::Borrowed(&inline.anchor));
        sources.push(AnchorSource::Inline);
    }
    for id in &trust.store_ids {
        if let Some(parts) = store_anchor(id, store) {
            anchors.push(AnchorRef::Owned(TrustAnchor::from_parts(parts)));
            sources.push(AnchorSource::Store(id.clone()));
        }
    }
    (anchors, sources)
}

/// The anchor of store certificate `id`, if the synced index holds it as a CA.
fn store_anchor(id: &str, store: &dyn StoreView) -> Option<TrustAnchorParts> {
    store
        .certificate(id)
        .filter(|entry| entry.is_ca)
        .and_then(|entry| entry.trust_anchor)
}

fn anchor_present(anchor: &AnchorSource, store: &dyn StoreView) -> bool {
    match anchor {
        AnchorSource::Inline => true,
        AnchorSource::Store(id) => store_anchor(id, store).is_some(),
    }
}

#[cfg(test)]
mod tests;
