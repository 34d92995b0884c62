//! The Redis backend, for fleets: several shims on one Redis share versions, feed and sessions.
//!
//! Atomicity: every write is an optimistic transaction. It WATCHes the `meta` hash (which
//! every write changes, as it holds the version), runs the store's reads at once and queues
//! its writes (the records, the change-log rows, the version bump, the pruning) in one
//! MULTI/EXEC. If another shim wrote in between, EXEC does nothing and the work is run again
//! from the reads, so two shims adding one certificate end with one success and one
//! `CertificateExists`. Reads that must be one view (listings, the feed) are retried the
//! same way.
//!
//! Durability is Redis's: acknowledged writes survive a crash only with `appendonly yes` and
//! `appendfsync always`; [`RedisBackend::open`] warns otherwise.

mod link;
mod records;

pub use link::{DEFAULT_PREFIX, RedisTarget};

use super::backend::{
    Backend, Decision, InitialState, LogState, Opened, ReadScope, Records, Writes,
};
use super::changelog::ChangeRow;
use super::sealing::SealingParameters;
use super::{StoreError, StoredCertificate};
use ::redis::{Commands, Connection, Pipeline, RedisError, Value};
use link::{Failure, Link};
use records::{Keys, SEALED_FIELD};
use std::collections::HashMap;

const SCHEMA_VERSION: u64 = 1;

/// Retries of one optimistic transaction before giving up (each retry means another shim
/// committed, so this only trips under a write storm).
const MAX_ATTEMPTS: usize = 100;

pub struct RedisBackend {
    target: RedisTarget,
    link: Link,
    keys: Keys,
}

impl RedisBackend {
    /// Connects to `target` lazily (the first call connects). The store under its prefix is
    /// created or checked by `Store::open`.
    pub fn open(target: &RedisTarget) -> Result<Self, StoreError> {
        let link = Link::new(target)?;
        warn_unless_durable(&link, &target.display);
        Ok(RedisBackend {
            target: target.clone(),
            link,
            keys: Keys::new(&target.prefix),
        })
    }

    /// True when a store has been created at `target`.
    pub fn exists(target: &RedisTarget) -> Result<bool, StoreError> {
        let keys = Keys::new(&target.prefix);
        Link::new(target)?.with(|con| Ok(con.exists(keys.meta())?))
    }

    fn access<'a>(&'a self, con: &'a mut Connection) -> Access<'a> {
        Access {
            con,
            keys: &self.keys,
            store: &self.target.display,
            pipe: ::redis::pipe(),
            failure: None,
        }
    }

    fn contended(&self) -> StoreError {
        StoreError::Backend(format!(
            "Redis at {}: gave up after {MAX_ATTEMPTS} attempts, other shims kept writing",
            self.target.display
        ))
    }
}

impl Backend for RedisBackend {
    fn describe(&self) -> String {
        self.target.display.clone()
    }

    /// Retried if another shim creates the store at the same moment, so both end up with the
    /// same salt.
    fn create_or_open(&self, initial: &InitialState) -> Result<Opened, StoreError> {
        let keys = &self.keys;
        let display = &self.target.display;
        self.link.with(|con| {
            for _ in 0..MAX_ATTEMPTS {
                ::redis::cmd("WATCH").arg(keys.meta()).exec(con)?;
                let meta: HashMap<String, Vec<u8>> = con.hgetall(keys.meta())?;
                if !meta.is_empty() {
                    ::redis::cmd("UNWATCH").exec(con)?;
                    return existing_parameters(&meta, display)
                        .map(Opened::Existing)
                        .map_err(Failure::Store);
                }
                let created: Value = ::redis::pipe()
                    .atomic()
                    .hset_multiple(
                        keys.meta(),
                        &[
                            ("schema", SCHEMA_VERSION.to_string().into_bytes()),
                            ("version", initial.log.version.to_string().into_bytes()),
                            ("floor", initial.log.floor.to_string().into_bytes()),
                            ("salt", initial.sealing.salt.clone()),
                            ("key_check", initial.sealing.key_check.clone()),
                        ],
                    )
                    .ignore()
                    .query(con)?;
                if !matches!(created, Value::Nil) {
                    return Ok(Opened::Created);
                }
            }
            Err(
                StoreError::Backend(format!("Redis at {display}: could not create the store"))
                    .into(),
            )
        })
    }

