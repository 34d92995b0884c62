//! The certificate sessions behind `/tyk/keys` (SPEC §2 "Sessions"): a session is bound to a
//! stored certificate, and its key is `org_id` + that certificate's fingerprint, so the
//! filter finds it from the peer certificate's digest.

use crate::store::{Store, StoreError};
use mtls_gate_core::session::Session;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the session names no certificate")]
    NoCertificate,
    #[error("certificate {0} does not exist")]
    UnknownCertificate(String),
    #[error("a session with key {0} already exists")]
    Exists(String),
    #[error("no session with that key")]
    NotFound,
    #[error("the session's org_id and certificate give key {derived}, not {key}")]
    KeyWouldChange { key: String, derived: String },
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
    store: &dyn Store,
    mut session: Session,
    now: OffsetDateTime,
) -> Result<String, SessionError> {
    let key = key_of(store, &session)?;
    stamp(&mut session, now, true);
    store.create_session(&key, &session)?;
    tracing::info!(%key, certificate = %session.certificate, "key created");
    Ok(key)
}

pub fn get(store: &dyn Store, key: &str) -> Result<Session, SessionError> {
    store.session(key)?.ok_or(SessionError::NotFound)
}

/// `PUT /tyk/keys/<key>`: replaces the session. Its certificate and org must still give
/// `key`, since the filter finds a session by `org_id` + fingerprint.
pub fn update(
    store: &dyn Store,
    key: &str,
    mut session: Session,
    now: OffsetDateTime,
) -> Result<(), SessionError> {
    let existing = get(store, key)?;
    let derived = key_of(store, &session)?;
    if derived != key {
        return Err(SessionError::KeyWouldChange {
            key: key.to_owned(),
            derived,
        });
    }
    if !session.extra.contains_key("date_created")
        && let Some(created) = existing.extra.get("date_created")
    {
        session.extra.insert("date_created".into(), created.clone());
    }
    stamp(&mut session, now, false);
    store.update_session(key, &session)?;
    tracing::info!(%key, "key updated");
    Ok(())
}

pub fn delete(store: &dyn Store, key: &str) -> Result<(), SessionError> {
    if store.delete_session(key)? {
        tracing::info!(%key, "key deleted");
        Ok(())
    } else {
        Err(SessionError::NotFound)
    }
}

/// `org_id` + the fingerprint of the session's (existing) certificate.
fn key_of(store: &dyn Store, session: &Session) -> Result<String, SessionError> {
    if session.certificate.is_empty() {
        return Err(SessionError::NoCertificate);
    }
    let certificate = store
        .certificate(&session.certificate)?
        .ok_or_else(|| SessionError::UnknownCertificate(session.certificate.clone()))?;
    Ok(format!("{}{}", session.org_id, certificate.fingerprint))
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
