public import Foundation

/// What handling one stream entry came to.
public enum ProcessingResult: Sendable, Equatable {
    /// The event was not claimable (already claimed, processed or dead, or not due): nothing done.
    case skipped
    /// The attempt ended in this status.
    case moved(to: EventStatus)
    /// The lease expired before the outcome was written; the taking-over worker decides.
    case leaseLost
}

/// Handles one event end to end: claim, shipment lookup, paced routing call, lease-fenced outcome.
///
/// Pacing: a rate-limit token is taken before the claim; a place among `routingCalls` is held for the
/// routing call alone, so the store work before and after it never idles routing capacity.
///
/// Exactly-once effects: the claim is atomic, so one worker at a time holds an event; the routing call
/// carries `Idempotency-Key: {source}:{eventId}` and the shipment update is conditional and idempotent,
/// so an attempt repeated after a crash has no second effect.
public struct ProcessEvent: Sendable {
    private let events: any EventRepository
    private let shipments: any ShipmentStore
    private let routing: any RoutingService
    private let policy: ProcessingPolicy
    private let breaker: CircuitBreaker
    private let rateLimit: TokenBucket
    private let routingCalls: ConcurrencyLimit
    private let workerId: String
    private let leaseDuration: Duration
    private let clock: any TimeSource
    private let random: any RandomSource
    private let observer: any PipelineObserver

    /// Creates the use case.
    public init(
        events: any EventRepository, shipments: any ShipmentStore, routing: any RoutingService, policy: ProcessingPolicy,
        breaker: CircuitBreaker, rateLimit: TokenBucket, routingCalls: ConcurrencyLimit, workerId: String, leaseDuration: Duration,
        clock: any TimeSource = SystemTimeSource(), random: any RandomSource = SystemRandomSource(),
        observer: any PipelineObserver = SilentObserver()
    ) {
        self.events = events
        self.shipments = shipments
        self.routing = routing
        self.policy = policy
        self.breaker = breaker
        self.rateLimit = rateLimit
        self.routingCalls = routingCalls
        self.workerId = workerId
        self.leaseDuration = leaseDuration
        self.clock = clock
        self.random = random
        self.observer = observer
    }

    /// The error recorded when a worker gives an event back at shutdown.
    public static let releasedAtShutdown = "released: the worker shut down before the attempt finished"

    /// Processes the event announced by a stream entry.
    /// - Throws: ``StoreError`` when the store fails; the entry should then stay unacknowledged.
    public func callAsFunction(_ key: EventKey) async throws -> ProcessingResult {
        // The rate limit is waited for before the claim, so that waiting for a token never eats into the lease.
        try await rateLimit.acquire()
        let startedAt = clock.now()
        guard let event = try await events.claim(key, worker: workerId, leaseDuration: leaseDuration, now: startedAt) else {
            return .skipped
        }
        var routingLatencyMs: Int?
        var routedShipment: Shipment?
        let result: AttemptResult
        if event.claimsWithoutOutcome >= policy.maxClaimsWithoutOutcome {
            result = .abandoned
        } else if let shipmentId = event.shipmentId {
            if let shipment = try await shipments.shipment(shipmentId) {
                switch breaker.permission(now: clock.now()) {
                case .rejected(let until):
                    result = .circuitOpen(until: until)
                case .proceed:
                    let request = RoutingRequest(key: key, type: event.type, shipment: shipment, payload: event.payload)
                    let (answer, latency) = await routingCalls.withPlace {
                        let callStarted = ContinuousClock.now
                        return (await routing.route(request), ContinuousClock.now - callStarted)
                    }
                    routingLatencyMs = Int((latency.seconds * 1_000).rounded())
                    routedShipment = shipment
                    switch answer {
                    case .success(let decision):
                        breaker.record(transientFailure: false, now: clock.now())
                        result = .routed(decision)
                    case .failure(let failure):
                        // A call cut short by the worker's own shutdown says nothing about the service.
                        if !Task.isCancelled { breaker.record(transientFailure: failure.kind == .transient, now: clock.now()) }
                        result = .failed(failure)
                    }
                    observer.routingCallEnded(RoutingCallOutcome(answer), latency: latency, breakerClosed: breaker.isClosed)
                }
            } else {
                result = .shipmentMissing
            }
        } else {
            result = .noShipmentId
        }

        let now = clock.now()
        // A routing call that failed once the worker was cancelled (shutting down past its grace period) may have
        // failed because of it: the event goes back, due now, without an attempt spent or an abandoned claim counted,
        // and the call is repeated with the same key. Every other result is recorded as it is.
        let cutShort = if case .failed = result { Task.isCancelled } else { false }
        let transition =
            cutShort
            ? .retry(at: now, error: Self.releasedAtShutdown, spendsAttempt: false)
            : policy.decide(result, for: event, now: now, random: random)
        if case .complete(let decision) = transition, let routedShipment {
            // Before the event is marked processed: if the worker dies in between, the retry repeats an
            // idempotent update rather than losing it.
            _ = try await shipments.applyRouting(
                decision, status: event.payload["status"]?.stringValue, to: routedShipment, as: ShipmentUpdateOrder(event), now: now)
        }
        let record = AttemptRecord(
            attempt: event.attempts + (transition.spendsAttempt ? 1 : 0), startedAt: startedAt, finishedAt: now,
            outcome: transition.outcome, error: transition.error, routingLatencyMs: routingLatencyMs, nextAttemptAt: transition.dueAt)
        guard try await events.record(transition, attempt: record, for: event, now: now) else { return .leaseLost }
        observer.outcomeRecorded(transition, receivedAt: event.receivedAt, now: now)
        return .moved(to: transition.status)
    }
}

extension RoutingCallOutcome {
    init(_ answer: Result<RoutingDecision, RoutingFailure>) {
        switch answer {
        case .success: self = .routed
        case .failure(let failure): self = failure.kind == .transient ? .transient : .permanent
        }
    }
}

extension Transition {
    /// Whether this step counts a routing attempt.
    public var spendsAttempt: Bool {
        switch self {
        case .complete: true
        case .retry(_, _, let spends), .deadLetter(_, _, let spends): spends
        case .park: false
        }
    }

    /// When the event becomes due again, for steps that schedule it.
    public var dueAt: Date? {
        switch self {
        case .retry(let at, _, _), .park(let at, _): at
        case .complete, .deadLetter: nil
        }
    }

    /// The error recorded with the step, if any.
    public var error: String? {
        switch self {
        case .complete: nil
        case .retry(_, let error, _), .park(_, let error), .deadLetter(_, let error, _): error
        }
    }
}
