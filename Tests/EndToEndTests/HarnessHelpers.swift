import Foundation
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import Testing

@testable import GatewayAdapters

extension PipelineHarness {
    /// Stores one event with the given body.
    func ingest(key: EventKey, body: String) async throws {
        _ = try await inbox.insert(try NewEvent(key: key, body: Array(body.utf8), receivedAt: Date(), encoder: inbox.payloadEncoder))
    }

    func deadLetters() async throws -> [BSONDocument] {
        try await MongoAuditQueries(pool: resources.mongo).deadLetters()
    }

    func shipmentDocument(_ shipmentId: String) async throws -> BSONDocument? {
        try await MongoAuditQueries(pool: resources.mongo).shipment(shipmentId)
    }
}

extension MongoConnectionPool {
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
        let longAgo = BSON.date(Date().addingTimeInterval(-3_600))
        _ = try await withDatabase("age queued events") { database in
            try database.collection(Collections.events).updateMany(
                filter: ["status": .string(EventStatus.queued.rawValue)], update: ["$set": .document(["availableAt": longAgo, "queuedAt": longAgo])])
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

extension PipelineHarness {
    /// Expects routing-sim to have counted exactly one routing effect for each key.
    func expectOneEffectEach(_ keys: [EventKey], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let stats = try await simulatorStats()
        for key in keys {
            #expect(stats.perKey[key.description]?.effects == 1, "\(key) has no single effect", sourceLocation: sourceLocation)
        }
    }

    /// Stores 200 events, runs the relay and a worker in process, applies `disruption` once 20 are processed,
    /// and expects every event to end processed with one routing effect.
    func expectEveryEventProcessedOnce(
        within limit: Duration, sourceLocation: SourceLocation = #_sourceLocation, despite disruption: () async throws -> Void
    ) async throws {
        let keys = try await ingest(count: 200)
        let allTerminal = try await withRunningPipeline {
            let started = try await Eventually.holds(within: .seconds(60)) { try await audit.count(status: .processed) >= 20 }
            #expect(started, "20 events were not processed before the disruption", sourceLocation: sourceLocation)
            try await disruption()
            return try await waitUntilAllTerminal(within: limit)
        }
        #expect(allTerminal, sourceLocation: sourceLocation)
        #expect(try await audit.count(status: .processed) == 200, sourceLocation: sourceLocation)
        try await expectOneEffectEach(keys, sourceLocation: sourceLocation)
    }
}