    fn read(
        &self,
        scope: ReadScope,
        work: &mut dyn FnMut(&mut dyn Records) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.link.with(|con| {
            if scope == ReadScope::Record {
                let mut access = self.access(con);
                return work(&mut access).map_err(|error| access.failure(error));
            }
            for _ in 0..MAX_ATTEMPTS {
                ::redis::cmd("WATCH").arg(self.keys.meta()).exec(con)?;
                let mut access = self.access(con);
                if let Err(error) = work(&mut access) {
                    let failure = access.failure(error);
                    ::redis::cmd("UNWATCH").exec(con)?;
                    return Err(failure);
                }
                let check: Value = ::redis::pipe()
                    .atomic()
                    .exists(self.keys.meta())
                    .query(con)?;
                if !matches!(check, Value::Nil) {
                    return Ok(());
                }
            }
            Err(self.contended().into())
        })
    }

    fn write(
        &self,
        work: &mut dyn FnMut(&mut dyn Writes) -> Result<Decision, StoreError>,
    ) -> Result<(), StoreError> {
        self.link.with(|con| {
            for _ in 0..MAX_ATTEMPTS {
                ::redis::cmd("WATCH").arg(self.keys.meta()).exec(con)?;
                let mut access = self.access(con);
                access.pipe.atomic();
                let pipe = match work(&mut access) {
                    Ok(Decision::Commit) => access.pipe,
                    Ok(Decision::Discard) => {
                        ::redis::cmd("UNWATCH").exec(con)?;
                        return Ok(());
                    }
                    Err(error) => {
                        let failure = access.failure(error);
                        ::redis::cmd("UNWATCH").exec(con)?;
                        return Err(failure);
                    }
                };
                let committed = pipe.query::<Value>(con).map_err(Failure::Unsure)?;
                if !matches!(committed, Value::Nil) {
                    return Ok(());
                }
            }
            Err(self.contended().into())
        })
    }
}

/// One call's use of the connection: reads run at once, writes queue on `pipe` for the EXEC.
struct Access<'a> {
    con: &'a mut Connection,
    keys: &'a Keys,
    /// The store's display name, for corruption errors.
    store: &'a str,
    pipe: Pipeline,
    /// The first Redis failure, kept so that the link can tell a dead connection (reconnect,
    /// maybe retry) from the store's own errors.
    failure: Option<RedisError>,
}

impl Access<'_> {
    /// Runs one Redis call now.
    fn call<T>(
        &mut self,
        call: impl FnOnce(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, StoreError> {
        call(self.con).map_err(|error| {
            let reported = StoreError::Backend(format!("Redis at {}: {error}", self.store));
            self.failure.get_or_insert(error);
            reported
        })
    }

    /// Runs a batch of reads; Redis refuses an empty pipeline, which means no reads.
    fn batch<T: ::redis::FromRedisValue>(&mut self, pipe: &Pipeline) -> Result<Vec<T>, StoreError> {
        if pipe.is_empty() {
            return Ok(Vec::new());
        }
        self.call(|con| pipe.query(con))
    }

    /// How `error` (which ended the work) reaches the link.
    fn failure(self, error: StoreError) -> Failure {
        match self.failure {
            Some(redis) => Failure::Redis(redis),
            None => Failure::Store(error),
        }
    }

    fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            store: self.store.to_owned(),
            detail: detail.into(),
        }
    }
}

