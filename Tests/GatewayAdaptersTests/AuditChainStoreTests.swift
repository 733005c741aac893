import Foundation
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import Testing

@testable import GatewayAdapters

/// The tamper-evident history on the real store: histories sealed by the Mongo stores verify as read back (the payload
/// digest survives the store's round trip), and each edit someone with write access to the database could make with a
/// shell — an entry changed, added to, removed, swapped, the payload changed, the history cut short — is reported.
@Suite("Audit chain against the real store")
struct AuditChainStoreTests {
    static let keyA = try! AuditKey(base64: Data((0..<32).map { UInt8($0) }).base64EncodedString())
    static let keyB = try! AuditKey(base64: Data((0..<32).map { UInt8(255 - $0) }).base64EncodedString())
    let clock = ManualTimeSource(Date(timeIntervalSince1970: (Date().timeIntervalSince1970).rounded(.down)))

    func process(_ resources: GatewayResources, sealer: AuditSealer) -> ProcessEvent {
        ProcessEvent(
            events: MongoWorkerStore(pool: resources.mongo, sealer: sealer), shipments: MongoShipmentStore(pool: resources.mongo),
            routing: routing,
            policy: ProcessingPolicy(
                retry: RetryPolicy(base: .seconds(1), factor: 2, cap: .seconds(10), jitter: 0, maxAttempts: 5), parkWindow: .zero),
            breaker: CircuitBreaker(failureThreshold: 0, coolDown: .seconds(1)), rateLimit: TokenBucket(ratePerSecond: 0),
            routingCalls: ConcurrencyLimit(8), workerId: "worker-audit", leaseDuration: .seconds(30), clock: clock)
    }

    /// The first call of each event fails (transient), the next succeeds: two entries per event.
    let routing = ScriptedRoutingService { _, call in
        call == 1 ? .failure(RoutingFailure(.transient, "routing service answered 503")) : .success(ScriptedRoutingService.decision)
    }

    func ingest(_ ids: [String], _ resources: GatewayResources, sealer: AuditSealer) async throws -> [EventKey] {
        let inbox = MongoInboxStore(pool: resources.mongo)
        var keys: [EventKey] = []
        for id in ids {
            let key = EventKey(source: Fixtures.source, eventId: id)
            let body =
                #"{"type":"shipment.status_updated","shipmentId":"\#(MongoShipmentSeeder.shipmentId(1))","n":7,"big":9007199254740993,"#
                + #""x":1.5,"s":"a\u0000b","nested":{"list":[1,"two",null,true]},"occurredAt":"2026-11-24T10:00:00Z"}"#
            let event = try NewEvent(key: key, body: Array(body.utf8), receivedAt: clock.now(), encoder: inbox.payloadEncoder).sealed(by: sealer)
            #expect(try await inbox.insert(event) == .stored)
            keys.append(key)
        }
        return keys
    }

