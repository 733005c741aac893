public import GatewayCore
import HTTPTypes
public import Hummingbird
import Metrics
import NIOCore
import Synchronization

/// `POST /webhooks/{source}`: the ingest contract documented in docs/ingest.md and `openapi.yaml`.
public struct IngestRoutes: Sendable {
    /// Limits that keep the ingest path answering in bounded time.
    public struct Limits: Sendable {
        /// Largest accepted body (413 beyond).
        public var maxBodyBytes: Int
        /// Longest wait for the store before a 503.
        public var storeTimeout: Duration
        /// Requests waiting on the store at once before new ones get 503.
        public var maxInFlight: Int

        /// Creates the limits.
        public init(maxBodyBytes: Int, storeTimeout: Duration, maxInFlight: Int) {
            self.maxBodyBytes = maxBodyBytes
            self.storeTimeout = storeTimeout
            self.maxInFlight = maxInFlight
        }
    }

    private let ingest: IngestEvent
    private let limits: Limits
    private let inFlight = InFlightCounter()

    /// Creates the routes around the ingest use case.
    public init(ingest: IngestEvent, limits: Limits) {
        self.ingest = ingest
        self.limits = limits
    }

    /// Adds the route to `router`.
    public func register<Context: RequestContext>(on router: Router<Context>) {
        router.post("webhooks/:source") { request, context in
            try await handle(request, context: context)
        }
    }

    private func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        let source = try context.parameters.require("source")
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limits.maxBodyBytes {
            return answer(tooLarge())
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limits.maxBodyBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            return answer(tooLarge())
        }
        let event: NewEvent
        do {
            event = try ingest.accept(WebhookDelivery(source: source, body: body) { request.headers.standardWebhooks($0) })
        } catch {
            return answer(Self.reply(for: error).response)
        }
        guard inFlight.enter(limit: limits.maxInFlight) else {
            return answer(
                JSONReply.error(.serviceUnavailable, code: "overloaded", message: "the gateway is at capacity; retry shortly", retryAfterSeconds: 1)
                    .response)
        }
        defer { inFlight.leave() }
        let ingest = self.ingest
        let receipt: IngestReceipt?
        do {
            receipt = try await withDeadline(limits.storeTimeout) { try await ingest.store(event) }
        } catch let error as IngestError {
            return answer(Self.reply(for: error).response)
        }
        guard let receipt else {
            return answer(
                JSONReply.error(
                    .serviceUnavailable, code: "store_timeout", message: "the event store did not confirm the write in time; retry",
                    retryAfterSeconds: 2
                ).response)
        }
        switch receipt.outcome {
        case .stored: return answer(JSONReply(.accepted, [("id", receipt.key.eventId), ("status", "accepted")]).response)
        case .duplicate: return answer(JSONReply(.ok, [("id", receipt.key.eventId), ("status", "duplicate")]).response)
        }
    }

    private func tooLarge() -> Response {
        JSONReply.error(.contentTooLarge, code: "payload_too_large", message: "the body exceeds \(limits.maxBodyBytes) bytes").response
    }

    private func answer(_ response: Response) -> Response {
        IngestMetrics.count(response.status)
        return response
    }

    static func reply(for error: IngestError) -> JSONReply {
        switch error {
        case .unknownSource: JSONReply.error(.notFound, code: "unknown_source", message: error.description)
        case .malformedRequest: JSONReply.error(.badRequest, code: "invalid_request", message: error.description)
        case .unauthenticated: JSONReply.error(.unauthorized, code: "invalid_signature", message: error.description)
        case .invalidPayload: JSONReply.error(.badRequest, code: "invalid_payload", message: error.description)
        case .storeUnavailable: JSONReply.error(.serviceUnavailable, code: "store_unavailable", message: error.description, retryAfterSeconds: 2)
        }
    }
}

/// Counts ingest replies by status for `/metrics`.
enum IngestMetrics {
    private static let counters = Mutex<[Int: Counter]>([:])

    static func count(_ status: HTTPResponse.Status) {
        let counter = counters.withLock { counters in
            if let counter = counters[status.code] { return counter }
            let counter = Counter(label: "gateway_ingest_responses_total", dimensions: [("status", String(status.code))])
            counters[status.code] = counter
            return counter
        }
        counter.increment()
    }
}

/// The number of ingest requests waiting on the store, bounded so overload is answered, not queued.
private final class InFlightCounter: Sendable {
    private let count = Atomic<Int>(0)

    func enter(limit: Int) -> Bool {
        if count.add(1, ordering: .relaxed).newValue > limit {
            count.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func leave() {
        count.subtract(1, ordering: .relaxed)
    }
}

extension WebhookDelivery {
    /// The delivery of a request to `/webhooks/{source}`, whose Standard Webhooks headers `header` reads.
    init(source: String, body: ByteBuffer, header: (StandardWebhooksHeader) -> String?) {
        self.init(
            source: source, headers: SignedHeaders(id: header(.id), timestamp: header(.timestamp), signature: header(.signature)),
            body: Array(body.readableBytesView))
    }
}

/// The Standard Webhooks headers and their `svix-` aliases.
enum StandardWebhooksHeader: String {
    case id, timestamp, signature

    /// The header's own name and its alias, built once: validating a field name costs more than the lookup.
    var names: (standard: HTTPField.Name, alias: HTTPField.Name) {
        switch self {
        case .id: Self.idNames
        case .timestamp: Self.timestampNames
        case .signature: Self.signatureNames
        }
    }

    private static let idNames = names(of: .id)
    private static let timestampNames = names(of: .timestamp)
    private static let signatureNames = names(of: .signature)

    private static func names(of header: Self) -> (standard: HTTPField.Name, alias: HTTPField.Name) {
        (HTTPField.Name("webhook-\(header.rawValue)")!, HTTPField.Name("svix-\(header.rawValue)")!)
    }
}

extension HTTPFields {
    /// The value of a Standard Webhooks header, under its own name or its `svix-` alias.
    func standardWebhooks(_ header: StandardWebhooksHeader) -> String? {
        // The first field of either name; `self[name]` would join repeated fields, which no producer sends.
        let names = header.names
        return (first { $0.name == names.standard } ?? first { $0.name == names.alias })?.value
    }
}
