import Foundation
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import Testing

@testable import GatewayAdapters

/// Shipment reads are grouped and a routing decision is applied as a compare-and-set on the version read
/// for the routing call; these pin both to what the store does.
@Suite("The shipment store against the real store")
struct ShipmentStoreTests {
    private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// Runs `body` on a store holding one seeded shipment, with that shipment as read before any routing call.
    private func withOneShipment(_ body: (MongoShipmentStore, Shipment) async throws -> Void) async throws {
        try await TestServices.withMigratedDatabase("shipments") { resources in
            let store = MongoShipmentStore(pool: resources.mongo)
            _ = try await MongoShipmentSeeder(pool: resources.mongo).seed(count: 1)
            try await body(store, try #require(try await store.shipment(MongoShipmentSeeder.shipmentId(1))))
        }
    }

    /// Applies the routing decision of event `eventId` under its claim `claim`, which writes `status` (by default the event's id).
    private func apply(
        _ eventId: String, status: String? = nil, occurredAt: Date, claim: Int = 1, over shipment: Shipment, in store: MongoShipmentStore
    ) async throws -> Bool {
        try await store.applyRouting(
            RoutingDecision(hub: "AMS-1", routeCode: "R", eta: occurredAt), status: status ?? eventId, to: shipment,
            as: ShipmentUpdateOrder(
                occurredAt: occurredAt, eventKey: EventKey(source: Fixtures.source, eventId: eventId).description, claimVersion: claim),
            now: occurredAt)
    }

    @Test func concurrentReadsEachGetTheirOwnShipment() async throws {
        try await TestServices.withMigratedDatabase("shipments") { resources in
            let store = MongoShipmentStore(pool: resources.mongo)
            _ = try await MongoShipmentSeeder(pool: resources.mongo).seed(count: 30)
            let ids = (1...30).map(MongoShipmentSeeder.shipmentId) + ["SHP-999999", MongoShipmentSeeder.shipmentId(7)]
            let read = try await withThrowingTaskGroup(of: (String, Shipment?).self) { group in
                for id in ids { group.addTask { (id, try await store.shipment(id)) } }
                return try await group.reduce(into: [(String, Shipment?)]()) { $0.append($1) }
            }
            #expect(read.count == ids.count)
            for (id, shipment) in read {
                #expect(shipment?.shipmentId == (id == "SHP-999999" ? nil : id))
            }
        }
    }

    @Test func aDecisionAppliedOverAStaleReadIsCheckedAgainstTheShipmentAsItIsNow() async throws {
        try await withOneShipment { store, readBeforeRouting in
            #expect(try await apply("first", occurredAt: t0.addingTimeInterval(10), over: readBeforeRouting, in: store))
            // Both read the shipment before "first" was applied: one is newer than it, one older.
            #expect(try await apply("newer", occurredAt: t0.addingTimeInterval(20), over: readBeforeRouting, in: store))
            #expect(try await apply("older", occurredAt: t0.addingTimeInterval(15), over: readBeforeRouting, in: store) == false)

            let stored = try #require(try await store.shipment(readBeforeRouting.shipmentId))
            #expect(stored.status == "newer")
            #expect(stored.lastUpdate?.occurredAt == t0.addingTimeInterval(20))
            #expect(stored.version == 2)
        }
    }

    @Test func decisionsAppliedTogetherToOneShipmentLeaveTheNewestEventsState() async throws {
        try await withOneShipment { store, readBeforeRouting in
            // Twelve events of one shipment, routed together over the same read, finishing in no particular order.
            let applied = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                for second in [7, 2, 11, 0, 5, 9, 1, 10, 3, 8, 4, 6] {
                    group.addTask {
                        let occurredAt = t0.addingTimeInterval(Double(second))
                        return (
                            second,
                            try await apply("event-\(second)", status: "status-\(second)", occurredAt: occurredAt, over: readBeforeRouting, in: store)
                        )
                    }
                }
                return try await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
            }

            #expect(applied[11] == true)
            let stored = try #require(try await store.shipment(readBeforeRouting.shipmentId))
            #expect(stored.status == "status-11")
            #expect(stored.lastUpdate?.occurredAt == t0.addingTimeInterval(11))
            #expect(stored.version == applied.values.filter { $0 }.count)
        }
    }

    @Test func aShipmentWrittenWithoutAVersionIsUpdated() async throws {
        try await TestServices.withMigratedDatabase("shipments") { resources in
            let store = MongoShipmentStore(pool: resources.mongo)
            _ = try await resources.mongo.withDatabase("insert shipments") { database in
                try database.collection(Collections.shipments).insertOne(["shipmentId": .string("EXT-1"), "status": .string("created")])
            }
            let read = try #require(try await store.shipment("EXT-1"))
            let decision = RoutingDecision(hub: "AMS-1", routeCode: "R", eta: Date())
            let update = ShipmentUpdateOrder(occurredAt: Date(), eventKey: "\(Fixtures.source):external", claimVersion: 1)
            #expect(try await store.applyRouting(decision, status: "in_transit", to: read, as: update, now: Date()))
            #expect(try await store.shipment("EXT-1")?.version == 1)
            #expect(try await store.shipment("EXT-1")?.status == "in_transit")
        }
    }

    /// Two events of the same instant apply in the order of their keys, whichever arrives last.
    @Test func aTieInTimeIsBrokenByTheEventKey() async throws {
        try await withOneShipment { store, readBeforeRouting in
            let instant = t0.addingTimeInterval(10)
            #expect(try await apply("event-b", occurredAt: instant, over: readBeforeRouting, in: store))
            #expect(try await apply("event-a", occurredAt: instant, over: readBeforeRouting, in: store) == false)
            #expect(try await store.shipment(readBeforeRouting.shipmentId)?.status == "event-b")
            #expect(try await apply("event-c", occurredAt: instant, over: readBeforeRouting, in: store))
            let stored = try #require(try await store.shipment(readBeforeRouting.shipmentId))
            #expect(stored.status == "event-c")
        }
    }

    /// A worker whose lease was taken over cannot overwrite what the newer claim of the same event wrote; the same
    /// claim applying its update again (a retried write) is accepted.
    @Test func aStaleClaimOfTheSameEventCannotOverwriteTheNewerClaim() async throws {
        try await withOneShipment { store, readBeforeRouting in
            let instant = t0.addingTimeInterval(10)
            #expect(try await apply("event", status: "by-newer-claim", occurredAt: instant, claim: 5, over: readBeforeRouting, in: store))
            #expect(try await apply("event", status: "by-stale-claim", occurredAt: instant, claim: 3, over: readBeforeRouting, in: store) == false)
            #expect(try await apply("event", status: "by-newer-claim", occurredAt: instant, claim: 5, over: readBeforeRouting, in: store))
            let stored = try #require(try await store.shipment(readBeforeRouting.shipmentId))
            #expect(stored.status == "by-newer-claim")
            #expect(stored.lastUpdate == ShipmentUpdateOrder(occurredAt: instant, eventKey: "\(Fixtures.source):event", claimVersion: 5))
        }
    }
}
