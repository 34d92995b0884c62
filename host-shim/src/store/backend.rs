//! What a store backend supplies: records, and transactions over them. Nothing here decides
//! anything; the rules (sealing, the version and change log, pruning, snapshots, lookup, what
//! a session must be bound to) are [`Store`](super::Store)'s, written once over these
//! primitives.
//!
//! A backend keeps five kinds of record, spelled at rest as its own schema says:
//! - the log state ([`LogState`]) and the sealing parameters, written once at creation;
//! - certificates, each with its sealed private key if it has one; `has_private` is read back
//!   as "a sealed key is stored", never stored on its own;
//! - sessions: the Tyk session JSON, opaque here, beside the ID of the certificate it is
//!   bound to;
//! - change-log rows ([`ChangeRow`]);
//! - named records: a JSON document under a name, opaque here (what `render` last rendered,
//!   the gate the shims serve). They are not certificates or sessions: writing one is not a
//!   change the feed reports, and it does not bump the version.
//!
//! Atomicity: [`Backend::write`] runs the store's work as one transaction that commits every
//! write the work made, or none. Reads inside it see the state as of the transaction's start,
//! never the work's own writes (Redis queues writes until EXEC), so the rules read before they
//! write. An optimistic backend may run the work again after a conflict with another writer:
//! work has no effect outside the transaction.
//!
//! To add a backend: implement these three traits, and run `store::conformance` over it from
//! the backend's tests (see `sqlite.rs`).

use super::changelog::ChangeRow;
use super::sealing::SealingParameters;
use super::{StoreError, StoredCertificate};
use crate::certificates::upload::MaterialKind;

/// Where the change log stands: `version` is the feed's current version (every write adds
/// one), `floor` the newest version pruned from the log (see `changelog`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogState {
    pub version: u64,
    pub floor: u64,
}

/// What a new store is created with.
pub struct InitialState {
    pub log: LogState,
    pub sealing: SealingParameters,
}

/// What [`Backend::create_or_open`] found.
pub enum Opened {
    /// There was no store: it now holds the [`InitialState`] it was given.
    Created,
    /// There was one already, sealed with these parameters.
    Existing(SealingParameters),
}

/// How much consistency a read needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadScope {
    /// Each read is on its own: enough for a call that reads one record.
    Record,
    /// Every read of the call sees one state (listings, the feed), as a read transaction or
    /// an optimistic read retried when a write committed meanwhile.
    View,
}

/// What a write transaction's work decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Commit,
    /// Nothing changed: the transaction ends and nothing is written.
    Discard,
}

/// Reads. Absent records are `None` (or empty lists), never errors; a record that does not
/// decode is [`StoreError::Corrupt`].
pub trait Records {
    fn log_state(&mut self) -> Result<LogState, StoreError>;

    fn certificate(&mut self, id: &str) -> Result<Option<StoredCertificate>, StoreError>;

    fn has_certificate(&mut self, id: &str) -> Result<bool, StoreError>;

    /// Every certificate, in upload order (a certificate uploaded again goes last).
    fn certificates(&mut self) -> Result<Vec<StoredCertificate>, StoreError>;

    fn sealed_private_key(&mut self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The session JSON stored under `key`.
    fn session(&mut self, key: &str) -> Result<Option<String>, StoreError>;

    fn has_session(&mut self, key: &str) -> Result<bool, StoreError>;

    /// Every session as (key, JSON), in byte order of the key.
    fn sessions(&mut self) -> Result<Vec<(String, String)>, StoreError>;

    /// The change-log rows with a version above `version`, in the order they were appended.
    fn changes_after(&mut self, version: u64) -> Result<Vec<ChangeRow>, StoreError>;

    /// The JSON document stored under `name`.
    fn named_record(&mut self, name: &str) -> Result<Option<String>, StoreError>;
}

/// Writes, inside a [`Backend::write`] transaction.
pub trait Writes: Records {
    /// Stores a new certificate (its ID is free) written by the write at `version`, which a
    /// backend may use to keep upload order.
    fn insert_certificate(
        &mut self,
        certificate: &StoredCertificate,
        sealed_private_key: Option<&[u8]>,
        version: u64,
    ) -> Result<(), StoreError>;

    fn remove_certificate(&mut self, id: &str) -> Result<(), StoreError>;

    /// Creates or replaces the session under `key`.
    fn put_session(
        &mut self,
        key: &str,
        certificate_id: &str,
        json: &str,
    ) -> Result<(), StoreError>;

    fn remove_session(&mut self, key: &str) -> Result<(), StoreError>;

    /// Appends one write's rows, kept in this order.
    fn append_changes(&mut self, rows: &[ChangeRow]) -> Result<(), StoreError>;

    /// Drops every change-log row with a version up to and including `version`.
    fn prune_changes_through(&mut self, version: u64) -> Result<(), StoreError>;

    fn set_log_state(&mut self, state: LogState) -> Result<(), StoreError>;

    /// Creates or replaces the JSON document under `name`.
    fn put_named_record(&mut self, name: &str, json: &str) -> Result<(), StoreError>;
}

/// A place records live. Methods block; the store's async callers use `spawn_blocking`.
pub trait Backend: Send + Sync {
    /// A short human name for logs and errors (the file path, the Redis URL and prefix).
    fn describe(&self) -> String;

    /// Creates the store with `initial` unless there is one; atomic, so two shims starting
    /// on one empty store end up with one set of sealing parameters.
    fn create_or_open(&self, initial: &InitialState) -> Result<Opened, StoreError>;

    fn read(
        &self,
        scope: ReadScope,
        work: &mut dyn FnMut(&mut dyn Records) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Runs `work` as one transaction (see the module doc); an error from `work` writes
    /// nothing and is returned.
    fn write(
        &self,
        work: &mut dyn FnMut(&mut dyn Writes) -> Result<Decision, StoreError>,
    ) -> Result<(), StoreError>;
}

/// How backends spell a [`MaterialKind`] at rest.
pub fn kind_text(kind: MaterialKind) -> &'static str {
    match kind {
        MaterialKind::Certificate => "certificate",
        MaterialKind::PublicKey => "public_key",
    }
}

pub fn kind_from_text(text: &str) -> Option<MaterialKind> {
    match text {
        "certificate" => Some(MaterialKind::Certificate),
        "public_key" => Some(MaterialKind::PublicKey),
        _ => None,
    }
}
