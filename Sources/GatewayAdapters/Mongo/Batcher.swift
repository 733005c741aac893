import Synchronization

/// Groups concurrent requests of one kind into batches, each sent to the store in a few round trips, however
/// many requests it holds.
///
/// A request that arrives while the store is busy waits for the next batch instead of for its own round
/// trips, so concurrent callers share round trips (and journal flushes) exactly when the store is the
/// bottleneck. There is no timer: at low load a batch holds one request and adds no delay. Each request
/// still gets its own answer.
final class Batcher<Request: Sendable, Response: Sendable>: Sendable {
    /// Sends one batch; returns one result per request, in the requests' order.
    typealias Send = @Sendable ([Request]) async throws -> [Result<Response, any Error>]

    private struct Waiting {
        let request: Request
        let continuation: CheckedContinuation<Response, any Error>
    }

    private struct State {
        var queue: [Waiting] = []
        var senders = 0
    }

    private let maxBatch: Int
    private let maxSenders: Int
    private let send: Send
    private let state = Mutex(State())

    /// - Parameters:
    ///   - maxBatch: requests per batch.
    ///   - maxSenders: batches in flight at once; few, because the store slows down under concurrency.
    ///   - send: sends one batch. When it throws, every request of the batch gets its error.
    init(maxBatch: Int, maxSenders: Int, send: @escaping Send) {
        self.maxBatch = maxBatch
        self.maxSenders = maxSenders
        self.send = send
    }

    func submit(_ request: Request) async throws -> Response {
        try await withCheckedThrowingContinuation { continuation in
            let startSender = state.withLock { state -> Bool in
                state.queue.append(Waiting(request: request, continuation: continuation))
                guard state.senders < maxSenders else { return false }
                state.senders += 1
                return true
            }
            if startSender { Task { await sendUntilEmpty() } }
        }
    }

    private func sendUntilEmpty() async {
        while let batch = nextBatch() {
            do {
                let results = try await send(batch.map(\.request))
                precondition(results.count == batch.count, "a batch of \(batch.count) requests got \(results.count) results")
                for (waiting, result) in zip(batch, results) { waiting.continuation.resume(with: result) }
            } catch {
                for waiting in batch { waiting.continuation.resume(throwing: error) }
            }
        }
    }

    /// Takes the next batch, or retires this sender when there is nothing left.
    private func nextBatch() -> [Waiting]? {
        state.withLock { state in
            guard !state.queue.isEmpty else {
                state.senders -= 1
                return nil
            }
            let batch = Array(state.queue.prefix(maxBatch))
            state.queue.removeFirst(batch.count)
            return batch
        }
    }
}
