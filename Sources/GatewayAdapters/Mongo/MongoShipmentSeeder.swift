public import Foundation
import GatewayCore

/// Demo and test shipments `SHP-000001` … in the `shipments` collection (`gateway seed shipments`).
public struct MongoShipmentSeeder: Sendable {
    private let pool: MongoConnectionPool

    /// Creates the seeder on a connection pool.
    public init(pool: MongoConnectionPool) {
        self.pool = pool
    }

    /// Creates shipments `SHP-000001` … `SHP-{count}` that do not exist yet; returns how many were created.
    public func seed(count: Int, batchSize: Int = 1_000, now: Date = Date()) async throws -> Int {
        var created = 0
        for start in stride(from: 1, through: count, by: batchSize) {
            let documents = (start..<min(start + batchSize, count + 1)).map { Self.document(number: $0, createdAt: now) }
            created += try await pool.withDatabase("seed shipments") { database in
                let failures = try database.collection(Collections.shipments).insertMany(documents)
                if let failure = failures.values.first(where: { $0.code != .duplicateKey }) { throw failure }
                return documents.count - failures.count
            }
        }
        return created
    }

    /// The id of demo shipment number `number`: `SHP-` and at least six digits.
    public static func shipmentId(_ number: Int) -> String {
        "SHP-" + String(repeating: "0", count: max(0, 6 - String(number).count)) + String(number)
    }

    private static let cities: [(String, String, String)] = [
        ("Amsterdam", "NL", "1011"), ("Berlin", "DE", "10115"), ("Lyon", "FR", "69001"), ("Milan", "IT", "20121"),
        ("Madrid", "ES", "28001"), ("Warsaw", "PL", "00-001"), ("Vienna", "AT", "1010"), ("Lisbon", "PT", "1100"),
    ]

    private static func document(number: Int, createdAt: Date) -> BSONDocument {
        let city = cities[number % cities.count]
        return [
            "shipmentId": .string(shipmentId(number)),
            "orderId": .string("ORD-\(shipmentId(number).dropFirst(4))"),
            "merchantId": .string("M-\(number % 50 + 1)"),
            "status": .string("created"),
            "destination": .document(["city": .string(city.0), "country": .string(city.1), "postalCode": .string(city.2)]),
            "lastEventAt": .null,
            "route": .null,
            "version": .int32(0),
            "createdAt": .date(createdAt),
        ]
    }
}
