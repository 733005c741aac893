import AsyncHTTPClient
import Foundation
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import GatewayAdapters

/// A whole gateway of real processes on servers of its own, for breaking one part at a time: SecantusDB and Redis
/// of its own (so they can be killed, frozen and restarted), routing-sim, and `gateway serve` processes for the
/// api, relay and worker roles.
final class FaultLab: Sendable {
    /// The scenario's name, for its report.
    let scenario: String
    let harness: PipelineHarness
    private let servers: Mutex<(store: SecantusServer, redis: RedisServer)>
    let apiPort: Int
    /// When the lab was built, for the report's times.
    let startedAt = ContinuousClock.now

    /// Starts the servers and routing-sim; no gateway process runs yet.
    init(_ scenario: String, simulator: [String] = ["--latency-ms", "100"], configure: (inout GatewayConfiguration) -> Void = { _ in }) async throws {
        self.scenario = scenario
        let store = try await SecantusServer()
        let redis = try await RedisServer()
        do {
            harness = try await PipelineHarness(simulatorArguments: simulator) { configuration in
                configuration.mongoURL = store.url()
                configuration.redisURL = redis.url
                configuration.workerConcurrency = 64
                configuration.lease = .seconds(8)
                configuration.streamClaimIdle = .seconds(8)
                configuration.relayRecoveryWindow = .seconds(5)
                configuration.retry = RetryPolicy(base: .milliseconds(200), factor: 2, cap: .seconds(2), jitter: 0.2, maxAttempts: 5)
                configure(&configuration)
            }
        } catch {
            await store.destroy()
            await redis.stop()
            throw error
        }
        servers = Mutex((store, redis))
        apiPort = FreePort.next()
    }

    var store: SecantusServer { servers.withLock { $0.store } }

    /// Starts `gateway serve --role api` on ``apiPort`` and waits until it answers.
    @discardableResult
    func startAPI(environment: [String: String] = [:]) async throws -> ManagedProcess {
        let api = try harness.startProcess(
            role: "api", workerId: "api",
            environment: ["GATEWAY_HTTP_PORT": String(apiPort), "GATEWAY_WEBHOOK_SECRETS": "\(Fixtures.source)=\(Fixtures.secret.encoded)"].merging(
                environment
            ) { $1 })
        guard await Eventually.holds(within: .seconds(30), { FreePort.isListening(self.apiPort) }) else {
            throw TestSupportError("the api did not listen on port \(apiPort)")
        }
        return api
    }

    func startRelay(_ name: String = "relay") throws -> ManagedProcess {
        try harness.startProcess(role: "relay", workerId: name)
    }

    func startWorker(_ name: String) throws -> ManagedProcess {
        try harness.startProcess(role: "worker", workerId: name)
    }

    /// Kills SecantusDB (SIGKILL) and starts it again on the same port and data.
    func restartStore(after pause: Duration) async throws {
        let store = self.store
        await store.crash()
        try await Task.sleep(for: pause)
        let restarted = try await store.restarted()
        servers.withLock { $0.store = restarted }
    }

    /// Kills SecantusDB (SIGKILL) and leaves it down, until ``startStoreAgain()``.
    func stopStore() async {
        await store.crash()
    }

    /// Starts a store ``stopStore()`` killed, on the same port and data.
    func startStoreAgain() async throws {
        let restarted = try await store.restarted()
        servers.withLock { $0.store = restarted }
    }

    /// Kills Redis and starts an empty one on the same port: the stream, the group and its pending entries are gone.
    func restartRedisEmpty() async throws {
        let redis = servers.withLock { $0.redis }
        let restarted = try await redis.restartedEmpty()
        servers.withLock { $0.redis = restarted }
    }

    /// Stops every process and server and deletes the data.
    func shutdown() async {
        await harness.shutdown()
        let (store, redis) = servers.withLock { $0 }
        store.thaw()
        await store.destroy()
        await redis.stop()
    }

    /// Runs `body` on a new lab and shuts it down afterwards, also when `body` throws.
    static func run(
        _ scenario: String, simulator: [String] = ["--latency-ms", "100"], configure: (inout GatewayConfiguration) -> Void = { _ in },
        _ body: (FaultLab) async throws -> Void
    ) async throws {
        let lab = try await FaultLab(scenario, simulator: simulator, configure: configure)
        do {
            try await body(lab)
        } catch {
            await lab.shutdown()
            throw error
        }
        await lab.shutdown()
    }
}

/// What one delivery came to, after its producer's retries.
struct DeliveryOutcome: Sendable {
    let eventId: String
    /// The last status answered (0: no answer at all).
    var status = 0
    /// Every status answered, in order.
    var statuses: [Int] = []
    /// The slowest 503 answer.
    var slowest503: Duration = .zero
    /// Whether a 503 came without `Retry-After`.
    var retryAfterMissing = false

