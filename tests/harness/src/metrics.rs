//! Metrics defined with `proxy_define_metric`, with Envoy's rules (`Context::*Metric`).
//!
//! Like Envoy, a name is one stat for the whole process: counters that several workers
//! increment add up, a gauge holds the last value any worker set. Each worker also keeps
//! its own view (what that worker alone did), for tests that look at one worker.
//!
//! - Ids carry the type in the low 2 bits (counter 0, gauge 1, histogram 2); every
//!   definition gets a fresh id, and ids of one name share the stat.
//! - `increment` on a counter needs offset > 0 (else `BadArgument`); on a gauge a negative
//!   offset subtracts. `record` adds to a counter, sets a gauge, samples a histogram.
//! - `get` on a histogram is `BadArgument`; an unknown id is `NotFound`.

use super::status::Status;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

const TYPE_MASK: u32 = 0x3;
const ID_INCREMENT: u32 = 0x4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricKind {
    pub(crate) fn from_abi(raw: i32) -> Option<MetricKind> {
        Some(match raw {
            0 => MetricKind::Counter,
            1 => MetricKind::Gauge,
            2 => MetricKind::Histogram,
            _ => return None,
        })
    }

    fn tag(self) -> u32 {
        match self {
            MetricKind::Counter => 0,
            MetricKind::Gauge => 1,
            MetricKind::Histogram => 2,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Stat {
    value: u64,
    samples: Vec<u64>,
}

/// One set of stats by name: the host-wide store, or one worker's view.
#[derive(Clone, Debug, Default)]
struct Stats {
    by_name: BTreeMap<String, Stat>,
}

impl Stats {
    fn apply(&mut self, name: &str, op: Op) {
        let stat = self.by_name.entry(name.to_string()).or_default();
        match op {
            Op::Add(n) => stat.value = stat.value.saturating_add(n),
            Op::Sub(n) => stat.value = stat.value.saturating_sub(n),
            Op::Set(n) => stat.value = n,
            Op::Sample(n) => stat.samples.push(n),
        }
    }
}

#[derive(Clone, Copy)]
enum Op {
    Add(u64),
    Sub(u64),
    Set(u64),
    Sample(u64),
}

/// The host-wide stats.
#[derive(Clone, Debug, Default)]
pub(crate) struct MetricStore {
    inner: Arc<Mutex<Stats>>,
}

impl MetricStore {
    fn lock(&self) -> MutexGuard<'_, Stats> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn value(&self, name: &str) -> Option<u64> {
        self.lock().by_name.get(name).map(|s| s.value)
    }

    pub(crate) fn samples(&self, name: &str) -> Option<Vec<u64>> {
        self.lock().by_name.get(name).map(|s| s.samples.clone())
    }
}

/// One worker's metric definitions and view.
#[derive(Debug)]
pub(crate) struct WorkerMetrics {
    store: MetricStore,
    defs: BTreeMap<u32, (MetricKind, String)>,
    next_id: u32,
    mine: Stats,
}

impl WorkerMetrics {
    pub(crate) fn new(store: MetricStore) -> Self {
        WorkerMetrics {
            store,
            defs: BTreeMap::new(),
            next_id: ID_INCREMENT,
            mine: Stats::default(),
        }
    }

    pub(crate) fn define(&mut self, kind: MetricKind, name: &str) -> u32 {
        let id = self.next_id | kind.tag();
        self.next_id = self.next_id.wrapping_add(ID_INCREMENT);
        self.defs.insert(id, (kind, name.to_string()));
        // A defined stat exists (at 0) even before its first update, as in Envoy.
        self.store
            .lock()
            .by_name
            .entry(name.to_string())
            .or_default();
        self.mine.by_name.entry(name.to_string()).or_default();
        id
    }

    fn lookup(&self, id: u32) -> Result<(MetricKind, String), Status> {
        let (kind, name) = self.defs.get(&id).ok_or(Status::NotFound)?;
        debug_assert_eq!(kind.tag(), id & TYPE_MASK);
        Ok((*kind, name.clone()))
    }

    fn apply(&mut self, name: &str, op: Op) {
        self.store.lock().apply(name, op);
        self.mine.apply(name, op);
    }

    pub(crate) fn increment(&mut self, id: u32, offset: i64) -> Status {
        let (kind, name) = match self.lookup(id) {
            Ok(found) => found,
            Err(status) => return status,
        };
        match kind {
            MetricKind::Counter if offset > 0 => self.apply(&name, Op::Add(offset.unsigned_abs())),
            MetricKind::Counter => return Status::BadArgument,
            MetricKind::Gauge if offset > 0 => self.apply(&name, Op::Add(offset.unsigned_abs())),
            MetricKind::Gauge => self.apply(&name, Op::Sub(offset.unsigned_abs())),
            MetricKind::Histogram => return Status::BadArgument,
        }
        Status::Ok
    }

    pub(crate) fn record(&mut self, id: u32, value: u64) -> Status {
        let (kind, name) = match self.lookup(id) {
            Ok(found) => found,
            Err(status) => return status,
        };
        let op = match kind {
            MetricKind::Counter => Op::Add(value),
            MetricKind::Gauge => Op::Set(value),
            MetricKind::Histogram => Op::Sample(value),
        };
        self.apply(&name, op);
        Status::Ok
    }

    /// `proxy_get_metric`: the host-wide value, as Envoy's stat store holds it.
    pub(crate) fn get(&self, id: u32) -> Result<u64, Status> {
        let (kind, name) = self.lookup(id)?;
        if kind == MetricKind::Histogram {
            return Err(Status::BadArgument);
        }
        Ok(self.store.value(&name).unwrap_or(0))
    }

    /// This worker's own view of a counter or gauge.
    pub(crate) fn local_value(&self, name: &str) -> Option<u64> {
        self.mine.by_name.get(name).map(|s| s.value)
    }
}
