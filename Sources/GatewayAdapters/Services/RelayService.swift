public import GatewayCore
public import Logging
public import ServiceLifecycle

/// The relay role: runs relay passes until graceful shutdown, pausing only when a pass found nothing to do.
public struct RelayService: Service {
    private let relay: RelayDueEvents
    private let pollInterval: Duration
    private let logger: Logger

    /// Creates the service.
    public init(relay: RelayDueEvents, pollInterval: Duration, logger: Logger) {
        self.relay = relay
        self.pollInterval = pollInterval
        self.logger = logger
    }

    public func run() async throws {
        // Cancelled at graceful shutdown: a pass cut short is harmless, what it reserved is recovered.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let report = try await relay.runOnce()
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
