import GatewayCore
import Metrics
import Synchronization

/// How a ``Batcher`` groups and bounds its requests.
public struct BatchLimits: Sendable, Equatable {
    /// Requests per batch (1: no grouping).
    public var maxBatch: Int
    /// Batches sent at once; few, because the store slows down under concurrency.
    public var maxInFlight: Int
    /// Requests waiting for a batch; beyond it a request is refused at once instead of waiting behind a stalled store.
    public var maxQueued: Int
    /// Bytes per batch: a MongoDB command holds at most 16 MiB of documents, so a batch is cut before it would pass.
    public var maxBytes: Int
    /// How long a request may wait for its answer; one that could only be answered later (its wait so far and the
    /// time a batch takes to send) is dropped unsent and answered ``StoreError/Code/timeout``, since its caller will
    /// have given up on it (nil: no limit). Sending it anyway would spend the store's time on answers nobody waits
    /// for, and make the requests behind it late too.
    public var maxWait: Duration?

    public init(maxBatch: Int, maxInFlight: Int, maxQueued: Int = .max, maxBytes: Int = 16 * 1_024 * 1_024, maxWait: Duration? = nil) {
        self.maxBatch = maxBatch
        self.maxInFlight = maxInFlight
        self.maxQueued = maxQueued
        self.maxBytes = maxBytes
        self.maxWait = maxWait
    }
}

/// Why a ``Batcher`` did not take a request.
struct BatcherQueueFull: Error, CustomStringConvertible {
    let operation: String
    let limit: Int

    var description: String { "\(limit) requests already wait to \(operation)" }
}

/// Groups concurrent requests of one kind into batches, each sent to the store in a few round trips, however
/// many requests it holds.
///
/// A request that arrives while the store is busy waits for the next batch instead of for its own round
/// trips, so concurrent callers share round trips (and journal flushes) exactly when the store is the
/// bottleneck. There is no timer: at low load a batch holds one request and adds no delay. Each request
/// still gets its own answer.
///
/// Batches are sent from the pool's threads, one job draining the queue for as long as it has requests: no task is
/// started per request or per batch, and a caller may wait with a completion instead of a task
/// (``submit(_:completion:)``). Metrics, by `name`: `gateway_store_batch_size` and `gateway_store_batch_wait_seconds`
/// (how long each batch's oldest request waited), `gateway_store_batch_queue_depth`,
/// `gateway_store_batches_in_flight` and `gateway_store_batch_expired_total` (requests dropped after
/// ``BatchLimits/maxWait``).
final class Batcher<Request: Sendable, Response: Sendable>: Sendable {
    /// Sends one batch; returns one result per request, in the requests' order. When it throws, every request of the
    /// batch gets the error.
    typealias Send = @Sendable ([Request], MongoDatabase) throws -> [Result<Response, any Error>]
    /// An answer's way back to its caller.
    typealias Completion = @Sendable (Result<Response, any Error>) -> Void

    private struct Waiting {
        let request: Request
        let bytes: Int
        let queuedAt: ContinuousClock.Instant
        let completion: Completion
    }

    private struct State {
        var queue: [Waiting] = []
        var head = 0
        var senders = 0
        /// How long the last batch took to send: the time a request joining the next batch still needs.
        var lastSend: Duration = .zero

        var queued: Int { queue.count - head }
    }

    private let operation: String
    private let pool: MongoConnectionPool
    private let lane: MongoConnectionPool.Lane
    private let limits: BatchLimits
    private let size: @Sendable (Request) -> Int
    private let send: Send
    private let state = Mutex(State())
    private let batchSize: Recorder
    private let batchWait: Timer
    private let queueDepth: Gauge
    private let inFlight: Meter
    private let expired: Counter

    /// - Parameters:
    ///   - name: the batcher's name in its metrics.
    ///   - operation: what a batch does, for errors (e.g. `insert events`).
    ///   - size: a request's bytes, for ``BatchLimits/maxBytes``.
    init(
        name: String, operation: String, pool: MongoConnectionPool, lane: MongoConnectionPool.Lane = .pipeline, limits: BatchLimits,
        size: @escaping @Sendable (Request) -> Int = { _ in 0 }, send: @escaping Send
    ) {
        self.operation = operation
        self.pool = pool
        self.lane = lane
        self.limits = limits
        self.size = size
        self.send = send
        let dimensions = [("batcher", name)]
        batchSize = Recorder(label: "gateway_store_batch_size", dimensions: dimensions, aggregate: true)
        batchWait = Timer(label: "gateway_store_batch_wait_seconds", dimensions: dimensions)
        queueDepth = Gauge(label: "gateway_store_batch_queue_depth", dimensions: dimensions)
        inFlight = Meter(label: "gateway_store_batches_in_flight", dimensions: dimensions)
        expired = Counter(label: "gateway_store_batch_expired_total", dimensions: dimensions)
    }

