import Crypto

/// The bearer tokens of the admin API, each under a name: the name is who an admin request acts as (the "by" of a
/// replay). Several may be valid at once, so a token is rotated by adding its successor before removing it.
public struct AdminTokens: Sendable {
    private let digests: [(name: String, digest: SHA256Digest)]

    /// Tokens by name.
    /// - Throws: ``AdminTokenError`` for a name or token that cannot serve (never quoting the token).
    public init(_ tokens: [(name: String, token: String)]) throws(AdminTokenError) {
        var names = Set<String>()
        var digests: [(name: String, digest: SHA256Digest)] = []
        for (name, token) in tokens {
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.@".contains($0)) }) else {
                throw .invalidName(name)
            }
            guard names.insert(name).inserted else { throw .duplicateName(name) }
            guard token.utf8.count >= Self.minimumTokenBytes else { throw .tokenTooShort(name: name) }
            digests.append((name, SHA256.hash(data: Array(token.utf8))))
        }
        self.digests = digests
    }

    /// Tokens shorter than this are refused: a guessable admin token is worse than none.
    public static let minimumTokenBytes = 16

    /// Whether any token is configured; with none, the admin API is off.
    public var isEmpty: Bool { digests.isEmpty }

    /// The names, for start-up logs.
    public var names: [String] { digests.map(\.name) }

    /// The name of the token `presented` is, or nil. Every configured token is compared, each in constant time (the
    /// digests of equal length are compared whole), so the answer's timing tells nothing about which was close.
    public func name(of presented: String) -> String? {
        let digest = SHA256.hash(data: Array(presented.utf8))
        var match: String?
        for entry in digests where entry.digest == digest && match == nil {
            match = entry.name
        }
        return match
    }
}

/// Why the admin tokens setting is unusable.
public enum AdminTokenError: Error, Equatable, CustomStringConvertible {
    case invalidName(String)
    case duplicateName(String)
    case tokenTooShort(name: String)

    public var description: String {
        switch self {
        case .invalidName(let name): "token name '\(name)' may only use letters, digits, '-', '_', '.' and '@'"
        case .duplicateName(let name): "token name '\(name)' is listed twice"
        case .tokenTooShort(let name): "the token of '\(name)' is shorter than \(AdminTokens.minimumTokenBytes) bytes"
        }
    }
}
