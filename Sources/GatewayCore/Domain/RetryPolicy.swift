/// When a transiently failed event is tried again, and when to give up: the only place a retry delay is computed.
///
/// Delay after attempt `n` is `min(cap, base · factor^(n−1))`, scaled by a random factor in `[1−jitter, 1+jitter]`
/// so that events failing together do not come back together. A `Retry-After` from the routing service
/// replaces the computed delay, within the cap.
public struct RetryPolicy: Sendable, Equatable {
    /// Delay after the first attempt.
    public var base: Duration
    /// Growth per attempt.
    public var factor: Double
    /// Longest delay before jitter.
    public var cap: Duration
    /// Relative spread of the random factor, in `0..<1`.
    public var jitter: Double
    /// Routing attempts before the event is dead-lettered.
    public var maxAttempts: Int

    /// The defaults: 1 s, ×2, 5 min cap, ±20 %, 8 attempts.
    public init(
        base: Duration = .seconds(1), factor: Double = 2, cap: Duration = .seconds(300), jitter: Double = 0.2,
        maxAttempts: Int = 8
    ) {
        self.base = base
        self.factor = factor
        self.cap = cap
        self.jitter = jitter
        self.maxAttempts = maxAttempts
    }

    /// Whether another attempt is allowed after `attempt` attempts failed transiently.
    public func allowsRetry(after attempt: Int) -> Bool { attempt < maxAttempts }

    /// The delay before the attempt that follows attempt number `attempt` (1-based).
    /// - Parameters:
    ///   - retryAfter: the routing service's `Retry-After`, honoured up to the cap.
    ///   - random: the source of the jitter.
    public func delay(afterAttempt attempt: Int, retryAfter: Duration? = nil, random: any RandomSource) -> Duration {
        if let retryAfter { return min(retryAfter, cap) }
        let exponential = base.seconds * power(factor, max(attempt, 1) - 1)
        let capped = min(exponential, cap.seconds)
        let scale = 1 - jitter + 2 * jitter * random.nextUnit()
        return .milliseconds(Int64((capped * scale * 1_000).rounded()))
    }
}

/// Uniform random numbers in `[0, 1]`, injected so that jitter is reproducible in tests.
public protocol RandomSource: Sendable {
    /// The next number in `[0, 1]`.
    func nextUnit() -> Double
}

/// The system's random numbers.
public struct SystemRandomSource: RandomSource {
    /// Creates the source.
    public init() {}
    /// A uniform number in `[0, 1]`.
    public func nextUnit() -> Double { Double.random(in: 0...1) }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// The duration in whole milliseconds, as settings and Redis commands write it.
    public var milliseconds: Int64 {
        components.seconds * 1_000 + components.attoseconds / 1_000_000_000_000_000
    }
}

/// `base` to a whole power, stopping early once far past any cap so large attempt numbers cannot overflow.
private func power(_ base: Double, _ exponent: Int) -> Double {
    var result = 1.0
    for _ in 0..<exponent where result < 1e12 {
        result *= base
    }
    return result
}