    /// Retried, then processed; with `rotatedTo`, the second attempt is sealed under that sealer.
    func retryThenProcess(_ keys: [EventKey], _ resources: GatewayResources, sealer: AuditSealer, rotatedTo: AuditSealer? = nil) async throws {
        for key in keys { #expect(try await process(resources, sealer: sealer)(key) == .moved(to: .retryScheduled)) }
        clock.advance(by: .seconds(2))
        for key in keys { #expect(try await process(resources, sealer: rotatedTo ?? sealer)(key) == .moved(to: .processed)) }
    }

    func edit(_ key: EventKey, _ update: BSONDocument, in resources: GatewayResources) async throws {
        let changed = try await resources.mongo.withDatabase("tamper") { database in
            try database.collection(Collections.events).updateOne(filter: EventDocuments.filter(key), update: update)
        }
        #expect(changed == 1)
    }

    @Test func historiesSealedByEveryWriterVerifyAndEachEditIsReported() async throws {
        let sealer = AuditSealer(keys: AuditKeyRing(signing: Self.keyA))
        try await TestServices.withMigratedDatabase("audit-chain") { resources in
            _ = try await MongoShipmentSeeder(pool: resources.mongo).seed(count: 1, now: clock.now())
            let ids = ["clean", "swept", "replayed", "edited", "field-added", "removed", "swapped", "payload", "truncated", "head-moved"]
            let keys = try await ingest(ids, resources, sealer: sealer)
            @Sendable func key(_ id: String) -> EventKey { EventKey(source: Fixtures.source, eventId: id) }
            try await retryThenProcess(keys.filter { !["swept", "replayed"].contains($0.eventId) }, resources, sealer: sealer)

            // The relay's lease sweep and an operator's replay seal their entries too.
            let swept = key("swept")
            _ = try #require(
                try await MongoWorkerStore(pool: resources.mongo).claim(swept, worker: "gone", leaseDuration: .seconds(1), now: clock.now()))
            clock.advance(by: .seconds(2))
            let outbox = MongoOutboxStore(pool: resources.mongo, sealer: sealer)
            #expect(try await outbox.sweepExpiredLeases(now: clock.now(), limit: 10, skipping: []).handled == 1)
            let replayed = key("replayed")
            let deadly = ScriptedRoutingService { _, _ in .failure(RoutingFailure(.permanent, "routing service answered 422")) }
            let dying = ProcessEvent(
                events: MongoWorkerStore(pool: resources.mongo, sealer: sealer), shipments: MongoShipmentStore(pool: resources.mongo),
                routing: deadly,
                policy: ProcessingPolicy(), breaker: CircuitBreaker(failureThreshold: 0, coolDown: .seconds(1)),
                rateLimit: TokenBucket(ratePerSecond: 0),
                routingCalls: ConcurrencyLimit(1), workerId: "worker-audit", leaseDuration: .seconds(30), clock: clock)
            #expect(try await dying(replayed) == .moved(to: .dead))
            let replays = ReplayDeadEvents(store: MongoDeadEventStore(pool: resources.mongo), clock: clock, sealer: sealer)
            #expect(try await replays.run(.keys([replayed]), replay: Replay(by: "ops", reason: "INC-7"), dryRun: false).replayed.count == 1)

            let audit = HistoryAudit(resources: resources, keys: sealer.keys)
            let clean = try await audit.verify()
            #expect(clean.checked == ids.count && clean.verified == ids.count && clean.findings.isEmpty && clean.unsealed.isEmpty)

            let stored = try #require(
                try await resources.mongo.withDatabase("read") { database in
                    try database.collection(Collections.events).findOne(EventDocuments.filter(key("swapped")))
                })
            let history = try #require(stored["history"]?.arrayValue)
            try await edit(key("edited"), ["$set": .document(["history.0.error": .string("no error at all")])], in: resources)
            try await edit(key("field-added"), ["$set": .document(["history.1.note": .string("approved")])], in: resources)
            try await edit(key("removed"), ["$pop": .document(["history": .int32(-1)])], in: resources)
            try await edit(key("swapped"), ["$set": .document(["history": .array(history.reversed())])], in: resources)
            try await edit(key("payload"), ["$set": .document(["payload.n": .int32(8)])], in: resources)
            try await edit(key("truncated"), ["$pop": .document(["history": .int32(1)])], in: resources)
            // Cut the last entry and point the head at the one before: the head's own seal no longer holds.
            try await edit(
                key("head-moved"),
                [
                    "$pop": .document(["history": .int32(1)]),
                    "$set": .document(["chainHead.last": history[0].documentValue?["mac"] ?? .null, "chainHead.links": .int32(1)]),
                ], in: resources)

            let report = try await audit.verify(source: Fixtures.source)
            let found = Dictionary(uniqueKeysWithValues: report.findings.map { ($0.key.eventId, ($0.problem, $0.entry)) })
            #expect(report.verified == 3 && report.checked == ids.count)
            #expect(found["edited"]! == (.entryAltered, 0))
            #expect(found["field-added"]! == (.entryAltered, 1))
            #expect(found["removed"]?.1 == 0)
            #expect(found["swapped"]! == (.entryMoved, 0))
            #expect(found["payload"]! == (.ingestRecordAltered, nil))
            #expect(found["truncated"]! == (.truncated, nil))
            #expect(found["head-moved"]! == (.truncated, nil))
        }
    }

