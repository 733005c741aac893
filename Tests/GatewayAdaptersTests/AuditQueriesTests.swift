import Foundation
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import Testing

@testable import GatewayAdapters

/// Every query `docs/auditing.md` offers auditors is read from the doc and run against a store seeded through the
/// gateway's own code paths with a known history: a renamed field or a changed shape fails here, not in an audit.
@Suite("docs/auditing.md queries, against the real store")
struct AuditQueriesTests {
    static let start = try! Date("2026-12-01T10:00:00Z", strategy: .iso8601)
    let clock = ManualTimeSource(AuditQueriesTests.start)

    @Test func everyDocumentedQueryRunsAndFindsTheSeededHistory() async throws {
        let doc = try String(contentsOf: TestServices.repositoryRoot.appendingPathComponent("docs/auditing.md"), encoding: .utf8)
        let queries = try DocumentedQuery.all(in: doc)
        #expect(
            Set(queries.map(\.name)) == [
                "shipment-timeline", "retried-in-range", "dead-letters-by-reason", "replays", "not-terminal", "routing-decisions",
                "shipment-current-route",
            ])
        try await TestServices.withMigratedDatabase("audit") { resources in
            try await seed(resources)
            var results: [String: [BSONDocument]] = [:]
            for query in queries { results[query.name] = try await query.run(on: resources.mongo) }

            let timeline = results["shipment-timeline"] ?? []
            #expect(timeline.map { $0["eventId"]?.stringValue ?? "" } == ["created", "retried", "retried", "late", "refused"])
            #expect(timeline.map { $0["step"]?.stringValue ?? "-" } == ["processed", "retry", "processed", "-", "dead"])
            #expect(results["retried-in-range"]?.map { $0["eventId"] } == [.string("retried")])
            let byReason = results["dead-letters-by-reason"] ?? []
            #expect(byReason.map { $0["_id"] } == [.string("permanent"), .string("unknown_shipment")])
            #expect(byReason.allSatisfy { $0["count"]?.intValue == 1 })
            let replays = results["replays"] ?? []
            #expect(replays.map { $0["eventId"] } == [.string("orphan")])
            #expect(replays.first?["by"] == .string("ops-alice") && replays.first?["reason"] == .string("shipment imported, INC-42"))
            #expect(results["not-terminal"]?.map { $0["eventId"] } == [.string("late"), .string("orphan")])
            let decisions = results["routing-decisions"] ?? []
            #expect(decisions.map { $0["eventId"] } == [.string("created"), .string("retried")])
            #expect(decisions.allSatisfy { $0[path: "result.hub"] == .string(ScriptedRoutingService.decision.hub) })
            let shipment = try #require(results["shipment-current-route"]?.first)
            #expect(shipment[path: "route.routeCode"] == .string(ScriptedRoutingService.decision.routeCode))
            #expect(shipment["lastEventId"]?.stringValue?.hasSuffix(":retried") == true)
        }
    }

    /// Through the use cases, on a clock starting 2026-12-01 10:00 UTC: `created` processed; `retried` failed once,
    /// then processed; `late` still received; `orphan` dead (unknown shipment), then replayed; `refused` dead
    /// (permanent). All but `orphan` belong to SHP-000001.
    private func seed(_ resources: GatewayResources) async throws {
        _ = try await MongoShipmentSeeder(pool: resources.mongo).seed(count: 1, now: clock.now())
        let shipment = MongoShipmentSeeder.shipmentId(1)
        let routing = ScriptedRoutingService { key, call in
            switch (key.eventId, call) {
            case ("retried", 1): .failure(RoutingFailure(.transient, "routing service answered 503"))
            case ("refused", _): .failure(RoutingFailure(.permanent, "routing service answered 422: unroutable"))
            default: .success(ScriptedRoutingService.decision)
            }
        }
        let process = ProcessEvent(
            events: MongoWorkerStore(pool: resources.mongo), shipments: MongoShipmentStore(pool: resources.mongo), routing: routing,
            policy: ProcessingPolicy(
                retry: RetryPolicy(base: .seconds(1), factor: 2, cap: .seconds(10), jitter: 0, maxAttempts: 3), parkWindow: .zero),
            breaker: CircuitBreaker(failureThreshold: 0, coolDown: .seconds(1)), rateLimit: TokenBucket(ratePerSecond: 0),
            routingCalls: ConcurrencyLimit(4), workerId: "worker-audit", leaseDuration: .seconds(30), clock: clock)
        let inbox = MongoInboxStore(pool: resources.mongo)
        func ingest(_ id: String, shipment: String) async throws -> EventKey {
            clock.advance(by: .seconds(1))
            let key = EventKey(source: Fixtures.source, eventId: id)
            let event = try NewEvent(
                key: key, body: Array(Fixtures.body(shipmentId: shipment).utf8), receivedAt: clock.now(), encoder: inbox.payloadEncoder)
            #expect(try await inbox.insert(event) == .stored)
            return key
        }
        #expect(try await process(try await ingest("created", shipment: shipment)) == .moved(to: .processed))
        let retried = try await ingest("retried", shipment: shipment)
        #expect(try await process(retried) == .moved(to: .retryScheduled))
        clock.advance(by: .seconds(2))
        #expect(try await process(retried) == .moved(to: .processed))
        _ = try await ingest("late", shipment: shipment)
        let orphan = try await ingest("orphan", shipment: "SHP-NOWHERE")
        #expect(try await process(orphan) == .moved(to: .dead))
        #expect(try await process(try await ingest("refused", shipment: shipment)) == .moved(to: .dead))
        clock.advance(by: .seconds(60))
        let replay = try await ReplayDeadEvents(store: MongoDeadEventStore(pool: resources.mongo), clock: clock).run(
            .keys([orphan]), replay: try Replay(by: "ops-alice", reason: "shipment imported, INC-42"), dryRun: false)
        #expect(replay.replayed.count == 1)
    }
}

