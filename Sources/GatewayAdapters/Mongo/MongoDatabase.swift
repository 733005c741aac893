import CMongoC
package import GatewayCore

/// One popped client, valid only inside a ``MongoConnectionPool`` job: the typed operations the
/// stores use, each turning libmongoc's error into a ``StoreError`` naming the operation.
package struct MongoDatabase {
    let client: OpaquePointer
    let name: String
    /// The write concern of ``WriteAcknowledgement/redoable`` writes, nil when it is the connection's own.
    let redoableWriteConcern: BSONDocument?

    /// Runs a database command and returns its reply.
    func command(_ command: BSONDocument, operation: String) throws -> BSONDocument {
        let database = mongoc_client_get_database(client, name)!
        defer { mongoc_database_destroy(database) }
        let commandBuffer = try BSONBuffer(command)
        let reply = AlignedScratch()
        var error = bson_error_t()
        let succeeded = commandBuffer.withPointer { commandPointer in
            mongoc_database_write_command_with_opts(database, commandPointer, nil, reply.pointer, &error)
        }
        defer { bson_destroy(reply.pointer) }
        guard succeeded else { throw StoreError(mongoc: error, operation: operation) }
        return BSONDocument(decoding: reply.pointer)
    }

    /// A handle on one collection, released when the handle goes away.
    package func collection(_ collectionName: String) -> MongoCollection {
        MongoCollection(
            pointer: mongoc_client_get_collection(client, name, collectionName)!, name: collectionName, redoableWriteConcern: redoableWriteConcern)
    }
}

/// How much a write waits for before the server acknowledges it.
///
/// Only what a 202 promised must survive a crash of the store: the ingest insert. Every later write (claims,
/// relay reservations, lease sweeps, shipment updates, outcomes, dead letters) moves an event that is already
/// stored, and a crash that takes it back leaves the event in an earlier state the pipeline recovers from:
/// the step is redone, and the routing call carries the event's idempotency key. The journal is sequential,
/// so a crash takes back only the latest writes, never one write and not a later one.
enum WriteAcknowledgement {
    /// The connection's write concern, which waits for the journal by default.
    case durable
    /// The connection's write concern without waiting for the journal.
    case redoable
}

