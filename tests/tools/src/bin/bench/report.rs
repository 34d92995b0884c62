//! The bench's figures: per-scenario medians and spreads, cost ratios against the anchors, the
//! issue 14 targets with PASS/FAIL, machine facts, as Markdown and JSON.

use super::Args;
use super::revocation::Revocation;
use serde_json::{Value, json};
use std::fmt::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Scenarios `--only` always keeps: the ratios and targets are taken against them.
pub const ANCHORS: [&str; 4] = ["no-filter", "empty-wasm", "rbac-cel", "static-1"];

/// One loadgen run's figures.
#[derive(Clone, Copy, Debug, Default)]
pub struct Run {
    pub requests: u64,
    pub rps: f64,
    pub p50: f64,
    pub p99: f64,
    /// Errors plus unexpected statuses.
    pub bad: u64,
    pub errors: u64,
    /// Envoy's CPU µs per request over the measured window (NaN when not sampled).
    pub cpu_us: f64,
}

impl Run {
    pub fn from_loadgen(v: &Value) -> Self {
        let f = |p: &str| v.pointer(p).and_then(Value::as_f64).unwrap_or(f64::NAN);
        let requests = v["requests"].as_u64().unwrap_or(0);
        let errors = v["errors"].as_u64().unwrap_or(0);
        let cpu_us = match (v["server_cpu_ns"].as_u64(), requests) {
            (Some(ns), r) if r > 0 => ns as f64 / r as f64 / 1000.0,
            _ => f64::NAN,
        };
        Run {
            requests,
            rps: f("/rps"),
            p50: f("/latency_us/p50"),
            p99: f("/latency_us/p99"),
            bad: errors + v["unexpected_status"].as_u64().unwrap_or(0),
            errors,
            cpu_us,
        }
    }
}

pub struct ScenarioResult {
    pub name: String,
    pub what: String,
    /// One per round, in round order.
    pub loaded: Vec<Run>,
    pub one_connection: Vec<Run>,
}

/// What is known about one Envoy of the run.
#[derive(Clone, Debug)]
pub struct EnvoyFacts {
    pub label: String,
    /// From spawn to `/ready`: parsing the bootstrap, compiling and configuring the filter.
    pub start_s: f64,
    pub rss_kib: Option<u64>,
    pub bootstrap_bytes: usize,
    /// The slowest VM's own configure (the filter's `configured … (in N ms)` log line).
    pub filter_configure_ms: Option<u64>,
}

/// The longest `mtls-gate: configured … (in N ms)` of an Envoy log: the filter's own
/// configure time in its slowest VM, without Envoy's bootstrap parsing or V8's compile.
pub fn filter_configure_ms(envoy_log: &str) -> Option<u64> {
    envoy_log
        .lines()
        .filter(|line| line.contains("mtls-gate: configured "))
        .filter_map(|line| {
            let (_, tail) = line.rsplit_once("(in ")?;
            tail.split_once(" ms)")?.0.parse::<u64>().ok()
        })
        .max()
}

pub struct Facts<'a> {
    pub args: &'a Args,
    pub took: Duration,
    pub load_at_start: String,
    pub load_at_end: String,
    pub pinned: bool,
    pub envoys: Vec<EnvoyFacts>,
    pub fill: Option<Value>,
    pub first_sync_s: Option<f64>,
    /// The shim's full feed snapshot: seconds to serve it, bytes.
    pub snapshot: Option<(f64, usize)>,
}

pub struct Rendered {
    pub markdown: String,
    pub json: Value,
}

/// Median, min and max of the finite values (NaN each when there are none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Self {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Spread {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }

    fn show(&self, decimals: usize) -> String {
        if self.median.is_nan() {
            return "—".into();
        }
        if self.min == self.max {
            return format!("{:.*}", decimals, self.median);
        }
        format!(
            "{:.*} ({:.*}–{:.*})",
            decimals, self.median, decimals, self.min, decimals, self.max
        )
    }

    fn to_json(self) -> Value {
        let num = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
        json!({"median": num(self.median), "min": num(self.min), "max": num(self.max)})
    }
}

/// The cost ratio of `x` against `anchor`, per round: cpu(anchor) / cpu(x).
pub fn cost_ratio(x: &[Run], anchor: &[Run]) -> Spread {
    let per_round: Vec<f64> = x
        .iter()
        .zip(anchor)
        .map(|(x, a)| a.cpu_us / x.cpu_us)
        .collect();
    Spread::of(&per_round)
}

