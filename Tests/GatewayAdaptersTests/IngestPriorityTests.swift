import Foundation
import GatewayIntegrationSupport
import Synchronization
import Testing

@testable import GatewayAdapters

/// Ingest's inserts go first in a process that also relays and processes: the pipeline's store jobs wait while an
/// ingest job is queued or running, and never longer than the hold.
@Suite("Ingest priority on the connection pool")
struct IngestPriorityTests {
    /// What happened, in order.
    final class Log: Sendable {
        private let entries = Mutex<[String]>([])
        func add(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
    }

    @Test func aPipelineJobStartsAtOnceWhenIngestIsIdleAndAfterItOtherwise() async {
        let priority = IngestPriority(maxHold: .seconds(30))
        let log = Log()
        priority.whenIngestAllows { log.add("pipeline 1") }
        priority.ingestJobStarted()
        priority.whenIngestAllows { log.add("pipeline 2") }
        priority.whenIngestAllows { log.add("pipeline 3") }
        log.add("ingest ended")
        priority.ingestJobEnded()
        #expect(log.all == ["pipeline 1", "ingest ended", "pipeline 2", "pipeline 3"])
    }

    @Test func whileIngestStaysBusyThePipelineWaitsNoLongerThanTheHold() async {
        let priority = IngestPriority(maxHold: .milliseconds(100))
        priority.ingestJobStarted()
        let started = ContinuousClock.now
        await priority.admit()
        #expect(ContinuousClock.now - started >= .milliseconds(100))
        priority.ingestJobEnded()
    }

    @Test func aZeroHoldTurnsPriorityOff() {
        let priority = IngestPriority(maxHold: .zero)
        let log = Log()
        priority.ingestJobStarted()
        priority.whenIngestAllows { log.add("pipeline") }
        #expect(log.all == ["pipeline"])
    }

    /// On the real pool: a store job of the relay or a worker submitted while an insert runs starts after it.
    @Test func onThePoolAPipelineJobWaitsForTheRunningInsert() async throws {
        var configuration = TestServices.configuration()
        configuration.ingestPriority = .seconds(30)
        try await TestServices.withMigratedDatabase("priority", configuration: configuration) { resources in
            let log = Log()
            let insertRunning = Mutex(false)
            resources.mongo.execute("insert events", lane: .ingest) { database in
                insertRunning.withLock { $0 = true }
                log.add("insert started")
                _ = try? database.get().command(["ping": .int32(1)], operation: "ping")
                Thread.sleep(forTimeInterval: 0.3)
                log.add("insert ended")
            }
            while !insertRunning.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
            try await resources.mongo.withDatabase("reserve events") { _ in log.add("relay job") }
            #expect(log.all == ["insert started", "insert ended", "relay job"])
        }
    }
}
