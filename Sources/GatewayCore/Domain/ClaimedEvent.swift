public import Foundation

/// An event a worker holds the lease on.
public struct ClaimedEvent: Sendable, Equatable {
    public var key: EventKey
    public var type: String?
    public var shipmentId: String?
    /// When the event happened at the source; without an `occurredAt` in its payload, when it was received.
    public var occurredAt: Date
    public var receivedAt: Date
    public var payload: JSONValue
    /// Routing attempts made before this claim.
    public var attempts: Int
    /// Earlier claims of this event that ended without any outcome: its worker died or stalled until the lease
    /// ran out. Deferrals (parking, an open breaker, a retry) are outcomes and do not count.
    public var claimsWithoutOutcome: Int
    /// The lease that fences this worker's writes.
    public var lease: Lease
    /// Where the event's audit chain ended when it was claimed: the outcome's entry is sealed after it.
    public var chainHead: AuditChainHead?

    public init(
        key: EventKey, type: String?, shipmentId: String?, occurredAt: Date?, receivedAt: Date, payload: JSONValue, attempts: Int,
        claimsWithoutOutcome: Int = 0, lease: Lease, chainHead: AuditChainHead? = nil
    ) {
        self.key = key
        self.type = type
        self.shipmentId = shipmentId
        self.occurredAt = occurredAt ?? receivedAt
        self.receivedAt = receivedAt
        self.payload = payload
        self.attempts = attempts
        self.claimsWithoutOutcome = claimsWithoutOutcome
        self.lease = lease
        self.chainHead = chainHead
    }
}

/// A worker's time-limited exclusive right to finish an event.
///
/// Lease fencing: every write to an event increments its `version`, and the outcome write is conditional
/// on the version the claim produced, so a worker whose lease expired (and whose event was taken over)
/// cannot overwrite a newer attempt.
public struct Lease: Sendable, Equatable {
    /// The worker holding it.
    public var owner: String
    /// When another worker may take the event over.
    public var expiresAt: Date
    /// The store's id of the event document.
    public var recordId: String
    /// The event's version right after the claim: with ``token``, the fence of the outcome write.
    public var version: Int
    /// Unique to this claim. The claim is not journaled, so a store crash may take it back and a later
    /// claim reach the same version; the token still tells the two leases apart.
    public var token: String

    public init(owner: String, expiresAt: Date, recordId: String, version: Int, token: String) {
        self.owner = owner
        self.expiresAt = expiresAt
        self.recordId = recordId
        self.version = version
        self.token = token
    }
}

/// Why an event was dead-lettered, so operators can tell data problems from system problems.
public enum FailureClass: String, Sendable, Codable, CaseIterable {
    /// The routing service rejected it for good (4xx): a data problem.
    case permanent
    /// Its shipment never appeared within the parking window: a data problem.
    case unknownShipment = "unknown_shipment"
    /// The payload cannot be routed at all (e.g. no shipmentId): a data problem.
    case invalidPayload = "invalid_payload"
    /// Transient failures until the attempts ran out: a system problem.
    case retriesExhausted = "retries_exhausted"
    /// Claimed again and again without any outcome (its workers crash or stall on it): a system problem.
    case abandoned
}

/// One entry of an event's `history` array.
public struct AttemptRecord: Sendable, Equatable {
    /// The outcome names auditors rely on.
    public enum Outcome: String, Sendable, Codable {
        case processed, retry, dead, parked
        /// An operator sent the dead event back to `received` (``by`` and ``reason`` say who and why).
        case replayed
    }

    /// The routing attempt number (for `parked` and rescheduled entries: the attempts made so far).
    public var attempt: Int
    public var startedAt: Date
    public var finishedAt: Date
    public var outcome: Outcome
    /// What went wrong, when something did.
    public var error: String?
    /// How long the routing call took, when one was made.
    public var routingLatencyMs: Int?
    /// For `retry` and `parked`: when the event becomes due again, as the policy scheduled it.
    public var nextAttemptAt: Date?
    /// For `replayed`: the operator, or the name of the admin token used.
    public var by: String?
    /// For `replayed`: why, as the operator wrote it.
    public var reason: String?

    public init(
        attempt: Int, startedAt: Date, finishedAt: Date, outcome: Outcome, error: String?, routingLatencyMs: Int?, nextAttemptAt: Date? = nil,
        by: String? = nil, reason: String? = nil
    ) {
        self.attempt = attempt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.outcome = outcome
        self.error = error
        self.routingLatencyMs = routingLatencyMs
        self.nextAttemptAt = nextAttemptAt
        self.by = by
        self.reason = reason
    }
}