    @Test func afterAKeyRotationBothKeysVerifyAndAStoreOfUnsealedEventsSaysSo() async throws {
        let before = AuditSealer(keys: AuditKeyRing(signing: Self.keyA))
        let after = AuditSealer(keys: AuditKeyRing(signing: Self.keyB, old: [Self.keyA]))
        try await TestServices.withMigratedDatabase("audit-rotation") { resources in
            _ = try await MongoShipmentSeeder(pool: resources.mongo).seed(count: 1, now: clock.now())
            let keys = try await ingest(["rotated"], resources, sealer: before)
            try await retryThenProcess(keys, resources, sealer: before, rotatedTo: after)

            #expect(try await HistoryAudit(resources: resources, keys: after.keys).verify().verified == 1)
            let newKeyOnly = try await HistoryAudit(resources: resources, keys: AuditKeyRing(signing: Self.keyB)).verify()
            #expect(newKeyOnly.findings.map(\.problem) == [.unknownKey])

            // An event accepted while no key was configured is reported apart, as unsealed.
            let unsealed = EventKey(source: Fixtures.source, eventId: "unsealed")
            let inbox = MongoInboxStore(pool: resources.mongo)
            _ = try await inbox.insert(
                NewEvent(key: unsealed, body: Array(Fixtures.body().utf8), receivedAt: clock.now(), encoder: inbox.payloadEncoder))
            let mixed = try await HistoryAudit(resources: resources, keys: after.keys).verify()
            #expect(mixed.verified == 1 && mixed.unsealed == [unsealed] && mixed.findings.isEmpty)
            #expect(try await HistoryAudit(resources: resources, keys: after.keys).verify(since: clock.now().addingTimeInterval(1)).checked == 0)
        }
    }

    @Test func auditKeysAreReadFromTheirSettingsAndRefusedWithoutEchoingThem() throws {
        let (a, b) = (Self.keyA, Self.keyB)
        let textA = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        let textB = Data((0..<32).map { UInt8(255 - $0) }).base64EncodedString()
        let ring = try #require(
            try GatewayConfiguration.load(environment: ["GATEWAY_AUDIT_KEY": textB, "GATEWAY_AUDIT_OLD_KEYS": " \(textA) ,"]).auditKeys)
        #expect(ring.signing.id == b.id && ring.key(id: a.id) != nil && ring.ids == [b.id, a.id])
        #expect(try GatewayConfiguration.load(environment: [:]).auditKeys == nil)
        let short = Data(repeating: 7, count: 16).base64EncodedString()
        for environment in [
            ["GATEWAY_AUDIT_KEY": short], ["GATEWAY_AUDIT_OLD_KEYS": textA], ["GATEWAY_AUDIT_KEY": textA, "GATEWAY_AUDIT_OLD_KEYS": short],
        ] {
            do {
                _ = try GatewayConfiguration.load(environment: environment)
                Issue.record("accepted \(environment.keys.sorted())")
            } catch {
                #expect(!error.description.contains(short) && !error.description.contains(textA), "\(error)")
            }
        }
    }

    /// One document the verifier cannot re-encode (a payload value of a type the gateway never writes, as a shell can
    /// set) is reported as altered; it does not end the audit of the others.
    @Test func aPayloadOfATypeTheGatewayNeverWritesIsReportedNotThrown() throws {
        let sealer = AuditSealer(keys: AuditKeyRing(signing: Self.keyA))
        let event = try NewEvent(
            key: EventKey(source: Fixtures.source, eventId: "poisoned"), body: Array(Fixtures.body().utf8), receivedAt: clock.now(),
            encoder: MongoInboxStore.payloads
        ).sealed(by: sealer)
        var document = try EventDocuments.inbox(event)
        let verifier = AuditVerifier(keys: sealer.keys)
        #expect(verifier.verify(try #require(EventDocuments.audited(document))) == nil)
        let index = try #require(document.fields.firstIndex { $0.key == "payload" })
        document.fields[index].value = .document(["n": .unsupported(17)])
        #expect(verifier.verify(try #require(EventDocuments.audited(document)))?.problem == .ingestRecordAltered)
    }
}
