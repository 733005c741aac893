import GatewayCore
import GatewayTestSupport
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import GatewayAdapters

/// `IngestHandler` on an embedded channel, where what one read of the socket carries is exactly what a test feeds:
/// the bounds that a live connection only reaches when the kernel hands over enough bytes at once.
@Suite("The ingest handler's own bounds")
struct IngestHandlerTests {
    /// An inbox that never answers: the delivery handed to it waits for the store until the test ends.
    private struct UnansweringInbox: InboxStore {
        var payloadEncoder: any PayloadEncoder { MongoInboxStore.payloads }
        func insert(_ event: NewEvent, completion: @escaping @Sendable (Result<InsertOutcome, any Error>) -> Void) {}
    }

    /// Counts the reads that reach the socket.
    private final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var reads = 0

        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    /// A channel with the ingest handler behind NIO's response encoder and `reads` before both.
    private func channel(counting reads: ReadCounter = ReadCounter(), storeTimeout: Duration = .seconds(60)) throws -> EmbeddedChannel {
        let ingest = IngestEvent(secrets: [Fixtures.source: [Fixtures.secret]], verifier: SignatureVerifier(), inbox: UnansweringInbox())
        let handler = IngestHandler(
            ingest: ingest, maxBodyBytes: 1 << 20, storeTimeout: storeTimeout, serverName: "test",
            metrics: IngestMetrics(sources: [Fixtures.source]))
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([reads, HTTPResponseEncoder(), handler])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        return channel
    }

    /// A channel whose ingest handler holds one signed delivery waiting for the store until `storeTimeout`.
    private func channelWithADeliveryWaiting(storeTimeout: Duration = .seconds(60)) throws -> EmbeddedChannel {
        let channel = try channel(storeTimeout: storeTimeout)
        let body = Fixtures.body()
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/webhooks/\(Fixtures.source)")
        for (name, value) in Fixtures.signedHeaders(id: "waiting", body: body) { head.headers.add(name: name, value: value) }
        head.headers.add(name: "content-length", value: String(body.utf8.count))
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: body)))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        return channel
    }

    /// Pipelined parts wait behind the delivery up to the limit; one more closes the connection, which keeps the
    /// memory one client can hold bounded however many tiny requests one read decodes.
    @Test func partsPipelinedPastTheLimitCloseTheConnection() throws {
        let channel = try channelWithADeliveryWaiting()
        let request = HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/healthz"))
        for _ in 0..<IngestHandler.waitingPartsLimit { try channel.writeInbound(request) }
        #expect(channel.isActive)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        try? channel.writeInbound(request)
        #expect(!channel.isActive)
    }

    /// A graceful shutdown's request to quiesce, on which Hummingbird closes a connection it sees idle, waits until the
    /// delivery waiting for the store is answered (here by the store's deadline), so the producer gets its reply.
    @Test func aShutdownWaitsForTheDeliveryWaitingForTheStore() async throws {
        let events = EventRecorder()
        let channel = try channelWithADeliveryWaiting(storeTimeout: .milliseconds(50))
        try channel.pipeline.syncOperations.addHandler(events)
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(events.count == 0)
        // The handler reads the wall clock: the store's deadline passes in real time, then on the embedded loop.
        try await Task.sleep(for: .milliseconds(100))
        channel.embeddedEventLoop.advanceTime(to: .now())
        let reply = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: reply).hasPrefix("HTTP/1.1 503"))
        #expect(events.count == 1)
    }

    /// Counts the user events that reach the end of the pipeline.
    private final class EventRecorder: ChannelInboundHandler {
        typealias InboundIn = Any
        var count = 0

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            count += 1
        }
    }

    /// A client that does not read its replies stops being read once the socket takes no more of them, and is read
    /// again when it does: replies cannot pile up in the gateway's memory.
    @Test func readingPausesWhileTheSocketTakesNoMoreReplies() throws {
        let reads = ReadCounter()
        let channel = try channel(counting: reads)
        channel.read()
        #expect(reads.reads == 1)
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.read()
        #expect(reads.reads == 1)
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(reads.reads == 2)
    }
}