    /// Queues `request`; `completion` gets its answer on one of the pool's threads.
    /// - Returns: false, without calling `completion`, when ``BatchLimits/maxQueued`` requests already wait.
    func submit(_ request: Request, completion: @escaping Completion) -> Bool {
        let waiting = Waiting(request: request, bytes: size(request), queuedAt: .now, completion: completion)
        let startSender = state.withLock { state -> Bool? in
            guard state.queued < limits.maxQueued else { return nil }
            state.queue.append(waiting)
            guard state.senders < limits.maxInFlight else { return false }
            state.senders += 1
            return true
        }
        guard let startSender else { return false }
        if startSender { pool.execute(operation, lane: lane) { self.drain($0) } }
        return true
    }

    /// Queues `request` and waits for its answer.
    /// - Throws: the request's error, or ``BatcherQueueFull``.
    func submit(_ request: Request) async throws -> Response {
        try await withCheckedThrowingContinuation { continuation in
            guard submit(request, completion: { continuation.resume(with: $0) }) else {
                continuation.resume(throwing: BatcherQueueFull(operation: operation, limit: limits.maxQueued))
                return
            }
        }
    }

    /// Sends batches with one client for as long as requests wait, then retires this sender.
    private func drain(_ database: Result<MongoDatabase, StoreError>) {
        inFlight.increment()
        defer { inFlight.decrement() }
        while let (batch, late) = nextBatch() {
            if !late.isEmpty {
                expired.increment(by: late.count)
                let error = StoreError(.timeout, operation: operation, message: "not sent: its answer could not come before its caller gives up")
                for waiting in late { waiting.completion(.failure(error)) }
            }
            guard !batch.isEmpty else { continue }
            batchSize.record(batch.count)
            batchWait.recordNanoseconds((ContinuousClock.now - batch[0].queuedAt).nanoseconds)
            let sendStarted = ContinuousClock.now
            let outcome = Result { try send(batch.map(\.request), database.get()) }
            state.withLock { $0.lastSend = ContinuousClock.now - sendStarted }
            switch outcome {
            case .success(let results):
                precondition(results.count == batch.count, "a batch of \(batch.count) requests got \(results.count) results")
                for (waiting, result) in zip(batch, results) { waiting.completion(result) }
            case .failure(let error):
                for waiting in batch { waiting.completion(.failure(error)) }
            }
        }
    }

    /// Takes the next batch and the requests that waited too long to join it (to be answered, not sent), or retires
    /// this sender when there is nothing left.
    ///
    /// A request is late when the time it waited and the time a batch takes to send (the last one's, counted up to half
    /// of ``BatchLimits/maxWait`` so that batches keep going out and keep measuring) reach `maxWait`: sent, its
    /// answer would come after its caller gave up.
    private func nextBatch() -> (batch: [Waiting], late: [Waiting])? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard state.queued > 0 else {
                state.senders -= 1
                return nil
            }
            let lateSince = limits.maxWait.map { now - ($0 - min(state.lastSend, $0 / 2)) }
            var batch: [Waiting] = []
            var late: [Waiting] = []
            var bytes = 0
            while state.queued > 0, batch.count < limits.maxBatch {
                let next = state.queue[state.head]
                if let lateSince, next.queuedAt <= lateSince {
                    late.append(next)
                    state.head += 1
                    continue
                }
                guard batch.isEmpty || bytes + next.bytes <= limits.maxBytes else { break }
                batch.append(next)
                bytes += next.bytes
                state.head += 1
            }
            // The served prefix is dropped once it is half the array: under steady load the queue never empties.
            if state.head * 2 >= state.queue.count {
                state.queue.removeFirst(state.head)
                state.head = 0
            }
            queueDepth.record(state.queued)
            return (batch, late)
        }
    }
}
