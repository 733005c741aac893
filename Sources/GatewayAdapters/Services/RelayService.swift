public import GatewayCore
public import Logging
public import ServiceLifecycle

/// The relay role: runs relay passes until graceful shutdown, pausing only when a pass found nothing to do.
///
/// Due events are looked for on every pass; recovery (lease sweeps, dead letters, what the stream lost) at
/// most once per `recoveryInterval`. It guards against crashes, which a second's delay does not hurt, and
/// running it on every pass of a busy relay would spend the store on queries that find nothing.
public struct RelayService: Service {
    private let relay: RelayDueEvents
    private let pollInterval: Duration
    private let recoveryInterval: Duration
    private let logger: Logger

    /// Creates the service.
    public init(relay: RelayDueEvents, pollInterval: Duration, recoveryInterval: Duration = .seconds(1), logger: Logger) {
        self.relay = relay
        self.pollInterval = pollInterval
        self.recoveryInterval = recoveryInterval
        self.logger = logger
    }

    public func run() async throws {
        // Cancelled at graceful shutdown: a pass cut short is harmless, what it reserved is recovered.
        try? await cancelWhenGracefulShutdown {
            var lastRecovery: ContinuousClock.Instant?
            while !Task.isCancelled {
                do {
                    let recover = lastRecovery.map { ContinuousClock.now - $0 >= recoveryInterval } ?? true
                    let report = try await relay.runOnce(recover: recover)
                    if recover { lastRecovery = .now }
                    if report.didWork {
                        logger.debug("relay pass", metadata: [
                            "published": "\(report.published)", "recovered": "\(report.recovered)",
                            "sweptLeases": "\(report.sweptLeases)", "deadLetters": "\(report.reconciledDeadLetters)",
                        ])
                        continue
                    }
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("relay pass failed; retrying", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: pollInterval)
            }
        }
    }
}
