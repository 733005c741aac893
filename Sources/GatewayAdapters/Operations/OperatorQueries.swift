public import Foundation
public import GatewayCore

/// The questions operators ask of the store and the stream, answered the same way for the CLI (`gateway stats`,
/// `gateway check`, `gateway events list`, `gateway dlq …`) and the admin API (`/v1/…`).
public struct OperatorQueries: Sendable {
    private let pool: MongoConnectionPool
    private let stream: RedisEventStream
    private let configuration: GatewayConfiguration

    /// Creates the queries on the process's resources.
    public init(resources: GatewayResources, configuration: GatewayConfiguration) {
        self.pool = resources.mongo
        self.stream = GatewayRuntime.eventStream(configuration, resources)
        self.configuration = configuration
    }

    /// Statuses whose events are still moving.
    private static let moving: [EventStatus] = EventStatus.allCases.filter { !$0.isTerminal }

    // MARK: Stats

    /// Counts, the oldest waits, the stream's consumers and the relay's failing documents, at `now`. Counts by source
    /// read every event; without `bySource` (the metrics sampler) each figure comes from an index.
    public func stats(now: Date = Date(), bySource includeSources: Bool = true) async throws -> SystemStats {
        let (byStatus, bySource, oldest, dueForRetry, deadByClass, relayFailures) = try await pool.withDatabase("read stats") { database in
            let events = database.collection(Collections.events)
            var byStatus: [EventStatus: Int] = [:]
            for status in EventStatus.allCases {
                byStatus[status] = try events.count(["status": .string(status.rawValue)])
            }
            var bySource: [String: [EventStatus: Int]] = [:]
            if includeSources {
                for group in try events.aggregate([
                    .document([
                        "$group": .document([
                            "_id": .document(["source": .string("$source"), "status": .string("$status")]),
                            "count": .document(["$sum": .int32(1)]),
                        ])
                    ])
                ]) {
                    guard let source = group[path: "_id.source"]?.stringValue,
                        let status = group[path: "_id.status"]?.stringValue.flatMap(EventStatus.init(rawValue:))
                    else { continue }
                    bySource[source, default: [:]][status, default: 0] += group["count"]?.intValue ?? 0
                }
            }
            var oldest: [SystemStats.OldestWait] = []
            for status in Self.moving {
                // `{status, availableAt}` is the relay's index: the first document is the one waiting longest.
                guard
                    let first = try events.findOne(
                        ["status": .string(status.rawValue)],
                        options: [
                            "sort": .document(["availableAt": .int32(1)]),
                            "projection": .document(["source": .int32(1), "eventId": .int32(1), "availableAt": .int32(1)]),
                        ]), let key = EventDocuments.key(of: first), let since = first["availableAt"]?.dateValue
                else { continue }
                oldest.append(SystemStats.OldestWait(status: status, event: key, seconds: max(0, now.timeIntervalSince(since))))
            }
            let dueForRetry = try events.count([
                "status": .document(["$in": .array([.string(EventStatus.retryScheduled.rawValue), .string(EventStatus.parked.rawValue)])]),
                "availableAt": .document(["$lte": .date(now)]),
            ])
            var deadByClass: [String: Int] = [:]
            for group in try events.aggregate([
                .document(["$match": .document(["status": .string(EventStatus.dead.rawValue)])]),
                .document(["$group": .document(["_id": .string("$failureClass"), "count": .document(["$sum": .int32(1)])])]),
            ]) {
                deadByClass[group["_id"]?.stringValue ?? "unknown", default: 0] += group["count"]?.intValue ?? 0
            }
            let relayFailures = try database.collection(Collections.relayFailures).find(
                [:], options: ["sort": .document(["failures": .int32(-1)]), "limit": .int64(100)]
            ).map { record in
                SystemStats.RelayFailure(
                    step: record["step"]?.stringValue ?? "", event: EventDocuments.key(of: record), recordId: record["recordId"]?.stringValue ?? "",
                    failures: record["failures"]?.intValue ?? 0, error: record["error"]?.stringValue ?? "", retryAt: record["retryAt"]?.dateValue)
            }
            return (byStatus, bySource, oldest, dueForRetry, deadByClass, relayFailures)
        }
        let streamHealth: Result<StreamHealth, SystemStats.StreamUnavailable>
        do {
            streamHealth = .success(try await stream.health())
        } catch {
            streamHealth = .failure(SystemStats.StreamUnavailable(message: "\(error)"))
        }
        return SystemStats(
            at: now, byStatus: byStatus, bySource: bySource, oldest: oldest, dueForRetry: dueForRetry, deadByClass: deadByClass,
            stream: streamHealth, relayFailures: relayFailures)
    }

