public import Foundation
public import GatewayCore

/// The inbox as the relay uses it (the ``OutboxStore`` port): reservations, the lease sweep, dead-letter
/// reconciliation, the documents set aside after failing a step (`relay_failures`) and a recorded loss of the stream
/// (`relay_state`). Every event write is an ``EventLifecycle`` step translated into a MongoDB write.
public struct MongoOutboxStore: OutboxStore {
    private let pool: MongoConnectionPool
    private let sealer: AuditSealer?

    /// Creates the store on a connection pool.
    /// - Parameter sealer: seals the entries the lease sweep appends; nil when history is not sealed.
    public init(pool: MongoConnectionPool, sealer: AuditSealer? = nil) {
        self.pool = pool
        self.sealer = sealer
    }

    public func reserveDue(now: Date, limit: Int, skipping: Set<String>) async throws -> Reservation {
        try await reserve(EventLifecycle.due(at: now), for: .publishDue, now: now, limit: limit, skipping: skipping)
    }

    public func reserveStale(queuedBefore: Date, now: Date, limit: Int, skipping: Set<String>) async throws -> Reservation {
        try await reserve(EventLifecycle.lost(queuedBefore: queuedBefore), for: .recoverQueued, now: now, limit: limit, skipping: skipping)
    }

    public func releaseReservation(_ keys: [EventKey], now: Date) async throws {
        let step = EventLifecycle.release(now: now)
        _ = try await pool.withDatabase("release reservation") { database in
            try database.collection(Collections.events).updateMany(
                filter: EventDocuments.filter(step.condition, after: [("$or", .array(keys.map { .document(EventDocuments.filter($0)) }))]),
                update: EventDocuments.update(step.change), acknowledgement: .redoable)
        }
    }

    public func sweepExpiredLeases(now: Date, limit: Int, skipping: Set<String>) async throws -> StepResult {
        try await pool.withDatabase("sweep expired leases") { [sealer] database in
            let events = database.collection(Collections.events)
            // The lease itself is checked beside availableAt (the lease's expiry since migration 0003, set by the
            // claim) for events claimed before it, whose availableAt was still when they became due.
            var fields = EventDocuments.stateFields
            fields.append("attempts", .int32(1))
            fields.append("claimedAt", .int32(1))
            fields.append("chainHead", .int32(1))
            let expired = try events.find(
                Self.leavingOut(skipping, from: EventDocuments.filter(EventLifecycle.leaseExpired(at: now))),
                options: ["limit": .int64(Int64(limit)), "projection": .document(fields)])
            return try Self.eachAlone(expired, step: .sweepLeases) { document in
                guard let fence = Fence(document), let state = EventDocuments.state(of: document) else { return false }
                let step = EventLifecycle.sweep(
                    state, attempts: document["attempts"]?.intValue ?? 0, claimedAt: document["claimedAt"]?.dateValue, now: now
                ).sealed(by: sealer, after: EventDocuments.chainHead(of: document))
                return try events.updateOne(
                    filter: EventDocuments.filter(step.condition, after: [("_id", .objectId(fence.id))]), update: EventDocuments.update(step.change),
                    acknowledgement: .redoable) == 1
            }
        }
    }

    public func reconcileDeadLetters(limit: Int, skipping: Set<String>) async throws -> StepResult {
        try await pool.withDatabase("reconcile dead letters") { database in
            let pending = try database.collection(Collections.events).find(
                Self.leavingOut(skipping, from: ["deadLetterPending": .bool(true)]), options: ["limit": .int64(Int64(limit))])
            return try Self.eachAlone(pending, step: .reconcileDeadLetters) { event in
                try DeadLetters.write(for: event, in: database)
                return true
            }
        }
    }

    /// Runs `body` on each document, alone: a document's own failure is reported and the others go on; only a
    /// failure of the store as a whole ends the step.
    /// - Returns: how many documents `body` handled (returned true for), and the failures.
    private static func eachAlone(_ documents: [BSONDocument], step: RelayStep, _ body: (BSONDocument) throws -> Bool) throws -> StepResult {
        var result = StepResult(handled: 0)
        for document in documents {
            do {
                if try body(document) { result.handled += 1 }
            } catch let error as StoreError where !error.isStoreWide {
                result.failures.append(failure(of: document, in: step, error))
            }
        }
        return result
    }

    private static func failure(of document: BSONDocument, in step: RelayStep, _ error: StoreError) -> DocumentFailure {
        DocumentFailure(step: step, recordId: Fence(document)?.id ?? "", key: EventDocuments.key(of: document), error: error.description)
    }

    /// `filter`, leaving out the documents in `skipping` (those in their backoff after failing the step).
    private static func leavingOut(_ skipping: Set<String>, from filter: BSONDocument) -> BSONDocument {
        guard !skipping.isEmpty else { return filter }
        var filtered = filter
        filtered.append("_id", .document(["$nin": .array(skipping.map(BSON.objectId))]))
        return filtered
    }