/// `100000` → `100k`, `1000` → `1k`, `250` → `250`.
pub fn count_label(n: usize) -> String {
    if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    Skipped,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skipped => "SKIPPED",
        }
    }
}

/// One issue 14 target: `value` (a median) against `bound`, at least or at most.
#[derive(Clone, Debug)]
pub struct Target {
    pub what: String,
    pub value: Option<Spread>,
    pub bound: f64,
    pub at_least: bool,
    pub why_skipped: Option<String>,
}

impl Target {
    pub fn verdict(&self) -> Verdict {
        match &self.value {
            Some(v) if v.median.is_finite() => {
                let ok = if self.at_least {
                    v.median >= self.bound
                } else {
                    v.median <= self.bound
                };
                if ok { Verdict::Pass } else { Verdict::Fail }
            }
            _ => Verdict::Skipped,
        }
    }
}

/// The targets of issue 14 (and issue 10's CA-admitted one), from the same run's results.
pub fn targets(results: &[ScenarioResult], envoys: &[EnvoyFacts], args: &Args) -> Vec<Target> {
    let find = |name: &str| {
        results
            .iter()
            .find(|r| r.name == name)
            .map(|r| &r.loaded[..])
    };
    let ratio = |x: &str, anchor: &str| match (find(x), find(anchor)) {
        (Some(x), Some(a)) => Some(cost_ratio(x, a)),
        _ => None,
    };
    let n = count_label(args.allow_list_size);
    let sessions = count_label(args.sessions);
    let target = |what: String, value: Option<Spread>, bound: f64, skipped: &str| Target {
        what,
        why_skipped: value.is_none().then(|| skipped.to_owned()),
        value,
        bound,
        at_least: true,
    };
    let configure = envoys
        .iter()
        .find(|e| e.label == "static-big")
        .and_then(|e| e.filter_configure_ms)
        .map(|ms| Spread::of(&[ms as f64 / 1000.0]));
    vec![
        target(
            "static allow ≥ 0.95 × empty wasm filter (cost ratio static-1 vs empty-wasm)".into(),
            ratio("static-1", "empty-wasm"),
            0.95,
            "not measured",
        ),
        target(
            "deny path ≥ allow path (cost ratio static-1-deny vs static-1)".into(),
            ratio("static-1-deny", "static-1"),
            1.0,
            "not measured",
        ),
        target(
            format!(
                "certificate auth ≥ 0.92 × empty wasm filter (cert-auth-{sessions} vs empty-wasm)"
            ),
            ratio(&format!("cert-auth-{sessions}"), "empty-wasm"),
            0.92,
            "no shim (--no-shim)",
        ),
        target(
            format!("{n} entries ≥ 0.95 × 1 entry (static-{n} vs static-1)"),
            ratio(&format!("static-{n}"), "static-1"),
            0.95,
            "not measured",
        ),
        Target {
            what: format!(
                "configure with {} entries ≤ 1 s (the filter's configure in its slowest VM, static-{n}, s)",
                args.allow_list_size
            ),
            why_skipped: configure.is_none().then(|| "not measured".to_owned()),
            value: configure,
            bound: 1.0,
            at_least: false,
        },
        target(
            "native module ≥ 0.90 × Envoy RBAC (native-static-1 vs rbac-cel)".into(),
            ratio("native-static-1", "rbac-cel"),
            0.90,
            "not built (set MTLS_GATE_NATIVE_MODULE to the module's lib<name>.so)",
        ),
        target(
            "CA-admitted client ≥ 0.95 × listed fingerprint (issue 10; static-ca vs static-1)"
                .into(),
            ratio("static-ca", "static-1"),
            0.95,
            "not measured",
        ),
    ]
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn first_line_of(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "?".into())
}

