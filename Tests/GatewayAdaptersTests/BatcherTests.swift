import Dispatch
import Foundation
import GatewayCore
import GatewayIntegrationSupport
import Synchronization
import Testing

@testable import GatewayAdapters

/// The batcher's grouping and bounds, on the real pool's threads; `send` stands in for the store so that a test can
/// hold a batch in flight for as long as it needs.
@Suite("Batcher: grouping, bounds and refusals")
struct BatcherTests {
    /// A `send` that records each batch and answers each request with its double, and that can be held.
    private final class ScriptedSend: Sendable {
        private let batches = Mutex<[[Int]]>([])
        private let concurrent = Mutex((now: 0, most: 0))
        private let held = Mutex(false)
        private let entered = DispatchSemaphore(value: 0)
        private let release = DispatchSemaphore(value: 0)

        var sent: [[Int]] { batches.withLock { $0 } }
        var mostAtOnce: Int { concurrent.withLock { $0.most } }

        /// Makes the next batch wait in `send` until ``release()``; returns once it waits.
        func holdNextBatch() { held.withLock { $0 = true } }
        func waitUntilHeld() { entered.wait() }
        func releaseHeld() { release.signal() }

        func send(_ requests: [Int], pause: Duration = .zero) throws -> [Result<Int, any Error>] {
            concurrent.withLock {
                $0.now += 1
                $0.most = max($0.most, $0.now)
            }
            defer { concurrent.withLock { $0.now -= 1 } }
            batches.withLock { $0.append(requests) }
            let holding = held.withLock { holding in
                defer { holding = false }
                return holding
            }
            if holding {
                entered.signal()
                release.wait()
            }
            if pause > .zero { Thread.sleep(forTimeInterval: Double(pause.components.seconds) + Double(pause.components.attoseconds) / 1e18) }
            if requests.contains(-1) { throw TestFailure.batchRefused }
            return requests.map { .success($0 * 2) }
        }
    }

    private enum TestFailure: Error { case batchRefused }

    private func batcher(_ pool: MongoConnectionPool, _ limits: BatchLimits, _ script: ScriptedSend, pause: Duration = .zero) -> Batcher<Int, Int> {
        Batcher(name: "test", operation: "test", pool: pool, limits: limits, size: { $0 }) { requests, _ in
            try script.send(requests, pause: pause)
        }
    }

    /// Sends request 1 and holds its batch in `send` while `meanwhile` submits more, then lets it go.
    /// - Returns: request 1's answer.
    private func whileTheFirstBatchIsHeld(_ batcher: Batcher<Int, Int>, _ script: ScriptedSend, _ meanwhile: () async throws -> Void) async throws
        -> Int
    {
        script.holdNextBatch()
        async let first = batcher.submit(1)
        await Task.detached { script.waitUntilHeld() }.value
        try await meanwhile()
        script.releaseHeld()
        return try await first
    }

    @Test func requestsThatArriveWhileABatchIsSentShareTheNextInOrder() async throws {
        try await TestServices.withMigratedDatabase("batcher-groups") { resources in
            let script = ScriptedSend()
            let batcher = batcher(resources.mongo, BatchLimits(maxBatch: 4, maxInFlight: 1), script)
            let answers = Mutex<[Int: Int]>([:])
            let firstAnswer = try await whileTheFirstBatchIsHeld(batcher, script) {
                for request in 2...11 {
                    #expect(batcher.submit(request) { result in answers.withLock { $0[request] = try? result.get() } })
                }
            }
            #expect(firstAnswer == 2)
            #expect(await Eventually.holds(within: .seconds(5)) { answers.withLock { $0.count } == 10 })
            #expect(script.sent == [[1], [2, 3, 4, 5], [6, 7, 8, 9], [10, 11]])
            #expect(answers.withLock { $0 } == Dictionary(uniqueKeysWithValues: (2...11).map { ($0, $0 * 2) }))
        }
    }

    @Test func aBatchIsCutBeforeItsBytesPassTheLimitButOneLargeRequestStillGoes() async throws {
        try await TestServices.withMigratedDatabase("batcher-bytes") { resources in
            let script = ScriptedSend()
            let batcher = batcher(resources.mongo, BatchLimits(maxBatch: 100, maxInFlight: 1, maxBytes: 10), script)
            let done = Mutex(0)
            _ = try await whileTheFirstBatchIsHeld(batcher, script) {
                for request in [4, 4, 4, 30, 2] {
                    #expect(batcher.submit(request) { _ in done.withLock { $0 += 1 } })
                }
            }
            #expect(await Eventually.holds(within: .seconds(5)) { done.withLock { $0 } == 5 })
            #expect(script.sent == [[1], [4, 4], [4], [30], [2]])
        }
    }

