import AsyncHTTPClient
public import Foundation
public import GatewayAdapters
public import GatewayCore
public import GatewayTestSupport
import Glibc
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The whole pipeline against real services: Redis, SecantusDB (or mongod), a routing-sim process, and the
/// relay and worker roles, in process or as `gateway` processes.
///
/// Each harness has its own database and stream, so suites cannot see each other's events.
public final class PipelineHarness: Sendable {
    /// The configuration every role of this harness uses.
    public let configuration: GatewayConfiguration
    /// The open connections.
    public let resources: GatewayResources
    /// The database's name (on the configured server).
    public let databaseName: String
    /// The routing simulator's base URL.
    public let simulatorURL: String
    private let simulator: ManagedProcess
    /// The `gateway` processes started through ``startProcess(role:workerId:)``, stopped by ``shutdown()``.
    private let processes = Mutex<[ManagedProcess]>([])
    private let logger = Logger(label: "harness")

    /// Starts routing-sim with `simulatorArguments`, opens a fresh migrated database and seeds `shipments` shipments.
    public init(
        simulatorArguments: [String], shipments: Int = 1_000, configure: (inout GatewayConfiguration) -> Void = { _ in }
    ) async throws {
        let port = FreePort.next()
        simulatorURL = "http://127.0.0.1:\(port)"
        simulator = try ManagedProcess(
            name: "routing-sim", executable: Self.binary("routing-sim"),
            arguments: ["--port", String(port)] + simulatorArguments)
        guard await Eventually.holds(within: .seconds(20), { FreePort.isListening(port) }) else {
            await simulator.stop()
            throw TestSupportError("routing-sim did not listen on port \(port)")
        }
        databaseName = TestServices.uniqueDatabaseName("pipeline")
        var configuration = TestServices.configuration()
        configuration.routingURL = simulatorURL + "/v1/routes"
        configuration.streamName = "test:\(databaseName)"
        configuration.routingTimeout = .seconds(3)
        // Long enough that a loaded store never lets a lease run out under a healthy worker; the crash
        // test shortens both to recover quickly.
        configuration.lease = .seconds(20)
        configuration.streamClaimIdle = .seconds(20)
        configuration.relayPollInterval = .milliseconds(50)
        configuration.relayRecoveryWindow = .seconds(30)
        configuration.retry = RetryPolicy(base: .milliseconds(100), factor: 2, cap: .seconds(2), jitter: 0.2, maxAttempts: 8)
        configuration.circuitFailureThreshold = 0
        configure(&configuration)
        self.configuration = configuration
        resources = try GatewayResources(configuration: configuration, databaseName: databaseName)
        try await resources.migrations(configuration).applyPending()
        _ = try await MongoShipmentSeeder(pool: resources.mongo).seed(count: shipments)
    }

    /// Runs the relay and a worker in this process while `body` runs, built as `gateway serve` builds them, then
    /// shuts them down gracefully.
    public func withRunningPipeline<T: Sendable>(relay: Bool = true, worker: Bool = true, _ body: () async throws -> T) async throws -> T {
        var services: [any Service] = []
        for (role, wanted) in [(Role.worker, worker), (Role.relay, relay)] where wanted {
            services += GatewayRuntime.buildServices(role: role, configuration: configuration, resources: resources, logger: logger)
        }
        let group = GatewayRuntime.serviceGroup(services, configuration: configuration, signals: [], logger: logger)
        let running = Task { try await group.run() }
        do {
            let result = try await body()
            await group.triggerGracefulShutdown()
            try await running.value
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
    }

    /// Starts `gateway serve --role {role}` as a process of its own on this harness's database and stream, with the
    /// harness's timing settings; `environment` adds or overrides variables (an api's port and secrets, say). Its
    /// output goes to `logFile`, else into `GATEWAY_TEST_LOG_DIR` when that is set (to look into a failed run), else
    /// nowhere.
    public func startProcess(role: String, workerId: String, environment extra: [String: String] = [:], logFile: URL? = nil) throws -> ManagedProcess
    {
        let url = configuration.mongoURL.replacingDatabase(with: databaseName)
        let environment: [String: String] = [
            "GATEWAY_MONGO_URL": url, "GATEWAY_REDIS_URL": configuration.redisURL,
            "GATEWAY_ROUTING_URL": configuration.routingURL, "GATEWAY_STREAM_NAME": configuration.streamName,
            "GATEWAY_ROUTING_TIMEOUT_MS": String(configuration.routingTimeout.milliseconds),
            "GATEWAY_LEASE_MS": String(configuration.lease.milliseconds),
            "GATEWAY_STREAM_CLAIM_IDLE_MS": String(configuration.streamClaimIdle.milliseconds),
            "GATEWAY_RETRY_BASE_MS": String(configuration.retry.base.milliseconds),
            "GATEWAY_RETRY_CAP_MS": String(configuration.retry.cap.milliseconds),
            "GATEWAY_MAX_ATTEMPTS": String(configuration.retry.maxAttempts),
            "GATEWAY_CIRCUIT_FAILURE_THRESHOLD": String(configuration.circuitFailureThreshold),
            "GATEWAY_CIRCUIT_COOLDOWN_MS": String(configuration.circuitCooldown.milliseconds),
            "GATEWAY_RELAY_POLL_MS": String(configuration.relayPollInterval.milliseconds),
            "GATEWAY_RELAY_RECOVERY_MS": String(configuration.relayRecoveryWindow.milliseconds),
            "GATEWAY_WORKER_CONCURRENCY": String(configuration.workerConcurrency),
            "GATEWAY_MIGRATIONS_DIR": configuration.migrationsDirectory,
            "GATEWAY_WORKER_ID": workerId,
            "GATEWAY_MONGO_POOL_SIZE": "8",
        ]
        let keptLog = ProcessInfo.processInfo.environment["GATEWAY_TEST_LOG_DIR"].map {
            URL(fileURLWithPath: $0).appendingPathComponent("\(databaseName)-\(role)-\(workerId)-\(UInt32.random(in: 0...UInt32.max)).log")
        }
        let process = try ManagedProcess(
            name: "gateway \(role)", executable: Self.binary("gateway"), arguments: ["serve", "--role", role],
            environment: environment.merging(extra) { $1 }, logFile: logFile ?? keptLog)
        processes.withLock { $0.append(process) }
        return process
    }

    /// Freezes routing-sim (SIGSTOP): calls to it hang until the workers' routing timeout, as to a service that is down.
    public func freezeSimulator() {
        kill(simulator.pid, SIGSTOP)
    }

    /// Lets a frozen routing-sim answer again (SIGCONT); its counters are as they were.
    public func thawSimulator() {
        kill(simulator.pid, SIGCONT)
    }

    /// Runs `gateway {arguments}` to completion, with `extra` variables, and returns its standard output.
    public func runCommand(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.binary("gateway"))
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(
            [
                "GATEWAY_MONGO_URL": configuration.mongoURL.replacingDatabase(with: databaseName), "GATEWAY_REDIS_URL": configuration.redisURL,
                "GATEWAY_STREAM_NAME": configuration.streamName, "GATEWAY_MIGRATIONS_DIR": configuration.migrationsDirectory,
            ].merging(extra) { $1 }
        ) { $1 }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestSupportError("gateway \(arguments) exited with \(process.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// Stores `count` events of `source` for shipments `SHP-000001…` (cycling through `shipments`), as ingest would.
    @discardableResult
    public func ingest(count: Int, source: String = Fixtures.source, shipments: Int = 1_000, idPrefix: String = "evt") async throws -> [EventKey] {
        let inbox = MongoInboxStore(pool: resources.mongo)
        let audit = MongoAuditQueries(pool: resources.mongo)
        let sealer = configuration.auditSealer
        let keys = (1...count).map { EventKey(source: source, eventId: "\(idPrefix)-\($0)") }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, key) in keys.enumerated() {
                group.addTask {
                    let body = Fixtures.body(shipmentId: MongoShipmentSeeder.shipmentId(index % shipments + 1))
                    let event = try NewEvent(key: key, body: Array(body.utf8), receivedAt: Date(), encoder: inbox.payloadEncoder)
                    _ = try await inbox.insert(event.sealed(by: sealer))
                }
                if index % 32 == 31 { try await group.next() }
            }
            try await group.waitForAll()
        }
        return keys
    }

