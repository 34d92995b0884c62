//! The behaviour the [`Store`] must have over every backend, as one suite: each backend's
//! tests call [`run`] with a factory of stores over it (`sqlite.rs`, `redis.rs`).
//!
//! The factory gets the number of change-log versions to retain and returns a fresh, empty
//! store. Failures panic, as test assertions do. Test-only: not in the release binary.

use super::{NewCertificate, Store, StoreError, StoredCertificate};
use crate::certificates::upload::MaterialKind;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::ids::CertificateId;
use mtls_gate_core::session::{AccessDefinition, Session};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Makes a fresh, empty store that keeps `retained_versions` versions of change log.
pub type StoreFactory<'a> = dyn Fn(u64) -> Store + 'a;

/// Runs every check against stores from `make`.
pub fn run(make: &StoreFactory<'_>) {
    certificates_are_listed_in_upload_order_and_scoped_by_org(&make(100));
    duplicate_certificate_id_is_refused_and_nothing_changes(&make(100));
    private_key_round_trips_and_is_absent_without_one(&make(100));
    deleting_a_certificate_keeps_its_sessions(&make(100));
    session_rules(&make(100));
    feed_from_zero_is_a_snapshot_then_incremental(&make(100));
    feed_folds_changes_and_lists_only_the_certificate_on_its_delete(&make(100));
    a_reuploaded_certificate_reappears_in_the_feed_beside_its_kept_session(&make(100));
    feed_gives_a_snapshot_when_since_is_older_than_the_log(&make(3));
    feed_gives_a_snapshot_for_a_version_from_another_store(&make(100), &make(100));
    no_op_writes_do_not_bump_the_version(&make(100));
    lookup_answers_session_and_certificate(&make(100));
    lookup_of_a_session_whose_certificate_was_deleted_has_no_cert(&make(100));
    named_records_round_trip_without_a_version_bump(&make(100));
    feed_held_back_at_a_version_gives_only_what_came_before(&make(100));
}

/// A certificate without a key, for backends' own tests (its ID is its fake fingerprint).
pub fn test_certificate(seed: &str) -> NewCertificate {
    cert("", seed, None)
}

fn fake_fingerprint(seed: &str) -> String {
    hex::encode(Sha256::digest(seed.as_bytes()))
}

fn cert(org: &str, seed: &str, key: Option<&[u8]>) -> NewCertificate {
    let fingerprint = Fingerprint::parse_wire_hex(&fake_fingerprint(seed))
        .unwrap_or_else(|e| panic!("fake fingerprint: {e}"));
    NewCertificate {
        certificate: StoredCertificate {
            id: CertificateId::new(org, &fingerprint),
            org_id: org.to_owned(),
            kind: MaterialKind::Certificate,
            fingerprint,
            not_before: 1_700_000_000,
            not_after: 1_900_000_000,
            is_ca: false,
            has_private: key.is_some(),
            material_pem: format!(
                "-----BEGIN CERTIFICATE-----\n{seed}\n-----END CERTIFICATE-----\n"
            ),
        },
        private_key_der: key.map(|k| Zeroizing::new(k.to_vec())),
    }
}

fn session_for(certificate_id: &str, org: &str, alias: &str) -> Session {
    Session {
        org_id: org.to_owned(),
        certificate: certificate_id.to_owned(),
        alias: alias.to_owned(),
        ..Session::default()
    }
}

fn ok<T>(result: Result<T, StoreError>) -> T {
    result.unwrap_or_else(|e| panic!("store call failed: {e}"))
}

