#!/usr/bin/env bash
# Installs what the gateway, its tests and `make run` need on a fresh Debian machine; with --bench, also
# what `make bench` needs. Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SECANTUS_VERSION="${SECANTUS_VERSION:-0.7.0b3}"
SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages=()
command -v pkg-config >/dev/null || packages+=(pkg-config)
pkg-config --exists libmongoc-1.0 2>/dev/null || packages+=(libmongoc-dev libbson-dev)
pkg-config --exists hiredis 2>/dev/null || packages+=(libhiredis-dev)
pkg-config --exists openssl 2>/dev/null || packages+=(libssl-dev)
command -v redis-server >/dev/null || packages+=(redis-server)
command -v python3 >/dev/null || packages+=(python3 python3-venv)
command -v curl >/dev/null || packages+=(curl)
command -v docker-compose >/dev/null || packages+=(docker-compose)   # `make compose-check` validates the compose file
if [ "${1:-}" = --bench ]; then
  command -v wrk >/dev/null || packages+=(wrk)
  command -v taskset >/dev/null || packages+=(util-linux)
fi
if [ ${#packages[@]} -gt 0 ]; then
  echo "bootstrap: installing ${packages[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

if [ ! -x .venv/bin/secantusd-py ]; then
  echo "bootstrap: installing SecantusDB $SECANTUS_VERSION into .venv"
  rm -rf .venv
  if ! python3 -m venv .venv 2>/dev/null; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv .venv
  fi
  .venv/bin/pip install --quiet --disable-pip-version-check "SecantusDB==$SECANTUS_VERSION"
fi
# `make test` checks the HTTP API against openapi.yaml with schemathesis (scripts/api-conformance.sh).
if [ ! -x .venv/bin/schemathesis ]; then
  echo "bootstrap: installing schemathesis $SCHEMATHESIS_VERSION into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
