public import Foundation
public import GatewayCore

/// The inbox's lifecycle writes: worker claims and outcomes, relay reservations, lease sweeps and dead letters.
public struct MongoEventRepository: EventRepository, OutboxStore {
    private let pool: MongoConnectionPool
    private let claims: Batcher<ClaimRequest, ClaimedEvent?>
    private let outcomes: Batcher<OutcomeWrite, Bool>

    /// Creates the repository on a connection pool.
    public init(pool: MongoConnectionPool) {
        self.pool = pool
        // A worker claims the events of one stream read at about the same moment: grouped, they cost the store
        // three operations per batch instead of a read and a compare-and-set per event.
        claims = Batcher(maxBatch: 100, maxSenders: 2) { requests in
            try await pool.withDatabase("claim events") { database in
                try Self.claimGroup(requests, in: database.collection(Collections.events))
            }
        }
        // Their routing calls end at about the same moments too: one `update` command writes a group of outcomes.
        outcomes = Batcher(maxBatch: 100, maxSenders: 2) { writes in
            try await pool.withDatabase("record outcomes") { database in try Self.recordGroup(writes, in: database) }
        }
    }

    // MARK: Worker

    /// Claims the event, grouped with concurrent claims (see ``Batcher``).
    public func claim(_ key: EventKey, worker: String, leaseDuration: Duration, now: Date) async throws -> ClaimedEvent? {
        try await claims.submit(ClaimRequest(key: key, lease: LeaseTerms(owner: worker, duration: leaseDuration), now: now))
    }

    /// One claim waiting for its batch.
    private struct ClaimRequest: Sendable {
        let key: EventKey
        let lease: LeaseTerms
        let now: Date
    }

    /// Who claims and for how long: one update writes the lease of every event claimed on the same terms.
    private struct LeaseTerms: Hashable, Sendable {
        let owner: String
        let duration: Duration
    }

    /// Claims a batch of events; the result at each index answers the request at that index. An event whose document
    /// the store refuses to update fails its own request only.
    private static func claimGroup(_ requests: [ClaimRequest], in events: MongoCollection) throws -> [Result<ClaimedEvent?, any Error>] {
        var claimed = [Result<ClaimedEvent?, any Error>](repeating: .success(nil), count: requests.count)
        for (terms, indices) in Dictionary(grouping: requests.indices, by: { requests[$0].lease }) {
            // The stream may announce an event twice (a republication): only the first request may get it.
            var pending: [EventKey: Int] = [:]
            for index in indices where pending[requests[index].key] == nil { pending[requests[index].key] = index }
            // A lost race re-reads: the winner may have left the event claimable again (e.g. the relay queued it).
            for _ in 0..<3 where !pending.isEmpty {
                let round = try claimOnce(pending, of: requests, on: terms, in: events)
                for (index, event) in round.won { claimed[index] = .success(event) }
                for (index, error) in round.failed { claimed[index] = .failure(error) }
                pending = round.lost
            }
        }
        return claimed
    }