/// One collection's typed CRUD operations.
package final class MongoCollection {
    private let pointer: OpaquePointer
    let name: String
    private let redoableWriteConcern: BSONDocument?

    init(pointer: OpaquePointer, name: String, redoableWriteConcern: BSONDocument?) {
        self.pointer = pointer
        self.name = name
        self.redoableWriteConcern = redoableWriteConcern
    }

    deinit { mongoc_collection_destroy(pointer) }

    /// Inserts one document with the collection's write concern.
    package func insertOne(_ document: BSONDocument) throws {
        try insertOne(BSONBuffer(document))
    }

    /// Inserts one document already encoded, with the collection's write concern.
    package func insertOne(_ buffer: BSONBuffer) throws {
        var error = bson_error_t()
        let inserted = buffer.withPointer { mongoc_collection_insert_one(pointer, $0, nil, nil, &error) }
        guard inserted else { throw StoreError(mongoc: error, operation: "insert \(name)") }
    }

    /// Updates the first match of `filter`; returns how many documents matched (0 or 1).
    @discardableResult
    func updateOne(filter: BSONDocument, update: BSONDocument, upsert: Bool = false, acknowledgement: WriteAcknowledgement = .durable) throws -> Int {
        try runUpdate(filter: filter, update: update, upsert: upsert, many: false, acknowledgement: acknowledgement)
    }

    /// Updates every match of `filter`; returns how many matched.
    @discardableResult
    func updateMany(filter: BSONDocument, update: BSONDocument, acknowledgement: WriteAcknowledgement = .durable) throws -> Int {
        try runUpdate(filter: filter, update: update, upsert: false, many: true, acknowledgement: acknowledgement)
    }

    private func runUpdate(filter: BSONDocument, update: BSONDocument, upsert: Bool, many: Bool, acknowledgement: WriteAcknowledgement) throws -> Int
    {
        let filterBuffer = try BSONBuffer(filter)
        let updateBuffer = try BSONBuffer(update)
        var options = writeOptions(acknowledgement)
        options.append("upsert", .bool(upsert))
        let optionsBuffer = try BSONBuffer(options)
        let reply = AlignedScratch()
        var error = bson_error_t()
        let succeeded = filterBuffer.withPointer { filterPointer in
            updateBuffer.withPointer { updatePointer in
                optionsBuffer.withPointer { optionsPointer in
                    many
                        ? mongoc_collection_update_many(pointer, filterPointer, updatePointer, optionsPointer, reply.pointer, &error)
                        : mongoc_collection_update_one(pointer, filterPointer, updatePointer, optionsPointer, reply.pointer, &error)
                }
            }
        }
        defer { bson_destroy(reply.pointer) }
        guard succeeded else { throw StoreError(mongoc: error, operation: "update \(name)") }
        let result = BSONDocument(decoding: reply.pointer)
        return (result["matchedCount"]?.intValue ?? 0) + (result["upsertedCount"]?.intValue ?? 0)
    }

    /// The options of a write that waits for `acknowledgement`: the connection's own write concern needs none.
    private func writeOptions(_ acknowledgement: WriteAcknowledgement) -> BSONDocument {
        guard acknowledgement == .redoable, let redoableWriteConcern else { return [:] }
        return ["writeConcern": .document(redoableWriteConcern)]
    }

    /// Deletes the first match of `filter`; returns how many documents were deleted (0 or 1).
    @discardableResult
    func deleteOne(_ filter: BSONDocument, acknowledgement: WriteAcknowledgement = .durable) throws -> Int {
        let filterBuffer = try BSONBuffer(filter)
        let optionsBuffer = try BSONBuffer(writeOptions(acknowledgement))
        let reply = AlignedScratch()
        var error = bson_error_t()
        let succeeded = filterBuffer.withPointer { filterPointer in
            optionsBuffer.withPointer { mongoc_collection_delete_one(pointer, filterPointer, $0, reply.pointer, &error) }
        }
        defer { bson_destroy(reply.pointer) }
        guard succeeded else { throw StoreError(mongoc: error, operation: "delete \(name)") }
        return BSONDocument(decoding: reply.pointer)["deletedCount"]?.intValue ?? 0
    }

    /// Updates the documents `ids` that match `condition` with one multi-document update. The server refuses such an
    /// update as a whole when it refuses one document (a validator, say); then each document is updated alone, so
    /// that only the refused ones fail.
    /// - Returns: the error of each document that failed alone, by its index in `ids`.
    /// - Throws: ``StoreError`` when the store as a whole fails.
    func updateDocuments(_ ids: [BSON], matching condition: BSONDocument, update: BSONDocument, acknowledgement: WriteAcknowledgement) throws -> [Int:
        StoreError]
    {
        // `_id` first: the other conditions are then checked on the fetched documents only (see Fence).
        func filter(_ id: BSON) -> BSONDocument { BSONDocument([("_id", id)] + condition.fields.map { ($0.key, $0.value) }) }
        do {
            try updateMany(filter: filter(.document(["$in": .array(ids)])), update: update, acknowledgement: acknowledgement)
            return [:]
        } catch let error as StoreError where !error.isStoreWide && ids.count > 1 {
            return try updateEach(ids.map { (filter($0), update) }, acknowledgement: acknowledgement).failures
        }
    }

    /// What one unordered `update` command of single-document statements did.
    struct EachUpdateResult {
        /// Statements sent.
        let count: Int
        /// Statements that matched, in all: the server reports no more than the sum.
        let matched: Int
        /// The error of each statement that failed, by index.
        let failures: [Int: StoreError]

        /// Whether each statement landed. The reply counts matches, not which statements matched: when fewer
        /// matched than did not fail, `confirm` reads the documents back once and tells, by index, whose write
        /// is there.
        func landed(confirm: () throws -> (Int) -> Bool) rethrows -> [Bool] {
            let sent = (0..<count).map { failures[$0] == nil }
            guard matched < sent.filter({ $0 }).count else { return sent }
            let isThere = try confirm()
            return sent.indices.map { sent[$0] && isThere($0) }
        }
    }

    /// Sends one unordered `update` command of single-document statements.
    func updateEach(
        _ statements: [(filter: BSONDocument, update: BSONDocument)], acknowledgement: WriteAcknowledgement = .durable
    ) throws -> EachUpdateResult {
        let command: BSONDocument = [
            "update": .string(name),
            "updates": .array(statements.map { .document(["q": .document($0.filter), "u": .document($0.update), "multi": .bool(false)]) }),
            "ordered": .bool(false),
        ]
        let commandBuffer = try BSONBuffer(command)
        let optionsBuffer = try BSONBuffer(writeOptions(acknowledgement))
        let reply = AlignedScratch()
        var error = bson_error_t()
        let succeeded = commandBuffer.withPointer { commandPointer in
            optionsBuffer.withPointer { mongoc_collection_write_command_with_opts(pointer, commandPointer, $0, reply.pointer, &error) }
        }
        defer { bson_destroy(reply.pointer) }
        let result = BSONDocument(decoding: reply.pointer)
        let failures = try Self.writeErrors(in: result, operation: "update \(name)")
        guard succeeded || !failures.isEmpty else { throw StoreError(mongoc: error, operation: "update \(name)") }
        return EachUpdateResult(count: statements.count, matched: result["n"]?.intValue ?? 0, failures: failures)
    }

    /// Finds documents matching `filter`, with optional `sort`, `limit` and `projection` options.
    func find(_ filter: BSONDocument, options: BSONDocument = [:]) throws -> [BSONDocument] {
        var documents: [BSONDocument] = []
        try forEach(filter, options: options) { documents.append($0) }
        return documents
    }

    /// Hands each document matching `filter` to `body` as the cursor reads it, without holding them all: for reads
    /// of a whole collection. One query, rather than pages that each start again from the first match.
    func forEach(_ filter: BSONDocument, options: BSONDocument = [:], _ body: (BSONDocument) throws -> Void) throws {
        let filterBuffer = try BSONBuffer(filter)
        let optionsBuffer = try BSONBuffer(options)
        let cursor = filterBuffer.withPointer { filterPointer in
            optionsBuffer.withPointer { mongoc_collection_find_with_opts(pointer, filterPointer, $0, nil)! }
        }
        try drain(cursor, operation: "find \(name)", body)
    }

    /// The first document matching `filter`, or nil.
    func findOne(_ filter: BSONDocument, options: BSONDocument = [:]) throws -> BSONDocument? {
        var limited = options
        limited.append("limit", .int64(1))
        return try find(filter, options: limited).first
    }

    /// Runs an aggregation pipeline and returns every result.
    func aggregate(_ pipeline: [BSON]) throws -> [BSONDocument] {
        let pipelineBuffer = try BSONBuffer(["pipeline": .array(pipeline)])
        let cursor = pipelineBuffer.withPointer { mongoc_collection_aggregate(pointer, MONGOC_QUERY_NONE, $0, nil, nil)! }
        var documents: [BSONDocument] = []
        try drain(cursor, operation: "aggregate \(name)") { documents.append($0) }
        return documents
    }

    /// Counts the documents matching `filter`.
    func count(_ filter: BSONDocument) throws -> Int {
        let filterBuffer = try BSONBuffer(filter)
        var error = bson_error_t()
        let count = filterBuffer.withPointer { mongoc_collection_count_documents(pointer, $0, nil, nil, nil, &error) }
        guard count >= 0 else { throw StoreError(mongoc: error, operation: "count \(name)") }
        return Int(count)
    }

    /// Inserts documents in one unordered batch; returns the error of each document that failed, by index.
    /// - Throws: ``StoreError`` when the batch as a whole failed, or when the server could not confirm the write
    ///   concern: then no document of the batch may be taken as durably stored, whatever else the reply says.
    package func insertMany(_ documents: [BSONDocument]) throws -> [Int: StoreError] {
        try insertMany(documents.map(BSONBuffer.init))
    }

    /// Inserts documents already encoded, in one unordered batch (see ``insertMany(_:)-([BSONDocument])``).
    package func insertMany(_ buffers: [BSONBuffer]) throws -> [Int: StoreError] {
        let optionsBuffer = try BSONBuffer(["ordered": .bool(false)])
        let reply = AlignedScratch()
        var error = bson_error_t()
        let succeeded = withExtendedLifetime(buffers) {
            var pointers: [OpaquePointer?] = buffers.map { $0.withPointer { $0 } }
            return optionsBuffer.withPointer { optionsPointer in
                pointers.withUnsafeMutableBufferPointer { list in
                    list.baseAddress!.withMemoryRebound(to: OpaquePointer?.self, capacity: list.count) { base in
                        mongoc_collection_insert_many(pointer, base, list.count, optionsPointer, reply.pointer, &error)
                    }
                }
            }
        }
        defer { bson_destroy(reply.pointer) }
        let operation = "insertMany \(name)"
        let failures = try Self.writeErrors(in: BSONDocument(decoding: reply.pointer), operation: operation)
        guard succeeded || !failures.isEmpty else { throw StoreError(mongoc: error, operation: operation) }
        return failures
    }

    /// The per-statement errors of a write command's reply, by statement index.
    /// - Throws: ``StoreError`` when the reply carries a write concern error: the writes it reports as done may
    ///   still be rolled back, so none of them may be confirmed to a caller.
    private static func writeErrors(in reply: BSONDocument, operation: String) throws(StoreError) -> [Int: StoreError] {
        // The server's own reply says `writeConcernError`; libmongoc's merged reply of a bulk write `writeConcernErrors`.
        if let concernError = reply["writeConcernError"]?.documentValue ?? reply["writeConcernErrors"]?.arrayValue?.first?.documentValue {
            let code = concernError["code"]?.intValue ?? 0
            throw StoreError(
                serverCode: code, message: "the write concern was not satisfied: \(concernError["errmsg"]?.stringValue ?? "")",
                operation: operation)
        }
        var failures: [Int: StoreError] = [:]
        for case .document(let writeError) in reply["writeErrors"]?.arrayValue ?? [] {
            guard let index = writeError["index"]?.intValue else { continue }
            failures[index] = StoreError(
                serverCode: writeError["code"]?.intValue ?? 0, message: writeError["errmsg"]?.stringValue ?? "", operation: operation)
        }
        return failures
    }

    private func drain(_ cursor: OpaquePointer, operation: String, _ body: (BSONDocument) throws -> Void) throws {
        defer { mongoc_cursor_destroy(cursor) }
        var current: OpaquePointer?
        while mongoc_cursor_next(cursor, &current) {
            try body(BSONDocument(decoding: current!))
        }
        var error = bson_error_t()
        if mongoc_cursor_error(cursor, &error) { throw StoreError(mongoc: error, operation: operation) }
    }
}
