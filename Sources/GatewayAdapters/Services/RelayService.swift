import Foundation
public import GatewayCore
public import Logging
import Metrics
public import ServiceLifecycle

/// The relay role: runs relay passes until graceful shutdown, pausing only when a pass found nothing to do.
///
/// Due events are looked for on every pass; recovery (lease sweeps, dead letters, what the stream lost) at
/// most once per `recoveryInterval`. It guards against crashes, which a second's delay does not hurt, and
/// running it on every pass of a busy relay would spend the store on queries that find nothing.
///
/// Graceful shutdown lets the pass in hand finish its batch (every event it reserved is published, or released
/// for the next relay) and stops before the next one; the pause between passes ends at once.
public struct RelayService: Service {
    private let relay: RelayDueEvents
    private let pollInterval: Duration
    private let recoveryInterval: Duration
    private let heartbeat: Heartbeat
    private let logger: Logger

    /// Creates the service; `heartbeat` beats after every pass that reached the store.
    public init(
        relay: RelayDueEvents, pollInterval: Duration, recoveryInterval: Duration = .seconds(1), heartbeat: Heartbeat = Heartbeat(name: "relay"),
        logger: Logger
    ) {
        self.relay = relay
        self.pollInterval = pollInterval
        self.recoveryInterval = recoveryInterval
        self.heartbeat = heartbeat
        self.logger = logger
    }

    public func run() async throws {
        var lastRecovery: ContinuousClock.Instant?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let recover = lastRecovery.map { ContinuousClock.now - $0 >= recoveryInterval } ?? true
                let report = try await relay.runOnce(recover: recover, shouldStop: { Task.isShuttingDownGracefully })
                if recover { lastRecovery = .now }
                heartbeat.beat()
                Self.log(report, to: logger)
                if report.didWork { continue }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("relay pass failed; retrying", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pollInterval) }
        }
    }

    /// Logs what a pass did and counts it: events published and recovered, documents and steps that failed, by step.
    static func log(_ report: RelayReport, to logger: Logger) {
        Counter(label: MetricName.relayPublished).increment(by: report.published)
        Counter(label: MetricName.relayRecovered).increment(by: report.recovered)
        Gauge(label: MetricName.relayLastPassTimestamp).record(Date().timeIntervalSince1970)
        if report.didWork {
            logger.debug(
                "relay pass",
                metadata: [
                    "published": "\(report.published)", "recovered": "\(report.recovered)",
                    "sweptLeases": "\(report.sweptLeases)", "deadLetters": "\(report.reconciledDeadLetters)",
                ])
        }
        for failure in report.failures {
            Counter(label: MetricName.relayDocumentFailures, dimensions: [("step", failure.step.rawValue)]).increment()
            logger.warning(
                "relay step failed on one document; it is left out of the step for a backoff",
                metadata: [
                    "step": "\(failure.step.rawValue)", "source": "\(failure.key?.source ?? "")", "eventId": "\(failure.key?.eventId ?? "")",
                    "recordId": "\(failure.recordId)", "error": "\(failure.error)",
                ])
        }
        for (step, error) in report.failedSteps {
            Counter(label: MetricName.relayStepFailures, dimensions: [("step", step.rawValue)]).increment()
            logger.warning("relay step failed; the pass went on without it", metadata: ["step": "\(step.rawValue)", "error": "\(error)"])
        }
    }
}
