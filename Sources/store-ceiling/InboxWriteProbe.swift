import GatewayAdapters
import GatewayCore

/// Raw inbox writes without the gateway around them, for measuring the store's own ceiling beside every
/// ingest figure: the same driver, pool and document bytes as ``MongoInboxStore``, through the adapter's
/// package-level API.
struct InboxWriteProbe: Sendable {
    let pool: MongoConnectionPool

    /// One `insertOne` of the event's inbox document.
    func insertOne(_ event: NewEvent) async throws {
        let document = try MongoInboxStore.encodedDocument(for: event)
        try await pool.withDatabase("insert events") { database in
            try database.collection(Collections.events).insertOne(document)
        }
    }

    /// One unordered `insertMany`; returns how many documents failed.
    func insertMany(_ events: [NewEvent]) async throws -> Int {
        let documents = try events.map(MongoInboxStore.encodedDocument(for:))
        return try await pool.withDatabase("insert events") { database in
            try database.collection(Collections.events).insertMany(documents).count
        }
    }
}
