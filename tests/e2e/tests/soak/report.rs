//! The figures table `make soak` prints and writes to `target/soak/report.md`.

use super::churn::Counts;
use super::load::Tally;
use super::memory::{CpuTimes, Flatness, MemorySample};
use super::timeline::Revocations;
use super::{CHURN_EVERY, LIVENESS_BOUND, REVOCATION_BOUND, REVOCATION_MARGIN, SYNC_INTERVAL};
use mtls_gate_core::metrics;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Everything the report shows, gathered after the run.
pub(super) struct Figures<'a> {
    pub(super) run_for: Duration,
    pub(super) elapsed: Duration,
    pub(super) seed: u64,
    pub(super) tally: &'a Tally,
    pub(super) revocations: &'a Revocations,
    pub(super) changes: &'a Counts,
    pub(super) envoy_rss: Option<&'a Flatness>,
    pub(super) shim_rss: Option<&'a Flatness>,
    pub(super) memory: &'a [MemorySample],
    pub(super) cpu: &'a CpuTimes,
    pub(super) filter_stats: &'a BTreeMap<String, u64>,
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn rss_row(name: &str, rss: Option<&Flatness>) -> String {
    match rss {
        None => format!("| {name} RSS | no samples after the warm-up |\n"),
        Some(r) => format!(
            "| {name} RSS (VmRSS) | load start {}, after warm-up {}, end {}, max after warm-up {} (tolerance +{}); slope {:+.0} KiB/min; {} |\n",
            mib(r.start_kib),
            mib(r.baseline_kib),
            mib(r.end_kib),
            mib(r.max_kib),
            mib(r.tolerance_kib),
            r.slope_kib_per_min,
            if r.is_flat() { "flat" } else { "GREW" }
        ),
    }
}

/// About a dozen evenly spaced samples, first and last included: `0 s 113.1 / 8.5, …`.
fn rss_series(samples: &[MemorySample]) -> String {
    let step = samples.len().div_ceil(12).max(1);
    let last = samples.len().saturating_sub(1);
    samples
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i == last)
        .map(|(_, s)| {
            format!(
                "{} s {:.1} / {:.1}",
                s.at.as_secs(),
                s.envoy_kib as f64 / 1024.0,
                s.shim_kib as f64 / 1024.0
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The figures as a Markdown table (what `make soak` prints and the README quotes).
pub(super) fn report(f: &Figures) -> String {
    let t = f.tally;
    let ms = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{} ms", d.as_millis()));
    let (calls, other): (Vec<_>, Vec<_>) = f.changes.iter().partition(|(k, _)| k.contains("/tyk/"));
    let admin_calls: u64 = calls.iter().map(|(_, n)| **n).sum();
    let list = |counts: &[(&&str, &u64)]| {
        counts
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let stat = |name: &str| {
        f.filter_stats
            .get(&metrics::envoy_stat(name))
            .copied()
            .unwrap_or(0)
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Churn soak: {} s through Envoy 1.40 (--concurrency 2), seed {}\n",
        f.run_for.as_secs(),
        f.seed
    );
    let _ = writeln!(out, "| figure | value |\n|---|---|");
    let _ = writeln!(
        out,
        "| requests | {} in {:.1} s ({:.0} req/s) on {} connections opened; {} passed, {} refused |",
        t.requests,
        f.elapsed.as_secs_f64(),
        t.requests as f64 / f.elapsed.as_secs_f64().max(f64::EPSILON),
        t.connections,
        t.passed,
        t.refused
    );
    let _ = writeln!(
        out,
        "| admin changes (one every {} ms) | {admin_calls} calls ({}); {} |",
        CHURN_EVERY.as_millis(),
        list(&calls),
        list(&other)
    );
    let _ = writeln!(
        out,
        "| **wrongly allowed** (200, sent > {} ms after the revocation's acknowledgement) | **{}** |",
        REVOCATION_BOUND.as_millis(),
        t.wrongly_allowed
    );
    let _ = writeln!(out, "| **unexpected 5xx** | **{}** |", t.server_errors);
    let _ = writeln!(
        out,
        "| other unexpected answers / transport errors | {} / {} |",
        t.unexpected, t.transport_errors
    );
    let _ = writeln!(
        out,
        "| wrongly refused (liveness: refused, sent > {} ms after the admission's acknowledgement) | {} |",
        LIVENESS_BOUND.as_millis(),
        t.wrongly_refused
    );
    let _ = writeln!(
        out,
        "| revocation → last pass (acknowledgement to the last 200 answered) | worst {}, p99 {}, median {}, over {} of {} revocations with a refusal observed after them |",
        ms(f.revocations.quantile(1.0)),
        ms(f.revocations.quantile(0.99)),
        ms(f.revocations.quantile(0.5)),
        f.revocations.observed.len(),
        f.revocations.total
    );
    out.push_str(&rss_row("Envoy", f.envoy_rss));
    out.push_str(&rss_row("shim", f.shim_rss));
    let _ = writeln!(
        out,
        "| RSS over time (Envoy / shim, MiB) | {} |",
        rss_series(f.memory)
    );
    let _ = writeln!(
        out,
        "| CPU (share of one core) | Envoy {:.0} %, shim {:.0} %, test clients + churn {:.0} % |",
        f.cpu.envoy * 100.0,
        f.cpu.shim * 100.0,
        f.cpu.test * 100.0
    );
    let _ = writeln!(
        out,
        "| filter counters | sync.success {}, sync.failure {}, lookup.callouts {}, store.stale {} |",
        stat(metrics::SYNC_SUCCESS),
        stat(metrics::SYNC_FAILURE),
        stat(metrics::LOOKUP_CALLOUTS),
        stat(metrics::STORE_STALE)
    );
    let _ = writeln!(
        out,
        "\nBounds: revocation {} ms = store.sync_interval_ms {} + {} ms margin; liveness {} ms = that + the 1 s negative cache.",
        REVOCATION_BOUND.as_millis(),
        SYNC_INTERVAL.as_millis(),
        REVOCATION_MARGIN.as_millis(),
        LIVENESS_BOUND.as_millis()
    );
    if !t.examples.is_empty() {
        let _ = writeln!(out, "\nFirst failures:\n  {}", t.examples.join("\n  "));
    }
    out
}
