/// Where an event stands in its lifecycle; every state lives in the inbox document's `status`.
///
/// ```
/// received ──relay──▶ queued ──claim──▶ processing ──▶ processed
///    │                 │  ▲                 │ ├──▶ retry_scheduled ──due, relay──▶ queued
///    └─claim───────────┘  └─recovery        │ ├──▶ parked ───────────due, relay──▶ queued
///                                           │ └──▶ dead
///                          lease expired: taken over by a claim, or swept to retry_scheduled
///
/// dead ──an operator's replay──▶ received
/// ```
/// `processed` and `dead` are terminal for the pipeline: nothing it does leaves them. Only an operator moves a `dead`
/// event, back to `received` (``EventLifecycle/replay(_:version:attempts:now:)``).
public enum EventStatus: String, Sendable, CaseIterable, Codable {
    /// Stored by ingest, not yet published to the stream.
    case received
    /// Published to the stream, waiting for a worker.
    case queued
    /// Claimed by a worker that holds an expiring lease on it.
    case processing
    /// A transient failure; the relay publishes it again once `availableAt` has passed.
    case retryScheduled = "retry_scheduled"
    /// Its shipment is not known yet; re-checked on a slower schedule without spending attempts.
    case parked
    /// Routed successfully; terminal.
    case processed
    /// Given up on, with a `dead_letters` document; terminal.
    case dead

    /// Whether the event has reached the end of its lifecycle.
    public var isTerminal: Bool { self == .processed || self == .dead }

    /// The states the relay may publish once they are due.
    public static let publishable: [EventStatus] = [.received, .retryScheduled, .parked]

    /// Whether moving from this state to `next` is a legal step of the lifecycle.
    public func canMove(to next: EventStatus) -> Bool {
        switch (self, next) {
        case (.received, .queued), (.retryScheduled, .queued), (.parked, .queued), (.queued, .queued):
            return true
        // A worker may claim an entry the relay published but had not yet marked queued.
        case (.received, .processing), (.queued, .processing), (.retryScheduled, .processing),
            (.parked, .processing):
            return true
        case (.processing, .processed), (.processing, .retryScheduled), (.processing, .parked),
            (.processing, .dead):
            return true
        // Another worker takes over an event whose lease expired (see EventLifecycle.claimable).
        case (.processing, .processing):
            return true
        // An operator redrives a dead letter (`gateway dlq replay`).
        case (.dead, .received):
            return true
        default:
            return false
        }
    }
}
