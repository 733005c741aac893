/// Read-only queries for auditors and operators: dead letters and shipment state, as stored.
public struct MongoAuditQueries: Sendable {
    private let pool: MongoConnectionPool

    /// Creates the queries on a connection pool.
    public init(pool: MongoConnectionPool) {
        self.pool = pool
    }

    /// Dead letters, newest first.
    public func deadLetters(limit: Int = 100) async throws -> [BSONDocument] {
        try await pool.withDatabase("find dead_letters") { database in
            try database.collection(Collections.deadLetters).find([:], options: ["sort": .document(["deadAt": .int32(-1)]), "limit": .int64(Int64(limit))])
        }
    }

    /// A shipment's stored document.
    public func shipment(_ shipmentId: String) async throws -> BSONDocument? {
        try await pool.withDatabase("find shipments") { database in
            try database.collection(Collections.shipments).findOne(["shipmentId": .string(shipmentId)])
        }
    }
}
