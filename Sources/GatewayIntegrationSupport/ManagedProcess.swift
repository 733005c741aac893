public import Foundation
import Glibc

/// A server process a test starts and stops by PID.
public final class ManagedProcess: @unchecked Sendable {
    private let process: Process
    /// What the process is, for messages.
    public let name: String

    /// Starts `executable` with `arguments`, its output going to `logFile` (or discarded).
    public init(name: String, executable: String, arguments: [String], environment: [String: String]? = nil, logFile: URL? = nil) throws {
        self.name = name
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let logFile {
            _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
            let handle = try FileHandle(forWritingTo: logFile)
            process.standardOutput = handle
            process.standardError = handle
        } else {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
    }

    /// The process id.
    public var pid: Int32 { process.processIdentifier }

    /// Whether it is still running.
    public var isRunning: Bool { process.isRunning }

    /// Sends SIGTERM and waits for the process to exit; SIGKILL after `grace`.
    public func stop(grace: Duration = .seconds(10)) async {
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        if await waitForExit(within: grace) { return }
        kill(pid, SIGKILL)
        _ = await waitForExit(within: .seconds(5))
    }

    /// Sends SIGKILL (a crash) and waits for the process to be gone.
    public func crash() async {
        guard process.isRunning else { return }
        kill(pid, SIGKILL)
        _ = await waitForExit(within: .seconds(5))
    }

    private func waitForExit(within limit: Duration) async -> Bool {
        await Eventually.holds(within: limit) { !self.process.isRunning }
    }
}

/// Waiting for a condition with a deadline, instead of sleeping a guessed time.
public enum Eventually {
    /// Polls `condition` until it holds or `limit` passes; returns whether it held.
    public static func holds(
        within limit: Duration, every interval: Duration = .milliseconds(50), _ condition: () async throws -> Bool
    ) async rethrows -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: interval)
        }
        return try await condition()
    }
}

/// Free TCP ports on the loopback interface.
public enum FreePort {
    /// A port nothing listens on at the moment of the call.
    public static func next() -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length)
                return getsockname(descriptor, socketAddress, &length)
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts TCP connections on `port`.
    public static func isListening(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