    /// One round of claims: a read of the events' states, one conditional update per kind of claimable state,
    /// and a read of the events this round's token now holds. Three operations whatever the number of events.
    /// - Returns: the claimed events by request index, the claimable events another writer changed in between, and the
    ///   errors of events whose documents the store refused to update, by request index.
    private static func claimOnce(
        _ pending: [EventKey: Int], of requests: [ClaimRequest], on terms: LeaseTerms, in events: MongoCollection
    ) throws -> (won: [Int: ClaimedEvent], lost: [EventKey: Int], failed: [Int: StoreError]) {
        var states: [EventKey: BSONDocument] = [:]
        for (source, keys) in Dictionary(grouping: pending.keys, by: \.source) {
            // Not `$or` over the keys: SecantusDB answers `$or` with a collection scan.
            let found = try events.find(
                ["source": .string(source), "eventId": .document(["$in": .array(keys.map { .string($0.eventId) })])],
                options: ["projection": .document(["eventId": .int32(1), "status": .int32(1), "availableAt": .int32(1), "lease.expiresAt": .int32(1)])])
            for state in found {
                if let eventId = state["eventId"]?.stringValue { states[EventKey(source: source, eventId: eventId)] = state }
            }
        }
        var keysById: [String: EventKey] = [:]
        var alwaysClaimable: [BSON] = []
        var claimableOnceDue: [BSON] = []
        for (key, index) in pending {
            guard let state = states[key], case .objectId(let id)? = state["_id"],
                let status = state["status"]?.stringValue.flatMap(EventStatus.init(rawValue:)),
                ClaimRule.isClaimable(status, availableAt: state["availableAt"]?.dateValue, leaseExpiresAt: state[path: "lease.expiresAt"]?.dateValue, now: requests[index].now)
            else { continue }
            keysById[id] = key
            if status == .received || status == .queued { alwaysClaimable.append(.objectId(id)) } else { claimableOnceDue.append(.objectId(id)) }
        }
        guard !keysById.isEmpty else { return ([:], [:], [:]) }

        let now = pending.values.map { requests[$0].now }.max() ?? Date()
        let expiresAt = now.addingTimeInterval(terms.duration.seconds)
        let token = UUID().uuidString
        let update: BSONDocument = [
            "$set": .document([
                "status": .string(EventStatus.processing.rawValue),
                "lease": .document(["owner": .string(terms.owner), "expiresAt": .date(expiresAt), "token": .string(token)]),
                // The lease sweep finds expired leases through the {status, availableAt} index.
                "availableAt": .date(expiresAt),
                "claimedAt": .date(now),
                "updatedAt": .date(now),
            ]),
            // claimsWithoutOutcome counts this claim until its outcome is written (see record): what is left are the
            // claims whose worker died or stalled, the only ones that make an event abandoned.
            "$inc": .document(["claims": .int32(1), "claimsWithoutOutcome": .int32(1), "version": .int32(1)]),
        ]
        // Each filter repeats the claim rule for its states, so an event another writer changed since the read
        // is claimed only if it is still claimable. A processing event's availableAt is its lease's expiry.
        func statuses(_ list: [EventStatus]) -> BSON { .document(["$in": .array(list.map { .string($0.rawValue) })]) }
        var failed: [Int: StoreError] = [:]
        func claim(_ ids: [BSON], matching condition: BSONDocument) throws {
            guard !ids.isEmpty else { return }
            for (index, error) in try events.updateDocuments(ids, matching: condition, update: update, acknowledgement: .redoable) {
                if case .objectId(let id) = ids[index], let key = keysById.removeValue(forKey: id), let request = pending[key] { failed[request] = error }
            }
        }
        try claim(alwaysClaimable, matching: ["status": statuses([.received, .queued])])
        try claim(claimableOnceDue, matching: ["status": statuses([.retryScheduled, .parked, .processing]), "availableAt": .document(["$lte": .date(now)])])

        var won: [Int: ClaimedEvent] = [:]
        var lost = Dictionary(uniqueKeysWithValues: keysById.values.map { ($0, pending[$0]!) })
        for document in try events.find(["_id": .document(["$in": .array(alwaysClaimable + claimableOnceDue)]), "lease.token": .string(token)]) {
            guard let fence = Fence(document), let key = keysById[fence.id], let index = lost.removeValue(forKey: key) else { continue }
            won[index] = claimedEvent(from: document, key: key, lease: Lease(owner: terms.owner, expiresAt: expiresAt, recordId: fence.id, version: fence.version, token: token))
        }
        return (won, lost, failed)
    }

    public func record(_ transition: Transition, attempt: AttemptRecord, for event: ClaimedEvent, now: Date) async throws -> Bool {
        var set: BSONDocument = ["status": .string(transition.status.rawValue), "updatedAt": .date(now)]
        switch transition {
        case .complete(let decision):
            set.append("result", Self.document(decision, decidedAt: now))
            set.append("processedAt", .date(now))
        case .retry(let at, let error, _), .park(let at, let error):
            set.append("availableAt", .date(at))
            set.append("lastError", .string(error))
        case .deadLetter(let failureClass, let error, _):
            set.append("failureClass", .string(failureClass.rawValue))
            set.append("lastError", .string(error))
            set.append("deadAt", .date(now))
            set.append("deadLetterPending", .bool(true))
        }
        var increments: BSONDocument = ["version": .int32(1), "claimsWithoutOutcome": .int32(-1)]
        if transition.spendsAttempt { increments.append("attempts", .int32(1)) }
        let update: BSONDocument = [
            "$set": .document(set),
            "$unset": .document(["lease": .string("")]),
            "$push": .document(["history": Self.document(attempt, leaseToken: event.lease.token)]),
            "$inc": .document(increments),
        ]
        let fence = Fence(id: event.lease.recordId, version: event.lease.version)
        var filter = fence.filter
        filter.append("lease.token", .string(event.lease.token))
        return try await outcomes.submit(
            OutcomeWrite(recordId: fence.id, filter: filter, update: update, leaseToken: event.lease.token, isDead: transition.status == .dead))
    }

