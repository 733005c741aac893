import Foundation
package import GatewayCore

/// The names of the gateway's collections, in one place for the stores and the migrations.
package enum Collections {
    package static let events = "events"
    static let deadLetters = "dead_letters"
    static let shipments = "shipments"
    static let schemaMigrations = "schema_migrations"
    static let relayFailures = "relay_failures"
    static let relayState = "relay_state"
}

/// How events live in the `events` collection: the inbox document, and the lifecycle's conditions and changes
/// (``EventLifecycle``) as MongoDB filters and updates. The field names are the audit contract (docs/data-model.md).
package enum EventDocuments {
    /// The filter of one event by its key (unique index `source_eventId_unique`).
    static func filter(_ key: EventKey) -> BSONDocument {
        ["source": .string(key.source), "eventId": .string(key.eventId)]
    }

    /// The bytes of a new event's inbox document, the payload embedded as its encoder wrote it.
    /// - Throws: ``StoreError`` `invalidDocument` for a payload encoded for another store.
    static func inboxBytes(_ event: NewEvent) throws(StoreError) -> [UInt8] {
        guard event.payload.encoding == BSONPayloadEncoder.encoding else {
            throw StoreError(.invalidDocument, operation: "insert events", message: "the payload is encoded as \(event.payload.encoding), not BSON")
        }
        var writer = BSONWriter(capacity: event.payload.bytes.count + 256)
        writer.open()
        writer.string("source", event.key.source)
        writer.string("eventId", event.key.eventId)
        if let type = event.type { writer.string("type", type) } else { writer.null("type") }
        if let shipmentId = event.shipmentId { writer.string("shipmentId", shipmentId) }
        if let occurredAt = event.occurredAt { writer.date("occurredAt", occurredAt) }
        writer.embedded("payload", event.payload.bytes)
        writer.string("status", EventStatus.received.rawValue)
        writer.int32("attempts", 0)
        writer.int32("version", 0)
        writer.date("receivedAt", event.receivedAt)
        writer.date("availableAt", event.receivedAt)
        writer.date("updatedAt", event.receivedAt)
        writer.emptyArray("history")
        if let sealed = event.ingestSeal {
            writer.document("ingestSeal")
            writer.string("keyId", sealed.seal.keyId)
            writer.string("mac", sealed.seal.mac)
            writer.close()
            writer.document("chainHead")
            writer.string("last", sealed.head.last)
            writer.int32("links", Int32(sealed.head.links))
            writer.string("keyId", sealed.head.seal.keyId)
            writer.string("mac", sealed.head.seal.mac)
            writer.close()
        }
        writer.close()
        return writer.bytes
    }

    /// A new event's inbox document, decoded: for tools and tests that read or alter it.
    package static func inbox(_ event: NewEvent) throws(StoreError) -> BSONDocument {
        try BSONBuffer(bytes: inboxBytes(event)).withPointer { BSONDocument(decoding: $0) }
    }

    /// A lifecycle condition as a filter, after `leading` fields (an `_id` first, so that SecantusDB starts from
    /// that index and checks the rest on the documents it fetched; see ``Fence``).
    static func filter(_ condition: EventCondition, after leading: [(String, BSON)] = []) -> BSONDocument {
        var fields = leading
        func add(_ key: String, _ value: BSON) {
            // Two operators on one field share its document: a filter must not repeat a key.
            if let index = fields.firstIndex(where: { $0.0 == key }), case .document(var existing) = fields[index].1,
                case .document(let more) = value
            {
                existing.fields += more.fields
                fields[index].1 = .document(existing)
            } else {
                fields.append((key, value))
            }
        }
        func visit(_ condition: EventCondition) {
            switch condition {
            case .status(let statuses):
                add("status", statuses.count == 1 ? .string(statuses[0].rawValue) : .document(["$in": .array(statuses.map { .string($0.rawValue) })]))
            case .availableBy(let instant): add("availableAt", .document(["$lte": .date(instant)]))
            case .availableBefore(let instant): add("availableAt", .document(["$lt": .date(instant)]))
            case .queuedBefore(let instant): add("queuedAt", .document(["$lt": .date(instant)]))
            case .leaseExpiredBy(let instant): add("lease.expiresAt", .document(["$lte": .date(instant)]))
            case .version(let version): add("version", Fence.condition(version))
            case .leaseToken(let token): add("lease.token", .string(token))
            case .all(let conditions): conditions.forEach(visit)
            case .any(let conditions): add("$or", .array(conditions.map { .document(filter($0)) }))
            }
        }
        visit(condition)
        return BSONDocument(fields)
    }

    /// A condition's alternatives: SecantusDB answers `$or` with a collection scan, so a store sends one write per
    /// branch of a condition that is a choice, each starting from `_id`.
    static func branches(of condition: EventCondition) -> [EventCondition] {
        if case .any(let alternatives) = condition { return alternatives }
        return [condition]
    }

    /// A lifecycle change as an update.
    static func update(_ change: EventChange) -> BSONDocument {
        var set: BSONDocument = ["status": .string(change.status.rawValue), "updatedAt": .date(change.updatedAt)]
        if let availableAt = change.availableAt { set.append("availableAt", .date(availableAt)) }
        if let queuedAt = change.queuedAt { set.append("queuedAt", .date(queuedAt)) }
        if let relayToken = change.relayToken { set.append("relayToken", .string(relayToken)) }
        if let lease = change.lease {
            set.append("lease", .document(["owner": .string(lease.owner), "expiresAt": .date(lease.expiresAt), "token": .string(lease.token)]))
        }
        if let claimedAt = change.claimedAt { set.append("claimedAt", .date(claimedAt)) }
        if let result = change.result { set.append("result", decision(result, decidedAt: change.updatedAt)) }
        if let processedAt = change.processedAt { set.append("processedAt", .date(processedAt)) }
        if let lastError = change.lastError { set.append("lastError", .string(lastError)) }
        if let failureClass = change.failureClass { set.append("failureClass", .string(failureClass.rawValue)) }
        if let deadAt = change.deadAt { set.append("deadAt", .date(deadAt)) }
        if let pending = change.deadLetterPending { set.append("deadLetterPending", .bool(pending)) }
        if let sealed = change.sealedEntry { set.append("chainHead", chainHead(sealed.head)) }

        var unset: BSONDocument = [:]
        if change.removesLease && change.lease == nil { unset.append("lease", .string("")) }
        if change.startsAfresh {
            set.append("attempts", .int32(0))
            set.append("claimsWithoutOutcome", .int32(0))
            for field in ["failureClass", "deadAt", "deadLetterPending"] { unset.append(field, .string("")) }
        }
        var update: BSONDocument = ["$set": .document(set)]
        if !unset.fields.isEmpty { update.append("$unset", .document(unset)) }
        if let entry = change.history { update.append("$push", .document(["history": history(entry, sealed: change.sealedEntry?.seal)])) }
        var increments: BSONDocument = ["version": .int32(1)]
        if change.replaysAdded != 0 { increments.append("replayCount", .int32(Int32(change.replaysAdded))) }
        if change.attemptsSpent != 0 { increments.append("attempts", .int32(Int32(change.attemptsSpent))) }
        if change.claimsAdded != 0 { increments.append("claims", .int32(Int32(change.claimsAdded))) }
        if change.claimsWithoutOutcomeAdded != 0 { increments.append("claimsWithoutOutcome", .int32(Int32(change.claimsWithoutOutcomeAdded))) }
        update.append("$inc", .document(increments))
        return update
    }

    /// A `history` entry, with its seal when the history is sealed.
    package static func history(_ entry: HistoryEntry, sealed seal: AuditSeal? = nil) -> BSON {
        let record = entry.record
        var document: BSONDocument = [
            "attempt": .int32(Int32(record.attempt)),
            "startedAt": .date(record.startedAt),
            "finishedAt": .date(record.finishedAt),
            "outcome": .string(record.outcome.rawValue),
            "error": record.error.map(BSON.string) ?? .null,
            "routingLatencyMs": record.routingLatencyMs.map { .int32(Int32($0)) } ?? .null,
            "nextAttemptAt": record.nextAttemptAt.map(BSON.date) ?? .null,
        ]
        if let leaseToken = entry.leaseToken { document.append("leaseToken", .string(leaseToken)) }
        if let by = record.by { document.append("by", .string(by)) }
        if let reason = record.reason { document.append("reason", .string(reason)) }
        if let seal {
            document.append("keyId", .string(seal.keyId))
            document.append("mac", .string(seal.mac))
        }
        return .document(document)
    }

    /// The names of the fields ``history(_:sealed:)`` writes: a stored entry with any other was not written by the
    /// gateway.
    static let historyFields: Set<String> = [
        "attempt", "startedAt", "finishedAt", "outcome", "error", "routingLatencyMs", "nextAttemptAt", "leaseToken", "by", "reason", "keyId",
        "mac",
    ]

    /// A stored `history` entry read back, strictly: nil when a field is missing, of another type or unknown, so that
    /// the verifier reports it as altered rather than reading something else into it.
    static func historyEntry(_ document: BSONDocument) -> (entry: HistoryEntry?, seal: AuditSeal?) {
        let seal = auditSeal(document)
        guard document.fields.allSatisfy({ historyFields.contains($0.key) }),
            let attempt = document["attempt"].flatMap(Self.exactInt), let startedAt = document["startedAt"]?.dateValue,
            let finishedAt = document["finishedAt"]?.dateValue,
            let outcome = document["outcome"]?.stringValue.flatMap(AttemptRecord.Outcome.init(rawValue:))
        else { return (nil, seal) }
        func optional<T>(_ key: String, _ read: (BSON) -> T?) -> T?? {
            guard let value = document[key], value != .null else { return .some(nil) }
            return read(value).map { .some($0) } ?? nil
        }
        guard let error = optional("error", \.stringValue), let latency = optional("routingLatencyMs", Self.exactInt),
            let next = optional("nextAttemptAt", \.dateValue), let leaseToken = optional("leaseToken", \.stringValue),
            let by = optional("by", \.stringValue), let reason = optional("reason", \.stringValue)
        else { return (nil, seal) }
        let record = AttemptRecord(
            attempt: attempt, startedAt: startedAt, finishedAt: finishedAt, outcome: outcome, error: error, routingLatencyMs: latency,
            nextAttemptAt: next, by: by, reason: reason)
        return (HistoryEntry(record: record, leaseToken: leaseToken), seal)
    }

    private static func exactInt(_ value: BSON) -> Int? {
        switch value {
        case .int32(let int): Int(int)
        case .int64(let int): Int(int)
        default: nil
        }
    }

    /// A `{keyId, mac}` pair, when the document holds one.
    static func auditSeal(_ document: BSONDocument) -> AuditSeal? {
        guard let keyId = document["keyId"]?.stringValue, let mac = document["mac"]?.stringValue else { return nil }
        return AuditSeal(keyId: keyId, mac: mac)
    }

    /// The event's audit chain head.
    package static func chainHead(_ head: AuditChainHead) -> BSON {
        .document([
            "last": .string(head.last), "links": .int32(Int32(head.links)), "keyId": .string(head.seal.keyId), "mac": .string(head.seal.mac),
        ])
    }

    /// The chain head an event document holds, if any.
    static func chainHead(of document: BSONDocument) -> AuditChainHead? {
        guard let head = document["chainHead"]?.documentValue, let last = head["last"]?.stringValue, let links = head["links"]?.intValue,
            let seal = auditSeal(head)
        else { return nil }
        return AuditChainHead(last: last, links: links, seal: seal)
    }

    /// An event document's sealed history as the verifier reads it: the ingest record rebuilt from the stored key,
    /// payload and `receivedAt`. A payload that is not a document, or holds a type the gateway never writes, digests
    /// as no bytes, so that the verifier reports that event's ingest record altered and goes on with the others.
    static func audited(_ document: BSONDocument) -> AuditedEvent? {
        guard let key = key(of: document) else { return nil }
        let payload = document["payload"]?.documentValue.flatMap { try? BSONBuffer($0).bytes } ?? []
        let record = IngestRecord(
            key: key, payloadDigest: IngestRecord.digest(of: payload), receivedAt: document["receivedAt"]?.dateValue ?? .distantPast)
        let entries = (document["history"]?.arrayValue ?? []).map { value -> AuditedEntry in
            guard let entry = value.documentValue else { return AuditedEntry(entry: nil, seal: nil) }
            let (read, seal) = historyEntry(entry)
            return AuditedEntry(entry: read, seal: seal)
        }
        return AuditedEvent(
            record: record, ingestSeal: document["ingestSeal"]?.documentValue.flatMap(auditSeal), entries: entries, head: chainHead(of: document))
    }

    /// A routing decision as the event's `result` and the shipment's `route` hold it.
    static func decision(_ decision: RoutingDecision, decidedAt: Date) -> BSON {
        .document(["hub": .string(decision.hub), "routeCode": .string(decision.routeCode), "eta": .date(decision.eta), "decidedAt": .date(decidedAt)])
    }

    /// The fields ``state(of:)`` reads, for a projection.
    static let stateFields: BSONDocument = [
        "source": .int32(1), "eventId": .int32(1), "status": .int32(1), "availableAt": .int32(1), "queuedAt": .int32(1),
        "version": .int32(1), "lease": .int32(1),
    ]

    /// What the lifecycle reads of a stored event, or nil for a document that is not one.
    static func state(of document: BSONDocument) -> EventState? {
        guard let status = document["status"]?.stringValue.flatMap(EventStatus.init(rawValue:)) else { return nil }
        var lease: LeaseGrant?
        if let owner = document[path: "lease.owner"]?.stringValue, let expiresAt = document[path: "lease.expiresAt"]?.dateValue {
            lease = LeaseGrant(owner: owner, expiresAt: expiresAt, token: document[path: "lease.token"]?.stringValue ?? "")
        }
        return EventState(
            status: status, availableAt: document["availableAt"]?.dateValue ?? .distantPast, queuedAt: document["queuedAt"]?.dateValue,
            version: document["version"]?.intValue ?? 0, lease: lease)
    }

    /// The event's key, when the document has one.
    static func key(of document: BSONDocument) -> EventKey? {
        guard let source = document["source"]?.stringValue, let eventId = document["eventId"]?.stringValue else { return nil }
        return EventKey(source: source, eventId: eventId)
    }

    /// The event as its claim left it.
    static func claimedEvent(_ document: BSONDocument, key: EventKey, lease: Lease) -> ClaimedEvent {
        ClaimedEvent(
            key: key, type: document["type"]?.stringValue, shipmentId: document["shipmentId"]?.stringValue,
            occurredAt: document["occurredAt"]?.dateValue, receivedAt: document["receivedAt"]?.dateValue ?? .distantPast,
            payload: document["payload"].map(JSONValue.init) ?? .object([]), attempts: document["attempts"]?.intValue ?? 0,
            claimsWithoutOutcome: max(0, (document["claimsWithoutOutcome"]?.intValue ?? 1) - 1), lease: lease,
            chainHead: chainHead(of: document))
    }
}
