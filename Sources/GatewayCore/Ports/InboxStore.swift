/// The `events` inbox: the system of record for every event the gateway has acknowledged.
public protocol InboxStore: Sendable {
    /// How this inbox encodes payloads: ingest reads each body through it once, validating and encoding together.
    var payloadEncoder: any PayloadEncoder { get }

    /// Stores a new event, or reports that its key was stored before, calling `completion` once the store answered:
    /// a caller may then acknowledge the producer. The completion runs on the store's own thread (or at once), so that
    /// the caller can wait without a task.
    ///
    /// The result is ``InsertOutcome/stored`` or ``InsertOutcome/duplicate`` (a duplicate changes nothing), or a
    /// ``StoreError``: `overloaded` when too many writes wait already, `unavailable` or `timeout` when the store cannot
    /// take the write now, `invalidDocument` when it refuses the payload.
    func insert(_ event: NewEvent, completion: @escaping @Sendable (Result<InsertOutcome, any Error>) -> Void)
}

extension InboxStore {
    /// ``insert(_:completion:)``, awaited.
    public func insert(_ event: NewEvent) async throws -> InsertOutcome {
        try await withCheckedThrowingContinuation { continuation in insert(event) { continuation.resume(with: $0) } }
    }
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