    /// One outcome write waiting for its batch.
    private struct OutcomeWrite: Sendable {
        let recordId: String
        let filter: BSONDocument
        let update: BSONDocument
        let leaseToken: String
        let isDead: Bool
    }

    /// Writes a batch of outcomes with one `update` command; each result says whether its write landed (false:
    /// the lease was lost), or why it failed.
    private static func recordGroup(_ writes: [OutcomeWrite], in database: MongoDatabase) throws -> [Result<Bool, any Error>] {
        let events = database.collection(Collections.events)
        let result = try events.updateEach(writes.map { ($0.filter, $0.update) }, acknowledgement: .redoable)
        let landed = try result.landed {
            // A write landed if the history entry it pushed, the only one carrying its lease's token, is there.
            let ids = writes.map { BSON.objectId($0.recordId) }
            var tokens: [String: Set<String>] = [:]
            for document in try events.find(["_id": .document(["$in": .array(ids)])], options: ["projection": .document(["history": .int32(1)])]) {
                guard case .objectId(let id)? = document["_id"] else { continue }
                tokens[id] = Set((document["history"]?.arrayValue ?? []).compactMap { $0.documentValue?["leaseToken"]?.stringValue })
            }
            return { tokens[writes[$0].recordId]?.contains(writes[$0].leaseToken) == true }
        }
        return writes.indices.map { index in
            if let failure = result.failures[index] { return .failure(failure) }
            guard landed[index], writes[index].isDead else { return .success(landed[index]) }
            // Should this fail, the relay's dead-letter reconciliation writes it later (deadLetterPending).
            return Result {
                if let stored = try events.findOne(["_id": .objectId(writes[index].recordId)]) { try writeDeadLetter(for: stored, in: database) }
                return true
            }
        }
    }

    // MARK: Relay

    public func reserveDue(now: Date, limit: Int, skipping: Set<String>) async throws -> Reservation {
        let due: BSONDocument = [
            "status": .document(["$in": .array(EventStatus.publishable.map { .string($0.rawValue) })]),
            "availableAt": .document(["$lte": .date(now)]),
        ]
        return try await reserve(due, for: .publishDue, now: now, limit: limit, skipping: skipping)
    }

    public func reserveStale(queuedBefore: Date, now: Date, limit: Int, skipping: Set<String>) async throws -> Reservation {
        // A queued event's availableAt is when it was queued (see reserve); queuedAt keeps this exact for events
        // queued before migration 0003, whose availableAt was still when they became due.
        let stale: BSONDocument = [
            "status": .string(EventStatus.queued.rawValue),
            "availableAt": .document(["$lt": .date(queuedBefore)]),
            "queuedAt": .document(["$lt": .date(queuedBefore)]),
        ]
        return try await reserve(stale, for: .recoverQueued, now: now, limit: limit, skipping: skipping)
    }

    public func releaseReservation(_ keys: [EventKey]) async throws {
        _ = try await pool.withDatabase("release reservation") { database in
            try database.collection(Collections.events).updateMany(
                filter: ["$or": .array(keys.map { .document(MongoInboxStore.filter($0)) }), "status": .string(EventStatus.queued.rawValue)],
                update: ["$set": .document(["availableAt": .date(Self.epoch), "queuedAt": .date(Self.epoch)])], acknowledgement: .redoable)
        }
    }

