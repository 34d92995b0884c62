//! Snapshots in pages for the change feed (`mtls_gate_core::feed`, "Snapshots in pages").
//!
//! A snapshot of 100,000 sessions takes a second or two to read (more on Redis), so it is
//! read once and its pages are cut from that one copy. The copy is kept where a request
//! that timed out still leaves it: the filter's next try finds it ready.

use mtls_gate_core::feed::{PageCursor, PagedSnapshot};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A first page may be cut from a copy this young: the receiver's next incremental set
/// then starts at that copy's version, a few changes back at most.
const FIRST_PAGE_REUSE: Duration = Duration::from_secs(10);

/// A copy older than this is dropped at the next feed request, and never pages on: it may
/// be tens of MiB.
const KEPT_FOR: Duration = Duration::from_secs(60);

/// The last snapshot read for pages, if any.
#[derive(Default)]
pub struct SnapshotPages {
    copy: Mutex<Option<Copy>>,
}

struct Copy {
    snapshot: Arc<PagedSnapshot>,
    read_at: Instant,
}

impl SnapshotPages {
    /// A copy to cut the page after `after` from (the first page when `None`), if one is
    /// kept that will do: for the first page, one read in the last 10 s; for a later page,
    /// one at the cursor's version or newer (a page from an older state could bring back
    /// an entry removed before the first page, and no incremental set would remove it
    /// again).
    pub fn reusable(&self, after: Option<&PageCursor>) -> Option<Arc<PagedSnapshot>> {
        let mut copy = self.copy.lock().unwrap_or_else(PoisonError::into_inner);
        let age = copy.as_ref()?.read_at.elapsed();
        if age > KEPT_FOR {
            *copy = None;
            return None;
        }
        let kept = copy.as_ref()?;
        let fits = match after {
            None => age <= FIRST_PAGE_REUSE,
            Some(cursor) => kept.snapshot.version() >= cursor.version,
        };
        fits.then(|| Arc::clone(&kept.snapshot))
    }

    /// Keeps `snapshot` (unless a newer one is kept already) and returns it.
    pub fn keep(&self, snapshot: PagedSnapshot) -> Arc<PagedSnapshot> {
        let snapshot = Arc::new(snapshot);
        let mut copy = self.copy.lock().unwrap_or_else(PoisonError::into_inner);
        if copy
            .as_ref()
            .is_none_or(|kept| kept.snapshot.version() <= snapshot.version())
        {
            *copy = Some(Copy {
                snapshot: Arc::clone(&snapshot),
                read_at: Instant::now(),
            });
        }
        snapshot
    }

    /// Drops a copy past its time (called on every feed request).
    pub fn expire(&self) {
        let mut copy = self.copy.lock().unwrap_or_else(PoisonError::into_inner);
        if copy
            .as_ref()
            .is_some_and(|c| c.read_at.elapsed() > KEPT_FOR)
        {
            *copy = None;
        }
    }
}
