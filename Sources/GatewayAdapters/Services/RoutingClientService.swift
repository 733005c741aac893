public import ServiceLifecycle

/// Owns the worker's routing client for the life of the process: it waits for graceful shutdown, which reaches it
/// after the worker has stopped (services shut down in the reverse of their order; see
/// ``GatewayRuntime/buildServices(role:configuration:resources:metrics:clock:logger:onServerRunning:)``), then
/// closes the client's connections, within the group's grace period like every other service.
public struct RoutingClientService: Service {
    private let client: HTTPRoutingService

    /// Creates the service.
    public init(client: HTTPRoutingService) {
        self.client = client
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await client.shutdown()
    }
}
