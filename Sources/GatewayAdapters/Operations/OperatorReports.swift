public import Foundation
public import GatewayCore

/// What `gateway stats` and `GET /v1/stats` report: where events are, how long the oldest have waited, whether the
/// stream's consumers keep up, and what the relay keeps failing on.
public struct SystemStats: Sendable {
    /// The longest wait among the events of one non-terminal status.
    public struct OldestWait: Sendable, Equatable {
        public var status: EventStatus
        public var event: EventKey
        /// How long the event has been due (`received`, `retry_scheduled`, `parked`), queued (`queued`), or past its
        /// lease's expiry (`processing`; 0 while the lease runs).
        public var seconds: Double
    }

    /// A document one of the relay's steps keeps failing on (`relay_failures`).
    public struct RelayFailure: Sendable, Equatable {
        public var step: String
        public var event: EventKey?
        public var recordId: String
        public var failures: Int
        public var error: String
        public var retryAt: Date?
    }

    public var at: Date
    public var byStatus: [EventStatus: Int]
    /// Counts per source and status.
    public var bySource: [String: [EventStatus: Int]]
    /// One entry per non-terminal status that has events.
    public var oldest: [OldestWait]
    /// `retry_scheduled` and `parked` events whose `availableAt` has passed: due for the relay.
    public var dueForRetry: Int
    public var deadByClass: [String: Int]
    /// The stream, or why it could not be read (the store's figures stand without it).
    public var stream: Result<StreamHealth, StreamUnavailable>
    public var relayFailures: [RelayFailure]

    /// Why the stream could not be read.
    public struct StreamUnavailable: Error, Sendable, Equatable {
        public var message: String
    }

    /// The report as JSON, for `--json` and the admin API.
    public var json: JSONValue {
        var fields: [(key: String, value: JSONValue)] = [
            ("at", .string(OperatorJSON.timestamp(at))),
            ("byStatus", .object(EventStatus.allCases.map { ($0.rawValue, .integer(Int64(byStatus[$0] ?? 0))) })),
            (
                "bySource",
                .object(
                    bySource.keys.sorted().map { source in
                        (
                            source,
                            .object(
                                EventStatus.allCases.compactMap { status in bySource[source]?[status].map { (status.rawValue, .integer(Int64($0))) } }
                            )
                        )
                    })
            ),
            (
                "oldest",
                .array(
                    oldest.map {
                        .object([
                            ("status", .string($0.status.rawValue)), ("source", .string($0.event.source)), ("eventId", .string($0.event.eventId)),
                            ("seconds", .double(($0.seconds * 10).rounded() / 10)),
                        ])
                    })
            ),
            ("dueForRetry", .integer(Int64(dueForRetry))),
            ("deadByClass", .object(deadByClass.keys.sorted().map { ($0, .integer(Int64(deadByClass[$0] ?? 0))) })),
        ]
        switch stream {
        case .success(let health): fields.append(("stream", health.json))
        case .failure(let failure): fields.append(("stream", .object([("error", .string(failure.message))])))
        }
        fields.append(
            (
                "relayFailures",
                .array(
                    relayFailures.map { failure in
                        .object([
                            ("step", .string(failure.step)), ("source", failure.event.map { .string($0.source) } ?? .null),
                            ("eventId", failure.event.map { .string($0.eventId) } ?? .null), ("recordId", .string(failure.recordId)),
                            ("failures", .integer(Int64(failure.failures))), ("error", .string(failure.error)),
                            ("retryAt", failure.retryAt.map { .string(OperatorJSON.timestamp($0)) } ?? .null),
                        ])
                    })
            ))
        return .object(fields)
    }
}

extension StreamHealth {
    /// The stream as JSON.
    public var json: JSONValue {
        .object([
            ("name", .string(stream)), ("length", .integer(Int64(length))),
            (
                "groups",
                .array(
                    groups.map { group in
                        .object([
                            ("name", .string(group.name)), ("pending", .integer(Int64(group.pending))),
                            ("lag", group.lag.map { .integer(Int64($0)) } ?? .null),
                            (
                                "consumers",
                                .array(
                                    group.consumers.map {
                                        .object([
                                            ("name", .string($0.name)), ("pending", .integer(Int64($0.pending))),
                                            ("idleMs", .integer(Int64($0.idleMilliseconds))),
                                        ])
                                    })
                            ),
                        ])
                    })
            ),
        ])
    }
}

