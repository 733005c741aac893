#!/usr/bin/env bash
# Runs schemathesis against a running api role (admin API on) and fails on any 5xx or any answer the spec does not
# describe. Called by scripts/test.sh with GATEWAY_MONGO_URL, GATEWAY_REDIS_URL and GATEWAY_BIN_DIR set; uses the
# database `gateway_conformance` of that server.
set -euo pipefail
cd "$(dirname "$0")/.."

base="${GATEWAY_MONGO_URL%%\?*}"
query="${GATEWAY_MONGO_URL#"$base"}"
export GATEWAY_MONGO_URL="${base%/*}/gateway_conformance${query}"
export GATEWAY_ADMIN_TOKENS="conformance=conformance-token-$RANDOM$RANDOM$RANDOM"
export GATEWAY_WEBHOOK_SECRETS="demo-courier=whsec_ZGVtby1jb3VyaWVyLXNpZ25pbmcta2V5LTAwMQ=="
export GATEWAY_HTTP_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
log="$(mktemp "${TMPDIR:-/tmp}/conformance-api.XXXXXX")"

"$GATEWAY_BIN_DIR/gateway" migrate >/dev/null
"$GATEWAY_BIN_DIR/gateway" seed shipments --count 10 >/dev/null
"$GATEWAY_BIN_DIR/gateway" serve --role api >"$log" 2>&1 &
api=$!
trap 'kill "$api" 2>/dev/null || true; wait "$api" 2>/dev/null || true; rm -f "$log"' EXIT
"$GATEWAY_BIN_DIR/gateway" health --role api --timeout-ms 500 >/dev/null 2>&1 || sleep 2
for _ in $(seq 1 50); do "$GATEWAY_BIN_DIR/gateway" health --role api --timeout-ms 500 >/dev/null 2>&1 && break; sleep 0.2; done

echo "api-conformance: schemathesis against openapi.yaml on port $GATEWAY_HTTP_PORT"
.venv/bin/schemathesis run openapi.yaml --url "http://127.0.0.1:$GATEWAY_HTTP_PORT" \
  -H "Authorization: Bearer ${GATEWAY_ADMIN_TOKENS#*=}" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples 30 --seed 1 --no-color
