public import ArgumentParser
import Foundation
import GatewayAdapters
import GatewayCore

/// `gateway events …` and `gateway shipment history`: what auditors and operators read, straight from the inbox.
struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List events and show one with its whole history.", subcommands: [List.self, Show.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List events, newest first, without payloads.",
            discussion: "Filters combine. --since and --until bound receivedAt: an ISO 8601 instant, a date, or an age such as 2h or 7d.")

        @Option(help: "Only this status: \(EventStatus.allCases.map(\.rawValue).joined(separator: ", ")).") var status: EventStatus?
        @Option(help: "Only this source.") var source: String?
        @Option(help: "Only events of this shipment.") var shipment: String?
        @Option(help: "Received at or after.") var since: String?
        @Option(help: "Received before.") var until: String?
        @Option(help: "At most this many.") var limit = 50
        @OptionGroup var output: OutputOptions
        @OptionGroup var settings: SettingOptions

        func validate() throws {
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 10000") }
        }

        func run() async throws {
            let filter = OperatorQueries.EventFilter(
                status: status, source: source, shipmentId: shipment, since: try since.map { try InstantArgument.parse($0) },
                until: try until.map { try InstantArgument.parse($0) })
            let configuration = try settings.load()
            let page = try await GatewayResources.using(configuration) { resources in
                try await OperatorQueries(resources: resources, configuration: configuration).events(filter, limit: limit)
            }
            if output.json { return print(JSONValue.array(page.events.map { JSONValue(.document($0)) }).pretty) }
            var table = Table("RECEIVED", "SOURCE", "EVENT", "STATUS", "ATTEMPTS", "SHIPMENT", "TYPE")
            for event in page.events {
                table.add(
                    (event["receivedAt"]?.dateValue).cell, event["source"]?.stringValue ?? "-", event["eventId"]?.stringValue ?? "-",
                    event["status"]?.stringValue ?? "-", "\(event["attempts"]?.intValue ?? 0)", event["shipmentId"]?.stringValue ?? "-",
                    event["type"]?.stringValue ?? "-")
            }
            print(table.rendered)
            if page.nextCursor != nil { print("(more: raise --limit or narrow the filters)") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one event's document, pretty-printed: status, attempts, result, its whole history, and its dead letter.")

        @Option(help: "The source the event was posted to.") var source: String
        @Option(help: "The event id (webhook-id).") var id: String
        @OptionGroup var output: OutputOptions
        @OptionGroup var settings: SettingOptions

        func run() async throws {
            let configuration = try settings.load()
            let key = EventKey(source: source, eventId: id)
            let found = try await GatewayResources.using(configuration) { resources in
                try await OperatorQueries(resources: resources, configuration: configuration).event(key)
            }
            guard let found else { throw StartupError("no event \(key) in the inbox") }
            let shown = JSONValue.object([
                ("event", JSONValue(.document(found.event))), ("deadLetter", found.deadLetter.map { JSONValue(.document($0)) } ?? .null),
            ])
            print(output.json ? shown.serialized : shown.pretty)
        }
    }
}

/// `gateway shipment history SHP-…`: one shipment's events in the order they happened, each with its attempts.
struct Shipment: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Follow one shipment across its events.", subcommands: [History.self])

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every event of a shipment (by occurredAt) with its history entries: one table, attempts included.")

        @Argument(help: "The shipment id, e.g. SHP-000123.") var shipmentId: String
        @OptionGroup var output: OutputOptions
        @OptionGroup var settings: SettingOptions

        func run() async throws {
            let configuration = try settings.load()
            let events = try await GatewayResources.using(configuration) { resources in
                try await OperatorQueries(resources: resources, configuration: configuration).shipmentEvents(shipmentId)
            }
            if output.json { return print(JSONValue.array(events.map { JSONValue(.document($0)) }).pretty) }
            guard !events.isEmpty else { return print("no events for shipment \(shipmentId)") }
            var table = Table("AT", "EVENT", "TYPE", "STEP", "DETAIL")
            for event in events {
                let name = "\(event["source"]?.stringValue ?? "?"):\(event["eventId"]?.stringValue ?? "?")"
                let status = event["payload"]?.documentValue?["status"]?.stringValue ?? event["type"]?.stringValue ?? "-"
                table.add((event["receivedAt"]?.dateValue).cell, name, status, "received", "occurredAt \((event["occurredAt"]?.dateValue).cell)")
                for entry in (event["history"]?.arrayValue ?? []).compactMap(\.documentValue) {
                    table.add((entry["finishedAt"]?.dateValue).cell, name, "", Self.step(entry), Self.detail(entry))
                }
                table.add(
                    "", name, "", "now \(event["status"]?.stringValue ?? "?")", event["result"].map { "result \(JSONValue($0).serialized)" } ?? "")
            }
            print(table.rendered)
        }

        private static func step(_ entry: BSONDocument) -> String {
            let outcome = entry["outcome"]?.stringValue ?? "?"
            guard let attempt = entry["attempt"]?.intValue, outcome != "replayed" else { return outcome }
            return "\(outcome) (attempt \(attempt))"
        }

        private static func detail(_ entry: BSONDocument) -> String {
            var parts: [String] = []
            if let by = entry["by"]?.stringValue { parts.append("by \(by)") }
            if let reason = entry["reason"]?.stringValue { parts.append("why: \(reason)") }
            if let error = entry["error"]?.stringValue { parts.append(error) }
            if let latency = entry["routingLatencyMs"]?.intValue { parts.append("routing \(latency) ms") }
            return parts.joined(separator: "; ")
        }
    }
}

extension EventStatus: ExpressibleByArgument {}
