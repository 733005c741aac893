import Synchronization

/// A token bucket limiting routing calls per second; off when the rate is 0.
///
/// Waiters reserve their token up front, so many concurrent callers are spaced evenly instead of
/// all waking at once when the bucket refills.
public final class TokenBucket: Sendable {
    private struct State {
        var tokens: Double
        var updatedAt: ContinuousClock.Instant
    }

    private let ratePerSecond: Double
    private let burst: Double
    private let state: Mutex<State>

    /// Creates a bucket allowing `ratePerSecond` calls a second with bursts of `burst`; rate 0 means no limit.
    public init(ratePerSecond: Double, burst: Double? = nil) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst ?? max(1, ratePerSecond)
        state = Mutex(State(tokens: self.burst, updatedAt: .now))
    }

    /// How long a caller arriving at `now` must wait for its token; the token is taken.
    public func reserve(now: ContinuousClock.Instant) -> Duration {
        guard ratePerSecond > 0 else { return .zero }
        return state.withLock { state in
            let elapsed = (now - state.updatedAt).seconds
            state.tokens = min(burst, state.tokens + elapsed * ratePerSecond)
            state.updatedAt = now
            state.tokens -= 1
            return state.tokens >= 0 ? .zero : .milliseconds(Int64((-state.tokens / ratePerSecond * 1_000).rounded(.up)))
        }
    }

    /// Waits for a token.
    public func acquire() async throws {
        let wait = reserve(now: .now)
        if wait > .zero { try await Task.sleep(for: wait) }
    }
}
