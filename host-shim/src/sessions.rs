//! The certificate sessions behind `/tyk/keys` (SPEC §2 "Sessions"): a session is bound to a
//! stored certificate, and its key is that certificate's ID (`org_id` + fingerprint), so the
//! filter finds it from the peer certificate's digest.
//!
//! The rules a session must meet before anything is written, in the order they are checked:
//! - SPEC §2 "Keys need access rights": a non-empty `access_rights`, unless the shim runs with
//!   `--allow-master-keys` ([`KeyRules`]).
//! - `org_id` holds only the characters of `mtls_gate_core::org_id`.
//! - The certificate exists (deviation, SPEC §2: Tyk creates such a key).
//! - The session's org is the certificate's org: an empty `org_id` takes the certificate's,
//!   another is refused. So the key is always exactly the certificate ID, and a certificate
//!   has at most one key (an `org_id` prefix that differs from the certificate's would make
//!   a second key for the same fingerprint).

use crate::store::{Store, StoreError, StoredCertificate};
use mtls_gate_core::ids::SessionKey;
use mtls_gate_core::org_id::{self, OrgIdError};
use mtls_gate_core::session::Session;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What the shim accepts in a session beyond its shape. Tyk's config, `allow_master_keys`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyRules {
    /// Accept sessions with an empty `access_rights` (they open every API). Tyk's default,
    /// and ours, is false.
    pub allow_master_keys: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the session has no access rights and master keys are not allowed")]
    NoAccessRights,
    #[error("the session's {0}")]
    OrgId(OrgIdError),
    #[error("the session names no certificate")]
    NoCertificate,
    #[error("certificate {0:?} does not exist")]
    UnknownCertificate(String),
    #[error("the session's org_id {org_id:?} is not its certificate's org {certificate_org:?}")]
    OrgMismatch {
        org_id: String,
        certificate_org: String,
    },
    #[error("a session with key {0:?} already exists")]
    Exists(String),
    #[error("no session with that key")]
    NotFound,
    #[error("the session's certificate gives key {derived:?}, not {key:?}")]
    KeyWouldChange { key: String, derived: String },
    /// `POST /tyk/keys/<key>` with a key that is not the certificate's ID.
    #[error("the chosen key {chosen:?} is not the session's certificate ID {derived:?}")]
    ChosenKeyIsNotCertificateId { chosen: String, derived: String },
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for SessionError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::SessionExists(key) => SessionError::Exists(key),
            StoreError::SessionNotFound(_) => SessionError::NotFound,
            StoreError::CertificateNotFound(id) => SessionError::UnknownCertificate(id),
            other => SessionError::Store(other),
        }
    }
}

/// `POST /tyk/keys/create`. Returns the key.
pub fn create(
    store: &Store,
    rules: KeyRules,
    mut session: Session,
    now: OffsetDateTime,
) -> Result<String, SessionError> {
    let key = admit(store, rules, &mut session)?;
    stamp(&mut session, now, true);
    store.create_session(key.as_str(), &session)?;
    tracing::info!(%key, certificate = ?session.certificate, "key created");
    Ok(key.into_string())
}

/// `POST /tyk/keys/<key>` (Tyk's "create custom key / import key"). Tyk stores the session
/// under `org_id` + `key` (a `key` that already starts with the org is not prefixed twice);
/// here that must be the certificate's ID, the only key the filter looks a certificate's
/// session up by, so `key` is either the certificate ID or, with an org, its bare
/// fingerprint. As in Tyk, a key that exists is replaced (and answered as added). Returns
/// the key.
pub fn create_at(
    store: &Store,
    rules: KeyRules,
    key: &str,
    mut session: Session,
    now: OffsetDateTime,
) -> Result<String, SessionError> {
    let derived = admit(store, rules, &mut session)?;
    // Tyk's `generateToken(org, key)` for unhashed keys.
    let chosen = match key.strip_prefix(session.org_id.as_str()) {
        Some(_) => key.to_owned(),
        None => format!("{}{key}", session.org_id),
    };
    if derived != chosen {
        return Err(SessionError::ChosenKeyIsNotCertificateId {
            chosen,
            derived: derived.into_string(),
        });
    }
    stamp(&mut session, now, true);
    // Create, or replace what is there; a key deleted between the two is created again.
    for _ in 0..3 {
        match store.create_session(derived.as_str(), &session) {
            Err(StoreError::SessionExists(_)) => {}
            other => return finish_create(other, derived, &session),
        }
        match store.update_session(derived.as_str(), &session) {
            Err(StoreError::SessionNotFound(_)) => {}
            other => return finish_create(other, derived, &session),
        }
    }
    Err(SessionError::Store(StoreError::Backend(format!(
        "key {derived} kept changing while it was written"
    ))))
}

fn finish_create(
    written: Result<(), StoreError>,
    key: SessionKey,
    session: &Session,
) -> Result<String, SessionError> {
    written?;
    tracing::info!(%key, certificate = ?session.certificate, "key created under a chosen key");
    Ok(key.into_string())
}

/// `POST /tyk/keys/preview`: the session as [`create`] would store it, with its key; nothing
/// is written. Tyk only decodes the body here; the shim also runs its rules, so a preview
/// that passes is a create that passes (unless the key exists by then).
pub fn preview(
    store: &Store,
    rules: KeyRules,
    mut session: Session,
    now: OffsetDateTime,
) -> Result<(String, Session), SessionError> {
    let key = admit(store, rules, &mut session)?;
    stamp(&mut session, now, true);
    Ok((key.into_string(), session))
}

