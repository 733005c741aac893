public import Foundation

/// An authenticated delivery, ready to be written to the inbox as a `received` event.
public struct NewEvent: Sendable, Equatable {
    /// The idempotency key.
    public let key: EventKey
    /// The payload's `type` (e.g. `shipment.status_updated`), when it has one.
    public let type: String?
    /// The payload's `shipmentId`, when it has one; the worker reads the shipment by it.
    public let shipmentId: String?
    /// The payload's `occurredAt`, when it is an ISO 8601 instant; orders shipment updates.
    public let occurredAt: Date?
    /// The whole payload, a JSON object, encoded for the inbox that will store it (as a sub-document auditors query).
    public let payload: EncodedPayload
    /// When the gateway accepted the delivery.
    public let receivedAt: Date

    /// Builds the event from a verified delivery's body, validating and encoding it in one pass.
    /// - Parameter encoder: the inbox's (``InboxStore/payloadEncoder``).
    /// - Throws: ``PayloadError`` when the body is not a JSON object the gateway accepts.
    public init(key: EventKey, body: some Collection<UInt8>, receivedAt: Date, encoder: any PayloadEncoder) throws(PayloadError) {
        // An array is passed on as it is; any other collection is copied once.
        let encoded = try Array(body).withUnsafeBufferPointer { (body) throws(PayloadError) in try encoder.encode(body) }
        self.key = key
        self.type = encoded.fields.type
        self.shipmentId = encoded.fields.shipmentId
        self.occurredAt = encoded.fields.occurredAt
        self.payload = encoded.payload
        self.receivedAt = receivedAt
    }
}