    public func sweepExpiredLeases(now: Date, limit: Int, skipping: Set<String>) async throws -> StepResult {
        try await pool.withDatabase("sweep expired leases") { database in
            let events = database.collection(Collections.events)
            // A processing event's availableAt is its lease's expiry (see claim); the lease itself is checked too,
            // for events claimed before migration 0003, whose availableAt was still when they became due.
            let expired = try events.find(
                Self.leavingOut(skipping, from: [
                    "status": .string(EventStatus.processing.rawValue), "availableAt": .document(["$lte": .date(now)]),
                    "lease.expiresAt": .document(["$lte": .date(now)]),
                ]),
                options: ["limit": .int64(Int64(limit)), "projection": .document([
                    "source": .int32(1), "eventId": .int32(1), "version": .int32(1), "attempts": .int32(1), "lease": .int32(1), "claimedAt": .int32(1),
                ])])
            return try Self.eachAlone(expired, step: .sweepLeases) { document in
                guard let fence = Fence(document) else { return false }
                let entry = Self.document(AttemptRecord(
                    attempt: document["attempts"]?.intValue ?? 0, startedAt: document["claimedAt"]?.dateValue ?? now, finishedAt: now,
                    outcome: .retry, error: "lease_expired: \(document[path: "lease.owner"]?.stringValue ?? "a worker") did not finish", routingLatencyMs: nil))
                return try events.updateOne(filter: fence.filter, update: [
                    "$set": .document(["status": .string(EventStatus.retryScheduled.rawValue), "availableAt": .date(now), "updatedAt": .date(now)]),
                    "$unset": .document(["lease": .string("")]),
                    "$push": .document(["history": entry]),
                    "$inc": .document(["version": .int32(1)]),
                ], acknowledgement: .redoable) == 1
            }
        }
    }

