import Foundation
public import GatewayCore
public import Hummingbird
public import Logging
import NIOCore
public import Prometheus
public import ServiceLifecycle
public import UnixSignals

/// The roles a `gateway serve` process can play.
public enum Role: String, CaseIterable, Sendable {
    /// The HTTP ingest API, health and metrics.
    case api
    /// Publishes due inbox events to the stream.
    case relay
    /// Consumes the stream and processes events.
    case worker
    /// Every role in one process.
    case all
}

/// The connections a gateway process opens once and shares between its roles.
public struct GatewayResources: Sendable {
    /// The MongoDB pool: the system of record.
    public let mongo: MongoConnectionPool
    /// The Redis client: the transport.
    public let redis: RedisClient
    /// A Redis connection of its own for blocking stream reads, whose socket timeout outlasts the block.
    public let blockingRedis: RedisClient

    /// Opens the pools described by `configuration`; connections are made on first use.
    /// - Throws: ``StoreError`` or ``RedisError`` for unusable URLs.
    public init(configuration: GatewayConfiguration, databaseName: String? = nil) throws {
        mongo = try MongoConnectionPool(
            url: configuration.mongoURL, databaseName: databaseName, size: configuration.mongoPoolSize,
            ingestLane: configuration.ingestBatches.maxInFlight, socketTimeout: configuration.mongoSocketTimeout,
            ingestPriority: configuration.ingestPriority)
        let endpoint = try RedisEndpoint(url: configuration.redisURL)
        redis = RedisClient(endpoint: endpoint)
        blockingRedis = RedisClient(endpoint: endpoint, connections: 1, commandTimeout: .seconds(5))
    }

    /// The migration runner for the configured folder.
    public func migrations(_ configuration: GatewayConfiguration) -> MigrationRunner {
        MigrationRunner(pool: mongo, directory: URL(fileURLWithPath: configuration.migrationsDirectory))
    }

    /// Closes both pools.
    public func close() async {
        await mongo.shutdown()
        await redis.shutdown()
        await blockingRedis.shutdown()
    }

    /// Opens the resources, runs `body` and closes them again, also when `body` throws.
    public static func using<T>(
        _ configuration: GatewayConfiguration, databaseName: String? = nil, _ body: (GatewayResources) async throws -> T
    ) async throws -> T {
        let resources = try GatewayResources(configuration: configuration, databaseName: databaseName)
        do {
            let result = try await body(resources)
            await resources.close()
            return result
        } catch {
            await resources.close()
            throw error
        }
    }
}

/// Why `gateway serve` will not start; printed as it is.
public struct StartupCheckError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }
}

