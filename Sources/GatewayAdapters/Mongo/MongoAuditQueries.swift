public import GatewayCore

/// Read-only queries for auditors and operators: events, dead letters and shipment state, as stored.
public struct MongoAuditQueries: Sendable {
    private let pool: MongoConnectionPool

    /// Creates the queries on a connection pool.
    public init(pool: MongoConnectionPool) {
        self.pool = pool
    }

    /// The stored document of an event, as auditors see it, or nil.
    public func event(_ key: EventKey) async throws -> BSONDocument? {
        try await pool.withDatabase("find events") { database in
            try database.collection(Collections.events).findOne(EventDocuments.filter(key))
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

    /// Dead letters, newest first.
    public func deadLetters(limit: Int = 100) async throws -> [BSONDocument] {
        try await pool.withDatabase("find dead_letters") { database in
            try database.collection(Collections.deadLetters).find(
                [:], options: ["sort": .document(["deadAt": .int32(-1)]), "limit": .int64(Int64(limit))])
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
                options: [
                    "projection": .document([
                        "eventId": .int32(1), "status": .int32(1), "attempts": .int32(1), "receivedAt": .int32(1),
                        "processedAt": .int32(1), "deadAt": .int32(1),
                    ])
                ])
        }
    }
}