fn certificates_are_listed_in_upload_order_and_scoped_by_org(store: &Store) {
    let a = cert("org1", "a", None);
    let b = cert("", "b", None);
    let c = cert("org1", "c", None);
    let ids: Vec<String> = [&a, &b, &c]
        .iter()
        .map(|n| n.certificate.id.to_string())
        .collect();
    for new in [a, b, c] {
        ok(store.add_certificate(new));
    }
    let all: Vec<String> = ok(store.certificates(None))
        .into_iter()
        .map(|c| c.id.into_string())
        .collect();
    assert_eq!(all, ids);
    let org1: Vec<String> = ok(store.certificates(Some("org1")))
        .into_iter()
        .map(|c| c.id.into_string())
        .collect();
    assert_eq!(org1, [ids[0].clone(), ids[2].clone()]);
    assert!(ok(store.certificates(Some("nobody"))).is_empty());
    let got = ok(store.certificate(&ids[1])).unwrap_or_else(|| panic!("missing {}", ids[1]));
    assert_eq!(got, cert("", "b", None).certificate);
    assert!(ok(store.certificate("missing")).is_none());
}

fn duplicate_certificate_id_is_refused_and_nothing_changes(store: &Store) {
    ok(store.add_certificate(cert("", "dup", None)));
    let version = ok(store.version());
    let again = store.add_certificate(cert("", "dup", Some(b"key")));
    assert!(
        matches!(again, Err(StoreError::CertificateExists(id)) if id == fake_fingerprint("dup"))
    );
    assert_eq!(ok(store.version()), version);
    assert!(ok(store.private_key(&fake_fingerprint("dup"))).is_none());
}

fn private_key_round_trips_and_is_absent_without_one(store: &Store) {
    let with = cert("", "with-key", Some(b"0123456789 key der"));
    let id = with.certificate.id.to_string();
    ok(store.add_certificate(with));
    ok(store.add_certificate(cert("", "without-key", None)));
    let stored = ok(store.certificate(&id)).unwrap_or_else(|| panic!("missing"));
    assert!(stored.has_private);
    let key = ok(store.private_key(&id)).unwrap_or_else(|| panic!("key missing"));
    assert_eq!(key.as_slice(), b"0123456789 key der");
    assert!(ok(store.private_key(&fake_fingerprint("without-key"))).is_none());
    assert!(ok(store.private_key("missing")).is_none());
}

/// SPEC §2 "Revocation by deletion": the keys of a deleted certificate stay.
fn deleting_a_certificate_keeps_its_sessions(store: &Store) {
    let new = cert("org1", "revoked", None);
    let id = new.certificate.id.to_string();
    ok(store.add_certificate(new));
    ok(store.add_certificate(cert("org1", "kept", None)));
    let kept_id = format!("org1{}", fake_fingerprint("kept"));
    let bound = session_for(&id, "org1", "one");
    ok(store.create_session(&id, &bound));
    ok(store.create_session(&kept_id, &session_for(&kept_id, "org1", "three")));
    let version = ok(store.version());
    assert!(ok(store.delete_certificate(&id)));
    assert_eq!(ok(store.version()), version + 1, "one write");
    assert!(ok(store.certificate(&id)).is_none());
    assert_eq!(ok(store.session(&id)), Some(bound.clone()));
    assert!(ok(store.session(&kept_id)).is_some());
    assert!(!ok(store.delete_certificate(&id)));

    // The orphaned session cannot be updated (its certificate must exist) but can be deleted.
    assert!(matches!(
        store.update_session(&id, &bound),
        Err(StoreError::CertificateNotFound(missing)) if missing == id
    ));
    assert_eq!(ok(store.session(&id)), Some(bound));
    assert!(ok(store.delete_session(&id)));
    assert!(ok(store.session(&id)).is_none());
}

