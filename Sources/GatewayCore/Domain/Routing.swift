public import Foundation

/// A shipment (or order) the routing service needs as context; the `shipments` collection holds them.
public struct Shipment: Sendable, Equatable {
    public var shipmentId: String
    public var orderId: String
    public var merchantId: String
    public var status: String
    public var destination: Destination
    /// The update that wrote the shipment's current state, when an event did; older ones do not overwrite it.
    public var lastUpdate: ShipmentUpdateOrder?
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

    /// Order-insensitive updates: an update changes the shipment only if it does not come before the one that
    /// wrote its current state (see ``ShipmentUpdateOrder``), so events that arrive out of order, late or twice
    /// cannot roll the shipment's state back. The same update applied again is accepted: it writes the same values.
    public func accepts(_ update: ShipmentUpdateOrder) -> Bool {
        lastUpdate.map { $0 <= update } ?? true
    }

    public init(
        shipmentId: String, orderId: String, merchantId: String, status: String, destination: Destination,
        lastUpdate: ShipmentUpdateOrder? = nil, version: Int = 0
    ) {
        self.shipmentId = shipmentId
        self.orderId = orderId
        self.merchantId = merchantId
        self.status = status
        self.destination = destination
        self.lastUpdate = lastUpdate
        self.version = version
    }
}

/// The place of an event's update in a shipment's history: a total order, so that exactly one of two updates
/// is the newer.
///
/// By when the event occurred; on a tie, by the event's key, so two events of the same instant apply in the
/// same order whichever arrives last; for the same event, by the claim that applied it (the event's version
/// after the claim), so a worker whose lease was taken over cannot overwrite what the newer claim wrote.
public struct ShipmentUpdateOrder: Sendable, Hashable, Comparable {
    /// When the event occurred (or, without `occurredAt`, when it was received).
    public var occurredAt: Date
    /// The event's key, `{source}:{eventId}`.
    public var eventKey: String
    /// The event's version right after the claim that applies the update.
    public var claimVersion: Int

    public init(occurredAt: Date, eventKey: String, claimVersion: Int) {
        self.occurredAt = occurredAt
        self.eventKey = eventKey
        self.claimVersion = claimVersion
    }

    /// The update of a claimed event.
    public init(_ event: ClaimedEvent) {
        self.init(occurredAt: event.occurredAt, eventKey: event.key.description, claimVersion: event.lease.version)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.occurredAt, lhs.eventKey, lhs.claimVersion) < (rhs.occurredAt, rhs.eventKey, rhs.claimVersion)
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
