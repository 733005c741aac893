import Foundation
public import GatewayCore

/// The event stream on a Redis Stream with one consumer group shared by all workers.
///
/// Entries hold only the event key (`source`, `eventId`): the inbox document is the record, the entry a
/// notification. The stream is trimmed approximately to `maxLength`; anything trimmed before it was read
/// is still `queued` in the inbox and the relay publishes it again.
public struct RedisEventStream: EventStream {
    private let commands: RedisClient
    private let blockingReads: RedisClient
    /// The stream's key.
    public let name: String
    private let group: String
    private let maxLength: Int

    /// Creates the stream adapter.
    /// - Parameters:
    ///   - commands: the client for short commands.
    ///   - blockingReads: a client of its own for `XREADGROUP … BLOCK`, whose socket timeout exceeds the block time.
    public init(
        commands: RedisClient, blockingReads: RedisClient, stream: String = "gateway:events", group: String = "workers", maxLength: Int = 1_000_000
    ) {
        self.commands = commands
        self.blockingReads = blockingReads
        self.name = stream
        self.group = group
        self.maxLength = maxLength
    }

    /// The stream's length and, per consumer group, its lag and pending entries, per consumer too: what operators
    /// read to see whether workers keep up. A stream that does not exist has length 0 and no groups.
    public func health() async throws -> StreamHealth {
        let length = try await commands.call(["XLEN", name]).integerValue ?? 0
        let groupsReply = try await commands.send(["XINFO", "GROUPS", name])
        if case .error = groupsReply { return StreamHealth(stream: name, length: length, groups: []) }
        var groups: [StreamHealth.Group] = []
        for entry in groupsReply.elements ?? [] {
            let fields = Self.fields(entry)
            guard let groupName = fields["name"]?.text else { continue }
            var consumers: [StreamHealth.Consumer] = []
            for consumer in try await commands.call(["XINFO", "CONSUMERS", name, groupName]).elements ?? [] {
                let consumerFields = Self.fields(consumer)
                consumers.append(
                    StreamHealth.Consumer(
                        name: consumerFields["name"]?.text ?? "", pending: consumerFields["pending"]?.integerValue ?? 0,
                        idleMilliseconds: consumerFields["idle"]?.integerValue ?? 0))
            }
            groups.append(
                StreamHealth.Group(
                    name: groupName, pending: fields["pending"]?.integerValue ?? 0, lag: fields["lag"]?.integerValue, consumers: consumers))
        }
        return StreamHealth(stream: name, length: length, groups: groups)
    }

    /// A RESP2 map (a flat array of names and values) by name.
    private static func fields(_ reply: RedisReply) -> [String: RedisReply] {
        let elements = reply.elements ?? []
        var fields: [String: RedisReply] = [:]
        for index in stride(from: 0, to: elements.count - 1, by: 2) {
            if let name = elements[index].text { fields[name] = elements[index + 1] }
        }
        return fields
    }

    public func prepare() async throws {
        let reply = try await commands.send(["XGROUP", "CREATE", name, group, "0", "MKSTREAM"])
        if case .error(let message) = reply, !message.hasPrefix("BUSYGROUP") {
            throw RedisError(code: .commandFailed, command: "XGROUP CREATE", message: message)
        }
    }

    public func publish(_ keys: [EventKey]) async throws {
        let replies = try await commands.pipeline(
            keys.map { key in
                ["XADD", name, "MAXLEN", "~", String(maxLength), "*", "source", key.source, "eventId", key.eventId]
            })
        if let failure = replies.first(where: { if case .error = $0 { true } else { false } }), case .error(let message) = failure {
            throw RedisError(code: .commandFailed, command: "XADD", message: message)
        }
    }

    public func read(consumer: String, count: Int, block: Duration) async throws -> [StreamMessage] {
        let arguments = ["XREADGROUP", "GROUP", group, consumer, "COUNT", String(count), "BLOCK", String(block.milliseconds), "STREAMS", name, ">"]
        var reply = try await blockingReads.send(arguments, idempotent: false)
        if case .error(let message) = reply, message.hasPrefix("NOGROUP") {
            // The stream or its group vanished (Redis restarted empty or was flushed): recreate and read again.
            try await prepare()
            reply = try await blockingReads.send(arguments, idempotent: false)
        }
        if case .error(let message) = reply { throw RedisError(code: .commandFailed, command: "XREADGROUP", message: message) }
        return reply.elements?.first?.elements?.dropFirst().first.map(Self.messages) ?? []
    }

    public func reclaim(consumer: String, minIdle: Duration, count: Int) async throws -> [StreamMessage] {
        let reply = try await commands.send(["XAUTOCLAIM", name, group, consumer, String(minIdle.milliseconds), "0-0", "COUNT", String(count)])
        if case .error(let message) = reply {
            if message.hasPrefix("NOGROUP") { return [] }
            throw RedisError(code: .commandFailed, command: "XAUTOCLAIM", message: message)
        }
        // Redis 7 answers [next cursor, claimed entries, ids of entries deleted meanwhile].
        guard let parts = reply.elements, parts.count >= 2 else { return [] }
        if parts.count >= 3, let deleted = parts[2].elements?.compactMap(\.text), !deleted.isEmpty {
            try await acknowledge(deleted)
        }
        return Self.messages(parts[1])
    }

    public func acknowledge(_ ids: [String]) async throws {
        guard !ids.isEmpty else { return }
        try await commands.call(["XACK", name, group] + ids)
    }

    /// Uses a marker key: a Redis that lost its data no longer has it.
    public func contentsWereLost() async throws -> Bool {
        try await commands.call(["EXISTS", markerKey]) == .integer(0)
    }

    public func acknowledgeLostContents() async throws {
        try await commands.call(["SET", markerKey, UUID().uuidString])
    }

    private var markerKey: String { "\(name):epoch" }

    private static func messages(_ entries: RedisReply) -> [StreamMessage] {
        (entries.elements ?? []).compactMap { entry in
            guard let parts = entry.elements, parts.count == 2, let id = parts[0].text, let fields = parts[1].elements else { return nil }
            var values: [String: String] = [:]
            for pair in stride(from: 0, to: fields.count - 1, by: 2) {
                if let name = fields[pair].text, let value = fields[pair + 1].text { values[name] = value }
            }
            guard let source = values["source"], let eventId = values["eventId"] else { return nil }
            return StreamMessage(id: id, key: EventKey(source: source, eventId: eventId))
        }
    }
}

/// A Redis Stream as operators see it (`gateway stats`, `GET /v1/stats`).
public struct StreamHealth: Sendable, Equatable {
    /// One consumer group.
    public struct Group: Sendable, Equatable {
        public var name: String
        /// Entries delivered to a consumer and not acknowledged yet.
        public var pending: Int
        /// Entries not delivered to any consumer yet; nil when Redis cannot tell (after a trim or a deletion).
        public var lag: Int?
        public var consumers: [Consumer]
    }

    /// One consumer of a group.
    public struct Consumer: Sendable, Equatable {
        public var name: String
        public var pending: Int
        /// Since the consumer last read or claimed.
        public var idleMilliseconds: Int
    }

    public var stream: String
    public var length: Int
    public var groups: [Group]
}
