import Foundation
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import Testing

@testable import GatewayAdapters

/// The operators' half against the real store and Redis: redriving dead letters (selection, dry run, twice, at
/// once, after the shipment appears), `stats` and `check` on a store seeded with known stuck cases, and pages of
/// events.
@Suite("Operator tools on the real store")
struct OperatorToolsTests {
    let operatorReplay = try! Replay(by: "ops-alice", reason: "shipment imported late, INC-42")

    /// Resources on a fresh migrated database with a stream of its own, and the operator queries on them.
    private func withStore(_ body: (GatewayResources, OperatorQueries) async throws -> Void) async throws {
        try await withStoreAndStream { resources, queries, _ in try await body(resources, queries) }
    }

    private func withStoreAndStream(_ body: (GatewayResources, OperatorQueries, RedisEventStream) async throws -> Void) async throws {
        var configuration = TestServices.configuration()
        configuration.streamName = "test:\(TestServices.uniqueDatabaseName("operator"))"
        try await TestServices.withMigratedDatabase("operator", configuration: configuration) { resources in
            let stream = GatewayRuntime.eventStream(configuration, resources)
            do {
                try await body(resources, OperatorQueries(resources: resources, configuration: configuration), stream)
                _ = try await resources.redis.call(["DEL", stream.name])
            } catch {
                _ = try? await resources.redis.call(["DEL", stream.name])
                throw error
            }
        }
    }

    private func insert(_ eventId: String, shipment: String, in resources: GatewayResources, receivedAt: Date = Date()) async throws -> EventKey {
        let inbox = MongoInboxStore(pool: resources.mongo)
        let key = EventKey(source: Fixtures.source, eventId: eventId)
        let event = try NewEvent(
            key: key, body: Array(Fixtures.body(shipmentId: shipment).utf8), receivedAt: receivedAt, encoder: inbox.payloadEncoder)
        #expect(try await inbox.insert(event) == .stored)
        return key
    }

    /// A worker's processing of `key` with the real stores: an unknown shipment is dead-lettered at once.
    private func process(_ key: EventKey, in resources: GatewayResources, routing: ScriptedRoutingService = ScriptedRoutingService()) async throws
        -> ProcessingResult
    {
        let process = ProcessEvent(
            events: MongoWorkerStore(pool: resources.mongo), shipments: MongoShipmentStore(pool: resources.mongo), routing: routing,
            policy: ProcessingPolicy(retry: RetryPolicy(maxAttempts: 1), parkWindow: .zero, parkInterval: .seconds(1)),
            breaker: CircuitBreaker(failureThreshold: 0, coolDown: .seconds(1)), rateLimit: TokenBucket(ratePerSecond: 0),
            routingCalls: ConcurrencyLimit(4), workerId: "worker-test", leaseDuration: .seconds(30))
        return try await process(key)
    }

    private func document(_ key: EventKey, in collection: String, _ resources: GatewayResources) async throws -> BSONDocument? {
        try await resources.mongo.withDatabase("read \(collection)") { database in
            try database.collection(collection).findOne(EventDocuments.filter(key))
        }
    }

    // MARK: Replay

    @Test func anUnknownShipmentDeadLetterReplayedAfterTheShipmentExistsIsProcessedAndStillDedups() async throws {
        try await withStore { resources, _ in
            let shipment = MongoShipmentSeeder.shipmentId(3)
            let key = try await insert("late-shipment", shipment: shipment, in: resources)
            #expect(try await process(key, in: resources) == .moved(to: .dead))
            let replays = ReplayDeadEvents(store: MongoDeadEventStore(pool: resources.mongo))

            let dry = try await replays.run(.matching(DeadEventFilter(failureClass: .unknownShipment)), replay: operatorReplay, dryRun: true)
            #expect(dry.replayed.map(\.key) == [key])
            #expect(try await document(key, in: Collections.events, resources)?["status"] == .string("dead"), "a dry run changes nothing")

            _ = try await MongoShipmentSeeder(pool: resources.mongo).seed(count: 3)
            let report = try await replays.run(.keys([key]), replay: operatorReplay, dryRun: false)
            #expect(report.replayed.map(\.key) == [key] && report.skipped.isEmpty)

            let event = try #require(try await document(key, in: Collections.events, resources))
            #expect(event["status"] == .string("received"))
            #expect(event["attempts"]?.intValue == 0 && event["replayCount"]?.intValue == 1)
            #expect(event["failureClass"] == nil && event["deadAt"] == nil && event["deadLetterPending"] == nil)
            let history = event["history"]?.arrayValue ?? []
            let entry = try #require(history.last?.documentValue)
            #expect(history.count == 2, "the first outcome is kept")
            #expect(entry["outcome"] == .string("replayed") && entry["by"] == .string("ops-alice"))
            #expect(entry["reason"] == .string("shipment imported late, INC-42"))
            let letter = try #require(try await document(key, in: Collections.deadLetters, resources))
            #expect(letter["replayedBy"] == .string("ops-alice") && letter["replayedAt"]?.dateValue != nil)

            #expect(try await process(key, in: resources) == .moved(to: .processed))
            let inbox = MongoInboxStore(pool: resources.mongo)
            let again = try NewEvent(
                key: key, body: Array(Fixtures.body(shipmentId: shipment).utf8), receivedAt: Date(), encoder: inbox.payloadEncoder)
            #expect(try await inbox.insert(again) == .duplicate, "the replay kept the idempotency key")
        }
    }

