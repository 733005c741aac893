import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import GatewayAdapters

/// `RequestDeadlineHandler` on an embedded channel, where the socket's writability is the test's to set: a client
/// that takes none of its replies cannot be staged reliably over loopback, whose buffers grow to megabytes.
@Suite("Read deadlines on an embedded channel")
struct RequestDeadlineHandlerTests {
    /// A connection whose one request was read and whose reply is owed (which exempts it from the idle timeout), its
    /// socket then taking no more replies; `readsAgain` makes the socket take them again at once.
    private func connectionOwingAReply(readsAgain: Bool) async throws -> EmbeddedChannel {
        let limits = ConnectionLimits(maxConnections: 1, headTimeout: .seconds(60), bodyTimeout: .seconds(60), idleTimeout: .milliseconds(50))
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/healthz")))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        if readsAgain {
            channel.isWritable = true
            channel.pipeline.fireChannelWritabilityChanged()
        }
        // The handler reads the wall clock: the idle timeout passes in real time, then on the embedded loop.
        try await Task.sleep(for: .milliseconds(100))
        channel.embeddedEventLoop.advanceTime(to: .now())
        return channel
    }

    /// A client whose socket takes none of its replies for the idle timeout is closed, though a reply is owed: before,
    /// it held the connection for good.
    @Test func aClientThatTakesNoRepliesIsClosedAfterTheIdleTimeout() async throws {
        #expect(try await !connectionOwingAReply(readsAgain: false).isActive)
    }

    /// The same connection, its client reading again before the idle timeout, stays open while its reply is owed.
    @Test func aClientThatReadsAgainKeepsItsConnection() async throws {
        #expect(try await connectionOwingAReply(readsAgain: true).isActive)
    }
}
