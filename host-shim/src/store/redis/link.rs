//! Where the Redis store lives (`redis://…[?prefix=…]`, or over TLS
//! `rediss://…[?prefix=…][&ca=FILE][&cert=FILE&key=FILE]`) and the one connection a shim keeps
//! to it, re-established after any failure.

use super::super::StoreError;
use ::redis::{Client, ClientTlsConfig, Connection, RedisError, TlsCertificates};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub const DEFAULT_PREFIX: &str = "mtls-gate:";

/// A store call must not hang an admin request (or a feed long-poll) on a dead Redis.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed `redis://` or `rediss://` store value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTarget {
    /// The URL for the client, without our own parameters (`prefix`, `ca`, `cert`, `key`).
    pub url: String,
    /// Every key of the store starts with this, so deployments can share one Redis.
    pub prefix: String,
    /// The URL with any password masked, for logs and errors.
    pub display: String,
    /// `rediss://`: how the server is verified and the client certificate, if any.
    pub tls: Option<RedisTls>,
}

/// TLS to Redis (`rediss://`). The server is always verified: against `ca` when given, else
/// the system's roots; its certificate must name the URL's host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RedisTls {
    /// `ca=FILE`: PEM CA certificates the server must chain to.
    pub ca: Option<PathBuf>,
    /// `cert=FILE&key=FILE`: a client certificate for servers with `tls-auth-clients yes`.
    pub client: Option<(PathBuf, PathBuf)>,
}

impl RedisTarget {
    /// True when `spec` names a Redis store (plain or TLS) rather than a file.
    pub fn is_redis_spec(spec: &str) -> bool {
        spec.starts_with("redis://") || spec.starts_with("rediss://")
    }

    pub fn parse(spec: &str) -> Result<Self, StoreError> {
        let (base, query) = spec.split_once('?').unwrap_or((spec, ""));
        let display = mask_password(base);
        let invalid = |why: String| StoreError::InvalidSpec(format!("{display}: {why}"));
        if base.contains('#') {
            // The client reads `#insecure` as "skip verification": never from a store URL.
            return Err(invalid(
                "a `#` fragment is not accepted (the server is always verified; give its CA with ca=FILE)".into(),
            ));
        }
        let tls_scheme = base.starts_with("rediss://");
        let mut prefix = DEFAULT_PREFIX.to_owned();
        let mut tls = RedisTls::default();
        let (mut cert, mut key) = (None, None);
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "prefix" => prefix = value.to_owned(),
                "ca" | "cert" | "key" if !tls_scheme => {
                    return Err(invalid(format!(
                        "{name}= is for rediss:// (Redis over TLS); this URL is plain redis://"
                    )));
                }
                "ca" | "cert" | "key" if value.is_empty() => {
                    return Err(invalid(format!("{name}= needs a file path")));
                }
                "ca" => tls.ca = Some(PathBuf::from(value)),
                "cert" => cert = Some(PathBuf::from(value)),
                "key" => key = Some(PathBuf::from(value)),
                _ => kept.push(pair),
            }
        }
        match (cert, key) {
            (Some(cert), Some(key)) => tls.client = Some((cert, key)),
            (None, None) => {}
            _ => {
                return Err(invalid(
                    "cert= and key= go together (the client certificate and its private key)"
                        .into(),
                ));
            }
        }
        if prefix.is_empty() {
            return Err(invalid(
                "prefix must not be empty (keys would collide with other data)".into(),
            ));
        }
        let url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok(RedisTarget {
            url,
            display: format!("{display} (prefix {prefix})"),
            prefix,
            tls: tls_scheme.then_some(tls),
        })
    }
}

