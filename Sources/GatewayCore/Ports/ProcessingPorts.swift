public import Foundation

/// The inbox as workers use it: atomic claims and lease-fenced outcome writes.
public protocol EventRepository: Sendable {
    /// Claims the event for `worker` with one compare-and-set, when it is claimable: `received` or
    /// `queued`, `retry_scheduled`/`parked` and due, or `processing` under an expired lease.
    /// - Returns: the claimed event, or nil when it is already claimed, processed, dead or not yet due.
    /// - Throws: ``StoreError``.
    func claim(_ key: EventKey, worker: String, leaseDuration: Duration, now: Date) async throws -> ClaimedEvent?

    /// Writes the outcome of an attempt, only while `event.lease` is still held.
    /// - Returns: false when the lease was lost (the event was taken over): nothing was written.
    /// - Throws: ``StoreError``.
    func record(_ transition: Transition, attempt: AttemptRecord, for event: ClaimedEvent, now: Date) async throws -> Bool
}

/// The shipment context of events.
public protocol ShipmentStore: Sendable {
    /// The shipment, or nil when it is not in the store.
    /// - Throws: ``StoreError``.
    func shipment(_ shipmentId: String) async throws -> Shipment?

    /// Stores the routing decision and the event's status on the shipment, unless a newer update already did.
    /// - Parameters:
    ///   - shipment: the shipment as read for the routing call; should it have changed since, it is read again.
    ///   - update: the event's place in the shipment's history (``Shipment/accepts(_:)``).
    /// - Returns: false when the shipment's last update comes after `update` (nothing written).
    /// - Throws: ``StoreError``.
    func applyRouting(_ decision: RoutingDecision, status: String?, to shipment: Shipment, as update: ShipmentUpdateOrder) async throws -> Bool
}

/// The external routing service.
public protocol RoutingService: Sendable {
    /// Asks for a routing decision; never throws: every failure is classified.
    func route(_ request: RoutingRequest) async -> Result<RoutingDecision, RoutingFailure>
}

/// The inbox as the relay uses it. Each `reserve` call marks the events it returns `queued` with a token
/// of its own, so that two relays never publish the same event in the same pass.
public protocol OutboxStore: Sendable {
    /// Marks up to `limit` due events (`received`, or `retry_scheduled`/`parked` whose `availableAt` passed) queued.
    func reserveDue(now: Date, limit: Int) async throws -> [EventKey]

    /// Marks up to `limit` events that were queued before `queuedBefore` and never claimed queued again.
    func reserveStale(queuedBefore: Date, now: Date, limit: Int) async throws -> [EventKey]

    /// Makes reserved events due for recovery at once, after their publication failed.
    func releaseReservation(_ keys: [EventKey]) async throws

    /// Moves events whose lease expired back to `retry_scheduled`, due now; returns how many.
    func sweepExpiredLeases(now: Date, limit: Int) async throws -> Int

    /// Writes the missing `dead_letters` documents of dead events (a worker may have died in between); returns how many.
    func reconcileDeadLetters(limit: Int) async throws -> Int
}

/// One entry of the event stream.
public struct StreamMessage: Sendable, Equatable {
    /// The stream entry id.
    public var id: String
    /// The event it announces.
    public var key: EventKey

    public init(id: String, key: EventKey) {
        self.id = id
        self.key = key
    }
}

/// The transport between relay and workers (a Redis Stream with a consumer group). Never the record:
/// everything it loses, the relay publishes again from the inbox.
public protocol EventStream: Sendable {
    /// Creates the consumer group (and the stream) if missing.
    func prepare() async throws
    /// Appends one entry per event.
    func publish(_ keys: [EventKey]) async throws
    /// New entries for `consumer`, waiting up to `block` when there are none.
    func read(consumer: String, count: Int, block: Duration) async throws -> [StreamMessage]
    /// Entries delivered to any consumer and unacknowledged for longer than `minIdle`, now owned by `consumer`.
    func reclaim(consumer: String, minIdle: Duration, count: Int) async throws -> [StreamMessage]
    /// Acknowledges handled entries.
    func acknowledge(_ ids: [String]) async throws
    /// Whether the transport lost its contents since the last call (e.g. Redis restarted without persistence).
    func contentsWereLost() async throws -> Bool
}
