public import Foundation
public import GatewayAdapters
import GatewayTestSupport

/// The real Redis and MongoDB-compatible servers the tests talk to.
///
/// `make test` starts them on free ports and exports `GATEWAY_MONGO_URL` and `GATEWAY_REDIS_URL`; point
/// `GATEWAY_MONGO_URL` at a real mongod and the same tests run against it. Each test works in a database
/// of its own, dropped at the end.
public enum TestServices {
    /// The repository's root folder, found from this file's path.
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The configuration of a test gateway: the servers from the environment, a free HTTP port,
    /// the repository's migrations and one test source.
    public static func configuration() -> GatewayConfiguration {
        let environment = ProcessInfo.processInfo.environment
        var configuration = GatewayConfiguration()
        configuration.mongoURL = environment["GATEWAY_MONGO_URL"] ?? configuration.mongoURL
        configuration.redisURL = environment["GATEWAY_REDIS_URL"] ?? configuration.redisURL
        configuration.httpPort = 0
        configuration.mongoPoolSize = 8
        // The suites start together, and SecantusDB, on one thread, serves their migrations and seeding one after
        // another: an operation may wait longer than the production default before it is answered.
        configuration.mongoSocketTimeout = .seconds(60)
        configuration.migrationsDirectory = repositoryRoot.appendingPathComponent("migrations").path
        configuration.webhookSecrets = [Fixtures.source: [Fixtures.secret]]
        return configuration
    }

    /// A unique database name, so tests can run in parallel and leave nothing behind.
    public static func uniqueDatabaseName(_ purpose: String) -> String {
        "test_\(purpose)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Opens resources on a fresh, migrated database, runs `body`, then drops the database and closes.
    public static func withMigratedDatabase<T>(
        _ purpose: String, configuration: GatewayConfiguration = TestServices.configuration(),
        _ body: (GatewayResources) async throws -> T
    ) async throws -> T {
        try await GatewayResources.using(configuration, databaseName: uniqueDatabaseName(purpose)) { resources in
            do {
                try await resources.migrations(configuration).applyPending()
                let result = try await body(resources)
                try? await resources.mongo.dropDatabase()
                return result
            } catch {
                try? await resources.mongo.dropDatabase()
                throw error
            }
        }
    }
}
