#!/usr/bin/env bash
# Starts or stops the servers the gateway needs: Redis and SecantusDB (a MongoDB wire-protocol server).
#
#   scripts/services.sh start DIR [MONGO_PORT REDIS_PORT]   data, logs and PIDs under DIR; free ports by default
#   scripts/services.sh stop DIR                            stops what `start DIR` started, by PID
#
# `start` writes DIR/env, which exports GATEWAY_MONGO_URL and GATEWAY_REDIS_URL for the chosen ports.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for_port() {
  local port=$1 name=$2 log=$3
  for _ in $(seq 1 300); do listening "$port" && return 0; sleep 0.1; done
  echo "services: $name did not listen on port $port within 30 s; its log:" >&2
  tail -20 "$log" >&2 || true
  return 1
}

start() {
  local dir=$1 mongo_port=${2:-$(free_port)} redis_port=${3:-$(free_port)}
  mkdir -p "$dir/mongo" "$dir/redis"
  dir="$(cd "$dir" && pwd)"
  for port in "$mongo_port" "$redis_port"; do
    if listening "$port"; then echo "services: port $port is already in use" >&2; return 1; fi
  done
  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$dir/redis" --appendonly yes --appendfsync everysec \
    --save "" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  wait_for_port "$redis_port" redis-server "$dir/redis.log"
  "$root/.venv/bin/secantusd-py" --port "$mongo_port" --storage-path "$dir/mongo" --log-level WARNING \
    >"$dir/secantus.log" 2>&1 &
  echo $! >"$dir/secantus.pid"
  wait_for_port "$mongo_port" secantusd "$dir/secantus.log"
  cat >"$dir/env" <<ENV
export GATEWAY_MONGO_URL="mongodb://127.0.0.1:$mongo_port/gateway?retryWrites=false&directConnection=true"
export GATEWAY_REDIS_URL="redis://127.0.0.1:$redis_port/0"
ENV
  echo "services: SecantusDB on 127.0.0.1:$mongo_port, Redis on 127.0.0.1:$redis_port (data in $dir)"
}

stop() {
  local dir=$1 pidfile pid
  for pidfile in "$dir/secantus.pid" "$dir/redis.pid"; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: $0 start DIR [MONGO_PORT REDIS_PORT] | stop DIR" >&2; exit 2 ;;
esac
