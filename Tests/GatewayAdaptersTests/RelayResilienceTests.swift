import Foundation
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import GatewayAdapters

/// One bad document never stops the relay, a loss of the stream's contents is recovered whoever runs next, and a
/// relay shut down mid-pass leaves nothing reserved behind: against the real store and Redis.
@Suite("The relay under poison documents, lost streams and shutdown")
struct RelayResilienceTests {
    /// Resources on a fresh migrated database with a stream of its own, removed afterwards.
    private func withRelay(_ body: (GatewayResources, RedisEventStream) async throws -> Void) async throws {
        try await TestServices.withMigratedDatabase("relay") { resources in
            let stream = RedisEventStream(
                commands: resources.redis, blockingReads: resources.blockingRedis, stream: "test:\(TestServices.uniqueDatabaseName("relay"))")
            do {
                try await body(resources, stream)
                try await resources.redis.call(["DEL", stream.name, "\(stream.name):epoch"])
            } catch {
                _ = try? await resources.redis.call(["DEL", stream.name, "\(stream.name):epoch"])
                throw error
            }
        }
    }

    private func relay(_ resources: GatewayResources, _ stream: any EventStream, batchSize: Int = 500) -> RelayDueEvents {
        RelayDueEvents(outbox: MongoOutboxStore(pool: resources.mongo), stream: stream, recoveryWindow: .seconds(300), batchSize: batchSize)
    }

    @discardableResult
    private func store(_ count: Int, prefix: String, in resources: GatewayResources) async throws -> [EventKey] {
        let inbox = MongoInboxStore(pool: resources.mongo)
        let keys = (1...count).map { EventKey(source: Fixtures.source, eventId: "\(prefix)-\($0)") }
        for key in keys {
            _ = try await inbox.insert(NewEvent(key: key, body: Array(Fixtures.body().utf8), receivedAt: Date(), encoder: inbox.payloadEncoder))
        }
        return keys
    }

    private func streamLength(_ stream: RedisEventStream, in resources: GatewayResources) async throws -> Int {
        guard case .integer(let length) = try await resources.redis.call(["XLEN", stream.name]) else { return -1 }
        return length
    }

