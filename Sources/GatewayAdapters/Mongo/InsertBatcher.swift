import GatewayCore
import Synchronization

/// Groups concurrent inbox inserts into unordered `insertMany` batches.
///
/// A request that arrives while the store is busy waits for the next batch instead of for its own round
/// trip: one round trip and one journal flush then acknowledge up to `maxBatch` events, so ingest outruns
/// the store's single-insert limit (SecantusDB: ~270 journalled single inserts/s, thousands of rows/s in
/// batches). At low load a batch holds one event and adds no delay. Each event still gets its own answer:
/// stored, duplicate (its key was taken, possibly by an earlier event of the same batch) or its own error.
final class InsertBatcher: Sendable {
    private struct Waiting {
        let document: BSONDocument
        let continuation: CheckedContinuation<InsertOutcome, any Error>
    }

    private struct State {
        var queue: [Waiting] = []
        var writers = 0
    }

    private let pool: MongoConnectionPool
    private let maxBatch: Int
    private let maxWriters: Int
    private let state = Mutex(State())

    /// - Parameters:
    ///   - maxBatch: events per `insertMany`.
    ///   - maxWriters: batches in flight at once; few, because the store slows down under concurrency.
    init(pool: MongoConnectionPool, maxBatch: Int = 128, maxWriters: Int = 2) {
        self.pool = pool
        self.maxBatch = maxBatch
        self.maxWriters = maxWriters
    }

    func insert(_ document: BSONDocument) async throws -> InsertOutcome {
        try await withCheckedThrowingContinuation { continuation in
            let startWriter = state.withLock { state -> Bool in
                state.queue.append(Waiting(document: document, continuation: continuation))
                guard state.writers < maxWriters else { return false }
                state.writers += 1
                return true
            }
            if startWriter { Task { await writeUntilEmpty() } }
        }
    }

    private func writeUntilEmpty() async {
        while let batch = nextBatch() {
            do {
                let failures = try await pool.withDatabase("insert events") { database in
                    try database.collection(Collections.events).insertMany(batch.map(\.document))
                }
                for (index, waiting) in batch.enumerated() {
                    switch failures[index] {
                    case nil: waiting.continuation.resume(returning: .stored)
                    case let failure? where failure.code == .duplicateKey: waiting.continuation.resume(returning: .duplicate)
                    case let failure?: waiting.continuation.resume(throwing: failure)
                    }
                }
            } catch {
                for waiting in batch { waiting.continuation.resume(throwing: error) }
            }
        }
    }

    /// Takes the next batch, or retires this writer when there is nothing left.
    private func nextBatch() -> [Waiting]? {
        state.withLock { state in
            guard !state.queue.isEmpty else {
                state.writers -= 1
                return nil
            }
            let batch = Array(state.queue.prefix(maxBatch))
            state.queue.removeFirst(batch.count)
            return batch
        }
    }
}