fn envoy_version() -> String {
    let Ok(bin) = mtls_gate_testkit::paths::envoy_bin() else {
        return "?".into();
    };
    // `envoy --version` prints a blank line, then `... version: <sha>/1.40.0/Clean/RELEASE/...`.
    Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .find(|w| w.contains("/1."))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "?".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

fn wasm_size(path: &Path) -> String {
    match super::file_size(path) {
        Some(bytes) => format!("{bytes} bytes"),
        None => "missing".into(),
    }
}

pub fn render(
    facts: &Facts,
    results: &[ScenarioResult],
    revocation: Option<&Revocation>,
) -> Rendered {
    let args = facts.args;
    let mut out = String::new();
    let find = |name: &str| {
        results
            .iter()
            .find(|r| r.name == name)
            .map(|r| &r.loaded[..])
    };
    let no_filter = find("no-filter");
    let empty = find("empty-wasm");
    let rbac = find("rbac-cel");
    let date = first_line_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let filter_wasm = mtls_gate_testkit::paths::filter_wasm_path();
    let _ = writeln!(
        out,
        "# mtls-gate benchmark{}\n",
        if args.smoke {
            " (smoke: figures are meaningless)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "{date}. Machine: {} CPUs ({}), kernel {}, shared with other work; load average {} at \
         the start, {} at the end. Envoy `{}`, `--concurrency {}`, {}. {}. Filter \
         `mtls_gate_filter.wasm` {}, empty filter {}.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "?".into()),
        facts.load_at_start,
        facts.load_at_end,
        envoy_version(),
        args.concurrency,
        if facts.pinned {
            "pinned to CPU 1 with `taskset`, the load generator to CPU 0"
        } else {
            "not pinned"
        },
        first_line_of("rustc", &["--version"]),
        wasm_size(&filter_wasm),
        wasm_size(&args.empty_wasm),
    );
    if args.instructions {
        let _ = writeln!(
            out,
            "Method: every scenario has its own Envoy, identical but for the HTTP filter (or, for \
             `tls-hash`, the TLS validation), each run under Valgrind's callgrind \
             (`scripts/envoy-callgrind.sh`). After {} requests of warm-up, each round counts \
             the instructions all of Envoy's threads execute over {} and over {} requests \
             (`loadgen`, 4 keep-alive TLS 1.3 connections with a client certificate, fresh \
             for each count); their difference divided by the {} requests between them is the \
             **k instructions/request** column, so handshakes and timers cancel out. {} \
             rounds. A **cost ratio** x vs y is instructions(y) / instructions(x) per round \
             (1.00: as cheap as y). An instruction count is steady from run to run, unlike \
             CPU time on this shared machine, but it is not time: a cache miss weighs as \
             much as an add. Under Valgrind requests/s and latencies mean nothing. Total {:.0} s.\n",
            super::instructions::WARM_UP,
            super::instructions::SHORT,
            super::instructions::LONG,
            super::instructions::LONG - super::instructions::SHORT,
            args.rounds,
            facts.took.as_secs_f64()
        );
    } else {
        let _ = writeln!(
            out,
            "Method: every scenario has its own Envoy, identical but for the HTTP filter (or, for \
         `tls-hash`, the TLS validation). Load: `loadgen` ({} keep-alive TLS 1.3 connections with \
         a client certificate, {} thread), {} s warm-up + {} s per scenario per round, then one \
         connection for {} s (its p50 is the unloaded latency); {} rounds, each running every \
         scenario once in a rotated order. **Envoy CPU µs/request** is the on-CPU time of all \
         Envoy threads (`/proc/<pid>/task/*/schedstat`) over the measured window divided by the \
         requests in it. A **cost ratio** x vs y is cpu(y) / cpu(x) per round (1.00: as cheap as \
         y); figures are medians over rounds with (min–max). Total {:.0} s.\n",
            args.connections,
            args.threads,
            args.warmup,
            args.duration,
            args.latency_duration,
            args.rounds,
            facts.took.as_secs_f64()
        );
    }
    let _ = writeln!(
        out,
        "| scenario | Envoy {} | vs no filter | vs empty wasm | vs RBAC | req/s | p50 µs | p99 µs | 1-conn p50 µs |",
        cost_label(args)
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for r in results {
        let cpu = Spread::of(&r.loaded.iter().map(|x| x.cpu_us).collect::<Vec<_>>());
        let rps = Spread::of(&r.loaded.iter().map(|x| x.rps).collect::<Vec<_>>());
        let p50 = Spread::of(&r.loaded.iter().map(|x| x.p50).collect::<Vec<_>>());
        let p99 = Spread::of(&r.loaded.iter().map(|x| x.p99).collect::<Vec<_>>());
        let p50_1 = Spread::of(&r.one_connection.iter().map(|x| x.p50).collect::<Vec<_>>());
        let vs = |anchor: Option<&[Run]>| anchor.map(|a| cost_ratio(&r.loaded, a));
        let (v_nf, v_empty, v_rbac) = (vs(no_filter), vs(empty), vs(rbac));
        let bad: u64 = r
            .loaded
            .iter()
            .chain(&r.one_connection)
            .map(|x| x.bad)
            .sum();
        let show = |s: Option<Spread>| s.map_or("—".into(), |s| s.show(2));
        // Under Valgrind the load figures say how slow Valgrind is, nothing about Envoy.
        let load = match args.instructions {
            true => "— | — | — | —".to_owned(),
            false => format!(
                "{} | {:.0} | {:.0} | {:.0}",
                rps.show(0),
                p50.median,
                p99.median,
                p50_1.median
            ),
        };
        let _ = writeln!(
            out,
            "| **{}**: {}{} | {} | {} | {} | {} | {} |",
            r.name,
            r.what,
            if bad > 0 {
                format!(" ⚠ {bad} errors/unexpected statuses")
            } else {
                String::new()
            },
            cpu.show(1),
            show(v_nf),
            show(v_empty),
            show(v_rbac),
            load,
        );
        rows.push(json!({
            "scenario": r.name,
            "what": r.what,
            "cpu_us_per_request": cpu.to_json(),
            "requests_per_s": rps.to_json(),
            "p50_us": p50.to_json(),
            "p99_us": p99.to_json(),
            "one_connection_p50_us": p50_1.to_json(),
            "cost_ratio_vs_no_filter": v_nf.map(Spread::to_json),
            "cost_ratio_vs_empty_wasm": v_empty.map(Spread::to_json),
            "cost_ratio_vs_rbac": v_rbac.map(Spread::to_json),
            "errors_or_unexpected": bad,
        }));
    }

    let targets = targets(results, &facts.envoys, args);
    let _ = writeln!(out, "\n## Targets (issue 14), from this run\n");
    let _ = writeln!(
        out,
        "| target | measured (median, min–max) | bound | result |"
    );
    let _ = writeln!(out, "|---|---:|---:|---|");
    let mut target_json = Vec::new();
    for t in &targets {
        let verdict = t.verdict();
        let measured = match (&t.value, &t.why_skipped) {
            (Some(v), _) => v.show(2),
            (None, Some(why)) => why.clone(),
            (None, None) => "—".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} {:.2} | **{}** |",
            t.what,
            measured,
            if t.at_least { "≥" } else { "≤" },
            t.bound,
            verdict.label()
        );
        target_json.push(json!({
            "target": t.what,
            "measured": t.value.map(Spread::to_json),
            "bound": t.bound,
            "at_least": t.at_least,
            "result": verdict.label(),
        }));
    }

    let floor_json = floor_section(&mut out, results);

    // Each extra build beside the current filter on the same path: `extra:` on the static
    // allow path (static-1), `extra-cert-auth:` on certificate auth.
    let extras: Vec<(&ScenarioResult, &str, &[Run])> = results
        .iter()
        .filter_map(|r| {
            let (name, current) = if let Some(name) = r.name.strip_prefix("extra:") {
                (name, find("static-1")?)
            } else if let Some(name) = r.name.strip_prefix("extra-cert-auth:") {
                let current = results.iter().find(|c| c.name.starts_with("cert-auth-"))?;
                (name, current.loaded.as_slice())
            } else {
                return None;
            };
            Some((r, name, current))
        })
        .collect();
    let mut extra_json = Vec::new();
    if !extras.is_empty() {
        let _ = writeln!(
            out,
            "\n## Other filter builds beside the current one (`BENCH_EXTRA_WASM`)\n\n\
             Each build on the static allow path (1 entry) and, with a shim, on certificate \
             auth, against the current filter on the same path in the same run. Cost ratio: \
             cost(extra) / cost(current), per round; above 1.00 the current filter is cheaper.\n"
        );
        let _ = writeln!(
            out,
            "| build | path | its {cost} | current {cost} | current vs it |",
            cost = cost_label(args)
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|");
        for (r, name, current) in extras {
            let path = match r.name.starts_with("extra:") {
                true => "static allow",
                false => "certificate auth",
            };
            let cpu = Spread::of(&r.loaded.iter().map(|x| x.cpu_us).collect::<Vec<_>>());
            let current_cpu = Spread::of(&current.iter().map(|x| x.cpu_us).collect::<Vec<_>>());
            let ratio = cost_ratio(current, &r.loaded);
            let _ = writeln!(
                out,
                "| {name} | {path} | {} | {} | {} |",
                cpu.show(1),
                current_cpu.show(1),
                ratio.show(3)
            );
            extra_json.push(json!({"name": r.name, "path": path,
                "cpu_us_per_request": cpu.to_json(),
                "current_cost_ratio_vs_it": ratio.to_json()}));
        }
    }

    let _ = writeln!(out, "\n## Scale figures from this run\n");
    let _ = writeln!(
        out,
        "| Envoy | bootstrap bytes | spawn → ready s | filter configure ms (slowest VM) | RSS MiB after the check |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for e in &facts.envoys {
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {} | {} |",
            e.label,
            e.bootstrap_bytes,
            e.start_s,
            e.filter_configure_ms
                .map_or("—".into(), |ms| ms.to_string()),
            e.rss_kib
                .map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0))
        );
    }
    let vms = args.concurrency + 1;
    let rss = |label: &str| {
        facts
            .envoys
            .iter()
            .find(|e| e.label == label)
            .and_then(|e| e.rss_kib)
    };
    let _ = writeln!(
        out,
        "\n- Spawn → ready covers Envoy parsing the bootstrap and V8 compiling and configuring \
         the filter in every VM ({vms}: the main thread and {} worker(s)); the filter's own \
         configure (parsing and compiling the gate JSON, {} entries in static-big) is the \
         time its `configured` log line gives, and the target's figure.",
        args.concurrency, args.allow_list_size
    );
    if let (Some(big), Some(one)) = (rss("static-big"), rss("static-1")) {
        let _ = writeln!(
            out,
            "- Memory of a {}-entry allow list: Envoy RSS {:+.1} MiB over the 1-entry Envoy, \
             about {:.1} MiB per VM ({vms} VMs; Envoy 1.40 reports no per-VM V8 heap in \
             `/stats`, so RSS is the measure).",
            args.allow_list_size,
            (big as f64 - one as f64) / 1024.0,
            (big as f64 - one as f64) / 1024.0 / vms as f64
        );
    }
    if let (Some(auth), Some(one)) = (rss("cert-auth"), rss("static-1")) {
        let _ = writeln!(
            out,
            "- {} synced sessions: Envoy RSS {:+.1} MiB over the 1-entry static Envoy (shared \
             data holds them once per Envoy, not per VM).",
            args.sessions,
            (auth as f64 - one as f64) / 1024.0
        );
    }
    if let Some((seconds, bytes)) = facts.snapshot {
        let _ = writeln!(
            out,
            "- The shim's whole feed snapshot in one answer (`GET /mtls-gate/v1/changes?since=0`, \
             what a filter older than snapshot pages fetches) of {} sessions: {:.2} s, {:.1} MiB \
             (about 360 bytes a session). The filter asks it in pages of 2,000 entries (under \
             1 MiB each): before pages, a first sync of 100,000 sessions (one 36 MB answer) \
             never completed on Envoy 1.40, the callout answering without a status. The bench's \
             gates set `store.timeout_ms` {} so that the first page, which waits for the shim \
             to read the whole store once, is not retried on a busy machine.",
            args.sessions,
            seconds,
            bytes as f64 / 1_048_576.0,
            super::FEED_TIMEOUT_MS
        );
    }
    if let Some(s) = facts.first_sync_s {
        let _ = writeln!(
            out,
            "- First full sync of {} sessions from the shim: {:.2} s from Envoy ready to the \
             filter's first `sync.success`.",
            args.sessions, s
        );
    }
    if let Some(fill) = &facts.fill {
        let _ = writeln!(
            out,
            "- The store was filled in-process through the shim's store rules: {} certificates \
             + sessions in {:.1} s (not the admin API; `make bench-scale` measures that).",
            fill["sessions"],
            fill["seconds"].as_f64().unwrap_or(f64::NAN)
        );
    }

    let revocation_json = revocation.map(|rev| {
        let _ = writeln!(out, "\n{}", rev.markdown());
        rev.to_json()
    });
    let _ = match args.instructions {
        true => writeln!(
            out,
            "\nReading the figures: instructions per request repeat from run to run within \
             about 0.3 %, so ratios a few per cent apart are told apart here, which CPU time on \
             this shared machine cannot do; `make bench` gives the time. Spawn → ready and the \
             configure times above are Valgrind's, many times Envoy's own."
        ),
        false => writeln!(
            out,
            "\nReading the figures: CPU per request is the steady measure on this shared \
             machine; requests/s and the latencies move with whatever else runs (the load \
             averages above say how busy it was). The load generator is one closed-loop \
             thread, so requests/s is also bounded by its own CPU."
        ),
    };
    let json = json!({
        "scenarios": rows,
        "targets": target_json,
        "floor": floor_json,
        "extra_wasm": extra_json,
        "envoys": facts.envoys.iter().map(|e| json!({
            "label": e.label, "start_s": e.start_s, "rss_kib": e.rss_kib,
            "filter_configure_ms": e.filter_configure_ms,
            "bootstrap_bytes": e.bootstrap_bytes,
        })).collect::<Vec<_>>(),
        "fill": facts.fill,
        "first_sync_s": facts.first_sync_s,
        "feed_snapshot": facts.snapshot.map(|(s, b)| json!({"seconds": s, "bytes": b})),
        "revocation": revocation_json,
        "load_average": {"start": facts.load_at_start, "end": facts.load_at_end},
        "pinned": facts.pinned,
        "took_s": facts.took.as_secs_f64(),
    });
    Rendered {
        markdown: out,
        json,
    }
}

