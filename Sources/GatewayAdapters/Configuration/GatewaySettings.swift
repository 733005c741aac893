import Configuration
public import Foundation
public import GatewayCore
public import Logging

/// Every setting the gateway reads, by its environment variable; a command-line flag overrides it.
///
/// The dotted configuration key is derived from the variable (`GATEWAY_HTTP_PORT` ↔ `gateway.http.port`),
/// which is how swift-configuration's environment provider names it.
public enum Setting: String, CaseIterable, Sendable {
    /// Address the HTTP server binds to. Default `127.0.0.1`.
    case httpHost = "GATEWAY_HTTP_HOST"
    /// Port the HTTP server binds to; 0 picks a free one. Default `8080`.
    case httpPort = "GATEWAY_HTTP_PORT"
    /// Port on which a `relay` or `worker` process serves `/metrics`, `/healthz` (503 once its loop has been silent for
    /// 60 s) and `/readyz`, on GATEWAY_HTTP_HOST; the `api` and `all` roles serve them on GATEWAY_HTTP_PORT. 0 turns it
    /// off. Default 0.
    case metricsPort = "GATEWAY_METRICS_PORT"
    /// MongoDB connection string; its path names the database. Default
    /// `mongodb://127.0.0.1:27017/gateway?retryWrites=false`.
    case mongoURL = "GATEWAY_MONGO_URL"
    /// Connections (and threads) in the MongoDB pool. Default 16.
    case mongoPoolSize = "GATEWAY_MONGO_POOL_SIZE"
    /// Longest wait for one answer from MongoDB before the connection is given up, in ms, unless the URL sets
    /// `socketTimeoutMS`: a store that stops answering frees the pool's threads after this instead of libmongoc's
    /// 5 minutes. `gateway migrate` waits at least 10 minutes, for index builds. Default 10000.
    case mongoSocketTimeoutMilliseconds = "GATEWAY_MONGO_SOCKET_TIMEOUT_MS"
    /// Redis URL, `redis://host:port/db`. Default `redis://127.0.0.1:6379/0`.
    case redisURL = "GATEWAY_REDIS_URL"
    /// Signing secrets per source: `source=whsec_…,whsec_…;source2=whsec_…`. Required by the api role.
    case webhookSecrets = "GATEWAY_WEBHOOK_SECRETS"
    /// Bearer tokens of the admin API (`/v1/…` on the api role), each under a name: `name=token;name2=token2`, at
    /// least 16 bytes each, several at once while one is rotated. The name is who an admin request acts as (the "by"
    /// of a replay). Default none: the admin API is off and `/v1/…` answers 404.
    case adminTokens = "GATEWAY_ADMIN_TOKENS"
    /// The key that seals event histories into a tamper-evident chain (docs/auditing.md): base64 of at least 32 random
    /// bytes (`openssl rand -base64 32`), the same for every role. Never stored in MongoDB, so write access to the
    /// database alone cannot rewrite history unnoticed. Default none: the gateway runs, says at start-up that history is
    /// not being sealed, and `gateway audit verify` cannot run.
    case auditKey = "GATEWAY_AUDIT_KEY"
    /// Earlier audit keys, comma-separated base64, still accepted by `gateway audit verify` after a rotation (new entries
    /// are sealed with GATEWAY_AUDIT_KEY only). Default none.
    case auditOldKeys = "GATEWAY_AUDIT_OLD_KEYS"
    /// Largest accepted body in bytes, at most 16777216 (MongoDB's document limit). Default 262144 (256 KiB).
    case maxBodyBytes = "GATEWAY_MAX_BODY_BYTES"
    /// Accepted distance between `webhook-timestamp` and now, in seconds, either way. Default 300.
    case signatureToleranceSeconds = "GATEWAY_SIGNATURE_TOLERANCE_S"
    /// Longest an ingest request waits for the store before answering 503, in ms. Default 2000.
    case ingestTimeoutMilliseconds = "GATEWAY_INGEST_TIMEOUT_MS"
    /// Deliveries grouped into one `insertMany`, at most; 1 sends each alone (single inserts, for comparison). Default 128.
    case ingestBatchMax = "GATEWAY_INGEST_BATCH_MAX"
    /// Ingest batches sent to MongoDB at once, each on a connection and a thread of its own, kept apart from the relay's
    /// and the workers', so that a delivery's write never queues behind theirs in the process. Default 2.
    case ingestBatchesInFlight = "GATEWAY_INGEST_BATCHES_IN_FLIGHT"
    /// Deliveries waiting for a batch, at most; one more is answered 503 `overloaded` at once, so a stalled store is met
    /// with refusals rather than a queue that grows. Default 4096.
    case ingestQueueMax = "GATEWAY_INGEST_QUEUE_MAX"
    /// In a process that also relays and processes (`--role all`), the longest the relay's and the workers' store
    /// operations wait before they start while ingest's inserts are queued or running, in ms, so that
    /// acknowledgements do not queue at the store behind the pipeline's work; 0 turns it off. Roles in processes of
    /// their own share the store as it schedules them. Default 200.
    case ingestPriorityMilliseconds = "GATEWAY_INGEST_PRIORITY_MS"
    /// Longest time from a request's first byte to the end of its headers, in ms; then 408 and the connection is
    /// closed. Default 10000.
    case httpHeadTimeoutMilliseconds = "GATEWAY_HTTP_HEAD_TIMEOUT_MS"
    /// Longest time from a request's headers to the end of its body, in ms; then 408 and the connection is closed.
    /// Default 10000.
    case httpBodyTimeoutMilliseconds = "GATEWAY_HTTP_BODY_TIMEOUT_MS"
    /// How long a keep-alive connection may stay idle between requests, or its client take none of its replies,
    /// before it is closed, in ms. Default 60000.
    case httpIdleTimeoutMilliseconds = "GATEWAY_HTTP_IDLE_TIMEOUT_MS"
    /// HTTP connections open at once; a connection beyond it is closed as soon as it is accepted. Default 4096.
    case httpMaxConnections = "GATEWAY_HTTP_MAX_CONNECTIONS"
    /// Folder of migration files. Default `migrations`.
    case migrationsDirectory = "GATEWAY_MIGRATIONS_DIR"
    /// The routing service's endpoint. Default `http://127.0.0.1:8090/v1/routes`.
    case routingURL = "GATEWAY_ROUTING_URL"
    /// Timeout of one routing call, in ms. Default 5000.
    case routingTimeoutMilliseconds = "GATEWAY_ROUTING_TIMEOUT_MS"
    /// Routing calls per second across one worker process; 0 means unlimited. Default 0.
    case routingRateLimit = "GATEWAY_ROUTING_RATE_LIMIT"
    /// Routing calls one worker process makes at once, and its connections to the routing service; it holds a
    /// quarter more events, whose store work overlaps the calls. Default 256.
    case workerConcurrency = "GATEWAY_WORKER_CONCURRENCY"
    /// This worker's name in leases and the consumer group. Default `worker-{host}-{pid}`.
    case workerId = "GATEWAY_WORKER_ID"
    /// First retry delay, in ms. Default 1000.
    case retryBaseMilliseconds = "GATEWAY_RETRY_BASE_MS"
    /// Growth of the retry delay per attempt. Default 2.
    case retryFactor = "GATEWAY_RETRY_FACTOR"
    /// Longest retry delay before jitter, in ms. Default 300000.
    case retryCapMilliseconds = "GATEWAY_RETRY_CAP_MS"
    /// Relative jitter of retry delays, 0…0.99. Default 0.2.
    case retryJitter = "GATEWAY_RETRY_JITTER"
    /// Routing attempts before an event is dead-lettered. Default 8.
    case maxAttempts = "GATEWAY_MAX_ATTEMPTS"
    /// How long an event waits for its unknown shipment, in ms. Default 3600000 (1 h).
    case parkWindowMilliseconds = "GATEWAY_PARK_WINDOW_MS"
    /// How often a parked event is re-checked, in ms. Default 60000.
    case parkIntervalMilliseconds = "GATEWAY_PARK_INTERVAL_MS"
    /// Consecutive transient failures that open the circuit breaker; 0 turns it off. Default 20.
    case circuitFailureThreshold = "GATEWAY_CIRCUIT_FAILURE_THRESHOLD"
    /// How long the open breaker stops routing calls, in ms. Default 30000.
    case circuitCooldownMilliseconds = "GATEWAY_CIRCUIT_COOLDOWN_MS"
    /// How long a worker's claim on an event lasts, in ms. Default 30000; must exceed the routing timeout by 5 s.
    case leaseMilliseconds = "GATEWAY_LEASE_MS"
    /// Idle time after which another worker takes over a stream entry, in ms. Default 30000; must exceed the
    /// routing timeout by 5 s, or slow work would be taken over while it still runs.
    case streamClaimIdleMilliseconds = "GATEWAY_STREAM_CLAIM_IDLE_MS"
    /// The Redis Stream's name. Default `gateway:events`.
    case streamName = "GATEWAY_STREAM_NAME"
    /// Pause between relay passes that found nothing to do, in ms. Default 200.
    case relayPollMilliseconds = "GATEWAY_RELAY_POLL_MS"
    /// Events per relay batch. Default 500.
    case relayBatchSize = "GATEWAY_RELAY_BATCH_SIZE"
    /// How long a queued event may go unclaimed before the relay publishes it again, in ms. Default 300000.
    case relayRecoveryMilliseconds = "GATEWAY_RELAY_RECOVERY_MS"

