import Foundation
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PropertyBased
import Synchronization
import Testing

@testable import GatewayAdapters

@Suite("Ingest over HTTP, against the real store")
struct IngestHTTPTests {
    let logger = Logger(label: "test")

    @Test func aNewEventIsAcceptedThenADuplicateIsAcknowledgedWithoutAWrite() async throws {
        try await TestServices.withMigratedDatabase("ingest") { resources in
            let app = GatewayRuntime.buildAPI(configuration: TestServices.configuration(), resources: resources, logger: logger)
            let body = Fixtures.body()
            try await app.test(.live) { client in
                let first = try await client.deliver(id: "evt-1", body: body)
                #expect(first.status == .accepted)
                #expect(first.text == #"{"id":"evt-1","status":"accepted"}"#)
                let second = try await client.deliver(id: "evt-1", body: body)
                #expect(second.status == .ok)
                #expect(second.text == #"{"id":"evt-1","status":"duplicate"}"#)
            }
            let audit = MongoAuditQueries(pool: resources.mongo)
            #expect(try await audit.count() == 1)
            let stored = try #require(try await audit.event(EventKey(source: Fixtures.source, eventId: "evt-1")))
            #expect(stored["status"] == .string("received"))
            #expect(stored["attempts"]?.intValue == 0)
            #expect(stored["type"] == .string("shipment.status_updated"))
            #expect(stored["shipmentId"] == .string("SHP-000123"))
            #expect(stored["history"] == .array([]))
            #expect(stored[path: "payload.data.hub"] == .string("AMS-1"))
            #expect(stored[path: "payload.data.scans"] == .array([.int32(1), .double(2.5), .bool(true), .null]))
            #expect(stored["receivedAt"]?.dateValue != nil)
            #expect(stored["availableAt"] == stored["receivedAt"])
        }
    }

    @Test func svixHeaderNamesAreAcceptedAsAliases() async throws {
        try await TestServices.withMigratedDatabase("svix") { resources in
            let app = GatewayRuntime.buildAPI(configuration: TestServices.configuration(), resources: resources, logger: logger)
            let body = Fixtures.body()
            let headers = Fixtures.signedHeaders(id: "evt-svix", body: body).map {
                (name: $0.name.replacingOccurrences(of: "webhook-", with: "svix-"), value: $0.value)
            }
            try await app.test(.live) { client in
                let response = try await client.deliver(id: "evt-svix", body: body, headers: headers)
                #expect(response.status == .accepted)
            }
        }
    }

    @Test func rejectedDeliveriesStoreNothingAndSayWhy() async throws {
        var configuration = TestServices.configuration()
        configuration.maxBodyBytes = 1_024
        try await TestServices.withMigratedDatabase("rejects", configuration: configuration) { resources in
            let app = GatewayRuntime.buildAPI(configuration: configuration, resources: resources, logger: logger)
            let body = Fixtures.body()
            let stale = Int64(Date().timeIntervalSince1970) - 3_600
            let wrongSecret = WebhookSecret(key: Array("not the secret".utf8))
            let valid = Fixtures.signedHeaders(id: "evt-x", body: body)
            let cases: [(String, [(name: String, value: String)]?, String, String, HTTPResponse.Status, String)] = [
                (
                    "bad signature", Fixtures.signedHeaders(id: "evt-x", body: body, secret: wrongSecret), Fixtures.source, body, .unauthorized,
                    "invalid_signature"
                ),
                (
                    "stale timestamp", Fixtures.signedHeaders(id: "evt-x", body: body, timestamp: stale), Fixtures.source, body, .unauthorized,
                    "invalid_signature"
                ),
                (
                    "tampered body", valid, Fixtures.source, body.replacingOccurrences(of: "in_transit", with: "delivered"), .unauthorized,
                    "invalid_signature"
                ),
                ("missing headers", [], Fixtures.source, body, .badRequest, "invalid_request"),
                ("missing signature", Array(valid.prefix(2)), Fixtures.source, body, .badRequest, "invalid_request"),
                ("array body", Fixtures.signedHeaders(id: "evt-x", body: "[1]"), Fixtures.source, "[1]", .badRequest, "invalid_payload"),
                ("invalid json", Fixtures.signedHeaders(id: "evt-x", body: "{oops"), Fixtures.source, "{oops", .badRequest, "invalid_payload"),
                ("unknown source", valid, "nobody", body, .notFound, "unknown_source"),
            ]
            try await app.test(.live) { client in
                for (name, headers, source, sentBody, status, code) in cases {
                    let response = try await client.deliver(source: source, id: "evt-x", body: sentBody, headers: headers)
                    #expect(response.status == status, "\(name)")
                    #expect(response.text.contains(#""error":"\#(code)""#), "\(name): \(response.text)")
                    #expect(!response.text.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "\(name) echoes the secret")
                }
                let large = #"{"pad":""# + String(repeating: "x", count: 2_000) + #""}"#
                let tooLarge = try await client.deliver(id: "evt-big", body: large)
                #expect(tooLarge.status == .contentTooLarge)
                #expect(tooLarge.text.contains("payload_too_large"))
            }
            #expect(try await MongoAuditQueries(pool: resources.mongo).count() == 0)
        }
    }

