import Foundation
import GatewayCore
import GatewayTestSupport
import Testing

/// One event from claim to outcome, against in-memory stores and a scripted routing service, with a clock moved by
/// hand: retries, parking, the breaker, lease loss and duplicates, without any server.
@Suite("ProcessEvent, in memory")
struct ProcessEventTests {
    let clock = ManualTimeSource()
    let store = InMemoryEventStore()
    let shipments = InMemoryShipmentStore([InMemoryShipmentStore.shipment("SHP-1")])
    let routing = ScriptedRoutingService()
    let policy = ProcessingPolicy(
        retry: RetryPolicy(base: .seconds(1), factor: 2, cap: .seconds(60), jitter: 0.2, maxAttempts: 3), parkWindow: .seconds(3_600),
        parkInterval: .seconds(60))

    func process(worker: String = "worker-a", breaker: CircuitBreaker = CircuitBreaker(failureThreshold: 0, coolDown: .seconds(1))) -> ProcessEvent {
        ProcessEvent(
            events: store, shipments: shipments, routing: routing, policy: policy, breaker: breaker, rateLimit: TokenBucket(ratePerSecond: 0),
            routingCalls: ConcurrencyLimit(4), workerId: worker, leaseDuration: .seconds(30), clock: clock, random: FixedRandomSource([0.5]))
    }

    @discardableResult
    func ingest(_ eventId: String, shipmentId: String = "SHP-1") async throws -> EventKey {
        let key = EventKey(source: "courier", eventId: eventId)
        let body = #"{"type":"shipment.status_updated","shipmentId":"\#(shipmentId)","status":"in_transit","occurredAt":"2026-11-24T10:00:00Z"}"#
        #expect(try await store.insert(NewEvent(key: key, body: Array(body.utf8), receivedAt: clock.now(), encoder: store.payloadEncoder)) == .stored)
        return key
    }

    @Test func aRoutedEventIsProcessedOnceWithItsDecisionOnTheShipment() async throws {
        let key = try await ingest("e1")
        #expect(try await process()(key) == .moved(to: .processed))
        let stored = try #require(store.event(key))
        #expect(stored.state.status == .processed && stored.attempts == 1 && stored.claimsWithoutOutcome == 0)
        #expect(stored.result == ScriptedRoutingService.decision)
        #expect(stored.history.map(\.record.outcome) == [.processed])
        #expect(shipments.route(of: "SHP-1") == ScriptedRoutingService.decision)
        #expect(try await shipments.shipment("SHP-1")?.status == "in_transit")
        // The same entry delivered again: the event is not claimable, nothing is called twice.
        #expect(try await process()(key) == .skipped)
        #expect(routing.calls(key) == 1)
    }

    @Test func transientFailuresRetryWithGrowingBackoffThenDeadLetter() async throws {
        let key = try await ingest("e1")
        routing.answer { _, _ in .failure(RoutingFailure(.transient, "routing service answered 503")) }
        let start = clock.now()
        #expect(try await process()(key) == .moved(to: .retryScheduled))
        #expect(store.event(key)?.state.availableAt == start.addingTimeInterval(1))
        #expect(try await process()(key) == .skipped, "not due before its backoff")
        clock.advance(by: .seconds(1))
        #expect(try await process()(key) == .moved(to: .retryScheduled))
        #expect(store.event(key)?.state.availableAt == start.addingTimeInterval(3))
        clock.advance(by: .seconds(2))
        #expect(try await process()(key) == .moved(to: .dead))
        let dead = try #require(store.event(key))
        #expect(dead.attempts == 3 && dead.failureClass == .retriesExhausted)
        #expect(dead.history.map(\.record.attempt) == [1, 2, 3])
        #expect(store.deadLetter(key)?.failureClass == .retriesExhausted)
    }

    /// Defect 1 of issue 14: re-checks of a parked event are deferrals, never crashes, however many there are.
    @Test func anEventParkedForItsShipmentIsNeverAbandonedAndIsProcessedOnceItAppears() async throws {
        let key = try await ingest("early", shipmentId: "SHP-LATE")
        for _ in 0...policy.maxClaimsWithoutOutcome + 2 {
            #expect(try await process()(key) == .moved(to: .parked))
            clock.advance(by: .seconds(60))
        }
        #expect(store.event(key)?.attempts == 0)
        #expect(store.event(key)?.claimsWithoutOutcome == 0)
        shipments.add(InMemoryShipmentStore.shipment("SHP-LATE"))
        #expect(try await process()(key) == .moved(to: .processed))
        #expect(store.event(key)?.attempts == 1)
    }

