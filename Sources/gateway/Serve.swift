public import ArgumentParser
import GatewayAdapters
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `gateway serve`: runs one role, or all of them, until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway: the ingest API, the relay, the workers, or all of them.",
        discussion: """
            Refuses to start while migrations are pending: run `gateway migrate` first. Waits, with a warning per try, \
            while MongoDB cannot be reached yet; Redis and the routing service are waited for by the roles themselves.
            """)

    @Option(help: "Which role to run: \(Role.allCases.map(\.rawValue).joined(separator: ", ")).")
    var role: Role = .all

    @OptionGroup var settings: SettingOptions

    func run() async throws {
        let configuration = try settings.load()
        let logger = Logger(label: "gateway.\(role.rawValue)")
        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics))
        try await GatewayResources.using(configuration) { resources in
            try await GatewayRuntime.checkReadyToServe(role: role, configuration: configuration, resources: resources, logger: logger)
            let services = GatewayRuntime.buildServices(
                role: role, configuration: configuration, resources: resources, metrics: metrics, logger: logger,
                onServerRunning: { port in logger.notice("gateway listening on http://\(configuration.httpHost):\(port) (role \(role.rawValue))") })
            if role == .worker || role == .all {
                logger.notice(
                    "worker \(configuration.workerId) routing to \(configuration.routingURL), \(configuration.workerConcurrency) calls at once, \(configuration.workerEventsInFlight) events in flight"
                )
            }
            try await GatewayRuntime.serviceGroup(services, configuration: configuration, signals: [.sigterm, .sigint], logger: logger).run()
        }
    }
}

extension Role: ExpressibleByArgument {}
