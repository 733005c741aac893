public import GatewayCore

/// Raw inbox writes without the gateway around them, for measuring the store's own ceiling beside every
/// ingest figure: the same driver, pool and document shape as ``MongoInboxStore``.
public struct InboxWriteProbe: Sendable {
    private let pool: MongoConnectionPool

    /// Creates the probe on a connection pool.
    public init(pool: MongoConnectionPool) {
        self.pool = pool
    }

    /// One `insertOne` of the event's inbox document.
    public func insertOne(_ event: NewEvent) async throws {
        let document = MongoInboxStore.document(for: event)
        try await pool.withDatabase("insert events") { database in
            try database.collection(Collections.events).insertOne(document)
        }
    }

    /// One unordered `insertMany`; returns how many documents failed.
    public func insertMany(_ events: [NewEvent]) async throws -> Int {
        let documents = events.map(MongoInboxStore.document(for:))
        return try await pool.withDatabase("insert events") { database in
            try database.collection(Collections.events).insertMany(documents).count
        }
    }
}
