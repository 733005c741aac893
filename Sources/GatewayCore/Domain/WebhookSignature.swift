import Crypto
public import Foundation

/// The Standard Webhooks signature scheme: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
///
/// Signing (used by the load generator, the `sign` command and tests) and verifying share this one
/// definition of the signed content, so the two can never drift apart.
public enum WebhookSignature {
    /// The only signature version this gateway produces and checks; other versions are skipped.
    public static let version = "v1"

    /// Signs a delivery and returns the header entry `v1,<base64>`.
    public static func sign(id: String, timestamp: Int64, body: some DataProtocol, secret: WebhookSecret) -> String {
        let code = authenticationCode(id: id, timestamp: String(timestamp), body: body, secret: secret)
        return "\(version),\(Data(code).base64EncodedString())"
    }

    /// Whether `candidate` holds exactly the bytes of `code`, compared in constant time: every byte is looked
    /// at whatever the first difference, so the time taken tells a forger nothing.
    static func isSame(_ code: HashedAuthenticationCode<SHA256>, _ candidate: Data) -> Bool {
        code.withUnsafeBytes { expected in
            candidate.withUnsafeBytes { given in
                guard expected.count == given.count else { return false }
                var difference: UInt8 = 0
                for index in 0..<expected.count { difference |= expected[index] ^ given[index] }
                return difference == 0
            }
        }
    }

    /// The HMAC of a delivery under `secret`.
    static func authenticationCode(
        id: String, timestamp: String, body: some DataProtocol, secret: WebhookSecret
    ) -> HashedAuthenticationCode<SHA256> {
        // One contiguous message, one update: each call into swift-crypto's generic `update` costs more than
        // copying a body of a few hundred bytes.
        var message: [UInt8] = []
        message.reserveCapacity(id.utf8.count + timestamp.utf8.count + 2 + body.count)
        message.append(contentsOf: id.utf8)
        message.append(UInt8(ascii: "."))
        message.append(contentsOf: timestamp.utf8)
        message.append(UInt8(ascii: "."))
        message.append(contentsOf: body)
        var hmac = secret.keyedAuthenticator
        hmac.update(data: message)
        return hmac.finalize()
    }
}
