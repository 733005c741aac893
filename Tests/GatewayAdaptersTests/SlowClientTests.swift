import Foundation
import GatewayAdapters
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import HTTPTypes
import HummingbirdTesting
import Logging
import Testing

/// Producers that send slowly, never finish or hold connections open must cost the api a bounded time and a
/// bounded number of connections, over raw sockets as such a client would behave.
@Suite("Slow and never-ending requests")
struct SlowClientTests {
    private func configuration(maxConnections: Int = 100, idleTimeout: Duration = .seconds(30)) -> GatewayConfiguration {
        var configuration = TestServices.configuration()
        configuration.connectionLimits = ConnectionLimits(
            maxConnections: maxConnections, headTimeout: .seconds(1), bodyTimeout: .seconds(1), idleTimeout: idleTimeout)
        return configuration
    }

    private func withLiveAPI(_ configuration: GatewayConfiguration, _ body: @escaping @Sendable (Int, any TestClientProtocol) async throws -> Void)
        async throws
    {
        try await TestServices.withMigratedDatabase("slow") { resources in
            let app = GatewayRuntime.buildAPI(configuration: configuration, resources: resources, logger: Logger(label: "test"))
            try await app.test(.live) { client in try await body(try #require(client.port), client) }
        }
    }

    private static func expectTimedOut(_ reply: (text: String, closed: Bool), sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(PipelinedConnection.statusCodes(in: reply.text) == [408], "\(reply.text.debugDescription)", sourceLocation: sourceLocation)
        #expect(reply.text.contains(#""error":"request_timeout""#), sourceLocation: sourceLocation)
        #expect(reply.closed, "the connection stayed open", sourceLocation: sourceLocation)
    }

    @Test func aBodyThatNeverArrivesIsAnswered408AndClosedAfterTheBodyTimeout() async throws {
        try await withLiveAPI(configuration()) { port, _ in
            let connection = try RawConnection(port: port)
            let started = ContinuousClock.now
            try connection.send(
                "POST /webhooks/\(Fixtures.source) HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
            Self.expectTimedOut(await connection.receive(timeout: .seconds(10)))
            #expect(ContinuousClock.now - started < .seconds(4))
        }
    }

    @Test func aHeadThatTricklesInIsTimedFromItsFirstByte() async throws {
        try await withLiveAPI(configuration()) { port, _ in
            let connection = try RawConnection(port: port)
            let started = ContinuousClock.now
            var reply: (text: String, closed: Bool) = ("", false)
            // A byte every 200 ms keeps the connection busy, but the head is never complete.
            for byte in "POST /webhooks/\(Fixtures.source) HTTP/1.1\r\nHost: a\r\nX-Slow: ".map(String.init) {
                guard (try? connection.send(byte)) != nil else { break }
                reply = await connection.receive(timeout: .milliseconds(200))
                if reply.closed { break }
            }
            Self.expectTimedOut(reply)
            #expect(ContinuousClock.now - started < .seconds(4))
        }
    }

    /// The head and body deadlines above run while the idle timeout is far longer, as in production: a request's
    /// first byte must replace the idle connection's pending deadline with its head's.
    @Test func anIdleKeepAliveConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await withLiveAPI(configuration(idleTimeout: .seconds(4))) { port, _ in
            let connection = try RawConnection(port: port)
            try connection.send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            let answered = await connection.receive(timeout: .seconds(10)) { PipelinedConnection.statusCodes(in: $0).count == 1 }
            #expect(PipelinedConnection.statusCodes(in: answered.text) == [200])
            // Halfway through the idle period, with room to spare on a busy machine, a delivery answered on the
            // event loop (not by Hummingbird) must start the idle deadline again.
            try await Task.sleep(for: .seconds(2))
            try connection.send(PipelinedConnection.delivery(id: "evt-idle", body: Fixtures.body()))
            let accepted = await connection.receive(timeout: .seconds(10)) { PipelinedConnection.statusCodes(in: $0).count == 1 }
            #expect(PipelinedConnection.statusCodes(in: accepted.text) == [202])
            #expect(!accepted.closed)
            let started = ContinuousClock.now
            let idle = await connection.receive(timeout: .seconds(12))
            #expect(idle.closed && idle.text.isEmpty, "\(idle.text.debugDescription)")
            // Closed at the first idle deadline, it would be at most 2 s after the 202; at the restarted one, 4 s.
            let openAfterTheReply = ContinuousClock.now - started
            #expect(openAfterTheReply > .milliseconds(2_500) && openAfterTheReply < .seconds(9), "closed after \(openAfterTheReply)")
        }
    }

    @Test func connectionsBeyondTheLimitAreClosedAndTheOthersServed() async throws {
        try await withLiveAPI(configuration(maxConnections: 3, idleTimeout: .seconds(30))) { port, client in
            // The test client's own connection is the first of three.
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
            // Three more that send nothing: whichever the api admits last is closed at once (they are admitted on
            // two event loops, in no fixed order), the other two stay open.
            let connections = try (0..<3).map { _ in try RawConnection(port: port) }
            var closed: Set<Int> = []
            let deadline = ContinuousClock.now + .seconds(3)
            while closed.isEmpty, ContinuousClock.now < deadline {
                for (index, connection) in connections.enumerated() where await connection.receive(timeout: .milliseconds(50)).closed {
                    closed.insert(index)
                }
            }
            #expect(closed.count == 1, "closed: \(closed)")
            let open = try #require(connections.indices.first { !closed.contains($0) })
            try connections[open].send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            let served = await connections[open].receive(timeout: .seconds(10)) { PipelinedConnection.statusCodes(in: $0).count == 1 }
            #expect(PipelinedConnection.statusCodes(in: served.text) == [200])
        }
    }

    @Test func validDeliveriesAreAcceptedWhileSlowConnectionsHang() async throws {
        try await withLiveAPI(configuration()) { port, client in
            let slow = try (0..<50).map { index in
                let connection = try RawConnection(port: port)
                try connection.send("POST /webhooks/\(Fixtures.source) HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n{\"n\":\(index)")
                return connection
            }
            for index in 0..<20 {
                let response = try await client.deliver(id: "evt-beside-slow-\(index)", body: Fixtures.body())
                #expect(response.status == .accepted, "\(response.status): \(response.text)")
            }
            for connection in slow { Self.expectTimedOut(await connection.receive(timeout: .seconds(10))) }
        }
    }
}
