import AsyncHTTPClient
import Foundation
public import GatewayCore
import NIOCore
import NIOHTTP1

/// The routing service over HTTP: `POST {GATEWAY_ROUTING_URL}` with the event and its shipment.
///
/// Every call carries `Idempotency-Key: {source}:{eventId}`, so a repeated attempt has no second effect.
/// Classification: 2xx → decision; 429, 5xx, timeouts and connection failures → transient (with
/// `Retry-After` when sent); other 4xx → permanent.
public final class HTTPRoutingService: RoutingService {
    private let client: HTTPClient
    private let url: String
    private let timeout: Duration

    /// Creates the client.
    /// - Parameters:
    ///   - concurrency: connections allowed to the service, so that as many calls as workers run are in flight.
    public init(url: String, timeout: Duration, concurrency: Int) {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        configuration.timeout = .init(connect: .seconds(2))
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        self.url = url
        self.timeout = timeout
    }

    /// Closes the connections.
    public func shutdown() async {
        try? await client.shutdown()
    }

    public func route(_ request: RoutingRequest) async -> Result<RoutingDecision, RoutingFailure> {
        var http = HTTPClientRequest(url: url)
        http.method = .POST
        http.headers.add(name: "content-type", value: "application/json")
        http.headers.add(name: "idempotency-key", value: request.key.description)
        http.body = .bytes(ByteBuffer(string: Self.body(request).serialized))
        do {
            let response = try await client.execute(http, timeout: .milliseconds(timeout.milliseconds))
            let body = try await response.body.collect(upTo: 64 * 1_024)
            let text = String(buffer: body)
            switch response.status.code {
            case 200..<300:
                guard let decision = Self.decision(from: text) else {
                    return .failure(RoutingFailure(.transient, "invalid routing response: \(text.prefix(200))"))
                }
                return .success(decision)
            case 429, 500..<600:
                let retryAfter = response.headers.first(name: "retry-after").flatMap(Int.init).map { Duration.seconds($0) }
                return .failure(
                    RoutingFailure(.transient, "routing service answered \(response.status.code): \(text.prefix(200))", retryAfter: retryAfter))
            default:
                return .failure(RoutingFailure(.permanent, "routing service answered \(response.status.code): \(text.prefix(200))"))
            }
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            return .failure(RoutingFailure(.transient, "routing call timed out after \(timeout.milliseconds) ms"))
        } catch {
            return .failure(RoutingFailure(.transient, "routing call failed: \(error)"))
        }
    }

    private static func body(_ request: RoutingRequest) -> JSONValue {
        let shipment = request.shipment
        return .object([
            ("eventKey", .string(request.key.description)),
            ("source", .string(request.key.source)),
            ("eventId", .string(request.key.eventId)),
            ("type", request.type.map(JSONValue.string) ?? .null),
            (
                "shipment",
                .object([
                    ("shipmentId", .string(shipment.shipmentId)), ("orderId", .string(shipment.orderId)),
                    ("merchantId", .string(shipment.merchantId)), ("status", .string(shipment.status)),
                    (
                        "destination",
                        .object([
                            ("city", .string(shipment.destination.city)), ("country", .string(shipment.destination.country)),
                            ("postalCode", .string(shipment.destination.postalCode)),
                        ])
                    ),
                ])
            ),
            ("payload", request.payload),
        ])
    }

    private static func decision(from text: String) -> RoutingDecision? {
        guard let json = try? JSONValue(parsing: Array(text.utf8)), let hub = json["hub"]?.stringValue,
            let routeCode = json["routeCode"]?.stringValue, let etaText = json["eta"]?.stringValue,
            let eta = try? Date(etaText, strategy: .iso8601)
        else { return nil }
        return RoutingDecision(hub: hub, routeCode: routeCode, eta: eta)
    }
}
