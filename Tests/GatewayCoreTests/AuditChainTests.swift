import Foundation
import GatewayCore
import GatewayTestSupport
import Testing

/// The tamper-evident history in memory: every writer seals what it appends after the head it read, a history left
/// alone verifies, and each way of rewriting one is reported with the first bad link.
@Suite("Audit chain, in memory")
struct AuditChainTests {
    static let keyA = try! AuditKey(base64: Data(repeating: 0xA1, count: 32).base64EncodedString())
    static let keyB = try! AuditKey(base64: Data(repeating: 0xB2, count: 48).base64EncodedString())
    let clock = ManualTimeSource()
    let sealerA = AuditSealer(keys: AuditKeyRing(signing: keyA))
    let shipments = InMemoryShipmentStore([InMemoryShipmentStore.shipment("SHP-1")])
    let routing = ScriptedRoutingService()

    func process(_ store: InMemoryEventStore) -> ProcessEvent {
        ProcessEvent(
            events: store, shipments: shipments, routing: routing,
            policy: ProcessingPolicy(
                retry: RetryPolicy(base: .seconds(1), factor: 2, cap: .seconds(60), jitter: 0, maxAttempts: 5), parkWindow: .seconds(3_600),
                parkInterval: .seconds(60)),
            breaker: CircuitBreaker(failureThreshold: 0, coolDown: .seconds(1)), rateLimit: TokenBucket(ratePerSecond: 0),
            routingCalls: ConcurrencyLimit(4), workerId: "worker-a", leaseDuration: .seconds(30), clock: clock)
    }

    func ingest(_ eventId: String, into store: InMemoryEventStore, sealer: AuditSealer?) async throws -> EventKey {
        let key = EventKey(source: "courier", eventId: eventId)
        let body = #"{"type":"shipment.status_updated","shipmentId":"SHP-1","status":"in_transit","occurredAt":"2026-11-24T10:00:00Z"}"#
        let event = try NewEvent(key: key, body: Array(body.utf8), receivedAt: clock.now(), encoder: store.payloadEncoder).sealed(by: sealer)
        #expect(try await store.insert(event) == .stored)
        return key
    }

    /// An event with four sealed entries: a retry, a lease expiry swept by the relay, a death, an operator's replay;
    /// and then a fifth, its processing.
    func sealedHistory() async throws -> (store: InMemoryEventStore, key: EventKey) {
        let store = InMemoryEventStore(sealer: sealerA)
        let key = try await ingest("e1", into: store, sealer: sealerA)
        routing.answer { _, call in
            switch call {
            case 1: .failure(RoutingFailure(.transient, "routing service answered 503"))
            case 2: .failure(RoutingFailure(.permanent, "routing service answered 422"))
            default: .success(ScriptedRoutingService.decision)
            }
        }
        #expect(try await process(store)(key) == .moved(to: .retryScheduled))
        clock.advance(by: .seconds(5))
        _ = try #require(try await store.claim(key, worker: "worker-gone", leaseDuration: .seconds(1), now: clock.now()))
        clock.advance(by: .seconds(2))
        #expect(try await store.sweepExpiredLeases(now: clock.now(), limit: 10, skipping: []).handled == 1)
        #expect(try await process(store)(key) == .moved(to: .dead))
        let replays = ReplayDeadEvents(store: store, clock: clock, sealer: sealerA)
        #expect(try await replays.run(.keys([key]), replay: Replay(by: "ops", reason: "fixed"), dryRun: false).replayed.count == 1)
        #expect(try await process(store)(key) == .moved(to: .processed))
        return (store, key)
    }

    @Test func everyWriterSealsWhatItAppendsAndAnUntouchedHistoryVerifies() async throws {
        let (store, key) = try await sealedHistory()
        let audited = try #require(store.audited(key))
        #expect(audited.entries.map { $0.entry?.record.outcome } == [.retry, .retry, .dead, .replayed, .processed])
        #expect(audited.entries.allSatisfy { $0.seal?.keyId == Self.keyA.id })
        #expect(audited.head?.links == 5 && audited.head?.last == audited.entries.last?.seal?.mac)
        #expect(AuditVerifier(keys: AuditKeyRing(signing: Self.keyA)).verify(audited) == nil)
    }