fn session_rules(store: &Store) {
    let new = cert("org1", "s", None);
    let id = new.certificate.id.to_string();
    ok(store.add_certificate(new));
    let mut session = session_for(&id, "org1", "client");
    session
        .extra
        .insert("quota_max".into(), serde_json::json!(-1));
    ok(store.create_session(&id, &session));
    assert_eq!(ok(store.session(&id)), Some(session.clone()));
    assert!(matches!(
        store.create_session(&id, &session),
        Err(StoreError::SessionExists(key)) if key == id
    ));
    assert!(matches!(
        store.create_session("other", &session_for("no-such-cert", "", "")),
        Err(StoreError::CertificateNotFound(_))
    ));

    session.is_inactive = true;
    session.access_rights.insert(
        "api1".into(),
        AccessDefinition {
            api_id: "api1".into(),
            ..AccessDefinition::default()
        },
    );
    ok(store.update_session(&id, &session));
    assert_eq!(ok(store.session(&id)), Some(session.clone()));
    assert!(matches!(
        store.update_session("missing", &session),
        Err(StoreError::SessionNotFound(_))
    ));
    assert!(matches!(
        store.update_session(&id, &session_for("no-such-cert", "", "")),
        Err(StoreError::CertificateNotFound(_))
    ));
    assert_eq!(ok(store.session(&id)), Some(session));

    assert!(ok(store.delete_session(&id)));
    assert!(ok(store.session(&id)).is_none());
    assert!(!ok(store.delete_session(&id)));
}

fn feed_from_zero_is_a_snapshot_then_incremental(store: &Store) {
    let empty = ok(store.changes_since(0));
    assert!(empty.full);
    assert!(empty.certs.is_empty() && empty.sessions.is_empty());
    let start = empty.version;
    assert!(start > 0);

    let new = cert("o", "feed", Some(b"k"));
    let id = new.certificate.id.to_string();
    ok(store.add_certificate(new));
    ok(store.create_session(&id, &session_for(&id, "o", "alias")));

    let snapshot = ok(store.changes_since(0));
    assert!(snapshot.full);
    assert_eq!(snapshot.version, start + 2);
    assert_eq!(snapshot.certs.len(), 1);
    assert_eq!(snapshot.certs[0].id, id);
    assert!(snapshot.certs[0].has_private);
    assert_eq!(snapshot.certs[0].not_after, Some(1_900_000_000));
    assert_eq!(
        snapshot.certs[0].fingerprint.to_hex(),
        fake_fingerprint("feed")
    );
    assert_eq!(snapshot.sessions.len(), 1);
    assert_eq!(snapshot.sessions[0].key, id);
    assert_eq!(snapshot.sessions[0].grant.alias, "alias");

    let incremental = ok(store.changes_since(start));
    assert!(!incremental.full);
    assert_eq!(incremental.version, start + 2);
    assert_eq!(incremental.certs, snapshot.certs);
    assert_eq!(incremental.sessions, snapshot.sessions);

    let after_session = ok(store.changes_since(start + 1));
    assert!(after_session.certs.is_empty());
    assert_eq!(after_session.sessions.len(), 1);

    let current = ok(store.changes_since(start + 2));
    assert!(!current.full);
    assert_eq!(current.version, start + 2);
    assert!(current.certs.is_empty() && current.sessions.is_empty());
    assert!(current.removed_certs.is_empty() && current.removed_sessions.is_empty());
}

fn feed_folds_changes_and_lists_only_the_certificate_on_its_delete(store: &Store) {
    let new = cert("o", "gone", None);
    let id = new.certificate.id.to_string();
    ok(store.add_certificate(new));
    ok(store.create_session(&id, &session_for(&id, "o", "a")));
    let before = ok(store.version());
    let mut updated = session_for(&id, "o", "b");
    updated.expires = 42;
    ok(store.update_session(&id, &updated));
    let set = ok(store.changes_since(before));
    assert_eq!(set.sessions.len(), 1);
    assert_eq!(set.sessions[0].grant.alias, "b");
    assert_eq!(set.sessions[0].grant.expires, 42);

    let before_delete = ok(store.version());
    ok(store.delete_certificate(&id));
    let set = ok(store.changes_since(before_delete));
    assert!(!set.full);
    assert!(set.certs.is_empty() && set.sessions.is_empty());
    assert_eq!(set.removed_certs, std::slice::from_ref(&id));
    assert!(
        set.removed_sessions.is_empty(),
        "the certificate's session stays: the filter refuses it while the certificate is gone"
    );

    let folded = ok(store.changes_since(before));
    assert_eq!(folded.removed_certs, std::slice::from_ref(&id));
    assert_eq!(folded.sessions.len(), 1, "the update is still there");
    assert!(folded.removed_sessions.is_empty());

    // A snapshot still carries the session whose certificate is gone.
    let snapshot = ok(store.changes_since(0));
    assert!(snapshot.full);
    assert!(snapshot.certs.iter().all(|c| c.id != id));
    assert_eq!(snapshot.sessions.len(), 1);
    assert_eq!(snapshot.sessions[0].key, id);
    assert_eq!(snapshot.sessions[0].grant.alias, "b");
}

