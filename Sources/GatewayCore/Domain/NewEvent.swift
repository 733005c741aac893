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
    /// The whole payload, a JSON object, stored as a sub-document that auditors can query.
    public let payload: JSONValue
    /// When the gateway accepted the delivery.
    public let receivedAt: Date

    /// Builds the event from a verified delivery's payload.
    /// - Throws: ``PayloadError`` when the body is not a JSON object.
    public init(key: EventKey, body: some Collection<UInt8>, receivedAt: Date) throws(PayloadError) {
        let payload: JSONValue
        do {
            payload = try JSONValue(parsing: body)
        } catch {
            throw PayloadError(reason: error.isValidJSON ? "body cannot be stored: \(error)" : "body is not valid JSON: \(error)")
        }
        guard case .object = payload else { throw PayloadError(reason: "body must be a JSON object") }
        self.key = key
        self.type = payload["type"]?.stringValue
        self.shipmentId = payload["shipmentId"]?.stringValue
        self.occurredAt = payload["occurredAt"]?.stringValue.flatMap(Self.parseInstant)
        self.payload = payload
        self.receivedAt = receivedAt
    }

    private static func parseInstant(_ text: String) -> Date? {
        (try? Date(text, strategy: .iso8601))
            ?? (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
    }
}

/// Why a body cannot become an event.
public struct PayloadError: Error, Equatable, CustomStringConvertible {
    /// What was wrong with the body.
    public let reason: String
    public var description: String { reason }
}
