import ArgumentParser
import GatewayAdapters

/// `gateway migrate`: applies pending migrations; safe to run twice or concurrently.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the pending migrations in order and record each in schema_migrations.",
        discussion: "Idempotent: running it again, or in two processes at once, applies nothing twice.")

    @Flag(help: "Only list the pending migrations.")
    var dryRun = false

    @OptionGroup var settings: SettingOptions

    func run() async throws {
        var configuration = try settings.load()
        // An index build on a large collection answers only when it is done.
        configuration.mongoSocketTimeout = max(configuration.mongoSocketTimeout, .seconds(600))
        try await GatewayResources.using(configuration) { resources in
            let runner = resources.migrations(configuration)
            if dryRun {
                let pending = try await runner.pending()
                print(pending.isEmpty ? "no pending migrations" : pending.map { "pending \($0.id): \($0.description)" }.joined(separator: "\n"))
                return
            }
            let applied = try await runner.applyPending()
            print(applied.isEmpty ? "no pending migrations" : applied.map { "applied \($0.id): \($0.description)" }.joined(separator: "\n"))
        }
    }
}
