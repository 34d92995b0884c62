//! The change log behind the feed, shared by every backend: what one log row is, when a
//! reader needs a snapshot, and how rows fold into one incremental [`ChangeSet`].
//!
//! Versions: each store starts at a random base (`epoch_base`), and every write adds one.
//! A reader's `since` is answered incrementally only while `floor <= since <= version`, where
//! `floor` is the newest version pruned from the log (the base, before any pruning). `since` 0,
//! too old, or from another store (almost surely outside the window, given the random base)
//! gets a snapshot.

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use mtls_gate_core::feed::{CertIndexEntry, ChangeSet, SessionEntry};
use mtls_gate_core::ids::{CertificateId, SessionKey};
use mtls_gate_core::session::SessionGrant;
use std::collections::HashMap;

/// What one log row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    CertUpsert,
    CertRemove,
    SessionUpsert,
    SessionRemove,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::CertUpsert => "cert_upsert",
            ChangeKind::CertRemove => "cert_remove",
            ChangeKind::SessionUpsert => "session_upsert",
            ChangeKind::SessionRemove => "session_remove",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            ChangeKind::CertUpsert,
            ChangeKind::CertRemove,
            ChangeKind::SessionUpsert,
            ChangeKind::SessionRemove,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// One row of the change log. Upserts carry their JSON payload (a [`CertIndexEntry`] or a
/// [`SessionGrant`]), so a reader never needs the tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub version: u64,
    pub kind: ChangeKind,
    pub key: String,
    pub payload: Option<String>,
}

impl ChangeRow {
    pub fn cert_upsert(version: u64, entry: &CertIndexEntry) -> Self {
        ChangeRow {
            version,
            kind: ChangeKind::CertUpsert,
            key: entry.id.to_string(),
            payload: serde_json::to_string(entry).ok(),
        }
    }

    pub fn session_upsert(version: u64, key: &str, grant: &SessionGrant) -> Self {
        ChangeRow {
            version,
            kind: ChangeKind::SessionUpsert,
            key: key.to_owned(),
            payload: serde_json::to_string(grant).ok(),
        }
    }

    pub fn removal(version: u64, kind: ChangeKind, key: &str) -> Self {
        ChangeRow {
            version,
            kind,
            key: key.to_owned(),
            payload: None,
        }
    }
}

/// The first version of a new store: a random multiple of 2^32 below 2^53 (so versions stay
/// exact in any JSON reader).
pub fn epoch_base() -> u64 {
    let high = u64::from(OsRng.next_u32() % ((1 << 21) - 1)) + 1;
    high << 32
}

/// True when a reader at `since` needs a snapshot rather than the log after `since`.
pub fn wants_snapshot(since: u64, floor: u64, version: u64) -> bool {
    since == 0 || since < floor || since > version
}

/// The newest version to prune after a write that reached `version`.
pub fn prune_floor(version: u64, retained_versions: u64) -> u64 {
    version.saturating_sub(retained_versions)
}

/// Folds log rows (oldest first) into one incremental set at `version`: per certificate ID
/// and per session key, the last change wins.
pub fn fold(rows: Vec<ChangeRow>, version: u64) -> Result<ChangeSet, String> {
    enum Last {
        Upsert(String),
        Removed,
    }
    let mut certs: HashMap<String, (usize, Last)> = HashMap::new();
    let mut sessions: HashMap<String, (usize, Last)> = HashMap::new();
    for (order, row) in rows.into_iter().enumerate() {
        let (table, last) = match row.kind {
            ChangeKind::CertUpsert | ChangeKind::SessionUpsert => {
                let payload = row
                    .payload
                    .ok_or_else(|| format!("upsert of {} has no payload", row.key))?;
                (row.kind, Last::Upsert(payload))
            }
            ChangeKind::CertRemove | ChangeKind::SessionRemove => (row.kind, Last::Removed),
        };
        let target = match table {
            ChangeKind::CertUpsert | ChangeKind::CertRemove => &mut certs,
            ChangeKind::SessionUpsert | ChangeKind::SessionRemove => &mut sessions,
        };
        target.insert(row.key, (order, last));
    }

    let mut set = ChangeSet {
        version,
        full: false,
        ..ChangeSet::default()
    };
    for (key, last) in in_log_order(certs) {
        match last {
            Last::Upsert(payload) => set
                .certs
                .push(serde_json::from_str(&payload).map_err(|e| format!("cert {key}: {e}"))?),
            Last::Removed => set.removed_certs.push(CertificateId::verbatim(key)),
        }
    }
    for (key, last) in in_log_order(sessions) {
        match last {
            Last::Upsert(payload) => set.sessions.push(SessionEntry {
                grant: serde_json::from_str(&payload).map_err(|e| format!("session {key}: {e}"))?,
                key: SessionKey::verbatim(key),
            }),
            Last::Removed => set.removed_sessions.push(SessionKey::verbatim(key)),
        }
    }
    Ok(set)
}

fn in_log_order<T>(map: HashMap<String, (usize, T)>) -> Vec<(String, T)> {
    let mut entries: Vec<_> = map.into_iter().collect();
    entries.sort_by_key(|(_, (order, _))| *order);
    entries
        .into_iter()
        .map(|(key, (_, last))| (key, last))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(id: &str) -> CertIndexEntry {
        CertIndexEntry {
            id: CertificateId::verbatim(id),
            fingerprint: mtls_gate_core::fingerprint::Fingerprint::of_der(id.as_bytes()),
            not_after: None,
            has_private: false,
            is_ca: false,
            trust_anchor: None,
        }
    }

    #[test]
    fn last_change_per_key_wins() {
        let rows = vec![
            ChangeRow::cert_upsert(1, &cert("a")),
            ChangeRow::cert_upsert(2, &cert("b")),
            ChangeRow::removal(3, ChangeKind::CertRemove, "a"),
            ChangeRow::session_upsert(3, "s", &SessionGrant::default()),
            ChangeRow::removal(4, ChangeKind::SessionRemove, "s"),
            ChangeRow::removal(5, ChangeKind::CertRemove, "b"),
            ChangeRow::cert_upsert(6, &cert("b")),
        ];
        let set = fold(rows, 6).unwrap();
        assert_eq!(set.version, 6);
        assert!(!set.full);
        assert_eq!(set.removed_certs, ["a"]);
        assert_eq!(set.certs, [cert("b")]);
        assert!(set.sessions.is_empty());
        assert_eq!(set.removed_sessions, ["s"]);
    }

    #[test]
    fn snapshot_rules() {
        assert!(wants_snapshot(0, 10, 20));
        assert!(wants_snapshot(9, 10, 20));
        assert!(!wants_snapshot(10, 10, 20));
        assert!(!wants_snapshot(20, 10, 20));
        assert!(wants_snapshot(21, 10, 20));
    }

    #[test]
    fn epoch_bases_are_nonzero_exact_in_json_and_differ() {
        let a = epoch_base();
        assert!(a > 0 && a < (1 << 53));
        assert_eq!(a % (1 << 32), 0);
        assert!((0..8).map(|_| epoch_base()).any(|b| b != a));
    }

    #[test]
    fn kinds_round_trip_through_text() {
        for kind in [
            ChangeKind::CertUpsert,
            ChangeKind::CertRemove,
            ChangeKind::SessionUpsert,
            ChangeKind::SessionRemove,
        ] {
            assert_eq!(ChangeKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ChangeKind::parse("nope"), None);
    }
}
