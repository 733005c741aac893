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
c100, c1000 = load("ingest-100.json"), load("ingest-1000.json")
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
w("## Ingest (`loadgen`, gateway api role alone)")
w("")
w("| run | req/s | ack p50 ms | ack p99 ms | limit beside it | target | verdict |")
w("|---|---|---|---|---|---|---|")
for label, r, limit in [("closed loop, 100 connections", c100, single100), ("closed loop, 1000 connections", c1000, single1000)]:
    if r and limit:
        ratio = r["throughput"] / limit["rowsPerSecond"]
        ok = ratio >= 0.95 and r["p99Ms"] <= limit["p99Ms"] + 5 and r["unexpected"] == 0
        w(f"| {label} | {r['throughput']:.0f} | {r['p50Ms']:.1f} | {r['p99Ms']:.1f} | single inserts {limit['rowsPerSecond']:.0f} rows/s, "
          f"p99 {limit['p99Ms']:.1f} ms (batched {batch['rowsPerSecond']:.0f} rows/s) | ≥ 95 % of the single-insert rate "
          f"({ratio * 100:.0f} %), p99 ≤ raw p99 + 5 ms | {verdict(ok)} |")
if open_runs:
    openloop = open_runs[len(open_runs) // 2]
    runs_text = ", ".join(f"p99 {run['p99Ms']:.1f} ms" for run in open_runs)
    w(f"| open loop at {openloop['throughput']:.0f} req/s (half the 100-connection single-insert ceiling), each run on a store and api of "
      f"its own: the median of {len(open_runs)} runs by p99 ({runs_text}) | {openloop['throughput']:.0f} | "
      f"{openloop['p50Ms']:.1f} | {openloop['p99Ms']:.1f} | | p99 ≤ 15 ms (seed: < 150 ms) | {verdict(openloop['p99Ms'] <= 15)} |")
w("")
if cpu and rejected:
    accepted_rate = 1e6 / cpu["acceptedCpuMicros"] if cpu["acceptedCpuMicros"] else 0
    rejected_rate = 1e6 / cpu["rejectedCpuMicros"] if cpu["rejectedCpuMicros"] else 0
    w("## Gateway CPU per request (process CPU time / requests, from /proc)")
    w("")
    w("| deliveries | CPU µs per request | requests/s one core could serve | target | verdict |")
    w("|---|---|---|---|---|")
    w(f"| accepted (202, one store write) | {cpu['acceptedCpuMicros']:.0f} | {accepted_rate:.0f} | | |")
    w(f"| rejected (401, no store write), loadgen on the same two cores | {cpu['rejectedCpuMicros']:.0f} | {rejected_rate:.0f} | | |")
    if pinned_runs:
        median = pinned_runs[len(pinned_runs) // 2]
        runs_text = ", ".join(f"{run['cpuMicros']:.0f} µs at {run['wrkRate']:.0f} req/s" for run in pinned_runs)
        w(f"| rejected, gateway pinned to one core (one event loop) and wrk to the other: median of {len(pinned_runs)} runs "
          f"({runs_text}) | {median['cpuMicros']:.0f} | {1e6 / median['cpuMicros']:.0f} | "
          f"≥ 25,000 rejected req/s on one core | {verdict(1e6 / median['cpuMicros'] >= 25000)} |")
    w("")
    w("Is the load generator the bottleneck? For the rejected run, loadgen sent "
      f"{rejected['throughput']:.0f} req/s using {rejected['generatorCpuSeconds']:.1f} s of its own CPU over {rejected['seconds']:.1f} s, "
      "sharing the two cores with the gateway. wrk (C, one thread, 100 connections, the same rejected delivery replayed for 10 s) "
      "ran on a core of its own and kept the gateway's core busy " +
      ", ".join(f"{run['busy'] * 100:.0f} %" for run in pinned_runs) +
      " of the time in the pinned runs: the pinned row is the gateway's own cost.")
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
w("A rejected delivery is answered on the event loop by `IngestRejectionHandler`, which sits in front of Hummingbird's "
  "conversion of SwiftNIO's HTTP/1 parts to HTTPTypes and writes replies encoded once per connection as one buffer on the "
  "socket side of the response encoder, so a rejection costs no conversion, no task, no router and one `write`; each "
  "secret carries an HMAC already keyed. A `perf` profile of the pinned api under `wrk` puts about a third of its CPU in "
  "that `write` (on loopback the kernel also delivers the reply to `wrk` inside it), about 15 % in SwiftNIO's HTTP/1 "
  "parser, about 13 % in verification (the HMAC included: the replayed timestamp is fresh), and most of the rest in "
  "reading the socket and running the event loop." +
  (f" The pinned runs of one binary ranged from {pinned_runs[0]['cpuMicros']:.0f} to {pinned_runs[-1]['cpuMicros']:.0f} µs "
   "per request on this machine, hence several runs and their median." if pinned_runs else ""))
print("\n".join(out))
