import Foundation
@testable import GatewayAdapters
import GatewayCore
import GatewayTestSupport

extension PipelineHarness {
    /// Stores one event with the given body.
    func ingest(key: EventKey, body: String) async throws {
        _ = try await inbox.insert(try NewEvent(key: key, body: Array(body.utf8), receivedAt: Date()))
    }

    func deadLetters() async throws -> [BSONDocument] {
        try await MongoAuditQueries(pool: resources.mongo).deadLetters()
    }

    func shipmentDocument(_ shipmentId: String) async throws -> BSONDocument? {
        try await MongoAuditQueries(pool: resources.mongo).shipment(shipmentId)
    }
}

extension MongoConnectionPool {
    /// Makes every queued event look unclaimed for an hour, as if its stream entry had been lost.
    func markQueuedLongAgo() async throws {
        _ = try await withDatabase("age queued events") { database in
            try database.collection(Collections.events).updateMany(
                filter: ["status": .string(EventStatus.queued.rawValue)],
                update: ["$set": .document(["queuedAt": .date(Date().addingTimeInterval(-3_600))])])
        }
    }
}

extension PipelineHarness {
    /// Runs the relay (unless told not to) and a worker until every event is terminal or `limit` passes.
    func runPipelineUntilAllTerminal(within limit: Duration, relay: Bool = true) async throws -> Bool {
        try await withRunningPipeline(relay: relay) {
            try await waitUntilAllTerminal(within: limit)
        }
    }
}
