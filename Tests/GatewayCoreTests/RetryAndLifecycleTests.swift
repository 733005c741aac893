import Foundation
import GatewayCore
import GatewayTestSupport
import Synchronization
import Testing

@Suite("Retry policy")
struct RetryPolicyTests {
    let policy = RetryPolicy(base: .seconds(1), factor: 2, cap: .seconds(300), jitter: 0.2, maxAttempts: 8)

    @Test func delaysGrowExponentiallyWithoutJitterAtTheMidpoint() {
        let midpoint = FixedRandomSource([0.5])
        let delays = (1...10).map { policy.delay(afterAttempt: $0, random: midpoint) }
        #expect(delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300].map { Duration.seconds($0) })
    }

    @Test func jitterScalesWithinItsBounds() {
        #expect(policy.delay(afterAttempt: 3, random: FixedRandomSource([0])) == .milliseconds(3_200))
        #expect(policy.delay(afterAttempt: 3, random: FixedRandomSource([1])) == .milliseconds(4_800))
        #expect(policy.delay(afterAttempt: 20, random: FixedRandomSource([1])) == .seconds(360))
    }

    @Test func retryAfterIsHonouredWithinTheCap() {
        let random = FixedRandomSource([0.5])
        #expect(policy.delay(afterAttempt: 1, retryAfter: .seconds(30), random: random) == .seconds(30))
        #expect(policy.delay(afterAttempt: 1, retryAfter: .seconds(3_600), random: random) == .seconds(300))
    }

    @Test func attemptsRunOutAtTheLimit() {
        #expect(policy.allowsRetry(after: 7))
        #expect(!policy.allowsRetry(after: 8))
    }
}

@Suite("Processing policy: the lifecycle decisions")
struct ProcessingPolicyTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let policy = ProcessingPolicy(
        retry: RetryPolicy(base: .seconds(1), factor: 2, cap: .seconds(60), jitter: 0, maxAttempts: 3), parkWindow: .seconds(3_600),
        parkInterval: .seconds(60))
    let random = FixedRandomSource([0.5])

    func event(attempts: Int, receivedSecondsAgo: Double = 10) -> ClaimedEvent {
        ClaimedEvent(
            key: EventKey(source: "s", eventId: "e"), type: nil, shipmentId: "SHP-000001", occurredAt: now,
            receivedAt: now.addingTimeInterval(-receivedSecondsAgo),
            payload: .object([]), attempts: attempts, lease: Lease(owner: "w", expiresAt: now, recordId: "id", version: 1, token: "t"))
    }

    @Test func aDecisionCompletesTheEvent() {
        let decision = RoutingDecision(hub: "AMS", routeCode: "R1", eta: now)
        #expect(policy.decide(.routed(decision), for: event(attempts: 0), now: now, random: random) == .complete(decision))
    }

    @Test func transientFailuresRetryWithBackoffThenDeadLetter() {
        let failure = RoutingFailure(.transient, "503")
        #expect(
            policy.decide(.failed(failure), for: event(attempts: 0), now: now, random: random)
                == .retry(at: now.addingTimeInterval(1), error: "503", spendsAttempt: true))
        #expect(
            policy.decide(.failed(failure), for: event(attempts: 1), now: now, random: random)
                == .retry(at: now.addingTimeInterval(2), error: "503", spendsAttempt: true))
        #expect(
            policy.decide(.failed(failure), for: event(attempts: 2), now: now, random: random)
                == .deadLetter(.retriesExhausted, error: "503", spendsAttempt: true))
    }

    @Test func permanentFailuresDeadLetterAtOnce() {
        let transition = policy.decide(.failed(RoutingFailure(.permanent, "422 unroutable")), for: event(attempts: 0), now: now, random: random)
        #expect(transition == .deadLetter(.permanent, error: "422 unroutable", spendsAttempt: true))
        #expect(transition.status == .dead)
    }

    @Test func aMissingShipmentParksWithoutSpendingAttemptsUntilTheWindowEnds() {
        let parked = policy.decide(.shipmentMissing, for: event(attempts: 0), now: now, random: random)
        #expect(parked == .park(until: now.addingTimeInterval(60), error: "unknown_shipment: SHP-000001"))
        #expect(!parked.spendsAttempt)
        let nearTheEnd = policy.decide(.shipmentMissing, for: event(attempts: 0, receivedSecondsAgo: 3_590), now: now, random: random)
        #expect(nearTheEnd == .park(until: now.addingTimeInterval(10), error: "unknown_shipment: SHP-000001"))
        let expired = policy.decide(.shipmentMissing, for: event(attempts: 0, receivedSecondsAgo: 3_600), now: now, random: random)
        #expect(expired == .deadLetter(.unknownShipment, error: "unknown_shipment: SHP-000001 never appeared", spendsAttempt: false))
    }

    @Test func anOpenCircuitReschedulesWithoutSpendingAttempts() {
        let until = now.addingTimeInterval(30)
        let transition = policy.decide(.circuitOpen(until: until), for: event(attempts: 2), now: now, random: random)
        #expect(transition.status == .retryScheduled)
        #expect(!transition.spendsAttempt)
        #expect(transition.dueAt == until)
    }

    @Test func anEventClaimedTooOftenWithoutAnOutcomeIsAbandoned() {
        var looping = event(attempts: 1)
        looping.claimsWithoutOutcome = policy.maxClaimsWithoutOutcome
        let transition = policy.decide(.abandoned, for: looping, now: now, random: random)
        #expect(
            transition == .deadLetter(.abandoned, error: "8 claims ended without an outcome: its workers crashed or stalled", spendsAttempt: false))
    }

    @Test func anEventWithoutShipmentIsAnInvalidPayload() {
        #expect(policy.decide(.noShipmentId, for: event(attempts: 0), now: now, random: random).status == .dead)
    }
}

