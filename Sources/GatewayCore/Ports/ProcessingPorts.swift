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
    ///   - now: when the decision is applied (the route's `decidedAt`).
    /// - Returns: false when the shipment's last update comes after `update` (nothing written).
    /// - Throws: ``StoreError``.
    func applyRouting(_ decision: RoutingDecision, status: String?, to shipment: Shipment, as update: ShipmentUpdateOrder, now: Date) async throws
        -> Bool
}

/// The external routing service.
public protocol RoutingService: Sendable {
    /// Asks for a routing decision; never throws: every failure is classified.
    func route(_ request: RoutingRequest) async -> Result<RoutingDecision, RoutingFailure>
}

/// The inbox as the relay uses it. Each `reserve` call marks the events it returns `queued` with a token
/// of its own, so that two relays never publish the same event in the same pass.
///
/// One bad document must never stop the line: every step handles its documents one by one where one can fail
/// alone, reports the failures (``DocumentFailure``) instead of throwing them, and leaves out the documents given
/// in `skipping` (those in their backoff after failing before). A step throws only when the store as a whole
/// fails (``StoreError`` `unavailable` or `timeout`).
public protocol OutboxStore: Sendable {
    /// Marks up to `limit` due events (`received`, or `retry_scheduled`/`parked` whose `availableAt` passed) queued.
    func reserveDue(now: Date, limit: Int, skipping: Set<String>) async throws -> Reservation

    /// Marks up to `limit` events that were queued before `queuedBefore` and never claimed queued again.
    func reserveStale(queuedBefore: Date, now: Date, limit: Int, skipping: Set<String>) async throws -> Reservation

    /// Makes reserved events due for recovery at once, after their publication failed (``EventLifecycle/release(now:)``).
    func releaseReservation(_ keys: [EventKey], now: Date) async throws

    /// Moves events whose lease expired back to `retry_scheduled`, due now.
    func sweepExpiredLeases(now: Date, limit: Int, skipping: Set<String>) async throws -> StepResult

    /// Writes the missing `dead_letters` documents of dead events (a worker may have died in between).
    func reconcileDeadLetters(limit: Int, skipping: Set<String>) async throws -> StepResult

    /// The documents each step leaves out at `now`: they failed it and their backoff has not passed.
    func documentsInBackoff(now: Date) async throws -> [RelayStep: Set<String>]

    /// Records failed documents, each due for its next try at `retryAt(failures so far, this one included)`.
    func recordFailures(_ failures: [DocumentFailure], now: Date, retryAt: @escaping @Sendable (Int) -> Date) async throws

    /// When the stream named `stream` was last found to have lost its contents, unless every event queued before
    /// then has been published again since.
    func unrecoveredStreamLoss(stream: String) async throws -> Date?

    /// Records that `stream` lost its contents at `at`: recovery republishes everything queued before then, over
    /// as many passes and relays as it takes.
    func recordStreamLoss(stream: String, at: Date) async throws

    /// Forgets the loss recorded at `at`, once everything queued before it was published again; a later loss
    /// recorded meanwhile stays.
    func clearStreamLoss(stream: String, recordedAt: Date) async throws
}

/// The relay's steps over the inbox; a document that fails one is left out of it for a backoff.
public enum RelayStep: String, Sendable, CaseIterable, Codable {
    /// Expired worker leases back to `retry_scheduled`.
    case sweepLeases = "sweep_leases"
    /// Missing `dead_letters` documents written.
    case reconcileDeadLetters = "reconcile_dead_letters"
    /// Queued events the stream lost, published again.
    case recoverQueued = "recover_queued"
    /// Due events published.
    case publishDue = "publish_due"
}

/// A document one relay step could not handle; the step went on without it.
public struct DocumentFailure: Sendable, Equatable {
    /// The step that failed on it.
    public var step: RelayStep
    /// The store's id of the document.
    public var recordId: String
    /// The event's key, when the document has one.
    public var key: EventKey?
    /// What the store said.
    public var error: String

    public init(step: RelayStep, recordId: String, key: EventKey?, error: String) {
        self.step = step
        self.recordId = recordId
        self.key = key
        self.error = error
    }
}

/// What a relay step did: how many documents it handled, and those it could not.
public struct StepResult: Sendable, Equatable {
    public var handled: Int
    public var failures: [DocumentFailure]

    public init(handled: Int, failures: [DocumentFailure] = []) {
        self.handled = handled
        self.failures = failures
    }
}

/// The events one `reserve` call marked queued for this relay.
public struct Reservation: Sendable, Equatable {
    /// The events this call won; publish them.
    public var keys: [EventKey]
    /// How many matching documents it found, won or not: fewer than the limit means none are left.
    public var found: Int
    /// The documents it could not mark.
    public var failures: [DocumentFailure]

    public init(keys: [EventKey], found: Int, failures: [DocumentFailure] = []) {
        self.keys = keys
        self.found = found
        self.failures = failures
    }
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
    /// The stream's name, by which the relay records a loss of its contents in the store.
    var name: String { get }
    /// Whether the transport lost its contents since ``acknowledgeLostContents()`` was last called (e.g. Redis
    /// restarted without persistence); asking changes nothing.
    func contentsWereLost() async throws -> Bool
    /// Marks the transport's current contents as known, after the loss was recorded where it survives a crash.
    func acknowledgeLostContents() async throws
}