    // MARK: Check

    /// How many offenders each finding lists.
    public static let offendersListed = 20

    /// The README's promises about the store, checked at `now`. Each allows the relay one pass (its poll interval
    /// and a margin) to do its part, so that a running system is not reported for work it is about to do.
    public func check(now: Date = Date()) async throws -> InvariantReport {
        let pass = max(configuration.relayPollInterval, .seconds(5)) * 2
        let slack = TimeInterval(pass.components.seconds) + TimeInterval(pass.components.attoseconds) / 1e18
        let window = TimeInterval(configuration.relayRecoveryWindow.components.seconds)
        let promises: [(String, String, EventCondition?, BSONDocument?)] = [
            (
                "queued_past_recovery", "no queued event stays unclaimed past the recovery window (the relay publishes it again)",
                EventLifecycle.lost(queuedBefore: now.addingTimeInterval(-window - slack)), nil
            ),
            (
                "lease_expired_unswept", "no processing event keeps an expired lease beyond one sweep",
                EventLifecycle.leaseExpired(at: now.addingTimeInterval(-slack)), nil
            ),
            (
                "processed_without_result", "every processed event has its routing result", nil,
                ["status": .string(EventStatus.processed.rawValue), "result": .document(["$exists": .bool(false)])]
            ),
        ]
        let limit = Self.offendersListed
        var findings = try await pool.withDatabase("check invariants") { database in
            let events = database.collection(Collections.events)
            var findings: [InvariantReport.Finding] = []
            for (name, promise, condition, explicit) in promises {
                let filter = explicit ?? condition.map { EventDocuments.filter($0) } ?? [:]
                let count = try events.count(filter)
                let offenders =
                    count == 0
                    ? []
                    : try events.find(
                        filter, options: ["limit": .int64(Int64(limit)), "projection": .document(["source": .int32(1), "eventId": .int32(1)])]
                    )
                    .compactMap(EventDocuments.key(of:))
                findings.append(InvariantReport.Finding(invariant: name, promise: promise, count: count, offenders: offenders))
            }
            return findings
        }
        findings.insert(try await deadWithoutDeadLetter(diedBefore: now.addingTimeInterval(-slack)), at: 2)
        return InvariantReport(at: now, findings: findings)
    }

    /// Dead events (dead for longer than a relay pass) with no document in `dead_letters`: the collections are
    /// compared in Swift, since a join is not something every MongoDB-compatible store answers alike.
    private func deadWithoutDeadLetter(diedBefore cutOff: Date) async throws -> InvariantReport.Finding {
        let missing = try await pool.withDatabase("check dead letters") { database in
            let keysOnly: BSONDocument = ["projection": .document(["source": .int32(1), "eventId": .int32(1)])]
            let dead = try database.collection(Collections.events).find(
                ["status": .string(EventStatus.dead.rawValue), "deadAt": .document(["$lt": .date(cutOff)])], options: keysOnly
            ).compactMap(EventDocuments.key(of:))
            let lettered = Set(try database.collection(Collections.deadLetters).find([:], options: keysOnly).compactMap(EventDocuments.key(of:)))
            return dead.filter { !lettered.contains($0) }
        }
        return InvariantReport.Finding(
            invariant: "dead_without_dead_letter", promise: "every dead event has its dead_letters document", count: missing.count,
            offenders: Array(missing.prefix(Self.offendersListed)))
    }

    // MARK: Events

    /// Which events to list.
    public struct EventFilter: Sendable, Equatable {
        public var status: EventStatus?
        public var source: String?
        public var shipmentId: String?
        /// Received at or after.
        public var since: Date?
        /// Received before.
        public var until: Date?

        public init(status: EventStatus? = nil, source: String? = nil, shipmentId: String? = nil, since: Date? = nil, until: Date? = nil) {
            self.status = status
            self.source = source
            self.shipmentId = shipmentId
            self.since = since
            self.until = until
        }
    }

    /// A page of events, newest first.
    public struct EventPage: Sendable {
        /// The events' documents without payload and history.
        public var events: [BSONDocument]
        /// Where the next page starts, or nil on the last page.
        public var nextCursor: String?
    }

