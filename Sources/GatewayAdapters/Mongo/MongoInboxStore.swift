public import GatewayCore

/// The `events` inbox on MongoDB, as ingest writes it.
public struct MongoInboxStore: InboxStore {
    private let inserts: Batcher<BSONBuffer, InsertOutcome>

    /// The largest document MongoDB stores (`maxBsonObjectSize`).
    static let maxDocumentBytes = 16 * 1_024 * 1_024

    /// Creates the store on a connection pool; `limits` group and bound the inserts (`GATEWAY_INGEST_*`).
    public init(pool: MongoConnectionPool, limits: BatchLimits = GatewayConfiguration().ingestBatches) {
        // A store takes far more rows a second in batches than in single inserts, so grouped, ingest outruns the
        // store's single-insert limit; the inserts have the pool's ingest lane to themselves.
        inserts = Batcher(
            name: "ingest", operation: "insert events", pool: pool, lane: .ingest, limits: limits, size: \.byteCount
        ) { documents, database in
            try Self.insertGroup(documents, into: database.collection(Collections.events))
        }
    }

    /// Inserts the event as `received`, grouped with concurrent inserts into one unordered `insertMany` (see
    /// ``Batcher``); the unique `{source, eventId}` index turns a second delivery into ``InsertOutcome/duplicate``
    /// without writing anything, also when the first delivery is earlier in the same batch.
    ///
    /// The document is encoded and checked here, before it joins a batch: one the store cannot take fails its own
    /// delivery (`invalidDocument`), never the deliveries it would have shared a batch with.
    public func insert(_ event: NewEvent, completion: @escaping @Sendable (Result<InsertOutcome, any Error>) -> Void) {
        let document: BSONBuffer
        do {
            document = try Self.encodedDocument(for: event)
        } catch {
            return completion(.failure(error))
        }
        guard inserts.submit(document, completion: completion) else {
            return completion(.failure(StoreError(.overloaded, operation: "insert events", message: "too many deliveries wait for the store")))
        }
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