impl Records for Access<'_> {
    fn log_state(&mut self) -> Result<LogState, StoreError> {
        let meta = self.keys.meta();
        let (version, floor): (Option<u64>, Option<u64>) = self.call(|con| {
            ::redis::cmd("HMGET")
                .arg(meta)
                .arg("version")
                .arg("floor")
                .query(con)
        })?;
        match (version, floor) {
            (Some(version), Some(floor)) => Ok(LogState { version, floor }),
            _ => {
                Err(self
                    .corrupt("its state (meta hash) is missing: was the Redis database flushed?"))
            }
        }
    }

    fn certificate(&mut self, id: &str) -> Result<Option<StoredCertificate>, StoreError> {
        let key = self.keys.cert(id);
        let fields: HashMap<String, Vec<u8>> = self.call(|con| con.hgetall(key))?;
        records::cert_from_fields(id, &fields).map_err(|detail| self.corrupt(detail))
    }

    fn has_certificate(&mut self, id: &str) -> Result<bool, StoreError> {
        let key = self.keys.cert(id);
        self.call(|con| con.exists(key))
    }

    fn certificates(&mut self) -> Result<Vec<StoredCertificate>, StoreError> {
        let index = self.keys.certs();
        let ids: Vec<String> = self.call(|con| con.zrange(index, 0, -1))?;
        let mut pipe = ::redis::pipe();
        for id in &ids {
            pipe.hgetall(self.keys.cert(id));
        }
        let all: Vec<HashMap<String, Vec<u8>>> = self.batch(&pipe)?;
        let mut certs = Vec::with_capacity(ids.len());
        for (id, fields) in ids.iter().zip(&all) {
            match records::cert_from_fields(id, fields) {
                Ok(Some(cert)) => certs.push(cert),
                Ok(None) => {
                    return Err(self.corrupt(format!("certificate {id} is indexed but missing")));
                }
                Err(detail) => return Err(self.corrupt(detail)),
            }
        }
        Ok(certs)
    }

    fn sealed_private_key(&mut self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.keys.cert(id);
        self.call(|con| con.hget(key, SEALED_FIELD))
    }

    fn session(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        let record = self.keys.session(key);
        self.call(|con| con.hget(record, "body"))
    }

    fn has_session(&mut self, key: &str) -> Result<bool, StoreError> {
        let record = self.keys.session(key);
        self.call(|con| con.exists(record))
    }

    fn sessions(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        let index = self.keys.sessions();
        let keys: Vec<String> = self.call(|con| con.zrange(index, 0, -1))?;
        let mut pipe = ::redis::pipe();
        for key in &keys {
            pipe.hget(self.keys.session(key), "body");
        }
        let bodies: Vec<Option<String>> = self.batch(&pipe)?;
        keys.into_iter()
            .zip(bodies)
            .map(|(key, body)| match body {
                Some(body) => Ok((key, body)),
                None => Err(self.corrupt(format!("session {key} is indexed but missing"))),
            })
            .collect()
    }

    fn changes_after(&mut self, version: u64) -> Result<Vec<ChangeRow>, StoreError> {
        let log = self.keys.changes();
        let members: Vec<String> = self.call(|con| {
            ::redis::cmd("ZRANGEBYSCORE")
                .arg(log)
                .arg(format!("({version}"))
                .arg("+inf")
                .query(con)
        })?;
        members
            .iter()
            .map(|m| records::change_from_member(m))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|detail| self.corrupt(detail))
    }

    fn named_record(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        let key = self.keys.named_records();
        self.call(|con| con.hget(key, name))
    }
}