    /// Log line format on standard error: `logfmt` or `json`. Every line about an event carries its `source` and
    /// `eventId`; payloads and secrets are never logged. Default `logfmt`.
    case logFormat = "GATEWAY_LOG_FORMAT"
    /// Lowest level logged: `trace`, `debug`, `info`, `notice`, `warning`, `error` or `critical`. Default `info`.
    case logLevel = "GATEWAY_LOG_LEVEL"

    /// How long graceful shutdown (SIGTERM, SIGINT) may take, in ms: in-flight requests and events finish, the relay
    /// publishes or releases what it reserved. Past it, work still running is cancelled and each worker gives its
    /// events back, due now. Default 10000.
    case shutdownGraceMilliseconds = "GATEWAY_SHUTDOWN_GRACE_MS"

    /// The dotted key swift-configuration reads, e.g. `gateway.http.port`.
    public var key: String { rawValue.lowercased().replacingOccurrences(of: "_", with: ".") }

    /// Whether the value is a secret, never to be logged or echoed.
    public var isSecret: Bool { [.webhookSecrets, .adminTokens, .auditKey, .auditOldKeys].contains(self) }
}

/// A setting with an unusable value; the message names the variable and never echoes a secret.
public struct ConfigurationError: Error, CustomStringConvertible {
    /// The environment variable (or flag) concerned.
    public let setting: Setting
    /// What is wrong with its value.
    public let reason: String

