import Foundation
import GatewayCore
public import Logging
import Metrics
public import ServiceLifecycle

/// Samples what no single process sees — events per status, the oldest wait per status, dead letters per class, the
/// stream's length and pending entries — from the store and the stream into gauges, for alerts on stuck work. Runs in
/// the relay role; with several relays each exports the same figures.
public struct StoreGaugesService: Service {
    private let queries: OperatorQueries
    private let interval: Duration
    private let logger: Logger

    /// How often the gauges are sampled by default: often enough for alerts that wait minutes.
    public static let defaultInterval: Duration = .seconds(15)

    /// Creates the sampler.
    public init(queries: OperatorQueries, interval: Duration = StoreGaugesService.defaultInterval, logger: Logger) {
        self.queries = queries
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                Self.export(try await queries.stats(bySource: false))
            } catch {
                logger.debug("sampling the store's gauges failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// Sets the gauges from a stats report; statuses and classes without events read 0.
    static func export(_ stats: SystemStats) {
        for status in EventStatus.allCases {
            Gauge(label: MetricName.events, dimensions: [("status", status.rawValue)]).record(stats.byStatus[status] ?? 0)
            guard !status.isTerminal else { continue }
            let oldest = stats.oldest.first { $0.status == status }?.seconds ?? 0
            Gauge(label: MetricName.oldestEventAge, dimensions: [("status", status.rawValue)]).record(oldest)
        }
        for failureClass in FailureClass.allCases {
            Gauge(label: MetricName.deadLetters, dimensions: [("class", failureClass.rawValue)]).record(
                stats.deadByClass[failureClass.rawValue] ?? 0)
        }
        if case .success(let health) = stats.stream {
            Gauge(label: MetricName.streamLength).record(health.length)
            Gauge(label: MetricName.streamPending).record(health.groups.reduce(0) { $0 + $1.pending })
        }
    }
}
