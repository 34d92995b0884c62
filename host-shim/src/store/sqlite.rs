//! The embedded default backend: one SQLite file (plus its `-wal`), ACID.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a write is on disk before it is
//! acknowledged and survives `kill -9` or power loss. A write transaction is `BEGIN
//! IMMEDIATE`. One connection behind a mutex: admin writes are rare and small, and this keeps
//! writes strictly ordered.

use super::backend::{
    Backend, Decision, InitialState, LogState, Opened, ReadScope, Records, Writes, kind_from_text,
    kind_text,
};
use super::changelog::{ChangeKind, ChangeRow};
use super::sealing::SealingParameters;
use super::{StoreError, StoredCertificate, fingerprint_from_record};
use mtls_gate_core::ids::CertificateId;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

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
CREATE TABLE IF NOT EXISTS named_records (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL  -- a JSON document (what render last rendered, the gate)
);
";

const CERT_COLUMNS: &str = "id, org_id, kind, fingerprint, not_before, not_after, is_ca, \
     sealed_private_key IS NOT NULL, material";

pub struct SqliteBackend {
    /// The path, for logs and errors.
    name: String,
    connection: Mutex<Connection>,
}

impl SqliteBackend {
    /// Opens the file at `path`, creating it (owner-only) if missing. The store in it is
    /// created or checked by `Store::open`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path).map_err(backend)?;
        restrict_permissions(path);
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA busy_timeout = 5000;",
            )
            .map_err(backend)?;
        Ok(SqliteBackend {
            name: path.display().to_string(),
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (it rolls back on
        // drop), so the connection is still sound.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Backend for SqliteBackend {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn create_or_open(&self, initial: &InitialState) -> Result<Opened, StoreError> {
        let mut connection = self.connection();
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
        let opened = match existing {
            Some((schema, salt, key_check)) => {
                if schema != SCHEMA_VERSION {
                    return Err(StoreError::Corrupt {
                        store: self.describe(),
                        detail: format!(
                            "schema version {schema}, this shim reads {SCHEMA_VERSION}"
                        ),
                    });
                }
                Opened::Existing(SealingParameters { salt, key_check })
            }
            None => {
                tx.execute(
                    "INSERT INTO store_state (singleton, schema_version, version, log_floor, kdf_salt, key_check)
                     VALUES (1, ?1, ?2, ?3, ?4, ?5)",
                    params![
                        SCHEMA_VERSION,
                        to_sql_int(initial.log.version)?,
                        to_sql_int(initial.log.floor)?,
                        initial.sealing.salt,
                        initial.sealing.key_check
                    ],
                )
                .map_err(backend)?;
                Opened::Created
            }
        };
        tx.commit().map_err(backend)?;
        Ok(opened)
    }

    fn read(
        &self,
        scope: ReadScope,
        work: &mut dyn FnMut(&mut dyn Records) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut connection = self.connection();
        match scope {
            ReadScope::Record => work(&mut Sql::new(&connection, &self.name)),
            ReadScope::View => {
                // Dropped without a commit: a read transaction has nothing to roll back.
                let tx = connection.transaction().map_err(backend)?;
                work(&mut Sql::new(&tx, &self.name))
            }
        }
    }

    fn write(
        &self,
        work: &mut dyn FnMut(&mut dyn Writes) -> Result<Decision, StoreError>,
    ) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        match work(&mut Sql::new(&tx, &self.name))? {
            Decision::Commit => tx.commit().map_err(backend),
            Decision::Discard => Ok(()), // dropping `tx` rolls back: nothing was written
        }
    }
}

/// The records, on the connection or inside a transaction on it.
struct Sql<'c> {
    connection: &'c Connection,
    store: &'c str,
}

impl<'c> Sql<'c> {
    fn new(connection: &'c Connection, store: &'c str) -> Self {
        Sql { connection, store }
    }

    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            store: self.store.to_owned(),
            detail,
        }
    }

    fn execute(&self, sql: &str, params: impl rusqlite::Params) -> Result<(), StoreError> {
        self.connection
            .execute(sql, params)
            .map(drop)
            .map_err(backend)
    }

    fn exists(&self, sql: &str, key: &str) -> Result<bool, StoreError> {
        self.connection
            .query_row(sql, params![key], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(backend)
    }
}

