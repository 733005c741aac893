public import Foundation

/// What the lifecycle's rules read of a stored event.
public struct EventState: Sendable, Equatable {
    public var status: EventStatus
    /// The time the relay judges the event by, per status: when it becomes due (`received`, `retry_scheduled`,
    /// `parked`), when it was queued (`queued`), when its lease expires (`processing`).
    public var availableAt: Date
    /// When a relay last reserved it.
    public var queuedAt: Date?
    /// Incremented by every lifecycle write: the compare-and-set counter.
    public var version: Int
    /// The lease of a `processing` event.
    public var lease: LeaseGrant?

    public init(status: EventStatus, availableAt: Date, queuedAt: Date? = nil, version: Int = 0, lease: LeaseGrant? = nil) {
        self.status = status
        self.availableAt = availableAt
        self.queuedAt = queuedAt
        self.version = version
        self.lease = lease
    }
}

/// A worker's lease as the event document holds it.
public struct LeaseGrant: Sendable, Equatable {
    /// The worker holding the event.
    public var owner: String
    /// When another worker may take the event over.
    public var expiresAt: Date
    /// Unique to the claim that granted it; fences that claim's outcome.
    public var token: String

    public init(owner: String, expiresAt: Date, token: String) {
        self.owner = owner
        self.expiresAt = expiresAt
        self.token = token
    }
}

/// A condition on a stored event that the store checks atomically with the write it guards. The same value is
/// evaluated in Swift (``holds(for:)``) where an event's state is read first, and by the in-memory store, so each
/// rule is written once.
public indirect enum EventCondition: Sendable, Equatable {
    /// The event's status is one of these (in this order, for the store's query).
    case status(in: [EventStatus])
    /// `availableAt` ≤ the instant.
    case availableBy(Date)
    /// `availableAt` < the instant.
    case availableBefore(Date)
    /// `queuedAt` < the instant.
    case queuedBefore(Date)
    /// The lease's `expiresAt` ≤ the instant.
    case leaseExpiredBy(Date)
    /// `version` is exactly this.
    case version(Int)
    /// The lease is the one with this token.
    case leaseToken(String)
    /// Every condition holds.
    case all([EventCondition])
    /// At least one condition holds.
    case any([EventCondition])

    /// Whether the condition holds for an event in `state`.
    public func holds(for state: EventState) -> Bool {
        switch self {
        case .status(let statuses): statuses.contains(state.status)
        case .availableBy(let instant): state.availableAt <= instant
        case .availableBefore(let instant): state.availableAt < instant
        case .queuedBefore(let instant): (state.queuedAt ?? .distantFuture) < instant
        case .leaseExpiredBy(let instant): (state.lease?.expiresAt ?? .distantFuture) <= instant
        case .version(let version): state.version == version
        case .leaseToken(let token): state.lease?.token == token
        case .all(let conditions): conditions.allSatisfy { $0.holds(for: state) }
        case .any(let conditions): conditions.contains { $0.holds(for: state) }
        }
    }

    /// The statuses an event may be in for the condition to hold.
    public var statuses: Set<EventStatus> {
        switch self {
        case .status(let statuses): Set(statuses)
        case .all(let conditions): conditions.reduce(Set(EventStatus.allCases)) { $0.intersection($1.statuses) }
        case .any(let conditions): conditions.reduce(Set()) { $0.union($1.statuses) }
        case .availableBy, .availableBefore, .queuedBefore, .leaseExpiredBy, .version, .leaseToken: Set(EventStatus.allCases)
        }
    }
}

/// What a lifecycle step writes to the event document. Every step sets `status` and `updatedAt` and increments
/// `version`; the optional fields are written only when set.
public struct EventChange: Sendable, Equatable {
    public var status: EventStatus
    public var updatedAt: Date
    public var availableAt: Date?
    public var queuedAt: Date?
    /// The token of the relay reservation that queued the event.
    public var relayToken: String?
    /// A new lease (a claim), with `claimedAt`.
    public var lease: LeaseGrant?
    public var claimedAt: Date?
    /// Whether the lease is removed (an outcome, a sweep).
    public var removesLease = false
    /// The history entry appended.
    public var history: HistoryEntry?
    /// The decision of a processed event, and when it was decided.
    public var result: RoutingDecision?
    public var processedAt: Date?
    public var lastError: String?
    public var failureClass: FailureClass?
    public var deadAt: Date?
    /// Set on a dead event until its `dead_letters` document is written.
    public var deadLetterPending: Bool?
    /// Added to `attempts` (an attempt spent: 1).
    public var attemptsSpent = 0
    /// Added to `claims`.
    public var claimsAdded = 0
    /// Added to `claimsWithoutOutcome`: +1 by a claim, −1 by its outcome.
    public var claimsWithoutOutcomeAdded = 0
    /// A replay: `attempts` and `claimsWithoutOutcome` start again from 0, and what the death wrote (`failureClass`,
    /// `deadAt`, `deadLetterPending`) is removed; the history and `lastError` stay.
    public var startsAfresh = false
    /// Added to `replayCount`.
    public var replaysAdded = 0
    /// The seal of ``history`` and the chain's new head, when the history is sealed (``LifecycleStep/sealed(by:after:)``).
    public var sealedEntry: SealedEntry?

