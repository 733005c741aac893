import AsyncHTTPClient
public import Foundation
import GatewayCore
import NIOCore
import NIOHTTP1

/// `gateway health`: asks a running gateway process over HTTP whether it is healthy, as a container healthcheck does
/// (the image has no curl).
public enum HealthCheck {
    /// What the process answered.
    public struct Answer: Sendable {
        public var status: Int
        public var body: String
        public var healthy: Bool { status == 200 }
    }

    /// The URL of a role's health endpoint: the api (and `all`) on its HTTP port, a relay or worker on its metrics
    /// port; a wildcard bind address is asked on the loopback.
    /// - Throws: ``ConfigurationError`` when a relay or worker has no metrics port to ask.
    public static func url(role: Role, configuration: GatewayConfiguration, ready: Bool) throws(ConfigurationError) -> String {
        let port: Int
        switch role {
        case .api, .all: port = configuration.httpPort
        case .relay, .worker:
            guard configuration.metricsPort != 0 else {
                throw ConfigurationError(setting: .metricsPort, reason: "a \(role.rawValue) serves its health only on GATEWAY_METRICS_PORT; set it")
            }
            port = configuration.metricsPort
        }
        let host = ["0.0.0.0", "::", ""].contains(configuration.httpHost) ? "127.0.0.1" : configuration.httpHost
        return "http://\(host.contains(":") ? "[\(host)]" : host):\(port)/\(ready ? "readyz" : "healthz")"
    }

    /// GETs `url`; throws when nothing answers within `timeout`.
    public static func ask(_ url: String, timeout: Duration) async throws -> Answer {
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        do {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: .nanoseconds(Int64(timeout.seconds * 1e9)))
            let body = try await response.body.collect(upTo: 1 << 16)
            try await client.shutdown()
            return Answer(status: Int(response.status.code), body: String(buffer: body))
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}
