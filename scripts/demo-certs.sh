#!/usr/bin/env bash
# Demo PKI for `make run` (openssl): a CA, the listener's server cert, the echo upstream's
# server cert, two client certs, an upstream client cert, and a self-signed rogue.
# Usage: scripts/demo-certs.sh DIR   (keeps existing files)
set -euo pipefail
dir=${1:?usage: demo-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
[[ -f ca.pem ]] && exit 0

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
sign() { # name subject extensions
  key "$1"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

key ca
openssl req -x509 -new -key ca.key -subj "/O=mtls-gate demo/CN=mtls-gate demo CA" -days 30 -out ca.pem
server_ext='subjectAltName=DNS:localhost,DNS:*.example.test,IP:127.0.0.1
extendedKeyUsage=serverAuth'
client_ext='extendedKeyUsage=clientAuth'
sign server "/O=mtls-gate demo/CN=localhost" "$server_ext"
sign upstream-server "/O=mtls-gate demo/CN=upstream" "$server_ext"
sign client "/O=mtls-gate demo/CN=client" "$client_ext"
sign client2 "/O=mtls-gate demo/CN=client2" "$client_ext"
sign upstream-client "/O=mtls-gate demo/CN=upstream-client" "$client_ext"
key rogue
openssl req -x509 -new -key rogue.key -subj "/CN=rogue" -days 30 -out rogue.pem
rm -f ca.srl
chmod 600 ./*.key
