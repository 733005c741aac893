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
    private let metrics: IngestMetrics

    /// Creates the routes around the ingest use case.
    init(ingest: IngestEvent, limits: Limits, metrics: IngestMetrics) {
        self.ingest = ingest
        self.limits = limits
        self.metrics = metrics
    }

    /// Adds the route to `router`.
    public func register<Context: RequestContext>(on router: Router<Context>) {
        router.post("webhooks/:source") { request, context in
            try await handle(request, context: context)
        }
    }

    private func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        let source = try context.parameters.require("source")
        let started = ContinuousClock.now
        func answer(_ response: Response) -> Response {
            metrics.counter(source: source, status: response.status).increment()
            metrics.ackLatency.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            return response
        }
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

/// Ingest replies by source and status, and the time from a delivery's request head to its reply, for `/metrics`.
/// A source that is not configured is labelled `unknown`, so that made-up paths cannot grow the label set.
final class IngestMetrics: Sendable {
    private let sources: Set<String>
    private let counters = Mutex<[CounterKey: Counter]>([:])
    let ackLatency = Timer(label: MetricName.ingestAckSeconds)

    private struct CounterKey: Hashable {
        var source: String
        var status: Int
    }

    init(sources: Set<String>) {
        self.sources = sources
    }

    /// 408 for a request whose head or body never arrived in time: its source is not known.
    static let timedOut = Counter(label: MetricName.ingestResponses, dimensions: [("source", "unknown"), ("status", "408")])

    /// The counter of a reply; handlers keep the ones they used, so the lock is taken once per connection and reply.
    func counter(source: String?, status: HTTPResponse.Status) -> Counter {
        let key = CounterKey(source: source.flatMap { sources.contains($0) ? $0 : nil } ?? "unknown", status: status.code)
        return counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: MetricName.ingestResponses, dimensions: [("source", key.source), ("status", String(key.status))])
            counters[key] = counter
            return counter
        }
    }
}

extension WebhookDelivery {
    /// The delivery of a request to `/webhooks/{source}`; `header` gives the first field of a lowercase name.
    init(source: String, body: ByteBuffer, header: (String) -> String?) {
        self.init(source: source, headers: SignedHeaders(reading: header), body: Array(body.readableBytesView))
    }
}