impl Writes for Access<'_> {
    fn insert_certificate(
        &mut self,
        cert: &StoredCertificate,
        sealed_private_key: Option<&[u8]>,
        version: u64,
    ) -> Result<(), StoreError> {
        let record = self.keys.cert(cert.id.as_str());
        self.pipe
            .hset_multiple(&record, &records::cert_fields(cert))
            .ignore();
        if let Some(sealed) = sealed_private_key {
            self.pipe.hset(&record, SEALED_FIELD, sealed).ignore();
        }
        // Scored by the version that added it: the index lists in upload order.
        self.pipe
            .zadd(self.keys.certs(), cert.id.as_str(), version)
            .ignore();
        Ok(())
    }

    fn remove_certificate(&mut self, id: &str) -> Result<(), StoreError> {
        self.pipe.del(self.keys.cert(id)).ignore();
        self.pipe.zrem(self.keys.certs(), id).ignore();
        Ok(())
    }

    fn put_session(
        &mut self,
        key: &str,
        certificate_id: &str,
        json: &str,
    ) -> Result<(), StoreError> {
        self.pipe
            .hset_multiple(
                self.keys.session(key),
                &[("certificate", certificate_id), ("body", json)],
            )
            .ignore();
        self.pipe.zadd(self.keys.sessions(), key, 0).ignore();
        Ok(())
    }

    fn remove_session(&mut self, key: &str) -> Result<(), StoreError> {
        self.pipe.del(self.keys.session(key)).ignore();
        self.pipe.zrem(self.keys.sessions(), key).ignore();
        Ok(())
    }

    fn append_changes(&mut self, rows: &[ChangeRow]) -> Result<(), StoreError> {
        for (index, row) in rows.iter().enumerate() {
            self.pipe
                .zadd(
                    self.keys.changes(),
                    records::change_member(index, row),
                    row.version,
                )
                .ignore();
        }
        Ok(())
    }

    fn prune_changes_through(&mut self, version: u64) -> Result<(), StoreError> {
        self.pipe
            .cmd("ZREMRANGEBYSCORE")
            .arg(self.keys.changes())
            .arg("-inf")
            .arg(version)
            .ignore();
        Ok(())
    }

    fn set_log_state(&mut self, state: LogState) -> Result<(), StoreError> {
        self.pipe
            .hset_multiple(
                self.keys.meta(),
                &[("version", state.version), ("floor", state.floor)],
            )
            .ignore();
        Ok(())
    }

    fn put_named_record(&mut self, name: &str, json: &str) -> Result<(), StoreError> {
        self.pipe
            .hset(self.keys.named_records(), name, json)
            .ignore();
        Ok(())
    }
}

/// The sealing parameters of an existing store, from its `meta` hash.
fn existing_parameters(
    meta: &HashMap<String, Vec<u8>>,
    display: &str,
) -> Result<SealingParameters, StoreError> {
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
    Ok(SealingParameters {
        salt: salt.clone(),
        key_check: key_check.clone(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::store::{Store, conformance};
    use mtls_gate_testkit::redis::RedisServer;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn secret(value: &str) -> Secret {
        Secret::new(value, "test").unwrap()
    }

    fn open(target: &RedisTarget, encoding_secret: &str) -> Result<Store, StoreError> {
        Store::open(RedisBackend::open(target)?, &secret(encoding_secret))
    }

    fn target(server: &RedisServer, prefix: &str) -> RedisTarget {
        RedisTarget::parse(&format!("{}?prefix={prefix}", server.url())).unwrap()
    }

    #[test]
    fn redis_store_passes_the_conformance_suite() {
        let server = RedisServer::start();
        let counter = AtomicUsize::new(0);
        conformance::run(&|retained| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let backend =
                RedisBackend::open(&target(&server, &format!("conformance-{n}:"))).unwrap();
            Store::open_with_retention(backend, &secret("enc"), retained).unwrap()
        });
    }

    #[test]
    fn another_encoding_secret_fails_and_prefixes_are_separate_stores() {
        let server = RedisServer::start();
        let a = target(&server, "a:");
        drop(open(&a, "right").unwrap());
        let error = open(&a, "wrong").err().unwrap();
        assert!(matches!(error, StoreError::WrongEncodingSecret { .. }));
        assert!(error.to_string().contains("(prefix a:)"), "{error}");
        assert!(open(&target(&server, "b:"), "wrong").is_ok());
        assert!(RedisBackend::exists(&a).unwrap());
        assert!(!RedisBackend::exists(&target(&server, "c:")).unwrap());
    }

    #[test]
    fn concurrent_shims_never_lose_or_duplicate_a_write() {
        let server = RedisServer::start();
        let t = target(&server, "race:");
        let stores: Vec<Store> = (0..4).map(|_| open(&t, "s").unwrap()).collect();
        let start = stores[0].version().unwrap();
        let outcomes: Vec<Vec<bool>> = std::thread::scope(|scope| {
            let handles: Vec<_> = stores
                .iter()
                .map(|store| {
                    scope.spawn(move || {
                        (0..20)
                            .map(|i| {
                                let new = conformance::test_certificate(&format!("c{i}"));
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
        let store = open(&target(&server, "p:"), "s").unwrap();
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
