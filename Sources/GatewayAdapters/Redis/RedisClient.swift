import CHiredis
import Foundation
public import GatewayCore
import NIOPosix
import Synchronization

/// A Redis reply (RESP2), copied out of hiredis' memory.
public indirect enum RedisReply: Sendable, Equatable {
    case string([UInt8])
    case status(String)
    case error(String)
    case integer(Int)
    case array([RedisReply])
    case null

    /// The reply as text, for bulk strings and statuses.
    public var text: String? {
        switch self {
        case .string(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let status): status
        default: nil
        }
    }

    /// The value of an integer reply.
    public var integerValue: Int? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The elements of an array reply.
    public var elements: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }
}

/// Why a Redis command failed, naming the command.
public struct RedisError: Error, CustomStringConvertible {
    /// The class of failure.
    public enum Code: String, Sendable {
        /// No connection could be made, or it broke; the command may not have run.
        case unavailable
        /// The server answered with an error reply.
        case commandFailed
        /// `GATEWAY_REDIS_URL` is not a usable URL.
        case invalidURL
    }

    /// The class of failure.
    public let code: Code
    /// The command, e.g. `XADD`.
    public let command: String
    /// The server's or the library's message.
    public let message: String

    public var description: String { "redis \(command) failed (\(code.rawValue)): \(message)" }
}

/// Where a Redis server is, parsed from `redis://host:port/db`.
public struct RedisEndpoint: Sendable, Equatable {
    /// The host name or address.
    public let host: String
    /// The TCP port.
    public let port: Int
    /// The logical database selected after connecting.
    public let database: Int

    /// Parses `redis://host[:port][/db]`.
    /// - Throws: ``RedisError`` with code `invalidURL`.
    public init(url: String) throws(RedisError) {
        guard let components = URLComponents(string: url), components.scheme == "redis", let host = components.host, !host.isEmpty
        else { throw RedisError(code: .invalidURL, command: "connect", message: "expected redis://host:port/db, got '\(url)'") }
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard let database = path.isEmpty ? 0 : Int(path) else {
            throw RedisError(code: .invalidURL, command: "connect", message: "the database in '\(url)' is not a number")
        }
        self.host = host
        self.port = components.port ?? 6379
        self.database = database
    }
}

/// A small pool of hiredis connections with its own threads, so blocking socket calls never run on an
/// event loop or the cooperative pool.
///
/// A `redisContext` is single-threaded: each command takes a connection for the duration of one
/// thread-pool job. A connection whose command failed at the socket level is closed and replaced on the
/// next command; idempotent commands are retried once on a fresh connection.
public final class RedisClient: @unchecked Sendable {
    private let endpoint: RedisEndpoint
    private let commandTimeout: Duration
    private let threads: NIOThreadPool
    private let idle = Mutex<[Connection]>([])

    /// Creates a client; connections open on first use.
    /// - Parameters:
    ///   - endpoint: the server.
    ///   - connections: the number of threads, and so of concurrent commands.
    ///   - commandTimeout: the socket timeout; for `XREADGROUP … BLOCK ms` it must exceed the block time.
    public init(endpoint: RedisEndpoint, connections: Int = 4, commandTimeout: Duration = .seconds(2)) {
        self.endpoint = endpoint
        self.commandTimeout = commandTimeout
        self.threads = NIOThreadPool(numberOfThreads: connections)
        threads.start()
    }

    /// Sends one command and returns its reply; an error reply is returned, not thrown.
    /// - Parameter idempotent: whether the command may be sent again after a broken connection.
    /// - Throws: ``RedisError`` with code `unavailable` when no connection could carry it.
    public func send(_ arguments: [String], idempotent: Bool = true) async throws -> RedisReply {
        let command = arguments.first ?? ""
        do {
            return try await threads.runIfActive { [self] in
                do {
                    return try withConnection { try $0.run(arguments) }
                } catch let error as RedisError where idempotent && error.code == .unavailable {
                    return try withConnection { try $0.run(arguments) }
                }
            }
        } catch let error as RedisError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            throw RedisError(code: .unavailable, command: command, message: "the client is shut down")
        }
    }

    /// Sends a command and throws when the server answers with an error reply.
    /// - Throws: ``RedisError``: `commandFailed` for an error reply, `unavailable` for a broken connection.
    @discardableResult
    public func call(_ arguments: [String], idempotent: Bool = true) async throws -> RedisReply {
        let reply = try await send(arguments, idempotent: idempotent)
        if case .error(let message) = reply {
            throw RedisError(code: .commandFailed, command: arguments.first ?? "", message: message)
        }
        return reply
    }

    /// Sends several commands in one round trip and returns their replies in order.
    ///
    /// Not retried on a broken connection: a pipeline may hold non-idempotent commands such as `XADD *`.
    /// - Throws: ``RedisError`` with code `unavailable` when the connection fails.
    public func pipeline(_ commands: [[String]]) async throws -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        do {
            return try await threads.runIfActive { [self] in
                try withConnection { try $0.runPipeline(commands) }
            }
        } catch let error as RedisError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            throw RedisError(code: .unavailable, command: "pipeline", message: "the client is shut down")
        }
    }

    /// Closes every connection after in-flight commands finish.
    public func shutdown() async {
        try? await threads.shutdownGracefully()
        idle.withLock { connections in connections.removeAll() }
    }

    /// Runs `body` on an idle connection (or a new one); a connection whose command failed is dropped, not reused.
    private func withConnection<T>(_ body: (Connection) throws -> T) throws -> T {
        let connection = try idle.withLock { $0.popLast() } ?? Connection(endpoint: endpoint, timeout: commandTimeout)
        let result = try body(connection)
        idle.withLock { $0.append(connection) }
        return result
    }
}

