import Foundation
import GatewayCore
import Testing

@Suite("Standard Webhooks signature verification")
struct SignatureVerifierTests {
    let secret = try! WebhookSecret(encoded: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    let verifier = SignatureVerifier(toleranceSeconds: 300)
    let body = Array(#"{"test": 2432232314}"#.utf8)
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    let timestamp: Int64 = 1_614_265_330
    var now: Date { Date(timeIntervalSince1970: TimeInterval(timestamp)) }

    func headers(signature: String?, id: String? = "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: String? = "1614265330") -> SignedHeaders {
        SignedHeaders(id: id, timestamp: timestamp, signature: signature)
    }

    @Test func specVectorSignsAndVerifies() throws {
        let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        #expect(WebhookSignature.sign(id: id, timestamp: timestamp, body: body, secret: secret) == expected)
        #expect(try verifier.verify(headers(signature: expected), body: body, secrets: [secret], now: now) == id)
    }

    @Test func tamperedBodyIsRejected() {
        let signature = WebhookSignature.sign(id: id, timestamp: timestamp, body: body, secret: secret)
        let tampered = Array(#"{"test": 2432232315}"#.utf8)
        #expect(throws: SignatureError(kind: .unauthenticated, reason: "no signature matches")) {
            try verifier.verify(headers(signature: signature), body: tampered, secrets: [secret], now: now)
        }
    }

    @Test func wrongSecretIsRejected() throws {
        let other = WebhookSecret(key: Array("another key".utf8))
        let signature = WebhookSignature.sign(id: id, timestamp: timestamp, body: body, secret: other)
        let error = #expect(throws: SignatureError.self) {
            try verifier.verify(headers(signature: signature), body: body, secrets: [secret], now: now)
        }
        #expect(error?.kind == .unauthenticated)
    }

    @Test func anyActiveSecretOfARotationVerifies() throws {
        let old = WebhookSecret(key: Array("old key".utf8))
        let signedWithNew = WebhookSignature.sign(id: id, timestamp: timestamp, body: body, secret: secret)
        let signedWithOld = WebhookSignature.sign(id: id, timestamp: timestamp, body: body, secret: old)
        #expect(try verifier.verify(headers(signature: signedWithNew), body: body, secrets: [old, secret], now: now) == id)
        #expect(try verifier.verify(headers(signature: signedWithOld), body: body, secrets: [old, secret], now: now) == id)
    }

    @Test func anyOfSeveralSignaturesMayMatchAndUnknownVersionsAreSkipped() throws {
        let valid = WebhookSignature.sign(id: id, timestamp: timestamp, body: body, secret: secret)
        let header = "v1a,\(valid.dropFirst(3)) v1,not-base64! v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \(valid)"
        #expect(try verifier.verify(headers(signature: header), body: body, secrets: [secret], now: now) == id)
        let onlyUnknownVersion = "v2,\(valid.dropFirst(3))"
        #expect(throws: SignatureError.self) {
            try verifier.verify(headers(signature: onlyUnknownVersion), body: body, secrets: [secret], now: now)
        }
    }

    @Test func aSignatureHoldingPartOfTheCodeOrMoreDoesNotMatch() throws {
        let code = try #require(
            Data(base64Encoded: String(WebhookSignature.sign(id: id, timestamp: timestamp, body: body, secret: secret).dropFirst(3))))
        for candidate in [code.prefix(16), code + Data([0]), Data()] {
            #expect(throws: SignatureError(kind: .unauthenticated, reason: "no signature matches")) {
                try verifier.verify(headers(signature: "v1,\(candidate.base64EncodedString())"), body: body, secrets: [secret], now: now)
            }
        }
    }

    @Test(arguments: [-301, 301])
    func timestampsOutsideTheToleranceAreRejected(offset: Int) {
        let stale = Date(timeIntervalSince1970: TimeInterval(timestamp + Int64(offset)))
        let signature = WebhookSignature.sign(id: id, timestamp: timestamp, body: body, secret: secret)
        let error = #expect(throws: SignatureError.self) {
            try verifier.verify(headers(signature: signature), body: body, secrets: [secret], now: stale)
        }
        #expect(error?.kind == .unauthenticated)
        #expect(error?.reason.contains("webhook-timestamp") == true)
    }

    @Test func timestampsAtTheToleranceEdgeAreAccepted() throws {
        let signature = WebhookSignature.sign(id: id, timestamp: timestamp, body: body, secret: secret)
        for offset in [-300, 300] {
            let edge = Date(timeIntervalSince1970: TimeInterval(timestamp + Int64(offset)))
            #expect(try verifier.verify(headers(signature: signature), body: body, secrets: [secret], now: edge) == id)
        }
    }

    @Test(arguments: ["v1", "nonsense", "", " "])
    func malformedSignatureHeadersAreBadRequests(header: String) {
        let error = #expect(throws: SignatureError.self) {
            try verifier.verify(headers(signature: header), body: body, secrets: [secret], now: now)
        }
        #expect(error?.kind == .malformed)
    }

    @Test func missingOrInvalidHeadersAreBadRequests() {
        let signature = WebhookSignature.sign(id: id, timestamp: timestamp, body: body, secret: secret)
        let cases: [(SignedHeaders, String)] = [
            (headers(signature: signature, id: nil), "missing webhook-id header"),
            (headers(signature: signature, timestamp: nil), "missing webhook-timestamp header"),
            (headers(signature: signature, timestamp: "yesterday"), "webhook-timestamp must be unix seconds"),
            (headers(signature: nil), "missing webhook-signature header"),
        ]
        for (input, reason) in cases {
            #expect(throws: SignatureError(kind: .malformed, reason: reason)) {
                try verifier.verify(input, body: body, secrets: [secret], now: now)
            }
        }
    }

    @Test func aSourceWithoutSecretsFailsClosed() {
        let signature = WebhookSignature.sign(id: id, timestamp: timestamp, body: body, secret: secret)
        let error = #expect(throws: SignatureError.self) {
            try verifier.verify(headers(signature: signature), body: body, secrets: [], now: now)
        }
        #expect(error?.kind == .unauthenticated)
    }

    @Test func secretsParseOnlyInTheirWrittenForm() throws {
        #expect(try WebhookSecret(encoded: secret.encoded) == secret)
        #expect(throws: WebhookSecretError.missingPrefix) { try WebhookSecret(encoded: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") }
        #expect(throws: WebhookSecretError.invalidBase64) { try WebhookSecret(encoded: "whsec_***") }
        #expect(throws: WebhookSecretError.emptyKey) { try WebhookSecret(encoded: "whsec_") }
        #expect(!secret.description.contains("MfKQ"))
    }
}