    @Test func replayingTwiceOrTwiceAtOnceReplaysEachDeadLetterOnce() async throws {
        try await withStore { resources, _ in
            let keys = try await [insert("a", shipment: "SHP-NONE-1", in: resources), insert("b", shipment: "SHP-NONE-2", in: resources)]
            for key in keys { #expect(try await process(key, in: resources) == .moved(to: .dead)) }
            let store = MongoDeadEventStore(pool: resources.mongo)

            async let first = ReplayDeadEvents(store: store).run(.matching(DeadEventFilter()), replay: operatorReplay, dryRun: false)
            async let second = ReplayDeadEvents(store: store).run(.keys(keys), replay: operatorReplay, dryRun: false)
            let reports = try await [first, second]

            #expect(reports.flatMap(\.replayed).count == keys.count, "each dead letter moved by exactly one of the two")
            for key in keys {
                let event = try #require(try await document(key, in: Collections.events, resources))
                #expect(event["replayCount"]?.intValue == 1)
                #expect((event["history"]?.arrayValue ?? []).filter { $0.documentValue?["outcome"] == .string("replayed") }.count == 1)
            }
            let third = try await ReplayDeadEvents(store: store).run(.keys(keys), replay: operatorReplay, dryRun: false)
            #expect(third.replayed.isEmpty && third.skipped.map(\.key) == keys)
            #expect(third.skipped.allSatisfy { $0.reason == "not dead: it is received" })
        }
    }

    @Test func aSelectionByFingerprintTakesTheDeadLettersThatFailedAlike() async throws {
        try await withStore { resources, queries in
            let routing = ScriptedRoutingService()
            routing.answer { key, _ in
                .failure(RoutingFailure(.permanent, key.eventId.hasPrefix("bad") ? "routing service answered 422 for \(key.eventId)" : "no route"))
            }
            _ = try await MongoShipmentSeeder(pool: resources.mongo).seed(count: 1)
            let shipment = MongoShipmentSeeder.shipmentId(1)
            var bad: [EventKey] = []
            for id in ["bad-1", "bad-22", "other-1"] {
                let key = try await insert(id, shipment: shipment, in: resources)
                #expect(try await process(key, in: resources, routing: routing) == .moved(to: .dead))
                if id.hasPrefix("bad") { bad.append(key) }
            }
            let groups = DeadEventGroup.grouping(try await queries.deadEvents(DeadEventFilter(), limit: 1_000), by: .fingerprint)
            let fingerprint = "routing service answered # for bad-#"
            #expect(groups.map(\.name) == [fingerprint, "no route"] && groups.first?.count == 2)

            let report = try await ReplayDeadEvents(store: MongoDeadEventStore(pool: resources.mongo)).run(
                .matching(DeadEventFilter(fingerprint: fingerprint)), replay: operatorReplay, dryRun: false)
            #expect(Set(report.replayed.map(\.key)) == Set(bad))
            #expect(try await queries.deadEvents(DeadEventFilter(), limit: 10).map(\.key.eventId) == ["other-1"])
        }
    }

    // MARK: Stats and check

    @Test func statsAndCheckReportTheStuckCasesSeededInTheStore() async throws {
        try await withStore { resources, queries in
            let now = Date()
            let queued = try await insert("queued-long-ago", shipment: "SHP-X", in: resources, receivedAt: now.addingTimeInterval(-7_200))
            _ = try await MongoOutboxStore(pool: resources.mongo).reserveDue(now: now.addingTimeInterval(-3_600), limit: 10, skipping: [])
            let leased = try await insert("lease-expired", shipment: "SHP-X", in: resources)
            _ = try await MongoWorkerStore(pool: resources.mongo).claim(
                leased, worker: "gone", leaseDuration: .seconds(1), now: now.addingTimeInterval(-3_600))
            let deadNoLetter = try await insert("dead-without-letter", shipment: "SHP-X", in: resources)
            let processedNoResult = try await insert("processed-without-result", shipment: "SHP-X", in: resources)
            let fresh = try await insert("fresh", shipment: "SHP-X", in: resources)
            try await resources.mongo.withDatabase("seed broken states") { database in
                let events = database.collection(Collections.events)
                _ = try events.updateOne(
                    filter: EventDocuments.filter(deadNoLetter),
                    update: [
                        "$set": .document([
                            "status": .string("dead"), "failureClass": .string("permanent"), "deadAt": .date(now.addingTimeInterval(-3_600)),
                        ])
                    ])
                _ = try events.updateOne(
                    filter: EventDocuments.filter(processedNoResult), update: ["$set": .document(["status": .string("processed")])])
            }

            let report = try await queries.check(now: now)
            let offenders = Dictionary(uniqueKeysWithValues: report.findings.map { ($0.invariant, $0.offenders) })
            #expect(offenders["queued_past_recovery"] == [queued])
            #expect(offenders["lease_expired_unswept"] == [leased])
            #expect(offenders["dead_without_dead_letter"] == [deadNoLetter])
            #expect(offenders["processed_without_result"] == [processedNoResult])
            #expect(!report.holds)

            let stats = try await queries.stats(now: now)
            #expect(stats.byStatus[.queued] == 1 && stats.byStatus[.processing] == 1 && stats.byStatus[.dead] == 1)
            #expect(stats.byStatus[.processed] == 1 && stats.byStatus[.received] == 1)
            #expect(stats.bySource[Fixtures.source]?[.received] == 1)
            #expect(stats.deadByClass == ["permanent": 1])
            let oldestQueued = try #require(stats.oldest.first { $0.status == .queued })
            #expect(oldestQueued.event == queued && oldestQueued.seconds >= 3_599)
            #expect(stats.oldest.first { $0.status == .received }?.event == fresh)
            #expect(try stats.stream.get().length == 0)

            // The same store with its broken states repaired holds every promise.
            try await resources.mongo.withDatabase("repair") { database in
                for key in [queued, leased, deadNoLetter, processedNoResult] {
                    _ = try database.collection(Collections.events).deleteOne(EventDocuments.filter(key))
                }
            }
            #expect(try await queries.check(now: now).holds)
        }
    }

    @Test func statsReadTheStreamsLengthAndItsConsumersPendingEntries() async throws {
        try await withStoreAndStream { _, queries, stream in
            try await stream.prepare()
            try await stream.publish((1...3).map { EventKey(source: Fixtures.source, eventId: "s-\($0)") })
            #expect(try await stream.read(consumer: "worker-a", count: 2, block: .milliseconds(10)).count == 2)

            let health = try await queries.stats().stream.get()
            #expect(health.length == 3)
            let group = try #require(health.groups.first)
            #expect(group.pending == 2 && group.lag == 1)
            #expect(group.consumers.map(\.name) == ["worker-a"] && group.consumers.first?.pending == 2)
        }
    }

    // MARK: Events

    @Test func eventPagesFollowTheirCursorToTheEndWithoutRepeatsOrGaps() async throws {
        try await withStore { resources, queries in
            var keys: [EventKey] = []
            for index in 1...7 { keys.append(try await insert("page-\(index)", shipment: "SHP-P", in: resources)) }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let page = try await queries.events(.init(source: Fixtures.source), cursor: cursor, limit: 3)
                seen += page.events.compactMap { $0["eventId"]?.stringValue }
                #expect(page.events.allSatisfy { $0["payload"] == nil && $0["history"] == nil })
                cursor = page.nextCursor
            } while cursor != nil
            #expect(seen == keys.reversed().map(\.eventId))
            await #expect(throws: OperatorQueryError.self) { try await queries.events(.init(), cursor: "not-a-cursor", limit: 3) }
            #expect(try await queries.events(.init(status: .dead), limit: 3).events.isEmpty)
        }
    }
}