    @Test func eachRewriteIsReportedWithItsFirstBadLink() async throws {
        let (store, key) = try await sealedHistory()
        let original = try #require(store.audited(key))
        let verifier = AuditVerifier(keys: AuditKeyRing(signing: Self.keyA))
        func problem(_ tamper: (inout AuditedEvent) -> Void) -> (AuditFinding.Problem?, Int?) {
            var event = original
            tamper(&event)
            let finding = verifier.verify(event)
            return (finding?.problem, finding?.entry)
        }

        #expect(problem { $0.entries[1].entry?.record.error = "nothing went wrong" } == (.entryAltered, 1))
        #expect(problem { $0.entries[3].entry?.record.by = "someone-else" } == (.entryAltered, 3))
        #expect(problem { $0.entries[2].entry = nil } == (.entryAltered, 2), "an entry the gateway would not write")
        #expect(problem { $0.entries[2].seal = nil } == (.entryUnsealed, 2))
        #expect(problem { $0.entries.swapAt(1, 2) } == (.entryMoved, 1))
        #expect(problem { $0.entries.remove(at: 1) }.1 == 1, "a removed entry breaks the link of the one after it")
        #expect(problem { $0.entries.removeLast() } == (.truncated, nil))
        #expect(
            problem {
                $0.entries.removeLast(2)
                $0.head?.last = $0.entries.last?.seal?.mac ?? ""
                $0.head?.links = 3
            } == (.truncated, nil), "pointing the head at an earlier link needs a head that was never stored")
        #expect(problem { $0.record.payloadDigest = IngestRecord.digest(of: Array("{}".utf8)) } == (.ingestRecordAltered, nil))
        #expect(problem { $0.record.receivedAt.addTimeInterval(-60) } == (.ingestRecordAltered, nil))
        #expect(problem { $0.record.key = EventKey(source: "courier", eventId: "e2") } == (.ingestRecordAltered, nil))
        #expect(
            problem {
                $0.ingestSeal = nil
                $0.head = nil
                for index in $0.entries.indices { $0.entries[index].seal = nil }
            } == (.unsealed, nil))
        #expect(AuditVerifier(keys: AuditKeyRing(signing: Self.keyB)).verify(original)?.problem == .unknownKey)
    }

    @Test func afterARotationOldAndNewEntriesVerifyWithBothKeys() async throws {
        let store = InMemoryEventStore(sealer: sealerA)
        let key = try await ingest("e1", into: store, sealer: sealerA)
        routing.answer { _, _ in .failure(RoutingFailure(.permanent, "routing service answered 422")) }
        #expect(try await process(store)(key) == .moved(to: .dead))
        // The operator's replay runs after the rotation: key B signs, key A is kept to verify.
        let rotated = AuditSealer(keys: AuditKeyRing(signing: Self.keyB, old: [Self.keyA]))
        _ = try await ReplayDeadEvents(store: store, clock: clock, sealer: rotated).run(
            .keys([key]), replay: Replay(by: "ops", reason: "x"), dryRun: false)
        let audited = try #require(store.audited(key))
        #expect(audited.entries.map { $0.seal?.keyId } == [Self.keyA.id, Self.keyB.id])

        #expect(AuditVerifier(keys: rotated.keys).verify(audited) == nil)
        let withoutTheOldKey = AuditVerifier(keys: AuditKeyRing(signing: Self.keyB)).verify(audited)
        #expect(withoutTheOldKey?.problem == .unknownKey && withoutTheOldKey?.entry == nil, "the ingest record was sealed with A")
        let withoutTheNewKey = AuditVerifier(keys: AuditKeyRing(signing: Self.keyA)).verify(audited)
        #expect(withoutTheNewKey?.problem == .unknownKey && withoutTheNewKey?.entry == 1)
    }

    @Test func anEventAcceptedUnsealedStaysUnsealedRatherThanSealedFromTheMiddle() async throws {
        let store = InMemoryEventStore(sealer: sealerA)
        let key = try await ingest("e1", into: store, sealer: nil)
        #expect(try await process(store)(key) == .moved(to: .processed))
        let audited = try #require(store.audited(key))
        #expect(audited.entries.count == 1 && audited.entries.allSatisfy { $0.seal == nil } && audited.head == nil)
        #expect(AuditVerifier(keys: AuditKeyRing(signing: Self.keyA)).verify(audited)?.problem == .unsealed)
    }

    @Test func keysAreBase64OfAtLeast32BytesAndNamedByAShortDigest() throws {
        #expect(throws: AuditKeyError.self) { try AuditKey(base64: Data(repeating: 1, count: 31).base64EncodedString()) }
        #expect(throws: AuditKeyError.self) { try AuditKey(base64: "not base64!") }
        #expect(Self.keyA.id.count == 12 && Self.keyA.id != Self.keyB.id)
        #expect(try AuditKey(base64: Data(repeating: 0xA1, count: 32).base64EncodedString()).id == Self.keyA.id)
    }
}
