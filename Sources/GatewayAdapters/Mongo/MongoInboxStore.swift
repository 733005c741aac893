public import GatewayCore

/// The `events` inbox on MongoDB, as ingest writes it.
public struct MongoInboxStore: InboxStore {
    private let inserts: Batcher<BSONBuffer, InsertOutcome>

    /// The largest document MongoDB stores (`maxBsonObjectSize`).
    static let maxDocumentBytes = 16 * 1_024 * 1_024

    /// Creates the store on a connection pool.
    public init(pool: MongoConnectionPool) {
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

    /// Payloads as BSON, written while they are read.
    public static let payloads: any PayloadEncoder = BSONPayloadEncoder()

    public var payloadEncoder: any PayloadEncoder { Self.payloads }

    /// The event's inbox document, encoded.
    /// - Throws: ``StoreError`` `invalidDocument` when it is larger than MongoDB stores.
    package static func encodedDocument(for event: NewEvent) throws(StoreError) -> BSONBuffer {
        let buffer = try BSONBuffer(bytes: EventDocuments.inboxBytes(event))
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
}
