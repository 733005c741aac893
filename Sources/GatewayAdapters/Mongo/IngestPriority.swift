import Dispatch
import Synchronization

/// Lets ingest's inserts go first in a process that also relays and processes (`--role all`): while an ingest job is
/// queued or running on the pool, the relay's and the workers' store jobs wait before they start, for at most
/// `maxHold`, so that a producer's acknowledgement does not queue at the store behind the pipeline's work. A job
/// already sent is never held back, and the pipeline always moves again after `maxHold` however busy ingest stays.
///
/// One timer per hold, not per job: the first job held arms it, and it releases every job held by then.
final class IngestPriority: Sendable {
    private struct State {
        var ingestJobs = 0
        var held: [@Sendable () -> Void] = []
        var timerArmed = false
    }

    private let maxHold: Duration
    private let state = Mutex(State())

    /// - Parameter maxHold: the longest a pipeline job waits for ingest; zero turns priority off.
    init(maxHold: Duration) {
        self.maxHold = maxHold
    }

    /// An ingest job was submitted to the pool.
    func ingestJobStarted() {
        state.withLock { $0.ingestJobs += 1 }
    }

    /// An ingest job ended: when none is left, the held pipeline jobs start.
    func ingestJobEnded() {
        let released = state.withLock { state -> [@Sendable () -> Void] in
            state.ingestJobs -= 1
            guard state.ingestJobs == 0 else { return [] }
            defer { state.held = [] }
            return state.held
        }
        for start in released { start() }
    }

    /// Runs `start` now when ingest is idle, else once it is or `maxHold` has passed.
    func whenIngestAllows(_ start: @escaping @Sendable () -> Void) {
        guard maxHold > .zero else { return start() }
        let armTimer = state.withLock { state -> Bool? in
            guard state.ingestJobs > 0 else { return nil }
            state.held.append(start)
            defer { state.timerArmed = true }
            return !state.timerArmed
        }
        guard let armTimer else { return start() }
        if armTimer {
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(maxHold.nanoseconds))) { self.holdExpired() }
        }
    }

    /// Waits as ``whenIngestAllows(_:)`` does.
    func admit() async {
        guard maxHold > .zero, state.withLock({ $0.ingestJobs > 0 }) else { return }
        await withCheckedContinuation { continuation in whenIngestAllows { continuation.resume() } }
    }

    private func holdExpired() {
        let released = state.withLock { state -> [@Sendable () -> Void] in
            state.timerArmed = false
            defer { state.held = [] }
            return state.held
        }
        for start in released { start() }
    }
}