/// Builds what each role runs; `main` only parses arguments, and tests call the same functions.
public enum GatewayRuntime {
    /// The HTTP application of the api role: ingest, `/healthz`, `/readyz`, `/metrics` and, with admin tokens, `/v1/…`.
    /// - Parameter heartbeats: the loops of the same process (`--role all`), whose silence fails `/healthz`.
    public static func buildAPI(
        configuration: GatewayConfiguration, resources: GatewayResources, metrics: PrometheusCollectorRegistry? = nil,
        heartbeats: [Heartbeat] = [], clock: any TimeSource = SystemTimeSource(), logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        let ingest = IngestEvent(
            secrets: configuration.webhookSecrets,
            verifier: SignatureVerifier(toleranceSeconds: configuration.signatureToleranceSeconds),
            inbox: MongoInboxStore(pool: resources.mongo, limits: configuration.ingestBatchLimits), clock: clock, sealer: configuration.auditSealer)
        let ingestMetrics = IngestMetrics(sources: Set(configuration.webhookSecrets.keys))
        IngestRoutes(
            ingest: ingest,
            limits: .init(maxBodyBytes: configuration.maxBodyBytes, storeTimeout: configuration.ingestTimeout), metrics: ingestMetrics
        ).register(on: router)
        HealthRoutes(probes: [resources.mongo, resources.redis], heartbeats: heartbeats).register(on: router)
        AdminRoutes(
            tokens: configuration.adminTokens, queries: OperatorQueries(resources: resources, configuration: configuration),
            replays: ReplayDeadEvents(
                store: MongoDeadEventStore(pool: resources.mongo), clock: clock, observer: MetricsObserver(), sealer: configuration.auditSealer)
        ).register(on: router)
        if let metrics { HealthRoutes.registerMetrics(metrics, on: router) }
        let serverName = "courier-event-gateway"
        let (maxBodyBytes, storeTimeout) = (configuration.maxBodyBytes, configuration.ingestTimeout)
        let limits = configuration.connectionLimits
        let openConnections = OpenConnections()
        return Application(
            router: router,
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [
                        HTTP1GuardsInstaller(limits: limits, openConnections: openConnections) {
                            IngestHandler(
                                ingest: ingest, maxBodyBytes: maxBodyBytes, storeTimeout: storeTimeout, serverName: serverName, metrics: ingestMetrics
                            )
                        }
                    ])),
            configuration: .init(address: .hostname(configuration.httpHost, port: configuration.httpPort), serverName: serverName),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.httpPort) },
            logger: logger)
    }

    /// The small HTTP application of a relay or worker process on `GATEWAY_METRICS_PORT`: `/healthz` (503 once its loop
    /// went silent for ``Heartbeat/maxSilence``), `/readyz` and `/metrics`.
    static func buildMonitor(
        configuration: GatewayConfiguration, resources: GatewayResources, metrics: PrometheusCollectorRegistry?, heartbeats: [Heartbeat],
        logger: Logger
    ) -> some ApplicationProtocol {
        let router = Router()
        HealthRoutes(probes: [resources.mongo, resources.redis], heartbeats: heartbeats).register(on: router)
        if let metrics { HealthRoutes.registerMetrics(metrics, on: router) }
        return Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.httpHost, port: configuration.metricsPort), serverName: "courier-event-gateway-monitor"),
            logger: logger)
    }

    /// The relay pass, as `serve --role relay` runs it in a loop and `relay --once` runs it once.
    public static func buildRelayPass(
        configuration: GatewayConfiguration, resources: GatewayResources, clock: any TimeSource = SystemTimeSource()
    ) -> RelayDueEvents {
        RelayDueEvents(
            outbox: MongoOutboxStore(pool: resources.mongo, sealer: configuration.auditSealer), stream: eventStream(configuration, resources),
            recoveryWindow: configuration.relayRecoveryWindow, batchSize: configuration.relayBatchSize, clock: clock)
    }

    /// Everything a `gateway serve --role {role}` process runs, in the order a service group starts them: it shuts
    /// them down the other way round, so the api stops taking deliveries first and the routing client closes after the
    /// worker that uses it. `gateway serve` and the test harness both run this.
    /// - Parameters:
    ///   - metrics: served at `/metrics` by the api role.
    ///   - onServerRunning: called with the api's port once it listens.
    public static func buildServices(
        role: Role, configuration: GatewayConfiguration, resources: GatewayResources, metrics: PrometheusCollectorRegistry? = nil,
        clock: any TimeSource = SystemTimeSource(), logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> [any Service] {
        var services: [any Service] = []
        var heartbeats: [Heartbeat] = []
        if role == .worker || role == .all {
            let routing = HTTPRoutingService(
                url: configuration.routingURL, timeout: configuration.routingTimeout, concurrency: configuration.workerConcurrency)
            let heartbeat = Heartbeat(name: "worker")
            heartbeats.append(heartbeat)
            services.append(RoutingClientService(client: routing))
            services.append(
                buildWorker(configuration: configuration, resources: resources, routing: routing, heartbeat: heartbeat, clock: clock, logger: logger))
        }
        if role == .relay || role == .all {
            let heartbeat = Heartbeat(name: "relay")
            heartbeats.append(heartbeat)
            services.append(
                RelayService(
                    relay: buildRelayPass(configuration: configuration, resources: resources, clock: clock),
                    pollInterval: configuration.relayPollInterval, heartbeat: heartbeat, logger: logger))
            services.append(StoreGaugesService(queries: OperatorQueries(resources: resources, configuration: configuration), logger: logger))
        }
        if role == .api || role == .all {
            services.append(
                buildAPI(
                    configuration: configuration, resources: resources, metrics: metrics, heartbeats: heartbeats, clock: clock, logger: logger,
                    onServerRunning: onServerRunning))
        } else if configuration.metricsPort != 0 {
            services.append(
                buildMonitor(configuration: configuration, resources: resources, metrics: metrics, heartbeats: heartbeats, logger: logger))
        }
        return services
    }

    /// Refuses to serve what would fail every request: an api without a single source to accept, or a store whose
    /// migrations are pending. A store that cannot be reached yet is waited for, with a warning per try, as every
    /// role waits for it later: a process started before its store (a restart, a deploy, a compose up) must not
    /// die for it.
    /// - Throws: ``StartupCheckError`` naming what to do.
    public static func checkReadyToServe(role: Role, configuration: GatewayConfiguration, resources: GatewayResources, logger: Logger) async throws {
        if role == .api || role == .all, configuration.webhookSecrets.isEmpty {
            throw StartupCheckError("invalid configuration: GATEWAY_WEBHOOK_SECRETS: no source is configured, so every delivery would be refused")
        }
        if configuration.auditKeys == nil {
            logger.warning(
                "history is not being sealed: no GATEWAY_AUDIT_KEY is configured, so edits to event histories in MongoDB cannot be detected (docs/auditing.md)"
            )
        }
        var pause = Duration.milliseconds(250)
        while true {
            do {
                let pending = try await resources.migrations(configuration).pending()
                guard pending.isEmpty else {
                    throw StartupCheckError("migrations are pending (\(pending.map(\.id).joined(separator: ", "))): run `gateway migrate` first")
                }
                return
            } catch let error as StoreError where error.isStoreWide {
                logger.warning("waiting for MongoDB before serving", metadata: ["error": "\(error)", "retryInMs": "\(pause.milliseconds)"])
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(5))
            }
        }
    }

    private static func buildWorker(
        configuration: GatewayConfiguration, resources: GatewayResources, routing: any RoutingService, heartbeat: Heartbeat,
        clock: any TimeSource, logger: Logger
    ) -> WorkerService {
        let process = ProcessEvent(
            events: MongoWorkerStore(pool: resources.mongo, sealer: configuration.auditSealer), shipments: MongoShipmentStore(pool: resources.mongo),
            routing: routing,
            policy: ProcessingPolicy(retry: configuration.retry, parkWindow: configuration.parkWindow, parkInterval: configuration.parkInterval),
            breaker: CircuitBreaker(failureThreshold: configuration.circuitFailureThreshold, coolDown: configuration.circuitCooldown),
            rateLimit: TokenBucket(ratePerSecond: configuration.routingRateLimit),
            routingCalls: ConcurrencyLimit(configuration.workerConcurrency), workerId: configuration.workerId, leaseDuration: configuration.lease,
            clock: clock, observer: MetricsObserver())
        return WorkerService(
            process: process, stream: eventStream(configuration, resources), consumer: configuration.workerId,
            eventsInFlight: configuration.workerEventsInFlight, claimIdle: configuration.streamClaimIdle, heartbeat: heartbeat, logger: logger)
    }

    /// The group that runs a process's services until one of `signals`: graceful shutdown first, escalated to
    /// cancellation once `GATEWAY_SHUTDOWN_GRACE_MS` has passed.
    public static func serviceGroup(
        _ services: [any Service], configuration: GatewayConfiguration, signals: [UnixSignal], logger: Logger
    ) -> ServiceGroup {
        var group = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: signals, logger: logger)
        group.maximumGracefulShutdownDuration = configuration.shutdownGrace
        return ServiceGroup(configuration: group)
    }

    static func eventStream(_ configuration: GatewayConfiguration, _ resources: GatewayResources) -> RedisEventStream {
        RedisEventStream(commands: resources.redis, blockingReads: resources.blockingRedis, stream: configuration.streamName)
    }
}
