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

extension MongoAuditQueries {
    /// The number of events of `source` in each state (states without events are absent).
    public func statusCounts(source: String) async throws -> [String: Int] {
        let groups = try await pool.withDatabase("count events by status") { database in
            try database.collection(Collections.events).aggregate([
                .document(["$match": .document(["source": .string(source)])]),
                .document(["$group": .document(["_id": .string("$status"), "count": .document(["$sum": .int32(1)])])]),
            ])
        }
        var counts: [String: Int] = [:]
        for group in groups {
            if let status = group["_id"]?.stringValue { counts[status] = group["count"]?.intValue ?? 0 }
        }
        return counts
    }

    /// Every event of `source` with the fields a load report needs: eventId, status, attempts, receivedAt,
    /// processedAt and deadAt.
    public func eventOutcomes(source: String) async throws -> [BSONDocument] {
        try await pool.withDatabase("find events") { database in
            try database.collection(Collections.events).find(
                ["source": .string(source)],
                options: ["projection": .document([
                    "eventId": .int32(1), "status": .int32(1), "attempts": .int32(1), "receivedAt": .int32(1),
                    "processedAt": .int32(1), "deadAt": .int32(1),
                ])])
        }
    }
}
