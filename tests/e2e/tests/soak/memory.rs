//! Memory and CPU of Envoy and the shim, read from `/proc` while the soak runs.

use super::USER_HZ;
use anyhow::{Context, Result};
use mtls_gate_testkit::process::rss_kib;
use std::time::{Duration, Instant};

/// Both processes' VmRSS at one moment, `at` after the load started.
#[derive(Debug, Clone, Copy)]
pub(super) struct MemorySample {
    pub(super) at: Duration,
    pub(super) envoy_kib: u64,
    pub(super) shim_kib: u64,
}

/// About 60 samples whatever the length, at least one a second.
pub(super) fn sample_every(run_for: Duration) -> Duration {
    (run_for / 60).max(Duration::from_secs(1))
}

/// Caches fill, V8 tiers the filter up and allocators reach their working set in the first
/// part of the run; flatness is judged after it: a fifth of the run, 5 s to 60 s.
pub(super) fn warmup(run_for: Duration) -> Duration {
    (run_for / 5).clamp(Duration::from_secs(5), Duration::from_secs(60))
}

/// Samples both processes every `every` from `started` to `deadline` (both ends included).
pub(super) fn sample_memory(
    envoy_pid: u32,
    shim_pid: u32,
    started: Instant,
    deadline: Instant,
    every: Duration,
) -> Result<Vec<MemorySample>> {
    let mut samples = Vec::new();
    let mut next = started;
    loop {
        samples.push(MemorySample {
            at: started.elapsed(),
            envoy_kib: rss_kib(envoy_pid).context("Envoy's RSS")?,
            shim_kib: rss_kib(shim_pid).context("the shim's RSS")?,
        });
        let now = Instant::now();
        if now >= deadline {
            return Ok(samples);
        }
        next = (next + every).min(deadline);
        std::thread::sleep(next.saturating_duration_since(now));
    }
}

/// RSS over the run, judged against its value just after the warm-up.
#[derive(Debug, Clone)]
pub(super) struct Flatness {
    pub(super) start_kib: u64,
    pub(super) baseline_kib: u64,
    pub(super) end_kib: u64,
    pub(super) max_kib: u64,
    /// Least-squares slope over the samples after the warm-up.
    pub(super) slope_kib_per_min: f64,
    pub(super) tolerance_kib: u64,
}

/// How far RSS may rise above its post-warm-up value: 10 % or 4 MiB, whichever is more.
/// Allocators take memory in steps, not bytes: Envoy's tcmalloc and glibc's per-thread
/// arenas (the shim's blocking threads come and go) grow by spans of up to MiBs, V8 by heap
/// pages and the filter's wasm memory by 64 KiB pages, and none of them hands pages back
/// promptly. A leak grows with the work instead: over the long form's ~325,000 requests and
/// ~9,300 admin calls, 10 % of Envoy's ~115 MiB is ~37 bytes a request, 4 MiB of the shim's
/// ~9 MiB ~450 bytes an admin call; the slope in the report shows smaller ones.
pub(super) fn rss_tolerance_kib(baseline_kib: u64) -> u64 {
    (baseline_kib / 10).max(4 * 1024)
}

impl Flatness {
    pub(super) fn of(
        samples: &[MemorySample],
        warmup: Duration,
        kib: impl Fn(&MemorySample) -> u64,
    ) -> Option<Self> {
        let after: Vec<&MemorySample> = samples.iter().filter(|s| s.at >= warmup).collect();
        let baseline_kib = kib(after.first()?);
        let n = after.len() as f64;
        let (mean_t, mean_k) = after.iter().fold((0.0, 0.0), |(t, k), s| {
            (t + s.at.as_secs_f64() / n, k + kib(s) as f64 / n)
        });
        let (cov, var) = after.iter().fold((0.0, 0.0), |(c, v), s| {
            let dt = s.at.as_secs_f64() - mean_t;
            (c + dt * (kib(s) as f64 - mean_k), v + dt * dt)
        });
        Some(Flatness {
            start_kib: kib(samples.first()?),
            baseline_kib,
            end_kib: kib(after.last()?),
            max_kib: after.iter().map(|s| kib(s)).max()?,
            slope_kib_per_min: if var > 0.0 { cov / var * 60.0 } else { 0.0 },
            tolerance_kib: rss_tolerance_kib(baseline_kib),
        })
    }

    pub(super) fn is_flat(&self) -> bool {
        self.max_kib <= self.baseline_kib + self.tolerance_kib
    }
}

/// CPU seconds (user + system) of Envoy, the shim and this test process.
#[derive(Debug, Clone, Copy)]
pub(super) struct CpuTimes {
    pub(super) envoy: f64,
    pub(super) shim: f64,
    pub(super) test: f64,
}

impl CpuTimes {
    pub(super) fn read(envoy_pid: u32, shim_pid: u32) -> Result<Self> {
        Ok(CpuTimes {
            envoy: cpu_seconds(envoy_pid)?,
            shim: cpu_seconds(shim_pid)?,
            test: cpu_seconds(std::process::id())?,
        })
    }

    /// Each as a share of one core over `elapsed`.
    pub(super) fn since(&self, before: &CpuTimes, elapsed: Duration) -> CpuTimes {
        let share = |now: f64, then: f64| (now - then) / elapsed.as_secs_f64().max(f64::EPSILON);
        CpuTimes {
            envoy: share(self.envoy, before.envoy),
            shim: share(self.shim, before.shim),
            test: share(self.test, before.test),
        }
    }
}

/// `utime + stime` of `/proc/<pid>/stat`, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) may hold spaces; the fields after it are plain. utime and
    // stime are fields 14 and 15, so the 12th and 13th after the name.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("{path}: no command name"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        let field = fields
            .get(i)
            .with_context(|| format!("{path}: {} fields", fields.len()))?;
        Ok(field.parse::<u64>()? as f64)
    };
    Ok((ticks(11)? + ticks(12)?) / USER_HZ)
}
