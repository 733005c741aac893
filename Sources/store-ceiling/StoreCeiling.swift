import ArgumentParser
import Foundation
import GatewayAdapters
import GatewayCore
import Synchronization

/// `store-ceiling`: how fast the store takes inbox-shaped rows, with nothing of the gateway in between.
@main
struct StoreCeiling: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-ceiling",
        abstract: "Measure the store's insert ceiling for inbox documents: single inserts or unordered batches.",
        discussion: """
            Works in a fresh database (migrated, so indexes, validator and journalled write concern are the \
            gateway's own) that it drops afterwards. Prints one JSON line: mode, rows, seconds, rows/s and \
            per-operation latency p50/p99 in ms.
            """)

    enum Mode: String, ExpressibleByArgument { case single, batch }

    @Option(help: "single: one insertOne per row; batch: unordered insertMany.") var mode: Mode = .single
    @Option(help: "Rows to insert.") var rows = 2_000
    @Option(help: "Operations in flight at once (connections).") var concurrency = 100
    @Option(help: "Rows per insertMany in batch mode.") var batchSize = 100
    @Option(help: "MongoDB URL; its database is replaced by a fresh one.") var mongoURL = ProcessInfo.processInfo.environment["GATEWAY_MONGO_URL"] ?? "mongodb://127.0.0.1:27017/gateway?retryWrites=false"
    @Option(help: "Folder of migration files.") var migrationsDir = ProcessInfo.processInfo.environment["GATEWAY_MIGRATIONS_DIR"] ?? "migrations"

    func run() async throws {
        var configuration = GatewayConfiguration()
        configuration.mongoURL = mongoURL
        // Operations in flight are `concurrency`; connections stop at 100, as SecantusDB refuses connections
        // opened by the hundred at once.
        configuration.mongoPoolSize = min(concurrency, 100)
        configuration.migrationsDirectory = migrationsDir
        let database = "ceiling_\(UUID().uuidString.prefix(8).lowercased())"
        let body = Array(#"{"type":"shipment.status_updated","shipmentId":"SHP-000123","status":"in_transit","occurredAt":"2026-11-24T10:00:00Z","data":{"hub":"AMS-1","sequence":1}}"#.utf8)
        let events = try (0..<rows).map { try NewEvent(key: EventKey(source: "ceiling", eventId: "row-\($0)"), body: body, receivedAt: Date()) }
        try await GatewayResources.using(configuration, databaseName: database) { resources in
            try await resources.migrations(configuration).applyPending()
            let probe = InboxWriteProbe(pool: resources.mongo)
            // Open the connections before the clock starts, ten more per round: each round needs as many
            // clients at once as it sends pings.
            for width in stride(from: 10, through: configuration.mongoPoolSize, by: 10) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<width { group.addTask { try await resources.mongo.ping() } }
                    try await group.waitForAll()
                }
            }
            let operations: [[NewEvent]] = mode == .single ? events.map { [$0] } : stride(from: 0, to: rows, by: batchSize).map { Array(events[$0..<min($0 + batchSize, rows)]) }
            let latencies = LatencyLog()
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, operation) in operations.enumerated() {
                    if index >= concurrency { try await group.next() }
                    group.addTask {
                        let begin = ContinuousClock.now
                        if mode == .single { try await probe.insertOne(operation[0]) } else { _ = try await probe.insertMany(operation) }
                        latencies.record(ContinuousClock.now - begin)
                    }
                }
                try await group.waitForAll()
            }
            let seconds = (ContinuousClock.now - started).seconds
            let sorted = latencies.sortedMilliseconds
            func quantile(_ q: Double) -> Double { sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * q).rounded(.up)) - 1))] }
            print(#"{"mode":"\#(mode.rawValue)","rows":\#(rows),"concurrency":\#(concurrency),"batchSize":\#(mode == .batch ? batchSize : 1),"seconds":\#(seconds),"rowsPerSecond":\#(Double(rows) / seconds),"p50Ms":\#(quantile(0.5)),"p99Ms":\#(quantile(0.99))}"#)
            try await resources.mongo.dropDatabase()
        }
    }
}

/// Operation latencies recorded by concurrent tasks.
final class LatencyLog: Sendable {
    private let values = Mutex<[Duration]>([])

    func record(_ latency: Duration) { values.withLock { $0.append(latency) } }

    var sortedMilliseconds: [Double] { values.withLock { $0.map { $0.seconds * 1_000 }.sorted() } }
}