    public var description: String { "\(setting.rawValue): \(reason)" }
}

/// The gateway's typed configuration, read once at start-up.
public struct GatewayConfiguration: Sendable {
    public var httpHost = "127.0.0.1"
    public var httpPort = 8080
    public var metricsPort = 0
    public var mongoURL = "mongodb://127.0.0.1:27017/gateway?retryWrites=false"
    public var mongoPoolSize = 16
    public var mongoSocketTimeout: Duration = .seconds(10)
    public var redisURL = "redis://127.0.0.1:6379/0"
    /// Active secrets per source; several per source during a rotation.
    public var webhookSecrets: [String: [WebhookSecret]] = [:]
    /// The admin API's tokens; empty turns it off.
    public var adminTokens = try! AdminTokens([])
    /// The keys that seal and verify event histories; nil when history is not sealed.
    public var auditKeys: AuditKeyRing?
    public var maxBodyBytes = 256 * 1024
    public var signatureToleranceSeconds: Int64 = 300
    public var ingestTimeout: Duration = .milliseconds(2_000)
    public var ingestBatches = BatchLimits(maxBatch: 128, maxInFlight: 2, maxQueued: 4_096)
    public var ingestPriority: Duration = .milliseconds(200)
    public var connectionLimits = ConnectionLimits(
        maxConnections: 4_096, headTimeout: .seconds(10), bodyTimeout: .seconds(10), idleTimeout: .seconds(60))
    public var migrationsDirectory = "migrations"
    public var routingURL = "http://127.0.0.1:8090/v1/routes"
    public var routingTimeout: Duration = .milliseconds(5_000)
    public var routingRateLimit = 0.0
    public var workerConcurrency = 256
    public var workerId = GatewayConfiguration.defaultWorkerId
    public var retry = RetryPolicy()
    public var parkWindow: Duration = .seconds(3_600)
    public var parkInterval: Duration = .seconds(60)
    public var circuitFailureThreshold = 20
    public var circuitCooldown: Duration = .seconds(30)
    public var lease: Duration = .seconds(30)
    public var streamClaimIdle: Duration = .seconds(30)
    public var streamName = "gateway:events"
    public var relayPollInterval: Duration = .milliseconds(200)
    public var relayBatchSize = 500
    public var relayRecoveryWindow: Duration = .seconds(300)
    public var shutdownGrace: Duration = .seconds(10)
    public var logFormat = LogFormat.logfmt
    public var logLevel = Logger.Level.info