    @Test func aShipmentThatNeverAppearsIsDeadLetteredAfterTheParkingWindow() async throws {
        let key = try await ingest("orphan", shipmentId: "SHP-NONE")
        for _ in 0..<60 {
            #expect(try await process()(key) == .moved(to: .parked))
            clock.advance(by: .seconds(60))
        }
        #expect(try await process()(key) == .moved(to: .dead))
        #expect(store.event(key)?.failureClass == .unknownShipment)
        #expect(routing.totalCalls == 0)
    }

    @Test func anOpenBreakerDefersWithoutCallingOrSpendingAndNeverAbandons() async throws {
        let breaker = CircuitBreaker(failureThreshold: 1, coolDown: .seconds(30))
        let first = try await ingest("first")
        let waiting = try await ingest("waiting")
        routing.answer { _, _ in .failure(RoutingFailure(.transient, "routing call timed out")) }
        #expect(try await process(breaker: breaker)(first) == .moved(to: .retryScheduled))
        for _ in 0...policy.maxClaimsWithoutOutcome + 2 {
            #expect(try await process(breaker: breaker)(waiting) == .moved(to: .retryScheduled))
            #expect(store.event(waiting)?.lastError?.hasPrefix("circuit_open") == true)
            clock.advance(by: .seconds(30))
            // Keep the breaker open: its probe fails again each time it is let through.
            _ = breaker.permission(now: clock.now())
            breaker.record(transientFailure: true, now: clock.now())
        }
        #expect(routing.calls(waiting) == 0)
        #expect(store.event(waiting)?.attempts == 0 && store.event(waiting)?.claimsWithoutOutcome == 0)
    }

    @Test func aWorkerWhoseLeaseWasTakenOverWritesNothing() async throws {
        let key = try await ingest("contested")
        let stalled = try #require(try await store.claim(key, worker: "worker-a", leaseDuration: .seconds(30), now: clock.now()))
        clock.advance(by: .seconds(31))
        #expect(try await process(worker: "worker-b")(key) == .moved(to: .processed))
        let attempt = AttemptRecord(attempt: 1, startedAt: clock.now(), finishedAt: clock.now(), outcome: .retry, error: "late", routingLatencyMs: 1)
        #expect(
            try await store.record(.retry(at: clock.now(), error: "late", spendsAttempt: true), attempt: attempt, for: stalled, now: clock.now())
                == false)
        let stored = try #require(store.event(key))
        #expect(stored.state.status == .processed && stored.history.count == 1)
        #expect(stored.claimsWithoutOutcome == 1, "the stalled worker's claim ended without an outcome")
    }

    @Test func anEventWhoseWorkersKeepVanishingIsAbandoned() async throws {
        let key = try await ingest("crasher")
        for _ in 0..<policy.maxClaimsWithoutOutcome {
            _ = try #require(try await store.claim(key, worker: "doomed", leaseDuration: .seconds(30), now: clock.now()))
            clock.advance(by: .seconds(31))
            #expect(try await store.sweepExpiredLeases(now: clock.now(), limit: 10, skipping: []).handled == 1)
        }
        #expect(try await process()(key) == .moved(to: .dead))
        let dead = try #require(store.event(key))
        #expect(dead.failureClass == .abandoned && dead.attempts == 0)
        #expect(dead.lastError == "\(policy.maxClaimsWithoutOutcome) claims ended without an outcome: its workers crashed or stalled")
        #expect(routing.totalCalls == 0)
    }

    @Test func aPermanentAnswerDeadLettersAtOnceAndAPayloadWithoutShipmentToo() async throws {
        let unroutable = try await ingest("unroutable")
        routing.answer { _, _ in .failure(RoutingFailure(.permanent, "routing service answered 422")) }
        #expect(try await process()(unroutable) == .moved(to: .dead))
        #expect(store.event(unroutable)?.failureClass == .permanent && store.event(unroutable)?.attempts == 1)

        let key = EventKey(source: "courier", eventId: "no-shipment")
        _ = try await store.insert(NewEvent(key: key, body: Array(#"{"type":"x"}"#.utf8), receivedAt: clock.now(), encoder: store.payloadEncoder))
        #expect(try await process()(key) == .moved(to: .dead))
        #expect(store.event(key)?.failureClass == .invalidPayload && store.event(key)?.attempts == 0)
    }
}
