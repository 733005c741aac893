public import GatewayCore
import HTTPTypes
public import Hummingbird
import Metrics
import NIOCore
import Synchronization

/// `POST /webhooks/{source}` for the deliveries ``IngestHandler`` leaves to Hummingbird (HTTP/1.0, `Expect:
/// 100-continue`, a body over the limit, a request pipelined behind one still waiting for its reply): the same
/// contract (docs/ingest.md and `openapi.yaml`), as an async route.
public struct IngestRoutes: Sendable {
    /// Limits that keep the ingest path answering in bounded time.
    public struct Limits: Sendable {
        /// Largest accepted body (413 beyond).
        public var maxBodyBytes: Int
        /// Longest wait for the store before a 503.
        public var storeTimeout: Duration

        /// Creates the limits.
        public init(maxBodyBytes: Int, storeTimeout: Duration) {
            self.maxBodyBytes = maxBodyBytes
            self.storeTimeout = storeTimeout
        }
    }

    private let ingest: IngestEvent
    private let limits: Limits

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
            event = try ingest.accept(
                WebhookDelivery(source: source, body: body) { name in request.headers.first { $0.name.canonicalName == name }?.value })
        } catch {
            return answer(IngestReplies.reply(for: error).response)
        }
        let ingest = self.ingest
        let receipt: IngestReceipt?
        do {
            receipt = try await withDeadline(limits.storeTimeout) { try await ingest.store(event) }
        } catch let error as IngestError {
            return answer(IngestReplies.reply(for: error).response)
        }
        guard let receipt else { return answer(IngestReplies.reply(for: .storeTimeout).response) }
        return answer(IngestReplies.reply(for: receipt).response)
    }

    private func tooLarge() -> Response {
        JSONReply.error(.contentTooLarge, code: "payload_too_large", message: "the body exceeds \(limits.maxBodyBytes) bytes").response
    }

    private func answer(_ response: Response) -> Response {
        IngestMetrics.count(response.status)
        return response
    }
}

/// The reply to each ingest outcome, the same on the event loop (``IngestHandler``) and in the route.
enum IngestReplies {
    static func reply(for receipt: IngestReceipt) -> JSONReply {
        switch receipt.outcome {
        case .stored: JSONReply(.accepted, [("id", receipt.key.eventId), ("status", "accepted")])
        case .duplicate: JSONReply(.ok, [("id", receipt.key.eventId), ("status", "duplicate")])
        }
    }

    static func reply(for error: IngestError) -> JSONReply {
        switch error {
        case .unknownSource: JSONReply.error(.notFound, code: "unknown_source", message: error.description)
        case .malformedRequest: JSONReply.error(.badRequest, code: "invalid_request", message: error.description)
        case .unauthenticated: JSONReply.error(.unauthorized, code: "invalid_signature", message: error.description)
        case .invalidPayload: JSONReply.error(.badRequest, code: "invalid_payload", message: error.description)
        case .overloaded: JSONReply.error(.serviceUnavailable, code: "overloaded", message: error.description, retryAfterSeconds: 1)
        case .storeTimeout: JSONReply.error(.serviceUnavailable, code: "store_timeout", message: error.description, retryAfterSeconds: 2)
        case .storeUnavailable: JSONReply.error(.serviceUnavailable, code: "store_unavailable", message: error.description, retryAfterSeconds: 2)
        }
    }
}

/// Counts ingest replies by status for `/metrics`.
enum IngestMetrics {
    /// The counters of the statuses ingest answers, made once; another status takes a lock.
    private static let common = Dictionary(uniqueKeysWithValues: [200, 202, 400, 401, 404, 408, 413, 503].map { ($0, counter($0)) })
    private static let others = Mutex<[Int: Counter]>([:])

    static func count(_ status: HTTPResponse.Status) {
        if let counter = common[status.code] { return counter.increment() }
        others.withLock { counters in
            if counters[status.code] == nil { counters[status.code] = counter(status.code) }
            return counters[status.code]!
        }.increment()
    }

    private static func counter(_ code: Int) -> Counter {
        Counter(label: "gateway_ingest_responses_total", dimensions: [("status", String(code))])
    }
}

extension WebhookDelivery {
    /// The delivery of a request to `/webhooks/{source}`; `header` gives the first field of a lowercase name.
    init(source: String, body: ByteBuffer, header: (String) -> String?) {
        self.init(source: source, headers: SignedHeaders(reading: header), body: Array(body.readableBytesView))
    }
}
