//! The embedded default store: one SQLite file (plus its `-wal`), ACID.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a write is on disk before it is
//! acknowledged and survives `kill -9` or power loss. Every write is one `BEGIN IMMEDIATE`
//! transaction that also bumps the version and appends its change rows. One connection behind
//! a mutex: admin writes are rare and small, and this keeps writes strictly ordered.

use super::changelog::{self, ChangeKind, ChangeRow};
use super::sealing::{KeySealer, SealingParameters};
use super::{
    DEFAULT_RETAINED_VERSIONS, NewCertificate, Store, StoreError, StoredCertificate,
    kind_from_text, kind_text, lookup_in, open_sealer, unseal_private_key,
};
use crate::secret::Secret;
use mtls_gate_core::feed::{ChangeSet, LookupAnswer, SessionEntry};
use mtls_gate_core::session::Session;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use zeroize::Zeroizing;

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS store_state (
    singleton      INTEGER PRIMARY KEY CHECK (singleton = 1),
    schema_version INTEGER NOT NULL,
    version        INTEGER NOT NULL,  -- change-feed version; every write adds one
    log_floor      INTEGER NOT NULL,  -- newest version pruned from `changes`
    kdf_salt       BLOB NOT NULL,     -- HKDF salt for private-key sealing
    key_check      BLOB NOT NULL      -- a known plaintext sealed with the derived key
);
CREATE TABLE IF NOT EXISTS certificates (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,  -- upload order
    id                 TEXT NOT NULL UNIQUE,
    org_id             TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('certificate', 'public_key')),
    fingerprint        TEXT NOT NULL,
    not_before         INTEGER NOT NULL,
    not_after          INTEGER NOT NULL,
    is_ca              INTEGER NOT NULL,
    material           TEXT NOT NULL,  -- certificate chain or public key PEM; never a private key
    sealed_private_key BLOB            -- AES-256-GCM record, AAD = id
);
CREATE INDEX IF NOT EXISTS certificates_by_org ON certificates (org_id, seq);
CREATE TABLE IF NOT EXISTS sessions (
    key            TEXT PRIMARY KEY,
    certificate_id TEXT NOT NULL,
    body           TEXT NOT NULL  -- the Tyk session JSON
);
CREATE INDEX IF NOT EXISTS sessions_by_certificate ON sessions (certificate_id);
CREATE TABLE IF NOT EXISTS changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    version INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    key     TEXT NOT NULL,
    payload TEXT
);
CREATE INDEX IF NOT EXISTS changes_by_version ON changes (version);
";

const CERT_COLUMNS: &str = "id, org_id, kind, fingerprint, not_before, not_after, is_ca, \
     sealed_private_key IS NOT NULL, material";

pub struct SqliteStore {
    path: PathBuf,
    connection: Mutex<Connection>,
    sealer: KeySealer,
    retained_versions: u64,
}

impl SqliteStore {
    /// Opens (or creates) the store at `path`. Fails with
    /// [`StoreError::WrongEncodingSecret`] if it was created with another encoding secret.
    pub fn open(path: &Path, encoding_secret: &Secret) -> Result<Self, StoreError> {
        Self::open_with_retention(path, encoding_secret, DEFAULT_RETAINED_VERSIONS)
    }

