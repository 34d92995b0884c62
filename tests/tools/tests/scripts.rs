//! Shell cannot import the core's constants, so `scripts/run.sh` spells the filter's header
//! and counter names and says which constant each mirrors; this checks both.

use mtls_gate_core::denial::Denial;
use mtls_gate_core::{headers, metrics};
use std::path::Path;

fn run_sh() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/run.sh");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every counter the filter defines, as Envoy's stats name it.
fn envoy_counters() -> Vec<String> {
    [
        metrics::ALLOWED,
        metrics::SYNC_SUCCESS,
        metrics::SYNC_FAILURE,
        metrics::LOOKUP_CALLOUTS,
        metrics::LOOKUP_SHED,
        metrics::STORE_STALE,
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(
        Denial::ALL_LABELS
            .iter()
            .map(|label| metrics::denied(label)),
    )
    .map(|name| metrics::envoy_stat(&name))
    .collect()
}

/// The `/stats?filter=...` values the script passes to Envoy's admin.
fn stats_filters(script: &str) -> Vec<&str> {
    script
        .split("stats?filter=")
        .skip(1)
        .map(|rest| rest.split(['\'', '"', ' ']).next().unwrap_or_default())
        .collect()
}

#[test]
fn run_sh_names_the_constants_it_mirrors() {
    let script = run_sh();
    for constant in [
        "mtls_gate_core::headers::KEY_ALIAS",
        "mtls_gate_core::metrics::SYNC_SUCCESS",
        "mtls_gate_core::metrics::ENVOY_STAT_PREFIX",
    ] {
        assert!(script.contains(constant), "scripts/run.sh names {constant}");
    }
}

#[test]
fn run_sh_header_is_the_filters() {
    let script = run_sh();
    let says = format!("the upstream gets {}: ", headers::KEY_ALIAS);
    assert!(script.contains(&says), "scripts/run.sh: {says:?}");
}

#[test]
fn run_sh_stats_filters_match_the_filters_counters() {
    let script = run_sh();
    let counters = envoy_counters();
    let filters = stats_filters(&script);
    assert_eq!(
        filters,
        ["sync.success", "wasmcustom.mtls_gate"],
        "scripts/run.sh's stats filters changed: update this test"
    );
    // The first sync: the script waits for `sync.success: [1-9]`.
    let sync = metrics::envoy_stat(metrics::SYNC_SUCCESS);
    assert!(sync.ends_with(filters[0]), "{sync}");
    assert!(script.contains(&format!("{}: [1-9]", filters[0])));
    assert_eq!(
        counters.iter().filter(|c| c.contains(filters[0])).count(),
        1,
        "`{}` picks out {sync} alone",
        filters[0]
    );
    // "filter counters": every one of them, under Envoy's prefix.
    assert!(filters[1].starts_with(metrics::ENVOY_STAT_PREFIX));
    for counter in &counters {
        assert!(
            counter.starts_with(filters[1]),
            "{counter} under {}",
            filters[1]
        );
    }
}
