public import Foundation
import Synchronization

/// Stops calling a failing routing service for a cool-down, then lets one probe through.
///
/// `closed` → (threshold consecutive transient failures) → `open` until the cool-down ends → `halfOpen`:
/// one probe call; its success closes the breaker, its failure opens it again. While it is open, events
/// are rescheduled without spending an attempt, so an outage does not dead-letter everything.
public final class CircuitBreaker: Sendable {
    /// What the breaker lets a caller do now.
    public enum Permission: Equatable, Sendable {
        /// Call the service.
        case proceed
        /// Do not call; try again at the given instant.
        case rejected(until: Date)
    }

    private enum State {
        case closed(consecutiveFailures: Int)
        case open(until: Date)
        case halfOpen(probeInFlight: Bool)
    }

    private let failureThreshold: Int
    private let coolDown: Duration
    private let state = Mutex<State>(.closed(consecutiveFailures: 0))

    /// Creates a breaker; a threshold of 0 turns it off.
    public init(failureThreshold: Int, coolDown: Duration) {
        self.failureThreshold = failureThreshold
        self.coolDown = coolDown
    }

    /// Whether a call may go out now.
    public func permission(now: Date) -> Permission {
        guard failureThreshold > 0 else { return .proceed }
        return state.withLock { state in
            switch state {
            case .closed:
                return .proceed
            case .open(let until) where now < until:
                return .rejected(until: until)
            case .open:
                state = .halfOpen(probeInFlight: true)
                return .proceed
            case .halfOpen(let probeInFlight):
                if probeInFlight { return .rejected(until: now.addingTimeInterval(coolDown.seconds)) }
                state = .halfOpen(probeInFlight: true)
                return .proceed
            }
        }
    }

    /// Whether calls flow freely: false while the breaker is open or lets only its probe through.
    public var isClosed: Bool {
        state.withLock { if case .closed = $0 { true } else { false } }
    }

    /// Records the result of a call that was let through.
    /// - Parameter transientFailure: whether it failed in a way that suggests the service is unwell.
    public func record(transientFailure: Bool, now: Date) {
        guard failureThreshold > 0 else { return }
        state.withLock { state in
            switch (state, transientFailure) {
            case (_, false):
                state = .closed(consecutiveFailures: 0)
            case (.closed(let failures), true):
                state =
                    failures + 1 >= failureThreshold
                    ? .open(until: now.addingTimeInterval(coolDown.seconds)) : .closed(consecutiveFailures: failures + 1)
            case (.halfOpen, true), (.open, true):
                state = .open(until: now.addingTimeInterval(coolDown.seconds))
            }
        }
    }
}
