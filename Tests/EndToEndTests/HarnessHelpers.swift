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
    func eventDocument(_ key: EventKey) async throws -> BSONDocument? {
        try await withDatabase("find events") { database in
            try database.collection(Collections.events).findOne(["source": .string(key.source), "eventId": .string(key.eventId)])
        }
    }

    /// Puts a stored event document back as it was, as a store crash does to writes it had not journaled.
    func replaceEventDocument(with document: BSONDocument) async throws {
        _ = try await withDatabase("restore events") { database in
            let fields = BSONDocument(document.fields.filter { $0.key != "_id" }.map { ($0.key, $0.value) })
            try database.collection(Collections.events).updateOne(
                filter: ["_id": document["_id"] ?? .null], update: ["$set": .document(fields), "$unset": .document(["lease": .string("")])])
        }
    }

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
