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
            let json = ["GATEWAY_LOG_FORMAT": "json", "GATEWAY_AUDIT_KEY": Self.auditKey]
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
            // The three processes sealed what each wrote: the ingest records, the attempts, the outcomes.
            let audit = try JSONValue(
                parsing: Array(try await harness.runCommand(["audit", "verify", "--json"], environment: ["GATEWAY_AUDIT_KEY": Self.auditKey]).utf8))
            #expect(audit["checked"] == .integer(20) && audit["verified"] == .integer(20), "\(audit)")

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

    /// The auditors' and operators' commands read a finished run as the README says: one shipment's history with every
    /// attempt, lists filtered by shipment, the stats, and `check` holding (it exits 0).
    @Test func theReadingCommandsFollowAShipmentAcrossItsEvents() async throws {
        let harness = try await PipelineHarness(simulatorArguments: ["--latency-ms", "20", "--fail-first", "1"], shipments: 1)
        do {
            let keys = try await harness.ingest(count: 3, shipments: 1)
            #expect(try await harness.runPipelineUntilAllTerminal(within: .seconds(60)))
            let shipment = MongoShipmentSeeder.shipmentId(1)

            let history = try JSONValue(parsing: Array(try await harness.runCommand(["shipment", "history", shipment, "--json"]).utf8))
            guard case .array(let events) = history else { throw TestSupportError("shipment history --json is not an array") }
            #expect(Set(events.compactMap { $0["eventId"]?.stringValue }) == Set(keys.map(\.eventId)))
            #expect(events.allSatisfy { $0["status"] == .string("processed") })
            let table = try await harness.runCommand(["shipment", "history", shipment])
            #expect(table.contains("retry (attempt 1)") && table.contains("processed (attempt 2)"), "\(table)")

            let listed = try JSONValue(parsing: Array(try await harness.runCommand(["events", "list", "--shipment", shipment, "--json"]).utf8))
            guard case .array(let page) = listed else { throw TestSupportError("events list --json is not an array") }
            #expect(page.count == 3 && page.allSatisfy { $0["payload"] == nil })
            let stats = try JSONValue(parsing: Array(try await harness.runCommand(["stats", "--json"]).utf8))
            #expect(stats["byStatus"]?["processed"] == .integer(3))
            #expect(try JSONValue(parsing: Array(try await harness.runCommand(["dlq", "list", "--json"]).utf8)) == .array([]))
            _ = try await harness.runCommand(["check"])
            // Accepted while no audit key was configured, which each role says as it starts: verifying them fails unless
            // told they are unsealed.
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("unsealed-\(UUID().uuidString.prefix(8)).log")
            defer { try? FileManager.default.removeItem(at: log) }
            _ = try harness.startProcess(role: "relay", workerId: "relay-unsealed", logFile: log)
            let warned = await Eventually.holds(within: .seconds(20)) {
                (try? String(contentsOf: log, encoding: .utf8))?.contains("history is not being sealed") == true
            }
            #expect(warned, "no start-up warning that history is not sealed")
            let key = ["GATEWAY_AUDIT_KEY": Self.auditKey]
            await #expect(throws: TestSupportError.self) { try await harness.runCommand(["audit", "verify"], environment: key) }
            let unsealed = try await harness.runCommand(["audit", "verify", "--allow-unsealed"], environment: key)
            #expect(unsealed.contains("checked 3 events") && unsealed.contains("3 unsealed"), "\(unsealed)")
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
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
                for secret in ["scans", Fixtures.secret.encoded, "whsec_", auditKey] {
                    #expect(!line.contains(secret), "\(name) logs '\(secret)': \(line)")
                }
            }
        }
        #expect(eventLines >= 20, "the worker's trace lines name each event")
    }

    static let auditKey = Data((0..<32).map { UInt8($0 * 7 % 251) }).base64EncodedString()

    private static func delivery(id: String, source: String) -> String {
        let body = Fixtures.body(shipmentId: MongoShipmentSeeder.shipmentId(Int.random(in: 1...1_000)))
        let headers = Fixtures.signedHeaders(id: id, body: body).map { "\($0.name): \($0.value)\r\n" }.joined()
        return "POST /webhooks/\(source) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\(headers)"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }
}
