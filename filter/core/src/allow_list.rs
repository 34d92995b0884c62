//! Static client-certificate allow lists: an API's `client_certificates` and the global
//! `security.certificates.apis` (SPEC §3). Lookup is a hash probe by fingerprint, so the
//! per-request cost does not grow with the list.

use crate::cert_ref::CertRef;
use crate::fingerprint::Fingerprint;
use rustc_hash::FxHashMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    by_fingerprint: FxHashMap<Fingerprint, CertRef>,
}

impl AllowList {
    pub fn new(entries: impl IntoIterator<Item = CertRef>) -> Self {
        let mut by_fingerprint: FxHashMap<Fingerprint, CertRef> = FxHashMap::default();
        for entry in entries {
            let fingerprint = entry.fingerprint();
            // A self-contained (pinned) entry never depends on the store, so it wins over a
            // store ID for the same certificate.
            let keep_existing = matches!(
                by_fingerprint.get(&fingerprint),
                Some(CertRef::Pinned { .. })
            );
            if !keep_existing {
                by_fingerprint.insert(fingerprint, entry);
            }
        }
        AllowList { by_fingerprint }
    }

    pub fn get(&self, fingerprint: &Fingerprint) -> Option<&CertRef> {
        self.by_fingerprint.get(fingerprint)
    }

    pub fn len(&self) -> usize {
        self.by_fingerprint.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_fingerprint.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_entry_wins_over_store_id_for_the_same_fingerprint() {
        let fingerprint = Fingerprint::of_der(b"leaf");
        let store = CertRef::StoreId {
            id: format!("org{fingerprint}"),
            fingerprint,
        };
        let pinned = CertRef::Pinned {
            fingerprint,
            not_after: Some(5),
            has_private_key: false,
        };
        for entries in [
            vec![store.clone(), pinned.clone()],
            vec![pinned.clone(), store.clone()],
        ] {
            assert_eq!(AllowList::new(entries).get(&fingerprint), Some(&pinned));
        }
        assert!(
            AllowList::new([store])
                .get(&Fingerprint::of_der(b"other"))
                .is_none()
        );
    }
}