impl Records for Sql<'_> {
    fn log_state(&mut self) -> Result<LogState, StoreError> {
        let (version, floor): (i64, i64) = self
            .connection
            .query_row(
                "SELECT version, log_floor FROM store_state WHERE singleton = 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(backend)?;
        Ok(LogState {
            version: u64::try_from(version).unwrap_or_default(),
            floor: u64::try_from(floor).unwrap_or_default(),
        })
    }

    fn certificate(&mut self, id: &str) -> Result<Option<StoredCertificate>, StoreError> {
        self.connection
            .query_row(
                &format!("SELECT {CERT_COLUMNS} FROM certificates WHERE id = ?1"),
                params![id],
                certificate_from_row,
            )
            .optional()
            .map_err(backend)?
            .map(|decoded| decoded.map_err(|detail| self.corrupt(detail)))
            .transpose()
    }

    fn has_certificate(&mut self, id: &str) -> Result<bool, StoreError> {
        self.exists("SELECT 1 FROM certificates WHERE id = ?1", id)
    }

    fn certificates(&mut self) -> Result<Vec<StoredCertificate>, StoreError> {
        let mut statement = self
            .connection
            .prepare(&format!(
                "SELECT {CERT_COLUMNS} FROM certificates ORDER BY seq"
            ))
            .map_err(backend)?;
        let rows = statement
            .query_map([], certificate_from_row)
            .map_err(backend)?;
        rows.map(|row| row.map_err(backend)?.map_err(|detail| self.corrupt(detail)))
            .collect()
    }

    fn sealed_private_key(&mut self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.connection
            .query_row(
                "SELECT sealed_private_key FROM certificates WHERE id = ?1",
                params![id],
                |row| row.get(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(backend)
    }

    fn session(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        self.connection
            .query_row(
                "SELECT body FROM sessions WHERE key = ?1",
                params![key],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)
    }

    fn has_session(&mut self, key: &str) -> Result<bool, StoreError> {
        self.exists("SELECT 1 FROM sessions WHERE key = ?1", key)
    }

    fn sessions(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT key, body FROM sessions ORDER BY key")
            .map_err(backend)?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(backend)?;
        rows.map(|row| row.map_err(backend)).collect()
    }

    fn changes_after(&mut self, version: u64) -> Result<Vec<ChangeRow>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT version, kind, key, payload FROM changes WHERE version > ?1 ORDER BY seq",
            )
            .map_err(backend)?;
        let rows = statement
            .query_map(params![to_sql_int(version)?], |row| {
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
        Ok(log)
    }

    fn named_record(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        self.connection
            .query_row(
                "SELECT body FROM named_records WHERE name = ?1",
                params![name],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)
    }
}

impl Writes for Sql<'_> {
    fn insert_certificate(
        &mut self,
        cert: &StoredCertificate,
        sealed_private_key: Option<&[u8]>,
        _version: u64, // `seq` keeps the upload order
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO certificates
               (id, org_id, kind, fingerprint, not_before, not_after, is_ca, material, sealed_private_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                cert.id.as_str(),
                cert.org_id,
                kind_text(cert.kind),
                cert.fingerprint.to_hex(),
                cert.not_before,
                cert.not_after,
                cert.is_ca,
                cert.material_pem,
                sealed_private_key,
            ],
        )
    }

    fn remove_certificate(&mut self, id: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM certificates WHERE id = ?1", params![id])
    }

    fn put_session(
        &mut self,
        key: &str,
        certificate_id: &str,
        json: &str,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO sessions (key, certificate_id, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE
             SET certificate_id = excluded.certificate_id, body = excluded.body",
            params![key, certificate_id, json],
        )
    }

    fn remove_session(&mut self, key: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM sessions WHERE key = ?1", params![key])
    }

    fn append_changes(&mut self, rows: &[ChangeRow]) -> Result<(), StoreError> {
        for row in rows {
            self.execute(
                "INSERT INTO changes (version, kind, key, payload) VALUES (?1, ?2, ?3, ?4)",
                params![
                    to_sql_int(row.version)?,
                    row.kind.as_str(),
                    row.key,
                    row.payload
                ],
            )?;
        }
        Ok(())
    }

    fn prune_changes_through(&mut self, version: u64) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM changes WHERE version <= ?1",
            params![to_sql_int(version)?],
        )
    }

    fn set_log_state(&mut self, state: LogState) -> Result<(), StoreError> {
        self.execute(
            "UPDATE store_state SET version = ?1, log_floor = ?2 WHERE singleton = 1",
            params![to_sql_int(state.version)?, to_sql_int(state.floor)?],
        )
    }

    fn put_named_record(&mut self, name: &str, json: &str) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO named_records (name, body) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET body = excluded.body",
            params![name, json],
        )
    }
}

