import Foundation
import GatewayCore

/// The numbers of a run, printed and written as Markdown, CSV, JSON and SVG.
struct LoadReport {
    let plan: DeliveryPlan
    let sent: SentResults
    let generatorCPUSeconds: Double
    var outcome: EventOutcome?

    init(plan: DeliveryPlan, sent: SentResults, generatorCPUSeconds: Double) {
        self.plan = plan
        self.sent = sent
        self.generatorCPUSeconds = generatorCPUSeconds
    }

    var statusCounts: [(String, Int)] {
        var counts: [String: Int] = [:]
        for result in sent.results { counts[result.status.map(String.init) ?? "transport error", default: 0] += 1 }
        return counts.sorted { $0.key < $1.key }
    }

    var unexpected: Int {
        sent.results.filter { result in
            guard let status = result.status else { return true }
            // A delivery re-sent after a 503 finds its event stored when the first write landed after the deadline.
            return !(DeliveryPlan.expectedStatus(result.kind).contains(status) || (result.retries > 0 && status == 200))
        }.count
    }

    var latenciesMs: [Double] { sent.results.map { $0.latency.seconds * 1_000 }.sorted() }
    var throughput: Double { Double(sent.results.count) / max(sent.elapsed.seconds, 1e-9) }

    var problems: [String] {
        var problems: [String] = []
        if unexpected > 0 { problems.append("\(unexpected) unexpected statuses or transport errors") }
        if let outcome {
            if outcome.lost > 0 { problems.append("\(outcome.lost) accepted events never became terminal") }
            if outcome.doubledEffects > 0 { problems.append("\(outcome.doubledEffects) events had a doubled effect") }
        }
        return problems
    }

    var ackSummary: String {
        let latencies = latenciesMs
        return """
            sent \(sent.results.count) in \(format(sent.elapsed.seconds)) s: \(format(throughput)) req/s
            statuses: \(statusCounts.map { "\($0.0)=\($0.1)" }.joined(separator: " "))  unexpected: \(unexpected)  re-sent after 503: \(sent.results.reduce(0) { $0 + $1.retries })
            ack latency ms: p50 \(format(percentile(latencies, 0.5))) p90 \(format(percentile(latencies, 0.9))) p99 \(format(percentile(latencies, 0.99))) max \(format(latencies.last ?? 0))
            generator CPU: \(format(generatorCPUSeconds)) s (\(format(generatorCPUSeconds / max(sent.elapsed.seconds, 1e-9) * 100)) % of one core)
            """
    }

    var outcomeSummary: String {
        guard let outcome else { return "" }
        let e2e = outcome.endToEndSeconds.sorted()
        return """
            followed for \(format(outcome.followedFor.seconds)) s: processed \(outcome.processed), dead \(outcome.dead), lost \(outcome.lost), doubled effects \(outcome.doubledEffects) (repeated successful routing calls \(outcome.repeatedRoutingSuccesses))
            attempts: \(outcome.attemptsHistogram.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " "))
            end-to-end s: p50 \(format(percentile(e2e, 0.5))) p90 \(format(percentile(e2e, 0.9))) p99 \(format(percentile(e2e, 0.99))) max \(format(e2e.last ?? 0))
            """
    }

    var json: String {
        let latencies = latenciesMs
        var fields: [String] = [
            "\"requests\":\(sent.results.count)", "\"seconds\":\(sent.elapsed.seconds)", "\"throughput\":\(throughput)",
            "\"unexpected\":\(unexpected)", "\"p50Ms\":\(percentile(latencies, 0.5))", "\"p90Ms\":\(percentile(latencies, 0.9))",
            "\"p99Ms\":\(percentile(latencies, 0.99))", "\"maxMs\":\(latencies.last ?? 0)", "\"generatorCpuSeconds\":\(generatorCPUSeconds)",
            "\"statuses\":{\(statusCounts.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ","))}",
        ]
        if let outcome {
            fields += [
                "\"processed\":\(outcome.processed)", "\"dead\":\(outcome.dead)", "\"lost\":\(outcome.lost)",
                "\"doubledEffects\":\(outcome.doubledEffects)",
            ]
        }
        return "{" + fields.joined(separator: ",") + "}\n"
    }

    func write(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try markdown.write(to: directory.appendingPathComponent("summary.md"), atomically: true, encoding: .utf8)
        try SVGChart.histogram(latenciesMs, bins: 30, title: "Ack latency (ms), \(sent.results.count) requests", unit: "ms")
            .write(to: directory.appendingPathComponent("ack-latency.svg"), atomically: true, encoding: .utf8)
        if let outcome {
            try SVGChart.states(outcome.samples, title: "Events by state over time")
                .write(to: directory.appendingPathComponent("states-over-time.svg"), atomically: true, encoding: .utf8)
            let states = ["received", "queued", "processing", "retry_scheduled", "parked", "processed", "dead"]
            let csv =
                (["seconds," + states.joined(separator: ",")]
                + outcome.samples.map { sample in
                    ([format(sample.seconds)] + states.map { String(sample.counts[$0] ?? 0) }).joined(separator: ",")
                }).joined(separator: "\n") + "\n"
            try csv.write(to: directory.appendingPathComponent("samples.csv"), atomically: true, encoding: .utf8)
        }
    }

    private var markdown: String {
        let latencies = latenciesMs
        var lines = [
            "| measure | value |", "|---|---|",
            "| deliveries sent | \(sent.results.count) |",
            "| statuses | \(statusCounts.map { "\($0.0): \($0.1)" }.joined(separator: ", ")) |",
            "| unexpected statuses or transport errors | \(unexpected) |",
            "| sending time | \(format(sent.elapsed.seconds)) s (\(format(throughput)) req/s) |",
            "| ack latency p50 / p90 / p99 / max | \(format(percentile(latencies, 0.5))) / \(format(percentile(latencies, 0.9))) / \(format(percentile(latencies, 0.99))) / \(format(latencies.last ?? 0)) ms |",
            "| load generator CPU | \(format(generatorCPUSeconds)) s |",
        ]
        if let outcome {
            let e2e = outcome.endToEndSeconds.sorted()
            lines += [
                "| processed | \(outcome.processed) |", "| dead | \(outcome.dead) |", "| lost (accepted, never terminal) | \(outcome.lost) |",
                "| doubled effects | \(outcome.doubledEffects) |",
                "| repeated successful routing calls (absorbed by the Idempotency-Key) | \(outcome.repeatedRoutingSuccesses) |",
                "| attempts per event | \(outcome.attemptsHistogram.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")) |",
                "| end-to-end p50 / p90 / p99 / max | \(format(percentile(e2e, 0.5))) / \(format(percentile(e2e, 0.9))) / \(format(percentile(e2e, 0.99))) / \(format(e2e.last ?? 0)) s |",
                "| all terminal after | \(format(outcome.followedFor.seconds)) s |",
            ]
        }
        lines.append("| verdict | \(problems.isEmpty ? "zero failures" : problems.joined(separator: "; ")) |")
        return lines.joined(separator: "\n") + "\n"
    }
}

func percentile(_ sorted: [Double], _ quantile: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((Double(sorted.count) * quantile).rounded(.up)) - 1
    return sorted[min(sorted.count - 1, max(rank, 0))]
}

func format(_ value: Double) -> String { String(format: value >= 100 ? "%.0f" : "%.2f", value) }
