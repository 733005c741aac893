import Foundation
import GatewayAdapters
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import Testing

/// The pipeline end to end against real Redis, SecantusDB (or mongod) and a routing-sim process.
/// Serialized: each test loads the single-threaded store and the two cores on its own.
@Suite("Relay and workers end to end", .serialized)
struct PipelineTests {
    func withHarness(
        simulator: [String], shipments: Int = 1_000, configure: (inout GatewayConfiguration) -> Void = { _ in },
        _ body: (PipelineHarness) async throws -> Void
    ) async throws {
        let harness = try await PipelineHarness(simulatorArguments: simulator, shipments: shipments, configure: configure)
        do {
            try await body(harness)
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    @Test func threeHundredEventsAreProcessedOnceEach() async throws {
        try await withHarness(simulator: ["--latency-ms", "1500"]) { harness in
            let keys = try await harness.ingest(count: 300)
            #expect(try await harness.runPipelineUntilAllTerminal(within: .seconds(60)))
            #expect(try await harness.audit.count(status: .processed) == 300)
            let stats = try await harness.simulatorStats()
            #expect(stats.perKey.count == 300)
            for key in keys {
                let calls = stats.perKey[key.description]
                #expect(calls?.effects == 1, "\(key) has no single effect")
            }
            let document = try #require(try await harness.audit.event(keys[0]))
            #expect(document["attempts"]?.intValue == 1)
            #expect(document[path: "result.hub"]?.stringValue != nil)
            let history = try #require(document["history"]?.arrayValue?.first?.documentValue)
            #expect(history["outcome"] == .string("processed"))
            #expect(history["attempt"]?.intValue == 1)
            #expect(history["routingLatencyMs"]?.intValue ?? 0 >= 1_400)
        }
    }

    @Test func routingCallsInFlightNeverExceedTheWorkerConcurrency() async throws {
        // The worker holds a quarter more events than routing places: the calls must still stay within the cap. (How
        // well the cap is filled is a speed, measured by `make bench`.)
        try await withHarness(simulator: ["--latency-ms", "400"], configure: { $0.workerConcurrency = 4 }) { harness in
            _ = try await harness.ingest(count: 40)
            #expect(try await harness.runPipelineUntilAllTerminal(within: .seconds(60)))
            #expect(try await harness.audit.count(status: .processed) == 40)
            let stats = try await harness.simulatorStats()
            #expect(stats.calls == 40)
            #expect(stats.peakConcurrency <= 4, "peak concurrency \(stats.peakConcurrency) with GATEWAY_WORKER_CONCURRENCY 4")
        }
    }

    @Test func transientFailuresAreRetriedWithGrowingGapsUntilProcessed() async throws {
        // Few events, so that the store's queueing (it is the bottleneck here) stays well below the backoff.
        try await withHarness(
            simulator: ["--latency-ms", "20", "--failure-rate", "0.3", "--seed", "7"],
            configure: { configuration in
                configuration.retry = RetryPolicy(base: .seconds(2), factor: 2, cap: .seconds(16), jitter: 0.2, maxAttempts: 8)
            }
        ) { harness in
            let keys = try await harness.ingest(count: 30)
            #expect(try await harness.runPipelineUntilAllTerminal(within: .seconds(90)))
            #expect(try await harness.audit.count(status: .processed) == 30)
            var retriedTwice = 0
            var observedGaps: [[Double]] = []
            for key in keys {
                let document = try #require(try await harness.audit.event(key))
                let history = (document["history"]?.arrayValue ?? []).compactMap(\.documentValue)
                #expect(document["attempts"]?.intValue == history.count, "\(key): attempts must equal the routing attempts made")
                #expect(history.last?["outcome"] == .string("processed"))
                #expect(history.dropLast().allSatisfy { $0["outcome"] == .string("retry") })
                let starts = history.compactMap { $0["startedAt"]?.dateValue }
                let scheduled = history.dropLast().compactMap { entry -> Double? in
                    guard let due = entry["nextAttemptAt"]?.dateValue, let finished = entry["finishedAt"]?.dateValue else { return nil }
                    return due.timeIntervalSince(finished)
                }
                let gaps = zip(starts.dropFirst(), starts).map { $0.timeIntervalSince($1) }
                #expect(scheduled.count == gaps.count)
                // Never early: each attempt starts no sooner than the backoff scheduled it.
                for (gap, delay) in zip(gaps, scheduled) { #expect(gap >= delay, "\(key): gap \(gap) s shorter than its backoff \(delay) s") }
                guard gaps.count >= 2 else { continue }
                retriedTwice += 1
                observedGaps.append(gaps)
                #expect(scheduled[1] > scheduled[0], "\(key): backoff \(scheduled) does not grow")
            }
            // Observed gaps also carry store queueing, so they are compared on average rather than one by one.
            let first = observedGaps.map { $0[0] }.reduce(0, +) / Double(max(observedGaps.count, 1))
            let second = observedGaps.map { $0[1] }.reduce(0, +) / Double(max(observedGaps.count, 1))
            #expect(second > first, "mean gaps \(first) s then \(second) s do not grow")
            #expect(retriedTwice > 0, "the seed produced no event that failed twice; the test proves nothing")
        }
    }

    @Test func aSourceThatAlwaysFailsIsDeadLetteredWhileOthersAreProcessed() async throws {
        try await withHarness(
            simulator: ["--latency-ms", "20", "--failing-key-prefix", "broken-courier:"],
            configure: { configuration in
                configuration.retry = RetryPolicy(base: .milliseconds(100), factor: 2, cap: .seconds(1), jitter: 0.2, maxAttempts: 3)
            }
        ) { harness in
            let broken = try await harness.ingest(count: 20, source: "broken-courier")
            try await harness.ingest(count: 20, source: "healthy-courier")
            #expect(try await harness.runPipelineUntilAllTerminal(within: .seconds(60)))
            #expect(try await harness.audit.count(source: "broken-courier", status: .dead) == 20)
            #expect(try await harness.audit.count(source: "healthy-courier", status: .processed) == 20)
            let document = try #require(try await harness.audit.event(broken[0]))
            #expect(document["attempts"]?.intValue == 3)
            #expect(document["failureClass"] == .string("retries_exhausted"))
            #expect(document["history"]?.arrayValue?.count == 3)
            let letters = try await harness.deadLetters()
            #expect(letters.count == 20)
            let letter = try #require(letters.first { $0["eventId"] == .string(broken[0].eventId) })
            #expect(letter["failureClass"] == .string("retries_exhausted"))
            #expect(letter["attempts"]?.intValue == 3)
            #expect(letter["history"]?.arrayValue?.count == 3)
            #expect(letter["lastError"]?.stringValue?.contains("503") == true)
        }
    }

    @Test func permanentErrorsAreDeadLetteredWithoutRetries() async throws {
        try await withHarness(simulator: ["--latency-ms", "20", "--unroutable-rate", "1"]) { harness in
            let keys = try await harness.ingest(count: 10)
            #expect(try await harness.runPipelineUntilAllTerminal(within: .seconds(30)))
            #expect(try await harness.audit.count(status: .dead) == 10)
            let stats = try await harness.simulatorStats()
            for key in keys {
                #expect(stats.perKey[key.description]?.calls == 1, "\(key) was retried")
                let document = try #require(try await harness.audit.event(key))
                #expect(document["failureClass"] == .string("permanent"))
                #expect(document["attempts"]?.intValue == 1)
            }
            #expect(try await harness.deadLetters().count == 10)
        }
    }

    @Test func duplicateStreamEntriesCauseNoSecondEffect() async throws {
        try await withHarness(simulator: ["--latency-ms", "200"]) { harness in
            let keys = try await harness.ingest(count: 50)
            // Publish every event three times: a normal pass, a second relay publishing the same keys,
            // and an operator's `relay --once` recovering "lost" entries.
            let relay = GatewayRuntime.buildRelayPass(configuration: harness.configuration, resources: harness.resources)
            #expect(try await relay.runOnce().published == 50)
            let stream = RedisEventStream(
                commands: harness.resources.redis, blockingReads: harness.resources.blockingRedis, stream: harness.configuration.streamName)
            try await stream.publish(keys)
            try await harness.resources.mongo.markQueuedLongAgo()
            let output = try await harness.runCommand(["relay", "--once"])
            #expect(output.contains("recovered 50"), "\(output)")
            #expect(try await harness.runPipelineUntilAllTerminal(within: .seconds(30), relay: false))
            #expect(try await harness.audit.count(status: .processed) == 50)
            let stats = try await harness.simulatorStats()
            for key in keys {
                #expect(stats.perKey[key.description]?.calls == 1, "\(key) was routed more than once")
            }
        }
    }

    @Test func anOlderEventDoesNotOverwriteNewerShipmentState() async throws {
        try await withHarness(simulator: ["--latency-ms", "10"]) { harness in
            let newer = EventKey(source: Fixtures.source, eventId: "newer")
            let older = EventKey(source: Fixtures.source, eventId: "older")
            try await harness.ingest(
                key: newer,
                body: #"{"type":"shipment.status_updated","shipmentId":"SHP-000007","status":"delivered","occurredAt":"2026-11-24T12:00:00Z"}"#)
            try await harness.withRunningPipeline {
                #expect(try await harness.waitUntilAllTerminal(within: .seconds(30)))
                try await harness.ingest(
                    key: older,
                    body: #"{"type":"shipment.status_updated","shipmentId":"SHP-000007","status":"in_transit","occurredAt":"2026-11-24T09:00:00Z"}"#)
                #expect(try await harness.waitUntilAllTerminal(within: .seconds(30)))
            }
            #expect(try await harness.audit.count(status: .processed) == 2)
            let shipment = try #require(try await harness.shipmentDocument("SHP-000007"))
            #expect(shipment["status"] == .string("delivered"))
            #expect(shipment["lastEventId"] == .string(newer.description))
            #expect(shipment["lastEventAt"]?.dateValue == Date(timeIntervalSince1970: 1_795_521_600))
        }
    }

    @Test func eventsOfAnUnknownShipmentAreParkedWithoutSpendingAttemptsThenProcessed() async throws {
        try await withHarness(
            simulator: ["--latency-ms", "10"], shipments: 5,
            configure: { configuration in
                configuration.parkInterval = .milliseconds(300)
            }
        ) { harness in
            let early = EventKey(source: Fixtures.source, eventId: "tracking-before-order")
            try await harness.ingest(key: early, body: Fixtures.body(shipmentId: "SHP-000042"))
            try await harness.withRunningPipeline {
                let parked = try await Eventually.holds(within: .seconds(20)) {
                    try await harness.audit.event(early)?["status"] == .string("parked")
                }
                #expect(parked)
                _ = try await MongoShipmentSeeder(pool: harness.resources.mongo).seed(count: 50)
                #expect(try await harness.waitUntilAllTerminal(within: .seconds(20)))
            }
            let document = try #require(try await harness.audit.event(early))
            #expect(document["status"] == .string("processed"))
            #expect(document["attempts"]?.intValue == 1, "parking must not spend routing attempts")
            let outcomes = (document["history"]?.arrayValue ?? []).compactMap { $0.documentValue?["outcome"]?.stringValue }
            #expect(outcomes.first == "parked")
            #expect(outcomes.last == "processed")
        }
    }

    @Test func anUnknownShipmentIsDeadLetteredAfterTheParkingWindow() async throws {
        try await withHarness(
            simulator: ["--latency-ms", "10"], shipments: 5,
            configure: { configuration in
                configuration.parkInterval = .milliseconds(200)
                configuration.parkWindow = .seconds(1)
            }
        ) { harness in
            let orphan = EventKey(source: Fixtures.source, eventId: "orphan")
            try await harness.ingest(key: orphan, body: Fixtures.body(shipmentId: "SHP-999999"))
            #expect(try await harness.runPipelineUntilAllTerminal(within: .seconds(20)))
            let document = try #require(try await harness.audit.event(orphan))
            #expect(document["status"] == .string("dead"))
            #expect(document["failureClass"] == .string("unknown_shipment"))
            #expect(document["attempts"]?.intValue == 0)
            #expect(try await harness.simulatorStats().calls == 0)
            #expect(try await harness.deadLetters().first?["failureClass"] == .string("unknown_shipment"))
        }
    }
}
