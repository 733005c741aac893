import Crypto
public import Foundation

/// A key that seals event histories (HMAC-SHA256). Its ``id`` is a short digest of the key, stored beside every MAC
/// it made so that a verifier knows which key to use; the key itself is never stored with the events.
public struct AuditKey: Sendable {
    /// The first 6 bytes of the key's SHA-256, in hex.
    public let id: String
    let key: SymmetricKey

    /// Keys shorter than this are refused: the MAC would be weaker than its 256 bits.
    public static let minimumBytes = 32

    /// Reads a key from base64 (`GATEWAY_AUDIT_KEY`).
    /// - Throws: ``AuditKeyError`` when it is not base64 or shorter than ``minimumBytes``.
    public init(base64: String) throws(AuditKeyError) {
        guard let bytes = Data(base64Encoded: base64.trimmingCharacters(in: .whitespaces)) else {
            throw AuditKeyError(reason: "an audit key is not base64")
        }
        guard bytes.count >= Self.minimumBytes else {
            throw AuditKeyError(reason: "an audit key has \(bytes.count) bytes; at least \(Self.minimumBytes) are needed")
        }
        key = SymmetricKey(data: bytes)
        id = AuditCanonical.hex(Array(SHA256.hash(data: bytes).prefix(6)))
    }

    func mac(_ bytes: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: bytes, using: key))
    }
}

/// Why an audit key was refused.
public struct AuditKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

/// The keys a gateway seals and verifies with: one signs new entries, older ones (after a rotation) still verify the
/// entries they signed.
public struct AuditKeyRing: Sendable {
    /// The key new entries are sealed with.
    public let signing: AuditKey
    private let byId: [String: AuditKey]

    public init(signing: AuditKey, old: [AuditKey] = []) {
        self.signing = signing
        var byId: [String: AuditKey] = [:]
        for key in old + [signing] { byId[key.id] = key }
        self.byId = byId
    }

    /// The key with this id, if the ring holds it.
    public func key(id: String) -> AuditKey? { byId[id] }

    /// The ids of every key held, the signing key's first.
    public var ids: [String] { [signing.id] + byId.keys.filter { $0 != signing.id }.sorted() }
}

/// One MAC of the chain, with the id of the key that made it.
public struct AuditSeal: Sendable, Equatable {
    public var keyId: String
    /// The HMAC-SHA256, base64.
    public var mac: String

    public init(keyId: String, mac: String) {
        self.keyId = keyId
        self.mac = mac
    }
}

/// Where an event's chain ends, kept on the event and rewritten with every sealed entry: the last link's MAC, how
/// many history entries the chain holds, and a seal over both. Cutting entries off the end of a history cannot be
/// hidden by pointing the head at an earlier link: the head for that length was never stored, and making it needs
/// the key.
public struct AuditChainHead: Sendable, Equatable {
    /// The MAC of the last link (the ingest record's when no entry is sealed yet), base64.
    public var last: String
    /// The history entries the chain holds.
    public var links: Int
    /// HMAC over `last` and `links`.
    public var seal: AuditSeal

    public init(last: String, links: Int, seal: AuditSeal) {
        self.last = last
        self.links = links
        self.seal = seal
    }
}

/// An event's first link: what the gateway accepted, before any attempt.
public struct IngestRecord: Sendable, Equatable {
    public var key: EventKey
    /// SHA-256 of the payload as the inbox stores it.
    public var payloadDigest: [UInt8]
    public var receivedAt: Date

    public init(key: EventKey, payloadDigest: [UInt8], receivedAt: Date) {
        self.key = key
        self.payloadDigest = payloadDigest
        self.receivedAt = receivedAt
    }

    /// The digest of a payload's stored bytes.
    public static func digest(of payload: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: payload)) }
}

/// A chain's start: the ingest record's seal and the head that points at it.
public struct SealedIngest: Sendable, Equatable {
    public var seal: AuditSeal
    public var head: AuditChainHead
}

/// A history entry's seal and the chain's new head.
public struct SealedEntry: Sendable, Equatable {
    public var seal: AuditSeal
    public var head: AuditChainHead
}

/// Seals event histories into a hash chain: the ingest record is the first link, each history entry the next,
/// `mac = HMAC-SHA256(key, previous mac ‖ canonical bytes of the entry)`. Writers seal what they append under the
/// compare-and-set that guards the append, so the head they extend is the one stored.
public struct AuditSealer: Sendable {
    public let keys: AuditKeyRing

    public init(keys: AuditKeyRing) {
        self.keys = keys
    }

    /// Seals the ingest record, starting the chain.
    public func seal(_ record: IngestRecord) -> SealedIngest {
        let link = keys.signing.mac(AuditCanonical.bytes(of: record))
        let seal = AuditSeal(keyId: keys.signing.id, mac: Data(link).base64EncodedString())
        return SealedIngest(seal: seal, head: head(last: link, links: 0, with: keys.signing))
    }

    /// Seals `entry` after the chain ending at `head`.
    public func seal(_ entry: HistoryEntry, after head: AuditChainHead) -> SealedEntry {
        let previous = [UInt8](Data(base64Encoded: head.last) ?? Data())
        let link = keys.signing.mac(previous + AuditCanonical.bytes(of: entry))
        let seal = AuditSeal(keyId: keys.signing.id, mac: Data(link).base64EncodedString())
        return SealedEntry(seal: seal, head: self.head(last: link, links: head.links + 1, with: keys.signing))
    }

    func head(last: [UInt8], links: Int, with key: AuditKey) -> AuditChainHead {
        let lastText = Data(last).base64EncodedString()
        let mac = key.mac(AuditCanonical.headBytes(last: lastText, links: links))
        return AuditChainHead(last: lastText, links: links, seal: AuditSeal(keyId: key.id, mac: Data(mac).base64EncodedString()))
    }
}

/// The bytes a MAC covers: each field tagged present or absent and length-prefixed, so that no two different entries
/// share their bytes; instants in whole milliseconds, as the store keeps them.
enum AuditCanonical {
    static func bytes(of record: IngestRecord) -> [UInt8] {
        encode([
            "ingest", record.key.source, record.key.eventId, hex(record.payloadDigest), milliseconds(record.receivedAt),
        ])
    }

    static func bytes(of entry: HistoryEntry) -> [UInt8] {
        let record = entry.record
        return encode([
            "entry", String(record.attempt), milliseconds(record.startedAt), milliseconds(record.finishedAt), record.outcome.rawValue,
            record.error, record.routingLatencyMs.map(String.init), record.nextAttemptAt.map(milliseconds), entry.leaseToken, record.by,
            record.reason,
        ])
    }

    static func headBytes(last: String, links: Int) -> [UInt8] {
        encode(["head", last, String(links)])
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes { text += [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]] }
        return String(decoding: text, as: UTF8.self)
    }

    private static func milliseconds(_ date: Date) -> String {
        String(Int64((date.timeIntervalSince1970 * 1000).rounded()))
    }

    private static func encode(_ fields: [String?]) -> [UInt8] {
        var bytes: [UInt8] = []
        for field in fields {
            guard let field else {
                bytes.append(0)
                continue
            }
            let utf8 = Array(field.utf8)
            bytes.append(1)
            withUnsafeBytes(of: UInt32(utf8.count).bigEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: utf8)
        }
        return bytes
    }
}
