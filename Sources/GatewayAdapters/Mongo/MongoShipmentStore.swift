public import Foundation
public import GatewayCore

/// The `shipments` collection: the context workers send to the routing service.
public struct MongoShipmentStore: ShipmentStore {
    private let reads: Batcher<String, Shipment?>
    private let routingUpdates: Batcher<RoutingUpdate, Bool>

    /// Creates the store on a connection pool.
    public init(pool: MongoConnectionPool) {
        // Claims come in batches, so their shipment reads arrive together: one `$in` read serves them all.
        reads = Batcher(name: "shipment_reads", operation: "find shipments", pool: pool, limits: MongoWorkerStore.groups) { shipmentIds, database in
            let documents = try database.collection(Collections.shipments).find(
                ["shipmentId": .document(["$in": .array(Set(shipmentIds).map(BSON.string))])])
            let shipments = Dictionary(documents.map(Self.shipment(from:)).map { ($0.shipmentId, $0) }) { first, _ in first }
            return shipmentIds.map { .success(shipments[$0]) }
        }
        // And their routing calls end together: one `update` command applies a group of decisions.
        routingUpdates = Batcher(name: "shipment_updates", operation: "update shipments", pool: pool, limits: MongoWorkerStore.groups) {
            updates, database in
            try Self.applyGroup(updates, in: database.collection(Collections.shipments))
        }
    }

    /// The shipment, read together with concurrent reads (see ``Batcher``).
    public func shipment(_ shipmentId: String) async throws -> Shipment? {
        try await reads.submit(shipmentId)
    }

    /// Applies the decision when ``Shipment/accepts(_:)`` allows it, as a compare-and-set on the shipment's version:
    /// first the version read for the routing call (grouped with concurrent updates), then, after a concurrent
    /// update (which may have made this one stale), the version read again.
    public func applyRouting(_ decision: RoutingDecision, status: String?, to shipment: Shipment, as order: ShipmentUpdateOrder, now: Date)
        async throws -> Bool
    {
        guard shipment.accepts(order) else { return false }
        var set: BSONDocument = [
            "lastEventAt": .date(order.occurredAt),
            "lastEventId": .string(order.eventKey),
            "lastEventClaim": .int64(Int64(order.claimVersion)),
            "route": EventDocuments.decision(decision, decidedAt: now),
        ]
        if let status { set.append("status", .string(status)) }
        // Redoable: should a store crash take it back, it takes the event's later outcome with it, and the
        // event is processed again and repeats this update.
        let update: BSONDocument = ["$set": .document(set), "$inc": .document(["version": .int32(1)])]
        return try await routingUpdates.submit(RoutingUpdate(shipment: shipment, order: order, update: update))
    }

    /// One routing decision waiting for its batch.
    private struct RoutingUpdate: Sendable {
        /// The shipment as read for the routing call.
        let shipment: Shipment
        /// The update's place in the shipment's history, which it writes as the shipment's last.
        let order: ShipmentUpdateOrder
        let update: BSONDocument
    }

    /// Applies a batch of decisions with one `update` command of compare-and-sets on the versions read; those that
    /// met a concurrent update are applied one by one after reading the shipment again.
    private static func applyGroup(_ updates: [RoutingUpdate], in shipments: MongoCollection) throws -> [Result<Bool, any Error>] {
        // `shipmentId` first: SecantusDB starts from its unique index and checks the version on that document.
        func compareAndSet(_ update: RoutingUpdate, over shipment: Shipment) -> (filter: BSONDocument, update: BSONDocument) {
            (["shipmentId": .string(shipment.shipmentId), "version": Fence.condition(shipment.version)], update.update)
        }
        let result = try shipments.updateEach(updates.map { compareAndSet($0, over: $0.shipment) }, acknowledgement: .redoable)
        let landed = try result.landed {
            // An update landed if it is now the shipment's last. Two events of one shipment in a batch read the
            // same version, so one of them is not.
            let ids = Set(updates.map(\.shipment.shipmentId)).map(BSON.string)
            let lastUpdates = try shipments.find(
                ["shipmentId": .document(["$in": .array(ids)])],
                options: [
                    "projection": .document([
                        "shipmentId": .int32(1), "lastEventAt": .int32(1), "lastEventId": .int32(1), "lastEventClaim": .int32(1),
                    ])
                ]
            ).reduce(into: [String: ShipmentUpdateOrder]()) { $0[$1["shipmentId"]?.stringValue ?? ""] = Self.lastUpdate(of: $1) }
            return { lastUpdates[updates[$0].shipment.shipmentId] == updates[$0].order }
        }
        return updates.indices.map { index in
            if let failure = result.failures[index] { return .failure(failure) }
            if landed[index] { return .success(true) }
            return Result {
                let update = updates[index]
                for _ in 0..<5 {
                    guard let latest = try shipments.findOne(["shipmentId": .string(update.shipment.shipmentId)]) else { return false }
                    let current = Self.shipment(from: latest)
                    guard current.accepts(update.order) else { return false }
                    let (filter, change) = compareAndSet(update, over: current)
                    if try shipments.updateOne(filter: filter, update: change, acknowledgement: .redoable) == 1 { return true }
                }
                throw StoreError(.failed, operation: "update shipments", message: "\(update.shipment.shipmentId) kept changing under five attempts")
            }
        }
    }

    private static func shipment(from document: BSONDocument) -> Shipment {
        Shipment(
            shipmentId: document["shipmentId"]?.stringValue ?? "", orderId: document["orderId"]?.stringValue ?? "",
            merchantId: document["merchantId"]?.stringValue ?? "", status: document["status"]?.stringValue ?? "",
            destination: Shipment.Destination(
                city: document[path: "destination.city"]?.stringValue ?? "", country: document[path: "destination.country"]?.stringValue ?? "",
                postalCode: document[path: "destination.postalCode"]?.stringValue ?? ""),
            lastUpdate: lastUpdate(of: document), version: document["version"]?.intValue ?? 0)
    }

    /// The update that wrote the shipment's state; a shipment written before updates carried their event's key and
    /// claim orders by time alone.
    private static func lastUpdate(of document: BSONDocument) -> ShipmentUpdateOrder? {
        guard let occurredAt = document["lastEventAt"]?.dateValue else { return nil }
        return ShipmentUpdateOrder(
            occurredAt: occurredAt, eventKey: document["lastEventId"]?.stringValue ?? "", claimVersion: document["lastEventClaim"]?.intValue ?? 0)
    }
}