    /// Events a worker process holds at once: its routing calls (`workerConcurrency`) and a quarter more,
    /// whose claims, shipment reads and outcome writes run while the routing calls are held by others.
    /// Without them every routing place would sit idle during its event's store work.
    public var workerEventsInFlight: Int { workerConcurrency + max(1, workerConcurrency / 4) }

    /// `worker-{host}-{pid}`: unique per process, readable in leases.
    public static var defaultWorkerId: String {
        "worker-\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// The margin by which leases and the stream's re-claim idle time must exceed the routing timeout.
    public static let routingTimeoutMargin: Duration = .seconds(5)

    /// The defaults.
    public init() {}

    /// Reads every setting from flags (`overrides`) first, then the environment, then the defaults.
    /// - Throws: ``ConfigurationError`` for the first unusable value.
    public static func load(
        overrides: [Setting: String] = [:], environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> GatewayConfiguration {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (setting, value) in overrides {
            values[AbsoluteConfigKey(ConfigKey(setting.key))] = ConfigValue(.string(value), isSecret: setting.isSecret)
        }
        let reader = ConfigReader(providers: [
            InMemoryProvider(name: "flags", values: values),
            EnvironmentVariablesProvider(
                environmentVariables: environment, secretsSpecifier: .specific(Set(Setting.allCases.filter(\.isSecret).map(\.rawValue)))),
        ])
        return try GatewayConfiguration(reader: SettingsReader(reader: reader))
    }

    private init(reader: SettingsReader) throws(ConfigurationError) {
        httpHost = reader.string(.httpHost) ?? httpHost
        httpPort = try reader.integer(.httpPort, in: 0...65_535) ?? httpPort
        metricsPort = try reader.integer(.metricsPort, in: 0...65_535) ?? metricsPort
        mongoURL = reader.string(.mongoURL) ?? mongoURL
        mongoPoolSize = try reader.integer(.mongoPoolSize, in: 1...512) ?? mongoPoolSize
        mongoSocketTimeout = try reader.milliseconds(.mongoSocketTimeoutMilliseconds, in: 100...3_600_000) ?? mongoSocketTimeout
        redisURL = reader.string(.redisURL) ?? redisURL
        do {
            _ = try RedisEndpoint(url: redisURL)
        } catch {
            throw ConfigurationError(setting: .redisURL, reason: error.message)
        }
        if let secrets = reader.string(.webhookSecrets) { webhookSecrets = try Self.parseSecrets(secrets) }
        if let tokens = reader.string(.adminTokens) { adminTokens = try Self.parseAdminTokens(tokens) }
        auditKeys = try Self.parseAuditKeys(signing: reader.string(.auditKey), old: reader.string(.auditOldKeys))
        maxBodyBytes = try reader.integer(.maxBodyBytes, in: 1...(16 << 20)) ?? maxBodyBytes
        signatureToleranceSeconds = Int64(try reader.integer(.signatureToleranceSeconds, in: 1...86_400) ?? Int(signatureToleranceSeconds))
        ingestTimeout = try reader.milliseconds(.ingestTimeoutMilliseconds, in: 50...60_000) ?? ingestTimeout
        ingestBatches.maxBatch = try reader.integer(.ingestBatchMax, in: 1...10_000) ?? ingestBatches.maxBatch
        ingestBatches.maxInFlight = try reader.integer(.ingestBatchesInFlight, in: 1...64) ?? ingestBatches.maxInFlight
        ingestBatches.maxQueued = try reader.integer(.ingestQueueMax, in: 1...1_000_000) ?? ingestBatches.maxQueued
        ingestPriority = try reader.milliseconds(.ingestPriorityMilliseconds, in: 0...10_000) ?? ingestPriority
        connectionLimits.headTimeout = try reader.milliseconds(.httpHeadTimeoutMilliseconds, in: 100...600_000) ?? connectionLimits.headTimeout
        connectionLimits.bodyTimeout = try reader.milliseconds(.httpBodyTimeoutMilliseconds, in: 100...600_000) ?? connectionLimits.bodyTimeout
        connectionLimits.maxConnections = try reader.integer(.httpMaxConnections, in: 1...1_000_000) ?? connectionLimits.maxConnections
        connectionLimits.idleTimeout = try reader.milliseconds(.httpIdleTimeoutMilliseconds, in: 100...3_600_000) ?? connectionLimits.idleTimeout
        migrationsDirectory = reader.string(.migrationsDirectory) ?? migrationsDirectory
        routingURL = reader.string(.routingURL) ?? routingURL
        routingTimeout = try reader.milliseconds(.routingTimeoutMilliseconds, in: 10...600_000) ?? routingTimeout
        routingRateLimit = try reader.decimal(.routingRateLimit, in: 0...1_000_000) ?? routingRateLimit
        workerConcurrency = try reader.integer(.workerConcurrency, in: 1...100_000) ?? workerConcurrency
        workerId = reader.string(.workerId) ?? workerId
        retry.base = try reader.milliseconds(.retryBaseMilliseconds, in: 1...86_400_000) ?? retry.base
        retry.factor = try reader.decimal(.retryFactor, in: 1...100) ?? retry.factor
        retry.cap = try reader.milliseconds(.retryCapMilliseconds, in: 1...604_800_000) ?? retry.cap
        retry.jitter = try reader.decimal(.retryJitter, in: 0...0.99) ?? retry.jitter
        retry.maxAttempts = try reader.integer(.maxAttempts, in: 1...1_000) ?? retry.maxAttempts
        parkWindow = try reader.milliseconds(.parkWindowMilliseconds, in: 0...2_592_000_000) ?? parkWindow
        parkInterval = try reader.milliseconds(.parkIntervalMilliseconds, in: 10...86_400_000) ?? parkInterval
        circuitFailureThreshold = try reader.integer(.circuitFailureThreshold, in: 0...1_000_000) ?? circuitFailureThreshold
        circuitCooldown = try reader.milliseconds(.circuitCooldownMilliseconds, in: 1...3_600_000) ?? circuitCooldown
        lease = try reader.milliseconds(.leaseMilliseconds, in: 100...3_600_000) ?? lease
        streamClaimIdle = try reader.milliseconds(.streamClaimIdleMilliseconds, in: 100...3_600_000) ?? streamClaimIdle
        streamName = reader.string(.streamName) ?? streamName
        relayPollInterval = try reader.milliseconds(.relayPollMilliseconds, in: 1...60_000) ?? relayPollInterval
        relayBatchSize = try reader.integer(.relayBatchSize, in: 1...10_000) ?? relayBatchSize
        relayRecoveryWindow = try reader.milliseconds(.relayRecoveryMilliseconds, in: 100...86_400_000) ?? relayRecoveryWindow
        shutdownGrace = try reader.milliseconds(.shutdownGraceMilliseconds, in: 0...600_000) ?? shutdownGrace
        logFormat = try reader.choice(.logFormat, LogFormat.self) ?? logFormat
        logLevel = try reader.choice(.logLevel, Logger.Level.self) ?? logLevel
        try validateTiming()
    }

    /// Checks the relations between timeouts that no single value can: svix's lesson is that slow work must
    /// not be re-claimed or have its lease expire while the routing call may still be running.
    /// - Throws: ``ConfigurationError`` naming the variable to raise.
    public func validateTiming() throws(ConfigurationError) {
        let needed = routingTimeout + Self.routingTimeoutMargin
        if streamClaimIdle < needed {
            throw ConfigurationError(
                setting: .streamClaimIdleMilliseconds,
                reason:
                    "must be at least GATEWAY_ROUTING_TIMEOUT_MS + 5000 (\(needed.milliseconds) ms), or slow work is re-claimed while it still runs")
        }
        if lease < needed {
            throw ConfigurationError(
                setting: .leaseMilliseconds,
                reason:
                    "must be at least GATEWAY_ROUTING_TIMEOUT_MS + 5000 (\(needed.milliseconds) ms), or a lease expires while its routing call still runs"
            )
        }
    }

    /// The ingest batcher's limits: ``ingestBatches``, and no insert sent for a delivery that could no longer be answered
    /// within ``ingestTimeout``, since it is answered 503 by then.
    public var ingestBatchLimits: BatchLimits {
        var limits = ingestBatches
        limits.maxWait = ingestTimeout
        return limits
    }

    /// The sealer of new history entries, when an audit key is configured.
    public var auditSealer: AuditSealer? { auditKeys.map(AuditSealer.init) }

    /// Reads the signing audit key and the comma-separated old ones.
    /// - Throws: ``ConfigurationError`` saying which key is unusable and why, never the key.
    public static func parseAuditKeys(signing: String?, old: String?) throws(ConfigurationError) -> AuditKeyRing? {
        let oldTexts = (old ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard let signing = signing?.trimmingCharacters(in: .whitespaces), !signing.isEmpty else {
            guard oldTexts.isEmpty else { throw ConfigurationError(setting: .auditOldKeys, reason: "old keys need GATEWAY_AUDIT_KEY too") }
            return nil
        }
        let signingKey: AuditKey
        do {
            signingKey = try AuditKey(base64: signing)
        } catch {
            throw ConfigurationError(setting: .auditKey, reason: error.reason)
        }
        var oldKeys: [AuditKey] = []
        for (index, text) in oldTexts.enumerated() {
            do {
                oldKeys.append(try AuditKey(base64: text))
            } catch {
                throw ConfigurationError(setting: .auditOldKeys, reason: "key \(index + 1): \(error.reason)")
            }
        }
        return AuditKeyRing(signing: signingKey, old: oldKeys)
    }

    /// Parses `name=token;name2=token2`.
    /// - Throws: ``ConfigurationError`` naming the entry that is wrong, never its token.
    public static func parseAdminTokens(_ text: String) throws(ConfigurationError) -> AdminTokens {
        var tokens: [(name: String, token: String)] = []
        for entry in text.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { throw ConfigurationError(setting: .adminTokens, reason: "each entry must be name=token") }
            tokens.append((parts[0], parts[1]))
        }
        do {
            return try AdminTokens(tokens)
        } catch {
            throw ConfigurationError(setting: .adminTokens, reason: error.description)
        }
    }

    /// Parses `source=whsec_…,whsec_…;source2=whsec_…`.
    /// - Throws: ``ConfigurationError`` naming the source whose entry is wrong, never the secret.
    public static func parseSecrets(_ text: String) throws(ConfigurationError) -> [String: [WebhookSecret]] {
        var sources: [String: [WebhookSecret]] = [:]
        for entry in text.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty else {
                throw ConfigurationError(setting: .webhookSecrets, reason: "each entry must be source=whsec_…[,whsec_…]")
            }
            let source = parts[0]
            guard source.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                throw ConfigurationError(setting: .webhookSecrets, reason: "source '\(source)' may only use letters, digits, '-', '_' and '.'")
            }
            guard sources[source] == nil else {
                throw ConfigurationError(setting: .webhookSecrets, reason: "source '\(source)' is listed twice; put all its secrets in one entry")
            }
            var secrets: [WebhookSecret] = []
            for written in parts[1].split(separator: ",") {
                do {
                    secrets.append(try WebhookSecret(encoded: String(written)))
                } catch {
                    throw ConfigurationError(setting: .webhookSecrets, reason: "a secret of source '\(source)' is unusable: \(error)")
                }
            }
            guard !secrets.isEmpty else {
                throw ConfigurationError(setting: .webhookSecrets, reason: "source '\(source)' has no secret")
            }
            sources[source] = secrets
        }
        return sources
    }
}

