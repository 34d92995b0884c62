#!/usr/bin/env bash
# `make run`: the demo, in the foreground. Ctrl-C stops everything.
#
# Phase 1: builds the filter, installs Envoy, makes demo certificates (run/certs), starts the
# echo upstream (HTTPS) and Envoy with the filter, and prints curl commands to try.
# Ports: TLS_PORT (8443), PLAIN_PORT (8080), ADMIN_PORT (9901), ECHO_PORT (9443).
# GATE_CONFIG=file picks the filter config (default envoy-config/demo-gate.json).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

TLS_PORT=${TLS_PORT:-8443}
PLAIN_PORT=${PLAIN_PORT:-8080}
ADMIN_PORT=${ADMIN_PORT:-9901}
ECHO_PORT=${ECHO_PORT:-9443}
SHIM_PORT=${SHIM_PORT:-0}
GATE_CONFIG=${GATE_CONFIG:-$root/envoy-config/demo-gate.json}
run=$root/run
certs=$run/certs

echo "==> building (filter, Envoy, echo upstream)"
make --no-print-directory wasm envoy
cargo build --quiet -p mtls-gate-tests --bin echo-upstream
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
wasm=$target/wasm32-wasip1/release/mtls_gate_filter.wasm
echo_bin=$target/debug/echo-upstream
envoy=${ENVOY:-$root/.venv/bin/envoy}

echo "==> demo certificates in $certs"
scripts/demo-certs.sh "$certs"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "==> stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

wait_for() { # what, command...
  local what=$1; shift
  for _ in $(seq 300); do
    "$@" >/dev/null 2>&1 && return 0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "a process died while waiting for $what; logs in $run" >&2; exit 1; }; done
    sleep 0.1
  done
  echo "timed out waiting for $what; logs in $run" >&2
  exit 1
}

# HOOK(shim): phase 2 starts mtls-gate-shim here (store in run/, admin secret, feed token),
# sets SHIM_PORT, and seeds /tyk/certs + /tyk/keys with the demo certificates.

echo "==> echo upstream on https://127.0.0.1:$ECHO_PORT (log: run/echo.log)"
"$echo_bin" --listen "127.0.0.1:$ECHO_PORT" --name demo-echo \
  --cert "$certs/upstream-server.pem" --key "$certs/upstream-server.key" >"$run/echo.log" 2>&1 &
pids+=($!)
wait_for "the echo upstream" grep -q LISTENING "$run/echo.log"

# HOOK(shim): phase 2 lets the shim render the clusters (one per upstream client certificate).
scripts/render-envoy-config.py -o "$run/envoy.yaml" \
  --admin-port "$ADMIN_PORT" --tls-port "$TLS_PORT" --plain-port "$PLAIN_PORT" --shim-port "$SHIM_PORT" \
  --server-cert "$certs/server.pem" --server-key "$certs/server.key" \
  --wasm "$wasm" --gate-config "$GATE_CONFIG" \
  --tls-cluster "upstream-default,127.0.0.1:$ECHO_PORT,localhost,$certs/ca.pem" \
  --tls-cluster "upstream-client-cert,127.0.0.1:$ECHO_PORT,localhost,$certs/ca.pem,$certs/upstream-client.pem,$certs/upstream-client.key"

echo "==> Envoy: https://localhost:$TLS_PORT, http://localhost:$PLAIN_PORT, admin http://127.0.0.1:$ADMIN_PORT (log: run/envoy.log)"
"$envoy" -c "$run/envoy.yaml" --concurrency 2 --disable-hot-restart \
  --log-level warning --component-log-level wasm:info >"$run/envoy.log" 2>&1 &
pids+=($!)
wait_for "Envoy /ready" curl -sf "http://127.0.0.1:$ADMIN_PORT/ready"

c="curl -s --cacert run/certs/ca.pem --resolve api.example.test:$TLS_PORT:127.0.0.1"
cat <<EOT

mtls-gate demo is up (filter config: ${GATE_CONFIG#$root/}). Try:

  # with a client certificate
  $c --cert run/certs/client.pem --key run/certs/client.key https://api.example.test:$TLS_PORT/hello | jq .
  # without one
  $c https://api.example.test:$TLS_PORT/hello | jq .
  # a self-signed rogue certificate
  $c --cert run/certs/rogue.pem --key run/certs/rogue.key https://api.example.test:$TLS_PORT/hello | jq .
  # SNI differs from Host (domain fronting)
  $c --cert run/certs/client.pem --key run/certs/client.key -H 'Host: other.example.test' https://api.example.test:$TLS_PORT/hello
  # no TLS at all
  curl -s http://127.0.0.1:$PLAIN_PORT/hello | jq .
  # the client's fingerprint (its certificate ID)
  openssl x509 -in run/certs/client.pem -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f
  # filter and Envoy stats
  curl -s 'http://127.0.0.1:$ADMIN_PORT/stats?filter=mtls_gate'

The echo upstream answers with what it saw (client_cert_sha256 = the upstream client cert Envoy presented).
Ctrl-C stops everything.
EOT

wait -n "${pids[@]}"
echo "a process exited; logs in $run" >&2
