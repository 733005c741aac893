import Foundation
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import GatewayAdapters

/// The admin API over HTTP against the real store: who may use it (none, wrong, rotated tokens, turned off), and
/// what it answers for events, dead letters and replays.
@Suite("The admin API, against the real store")
struct AdminAPITests {
    let logger = Logger(label: "test")
    static let current = "tok-current-0123456789abcdef"
    static let previous = "tok-previous-0123456789abcdef"

    private func configuration(tokens: String?) throws -> GatewayConfiguration {
        var configuration = TestServices.configuration()
        configuration.streamName = "test:\(TestServices.uniqueDatabaseName("admin"))"
        if let tokens { configuration.adminTokens = try GatewayConfiguration.parseAdminTokens(tokens) }
        return configuration
    }

    private func withAPI(
        tokens: String? = "ops=\(current);ops-old=\(previous)", _ body: @Sendable (any TestClientProtocol, GatewayResources) async throws -> Void
    )
        async throws
    {
        let configuration = try configuration(tokens: tokens)
        try await TestServices.withMigratedDatabase("admin", configuration: configuration) { resources in
            let app = GatewayRuntime.buildAPI(configuration: configuration, resources: resources, logger: logger)
            try await app.test(.live) { client in try await body(client, resources) }
        }
    }

