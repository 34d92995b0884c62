#!/usr/bin/env bash
# `make bench`: the filter's cost through real Envoy, as ratios against a no-filter baseline
# measured in the same run. Prints a Markdown table and writes target/bench/report.md (raw
# figures: target/bench/results.json).
#
# Scenarios (one Envoy each, same flags, same plain echo upstream, same load): baseline (TLS
# listener requesting client certs, no wasm filter), filter pass-through (`{"apis": []}`),
# static mTLS allow path with a 1-entry and a 10,000-entry allow list and with the client's CA
# listed instead of the client (SPEC §3: chain verified once per worker, then cached), certificate auth with
# the session synced from the real host-shim. See tests/tools/src/bin/bench.rs.
#
# Load: tests/tools/src/bin/loadgen.rs (keep-alive TLS 1.3 with a client certificate, HDR
# histogram), not oha; the reason is at the top of that file.
#
# Inputs (the Makefile sets them; defaults are the default target dir and .venv):
#   ENVOY_BIN, MTLS_GATE_FILTER_WASM, MTLS_GATE_SHIM_BIN
# Knobs (environment): BENCH_CONNECTIONS (16), BENCH_DURATION (10 s per scenario per round),
#   BENCH_WARMUP (1 s), BENCH_LATENCY_DURATION (3 s, one connection), BENCH_ROUNDS (3),
#   BENCH_CONCURRENCY (Envoy --concurrency, 2), BENCH_ALLOW_LIST_SIZE (10000),
#   BENCH_ARGS (extra flags for the driver, e.g. --no-shim).
# Defaults take about 4 minutes after the build. Everything runs on 127.0.0.1, every load run
# is bounded in time and count, and every process is stopped at the end (also on failure).
set -euo pipefail
self=$(realpath "$0")
root=$(dirname "$self")/..
cd "$root"
root=$(pwd)

CARGO=${CARGO:-cargo}
# The bench uses the default target dir, whatever the caller's environment says.
unset CARGO_TARGET_DIR
target="$root/target"

export ENVOY_BIN=${ENVOY_BIN:-$root/.venv/bin/envoy}
export MTLS_GATE_FILTER_WASM=${MTLS_GATE_FILTER_WASM:-$target/wasm32-wasip1/release/mtls_gate_filter.wasm}
export MTLS_GATE_SHIM_BIN=${MTLS_GATE_SHIM_BIN:-$target/release/mtls-gate-shim}

# When run directly (not from `make bench`), make sure Envoy is there.
if [[ ! -x $ENVOY_BIN ]]; then
  make envoy
fi

echo "bench: building the release filter, shim and bench tools" >&2
# The tools crate links no wasmtime (that is tests/harness only).
$CARGO build --quiet -p mtls-gate-filter --target wasm32-wasip1 --release
$CARGO build --quiet -p mtls-gate-shim --release
$CARGO build --quiet -p mtls-gate-tools --release --features bench --bin bench --bin loadgen --bin echo-upstream

for f in "$ENVOY_BIN" "$MTLS_GATE_FILTER_WASM" "$MTLS_GATE_SHIM_BIN"; do
  [[ -e $f ]] || { echo "bench: missing $f" >&2; exit 1; }
done

# The driver finds loadgen and echo-upstream next to itself and stops every process it started
# when it exits. `timeout` bounds the whole run; it runs in its own process group (which the
# driver's children inherit), so both a timeout and an interrupt here stop all of them.
args=(
  --connections "${BENCH_CONNECTIONS:-16}"
  --duration "${BENCH_DURATION:-10}"
  --warmup "${BENCH_WARMUP:-1}"
  --latency-duration "${BENCH_LATENCY_DURATION:-3}"
  --rounds "${BENCH_ROUNDS:-3}"
  --concurrency "${BENCH_CONCURRENCY:-2}"
  --allow-list-size "${BENCH_ALLOW_LIST_SIZE:-10000}"
  --out-dir "$target/bench"
)
# shellcheck disable=SC2206 # BENCH_ARGS is a list of flags on purpose
args+=(${BENCH_ARGS:-})
timeout --signal=TERM --kill-after=30 "${BENCH_TIMEOUT:-1200}" "$target/release/bench" "${args[@]}" &
group=$!
trap 'kill -TERM -- "-$group" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
rc=0
wait "$group" || rc=$?
trap - EXIT
if (( rc == 124 )); then
  echo "bench: stopped after ${BENCH_TIMEOUT:-1200} s" >&2
fi
exit "$rc"
