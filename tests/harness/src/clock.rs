//! A manual clock shared by every worker of a [`Host`](super::Host).
//!
//! It answers `proxy_get_current_time_nanoseconds` and also WASI `clock_time_get`, so
//! `SystemTime::now()` inside the plugin agrees with the proxy-wasm clock. Time moves only
//! when a test moves it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The wall time a new host starts at: 2023-11-14T22:13:20Z.
pub const DEFAULT_UNIX_SECONDS: u64 = 1_700_000_000;

/// A cheap handle to the shared manual clock; clones see the same time.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<Ticks>,
}

#[derive(Debug)]
struct Ticks {
    /// Nanoseconds since the Unix epoch.
    wall_nanos: AtomicU64,
    /// Nanoseconds since the host started; only [`Clock::advance`] moves it, so it never
    /// goes back even when a test sets the wall time back.
    monotonic_nanos: AtomicU64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            inner: Arc::new(Ticks {
                wall_nanos: AtomicU64::new(DEFAULT_UNIX_SECONDS * 1_000_000_000),
                monotonic_nanos: AtomicU64::new(0),
            }),
        }
    }
}

impl Clock {
    pub fn set_unix_seconds(&self, seconds: u64) {
        self.set_unix_nanos(seconds.saturating_mul(1_000_000_000));
    }

    pub fn set_unix_nanos(&self, nanos: u64) {
        self.inner.wall_nanos.store(nanos, Ordering::SeqCst);
    }

    /// Moves both the wall and the monotonic time forward.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.inner.wall_nanos.fetch_add(nanos, Ordering::SeqCst);
        self.inner
            .monotonic_nanos
            .fetch_add(nanos, Ordering::SeqCst);
    }

    pub fn unix_nanos(&self) -> u64 {
        self.inner.wall_nanos.load(Ordering::SeqCst)
    }

    pub fn unix_seconds(&self) -> u64 {
        self.unix_nanos() / 1_000_000_000
    }

    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.unix_nanos())
    }

    pub(crate) fn monotonic_nanos(&self) -> u64 {
        self.inner.monotonic_nanos.load(Ordering::SeqCst)
    }
}