/// SPEC §2: uploading the same certificate again restores access.
fn a_reuploaded_certificate_reappears_in_the_feed_beside_its_kept_session(store: &Store) {
    let new = cert("o", "back", Some(b"key der"));
    let id = new.certificate.id.to_string();
    ok(store.add_certificate(new));
    ok(store.create_session(&id, &session_for(&id, "o", "a")));
    let before = ok(store.version());
    ok(store.delete_certificate(&id));
    ok(store.add_certificate(cert("o", "back", Some(b"key der"))));
    let set = ok(store.changes_since(before));
    assert!(!set.full);
    assert!(set.removed_certs.is_empty(), "the last change wins");
    assert_eq!(set.certs.len(), 1);
    assert_eq!(set.certs[0].id, id);
    assert!(set.certs[0].has_private);
    assert!(set.sessions.is_empty() && set.removed_sessions.is_empty());
    assert_eq!(ok(store.session(&id)).map(|s| s.alias), Some("a".into()));
    let found = ok(store.lookup(&id));
    assert!(found.session.is_some());
    assert_eq!(found.cert.map(|c| c.id.into_string()), Some(id));
}

fn feed_gives_a_snapshot_when_since_is_older_than_the_log(store: &Store) {
    let start = ok(store.version());
    for seed in ["1", "2", "3", "4", "5"] {
        ok(store.add_certificate(cert("", seed, None)));
    }
    let version = ok(store.version());
    assert_eq!(version, start + 5);
    let old = ok(store.changes_since(start + 1));
    assert!(old.full, "since older than the 3 retained versions");
    assert_eq!(old.certs.len(), 5);
    let recent = ok(store.changes_since(version - 3));
    assert!(!recent.full);
    assert_eq!(recent.certs.len(), 3);
}

fn feed_gives_a_snapshot_for_a_version_from_another_store(a: &Store, b: &Store) {
    ok(a.add_certificate(cert("", "a", None)));
    ok(b.add_certificate(cert("", "b", None)));
    let from_a = ok(a.version());
    let from_b = ok(b.changes_since(from_a));
    assert!(from_b.full, "versions of one store mean nothing to another");
    assert_eq!(from_b.certs.len(), 1);
    assert_eq!(from_b.certs[0].fingerprint.to_hex(), fake_fingerprint("b"));
    let future = ok(a.changes_since(from_a + 1));
    assert!(future.full);
}

fn no_op_writes_do_not_bump_the_version(store: &Store) {
    let version = ok(store.version());
    assert!(!ok(store.delete_certificate("missing")));
    assert!(!ok(store.delete_session("missing")));
    assert!(
        store
            .create_session("k", &session_for("missing", "", ""))
            .is_err()
    );
    assert_eq!(ok(store.version()), version);
}

fn lookup_of_a_session_whose_certificate_was_deleted_has_no_cert(store: &Store) {
    let new = cert("o", "orphan", None);
    let id = new.certificate.id.to_string();
    ok(store.add_certificate(new));
    ok(store.create_session(&id, &session_for(&id, "o", "orphan")));
    ok(store.delete_certificate(&id));
    let answer = ok(store.lookup(&id));
    assert_eq!(answer.key, id);
    assert_eq!(answer.session.map(|g| g.alias), Some("orphan".into()));
    assert!(
        answer.cert.is_none(),
        "SPEC §4 step 3: the filter answers 403"
    );
}

