//! The Redis store, for fleets: several shims on one Redis share versions, feed and sessions.
//!
//! Atomicity: every write is an optimistic transaction. It WATCHes the `meta` hash (which
//! every write changes, as it holds the version), reads what it checks, and queues its writes,
//! the change-log rows, the version bump and the log pruning in one MULTI/EXEC. If another
//! shim wrote in between, EXEC does nothing and the write is retried from the reads, so two
//! shims adding one certificate end with one success and one `CertificateExists`. Reads that
//! must be one consistent view (listings, the feed) are retried the same way.
//!
//! Durability is Redis's: acknowledged writes survive a crash only with `appendonly yes` and
//! `appendfsync always`; [`RedisStore::open`] warns otherwise.

mod link;
mod records;

pub use link::{DEFAULT_PREFIX, RedisTarget};

use super::changelog::{self, ChangeKind, ChangeRow};
use super::sealing::{KeySealer, SealingParameters};
use super::{
    DEFAULT_RETAINED_VERSIONS, NewCertificate, Store, StoreError, StoredCertificate, lookup_in,
    open_sealer, unseal_private_key,
};
use crate::secret::Secret;
use ::redis::{Commands, Connection, Pipeline, Value};
use link::{Failure, Link};
use mtls_gate_core::feed::{ChangeSet, LookupAnswer, SessionEntry};
use mtls_gate_core::session::Session;
use records::{Keys, SEALED_FIELD};
use std::collections::HashMap;
use zeroize::Zeroizing;

const SCHEMA_VERSION: u64 = 1;

/// Retries of one optimistic transaction before giving up (each retry means another shim
/// committed, so this only trips under a write storm).
const MAX_ATTEMPTS: usize = 100;

pub struct RedisStore {
    target: RedisTarget,
    link: Link,
    keys: Keys,
    sealer: KeySealer,
    retained_versions: u64,
}

impl RedisStore {
    /// Opens (or creates) the store at `target`. Fails with
    /// [`StoreError::WrongEncodingSecret`] if it was created with another encoding secret.
    pub fn open(target: &RedisTarget, encoding_secret: &Secret) -> Result<Self, StoreError> {
        Self::open_with_retention(target, encoding_secret, DEFAULT_RETAINED_VERSIONS)
    }

    pub fn open_with_retention(
        target: &RedisTarget,
        encoding_secret: &Secret,
        retained_versions: u64,
    ) -> Result<Self, StoreError> {
        let link = Link::new(target)?;
        let keys = Keys::new(&target.prefix);
        warn_unless_durable(&link, &target.display);
        let sealer = link.with(|con| init_or_open(con, &keys, encoding_secret, &target.display))?;
        Ok(RedisStore {
            target: target.clone(),
            link,
            keys,
            sealer,
            retained_versions: retained_versions.max(1),
        })
    }

    /// True when a store has been created at `target`.
    pub fn exists(target: &RedisTarget) -> Result<bool, StoreError> {
        let keys = Keys::new(&target.prefix);
        Link::new(target)?.with(|con| Ok(con.exists(keys.meta())?))
    }

    /// Runs one write. `apply` gets the version this write will have, reads what it needs
    /// and queues its writes on the pipeline; it returns its result and change rows. With no
    /// rows nothing is written.
    fn write<T>(
        &self,
        mut apply: impl FnMut(
            &mut Connection,
            &Keys,
            u64,
            &mut Pipeline,
        ) -> Result<(T, Vec<ChangeRow>), Failure>,
    ) -> Result<T, StoreError> {
        let keys = &self.keys;
        self.link.with(|con| {
            for _ in 0..MAX_ATTEMPTS {
                ::redis::cmd("WATCH").arg(keys.meta()).exec(con)?;
                let (version, floor) = self.read_state(con)?;
                let next = version + 1;
                let mut pipe = ::redis::pipe();
                pipe.atomic();
                let applied = apply(con, keys, next, &mut pipe);
                let (result, rows) = match applied {
                    Ok((result, rows)) if !rows.is_empty() => (result, rows),
                    other => {
                        ::redis::cmd("UNWATCH").exec(con)?;
                        return other.map(|(result, _)| result);
                    }
                };
                for (index, row) in rows.iter().enumerate() {
                    pipe.zadd(
                        keys.changes(),
                        records::change_member(index, row),
                        row.version,
                    )
                    .ignore();
                }
                let prune_to = changelog::prune_floor(next, self.retained_versions).max(floor);
                if prune_to > floor {
                    pipe.cmd("ZREMRANGEBYSCORE")
                        .arg(keys.changes())
                        .arg("-inf")
                        .arg(prune_to)
                        .ignore();
                }
                pipe.hset_multiple(keys.meta(), &[("version", next), ("floor", prune_to)])
                    .ignore();
                let committed = pipe.query::<Value>(con).map_err(Failure::Unsure)?;
                if !matches!(committed, Value::Nil) {
                    return Ok(result);
                }
            }
            Err(self.contended().into())
        })
    }

