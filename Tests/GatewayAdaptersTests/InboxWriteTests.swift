import Foundation
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import PropertyBased
import Testing

@testable import GatewayAdapters

/// What the inbox promises about one delivery in a grouped insert: it is acknowledged only for a confirmed write,
/// and it succeeds or fails on its own account, never on a batch-mate's.
@Suite("Grouped inbox inserts against the real store")
struct InboxWriteTests {
    /// Inserts `documents` as one group, as the inbox's batcher would, through `pool`.
    private func insertGroup(_ documents: [BSONBuffer], through pool: MongoConnectionPool) async throws -> [Result<InsertOutcome, StoreError>] {
        try await pool.withDatabase("insert events") { database in
            try MongoInboxStore.insertGroup(documents, into: database.collection(Collections.events)).map { result in
                result.mapError { $0 as? StoreError ?? StoreError(.failed, operation: "insert events", message: "\($0)") }
            }
        }
    }

    private func event(_ eventId: String, body: String = Fixtures.body()) throws -> NewEvent {
        try NewEvent(
            key: EventKey(source: Fixtures.source, eventId: eventId), body: Array(body.utf8), receivedAt: Date(), encoder: MongoInboxStore.payloads)
    }

    /// A write concern the store cannot satisfy (three data-bearing nodes of a one-node replica set) is reported
    /// beside the documents it did insert: none of them may be answered as stored, the duplicate included.
    @Test func aWriteConcernErrorFailsEveryDocumentOfItsBatch() async throws {
        var configuration = TestServices.configuration()
        try await TestServices.withMigratedDatabase("concern", configuration: configuration) { resources in
            _ = try await MongoInboxStore(pool: resources.mongo).insert(try event("stored-before"))
            configuration.mongoURL += "&w=3&wtimeoutMS=200"
            let unconfirmed = try MongoConnectionPool(url: configuration.mongoURL, databaseName: resources.mongo.databaseName, size: 1)
            let documents = try [event("stored-before"), event("new")].map(MongoInboxStore.encodedDocument(for:))
            // The batch throws: the batcher answers every delivery of it with the error (503 at the edge).
            let error = await #expect(throws: StoreError.self) { try await insertGroup(documents, through: unconfirmed) }
            await unconfirmed.shutdown()
            #expect(error?.code != .duplicateKey && error?.code != .invalidDocument)
            #expect(error?.message.contains("write concern") == true)
        }
    }

    /// The driver refuses a whole batch for one document it cannot send (an empty key, which ingest refuses before
    /// this point): the batch is sent again one document at a time, and only the offender fails.
    @Test func aDocumentRefusedByTheDriverFailsAloneAndItsBatchMatesAreStored() async throws {
        try await TestServices.withMigratedDatabase("offender") { resources in
            var offending = try EventDocuments.inbox(event("offender"))
            offending.fields = offending.fields.map { $0.key == "payload" ? (key: "payload", value: .document(["": .int32(1)])) : $0 }
            let documents = try [
                MongoInboxStore.encodedDocument(for: event("first")), BSONBuffer(offending), MongoInboxStore.encodedDocument(for: event("last")),
            ]
            let results = try await insertGroup(documents, through: resources.mongo)
            #expect(try results[0].get() == .stored)
            #expect(try results[2].get() == .stored)
            guard case .failure(let error) = results[1] else {
                Issue.record("the offender was answered \(results[1])")
                return
            }
            #expect(error.code == .invalidDocument)
            #expect(try await MongoAuditQueries(pool: resources.mongo).count() == 2)
        }
    }

    @Test func aDocumentLargerThanMongoDBStoresIsRefusedBeforeItJoinsABatch() throws {
        let body = #"{"shipmentId":"SHP-000001","blob":""# + String(repeating: "x", count: MongoInboxStore.maxDocumentBytes) + #""}"#
        let error = try #require(throws: StoreError.self) { try MongoInboxStore.encodedDocument(for: event("huge", body: body)) }
        #expect(error.code == .invalidDocument)
        #expect(error.message.contains("16 MiB"))
    }

    /// The BSON written straight from the JSON text, in one pass, is the document libbson reads back as the tree of the
    /// same text would be: for every generated object, whatever its keys, strings and numbers.
    @Test func payloadsWrittenStraightToBSONReadBackAsTheirJSON() async {
        await propertyCheck(count: 300, input: HostileJSON.object) { value in
            let text = Array(value.serialized.utf8)
            let encoded = try text.withUnsafeBufferPointer { try MongoInboxStore.payloads.encode($0) }
            let decoded = try BSONBuffer(bytes: encoded.payload.bytes).withPointer { BSONDocument(decoding: $0) }
            #expect(BSON.document(decoded) == BSON(value))
        }
    }

    @Test func theInboxDocumentHoldsTheEventsFieldsAndItsPayload() throws {
        let stored = try EventDocuments.inbox(event("fields"))
        #expect(
            stored.fields.map(\.key) == [
                "source", "eventId", "type", "shipmentId", "occurredAt", "payload", "status", "attempts", "version", "receivedAt", "availableAt",
                "updatedAt", "history",
            ])
        #expect(stored["shipmentId"] == .string("SHP-000123"))
        #expect(stored[path: "payload.data.scans"] == .array([.int32(1), .double(2.5), .bool(true), .null]))
        #expect(stored["history"] == .array([]))
        #expect(stored["receivedAt"] == stored["availableAt"])
    }
}
