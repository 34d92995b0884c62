#!/usr/bin/env bash
# `make bench`: load figures for the README. TODO(lead): fill in.
#
# It will measure, on loopback, Envoy --concurrency 2 with the release filter:
# - requests/s and p50/p99 latency through the TLS listener with a client certificate
#   (`ab -E cert.pem -k`, HCM accept_http_10 is on; or oha if it can send client certs),
#   for: no filter (baseline), filter with `{"apis": []}`, a static allow list, certificate
#   auth with a synced session, and a denial;
# - the per-request filter cost (difference to the baseline), against ARCHITECTURE.md's budget;
# - revocation latency: DELETE /tyk/certs/<id> on the shim until the first 403;
# - the shim: POST /tyk/certs and /tyk/keys/create per second, feed round trip.
# Inputs from the Makefile: ENVOY_BIN, MTLS_GATE_FILTER_WASM, MTLS_GATE_SHIM_BIN.
# Requests are bounded in count and time and go to 127.0.0.1 only.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."
echo "bench: not implemented yet (phase 2). It will report:"
sed -n '4,13p' "$self" | sed 's/^# \{0,1\}/  /'