    private func get(_ client: any TestClientProtocol, _ uri: String, token: String? = current) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: uri, method: .get, headers: headers)
    }

    private func post(_ client: any TestClientProtocol, _ uri: String, json: String, token: String = current) async throws -> TestResponse {
        try await client.execute(
            uri: uri, method: .post, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"], body: ByteBuffer(string: json))
    }

    private func json(_ response: TestResponse) throws -> JSONValue {
        try JSONValue(parsing: Array(buffer: response.body))
    }

    @Test func everyAdminPathWantsAValidTokenAndSaysNothingAboutWhichWasWrong() async throws {
        try await withAPI { client, _ in
            for uri in ["/v1/stats", "/v1/check", "/v1/events", "/v1/dead-letters", "/v1/events/s/e"] {
                let missing = try await get(client, uri, token: nil)
                let wrong = try await get(client, uri, token: "tok-current-0123456789abcdeX")
                #expect(missing.status == .unauthorized && wrong.status == .unauthorized, "\(uri)")
                #expect(missing.text == wrong.text && missing.headers[.wwwAuthenticate] != nil)
            }
            let replay = try await client.execute(
                uri: "/v1/dead-letters/replay", method: .post, body: ByteBuffer(string: #"{"all":true,"reason":"x"}"#))
            #expect(replay.status == .unauthorized)
            #expect(try await get(client, "/v1/stats").status == .ok)
            #expect(try await get(client, "/v1/stats", token: Self.previous).status == .ok, "the old token still works during a rotation")
        }
    }

    @Test func withNoTokenConfiguredTheAdminAPIIsOff() async throws {
        try await withAPI(tokens: nil) { client, _ async throws in
            #expect(try await get(client, "/v1/stats").status == .notFound)
            #expect(try await get(client, "/v1/events").status == .notFound)
            #expect(try await get(client, "/healthz").status == .ok)
        }
    }

    @Test func unusableTokensAreRefusedAtStartUpWithoutEchoingThem() {
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration.parseAdminTokens("ops=short") }
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration.parseAdminTokens("ops=\(Self.current);ops=\(Self.previous)") }
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration.parseAdminTokens("just-a-token-0123456789") }
        do {
            _ = try GatewayConfiguration.parseAdminTokens("ops=secret-but-short")
        } catch {
            #expect(!error.description.contains("secret-but-short"))
        }
    }

    @Test func aReplayThroughTheAPIIsRecordedUnderTheTokensName() async throws {
        try await withAPI { client, resources in
            let key = EventKey(source: Fixtures.source, eventId: "api-dead")
            let inbox = MongoInboxStore(pool: resources.mongo)
            _ = try await inbox.insert(
                try NewEvent(key: key, body: Array(Fixtures.body(shipmentId: "SHP-NONE").utf8), receivedAt: Date(), encoder: inbox.payloadEncoder))
            let process = ProcessEvent(
                events: MongoWorkerStore(pool: resources.mongo), shipments: MongoShipmentStore(pool: resources.mongo),
                routing: ScriptedRoutingService(), policy: ProcessingPolicy(parkWindow: .zero),
                breaker: CircuitBreaker(failureThreshold: 0, coolDown: .seconds(1)), rateLimit: TokenBucket(ratePerSecond: 0),
                routingCalls: ConcurrencyLimit(1), workerId: "w", leaseDuration: .seconds(30))
            #expect(try await process(key) == .moved(to: .dead))

            let listed = try json(try await get(client, "/v1/dead-letters?class=unknown_shipment"))
            guard case .array(let dead) = listed["deadLetters"] else {
                Issue.record("no deadLetters array")
                return
            }
            #expect(dead.count == 1 && dead.first?["eventId"] == .string("api-dead") && dead.first?["failureClass"] == .string("unknown_shipment"))
            let groups = try json(try await get(client, "/v1/dead-letters?groupBy=class"))
            #expect(groups["groups"]?.serialized.contains("unknown_shipment") == true)

            let invalid = try await post(client, "/v1/dead-letters/replay", json: #"{"all":true}"#)
            #expect(invalid.status == .badRequest, "a replay needs a reason")
            let both = try await post(client, "/v1/dead-letters/replay", json: #"{"all":true,"class":"permanent","reason":"x"}"#)
            #expect(both.status == .badRequest)

            let dry = try await post(client, "/v1/dead-letters/replay", json: #"{"class":"unknown_shipment","dryRun":true,"reason":"INC-7"}"#)
            #expect(dry.status == .ok)
            #expect(try json(dry)["replayed"] == .array([.object([("source", .string(key.source)), ("eventId", .string(key.eventId))])]))
            let done = try await post(
                client, "/v1/dead-letters/replay", json: #"{"events":[{"source":"\#(key.source)","eventId":"api-dead"}],"reason":"INC-7"}"#,
                token: Self.previous)
            #expect(try json(done)["dryRun"] == .bool(false))

            let shown = try json(try await get(client, "/v1/events/\(key.source)/api-dead"))
            #expect(shown["event"]?["status"] == .string("received"))
            let history = shown["event"]?["history"]
            #expect(history?.serialized.contains(#""by":"ops-old""#) == true, "the rotated-out token's name is who replayed")
            #expect(shown["deadLetter"]?["replayedBy"] == .string("ops-old"))
            #expect(try await get(client, "/v1/events/\(key.source)/absent").status == .notFound)
        }
    }

    @Test func eventPagesStatsAndCheckAnswerWithTheirDocumentedShapes() async throws {
        try await withAPI { client, resources in
            let inbox = MongoInboxStore(pool: resources.mongo)
            for index in 1...5 {
                _ = try await inbox.insert(
                    try NewEvent(
                        key: EventKey(source: Fixtures.source, eventId: "p-\(index)"), body: Array(Fixtures.body().utf8), receivedAt: Date(),
                        encoder: inbox.payloadEncoder))
            }
            var ids: [String] = []
            var uri = "/v1/events?source=\(Fixtures.source)&limit=2"
            while true {
                let page = try json(try await get(client, uri))
                guard case .array(let events) = page["events"] else {
                    Issue.record("no events array")
                    return
                }
                ids += events.compactMap { $0["eventId"]?.stringValue }
                guard let cursor = page["nextCursor"]?.stringValue else { break }
                uri = "/v1/events?source=\(Fixtures.source)&limit=2&cursor=\(cursor)"
            }
            #expect(ids == ["p-5", "p-4", "p-3", "p-2", "p-1"])
            #expect(try await get(client, "/v1/events?status=nonsense").status == .badRequest)
            #expect(try await get(client, "/v1/events?limit=0").status == .badRequest)
            #expect(try await get(client, "/v1/events?since=yesterday-ish").status == .badRequest)
            #expect(try await get(client, "/v1/events?cursor=zz").status == .badRequest)

            let stats = try json(try await get(client, "/v1/stats"))
            #expect(stats["byStatus"]?["received"] == .integer(5))
            let check = try json(try await get(client, "/v1/check"))
            #expect(check["ok"] == .bool(true))
        }
    }
}
