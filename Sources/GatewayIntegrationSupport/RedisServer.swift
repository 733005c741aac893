import Foundation

/// A Redis server of a test's own, for tests that flush or restart the transport.
public final class RedisServer: Sendable {
    /// The port it listens on.
    public let port: Int
    private let process: ManagedProcess

    /// Starts `redis-server` on a free port without persistence and waits until it accepts connections.
    public convenience init() async throws {
        try await self.init(port: FreePort.next())
    }

    private init(port: Int) async throws {
        self.port = port
        process = try ManagedProcess(
            name: "redis-server", executable: "/usr/bin/redis-server",
            arguments: ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"])
        guard await Eventually.holds(within: .seconds(20), { FreePort.isListening(port) }) else {
            await process.crash()
            throw TestSupportError("redis-server did not listen on port \(port)")
        }
    }

    /// The server's URL.
    public var url: String { "redis://127.0.0.1:\(port)/0" }

    /// Stops the server.
    public func stop() async {
        await process.stop()
    }

    /// Kills the server (SIGKILL) and starts a new, empty one on the same port: Redis lost everything it held.
    public func restartedEmpty() async throws -> RedisServer {
        await process.crash()
        return try await RedisServer(port: port)
    }
}
