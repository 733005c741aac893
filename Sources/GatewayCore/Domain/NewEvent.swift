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
    /// The first link of the event's audit chain (``sealed(by:)``), or nil when history is not being sealed.
    public private(set) var ingestSeal: SealedIngest?

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

    /// What the event's audit chain starts from: its key, the digest of its payload as stored, and `receivedAt`.
    public var ingestRecord: IngestRecord {
        IngestRecord(key: key, payloadDigest: IngestRecord.digest(of: payload.bytes), receivedAt: receivedAt)
    }

    /// The event with its ingest record sealed, starting its audit chain; unchanged without a sealer.
    public func sealed(by sealer: AuditSealer?) -> NewEvent {
        guard let sealer else { return self }
        var event = self
        event.ingestSeal = sealer.seal(ingestRecord)
        return event
    }
}
