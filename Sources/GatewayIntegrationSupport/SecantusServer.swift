public import Foundation
import Glibc

/// A SecantusDB server of a test's own, for tests that stop and restart the store.
///
/// Found through `GATEWAY_SECANTUSD` (set by `make test`) or the repository's `.venv`.
public final class SecantusServer: Sendable {
    /// The port it listens on.
    public let port: Int
    /// Its data folder, kept across restarts.
    public let storagePath: URL
    private let process: ManagedProcess

    /// Starts a server on a free port with a new data folder and waits until it accepts connections.
    public convenience init() async throws {
        let storage = FileManager.default.temporaryDirectory.appendingPathComponent("secantus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: storage, withIntermediateDirectories: true)
        try await self.init(port: FreePort.next(), storagePath: storage)
    }

    private init(port: Int, storagePath: URL) async throws {
        self.port = port
        self.storagePath = storagePath
        process = try ManagedProcess(
            name: "secantusd", executable: Self.executable(),
            arguments: ["--port", String(port), "--storage-path", storagePath.path, "--log-level", "WARNING"],
            logFile: storagePath.appendingPathExtension("log"))
        guard await Eventually.holds(within: .seconds(60), { FreePort.isListening(port) }) else {
            await process.crash()
            throw TestSupportError("secantusd did not listen on port \(port) within 60 s")
        }
    }

    /// The connection string of a database on this server.
    public func url(database: String = "gateway") -> String {
        "mongodb://127.0.0.1:\(port)/\(database)?retryWrites=false&directConnection=true"
    }

    /// Kills the server (SIGKILL, as a crash would) and waits for it to be gone. SIGTERM is no use here:
    /// SecantusDB waits for open client connections before it exits.
    public func crash() async {
        await process.crash()
    }

    /// Stops the server without closing its connections (SIGSTOP), as a hung store or a network partition looks
    /// to its clients.
    public func freeze() {
        kill(process.pid, SIGSTOP)
    }

    /// Lets a frozen server run again (SIGCONT).
    public func thaw() {
        kill(process.pid, SIGCONT)
    }

    /// Starts a new server on the same port and data folder.
    public func restarted() async throws -> SecantusServer {
        try await SecantusServer(port: port, storagePath: storagePath)
    }

    /// Stops the server and deletes its data.
    public func destroy() async {
        await process.crash()
        try? FileManager.default.removeItem(at: storagePath)
    }

    private static func executable() throws -> String {
        if let configured = ProcessInfo.processInfo.environment["GATEWAY_SECANTUSD"] { return configured }
        let local = TestServices.repositoryRoot.appendingPathComponent(".venv/bin/secantusd-py").path
        guard FileManager.default.isExecutableFile(atPath: local) else {
            throw TestSupportError("secantusd-py not found: run `make test` (it installs SecantusDB into .venv) or set GATEWAY_SECANTUSD")
        }
        return local
    }
}

/// A test environment that cannot be set up.
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
