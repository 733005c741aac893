public import Foundation
public import GatewayCore
import Synchronization

/// The `events` inbox, dead letters and the relay's bookkeeping in memory: the twin of the MongoDB stores for the
/// core's tests. Every write is the ``EventLifecycle`` step a real store translates, applied to a dictionary, so
/// the twin cannot drift from the rules.
///
/// It can be told to refuse a document (as a validator would) and to be unavailable, so that the use cases'
/// failure paths are tested without a server.
public final class InMemoryEventStore: InboxStore, EventRepository, OutboxStore, DeadEventStore, Sendable {
    /// An event as the store holds it.
    public struct StoredEvent: Sendable, Equatable {
        public let event: NewEvent
        public let recordId: String
        public var state: EventState
        public var attempts = 0
        public var claims = 0
        public var claimsWithoutOutcome = 0
        public var history: [HistoryEntry] = []
        /// The seal of each history entry, nil for an entry written unsealed.
        public var historySeals: [AuditSeal?] = []
        public var chainHead: AuditChainHead?
        public var relayToken: String?
        public var claimedAt: Date?
        public var result: RoutingDecision?
        public var lastError: String?
        public var failureClass: FailureClass?
        public var deadAt: Date?
        public var deadLetterPending = false
        public var replayCount = 0
    }

    /// A dead letter's replay mark.
    public struct ReplayMark: Sendable, Equatable {
        public var replay: Replay
        public var at: Date
    }

    /// A document a relay step set aside.
    public struct SetAside: Sendable, Equatable {
        public var failure: DocumentFailure
        public var failures: Int
        public var retryAt: Date
    }

    private struct Storage {
        var events: [EventKey: StoredEvent] = [:]
        var deadLetters: [EventKey: StoredEvent] = [:]
        var replayMarks: [EventKey: ReplayMark] = [:]
        var setAside: [String: SetAside] = [:]
        var streamLosses: [String: Date] = [:]
        var refused: Set<EventKey> = []
        var refusedDeadLetters: Set<EventKey> = []
        var unavailable = false
        var nextRecordId = 1
    }

    private let storage = Mutex(Storage())
    private let sealer: AuditSealer?

    /// Creates an empty store.
    /// - Parameter sealer: seals the entries its own writes append (outcomes, the lease sweep), as the real stores do.
    public init(sealer: AuditSealer? = nil) {
        self.sealer = sealer
    }

    // MARK: What tests arrange and read

    /// The stored event, or nil.
    public func event(_ key: EventKey) -> StoredEvent? { storage.withLock { $0.events[key] } }

    /// The dead letter of an event, as written from its document, or nil.
    public func deadLetter(_ key: EventKey) -> StoredEvent? { storage.withLock { $0.deadLetters[key] } }

    /// The event's sealed history as a verifier reads it back, or nil.
    public func audited(_ key: EventKey) -> AuditedEvent? {
        storage.withLock { storage in
            guard let stored = storage.events[key] else { return nil }
            return AuditedEvent(
                record: stored.event.ingestRecord, ingestSeal: stored.event.ingestSeal?.seal,
                entries: zip(stored.history, stored.historySeals).map { AuditedEntry(entry: $0, seal: $1) }, head: stored.chainHead)
        }
    }

    /// The replay mark of an event's dead letter, or nil.
    public func replayMark(_ key: EventKey) -> ReplayMark? { storage.withLock { $0.replayMarks[key] } }

    /// Stores a dead event as the worker would have left it, for replay tests.
    public func plantDead(_ event: NewEvent, failureClass: FailureClass, error: String, attempts: Int, deadAt: Date) {
        storage.withLock { storage in
            var stored = StoredEvent(
                event: event, recordId: "rec-\(storage.nextRecordId)", state: EventState(status: .dead, availableAt: event.receivedAt, version: 3))
            storage.nextRecordId += 1
            stored.attempts = attempts
            stored.lastError = error
            stored.failureClass = failureClass
            stored.deadAt = deadAt
            storage.events[event.key] = stored
            storage.deadLetters[event.key] = stored
        }
    }

    /// The documents set aside by relay steps, by step and record id.
    public var setAside: [SetAside] { storage.withLock { Array($0.setAside.values) } }

