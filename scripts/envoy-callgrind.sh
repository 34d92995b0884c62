#!/usr/bin/env bash
# Envoy under Valgrind's callgrind, for `make bench-instructions` (scripts/bench.sh
# instructions): the bench starts this as its ENVOY_BIN, and counts the instructions Envoy
# executes per request with `callgrind_control` (tests/tools/src/bin/bench/instructions.rs).
#   ENVOY_REAL_BIN  the Envoy binary itself (`.venv/bin/envoy` is a Python launcher that runs
#                   it as a child, which Valgrind would not follow)
#   CALLGRIND_DIR   where callgrind writes its dumps: envoy.<pid>, envoy.<pid>.<n>
# `exec`, so the process the bench knows is the one Valgrind runs Envoy in. Self-modifying code
# checks cover V8's JIT (`all-non-file`: every page not mapped from a file).
set -euo pipefail
: "${ENVOY_REAL_BIN:?the Envoy binary}" "${CALLGRIND_DIR:?where callgrind writes}"
exec valgrind --tool=callgrind --callgrind-out-file="$CALLGRIND_DIR/envoy.%p" \
  --smc-check=all-non-file --dump-instr=no --log-file="$CALLGRIND_DIR/valgrind.%p.log" \
  "$ENVOY_REAL_BIN" "$@"
