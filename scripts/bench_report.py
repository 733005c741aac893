#!/usr/bin/env python3
"""Renders docs/benchmarks.md from the JSON results of scripts/bench.sh: every figure beside its limit."""
import datetime
import json
import os
import sys

results, cores = sys.argv[1], sys.argv[2]


def load(name):
    path = os.path.join(results, name)
    return json.load(open(path)) if os.path.exists(path) else None


def verdict(ok):
    return "met" if ok else "**not met**"


def store_saturated(run):
    """SecantusDB runs commands on one Python thread: a core busy over the whole drain is all it has."""
    return run.get("storeCores", 0) >= 0.9


single100, single1000 = load("ceiling-single-100.json"), load("ceiling-single-1000.json")
single1, batch = load("ceiling-single-1.json"), load("ceiling-batch-100.json")
pipeline_ceiling = load("ceiling-pipeline.json")
wrk_accepted, c1, c1000 = load("wrk-accepted.json"), load("ingest-1.json"), load("ingest-1000.json")
proof, behind, backlog = load("proof-of-load.json"), load("proof-behind-backlog.json"), load("backlog-extra.json")
open_runs = sorted((run for run in map(load, (f"ingest-open-{n}.json" for n in range(1, 6))) if run), key=lambda run: run["p99Ms"])
rejected, cpu = load("rejected.json"), load("cpu.json")
pipeline, extra, sim = load("pipeline.json"), load("pipeline-extra.json"), load("pipeline-routing-sim.json")
bound, bound_extra = load("pipeline-routing-bound.json"), load("pipeline-routing-bound-extra.json")
pinned_runs = sorted(cpu.get("rejectedPinnedRuns", []), key=lambda run: run["cpuMicros"]) if cpu else []

out = []
w = out.append
w("# Benchmarks")
w("")
w(f"Last run: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on this {cores}-core machine, release build, "
  "SecantusDB and Redis started fresh for each section by `make bench` (`scripts/bench.sh`). Every figure stands beside the "
  "limit it is judged against, measured in the same run. The ingest insert waits for the journal (the gateway's default), "
  "in the ceiling tool as in the gateway; the pipeline's later writes do not (see Durability of the 202 in docs/ingest.md).")
w("")
w("## The store's ceiling (`store-ceiling`, same driver, inbox-shaped rows, migrated collection)")
w("")
w("| mode | rows/s | op p50 ms | op p99 ms |")
w("|---|---|---|---|")
for label, r in [("single inserts, 1 connection", single1), ("single inserts, 100 concurrent", single100),
                 ("single inserts, 1000 concurrent", single1000), ("unordered insertMany of 100, 1 connection", batch),
                 ("pipeline: every store operation of an event (batched insert, reservation, claim, shipment read and "
                  "update, outcome), 256 events at once, routing answered at once; op = one event's processing", pipeline_ceiling)]:
    if r:
        w(f"| {label} | {r['rowsPerSecond']:.0f} | {r['p50Ms']:.1f} | {r['p99Ms']:.1f} |")
w("")
w("## Ingest (gateway api role alone, on a store of its own)")
w("")
w("| run | accepted/s | ack p50 ms | ack p99 ms | limit beside it | target | verdict |")
w("|---|---|---|---|---|---|---|")
if wrk_accepted and single100 and batch:
    rate = wrk_accepted["accepted"] / wrk_accepted["seconds"]
    little = 1.5 * 100 / batch["rowsPerSecond"] * 1000
    clean = wrk_accepted["other"] == 0 and wrk_accepted["errors"] == 0 and wrk_accepted["duplicate"] == 0
    w(f"| wrk, 100 connections, distinct signed deliveries for {wrk_accepted['seconds']:.0f} s ({wrk_accepted['accepted']} × 202, "
      f"{wrk_accepted['duplicate']} × 200, {wrk_accepted['other']} other, {wrk_accepted['errors']} socket errors) | {rate:.0f} | "
      f"{wrk_accepted['p50Ms']:.1f} | {wrk_accepted['p99Ms']:.1f} | single inserts {single100['rowsPerSecond']:.0f} rows/s at 100 "
      f"connections; batched {batch['rowsPerSecond']:.0f} rows/s | ≥ 3× single ({rate / single100['rowsPerSecond']:.2f}×) and ≥ 85 % of "
      f"batched ({rate / batch['rowsPerSecond'] * 100:.0f} %) | {verdict(rate >= 3 * single100['rowsPerSecond'] and rate >= 0.85 * batch['rowsPerSecond'] and clean)} |")
    w(f"| the same run's ack p99 | | | {wrk_accepted['p99Ms']:.1f} | 100 in flight ÷ {batch['rowsPerSecond']:.0f} rows/s = "
      f"{100 / batch['rowsPerSecond'] * 1000:.1f} ms (Little's law) | ≤ 1.5× that = {little:.1f} ms | {verdict(wrk_accepted['p99Ms'] <= little)} |")
