#!/usr/bin/env bash
# `make bench`: what mtls-gate costs through real Envoy beside every anchor (no filter, TLS-level
# hash check, Envoy RBAC with CEL, an empty wasm filter, the floor gate, the native module when built), as
# Envoy CPU per request and cost ratios measured in one run (issue 14). Prints a Markdown
# table with the targets' PASS/FAIL and writes bench/REPORT.md, target/bench/report.md and
# target/bench/results.json. See tests/tools/src/bin/bench.rs for the method.
#
# Modes (first argument):
#   (none)   the full run: 5 rounds, 100,000-entry allow lists, 100,000 synced sessions, 20
#            revocation trials per kind; about 15 minutes after the build on 2 cores.
#   smoke    every anchor's config started, checked and measured once, briefly (< 60 s after
#            the build; debug tools); writes only target/bench/smoke/. `make bench-smoke`, which
#            `make test` runs, so a broken anchor config fails the tests.
#   scale    the shim at 100,000 certificates + sessions, SQLite and Redis: admin API adds/s,
#            listing, the feed snapshot, Envoy's first sync; writes bench/SCALE.md.
#            `make bench-scale`.
#   instructions  the same scenarios with every Envoy under Valgrind's callgrind
#            (scripts/envoy-callgrind.sh): instructions per request instead of CPU time, a
#            measure this shared machine does not move; 1,000-entry lists and sessions, 2
#            rounds; writes bench/INSTRUCTIONS.md. `make bench-instructions`.
#
# Load: tests/tools/src/bin/loadgen.rs (keep-alive TLS 1.3 with a client certificate, HDR
# histogram; it samples Envoy's CPU over its measured window), not ab or oha: the reason is at
# the top of that file. Envoy runs with --concurrency 1 pinned to CPU 1, the load on CPU 0.
#
# Inputs (the Makefile sets them; defaults are the default target dir and .venv):
#   ENVOY_BIN, MTLS_GATE_FILTER_WASM, MTLS_GATE_SHIM_BIN
#   MTLS_GATE_NATIVE_MODULE   path of the native module (lib<name>.so): adds its scenario and
#                             the "native ≥ 0.90 × RBAC" target (else: "not built")
#   BENCH_EXTRA_WASM          "name=path,name2=path2": each .wasm on the static allow path and
#                             (with the shim) on certificate auth, with its cost ratio against
#                             the current filter on each (before/after an optimisation in one run)
# Knobs (environment): BENCH_CONNECTIONS (16), BENCH_DURATION (4 s per scenario per round),
#   BENCH_WARMUP (1 s), BENCH_LATENCY_DURATION (1.5 s, one connection), BENCH_ROUNDS (5),
#   BENCH_CONCURRENCY (Envoy --concurrency, 1), BENCH_ALLOW_LIST_SIZE (100000),
#   BENCH_SESSIONS (100000, synced in snapshot pages; filling them takes 1.5–3 min),
#   BENCH_REVOCATION_TRIALS (20),
#   BENCH_ARGS (extra flags for the driver, e.g. --no-shim, --only static-1,extra:).
# Everything runs on 127.0.0.1, every load run is bounded in time and count, and every process
# is stopped at the end (also on failure).
set -euo pipefail
self=$(realpath "$0")
root=$(dirname "$self")/..
cd "$root"
root=$(pwd)
mode=${1:-full}

CARGO=${CARGO:-cargo}
# The bench uses the default target dir, whatever the caller's environment says.
unset CARGO_TARGET_DIR
target="$root/target"

export ENVOY_BIN=${ENVOY_BIN:-$root/.venv/bin/envoy}
export MTLS_GATE_FILTER_WASM=${MTLS_GATE_FILTER_WASM:-$target/wasm32-wasip1/release/mtls_gate_filter.wasm}
export MTLS_GATE_SHIM_BIN=${MTLS_GATE_SHIM_BIN:-$target/release/mtls-gate-shim}
# The driver gets the native module as a flag, and Envoy launchers must not see the variable:
# every other scenario runs the wasm filter.
native=${MTLS_GATE_NATIVE_MODULE:-}
unset MTLS_GATE_NATIVE_MODULE

# When run directly (not from `make bench`), make sure Envoy is there.
if [[ ! -x $ENVOY_BIN ]]; then
  make envoy
fi

# The smoke run (make test) uses the debug tools and whatever shim the caller names (the debug
# one under make test): its figures mean nothing, and release builds would cost minutes.
if [[ $mode == smoke ]]; then profile=debug; profile_flag=(); else profile=release; profile_flag=(--release); fi
echo "bench: building the filter, the empty and floor filters, the shim and the bench tools ($profile tools)" >&2
# The tools crate links no wasmtime (that is tests/harness only).
$CARGO build --quiet -p mtls-gate-filter -p mtls-gate-bench-empty-filter -p mtls-gate-bench-floor-gate --target wasm32-wasip1 --release
if [[ $mode != smoke ]]; then
  $CARGO build --quiet -p mtls-gate-shim --release