/// The cost column's unit: CPU time per request, or instructions under `--instructions`.
fn cost_label(args: &Args) -> &'static str {
    match args.instructions {
        true => "k instructions/req",
        false => "CPU µs/req",
    }
}

/// The pairs the floor section compares, each "x vs anchor": what the host calls alone cost
/// against the empty filter, then mtls-gate's own work against the floor gate.
const FLOOR_PAIRS: [(&str, &str, &str); 4] = [
    (
        "floor-digest",
        "empty-wasm",
        "the digest read and compared, against no work at all",
    ),
    (
        "floor-gate",
        "empty-wasm",
        "a gate's host calls (digest, `:authority`, `:path`, XFCC removed, one header written), against no work at all",
    ),
    (
        "static-1",
        "floor-gate",
        "mtls-gate static allow, against the floor gate",
    ),
    (
        "cert-auth-",
        "floor-gate",
        "mtls-gate certificate auth, against the floor gate",
    ),
];

/// "The floor of a proxy-wasm certificate gate": how far the static-allow target (0.95 × the
/// empty filter) is reachable at all, by the floor gate's own ratio, and how much of
/// mtls-gate's cost is its own work rather than the calls every gate makes. Nothing when the
/// floor gate was not measured.
fn floor_section(out: &mut String, results: &[ScenarioResult]) -> Vec<Value> {
    let find = |prefix: &str| {
        results
            .iter()
            .find(|r| r.name == prefix || (prefix.ends_with('-') && r.name.starts_with(prefix)))
    };
    let rows: Vec<(String, String, &str, Spread)> = FLOOR_PAIRS
        .iter()
        .filter_map(|(x, anchor, what)| {
            let (x, anchor) = (find(x)?, find(anchor)?);
            let ratio = cost_ratio(&x.loaded, &anchor.loaded);
            Some((x.name.clone(), anchor.name.clone(), *what, ratio))
        })
        .collect();
    if rows.is_empty() {
        return Vec::new();
    }
    let _ = writeln!(
        out,
        "\n## The floor of a proxy-wasm certificate gate\n\n\
         `floor-digest` and `floor-gate` (`tests/tools/floor-gate`) make only the host calls a \
         gate that admits a client by its certificate must make, with no logic between them. \
         Against the empty filter they bound what any proxy-wasm gate can reach on this \
         Envoy; mtls-gate against `floor-gate` is the cost of its own work (API matching, \
         the allow list, sessions, the headers it owns). Cost ratio per round, median \
         (min–max).\n"
    );
    let _ = writeln!(out, "| x vs anchor | what | cost ratio |");
    let _ = writeln!(out, "|---|---|---:|");
    rows.into_iter()
        .map(|(x, anchor, what, ratio)| {
            let _ = writeln!(out, "| {x} vs {anchor} | {what} | {} |", ratio.show(2));
            json!({"scenario": x, "anchor": anchor, "cost_ratio": ratio.to_json()})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cpu_us: f64) -> Run {
        Run {
            cpu_us,
            ..Run::default()
        }
    }

    #[test]
    fn filter_configure_time_is_the_slowest_vms_from_envoys_log() {
        let log = "[info][wasm] wasm log mtls_gate: mtls-gate: configured 1 API(s), 100000 \
                   global allow-list entries, store off (in 412 ms)\n\
                   [info][main] starting workers\n\
                   [info][wasm] wasm log mtls_gate: mtls-gate: configured 1 API(s), 100000 \
                   global allow-list entries, store off (in 530 ms)\n";
        assert_eq!(filter_configure_ms(log), Some(530));
        assert_eq!(filter_configure_ms("[info][main] starting workers"), None);
    }

    #[test]
    fn spread_is_median_min_max_of_finite_values() {
        let s = Spread::of(&[3.0, 1.0, f64::NAN, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert!(Spread::of(&[]).median.is_nan());
    }

    #[test]
    fn cost_ratio_is_anchor_cpu_over_scenario_cpu_per_round() {
        // Round 1: 20/40 = 0.5; round 2: 22/22 = 1.0; round 3: 21/30 = 0.7.
        let x = [run(40.0), run(22.0), run(30.0)];
        let anchor = [run(20.0), run(22.0), run(21.0)];
        let r = cost_ratio(&x, &anchor);
        assert_eq!((r.min, r.max), (0.5, 1.0));
        assert!((r.median - 0.7).abs() < 1e-9);
    }

    #[test]
    fn floor_section_pairs_what_was_measured_and_skips_the_rest() {
        let result = |name: &str, cpu: &[f64]| ScenarioResult {
            name: name.into(),
            what: String::new(),
            loaded: cpu.iter().map(|c| run(*c)).collect(),
            one_connection: Vec::new(),
        };
        let mut out = String::new();
        let without_floor = [result("empty-wasm", &[90.0]), result("static-1", &[120.0])];
        assert!(floor_section(&mut out, &without_floor).is_empty());
        assert!(out.is_empty(), "no floor gate measured, no section: {out}");

        let results = [
            result("empty-wasm", &[90.0, 100.0]),
            result("floor-digest", &[100.0, 100.0]),
            result("floor-gate", &[100.0, 125.0]),
            result("static-1", &[125.0, 125.0]),
            result("cert-auth-100k", &[200.0, 250.0]),
        ];
        let json = floor_section(&mut out, &results);
        let ratio = |scenario: &str| {
            json.iter()
                .find(|row| row["scenario"] == scenario)
                .map(|row| row["cost_ratio"]["median"].as_f64())
        };
        assert_eq!(json.len(), 4);
        assert_eq!(ratio("floor-digest"), Some(Some(0.95)));
        assert_eq!(ratio("static-1"), Some(Some(0.9)));
        assert_eq!(ratio("cert-auth-100k"), Some(Some(0.5)));
        assert!(out.contains("| cert-auth-100k vs floor-gate |"), "{out}");
    }

    #[test]
    fn targets_pass_fail_and_skip() {
        let at_least = |median: f64| Target {
            what: String::new(),
            value: Some(Spread::of(&[median])),
            bound: 0.95,
            at_least: true,
            why_skipped: None,
        };
        assert_eq!(at_least(0.95).verdict(), Verdict::Pass);
        assert_eq!(at_least(0.94).verdict(), Verdict::Fail);
        let mut at_most = at_least(1.2);
        at_most.at_least = false;
        at_most.bound = 1.0;
        assert_eq!(at_most.verdict(), Verdict::Fail);
        at_most.value = None;
        assert_eq!(at_most.verdict(), Verdict::Skipped);
    }

    #[test]
    fn loadgen_json_gives_cpu_per_request() {
        let v = json!({"requests": 1000, "rps": 5000.0, "errors": 1, "unexpected_status": 2,
            "server_cpu_ns": 25_000_000u64, "latency_us": {"p50": 300, "p99": 900}});
        let r = Run::from_loadgen(&v);
        assert_eq!(r.cpu_us, 25.0);
        assert_eq!(r.bad, 3);
        assert_eq!(r.p99, 900.0);
        let none = Run::from_loadgen(&json!({"requests": 0, "server_cpu_ns": 5}));
        assert!(none.cpu_us.is_nan());
    }

    #[test]
    fn counts_are_labelled_in_thousands() {
        assert_eq!(count_label(100_000), "100k");
        assert_eq!(count_label(1_000), "1k");
        assert_eq!(count_label(250), "250");
    }
}