extension RedisClient: HealthProbe {
    /// `redis`.
    public var name: String { "redis" }

    /// Sends `PING`.
    public func ping() async throws {
        try await call(["PING"])
    }
}

/// One hiredis context, freed when dropped.
///
/// Unchecked `Sendable`: a connection is either idle in the client's locked list or owned by exactly one
/// thread-pool job, so no two threads ever touch the context at once.
private final class Connection: @unchecked Sendable {
    private let context: UnsafeMutablePointer<redisContext>

    init(endpoint: RedisEndpoint, timeout: Duration) throws(RedisError) {
        let seconds = timeout.components.seconds
        let microseconds = timeout.components.attoseconds / 1_000_000_000_000
        let interval = timeval(tv_sec: Int(seconds), tv_usec: Int(microseconds))
        guard let context = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), interval) else {
            throw RedisError(code: .unavailable, command: "connect", message: "cannot allocate a connection")
        }
        // hiredis returns a context even when the connection failed; the error is inside it.
        if context.pointee.err != 0 {
            let message = Self.errorText(context)
            redisFree(context)
            throw RedisError(code: .unavailable, command: "connect", message: "\(endpoint.host):\(endpoint.port): \(message)")
        }
        redisSetTimeout(context, interval)
        self.context = context
        if endpoint.database != 0 {
            let reply = try run(["SELECT", String(endpoint.database)])
            if case .error(let message) = reply { throw RedisError(code: .commandFailed, command: "SELECT", message: message) }
        }
    }

    deinit { redisFree(context) }

    func run(_ arguments: [String]) throws(RedisError) -> RedisReply {
        let raw = arguments.map { Array($0.utf8) }
        let reply: UnsafeMutableRawPointer? = Self.withArgv(raw) { argv, lengths in
            redisCommandArgv(context, Int32(raw.count), argv, lengths)
        }
        guard let reply else {
            throw RedisError(code: .unavailable, command: arguments.first ?? "", message: Self.errorText(context))
        }
        defer { freeReplyObject(reply) }
        return Self.copy(reply.assumingMemoryBound(to: redisReply.self))
    }

    func runPipeline(_ commands: [[String]]) throws(RedisError) -> [RedisReply] {
        for arguments in commands {
            let raw = arguments.map { Array($0.utf8) }
            let appended = Self.withArgv(raw) { argv, lengths in redisAppendCommandArgv(context, Int32(raw.count), argv, lengths) }
            guard appended == REDIS_OK else { throw RedisError(code: .unavailable, command: "pipeline", message: Self.errorText(context)) }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for arguments in commands {
            var reply: UnsafeMutableRawPointer?
            guard redisGetReply(context, &reply) == REDIS_OK, let reply else {
                throw RedisError(code: .unavailable, command: arguments.first ?? "", message: Self.errorText(context))
            }
            replies.append(Self.copy(reply.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(reply)
        }
        return replies
    }

    private static func withArgv<T>(
        _ arguments: [[UInt8]], _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> T
    ) -> T {
        let pointers = arguments.map { bytes -> UnsafeMutablePointer<CChar> in
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: max(bytes.count, 1))
            bytes.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) { chars in
                    if let base = chars.baseAddress { pointer.initialize(from: base, count: bytes.count) }
                }
            }
            return pointer
        }
        defer { for pointer in pointers { pointer.deallocate() } }
        var argv = pointers.map { UnsafePointer<CChar>?(UnsafePointer($0)) }
        let lengths = arguments.map(\.count)
        return argv.withUnsafeMutableBufferPointer { argvBuffer in
            lengths.withUnsafeBufferPointer { body(argvBuffer.baseAddress!, $0.baseAddress!) }
        }
    }

    private static func copy(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            return .string(Array(UnsafeRawBufferPointer(start: value.str, count: value.len)))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: UnsafeRawBufferPointer(start: value.str, count: value.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: UnsafeRawBufferPointer(start: value.str, count: value.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int(value.integer))
        case REDIS_REPLY_ARRAY:
            return .array((0..<value.elements).map { copy(value.element[$0]!) })
        default:
            return .null
        }
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