fn lookup_answers_session_and_certificate(store: &Store) {
    let new = cert("", "lookup", None);
    let id = new.certificate.id.to_string();
    ok(store.add_certificate(new));
    let key = format!("org9{}", fake_fingerprint("lookup"));
    let missing = ok(store.lookup(&key));
    assert_eq!(missing.key, key);
    assert!(missing.session.is_none() && missing.cert.is_none());
    let by_id = ok(store.lookup(&id));
    assert!(by_id.session.is_none());
    assert_eq!(by_id.cert.map(|c| c.id.into_string()), Some(id.clone()));

    ok(store.create_session(&key, &session_for(&id, "org9", "nine")));
    let found = ok(store.lookup(&key));
    assert_eq!(found.session.map(|g| g.alias), Some("nine".into()));
    assert_eq!(found.cert.map(|c| c.id.into_string()), Some(id));
}

fn named_records_round_trip_without_a_version_bump(store: &Store) {
    let version = ok(store.version());
    assert_eq!(ok(store.named_record("render")), None);
    ok(store.put_named_record("render", r#"{"out_dir": "/tmp/a"}"#));
    ok(store.put_named_record("gate", r#"{"apis": []}"#));
    assert_eq!(
        ok(store.named_record("render")).as_deref(),
        Some(r#"{"out_dir": "/tmp/a"}"#)
    );
    ok(store.put_named_record("render", r#"{"out_dir": "/tmp/b"}"#));
    assert_eq!(
        ok(store.named_record("render")).as_deref(),
        Some(r#"{"out_dir": "/tmp/b"}"#)
    );
    assert_eq!(
        ok(store.named_record("gate")).as_deref(),
        Some(r#"{"apis": []}"#)
    );
    // Not a certificate or session change: the filters' feed does not move.
    assert_eq!(ok(store.version()), version);
    let feed = ok(store.changes_since(version));
    assert!(!feed.full && feed.certs.is_empty() && feed.sessions.is_empty());
}

fn feed_held_back_at_a_version_gives_only_what_came_before(store: &Store) {
    let start = ok(store.version());
    let first = cert("o", "held-1", Some(b"k"));
    let first_id = first.certificate.id.to_string();
    ok(store.add_certificate(first));
    let second = cert("o", "held-2", None);
    let second_id = second.certificate.id.to_string();
    ok(store.add_certificate(second));
    assert!(ok(store.delete_certificate(&first_id)));

    let held = ok(store.changes_until(start, start + 1));
    assert!(!held.full);
    assert_eq!(held.version, start + 1);
    assert_eq!(held.certs.len(), 1);
    assert_eq!(held.certs[0].id, first_id);
    assert!(held.removed_certs.is_empty());

    let next = ok(store.changes_until(start + 1, start + 3));
    assert_eq!(next.version, start + 3);
    assert_eq!(next.certs.len(), 1);
    assert_eq!(next.certs[0].id, second_id);
    assert_eq!(next.removed_certs, vec![first_id.clone()]);

    // Already at (or past) the cap: nothing, at the version asked from.
    let nothing = ok(store.changes_until(start + 2, start + 1));
    assert!(!nothing.full);
    assert_eq!(nothing.version, start + 2);
    assert!(nothing.certs.is_empty() && nothing.removed_certs.is_empty());

    // A cap beyond the store is the store.
    assert_eq!(
        ok(store.changes_until(start, u64::MAX)),
        ok(store.changes_since(start))
    );
    // A snapshot is always the current state.
    let snapshot = ok(store.changes_until(0, start + 1));
    assert!(snapshot.full);
    assert_eq!(snapshot.version, start + 3);
}