/// `redis://user:secret@host` → `redis://user:***@host`.
fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or("", |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// What a Redis call can fail with: Redis itself, or the store's own rules.
pub enum Failure {
    /// Nothing was changed by the failed command, so the call may be run again.
    Redis(RedisError),
    /// The failed command may have taken effect (an EXEC whose reply was lost).
    Unsure(RedisError),
    Store(StoreError),
}

impl From<RedisError> for Failure {
    fn from(error: RedisError) -> Self {
        Failure::Redis(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Store(error)
    }
}

/// One connection, used by one call at a time (admin writes are rare; WATCH state is per
/// connection, so sharing one across calls would mix transactions).
pub struct Link {
    client: Client,
    display: String,
    connection: Mutex<Option<Connection>>,
}

impl Link {
    pub fn new(target: &RedisTarget) -> Result<Self, StoreError> {
        let invalid = |why: String| StoreError::InvalidSpec(format!("{}: {why}", target.display));
        let client = match &target.tls {
            None => Client::open(target.url.as_str()),
            Some(tls) => {
                let read = |what: &str, path: &PathBuf| {
                    std::fs::read(path)
                        .map_err(|e| invalid(format!("{what} {}: {e}", path.display())))
                };
                let root_cert = tls.ca.as_ref().map(|ca| read("ca=", ca)).transpose()?;
                let client_tls = match &tls.client {
                    Some((cert, key)) => Some(ClientTlsConfig {
                        client_cert: read("cert=", cert)?,
                        client_key: read("key=", key)?,
                    }),
                    None => None,
                };
                Client::build_with_tls(
                    target.url.as_str(),
                    TlsCertificates {
                        client_tls,
                        root_cert,
                    },
                )
            }
        }
        .map_err(|e| invalid(e.to_string()))?;
        Ok(Link {
            client,
            display: target.display.clone(),
            connection: Mutex::new(None),
        })
    }

    /// Runs `call` on the connection, connecting first if needed. After a Redis failure the
    /// connection is dropped (it may be dead, or hold a WATCH). A kept connection found dead
    /// (Redis restarted since its last use) is replaced and the call run once more, unless
    /// the failure was [`Failure::Unsure`].
    pub fn with<T>(
        &self,
        mut call: impl FnMut(&mut Connection) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let mut slot = self.slot();
        let mut reused = slot.is_some();
        loop {
            let connection = match slot.as_mut() {
                Some(connection) => connection,
                None => slot.insert(self.connect().map_err(|e| self.backend(&e))?),
            };
            let (error, retry) = match call(connection) {
                Ok(value) => return Ok(value),
                Err(Failure::Store(error)) => return Err(error),
                Err(Failure::Unsure(error)) => (error, false),
                Err(Failure::Redis(error)) => {
                    let dead = !error.is_timeout()
                        && (error.is_connection_dropped() || error.is_io_error());
                    (error, reused && dead)
                }
            };
            *slot = None;
            if !retry {
                return Err(self.backend(&error));
            }
            reused = false;
        }
    }

    fn connect(&self) -> Result<Connection, RedisError> {
        let connection = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        connection.set_read_timeout(Some(IO_TIMEOUT))?;
        connection.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(connection)
    }

    fn slot(&self) -> MutexGuard<'_, Option<Connection>> {
        // A panic mid-call leaves at worst a connection with a WATCH or half a reply pending;
        // drop it rather than reuse it.
        self.connection.lock().unwrap_or_else(|poisoned| {
            let mut slot = poisoned.into_inner();
            *slot = None;
            slot
        })
    }

    fn backend(&self, error: &RedisError) -> StoreError {
        StoreError::Backend(format!("Redis at {}: {error}", self.display))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_taken_from_the_query_and_the_password_is_masked() {
        let target = RedisTarget::parse("redis://app:s3cret@db:6380/2?prefix=team-a:").unwrap();
        assert_eq!(target.url, "redis://app:s3cret@db:6380/2");
        assert_eq!(target.prefix, "team-a:");
        assert_eq!(target.display, "redis://app:***@db:6380/2 (prefix team-a:)");
        assert!(!target.display.contains("s3cret"));
    }

    #[test]
    fn defaults_and_other_parameters_pass_through() {
        let target = RedisTarget::parse("redis://127.0.0.1:6379?protocol=resp3").unwrap();
        assert_eq!(target.prefix, DEFAULT_PREFIX);
        assert_eq!(target.url, "redis://127.0.0.1:6379?protocol=resp3");
    }

    #[test]
    fn tls_parameters_are_taken_from_the_query_and_checked() {
        let target = RedisTarget::parse(
            "rediss://:pw@db:6380/1?prefix=p:&ca=/etc/ca.pem&cert=c.pem&key=k.pem",
        )
        .unwrap();
        assert_eq!(target.url, "rediss://:pw@db:6380/1");
        assert_eq!(target.prefix, "p:");
        assert_eq!(
            target.tls,
            Some(RedisTls {
                ca: Some("/etc/ca.pem".into()),
                client: Some(("c.pem".into(), "k.pem".into())),
            })
        );
        assert_eq!(
            RedisTarget::parse("rediss://db:6380").unwrap().tls,
            Some(RedisTls::default())
        );
        assert_eq!(RedisTarget::parse("redis://db").unwrap().tls, None);
        for (spec, expected) in [
            ("rediss://:pw@db?cert=c.pem", "cert= and key= go together"),
            ("rediss://:pw@db?key=k.pem", "cert= and key= go together"),
            ("redis://:pw@db?ca=ca.pem", "ca= is for rediss://"),
            ("rediss://:pw@db?ca=", "ca= needs a file path"),
            ("rediss://:pw@db#insecure", "a `#` fragment is not accepted"),
        ] {
            let error = RedisTarget::parse(spec).unwrap_err().to_string();
            assert!(error.contains(expected), "{spec}: {error}");
            assert!(!error.contains("pw"), "{spec}: {error}");
        }
    }

    #[test]
    fn empty_prefixes_are_refused_clearly() {
        let empty = RedisTarget::parse("redis://db?prefix=")
            .unwrap_err()
            .to_string();
        assert!(empty.contains("prefix must not be empty"), "{empty}");
    }
}