    @Test func aFullQueueRefusesAtOnceAndTakesRequestsAgainOnceItDrains() async throws {
        try await TestServices.withMigratedDatabase("batcher-full") { resources in
            let script = ScriptedSend()
            let batcher = batcher(resources.mongo, BatchLimits(maxBatch: 10, maxInFlight: 1, maxQueued: 3), script)
            let done = Mutex(0)
            _ = try await whileTheFirstBatchIsHeld(batcher, script) {
                for request in 2...4 {
                    #expect(batcher.submit(request) { _ in done.withLock { $0 += 1 } })
                }
                #expect(!batcher.submit(5) { _ in Issue.record("a refused request was answered") })
                await #expect(throws: BatcherQueueFull.self) { try await batcher.submit(6) }
            }
            #expect(await Eventually.holds(within: .seconds(5)) { done.withLock { $0 } == 3 })
            #expect(try await batcher.submit(7) == 14)
            #expect(script.sent == [[1], [2, 3, 4], [7]])
        }
    }

    @Test func requestsThatWaitedLongerThanMaxWaitAreAnsweredTimeoutAndNeverSent() async throws {
        try await TestServices.withMigratedDatabase("batcher-expired") { resources in
            let script = ScriptedSend()
            let batcher = batcher(resources.mongo, BatchLimits(maxBatch: 10, maxInFlight: 1, maxWait: .milliseconds(100)), script)
            let answers = Mutex<[Int: String]>([:])
            let record: @Sendable (Int) -> Batcher<Int, Int>.Completion = { request in
                { result in
                    answers.withLock {
                        $0[request] =
                            switch result {
                            case .success(let answer): "\(answer)"
                            case .failure(let error): (error as? StoreError)?.code.rawValue ?? "\(error)"
                            }
                    }
                }
            }
            _ = try await whileTheFirstBatchIsHeld(batcher, script) {
                #expect(batcher.submit(2, completion: record(2)))
                #expect(batcher.submit(3, completion: record(3)))
                try await Task.sleep(for: .milliseconds(300))
                #expect(batcher.submit(4, completion: record(4)))
            }
            #expect(await Eventually.holds(within: .seconds(5)) { answers.withLock { $0.count } == 3 })
            #expect(answers.withLock { $0 } == [2: "timeout", 3: "timeout", 4: "8"])
            #expect(script.sent == [[1], [4]])
        }
    }

    @Test func noMoreBatchesThanTheLimitAreSentAtOnce() async throws {
        try await TestServices.withMigratedDatabase("batcher-in-flight") { resources in
            let script = ScriptedSend()
            let batcher = batcher(resources.mongo, BatchLimits(maxBatch: 1, maxInFlight: 2), script, pause: .milliseconds(20))
            let answers = try await withThrowingTaskGroup(of: Int.self) { group in
                for request in 1...30 { group.addTask { try await batcher.submit(request) } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(answers.sorted() == (1...30).map { $0 * 2 })
            #expect(script.sent.allSatisfy { $0.count == 1 })
            #expect(script.mostAtOnce == 2)
        }
    }

    @Test func aBatchThatFailsFailsEachOfItsRequestsAndOnlyThose() async throws {
        try await TestServices.withMigratedDatabase("batcher-fails") { resources in
            let script = ScriptedSend()
            let batcher = batcher(resources.mongo, BatchLimits(maxBatch: 2, maxInFlight: 1), script)
            let answers = Mutex<[Int: Bool]>([:])
            _ = try await whileTheFirstBatchIsHeld(batcher, script) {
                for request in [-1, 3, 4, 5] {
                    #expect(batcher.submit(request) { result in answers.withLock { $0[request] = (try? result.get()) != nil } })
                }
            }
            #expect(await Eventually.holds(within: .seconds(5)) { answers.withLock { $0.count } == 4 })
            #expect(answers.withLock { $0 } == [-1: false, 3: false, 4: true, 5: true])
        }
    }
}
