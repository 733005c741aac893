import Synchronization

/// Runs `operation` and returns its result, or nil once `limit` has passed, without waiting for it.
///
/// A blocking store call cannot be cancelled, so the caller stops waiting instead: an ingest request gets
/// its 503 on time while the write finishes (or fails) in the background. A write that lands after the
/// 503 is harmless: the producer retries and is answered `duplicate`.
func withDeadline<T: Sendable>(
    _ limit: Duration, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T? {
    let slot = ContinuationSlot<T?>()
    return try await withCheckedThrowingContinuation { continuation in
        slot.store(continuation)
        let timer = Task {
            try await Task.sleep(for: limit)
            slot.resume(with: .success(nil))
        }
        Task {
            let result = await Result { try await operation() }
            timer.cancel()
            slot.resume(with: result.map { $0 })
        }
    }
}

/// A continuation resumed by whichever of several racers gets there first.
private final class ContinuationSlot<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func store(_ newValue: CheckedContinuation<T, any Error>) {
        continuation.withLock { $0 = newValue }
    }

    func resume(with result: Result<T, any Error>) {
        continuation.withLock { stored in
            stored?.resume(with: result)
            stored = nil
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
