import Synchronization

/// A number of places, of which each running operation holds one; callers beyond the limit wait in
/// arrival order.
///
/// Waiting is not cancellable: places are held by work that always finishes (a routing call has a
/// deadline, a worker task ends with its event), so a waiter is never stranded.
public final class ConcurrencyLimit: Sendable {
    private struct State {
        var free: Int
        /// Waiting callers in arrival order; those before `firstWaiter` were already resumed.
        var waiters: [CheckedContinuation<Void, Never>] = []
        var firstWaiter = 0
    }

    private let state: Mutex<State>

    /// Creates a limit of `places` (at least 1).
    public init(_ places: Int) {
        precondition(places >= 1, "a concurrency limit needs at least one place")
        state = Mutex(State(free: places))
    }

    /// Waits for a place and takes it.
    public func acquire() async {
        await withCheckedContinuation { continuation in
            let takenNow = state.withLock { state -> Bool in
                guard state.free > 0 else {
                    state.waiters.append(continuation)
                    return false
                }
                state.free -= 1
                return true
            }
            if takenNow { continuation.resume() }
        }
    }

    /// Takes every free place without waiting.
    /// - Returns: how many places were taken, possibly 0.
    public func acquireAllFree() -> Int {
        state.withLock { state in
            defer { state.free = 0 }
            return state.free
        }
    }

    /// Gives back `count` places, handing each to the longest waiter if there is one.
    public func release(_ count: Int = 1) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            let handedOver = min(count, state.waiters.count - state.firstWaiter)
            let woken = Array(state.waiters[state.firstWaiter..<state.firstWaiter + handedOver])
            state.firstWaiter += handedOver
            state.free += count - handedOver
            // Under steady load the queue never empties: drop the served prefix once it is half the array.
            if state.firstWaiter * 2 >= state.waiters.count {
                state.waiters.removeFirst(state.firstWaiter)
                state.firstWaiter = 0
            }
            return woken
        }
        for waiter in woken { waiter.resume() }
    }

    /// Runs `operation` holding a place.
    public func withPlace<Result>(_ operation: () async throws -> Result) async rethrows -> Result {
        await acquire()
        defer { release() }
        return try await operation()
    }
}
