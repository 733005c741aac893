import ArgumentParser
import AsyncHTTPClient
import Foundation
import GatewayAdapters
import GatewayCore
import NIOCore
import Synchronization

/// `loadgen`: sends signed Standard Webhooks deliveries and reports what the gateway made of them.
@main
struct LoadGenerator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadgen",
        abstract: "Send signed webhook deliveries to the gateway and report acks, latency and, with --wait, the outcome of every event.",
        discussion: """
            All deliveries are signed before the clock starts, so the generator spends its time sending. \
            Closed loop by default (--concurrency connections, each sending as soon as its last answer came); \
            --rate R sends R requests a second on a fixed schedule instead and measures latency from the \
            scheduled time (no coordinated omission). Exits non-zero on any unexpected status, transport \
            error, lost event (accepted but never terminal) or doubled effect.
            """)

    @Option(help: "The gateway's base URL.") var url = "http://127.0.0.1:8080"
    @Option(help: "The source to post to; a fresh one per run keeps the --wait accounting exact.") var source =
        "loadgen-\(Int(Date().timeIntervalSince1970))"
    @Option(help: "The source's secret, whsec_<base64>.") var secret: String
    @Option(help: "Deliveries to send.") var requests = 1_000
    @Option(help: "Connections sending at once (closed loop), or the cap on requests in flight (open loop).") var concurrency = 100
    @Option(help: "Share of deliveries that repeat an earlier event id (expect 200 duplicate).") var duplicates = 0.0
    @Option(help: "Share of deliveries with a wrong signature (expect 401).") var badSignatures = 0.0
    @Option(help: "Events name shipments SHP-000001 … SHP-{N}.") var shipments = 1_000
    @Option(help: "Open loop: requests per second on a fixed schedule; 0 for closed loop.") var rate = 0.0
    @Option(help: "Send a delivery answered 503 again after its Retry-After, up to N times, as producers do.") var retryUnavailable = 0
    @Flag(help: "After sending, follow the accepted events in MongoDB until every one is terminal.") var wait = false
    @Option(help: "How long --wait follows the events, in seconds.") var waitTimeout = 600.0
    @Option(help: "MongoDB URL for --wait.") var mongoURL =
        ProcessInfo.processInfo.environment["GATEWAY_MONGO_URL"] ?? "mongodb://127.0.0.1:27017/gateway?retryWrites=false"
    @Option(help: "routing-sim base URL for doubled-effect accounting with --wait.") var simulatorURL: String?
    @Option(help: "Write summary.md, samples.csv and SVG charts into this folder.") var reportDir: String?
    @Option(help: "Write the summary as JSON to this file.") var json: String?

    func validate() throws {
        guard requests > 0, concurrency > 0 else { throw ValidationError("--requests and --concurrency must be positive") }
        guard (0...1).contains(duplicates), (0...1).contains(badSignatures), duplicates + badSignatures <= 1 else {
            throw ValidationError("--duplicates and --bad-signatures are shares between 0 and 1 that add up to at most 1")
        }
        do { _ = try WebhookSecret(encoded: secret) } catch { throw ValidationError("--secret: \(error)") }
    }

    func run() async throws {
        let plan = try DeliveryPlan(
            url: url, source: source, secret: WebhookSecret(encoded: secret), requests: requests, duplicates: duplicates,
            badSignatures: badSignatures, shipments: shipments)
        print(
            "loadgen: \(requests) deliveries to \(url)/webhooks/\(source), \(rate > 0 ? "open loop at \(rate) req/s" : "closed loop"), concurrency \(concurrency)"
        )
        let cpuBefore = ProcessCPU.seconds()
        let sent = try await Sender(plan: plan, concurrency: concurrency, rate: rate, retryUnavailable: retryUnavailable).run()
        let cpuUsed = ProcessCPU.seconds() - cpuBefore
        var report = LoadReport(plan: plan, sent: sent, generatorCPUSeconds: cpuUsed)
        print(report.ackSummary)

        if wait {
            let follower = try EventFollower(mongoURL: mongoURL, source: source, simulatorURL: simulatorURL)
            report.outcome = try await follower.follow(accepted: sent.accepted, timeout: .seconds(waitTimeout))
            print(report.outcomeSummary)
        }
        if let reportDir { try report.write(to: URL(fileURLWithPath: reportDir)) }
        if let json { try report.json.write(toFile: json, atomically: true, encoding: .utf8) }
        let problems = report.problems
        if !problems.isEmpty {
            print("FAILED: " + problems.joined(separator: "; "))
            throw ExitCode(1)
        }
        print("OK: zero failures")
    }
}

/// Reads this process's CPU time (user + system) from /proc, to show the generator is not the bottleneck.
enum ProcessCPU {
    static func seconds(pid: String = "self") -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3, utime 14 and stime 15 (1-based, in clock ticks).
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
