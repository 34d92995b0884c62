//! [`Store`]: the store's rules, the same for every backend.
//!
//! - Sealing: a private key is sealed ([`KeySealer`], bound to its certificate ID) before it
//!   reaches a backend, and opened here; no backend sees one in clear. A store's sealing
//!   parameters are made when it is created and checked when it is opened, so a wrong
//!   encoding secret fails at start-up.
//! - Every write is one backend transaction that also appends its change-log row, bumps the
//!   version by one and prunes the log to the retained versions (ARCHITECTURE "Change feed"),
//!   so the feed never shows half a write. A write that changes nothing (deleting what is not
//!   there) writes nothing, the version included.
//! - Sessions: a session is created or updated only while its certificate exists; deleting a
//!   certificate leaves its sessions (SPEC §2 "Revocation by deletion").
//! - The feed: the log folded since a version, or a snapshot when the log cannot answer
//!   (`changelog::wants_snapshot`); lookup of one key.

use super::backend::{
    Backend, Decision, InitialState, LogState, Opened, ReadScope, Records, Writes,
};
use super::changelog::{self, ChangeKind, ChangeRow};
use super::sealing::{KeySealer, SealError};
use super::{DEFAULT_RETAINED_VERSIONS, NewCertificate, StoreError, StoredCertificate};
use crate::secret::Secret;
use mtls_gate_core::feed::{ChangeSet, LookupAnswer, SessionEntry};
use mtls_gate_core::ids::SessionKey;
use mtls_gate_core::session::Session;
use zeroize::Zeroizing;

/// The certificate and session store over one backend. Methods block; async callers use
/// `spawn_blocking`.
pub struct Store {
    backend: Box<dyn Backend>,
    sealer: KeySealer,
    retained_versions: u64,
}

impl Store {
    /// Opens the store in `backend`, creating it if there is none. Fails with
    /// [`StoreError::WrongEncodingSecret`] if it was created with another encoding secret.
    pub fn open(
        backend: impl Backend + 'static,
        encoding_secret: &Secret,
    ) -> Result<Self, StoreError> {
        Self::open_with_retention(backend, encoding_secret, DEFAULT_RETAINED_VERSIONS)
    }

    /// As [`Store::open`], keeping `retained_versions` versions of change log.
    pub fn open_with_retention(
        backend: impl Backend + 'static,
        encoding_secret: &Secret,
        retained_versions: u64,
    ) -> Result<Self, StoreError> {
        let (created, sealing) =
            KeySealer::create(encoding_secret).map_err(|e| StoreError::Backend(e.to_string()))?;
        let base = changelog::epoch_base();
        let initial = InitialState {
            log: LogState {
                version: base,
                floor: base,
            },
            sealing,
        };
        let sealer = match backend.create_or_open(&initial)? {
            Opened::Created => created,
            Opened::Existing(parameters) => {
                KeySealer::open(encoding_secret, &parameters).map_err(|e| match e {
                    SealError::Undecryptable => StoreError::WrongEncodingSecret {
                        store: backend.describe(),
                    },
                    SealError::Malformed => StoreError::Corrupt {
                        store: backend.describe(),
                        detail: "the key check record is malformed".into(),
                    },
                })?
            }
        };
        Ok(Store {
            backend: Box::new(backend),
            sealer,
            retained_versions: retained_versions.max(1),
        })
    }

    /// A short human name for logs and errors (e.g. the file path).
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// The current change-feed version.
    pub fn version(&self) -> Result<u64, StoreError> {
        self.read(ReadScope::Record, |records| {
            Ok(records.log_state()?.version)
        })
    }

    /// Adds a certificate. Fails with [`StoreError::CertificateExists`] if the ID is taken.
    pub fn add_certificate(&self, new: NewCertificate) -> Result<(), StoreError> {
        let NewCertificate {
            mut certificate,
            private_key_der,
        } = new;
        let sealed = match &private_key_der {
            Some(der) => Some(
                self.sealer
                    .seal(certificate.id.as_str(), der)
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
            ),
            None => None,
        };
        certificate.has_private = sealed.is_some();
        let entry = certificate.index_entry();
        self.write(|tx, version| {
            if tx.has_certificate(certificate.id.as_str())? {
                return Err(StoreError::CertificateExists(certificate.id.to_string()));
            }
            tx.insert_certificate(&certificate, sealed.as_deref(), version)?;
            Ok(((), Some(ChangeRow::cert_upsert(version, &entry))))
        })
    }

    pub fn certificate(&self, id: &str) -> Result<Option<StoredCertificate>, StoreError> {
        self.read(ReadScope::Record, |records| records.certificate(id))
    }

