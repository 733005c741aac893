public import ArgumentParser
import Foundation
public import GatewayAdapters
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `gateway serve`: runs one role, or all of them, until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway: the ingest API, the relay, the workers, or all of them.",
        discussion: "Refuses to start while migrations are pending: run `gateway migrate` first.")

    @Option(help: "Which role to run: \(Role.allCases.map(\.rawValue).joined(separator: ", ")).")
    var role: Role = .all

    @OptionGroup var settings: SettingOptions

    func run() async throws {
        let configuration = try settings.load()
        let logger = Logger(label: "gateway.\(role.rawValue)")
        if role == .api || role == .all, configuration.webhookSecrets.isEmpty {
            throw StartupError("invalid configuration: GATEWAY_WEBHOOK_SECRETS: no source is configured, so every delivery would be refused")
        }
        try await GatewayResources.using(configuration) { resources in
            let pending = try await resources.migrations(configuration).pending()
            guard pending.isEmpty else {
                throw StartupError("migrations are pending (\(pending.map(\.id).joined(separator: ", "))): run `gateway migrate` first")
            }
            var services: [any Service] = []
            var routingClient: HTTPRoutingService?
            if role == .api || role == .all {
                let registry = PrometheusCollectorRegistry()
                MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
                services.append(GatewayRuntime.buildAPI(
                    configuration: configuration, resources: resources, metrics: registry, logger: logger,
                    onServerRunning: { port in
                        logger.notice("gateway listening on http://\(configuration.httpHost):\(port) (role \(role.rawValue))")
                    }))
            }
            if role == .relay || role == .all {
                services.append(GatewayRuntime.buildRelay(configuration: configuration, resources: resources, logger: logger))
            }
            if role == .worker || role == .all {
                let worker = GatewayRuntime.buildWorker(configuration: configuration, resources: resources, logger: logger)
                services.append(worker.service)
                routingClient = worker.routing
                logger.notice("worker \(configuration.workerId) routing to \(configuration.routingURL), \(configuration.workerConcurrency) calls at once, \(configuration.workerEventsInFlight) events in flight")
            }
            let group = GatewayRuntime.serviceGroup(services, configuration: configuration, signals: [.sigterm, .sigint], logger: logger)
            defer { Task { [routingClient] in await routingClient?.shutdown() } }
            try await group.run()
        }
    }
}

extension Role: ExpressibleByArgument {}
