/// The `events` inbox: the system of record for every event the gateway has acknowledged.
public protocol InboxStore: Sendable {
    /// How this inbox encodes payloads: ingest reads each body through it once, validating and encoding together.
    var payloadEncoder: any PayloadEncoder { get }

    /// Stores a new event, or reports that its key was stored before.
    ///
    /// Returns only after the store acknowledged the write, so a caller may acknowledge the producer.
    /// - Returns: ``InsertOutcome/stored`` or ``InsertOutcome/duplicate``; a duplicate changes nothing.
    /// - Throws: ``StoreError``: `unavailable` or `timeout` when the store cannot take the write now,
    ///   `invalidDocument` when it rejects the payload.
    func insert(_ event: NewEvent) async throws -> InsertOutcome
}

/// What happened to an insert.
public enum InsertOutcome: Sendable, Equatable {
    /// The event is new and now stored.
    case stored
    /// An event with the same key was already stored; nothing was written.
    case duplicate
}

/// A dependency that `/readyz` checks.
public protocol HealthProbe: Sendable {
    /// The dependency's name in readiness reports, e.g. `mongo`.
    var name: String { get }
    /// Returns when the dependency answers.
    /// - Throws: an error describing why it does not.
    func ping() async throws
}
