public import GatewayCore

/// The names of the gateway's collections, in one place for the stores and the migrations.
enum Collections {
    static let events = "events"
    static let deadLetters = "dead_letters"
    static let shipments = "shipments"
    static let schemaMigrations = "schema_migrations"
    static let relayFailures = "relay_failures"
    static let relayState = "relay_state"
}

/// The `events` inbox on MongoDB.
public struct MongoInboxStore: InboxStore {
    private let pool: MongoConnectionPool
    private let inserts: Batcher<BSONBuffer, InsertOutcome>

    /// The largest document MongoDB stores (`maxBsonObjectSize`).
    static let maxDocumentBytes = 16 * 1_024 * 1_024

    /// Creates the store on a connection pool.
    public init(pool: MongoConnectionPool) {
        self.pool = pool
        // SecantusDB takes ~270 journalled single inserts/s but thousands of rows/s in batches, so grouped, ingest
        // outruns the store's single-insert limit.
        inserts = Batcher(maxBatch: 128, maxSenders: 2) { documents in
            try await pool.withDatabase("insert events") { database in
                try Self.insertGroup(documents, into: database.collection(Collections.events))
            }
        }
    }

    /// Inserts the event as `received`, grouped with concurrent inserts into one unordered `insertMany` (see
    /// ``Batcher``); the unique `{source, eventId}` index turns a second delivery into ``InsertOutcome/duplicate``
    /// without writing anything, also when the first delivery is earlier in the same batch.
    ///
    /// The document is encoded and checked here, before it joins a batch: one the store cannot take fails its own
    /// delivery (`invalidDocument`), never the deliveries it would have shared a batch with.
    public func insert(_ event: NewEvent) async throws -> InsertOutcome {
        try await inserts.submit(Self.encodedDocument(for: event))
    }

    /// The event's inbox document, encoded.
    /// - Throws: ``StoreError`` `invalidDocument` when it is larger than MongoDB stores.
    static func encodedDocument(for event: NewEvent) throws(StoreError) -> BSONBuffer {
        let buffer = try BSONBuffer(document(for: event))
        guard buffer.byteCount <= maxDocumentBytes else {
            throw StoreError(
                .invalidDocument, operation: "insert events",
                message: "the stored event would take \(buffer.byteCount) bytes; MongoDB stores documents of up to 16 MiB")
        }
        return buffer
    }

    /// Inserts a batch with one unordered `insertMany`; the result at each index answers the document at that index.
    ///
    /// A write concern error fails the whole batch (``MongoCollection/insertMany(_:)-([BSONBuffer])``): no delivery is
    /// acknowledged for a write the store did not confirm. A batch refused as a whole for one document's sake is
    /// sent again one document at a time, so that only the offender fails.
    static func insertGroup(_ documents: [BSONBuffer], into events: MongoCollection) throws -> [Result<InsertOutcome, any Error>] {
        let failures: [Int: StoreError]
        do {
            failures = try events.insertMany(documents)
        } catch let error as StoreError where error.code == .invalidDocument && documents.count > 1 {
            return documents.map { document in Result { try insertGroup([document], into: events)[0].get() } }
        }
        return documents.indices.map { index in
            switch failures[index] {
            case nil: .success(.stored)
            case let failure? where failure.code == .duplicateKey: .success(.duplicate)
            case let failure?: .failure(failure)
            }
        }
    }

    /// The stored document of an event, as auditors see it, or nil.
    public func document(_ key: EventKey) async throws -> BSONDocument? {
        try await pool.withDatabase("find events") { database in
            try database.collection(Collections.events).findOne(Self.filter(key))
        }
    }

    /// The number of stored events, optionally only those of one source or in one state.
    public func count(source: String? = nil, status: EventStatus? = nil) async throws -> Int {
        var filter: BSONDocument = [:]
        if let source { filter.append("source", .string(source)) }
        if let status { filter.append("status", .string(status.rawValue)) }
        return try await pool.withDatabase("count events") { [filter] database in
            try database.collection(Collections.events).count(filter)
        }
    }

    static func filter(_ key: EventKey) -> BSONDocument {
        ["source": .string(key.source), "eventId": .string(key.eventId)]
    }

    /// The inbox document of a new event; field names are the audit contract documented in docs/.
    static func document(for event: NewEvent) -> BSONDocument {
        var document: BSONDocument = [
            "source": .string(event.key.source),
            "eventId": .string(event.key.eventId),
            "type": event.type.map(BSON.string) ?? .null,
        ]
        if let shipmentId = event.shipmentId { document.append("shipmentId", .string(shipmentId)) }
        if let occurredAt = event.occurredAt { document.append("occurredAt", .date(occurredAt)) }
        document.append("payload", BSON(event.payload))
        document.append("status", .string(EventStatus.received.rawValue))
        document.append("attempts", .int32(0))
        document.append("version", .int32(0))
        document.append("receivedAt", .date(event.receivedAt))
        document.append("availableAt", .date(event.receivedAt))
        document.append("updatedAt", .date(event.receivedAt))
        document.append("history", .array([]))
        return document
    }
}
