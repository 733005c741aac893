import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// What sending produced: one result per delivery.
struct SentResults: Sendable {
    struct Result: Sendable {
        let kind: DeliveryPlan.Delivery.Kind
        let eventId: String
        /// The HTTP status, or nil for a transport error.
        let status: Int?
        let error: String?
        let latency: Duration
        /// Times the delivery was sent again after a 503.
        var retries = 0
    }

    let results: [Result]
    let elapsed: Duration

    /// The ids the gateway accepted (202).
    var accepted: Set<String> { Set(results.filter { $0.status == 202 }.map(\.eventId)) }
}

/// Sends a plan closed-loop (each connection sends when its last answer arrived) or open-loop (on a schedule).
struct Sender {
    let plan: DeliveryPlan
    let concurrency: Int
    let rate: Double
    /// How many times a delivery answered 503 is sent again, after its Retry-After.
    let retryUnavailable: Int

    func run() async throws -> SentResults {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let results = ResultSlots(count: plan.deliveries.count)
        let started = ContinuousClock.now
        if rate > 0 {
            await openLoop(client: client, results: results, start: started)
        } else {
            await closedLoop(client: client, results: results)
        }
        let elapsed = ContinuousClock.now - started
        try await client.shutdown()
        return SentResults(results: results.all, elapsed: elapsed)
    }

    private func closedLoop(client: HTTPClient, results: ResultSlots) async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while true {
                        let index = results.nextIndex()
                        guard index < plan.deliveries.count else { return }
                        let result = await send(plan.deliveries[index], client: client, since: .now)
                        results.store(result, at: index)
                    }
                }
            }
        }
    }

    private func openLoop(client: HTTPClient, results: ResultSlots, start: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            for (index, delivery) in plan.deliveries.enumerated() {
                let scheduled = start + .seconds(Double(index) / rate)
                try? await Task.sleep(until: scheduled)
                group.addTask {
                    // Latency counts from the scheduled send time, so a slow server cannot hide its queueing.
                    let result = await send(delivery, client: client, since: scheduled)
                    results.store(result, at: index)
                }
            }
        }
    }

    private func send(_ delivery: DeliveryPlan.Delivery, client: HTTPClient, since start: ContinuousClock.Instant) async -> SentResults.Result {
        func request() -> HTTPClientRequest {
            var request = HTTPClientRequest(url: plan.endpoint)
            request.method = .POST
            for (name, value) in delivery.headers(at: Int64(Date().timeIntervalSince1970)) { request.headers.add(name: name, value: value) }
            request.body = .bytes(ByteBuffer(bytes: delivery.body))
            return request
        }
        do {
            var response = try await client.execute(request(), timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 16)
            var retries = 0
            // A producer honours 503 + Retry-After; the latency then includes the waits, as the producer saw it.
            while response.status.code == 503, retries < retryUnavailable {
                retries += 1
                let wait = response.headers.first(name: "retry-after").flatMap(Int.init) ?? 1
                try await Task.sleep(for: .seconds(wait))
                response = try await client.execute(request(), timeout: .seconds(30))
                _ = try await response.body.collect(upTo: 1 << 16)
            }
            return .init(
                kind: delivery.kind, eventId: delivery.eventId, status: Int(response.status.code), error: nil, latency: .now - start, retries: retries
            )
        } catch {
            return .init(kind: delivery.kind, eventId: delivery.eventId, status: nil, error: "\(error)", latency: .now - start)
        }
    }
}

/// One result slot per delivery, filled by concurrent senders, and the next delivery to send.
final class ResultSlots: Sendable {
    private let slots: Mutex<[SentResults.Result?]>
    private let next = Atomic<Int>(0)

    /// The index of the next delivery a closed-loop sender takes.
    func nextIndex() -> Int {
        next.add(1, ordering: .relaxed).oldValue
    }

    init(count: Int) {
        slots = Mutex([SentResults.Result?](repeating: nil, count: count))
    }

    func store(_ result: SentResults.Result, at index: Int) {
        slots.withLock { $0[index] = result }
    }

    var all: [SentResults.Result] { slots.withLock { $0.compactMap { $0 } } }
}
