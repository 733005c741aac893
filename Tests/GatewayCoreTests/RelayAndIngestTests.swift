import Foundation
import GatewayCore
import GatewayTestSupport
import Synchronization
import Testing

/// One relay pass against in-memory stores: what it publishes, how each failure stays alone, how a lost stream is
/// recovered over passes, and where it stops when asked to.
@Suite("RelayDueEvents, in memory")
struct RelayDueEventsTests {
    let clock = ManualTimeSource()
    let store = InMemoryEventStore()
    let stream = InMemoryEventStream()

    func relay(batchSize: Int = 500) -> RelayDueEvents {
        RelayDueEvents(
            outbox: store, stream: stream, recoveryWindow: .seconds(300), batchSize: batchSize, clock: clock, random: FixedRandomSource([0.5]))
    }

    @discardableResult
    func ingest(_ count: Int, prefix: String = "e") async throws -> [EventKey] {
        var keys: [EventKey] = []
        for index in 1...count {
            let key = EventKey(source: "courier", eventId: "\(prefix)-\(index)")
            _ = try await store.insert(
                NewEvent(key: key, body: Array(#"{"shipmentId":"SHP-1"}"#.utf8), receivedAt: clock.now(), encoder: store.payloadEncoder))
            keys.append(key)
        }
        return keys
    }

    @Test func dueEventsArePublishedOnceAndMarkedQueued() async throws {
        let keys = try await ingest(5)
        let report = try await relay().runOnce()
        #expect(report.published == 5 && report.failures.isEmpty && report.failedSteps.isEmpty)
        #expect(Set(stream.entries.map(\.key)) == Set(keys))
        #expect(keys.allSatisfy { store.event($0)?.state.status == .queued })
        #expect(try await relay().runOnce().published == 0)
    }

    @Test func aRefusedDocumentFailsAloneAndIsLeftOutUntilItsBackoffPasses() async throws {
        let keys = try await ingest(5)
        store.refuse(keys[2])
        let first = try await relay().runOnce()
        #expect(first.published == 4)
        #expect(first.failures.map(\.key) == [keys[2]] && first.failures.first?.step == .publishDue)
        #expect(store.setAside.first?.retryAt == clock.now().addingTimeInterval(10), "10 s after the first failure")

        #expect(try await relay().runOnce().failures.isEmpty, "left out while in its backoff")
        clock.advance(by: .seconds(10))
        let again = try await relay().runOnce()
        #expect(again.failures.map(\.key) == [keys[2]])
        #expect(store.setAside.first?.failures == 2)
        #expect(store.setAside.first?.retryAt == clock.now().addingTimeInterval(20), "doubling")
    }

    @Test func aRecoveryStepThatFailsDoesNotKeepDueEventsBack() async throws {
        let poison = try await ingest(1, prefix: "poison")[0]
        let worker = try #require(try await store.claim(poison, worker: "w", leaseDuration: .seconds(30), now: clock.now()))
        let attempt = AttemptRecord(attempt: 1, startedAt: clock.now(), finishedAt: clock.now(), outcome: .dead, error: "422", routingLatencyMs: 1)
        store.refuseDeadLetter(poison)
        #expect(try await store.record(.deadLetter(.permanent, error: "422", spendsAttempt: true), attempt: attempt, for: worker, now: clock.now()))
        try await ingest(3)
        let report = try await relay().runOnce()
        #expect(report.published == 3)
        #expect(report.failures.map(\.step) == [.reconcileDeadLetters])
        #expect(store.event(poison)?.deadLetterPending == true)
    }

    @Test func aLostStreamIsRepublishedOverPassesWhoeverRunsThem() async throws {
        let keys = try await ingest(25)
        #expect(try await relay().runOnce().published == 25)
        stream.loseEverything()
        clock.advance(by: .seconds(1))
        var recovered = 0
        for _ in 0..<3 { recovered += try await relay(batchSize: 10).runOnce(maximumBatches: 1).recovered }
        #expect(recovered == 25)
        #expect(Set(stream.entries.map(\.key)) == Set(keys))
        #expect(try await store.unrecoveredStreamLoss(stream: stream.name) == nil, "drained: the loss is forgotten")
    }

    @Test func aPassAskedToStopEndsBetweenBatchesWithNothingReservedAndUnpublished() async throws {
        try await ingest(30)
        let batches = Mutex(0)
        let report = try await relay(batchSize: 10).runOnce(recover: false) {
            batches.withLock { count in
                count += 1
                return count > 1
            }
        }
        #expect(report.published == 10 && report.stoppedEarly)
        #expect(stream.entries.count == 10)
    }

    @Test func aFailedPublicationReleasesItsReservationForImmediateRecovery() async throws {
        let keys = try await ingest(3)
        stream.setUnavailable(true)
        await #expect(throws: InMemoryEventStream.StreamUnavailable.self) { try await relay().runOnce() }
        #expect(keys.allSatisfy { store.event($0)?.state.queuedAt == EventLifecycle.releasedAt })
        stream.setUnavailable(false)
        #expect(try await relay().runOnce().recovered == 3)
    }

    @Test func anUnavailableStoreFailsTheStepsAndThePass() async throws {
        try await ingest(1)
        _ = try await relay().runOnce()
        store.setUnavailable(true)
        await #expect(throws: StoreError.self) { try await relay().runOnce() }
    }
}

/// Ingest without HTTP: verification, payload rules and how the store's answers become the producer's.
@Suite("IngestEvent, in memory")
struct IngestEventTests {
    let clock = ManualTimeSource(Date())
    let store = InMemoryEventStore()

    func ingest() -> IngestEvent {
        IngestEvent(secrets: [Fixtures.source: [Fixtures.secret]], verifier: SignatureVerifier(), inbox: store, clock: clock)
    }

    func delivery(id: String, body: String = Fixtures.body(), source: String = Fixtures.source, signature: String? = nil) -> WebhookDelivery {
        let headers = Fixtures.signedHeaders(id: id, body: body, timestamp: Int64(clock.now().timeIntervalSince1970))
        return WebhookDelivery(
            source: source, headers: SignedHeaders(id: headers[0].value, timestamp: headers[1].value, signature: signature ?? headers[2].value),
            body: Array(body.utf8))
    }

    @Test func aVerifiedDeliveryIsStoredOnceThenADuplicate() async throws {
        let event = try ingest().accept(delivery(id: "evt-1"))
        #expect(event.key == EventKey(source: Fixtures.source, eventId: "evt-1") && event.shipmentId == "SHP-000123")
        #expect(try await ingest().store(event).outcome == .stored)
        #expect(try await ingest().store(event).outcome == .duplicate)
        #expect(store.event(event.key)?.state.status == .received)
    }

    @Test func refusalsSayWhy() {
        #expect(throws: IngestError.unknownSource("nobody")) { try ingest().accept(delivery(id: "e", source: "nobody")) }
        #expect(throws: IngestError.unauthenticated("no signature matches")) { try ingest().accept(delivery(id: "e", signature: "v1,AAAA")) }
        #expect(throws: IngestError.malformedRequest("missing webhook-id header")) {
            try ingest().accept(WebhookDelivery(source: Fixtures.source, headers: SignedHeaders(id: nil, timestamp: nil, signature: nil), body: []))
        }
        #expect(throws: IngestError.invalidPayload("body must be a JSON object")) { try ingest().accept(delivery(id: "e", body: "[1]")) }
    }

    @Test func theStoresAnswersBecomeThePayloadOrUnavailableErrors() async throws {
        let refused = try ingest().accept(delivery(id: "refused"))
        store.refuse(refused.key)
        await #expect(throws: IngestError.self) { try await ingest().store(refused) }
        do {
            _ = try await ingest().store(refused)
        } catch {
            guard case .invalidPayload(let reason) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(reason.hasPrefix("the store rejected the payload"))
        }
        store.setUnavailable(true)
        do {
            _ = try await ingest().store(try ingest().accept(delivery(id: "later")))
            Issue.record("stored while unavailable")
        } catch {
            guard case .storeUnavailable(let storeError) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(storeError.code == .unavailable)
        }
    }
}