    /// Certificates in upload order; only `org_id`'s when given.
    pub fn certificates(&self, org_id: Option<&str>) -> Result<Vec<StoredCertificate>, StoreError> {
        let mut certificates = self.read(ReadScope::View, |records| records.certificates())?;
        if let Some(org) = org_id {
            certificates.retain(|c| c.org_id == org);
        }
        Ok(certificates)
    }

    /// The private key of a certificate, opened, if it has one. A sealed key that does not
    /// open is corruption, since the key check already proved the secret right.
    pub fn private_key(&self, id: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let Some(sealed) =
            self.read(ReadScope::Record, |records| records.sealed_private_key(id))?
        else {
            return Ok(None);
        };
        self.sealer
            .open_record(id, &sealed)
            .map(Some)
            .map_err(|e| self.corrupt(format!("private key of {id}: {e}")))
    }

    /// Deletes a certificate, and only it: the sessions bound to it stay, and the feed lists
    /// only the certificate as removed (SPEC §2 "Revocation by deletion": the filter refuses
    /// a session whose certificate is gone, and uploading the certificate again restores it).
    /// Returns false when there was no such certificate (nothing is written).
    pub fn delete_certificate(&self, id: &str) -> Result<bool, StoreError> {
        self.write(|tx, version| {
            if !tx.has_certificate(id)? {
                return Ok((false, None));
            }
            tx.remove_certificate(id)?;
            Ok((
                true,
                Some(ChangeRow::removal(version, ChangeKind::CertRemove, id)),
            ))
        })
    }

    /// Creates a session under `key`, bound to `session.certificate`, which must exist.
    pub fn create_session(&self, key: &str, session: &Session) -> Result<(), StoreError> {
        let json = session_json(session)?;
        self.write(|tx, version| {
            if !tx.has_certificate(&session.certificate)? {
                return Err(StoreError::CertificateNotFound(session.certificate.clone()));
            }
            if tx.has_session(key)? {
                return Err(StoreError::SessionExists(key.to_owned()));
            }
            tx.put_session(key, &session.certificate, &json)?;
            Ok((
                (),
                Some(ChangeRow::session_upsert(version, key, &session.grant())),
            ))
        })
    }

    /// A session, whether or not its certificate still exists.
    pub fn session(&self, key: &str) -> Result<Option<Session>, StoreError> {
        self.read(ReadScope::Record, |records| records.session(key))?
            .map(|json| self.parse_session(key, &json))
            .transpose()
    }

    /// Every session's key, in byte order (`GET /tyk/keys`).
    pub fn session_keys(&self) -> Result<Vec<String>, StoreError> {
        let sessions = self.read(ReadScope::View, |records| records.sessions())?;
        Ok(sessions.into_iter().map(|(key, _)| key).collect())
    }

    /// Replaces an existing session; its certificate must exist.
    pub fn update_session(&self, key: &str, session: &Session) -> Result<(), StoreError> {
        let json = session_json(session)?;
        self.write(|tx, version| {
            if !tx.has_session(key)? {
                return Err(StoreError::SessionNotFound(key.to_owned()));
            }
            if !tx.has_certificate(&session.certificate)? {
                return Err(StoreError::CertificateNotFound(session.certificate.clone()));
            }
            tx.put_session(key, &session.certificate, &json)?;
            Ok((
                (),
                Some(ChangeRow::session_upsert(version, key, &session.grant())),
            ))
        })
    }

    /// Returns false when there was no such session (nothing is written). Works whether or
    /// not the session's certificate still exists.
    pub fn delete_session(&self, key: &str) -> Result<bool, StoreError> {
        self.write(|tx, version| {
            if !tx.has_session(key)? {
                return Ok((false, None));
            }
            tx.remove_session(key)?;
            Ok((
                true,
                Some(ChangeRow::removal(version, ChangeKind::SessionRemove, key)),
            ))
        })
    }

    /// Whether the feed answers `since` with a snapshot (see [`Store::changes_until`]).
    pub fn answers_with_snapshot(&self, since: u64) -> Result<bool, StoreError> {
        self.read(ReadScope::Record, |records| {
            let LogState { version, floor } = records.log_state()?;
            Ok(changelog::wants_snapshot(since, floor, version))
        })
    }

    /// The feed: changes after `since`, or a snapshot (see `mtls_gate_core::feed`), as one
    /// consistent view at the set's `version`.
    pub fn changes_since(&self, since: u64) -> Result<ChangeSet, StoreError> {
        self.changes_until(since, u64::MAX)
    }

