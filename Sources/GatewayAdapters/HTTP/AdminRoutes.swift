import Foundation
public import GatewayCore
import HTTPTypes
public import Hummingbird

/// The admin API under `/v1/…` on the api role: what `gateway stats`, `check`, `events` and `dlq` answer, for
/// dashboards and runbooks, behind bearer tokens (``AdminTokens``). Registered only when a token is configured, so
/// with none every `/v1/…` path is 404. Described in `openapi.yaml`.
public struct AdminRoutes: Sendable {
    private let tokens: AdminTokens
    private let queries: OperatorQueries
    private let replays: ReplayDeadEvents

    /// The largest replay request body read.
    static let maxRequestBytes = 1 << 20
    /// The most events a page or a dead-letter listing returns.
    static let maxLimit = 1_000

    /// Creates the routes on the operator queries and the replay use case.
    public init(tokens: AdminTokens, queries: OperatorQueries, replays: ReplayDeadEvents) {
        self.tokens = tokens
        self.queries = queries
        self.replays = replays
    }

    /// Adds the routes to `router`, unless no token is configured.
    public func register<Context: RequestContext>(on router: Router<Context>) {
        guard !tokens.isEmpty else { return }
        let v1 = router.group("v1")
        v1.get("stats") { request, _ in
            try await authorized(request) { _ in try await queries.stats().json }
        }
        v1.get("check") { request, _ in
            try await authorized(request) { _ in try await queries.check().json }
        }
        v1.get("events") { request, _ in
            try await authorized(request) { _ in try await events(request.uri.queryParameters) }
        }
        v1.get("events/:source/:id") { request, context in
            let key = EventKey(source: try context.parameters.require("source"), eventId: try context.parameters.require("id"))
            return try await authorized(request) { _ in
                guard let found = try await queries.event(key) else { throw AdminRequestError.notFound("no event \(key)") }
                return .object([
                    ("event", JSONValue(.document(found.event))), ("deadLetter", found.deadLetter.map { JSONValue(.document($0)) } ?? .null),
                ])
            }
        }
        v1.get("dead-letters") { request, _ in
            try await authorized(request) { _ in try await deadLetters(request.uri.queryParameters) }
        }
        v1.post("dead-letters/replay") { request, _ in
            try await authorized(request) { name in
                let body = try await request.body.collect(upTo: Self.maxRequestBytes)
                return try await replay(ReplayRequest(parsing: Array(buffer: body), by: name))
            }
        }
    }

    // MARK: Handlers

    private func events(_ query: Parameters) async throws -> JSONValue {
        let filter = OperatorQueries.EventFilter(
            status: try query.status("status"), source: query.text("source"), shipmentId: query.text("shipment"),
            since: try query.instant("since"), until: try query.instant("until"))
        let page = try await queries.events(filter, cursor: query.text("cursor"), limit: try query.limit())
        return .object([
            ("events", .array(page.events.map { JSONValue(.document($0)) })), ("nextCursor", page.nextCursor.map(JSONValue.string) ?? .null),
        ])
    }

    private func deadLetters(_ query: Parameters) async throws -> JSONValue {
        let filter = DeadEventFilter(
            source: query.text("source"), failureClass: try query.failureClass("class"), fingerprint: query.text("fingerprint"),
            since: try query.instant("since"))
        guard let groupBy = query.text("groupBy") else {
            return .object([("deadLetters", .array(try await queries.deadEvents(filter, limit: try query.limit()).map(\.json)))])
        }
        guard let grouping = DeadEventGrouping(rawValue: groupBy) else {
            throw AdminRequestError.invalid("groupBy must be class or fingerprint, not '\(groupBy)'")
        }
        let groups = DeadEventGroup.grouping(try await queries.deadEvents(filter, limit: .max), by: grouping)
        return .object([("groups", .array(groups.map(\.json)))])
    }

    private func replay(_ request: ReplayRequest) async throws -> JSONValue {
        try await replays.run(request.selection, replay: request.replay, dryRun: request.dryRun).json
    }

    // MARK: Authentication and errors

    /// Runs `body` as the token's name when the request carries a configured token; answers errors as JSON.
    private func authorized(_ request: Request, _ body: (String) async throws -> JSONValue) async throws -> Response {
        let presented = request.headers[.authorization].flatMap { value -> String? in
            let parts = value.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
            return String(parts[1]).trimmingCharacters(in: .whitespaces)
        }
        guard let name = presented.flatMap(tokens.name(of:)) else {
            var reply = JSONReply.error(.unauthorized, code: "unauthorized", message: "a valid admin bearer token is required")
            reply.headers[.wwwAuthenticate] = #"Bearer realm="gateway-admin""#
            return reply.response
        }
        do {
            let value = try await body(name)
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized)))
        } catch let error as AdminRequestError {
            return error.reply.response
        } catch let error as OperatorQueryError {
            return JSONReply.error(.badRequest, code: "invalid_request", message: error.description).response
        } catch let error as ReplayError {
            return JSONReply.error(.badRequest, code: "invalid_request", message: error.description).response
        } catch let error as HTTPError where error.status == .contentTooLarge {
            return JSONReply.error(.contentTooLarge, code: "payload_too_large", message: "the request body exceeds 1 MiB").response
        } catch let error as StoreError {
            return JSONReply.error(.serviceUnavailable, code: "store_unavailable", message: error.description, retryAfterSeconds: 1).response
        }
    }
}

