import GatewayCore
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers webhook deliveries that fail verification on the event loop, before Hummingbird makes them an
/// async request: a flood of forged or stale deliveries then costs the HTTP codec and the HMAC, not a task,
/// a router and an async writer each. Every other request, and every delivery that verifies, passes through
/// unchanged to ``IngestRoutes``, which verifies it again and stores it.
///
/// Replies keep HTTP/1.1's order: a delivery is only answered here when no earlier request on the
/// connection still waits for its response. Requests asking to close the connection or expecting a
/// `100 Continue`, and bodies over the size limit, are left to Hummingbird, which owns those rules.
final class IngestRejectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        /// Between requests.
        case idle
        /// Collecting a delivery's body before deciding.
        case holding(head: HTTPRequest, source: String, body: ByteBuffer)
        /// Passing the current request on.
        case forwarding
    }

    private let ingest: IngestEvent
    private let maxBodyBytes: Int
    private let serverName: String
    private var state = State.idle
    /// Requests passed on whose response has not been written yet.
    private var responsesOwed = 0

    init(ingest: IngestEvent, maxBodyBytes: Int, serverName: String) {
        self.ingest = ingest
        self.maxBodyBytes = maxBodyBytes
        self.serverName = serverName
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), _):
            if responsesOwed == 0, let source = Self.webhookSource(head), Self.mayAnswer(head, maxBodyBytes: maxBodyBytes) {
                state = .holding(head: head, source: source, body: context.channel.allocator.buffer(capacity: 0))
            } else {
                forward(.head(head), context: context)
            }
        case (.body(var chunk), .holding(let head, let source, var body)):
            guard body.readableBytes + chunk.readableBytes <= maxBodyBytes else {
                forward(.head(head), context: context)
                body.writeBuffer(&chunk)
                context.fireChannelRead(wrapInboundOut(.body(body)))
                return
            }
            body.writeBuffer(&chunk)
            state = .holding(head: head, source: source, body: body)
        case (.end(let trailers), .holding(let head, let source, let body)):
            state = .idle
            do {
                _ = try ingest.accept(WebhookDelivery(source: source, fields: head.headerFields, body: body))
            } catch {
                answer(IngestRoutes.reply(for: error), context: context)
                return
            }
            responsesOwed += 1
            context.fireChannelRead(wrapInboundOut(.head(head)))
            context.fireChannelRead(wrapInboundOut(.body(body)))
            context.fireChannelRead(wrapInboundOut(.end(trailers)))
        case (.end, _):
            state = .idle
            context.fireChannelRead(data)
        case (.body, _):
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { responsesOwed -= 1 }
        context.write(data, promise: promise)
    }

    private func forward(_ head: HTTPRequestPart, context: ChannelHandlerContext) {
        state = .forwarding
        responsesOwed += 1
        context.fireChannelRead(wrapInboundOut(head))
    }

    private func answer(_ reply: JSONReply, context: ChannelHandlerContext) {
        IngestMetrics.count(reply.status)
        var headers = reply.headers
        headers[.contentLength] = String(reply.body.readableBytes)
        headers[.server] = serverName
        context.write(wrapOutboundOut(.head(HTTPResponse(status: reply.status, headerFields: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(reply.body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// The source of a `POST /webhooks/{source}` whose source is a plain path segment, as the router reads it.
    private static func webhookSource(_ head: HTTPRequest) -> String? {
        guard head.method == .post, let path = head.path else { return nil }
        let target = path.utf8.split(separator: UInt8(ascii: "?"), maxSplits: 1, omittingEmptySubsequences: false)[0]
        let prefix = "/webhooks/".utf8
        guard target.starts(with: prefix) else { return nil }
        let segment = target.dropFirst(prefix.count)
        guard !segment.isEmpty, segment.allSatisfy(isPlainSegmentByte) else { return nil }
        return String(segment)
    }

    private static func isPlainSegmentByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            true
        default:
            false
        }
    }

    private static func mayAnswer(_ head: HTTPRequest, maxBodyBytes: Int) -> Bool {
        if let connection = head.headerFields[.connection], connection.lowercased().contains("close") { return false }
        // A client that sent `Expect: 100-continue` waits before sending the body this handler would wait for.
        if head.headerFields[.expect] != nil { return false }
        if let length = head.headerFields[.contentLength].flatMap(Int.init), length > maxBodyBytes { return false }
        return true
    }
}