    /// Waits until no event of the database is in a non-terminal state; returns whether that happened in time.
    public func waitUntilAllTerminal(within limit: Duration) async throws -> Bool {
        let audit = self.audit
        return try await Eventually.holds(within: limit, every: .milliseconds(200)) {
            let total = try await audit.count()
            let processed = try await audit.count(status: .processed)
            let dead = try await audit.count(status: .dead)
            return processed + dead == total
        }
    }

    /// The inbox of this harness.
    public var inbox: MongoInboxStore { MongoInboxStore(pool: resources.mongo) }

    /// What auditors read of this harness's store.
    public var audit: MongoAuditQueries { MongoAuditQueries(pool: resources.mongo) }

    /// routing-sim's `/stats`.
    public func simulatorStats() async throws -> SimulatorStats {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: simulatorURL + "/stats"), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 64 << 20)
        return try SimulatorStats(json: JSONValue(parsing: Array(body.readableBytesView)))
    }

    /// Stops the `gateway` processes and the simulator, drops the database and closes the connections.
    public func shutdown() async {
        for process in processes.withLock({ $0 }) { await process.stop() }
        await simulator.stop()
        try? await resources.mongo.dropDatabase()
        await resources.close()
    }

    /// The path of one of the package's executables (built by `swift build`).
    public static func binary(_ name: String) throws -> String {
        let directory =
            ProcessInfo.processInfo.environment["GATEWAY_BIN_DIR"]
            ?? TestServices.repositoryRoot.appendingPathComponent(".build/debug").path
        let path = directory + "/" + name
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestSupportError("\(path) is missing: run `swift build` first (make test does)")
        }
        return path
    }
}

/// routing-sim's counters.
public struct SimulatorStats: Sendable {
    /// Calls received.
    public let calls: Int
    /// The highest number of calls in flight at once.
    public let peakConcurrency: Int
    /// Per Idempotency-Key: calls, successes and effects.
    public let perKey: [String: (calls: Int, successes: Int, effects: Int)]

    init(json: JSONValue) throws {
        guard case .integer(let calls) = json["calls"], case .integer(let peak) = json["peakConcurrency"], case .object(let keys) = json["perKey"]
        else {
            throw TestSupportError("unexpected /stats reply")
        }
        self.calls = Int(calls)
        peakConcurrency = Int(peak)
        var perKey: [String: (calls: Int, successes: Int, effects: Int)] = [:]
        for (key, value) in keys {
            guard case .integer(let keyCalls) = value["calls"], case .integer(let successes) = value["successes"],
                case .integer(let effects) = value["effects"]
            else { continue }
            perKey[key] = (Int(keyCalls), Int(successes), Int(effects))
        }
        self.perKey = perKey
    }
}

extension String {
    /// A MongoDB URL naming another database.
    func replacingDatabase(with database: String) -> String {
        guard var components = URLComponents(string: self) else { return self }
        components.path = "/" + database
        return components.string ?? self
    }
}
