public import Foundation

/// What an event's key finds in the store, for an operator's selection by key.
public enum EventLookup: Sendable, Equatable {
    case absent
    /// Stored, in a state other than `dead`.
    case notDead(EventStatus)
    case dead(DeadEvent)
}

/// The dead events of the inbox, for operators: read them, and move one with a lifecycle step (a replay). The
/// inbox's `events` are the record; the `dead_letters` copies follow them.
public protocol DeadEventStore: Sendable {
    /// Dead events with the given source, class and death time (the fingerprint is the caller's to check), newest
    /// death first, at most `limit`.
    func deadEvents(source: String?, failureClass: FailureClass?, since: Date?, limit: Int) async throws -> [DeadEvent]

    /// What the store holds under `key`.
    func lookUp(_ key: EventKey) async throws -> EventLookup

    /// Applies `step` to the event of `key` if its condition holds; false when it does not (any more).
    func apply(_ step: LifecycleStep, to key: EventKey) async throws -> Bool

    /// Marks the event's dead letter replayed, by whom, when and why; the event itself already moved.
    func markDeadLetterReplayed(_ key: EventKey, replay: Replay, at: Date) async throws
}
