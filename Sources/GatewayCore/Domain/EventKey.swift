/// The idempotency key of an event: the producing source and the provider's own event id.
///
/// The inbox holds at most one event per key (a unique index enforces it), so a provider that
/// delivers the same event twice gets it stored, relayed and processed once.
public struct EventKey: Hashable, Sendable, CustomStringConvertible {
    /// The source the event was posted to (`/webhooks/{source}`).
    public let source: String
    /// The provider's unique event id (`webhook-id`).
    public let eventId: String

    /// Creates a key from its two parts.
    public init(source: String, eventId: String) {
        self.source = source
        self.eventId = eventId
    }

    /// `source:eventId`, the form used in logs and as the routing service's `Idempotency-Key`.
    public var description: String { "\(source):\(eventId)" }
}