@Suite("Shipment order")
struct ShipmentOrderTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func shipmentsAcceptUpdatesInOneTotalOrder() {
        func update(_ seconds: Double, _ key: String, claim: Int = 1) -> ShipmentUpdateOrder {
            ShipmentUpdateOrder(occurredAt: now.addingTimeInterval(seconds), eventKey: key, claimVersion: claim)
        }
        var shipment = Shipment(
            shipmentId: "S", orderId: "O", merchantId: "M", status: "created", destination: .init(city: "c", country: "NL", postalCode: "1"))
        #expect(shipment.accepts(update(0, "s:b")))
        shipment.lastUpdate = update(0, "s:b", claim: 3)
        #expect(shipment.accepts(update(0, "s:b", claim: 3)), "the same update again")
        #expect(shipment.accepts(update(0, "s:b", claim: 4)), "a newer claim of the same event")
        #expect(!shipment.accepts(update(0, "s:b", claim: 2)), "a stale claim of the same event")
        #expect(shipment.accepts(update(0, "s:c")), "a tie in time, broken by the key")
        #expect(!shipment.accepts(update(0, "s:a", claim: 9)), "a tie in time, broken by the key")
        #expect(shipment.accepts(update(1, "s:a")))
        #expect(!shipment.accepts(update(-1, "s:z", claim: 9)))
    }
}

@Suite("Pacing: circuit breaker, token bucket and concurrency limit")
struct PacingTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func theBreakerOpensAfterTheThresholdAndLetsOneProbeThroughAfterTheCoolDown() {
        let breaker = CircuitBreaker(failureThreshold: 3, coolDown: .seconds(10))
        for _ in 0..<2 { breaker.record(transientFailure: true, now: now) }
        #expect(breaker.permission(now: now) == .proceed)
        breaker.record(transientFailure: true, now: now)
        #expect(breaker.permission(now: now.addingTimeInterval(5)) == .rejected(until: now.addingTimeInterval(10)))
        #expect(breaker.permission(now: now.addingTimeInterval(10)) == .proceed, "the probe")
        #expect(breaker.permission(now: now.addingTimeInterval(10)) != .proceed, "only one probe at a time")
        breaker.record(transientFailure: true, now: now.addingTimeInterval(11))
        #expect(breaker.permission(now: now.addingTimeInterval(12)) == .rejected(until: now.addingTimeInterval(21)))
        #expect(breaker.permission(now: now.addingTimeInterval(21)) == .proceed)
        breaker.record(transientFailure: false, now: now.addingTimeInterval(22))
        #expect(breaker.permission(now: now.addingTimeInterval(22)) == .proceed)
        #expect(breaker.permission(now: now.addingTimeInterval(22)) == .proceed, "closed again: no probe limit")
    }

    @Test func aSuccessResetsTheFailureCountAndZeroTurnsTheBreakerOff() {
        let breaker = CircuitBreaker(failureThreshold: 2, coolDown: .seconds(10))
        breaker.record(transientFailure: true, now: now)
        breaker.record(transientFailure: false, now: now)
        breaker.record(transientFailure: true, now: now)
        #expect(breaker.permission(now: now) == .proceed)
        let off = CircuitBreaker(failureThreshold: 0, coolDown: .seconds(10))
        for _ in 0..<100 { off.record(transientFailure: true, now: now) }
        #expect(off.permission(now: now) == .proceed)
    }

    @Test func theBucketSpacesCallsAtItsRate() {
        let bucket = TokenBucket(ratePerSecond: 10, burst: 2)
        let start = ContinuousClock.now
        #expect(bucket.reserve(now: start) == .zero)
        #expect(bucket.reserve(now: start) == .zero)
        #expect(bucket.reserve(now: start) == .milliseconds(100))
        #expect(bucket.reserve(now: start) == .milliseconds(200))
        #expect(bucket.reserve(now: start + .seconds(1)) == .zero)
        #expect(TokenBucket(ratePerSecond: 0).reserve(now: start) == .zero)
    }

    @Test func theLimitHoldsCallersBeyondItsPlacesAndGetsEveryPlaceBack() async {
        let limit = ConcurrencyLimit(3)
        await limit.acquire()
        #expect(limit.acquireAllFree() == 2)
        #expect(limit.acquireAllFree() == 0)
        limit.release(3)

        let inside = Occupancy()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    await limit.withPlace {
                        inside.enter()
                        try? await Task.sleep(for: .milliseconds(30))
                        inside.leave()
                    }
                }
            }
        }
        let counts = inside.counts
        #expect(counts.finished == 12)
        #expect(counts.peak == 3, "peak \(counts.peak) with 3 places")
        #expect(limit.acquireAllFree() == 3, "every place is given back")
    }
}

/// Counts the callers inside a `ConcurrencyLimit`.
private final class Occupancy: Sendable {
    private let state = Mutex((now: 0, peak: 0, finished: 0))

    var counts: (now: Int, peak: Int, finished: Int) { state.withLock { $0 } }

    func enter() {
        state.withLock {
            $0.now += 1
            $0.peak = max($0.peak, $0.now)
        }
    }

    func leave() {
        state.withLock {
            $0.now -= 1
            $0.finished += 1
        }
    }
}
