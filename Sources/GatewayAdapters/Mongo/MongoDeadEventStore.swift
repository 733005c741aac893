public import Foundation
public import GatewayCore

/// The inbox's dead events for operators (the ``DeadEventStore`` port): read from `events`, where `status` is the
/// record, and replayed with the ``EventLifecycle`` step; the `dead_letters` copy is marked after the event moved.
public struct MongoDeadEventStore: DeadEventStore {
    private let pool: MongoConnectionPool

    /// Creates the store on a connection pool.
    public init(pool: MongoConnectionPool) {
        self.pool = pool
    }

    /// The fields a ``DeadEvent`` is read from.
    private static let projection: BSONDocument = [
        "source": .int32(1), "eventId": .int32(1), "type": .int32(1), "shipmentId": .int32(1), "status": .int32(1),
        "failureClass": .int32(1), "lastError": .int32(1), "attempts": .int32(1), "deadAt": .int32(1), "version": .int32(1),
        "replayCount": .int32(1), "chainHead": .int32(1),
    ]

    public func deadEvents(source: String?, failureClass: FailureClass?, since: Date?, limit: Int) async throws -> [DeadEvent] {
        var filter: BSONDocument = ["status": .string(EventStatus.dead.rawValue)]
        if let source { filter.append("source", .string(source)) }
        if let failureClass { filter.append("failureClass", .string(failureClass.rawValue)) }
        if let since { filter.append("deadAt", .document(["$gte": .date(since)])) }
        var options: BSONDocument = ["projection": .document(Self.projection), "sort": .document(["deadAt": .int32(-1)])]
        if limit < Int(Int32.max) { options.append("limit", .int64(Int64(limit))) }
        return try await pool.withDatabase("find dead events") { [filter, options] database in
            try database.collection(Collections.events).find(filter, options: options).compactMap(Self.deadEvent)
        }
    }

    public func lookUp(_ key: EventKey) async throws -> EventLookup {
        let document = try await pool.withDatabase("find events") { database in
            try database.collection(Collections.events).findOne(EventDocuments.filter(key), options: ["projection": .document(Self.projection)])
        }
        guard let document, let status = document["status"]?.stringValue.flatMap(EventStatus.init(rawValue:)) else { return .absent }
        guard status == .dead, let event = Self.deadEvent(document) else { return .notDead(status) }
        return .dead(event)
    }

    public func apply(_ step: LifecycleStep, to key: EventKey) async throws -> Bool {
        let filter = EventDocuments.filter(step.condition, after: EventDocuments.filter(key).fields.map { ($0.key, $0.value) })
        let update = EventDocuments.update(step.change)
        return try await pool.withDatabase("update events") { database in
            try database.collection(Collections.events).updateOne(filter: filter, update: update) == 1
        }
    }

    public func markDeadLetterReplayed(_ key: EventKey, replay: Replay, at: Date) async throws {
        try await pool.withDatabase("update dead_letters") { database in
            _ = try database.collection(Collections.deadLetters).updateOne(
                filter: EventDocuments.filter(key),
                update: [
                    "$set": .document(["replayedAt": .date(at), "replayedBy": .string(replay.by), "replayReason": .string(replay.reason)]),
                    "$inc": .document(["replays": .int32(1)]),
                ])
        }
    }

    private static func deadEvent(_ document: BSONDocument) -> DeadEvent? {
        guard let key = EventDocuments.key(of: document) else { return nil }
        return DeadEvent(
            key: key, type: document["type"]?.stringValue, shipmentId: document["shipmentId"]?.stringValue,
            failureClass: document["failureClass"]?.stringValue.flatMap(FailureClass.init(rawValue:)), lastError: document["lastError"]?.stringValue,
            attempts: document["attempts"]?.intValue ?? 0, deadAt: document["deadAt"]?.dateValue, version: document["version"]?.intValue ?? 0,
            replayCount: document["replayCount"]?.intValue ?? 0, chainHead: EventDocuments.chainHead(of: document))
    }
}