    /// Events matching `filter`, newest first, `limit` at a time; `cursor` is a page's ``EventPage/nextCursor``.
    /// - Throws: ``OperatorQueryError/invalidCursor`` for a cursor this did not hand out.
    public func events(_ filter: EventFilter, cursor: String? = nil, limit: Int) async throws -> EventPage {
        var query: BSONDocument = [:]
        if let status = filter.status { query.append("status", .string(status.rawValue)) }
        if let source = filter.source { query.append("source", .string(source)) }
        if let shipmentId = filter.shipmentId { query.append("shipmentId", .string(shipmentId)) }
        var received: BSONDocument = [:]
        if let since = filter.since { received.append("$gte", .date(since)) }
        if let until = filter.until { received.append("$lt", .date(until)) }
        if !received.fields.isEmpty { query.append("receivedAt", .document(received)) }
        if let cursor {
            guard cursor.count == 24, cursor.allSatisfy(\.isHexDigit) else { throw OperatorQueryError.invalidCursor(cursor) }
            query.append("_id", .document(["$lt": .objectId(cursor.lowercased())]))
        }
        let options: BSONDocument = [
            "sort": .document(["_id": .int32(-1)]), "limit": .int64(Int64(limit + 1)),
            "projection": .document(["payload": .int32(0), "history": .int32(0)]),
        ]
        let documents = try await pool.withDatabase("list events") { [query] database in
            try database.collection(Collections.events).find(query, options: options)
        }
        let page = Array(documents.prefix(limit))
        let next = documents.count > limit ? page.last.flatMap { if case .objectId(let id) = $0["_id"] { id } else { nil } } : nil
        return EventPage(events: page, nextCursor: next)
    }

    /// Every event of a shipment, in the order they happened (`occurredAt`, then `receivedAt`), with their history.
    public func shipmentEvents(_ shipmentId: String) async throws -> [BSONDocument] {
        try await pool.withDatabase("find shipment events") { database in
            try database.collection(Collections.events).find(
                ["shipmentId": .string(shipmentId)],
                options: ["sort": .document(["occurredAt": .int32(1), "receivedAt": .int32(1)]), "projection": .document(["payload": .int32(0)])])
        }
    }

    /// An event's whole document with its dead letter, if it has one.
    public func event(_ key: EventKey) async throws -> (event: BSONDocument, deadLetter: BSONDocument?)? {
        try await pool.withDatabase("find event") { database in
            guard let event = try database.collection(Collections.events).findOne(EventDocuments.filter(key)) else { return nil }
            let letter = try database.collection(Collections.deadLetters).findOne(EventDocuments.filter(key))
            return (event, letter)
        }
    }

    // MARK: Dead letters

    /// Dead events the filter admits, newest death first, at most `limit`.
    public func deadEvents(_ filter: DeadEventFilter, limit: Int) async throws -> [DeadEvent] {
        let store = MongoDeadEventStore(pool: pool)
        // The fingerprint is computed here, so a filter on it reads every dead event of the rest of the filter.
        let stored = try await store.deadEvents(
            source: filter.source, failureClass: filter.failureClass, since: filter.since, limit: filter.fingerprint == nil ? limit : .max)
        return Array(stored.filter(filter.admits).prefix(limit))
    }
}

/// Why an operator query was not run.
public enum OperatorQueryError: Error, Equatable, CustomStringConvertible {
    case invalidCursor(String)
    case invalidInstant(String)

    public var description: String {
        switch self {
        case .invalidCursor(let cursor): "'\(cursor)' is not a cursor this gateway handed out"
        case .invalidInstant(let text): "'\(text)' is not an instant: write 2026-12-04T10:00:00Z, 2026-12-04, or an age such as 15m, 2h or 7d"
        }
    }
}

/// Instants as operators write them, on the command line and in the admin API's query strings.
public enum OperatorInstant {
    /// An ISO 8601 instant (`2026-12-04T10:00:00Z`, fractions allowed), a date (`2026-12-04`, midnight UTC) or an age
    /// (`90s`, `15m`, `2h`, `7d`: that long before `now`).
    /// - Throws: ``OperatorQueryError/invalidInstant(_:)``.
    public static func parse(_ text: String, now: Date = Date()) throws(OperatorQueryError) -> Date {
        if let unit = text.last, let amount = Double(text.dropLast()), amount >= 0, amount.isFinite {
            let seconds: Double? =
                switch unit {
                case "s": 1
                case "m": 60
                case "h": 3_600
                case "d": 86_400
                default: nil
                }
            if let seconds { return now.addingTimeInterval(-amount * seconds) }
        }
        if let instant = try? Date(text, strategy: .iso8601) { return instant }
        if let instant = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return instant }
        if let day = try? Date(text + "T00:00:00Z", strategy: .iso8601) { return day }
        throw .invalidInstant(text)
    }
}