/// What `gateway check` and `GET /v1/check` report: each promise of the README checked against the store.
public struct InvariantReport: Sendable {
    /// One promise and the events that break it.
    public struct Finding: Sendable, Equatable {
        /// A stable name, e.g. `queued_past_recovery`.
        public var invariant: String
        /// The promise, in words.
        public var promise: String
        /// How many events break it.
        public var count: Int
        /// The first few of them.
        public var offenders: [EventKey]

        public var holds: Bool { count == 0 }
    }

    public var at: Date
    public var findings: [Finding]

    /// Whether every promise holds.
    public var holds: Bool { findings.allSatisfy(\.holds) }

    public var json: JSONValue {
        .object([
            ("at", .string(OperatorJSON.timestamp(at))), ("ok", .bool(holds)),
            (
                "invariants",
                .array(
                    findings.map { finding in
                        .object([
                            ("name", .string(finding.invariant)), ("promise", .string(finding.promise)), ("ok", .bool(finding.holds)),
                            ("count", .integer(Int64(finding.count))), ("offenders", .array(finding.offenders.map(OperatorJSON.key))),
                        ])
                    })
            ),
        ])
    }
}

/// Dead events grouped as operators triage them.
public struct DeadEventGroup: Sendable, Equatable {
    /// The failure class or the fingerprint shared by the group.
    public var name: String
    public var count: Int
    public var oldest: Date?
    public var newest: Date?
    /// One of them, to look at.
    public var example: EventKey

    /// Groups `events` by failure class or by error fingerprint, largest group first.
    public static func grouping(_ events: [DeadEvent], by grouping: DeadEventGrouping) -> [DeadEventGroup] {
        let groups = Dictionary(grouping: events) { event in
            switch grouping {
            case .failureClass: event.failureClass?.rawValue ?? "unknown"
            case .fingerprint: event.fingerprint
            }
        }
        return groups.map { name, members in
            let deaths = members.compactMap(\.deadAt)
            return DeadEventGroup(name: name, count: members.count, oldest: deaths.min(), newest: deaths.max(), example: members[0].key)
        }
        .sorted { ($0.count, $1.name) > ($1.count, $0.name) }
    }

    public var json: JSONValue {
        .object([
            ("name", .string(name)), ("count", .integer(Int64(count))), ("oldest", oldest.map { .string(OperatorJSON.timestamp($0)) } ?? .null),
            ("newest", newest.map { .string(OperatorJSON.timestamp($0)) } ?? .null), ("example", OperatorJSON.key(example)),
        ])
    }
}

/// How dead events are grouped.
public enum DeadEventGrouping: String, Sendable, CaseIterable {
    case failureClass = "class"
    case fingerprint
}

extension DeadEvent {
    /// The dead event as JSON, for `--json` and the admin API.
    public var json: JSONValue {
        .object([
            ("source", .string(key.source)), ("eventId", .string(key.eventId)), ("type", type.map(JSONValue.string) ?? .null),
            ("shipmentId", shipmentId.map(JSONValue.string) ?? .null), ("failureClass", failureClass.map { .string($0.rawValue) } ?? .null),
            ("lastError", lastError.map(JSONValue.string) ?? .null), ("fingerprint", .string(fingerprint)),
            ("attempts", .integer(Int64(attempts))), ("deadAt", deadAt.map { .string(OperatorJSON.timestamp($0)) } ?? .null),
            ("replayCount", .integer(Int64(replayCount))),
        ])
    }
}

extension ReplayDeadEvents.Report {
    /// The report as JSON, for `--json` and the admin API.
    public var json: JSONValue {
        .object([
            ("dryRun", .bool(dryRun)), ("replayed", .array(replayed.map { OperatorJSON.key($0.key) })),
            (
                "skipped",
                .array(
                    skipped.map {
                        .object([("source", .string($0.key.source)), ("eventId", .string($0.key.eventId)), ("reason", .string($0.reason))])
                    })
            ),
        ])
    }
}

/// The JSON conventions of operator output: times in ISO 8601 UTC with milliseconds, keys as `{source, eventId}`.
public enum OperatorJSON {
    public static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    public static func key(_ key: EventKey) -> JSONValue {
        .object([("source", .string(key.source)), ("eventId", .string(key.eventId))])
    }
}
