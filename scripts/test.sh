#!/usr/bin/env bash
# `make test`: starts Redis and SecantusDB on free ports, runs `swift test` against them (the fault suite last, on
# its own), stops them again (also on failure). A GATEWAY_MONGO_URL already set (a real mongod) is used instead of
# SecantusDB. Arguments go to `swift test` as they are, e.g. `scripts/test.sh --filter PipelineTests`.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="$(mktemp -d "${TMPDIR:-/tmp}/gateway-test.XXXXXX")"
cleanup() { scripts/services.sh stop "$dir"; rm -rf "$dir"; }
trap cleanup EXIT

given_mongo_url="${GATEWAY_MONGO_URL:-}"
scripts/services.sh start "$dir"
# shellcheck disable=SC1091
source "$dir/env"
if [ -n "$given_mongo_url" ]; then
  export GATEWAY_MONGO_URL="$given_mongo_url"
  echo "test: using the given GATEWAY_MONGO_URL"
fi
export GATEWAY_SECANTUSD="$PWD/.venv/bin/secantusd-py"

# The formatting is part of the build: .swift-format, applied with `swift format format -i -r Sources Tests Package.swift`.
swift format lint --strict -r Sources Tests Package.swift
swift build --build-tests
export GATEWAY_BIN_DIR="$(swift build --show-bin-path)"
if [ $# -gt 0 ]; then
  swift test --skip-build "$@"
else
  # The fault suite breaks real processes of its own and loads both cores: it runs after the others, alone.
  swift test --skip-build --skip FaultTests
  # The admin and ingest API against openapi.yaml, by schemathesis.
  scripts/api-conformance.sh
  swift test --skip-build --filter FaultTests
fi