    /// Runs `read` as one consistent view: retried if any write committed meanwhile.
    fn read<T>(
        &self,
        mut read: impl FnMut(&mut Connection, &Keys) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let keys = &self.keys;
        self.link.with(|con| {
            for _ in 0..MAX_ATTEMPTS {
                ::redis::cmd("WATCH").arg(keys.meta()).exec(con)?;
                let value = match read(con, keys) {
                    Ok(value) => value,
                    Err(error) => {
                        ::redis::cmd("UNWATCH").exec(con)?;
                        return Err(error);
                    }
                };
                let check: Value = ::redis::pipe().atomic().exists(keys.meta()).query(con)?;
                if !matches!(check, Value::Nil) {
                    return Ok(value);
                }
            }
            Err(self.contended().into())
        })
    }

    fn read_state(&self, con: &mut Connection) -> Result<(u64, u64), Failure> {
        let (version, floor): (Option<u64>, Option<u64>) = ::redis::cmd("HMGET")
            .arg(self.keys.meta())
            .arg("version")
            .arg("floor")
            .query(con)?;
        match (version, floor) {
            (Some(version), Some(floor)) => Ok((version, floor)),
            _ => Err(self
                .corrupt("its state (meta hash) is missing: was the Redis database flushed?")
                .into()),
        }
    }

    fn load_certificate(
        &self,
        con: &mut Connection,
        id: &str,
    ) -> Result<Option<StoredCertificate>, Failure> {
        let fields: HashMap<String, Vec<u8>> = con.hgetall(self.keys.cert(id))?;
        records::cert_from_fields(id, &fields).map_err(|detail| self.corrupt(detail).into())
    }

    /// Every certificate, in upload order.
    fn load_certificates(&self, con: &mut Connection) -> Result<Vec<StoredCertificate>, Failure> {
        let ids: Vec<String> = con.zrange(self.keys.certs(), 0, -1)?;
        let mut pipe = ::redis::pipe();
        for id in &ids {
            pipe.hgetall(self.keys.cert(id));
        }
        let all: Vec<HashMap<String, Vec<u8>>> = query_batch(&pipe, con)?;
        let mut certs = Vec::with_capacity(ids.len());
        for (id, fields) in ids.iter().zip(&all) {
            match records::cert_from_fields(id, fields) {
                Ok(Some(cert)) => certs.push(cert),
                Ok(None) => {
                    return Err(self
                        .corrupt(format!("certificate {id} is indexed but missing"))
                        .into());
                }
                Err(detail) => return Err(self.corrupt(detail).into()),
            }
        }
        Ok(certs)
    }

    fn parse_session(&self, key: &str, body: &str) -> Result<Session, StoreError> {
        serde_json::from_str(body).map_err(|e| self.corrupt(format!("session {key}: {e}")))
    }

    fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            store: self.describe(),
            detail: detail.into(),
        }
    }

    fn contended(&self) -> StoreError {
        StoreError::Backend(format!(
            "Redis at {}: gave up after {MAX_ATTEMPTS} attempts, other shims kept writing",
            self.target.display
        ))
    }
}

/// Runs a batch of reads; Redis refuses an empty pipeline, which means no reads.
fn query_batch<T: ::redis::FromRedisValue>(
    pipe: &Pipeline,
    con: &mut Connection,
) -> Result<Vec<T>, Failure> {
    if pipe.is_empty() {
        return Ok(Vec::new());
    }
    Ok(pipe.query(con)?)
}