    /// [`Store::changes_since`] held back at version `until`: the changes after `since` up to
    /// and including `until`, at version `until` (or `since` when that is already past it,
    /// with nothing in it). The live render (`crate::live`) holds the filters back this way
    /// until Envoy has the clusters a change needs. A snapshot (a `since` the log cannot
    /// answer) is always the current state: there is no older one to give.
    pub fn changes_until(&self, since: u64, until: u64) -> Result<ChangeSet, StoreError> {
        self.read(ReadScope::View, |records| {
            let LogState { version, floor } = records.log_state()?;
            if !changelog::wants_snapshot(since, floor, version) {
                let until = until.min(version);
                if since >= until {
                    return Ok(ChangeSet {
                        version: since,
                        full: false,
                        ..ChangeSet::default()
                    });
                }
                let mut rows = records.changes_after(since)?;
                rows.retain(|row| row.version <= until);
                return changelog::fold(rows, until).map_err(|detail| self.corrupt(detail));
            }
            let certs = records
                .certificates()?
                .iter()
                .map(StoredCertificate::index_entry)
                .collect();
            let sessions = records
                .sessions()?
                .into_iter()
                .map(|(key, json)| {
                    let grant = self.parse_session(&key, &json)?.grant();
                    Ok(SessionEntry {
                        key: SessionKey::verbatim(key),
                        grant,
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            Ok(ChangeSet {
                version,
                full: true,
                certs,
                sessions,
                ..ChangeSet::default()
            })
        })
    }

    /// The feed's lookup of one key: the session under `key`, and the certificate it is bound
    /// to (or, without a session, the certificate whose ID is `key`). A session whose
    /// certificate was deleted answers with `cert: null`, which the filter refuses with 403
    /// (SPEC §4 step 3).
    pub fn lookup(&self, key: &str) -> Result<LookupAnswer, StoreError> {
        let session = self.session(key)?;
        let cert_id = session
            .as_ref()
            .map_or(key, |s| s.certificate.as_str())
            .to_owned();
        let cert = self.certificate(&cert_id)?;
        Ok(LookupAnswer {
            key: SessionKey::verbatim(key),
            session: session.map(|s| s.grant()),
            cert: cert.map(|c| c.index_entry()),
        })
    }

    /// The JSON document stored under `name` (see `backend`: named records).
    pub fn named_record(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.read(ReadScope::Record, |records| records.named_record(name))
    }

    /// Creates or replaces the JSON document under `name`. Not a change the feed reports:
    /// the version stays as it is.
    pub fn put_named_record(&self, name: &str, json: &str) -> Result<(), StoreError> {
        self.backend.write(&mut |tx| {
            tx.put_named_record(name, json)?;
            Ok(Decision::Commit)
        })
    }

    /// Runs one write at the next version. `apply` checks, writes, and names the change-log
    /// row of what it changed; with no row nothing is written. The row, the version bump and
    /// the pruning commit with the write or not at all. `apply` may run more than once (an
    /// optimistic backend retries after a conflict); the last run's result is returned.
    fn write<T>(
        &self,
        mut apply: impl FnMut(&mut dyn Writes, u64) -> Result<(T, Option<ChangeRow>), StoreError>,
    ) -> Result<T, StoreError> {
        let mut outcome = None;
        self.backend.write(&mut |tx| {
            let LogState { version, floor } = tx.log_state()?;
            let next = version + 1;
            let (result, row) = apply(tx, next)?;
            let Some(row) = row else {
                outcome = Some(result);
                return Ok(Decision::Discard);
            };
            tx.append_changes(std::slice::from_ref(&row))?;
            let prune_to = changelog::prune_floor(next, self.retained_versions).max(floor);
            if prune_to > floor {
                tx.prune_changes_through(prune_to)?;
            }
            tx.set_log_state(LogState {
                version: next,
                floor: prune_to,
            })?;
            outcome = Some(result);
            Ok(Decision::Commit)
        })?;
        outcome.ok_or_else(|| self.unanswered())
    }

    fn read<T>(
        &self,
        scope: ReadScope,
        mut read: impl FnMut(&mut dyn Records) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut outcome = None;
        self.backend.read(scope, &mut |records| {
            outcome = Some(read(records)?);
            Ok(())
        })?;
        outcome.ok_or_else(|| self.unanswered())
    }

    /// A backend that returned success without running the work: a bug in the backend.
    fn unanswered(&self) -> StoreError {
        StoreError::Backend(format!(
            "{}: the backend did not run the call",
            self.describe()
        ))
    }

    fn parse_session(&self, key: &str, json: &str) -> Result<Session, StoreError> {
        serde_json::from_str(json).map_err(|e| self.corrupt(format!("session {key}: {e}")))
    }

    fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            store: self.describe(),
            detail: detail.into(),
        }
    }
}

fn session_json(session: &Session) -> Result<String, StoreError> {
    serde_json::to_string(session).map_err(|e| StoreError::Backend(e.to_string()))
}
