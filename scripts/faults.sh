#!/usr/bin/env bash
# `make faults`: the fault suite alone (Tests/FaultTests, real processes broken mid-run), then its results into the
# table of docs/reliability.md. `make test` runs the same suite, after the others, without writing the table.
set -euo pipefail
cd "$(dirname "$0")/.."

report="$(mktemp "${TMPDIR:-/tmp}/gateway-faults.XXXXXX")"
trap 'rm -f "$report"' EXIT
GATEWAY_FAULT_REPORT="$report" scripts/test.sh --filter FaultTests
python3 scripts/reliability_report.py "$report" docs/reliability.md
echo "faults: results written to docs/reliability.md"
