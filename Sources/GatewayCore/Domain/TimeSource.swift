public import Foundation

/// The wall clock, injected so that policies and use cases can be tested to the millisecond.
public protocol TimeSource: Sendable {
    /// The current instant.
    func now() -> Date
}

/// The system's wall clock.
public struct SystemTimeSource: TimeSource {
    /// Creates the system clock.
    public init() {}
    /// The current instant, from `Date()`.
    public func now() -> Date { Date() }
}