/// An admin request that cannot be answered as asked.
enum AdminRequestError: Error {
    case invalid(String)
    case notFound(String)

    var reply: JSONReply {
        switch self {
        case .invalid(let message): JSONReply.error(.badRequest, code: "invalid_request", message: message)
        case .notFound(let message): JSONReply.error(.notFound, code: "not_found", message: message)
        }
    }
}

/// `POST /v1/dead-letters/replay`'s body: the CLI's selection as JSON.
struct ReplayRequest {
    var selection: DeadEventSelection
    var replay: Replay
    var dryRun: Bool

    /// Reads `{"events": [{"source", "eventId"}…] | "all": true | "class"/"fingerprint"/"source"/"since", "reason",
    /// "dryRun"}`; who replays is the token's name.
    init(parsing body: [UInt8], by name: String) throws {
        let json: JSONValue
        do {
            json = try JSONValue(parsing: body)
        } catch {
            throw AdminRequestError.invalid("the body is not JSON: \(error)")
        }
        guard case .object(let members) = json else { throw AdminRequestError.invalid("the body must be a JSON object") }
        let known: Set = ["events", "all", "class", "fingerprint", "source", "since", "reason", "dryRun"]
        if let unknown = members.first(where: { !known.contains($0.key) }) {
            throw AdminRequestError.invalid("unknown field '\(unknown.key)'")
        }
        func text(_ field: String) throws -> String? {
            guard let value = json[field], value != .null else { return nil }
            guard let text = value.stringValue else { throw AdminRequestError.invalid("\(field) must be a string") }
            return text
        }
        func flag(_ field: String) throws -> Bool {
            switch json[field] {
            case nil, .null: return false
            case .bool(let value): return value
            default: throw AdminRequestError.invalid("\(field) must be true or false")
            }
        }
        dryRun = try flag("dryRun")
        replay = try Replay(by: name, reason: try text("reason") ?? "")
        let all = try flag("all")
        let failureClass = try text("class").map { name in
            guard let known = FailureClass(rawValue: name) else { throw AdminRequestError.invalid("class '\(name)' is not a failure class") }
            return known
        }
        let filter = DeadEventFilter(
            source: try text("source"), failureClass: failureClass, fingerprint: try text("fingerprint"),
            since: try text("since").map { try OperatorInstant.parse($0) })
        let filtered = filter.failureClass != nil || filter.fingerprint != nil || filter.since != nil || filter.source != nil
        if let events = json["events"], events != .null {
            guard case .array(let entries) = events, !entries.isEmpty else {
                throw AdminRequestError.invalid("events must be a non-empty array of {source, eventId}")
            }
            guard !all, !filtered else { throw AdminRequestError.invalid("select by events, or by filters, or all; not several") }
            selection = .keys(
                try entries.map { entry in
                    guard let source = entry["source"]?.stringValue, let eventId = entry["eventId"]?.stringValue else {
                        throw AdminRequestError.invalid("each of events must be {\"source\": …, \"eventId\": …}")
                    }
                    return EventKey(source: source, eventId: eventId)
                })
        } else if all {
            guard !filtered else { throw AdminRequestError.invalid("all replays every dead letter; leave the filters out") }
            selection = .matching(DeadEventFilter())
        } else {
            guard filtered else { throw AdminRequestError.invalid("select what to replay: events, class, fingerprint, source, since, or all") }
            selection = .matching(filter)
        }
    }
}

/// Typed reads of a query string that answer 400 with the parameter's name.
extension Parameters {
    fileprivate func text(_ name: String) -> String? {
        self[name[...]].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
    }

    fileprivate func instant(_ name: String) throws -> Date? {
        try text(name).map { try OperatorInstant.parse($0) }
    }

    fileprivate func status(_ name: String) throws -> EventStatus? {
        try text(name).map { value in
            guard let status = EventStatus(rawValue: value) else { throw AdminRequestError.invalid("\(name) '\(value)' is not an event status") }
            return status
        }
    }

    fileprivate func failureClass(_ name: String) throws -> FailureClass? {
        try text(name).map { value in
            guard let failureClass = FailureClass(rawValue: value) else {
                throw AdminRequestError.invalid("\(name) '\(value)' is not a failure class")
            }
            return failureClass
        }
    }

    fileprivate func limit() throws -> Int {
        guard let text = text("limit") else { return 50 }
        guard let limit = Int(text), (1...AdminRoutes.maxLimit).contains(limit) else {
            throw AdminRequestError.invalid("limit must be a whole number from 1 to \(AdminRoutes.maxLimit)")
        }
        return limit
    }
}
