public import ArgumentParser
import Foundation
import GatewayAdapters
import GatewayCore

/// `gateway dlq …`: the dead-letter queue, as operators triage and redrive it.
struct DeadLetterQueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "List, group, show and replay dead letters.",
        discussion: """
            A dead letter is an event whose status is dead (its copy in dead_letters keeps its whole history). \
            Replaying one moves it back to received with a fresh attempt budget; the relay publishes it again.
            """,
        // `dlq show` is `events show`: the event's document with its dead letter.
        subcommands: [List.self, Groups.self, Events.Show.self, Replay.self])

    /// The filter options `list`, `groups` and `replay` share.
    struct FilterOptions: ParsableArguments {
        @Option(name: .customLong("class"), help: "Only this failure class: \(FailureClass.allCases.map(\.rawValue).joined(separator: ", ")).")
        var failureClass: FailureClass?
        @Option(help: "Only this source.") var source: String?
        @Option(help: "Only dead letters with this error fingerprint (see `dlq groups --by fingerprint`).") var fingerprint: String?
        @Option(help: "Only events that died at or after this instant: 2026-12-04T10:00:00Z, 2026-12-04, or an age such as 2h or 7d.")
        var since: String?

        func filter() throws -> DeadEventFilter {
            DeadEventFilter(
                source: source, failureClass: failureClass, fingerprint: fingerprint, since: try since.map { try InstantArgument.parse($0) })
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters, newest first.")

        @OptionGroup var filter: FilterOptions
        @Option(help: "At most this many.") var limit = 50
        @OptionGroup var output: OutputOptions
        @OptionGroup var settings: SettingOptions

        func run() async throws {
            let configuration = try settings.load()
            let dead = try await GatewayResources.using(configuration) { resources in
                try await OperatorQueries(resources: resources, configuration: configuration).deadEvents(try filter.filter(), limit: limit)
            }
            if output.json { return print(JSONValue.array(dead.map(\.json)).pretty) }
            var table = Table("DIED", "SOURCE", "EVENT", "CLASS", "ATTEMPTS", "REPLAYS", "LAST ERROR")
            for event in dead {
                table.add(
                    event.deadAt.cell, event.key.source, event.key.eventId, event.failureClass?.rawValue ?? "-", "\(event.attempts)",
                    "\(event.replayCount)", event.lastError ?? "-")
            }
            print(table.rendered)
        }
    }

    struct Groups: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Count dead letters by failure class or by error fingerprint (the error without its ids and numbers).")

        @Option(help: "Group by: class or fingerprint.") var by: DeadEventGrouping = .failureClass
        @OptionGroup var filter: FilterOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup var settings: SettingOptions

        func run() async throws {
            let configuration = try settings.load()
            let dead = try await GatewayResources.using(configuration) { resources in
                try await OperatorQueries(resources: resources, configuration: configuration).deadEvents(try filter.filter(), limit: .max)
            }
            let groups = DeadEventGroup.grouping(dead, by: by)
            if output.json { return print(JSONValue.array(groups.map(\.json)).pretty) }
            var table = Table("COUNT", "OLDEST", "NEWEST", "EXAMPLE", by == .failureClass ? "CLASS" : "FINGERPRINT")
            for group in groups {
                table.add("\(group.count)", group.oldest.cell, group.newest.cell, "\(group.example)", group.name)
            }
            print(table.rendered)
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead events back to received, with a fresh attempt budget, for the relay to publish again.",
            discussion: """
                Select events by key (--source with one or more --id), or every dead letter that --class, --fingerprint, \
                --source and --since admit together, or --all. Each replayed event keeps its history and gains a \
                'replayed' entry with --by and --reason; its dead letter is marked replayed. Running a replay twice replays \
                once: an event that is no longer dead is skipped and reported.

                Exit status: 0 when every selected event was replayed (or, with --dry-run, would be), 1 when some were \
                skipped, 64 for a wrong selection.
                """)

        @Option(help: "With --id: the events' source; otherwise a filter.") var source: String?
        @Option(name: .customLong("id"), help: "An event id to replay; repeat for several.") var ids: [String] = []
        @Option(name: .customLong("class"), help: "Every dead letter of this failure class.") var failureClass: FailureClass?
        @Option(help: "Every dead letter with this error fingerprint.") var fingerprint: String?
        @Option(help: "Every dead letter that died at or after this instant (ISO 8601, a date, or an age such as 2h).") var since: String?
        @Flag(help: "Every dead letter.") var all = false
        @Flag(help: "Print what would be replayed and change nothing.") var dryRun = false
        @Option(help: "Why: recorded in each event's history and on its dead letter.") var reason: String
        @Option(help: "Who replays (default: the USER environment variable).") var by: String?
        @OptionGroup var output: OutputOptions
        @OptionGroup var settings: SettingOptions

        func validate() throws {
            let filtered = failureClass != nil || fingerprint != nil || since != nil
            if !ids.isEmpty && (filtered || all) { throw ValidationError("select by --id, or by filters, or --all; not several") }
            if ids.isEmpty && !filtered && !all && source == nil {
                throw ValidationError("select what to replay: --source with --id, --class, --fingerprint, --since, or --all")
            }
            if all && (filtered || source != nil) { throw ValidationError("--all replays every dead letter; leave the filters out") }
        }

        func run() async throws {
            let selection: DeadEventSelection =
                ids.isEmpty
                ? .matching(
                    DeadEventFilter(
                        source: source, failureClass: failureClass, fingerprint: fingerprint, since: try since.map { try InstantArgument.parse($0) }))
                : .keys(try EventKeyArgument.parse(source: source, ids: ids))
            let operatorName = by ?? ProcessInfo.processInfo.environment["USER"] ?? ProcessInfo.processInfo.environment["LOGNAME"]
            let replay: GatewayCore.Replay
            do {
                replay = try GatewayCore.Replay(by: operatorName ?? "", reason: reason)
            } catch {
                throw ValidationError(operatorName == nil ? "name who replays with --by" : error.description)
            }
            let configuration = try settings.load()
            let report = try await GatewayResources.using(configuration) { resources in
                try await ReplayDeadEvents(store: MongoDeadEventStore(pool: resources.mongo), sealer: configuration.auditSealer).run(
                    selection, replay: replay, dryRun: dryRun)
            }
            if output.json {
                print(report.json.pretty)
            } else {
                let verb = dryRun ? "would replay" : "replayed"
                print("\(verb) \(report.replayed.count), skipped \(report.skipped.count)")
                var table = Table("OUTCOME", "EVENT", "DETAIL")
                for event in report.replayed { table.add(verb, "\(event.key)", event.failureClass?.rawValue ?? "-") }
                for skip in report.skipped { table.add("skipped", "\(skip.key)", skip.reason) }
                if !table.rows.isEmpty { print(table.rendered) }
            }
            if !report.skipped.isEmpty { throw ExitCode(1) }
        }
    }
}

extension FailureClass: ExpressibleByArgument {}
extension DeadEventGrouping: ExpressibleByArgument {}