    /// Marks up to `limit` events that `selection` admits queued under a fresh token, and returns those this call won.
    private func reserve(_ selection: EventCondition, for step: RelayStep, now: Date, limit: Int, skipping: Set<String>) async throws -> Reservation {
        let reservation = EventLifecycle.reserve(selection, token: UUID().uuidString, now: now)
        let condition = EventDocuments.filter(reservation.condition)
        let update = EventDocuments.update(reservation.change)
        let token = reservation.change.relayToken ?? ""
        return try await pool.withDatabase("reserve events") { database in
            let events = database.collection(Collections.events)
            let candidates = try events.find(
                Self.leavingOut(skipping, from: condition),
                options: [
                    "sort": .document(["availableAt": .int32(1)]), "limit": .int64(Int64(limit)),
                    "projection": .document(["_id": .int32(1), "source": .int32(1), "eventId": .int32(1)]),
                ])
            var result = Reservation(keys: [], found: candidates.count)
            // SecantusDB checks `$in` by walking the list for each document it updates (a tenth of its time went
            // there with 500 ids per update), so reservations update at most 100 at a time.
            for batch in candidates.batches(of: 100) {
                let ids = batch.compactMap { $0["_id"] }
                for (index, error) in try events.updateDocuments(ids, matching: condition, update: update, acknowledgement: .redoable) {
                    result.failures.append(Self.failure(of: batch[index], in: step, error))
                }
                // Another relay may have won some of them in between; those carry its token, not ours.
                let reserved = try events.find(
                    ["_id": .document(["$in": .array(ids)]), "relayToken": .string(token)],
                    options: ["projection": .document(["source": .int32(1), "eventId": .int32(1)])])
                result.keys += reserved.compactMap(EventDocuments.key(of:))
            }
            return result
        }
    }

    public func documentsInBackoff(now: Date) async throws -> [RelayStep: Set<String>] {
        let records = try await pool.withDatabase("find relay_failures") { database in
            try database.collection(Collections.relayFailures).find(
                ["retryAt": .document(["$gt": .date(now)])], options: ["projection": .document(["step": .int32(1), "recordId": .int32(1)])])
        }
        var skipping: [RelayStep: Set<String>] = [:]
        for record in records {
            guard let step = record["step"]?.stringValue.flatMap(RelayStep.init(rawValue:)), let id = record["recordId"]?.stringValue else {
                continue
            }
            skipping[step, default: []].insert(id)
        }
        return skipping
    }

    public func recordFailures(_ failures: [DocumentFailure], now: Date, retryAt: @escaping @Sendable (Int) -> Date) async throws {
        // What is recorded is read and written by one relay at a time per document: the document is left out of its
        // step while in backoff, so a lost count under a race between relays only shortens one backoff.
        let ids = failures.map { BSON.string("\($0.step.rawValue):\($0.recordId)") }
        _ = try await pool.withDatabase("record relay_failures") { database in
            let records = database.collection(Collections.relayFailures)
            var counts: [String: Int] = [:]
            for record in try records.find(["_id": .document(["$in": .array(ids)])], options: ["projection": .document(["failures": .int32(1)])]) {
                if let id = record["_id"]?.stringValue { counts[id] = record["failures"]?.intValue ?? 0 }
            }
            for (id, failure) in zip(ids, failures) {
                let failuresSoFar = (counts[id.stringValue ?? ""] ?? 0) + 1
                let due = retryAt(failuresSoFar)
                try records.updateOne(
                    filter: ["_id": id],
                    update: [
                        "$set": .document([
                            "step": .string(failure.step.rawValue), "recordId": .string(failure.recordId),
                            "source": failure.key.map { .string($0.source) } ?? .null, "eventId": failure.key.map { .string($0.eventId) } ?? .null,
                            "error": .string(failure.error), "failures": .int64(Int64(failuresSoFar)), "lastFailedAt": .date(now),
                            "retryAt": .date(due), "expiresAt": .date(due.addingTimeInterval(3_600)),
                        ]),
                        "$setOnInsert": .document(["firstFailedAt": .date(now)]),
                    ],
                    upsert: true, acknowledgement: .redoable)
            }
        }
    }

    public func unrecoveredStreamLoss(stream: String) async throws -> Date? {
        try await pool.withDatabase("find relay_state") { database in
            try database.collection(Collections.relayState).findOne(["_id": .string(Self.streamLossId(stream))])?["lostAt"]?.dateValue
        }
    }

    public func recordStreamLoss(stream: String, at: Date) async throws {
        _ = try await pool.withDatabase("record stream loss") { database in
            // Durable: this record is all that says the stream's contents must be published again.
            try database.collection(Collections.relayState).updateOne(
                filter: ["_id": .string(Self.streamLossId(stream))], update: ["$max": .document(["lostAt": .date(at)])], upsert: true)
        }
    }

    public func clearStreamLoss(stream: String, recordedAt: Date) async throws {
        _ = try await pool.withDatabase("clear stream loss") { database in
            try database.collection(Collections.relayState).deleteOne(["_id": .string(Self.streamLossId(stream)), "lostAt": .date(recordedAt)])
        }
    }

    private static func streamLossId(_ stream: String) -> String { "stream_loss:\(stream)" }
}
