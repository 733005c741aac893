import Foundation
public import GatewayCore

/// Signed deliveries for tests.
public enum Fixtures {
    /// The test source.
    public static let source = "courier-test"
    /// Its secret.
    public static let secret = try! WebhookSecret(encoded: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")

    /// A shipment event body.
    public static func body(shipmentId: String = "SHP-000123", status: String = "in_transit") -> String {
        #"{"type":"shipment.status_updated","shipmentId":"\#(shipmentId)","status":"\#(status)","occurredAt":"2026-11-24T10:00:00Z","data":{"hub":"AMS-1","scans":[1,2.5,true,null]}}"#
    }

    /// The three Standard Webhooks headers of a delivery signed with `secret` now (or at `timestamp`).
    public static func signedHeaders(
        id: String, body: String, secret: WebhookSecret = Fixtures.secret, timestamp: Int64? = nil
    ) -> [(name: String, value: String)] {
        signedHeaders(id: id, bytes: Array(body.utf8), secret: secret, timestamp: timestamp)
    }

    /// The same for a body of any bytes, UTF-8 or not.
    public static func signedHeaders(
        id: String, bytes: [UInt8], secret: WebhookSecret = Fixtures.secret, timestamp: Int64? = nil
    ) -> [(name: String, value: String)] {
        let time = timestamp ?? Int64(Date().timeIntervalSince1970)
        return [
            ("webhook-id", id),
            ("webhook-timestamp", String(time)),
            ("webhook-signature", WebhookSignature.sign(id: id, timestamp: time, body: bytes, secret: secret)),
        ]
    }
}
