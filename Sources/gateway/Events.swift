import ArgumentParser
import Foundation
import GatewayAdapters
import GatewayCore

/// `gateway events …`: what auditors and operators read, straight from the inbox.
struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read events and dead letters from MongoDB.", subcommands: [Show.self, DeadLetters.self, Counts.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one event's document: status, attempts, result and its whole attempt history.")

        @Option(help: "The source the event was posted to.") var source: String
        @Option(help: "The event id (webhook-id).") var id: String
        @OptionGroup var settings: SettingOptions

        func run() async throws {
            let configuration = try settings.load()
            let document = try await GatewayResources.using(configuration) { resources in
                try await MongoAuditQueries(pool: resources.mongo).event(EventKey(source: source, eventId: id))
            }
            guard let document else { throw StartupError("no event \(source):\(id) in the inbox") }
            print(document.relaxedExtendedJSON)
        }
    }

    struct DeadLetters: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dead-letters", abstract: "Print the newest dead letters, one JSON document per line.")

        @Option(help: "How many.") var limit = 20
        @OptionGroup var settings: SettingOptions

        func run() async throws {
            let configuration = try settings.load()
            let letters = try await GatewayResources.using(configuration) { resources in
                try await MongoAuditQueries(pool: resources.mongo).deadLetters(limit: limit)
            }
            for letter in letters { print(letter.relaxedExtendedJSON) }
        }
    }

    struct Counts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print how many events are in each lifecycle state.")

        @OptionGroup var settings: SettingOptions

        func run() async throws {
            let configuration = try settings.load()
            try await GatewayResources.using(configuration) { resources in
                let inbox = MongoInboxStore(pool: resources.mongo)
                let audit = MongoAuditQueries(pool: resources.mongo)
                for status in EventStatus.allCases {
                    print("\(status.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0))\(try await audit.count(status: status))")
                }
            }
        }
    }
}