    /// Whether the gateway said the event is stored: 202, or 200 `duplicate` for a retry of an event stored before.
    var acknowledged: Bool { status == 202 || status == 200 }
}

/// A producer of signed deliveries that retries each one, as Standard Webhooks senders do, until the gateway
/// stores it (202, or 200 for an earlier attempt that was stored after all) or `giveUpAfter` passes.
struct Producer: Sendable {
    let port: Int
    let concurrency: Int
    let giveUpAfter: Duration

    init(port: Int, concurrency: Int = 50, giveUpAfter: Duration = .seconds(120)) {
        self.port = port
        self.concurrency = concurrency
        self.giveUpAfter = giveUpAfter
    }

    /// Sends `count` deliveries `{prefix}-1` … with up to ``concurrency`` at once.
    func send(_ count: Int, prefix: String) async throws -> [DeliveryOutcome] {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let outcomes = await withTaskGroup(of: DeliveryOutcome.self) { group in
            var outcomes: [DeliveryOutcome] = []
            for index in 1...count {
                if index > concurrency, let done = await group.next() { outcomes.append(done) }
                group.addTask { await deliver(id: "\(prefix)-\(index)", shipment: index % 1_000 + 1, with: client) }
            }
            for await done in group { outcomes.append(done) }
            return outcomes
        }
        try await client.shutdown()
        return outcomes
    }

    private func deliver(id: String, shipment: Int, with client: HTTPClient) async -> DeliveryOutcome {
        var outcome = DeliveryOutcome(eventId: id)
        let body = Fixtures.body(shipmentId: MongoShipmentSeeder.shipmentId(shipment))
        let deadline = ContinuousClock.now + giveUpAfter
        while ContinuousClock.now < deadline {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/webhooks/\(Fixtures.source)")
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            // Signed anew for each attempt, as a producer does, so that a long outage never makes the timestamp stale.
            for header in Fixtures.signedHeaders(id: id, body: body) { request.headers.add(name: header.name, value: header.value) }
            request.body = .bytes(ByteBuffer(string: body))
            let started = ContinuousClock.now
            var retryAfter = Duration.milliseconds(500)
            do {
                let response = try await client.execute(request, timeout: .seconds(10))
                _ = try await response.body.collect(upTo: 1 << 16)
                outcome.status = Int(response.status.code)
                outcome.statuses.append(outcome.status)
                if outcome.acknowledged { return outcome }
                guard outcome.status == 503 else { return outcome }
                outcome.slowest503 = max(outcome.slowest503, ContinuousClock.now - started)
                if let seconds = response.headers.first(name: "retry-after").flatMap(Int.init) {
                    retryAfter = .seconds(seconds)
                } else {
                    outcome.retryAfterMissing = true
                }
            } catch {
                outcome.status = 0
                outcome.statuses.append(0)
            }
            try? await Task.sleep(for: retryAfter)
        }
        return outcome
    }
}

/// What a scenario found, written to `GATEWAY_FAULT_REPORT` (one JSON object per line) when it is set.
struct FaultResult: Codable {
    var scenario: String
    var deliveries: Int
    var acknowledged = 0
    var processed = 0
    var dead = 0
    /// Acknowledged events missing from the store, or not terminal at the deadline.
    var lost = 0
    /// Keys with more than one routing effect.
    var doubled = 0
    /// From the moment the fault ended (or the run, when it has no end) to every event terminal.
    var recoverySeconds = 0.0
    var notes: [String] = []
}

/// What a run of deliveries through a fault came to.
struct FaultRun: Sendable {
    var outcomes: [DeliveryOutcome]
    /// When the fault ended: the restart, the thaw.
    var faultEndedAt: ContinuousClock.Instant
    /// What the fault reported about itself, for the results.
    var notes: [String]
}

extension FaultLab {
    /// Starts the api, a relay and one worker.
    func startGateway() async throws {
        try await startAPI()
        _ = try startRelay()
        _ = try startWorker("worker-1")
    }

    /// Sends `count` deliveries through the gateway and, once `ready` holds, breaks it with `fault`, which returns
    /// notes for the results.
    func send(_ count: Int, breakingItOnce ready: @escaping @Sendable () async throws -> Bool, with fault: () async throws -> [String]) async throws
        -> FaultRun
    {
        async let sent = Producer(port: apiPort).send(count, prefix: "evt")
        let reached = try await Eventually.holds(within: .seconds(60), ready)
        #expect(reached, "the run never reached the point of the fault")
        let notes = try await fault()
        let faultEndedAt = ContinuousClock.now
        return FaultRun(outcomes: try await sent, faultEndedAt: faultEndedAt, notes: notes)
    }