    /// Forged deliveries are answered before Hummingbird sees them, but never ahead of an earlier request's reply.
    @Test func aRejectionPipelinedBehindAnAcceptedDeliveryIsAnsweredSecond() async throws {
        try await TestServices.withMigratedDatabase("pipelined") { resources in
            let app = GatewayRuntime.buildAPI(configuration: TestServices.configuration(), resources: resources, logger: logger)
            let body = Fixtures.body()
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let statuses = try await PipelinedConnection.statuses(
                    port: port,
                    requests: [
                        PipelinedConnection.delivery(id: "evt-first", body: body),
                        PipelinedConnection.delivery(id: "evt-forged", body: body, signature: "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
                        PipelinedConnection.delivery(
                            id: "evt-forged-again", body: body, signature: "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
                        PipelinedConnection.delivery(id: "evt-last", body: body),
                    ])
                #expect(statuses == [202, 401, 401, 202])
            }
            #expect(try await MongoAuditQueries(pool: resources.mongo).count() == 2)
        }
    }

    @Test func fiftyConcurrentDeliveriesOfOneEventStoreExactlyOne() async throws {
        try await TestServices.withMigratedDatabase("concurrent") { resources in
            let app = GatewayRuntime.buildAPI(configuration: TestServices.configuration(), resources: resources, logger: logger)
            let body = Fixtures.body()
            let statuses = try await app.test(.live) { client in
                try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for _ in 0..<50 {
                        group.addTask { try await client.deliver(id: "evt-race", body: body).status }
                    }
                    return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
                }
            }
            #expect(statuses.filter { $0 == .accepted }.count == 1)
            #expect(statuses.filter { $0 == .ok }.count == 49)
            #expect(try await MongoAuditQueries(pool: resources.mongo).count() == 1)
        }
    }

