import HTTPTypes
import Metrics
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import Synchronization

/// What one api process allows its HTTP connections: how many may be open, how long a request's head and body may
/// take to arrive, and how long a connection may stay idle between requests. A producer that sends slowly, never
/// finishes, or holds a connection open for nothing then costs a connection for seconds, not for ever.
public struct ConnectionLimits: Sendable {
    /// Connections open at once; one more is closed as soon as it is accepted.
    public var maxConnections: Int
    /// From a request's first byte to the end of its head (request line and headers).
    public var headTimeout: Duration
    /// From the end of a request's head to the end of its body.
    public var bodyTimeout: Duration
    /// From the last reply to the next request's first byte, on a keep-alive connection.
    public var idleTimeout: Duration

    /// Creates the limits.
    public init(maxConnections: Int, headTimeout: Duration, bodyTimeout: Duration, idleTimeout: Duration) {
        self.maxConnections = maxConnections
        self.headTimeout = headTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
    }
}

/// Installs the api's own HTTP/1 handlers on each connection: ``ConnectionGate`` in front of everything, then, in
/// front of Hummingbird's codec from SwiftNIO's HTTP/1 parts to HTTPTypes, ``RequestDeadlineHandler`` and
/// ``IngestHandler``. Hummingbird adds its additional channel handlers after that codec and offers no
/// other place, so this one moves them where they belong as it is added, then removes itself.
final class HTTP1GuardsInstaller: ChannelInboundHandler, RemovableChannelHandler {
    /// It leaves the pipeline before any request arrives.
    typealias InboundIn = Never

    private let limits: ConnectionLimits
    private let openConnections: OpenConnections
    private let makeIngestHandler: () -> IngestHandler

    init(limits: ConnectionLimits, openConnections: OpenConnections, makeIngestHandler: @escaping () -> IngestHandler) {
        self.limits = limits
        self.openConnections = openConnections
        self.makeIngestHandler = makeIngestHandler
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        do {
            let deadlines = RequestDeadlineHandler(limits: limits)
            let codec = try pipeline.handler(type: HTTP1ToHTTPServerCodec.self)
            try pipeline.addHandler(
                ConnectionGate(openConnections: openConnections, limit: limits.maxConnections, deadlines: deadlines), position: .first)
            try pipeline.addHandler(deadlines, position: .before(codec))
            try pipeline.addHandler(makeIngestHandler(), position: .before(codec))
        } catch {
            // A connection served without its guards would be correct but unprotected; refuse it loudly.
            context.fireErrorCaught(error)
        }
        pipeline.removeHandler(context: context, promise: nil)
    }
}

/// The number of connections an api process has open, shared by every connection's ``ConnectionGate``.
final class OpenConnections: Sendable {
    private let count = Atomic<Int>(0)

    /// Counts a new connection; false, and not counted, when `limit` are open already.
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

/// First in a connection's pipeline: closes a connection beyond the limit, and tells ``RequestDeadlineHandler``
/// when bytes arrive, so that a request's head is timed from its first byte rather than from when it is complete.
final class ConnectionGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let openConnections: OpenConnections
    private let limit: Int
    private let deadlines: RequestDeadlineHandler
    private var counted = false

    init(openConnections: OpenConnections, limit: Int, deadlines: RequestDeadlineHandler) {
        self.openConnections = openConnections
        self.limit = limit
        self.deadlines = deadlines
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted { openConnections.leave() }
        counted = false
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deadlines.bytesArrived()
        context.fireChannelRead(data)
    }

    private func admit(context: ChannelHandlerContext) {
        guard !counted else { return }
        guard openConnections.enter(limit: limit) else {
            context.close(promise: nil)
            return
        }
        counted = true
    }
}