    /// Makes every write of the event fail as a document the store refuses (`invalidDocument`).
    public func refuse(_ key: EventKey) { storage.withLock { _ = $0.refused.insert(key) } }

    /// Makes the event's dead-letter write fail as a document the store refuses.
    public func refuseDeadLetter(_ key: EventKey) { storage.withLock { _ = $0.refusedDeadLetters.insert(key) } }

    /// Makes every operation fail as if the store could not be reached, until set back.
    public func setUnavailable(_ unavailable: Bool) { storage.withLock { $0.unavailable = unavailable } }

    // MARK: InboxStore

    /// Payloads kept as the JSON text they came as, once read by the gateway's rules.
    public var payloadEncoder: any PayloadEncoder { JSONTextPayloadEncoder() }

    public func insert(_ event: NewEvent, completion: @escaping @Sendable (Result<InsertOutcome, any Error>) -> Void) {
        completion(Result { try insertNow(event) })
    }

    private func insertNow(_ event: NewEvent) throws -> InsertOutcome {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "insert events")
            guard storage.events[event.key] == nil else { return .duplicate }
            guard !storage.refused.contains(event.key) else { throw Self.refusal("insert events", event.key) }
            var stored = StoredEvent(
                event: event, recordId: "record-\(storage.nextRecordId)", state: EventState(status: .received, availableAt: event.receivedAt))
            stored.chainHead = event.ingestSeal?.head
            storage.events[event.key] = stored
            storage.nextRecordId += 1
            return .stored
        }
    }

    // MARK: EventRepository

    public func claim(_ key: EventKey, worker: String, leaseDuration: Duration, now: Date) async throws -> ClaimedEvent? {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "claim events")
            guard var stored = storage.events[key] else { return nil }
            let grant = LeaseGrant(owner: worker, expiresAt: now.addingTimeInterval(leaseDuration.seconds), token: UUID().uuidString)
            let step = EventLifecycle.claim(grant, now: now)
            guard step.condition.holds(for: stored.state) else { return nil }
            guard !storage.refused.contains(key) else { throw Self.refusal("claim events", key) }
            let claimsBefore = stored.claimsWithoutOutcome
            stored.apply(step.change)
            storage.events[key] = stored
            return ClaimedEvent(
                key: key, type: stored.event.type, shipmentId: stored.event.shipmentId, occurredAt: stored.event.occurredAt,
                receivedAt: stored.event.receivedAt, payload: (try? JSONValue(parsing: stored.event.payload.bytes)) ?? .object([]),
                attempts: stored.attempts, claimsWithoutOutcome: claimsBefore,
                lease: Lease(owner: worker, expiresAt: grant.expiresAt, recordId: stored.recordId, version: stored.state.version, token: grant.token),
                chainHead: stored.chainHead)
        }
    }

    public func record(_ transition: Transition, attempt: AttemptRecord, for event: ClaimedEvent, now: Date) async throws -> Bool {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "record outcomes")
            guard var stored = storage.events[event.key], stored.recordId == event.lease.recordId else { return false }
            let step = EventLifecycle.record(transition, attempt: attempt, under: event.lease, now: now).sealed(by: sealer, after: event.chainHead)
            guard step.condition.holds(for: stored.state) else { return false }
            guard !storage.refused.contains(event.key) else { throw Self.refusal("record outcomes", event.key) }
            stored.apply(step.change)
            storage.events[event.key] = stored
            if stored.state.status == .dead { _ = try? Self.writeDeadLetter(event.key, in: &storage) }
            return true
        }
    }

    // MARK: OutboxStore

    public func reserveDue(now: Date, limit: Int, skipping: Set<String>) async throws -> Reservation {
        try reserve(EventLifecycle.due(at: now), for: .publishDue, now: now, limit: limit, skipping: skipping)
    }

    public func reserveStale(queuedBefore: Date, now: Date, limit: Int, skipping: Set<String>) async throws -> Reservation {
        try reserve(EventLifecycle.lost(queuedBefore: queuedBefore), for: .recoverQueued, now: now, limit: limit, skipping: skipping)
    }

    private func reserve(_ selection: EventCondition, for step: RelayStep, now: Date, limit: Int, skipping: Set<String>) throws -> Reservation {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "reserve events")
            let reservation = EventLifecycle.reserve(selection, token: UUID().uuidString, now: now)
            let candidates = storage.events.values
                .filter { reservation.condition.holds(for: $0.state) && !skipping.contains($0.recordId) }
                .sorted { ($0.state.availableAt, $0.recordId) < ($1.state.availableAt, $1.recordId) }
                .prefix(limit)
            var result = Reservation(keys: [], found: candidates.count)
            for candidate in candidates {
                let key = candidate.event.key
                if storage.refused.contains(key) {
                    result.failures.append(Self.failure(of: candidate, in: step, Self.refusal("reserve events", key)))
                    continue
                }
                storage.events[key]?.apply(reservation.change)
                result.keys.append(key)
            }
            return result
        }
    }

    public func releaseReservation(_ keys: [EventKey], now: Date) async throws {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "release reservation")
            let step = EventLifecycle.release(now: now)
            for key in keys where storage.events[key].map({ step.condition.holds(for: $0.state) }) == true {
                storage.events[key]?.apply(step.change)
            }
        }
    }

    public func sweepExpiredLeases(now: Date, limit: Int, skipping: Set<String>) async throws -> StepResult {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "sweep expired leases")
            let expired = storage.events.values.filter {
                EventLifecycle.leaseExpired(at: now).holds(for: $0.state) && !skipping.contains($0.recordId)
            }
            var result = StepResult(handled: 0)
            for stored in expired.prefix(limit) {
                let key = stored.event.key
                guard !storage.refused.contains(key) else {
                    result.failures.append(Self.failure(of: stored, in: .sweepLeases, Self.refusal("sweep expired leases", key)))
                    continue
                }
                let step = EventLifecycle.sweep(stored.state, attempts: stored.attempts, claimedAt: stored.claimedAt, now: now)
                    .sealed(by: sealer, after: stored.chainHead)
                storage.events[key]?.apply(step.change)
                result.handled += 1
            }
            return result
        }
    }

    public func reconcileDeadLetters(limit: Int, skipping: Set<String>) async throws -> StepResult {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "reconcile dead letters")
            let pending = storage.events.values.filter { $0.deadLetterPending && !skipping.contains($0.recordId) }.prefix(limit)
            var result = StepResult(handled: 0)
            for stored in pending {
                do {
                    try Self.writeDeadLetter(stored.event.key, in: &storage)
                    result.handled += 1
                } catch let error as StoreError {
                    result.failures.append(Self.failure(of: stored, in: .reconcileDeadLetters, error))
                }
            }
            return result
        }
    }

    public func documentsInBackoff(now: Date) async throws -> [RelayStep: Set<String>] {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "find relay_failures")
            var skipping: [RelayStep: Set<String>] = [:]
            for aside in storage.setAside.values where aside.retryAt > now {
                skipping[aside.failure.step, default: []].insert(aside.failure.recordId)
            }
            return skipping
        }
    }

    public func recordFailures(_ failures: [DocumentFailure], now: Date, retryAt: @escaping @Sendable (Int) -> Date) async throws {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "record relay_failures")
            for failure in failures {
                let id = "\(failure.step.rawValue):\(failure.recordId)"
                let count = (storage.setAside[id]?.failures ?? 0) + 1
                storage.setAside[id] = SetAside(failure: failure, failures: count, retryAt: retryAt(count))
            }
        }
    }

    public func unrecoveredStreamLoss(stream: String) async throws -> Date? {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "find relay_state")
            return storage.streamLosses[stream]
        }
    }

    public func recordStreamLoss(stream: String, at: Date) async throws {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "record stream loss")
            storage.streamLosses[stream] = max(storage.streamLosses[stream] ?? at, at)
        }
    }

    public func clearStreamLoss(stream: String, recordedAt: Date) async throws {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "clear stream loss")
            if storage.streamLosses[stream] == recordedAt { storage.streamLosses[stream] = nil }
        }
    }

    // MARK: DeadEventStore

    public func deadEvents(source: String?, failureClass: FailureClass?, since: Date?, limit: Int) async throws -> [DeadEvent] {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "find events")
            let filter = DeadEventFilter(source: source, failureClass: failureClass, since: since)
            let dead = storage.events.values.filter { $0.state.status == .dead }.map(Self.deadEvent).filter(filter.admits)
            return Array(dead.sorted { ($0.deadAt ?? .distantPast) > ($1.deadAt ?? .distantPast) }.prefix(limit))
        }
    }

    public func lookUp(_ key: EventKey) async throws -> EventLookup {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "find events")
            guard let stored = storage.events[key] else { return .absent }
            return stored.state.status == .dead ? .dead(Self.deadEvent(stored)) : .notDead(stored.state.status)
        }
    }

    public func apply(_ step: LifecycleStep, to key: EventKey) async throws -> Bool {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "update events")
            guard var stored = storage.events[key], step.condition.holds(for: stored.state) else { return false }
            if storage.refused.contains(key) { throw Self.refusal("update events", key) }
            stored.apply(step.change)
            storage.events[key] = stored
            return true
        }
    }

    public func markDeadLetterReplayed(_ key: EventKey, replay: Replay, at: Date) async throws {
        try storage.withLock { storage in
            try Self.checkAvailable(storage, "update dead_letters")
            storage.replayMarks[key] = ReplayMark(replay: replay, at: at)
        }
    }

    private static func deadEvent(_ stored: StoredEvent) -> DeadEvent {
        DeadEvent(
            key: stored.event.key, type: stored.event.type, shipmentId: stored.event.shipmentId, failureClass: stored.failureClass,
            lastError: stored.lastError, attempts: stored.attempts, deadAt: stored.deadAt, version: stored.state.version,
            replayCount: stored.replayCount, chainHead: stored.chainHead)
    }

    // MARK: Helpers

    private static func checkAvailable(_ storage: Storage, _ operation: String) throws(StoreError) {
        if storage.unavailable { throw StoreError(.unavailable, operation: operation, message: "the in-memory store is set unavailable") }
    }

    private static func refusal(_ operation: String, _ key: EventKey) -> StoreError {
        StoreError(.invalidDocument, operation: operation, message: "Document failed validation: \(key)", serverCode: 121)
    }

    private static func failure(of stored: StoredEvent, in step: RelayStep, _ error: StoreError) -> DocumentFailure {
        DocumentFailure(step: step, recordId: stored.recordId, key: stored.event.key, error: error.description)
    }

    private static func writeDeadLetter(_ key: EventKey, in storage: inout Storage) throws {
        guard let stored = storage.events[key] else { return }
        guard !storage.refusedDeadLetters.contains(key) else { throw refusal("update dead_letters", key) }
        storage.deadLetters[key] = stored
        // A new death makes the letter current again.
        storage.replayMarks[key] = nil
        storage.events[key]?.deadLetterPending = false
    }
}

