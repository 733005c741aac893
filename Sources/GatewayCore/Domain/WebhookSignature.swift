public import Foundation
import Crypto

/// The Standard Webhooks signature scheme: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
///
/// Signing (used by the load generator, the `sign` command and tests) and verifying share this one
/// definition of the signed content, so the two can never drift apart.
public enum WebhookSignature {
    /// The only signature version this gateway produces and checks; other versions are skipped.
    public static let version = "v1"

    /// Signs a delivery and returns the header entry `v1,<base64>`.
    public static func sign(id: String, timestamp: Int64, body: some DataProtocol, secret: WebhookSecret) -> String {
        let code = authenticationCode(id: id, timestamp: String(timestamp), body: body, key: secret.key)
        return "\(version),\(Data(code).base64EncodedString())"
    }

    /// Whether `candidate` (raw signature bytes) is the HMAC of the delivery under `key`, compared in constant time.
    static func matches(
        _ candidate: Data, id: String, timestamp: String, body: some DataProtocol, key: [UInt8]
    ) -> Bool {
        // `==` between an authentication code and bytes is swift-crypto's constant-time comparison.
        authenticationCode(id: id, timestamp: timestamp, body: body, key: key) == candidate
    }

    private static func authenticationCode(
        id: String, timestamp: String, body: some DataProtocol, key: [UInt8]
    ) -> HashedAuthenticationCode<SHA256> {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: key))
        feed(&hmac, id: id, timestamp: timestamp, body: body)
        return hmac.finalize()
    }

    private static func feed(_ hmac: inout HMAC<SHA256>, id: String, timestamp: String, body: some DataProtocol) {
        hmac.update(data: Array(id.utf8))
        hmac.update(data: [UInt8(ascii: ".")])
        hmac.update(data: Array(timestamp.utf8))
        hmac.update(data: [UInt8(ascii: ".")])
        hmac.update(data: body)
    }
}