    /// ``verify(_:faultEndedAt:expectDead:ignoring:notes:sourceLocation:)`` for a run through a fault.
    @discardableResult
    func verify(_ run: FaultRun, notes: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) async throws -> FaultResult {
        try await verify(run.outcomes, faultEndedAt: run.faultEndedAt, notes: run.notes + notes, sourceLocation: sourceLocation)
    }

    /// Waits until every acknowledged delivery is terminal, then checks the promises: every one is stored and ends
    /// processed or dead for a stated reason, none has a second routing effect, and none was lost.
    /// - Parameter ignoring: event ids a scenario planted that are not deliveries (poison documents).
    @discardableResult
    func verify(
        _ outcomes: [DeliveryOutcome], faultEndedAt: ContinuousClock.Instant? = nil, expectDead: Bool = false,
        ignoring: [String] = [], notes: [String] = [], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> FaultResult {
        var result = FaultResult(scenario: scenario, deliveries: outcomes.count, notes: notes)
        let acknowledged = outcomes.filter(\.acknowledged)
        result.acknowledged = acknowledged.count
        #expect(
            acknowledged.count == outcomes.count,
            "\(outcomes.count - acknowledged.count) deliveries were never acknowledged: \(outcomes.filter { !$0.acknowledged }.prefix(3).map(\.statuses))",
            sourceLocation: sourceLocation)
        let allTerminal = try await waitUntilTerminal(ignoring: ignoring, within: .seconds(180))
        let recoveredAt = ContinuousClock.now
        #expect(allTerminal, "events were still moving after 180 s", sourceLocation: sourceLocation)

        let documents = try await MongoAuditQueries(pool: harness.resources.mongo).eventOutcomes(source: Fixtures.source)
        let stored = Dictionary(documents.compactMap { document in document["eventId"]?.stringValue.map { ($0, document) } }) { first, _ in first }
        let stats = try await harness.simulatorStats()
        for outcome in acknowledged {
            let status = stored[outcome.eventId]?["status"]?.stringValue
            switch status {
            case "processed":
                result.processed += 1
            case "dead":
                result.dead += 1
            default:
                result.lost += 1
            }
        }
        result.doubled = stats.perKey.values.filter { $0.effects > 1 }.count
        let deadWithoutReason = try await deadEventsWithoutAReason()
        result.recoverySeconds = ((recoveredAt - (faultEndedAt ?? startedAt)).seconds * 10).rounded() / 10

        #expect(result.lost == 0, "\(result.lost) acknowledged events were lost or never finished", sourceLocation: sourceLocation)
        #expect(result.doubled == 0, "\(result.doubled) events had a second routing effect", sourceLocation: sourceLocation)
        #expect(deadWithoutReason.isEmpty, "dead without a failure class: \(deadWithoutReason.prefix(5))", sourceLocation: sourceLocation)
        if !expectDead { #expect(result.dead == 0, "\(result.dead) events were dead-lettered", sourceLocation: sourceLocation) }
        for processed in acknowledged where stored[processed.eventId]?["status"]?.stringValue == "processed" {
            let effects = stats.perKey["\(Fixtures.source):\(processed.eventId)"]?.effects ?? 0
            #expect(effects == 1, "\(processed.eventId) is processed with \(effects) routing effects", sourceLocation: sourceLocation)
        }
        try report(result)
        return result
    }

    /// Waits until no event but those `ignoring` is in a non-terminal state; returns whether that happened in time.
    func waitUntilTerminal(ignoring: [String] = [], within limit: Duration) async throws -> Bool {
        let moving: BSONDocument = [
            "status": .document(["$nin": .array([.string(EventStatus.processed.rawValue), .string(EventStatus.dead.rawValue)])]),
            "eventId": .document(["$nin": .array(ignoring.map(BSON.string))]),
        ]
        return try await Eventually.holds(within: limit, every: .milliseconds(250)) {
            (try? await harness.resources.mongo.withDatabase("count moving events") { try $0.collection(Collections.events).count(moving) }) == 0
        }
    }

    private func deadEventsWithoutAReason() async throws -> [String] {
        try await harness.resources.mongo.withDatabase("find dead events") { database in
            try database.collection(Collections.events).find(["status": .string("dead"), "failureClass": .null]).compactMap {
                $0["eventId"]?.stringValue
            }
        }
    }

    private func report(_ result: FaultResult) throws {
        guard let path = ProcessInfo.processInfo.environment["GATEWAY_FAULT_REPORT"] else { return }
        var line = try JSONEncoder().encode(result)
        line.append(UInt8(ascii: "\n"))
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
    }
}
