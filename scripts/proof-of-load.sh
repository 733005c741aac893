#!/usr/bin/env bash
# `make proof-of-load`: everything local, routing-sim with 2 s latency and 30 % transient failures,
# 100 concurrent signed deliveries, then every event followed to its end. Writes docs/proof-of-load/.
# A release build by default, as the gateway ships; CONFIGURATION=debug runs the debug build.
set -euo pipefail
cd "$(dirname "$0")/.."

configuration="${CONFIGURATION:-release}"
out=docs/proof-of-load
secret=whsec_cHJvb2Ytb2YtbG9hZC1zaWduaW5nLWtleQ==
dir="$(mktemp -d "${TMPDIR:-/tmp}/gateway-proof.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/services.sh stop "$dir"
  rm -rf "$dir"
}
trap cleanup EXIT

swift build -c "$configuration" --product gateway
swift build -c "$configuration" --product routing-sim
swift build -c "$configuration" --product loadgen
bin="$(swift build -c "$configuration" --show-bin-path)"

scripts/services.sh start "$dir"
# shellcheck disable=SC1091
source "$dir/env"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(port) routing_port=$(port)
export GATEWAY_HTTP_PORT=$http_port GATEWAY_WEBHOOK_SECRETS="proof-of-load=$secret"
export GATEWAY_ROUTING_URL="http://127.0.0.1:$routing_port/v1/routes"

"$bin/gateway" migrate
"$bin/gateway" seed shipments --count 1000
"$bin/routing-sim" --port "$routing_port" --latency-ms 2000 --failure-rate 0.3 --seed 2026 >"$dir/routing-sim.log" 2>&1 &
pids+=($!)
"$bin/gateway" serve --role all >"$dir/gateway.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && break; sleep 0.1; done

mkdir -p "$out"
{
  echo "# proof of load, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $configuration build"
  echo "# routing-sim: 2000 ms latency, 30 % transient failures (seed 2026); gateway: every role in one process"
  "$bin/loadgen" --url "http://127.0.0.1:$http_port" --source proof-of-load --secret "$secret" \
    --requests 100 --concurrency 100 --wait --wait-timeout 600 --mongo-url "$GATEWAY_MONGO_URL" \
    --simulator-url "http://127.0.0.1:$routing_port" --report-dir "$out" --json "$out/summary.json"
  status=$?
  echo "# routing-sim at the end: $(curl -s "http://127.0.0.1:$routing_port/stats" | python3 -c 'import json,sys; d=json.load(sys.stdin); d.pop("perKey"); print(json.dumps(d))')"
  exit $status
} 2>&1 | tee "$out/run.log"
cp "$dir/gateway.log" "$out/gateway.log"