/// Reads the sealing parameters, or creates the store if there is none (retried if another
/// shim creates it at the same moment, so both end up with the same salt).
fn init_or_open(
    con: &mut Connection,
    keys: &Keys,
    secret: &Secret,
    display: &str,
) -> Result<KeySealer, Failure> {
    for _ in 0..MAX_ATTEMPTS {
        ::redis::cmd("WATCH").arg(keys.meta()).exec(con)?;
        let meta: HashMap<String, Vec<u8>> = con.hgetall(keys.meta())?;
        if !meta.is_empty() {
            ::redis::cmd("UNWATCH").exec(con)?;
            return open_existing(&meta, secret, display).map_err(Failure::Store);
        }
        let (sealer, parameters) =
            KeySealer::create(secret).map_err(|e| StoreError::Backend(e.to_string()))?;
        let base = changelog::epoch_base();
        let created: Value = ::redis::pipe()
            .atomic()
            .hset_multiple(
                keys.meta(),
                &[
                    ("schema", SCHEMA_VERSION.to_string().into_bytes()),
                    ("version", base.to_string().into_bytes()),
                    ("floor", base.to_string().into_bytes()),
                    ("salt", parameters.salt),
                    ("key_check", parameters.key_check),
                ],
            )
            .ignore()
            .query(con)?;
        if !matches!(created, Value::Nil) {
            return Ok(sealer);
        }
    }
    Err(StoreError::Backend(format!("Redis at {display}: could not create the store")).into())
}

fn open_existing(
    meta: &HashMap<String, Vec<u8>>,
    secret: &Secret,
    display: &str,
) -> Result<KeySealer, StoreError> {
    let corrupt = |detail: &str| StoreError::Corrupt {
        store: display.to_owned(),
        detail: detail.to_owned(),
    };
    let schema = meta
        .get("schema")
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| corrupt("no schema version"))?;
    if schema != SCHEMA_VERSION {
        return Err(corrupt(&format!(
            "schema version {schema}, this shim reads {SCHEMA_VERSION}"
        )));
    }
    let (Some(salt), Some(key_check)) = (meta.get("salt"), meta.get("key_check")) else {
        return Err(corrupt("no sealing parameters"));
    };
    let parameters = SealingParameters {
        salt: salt.clone(),
        key_check: key_check.clone(),
    };
    open_sealer(secret, &parameters, display)
}

/// Redis acknowledges a write before it is on disk unless AOF is on with `fsync always`.
fn warn_unless_durable(link: &Link, store: &str) {
    let setting = |name: &str| -> Option<String> {
        link.with(|con| {
            let pair: Vec<String> = ::redis::cmd("CONFIG").arg("GET").arg(name).query(con)?;
            Ok(pair.get(1).cloned())
        })
        .ok()
        .flatten()
    };
    let (Some(appendonly), Some(fsync)) = (setting("appendonly"), setting("appendfsync")) else {
        tracing::info!(%store, "cannot read Redis persistence settings (CONFIG GET refused); make sure appendonly yes and appendfsync always are set");
        return;
    };
    if appendonly != "yes" || fsync != "always" {
        tracing::warn!(
            %store,
            %appendonly,
            appendfsync = %fsync,
            "Redis is not set to appendonly yes + appendfsync always: acknowledged writes may not survive a crash"
        );
    }
}

impl Store for RedisStore {
    fn describe(&self) -> String {
        self.target.display.clone()
    }

    fn version(&self) -> Result<u64, StoreError> {
        self.link.with(|con| Ok(self.read_state(con)?.0))
    }

    fn add_certificate(&self, new: NewCertificate) -> Result<(), StoreError> {
        let (cert, sealed) = new.seal(&self.sealer)?;
        self.write(|con, keys, version, pipe| {
            if con.exists(keys.cert(&cert.id))? {
                return Err(StoreError::CertificateExists(cert.id.clone()).into());
            }
            pipe.hset_multiple(keys.cert(&cert.id), &records::cert_fields(&cert))
                .ignore();
            if let Some(sealed) = &sealed {
                pipe.hset(keys.cert(&cert.id), SEALED_FIELD, sealed.as_slice())
                    .ignore();
            }
            pipe.zadd(keys.certs(), &cert.id, version).ignore();
            let mut entry = cert.index_entry();
            entry.has_private = sealed.is_some();
            Ok(((), vec![ChangeRow::cert_upsert(version, &entry)]))
        })
    }

