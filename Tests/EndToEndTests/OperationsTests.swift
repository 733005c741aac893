import Foundation
import GatewayAdapters
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import Testing

/// What operators alert on and probe, from real `gateway serve` processes after a run: the metrics each role exports,
/// `gateway health` against each, and log lines that are JSON, name their event and never hold a payload or secret.
@Suite("Operating the gateway: metrics, health and logs of a run", .serialized)
struct OperationsTests {
    @Test func eachRoleExportsItsMetricsAnswersItsHealthCheckAndLogsNoPayload() async throws {
        let harness = try await PipelineHarness(simulatorArguments: ["--latency-ms", "50", "--failure-rate", "0.2", "--seed", "7"])
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("ops-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: logs) }
        do {
            let (apiPort, relayPort, workerPort) = (FreePort.next(), FreePort.next(), FreePort.next())
            let json = ["GATEWAY_LOG_FORMAT": "json"]
            _ = try harness.startProcess(
                role: "api", workerId: "api",
                environment: json.merging([
                    "GATEWAY_HTTP_PORT": "\(apiPort)", "GATEWAY_WEBHOOK_SECRETS": "\(Fixtures.source)=\(Fixtures.secret.encoded)",
                ]) {
                    $1
                },
                logFile: logs.appendingPathComponent("api.log"))
            _ = try harness.startProcess(
                role: "relay", workerId: "relay", environment: json.merging(["GATEWAY_METRICS_PORT": "\(relayPort)"]) { $1 },
                logFile: logs.appendingPathComponent("relay.log"))
            // The worker logs at trace, where every handled entry is a line: none may hold the payload either.
            _ = try harness.startProcess(
                role: "worker", workerId: "worker-ops",
                environment: json.merging(["GATEWAY_METRICS_PORT": "\(workerPort)", "GATEWAY_LOG_LEVEL": "trace"]) { $1 },
                logFile: logs.appendingPathComponent("worker.log"))
            let listening = await Eventually.holds(within: .seconds(30)) {
                [apiPort, relayPort, workerPort].allSatisfy(FreePort.isListening)
            }
            #expect(listening, "a role does not listen")

            let connection = try RawConnection(port: apiPort)
            let deliveries = (1...20).map { Self.delivery(id: "ops-\($0)", source: Fixtures.source) } + [Self.delivery(id: "x", source: "made-up")]
            try connection.send(deliveries.joined())
            let (answers, _) = await connection.receive(timeout: .seconds(20)) { $0.components(separatedBy: "HTTP/1.1 ").count > deliveries.count }
            #expect(answers.components(separatedBy: "HTTP/1.1 202").count - 1 == 20)
            #expect(try await harness.waitUntilAllTerminal(within: .seconds(60)))

            let api = try await HealthCheck.ask("http://127.0.0.1:\(apiPort)/metrics", timeout: .seconds(5)).body
            #expect(api.contains(#"gateway_ingest_responses_total{source="\#(Fixtures.source)",status="202"} 20"#))
            #expect(api.contains(#"gateway_ingest_responses_total{source="unknown",status="404"} 1"#))
            #expect(api.contains("gateway_ingest_ack_seconds_bucket"))
            let relay = try await HealthCheck.ask("http://127.0.0.1:\(relayPort)/metrics", timeout: .seconds(5)).body
            for name in [MetricName.relayPublished, MetricName.relayLastPassTimestamp, MetricName.events, MetricName.oldestEventAge] {
                #expect(relay.contains(name), "the relay exports no \(name)")
            }
            let worker = try await HealthCheck.ask("http://127.0.0.1:\(workerPort)/metrics", timeout: .seconds(5)).body
            for name in [
                #"gateway_routing_calls_total{result="routed"}"#, "gateway_routing_call_seconds_bucket", #"gateway_attempt_outcomes_total{"#,
                "gateway_processing_seconds_bucket", MetricName.circuitOpen, MetricName.eventsInFlight,
            ] {
                #expect(worker.contains(name), "the worker exports no \(name)")
            }

            for (role, port) in [("api", apiPort), ("relay", relayPort), ("worker", workerPort)] {
                let variables = ["GATEWAY_HTTP_PORT": "\(apiPort)", "GATEWAY_METRICS_PORT": "\(port)"]
                let answer = try await harness.runCommand(["health", "--role", role], environment: variables)
                #expect(answer.hasPrefix("200 "), "gateway health --role \(role): \(answer)")
            }

            await harness.shutdown()
            try Self.checkLogs(in: logs)
        } catch {
            await harness.shutdown()
            throw error
        }
    }

    /// Every line is a JSON object with the fixed fields; a line naming an event names its source too; nothing of the
    /// payload or the secret appears anywhere.
    private static func checkLogs(in folder: URL) throws {
        var eventLines = 0
        for name in ["api.log", "relay.log", "worker.log"] {
            let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            let lines = text.split(separator: "\n").filter { !$0.isEmpty }
            #expect(!lines.isEmpty, "\(name) is empty")
            for line in lines {
                let value = try JSONValue(parsing: Array(line.utf8))
                #expect(["ts", "level", "logger", "msg"].allSatisfy { value[$0]?.stringValue != nil }, "\(name): \(line)")
                if value["eventId"] != nil {
                    eventLines += 1
                    #expect(value["source"] != nil, "\(name): a line about an event without its source: \(line)")
                }
                for secret in ["scans", Fixtures.secret.encoded, "whsec_"] {
                    #expect(!line.contains(secret), "\(name) logs '\(secret)': \(line)")
                }
            }
        }
        #expect(eventLines >= 20, "the worker's trace lines name each event")
    }

    private static func delivery(id: String, source: String) -> String {
        let body = Fixtures.body(shipmentId: MongoShipmentSeeder.shipmentId(Int.random(in: 1...1_000)))
        let headers = Fixtures.signedHeaders(id: id, body: body).map { "\($0.name): \($0.value)\r\n" }.joined()
        return "POST /webhooks/\(source) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\(headers)"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }
}
