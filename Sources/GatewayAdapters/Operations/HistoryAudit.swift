public import Foundation
public import GatewayCore

/// Verifies the sealed histories of stored events (`gateway audit verify`): reads the events page by page, rebuilds
/// each one's chain (``EventDocuments/audited(_:)``) and recomputes it with ``AuditVerifier``.
public struct HistoryAudit: Sendable {
    private let pool: MongoConnectionPool
    private let verifier: AuditVerifier

    public init(resources: GatewayResources, keys: AuditKeyRing) {
        pool = resources.mongo
        verifier = AuditVerifier(keys: keys)
    }

    /// Verifies every event of `source` (all sources when nil) received at or after `since`: one query whose cursor
    /// is read and verified as it goes, so that memory stays flat however many events there are.
    public func verify(source: String? = nil, since: Date? = nil) async throws -> HistoryAuditReport {
        var filter: BSONDocument = [:]
        if let source { filter.append("source", .string(source)) }
        if let since { filter.append("receivedAt", .document(["$gte": .date(since)])) }
        return try await pool.withDatabase("find events") { [filter, verifier] database in
            var report = HistoryAuditReport(keyIds: verifier.keys.ids)
            try database.collection(Collections.events).forEach(filter, options: ["batchSize": .int32(1_000)]) { document in
                guard let event = EventDocuments.audited(document) else { return }
                report.add(event.record.key, verifier.verify(event))
            }
            return report
        }
    }
}

/// What `gateway audit verify` found.
public struct HistoryAuditReport: Sendable {
    /// The ids of the keys verified with, the signing key's first.
    public var keyIds: [String]
    /// Events read.
    public var checked = 0
    /// Events whose whole chain verified.
    public var verified = 0
    /// Events that carry no seal at all (accepted while no key was configured, or stripped of every seal).
    public var unsealed: [EventKey] = []
    /// Every other problem, one per event: the first found along its chain.
    public var findings: [AuditFinding] = []

    mutating func add(_ key: EventKey, _ finding: AuditFinding?) {
        checked += 1
        guard let finding else {
            verified += 1
            return
        }
        if finding.problem == .unsealed { unsealed.append(key) } else { findings.append(finding) }
    }

    /// The report as one JSON document; `unsealed` lists at most `unsealedListed` keys.
    public func json(unsealedListed: Int = 100) -> JSONValue {
        .object([
            ("keyIds", .array(keyIds.map(JSONValue.string))), ("checked", .integer(Int64(checked))), ("verified", .integer(Int64(verified))),
            ("unsealed", .integer(Int64(unsealed.count))), ("unsealedEvents", .array(unsealed.prefix(unsealedListed).map(OperatorJSON.key))),
            (
                "findings",
                .array(
                    findings.map { finding in
                        .object([
                            ("source", .string(finding.key.source)), ("eventId", .string(finding.key.eventId)),
                            ("problem", .string(finding.problem.rawValue)), ("entry", finding.entry.map { .integer(Int64($0)) } ?? .null),
                            ("detail", .string(finding.detail)),
                        ])
                    })
            ),
        ])
    }
}
