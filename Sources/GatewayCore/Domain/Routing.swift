public import Foundation

/// A shipment (or order) the routing service needs as context; the `shipments` collection holds them.
public struct Shipment: Sendable, Equatable, Codable {
    public var shipmentId: String
    public var orderId: String
    public var merchantId: String
    public var status: String
    public var destination: Destination
    /// When the newest event applied to this shipment occurred; older events do not overwrite it.
    public var lastEventAt: Date?
    /// The store's revision of the shipment as read: applying a routing decision is a compare-and-set on it.
    public var version: Int

    /// Where the shipment goes.
    public struct Destination: Sendable, Equatable, Codable {
        public var city: String
        public var country: String
        public var postalCode: String

        public init(city: String, country: String, postalCode: String) {
            self.city = city
            self.country = country
            self.postalCode = postalCode
        }
    }

    /// Order-insensitive updates: an event changes the shipment only if it is not older than the newest event
    /// applied so far, so events that arrive out of order cannot roll the shipment's state back.
    public func accepts(eventOccurredAt occurredAt: Date) -> Bool {
        lastEventAt.map { $0 <= occurredAt } ?? true
    }

    public init(shipmentId: String, orderId: String, merchantId: String, status: String, destination: Destination, lastEventAt: Date? = nil, version: Int = 0) {
        self.shipmentId = shipmentId
        self.orderId = orderId
        self.merchantId = merchantId
        self.status = status
        self.destination = destination
        self.lastEventAt = lastEventAt
        self.version = version
    }
}

/// What the routing service decided for an event.
public struct RoutingDecision: Sendable, Equatable, Codable {
    /// The hub the shipment goes through.
    public var hub: String
    /// The route code.
    public var routeCode: String
    /// The estimated arrival.
    public var eta: Date

    public init(hub: String, routeCode: String, eta: Date) {
        self.hub = hub
        self.routeCode = routeCode
        self.eta = eta
    }
}

/// Why a routing call failed, classified by what should happen next.
public struct RoutingFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The class of failure.
    public enum Kind: String, Sendable {
        /// Worth retrying: 5xx, 429, timeout, connection refused.
        case transient
        /// Retrying cannot help: 4xx such as unroutable or invalid payload.
        case permanent
    }

    public var kind: Kind
    /// What happened, for the attempt history.
    public var message: String
    /// The service's `Retry-After`, when it sent one.
    public var retryAfter: Duration?

    public init(_ kind: Kind, _ message: String, retryAfter: Duration? = nil) {
        self.kind = kind
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}

/// Everything the routing service is told about one event.
public struct RoutingRequest: Sendable, Equatable {
    /// The event's key; `Idempotency-Key: {source}:{eventId}`.
    public var key: EventKey
    public var type: String?
    public var shipment: Shipment
    /// The event's payload, forwarded as received.
    public var payload: JSONValue

    public init(key: EventKey, type: String?, shipment: Shipment, payload: JSONValue) {
        self.key = key
        self.type = type
        self.shipment = shipment
        self.payload = payload
    }
}