/// Times each request on a connection: its head must arrive within ``ConnectionLimits/headTimeout`` of its first
/// byte, its body within ``ConnectionLimits/bodyTimeout`` of its head; a request that misses its deadline is answered
/// 408 and the connection closed (only closed when an earlier request's response is still owed, so that replies keep
/// HTTP/1.1's order). A connection that waits for nothing, no request being read and no reply owed, is closed after
/// ``ConnectionLimits/idleTimeout``.
///
/// While a delivery ahead waits for the store (``IngestHandler`` says so with ``AwaitingStore``), the gateway, not
/// the client, keeps a pipelined request waiting: that request is not timed, and its deadline starts afresh when the
/// delivery is answered, so a slow store never turns into a 408. The wait is the store's, bounded by its timeout; a
/// reply that waits for the client to read is not such a wait.
///
/// A client that takes none of its replies (the socket accepts no more of them) for ``ConnectionLimits/idleTimeout``
/// is closed, whatever it is in the middle of: a reply owed exempts the connection from the idle timeout only while
/// the client reads it.
///
/// A deadline is a time stored per request, watched by the connection's one ``ConnectionTimer``: on firing, the
/// handler looks at the deadline of whatever is then being waited for.
///
/// It reads SwiftNIO's HTTP/1 parts in front of ``IngestHandler``, which may hold a delivery until it is stored; that
/// handler's own answers are reported to it as ``RequestAnswered`` events.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// An outbound event: ``IngestHandler`` answered a request without writing through this handler.
    struct RequestAnswered {}

    /// An outbound event: ``IngestHandler`` holds a delivery until the store answers; its ``RequestAnswered`` ends
    /// the wait.
    struct AwaitingStore {}

    private enum Phase: Equatable {
        /// Between requests: idle once no reply is owed.
        case idle
        /// Bytes of a request arrived, its head is not complete.
        case readingHead
        /// The head arrived, the body is not complete.
        case readingBody
        /// A deadline passed; the connection is closing.
        case closing
    }

    private let limits: ConnectionLimits
    private var phase = Phase.idle
    /// When what is waited for is due: the part being read, or the next request of an idle connection.
    private var deadline = NIODeadline.distantFuture
    private var timer = ConnectionTimer()
    private var context: ChannelHandlerContext?
    /// Requests whose head arrived and whose response has not been written.
    private var responsesOwed = 0
    /// Whether a delivery ahead of the request being read waits for the store.
    private var storeWaitAhead = false
    /// Since the socket accepts no more replies, when the client is closed unless it reads some first.
    private var repliesStuckUntil: NIODeadline?

    init(limits: ConnectionLimits) {
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        wait(within: limits.idleTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer.cancel()
        self.context = nil
    }

    /// Called by ``ConnectionGate`` for every read: the first bytes of a request start its head's deadline.
    func bytesArrived() {
        guard phase == .idle else { return }
        phase = .readingHead
        wait(within: limits.headTimeout)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard phase != .closing else { return }
        switch unwrapInboundIn(data) {
        case .head:
            responsesOwed += 1
            phase = .readingBody
            wait(within: limits.bodyTimeout)
        case .body:
            break
        case .end:
            phase = .idle
        }
        context.fireChannelRead(data)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            repliesStuckUntil = nil
        } else if repliesStuckUntil == nil {
            let stuckUntil = NIODeadline.now() + TimeAmount(limits.idleTimeout)
            repliesStuckUntil = stuckUntil
            armTimer(at: stuckUntil)
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        phase = .closing
        timer.cancel()
        context.fireChannelInactive()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { responseWritten() }
        context.write(data, promise: promise)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        switch event {
        case is RequestAnswered: responseWritten()
        case is AwaitingStore: storeWaitAhead = true
        default: return context.triggerUserOutboundEvent(event, promise: promise)
        }
        promise?.succeed()
    }

    /// The last reply owed restarts the idle deadline; the answer to a delivery that waited for the store restarts
    /// the deadline of the request read meanwhile.
    private func responseWritten() {
        responsesOwed -= 1
        let waitedForStore = storeWaitAhead
        storeWaitAhead = false
        switch phase {
        case .idle where responsesOwed == 0: wait(within: limits.idleTimeout)
        case .readingHead where waitedForStore: wait(within: limits.headTimeout)
        case .readingBody where waitedForStore: wait(within: limits.bodyTimeout)
        default: break
        }
    }

    private func wait(within timeout: Duration) {
        deadline = .now() + TimeAmount(timeout)
        armTimer()
    }

    private func armTimer() {
        armTimer(at: deadline)
    }

    private func armTimer(at due: NIODeadline) {
        guard let context else { return }
        timer.fire(noLaterThan: due, on: context.eventLoop) { self.timerFired() }
    }

    private func timerFired() {
        timer.markFired()
        guard let context else { return }
        if let stuckUntil = repliesStuckUntil {
            // Nothing sent to this client gets through, a 408 included.
            guard stuckUntil > .now() else {
                phase = .closing
                return context.close(promise: nil)
            }
            armTimer(at: stuckUntil)
        }
        switch phase {
        case .closing:
            return
        case .idle where responsesOwed > 0:
            // A reply is owed: nothing is waited for from the client; the reply re-arms the idle deadline.
            return
        case .idle, .readingHead, .readingBody:
            // The gateway keeps this request waiting; the answer to the delivery ahead re-arms its deadline.
            guard !storeWaitAhead else { return }
            guard deadline <= .now() else { return armTimer() }
            if phase == .idle {
                phase = .closing
                context.close(promise: nil)
            } else {
                deadlinePassed(context: context)
            }
        }
    }

    private func deadlinePassed(context: ChannelHandlerContext) {
        let part = phase == .readingHead ? "head" : "body"
        // The request being timed owes its response once its head has arrived.
        let owedBefore = responsesOwed - (phase == .readingBody ? 1 : 0)
        phase = .closing
        guard owedBefore == 0 else {
            context.close(promise: nil)
            return
        }
        let reply = JSONReply.error(.requestTimeout, code: "request_timeout", message: "the request's \(part) did not arrive within its deadline")
        var head = HTTPResponseHead(version: .http1_1, status: .requestTimeout)
        for field in reply.headers { head.headers.add(name: field.name.canonicalName, value: field.value) }
        head.headers.add(name: "content-length", value: String(reply.body.readableBytes))
        head.headers.add(name: "connection", value: "close")
        IngestMetrics.timedOut.increment()
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(reply.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
