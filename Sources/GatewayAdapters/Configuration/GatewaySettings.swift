import Configuration
public import Foundation
public import GatewayCore

/// Every setting the gateway reads, by its environment variable; a command-line flag overrides it.
///
/// The dotted configuration key is derived from the variable (`GATEWAY_HTTP_PORT` ↔ `gateway.http.port`),
/// which is how swift-configuration's environment provider names it.
public enum Setting: String, CaseIterable, Sendable {
    /// Address the HTTP server binds to. Default `127.0.0.1`.
    case httpHost = "GATEWAY_HTTP_HOST"
    /// Port the HTTP server binds to; 0 picks a free one. Default `8080`.
    case httpPort = "GATEWAY_HTTP_PORT"
    /// MongoDB connection string; its path names the database. Default
    /// `mongodb://127.0.0.1:27017/gateway?retryWrites=false`.
    case mongoURL = "GATEWAY_MONGO_URL"
    /// Connections (and threads) in the MongoDB pool. Default 16.
    case mongoPoolSize = "GATEWAY_MONGO_POOL_SIZE"
    /// Redis URL, `redis://host:port/db`. Default `redis://127.0.0.1:6379/0`.
    case redisURL = "GATEWAY_REDIS_URL"
    /// Signing secrets per source: `source=whsec_…,whsec_…;source2=whsec_…`. Required by the api role.
    case webhookSecrets = "GATEWAY_WEBHOOK_SECRETS"
    /// Largest accepted body in bytes. Default 262144 (256 KiB).
    case maxBodyBytes = "GATEWAY_MAX_BODY_BYTES"
    /// Accepted distance between `webhook-timestamp` and now, in seconds, either way. Default 300.
    case signatureToleranceSeconds = "GATEWAY_SIGNATURE_TOLERANCE_S"
    /// Longest an ingest request waits for the store before answering 503, in ms. Default 2000.
    case ingestTimeoutMilliseconds = "GATEWAY_INGEST_TIMEOUT_MS"
    /// Ingest requests waiting on the store at once before new ones get 503. Default 4096.
    case ingestMaxInFlight = "GATEWAY_INGEST_MAX_IN_FLIGHT"
    /// Folder of migration files. Default `migrations`.
    case migrationsDirectory = "GATEWAY_MIGRATIONS_DIR"

    /// The dotted key swift-configuration reads, e.g. `gateway.http.port`.
    public var key: String { rawValue.lowercased().replacingOccurrences(of: "_", with: ".") }
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
    public var mongoURL = "mongodb://127.0.0.1:27017/gateway?retryWrites=false"
    public var mongoPoolSize = 16
    public var redisURL = "redis://127.0.0.1:6379/0"
    /// Active secrets per source; several per source during a rotation.
    public var webhookSecrets: [String: [WebhookSecret]] = [:]
    public var maxBodyBytes = 256 * 1024
    public var signatureToleranceSeconds: Int64 = 300
    public var ingestTimeout: Duration = .milliseconds(2_000)
    public var ingestMaxInFlight = 4_096
    public var migrationsDirectory = "migrations"

    /// The defaults.
    public init() {}

    /// Reads every setting from flags (`overrides`) first, then the environment, then the defaults.
    /// - Throws: ``ConfigurationError`` for the first unusable value.
    public static func load(
        overrides: [Setting: String] = [:], environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> GatewayConfiguration {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (setting, value) in overrides {
            values[AbsoluteConfigKey(ConfigKey(setting.key))] = ConfigValue(.string(value), isSecret: setting == .webhookSecrets)
        }
        let reader = ConfigReader(providers: [
            InMemoryProvider(name: "flags", values: values),
            EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: .specific([Setting.webhookSecrets.rawValue])),
        ])
        return try GatewayConfiguration(reader: SettingsReader(reader: reader))
    }

    private init(reader: SettingsReader) throws(ConfigurationError) {
        httpHost = reader.string(.httpHost) ?? httpHost
        httpPort = try reader.integer(.httpPort, in: 0...65_535) ?? httpPort
        mongoURL = reader.string(.mongoURL) ?? mongoURL
        mongoPoolSize = try reader.integer(.mongoPoolSize, in: 1...512) ?? mongoPoolSize
        redisURL = reader.string(.redisURL) ?? redisURL
        if let secrets = reader.string(.webhookSecrets) { webhookSecrets = try Self.parseSecrets(secrets) }
        maxBodyBytes = try reader.integer(.maxBodyBytes, in: 1...(64 << 20)) ?? maxBodyBytes
        signatureToleranceSeconds = Int64(try reader.integer(.signatureToleranceSeconds, in: 1...86_400) ?? Int(signatureToleranceSeconds))
        ingestTimeout = try reader.integer(.ingestTimeoutMilliseconds, in: 50...60_000).map { .milliseconds($0) } ?? ingestTimeout
        ingestMaxInFlight = try reader.integer(.ingestMaxInFlight, in: 1...1_000_000) ?? ingestMaxInFlight
        migrationsDirectory = reader.string(.migrationsDirectory) ?? migrationsDirectory
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
        reader.string(forKey: ConfigKey(setting.key), isSecret: setting == .webhookSecrets)
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
}
