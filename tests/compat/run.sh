#!/usr/bin/env bash
# Runs a third-party amoCRM client (amocrm-js, npm) against `sipamo mock` over HTTPS.
# Needs node, npm, openssl and the right to bind 127.0.0.1:443 (amocrm-js always uses port 443).
# npm packages and the test certificates are kept under target/compat/ between runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=target/compat
mkdir -p "$work"
cp tests/compat/package.json tests/compat/amocrm_js_check.js "$work/"
(cd "$work" && npm install --silent --no-audit --no-fund >/dev/null)
if [ ! -f "$work/server.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=sipamo test CA" \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' > "$work/san.ext"
  openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -days 3650 -extfile "$work/san.ext" -out "$work/server.pem" 2>/dev/null
fi
cargo build --quiet --bin sipamo
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
token="compat-$RANDOM$RANDOM"
# amocrm-js sends its requests back to back with no throttle of its own: against amoCRM, and
# against the mock's default 7 requests/s, this workflow's burst gets 429 (seen here
# mid-workflow). The limit is tested in tests/mock_api; this check is about the API's shapes.
SIPAMO_MOCK_TOKEN="$token" "$target_dir/debug/sipamo" mock --listen 127.0.0.1:443 --rate-limit off \
  --tls-cert "$work/server.pem" --tls-key "$work/server.key" > "$work/mock.out" &
mock=$!
trap 'kill $mock 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  grep -q https "$work/mock.out" 2>/dev/null && break
  kill -0 $mock 2>/dev/null || { echo "sipamo mock did not start" >&2; exit 1; }
  sleep 0.1
done
NODE_EXTRA_CA_CERTS="$work/ca.pem" node "$work/amocrm_js_check.js" 127.0.0.1 "$token"
