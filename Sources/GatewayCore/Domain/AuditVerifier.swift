public import Foundation

/// An event's sealed history as a verifier reads it back from the store.
public struct AuditedEvent: Sendable {
    /// The ingest record, rebuilt from the stored event (its payload digest from the stored payload).
    public var record: IngestRecord
    public var ingestSeal: AuditSeal?
    public var entries: [AuditedEntry]
    public var head: AuditChainHead?

    public init(record: IngestRecord, ingestSeal: AuditSeal?, entries: [AuditedEntry], head: AuditChainHead?) {
        self.record = record
        self.ingestSeal = ingestSeal
        self.entries = entries
        self.head = head
    }
}

/// One stored history entry and its seal.
public struct AuditedEntry: Sendable {
    /// The entry, or nil when the stored one cannot be read as an entry (a field missing, of another type, or unknown).
    public var entry: HistoryEntry?
    public var seal: AuditSeal?

    public init(entry: HistoryEntry?, seal: AuditSeal?) {
        self.entry = entry
        self.seal = seal
    }
}

/// What is wrong with one event's history: the first problem found, walking the chain from the ingest record.
public struct AuditFinding: Sendable, Equatable {
    /// The kinds of problem, as `gateway audit verify` names them.
    public enum Problem: String, Sendable, Codable {
        /// The event carries no seal at all: accepted while no audit key was configured, or every seal was removed.
        case unsealed
        /// The source, event id, payload or `receivedAt` differ from what was accepted, or the ingest seal is gone.
        case ingestRecordAltered = "ingest_record_altered"
        /// An entry does not follow the chain: it was altered, or entries before it were removed.
        case entryAltered = "entry_altered"
        /// An entry is intact but follows another link than the one before it: entries were removed or reordered.
        case entryMoved = "entry_removed_or_reordered"
        /// An entry carries no seal where the chain expects one.
        case entryUnsealed = "entry_unsealed"
        /// A seal names a key the verifier does not hold.
        case unknownKey = "unknown_key"
        /// The chain head does not seal the history's end: entries were cut off the end, or the head was altered.
        case truncated = "history_truncated"
    }

    public var key: EventKey
    public var problem: Problem
    /// The index in `history` of the first bad entry, when the problem is an entry.
    public var entry: Int?
    public var detail: String

    public init(key: EventKey, problem: Problem, entry: Int? = nil, detail: String) {
        self.key = key
        self.problem = problem
        self.entry = entry
        self.detail = detail
    }
}

/// Recomputes sealed histories (``AuditSealer``) with the keys of a ring, old ones included.
public struct AuditVerifier: Sendable {
    public let keys: AuditKeyRing

    public init(keys: AuditKeyRing) {
        self.keys = keys
    }

    /// The first problem of `event`'s chain, or nil when the whole chain verifies.
    public func verify(_ event: AuditedEvent) -> AuditFinding? {
        let key = event.record.key
        func finding(_ problem: AuditFinding.Problem, entry: Int? = nil, _ detail: String) -> AuditFinding {
            AuditFinding(key: key, problem: problem, entry: entry, detail: detail)
        }
        guard event.ingestSeal != nil || event.head != nil || event.entries.contains(where: { $0.seal != nil }) else {
            return finding(.unsealed, "the event carries no seal: it was accepted while no audit key was configured, or its seals were removed")
        }
        guard let ingestSeal = event.ingestSeal else { return finding(.ingestRecordAltered, "the ingest record's seal is missing") }
        guard let ingestKey = keys.key(id: ingestSeal.keyId) else {
            return finding(.unknownKey, "the ingest record is sealed with key \(ingestSeal.keyId), which is not configured")
        }
        let first = ingestKey.mac(AuditCanonical.bytes(of: event.record))
        guard Self.same(first, ingestSeal.mac) else {
            return finding(.ingestRecordAltered, "the source, event id, payload or receivedAt changed after the event was accepted")
        }
        let links = [ingestSeal.mac] + event.entries.map { $0.seal?.mac ?? "" }
        var previous = first
        for (index, stored) in event.entries.enumerated() {
            guard let seal = stored.seal else { return finding(.entryUnsealed, entry: index, "history entry \(index) carries no seal") }
            guard let entry = stored.entry else {
                return finding(
                    .entryAltered, entry: index, "history entry \(index) is not an entry the gateway writes (a field was changed, added or removed)")
            }
            guard let entryKey = keys.key(id: seal.keyId) else {
                return finding(.unknownKey, entry: index, "history entry \(index) is sealed with key \(seal.keyId), which is not configured")
            }
            let canonical = AuditCanonical.bytes(of: entry)
            guard Self.same(entryKey.mac(previous + canonical), seal.mac) else {
                let follows = links.indices.first { $0 != index && Self.same(entryKey.mac(Self.bytes(links[$0]) + canonical), seal.mac) }
                if let follows {
                    let link = follows == 0 ? "the ingest record" : "entry \(follows - 1)"
                    return finding(
                        .entryMoved, entry: index, "history entry \(index) is intact but follows \(link): entries were removed or reordered")
                }
                return finding(.entryAltered, entry: index, "history entry \(index) was altered, or an entry before it removed")
            }
            previous = Self.bytes(seal.mac)
        }
        guard let head = event.head else {
            return finding(.truncated, "the chain head is missing")
        }
        guard let headKey = keys.key(id: head.seal.keyId) else {
            return finding(.unknownKey, "the chain head is sealed with key \(head.seal.keyId), which is not configured")
        }
        guard Self.same(headKey.mac(AuditCanonical.headBytes(last: head.last, links: head.links)), head.seal.mac) else {
            return finding(.truncated, "the chain head was altered")
        }
        guard head.links == event.entries.count, Self.same(previous, head.last) else {
            return finding(
                .truncated, "the chain head seals \(head.links) entries and a different last link; the history holds \(event.entries.count)")
        }
        return nil
    }

    private static func bytes(_ base64: String) -> [UInt8] { [UInt8](Data(base64Encoded: base64) ?? Data()) }

    private static func same(_ mac: [UInt8], _ base64: String) -> Bool {
        let stored = bytes(base64)
        guard stored.count == mac.count else { return false }
        return zip(mac, stored).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