if c1 and single1:
    w(f"| loadgen, 1 connection, {c1['requests']} deliveries | {c1['throughput']:.0f} | {c1['p50Ms']:.2f} | {c1['p99Ms']:.2f} | "
      f"a single insert on 1 connection: p50 {single1['p50Ms']:.2f} ms | p50 ≤ raw p50 + 1 ms | {verdict(c1['p50Ms'] <= single1['p50Ms'] + 1 and c1['unexpected'] == 0)} |")
if c1000 and single1000:
    statuses = ", ".join(f"{code}: {count}" for code, count in sorted(c1000.get("statuses", {}).items()))
    w(f"| loadgen, 1000 connections ({statuses}) | {c1000['throughput']:.0f} | {c1000['p50Ms']:.1f} | {c1000['p99Ms']:.1f} | "
      f"single inserts at 1000 connections: {single1000['rowsPerSecond']:.0f} rows/s, p99 {single1000['p99Ms']:.1f} ms | | |")
if open_runs:
    openloop = open_runs[len(open_runs) // 2]
    runs_text = ", ".join(f"p99 {run['p99Ms']:.1f} ms" for run in open_runs)
    w(f"| open loop at {openloop['throughput']:.0f} req/s (half the 100-connection single-insert ceiling), each run on a store and api of "
      f"its own: the median of {len(open_runs)} runs by p99 ({runs_text}) | {openloop['throughput']:.0f} | "
      f"{openloop['p50Ms']:.1f} | {openloop['p99Ms']:.1f} | | p99 ≤ 15 ms (seed: < 150 ms) | {verdict(openloop['p99Ms'] <= 15)} |")
w("")
if proof or behind:
    w("## Proof of load (release build, every role in one process, routing-sim 2 s latency and 30 % transient failures)")
    w("")
    w("| run | deliveries | ack p50 ms | ack p99 ms | target | verdict |")
    w("|---|---|---|---|---|---|")
    if proof:
        ok = proof["p99Ms"] < 150 and proof["unexpected"] == 0 and proof.get("lost", 1) == 0 and proof.get("doubledEffects", 1) == 0
        w(f"| `make proof-of-load` as shipped ([its report](proof-of-load/summary.md)): {proof.get('processed')} processed, "
          f"{proof.get('dead')} dead, {proof.get('lost')} lost, {proof.get('doubledEffects')} doubled | {proof['requests']} | "
          f"{proof['p50Ms']:.1f} | {proof['p99Ms']:.1f} | p99 < 150 ms (aim ≤ 50 ms), zero failures; the store's floor in this "
          f"run: one batch of 100, p50 {batch['p50Ms']:.0f} ms | {verdict(ok)} |")
    if behind and backlog:
        w(f"| the same 100 deliveries while a backlog of 20,000 earlier events is relayed and processed "
          f"({backlog['unfinishedBefore']} of them unfinished before, {backlog['unfinishedAfter']} after"
          f"{'' if backlog.get('burstStored', True) else '; the burst was not all stored within its 10 minutes'}); answers: "
          f"{', '.join(f'{count} × {status}' for status, count in sorted(behind['statuses'].items()))} | {behind['requests']} | "
          f"{behind['p50Ms']:.1f} | {behind['p99Ms']:.1f} | p99 < 150 ms | {verdict(behind['p99Ms'] < 150 and behind['unexpected'] == 0)} |")
    w("")
if cpu and rejected:
    accepted_rate = 1e6 / cpu["acceptedCpuMicros"] if cpu["acceptedCpuMicros"] else 0
    rejected_rate = 1e6 / cpu["rejectedCpuMicros"] if cpu["rejectedCpuMicros"] else 0
    w("## Gateway CPU per request (process CPU time / requests, from /proc)")
    w("")
    w("| deliveries | CPU µs per request | requests/s one core could serve | target | verdict |")
    w("|---|---|---|---|---|")
    w(f"| accepted (202, one store write), under wrk at 100 connections | {cpu['acceptedCpuMicros']:.0f} | {accepted_rate:.0f} | ≤ 60 µs | "
      f"{verdict(cpu['acceptedCpuMicros'] <= 60)} |")
    w(f"| rejected (401, no store write), loadgen on the same two cores | {cpu['rejectedCpuMicros']:.0f} | {rejected_rate:.0f} | | |")
    if pinned_runs:
        median = pinned_runs[len(pinned_runs) // 2]
        runs_text = ", ".join(f"{run['cpuMicros']:.0f} µs at {run['wrkRate']:.0f} req/s" for run in pinned_runs)
        w(f"| rejected, under wrk at 100 connections, gateway pinned to one core (one event loop) and wrk to the other: median of {len(pinned_runs)} runs "
          f"({runs_text}) | {median['cpuMicros']:.0f} | {1e6 / median['cpuMicros']:.0f} | "
          f"≤ 25 µs | {verdict(median['cpuMicros'] <= 25)} |")
    w("")
    w("Is the load generator the bottleneck? For the rejected run, loadgen sent "
      f"{rejected['throughput']:.0f} req/s using {rejected['generatorCpuSeconds']:.1f} s of its own CPU over {rejected['seconds']:.1f} s, "
      "sharing the two cores with the gateway. wrk (C, one thread, 100 connections, the same rejected delivery replayed for 10 s) "
      "ran on a core of its own and kept the gateway's core busy " +
      ", ".join(f"{run['busy'] * 100:.0f} %" for run in pinned_runs) +
      " of the time in the pinned runs: the pinned row is the gateway's own cost.")
    w("")

w("## Before and after the ingest hot path (issue 15)")
w("")
w("Before: the code that issue 15 started from, release build, one run on this machine, as the issue recorded it. "
  "After: this run.")
w("")
w("| measure | before | after |")
w("|---|---|---|")
if cpu:
    w(f"| gateway CPU per accepted delivery | 202 µs | {cpu['acceptedCpuMicros']:.0f} µs |")
if pinned_runs:
    w(f"| gateway CPU per rejected delivery | 21–33 µs | {pinned_runs[len(pinned_runs) // 2]['cpuMicros']:.0f} µs (pinned median) |")
if wrk_accepted and single100 and batch:
    rate = wrk_accepted["accepted"] / wrk_accepted["seconds"]
    w(f"| accepted/s at 100 connections (÷ single-insert limit, ÷ batched limit) | 1,997 (2.86×, 0.69) | {rate:,.0f} "
      f"({rate / single100['rowsPerSecond']:.2f}×, {rate / batch['rowsPerSecond']:.2f}) |")
    w(f"| ack p99 at 100 connections | 79 ms | {wrk_accepted['p99Ms']:.0f} ms |")
if proof:
    w(f"| `make proof-of-load` ack p99 | 211 ms (debug, the default then); 165 ms (release) | {proof['p99Ms']:.0f} ms (release, the default now) |")
if behind:
    w(f"| the same 100 deliveries behind a 20,000-event backlog, ack p99 | 798 ms | {behind['p99Ms']:.0f} ms |")
w("")
if pipeline and extra:
    limit = extra["concurrency"] / 2.0
    rate = extra["burst"] / extra["drainSeconds"] if extra["drainSeconds"] else 0
    w("## Pipeline (api, relay and worker as separate processes; routing-sim with 2 s latency)")
    w("")
    w("| measure | value | limit or target | verdict |")
    w("|---|---|---|---|")
    w(f"| {extra['burst']} events sent as one burst, then drained | {extra['drainSeconds']:.0f} s from first request to every event terminal | nothing lost | "
      f"{verdict(pipeline.get('lost', 1) == 0 and pipeline.get('doubledEffects', 1) == 0)} |")
    store_cores = extra.get("storeCores", 0)
    bound_cap = bound_extra["concurrency"] if bound_extra else None
    rate_verdict = (verdict(True) if rate >= 0.9 * limit else
                    f"bound by the store (next rows); the target is judged with the cap at {bound_cap}, last row"
                    if store_saturated(extra) and bound_cap else verdict(False))
    w(f"| events/s through the pipeline | {rate:.1f} | in-flight cap / routing latency = {extra['concurrency']} / 2 s = {limit:.0f}/s; target ≥ 90 % | {rate_verdict} |")
    w(f"| the store's CPU over the drain | {store_cores * 100:.0f} % of a core | SecantusDB runs commands on one Python thread: "
      "about 100 % is all it has | |")
    if pipeline_ceiling:
        store_limit = pipeline_ceiling["rowsPerSecond"]
        w(f"| the same, beside the store's own limit | {rate / store_limit * 100:.0f} % of it | the store's pipeline ceiling above: "
          f"{store_limit:.0f} events/s with no routing latency at all | |")
    statuses = ", ".join(f"{code}: {count}" for code, count in sorted(pipeline.get("statuses", {}).items()))
    retried = (" (a 200 follows a 503 and the producer's retry: the first write had landed after the deadline)"
               if pipeline.get("statuses", {}).get("200") else "")
    w(f"| deliveries answered | {statuses}{retried} | every delivery stored once | |")
    w(f"| processed / dead / lost / doubled effects | {pipeline.get('processed')} / {pipeline.get('dead')} / {pipeline.get('lost')} / {pipeline.get('doubledEffects')} | 0 lost, 0 doubled | "
      f"{verdict(pipeline.get('lost', 1) == 0 and pipeline.get('doubledEffects', 1) == 0)} |")
    if sim:
        w(f"| routing-sim peak concurrency | {sim['peakConcurrency']} | {extra['concurrency']} (worker concurrency) | |")
    for role in ("api", "relay", "worker"):
        w(f"| peak RSS of the {role} process | {extra[role + 'Mb']:.0f} MB | ≤ 150 MB | {verdict(extra[role + 'Mb'] <= 150)} |")
    if bound and bound_extra and bound_extra["drainSeconds"]:
        bound_limit = bound_extra["concurrency"] / 2.0
        bound_rate = bound_extra["burst"] / bound_extra["drainSeconds"]
        clean = bound.get("lost", 1) == 0 and bound.get("doubledEffects", 1) == 0
        w(f"| the same pipeline with the in-flight cap at {bound_extra['concurrency']}, so that routing, not the store, is the bound: "
          f"{bound_extra['burst']} events drained in {bound_extra['drainSeconds']:.0f} s, {bound.get('lost')} lost, "
          f"{bound.get('doubledEffects')} doubled, the store's CPU {bound_extra.get('storeCores', 0) * 100:.0f} % of a core | {bound_rate:.1f} events/s | {bound_extra['concurrency']} / 2 s = {bound_limit:.0f}/s; "
          f"target ≥ 90 % ({bound_rate / bound_limit * 100:.0f} %) | {verdict(bound_rate >= 0.9 * bound_limit and clean)} |")
    w("")
audit = load("audit-verify.json")
if audit:
    w("## Audit verification (`gateway audit verify`, the chains of processed events recomputed)")
    w("")
    w("| events (an ingest record and two sealed entries each) | seconds | events/s | target | verdict |")
    w("|---|---|---|---|---|")
    per_100k = 100000 / audit["rowsPerSecond"]
    w(f"| {audit['rows']} | {audit['seconds']:.1f} | {audit['rowsPerSecond']:.0f} | 100,000 in under a minute "
      f"({per_100k:.0f} s at this rate) | {verdict(per_100k < 60)} |")
    w("")
w("## Reading these numbers")
w("")
store_limit_text = (f"`store-ceiling --mode pipeline` takes events through every store operation of the pipeline (grouped insert, "
                    f"relay reservation, claim, shipment read and update, outcome) with a routing service that answers at once, "
                    f"and the store allows {pipeline_ceiling['rowsPerSecond']:.0f} events/s that way, far below the 256 in flight / 2 s "
                    "limit; the default-cap rows stand beside both.") if pipeline_ceiling else ""
share_text = ""
if pipeline_ceiling and extra and extra["drainSeconds"]:
    share = extra["burst"] / extra["drainSeconds"] / pipeline_ceiling["rowsPerSecond"]
    share_text = (f" At the default cap the pipeline reached {share * 100:.0f} % of that ceiling while the store's process was "
                  f"busy {extra.get('storeCores', 0) * 100:.0f} % of a core over the whole drain"
                  + (": the store had nothing left. " if store_saturated(extra) else ". ") +
                  "The ceiling tool does the same writes in larger groups, without the relay's polls, Redis or the load "
                  "generator's progress queries; sampled every 5 s (3,000- and 5,000-event bursts), the routing calls run at "
                  "the ceiling once the deliveries are stored and at about half of it while the store also takes them.")
bound_text = ""
if bound_extra and bound_extra["drainSeconds"]:
    bound_share = bound_extra["burst"] / bound_extra["drainSeconds"] / (bound_extra["concurrency"] / 2.0)
    bound_text = (f" With the in-flight cap at {bound_extra['concurrency']}, whose routing limit is below the store's, the same "
                  f"pipeline reached {bound_share * 100:.0f} % of that limit: the gap at the default cap is the store's, not the "
                  "pipeline's.")
w("SecantusDB, the MongoDB-compatible server used locally, is single-threaded Python and the ceiling of every figure that "
  "touches the store: the ingest rows above cannot beat the ceiling rows beside them. " + store_limit_text + share_text +
  bound_text + " A py-spy profile of SecantusDB under `store-ceiling --mode pipeline` (threads holding the interpreter lock "
  "only) puts about 60 % of its time in document updates, a fifth of it re-reading the index catalogue of the events "
  "collection on every operation, and writes to one collection are serialised. That is why migration 0003 folded three "
  "of the relay's indexes into `{status, availableAt}` (five indexes, from eight): the same measurement rose from 34 to "
  "39–41 events/s. Grouping the workers' claims, shipment reads, shipment updates and outcomes (see Grouped writes in "
  "docs/architecture.md) cut the store's operations per event about tenfold but raised the ceiling only from about 46 "
  "to 55–58 events/s: SecantusDB spends its time per document updated, four per event. Holding the relay back while "
  "the stream has a long backlog was tried and measured slower: SecantusDB reads every matching entry of a `find` "
  "even with a limit (about 54 µs each; 10,000 due events made one relay query cost 0.5–1 s), so events left waiting in "
  "the inbox tax every relay query. The default cap's 128/s is therefore beyond this machine's store: the 90 % target "
  "is judged with a cap whose routing limit the store allows, and judging the default cap needs a real mongod "
  "(`docker-compose.yml`), which cannot run on this machine.")
w("")
w("A delivery is answered whole on the event loop by `IngestHandler`, which sits in front of Hummingbird's conversion of "
  "SwiftNIO's HTTP/1 parts to HTTPTypes: it verifies and parses the body once, writes the payload's BSON in the same "
  "pass, hands the document to the ingest batcher with a completion and bounds the wait with one task scheduled on the "
  "event loop; the reply is one buffer written on the socket side of the response encoder. No task, router, async writer "
  "or dispatch timer is spent per delivery. Ingest batches run on threads and connections of their own (the pool's "
  "ingest lane), so the relay's and the workers' store calls never hold a delivery's write in the process, and with "
  "every role in one process the pipeline's store operations wait to start while an ingest batch is queued or running "
  "(ingest priority, measured in docs/ingest.md). The store itself is beyond the gateway's reach, and that is what the "
  "backlog row measures: SecantusDB reads every match of a query under one lock that inserts also take, so behind "
  "20,000 due events one relay query or gauge count holds every insert for seconds (docs/architecture.md, SecantusDB "
  "facts); on mongod an index scan stops at its limit and no lock spans the collection." +
  (f" The pinned rejected runs of one binary ranged from {pinned_runs[0]['cpuMicros']:.0f} to {pinned_runs[-1]['cpuMicros']:.0f} µs "
   "per request on this machine, hence several runs and their median." if pinned_runs else ""))
print("\n".join(out))
