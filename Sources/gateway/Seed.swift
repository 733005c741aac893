import ArgumentParser
import GatewayAdapters

/// `gateway seed shipments --count N`: demo and test shipments.
struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create demo data.", subcommands: [Shipments.self])

    struct Shipments: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create shipments SHP-000001 … SHP-{count}; existing ones are left as they are.")

        @Option(help: "How many shipments.")
        var count: Int

        @OptionGroup var settings: SettingOptions

        func validate() throws {
            guard (1...10_000_000).contains(count) else { throw ValidationError("--count must be between 1 and 10000000") }
        }

        func run() async throws {
            let configuration = try settings.load()
            let created = try await GatewayResources.using(configuration) { resources in
                try await MongoShipmentSeeder(pool: resources.mongo).seed(count: count)
            }
            print("created \(created) shipments (\(count - created) existed already)")
        }
    }
}