    fn certificate(&self, id: &str) -> Result<Option<StoredCertificate>, StoreError> {
        self.link.with(|con| self.load_certificate(con, id))
    }

    fn certificates(&self, org_id: Option<&str>) -> Result<Vec<StoredCertificate>, StoreError> {
        let mut certs = self.read(|con, _| self.load_certificates(con))?;
        if let Some(org) = org_id {
            certs.retain(|c| c.org_id == org);
        }
        Ok(certs)
    }

    fn private_key(&self, id: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let sealed: Option<Vec<u8>> = self
            .link
            .with(|con| Ok(con.hget(self.keys.cert(id), SEALED_FIELD)?))?;
        unseal_private_key(&self.sealer, self, id, sealed)
    }

    fn delete_certificate(&self, id: &str) -> Result<bool, StoreError> {
        self.write(|con, keys, version, pipe| {
            if !con.exists(keys.cert(id))? {
                return Ok((false, Vec::new()));
            }
            // The certificate only: its sessions stay (see the trait).
            pipe.del(keys.cert(id)).ignore();
            pipe.zrem(keys.certs(), id).ignore();
            Ok((
                true,
                vec![ChangeRow::removal(version, ChangeKind::CertRemove, id)],
            ))
        })
    }

    fn create_session(&self, key: &str, session: &Session) -> Result<(), StoreError> {
        let body =
            serde_json::to_string(session).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.write(|con, keys, version, pipe| {
            if !con.exists(keys.cert(&session.certificate))? {
                return Err(StoreError::CertificateNotFound(session.certificate.clone()).into());
            }
            if con.exists(keys.session(key))? {
                return Err(StoreError::SessionExists(key.to_owned()).into());
            }
            pipe.hset_multiple(
                keys.session(key),
                &[
                    ("certificate", session.certificate.as_str()),
                    ("body", &body),
                ],
            )
            .ignore();
            pipe.zadd(keys.sessions(), key, 0).ignore();
            Ok((
                (),
                vec![ChangeRow::session_upsert(version, key, &session.grant())],
            ))
        })
    }

    fn session(&self, key: &str) -> Result<Option<Session>, StoreError> {
        let body: Option<String> = self
            .link
            .with(|con| Ok(con.hget(self.keys.session(key), "body")?))?;
        body.map(|body| self.parse_session(key, &body)).transpose()
    }

    fn update_session(&self, key: &str, session: &Session) -> Result<(), StoreError> {
        let body =
            serde_json::to_string(session).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.write(|con, keys, version, pipe| {
            if !con.exists(keys.session(key))? {
                return Err(StoreError::SessionNotFound(key.to_owned()).into());
            }
            if !con.exists(keys.cert(&session.certificate))? {
                return Err(StoreError::CertificateNotFound(session.certificate.clone()).into());
            }
            pipe.hset_multiple(
                keys.session(key),
                &[
                    ("certificate", session.certificate.as_str()),
                    ("body", &body),
                ],
            )
            .ignore();
            Ok((
                (),
                vec![ChangeRow::session_upsert(version, key, &session.grant())],
            ))
        })
    }

    fn delete_session(&self, key: &str) -> Result<bool, StoreError> {
        self.write(|con, keys, version, pipe| {
            if !con.exists(keys.session(key))? {
                return Ok((false, Vec::new()));
            }
            pipe.del(keys.session(key)).ignore();
            pipe.zrem(keys.sessions(), key).ignore();
            Ok((
                true,
                vec![ChangeRow::removal(version, ChangeKind::SessionRemove, key)],
            ))
        })
    }

