public import Foundation

/// What a worker learned while handling a claimed event.
public enum AttemptResult: Sendable, Equatable {
    /// The routing service answered with a decision.
    case routed(RoutingDecision)
    /// The routing call failed.
    case failed(RoutingFailure)
    /// The event names a shipment that is not in the store (yet).
    case shipmentMissing
    /// The event names no shipment at all.
    case noShipmentId
    /// The circuit breaker is open; no call was made.
    case circuitOpen(until: Date)
    /// ``ProcessingPolicy/maxClaimsWithoutOutcome`` earlier claims of the event ended without any outcome.
    case abandoned
}

/// The lifecycle step an attempt leads to.
public enum Transition: Sendable, Equatable {
    /// → `processed`, with the decision.
    case complete(RoutingDecision)
    /// → `retry_scheduled` until `at`; `spendsAttempt` is false when no routing call was made.
    case retry(at: Date, error: String, spendsAttempt: Bool)
    /// → `parked` until `until`, waiting for the shipment; no attempt spent.
    case park(until: Date, error: String)
    /// → `dead`, with a `dead_letters` document.
    case deadLetter(FailureClass, error: String, spendsAttempt: Bool)

    /// The status the event moves to.
    public var status: EventStatus {
        switch self {
        case .complete: .processed
        case .retry: .retryScheduled
        case .park: .parked
        case .deadLetter: .dead
        }
    }

    /// The outcome recorded in the attempt history.
    public var outcome: AttemptRecord.Outcome {
        switch self {
        case .complete: .processed
        case .retry: .retry
        case .park: .parked
        case .deadLetter: .dead
        }
    }
}

/// Decides the next lifecycle step of an attempt: pure, so every rule is tested without I/O.
public struct ProcessingPolicy: Sendable {
    /// Backoff and the attempt limit.
    public var retry: RetryPolicy
    /// How long an event may wait for its shipment, counted from `receivedAt`.
    public var parkWindow: Duration
    /// How often a parked event is re-checked.
    public var parkInterval: Duration

    /// Claims ending without any outcome after which an event is given up: a lease that keeps expiring (a worker
    /// that crashes or stalls on the event) must not keep it going round for ever. Only such claims count:
    /// parking, an open breaker and retries each end in an outcome, so an outage or a late shipment never
    /// makes an event look abandoned.
    public var maxClaimsWithoutOutcome: Int { retry.maxAttempts * 2 + 2 }

    /// Creates the policy; defaults park for up to 1 h, re-checking every minute.
    public init(retry: RetryPolicy = RetryPolicy(), parkWindow: Duration = .seconds(3_600), parkInterval: Duration = .seconds(60)) {
        self.retry = retry
        self.parkWindow = parkWindow
        self.parkInterval = parkInterval
    }

    /// The step that follows `result` for `event`, at `now`.
    public func decide(_ result: AttemptResult, for event: ClaimedEvent, now: Date, random: any RandomSource) -> Transition {
        let attempt = event.attempts + 1
        switch result {
        case .routed(let decision):
            return .complete(decision)
        case .failed(let failure) where failure.kind == .permanent:
            return .deadLetter(.permanent, error: failure.message, spendsAttempt: true)
        case .failed(let failure):
            guard retry.allowsRetry(after: attempt) else {
                return .deadLetter(.retriesExhausted, error: failure.message, spendsAttempt: true)
            }
            let delay = retry.delay(afterAttempt: attempt, retryAfter: failure.retryAfter, random: random)
            return .retry(at: now.addingTimeInterval(delay.seconds), error: failure.message, spendsAttempt: true)
        case .shipmentMissing:
            let deadline = event.receivedAt.addingTimeInterval(parkWindow.seconds)
            guard now < deadline else {
                return .deadLetter(.unknownShipment, error: "unknown_shipment: \(event.shipmentId ?? "") never appeared", spendsAttempt: false)
            }
            return .park(until: min(deadline, now.addingTimeInterval(parkInterval.seconds)), error: "unknown_shipment: \(event.shipmentId ?? "")")
        case .noShipmentId:
            return .deadLetter(.invalidPayload, error: "the payload has no shipmentId to route", spendsAttempt: false)
        case .circuitOpen(let until):
            return .retry(at: max(until, now), error: "circuit_open: the routing service is failing; not called", spendsAttempt: false)
        case .abandoned:
            return .deadLetter(
                .abandoned, error: "\(event.claimsWithoutOutcome) claims ended without an outcome: its workers crashed or stalled",
                spendsAttempt: false)
        }
    }
}
