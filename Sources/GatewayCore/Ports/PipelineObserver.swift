public import Foundation

/// What the use cases report as they go, for metrics and dashboards: a port, so that the core names no metrics
/// library. Every method is called on the hot path and must return at once.
public protocol PipelineObserver: Sendable {
    /// A routing call ended after `latency`; `breakerClosed` is the breaker's state once the call was recorded.
    func routingCallEnded(_ outcome: RoutingCallOutcome, latency: Duration, breakerClosed: Bool)
    /// A worker recorded an attempt's outcome (not when its lease was lost) for an event received at `receivedAt`.
    func outcomeRecorded(_ transition: Transition, receivedAt: Date, now: Date)
    /// Operators moved `count` events out of `dead`.
    func replayed(_ count: Int)
}

/// How a routing call ended, as metrics label it.
public enum RoutingCallOutcome: String, Sendable, CaseIterable {
    case routed
    /// A failure worth retrying (5xx, 429, a timeout, a connection error).
    case transient
    /// A failure that will not change (4xx).
    case permanent
}

/// The observer of a use case built without one: it ignores everything.
public struct SilentObserver: PipelineObserver {
    public init() {}
    public func routingCallEnded(_ outcome: RoutingCallOutcome, latency: Duration, breakerClosed: Bool) {}
    public func outcomeRecorded(_ transition: Transition, receivedAt: Date, now: Date) {}
    public func replayed(_ count: Int) {}
}