/// `GET /tyk/keys`: every key, in byte order.
pub fn list(store: &Store) -> Result<Vec<String>, SessionError> {
    Ok(store.session_keys()?)
}

pub fn get(store: &Store, key: &str) -> Result<Session, SessionError> {
    store.session(key)?.ok_or(SessionError::NotFound)
}

/// `PUT /tyk/keys/<key>`: replaces the session. Its certificate must still exist and still be
/// the one whose ID is `key`, since the filter finds a session by the certificate ID.
pub fn update(
    store: &Store,
    rules: KeyRules,
    key: &str,
    mut session: Session,
    now: OffsetDateTime,
) -> Result<(), SessionError> {
    let existing = get(store, key)?;
    let derived = admit(store, rules, &mut session)?;
    if derived != key {
        return Err(SessionError::KeyWouldChange {
            key: key.to_owned(),
            derived: derived.into_string(),
        });
    }
    if !session.extra.contains_key("date_created")
        && let Some(created) = existing.extra.get("date_created")
    {
        session.extra.insert("date_created".into(), created.clone());
    }
    stamp(&mut session, now, false);
    store.update_session(key, &session)?;
    tracing::info!(?key, "key updated");
    Ok(())
}

/// `DELETE /tyk/keys/<key>`: works whether or not the key's certificate still exists.
pub fn delete(store: &Store, key: &str) -> Result<(), SessionError> {
    if store.delete_session(key)? {
        tracing::info!(?key, "key deleted");
        Ok(())
    } else {
        Err(SessionError::NotFound)
    }
}

/// Checks `session` against the rules in the module doc, fills an empty `org_id` with the
/// certificate's org, and returns the session's key: its certificate's ID
/// ([`SessionKey::of`], the key the filter looks it up by).
fn admit(
    store: &Store,
    rules: KeyRules,
    session: &mut Session,
) -> Result<SessionKey, SessionError> {
    if session.access_rights.is_empty() && !rules.allow_master_keys {
        return Err(SessionError::NoAccessRights);
    }
    org_id::check(&session.org_id).map_err(SessionError::OrgId)?;
    let certificate = bound_certificate(store, session)?;
    if session.org_id.is_empty() {
        session.org_id.clone_from(&certificate.org_id);
    } else if session.org_id != certificate.org_id {
        return Err(SessionError::OrgMismatch {
            org_id: session.org_id.clone(),
            certificate_org: certificate.org_id,
        });
    }
    Ok(SessionKey::of(certificate.id))
}

/// The (existing) certificate the session names.
fn bound_certificate(store: &Store, session: &Session) -> Result<StoredCertificate, SessionError> {
    if session.certificate.is_empty() {
        return Err(SessionError::NoCertificate);
    }
    store
        .certificate(&session.certificate)?
        .ok_or_else(|| SessionError::UnknownCertificate(session.certificate.clone()))
}

/// Tyk's bookkeeping fields: `last_updated` (unix seconds as a string), `date_created`.
fn stamp(session: &mut Session, now: OffsetDateTime, created: bool) {
    session.extra.insert(
        "last_updated".into(),
        Value::String(now.unix_timestamp().to_string()),
    );
    if created && let Ok(text) = now.format(&Rfc3339) {
        session
            .extra
            .insert("date_created".into(), Value::String(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates;
    use crate::secret::Secret;
    use crate::store::sqlite::SqliteBackend;
    use mtls_gate_core::fingerprint::Fingerprint;
    use mtls_gate_testkit::ca::TestCa;

    /// Issue 9 point 3: the key the shim writes a session under (through these rules and the
    /// store) is the key the filter looks it up by: `SessionKey::new(api org, peer digest)`,
    /// as `mtls_gate_core::decision` builds it. It is also the key the feed and the lookup
    /// carry. If they drifted, certificate auth would answer 401 to every client.
    #[test]
    fn the_key_written_is_the_key_the_filter_looks_up() {
        let dir = tempfile::tempdir().unwrap();
        let secret = Secret::new("sessions-test-secret", "secret").unwrap();
        let store = Store::open(
            SqliteBackend::open(&dir.path().join("s.db")).unwrap(),
            &secret,
        )
        .unwrap();
        let now = OffsetDateTime::now_utc();
        let rules = KeyRules {
            allow_master_keys: true,
        };
        let ca = TestCa::new();
        for (org, cn) in [("", "a"), ("acme", "b"), ("5e9d9544a1dcd60001d0ed20", "c")] {
            let leaf = ca.leaf(cn);
            let cert_id =
                certificates::add(&store, leaf.cert_pem.as_bytes(), org, now.unix_timestamp())
                    .unwrap();
            let session = Session {
                certificate: cert_id,
                ..Session::default()
            };
            let written = create(&store, rules, session, now).unwrap();

            // What Envoy hands the filter: the SHA-256 of the presented leaf's DER.
            let looked_up = SessionKey::new(org, &Fingerprint::of_der(&leaf.cert_der));
            assert_eq!(written, looked_up.as_str(), "org {org:?}");
            assert!(store.session(looked_up.as_str()).unwrap().is_some());
            let answer = store.lookup(looked_up.as_str()).unwrap();
            assert_eq!(answer.key, looked_up);
            assert!(answer.session.is_some() && answer.cert.is_some());
            let feed = store.changes_since(0).unwrap();
            assert!(
                feed.sessions.iter().any(|s| s.key == looked_up),
                "org {org:?}: the feed carries the key the filter asks for"
            );
        }
    }
}
