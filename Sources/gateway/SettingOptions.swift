import ArgumentParser
import GatewayAdapters

/// Flags that override the GATEWAY_* environment variables, shared by every command. Every other setting
/// (retry, circuit breaker, relay and stream timing) is read from its variable; docs/configuration.md lists them all.
struct SettingOptions: ParsableArguments {
    @Option(help: "Address to bind (GATEWAY_HTTP_HOST, default 127.0.0.1).")
    var httpHost: String?
    @Option(help: "Port to bind, 0 for any free one (GATEWAY_HTTP_PORT, default 8080).")
    var httpPort: String?
    @Option(help: "Port of a relay or worker process's /metrics and /healthz, 0 for none (GATEWAY_METRICS_PORT, default 0).")
    var metricsPort: String?
    @Option(help: "Log lines as logfmt or json (GATEWAY_LOG_FORMAT, default logfmt).")
    var logFormat: String?
    @Option(help: "MongoDB connection string (GATEWAY_MONGO_URL, default mongodb://127.0.0.1:27017/gateway?retryWrites=false).")
    var mongoURL: String?
    @Option(help: "MongoDB connections and threads (GATEWAY_MONGO_POOL_SIZE, default 16).")
    var mongoPoolSize: String?
    @Option(help: "Redis URL (GATEWAY_REDIS_URL, default redis://127.0.0.1:6379/0).")
    var redisURL: String?
    @Option(help: "Secrets per source: source=whsec_…,whsec_…;other=whsec_… (GATEWAY_WEBHOOK_SECRETS).")
    var webhookSecrets: String?
    @Option(help: "Largest accepted body in bytes (GATEWAY_MAX_BODY_BYTES, default 262144).")
    var maxBodyBytes: String?
    @Option(name: .customLong("signature-tolerance-s"), help: "Timestamp tolerance in seconds (GATEWAY_SIGNATURE_TOLERANCE_S, default 300).")
    var signatureTolerance: String?
    @Option(name: .customLong("ingest-timeout-ms"), help: "Longest wait for the store before a 503 (GATEWAY_INGEST_TIMEOUT_MS, default 2000).")
    var ingestTimeout: String?
    @Option(help: "Deliveries waiting for a batch before new ones get 503 overloaded (GATEWAY_INGEST_QUEUE_MAX, default 4096).")
    var ingestQueueMax: String?
    @Option(name: .customLong("migrations-dir"), help: "Folder of migration files (GATEWAY_MIGRATIONS_DIR, default migrations).")
    var migrationsDirectory: String?

    @Option(name: .customLong("routing-url"), help: "Routing service endpoint (GATEWAY_ROUTING_URL, default http://127.0.0.1:8090/v1/routes).")
    var routingURL: String?
    @Option(
        name: .customLong("worker-concurrency"),
        help: "Routing calls in flight per worker process; it holds a quarter more events (GATEWAY_WORKER_CONCURRENCY, default 256).")
    var workerConcurrency: String?

    /// The flags that were given, by setting.
    var overrides: [Setting: String] {
        let pairs: [(Setting, String?)] = [
            (.httpHost, httpHost), (.httpPort, httpPort), (.metricsPort, metricsPort), (.logFormat, logFormat), (.mongoURL, mongoURL),
            (.mongoPoolSize, mongoPoolSize),
            (.redisURL, redisURL), (.webhookSecrets, webhookSecrets), (.maxBodyBytes, maxBodyBytes),
            (.signatureToleranceSeconds, signatureTolerance), (.ingestTimeoutMilliseconds, ingestTimeout),
            (.ingestQueueMax, ingestQueueMax), (.migrationsDirectory, migrationsDirectory),
            (.routingURL, routingURL), (.workerConcurrency, workerConcurrency),
        ]
        return Dictionary(uniqueKeysWithValues: pairs.compactMap { setting, value in value.map { (setting, $0) } })
    }

    /// The configuration from flags, environment and defaults; exits with the variable's name when one is unusable.
    /// Logging is set up from it (format and level) before anything logs.
    func load() throws -> GatewayConfiguration {
        let configuration: GatewayConfiguration
        do {
            configuration = try GatewayConfiguration.load(overrides: overrides)
        } catch {
            throw StartupError("invalid configuration: \(error)")
        }
        GatewayLogHandler.bootstrap(format: configuration.logFormat, level: configuration.logLevel)
        return configuration
    }
}
