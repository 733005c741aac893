import GatewayCore
import HTTPTypes
import Metrics
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// Answers webhook deliveries on the event loop, whole: it holds a delivery's body, verifies and parses it once
/// (``IngestEvent/accept(_:)``), hands the event to the inbox with a completion and answers when the inbox does.
/// No task, router, conversion to HTTPTypes or async writer is spent on a delivery, and no timer of its own: the
/// store's wait is bounded by the connection's one ``ConnectionTimer``, which on firing looks at the deadline of
/// whatever delivery is then waiting.
///
/// It reads SwiftNIO's HTTP/1 parts, in front of the codec that turns them into HTTPTypes (see
/// ``HTTP1GuardsInstaller``). Its answers are whole HTTP/1 responses written on the socket side of NIO's response
/// encoder: one buffer and one write each; rejections, which floods repeat, are encoded once per connection.
///
/// Replies keep HTTP/1.1's order: a delivery is only taken here when no earlier request on the connection still
/// waits for its response, and what arrives while one waits for the store waits its turn. Reading goes on until
/// something arrives and pauses then, so a client that waits for its reply costs no change of the socket's read
/// interest, and one that pipelines holds at most one read's worth of parts here, which ``RequestDeadlineHandler``
/// does not time until the delivery ahead is answered (``RequestDeadlineHandler/AwaitingStore``). The end of the
/// client's input, a graceful shutdown's request to quiesce and an error such as bytes the decoder refuses are passed
/// on, and Hummingbird closes the connection, only once what came before is answered: a client that half-closes after
/// sending gets its reply. Reading also pauses while the socket takes no more replies.
///
/// HTTP/1.0 requests, requests that close the connection or expect a `100 Continue`, and bodies over the size limit
/// are left to Hummingbird and ``IngestRoutes``, which own those rules.
final class IngestHandler: ChannelDuplexHandler, RemovableChannelHandler {
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
        /// A delivery waits for the inbox until `deadline`; `attempt` tells its answer from a late one after it.
        case storing(attempt: Int, deadline: NIODeadline)
    }

    /// A rejection ready to write: floods repeat the same few, so each is built once per connection.
    private struct EncodedReply {
        var status: HTTPResponse.Status
        /// Status line, headers and body.
        var bytes: ByteBuffer
    }

    /// At most this many distinct rejections are kept per connection; reasons are a handful of fixed texts.
    private static let cachedRepliesLimit = 16

    /// At most this many parts wait behind a delivery being stored. One read can carry thousands of tiny pipelined
    /// requests, each decoded into a head far larger than its bytes; a client that runs this far ahead of its
    /// replies is closed rather than held in memory.
    static let waitingPartsLimit = 1_024

    private let ingest: IngestEvent
    private let maxBodyBytes: Int
    private let storeTimeout: TimeAmount
    private let serverName: String
    private let acceptedHead: ByteBuffer
    private let duplicateHead: ByteBuffer
    private var context: ChannelHandlerContext?
    /// The context of NIO's response encoder: writing there sends bytes to the socket without encoding them.
    private var socketSide: ChannelHandlerContext?
    private var state = State.idle
    /// Requests passed on whose response has not been written yet.
    private var responsesOwed = 0
    private var cachedReplies: [IngestError: EncodedReply] = [:]
    /// Parts that arrived while a delivery waited for the inbox, in order.
    private var waitingParts = CircularBuffer<HTTPServerRequestPart>()
    /// Whether the channel asked to read while a delivery waited for the inbox.
    private var readPending = false
    /// What arrived while a delivery waited for the inbox and would make Hummingbird answer or close the connection
    /// (an error such as bytes NIO's decoder refused, the end of the client's input, the server's request to
    /// quiesce), in order, passed on after the delivery's reply.
    private var heldEvents: [HeldEvent] = []
    private var attempts = 0
    /// Bounds the wait of the delivery storing; it may outlive the delivery it was armed for.
    private var storeTimer = ConnectionTimer()
    private let metrics: IngestMetrics
    /// The counters this connection used, so that counting a reply takes no lock.
    private var counters: [CounterKey: Counter] = [:]
    /// The current delivery's source and when its head arrived, for its reply's metrics.
    private var current: (source: String, since: NIODeadline)?

    private enum HeldEvent {
        case error(any Error)
        case user(Any)
    }

    private struct CounterKey: Hashable {
        var source: String
        var status: Int
    }

    init(ingest: IngestEvent, maxBodyBytes: Int, storeTimeout: Duration, serverName: String, metrics: IngestMetrics) {
        self.metrics = metrics
        self.ingest = ingest
        self.maxBodyBytes = maxBodyBytes
        self.storeTimeout = TimeAmount(storeTimeout)
        self.serverName = serverName
        acceptedHead = Self.receiptHead(.accepted, serverName: serverName)
        duplicateHead = Self.receiptHead(.ok, serverName: serverName)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        do {
            socketSide = try context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
        } catch {
            context.fireErrorCaught(error)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        storeTimer.cancel()
        state = .idle
        self.context = nil
        socketSide = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .storing = state {
            guard waitingParts.count < Self.waitingPartsLimit else { return context.close(promise: nil) }
            waitingParts.append(part)
            return
        }
        read(part, context: context)
    }

    /// Hummingbird closes a connection it sees idle when the client's input ends or the server shuts down gracefully,
    /// and a delivery waiting for the inbox is invisible to it: such an event waits until the delivery is answered, so
    /// a client that half-closes after its request, or sends it as the server stops, gets its reply.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .storing = state, (event as? ChannelEvent) == .inputClosed || event is ChannelShouldQuiesceEvent {
            heldEvents.append(.user(event))
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Hummingbird answers an error with a 400 and closes; while a delivery waits for the inbox, that would be read
    /// as the delivery's reply, so the error waits for the delivery's answer.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case .storing = state {
            heldEvents.append(.error(error))
            return
        }
        context.fireErrorCaught(error)
    }

    /// Reading pauses while parts wait behind a delivery (what a pipelining client sends next waits in the socket, and
    /// its replies stay in order) and while the socket takes no more replies (a client that does not read them cannot
    /// make them pile up here).
    func read(context: ChannelHandlerContext) {
        guard mayRead(context) else {
            readPending = true
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeReading(context)
        context.fireChannelWritabilityChanged()
    }

    private func mayRead(_ context: ChannelHandlerContext) -> Bool {
        if case .storing = state, !waitingParts.isEmpty { return false }
        return context.channel.isWritable
    }

    private func resumeReading(_ context: ChannelHandlerContext) {
        guard readPending, mayRead(context) else { return }
        readPending = false
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { responsesOwed -= 1 }
        context.write(data, promise: promise)
    }

    private func read(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch (part, state) {
        case (.head(let head), _):
            if responsesOwed == 0, let source = Self.webhookSource(head), Self.mayAnswer(head, maxBodyBytes: maxBodyBytes) {
                current = (source, .now())
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
        case (.end, .holding(let head, let source, let body)):
            state = .idle
            do {
                store(try ingest.accept(WebhookDelivery(source: source, body: body) { head.headers.first(name: $0) }), context: context)
            } catch {
                answer(error, context: context)
            }
        case (.end, _):
            state = .idle
            context.fireChannelRead(wrapInboundOut(part))
        case (.body, _):
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    private func forward(_ head: HTTPServerRequestPart, context: ChannelHandlerContext) {
        // The route answers and counts what is passed on.
        current = nil
        state = .forwarding
        responsesOwed += 1
        context.fireChannelRead(wrapInboundOut(head))
    }

    /// Hands the event to the inbox; the answer, or the deadline, comes back on the event loop.
    private func store(_ event: NewEvent, context: ChannelHandlerContext) {
        attempts += 1
        let attempt = attempts
        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        let deadline = NIODeadline.now() + storeTimeout
        state = .storing(attempt: attempt, deadline: deadline)
        context.triggerUserOutboundEvent(RequestDeadlineHandler.AwaitingStore(), promise: nil)
        armStoreTimer(at: deadline, on: loop)
        ingest.store(event) { result in
            loop.execute { handler.value.finish(attempt, with: result) }
        }
    }

    private func armStoreTimer(at deadline: NIODeadline, on loop: any EventLoop) {
        storeTimer.fire(noLaterThan: deadline, on: loop) { self.storeTimerFired() }
    }

    /// Answers the waiting delivery `storeTimeout` if its deadline passed, or waits on for a later delivery's.
    private func storeTimerFired() {
        storeTimer.markFired()
        guard case .storing(let attempt, let deadline) = state, let context else { return }
        if deadline <= .now() {
            finish(attempt, with: .failure(.storeTimeout))
        } else {
            armStoreTimer(at: deadline, on: context.eventLoop)
        }
    }

    /// Answers the delivery that waited for the inbox, unless its deadline already did, then goes on with what arrived
    /// meanwhile.
    private func finish(_ attempt: Int, with result: Result<IngestReceipt, IngestError>) {
        guard case .storing(attempt, _) = state, let context else { return }
        state = .idle
        switch result {
        case .success(let receipt): write(receiptReply(receipt, allocator: context.channel.allocator), context: context)
        case .failure(let error): answer(error, context: context)
        }
        while let part = waitingParts.popFirst() {
            read(part, context: context)
            if case .storing = state { return }
        }
        // Whatever the parts left (nothing, or a request whose body is held or forwarded) reads on from here.
        let held = heldEvents
        heldEvents = []
        for event in held {
            switch event {
            case .error(let error): context.fireErrorCaught(error)
            case .user(let event): context.fireUserInboundEventTriggered(event)
            }
        }
        resumeReading(context)
    }

    private func answer(_ error: IngestError, context: ChannelHandlerContext) {
        let reply: EncodedReply
        if let cached = cachedReplies[error] {
            reply = cached
        } else {
            reply = encode(IngestReplies.reply(for: error), allocator: context.channel.allocator)
            if cachedReplies.count < Self.cachedRepliesLimit { cachedReplies[error] = reply }
        }
        write(reply, context: context)
    }

    private func write(_ reply: EncodedReply, context: ChannelHandlerContext) {
        if let (source, since) = current {
            let key = CounterKey(source: source, status: reply.status.code)
            let counter = counters[key] ?? metrics.counter(source: source, status: reply.status)
            if counters.count < Self.cachedRepliesLimit { counters[key] = counter }
            counter.increment()
            metrics.ackLatency.recordNanoseconds(Int64((NIODeadline.now() - since).nanoseconds))
            current = nil
        }
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

    /// 202 `accepted` or 200 `duplicate`, written straight into one buffer: the reply every stored delivery gets.
    private func receiptReply(_ receipt: IngestReceipt, allocator: ByteBufferAllocator) -> EncodedReply {
        let (status, head, word): (HTTPResponse.Status, ByteBuffer, StaticString) =
            receipt.outcome == .stored ? (.accepted, acceptedHead, "accepted") : (.ok, duplicateHead, "duplicate")
        let id = JSONValue.string(receipt.key.eventId).serialized
        let opening: StaticString = "{\"id\":"
        let middle: StaticString = ",\"status\":\""
        let closing: StaticString = "\"}"
        let length =
            opening.utf8CodeUnitCount + id.utf8.count + middle.utf8CodeUnitCount + word.utf8CodeUnitCount + closing.utf8CodeUnitCount
        var bytes = allocator.buffer(capacity: head.readableBytes + 24 + length)
        bytes.writeImmutableBuffer(head)
        bytes.writeString(String(length))
        bytes.writeStaticString("\r\n\r\n")
        bytes.writeStaticString(opening)
        bytes.writeString(id)
        bytes.writeStaticString(middle)
        bytes.writeStaticString(word)
        bytes.writeStaticString(closing)
        return EncodedReply(status: status, bytes: bytes)
    }

    /// A receipt's status line and headers up to the value of its `content-length`.
    private static func receiptHead(_ status: HTTPResponseStatus, serverName: String) -> ByteBuffer {
        ByteBuffer(
            string: "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\ncontent-type: application/json\r\nserver: \(serverName)\r\ncontent-length: ")
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
