//! The one place a `--store` value becomes a store (`serve` and `render` both use it): a
//! `redis://` URL is the Redis backend, anything else a SQLite file path.

use super::redis::{RedisBackend, RedisTarget};
use super::sqlite::SqliteBackend;
use super::{Store, StoreError};
use crate::secret::Secret;
use std::path::{Path, PathBuf};

/// What `--store` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    File(PathBuf),
    Redis(RedisTarget),
}

impl StoreSpec {
    pub fn parse(value: &Path) -> Result<Self, StoreError> {
        match value.to_str() {
            Some(text) if RedisTarget::is_redis_spec(text) => {
                RedisTarget::parse(text).map(StoreSpec::Redis)
            }
            _ => Ok(StoreSpec::File(value.to_path_buf())),
        }
    }

    /// For logs and errors; a Redis password is masked.
    pub fn describe(&self) -> String {
        match self {
            StoreSpec::File(path) => path.display().to_string(),
            StoreSpec::Redis(target) => target.display.clone(),
        }
    }

    /// True when the store has been created (the file exists, or the Redis prefix holds one).
    pub fn exists(&self) -> Result<bool, StoreError> {
        match self {
            StoreSpec::File(path) => Ok(path.is_file()),
            StoreSpec::Redis(target) => RedisBackend::exists(target),
        }
    }

    /// Opens the store, creating it if missing.
    pub fn open(&self, encoding_secret: &Secret) -> Result<Store, StoreError> {
        match self {
            StoreSpec::File(path) => Store::open(SqliteBackend::open(path)?, encoding_secret),
            StoreSpec::Redis(target) => Store::open(RedisBackend::open(target)?, encoding_secret),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_are_redis_and_everything_else_is_a_file() {
        assert!(matches!(
            StoreSpec::parse(Path::new("redis://h:1/0")),
            Ok(StoreSpec::Redis(_))
        ));
        assert_eq!(
            StoreSpec::parse(Path::new("./redis.db")).ok(),
            Some(StoreSpec::File("./redis.db".into()))
        );
        assert!(matches!(
            StoreSpec::parse(Path::new("rediss://h:1")),
            Ok(StoreSpec::Redis(target)) if target.tls.is_some()
        ));
    }
}