    public init(status: EventStatus, updatedAt: Date) {
        self.status = status
        self.updatedAt = updatedAt
    }

    /// `state` after the change.
    public func applied(to state: EventState) -> EventState {
        var next = state
        next.status = status
        next.version += 1
        if let availableAt { next.availableAt = availableAt }
        if let queuedAt { next.queuedAt = queuedAt }
        if removesLease { next.lease = nil }
        if let lease { next.lease = lease }
        return next
    }
}

/// One entry of an event's `history`, with the token of the claim the attempt ran under (none for the lease sweep):
/// a grouped outcome write that landed is told from one whose lease was lost by it.
public struct HistoryEntry: Sendable, Equatable {
    public var record: AttemptRecord
    public var leaseToken: String?

    public init(record: AttemptRecord, leaseToken: String?) {
        self.record = record
        self.leaseToken = leaseToken
    }
}

/// One step of the event lifecycle: the condition under which it applies, checked by the store atomically with
/// the write, and what it writes. Built only by ``EventLifecycle``, which makes every step a legal move
/// (``EventStatus/canMove(to:)``) from every status its condition admits.
public struct LifecycleStep: Sendable, Equatable {
    public let condition: EventCondition
    public let change: EventChange

    init(_ condition: EventCondition, _ change: EventChange) {
        for status in condition.statuses {
            precondition(status.canMove(to: change.status), "the lifecycle has no move from \(status.rawValue) to \(change.status.rawValue)")
        }
        self.condition = condition
        self.change = change
    }

    /// The step with its history entry sealed after the event's chain `head`, read under the same compare-and-set
    /// that guards this step. Unchanged without a sealer, without an entry, or for an event whose chain never started
    /// (accepted while no key was configured): such an event stays unsealed rather than sealed from the middle.
    public func sealed(by sealer: AuditSealer?, after head: AuditChainHead?) -> LifecycleStep {
        guard let sealer, let head, let entry = change.history else { return self }
        var change = change
        change.sealedEntry = sealer.seal(entry, after: head)
        return LifecycleStep(condition, change)
    }
}

/// Every transition of an event, in one place: given the input of each, the condition the store must check and the
/// change it writes. The stores only translate these into their own filters and updates.
public enum EventLifecycle {
    /// When the relay may publish an event: `received`, or `retry_scheduled`/`parked` once due.
    public static func due(at now: Date) -> EventCondition {
        .all([.status(in: EventStatus.publishable), .availableBy(now)])
    }

    /// When the relay publishes a queued event again: queued before `cutOff` and never claimed since. A queued
    /// event's `availableAt` is when it was queued; `queuedAt` keeps this exact for events queued before the two
    /// were one.
    public static func lost(queuedBefore cutOff: Date) -> EventCondition {
        .all([.status(in: [.queued]), .availableBefore(cutOff), .queuedBefore(cutOff)])
    }

    /// A relay reserves an event that `selection` admits, under its reservation's `token`, before publishing it.
    /// `availableAt` becomes when it was queued, so that recovery finds lost entries by the same index.
    public static func reserve(_ selection: EventCondition, token: String, now: Date) -> LifecycleStep {
        var change = EventChange(status: .queued, updatedAt: now)
        change.availableAt = now
        change.queuedAt = now
        change.relayToken = token
        return LifecycleStep(selection, change)
    }

    /// The time a released reservation is dated back to: older than any recovery cut-off, so the next recovery
    /// publishes the event at once.
    public static let releasedAt = Date(timeIntervalSince1970: 0)

