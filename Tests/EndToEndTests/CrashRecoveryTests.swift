import Foundation
import GatewayAdapters
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import Testing

/// Crashes staged against real processes: every accepted event still ends terminal, none has a second effect.
/// Part of the serialized pipeline suite, so that no other end-to-end test loads the machine meanwhile.
extension PipelineTests {
    @Test func aWorkerKilledWithEventsInFlightLosesNothingAndDoublesNothing() async throws {
        try await withHarness(
            simulator: ["--latency-ms", "2000"],
            configure: { configuration in
                configuration.lease = .seconds(8)
                configuration.streamClaimIdle = .seconds(8)
            }
        ) { harness in
            let keys = try await harness.ingest(count: 100)
            let doomed = try harness.startProcess(role: "worker", workerId: "worker-doomed")
            let allTerminal = try await harness.withRunningPipeline(worker: false) {
                let inFlight = try await Eventually.holds(within: .seconds(60)) { try await harness.simulatorStats().calls >= 50 }
                #expect(inFlight, "the doomed worker never had events in flight")
                await doomed.crash()
                _ = try harness.startProcess(role: "worker", workerId: "worker-survivor")
                return try await harness.waitUntilAllTerminal(within: .seconds(90))
            }
            #expect(allTerminal)
            #expect(try await harness.audit.count(status: .processed) == 100)
            try await harness.expectOneEffectEach(keys)
        }
    }

    /// Claims are not journaled: a store crash may take one back, and the next claim then reaches the same
    /// version. The first worker's outcome must still not land.
    @Test func aClaimTakenBackByTheStoreCannotWriteOverTheNextClaim() async throws {
        try await withHarness(simulator: []) { harness in
            let key = EventKey(source: "acme-courier", eventId: "taken-back")
            try await harness.ingest(key: key, body: #"{"type":"shipment.status_updated","shipmentId":"SHP-000001"}"#)
            let events = MongoWorkerStore(pool: harness.resources.mongo)
            let now = Date()
            let beforeClaim = try #require(try await harness.audit.event(key))
            let first = try #require(try await events.claim(key, worker: "worker-a", leaseDuration: .seconds(30), now: now))
            try await harness.resources.mongo.replaceEventDocument(with: beforeClaim)
            let second = try #require(try await events.claim(key, worker: "worker-b", leaseDuration: .seconds(30), now: now))
            #expect(first.lease.version == second.lease.version)

            let attempt = AttemptRecord(attempt: 1, startedAt: now, finishedAt: now, outcome: .processed, error: nil, routingLatencyMs: 1)
            let decision = RoutingDecision(hub: "AMS-1", routeCode: "R1", eta: now)
            #expect(try await events.record(.complete(decision), attempt: attempt, for: first, now: now) == false)
            #expect(try await events.record(.complete(decision), attempt: attempt, for: second, now: now))
        }
    }

    /// The pipeline's writes after the insert do not wait for the journal: a store killed mid-run takes the
    /// latest of them back, and every event must still end processed, with one effect each.
    @Test func theStoreKilledMidRunTakesBackOnlyWorkThatIsRedone() async throws {
        let store = try await SecantusServer()
        var restarted: SecantusServer?
        do {
            try await withHarness(
                simulator: ["--latency-ms", "300"],
                configure: { configuration in
                    configuration.mongoURL = store.url()
                    configuration.lease = .seconds(8)
                    configuration.streamClaimIdle = .seconds(8)
                    configuration.relayRecoveryWindow = .seconds(10)
                }
            ) { harness in
                try await harness.expectEveryEventProcessedOnce(within: .seconds(120)) {
                    await store.crash()
                    restarted = try await store.restarted()
                }
            }
        } catch {
            await (restarted ?? store).destroy()
            throw error
        }
        await (restarted ?? store).destroy()
    }

    @Test func redisFlushedMidRunIsRecoveredFromTheInbox() async throws {
        let redis = try await RedisServer()
        do {
            try await withHarness(
                simulator: ["--latency-ms", "300"],
                configure: { configuration in
                    configuration.redisURL = redis.url
                }
            ) { harness in
                try await harness.expectEveryEventProcessedOnce(within: .seconds(90)) {
                    try await harness.resources.redis.call(["FLUSHALL"])
                }
            }
        } catch {
            await redis.stop()
            throw error
        }
        await redis.stop()
    }

    /// A rolling deploy: the worker is told to stop while its routing calls are still out, and its grace period ends
    /// first. Every event it held goes back, due now, with no attempt spent and no abandoned claim counted.
    @Test func aWorkerShutDownPastItsGracePeriodGivesItsEventsBack() async throws {
        try await withHarness(simulator: ["--latency-ms", "5000"], configure: { $0.shutdownGrace = .milliseconds(500) }) { harness in
            let keys = try await harness.ingest(count: 10)
            try await harness.withRunningPipeline {
                let inFlight = try await Eventually.holds(within: .seconds(30)) { try await harness.simulatorStats().calls >= keys.count }
                #expect(inFlight, "the routing calls never started")
            }
            for key in keys {
                let document = try #require(try await harness.audit.event(key))
                #expect(document["status"] == .string("retry_scheduled"), "\(key)")
                #expect(document["attempts"]?.intValue == 0)
                #expect(document["lease"] == nil)
                #expect(document["claimsWithoutOutcome"]?.intValue == 0)
                #expect(document["history"]?.arrayValue?.last?.documentValue?["error"] == .string(ProcessEvent.releasedAtShutdown))
            }
        }
    }
}
