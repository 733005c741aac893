#!/usr/bin/env python3
"""Writes the fault suite's results (one JSON object per scenario, from GATEWAY_FAULT_REPORT) into the table
between the results markers of docs/reliability.md."""
import datetime
import json
import os
import sys

START, END = "<!-- results:start -->", "<!-- results:end -->"


def table(results):
    lines = [
        f"Last run: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        "debug build, `make faults`.",
        "",
        "| scenario | deliveries | acknowledged | processed | dead | lost | doubled | recovered in | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        notes = "; ".join(r.get("notes", [])) or ""
        lines.append(
            f"| {r['scenario']} | {r['deliveries']} | {r['acknowledged']} | {r['processed']} | {r['dead']} | "
            f"{r['lost']} | {r['doubled']} | {r['recoverySeconds']:.1f} s | {notes} |")
    return "\n".join(lines)


def main(report_path, doc_path):
    with open(report_path) as report:
        results = [json.loads(line) for line in report if line.strip()]
    if not results:
        sys.exit("reliability_report: the fault suite reported nothing")
    with open(doc_path) as doc:
        text = doc.read()
    if START not in text or END not in text:
        sys.exit(f"reliability_report: {doc_path} lacks the results markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    with open(doc_path, "w") as doc:
        doc.write(f"{head}{START}\n{table(results)}\n{END}{tail}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
