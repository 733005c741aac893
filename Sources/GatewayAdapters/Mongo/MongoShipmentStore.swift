public import Foundation
public import GatewayCore

/// The `shipments` collection: the context workers send to the routing service.
public struct MongoShipmentStore: ShipmentStore {
    private let pool: MongoConnectionPool
    private let reads: Batcher<String, Shipment?>

    /// Creates the store on a connection pool.
    public init(pool: MongoConnectionPool) {
        self.pool = pool
        // Claims come in batches, so their shipment reads arrive together: one `$in` read serves them all.
        reads = Batcher(maxBatch: 100, maxSenders: 2) { shipmentIds in
            let documents = try await pool.withDatabase("find shipments") { database in
                try database.collection(Collections.shipments).find(["shipmentId": .document(["$in": .array(Set(shipmentIds).map(BSON.string))])])
            }
            let shipments = Dictionary(documents.map(Self.shipment(from:)).map { ($0.shipmentId, $0) }) { first, _ in first }
            return shipmentIds.map { .success(shipments[$0]) }
        }
    }

    /// The shipment, read together with concurrent reads (see ``Batcher``).
    public func shipment(_ shipmentId: String) async throws -> Shipment? {
        try await reads.submit(shipmentId)
    }

    /// Applies the decision when ``Shipment/accepts(eventOccurredAt:)`` allows it, as a compare-and-set on
    /// the shipment's version: first the version read for the routing call, then, after a concurrent update
    /// (which may have made this event stale), the version read again.
    public func applyRouting(_ decision: RoutingDecision, status: String?, to shipment: Shipment, from event: EventKey, occurredAt: Date) async throws -> Bool {
        var set: BSONDocument = [
            "lastEventAt": .date(occurredAt),
            "lastEventId": .string(event.description),
            "route": MongoEventRepository.document(decision, decidedAt: Date()),
        ]
        if let status { set.append("status", .string(status)) }
        // Redoable: should a store crash take it back, it takes the event's later outcome with it, and the
        // event is processed again and repeats this update.
        let update: BSONDocument = ["$set": .document(set), "$inc": .document(["version": .int32(1)])]
        return try await pool.withDatabase("update shipments") { [update] database in
            let shipments = database.collection(Collections.shipments)
            var current = shipment
            for _ in 0..<5 {
                guard current.accepts(eventOccurredAt: occurredAt) else { return false }
                // `shipmentId` first: SecantusDB starts from its unique index and checks the version on that document.
                let filter: BSONDocument = ["shipmentId": .string(current.shipmentId), "version": Fence.condition(current.version)]
                if try shipments.updateOne(filter: filter, update: update, acknowledgement: .redoable) == 1 { return true }
                guard let latest = try shipments.findOne(["shipmentId": .string(current.shipmentId)]) else { return false }
                current = Self.shipment(from: latest)
            }
            throw StoreError(.failed, operation: "update shipments", message: "\(shipment.shipmentId) kept changing under five attempts")
        }
    }

    /// Creates shipments `SHP-000001` … `SHP-{count}` that do not exist yet; returns how many were created.
    public func seed(count: Int, batchSize: Int = 1_000) async throws -> Int {
        var created = 0
        for start in stride(from: 1, through: count, by: batchSize) {
            let documents = (start..<min(start + batchSize, count + 1)).map(Self.seedDocument)
            created += try await pool.withDatabase("seed shipments") { database in
                let failures = try database.collection(Collections.shipments).insertMany(documents)
                if let failure = failures.values.first(where: { $0.code != .duplicateKey }) { throw failure }
                return documents.count - failures.count
            }
        }
        return created
    }

    /// The id of seeded shipment number `number`.
    public static func seededId(_ number: Int) -> String {
        "SHP-" + String(repeating: "0", count: max(0, 6 - String(number).count)) + String(number)
    }

    private static let cities: [(String, String, String)] = [
        ("Amsterdam", "NL", "1011"), ("Berlin", "DE", "10115"), ("Lyon", "FR", "69001"), ("Milan", "IT", "20121"),
        ("Madrid", "ES", "28001"), ("Warsaw", "PL", "00-001"), ("Vienna", "AT", "1010"), ("Lisbon", "PT", "1100"),
    ]

    private static func seedDocument(_ number: Int) -> BSONDocument {
        let city = cities[number % cities.count]
        return [
            "shipmentId": .string(seededId(number)),
            "orderId": .string("ORD-\(seededId(number).dropFirst(4))"),
            "merchantId": .string("M-\(number % 50 + 1)"),
            "status": .string("created"),
            "destination": .document(["city": .string(city.0), "country": .string(city.1), "postalCode": .string(city.2)]),
            "lastEventAt": .null,
            "route": .null,
            "version": .int32(0),
            "createdAt": .date(Date()),
        ]
    }

    private static func shipment(from document: BSONDocument) -> Shipment {
        Shipment(
            shipmentId: document["shipmentId"]?.stringValue ?? "", orderId: document["orderId"]?.stringValue ?? "",
            merchantId: document["merchantId"]?.stringValue ?? "", status: document["status"]?.stringValue ?? "",
            destination: Shipment.Destination(
                city: document[path: "destination.city"]?.stringValue ?? "", country: document[path: "destination.country"]?.stringValue ?? "",
                postalCode: document[path: "destination.postalCode"]?.stringValue ?? ""),
            lastEventAt: document["lastEventAt"]?.dateValue, version: document["version"]?.intValue ?? 0)
    }
}
