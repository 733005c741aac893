import Foundation

/// A webhook delivery as it arrived: the source from the path, the signed headers and the raw body.
public struct WebhookDelivery: Sendable {
    /// The source named in `/webhooks/{source}`.
    public let source: String
    /// The Standard Webhooks headers.
    public let headers: SignedHeaders
    /// The raw body bytes, exactly as signed.
    public let body: [UInt8]

    /// Creates a delivery.
    public init(source: String, headers: SignedHeaders, body: [UInt8]) {
        self.source = source
        self.headers = headers
        self.body = body
    }
}

/// The answer to a delivery that was accepted, stored now or before.
public struct IngestReceipt: Sendable, Equatable {
    /// The stored event's key.
    public let key: EventKey
    /// Whether this delivery stored the event or found it already stored.
    public let outcome: InsertOutcome
}

/// Why a delivery was refused; the HTTP edge maps each case to a status.
public enum IngestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No secrets are configured for the source (404).
    case unknownSource(String)
    /// Headers missing or unreadable (400).
    case malformedRequest(String)
    /// Signature or timestamp rejected (401).
    case unauthenticated(String)
    /// The body is not a JSON object or the store refused it as a document (400).
    case invalidPayload(String)
    /// Too many deliveries wait for the store already; the producer should retry shortly (503).
    case overloaded
    /// The store did not confirm the write in time; it may still land, and a retry is then a duplicate (503).
    case storeTimeout
    /// The store cannot take the write now; the producer should retry (503).
    case storeUnavailable(StoreError)

    public var description: String {
        switch self {
        case .unknownSource(let source): "unknown source '\(source)'"
        case .malformedRequest(let reason), .unauthenticated(let reason), .invalidPayload(let reason): reason
        case .overloaded: "the gateway is at capacity; retry shortly"
        case .storeTimeout: "the event store did not confirm the write in time; retry"
        case .storeUnavailable(let error): "the event store is unavailable: \(error.code.rawValue)"
        }
    }
}

/// Verifies a delivery (``accept(_:)``) and stores it in the inbox (``store(_:)``): the whole of the ingest
/// hot path, in two steps so that the edge bounds only the store write in time and capacity.
///
/// Idempotency rule: the key is `(source, webhook-id)`. The first delivery of a key is stored and
/// answered `stored`; every later one finds the key taken (the inbox's unique index decides, even
/// between concurrent deliveries) and is answered `duplicate` with nothing written or enqueued.
public struct IngestEvent: Sendable {
    private let secrets: [String: [WebhookSecret]]
    private let verifier: SignatureVerifier
    private let inbox: any InboxStore
    private let clock: any TimeSource
    private let sealer: AuditSealer?

    /// Creates the use case.
    /// - Parameters:
    ///   - secrets: the active signing secrets of each known source.
    ///   - verifier: the signature verifier (carries the timestamp tolerance).
    ///   - inbox: where events are stored.
    ///   - clock: the wall clock for timestamp checks and `receivedAt`.
    ///   - sealer: seals each event's ingest record, the first link of its audit chain; nil when history is not sealed.
    public init(
        secrets: [String: [WebhookSecret]], verifier: SignatureVerifier, inbox: any InboxStore,
        clock: any TimeSource = SystemTimeSource(), sealer: AuditSealer? = nil
    ) {
        self.secrets = secrets
        self.verifier = verifier
        self.inbox = inbox
        self.clock = clock
        self.sealer = sealer
    }

    /// Checks the source, the signature and the payload: everything before the store, synchronous and
    /// without I/O, so that a rejected delivery costs no task and no round trip.
    /// - Throws: ``IngestError`` (`unknownSource`, `malformedRequest`, `unauthenticated`, `invalidPayload`).
    public func accept(_ delivery: WebhookDelivery) throws(IngestError) -> NewEvent {
        guard let sourceSecrets = secrets[delivery.source] else { throw .unknownSource(delivery.source) }
        let now = clock.now()
        let eventId: String
        do {
            eventId = try verifier.verify(delivery.headers, body: delivery.body, secrets: sourceSecrets, now: now)
        } catch {
            switch error.kind {
            case .malformed: throw .malformedRequest(error.reason)
            case .unauthenticated: throw .unauthenticated(error.reason)
            }
        }
        do {
            return try NewEvent(
                key: EventKey(source: delivery.source, eventId: eventId), body: delivery.body, receivedAt: now, encoder: inbox.payloadEncoder
            ).sealed(by: sealer)
        } catch {
            throw .invalidPayload(error.reason)
        }
    }

    /// Stores an accepted event in the inbox, calling `completion` once it answered: on the inbox's thread, or at once.
    /// The caller bounds the wait itself (the edge answers `storeTimeout` after its deadline).
    public func store(_ event: NewEvent, completion: @escaping @Sendable (Result<IngestReceipt, IngestError>) -> Void) {
        inbox.insert(event) { result in
            completion(result.map { IngestReceipt(key: event.key, outcome: $0) }.mapError(Self.ingestError))
        }
    }

    /// ``store(_:completion:)``, awaited.
    /// - Throws: ``IngestError`` (`invalidPayload` when the store refuses the document, `overloaded`, `storeTimeout`,
    ///   `storeUnavailable`).
    public func store(_ event: NewEvent) async throws(IngestError) -> IngestReceipt {
        let result = await withCheckedContinuation { continuation in store(event) { continuation.resume(returning: $0) } }
        return try result.get()
    }

    private static func ingestError(_ error: any Error) -> IngestError {
        guard let error = error as? StoreError else {
            return .storeUnavailable(StoreError(.failed, operation: "insert events", message: "\(error)"))
        }
        switch error.code {
        case .invalidDocument: return .invalidPayload("the store rejected the payload: \(error.message)")
        case .overloaded: return .overloaded
        case .timeout: return .storeTimeout
        default: return .storeUnavailable(error)
        }
    }

}
