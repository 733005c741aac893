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
        var hmac = secret.keyedAuthenticator
        // One buffer for "{id}.{timestamp}.", then the body as it is: no array per part.
        var prefix = "\(id).\(timestamp)."
        prefix.withUTF8 { hmac.update(data: UnsafeRawBufferPointer($0)) }
        hmac.update(data: body)
        return hmac.finalize()
    }
}
