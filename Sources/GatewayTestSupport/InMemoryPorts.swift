public import Foundation
public import GatewayCore
import Synchronization

/// The `shipments` collection in memory, applying routing decisions by the same order rule as the real store.
public final class InMemoryShipmentStore: ShipmentStore, Sendable {
    private let shipments: Mutex<[String: Shipment]>
    private let routes = Mutex<[String: RoutingDecision]>([:])

    /// Creates the store holding `shipments`.
    public init(_ shipments: [Shipment] = []) {
        self.shipments = Mutex(Dictionary(uniqueKeysWithValues: shipments.map { ($0.shipmentId, $0) }))
    }

    /// A shipment as a test needs one: `shipmentId` and otherwise fixed values.
    public static func shipment(_ shipmentId: String) -> Shipment {
        Shipment(
            shipmentId: shipmentId, orderId: "ORD-\(shipmentId)", merchantId: "M-1", status: "created",
            destination: .init(city: "Amsterdam", country: "NL", postalCode: "1011"))
    }

    /// Adds (or replaces) a shipment.
    public func add(_ shipment: Shipment) { shipments.withLock { $0[shipment.shipmentId] = shipment } }

    /// The route last applied to a shipment.
    public func route(of shipmentId: String) -> RoutingDecision? { routes.withLock { $0[shipmentId] } }

    public func shipment(_ shipmentId: String) async throws -> Shipment? { shipments.withLock { $0[shipmentId] } }

    public func applyRouting(_ decision: RoutingDecision, status: String?, to shipment: Shipment, as update: ShipmentUpdateOrder, now: Date)
        async throws -> Bool
    {
        shipments.withLock { shipments in
            guard var current = shipments[shipment.shipmentId], current.accepts(update) else { return false }
            current.lastUpdate = update
            if let status { current.status = status }
            current.version += 1
            shipments[shipment.shipmentId] = current
            routes.withLock { $0[shipment.shipmentId] = decision }
            return true
        }
    }
}

/// A routing service whose answers a test scripts per event, counting calls and, like routing-sim, applying the
/// effect of a key once.
public final class ScriptedRoutingService: RoutingService, Sendable {
    private struct State {
        var script: (EventKey, Int) -> Result<RoutingDecision, RoutingFailure>
        var calls: [EventKey: Int] = [:]
        var effects: [EventKey: Int] = [:]
    }

    private let state: Mutex<State>

    /// Answers call number `n` (from 1) of each event with `script(key, n)`.
    public init(
        _ script: @escaping @Sendable (EventKey, Int) -> Result<RoutingDecision, RoutingFailure> = { _, _ in .success(ScriptedRoutingService.decision)
        }
    ) {
        state = Mutex(State(script: script))
    }

    /// The decision answered by default.
    public static let decision = RoutingDecision(hub: "AMS-1", routeCode: "R-AMS-0001", eta: Date(timeIntervalSince1970: 1_800_086_400))

    /// Changes the answers from now on.
    public func answer(_ script: @escaping @Sendable (EventKey, Int) -> Result<RoutingDecision, RoutingFailure>) {
        state.withLock { $0.script = script }
    }

    /// Calls made for an event.
    public func calls(_ key: EventKey) -> Int { state.withLock { $0.calls[key] ?? 0 } }

    /// Calls made in all.
    public var totalCalls: Int { state.withLock { $0.calls.values.reduce(0, +) } }

    /// Effects applied for an event: at most one, however often it succeeded.
    public func effects(_ key: EventKey) -> Int { state.withLock { $0.effects[key] ?? 0 } }

    public func route(_ request: RoutingRequest) async -> Result<RoutingDecision, RoutingFailure> {
        state.withLock { state in
            let call = (state.calls[request.key] ?? 0) + 1
            state.calls[request.key] = call
            let answer = state.script(request.key, call)
            if case .success = answer { state.effects[request.key] = 1 }
            return answer
        }
    }
}

/// A stream in memory with one consumer group: entries, what each consumer was given, and a marker that says whether
/// the contents were lost, as the Redis one has.
public final class InMemoryEventStream: EventStream, Sendable {
    private struct State {
        var entries: [StreamMessage] = []
        var delivered = 0
        var pending: [String: String] = [:]
        var nextId = 1
        var marker = false
        var unavailable = false
    }

    private let state = Mutex(State())
    public let name: String

    /// Creates an empty stream; its contents count as lost until the first relay acknowledges them.
    public init(name: String = "test:events") {
        self.name = name
    }

    /// Every entry published, in order.
    public var entries: [StreamMessage] { state.withLock { $0.entries } }

    /// Loses everything, as Redis restarted without its data does.
    public func loseEverything() { state.withLock { $0 = State() } }

    /// Makes publishing fail, until set back.
    public func setUnavailable(_ unavailable: Bool) { state.withLock { $0.unavailable = unavailable } }

    public func prepare() async throws {}

    public func publish(_ keys: [EventKey]) async throws {
        try state.withLock { state in
            if state.unavailable { throw StreamUnavailable() }
            for key in keys {
                state.entries.append(StreamMessage(id: "\(state.nextId)-0", key: key))
                state.nextId += 1
            }
        }
    }

    public func read(consumer: String, count: Int, block: Duration) async throws -> [StreamMessage] {
        state.withLock { state in
            let messages = Array(state.entries[state.delivered...].prefix(count))
            state.delivered += messages.count
            for message in messages { state.pending[message.id] = consumer }
            return messages
        }
    }

    /// Every pending entry, whatever its idle time: tests move time by hand.
    public func reclaim(consumer: String, minIdle: Duration, count: Int) async throws -> [StreamMessage] {
        state.withLock { state in
            let messages = state.entries.filter { state.pending[$0.id] != nil }.prefix(count)
            for message in messages { state.pending[message.id] = consumer }
            return Array(messages)
        }
    }

    public func acknowledge(_ ids: [String]) async throws {
        state.withLock { state in for id in ids { state.pending[id] = nil } }
    }

    public func contentsWereLost() async throws -> Bool { state.withLock { !$0.marker } }

    public func acknowledgeLostContents() async throws { state.withLock { $0.marker = true } }

    /// The error of a stream set unavailable.
    public struct StreamUnavailable: Error {}
}
