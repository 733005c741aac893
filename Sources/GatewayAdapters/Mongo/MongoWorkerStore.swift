public import Foundation
public import GatewayCore

/// The inbox as workers write it: grouped claims and lease-fenced outcomes, each the ``EventLifecycle`` step
/// translated into a MongoDB write.
public struct MongoWorkerStore: EventRepository {
    private let claims: Batcher<ClaimRequest, ClaimedEvent?>
    private let outcomes: Batcher<OutcomeWrite, Bool>
    private let sealer: AuditSealer?

    /// Creates the store on a connection pool.
    /// - Parameter sealer: seals the entry each outcome appends; nil when history is not sealed.
    public init(pool: MongoConnectionPool, sealer: AuditSealer? = nil) {
        self.sealer = sealer
        // A worker claims the events of one stream read at about the same moment: grouped, they cost the store
        // three operations per batch instead of a read and a compare-and-set per event.
        claims = Batcher(name: "claims", operation: "claim events", pool: pool, limits: Self.groups) { requests, database in
            try Self.claimGroup(requests, in: database.collection(Collections.events))
        }
        // Their routing calls end at about the same moments too: one `update` command writes a group of outcomes.
        outcomes = Batcher(name: "outcomes", operation: "record outcomes", pool: pool, limits: Self.groups) { writes, database in
            try Self.recordGroup(writes, in: database)
        }
    }

    /// A worker's events reach each step together, a stream read's worth at a time.
    static let groups = BatchLimits(maxBatch: 100, maxInFlight: 2)

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

    /// One round of claims: a read of the events' states, one conditional update per branch of the claim rule
    /// (``EventLifecycle/claimable(at:)``), and a read of the events this round's token now holds. A few operations
    /// whatever the number of events.
    /// - Returns: the claimed events by request index, the claimable events another writer changed in between, and the
    ///   errors of events whose documents the store refused to update, by request index.
    private static func claimOnce(
        _ pending: [EventKey: Int], of requests: [ClaimRequest], on terms: LeaseTerms, in events: MongoCollection
    ) throws -> (won: [Int: ClaimedEvent], lost: [EventKey: Int], failed: [Int: StoreError]) {
        var states: [EventKey: (id: String, state: EventState)] = [:]
        for (source, keys) in Dictionary(grouping: pending.keys, by: \.source) {
            // Not `$or` over the keys: SecantusDB answers `$or` with a collection scan.
            let found = try events.find(
                ["source": .string(source), "eventId": .document(["$in": .array(keys.map { .string($0.eventId) })])],
                options: ["projection": .document(EventDocuments.stateFields)])
            for document in found {
                guard let key = EventDocuments.key(of: document), let fence = Fence(document), let state = EventDocuments.state(of: document) else {
                    continue
                }
                states[key] = (fence.id, state)
            }
        }
        guard let now = pending.values.map({ requests[$0].now }).max() else { return ([:], [:], [:]) }
        let lease = LeaseGrant(owner: terms.owner, expiresAt: now.addingTimeInterval(terms.duration.seconds), token: UUID().uuidString)
        let step = EventLifecycle.claim(lease, now: now)
        let update = EventDocuments.update(step.change)

        var keysById: [String: EventKey] = [:]
        var failed: [Int: StoreError] = [:]
        for branch in EventDocuments.branches(of: step.condition) {
            // Each request is judged at its own time; the update repeats the branch, so an event another writer changed
            // since the read is claimed only if it is still claimable.
            let ids = pending.compactMap { key, index -> (String, EventKey)? in
                guard let (id, state) = states[key], keysById[id] == nil, branch.holds(for: state),
                    EventLifecycle.claimable(at: requests[index].now).holds(for: state)
                else { return nil }
                return (id, key)
            }
            guard !ids.isEmpty else { continue }
            for (id, key) in ids { keysById[id] = key }
            let failures = try events.updateDocuments(
                ids.map { .objectId($0.0) }, matching: EventDocuments.filter(branch), update: update, acknowledgement: .redoable)
            for (index, error) in failures {
                if let key = keysById.removeValue(forKey: ids[index].0), let request = pending[key] { failed[request] = error }
            }
        }
        guard !keysById.isEmpty else { return ([:], [:], failed) }

        var won: [Int: ClaimedEvent] = [:]
        var lost = Dictionary(uniqueKeysWithValues: keysById.values.map { ($0, pending[$0]!) })
        let claimedIds = keysById.keys.map { BSON.objectId($0) }
        for document in try events.find(["_id": .document(["$in": .array(claimedIds)]), "lease.token": .string(lease.token)]) {
            guard let fence = Fence(document), let key = keysById[fence.id], let index = lost.removeValue(forKey: key) else { continue }
            let held = Lease(owner: lease.owner, expiresAt: lease.expiresAt, recordId: fence.id, version: fence.version, token: lease.token)
            won[index] = EventDocuments.claimedEvent(document, key: key, lease: held)
        }
        return (won, lost, failed)
    }

    public func record(_ transition: Transition, attempt: AttemptRecord, for event: ClaimedEvent, now: Date) async throws -> Bool {
        let step = EventLifecycle.record(transition, attempt: attempt, under: event.lease, now: now).sealed(by: sealer, after: event.chainHead)
        return try await outcomes.submit(
            OutcomeWrite(
                recordId: event.lease.recordId, filter: EventDocuments.filter(step.condition, after: [("_id", .objectId(event.lease.recordId))]),
                update: EventDocuments.update(step.change), leaseToken: event.lease.token, isDead: transition.status == .dead))
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
                if let stored = try events.findOne(["_id": .objectId(writes[index].recordId)]) { try DeadLetters.write(for: stored, in: database) }
                return true
            }
        }
    }
}