/// Typed reads of raw settings that name the variable in every error.
private struct SettingsReader {
    let reader: ConfigReader

    func string(_ setting: Setting) -> String? {
        reader.string(forKey: ConfigKey(setting.key), isSecret: setting.isSecret)
    }

    func integer(_ setting: Setting, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
        guard let text = string(setting) else { return nil }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw ConfigurationError(setting: setting, reason: "'\(text)' is not a whole number")
        }
        guard range.contains(value) else {
            throw ConfigurationError(setting: setting, reason: "\(value) is outside \(range.lowerBound)…\(range.upperBound)")
        }
        return value
    }

    func decimal(_ setting: Setting, in range: ClosedRange<Double>) throws(ConfigurationError) -> Double? {
        guard let text = string(setting) else { return nil }
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
            throw ConfigurationError(setting: setting, reason: "'\(text)' is not a number")
        }
        guard range.contains(value) else {
            throw ConfigurationError(setting: setting, reason: "\(value) is outside \(range.lowerBound)…\(range.upperBound)")
        }
        return value
    }

    func choice<Choice: RawRepresentable & CaseIterable>(_ setting: Setting, _: Choice.Type) throws(ConfigurationError) -> Choice?
    where Choice.RawValue == String {
        guard let text = string(setting)?.trimmingCharacters(in: .whitespaces) else { return nil }
        guard let choice = Choice(rawValue: text.lowercased()) else {
            throw ConfigurationError(setting: setting, reason: "'\(text)' is not one of \(Choice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return choice
    }

    func milliseconds(_ setting: Setting, in range: ClosedRange<Int>) throws(ConfigurationError) -> Duration? {
        try integer(setting, in: range).map { .milliseconds($0) }
    }
}