    /// A relay whose publication failed gives its reservation back: still queued, due for recovery at once.
    public static func release(now: Date) -> LifecycleStep {
        var change = EventChange(status: .queued, updatedAt: now)
        change.availableAt = releasedAt
        change.queuedAt = releasedAt
        return LifecycleStep(.status(in: [.queued]), change)
    }

    /// When a worker may claim an event: `received` or `queued` at any time; `retry_scheduled` or `parked` once
    /// due; `processing` once its lease expired (its worker died or stalled; the version fence keeps it from
    /// writing later). Two branches, so that a store can send each as an update of its own.
    public static func claimable(at now: Date) -> EventCondition {
        .any([
            .status(in: [.received, .queued]),
            .all([.status(in: [.retryScheduled, .parked, .processing]), .availableBy(now)]),
        ])
    }

    /// A worker claims an event under `lease`. `availableAt` becomes the lease's expiry, by which the sweep finds
    /// it; `claimsWithoutOutcome` counts the claim until its outcome is written.
    public static func claim(_ lease: LeaseGrant, now: Date) -> LifecycleStep {
        var change = EventChange(status: .processing, updatedAt: now)
        change.lease = lease
        change.availableAt = lease.expiresAt
        change.claimedAt = now
        change.claimsAdded = 1
        change.claimsWithoutOutcomeAdded = 1
        return LifecycleStep(claimable(at: now), change)
    }

    /// A worker records the outcome of its attempt, only while its claim is the event's latest (lease fencing:
    /// the version the claim produced and the claim's own token).
    public static func record(_ transition: Transition, attempt: AttemptRecord, under lease: Lease, now: Date) -> LifecycleStep {
        var change = EventChange(status: transition.status, updatedAt: now)
        change.removesLease = true
        change.history = HistoryEntry(record: attempt, leaseToken: lease.token)
        change.claimsWithoutOutcomeAdded = -1
        change.attemptsSpent = transition.spendsAttempt ? 1 : 0
        switch transition {
        case .complete(let decision):
            change.result = decision
            change.processedAt = now
        case .retry(let at, let error, _), .park(let at, let error):
            change.availableAt = at
            change.lastError = error
        case .deadLetter(let failureClass, let error, _):
            change.failureClass = failureClass
            change.lastError = error
            change.deadAt = now
            change.deadLetterPending = true
        }
        return LifecycleStep(.all([.status(in: [.processing]), .version(lease.version), .leaseToken(lease.token)]), change)
    }

    /// An operator sends a dead event back to `received`, due now, with a fresh attempt budget: its history stays and
    /// gains a `replayed` entry saying who and why. A compare-and-set on the version read, so that concurrent replays
    /// of one dead letter move it once.
    /// - Parameters:
    ///   - attempts: the attempts the event had spent, recorded in the entry.
    public static func replay(_ replay: Replay, version: Int, attempts: Int, now: Date) -> LifecycleStep {
        var change = EventChange(status: .received, updatedAt: now)
        change.availableAt = now
        change.startsAfresh = true
        change.replaysAdded = 1
        change.history = HistoryEntry(
            record: AttemptRecord(
                attempt: attempts, startedAt: now, finishedAt: now, outcome: .replayed, error: nil, routingLatencyMs: nil, by: replay.by,
                reason: replay.reason),
            leaseToken: nil)
        return LifecycleStep(.all([.status(in: [.dead]), .version(version)]), change)
    }

    /// The events the lease sweep takes back at `now`: processing under a lease that expired.
    public static func leaseExpired(at now: Date) -> EventCondition {
        .all([.status(in: [.processing]), .availableBy(now), .leaseExpiredBy(now)])
    }

    /// The relay takes an event whose lease expired back to `retry_scheduled`, due now, without spending an
    /// attempt; the claim stays counted in `claimsWithoutOutcome`. A compare-and-set on the version read.
    public static func sweep(_ state: EventState, attempts: Int, claimedAt: Date?, now: Date) -> LifecycleStep {
        var change = EventChange(status: .retryScheduled, updatedAt: now)
        change.availableAt = now
        change.removesLease = true
        let owner = state.lease?.owner ?? "a worker"
        change.history = HistoryEntry(
            record: AttemptRecord(
                attempt: attempts, startedAt: claimedAt ?? now, finishedAt: now, outcome: .retry,
                error: "lease_expired: \(owner) did not finish", routingLatencyMs: nil),
            leaseToken: nil)
        return LifecycleStep(.all([leaseExpired(at: now), .version(state.version)]), change)
    }
}
