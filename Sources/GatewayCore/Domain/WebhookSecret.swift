import Crypto
import Foundation

/// A Standard Webhooks signing secret, written `whsec_<base64 key>`; the HMAC key is the decoded bytes.
public struct WebhookSecret: Sendable, Equatable, CustomStringConvertible {
    /// The prefix every secret is written with.
    public static let prefix = "whsec_"

    /// The raw HMAC key.
    public let key: [UInt8]
    /// An HMAC already keyed with ``key``: every delivery copies it instead of padding and hashing the key
    /// again, which was a quarter of the cost of verifying a delivery.
    let keyedAuthenticator: HMAC<SHA256>

    /// Parses `whsec_<base64 key>`.
    /// - Throws: ``WebhookSecretError`` when the prefix is missing, the base64 is invalid or the key is empty.
    public init(encoded: String) throws(WebhookSecretError) {
        let trimmed = encoded.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix(Self.prefix) else { throw .missingPrefix }
        guard let bytes = Data(base64Encoded: String(trimmed.dropFirst(Self.prefix.count))) else {
            throw .invalidBase64
        }
        guard !bytes.isEmpty else { throw .emptyKey }
        self.init(key: Array(bytes))
    }

    /// Wraps a raw key.
    public init(key: [UInt8]) {
        self.key = key
        keyedAuthenticator = HMAC(key: SymmetricKey(data: key))
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.key == rhs.key }

    /// The secret in its written form.
    public var encoded: String { Self.prefix + Data(key).base64EncodedString() }

    /// Never prints the key, so a secret logged by mistake leaks nothing.
    public var description: String { "whsec_…(\(key.count) bytes)" }
}

/// Why a written secret could not be used.
public enum WebhookSecretError: Error, Equatable, CustomStringConvertible {
    case missingPrefix
    case invalidBase64
    case emptyKey

    public var description: String {
        switch self {
        case .missingPrefix: "a secret must be written whsec_<base64 key>"
        case .invalidBase64: "the part after whsec_ is not valid base64"
        case .emptyKey: "the secret's key is empty"
        }
    }
}
