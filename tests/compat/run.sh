#!/usr/bin/env bash
# Runs three independent third-party amoCRM clients from npm against `sipamo mock` over HTTPS,
# each with its library's typical workflow unchanged: amocrm-js, @shevernitskiy/amo and
# @theyahia/amocrm-mcp (an MCP server, driven through the official MCP client SDK).
# Needs node, npm, openssl and the right to bind 127.0.0.1:443 (amocrm-js always uses port 443).
# npm packages and the test certificates are kept under target/compat/ between runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=target/compat
mkdir -p "$work"
cp tests/compat/package.json tests/compat/amocrm_js_check.js tests/compat/shevernitskiy_amo_check.js \
  tests/compat/amocrm_mcp_check.mjs tests/compat/amocrm_ru_loopback.cjs "$work/"
(cd "$work" && npm install --silent --no-audit --no-fund >/dev/null)
# The certificate names 127.0.0.1 and sipamo.amocrm.ru (the MCP server always calls
# https://SUBDOMAIN.amocrm.ru; a preload resolves that name to 127.0.0.1).
if [ ! -f "$work/server.pem" ] || ! grep -q amocrm.ru "$work/san.ext" 2>/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=sipamo test CA" \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:sipamo.amocrm.ru\n' > "$work/san.ext"
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
# @shevernitskiy/amo paces itself under 7 requests/s: its mock keeps amoCRM's rate limit on, and
# access tokens that expire after 15 s (longer than its workflow), so the library's refresh runs.
SIPAMO_MOCK_TOKEN="$token" "$target_dir/debug/sipamo" mock --listen 127.0.0.1:0 --token-ttl-s 15 \
  --tls-cert "$work/server.pem" --tls-key "$work/server.key" > "$work/mock2.out" &
mock2=$!
trap 'kill $mock $mock2 2>/dev/null || true' EXIT
for out in mock.out mock2.out; do
  for _ in $(seq 50); do
    grep -q https "$work/$out" 2>/dev/null && break
    kill -0 $mock 2>/dev/null && kill -0 $mock2 2>/dev/null || { echo "sipamo mock did not start" >&2; exit 1; }
    sleep 0.1
  done
done
echo "== amocrm-js"
NODE_EXTRA_CA_CERTS="$work/ca.pem" node "$work/amocrm_js_check.js" 127.0.0.1 "$token"
echo "== @theyahia/amocrm-mcp"
NODE_EXTRA_CA_CERTS="$work/ca.pem" node --require "$PWD/$work/amocrm_ru_loopback.cjs" \
  "$work/amocrm_mcp_check.mjs" "$token" "$PWD/$work/amocrm_ru_loopback.cjs"
echo "== @shevernitskiy/amo"
host2=$(grep -o 'https://[0-9.:]*' "$work/mock2.out" | head -1 | sed 's#https://##')
NODE_EXTRA_CA_CERTS="$work/ca.pem" node "$work/shevernitskiy_amo_check.js" "$host2" "compat-code-$RANDOM" 15
