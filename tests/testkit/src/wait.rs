//! Readiness by polling with a deadline. A test never sleeps a fixed time: it waits for the
//! condition it needs and fails with a clear message when the deadline passes.

use anyhow::{Result, bail};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How often a condition is re-checked.
const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it returns `Ok(Some(v))`, or fails after `timeout`.
/// `Ok(None)` means "not yet"; `Err` aborts at once (for example: the process died).
pub fn until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check()? {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until `addr` accepts TCP connections.
pub fn tcp(addr: SocketAddr, timeout: Duration) -> Result<()> {
    until(&format!("TCP {addr}"), timeout, || {
        Ok(TcpStream::connect_timeout(&addr, POLL).ok().map(|_| ()))
    })
}

/// Waits until `GET http://addr{path}` answers 200.
pub fn http_ok(addr: SocketAddr, path: &str, timeout: Duration) -> Result<()> {
    until(&format!("HTTP 200 from {addr}{path}"), timeout, || {
        Ok(crate::admin_http::get(addr, path)
            .ok()
            .filter(|r| r.status == 200)
            .map(|_| ()))
    })
}