/// A `mongosh` query as `docs/auditing.md` writes it: `db.<collection>.find(<filter>[, <projection>])[.sort(<sort>)]`
/// or `db.<collection>.aggregate([<stage>, …])`, with JavaScript object literals (unquoted keys, `ISODate("…")`).
struct DocumentedQuery {
    enum Operation {
        case find(filter: BSONDocument, projection: BSONDocument?, sort: BSONDocument?)
        case aggregate([BSON])
    }

    let name: String
    let collection: String
    let operation: Operation

    struct Unreadable: Error, CustomStringConvertible {
        let description: String
    }

    /// The queries of `markdown`, each a ```js block right after a `<!-- query: name -->` line.
    static func all(in markdown: String) throws -> [DocumentedQuery] {
        try markdown.matches(of: /<!-- query: ([\w-]+) -->\n```js\n([\s\S]*?)```/).map {
            try DocumentedQuery(name: String($0.output.1), code: String($0.output.2))
        }
    }

    init(name: String, code: String) throws {
        self.name = name
        let text = code.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let call = text.wholeMatch(of: /db\.(\w+)\.(find|aggregate)\(([\s\S]*?)\)(?:\.sort\(([\s\S]*)\))?/) else {
            throw Unreadable(description: "\(name): not db.<collection>.find(…)[.sort(…)] or .aggregate([…])")
        }
        collection = String(call.output.1)
        var arguments = try Self.topLevelArguments(String(call.output.3)).map { try Self.bson(fromJavaScript: $0) }
        let sort = try call.output.4.map { try Self.bson(fromJavaScript: String($0)) }
        if call.output.2 == "aggregate" {
            guard arguments.count == 1, case .array(let stages) = arguments[0] else {
                throw Unreadable(description: "\(name): aggregate takes one array")
            }
            operation = .aggregate(stages)
        } else {
            guard (1...2).contains(arguments.count), case .document(let filter) = arguments.removeFirst() else {
                throw Unreadable(description: "\(name): find takes a filter and a projection")
            }
            operation = .find(filter: filter, projection: arguments.first?.documentValue, sort: sort?.documentValue)
        }
    }

    func run(on pool: MongoConnectionPool) async throws -> [BSONDocument] {
        let (collection, operation) = (self.collection, self.operation)
        return try await pool.withDatabase("run \(name)") { database in
            switch operation {
            case .aggregate(let stages):
                return try database.collection(collection).aggregate(stages)
            case .find(let filter, let projection, let sort):
                var options: BSONDocument = [:]
                if let projection { options.append("projection", .document(projection)) }
                if let sort { options.append("sort", .document(sort)) }
                return try database.collection(collection).find(filter, options: options)
            }
        }
    }

    /// The arguments of a call, split at the commas outside brackets and strings.
    private static func topLevelArguments(_ text: String) throws -> [String] {
        var arguments: [String] = []
        var current = ""
        var depth = 0
        var quote: Character?
        for character in text {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if "{[(".contains(character) {
                depth += 1
            } else if "}])".contains(character) {
                depth -= 1
            } else if character == ",", depth == 0 {
                arguments.append(current)
                current = ""
                continue
            }
            current.append(character)
        }
        guard depth == 0, quote == nil else { throw Unreadable(description: "unbalanced: \(text)") }
        if !current.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { arguments.append(current) }
        return arguments
    }

    /// A JavaScript literal as BSON: keys quoted, single quotes made double, `ISODate("x")` a date.
    private static func bson(fromJavaScript text: String) throws -> BSON {
        var json = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character == "\"" || character == "'" {
                let close = text[text.index(after: index)...].firstIndex(of: character) ?? text.endIndex
                json += "\"" + text[text.index(after: index)..<close] + "\""
                index = close < text.endIndex ? text.index(after: close) : close
            } else if character.isLetter || character == "$" || character == "_" {
                let end = text[index...].firstIndex { !($0.isLetter || $0.isNumber || $0 == "$" || $0 == "_") } ?? text.endIndex
                let word = String(text[index..<end])
                let rest = text[end...].drop { $0.isWhitespace }
                if word == "ISODate", rest.first == "(" {
                    let open = rest.startIndex
                    guard let close = text[open...].firstIndex(of: ")") else { throw Unreadable(description: "ISODate without ')'") }
                    let argument = text[text.index(after: open)..<close].trimmingCharacters(in: CharacterSet(charactersIn: "\"' "))
                    json += #"{"$date":"\#(argument)"}"#
                    index = text.index(after: close)
                    continue
                }
                json += rest.first == ":" ? "\"\(word)\"" : word
                index = end
            } else {
                json.append(character)
                index = text.index(after: index)
            }
        }
        return dates(BSON(try JSONValue(parsing: Array(json.utf8))))
    }

    /// `{"$date": "…"}` as a BSON date, wherever it is.
    private static func dates(_ value: BSON) -> BSON {
        switch value {
        case .document(let document):
            if document.fields.count == 1, document.fields[0].key == "$date", let text = document.fields[0].value.stringValue,
                let date = try? Date(text, strategy: .iso8601)
            {
                return .date(date)
            }
            return .document(BSONDocument(document.fields.map { ($0.key, dates($0.value)) }))
        case .array(let elements): return .array(elements.map(dates))
        default: return value
        }
    }
}