    @Test func aDeadLetterTheStoreRefusesNeitherStopsPublicationNorIsRetriedBeforeItsBackoff() async throws {
        try await withRelay { resources, stream in
            let poison = try await store(1, prefix: "poison", in: resources)[0]
            _ = try await resources.mongo.withDatabase("stage a poison dead letter") { database in
                _ = try database.command(
                    ["collMod": .string(Collections.deadLetters), "validator": .document(["eventId": .document(["$ne": .string(poison.eventId)])])],
                    operation: "collMod")
                try database.collection(Collections.events).updateOne(
                    filter: EventDocuments.filter(poison),
                    update: ["$set": .document(["status": .string("dead"), "failureClass": .string("permanent"), "deadLetterPending": .bool(true)])])
            }
            let due = try await store(20, prefix: "due", in: resources)

            let first = try await relay(resources, stream).runOnce()
            #expect(first.published == due.count)
            #expect(first.failedSteps.isEmpty)
            #expect(first.failures.map(\.key) == [poison])
            #expect(first.failures.first?.step == .reconcileDeadLetters)
            #expect(try await streamLength(stream, in: resources) == due.count)

            let skipped = try await MongoOutboxStore(pool: resources.mongo).documentsInBackoff(now: Date())
            #expect(skipped[.reconcileDeadLetters]?.count == 1)
            let record = try #require(
                try await resources.mongo.withDatabase("read relay_failures") { database in
                    try database.collection(Collections.relayFailures).findOne([:])
                })
            #expect(record["eventId"] == .string(poison.eventId))
            #expect(record["failures"]?.intValue == 1)
            #expect((record["retryAt"]?.dateValue ?? .distantPast) > Date())

            // In its backoff, the poison is left out: nothing fails again.
            let second = try await relay(resources, stream).runOnce()
            #expect(second.failures.isEmpty && second.failedSteps.isEmpty)
        }
    }

    /// A document the events validator refuses to update (written by another system without `history`) among due
    /// events: the reservation fails on it alone, and so does a worker's claim grouped with others.
    @Test func aPoisonEventAmongDueOnesFailsAloneInTheRelayAndInTheClaims() async throws {
        try await withRelay { resources, stream in
            _ = try await resources.mongo.withDatabase("stage a poison event") { database in
                try database.command(
                    [
                        "insert": .string(Collections.events),
                        "documents": .array([
                            .document([
                                "source": .string(Fixtures.source), "eventId": .string("poison"), "payload": .document([:]),
                                "status": .string("received"),
                                "attempts": .int32(0), "receivedAt": .date(Date()), "availableAt": .date(Date(timeIntervalSince1970: 0)),
                            ])
                        ]),
                        "bypassDocumentValidation": .bool(true),
                    ], operation: "insert events")
            }
            let due = try await store(20, prefix: "due", in: resources)
            let report = try await relay(resources, stream).runOnce()
            #expect(report.published == due.count)
            #expect(report.failures.map(\.key) == [EventKey(source: Fixtures.source, eventId: "poison")])
            #expect(report.failures.first?.step == .publishDue)

            let events = MongoWorkerStore(pool: resources.mongo)
            let keys = due.prefix(5) + [EventKey(source: Fixtures.source, eventId: "poison")]
            let claims = await withTaskGroup(of: (EventKey, Result<ClaimedEvent?, any Error>).self) { group in
                for key in keys {
                    group.addTask {
                        (key, await Result { try await events.claim(key, worker: "worker-a", leaseDuration: .seconds(30), now: Date()) })
                    }
                }
                return await group.reduce(into: [EventKey: Result<ClaimedEvent?, any Error>]()) { $0[$1.0] = $1.1 }
            }
            for key in due.prefix(5) { #expect((try? claims[key]?.get())??.key == key, "\(key) was not claimed") }
            guard case .failure(let error as StoreError)? = claims[EventKey(source: Fixtures.source, eventId: "poison")] else {
                Issue.record("the poison's claim did not fail with a store error")
                return
            }
            #expect(!error.isStoreWide)
        }
    }

    /// The stream lost its contents: every queued event is published again, over as many passes (and relays) as it
    /// takes, although only the first relay saw the loss.
    @Test func aLostStreamIsRecoveredAcrossPassesAndRelaysUntilDone() async throws {
        try await withRelay { resources, stream in
            let keys = try await store(30, prefix: "queued", in: resources)
            #expect(try await relay(resources, stream).runOnce().published == keys.count)
            try await resources.redis.call(["DEL", stream.name, "\(stream.name):epoch"])

            // Relay a sees the loss, recovers one batch of 10 and dies; relay b never saw the loss itself.
            let byA = try await relay(resources, stream, batchSize: 10).runOnce(maximumBatches: 1)
            #expect(byA.recovered == 10)
            let outbox = MongoOutboxStore(pool: resources.mongo)
            #expect(try await outbox.unrecoveredStreamLoss(stream: stream.name) != nil)
            var recovered = byA.recovered
            for _ in 0..<3 { recovered += try await relay(resources, stream, batchSize: 10).runOnce(maximumBatches: 1).recovered }
            #expect(recovered == keys.count)
            #expect(try await streamLength(stream, in: resources) == keys.count)
            #expect(try await outbox.unrecoveredStreamLoss(stream: stream.name) == nil)
        }
    }

    /// Graceful shutdown during a publication: the pass finishes its batch instead of being cut short with
    /// events reserved and never published.
    @Test func aRelayShutDownMidPassPublishesWhatItReserved() async throws {
        try await withRelay { resources, stream in
            let keys = try await store(25, prefix: "in-flight", in: resources)
            let slowStream = SlowPublishingStream(stream)
            var configuration = TestServices.configuration()
            configuration.shutdownGrace = .seconds(5)
            let service = RelayService(relay: relay(resources, slowStream), pollInterval: .milliseconds(50), logger: Logger(label: "test"))
            let group = GatewayRuntime.serviceGroup([service], configuration: configuration, signals: [], logger: Logger(label: "test"))
            let running = Task { try await group.run() }
            #expect(await Eventually.holds(within: .seconds(10)) { slowStream.publishing.withLock { $0 } })
            await group.triggerGracefulShutdown()
            try await running.value
            #expect(try await streamLength(stream, in: resources) == keys.count)
        }
    }
}

/// A stream whose publications take a second, so that a shutdown can arrive in the middle of one.
private final class SlowPublishingStream: EventStream {
    let base: RedisEventStream
    let publishing = Mutex(false)

    init(_ base: RedisEventStream) { self.base = base }

    var name: String { base.name }
    func prepare() async throws { try await base.prepare() }
    func publish(_ keys: [EventKey]) async throws {
        publishing.withLock { $0 = true }
        try await Task.sleep(for: .seconds(1))
        try await base.publish(keys)
    }
    func read(consumer: String, count: Int, block: Duration) async throws -> [StreamMessage] {
        try await base.read(consumer: consumer, count: count, block: block)
    }
    func reclaim(consumer: String, minIdle: Duration, count: Int) async throws -> [StreamMessage] {
        try await base.reclaim(consumer: consumer, minIdle: minIdle, count: count)
    }
    func acknowledge(_ ids: [String]) async throws { try await base.acknowledge(ids) }
    func contentsWereLost() async throws -> Bool { try await base.contentsWereLost() }
    func acknowledgeLostContents() async throws { try await base.acknowledgeLostContents() }
}
