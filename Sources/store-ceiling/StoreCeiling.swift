import ArgumentParser
import Foundation
import GatewayAdapters
import GatewayCore
import Synchronization

/// `store-ceiling`: how fast the store takes the gateway's own operations, with nothing else in between.
@main
struct StoreCeiling: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-ceiling",
        abstract: "Measure the store's ceiling: inbox inserts (single or batched), or every store operation of the pipeline.",
        discussion: """
            Works in a fresh database (migrated, so indexes, validator and write concerns are the gateway's own) \
            that it drops afterwards. Prints one JSON line: mode, rows, seconds, rows/s and per-operation \
            latency p50/p99 in ms.

            pipeline mode stores `rows` events and takes each through the store operations of the pipeline \
            (the relay's reservation, the worker's claim, shipment read and update, and the outcome write) \
            with a routing service that answers at once: the events/s the store allows the pipeline, whatever \
            the routing latency.

            audit mode stores `rows` processed events whose histories (an ingest record, a retry, the processing)             are sealed with a random audit key, then times `gateway audit verify`'s reading and recomputing of             every chain: rows/s is events verified per second.
            """)

    enum Mode: String, ExpressibleByArgument { case single, batch, pipeline, audit }

    @Option(
        help:
            "single: one insertOne per row; batch: unordered insertMany; pipeline: every store operation of an event; audit: verify sealed histories."
    ) var mode: Mode = .single
    @Option(help: "Rows (events) to insert.") var rows = 2_000
    @Option(help: "Operations in flight at once (connections); in pipeline mode, events being processed at once.") var concurrency = 100
    @Option(help: "Rows per insertMany in batch and pipeline mode.") var batchSize = 100
    @Option(help: "MongoDB URL; its database is replaced by a fresh one.") var mongoURL =
        ProcessInfo.processInfo.environment["GATEWAY_MONGO_URL"] ?? "mongodb://127.0.0.1:27017/gateway?retryWrites=false"
    @Option(help: "Folder of migration files.") var migrationsDir = ProcessInfo.processInfo.environment["GATEWAY_MIGRATIONS_DIR"] ?? "migrations"

    func validate() throws {
        guard rows >= 1, concurrency >= 1, batchSize >= 1 else { throw ValidationError("--rows, --concurrency and --batch-size must be at least 1") }
    }

    func run() async throws {
        var configuration = GatewayConfiguration()
        configuration.mongoURL = mongoURL
        // Operations in flight are `concurrency`; connections stop at 100, as SecantusDB refuses connections
        // opened by the hundred at once.
        configuration.mongoPoolSize = min(concurrency, 100)
        configuration.migrationsDirectory = migrationsDir
        // Dropping a database of 100,000 events takes SecantusDB longer than the gateway's default answer deadline.
        configuration.mongoSocketTimeout = .seconds(600)
        let database = "ceiling_\(UUID().uuidString.prefix(8).lowercased())"
        let shipments = 1_000
        let events = try (0..<rows).map { row in
            let body =
                #"{"type":"shipment.status_updated","shipmentId":"\#(MongoShipmentSeeder.shipmentId(row % shipments + 1))","status":"in_transit","occurredAt":"2026-11-24T10:00:00Z","data":{"hub":"AMS-1","sequence":\#(row)}}"#
            return try NewEvent(
                key: EventKey(source: "ceiling", eventId: "row-\(row)"), body: Array(body.utf8), receivedAt: Date(), encoder: MongoInboxStore.payloads
            )
        }
        try await GatewayResources.using(configuration, databaseName: database) { resources in
            try await resources.migrations(configuration).applyPending()
            if mode == .pipeline { _ = try await MongoShipmentSeeder(pool: resources.mongo).seed(count: shipments) }
            try await openConnections(resources.mongo, count: configuration.mongoPoolSize)
            let latencies = LatencyLog()
            let started = ContinuousClock.now
            switch mode {
            case .single, .batch:
                let probe = InboxWriteProbe(pool: resources.mongo)
                let batches = mode == .single ? events.map { [$0] } : events.batches(of: batchSize)
                try await forEachConcurrently(batches, concurrency: concurrency) { batch in
                    let begin = ContinuousClock.now
                    if mode == .single { try await probe.insertOne(batch[0]) } else { _ = try await probe.insertMany(batch) }
                    latencies.record(ContinuousClock.now - begin)
                }
            case .pipeline:
                try await runPipelineOperations(events, pool: resources.mongo, latencies: latencies)
            case .audit:
                break
            }
            var seconds = (ContinuousClock.now - started).seconds
            if mode == .audit { seconds = try await verifySealedHistories(events, resources: resources, latencies: latencies) }
            let sorted = latencies.sortedMilliseconds
            func quantile(_ q: Double) -> Double { sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * q).rounded(.up)) - 1))] }
            print(
                #"{"mode":"\#(mode.rawValue)","rows":\#(rows),"concurrency":\#(concurrency),"batchSize":\#(mode == .single ? 1 : batchSize),"seconds":\#(seconds),"rowsPerSecond":\#(Double(rows) / seconds),"p50Ms":\#(quantile(0.5)),"p99Ms":\#(quantile(0.99))}"#
            )
            try await resources.mongo.dropDatabase()
        }
    }

    /// Stores the events as processed, each with a retry and its processing in a history sealed as the stores seal
    /// it, then verifies every chain as `gateway audit verify` does; the latency recorded is the whole verification.
    /// - Returns: the seconds the verification took.
    private func verifySealedHistories(_ events: [NewEvent], resources: GatewayResources, latencies: LatencyLog) async throws -> Double {
        let sealer = AuditSealer(
            keys: AuditKeyRing(signing: try AuditKey(base64: Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString())))
        let documents = try events.map { plain in
            let event = plain.sealed(by: sealer)
            guard let ingest = event.ingestSeal else { throw ValidationError("the event was not sealed") }
            let started = event.receivedAt
            let retry = HistoryEntry(
                record: AttemptRecord(
                    attempt: 1, startedAt: started, finishedAt: started + 2, outcome: .retry, error: "routing service answered 503",
                    routingLatencyMs: 2_000, nextAttemptAt: started + 3), leaseToken: UUID().uuidString)
            let processed = HistoryEntry(
                record: AttemptRecord(
                    attempt: 2, startedAt: started + 3, finishedAt: started + 5, outcome: .processed, error: nil, routingLatencyMs: 2_000),
                leaseToken: UUID().uuidString)
            let first = sealer.seal(retry, after: ingest.head)
            let second = sealer.seal(processed, after: first.head)
            var document = try EventDocuments.inbox(event)
            document.fields.removeAll { ["status", "history"].contains($0.key) }
            document.append("status", .string(EventStatus.processed.rawValue))
            document.append(
                "history", .array([EventDocuments.history(retry, sealed: first.seal), EventDocuments.history(processed, sealed: second.seal)]))
            document.append("chainHead", EventDocuments.chainHead(second.head))
            return document
        }
        try await forEachConcurrently(documents.batches(of: batchSize), concurrency: 2) { batch in
            _ = try await resources.mongo.withDatabase("insert events") { try $0.collection("events").insertMany(batch) }
        }
        let started = ContinuousClock.now
        let report = try await HistoryAudit(resources: resources, keys: sealer.keys).verify()
        let elapsed = ContinuousClock.now - started
        guard report.verified == events.count else { throw ValidationError("\(report.verified) of \(events.count) events verified") }
        latencies.record(elapsed)
        return elapsed.seconds
    }

    /// Opens the pool's connections before the clock starts, ten more per round: each round needs as many
    /// clients at once as it sends pings.
    private func openConnections(_ pool: MongoConnectionPool, count: Int) async throws {
        for width in stride(from: 10, through: count, by: 10) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<width { group.addTask { try await pool.ping() } }
                try await group.waitForAll()
            }
        }
    }

    /// Stores the events in batches, as the api's grouped inserts do, then reserves them as the relay does and
    /// processes each as a worker does; the latencies recorded are those of processing one event.
    private func runPipelineOperations(_ events: [NewEvent], pool: MongoConnectionPool, latencies: LatencyLog) async throws {
        let probe = InboxWriteProbe(pool: pool)
        try await forEachConcurrently(events.batches(of: batchSize), concurrency: 2) { _ = try await probe.insertMany($0) }
        let outbox = MongoOutboxStore(pool: pool)
        let process = ProcessEvent(
            events: MongoWorkerStore(pool: pool), shipments: MongoShipmentStore(pool: pool), routing: ImmediateRouting(), policy: ProcessingPolicy(),
            breaker: CircuitBreaker(failureThreshold: Int.max, coolDown: .seconds(1)), rateLimit: TokenBucket(ratePerSecond: 0),
            routingCalls: ConcurrencyLimit(concurrency), workerId: "store-ceiling", leaseDuration: .seconds(60))
        var processed = 0
        while processed < events.count {
            let reserved = try await outbox.reserveDue(now: Date(), limit: 500, skipping: []).keys
            guard !reserved.isEmpty else { throw ValidationError("\(events.count - processed) events were never due") }
            try await forEachConcurrently(reserved, concurrency: concurrency) { key in
                let begin = ContinuousClock.now
                guard try await process(key) == .moved(to: .processed) else { throw ValidationError("\(key) was not processed") }
                latencies.record(ContinuousClock.now - begin)
            }
            processed += reserved.count
        }
    }
}

/// A routing service that decides at once, so that only the store's operations take time.
private struct ImmediateRouting: RoutingService {
    func route(_ request: RoutingRequest) async -> Result<RoutingDecision, RoutingFailure> {
        .success(RoutingDecision(hub: "AMS-1", routeCode: "R-1", eta: Date()))
    }
}

/// Runs `body` for every item, at most `concurrency` at once.
private func forEachConcurrently<Item: Sendable>(_ items: [Item], concurrency: Int, _ body: @escaping @Sendable (Item) async throws -> Void)
    async throws
{
    try await withThrowingTaskGroup(of: Void.self) { group in
        for (index, item) in items.enumerated() {
            if index >= concurrency { try await group.next() }
            group.addTask { try await body(item) }
        }
        try await group.waitForAll()
    }
}

/// Operation latencies recorded by concurrent tasks.
final class LatencyLog: Sendable {
    private let values = Mutex<[Duration]>([])

    func record(_ latency: Duration) { values.withLock { $0.append(latency) } }

    var sortedMilliseconds: [Double] { values.withLock { $0.map { $0.seconds * 1_000 }.sorted() } }
}