extension InMemoryEventStore.StoredEvent {
    /// The event after a lifecycle change, as a store writes it.
    mutating func apply(_ change: EventChange) {
        state = change.applied(to: state)
        attempts += change.attemptsSpent
        claims += change.claimsAdded
        claimsWithoutOutcome += change.claimsWithoutOutcomeAdded
        if let entry = change.history {
            history.append(entry)
            historySeals.append(change.sealedEntry?.seal)
        }
        if let head = change.sealedEntry?.head { chainHead = head }
        if let relayToken = change.relayToken { self.relayToken = relayToken }
        if let claimedAt = change.claimedAt { self.claimedAt = claimedAt }
        if let result = change.result { self.result = result }
        if let lastError = change.lastError { self.lastError = lastError }
        if let failureClass = change.failureClass { self.failureClass = failureClass }
        if let deadAt = change.deadAt { self.deadAt = deadAt }
        if let pending = change.deadLetterPending { deadLetterPending = pending }
        if change.startsAfresh {
            attempts = 0
            claimsWithoutOutcome = 0
            failureClass = nil
            deadAt = nil
            deadLetterPending = false
        }
        replayCount += change.replaysAdded
    }
}

/// The in-memory store's encoding: the body as it came, once ``PayloadReader`` has read it.
public struct JSONTextPayloadEncoder: PayloadEncoder {
    public init() {}

    public func encode(_ body: UnsafeBufferPointer<UInt8>) throws(PayloadError) -> (fields: PayloadFields, payload: EncodedPayload) {
        let (_, fields) = try PayloadReader.read(body, into: ValidatingSink())
        return (fields, EncodedPayload(encoding: "json", bytes: Array(body)))
    }
}