    public func reconcileDeadLetters(limit: Int, skipping: Set<String>) async throws -> StepResult {
        try await pool.withDatabase("reconcile dead letters") { database in
            let pending = try database.collection(Collections.events).find(
                Self.leavingOut(skipping, from: ["deadLetterPending": .bool(true)]), options: ["limit": .int64(Int64(limit))])
            return try Self.eachAlone(pending, step: .reconcileDeadLetters) { event in
                try Self.writeDeadLetter(for: event, in: database)
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
        DocumentFailure(step: step, recordId: Fence(document)?.id ?? "", key: eventKey(of: document), error: error.description)
    }

    private static func eventKey(of document: BSONDocument) -> EventKey? {
        guard let source = document["source"]?.stringValue, let eventId = document["eventId"]?.stringValue else { return nil }
        return EventKey(source: source, eventId: eventId)
    }

    /// `filter`, leaving out the documents in `skipping` (those in their backoff after failing the step).
    private static func leavingOut(_ skipping: Set<String>, from filter: BSONDocument) -> BSONDocument {
        guard !skipping.isEmpty else { return filter }
        var filtered = filter
        filtered.append("_id", .document(["$nin": .array(skipping.map(BSON.objectId))]))
        return filtered
    }

    /// Marks up to `limit` events matching `filter` queued under a fresh token, and returns those this call won.
    private func reserve(_ filter: BSONDocument, for step: RelayStep, now: Date, limit: Int, skipping: Set<String>) async throws -> Reservation {
        let token = UUID().uuidString
        return try await pool.withDatabase("reserve events") { database in
            let events = database.collection(Collections.events)
            let candidates = try events.find(
                Self.leavingOut(skipping, from: filter),
                options: ["sort": .document(["availableAt": .int32(1)]), "limit": .int64(Int64(limit)), "projection": .document(["_id": .int32(1), "source": .int32(1), "eventId": .int32(1)])])
            // availableAt becomes when the event was queued: recovery finds lost entries through {status, availableAt}.
            let update: BSONDocument = [
                "$set": .document([
                    "status": .string(EventStatus.queued.rawValue), "availableAt": .date(now), "queuedAt": .date(now),
                    "relayToken": .string(token), "updatedAt": .date(now),
                ]),
                "$inc": .document(["version": .int32(1)]),
            ]
            var reservation = Reservation(keys: [], found: candidates.count)
            // SecantusDB checks `$in` by walking the list for each document it updates (a tenth of its time went
            // there with 500 ids per update), so reservations update at most 100 at a time.
            for batch in candidates.batches(of: 100) {
                let ids = batch.compactMap { $0["_id"] }
                for (index, error) in try events.updateDocuments(ids, matching: filter, update: update, acknowledgement: .redoable) {
                    reservation.failures.append(Self.failure(of: batch[index], in: step, error))
                }
                // Another relay may have won some of them in between; those carry its token, not ours.
                let reserved = try events.find(
                    ["_id": .document(["$in": .array(ids)]), "relayToken": .string(token)],
                    options: ["projection": .document(["source": .int32(1), "eventId": .int32(1)])])
                reservation.keys += reserved.compactMap(Self.eventKey(of:))
            }
            return reservation
        }
    }

    public func documentsInBackoff(now: Date) async throws -> [RelayStep: Set<String>] {
        let records = try await pool.withDatabase("find relay_failures") { database in
            try database.collection(Collections.relayFailures).find(
                ["retryAt": .document(["$gt": .date(now)])], options: ["projection": .document(["step": .int32(1), "recordId": .int32(1)])])
        }
        var skipping: [RelayStep: Set<String>] = [:]
        for record in records {
            guard let step = record["step"]?.stringValue.flatMap(RelayStep.init(rawValue:)), let id = record["recordId"]?.stringValue else { continue }
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

    // MARK: Documents

    /// The time a released reservation is set back to, so that the next recovery pass republishes it.
    private static let epoch = Date(timeIntervalSince1970: 0)

    /// Upserts the `dead_letters` document of a dead event, then marks it written; safe to repeat.
    private static func writeDeadLetter(for event: BSONDocument, in database: MongoDatabase) throws {
        guard let source = event["source"], let eventId = event["eventId"] else { return }
        let deadLetter: BSONDocument = [
            "source": source, "eventId": eventId,
            "eventKey": .string("\(source.stringValue ?? ""):\(eventId.stringValue ?? "")"),
            "type": event["type"] ?? .null,
            "shipmentId": event["shipmentId"] ?? .null,
            "failureClass": event["failureClass"] ?? .null,
            "reason": event["failureClass"] ?? .null,
            "lastError": event["lastError"] ?? .null,
            "attempts": event["attempts"] ?? .int32(0),
            "history": event["history"] ?? .array([]),
            "payload": event["payload"] ?? .null,
            "receivedAt": event["receivedAt"] ?? .null,
            "deadAt": event["deadAt"] ?? .date(Date()),
        ]
        try database.collection(Collections.deadLetters).updateOne(
            filter: ["source": source, "eventId": eventId], update: ["$set": .document(deadLetter)], upsert: true, acknowledgement: .redoable)
        if let id = event["_id"] {
            try database.collection(Collections.events).updateOne(filter: ["_id": id], update: ["$unset": .document(["deadLetterPending": .string("")])], acknowledgement: .redoable)
        }
    }

    /// A `history` entry; `leaseToken` is the token of the claim a worker's attempt ran under, absent from the
    /// entries of the lease sweep.
    static func document(_ record: AttemptRecord, leaseToken: String? = nil) -> BSON {
        var entry: BSONDocument = [
            "attempt": .int32(Int32(record.attempt)),
            "startedAt": .date(record.startedAt),
            "finishedAt": .date(record.finishedAt),
            "outcome": .string(record.outcome.rawValue),
            "error": record.error.map(BSON.string) ?? .null,
            "routingLatencyMs": record.routingLatencyMs.map { .int32(Int32($0)) } ?? .null,
            "nextAttemptAt": record.nextAttemptAt.map(BSON.date) ?? .null,
        ]
        if let leaseToken { entry.append("leaseToken", .string(leaseToken)) }
        return .document(entry)
    }

    static func document(_ decision: RoutingDecision, decidedAt: Date) -> BSON {
        .document(["hub": .string(decision.hub), "routeCode": .string(decision.routeCode), "eta": .date(decision.eta), "decidedAt": .date(decidedAt)])
    }

    /// The event as its claim left it.
    private static func claimedEvent(from document: BSONDocument, key: EventKey, lease: Lease) -> ClaimedEvent {
        let receivedAt = document["receivedAt"]?.dateValue ?? Date()
        return ClaimedEvent(
            key: key, type: document["type"]?.stringValue, shipmentId: document["shipmentId"]?.stringValue,
            occurredAt: document["occurredAt"]?.dateValue ?? receivedAt, receivedAt: receivedAt,
            payload: document["payload"].map(JSONValue.init) ?? .object([]), attempts: document["attempts"]?.intValue ?? 0,
            claimsWithoutOutcome: max(0, (document["claimsWithoutOutcome"]?.intValue ?? 1) - 1), lease: lease)
    }
}