    /// As [`SqliteStore::open`], keeping `retained_versions` versions of change log.
    pub fn open_with_retention(
        path: &Path,
        encoding_secret: &Secret,
        retained_versions: u64,
    ) -> Result<Self, StoreError> {
        let describe = path.display().to_string();
        let mut connection = Connection::open(path).map_err(backend)?;
        restrict_permissions(path);
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA busy_timeout = 5000;",
            )
            .map_err(backend)?;
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        tx.execute_batch(SCHEMA).map_err(backend)?;
        let existing = tx
            .query_row(
                "SELECT schema_version, kdf_salt, key_check FROM store_state WHERE singleton = 1",
                [],
                |row| Ok((row.get::<_, i64>(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()
            .map_err(backend)?;
        let sealer = match existing {
            Some((schema, salt, key_check)) => {
                if schema != SCHEMA_VERSION {
                    return Err(StoreError::Corrupt {
                        store: describe,
                        detail: format!(
                            "schema version {schema}, this shim reads {SCHEMA_VERSION}"
                        ),
                    });
                }
                open_sealer(
                    encoding_secret,
                    &SealingParameters { salt, key_check },
                    &describe,
                )?
            }
            None => {
                let (sealer, parameters) = KeySealer::create(encoding_secret)
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                let base = to_sql_int(changelog::epoch_base())?;
                tx.execute(
                    "INSERT INTO store_state (singleton, schema_version, version, log_floor, kdf_salt, key_check)
                     VALUES (1, ?1, ?2, ?2, ?3, ?4)",
                    params![SCHEMA_VERSION, base, parameters.salt, parameters.key_check],
                )
                .map_err(backend)?;
                sealer
            }
        };
        tx.commit().map_err(backend)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            connection: Mutex::new(connection),
            sealer,
            retained_versions: retained_versions.max(1),
        })
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (it rolls back on
        // drop), so the connection is still sound.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs one write transaction. `apply` gets the version this write will have and returns
    /// its result and change rows; with no rows nothing was changed and nothing is committed.
    fn write<T>(
        &self,
        apply: impl FnOnce(&Transaction<'_>, u64) -> Result<(T, Vec<ChangeRow>), StoreError>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let (version, floor) = read_state(&tx)?;
        let next = version + 1;
        let (result, rows) = apply(&tx, next)?;
        if rows.is_empty() {
            return Ok(result); // dropping `tx` rolls back: nothing was written
        }
        for row in &rows {
            tx.execute(
                "INSERT INTO changes (version, kind, key, payload) VALUES (?1, ?2, ?3, ?4)",
                params![
                    to_sql_int(row.version)?,
                    row.kind.as_str(),
                    row.key,
                    row.payload
                ],
            )
            .map_err(backend)?;
        }
        let prune_to = changelog::prune_floor(next, self.retained_versions).max(floor);
        if prune_to > floor {
            tx.execute(
                "DELETE FROM changes WHERE version <= ?1",
                params![to_sql_int(prune_to)?],
            )
            .map_err(backend)?;
        }
        tx.execute(
            "UPDATE store_state SET version = ?1, log_floor = ?2 WHERE singleton = 1",
            params![to_sql_int(next)?, to_sql_int(prune_to)?],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(result)
    }

    fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            store: self.describe(),
            detail: detail.into(),
        }
    }
}

impl Store for SqliteStore {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn version(&self) -> Result<u64, StoreError> {
        let connection = self.connection();
        Ok(read_state(&connection)?.0)
    }

    fn add_certificate(&self, new: NewCertificate) -> Result<(), StoreError> {
        let (cert, sealed) = new.seal(&self.sealer)?;
        self.write(|tx, version| {
            if certificate_exists(tx, &cert.id)? {
                return Err(StoreError::CertificateExists(cert.id.clone()));
            }
            tx.execute(
                "INSERT INTO certificates
                   (id, org_id, kind, fingerprint, not_before, not_after, is_ca, material, sealed_private_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    cert.id,
                    cert.org_id,
                    kind_text(cert.kind),
                    cert.fingerprint,
                    cert.not_before,
                    cert.not_after,
                    cert.is_ca,
                    cert.material_pem,
                    sealed,
                ],
            )
            .map_err(backend)?;
            let mut entry = cert.index_entry();
            entry.has_private = sealed.is_some();
            Ok(((), vec![ChangeRow::cert_upsert(version, &entry)]))
        })
    }

    fn certificate(&self, id: &str) -> Result<Option<StoredCertificate>, StoreError> {
        let connection = self.connection();
        read_certificate(&connection, id)
    }

    fn certificates(&self, org_id: Option<&str>) -> Result<Vec<StoredCertificate>, StoreError> {
        let connection = self.connection();
        let (sql, args): (String, Vec<&str>) = match org_id {
            Some(org) => (
                format!("SELECT {CERT_COLUMNS} FROM certificates WHERE org_id = ?1 ORDER BY seq"),
                vec![org],
            ),
            None => (
                format!("SELECT {CERT_COLUMNS} FROM certificates ORDER BY seq"),
                vec![],
            ),
        };
        let mut statement = connection.prepare(&sql).map_err(backend)?;
        let rows = statement
            .query_map(rusqlite::params_from_iter(args), certificate_from_row)
            .map_err(backend)?;
        rows.map(|row| row.map_err(backend)?).collect()
    }

    fn private_key(&self, id: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let sealed: Option<Vec<u8>> = {
            let connection = self.connection();
            connection
                .query_row(
                    "SELECT sealed_private_key FROM certificates WHERE id = ?1",
                    params![id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(backend)?
                .flatten()
        };
        unseal_private_key(&self.sealer, self, id, sealed)
    }

    fn delete_certificate(&self, id: &str) -> Result<bool, StoreError> {
        self.write(|tx, version| {
            // The certificate only: its sessions stay (see the trait).
            let deleted = tx
                .execute("DELETE FROM certificates WHERE id = ?1", params![id])
                .map_err(backend)?;
            if deleted == 0 {
                return Ok((false, Vec::new()));
            }
            Ok((
                true,
                vec![ChangeRow::removal(version, ChangeKind::CertRemove, id)],
            ))
        })
    }

    fn create_session(&self, key: &str, session: &Session) -> Result<(), StoreError> {
        let body =
            serde_json::to_string(session).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.write(|tx, version| {
            if !certificate_exists(tx, &session.certificate)? {
                return Err(StoreError::CertificateNotFound(session.certificate.clone()));
            }
            if session_exists(tx, key)? {
                return Err(StoreError::SessionExists(key.to_owned()));
            }
            tx.execute(
                "INSERT INTO sessions (key, certificate_id, body) VALUES (?1, ?2, ?3)",
                params![key, session.certificate, body],
            )
            .map_err(backend)?;
            Ok((
                (),
                vec![ChangeRow::session_upsert(version, key, &session.grant())],
            ))
        })
    }

    fn session(&self, key: &str) -> Result<Option<Session>, StoreError> {
        let body: Option<String> = {
            let connection = self.connection();
            connection
                .query_row(
                    "SELECT body FROM sessions WHERE key = ?1",
                    params![key],
                    |row| row.get(0),
                )
                .optional()
                .map_err(backend)?
        };
        body.map(|body| {
            serde_json::from_str(&body).map_err(|e| self.corrupt(format!("session {key}: {e}")))
        })
        .transpose()
    }

    fn update_session(&self, key: &str, session: &Session) -> Result<(), StoreError> {
        let body =
            serde_json::to_string(session).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.write(|tx, version| {
            if !session_exists(tx, key)? {
                return Err(StoreError::SessionNotFound(key.to_owned()));
            }
            if !certificate_exists(tx, &session.certificate)? {
                return Err(StoreError::CertificateNotFound(session.certificate.clone()));
            }
            tx.execute(
                "UPDATE sessions SET certificate_id = ?2, body = ?3 WHERE key = ?1",
                params![key, session.certificate, body],
            )
            .map_err(backend)?;
            Ok((
                (),
                vec![ChangeRow::session_upsert(version, key, &session.grant())],
            ))
        })
    }

    fn delete_session(&self, key: &str) -> Result<bool, StoreError> {
        self.write(|tx, version| {
            let deleted = tx
                .execute("DELETE FROM sessions WHERE key = ?1", params![key])
                .map_err(backend)?;
            if deleted == 0 {
                return Ok((false, Vec::new()));
            }
            Ok((
                true,
                vec![ChangeRow::removal(version, ChangeKind::SessionRemove, key)],
            ))
        })
    }

    fn changes_since(&self, since: u64) -> Result<ChangeSet, StoreError> {
        let mut connection = self.connection();
        // One read transaction: the set is a consistent view at `version`.
        let tx = connection.transaction().map_err(backend)?;
        let (version, floor) = read_state(&tx)?;
        if !changelog::wants_snapshot(since, floor, version) {
            let mut statement = tx
                .prepare("SELECT version, kind, key, payload FROM changes WHERE version > ?1 ORDER BY seq")
                .map_err(backend)?;
            let rows = statement
                .query_map(params![to_sql_int(since)?], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Option<String>>(3)?,
                    ))
                })
                .map_err(backend)?;
            let mut log = Vec::new();
            for row in rows {
                let (row_version, kind, key, payload) = row.map_err(backend)?;
                let kind = ChangeKind::parse(&kind)
                    .ok_or_else(|| self.corrupt(format!("unknown change kind {kind}")))?;
                log.push(ChangeRow {
                    version: u64::try_from(row_version).unwrap_or_default(),
                    kind,
                    key,
                    payload,
                });
            }
            return changelog::fold(log, version).map_err(|detail| self.corrupt(detail));
        }

        let mut set = ChangeSet {
            version,
            full: true,
            ..ChangeSet::default()
        };
        {
            let mut statement = tx
                .prepare(&format!(
                    "SELECT {CERT_COLUMNS} FROM certificates ORDER BY seq"
                ))
                .map_err(backend)?;
            let certs = statement
                .query_map([], certificate_from_row)
                .map_err(backend)?;
            for cert in certs {
                set.certs.push(cert.map_err(backend)??.index_entry());
            }
        }
        let mut statement = tx
            .prepare("SELECT key, body FROM sessions ORDER BY key")
            .map_err(backend)?;
        let sessions = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(backend)?;
        for session in sessions {
            let (key, body) = session.map_err(backend)?;
            let session: Session = serde_json::from_str(&body)
                .map_err(|e| self.corrupt(format!("session {key}: {e}")))?;
            set.sessions.push(SessionEntry {
                key,
                grant: session.grant(),
            });
        }
        Ok(set)
    }

    fn lookup(&self, key: &str) -> Result<LookupAnswer, StoreError> {
        lookup_in(self, key)
    }
}

fn read_state(connection: &Connection) -> Result<(u64, u64), StoreError> {
    let (version, floor): (i64, i64) = connection
        .query_row(
            "SELECT version, log_floor FROM store_state WHERE singleton = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(backend)?;
    Ok((
        u64::try_from(version).unwrap_or_default(),
        u64::try_from(floor).unwrap_or_default(),
    ))
}

fn read_certificate(
    connection: &Connection,
    id: &str,
) -> Result<Option<StoredCertificate>, StoreError> {
    connection
        .query_row(
            &format!("SELECT {CERT_COLUMNS} FROM certificates WHERE id = ?1"),
            params![id],
            certificate_from_row,
        )
        .optional()
        .map_err(backend)?
        .transpose()
}

fn certificate_exists(connection: &Connection, id: &str) -> Result<bool, StoreError> {
    connection
        .query_row(
            "SELECT 1 FROM certificates WHERE id = ?1",
            params![id],
            |_| Ok(()),
        )
        .optional()
        .map(|found| found.is_some())
        .map_err(backend)
}

fn session_exists(connection: &Connection, key: &str) -> Result<bool, StoreError> {
    connection
        .query_row(
            "SELECT 1 FROM sessions WHERE key = ?1",
            params![key],
            |_| Ok(()),
        )
        .optional()
        .map(|found| found.is_some())
        .map_err(backend)
}

/// Row → certificate. The outer result is SQLite's, the inner one ours (an unknown kind).
fn certificate_from_row(row: &Row<'_>) -> rusqlite::Result<Result<StoredCertificate, StoreError>> {
    let kind: String = row.get(2)?;
    let id: String = row.get(0)?;
    let Some(kind) = kind_from_text(&kind) else {
        return Ok(Err(StoreError::Corrupt {
            store: String::new(),
            detail: format!("certificate {id} has unknown kind {kind}"),
        }));
    };
    Ok(Ok(StoredCertificate {
        id,
        org_id: row.get(1)?,
        kind,
        fingerprint: row.get(3)?,
        not_before: row.get(4)?,
        not_after: row.get(5)?,
        is_ca: row.get(6)?,
        has_private: row.get(7)?,
        material_pem: row.get(8)?,
    }))
}

fn to_sql_int(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Backend(format!("version {value} out of range")))
}

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

/// The store holds sealed keys and certificate material: owner-only, like Envoy's SDS files.
fn restrict_permissions(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(error) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), %error, "could not restrict store permissions");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> Secret {
        Secret::new(value, "test").unwrap()
    }

    #[test]
    fn sqlite_store_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let counter = std::sync::atomic::AtomicUsize::new(0);
        super::super::conformance::run(&|retained| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = dir.path().join(format!("store-{n}.db"));
            Box::new(SqliteStore::open_with_retention(&path, &secret("enc"), retained).unwrap())
        });
    }

    #[test]
    fn reopening_with_another_encoding_secret_fails_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(SqliteStore::open(&path, &secret("right")).unwrap());
        let error = SqliteStore::open(&path, &secret("wrong")).err().unwrap();
        assert!(matches!(error, StoreError::WrongEncodingSecret { .. }));
        let message = error.to_string();
        assert!(
            message.starts_with("wrong MTLS_GATE_ENCODING_SECRET for store "),
            "{message}"
        );
        assert!(message.contains("s.db"));
        assert!(SqliteStore::open(&path, &secret("right")).is_ok());
    }

    #[test]
    fn store_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(SqliteStore::open(&path, &secret("s")).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
