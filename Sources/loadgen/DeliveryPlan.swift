import Foundation
import GatewayAdapters
import GatewayCore

/// Every delivery of a run, signed before the clock starts (and signed again when sent, should that be much later).
struct DeliveryPlan: Sendable {
    /// One prepared request.
    struct Delivery: Sendable {
        enum Kind: String, Sendable { case new, duplicate, badSignature }
        let kind: Kind
        let eventId: String
        let body: [UInt8]
        /// The headers as signed when the plan was made, at `signedAt`.
        let headers: [(String, String)]
        let signedAt: Int64
        /// The secret it was signed with (the wrong one for `badSignature`).
        let secret: WebhookSecret

        /// A signature older than this is made anew when the delivery is sent: a run longer than the gateway's
        /// tolerance (300 s by default) must not have its later deliveries refused as stale, which no producer sends.
        static let resignAfterSeconds: Int64 = 60

        /// The headers to send at unix time `now`: the prepared ones, or, once they are old, signed again now as a
        /// producer signs each attempt.
        func headers(at now: Int64) -> [(String, String)] {
            guard now - signedAt >= Self.resignAfterSeconds else { return headers }
            return DeliveryPlan.headers(eventId, now, WebhookSignature.sign(id: eventId, timestamp: now, body: body, secret: secret))
        }
    }

    let endpoint: String
    let source: String
    let deliveries: [Delivery]

    init(url: String, source: String, secret: WebhookSecret, requests: Int, duplicates: Double, badSignatures: Double, shipments: Int) throws {
        endpoint = "\(url)/webhooks/\(source)"
        self.source = source
        let timestamp = Int64(Date().timeIntervalSince1970)
        let wrongSecret = WebhookSecret(key: Array("not the source's secret".utf8))
        var generator = SplitMix(seed: 0x5EED)
        var sentIds: [(String, [UInt8], String)] = []
        var deliveries: [Delivery] = []
        deliveries.reserveCapacity(requests)
        for index in 0..<requests {
            let draw = generator.nextUnit()
            if draw < duplicates, let earlier = sentIds.randomElement(using: &generator) {
                deliveries.append(
                    Delivery(
                        kind: .duplicate, eventId: earlier.0, body: earlier.1, headers: Self.headers(earlier.0, timestamp, earlier.2),
                        signedAt: timestamp, secret: secret))
                continue
            }
            let eventId = "lg-\(index)"
            let shipment = MongoShipmentSeeder.shipmentId(index % max(shipments, 1) + 1)
            let occurred = Date().addingTimeInterval(Double(index) / 1_000).formatted(.iso8601)
            let body = Array(
                #"{"type":"shipment.status_updated","shipmentId":"\#(shipment)","status":"in_transit","occurredAt":"\#(occurred)","data":{"hub":"AMS-1","sequence":\#(index)}}"#
                    .utf8)
            if draw < duplicates + badSignatures {
                let signature = WebhookSignature.sign(id: eventId, timestamp: timestamp, body: body, secret: wrongSecret)
                deliveries.append(
                    Delivery(
                        kind: .badSignature, eventId: eventId, body: body, headers: Self.headers(eventId, timestamp, signature), signedAt: timestamp,
                        secret: wrongSecret))
            } else {
                let signature = WebhookSignature.sign(id: eventId, timestamp: timestamp, body: body, secret: secret)
                sentIds.append((eventId, body, signature))
                deliveries.append(
                    Delivery(
                        kind: .new, eventId: eventId, body: body, headers: Self.headers(eventId, timestamp, signature), signedAt: timestamp,
                        secret: secret))
            }
        }
        self.deliveries = deliveries
    }

    fileprivate static func headers(_ id: String, _ timestamp: Int64, _ signature: String) -> [(String, String)] {
        [("content-type", "application/json"), ("webhook-id", id), ("webhook-timestamp", String(timestamp)), ("webhook-signature", signature)]
    }

    /// The status each kind of delivery must get.
    static func expectedStatus(_ kind: Delivery.Kind) -> Set<Int> {
        switch kind {
        case .new: [202]
        // A duplicate sent while its original is still in flight may itself be the first to land.
        case .duplicate: [200, 202]
        case .badSignature: [401]
        }
    }
}

/// A small seeded generator, so a plan is the same on every run.
struct SplitMix: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }

    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
