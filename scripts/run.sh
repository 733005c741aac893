#!/usr/bin/env bash
# `make run`: starts Redis and SecantusDB (data kept in .data/), applies migrations and runs the gateway
# with every role in the foreground. Ctrl-C stops the gateway and the servers it started.
set -euo pipefail
cd "$(dirname "$0")/.."

data=.data
demo_source=demo-courier
demo_secret=whsec_ZGVtby1jb3VyaWVyLXNpZ25pbmcta2V5LTAwMQ==
export GATEWAY_WEBHOOK_SECRETS="${GATEWAY_WEBHOOK_SECRETS:-$demo_source=$demo_secret}"
export GATEWAY_HTTP_PORT="${GATEWAY_HTTP_PORT:-8080}"

scripts/services.sh stop "$data"
mongo_port=27017 redis_port=6379
if (exec 3<>/dev/tcp/127.0.0.1/$mongo_port) 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/$redis_port) 2>/dev/null; then
  echo "run: port $mongo_port or $redis_port is taken; using free ports instead"
  mongo_port="" redis_port=""
fi
scripts/services.sh start "$data" $mongo_port $redis_port
trap 'scripts/services.sh stop "$data"' EXIT
# shellcheck disable=SC1091
source "$data/env"

swift build --product gateway
swift build --product routing-sim
bin="$(swift build --show-bin-path)"
gateway="$bin/gateway"
"$gateway" migrate
"$gateway" seed shipments --count "${SEED_SHIPMENTS:-1000}"

routing_port="${ROUTING_SIM_PORT:-8090}"
export GATEWAY_ROUTING_URL="${GATEWAY_ROUTING_URL:-http://127.0.0.1:$routing_port/v1/routes}"
"$bin/routing-sim" --port "$routing_port" --latency-ms "${ROUTING_LATENCY_MS:-2000}" >"$data/routing-sim.log" 2>&1 &
routing_pid=$!
trap 'kill $routing_pid 2>/dev/null || true; scripts/services.sh stop "$data"' EXIT

cat <<INFO

Courier Event Gateway
  ingest   http://127.0.0.1:$GATEWAY_HTTP_PORT/webhooks/{source}   (demo source: $demo_source)
  health   http://127.0.0.1:$GATEWAY_HTTP_PORT/healthz  /readyz  /metrics
  routing  $GATEWAY_ROUTING_URL   (routing-sim, ${ROUTING_LATENCY_MS:-2000} ms latency; stats at http://127.0.0.1:$routing_port/stats)
  mongo    $GATEWAY_MONGO_URL
  redis    $GATEWAY_REDIS_URL

Roles running: api, relay, worker. Shipments SHP-000001 … SHP-$(printf %06d "${SEED_SHIPMENTS:-1000}") are seeded.
A signed example delivery (timestamps expire after 5 minutes; run \`$gateway sign --help\` for more):

$("$gateway" sign --url "http://127.0.0.1:$GATEWAY_HTTP_PORT" --source "$demo_source" --secret "$demo_secret")

Follow it (about 2 s later it is processed):
  $gateway events show --source $demo_source --id <the webhook-id>
  $gateway events counts

INFO
"$gateway" serve --role all
