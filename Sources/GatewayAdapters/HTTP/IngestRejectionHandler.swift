import GatewayCore
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// Answers webhook deliveries that fail verification on the event loop, before Hummingbird makes them an
/// async request: a flood of forged or stale deliveries then costs the HTTP/1 parser and the HMAC, not a
/// conversion to HTTPTypes, a task, a router and an async writer each. Every other request, and every
/// delivery that verifies, passes through unchanged to ``IngestRoutes``, which verifies it again and stores it.
///
/// It reads SwiftNIO's HTTP/1 parts, in front of the codec that turns them into HTTPTypes (see
/// ``HTTP1GuardsInstaller``). Its answers are whole HTTP/1 responses encoded once per
/// connection and written on the socket side of NIO's response encoder: one buffer and one write each.
///
/// Replies keep HTTP/1.1's order: a delivery is only answered here when no earlier request on the
/// connection still waits for its response. HTTP/1.0 requests, requests that close the connection or expect
/// a `100 Continue`, and bodies over the size limit are left to Hummingbird, which owns those rules.
final class IngestRejectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        /// Between requests.
        case idle
        /// Collecting a delivery's body before deciding.
        case holding(head: HTTPRequestHead, source: String, body: ByteBuffer)
        /// Passing the current request on.
        case forwarding
    }

    /// A rejection ready to write: floods repeat the same few, so each is built once per connection.
    private struct EncodedReply {
        var status: HTTPResponse.Status
        /// Status line, headers and body.
        var bytes: ByteBuffer
    }

    /// At most this many distinct rejections are kept per connection; reasons are a handful of fixed texts.
    private static let cachedRepliesLimit = 16

    private let ingest: IngestEvent
    private let maxBodyBytes: Int
    private let serverName: String
    /// The context of NIO's response encoder: writing there sends bytes to the socket without encoding them.
    private var socketSide: ChannelHandlerContext?
    private var state = State.idle
    /// Requests passed on whose response has not been written yet.
    private var responsesOwed = 0
    private var cachedReplies: [IngestError: EncodedReply] = [:]

    init(ingest: IngestEvent, maxBodyBytes: Int, serverName: String) {
        self.ingest = ingest
        self.maxBodyBytes = maxBodyBytes
        self.serverName = serverName
    }

    func handlerAdded(context: ChannelHandlerContext) {
        do {
            socketSide = try context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
        } catch {
            context.fireErrorCaught(error)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        socketSide = nil
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
                _ = try ingest.accept(WebhookDelivery(source: source, body: body) { head.headers.standardWebhooks($0) })
            } catch {
                answer(error, context: context)
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

    private func forward(_ head: HTTPServerRequestPart, context: ChannelHandlerContext) {
        state = .forwarding
        responsesOwed += 1
        context.fireChannelRead(wrapInboundOut(head))
    }

    private func answer(_ error: IngestError, context: ChannelHandlerContext) {
        let reply: EncodedReply
        if let cached = cachedReplies[error] {
            reply = cached
        } else {
            reply = encode(IngestRoutes.reply(for: error), allocator: context.channel.allocator)
            if cachedReplies.count < Self.cachedRepliesLimit { cachedReplies[error] = reply }
        }
        IngestMetrics.count(reply.status)
        socketSide?.writeAndFlush(NIOAny(reply.bytes), promise: nil)
        context.triggerUserOutboundEvent(RequestDeadlineHandler.RequestAnswered(), promise: nil)
    }

    private func encode(_ reply: JSONReply, allocator: ByteBufferAllocator) -> EncodedReply {
        let status = HTTPResponseStatus(statusCode: reply.status.code)
        var bytes = allocator.buffer(capacity: 256 + reply.body.readableBytes)
        bytes.writeString("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n")
        for field in reply.headers { bytes.writeString("\(field.name.canonicalName): \(field.value)\r\n") }
        bytes.writeString("content-length: \(reply.body.readableBytes)\r\nserver: \(serverName)\r\n\r\n")
        bytes.writeImmutableBuffer(reply.body)
        return EncodedReply(status: reply.status, bytes: bytes)
    }

    /// The source of a `POST /webhooks/{source}` whose source is a plain path segment, as the router reads it.
    private static func webhookSource(_ head: HTTPRequestHead) -> String? {
        guard head.method == .POST else { return nil }
        let uri = head.uri.utf8
        let target = uri[..<(uri.firstIndex(of: UInt8(ascii: "?")) ?? uri.endIndex)]
        let prefix = "/webhooks/".utf8
        guard target.starts(with: prefix) else { return nil }
        let segment = target.dropFirst(prefix.count)
        guard !segment.isEmpty, segment.allSatisfy(isPlainSegmentByte) else { return nil }
        return String(Substring(segment))
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

    private static func mayAnswer(_ head: HTTPRequestHead, maxBodyBytes: Int) -> Bool {
        // Only HTTP/1.1 on a connection that stays open: closing, and HTTP/1.0's own keep-alive rules, are
        // Hummingbird's to apply.
        guard head.version == .http1_1, head.isKeepAlive else { return false }
        // A client that sent `Expect: 100-continue` waits before sending the body this handler would wait for.
        if head.headers.contains(name: "expect") { return false }
        if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maxBodyBytes { return false }
        return true
    }
}

extension HTTPHeaders {
    /// The value of a Standard Webhooks header, under its own name or its `svix-` alias.
    func standardWebhooks(_ header: StandardWebhooksHeader) -> String? {
        first(name: header.names.standard.rawName) ?? first(name: header.names.alias.rawName)
    }
}