    /// One payload the store cannot take must not fail the deliveries it would have shared a batch with.
    @Test func aPayloadTheStoreCannotTakeFailsAloneWhileConcurrentDeliveriesAreStored() async throws {
        try await TestServices.withMigratedDatabase("offenders") { resources in
            let app = GatewayRuntime.buildAPI(configuration: TestServices.configuration(), resources: resources, logger: logger)
            let offenders = [#"{"":1,"shipmentId":"SHP-000001"}"#, #"{"shipmentId":"SHP-000001","n":{"a":1,"a":2}}"#]
            let stored = #"{"shipmentId":"SHP-000001","$ref":"x","meta":{"order.id":"O-1","$numberLong":"7"}}"#
            let replies = try await app.test(.live) { client in
                try await withThrowingTaskGroup(of: (String, HTTPResponse.Status, String).self) { group in
                    for index in 0..<30 {
                        let body = index % 10 < offenders.count ? offenders[index % 10] : index == 29 ? stored : Fixtures.body()
                        group.addTask {
                            let response = try await client.deliver(id: "evt-\(index)", body: body)
                            return (body, response.status, response.text)
                        }
                    }
                    return try await group.reduce(into: [(String, HTTPResponse.Status, String)]()) { $0.append($1) }
                }
            }
            for (body, status, text) in replies {
                if offenders.contains(body) {
                    #expect(status == .badRequest, "\(body): \(text)")
                    #expect(text.contains(#""error":"invalid_payload""#) && text.contains("body cannot be stored"), "\(text)")
                } else {
                    #expect(status == .accepted, "\(body): \(text)")
                }
            }
            let audit = MongoAuditQueries(pool: resources.mongo)
            #expect(try await audit.count() == 30 - 3 * offenders.count)
            let document = try #require(try await audit.event(EventKey(source: Fixtures.source, eventId: "evt-29")))
            #expect(document[path: "payload.$ref"] == .string("x"))
            #expect(document["payload"]?.documentValue?["meta"]?.documentValue?.fields.map(\.key) == ["order.id", "$numberLong"])
        }
    }

    /// Signed bodies of every shape, valid or mangled: each is answered 202 and stored, or 400 and not stored; never
    /// a 5xx, whatever the parser or the store make of it.
    @Test func hostileBodiesAreAcceptedAndStoredOrRefusedAndNotStored() async throws {
        try await TestServices.withMigratedDatabase("hostile") { resources in
            let app = GatewayRuntime.buildAPI(configuration: TestServices.configuration(), resources: resources, logger: logger)
            let audit = MongoAuditQueries(pool: resources.mongo)
            try await app.test(.live) { client in
                await propertyCheck(count: 150, input: Gen.oneOf(HostileJSON.mutatedObject, HostileJSON.object.map { Array($0.serialized.utf8) })) {
                    body in
                    let id = "hostile-\(UUID().uuidString)"
                    let fields = Fixtures.signedHeaders(id: id, bytes: body).map { HTTPField(name: HTTPField.Name($0.name)!, value: $0.value) }
                    let response = try await client.execute(
                        uri: "/webhooks/\(Fixtures.source)", method: .post, headers: HTTPFields(fields), body: ByteBuffer(bytes: body))
                    let stored = try await audit.event(EventKey(source: Fixtures.source, eventId: id)) != nil
                    #expect([.accepted, .badRequest].contains(response.status), "\(response.status): \(response.text)")
                    #expect(stored == (response.status == .accepted), "\(response.status), stored: \(stored)")
                }
            }
        }
    }

    @Test func healthAndReadinessReportTheDependencies() async throws {
        try await TestServices.withMigratedDatabase("ready") { resources in
            let app = GatewayRuntime.buildAPI(configuration: TestServices.configuration(), resources: resources, logger: logger)
            try await app.test(.live) { client in
                #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
                let ready = try await client.execute(uri: "/readyz", method: .get)
                #expect(ready.status == .ok)
                #expect(ready.text == #"{"status":"ready","mongo":"ok","redis":"ok"}"#)
            }
        }
        var unreachableRedis = TestServices.configuration()
        unreachableRedis.redisURL = "redis://127.0.0.1:\(FreePort.next())/0"
        try await TestServices.withMigratedDatabase("notready", configuration: unreachableRedis) { resources in
            let app = GatewayRuntime.buildAPI(configuration: unreachableRedis, resources: resources, logger: logger)
            try await app.test(.live) { client in
                let ready = try await client.execute(uri: "/readyz", method: .get)
                #expect(ready.status == .serviceUnavailable)
                #expect(ready.text.contains(#""mongo":"ok""#))
                #expect(ready.text.contains(#""redis":"unavailable"#))
            }
        }
    }
}

@Suite("Ingest when the store is down", .serialized)
struct StoreOutageTests {
    @Test func aCrashedStoreGetsA503QuicklyAndNothingIsStored() async throws {
        let server = try await SecantusServer()
        var configuration = TestServices.configuration()
        configuration.mongoURL = server.url(database: "outage")
        configuration.ingestTimeout = .milliseconds(1_500)
        let body = Fixtures.body()
        var restarted: SecantusServer?
        do {
            try await GatewayResources.using(configuration) { resources in
                try await resources.migrations(configuration).applyPending()
                let app = GatewayRuntime.buildAPI(configuration: configuration, resources: resources, logger: Logger(label: "test"))
                try await app.test(.live) { client in
                    // Every acknowledged write must survive the crash: the 202 waits for the journal.
                    for index in 0..<20 {
                        let response = try await client.deliver(id: "before-outage-\(index)", body: body)
                        #expect(response.status == .accepted)
                    }
                    await server.crash()
                    let started = ContinuousClock.now
                    let response = try await client.deliver(id: "during-outage", body: body)
                    let waited = ContinuousClock.now - started
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.retryAfter] != nil)
                    #expect(waited < .seconds(5), "answered after \(waited), not bounded by the ingest timeout")
                }
            }
            restarted = try await server.restarted()
            try await GatewayResources.using(configuration) { resources in
                let audit = MongoAuditQueries(pool: resources.mongo)
                let count = try await audit.count()
                let lost = try await audit.event(EventKey(source: Fixtures.source, eventId: "during-outage"))
                #expect(count == 20)
                #expect(lost == nil)
            }
        } catch {
            await restarted?.destroy()
            await server.destroy()
            throw error
        }
        await restarted?.destroy()
        await server.destroy()
    }

    /// While the store stalls, deliveries beyond the bounded queue are refused at once with `overloaded`, not queued
    /// to wait out their deadline, and the queue takes deliveries again once the store answers.
    @Test func deliveriesPastTheQueueLimitAreRefusedAtOnceWhileTheStoreStalls() async throws {
        let body = Fixtures.body()
        try await withFreezableStore(database: "overloaded") { configuration in
            configuration.ingestTimeout = .seconds(5)
            configuration.mongoSocketTimeout = .seconds(3)
            configuration.ingestBatches = BatchLimits(maxBatch: 1, maxInFlight: 1, maxQueued: 2)
        } _: { server, _, client in
            #expect(try await client.deliver(id: "before-stall", body: body).status == .accepted)
            server.freeze()
            // A connection each, all sent before any is answered.
            let connections = try (0..<8).map { _ in try RawConnection(port: try #require(client.port)) }
            let started = ContinuousClock.now
            for (index, connection) in connections.enumerated() {
                try connection.send(PipelinedConnection.delivery(id: "during-stall-\(index)", body: body))
            }
            let replies = await withTaskGroup(of: (String, Duration).self) { group in
                for connection in connections {
                    group.addTask {
                        let reply = await connection.receive(timeout: .seconds(15)) { PipelinedConnection.statusCodes(in: $0).count == 1 }
                        return (reply.text, ContinuousClock.now - started)
                    }
                }
                return await group.reduce(into: [(String, Duration)]()) { $0.append($1) }
            }
            let refused = replies.filter { $0.0.contains(#""error":"overloaded""#) }
            // One write in flight and two queued: the other five, or six if the first was not taken yet.
            #expect((5...6).contains(refused.count), "\(replies.map(\.0))")
            for (text, waited) in refused {
                #expect(text.lowercased().contains("retry-after: 1\r\n"))
                #expect(waited < .seconds(2), "refused after \(waited), not at once")
            }
            #expect(replies.allSatisfy { PipelinedConnection.statusCodes(in: $0.0) == [503] }, "\(replies.map(\.0))")
            server.thaw()
            #expect(
                try await Self.deliveriesResume(client, idPrefix: "after-stall", body: body),
                "the queue did not take deliveries again after the store answered")
        }
    }

    /// A store that stops answering without closing its connections (SIGSTOP) must neither hold the ingest path past
    /// its deadline nor hold a pool thread past the socket timeout, and the same process resumes once it answers.
    @Test func aFrozenStoreGets503sWithinTheDeadlineAndThePoolRecoversAfterwards() async throws {
        let body = Fixtures.body()
        try await withFreezableStore(database: "frozen") { configuration in
            configuration.ingestTimeout = .milliseconds(1_500)
            configuration.mongoSocketTimeout = .seconds(3)
        } _: { server, resources, client in
            #expect(try await client.deliver(id: "before-freeze", body: body).status == .accepted)
            server.freeze()
            for index in 0..<3 {
                let started = ContinuousClock.now
                let response = try await client.deliver(id: "during-freeze-\(index)", body: body)
                let waited = ContinuousClock.now - started
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] != nil)
                #expect(waited < .milliseconds(2_500), "not answered within the ingest deadline")
                if index == 0 {
                    // Sent at once to the frozen store, it has the whole deadline; the connection's store timer, armed
                    // for the delivery before it, must wait on for this one's.
                    #expect(waited >= .milliseconds(1_500), "answered before its own deadline")
                }
            }
            // A store call without an ingest deadline is given up after the socket timeout, not libmongoc's 5 minutes.
            let ping = Mutex<Bool?>(nil)
            Task {
                let answered = (try? await resources.mongo.ping()) != nil
                ping.withLock { $0 = answered }
            }
            #expect(await Eventually.holds(within: .seconds(10)) { ping.withLock { $0 } != nil }, "a frozen store held a pool thread")
            #expect(ping.withLock { $0 } == false)

            server.thaw()
            #expect(
                try await Self.deliveriesResume(client, idPrefix: "after-thaw", body: body),
                "the api did not resume after the store answered again")
        }
    }

    /// A request that arrives in pieces while the delivery before it on the connection waits for the store is read
    /// whole once that delivery is answered, whether the ingest handler answers it or Hummingbird's route does
    /// (`Connection: close`): its body must not wait for a read nobody asks for.
    @Test func aRequestPipelinedInPiecesBehindAStoringDeliveryIsReadWhole() async throws {
        let body = Fixtures.body()
        try await withFreezableStore(database: "pieces") { server, _, client in
            let port = try #require(client.port)
            #expect(try await client.deliver(id: "before-freeze", body: body).status == .accepted)
            let connections = try (0..<2).map { _ in try RawConnection(port: port) }
            let behind = [
                PipelinedConnection.delivery(id: "pieces-answered-here", body: body),
                PipelinedConnection.delivery(id: "pieces-routed", body: body, closing: true),
            ]
            server.freeze()
            for (index, connection) in connections.enumerated() {
                try connection.send(PipelinedConnection.delivery(id: "pieces-first-\(index)", body: body))
            }
            try await Task.sleep(for: .milliseconds(200))
            for (connection, request) in zip(connections, behind) { try connection.send(String(request.dropLast(10))) }
            try await Task.sleep(for: .milliseconds(200))
            server.thaw()
            try await Task.sleep(for: .milliseconds(300))
            for (connection, request) in zip(connections, behind) { try connection.send(String(request.suffix(10))) }
            for connection in connections {
                let reply = await connection.receive(timeout: .seconds(8)) { PipelinedConnection.statusCodes(in: $0).count == 2 }
                #expect(PipelinedConnection.statusCodes(in: reply.text) == [202, 202], "\(reply.text)")
            }
        }
    }

    /// A pipelined request behind a delivery waiting for the store is not timed while the gateway keeps it waiting,
    /// whether a read cut it short or its first bytes came later: its deadline starts afresh when the delivery ahead
    /// is answered. A client that then never sends the rest still gets its 408.
    @Test func aPipelinedRequestIsNotTimedWhileTheDeliveryAheadWaitsForTheStore() async throws {
        let body = Fixtures.body()
        try await withFreezableStore(database: "timed-after") { configuration in
            configuration.connectionLimits.headTimeout = .seconds(1)
            configuration.connectionLimits.bodyTimeout = .seconds(1)
            configuration.ingestTimeout = .seconds(10)
        } _: { server, _, client in
            let port = try #require(client.port)
            #expect(try await client.deliver(id: "before-freeze", body: body).status == .accepted)
            let (cut, later, abandoning) = try (RawConnection(port: port), RawConnection(port: port), RawConnection(port: port))
            let behind = (0..<3).map { PipelinedConnection.delivery(id: "timed-behind-\($0)", body: body) }
            server.freeze()
            // One write each for the first and third: the delivery ahead and all of the next request but its body's
            // last bytes. The second sends that part of the next request once the delivery ahead waits.
            try cut.send(PipelinedConnection.delivery(id: "timed-ahead-0", body: body) + behind[0].dropLast(10))
            try later.send(PipelinedConnection.delivery(id: "timed-ahead-1", body: body))
            try abandoning.send(PipelinedConnection.delivery(id: "timed-ahead-2", body: body) + behind[2].dropLast(10))
            try await Task.sleep(for: .milliseconds(200))
            try later.send(String(behind[1].dropLast(10)))
            // Past the head and body deadlines, while the deliveries ahead wait for the store.
            try await Task.sleep(for: .milliseconds(1_500))
            server.thaw()
            try await Task.sleep(for: .milliseconds(300))
            for (connection, request) in [(cut, behind[0]), (later, behind[1])] {
                try connection.send(String(request.suffix(10)))
                let finished = await connection.receive(timeout: .seconds(8)) { PipelinedConnection.statusCodes(in: $0).count == 2 }
                #expect(PipelinedConnection.statusCodes(in: finished.text) == [202, 202], "\(finished.text)")
                #expect(!finished.closed)
            }
            let abandoned = await abandoning.receive(timeout: .seconds(8)) { PipelinedConnection.statusCodes(in: $0).count == 2 }
            #expect(PipelinedConnection.statusCodes(in: abandoned.text) == [202, 408], "\(abandoned.text)")
        }
    }

    /// Bytes the HTTP decoder refuses, sent while a delivery waits for the store, are answered (400, then closed) only
    /// after the delivery: the producer must not take the 400 for its delivery's reply.
    @Test func garbageBehindAStoringDeliveryIsAnsweredAfterIt() async throws {
        try await withADeliveryWaitingForTheStore(database: "garbage-behind", replies: 2) { connection in
            try await Task.sleep(for: .milliseconds(200))
            try connection.send("NOT HTTP AT ALL\r\n\r\n")
        } then: { reply in
            #expect(PipelinedConnection.statusCodes(in: reply.text) == [202, 400], "\(reply.text)")
        }
    }

    /// A client that closes its sending side after its delivery, while the delivery waits for the store, still gets
    /// its reply before the connection closes.
    @Test func aClientThatClosesItsSideAfterSendingGetsItsReply() async throws {
        try await withADeliveryWaitingForTheStore(database: "half-closed") { connection in
            try connection.finishSending()
        } then: { reply in
            #expect(PipelinedConnection.statusCodes(in: reply.text) == [202], "\(reply.text)")
            #expect(reply.closed)
        }
    }

    /// Sends a delivery on a connection of its own while the store is frozen, lets `behind` act on the connection
    /// meanwhile, thaws the store and hands `then` what the connection received: until `replies` replies arrived,
    /// or, without it, until the connection closed (8 s at most).
    private func withADeliveryWaitingForTheStore(
        database: String, replies: Int? = nil, _ behind: @escaping @Sendable (RawConnection) async throws -> Void,
        then check: @escaping @Sendable ((text: String, closed: Bool)) -> Void
    ) async throws {
        let body = Fixtures.body()
        try await withFreezableStore(database: database) { server, _, client in
            #expect(try await client.deliver(id: "before-freeze", body: body).status == .accepted)
            let connection = try RawConnection(port: try #require(client.port))
            server.freeze()
            try connection.send(PipelinedConnection.delivery(id: database, body: body))
            try await behind(connection)
            try await Task.sleep(for: .milliseconds(300))
            server.thaw()
            check(
                await connection.receive(timeout: .seconds(8)) { text in
                    replies.map { PipelinedConnection.statusCodes(in: text).count == $0 } ?? false
                })
        }
    }

    /// Runs `body` against the api on a store of its own, which the test may freeze; the store is thawed and destroyed
    /// however `body` ends.
    private func withFreezableStore(
        database: String, _ configure: (inout GatewayConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (SecantusServer, GatewayResources, any TestClientProtocol) async throws -> Void
    ) async throws {
        let server = try await SecantusServer()
        var settings = TestServices.configuration()
        settings.mongoURL = server.url(database: database)
        configure(&settings)
        let configuration = settings
        do {
            try await GatewayResources.using(configuration) { resources in
                try await resources.migrations(configuration).applyPending()
                let app = GatewayRuntime.buildAPI(configuration: configuration, resources: resources, logger: Logger(label: "test"))
                try await app.test(.live) { client in try await body(server, resources, client) }
            }
        } catch {
            server.thaw()
            await server.destroy()
            throw error
        }
        await server.destroy()
    }

    /// Whether the api accepts a delivery again within 20 s, as it should once a stalled store answers.
    private static func deliveriesResume(_ client: any TestClientProtocol, idPrefix: String, body: String) async throws -> Bool {
        var attempt = 0
        return try await Eventually.holds(within: .seconds(20), every: .milliseconds(250)) {
            attempt += 1
            return try await client.deliver(id: "\(idPrefix)-\(attempt)", body: body).status == .accepted
        }
    }
}
