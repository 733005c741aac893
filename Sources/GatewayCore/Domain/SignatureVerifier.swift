import Crypto
public import Foundation

/// The Standard Webhooks headers of one delivery, as received (any may be missing).
public struct SignedHeaders: Sendable, Equatable {
    /// `webhook-id` (or `svix-id`): the provider's unique event id.
    public var id: String?
    /// `webhook-timestamp` (or `svix-timestamp`): unix seconds.
    public var timestamp: String?
    /// `webhook-signature` (or `svix-signature`): space-separated `version,base64` entries.
    public var signature: String?

    /// Creates the header set.
    public init(id: String?, timestamp: String?, signature: String?) {
        self.id = id
        self.timestamp = timestamp
        self.signature = signature
    }

    /// Reads the three headers, each under its own name or else its `svix-` alias, through `value`, which gives the
    /// first field of a (lowercase) name: the one reader of every HTTP layer the gateway has.
    public init(reading value: (String) -> String?) {
        self.init(
            id: value("webhook-id") ?? value("svix-id"), timestamp: value("webhook-timestamp") ?? value("svix-timestamp"),
            signature: value("webhook-signature") ?? value("svix-signature"))
    }
}

/// Why a delivery failed verification. Its ``kind`` decides the HTTP status at the edge.
public struct SignatureError: Error, Equatable, CustomStringConvertible {
    /// The class of failure.
    public enum Kind: Sendable, Equatable {
        /// A header is missing or unreadable: the request is malformed (400).
        case malformed
        /// The request is well formed but not authentic or not fresh (401).
        case unauthenticated
    }

    /// The class of failure.
    public let kind: Kind
    /// What was wrong, safe to return to the caller: it never contains a secret or the expected signature.
    public let reason: String

    /// Creates an error.
    public init(kind: Kind, reason: String) {
        self.kind = kind
        self.reason = reason
    }

    public var description: String { reason }

    static func malformed(_ reason: String) -> Self { .init(kind: .malformed, reason: reason) }
    static func unauthenticated(_ reason: String) -> Self { .init(kind: .unauthenticated, reason: reason) }
}

/// Verifies Standard Webhooks signatures over the raw body bytes.
///
/// Fails closed: a source without a usable secret verifies nothing. Any one of several active secrets
/// (rotation) and any one of several `v1` entries may match; entries of unknown versions are skipped.
public struct SignatureVerifier: Sendable {
    /// How far the delivery's timestamp may be from now, either way, in seconds.
    public let toleranceSeconds: Int64

    /// Creates a verifier with the given timestamp tolerance (Standard Webhooks recommends 300 s).
    public init(toleranceSeconds: Int64 = 300) {
        self.toleranceSeconds = toleranceSeconds
    }

    /// Checks one delivery and returns its event id.
    /// - Throws: ``SignatureError`` naming the first problem found.
    public func verify(
        _ headers: SignedHeaders, body: some DataProtocol, secrets: [WebhookSecret], now: Date
    ) throws(SignatureError) -> String {
        guard let id = headers.id.map(Self.trimmingSpaces), !id.isEmpty else {
            throw .malformed("missing webhook-id header")
        }
        guard id.utf8.count <= 256 else { throw .malformed("webhook-id is longer than 256 bytes") }
        guard let timestampText = headers.timestamp.map(Self.trimmingSpaces), !timestampText.isEmpty
        else { throw .malformed("missing webhook-timestamp header") }
        guard let timestamp = Int64(timestampText) else {
            throw .malformed("webhook-timestamp must be unix seconds")
        }
        guard let signatureHeader = headers.signature, !signatureHeader.isEmpty else {
            throw .malformed("missing webhook-signature header")
        }
        let entries = Self.signatureEntries(signatureHeader)
        guard !entries.isEmpty else {
            throw .malformed("webhook-signature must hold space-separated entries of the form v1,<base64>")
        }

        let nowSeconds = Int64(now.timeIntervalSince1970.rounded(.down))
        if timestamp < nowSeconds - toleranceSeconds { throw .unauthenticated("webhook-timestamp is too old") }
        if timestamp > nowSeconds + toleranceSeconds { throw .unauthenticated("webhook-timestamp is too far in the future") }
        guard !secrets.isEmpty else { throw .unauthenticated("no signing secret is configured for this source") }

        // One HMAC per secret, computed at the first decodable v1 entry, however many entries the header holds.
        var codes: [HashedAuthenticationCode<SHA256>] = []
        for entry in entries where entry.version == WebhookSignature.version {
            guard let candidate = Data(base64Encoded: String(entry.signature)) else { continue }
            if codes.isEmpty {
                codes = secrets.map { WebhookSignature.authenticationCode(id: id, timestamp: timestampText, body: body, secret: $0) }
            }
            if codes.contains(where: { WebhookSignature.isSame($0, candidate) }) { return id }
        }
        throw .unauthenticated("no signature matches")
    }

    /// Trims spaces and tabs at both ends; cheaper than Foundation's `trimmingCharacters`, which showed as 5 %
    /// of the gateway's CPU on rejected deliveries.
    private static func trimmingSpaces(_ text: String) -> String {
        let utf8 = text.utf8
        guard let first = utf8.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return "" }
        let last = utf8.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })!
        if first == utf8.startIndex && last == utf8.index(before: utf8.endIndex) { return text }
        return String(text[first...last])
    }

    /// The header's space-separated `version,signature` entries, as written; tokens without a version and a
    /// comma are skipped.
    private static func signatureEntries(_ header: String) -> [(version: Substring, signature: Substring)] {
        var entries: [(version: Substring, signature: Substring)] = []
        // Over UTF-8 bytes: splitting the String itself would walk grapheme clusters.
        for token in header.utf8.split(separator: UInt8(ascii: " ")) {
            guard let comma = token.firstIndex(of: UInt8(ascii: ",")), comma != token.startIndex else { continue }
            entries.append((Substring(token[..<comma]), Substring(token[token.index(after: comma)...])))
        }
        return entries
    }
}