/// Row → certificate. The outer result is SQLite's, the inner one ours (an unknown kind, an
/// unreadable fingerprint).
fn certificate_from_row(row: &Row<'_>) -> rusqlite::Result<Result<StoredCertificate, String>> {
    let kind: String = row.get(2)?;
    let id: String = row.get(0)?;
    let Some(kind) = kind_from_text(&kind) else {
        return Ok(Err(format!("certificate {id} has unknown kind {kind}")));
    };
    let fingerprint: String = row.get(3)?;
    let fingerprint = match fingerprint_from_record(&id, &fingerprint) {
        Ok(fingerprint) => fingerprint,
        Err(detail) => return Ok(Err(detail)),
    };
    Ok(Ok(StoredCertificate {
        id: CertificateId::verbatim(id),
        org_id: row.get(1)?,
        kind,
        fingerprint,
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
    use crate::secret::Secret;
    use crate::store::{Store, conformance};

    fn secret(value: &str) -> Secret {
        Secret::new(value, "test").unwrap()
    }

    fn open(path: &Path, encoding_secret: &str) -> Result<Store, StoreError> {
        Store::open(SqliteBackend::open(path)?, &secret(encoding_secret))
    }

    #[test]
    fn sqlite_store_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let counter = std::sync::atomic::AtomicUsize::new(0);
        conformance::run(&|retained| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let backend = SqliteBackend::open(&dir.path().join(format!("store-{n}.db"))).unwrap();
            Store::open_with_retention(backend, &secret("enc"), retained).unwrap()
        });
    }

    #[test]
    fn reopening_with_another_encoding_secret_fails_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(open(&path, "right").unwrap());
        let error = open(&path, "wrong").err().unwrap();
        assert!(matches!(error, StoreError::WrongEncodingSecret { .. }));
        let message = error.to_string();
        assert!(
            message.starts_with("wrong MTLS_GATE_ENCODING_SECRET for store "),
            "{message}"
        );
        assert!(message.contains("s.db"));
        assert!(open(&path, "right").is_ok());
    }

    /// The fingerprint column is text: a row whose text is not 64 hex fails closed, as a
    /// corrupt store, whether the certificate is read alone, listed or put in a snapshot.
    #[test]
    fn a_row_with_an_unreadable_fingerprint_is_a_corrupt_store_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = open(&path, "s").unwrap();
        let new = conformance::test_certificate("damaged");
        let id = new.certificate.id.to_string();
        let fingerprint = new.certificate.fingerprint;
        store.add_certificate(new).unwrap();
        let stored: String = Connection::open(&path)
            .unwrap()
            .query_row("SELECT fingerprint FROM certificates", [], |row| row.get(0))
            .unwrap();
        assert_eq!(stored, fingerprint.to_hex(), "64 lowercase hex at rest");

        for damaged in ["not hex", "", "E3:B0"] {
            Connection::open(&path)
                .unwrap()
                .execute("UPDATE certificates SET fingerprint = ?1", [damaged])
                .unwrap();
            let corrupt = |result: Result<(), StoreError>| match result {
                Err(StoreError::Corrupt { detail, .. }) => {
                    assert!(detail.contains("unreadable fingerprint"), "{detail}");
                }
                other => panic!("{damaged:?}: {other:?}"),
            };
            corrupt(store.certificate(&id).map(drop));
            corrupt(store.certificates(None).map(drop));
            corrupt(store.changes_since(0).map(drop));
        }
    }

    #[test]
    fn store_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(open(&path, "s").unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
