import Foundation
import GatewayIntegrationSupport
import GatewayTestSupport
import Testing

@testable import GatewayAdapters

@Suite("Migrations against the real store")
struct MigrationTests {
    let configuration = TestServices.configuration()

    private func withFreshDatabase(_ body: (GatewayResources) async throws -> Void) async throws {
        try await GatewayResources.using(configuration, databaseName: TestServices.uniqueDatabaseName("migrate")) { resources in
            do {
                try await body(resources)
            } catch {
                try? await resources.mongo.dropDatabase()
                throw error
            }
            try await resources.mongo.dropDatabase()
        }
    }

    @Test func pendingMigrationsAreAppliedOnceWithTheirIndexes() async throws {
        try await withFreshDatabase { resources in
            let runner = resources.migrations(configuration)
            #expect(try await runner.pending().map(\.id).first == "0001_events_inbox")
            let applied = try await runner.applyPending()
            let all = try runner.migrations()
            #expect(applied.count == all.count)
            #expect(try await runner.applyPending().isEmpty)
            #expect(try await runner.pending().isEmpty)

            let indexes = try await resources.mongo.withDatabase("listIndexes") { database in
                try database.command(["listIndexes": .string("events")], operation: "listIndexes")
            }
            let specs = (indexes[path: "cursor.firstBatch"]?.arrayValue ?? []).compactMap(\.documentValue)
            let unique = try #require(specs.first { $0["name"] == .string("source_eventId_unique") })
            #expect(unique["unique"] == .bool(true))
            #expect(unique["key"] == .document(["source": .int32(1), "eventId": .int32(1)]))
            #expect(specs.contains { $0["name"] == .string("status_availableAt") })
            #expect(specs.contains { $0["name"] == .string("shipmentId_receivedAt") })
            #expect(specs.contains { $0["name"] == .string("deadLetterPending") })
            // Replaced by status_availableAt in 0003.
            for dropped in ["status_queuedAt", "status_leaseExpiresAt", "relayToken"] {
                #expect(!specs.contains { $0["name"] == .string(dropped) }, "\(dropped) is still there")
            }
        }
    }

    @Test func concurrentRunnersApplyEachMigrationOnce() async throws {
        try await withFreshDatabase { resources in
            let runner = resources.migrations(configuration)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 { group.addTask { try await runner.applyPending() } }
                try await group.waitForAll()
            }
            let records = try await resources.mongo.withDatabase("count") { database in
                try database.collection(Collections.schemaMigrations).count([:])
            }
            let all = try runner.migrations()
            #expect(records == all.count)
            #expect(try await runner.pending().isEmpty)
        }
    }

    @Test func aMigrationEditedAfterItWasAppliedIsRefused() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("0001_sample.json")
        try #"{"description":"sample","collections":[{"name":"sample"}],"indexes":[]}"#.write(to: file, atomically: true, encoding: .utf8)
        try await withFreshDatabase { resources in
            let runner = MigrationRunner(pool: resources.mongo, directory: folder)
            #expect(try await runner.applyPending().count == 1)
            try #"{"description":"edited","collections":[{"name":"sample"}],"indexes":[]}"#.write(to: file, atomically: true, encoding: .utf8)
            let error = await #expect(throws: MigrationError.self) { try await runner.pending() }
            #expect(error?.migration == "0001_sample")
            #expect(error?.reason.contains("changed after it was applied") == true)
        }
    }

    @Test func badlyNamedOrInvalidFilesAreNamedInTheError() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let pool = try MongoConnectionPool(url: configuration.mongoURL, size: 1)
        let runner = MigrationRunner(pool: pool, directory: folder)
        try "{".write(to: folder.appendingPathComponent("0002_broken.json"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.self) { try runner.migrations() }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("0002_broken.json"))
        try "{}".write(to: folder.appendingPathComponent("noNumber.json"), atomically: true, encoding: .utf8)
        let error = #expect(throws: MigrationError.self) { try runner.migrations() }
        #expect(error?.migration == "noNumber.json")
        try FileManager.default.removeItem(at: folder.appendingPathComponent("noNumber.json"))
        try #"{"dropIndexes": [{"collection": "events"}]}"#.write(
            to: folder.appendingPathComponent("0003_drop.json"), atomically: true, encoding: .utf8)
        let unnamed = #expect(throws: MigrationError.self) { try runner.migrations() }
        #expect(unnamed?.migration == "0003_drop")
        #expect(unnamed?.reason == "every index to drop needs collection and name")
        try #"{"dropIndexes": ["relayToken"]}"#.write(to: folder.appendingPathComponent("0003_drop.json"), atomically: true, encoding: .utf8)
        let notObjects = #expect(throws: MigrationError.self) { try runner.migrations() }
        #expect(notObjects?.reason == "dropIndexes must be a list of objects")
    }
}