fi
$CARGO build --quiet -p mtls-gate-tools "${profile_flag[@]}" --features bench --bin bench --bin loadgen --bin echo-upstream

for f in "$ENVOY_BIN" "$MTLS_GATE_FILTER_WASM" "$MTLS_GATE_SHIM_BIN"; do
  [[ -e $f ]] || { echo "bench: missing $f" >&2; exit 1; }
done

args=(
  --connections "${BENCH_CONNECTIONS:-16}"
  --concurrency "${BENCH_CONCURRENCY:-1}"
  --empty-wasm "$target/wasm32-wasip1/release/mtls_gate_bench_empty_filter.wasm"
  --floor-wasm "$target/wasm32-wasip1/release/mtls_gate_bench_floor_gate.wasm"
)
case $mode in
  full)
    args+=(
      --duration "${BENCH_DURATION:-4}"
      --warmup "${BENCH_WARMUP:-1}"
      --latency-duration "${BENCH_LATENCY_DURATION:-1.5}"
      --rounds "${BENCH_ROUNDS:-5}"
      --allow-list-size "${BENCH_ALLOW_LIST_SIZE:-100000}"
      --sessions "${BENCH_SESSIONS:-100000}"
      --revocation-trials "${BENCH_REVOCATION_TRIALS:-20}"
      --report "$root/bench/REPORT.md"
      --out-dir "$target/bench"
    )
    timeout_s=${BENCH_TIMEOUT:-1800}
    ;;
  smoke)
    # Its own folder: a smoke run never overwrites the figures of a full one.
    args+=(--smoke --out-dir "$target/bench/smoke")
    timeout_s=${BENCH_TIMEOUT:-300}
    ;;
  scale)
    args+=(--scale --sessions "${BENCH_SESSIONS:-100000}" --report "$root/bench/SCALE.md" --out-dir "$target/bench")
    timeout_s=${BENCH_TIMEOUT:-1800}
    ;;
  instructions)
    # The Python launcher of .venv/bin/envoy runs Envoy as a child, which Valgrind would not
    # follow: callgrind gets the binary itself.
    real=$(find "$root/.venv/lib" -path '*/site-packages/envoy/_bin/envoy' -type f | head -1)
    [[ -x $real ]] || { echo "bench: no Envoy binary under $root/.venv/lib" >&2; exit 1; }
    command -v callgrind_control >/dev/null || { echo "bench: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
    export ENVOY_REAL_BIN=$real ENVOY_BIN=$root/scripts/envoy-callgrind.sh
    # Under Valgrind V8 takes a minute or more to compile the filter in each VM.
    export ENVOY_START_TIMEOUT_S=${ENVOY_START_TIMEOUT_S:-600}
    CALLGRIND_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mtls-gate-callgrind-XXXXXX")
    export CALLGRIND_DIR
    args+=(
      --instructions
      --rounds "${BENCH_ROUNDS:-2}"
      --allow-list-size "${BENCH_ALLOW_LIST_SIZE:-1000}"
      --sessions "${BENCH_SESSIONS:-1000}"
      --revocation-trials 0
      --report "$root/bench/INSTRUCTIONS.md"
      --out-dir "$target/bench/instructions"
    )
    timeout_s=${BENCH_TIMEOUT:-2400}
    ;;
  *)
    echo "bench: unknown mode $mode (none, smoke, scale or instructions)" >&2
    exit 2
    ;;
esac
if [[ -n $native ]]; then
  args+=(--native-module "$native")
fi
if [[ -n ${BENCH_EXTRA_WASM:-} ]]; then
  args+=(--extra-wasm "$BENCH_EXTRA_WASM")
fi
# shellcheck disable=SC2206 # BENCH_ARGS is a list of flags on purpose
args+=(${BENCH_ARGS:-})

# The driver finds loadgen and echo-upstream next to itself and stops every process it started
# when it exits. `timeout` bounds the whole run; it runs in its own process group (which the
# driver's children inherit), so both a timeout and an interrupt here stop all of them.
timeout --signal=TERM --kill-after=30 "$timeout_s" "$target/$profile/bench" "${args[@]}" &
group=$!
trap 'kill -TERM -- "-$group" 2>/dev/null || true; rm -rf "${CALLGRIND_DIR:-/nonexistent}"' EXIT
trap 'exit 130' INT TERM
rc=0
wait "$group" || rc=$?
trap - EXIT
[[ -z ${CALLGRIND_DIR:-} ]] || rm -rf "$CALLGRIND_DIR"
if (( rc == 124 )); then
  echo "bench: stopped after $timeout_s s" >&2
fi
exit "$rc"