    fn changes_since(&self, since: u64) -> Result<ChangeSet, StoreError> {
        self.read(|con, keys| {
            let (version, floor) = self.read_state(con)?;
            if !changelog::wants_snapshot(since, floor, version) {
                let members: Vec<String> = ::redis::cmd("ZRANGEBYSCORE")
                    .arg(keys.changes())
                    .arg(format!("({since}"))
                    .arg("+inf")
                    .query(con)?;
                let rows = members
                    .iter()
                    .map(|m| records::change_from_member(m))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|detail| self.corrupt(detail))?;
                return changelog::fold(rows, version)
                    .map_err(|detail| self.corrupt(detail).into());
            }
            let mut set = ChangeSet {
                version,
                full: true,
                ..ChangeSet::default()
            };
            set.certs = self
                .load_certificates(con)?
                .iter()
                .map(StoredCertificate::index_entry)
                .collect();
            let session_keys: Vec<String> = con.zrange(keys.sessions(), 0, -1)?;
            let mut pipe = ::redis::pipe();
            for key in &session_keys {
                pipe.hget(keys.session(key), "body");
            }
            let bodies: Vec<Option<String>> = query_batch(&pipe, con)?;
            for (key, body) in session_keys.into_iter().zip(bodies) {
                let body = body
                    .ok_or_else(|| self.corrupt(format!("session {key} is indexed but missing")))?;
                let grant = self.parse_session(&key, &body)?.grant();
                set.sessions.push(SessionEntry { key, grant });
            }
            Ok(set)
        })
    }

    fn lookup(&self, key: &str) -> Result<LookupAnswer, StoreError> {
        lookup_in(self, key)
    }
}

#[cfg(test)]
mod tests {
    use super::super::redis_test_server::RedisServer;
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn secret(value: &str) -> Secret {
        Secret::new(value, "test").unwrap()
    }

    fn target(server: &RedisServer, prefix: &str) -> RedisTarget {
        RedisTarget::parse(&format!("{}?prefix={prefix}", server.url())).unwrap()
    }

    #[test]
    fn redis_store_passes_the_conformance_suite() {
        let server = RedisServer::start();
        let counter = AtomicUsize::new(0);
        super::super::conformance::run(&|retained| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let target = target(&server, &format!("conformance-{n}:"));
            Box::new(RedisStore::open_with_retention(&target, &secret("enc"), retained).unwrap())
        });
    }

    #[test]
    fn another_encoding_secret_fails_and_prefixes_are_separate_stores() {
        let server = RedisServer::start();
        let a = target(&server, "a:");
        drop(RedisStore::open(&a, &secret("right")).unwrap());
        let error = RedisStore::open(&a, &secret("wrong")).err().unwrap();
        assert!(matches!(error, StoreError::WrongEncodingSecret { .. }));
        assert!(error.to_string().contains("(prefix a:)"), "{error}");
        assert!(RedisStore::open(&target(&server, "b:"), &secret("wrong")).is_ok());
        assert!(RedisStore::exists(&a).unwrap());
        assert!(!RedisStore::exists(&target(&server, "c:")).unwrap());
    }

    #[test]
    fn concurrent_shims_never_lose_or_duplicate_a_write() {
        let server = RedisServer::start();
        let t = target(&server, "race:");
        let stores: Vec<RedisStore> = (0..4)
            .map(|_| RedisStore::open(&t, &secret("s")).unwrap())
            .collect();
        let start = stores[0].version().unwrap();
        let outcomes: Vec<Vec<bool>> = std::thread::scope(|scope| {
            let handles: Vec<_> = stores
                .iter()
                .map(|store| {
                    scope.spawn(move || {
                        (0..20)
                            .map(|i| {
                                let new =
                                    crate::store::conformance::test_certificate(&format!("c{i}"));
                                match store.add_certificate(new) {
                                    Ok(()) => true,
                                    Err(StoreError::CertificateExists(_)) => false,
                                    Err(other) => panic!("{other}"),
                                }
                            })
                            .collect::<Vec<bool>>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for i in 0..20 {
            let winners = outcomes.iter().filter(|o| o[i]).count();
            assert_eq!(winners, 1, "certificate {i}: exactly one shim wins");
        }
        assert_eq!(stores[1].version().unwrap(), start + 20);
        assert_eq!(stores[2].certificates(None).unwrap().len(), 20);
        let feed = stores[3].changes_since(start).unwrap();
        assert!(!feed.full);
        assert_eq!(feed.certs.len(), 20);
    }

    #[test]
    fn redis_down_is_a_backend_error_and_the_store_recovers() {
        let mut server = RedisServer::start();
        let store = RedisStore::open(&target(&server, "p:"), &secret("s")).unwrap();
        let version = store.version().unwrap();
        server.kill_9();
        let error = store.version().unwrap_err();
        assert!(matches!(error, StoreError::Backend(_)), "{error}");
        assert!(
            error.to_string().contains("Redis at redis://127.0.0.1:"),
            "{error}"
        );
        server.restart();
        assert_eq!(store.version().unwrap(), version);
    }
}
